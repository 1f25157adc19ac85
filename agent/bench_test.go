package agent

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lbpilot/lbpilot/internal/lab"
)

// benchAgent serves an agent reading a lab WCS in this process.
func benchAgent(b *testing.B, ttl time.Duration) (*Agent, string) {
	b.Helper()
	l := startLab(b, lab.Config{Kind: lab.WCS, Load: lab.Load{Publishers: 10, Subscribers: 60, HLS: 5, BandwidthInMbps: 20, BandwidthOutMbps: 50}})
	a, err := New(Options{Kind: WCS, Source: &WCSSource{URL: l.URL + "/?action=stat"}, Policy: defaultPolicy(ModeWeight),
		CacheTTL: ttl, UpstreamTimeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Serve(ctx, ln); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	return a, ln.Addr().String()
}

// benchChecks runs b.N agent checks the way HAProxy makes them: connect,
// read the line, reset.
func benchChecks(b *testing.B, ttl time.Duration) {
	a, addr := benchAgent(b, ttl)
	buf := make([]byte, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.ReadAtLeast(c, buf, 1)
		if err != nil || buf[n-1] != '\n' {
			b.Fatalf("reply %q: %v", buf[:n], err)
		}
		_ = c.(*net.TCPConn).SetLinger(0)
		_ = c.Close()
	}
	b.StopTimer()
	b.ReportMetric(testutil.ToFloat64(a.m.upRequests)/float64(b.N), "upstream-requests/check")
}

// BenchmarkCheck: one agent check with the default 1 s cache.
func BenchmarkCheck(b *testing.B) { benchChecks(b, DefaultCacheTTL) }

// BenchmarkCheckNoCache: every check reads the lab WCS (cache_ttl: 0).
func BenchmarkCheckNoCache(b *testing.B) { benchChecks(b, 0) }

// BenchmarkDecide: the policy alone on a loaded page.
func BenchmarkDecide(b *testing.B) {
	s := wcsSample(loadWCS(b, "stat_loaded.json"), "")
	s.Set(CPU, 40)
	p := defaultPolicy(ModeWeight)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = p.Decide(s, nil)
	}
}
