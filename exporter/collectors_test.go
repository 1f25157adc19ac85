package exporter

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lbpilot/lbpilot/internal/testenv"

	"github.com/go-kit/log"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/lbpilot/lbpilot/internal/docstest"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/lab"
)

// TestExampleConfig loads examples/lbpilot.yml the way --config.check
// does: strict YAML, every module valid, every target's collector built.
func TestExampleConfig(t *testing.T) {
	cfg, err := CheckConfig(filepath.Join("..", "examples", "lbpilot.yml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, tc := range cfg.Targets {
		kinds[cfg.Modules[tc.Module].Kind]++
	}
	for _, k := range []string{"haproxy", "wcs", "srs", "emqx"} {
		if kinds[k] == 0 {
			t.Errorf("the example has no %s target", k)
		}
	}
	if m := cfg.Modules["srs_streams"]; m == nil || m.SRS == nil || !m.SRS.StreamMetrics {
		t.Errorf("srs_streams module not read: %+v", m)
	}
}

func startLab(t *testing.T, cfg lab.Config) *lab.Server {
	t.Helper()
	s, err := lab.Start(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newExporter(t *testing.T, opts Options) (*Exporter, *testenv.SyncBuffer) {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	opts.Logger = log.NewLogfmtLogger(logs)
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e, logs
}

func scrape(t *testing.T, h http.Handler, target string) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %s", target, rec.Code, rec.Body.String())
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	return mfs
}

func probe(module, target string) string {
	return "/probe?module=" + module + "&target=" + url.QueryEscape(target)
}

func gaugeValue(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("no %s", name)
	}
metrics:
	for _, m := range mf.GetMetric() {
		for k, v := range labels {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue metrics
			}
		}
		if m.Counter != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}

// TestProbeBuiltinModules: with no config file, /probe of each kind works
// against the lab and reports the lab's load.
func TestProbeBuiltinModules(t *testing.T) {
	load := lab.Load{Publishers: 3, Subscribers: 12, Connections: 40, BandwidthOutMbps: 8, CPU: 0.25}
	wcs := startLab(t, lab.Config{Kind: lab.WCS, Name: "wcs1", Load: load})
	srs := startLab(t, lab.Config{Kind: lab.SRS, Name: "srs1", Load: load})
	emqx := startLab(t, lab.Config{Kind: lab.EMQX, Name: "emqx1", Load: load})
	e, logs := newExporter(t, Options{})
	h := e.ProbeHandler()
	for _, tc := range []struct {
		module, url, metric string
		want                float64
	}{
		{"wcs", wcs.URL, "wcs_publishers", 3},
		{"wcs", wcs.URL, "wcs_subscribers", 12},
		{"srs", srs.URL, "srs_clients", 15},
		{"srs", srs.URL, "srs_streams", 3},
		{"emqx", emqx.URL, "emqx_cluster_nodes_running", 2},
	} {
		mfs := scrape(t, h, probe(tc.module, tc.url))
		if up := gaugeValue(t, mfs, "lbpilot_up", nil); up != 1 {
			t.Errorf("%s: lbpilot_up %v; log: %s", tc.module, up, logs)
		}
		if got := gaugeValue(t, mfs, tc.metric, nil); got != tc.want {
			t.Errorf("%s: %s = %v, want %v", tc.module, tc.metric, got, tc.want)
		}
		if _, ok := mfs["go_goroutines"]; ok {
			t.Errorf("%s: /probe carries the exporter's own metrics", tc.module)
		}
	}
	// A lab load change shows on the next probe.
	if err := wcs.SetLoad(lab.Load{Publishers: 9}); err != nil {
		t.Fatal(err)
	}
	if got := gaugeValue(t, scrape(t, h, probe("wcs", wcs.URL)), "wcs_publishers", nil); got != 9 {
		t.Errorf("after the load change: wcs_publishers %v", got)
	}
}

// TestProbeFailuresLogOnce: each broken upstream yields lbpilot_up 0 and
// exactly one error line naming the module, the target and the cause.
func TestProbeFailuresLogOnce(t *testing.T) {
	wcs := startLab(t, lab.Config{Kind: lab.WCS, Name: "wcs1", Load: lab.Load{Publishers: 1}})
	srs := startLab(t, lab.Config{Kind: lab.SRS, Name: "srs1"})
	emqx := startLab(t, lab.Config{Kind: lab.EMQX, Name: "emqx1", APIKey: "k", APISecret: "right"})
	e, logs := newExporter(t, Options{})
	h := e.ProbeHandler()
	cases := []struct {
		name, module, url string
		fault             *lab.Fault
		want              string
	}{
		{"wcs truncated", "wcs", wcs.URL, &lab.Fault{Truncate: true}, "body truncated?"},
		{"wcs html", "wcs", wcs.URL, &lab.Fault{Body: "<html><title>502 Bad Gateway</title></html>"}, "body is HTML"},
		{"srs error code", "srs", srs.URL, &lab.Fault{Body: `{"code":1061}`}, "SRS error code 1061 (raw API disabled)"},
		{"srs 503", "srs", srs.URL, &lab.Fault{Status: 503, Body: "busy"}, "HTTP 503: busy"},
		{"emqx without credentials", "emqx", emqx.URL, nil, "HTTP 401 AUTHORIZATION_HEADER_ERROR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range []*lab.Server{wcs, srs} {
				s.SetFault(nil)
			}
			if tc.fault != nil {
				map[string]*lab.Server{"wcs": wcs, "srs": srs}[tc.module].SetFault(tc.fault)
			}
			before := strings.Count(logs.String(), "\n")
			mfs := scrape(t, h, probe(tc.module, tc.url))
			if up := gaugeValue(t, mfs, "lbpilot_up", nil); up != 0 {
				t.Errorf("lbpilot_up %v", up)
			}
			var lines []string // error lines of this scrape (an info line may note EMQX's detection)
			for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n")[before:] {
				if strings.Contains(l, "level=error") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 {
				t.Fatalf("%d error lines: %q", len(lines), lines)
			}
			for _, w := range []string{"level=error", "module=" + tc.module, tc.want, tc.url} {
				if !strings.Contains(lines[0], w) {
					t.Errorf("log line %q lacks %q", lines[0], w)
				}
			}
		})
	}
}

