package exporter

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/golden"

	"github.com/lbpilot/lbpilot/internal/testenv"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/expo"
)

// fakeCollector behaves according to its target URL's scheme:
// ok:// emits fake_value, fail:// fails after emitting one metric,
// slow:// waits for the context, stream:// also returns a stream.
type fakeCollector struct {
	t    collectors.Target
	desc *prometheus.Desc
	live *atomic.Int32 // concurrent Updates (for the bound test)
	peak *atomic.Int32
}

func (f *fakeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

func (f *fakeCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	if f.live != nil {
		n := f.live.Add(1)
		defer f.live.Add(-1)
		for {
			p := f.peak.Load()
			if n <= p || f.peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	switch {
	case strings.HasPrefix(f.t.URL, "fail://"):
		ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, 7)
		return errors.New("upstream said no")
	case strings.HasPrefix(f.t.URL, "slow://"):
		<-ctx.Done()
		return ctx.Err()
	}
	ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, 1)
	return nil
}

type fakeStreamer struct{ *fakeCollector }

func (f fakeStreamer) UpdateStream(ctx context.Context, ch chan<- prometheus.Metric) (expo.Stream, error) {
	err := f.Update(ctx, ch)
	return fakeStream{f.t}, err
}

type fakeStream struct{ t collectors.Target }

func (fakeStream) Families() []expo.Family {
	return []expo.Family{{Name: "fake_streamed", Help: "Streamed samples.", Type: dto.MetricType_GAUGE}}
}

func (s fakeStream) WriteSamples(w *bufio.Writer, name string) error {
	_, err := fmt.Fprintf(w, "fake_streamed{target=%q} 3\n", s.t.Labels["target"])
	return err
}

func fakeKinds(live, peak *atomic.Int32) map[string]Kind {
	return map[string]Kind{"fake": {
		CheckURL: func(u string) error {
			if !strings.Contains(u, "://") {
				return fmt.Errorf("want scheme://, got %q", u)
			}
			return nil
		},
		New: func(m *Module, t collectors.Target, l log.Logger) (collectors.Collector, error) {
			if strings.HasPrefix(t.URL, "refuse://") {
				return nil, errors.New("cannot build")
			}
			fc := &fakeCollector{t: t, live: live, peak: peak,
				desc: prometheus.NewDesc("fake_value", "A fake value.", nil, t.Labels)}
			if strings.HasPrefix(t.URL, "stream://") {
				return fakeStreamer{fc}, nil
			}
			return fc, nil
		},
	}}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newTestExporter(t *testing.T, cfg string, opts Options) (*Exporter, *testenv.SyncBuffer) {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	if cfg != "" {
		opts.ConfigFile = writeFile(t, t.TempDir(), "lbpilot.yml", cfg)
	}
	if opts.Kinds == nil {
		opts.Kinds = fakeKinds(nil, nil)
	}
	opts.Logger = log.NewLogfmtLogger(logs)
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e, logs
}

func get(t *testing.T, h http.Handler, target string, hdr map[string]string) (*httptest.ResponseRecorder, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec, rec.Body.String()
}

func parse(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	return golden.Parse(t, strings.NewReader(body))
}

// sample finds one series' value by a label subset.
func sample(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		if m.Gauge != nil {
			return m.GetGauge().GetValue(), true
		}
		return m.GetCounter().GetValue(), true
	}
	return 0, false
}

func TestProbeContract(t *testing.T) {
	e, _ := newTestExporter(t, "", Options{})
	h := e.ProbeHandler()
	tests := []struct {
		query      string
		code       int
		body       string
		invalidFor string
	}{
		{"/probe?target=ok://a", 400, "Module parameter is missing", "missing_module"},
		{"/probe?module=nope&target=ok://a", 400, `Unknown module "nope"`, "unknown_module"},
		{"/probe?module=fake", 400, "Target parameter is missing", "missing_target"},
		{"/probe?module=fake&target=http://h/stats;csv", 400, "unescaped ';'", "missing_target"},
		{"/probe?module=fake&target=noscheme", 400, "Bad target", "bad_target"},
		{"/probe?module=fake&target=refuse://x", 400, "cannot build", "bad_target"},
		{"/probe?module=fake&target=ok://a", 200, `lbpilot_up{module="fake"} 1`, ""},
		{"/probe?module=fake&target=fail://a", 200, `lbpilot_up{module="fake"} 0`, ""},
	}
	for _, tt := range tests {
		before := counterValue(t, e, tt.invalidFor)
		rec, body := get(t, h, tt.query, nil)
		if rec.Code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("%s: %d %q, want %d containing %q", tt.query, rec.Code, body, tt.code, tt.body)
		}
		if tt.invalidFor != "" && counterValue(t, e, tt.invalidFor) != before+1 {
			t.Errorf("%s: lbpilot_probe_invalid_requests_total{reason=%q} not incremented", tt.query, tt.invalidFor)
		}
		if rec.Code == 200 {
			mfs := parse(t, body)
			for name := range mfs {
				if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "lbpilot_config") {
					t.Errorf("%s: self metric %s on /probe", tt.query, name)
				}
			}
			if _, ok := sample(mfs, "lbpilot_scrape_duration_seconds", map[string]string{"module": "fake"}); !ok {
				t.Errorf("%s: no lbpilot_scrape_duration_seconds", tt.query)
			}
		}
	}
	// A failed target keeps what it collected before failing.
	_, body := get(t, h, "/probe?module=fake&target=fail://a", nil)
	if v, ok := sample(parse(t, body), "fake_value", nil); !ok || v != 7 {
		t.Errorf("partial metrics of a failed target lost: %v %v", v, ok)
	}
}

