package exporter

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lbpilot/lbpilot/collectors"
)

// gate is an upstream that holds every scrape until released and counts
// the scrapes it served.
type gate struct {
	open    chan struct{}
	scrapes atomic.Int32
}

func (g *gate) kinds() map[string]Kind {
	return map[string]Kind{"gate": {New: func(m *Module, t collectors.Target, l log.Logger) (collectors.Collector, error) {
		return gateCollector{g: g, desc: prometheus.NewDesc("gate_value", "A gated value.", nil, nil)}, nil
	}}}
}

type gateCollector struct {
	g    *gate
	desc *prometheus.Desc
}

func (c gateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c gateCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	c.g.scrapes.Add(1)
	select {
	case <-c.g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 42)
	return nil
}

// TestProbeSingleFlight: concurrent probes of one target share one
// scrape and all get its answer; a probe of another target past
// --probe.max-concurrent answers 503 and is counted.
func TestProbeSingleFlight(t *testing.T) {
	g := &gate{open: make(chan struct{})}
	e, _ := newTestExporter(t, "", Options{Kinds: g.kinds(), MaxProbes: 1})
	probe := e.ProbeHandler()
	var entered atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		probe.ServeHTTP(w, r)
	})
	const n = 50
	var wg sync.WaitGroup
	bodies := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, bodies[i] = get(t, h, "/probe?module=gate&target=gate://a", nil)
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); g.scrapes.Load() == 0 || entered.Load() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the probes never all arrived")
		}
	}
	time.Sleep(100 * time.Millisecond) // from the handler's entry to the shared scrape: no blocking on the way
	rec, body := get(t, h, "/probe?module=gate&target=gate://b", nil)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(body, "Too many /probe requests") {
		t.Errorf("probe of another target past the limit: %d %s", rec.Code, body)
	}
	if got := testutil.ToFloat64(e.probeThrottled); got != 1 {
		t.Errorf("throttled counted %v", got)
	}
	close(g.open)
	wg.Wait()
	if got := g.scrapes.Load(); got != 1 {
		t.Errorf("%d scrapes of one target for %d concurrent probes, want 1", got, n)
	}
	for i, b := range bodies {
		if !strings.Contains(b, "gate_value 42") || !strings.Contains(b, `lbpilot_up{module="gate"} 1`) {
			t.Fatalf("probe %d got:\n%s", i, b)
		}
	}
	// Afterwards the slot is free again and a new probe scrapes anew.
	if _, body := get(t, h, "/probe?module=gate&target=gate://b", nil); !strings.Contains(body, "gate_value 42") || g.scrapes.Load() != 2 {
		t.Errorf("after the burst: %d scrapes, body:\n%s", g.scrapes.Load(), body)
	}
}

// TestProbeWaiterKeepsItsOwnDeadline: a probe joining another's scrape
// answers at its own deadline (lbpilot_up 0), not the other's.
func TestProbeWaiterKeepsItsOwnDeadline(t *testing.T) {
	g := &gate{open: make(chan struct{})}
	defer close(g.open)
	e, _ := newTestExporter(t, "", Options{Kinds: g.kinds()})
	h := e.ProbeHandler()
	go get(t, h, "/probe?module=gate&target=gate://a", nil) // no deadline: waits for the gate
	for g.scrapes.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	done := make(chan string, 1)
	go func() {
		_, body := get(t, h, "/probe?module=gate&target=gate://a", map[string]string{"X-Prometheus-Scrape-Timeout-Seconds": "0.3"})
		done <- body
	}()
	select {
	case body := <-done:
		if !strings.Contains(body, `lbpilot_up{module="gate"} 0`) {
			t.Errorf("waiter past its deadline got:\n%s", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter was held by the other request's scrape")
	}
	if got := g.scrapes.Load(); got != 1 {
		t.Errorf("%d scrapes", got)
	}
}

// TestProbeFailureLogOnce: the same failing /probe repeated is logged
// once (the limiter holds the rest back); another cause gets its line.
func TestProbeFailureLogOnce(t *testing.T) {
	e, logs := newTestExporter(t, "", Options{})
	h := e.ProbeHandler()
	for i := 0; i < 50; i++ {
		if _, body := get(t, h, "/probe?module=fake&target=fail://a", nil); !strings.Contains(body, `lbpilot_up{module="fake"} 0`) {
			t.Fatalf("probe %d: %s", i, body)
		}
	}
	get(t, h, "/probe?module=fake&target=fail://b", nil)
	if c := strings.Count(logs.String(), "Target scrape failed"); c != 2 {
		t.Errorf("%d failure lines for 50 identical failures and one other, want 2:\n%s", c, logs)
	}
}

// TestProbeSharedScrapeOutlivesItsFirstClient: the request that started a
// shared scrape goes away; the scrape goes on for the one still waiting,
// which gets the real answer. When every waiter has gone, it stops.
func TestProbeSharedScrapeOutlivesItsFirstClient(t *testing.T) {
	g := &gate{open: make(chan struct{})}
	e, _ := newTestExporter(t, "", Options{Kinds: g.kinds()})
	h := e.ProbeHandler()
	firstCtx, leave := context.WithCancel(context.Background())
	firstDone := make(chan struct{})
	go func() {
		defer close(firstDone)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/probe?module=gate&target=gate://a", nil).WithContext(firstCtx))
	}()
	for g.scrapes.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan string, 1)
	go func() {
		_, body := get(t, h, "/probe?module=gate&target=gate://a", nil)
		second <- body
	}()
	for e.waiters("module=gate&target=gate%3A%2F%2Fa") < 2 {
		time.Sleep(time.Millisecond)
	}
	leave()
	<-firstDone
	close(g.open)
	if body := <-second; !strings.Contains(body, "gate_value 42") || !strings.Contains(body, `lbpilot_up{module="gate"} 1`) {
		t.Fatalf("the remaining waiter got:\n%s", body)
	}
	if got := g.scrapes.Load(); got != 1 {
		t.Errorf("%d scrapes", got)
	}

	// Alone, a client that goes away stops its scrape.
	g2 := &gate{open: make(chan struct{})}
	defer close(g2.open)
	e2, logs := newTestExporter(t, "", Options{Kinds: g2.kinds()})
	ctx, gone := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e2.ProbeHandler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/probe?module=gate&target=gate://a", nil).WithContext(ctx))
	}()
	for g2.scrapes.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	gone()
	<-done
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "context canceled"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the abandoned scrape was not stopped:\n%s", logs)
		}
	}
}