// TestEMQXKeyFileFlag: --collector.emqx.api-key-file gives the built-in
// emqx module its credentials; a module's own credentials win over it.
func TestEMQXKeyFileFlag(t *testing.T) {
	emqx := startLab(t, lab.Config{Kind: lab.EMQX, Name: "emqx1", APIKey: "lbpilot", APISecret: "s3cret", Load: lab.Load{Connections: 10}})
	dir := t.TempDir()
	good := filepath.Join(dir, "good.key")
	bad := filepath.Join(dir, "bad.key")
	_ = os.WriteFile(good, []byte("lbpilot:s3cret\n"), 0o600)
	_ = os.WriteFile(bad, []byte("lbpilot:nope\n"), 0o600)
	cfg := filepath.Join(dir, "lbpilot.yml")
	_ = os.WriteFile(cfg, []byte("modules:\n  emqx: {probe_allow: [127.0.0.1]}\n  emqx_own:\n    kind: emqx\n    probe_allow: [127.0.0.1]\n    emqx:\n      api_key_file: "+bad+"\n"), 0o600)

	e, logs := newExporter(t, Options{ConfigFile: cfg, EMQXAPIKeyFile: good})
	h := e.ProbeHandler()
	if up := gaugeValue(t, scrape(t, h, probe("emqx", emqx.URL)), "lbpilot_up", nil); up != 1 {
		t.Errorf("built-in module with the flag's key: up %v; %s", up, logs)
	}
	if up := gaugeValue(t, scrape(t, h, probe("emqx_own", emqx.URL)), "lbpilot_up", nil); up != 0 {
		t.Errorf("a module's own (wrong) key must win over the flag: up %v", up)
	}
	if strings.Contains(logs.String(), "s3cret") || strings.Contains(logs.String(), "nope") {
		t.Errorf("a secret reached the log: %s", logs)
	}
}

