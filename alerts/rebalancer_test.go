package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/lbpilot/lbpilot/exporter"
	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/rebalancer"

	"github.com/lbpilot/lbpilot/internal/docstest"
)

// readmeYAML returns the README's "Alerts and dashboards" yaml blocks
// whose first line contains marker.
func readmeYAML(t *testing.T, marker string) string {
	t.Helper()
	s := docstest.File(t, "docs/alerts-and-dashboards.md")
	for _, block := range strings.Split(s, "```yaml\n")[1:] {
		block = block[:strings.Index(block, "```")]
		if first, _, _ := strings.Cut(block, "\n"); strings.Contains(first, marker) {
			return block
		}
	}
	t.Fatalf("README has no yaml block marked %q", marker)
	return ""
}

// TestReadmeExporterTargets: the README's example of targets labelled with
// their HAProxy server is a valid exporter configuration.
func TestReadmeExporterTargets(t *testing.T) {
	y := readmeYAML(t, "lbpilot exporter config")
	cfg, err := exporter.Parse([]byte(y), exporter.Kinds())
	if err != nil {
		t.Fatalf("README exporter example: %v\n%s", err, y)
	}
	n := 0
	for _, tg := range cfg.Targets {
		if tg.Labels["haproxy_backend"] != "" && tg.Labels["haproxy_server"] != "" {
			n++
		}
	}
	if n == 0 {
		t.Error("the README example labels no target with its HAProxy server")
	}
}

type expectedAlert struct {
	file, name string
	labels     map[string]string
}

// trafficExpectations collects the alerts the unit tests expect with
// lbpilot_action, deduplicated by label set.
func trafficExpectations(t *testing.T) []expectedAlert {
	t.Helper()
	seen := map[string]bool{}
	var out []expectedAlert
	for _, f := range glob(t, filepath.Join("tests", "*.test.yml")) {
		var tf testFile
		readYAML(t, f, &tf)
		for _, tc := range tf.Tests {
			for _, a := range tc.AlertRuleTest {
				for _, e := range a.ExpAlerts {
					if e.ExpLabels["lbpilot_action"] == "" {
						continue
					}
					labels := map[string]string{"alertname": a.Alertname}
					for k, v := range e.ExpLabels {
						labels[k] = v
					}
					key := fmt.Sprint(labels)
					if !seen[key] {
						seen[key] = true
						out = append(out, expectedAlert{filepath.Base(f), a.Alertname, labels})
					}
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i].labels) < fmt.Sprint(out[j].labels) })
	return out
}

// TestTrafficAlertsDrainTheirServer closes the loop from the rules to
// HAProxy: every alert the unit tests expect with lbpilot_action, with
// exactly those labels, is posted to a rebalancer configured with the
// README's rules, in front of lbpilot's in-memory HAProxy whose backend
// holds the server the alert names (by name, or by address for the EMQX
// alert) and two siblings. The named server, and only it, must be drained.
func TestTrafficAlertsDrainTheirServer(t *testing.T) {
	rules := readmeYAML(t, "lbpilot rebalancer config")
	expected := trafficExpectations(t)
	if len(expected) < 8 {
		t.Fatalf("only %d traffic alerts expected by the unit tests", len(expected))
	}
	covered := map[string]bool{}
	for i, ea := range expected {
		t.Run(fmt.Sprintf("%s_%d", ea.name, i), func(t *testing.T) {
			backend := ea.labels["haproxy_backend"]
			target := haproxytest.Server{Backend: backend, Up: true, Addr: "10.9.9.1"}
			if s := ea.labels["haproxy_server"]; s != "" {
				target.Name = s
			} else {
				target.Name, target.Addr = "node-by-address", ea.labels["instance"]
			}
			siblings := []haproxytest.Server{
				{Backend: backend, Name: "sibling1", Up: true, Addr: "10.9.9.2"},
				{Backend: backend, Name: "sibling2", Up: true, Addr: "10.9.9.3"},
			}
			h := haproxytest.NewHAProxy(t, append([]haproxytest.Server{target}, siblings...))
			cfg, err := rebalancer.Parse(fmt.Appendf([]byte(rules), "haproxy:\n  sockets: [%q]\nrebalancer:\n  state_file: %q\n",
				h.Socket.Addr, filepath.Join(t.TempDir(), "state.json")))
			if err != nil {
				t.Fatalf("README rebalancer rules: %v", err)
			}
			alertAndReconcile(t, cfg, ea.labels)
			srv, ok := h.Server(backend, target.Name)
			if !ok || haproxyapi.AdminFlags(srv.Admin)&haproxyapi.AdminForcedDrain == 0 {
				t.Errorf("%s (%s) with %v: %s/%s not drained (admin %#x)", ea.name, ea.file, ea.labels, backend, target.Name, srv.Admin)
			}
			for _, sib := range siblings {
				if s, _ := h.Server(backend, sib.Name); s.Admin != 0 {
					t.Errorf("%s: sibling %s changed (admin %#x)", ea.name, sib.Name, s.Admin)
				}
			}
			covered[ea.name] = true
		})
	}
	for name := range trafficAlerts(alertRules(t)) {
		if !covered[name] {
			t.Errorf("%s: no expected alert of its unit tests drained a server", name)
		}
	}
}

