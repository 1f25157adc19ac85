package haproxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/internal/expo"
	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
)

// TestStreamFailsMidDump stops show stat halfway, after the first rows
// were already rendered (and compressed) as they arrived: the scrape
// fails as it did before rows were rendered live, with no frontend,
// backend or server family at all, never half of one.
func TestStreamFailsMidDump(t *testing.T) {
	stat, state := bigStat(t, 3000)
	info := fixture(t, "show_info.txt")
	tests := []struct {
		name    string
		reply   haproxytest.Reply
		max     int64
		timeout time.Duration
		want    string
	}{
		{"stalls past the deadline", haproxytest.Reply{Data: stat[:len(stat)/2], Stall: true}, 0, 500 * time.Millisecond, "deadline exceeded"},
		{"over max_response_bytes", haproxytest.Reply{Data: stat}, int64(len(stat) / 2), 5 * time.Second, "max_response_bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			others := haproxytest.ByLine(map[string][]byte{"show servers state": state, "show info": info})
			addr := haproxytest.NewSocket(t, func(line string) haproxytest.Reply {
				if line == "show stat" {
					return tc.reply
				}
				return others(line)
			}).Addr
			o := extrasOptions()
			if tc.max > 0 {
				o.MaxResponseBytes = tc.max
			}
			c := newCollector(t, o, addr, nil)

			// The failure comes after rows were rendered live.
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			live := newServerStream(c, false)
			_, err := c.fetchLive(ctx, live)
			rendered := len(live.all) // rows taken as they came
			live.discard()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if rendered == 0 {
				t.Fatal("nothing was rendered before the failure: the live path is not covered")
			}

			ctx2, cancel2 := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel2()
			ch := make(chan prometheus.Metric, 1<<16)
			stream, err := c.UpdateStream(ctx2, ch)
			close(ch)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("UpdateStream err = %v, want %q", err, tc.want)
			}
			if stream != nil {
				t.Fatal("a failed scrape returned a stream")
			}
			n := 0
			for m := range ch {
				n++
				d := m.Desc().String()
				for _, scope := range []string{"haproxy_frontend_", "haproxy_backend_", "haproxy_server_"} {
					if strings.Contains(d, `"`+scope) {
						t.Errorf("failed scrape sent %s", d)
					}
				}
			}
			if n == 0 {
				t.Error("not even the process families (show info answered)")
			}
		})
	}
}

// TestLiveStreamMatchesWholeDump renders a dump of about 1 MB, which
// arrives in many reads, while it arrives, and again from the whole
// table after it: every server family's text is the same, byte for
// byte, with the families that need show servers state, with servers
// left out by state, and with extra counters.
func TestLiveStreamMatchesWholeDump(t *testing.T) {
	lines := strings.Split(strings.TrimRight(string(fixture(t, "status_zoo_show_stat.csv")), "\n"), "\n")
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	for i := 0; b.Len() < 1<<20; i++ {
		for _, l := range lines[1:] {
			f := strings.SplitN(l, ",", 3)
			if f[1] != "FRONTEND" && f[1] != "BACKEND" {
				fmt.Fprintf(&b, "%s,%s_%d,%s\n", f[0], f[1], i, f[2])
			}
		}
	}
	b.WriteString("\n")
	addr := haproxytest.NewSocket(t, haproxytest.ByLine(map[string][]byte{
		"show stat": []byte(b.String()), "show info": fixture(t, "show_info.txt"),
		"show servers state": fixture(t, "status_zoo_show_servers_state.txt"),
	})).Addr
	excl := &Options{ExcludeServerStates: []string{"maint", "drain"}, ExtraServerFamilies: true}
	for name, o := range map[string]*Options{"extra families": extrasOptions(), "excluded states": excl, "extra counters": {ExtraCounters: true}} {
		t.Run(name, func(t *testing.T) {
			c := newCollector(t, o, addr, prometheus.Labels{"target": "lb\"1", "zone": "a"})
			ctx := context.Background()
			ch := make(chan prometheus.Metric, 1<<20)
			stream, err := c.UpdateStream(ctx, ch)
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.fetch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			whole := newServerStream(c, false)
			whole.cache = expo.NewSegmentCache() // not the live scrape's segments
			whole.render(s, 0, s.stat.Rows(), func(*compiled) bool { return true })
			whole.finish(s)
			lines := 0
			for _, f := range stream.Families() {
				var got, want bytes.Buffer
				gw, ww := bufio.NewWriter(&got), bufio.NewWriter(&want)
				if err := stream.WriteSamples(gw, f.Name); err != nil {
					t.Fatal(err)
				}
				if err := whole.WriteSamples(ww, f.Name); err != nil {
					t.Fatal(err)
				}
				_, _ = gw.Flush(), ww.Flush()
				if !bytes.Equal(got.Bytes(), want.Bytes()) {
					t.Errorf("%s: %d bytes rendered live, %d from the whole dump", f.Name, got.Len(), want.Len())
				}
				lines += bytes.Count(got.Bytes(), []byte("\n"))
			}
			if lines < 100000 {
				t.Errorf("only %d lines compared", lines)
			}
		})
	}
}

// TestMsText checks the table against the general path for every value
// it holds, and that it declines what it does not hold.
func TestMsText(t *testing.T) {
	for n := 0; n < 10000; n++ {
		raw := strconv.Itoa(n)
		got, ok := msText([]byte(raw))
		v, _ := haproxyapi.ParseNumber([]byte(raw))
		if want := string(expo.AppendFloat(nil, v*ms)); !ok || got != want {
			t.Fatalf("%s ms: %q %v, want %q", raw, got, ok, want)
		}
	}
	for _, raw := range []string{"", "10000", "-1", "1.5", "12a"} {
		if got, ok := msText([]byte(raw)); ok {
			t.Errorf("%q: table gave %q", raw, got)
		}
	}
}