func counterValue(t *testing.T, e *Exporter, reason string) float64 {
	t.Helper()
	if reason == "" {
		return 0
	}
	mfs, _ := e.self.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "lbpilot_probe_invalid_requests_total" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no counter for %s", reason)
	return 0
}

func TestProbeDeadlineFromScrapeTimeoutHeader(t *testing.T) {
	e, logs := newTestExporter(t, "", Options{TimeoutOffset: 500 * time.Millisecond})
	start := time.Now()
	rec, body := get(t, e.ProbeHandler(), "/probe?module=fake&target=slow://a", map[string]string{"X-Prometheus-Scrape-Timeout-Seconds": "1"})
	took := time.Since(start)
	if rec.Code != 200 || !strings.Contains(body, `lbpilot_up{module="fake"} 0`) {
		t.Fatalf("%d %s", rec.Code, body)
	}
	if took < 400*time.Millisecond || took > 900*time.Millisecond {
		t.Errorf("slow target answered after %v, want about 0.5s (1s header - 0.5s offset)", took)
	}
	if !strings.Contains(logs.String(), "deadline exceeded") {
		t.Errorf("the timeout was not logged: %s", logs.String())
	}
	// A malformed header is ignored (module timeout applies), not fatal.
	rec, _ = get(t, e.ProbeHandler(), "/probe?module=fake&target=ok://a", map[string]string{"X-Prometheus-Scrape-Timeout-Seconds": "soon"})
	if rec.Code != 200 || !strings.Contains(logs.String(), "Ignoring scrape timeout header") {
		t.Errorf("bad header: %d, logs %s", rec.Code, logs.String())
	}
}

const threeTargets = `
modules:
  fake: {timeout: 2s}
targets:
  - {name: a, module: fake, url: "ok://a", labels: {role: edge}}
  - {name: b, module: fake, url: "fail://b"}
  - {name: c, module: fake, url: "ok://c", labels: {dc: west}}
`

func TestMetricsScrapesEveryTargetAndIsolatesFailures(t *testing.T) {
	e, logs := newTestExporter(t, threeTargets, Options{})
	rec, body := get(t, e.MetricsHandler(), "/metrics", nil)
	if rec.Code != 200 {
		t.Fatalf("code %d", rec.Code)
	}
	mfs := parse(t, body)
	for target, want := range map[string]float64{"a": 1, "b": 0, "c": 1} {
		if v, ok := sample(mfs, "lbpilot_up", map[string]string{"target": target, "module": "fake"}); !ok || v != want {
			t.Errorf("lbpilot_up{target=%s} = %v %v, want %v", target, v, ok, want)
		}
	}
	// Extra labels: every target of a kind carries the union of names.
	if v, ok := sample(mfs, "fake_value", map[string]string{"target": "a", "role": "edge", "dc": ""}); !ok || v != 1 {
		t.Errorf("fake_value of a with labels: %v %v", v, ok)
	}
	if _, ok := sample(mfs, "lbpilot_up", map[string]string{"target": "c", "dc": "west", "role": ""}); !ok {
		t.Error("lbpilot_up lacks the extra labels")
	}
	for _, self := range []string{"lbpilot_build_info", "lbpilot_config_last_reload_successful", "go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := mfs[self]; !ok {
			t.Errorf("/metrics lacks %s", self)
		}
	}
	if n := strings.Count(logs.String(), "Target scrape failed"); n != 1 || !strings.Contains(logs.String(), "target=b") {
		t.Errorf("want the failure logged once with the target named, got %d:\n%s", n, logs.String())
	}
	_, body = get(t, e.MetricsHandler(), "/metrics", nil)
	if n := strings.Count(logs.String(), "Target scrape failed"); n != 2 {
		t.Errorf("second scrape: failure logged %d times in total, want 2", n)
	}
	_ = body
}