// TestMetricsStaticTargets: /metrics scrapes a static target of every
// lab kind, each labelled, in one response.
func TestMetricsStaticTargets(t *testing.T) {
	load := lab.Load{Publishers: 2, Subscribers: 5, Connections: 20}
	wcs := startLab(t, lab.Config{Kind: lab.WCS, Name: "wcs1", Load: load})
	origin := startLab(t, lab.Config{Kind: lab.SRS, Name: "o1", Load: load})
	edge := startLab(t, lab.Config{Kind: lab.SRS, Name: "e1", SRSRole: "edge", Load: load})
	emqx := startLab(t, lab.Config{Kind: lab.EMQX, Name: "x1", EMQXVersion: "v4", Load: load})
	cfg := filepath.Join(t.TempDir(), "lbpilot.yml")
	_ = os.WriteFile(cfg, []byte(`
targets:
  - {name: wcs1, module: wcs, url: "`+wcs.URL+`"}
  - {name: origin1, module: srs, url: "`+origin.URL+`", labels: {role: origin}}
  - {name: edge1, module: srs, url: "`+edge.URL+`", labels: {role: edge}}
  - {name: emqx1, module: emqx, url: "`+emqx.URL+`"}
`), 0o600)
	e, logs := newExporter(t, Options{ConfigFile: cfg})
	mfs := scrape(t, e.MetricsHandler(), "/metrics")
	for _, target := range []string{"wcs1", "origin1", "edge1", "emqx1"} {
		if up := gaugeValue(t, mfs, "lbpilot_up", map[string]string{"target": target}); up != 1 {
			t.Errorf("%s: up %v; %s", target, up, logs)
		}
	}
	if v := gaugeValue(t, mfs, "srs_publishers", map[string]string{"target": "edge1", "role": "edge", "type": "fmle-publish"}); v != 0 {
		t.Errorf("edge publishers %v", v)
	}
	if v := gaugeValue(t, mfs, "srs_publishers", map[string]string{"target": "origin1", "role": "origin", "type": "fmle-publish"}); v != 2 {
		t.Errorf("origin publishers %v", v)
	}
	if v := gaugeValue(t, mfs, "emqx_live_connections", map[string]string{"target": "emqx1", "node": "emqx@x1-n1.lab"}); v != 10 {
		t.Errorf("emqx node 1 live connections %v", v)
	}
	if v := gaugeValue(t, mfs, "wcs_publishers", map[string]string{"target": "wcs1"}); v != 2 {
		t.Errorf("wcs publishers %v", v)
	}
}

// TestREADMEDocumentsEveryFamily: every metric family a WCS, SRS or EMQX
// golden file holds is named in README's metric tables.
func TestREADMEDocumentsEveryFamily(t *testing.T) {
	readme := []byte(docstest.File(t, "docs/metrics.md"))
	files, _ := filepath.Glob(filepath.Join("..", "collectors", "*", "testdata", "golden", "*.prom"))
	seen := map[string]bool{}
	for _, f := range files {
		if strings.Contains(f, "haproxy") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
				seen[strings.Fields(name)[0]] = true
			}
		}
	}
	if len(seen) < 150 {
		t.Fatalf("only %d families in the golden files", len(seen))
	}
	for name := range seen {
		if !bytes.Contains(readme, []byte("`"+name+"`")) {
			t.Errorf("README does not document %s", name)
		}
	}
}

