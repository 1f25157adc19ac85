package wcs

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/wcsapi"
)

func benchLab(b *testing.B) *lab.Server {
	s, err := lab.Start(lab.Config{Kind: lab.WCS, Load: lab.Load{Publishers: 50, Subscribers: 900, HLS: 40, BandwidthOutMbps: 300, CPU: 0.5}}, "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkRawFetch is the baseline of BenchmarkScrape: the same request,
// body read and dropped.
func BenchmarkRawFetch(b *testing.B) {
	s := benchLab(b)
	u := wcsapi.StatURL(s.URL, wcsapi.FormatJSON)
	for b.Loop() {
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// BenchmarkScrape is one collector scrape with per-stream series on.
func BenchmarkScrape(b *testing.B) {
	s := benchLab(b)
	c, err := New(Options{StreamMetrics: true}, collectors.Target{URL: s.URL}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ch := make(chan prometheus.Metric, 1024)
	go func() {
		for range ch {
		}
	}()
	defer close(ch)
	for b.Loop() {
		if err := c.Update(context.Background(), ch); err != nil {
			b.Fatal(err)
		}
	}
}