func TestDisableExporterMetrics(t *testing.T) {
	e, _ := newTestExporter(t, threeTargets, Options{DisableExporterMetrics: true})
	_, body := get(t, e.MetricsHandler(), "/metrics", nil)
	mfs := parse(t, body)
	if _, ok := mfs["go_goroutines"]; ok {
		t.Error("go_* still exported")
	}
	if _, ok := mfs["lbpilot_config_last_reload_successful"]; !ok {
		t.Error("lbpilot's own metrics must stay")
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	var live, peak atomic.Int32
	var b strings.Builder
	b.WriteString("targets:\n")
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&b, "  - {name: t%d, module: fake, url: \"ok://%d\"}\n", i, i)
	}
	e, _ := newTestExporter(t, b.String(), Options{Concurrency: 3, Kinds: fakeKinds(&live, &peak)})
	get(t, e.MetricsHandler(), "/metrics", nil)
	if p := peak.Load(); p != 3 {
		t.Errorf("peak concurrent scrapes = %d, want exactly the bound 3", p)
	}
}

func TestStreamsAreMergedIntoOneFamily(t *testing.T) {
	cfg := "targets:\n  - {name: s1, module: fake, url: \"stream://1\"}\n  - {name: s2, module: fake, url: \"stream://2\"}\n"
	e, _ := newTestExporter(t, cfg, Options{})
	_, body := get(t, e.MetricsHandler(), "/metrics", nil)
	if n := strings.Count(body, "# TYPE fake_streamed gauge"); n != 1 {
		t.Fatalf("fake_streamed declared %d times:\n%s", n, body)
	}
	mfs := parse(t, body)
	if got := len(mfs["fake_streamed"].GetMetric()); got != 2 {
		t.Errorf("fake_streamed has %d series, want one per target", got)
	}
}

func TestGzipNegotiation(t *testing.T) {
	e, _ := newTestExporter(t, threeTargets, Options{})
	rec, _ := get(t, e.MetricsHandler(), "/metrics", map[string]string{"Accept-Encoding": "gzip"})
	if rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("not gzipped: %v", rec.Header())
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	parse(t, string(plain))
	rec, _ = get(t, e.MetricsHandler(), "/metrics", map[string]string{"Accept-Encoding": "deflate, GZIP;q=0.5"})
	if rec.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("gzip;q=0.5 not gzipped: %v", rec.Header())
	}
	rec, _ = get(t, e.MetricsHandler(), "/metrics", map[string]string{"Accept-Encoding": "gzip;q=0, identity"})
	if rec.Header().Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 still compressed")
	}
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("content type %q", rec.Header().Get("Content-Type"))
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "lbpilot.yml", "targets:\n  - {name: a, module: fake, url: \"ok://a\"}\n")
	logs := &testenv.SyncBuffer{}
	e, err := New(Options{ConfigFile: path, Kinds: fakeKinds(nil, nil), Logger: log.NewLogfmtLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	reloadOK := func() float64 {
		mfs, _ := e.self.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "lbpilot_config_last_reload_successful" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	h := e.ReloadHandler()

	writeFile(t, dir, "lbpilot.yml", "targets:\n  - {name: a, module: fake, url: \"ok://a\", bogus: 1}\n")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/-/reload", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "bogus") {
		t.Errorf("bad config reload: %d %s", rec.Code, rec.Body.String())
	}
	if reloadOK() != 0 {
		t.Error("lbpilot_config_last_reload_successful not 0 after a failed reload")
	}
	_, body := get(t, e.MetricsHandler(), "/metrics", nil)
	if _, ok := sample(parse(t, body), "lbpilot_up", map[string]string{"target": "a"}); !ok {
		t.Error("the last good config was dropped by a failed reload")
	}

	writeFile(t, dir, "lbpilot.yml", "targets:\n  - {name: b, module: fake, url: \"ok://b\"}\n")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/-/reload", nil))
	if rec.Code != 200 || reloadOK() != 1 {
		t.Errorf("good reload: %d, metric %v", rec.Code, reloadOK())
	}
	_, body = get(t, e.MetricsHandler(), "/metrics", nil)
	mfs := parse(t, body)
	if _, ok := sample(mfs, "lbpilot_up", map[string]string{"target": "b"}); !ok {
		t.Error("new target b not scraped after reload")
	}
	if _, ok := sample(mfs, "lbpilot_up", map[string]string{"target": "a"}); ok {
		t.Error("old target a still scraped after reload")
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/-/reload", nil))
	if rec.Code != 405 {
		t.Errorf("GET /-/reload = %d, want 405", rec.Code)
	}

	if _, err := New(Options{ConfigFile: filepath.Join(dir, "missing.yml"), Kinds: fakeKinds(nil, nil)}); err == nil {
		t.Error("New accepted a missing config file")
	}
}
