package emqx

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/emqxapi"
	"github.com/lbpilot/lbpilot/internal/lab"
)

func benchLab(b *testing.B) *lab.Server {
	s, err := lab.Start(lab.Config{Kind: lab.EMQX, EMQXNodes: 3, Load: lab.Load{Connections: 30000, Subscriptions: 90000, Topics: 4000, MessagesInRate: 5000, MessagesOutRate: 20000}}, "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(); emqxapi.ForgetDetected(s.URL) })
	return s
}

// BenchmarkRawFetch is the baseline of BenchmarkScrape: the same three
// requests at once, bodies read and dropped.
func BenchmarkRawFetch(b *testing.B) {
	s := benchLab(b)
	for b.Loop() {
		var wg sync.WaitGroup
		for _, p := range []string{"/api/v5/nodes", "/api/v5/stats", "/api/v5/metrics"} {
			wg.Go(func() {
				resp, err := http.Get(s.URL + p)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		wg.Wait()
	}
}

// BenchmarkScrape is one collector scrape of a three-node cluster.
func BenchmarkScrape(b *testing.B) {
	s := benchLab(b)
	c, err := New(emqxapi.Options{APIVersion: "v5"}, collectors.Target{URL: s.URL}, nil)
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

// BenchmarkNew is the per-/probe cost of building a collector (every
// descriptor of the catalog) from a module's options, validated once as
// the exporter does at load (which builds the module's HTTP client).
func BenchmarkNew(b *testing.B) {
	opts := emqxapi.Options{APIVersion: "v5"}
	if err := opts.Validate(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := New(opts, collectors.Target{URL: "http://emqx:18083"}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
