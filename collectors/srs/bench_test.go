package srs

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/srsapi"
)

// bigNode is the benchmark's SRS: 1,000 publishing streams and 10,000
// clients (1,000 publishers, 9,000 players).
func bigNode(b *testing.B) *lab.Server {
	b.Helper()
	s, err := lab.Start(lab.Config{Kind: lab.SRS, Name: "big", Load: lab.Load{Publishers: 1000, Subscribers: 9000, BandwidthOutMbps: 900, CPU: 0.7}}, "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// rawFetch makes the requests the collector makes, in the same order and
// with the same concurrency (the system endpoints and each list at once,
// a list's pages one after another), and only reads the bodies: the
// upstream's own cost, the baseline of BenchmarkScrape10k.
func rawFetch(b *testing.B, base string, pageSize, clients, streams int) {
	get := func(p string) {
		resp, err := http.Get(base + p)
		if err != nil {
			b.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var wg sync.WaitGroup
	for _, p := range []string{"/api/v1/summaries", "/api/v1/versions", "/api/v1/self_proc_stats", "/api/v1/vhosts/?start=0&count=" + strconv.Itoa(pageSize)} {
		wg.Go(func() { get(p) })
	}
	for _, l := range []struct {
		path string
		n    int
	}{{"/api/v1/streams/", streams}, {"/api/v1/clients/", clients}} {
		wg.Go(func() {
			for start := 0; start <= l.n; start += pageSize {
				get(l.path + "?start=" + strconv.Itoa(start) + "&count=" + strconv.Itoa(pageSize))
			}
		})
	}
	wg.Wait()
}

// BenchmarkRawFetch10k is the baseline of BenchmarkScrape10k.
func BenchmarkRawFetch10k(b *testing.B) {
	s := bigNode(b)
	for b.Loop() {
		rawFetch(b, s.URL, srsapi.DefaultPageSize, 10000, 1000)
	}
}

// BenchmarkScrape10k is one collector scrape of the big node, decoding
// and building every metric (per-type counts, default options).
func BenchmarkScrape10k(b *testing.B) {
	s := bigNode(b)
	c, err := New(Options{}, collectors.Target{URL: s.URL}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ch := make(chan prometheus.Metric, 4096)
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

// BenchmarkDecodeClients10k decodes one 10,000-client page.
func BenchmarkDecodeClients10k(b *testing.B) {
	s := bigNode(b)
	resp, err := http.Get(s.URL + "/api/v1/clients/?start=0&count=10000")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, err := srsapi.DecodeClients(body); err != nil {
			b.Fatal(err)
		}
	}
}