// TestWCSErrorFixturesThroughProbe: each broken WCS page of the fixtures
// gives lbpilot_up 0 and exactly one error line that says what is wrong.
func TestWCSErrorFixturesThroughProbe(t *testing.T) {
	e, logs := newExporter(t, Options{})
	h := e.ProbeHandler()
	for file, want := range map[string]string{
		"stat_truncated.txt":       "no '=' in \\\"streams_webrt\\\" (body truncated?)",
		"stat_truncated.json":      "invalid JSON: unexpected EOF (body truncated?)",
		"stat_malformed.txt":       "line 3: connections_websocket=\\\"not-a-number\\\" is not a number (and 6 more problems)",
		"stat_html_error_page.txt": "body is HTML",
		"stat_empty.txt":           "empty body",
		"stat_wrong_shape.json":    "top level is array",
	} {
		t.Run(file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("..", "collectors", "wcs", "testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) }))
			defer srv.Close()
			before := strings.Count(logs.String(), "\n")
			if up := gaugeValue(t, scrape(t, h, probe("wcs", srv.URL)), "lbpilot_up", nil); up != 0 {
				t.Errorf("lbpilot_up %v", up)
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")[before:]
			if len(lines) != 1 || !strings.Contains(lines[0], "level=error") || !strings.Contains(lines[0], want) {
				t.Errorf("log %q, want one error line with %q", lines, want)
			}
		})
	}
}

// TestGzipResponses: gzipped answers stay valid when compressors are
// reused from the pool, also across concurrent requests.
func TestGzipResponses(t *testing.T) {
	s := startLab(t, lab.Config{Kind: lab.WCS, Name: "wcs1", Load: lab.Load{Publishers: 4}})
	e, _ := newExporter(t, Options{})
	h := e.ProbeHandler()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Go(func() {
			req := httptest.NewRequest(http.MethodGet, probe("wcs", s.URL), nil)
			req.Header.Set("Accept-Encoding", "gzip")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Header().Get("Content-Encoding") != "gzip" {
				t.Error("not gzipped")
				return
			}
			zr, err := gzip.NewReader(rec.Body)
			if err != nil {
				t.Error(err)
				return
			}
			p := expfmt.NewTextParser(model.UTF8Validation)
			mfs, err := p.TextToMetricFamilies(zr)
			if err != nil {
				t.Error(err)
				return
			}
			if mf := mfs["wcs_publishers"]; mf == nil || mf.GetMetric()[0].GetGauge().GetValue() != 4 {
				t.Errorf("wcs_publishers missing or wrong: %v", mf)
			}
		})
	}
	wg.Wait()
}

// TestProbeSeveralHAProxySockets: /probe takes a comma-separated list of
// stats sockets (and master CLIs) as one target, merged, and refuses a bad
// list with a 400 naming the entry.
func TestProbeSeveralHAProxySockets(t *testing.T) {
	stat, err := os.ReadFile("../collectors/haproxy/testdata/show_stat.csv")
	if err != nil {
		t.Fatal(err)
	}
	state, err := os.ReadFile("../collectors/haproxy/testdata/show_servers_state.txt")
	if err != nil {
		t.Fatal(err)
	}
	answers := map[string][]byte{"show stat": stat, "show servers state": state}
	a := haproxytest.NewSocket(t, haproxytest.ByLine(answers))
	b := haproxytest.NewSocket(t, haproxytest.ByLine(answers))
	e, logs := newExporter(t, Options{})
	h := e.ProbeHandler()
	one := scrape(t, h, probe("haproxy", a.Addr)+"&scope=frontend")
	both := scrape(t, h, probe("haproxy", a.Addr+","+b.Addr)+"&scope=frontend")
	if up := gaugeValue(t, both, "lbpilot_up", nil); up != 1 {
		t.Fatalf("lbpilot_up %v; log: %s", up, logs)
	}
	labels := map[string]string{"proxy": "fe_http"}
	if o, m := counterOf(t, one, "haproxy_frontend_sessions_total", labels), counterOf(t, both, "haproxy_frontend_sessions_total", labels); o == 0 || m != 2*o {
		t.Errorf("sessions of two identical processes = %v, want 2 × %v", m, o)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, probe("haproxy", a.Addr+",http://lb/stats"), nil))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "stats sockets only") {
		t.Errorf("a stats page in a list: HTTP %d %q, want 400", rec.Code, rec.Body.String())
	}
}

func counterOf(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("no %s", name)
	}
	for _, m := range mf.GetMetric() {
		match := 0
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] == l.GetValue() {
				match++
			}
		}
		if match == len(labels) {
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}