// alertAndReconcile starts a rebalancer on cfg, posts one firing alert
// with labels and runs one reconcile.
func alertAndReconcile(t *testing.T, cfg *rebalancer.Config, labels map[string]string) {
	t.Helper()
	r, err := rebalancer.New(rebalancer.Options{Config: cfg, DisableExporterMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	postAlert(t, r, labels)
	if err := r.Reconcile(context.Background(), false); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
}

func postAlert(t *testing.T, r *rebalancer.Rebalancer, labels map[string]string) {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "lbpilot-rebalancer",
		"groupLabels": map[string]string{}, "commonLabels": labels, "commonAnnotations": map[string]string{},
		"externalURL": "http://alertmanager:9093",
		"alerts": []map[string]any{{
			"status": "firing", "labels": labels, "annotations": map[string]string{},
			"startsAt": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), "endsAt": "0001-01-01T00:00:00Z",
			"generatorURL": "", "fingerprint": "00000000000000aa",
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/api/v1/alerts", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	r.Mux("/metrics").ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("webhook answered %d: %s", rec.Code, rec.Body.String())
	}
}

// errorAlerts are the traffic alerts about errors or health, not load:
// the shipped rebalancer configurations drain their server without the
// session cap. Every other traffic alert is about load and caps.
var errorAlerts = map[string]bool{
	"HAProxyServerHigh5xxRatio":     true,
	"HAProxyServerConnectionErrors": true,
	"SRSEdgeNoIngest":               true,
}

// shippedRebalancerConfigs are the rebalancer configurations the project
// ships, the demo's rendered with placeholder values.
func shippedRebalancerConfigs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range []string{"examples/rebalancer.yml", "deploy/compose/rebalancer.yml"} {
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = string(b)
	}
	const demo = "demo/templates/rebalancer.yml.tmpl"
	b, err := os.ReadFile(filepath.Join("..", demo))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.New(demo).Option("missingkey=error").Parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	if err := tmpl.Execute(&sb, map[string]any{"Dir": t.TempDir(), "Ports": map[string]int{"Alertmanager": 9093}}); err != nil {
		t.Fatalf("%s: %v", demo, err)
	}
	out[demo] = sb.String()
	return out
}

// TestShippedRebalancerConfigsCapForLoadOnly: with each shipped
// rebalancer configuration, every traffic alert the unit tests expect is
// posted for a backend's only server, whose drain the guard holds back
// (min_ready). A load alert caps the server at its sessions; an error or
// health alert leaves it uncapped.
func TestShippedRebalancerConfigsCapForLoadOnly(t *testing.T) {
	expected := trafficExpectations(t)
	traffic := trafficAlerts(alertRules(t))
	for name := range errorAlerts {
		if !traffic[name] {
			t.Errorf("errorAlerts names %s, which is no traffic alert", name)
		}
	}
	for file, y := range shippedRebalancerConfigs(t) {
		covered := map[string]bool{}
		for i, ea := range expected {
			backend, server := ea.labels["haproxy_backend"], ea.labels["haproxy_server"]
			if server == "" {
				continue // named by address: needs an address rule of the site's own
			}
			t.Run(fmt.Sprintf("%s/%s_%d", file, ea.name, i), func(t *testing.T) {
				h := haproxytest.NewHAProxy(t, []haproxytest.Server{{Backend: backend, Name: server, Up: true, Addr: "10.9.9.1"}})
				h.SetSessions(backend, server, 5)
				cfg, err := rebalancer.Parse([]byte(y))
				if err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				cfg.HAProxy.Sockets = []string{h.Socket.Addr}
				cfg.Rebalancer.StateFile = filepath.Join(t.TempDir(), "state.json")
				cfg.Alertmanager.URL = ""
				if err := cfg.Complete(); err != nil {
					t.Fatal(err)
				}
				alertAndReconcile(t, cfg, ea.labels)
				srv, _ := h.Server(backend, server)
				if srv.Admin != 0 {
					t.Fatalf("%s drained the only server of %s (admin %#x)", ea.name, backend, srv.Admin)
				}
				want := 5
				if errorAlerts[ea.name] {
					want = 0
				}
				if srv.MaxConn != want {
					t.Errorf("%s (%s): maxconn %d, want %d (error or health alert: %v)", ea.name, ea.file, srv.MaxConn, want, errorAlerts[ea.name])
				}
			})
			covered[ea.name] = true
		}
		for name := range errorAlerts {
			if !covered[name] {
				t.Errorf("%s: no expected alert of %s was tried", file, name)
			}
		}
	}
}
