package haproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/expo"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
)

// bigStat builds a `show stat` CSV and `show servers state` for one
// backend of n servers from the healthy fixture's header and first server
// row, so the numbers look like HAProxy's.
func bigStat(b testing.TB, n int) (stat, state []byte) {
	b.Helper()
	lines := strings.Split(string(fixture(b, "show_stat.csv")), "\n")
	hdr := lines[0]
	var srvRow string
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "bk_web,web1,") {
			srvRow = strings.TrimPrefix(l, "bk_web,web1,")
		}
	}
	var sb, ss strings.Builder
	sb.WriteString(hdr + "\n")
	ss.WriteString("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "bk,s%d,%s\n", i, srvRow)
		fmt.Fprintf(&ss, "3 bk %d s%d 127.0.0.1 2 0 1 1 5 1 0 1 0 0 0 0 - %d - 0 0 - - 0\n", i+1, i, 30000+i%20000)
	}
	sb.WriteString("\n")
	ss.WriteString("\n")
	return []byte(sb.String()), []byte(ss.String())
}

func benchCollector(b *testing.B, n int) *Collector {
	stat, state := bigStat(b, n)
	addr := haproxytest.NewSocket(b, haproxytest.ByLine(map[string][]byte{
		"show stat": stat, "show servers state": state, "show info": fixture(b, "show_info.txt"),
	})).Addr
	c, err := New(*DefaultOptions(), collectors.Target{URL: addr}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkExposition10kServers compares the two exposition paths for one
// backend of 10,000 servers, fetch included (from a fake socket), each
// ending in the gzipped answer Prometheus asks for: client_golang const
// metrics + text encoding, and the streaming writer (compressed per
// family while it renders).
func BenchmarkExposition10kServers(b *testing.B) {
	c := benchCollector(b, 10000)
	b.Run("const_metrics", func(b *testing.B) {
		for b.Loop() {
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.Prometheus(c))
			mfs, err := reg.Gather()
			if err != nil {
				b.Fatal(err)
			}
			z, _ := expo.NewParallelGzip(io.Discard, 1, runtime.GOMAXPROCS(0), 512<<10)
			w := bufio.NewWriter(z)
			for _, mf := range mfs {
				_, _ = expfmt.MetricFamilyToText(w, mf)
			}
			w.Flush()
			z.Close()
		}
	})
	b.Run("stream", func(b *testing.B) {
		for b.Loop() {
			streamOnce(b, c)
		}
	})
	// Every number of every server changes from one scrape to the next
	// (two dumps in turn): no part of a counter or gauge family can come
	// from the last scrape (the state families, text fields, still do).
	b.Run("stream_all_changed", func(b *testing.B) {
		c := changingCollector(b, 10000, true)
		for b.Loop() {
			streamOnce(b, c)
		}
	})
	// The same without the cache (reuse_unchanged: false): what keying
	// the parts costs when nothing can be reused.
	b.Run("stream_all_changed_reuse_off", func(b *testing.B) {
		c := changingCollector(b, 10000, false)
		for b.Loop() {
			streamOnce(b, c)
		}
	})
}

// changingCollector is benchCollector whose socket answers two dumps in
// turn that differ in every numeric field of every server row.
func changingCollector(b *testing.B, n int, reuse bool) *Collector {
	statA, state := bigStat(b, n)
	var rowsB []string
	for _, l := range strings.Split(string(statA), "\n") {
		f := strings.Split(l, ",")
		if len(f) > 2 && f[0] == "bk" {
			for i := 2; i < len(f); i++ {
				if v, err := strconv.Atoi(f[i]); err == nil {
					f[i] = strconv.Itoa(v + 1)
				}
			}
		}
		rowsB = append(rowsB, strings.Join(f, ","))
	}
	stats := [2][]byte{statA, []byte(strings.Join(rowsB, "\n"))}
	var turn atomic.Int64
	others := haproxytest.ByLine(map[string][]byte{"show servers state": state, "show info": fixture(b, "show_info.txt")})
	addr := haproxytest.NewSocket(b, func(line string) haproxytest.Reply {
		if line == "show stat" {
			return haproxytest.Reply{Data: stats[turn.Add(1)%2]}
		}
		return others(line)
	}).Addr
	o := DefaultOptions()
	o.ReuseUnchanged = &reuse
	c, err := New(*o, collectors.Target{URL: addr}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// streamOnce is one scrape through the streaming path, gzipped to nowhere.
func streamOnce(b *testing.B, c *Collector) {
	ch := make(chan prometheus.Metric, 4096)
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	s, err := c.UpdateStream(context.Background(), ch)
	close(ch)
	<-done
	if err != nil {
		b.Fatal(err)
	}
	z, _ := expo.NewParallelGzip(io.Discard, 1, runtime.GOMAXPROCS(0), 512<<10)
	w := bufio.NewWriterSize(z, 32<<10)
	if err := expo.WriteStreamsGzip(w, z, []expo.Stream{s}, nil); err != nil {
		b.Fatal(err)
	}
	w.Flush()
	if err := z.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSeveralSockets compares one socket of 10,000 servers with four
// sockets of 2,500 each read as one (merged) and side by side (process
// label): the cost of several processes over the same number of rows.
func BenchmarkSeveralSockets(b *testing.B) {
	stat, state := bigStat(b, 2500)
	answers := map[string][]byte{"show stat": stat, "show servers state": state, "show info": fixture(b, "show_info.txt")}
	var addrs []string
	for i := 0; i < 4; i++ {
		addrs = append(addrs, haproxytest.NewSocket(b, haproxytest.ByLine(answers)).Addr)
	}
	b.Run("impl=one_socket_10k", func(b *testing.B) {
		c := benchCollector(b, 10000)
		for b.Loop() {
			streamOnce(b, c)
		}
	})
	for _, label := range []bool{false, true} {
		name := "impl=four_sockets_merged"
		if label {
			name = "impl=four_sockets_process_label"
		}
		b.Run(name, func(b *testing.B) {
			opts := DefaultOptions()
			opts.ProcessLabel = label
			c, err := New(*opts, collectors.Target{URL: strings.Join(addrs, ",")}, nil)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				streamOnce(b, c)
			}
		})
	}
}
