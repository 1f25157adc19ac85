package exporter

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/lab"
)

// big10k fakes a HAProxy with one backend of 10,000 servers, built from
// the collector's healthy fixture row.
func big10k(b *testing.B) string {
	b.Helper()
	stat, state, info := big10kData(b)
	return haproxytest.NewSocket(b, haproxytest.ByLine(map[string][]byte{
		"show stat": stat, "show servers state": state, "show info": info,
	})).Addr
}

// big10kData is big10k's show stat, show servers state and show info.
func big10kData(b *testing.B) (stat, state, info []byte) {
	b.Helper()
	raw, err := os.ReadFile("../collectors/haproxy/testdata/show_stat.csv")
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	var row string
	for _, l := range lines {
		if strings.HasPrefix(l, "bk_web,web1,") {
			row = strings.TrimPrefix(l, "bk_web,web1,")
		}
	}
	var sb, ss strings.Builder
	sb.WriteString(lines[0] + "\n")
	ss.WriteString("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&sb, "bk,s%d,%s\n", i, row)
		fmt.Fprintf(&ss, "3 bk %d s%d 127.0.0.1 2 0 1 1\n", i+1, i)
	}
	sb.WriteString("\n")
	ss.WriteString("\n")
	info, err = os.ReadFile("../collectors/haproxy/testdata/show_info.txt")
	if err != nil {
		b.Fatal(err)
	}
	return []byte(sb.String()), []byte(ss.String()), info
}

// BenchmarkProbeTail10kServers is one /probe of 10,000 servers whose
// socket dumps show stat at HAProxy's pace: 16 KiB at a time, the 2.2 MB
// in about 30 ms, as haproxy 2.6 does in make bench's HAProxy scrape. It
// reports tail-ms, the time from the dump's last byte to the end of the
// answer: what lbpilot still does once HAProxy is done (the rest of its
// work overlaps the dump).
func BenchmarkProbeTail10kServers(b *testing.B) {
	stat, state, info := big10kData(b)
	const chunk = 16 << 10
	pace := 30 * time.Millisecond / time.Duration(len(stat)/chunk+1)
	var last atomic.Int64
	others := haproxytest.ByLine(map[string][]byte{"show servers state": state, "show info": info})
	addr := haproxytest.NewSocket(b, func(line string) haproxytest.Reply {
		if line == "show stat" {
			return haproxytest.Reply{Data: stat, Chunk: chunk, Pace: pace, Written: func() { last.Store(time.Now().UnixNano()) }}
		}
		return others(line)
	}).Addr
	e, err := New(Options{Logger: log.NewNopLogger()})
	if err != nil {
		b.Fatal(err)
	}
	h := e.ProbeHandler()
	var tail time.Duration
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/probe?module=haproxy&target="+addr, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		w := &discardResponse{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.code != 0 && w.code != 200 || w.n < 1<<20 {
			b.Fatalf("code %d, %d bytes", w.code, w.n)
		}
		tail += time.Since(time.Unix(0, last.Load()))
	}
	b.ReportMetric(float64(tail.Microseconds())/1000/float64(b.N), "tail-ms")
}

// BenchmarkProbe10kServers is one /probe of a 10,000-server HAProxy as
// Prometheus requests it (gzip), through the handler.
func BenchmarkProbe10kServers(b *testing.B) {
	addr := big10k(b)
	e, err := New(Options{Logger: log.NewNopLogger()})
	if err != nil {
		b.Fatal(err)
	}
	h := e.ProbeHandler()
	for _, enc := range []string{"gzip", "identity"} {
		b.Run(enc, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/probe?module=haproxy&target="+addr, nil)
				req.Header.Set("Accept-Encoding", enc)
				w := &discardResponse{h: http.Header{}}
				h.ServeHTTP(w, req)
				if w.code != 0 && w.code != 200 {
					b.Fatalf("code %d", w.code)
				}
				b.ReportMetric(float64(w.n), "body-bytes")
			}
		})
	}
}

type discardResponse struct {
	h    http.Header
	code int
	n    int
}

func (d *discardResponse) Header() http.Header { return d.h }
func (d *discardResponse) WriteHeader(c int)   { d.code = c }
func (d *discardResponse) Write(p []byte) (int, error) {
	d.n += len(p)
	return io.Discard.Write(p)
}

// BenchmarkProbeLab is one /probe of each kind against an in-process lab
// server, the exporter's per-request overhead path.
func BenchmarkProbeLab(b *testing.B) {
	for _, kind := range []lab.Kind{lab.WCS, lab.SRS, lab.EMQX} {
		srv, err := lab.Start(lab.Config{Kind: kind}, "")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { srv.Close() })
		e, err := New(Options{Logger: log.NewNopLogger()})
		if err != nil {
			b.Fatal(err)
		}
		h := e.ProbeHandler()
		b.Run(string(kind), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/probe?module="+string(kind)+"&target="+srv.URL, nil)
				req.Header.Set("Accept-Encoding", "gzip")
				w := &discardResponse{h: http.Header{}}
				h.ServeHTTP(w, req)
			}
		})
	}
}