// TestProtocolProbesHaveTheirOwnSlots: with every API probe slot taken by
// a slow scrape, a protocol probe still runs; past the protocol probes'
// own limit they answer 503 while the API slot stays taken.
func TestProtocolProbesHaveTheirOwnSlots(t *testing.T) {
	api, proto := &gate{open: make(chan struct{})}, &gate{open: make(chan struct{})}
	kinds := api.kinds()
	pk := proto.kinds()["gate"]
	pk.Protocol = true
	kinds["proto"] = pk
	e, _ := newTestExporter(t, "", Options{Kinds: kinds, MaxProbes: 1, MaxProtocolProbes: 1})
	h := e.ProbeHandler()
	done := make(chan string, 2)
	go func() { _, b := get(t, h, "/probe?module=gate&target=gate://a", nil); done <- b }()
	for api.scrapes.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	go func() { _, b := get(t, h, "/probe?module=proto&target=p://a", nil); done <- b }()
	for deadline := time.Now().Add(10 * time.Second); proto.scrapes.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a protocol probe waited for the API probes' slot")
		}
	}
	if rec, body := get(t, h, "/probe?module=proto&target=p://b", nil); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a second protocol probe past its own limit: %d %s", rec.Code, body)
	}
	if rec, body := get(t, h, "/probe?module=gate&target=gate://b", nil); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a second API probe past its limit: %d %s", rec.Code, body)
	}
	close(api.open)
	close(proto.open)
	for i := 0; i < 2; i++ {
		if b := <-done; !strings.Contains(b, "gate_value 42") {
			t.Errorf("a probe holding a slot got:\n%s", b)
		}
	}
}

// TestProbeSharedScrapeEncodings: concurrent probes share one scrape and
// its compressed answer whatever encoding they ask for, and each gets the
// encoding it asked for.
func TestProbeSharedScrapeEncodings(t *testing.T) {
	g := &gate{open: make(chan struct{})}
	e, _ := newTestExporter(t, "", Options{Kinds: g.kinds()})
	h := e.ProbeHandler()
	const n = 6
	recs := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		hdr := map[string]string{"Accept-Encoding": "gzip"}
		if i%2 == 1 {
			hdr = map[string]string{"Accept-Encoding": "identity"}
		}
		wg.Go(func() { recs[i], _ = get(t, h, "/probe?module=gate&target=gate://a", hdr) })
	}
	key := "module=gate&target=gate%3A%2F%2Fa"
	for deadline := time.Now().Add(10 * time.Second); e.waiters(key) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the probes never all arrived")
		}
	}
	close(g.open)
	wg.Wait()
	if got := g.scrapes.Load(); got != 1 {
		t.Errorf("%d scrapes for %d probes in two encodings, want 1", got, n)
	}
	for i, rec := range recs {
		body := rec.Body.String()
		if i%2 == 0 {
			if rec.Header().Get("Content-Encoding") != "gzip" {
				t.Fatalf("probe %d asked for gzip, got headers %v", i, rec.Header())
			}
			zr, err := gzip.NewReader(rec.Body)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			body = string(raw)
		} else if rec.Header().Get("Content-Encoding") != "" {
			t.Fatalf("probe %d asked for identity, got headers %v", i, rec.Header())
		}
		if !strings.Contains(body, "gate_value 42") {
			t.Errorf("probe %d got:\n%s", i, body)
		}
	}
}

// TestWriteGzippedRefusesText: an answer that is not gzip (which the
// flight never makes) is an error for an identity client, not garbage.
func TestWriteGzippedRefusesText(t *testing.T) {
	rec := httptest.NewRecorder()
	err := writeGzipped(context.Background(), rec, httptest.NewRequest(http.MethodGet, "/probe", nil), []byte("gate_value 42\n"))
	if err == nil || !strings.Contains(err.Error(), "reading the shared answer") {
		t.Errorf("err = %v", err)
	}
	if rec.Body.Len() != 0 {
		t.Errorf("wrote %q", rec.Body.String())
	}
}
