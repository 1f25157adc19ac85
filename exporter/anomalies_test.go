package exporter

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/lab"
)

// oddStatsPage is a HAProxy stats CSV with a row of unknown type after an
// empty first line.
const oddStatsPage = "\n# pxname,svname,scur,status,iid,type,\nfe,FRONTEND,3,OPEN,2,0,\nbk,BACKEND,1,UP,3,1,\nbk,s1,1,UP,3,,\n\n"

// TestAnomaliesOnMetrics: a value a collector drops shows as
// lbpilot_upstream_anomalies_total{target,reason} while lbpilot_up stays
// 1; the family is consistent across kinds whose targets carry different
// extra labels, keeps counting across scrapes, and across the collectors
// /probe builds per request.
func TestAnomaliesOnMetrics(t *testing.T) {
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(oddStatsPage)) }))
	defer page.Close()
	srs := startLab(t, lab.Config{Kind: lab.SRS, Name: "o1", Load: lab.Load{Publishers: 1, Subscribers: 2}})
	cfg := filepath.Join(t.TempDir(), "lbpilot.yml")
	_ = os.WriteFile(cfg, []byte(`
targets:
  - {name: lb1, module: haproxy, url: "`+page.URL+`/stats", labels: {dc: west}}
  - {name: origin1, module: srs, url: "`+srs.URL+`", labels: {role: origin}}
`), 0o600)
	e, logs := newExporter(t, Options{ConfigFile: cfg})
	for i := 1; i <= 2; i++ {
		mfs := scrape(t, e.MetricsHandler(), "/metrics")
		for _, target := range []string{"lb1", "origin1"} {
			if up := gaugeValue(t, mfs, "lbpilot_up", map[string]string{"target": target}); up != 1 {
				t.Errorf("%s: up %v; %s", target, up, logs)
			}
		}
		if v := gaugeValue(t, mfs, "lbpilot_upstream_anomalies_total", map[string]string{"target": "lb1", "reason": "unknown_row_type"}); v != float64(i) {
			t.Errorf("scrape %d: unknown_row_type = %v, want %d", i, v, i)
		}
		if v := gaugeValue(t, mfs, "haproxy_backend_current_sessions", map[string]string{"target": "lb1", "proxy": "bk"}); v != 1 {
			t.Errorf("the rest of the page: backend sessions %v", v)
		}
	}
	if strings.Contains(logs.String(), "Inconsistent metrics") {
		t.Errorf("the shared family is inconsistent across kinds:\n%s", logs)
	}

	h := e.ProbeHandler()
	target := page.URL + "/probe-stats"
	for i := 1; i <= 2; i++ {
		mfs := scrape(t, h, probe("haproxy", target))
		if v := gaugeValue(t, mfs, "lbpilot_upstream_anomalies_total", map[string]string{"reason": "unknown_row_type"}); v != float64(i) {
			t.Errorf("probe %d: unknown_row_type = %v, want %d", i, v, i)
		}
	}
	if !strings.Contains(logs.String(), `target=lb1`) || !strings.Contains(logs.String(), `msg="Dropped upstream values" reason=unknown_row_type count=1 first_row=bk/s1`) {
		t.Errorf("no debug line naming the target and the row:\n%s", logs)
	}
}
