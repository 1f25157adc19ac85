package exporter

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
)

// fakeHAProxy serves show stat/info/servers state captured from a real
// haproxy 2.6 (one server in maintenance, backups, listeners).
func fakeHAProxy(t *testing.T) string {
	t.Helper()
	m := map[string][]byte{}
	for line, file := range map[string]string{
		"show stat":          "haproxy_show_stat.csv",
		"show info":          "haproxy_show_info.txt",
		"show servers state": "haproxy_show_servers_state.txt",
	} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		m[line] = b
	}
	return haproxytest.NewSocket(t, haproxytest.ByLine(m)).Addr
}

func familyPrefixes(mfs map[string]*dto.MetricFamily) []string {
	seen := map[string]bool{}
	for name := range mfs {
		if p, ok := strings.CutPrefix(name, "haproxy_"); ok {
			seen[strings.SplitN(p, "_", 2)[0]] = true
		}
	}
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func servers(mfs map[string]*dto.MetricFamily, family string) []string {
	var out []string
	for _, m := range mfs[family].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "server" {
				out = append(out, l.GetValue())
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestProbePromexParams: promex's parameters act on /probe and on
// /metrics for static targets; a bad one is a 400 naming it.
func TestProbePromexParams(t *testing.T) {
	sock := fakeHAProxy(t)
	cfg := filepath.Join(t.TempDir(), "lbpilot.yml")
	if err := os.WriteFile(cfg, []byte("targets:\n  - {name: lb1, module: haproxy, url: \""+sock+"\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e, logs := newExporter(t, Options{ConfigFile: cfg})
	base := probe("haproxy", sock)

	mfs := scrape(t, e.ProbeHandler(), base+"&scope=backend&scope=server")
	if got := strings.Join(familyPrefixes(mfs), ","); got != "backend,server" {
		t.Errorf("scope=backend&scope=server: families of %s; %s", got, logs)
	}
	mfs = scrape(t, e.ProbeHandler(), base+"&scope=server&metrics=haproxy_server_weight")
	if len(mfs) != 3 || mfs["haproxy_server_weight"] == nil { // plus lbpilot_up and duration
		t.Errorf("metrics=haproxy_server_weight: %d families", len(mfs))
	}
	all := servers(scrape(t, e.ProbeHandler(), base+"&scope=server"), "haproxy_server_weight")
	noMaint := servers(scrape(t, e.ProbeHandler(), base+"&scope=server&no-maint"), "haproxy_server_weight")
	if strings.Join(all, ",") != "bk1,byname,maint1,t1,t2,web1,web2,web3" || strings.Join(noMaint, ",") != "bk1,t1,t2,web1,web2,web3" {
		t.Errorf("servers: all %v, no-maint %v", all, noMaint)
	}
	mfs = scrape(t, e.ProbeHandler(), base+"&scope=")
	if got := familyPrefixes(mfs); len(got) != 0 {
		t.Errorf("scope= still exports %v", got)
	}
	// Static targets take the same parameters on /metrics.
	mfs = scrape(t, e.MetricsHandler(), "/metrics?scope=frontend")
	if got := strings.Join(familyPrefixes(mfs), ","); got != "frontend" {
		t.Errorf("/metrics?scope=frontend: families of %s", got)
	}
	if mfs["lbpilot_up"] == nil || mfs["go_goroutines"] == nil {
		t.Error("/metrics with parameters lost the exporter's own metrics")
	}
	// Without parameters /metrics keeps every scope.
	if got := familyPrefixes(scrape(t, e.MetricsHandler(), "/metrics")); len(got) < 4 {
		t.Errorf("/metrics: %v", got)
	}

	for _, tc := range []struct{ path, want string }{
		{base + "&scope=servers", `Bad parameter for module "haproxy": invalid parameter scope="servers": unknown scope`},
		{base + "&scope", `invalid parameter "scope": needs a value`},
		{base + "&metrics", `invalid parameter "metrics": needs a value`},
		{"/metrics?scope=nope", `Bad parameter for target "lb1": invalid parameter scope="nope"`},
	} {
		h := e.ProbeHandler()
		if strings.HasPrefix(tc.path, "/metrics") {
			h = e.MetricsHandler()
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: HTTP %d %q, want 400 %q", tc.path, rec.Code, rec.Body.String(), tc.want)
		}
	}
	if v := counterValue(t, e, "bad_param"); v != 3 {
		t.Errorf("bad_param refusals counted %v, want 3", v)
	}
}
