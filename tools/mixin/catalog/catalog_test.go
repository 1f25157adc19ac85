package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

const repoRoot = "../../.."

func TestParseDesc(t *testing.T) {
	for _, tc := range []struct {
		desc   *prometheus.Desc
		name   string
		labels string
	}{
		{prometheus.NewDesc("a_total", "Help with \"quotes\", commas, constLabels: {x} and variableLabels: {y}}.", []string{"p", "q"}, prometheus.Labels{"target": "t=1,\"}", "role": "edge"}), "a_total", "role,target,p,q"},
		{prometheus.NewDesc("b", "", nil, nil), "b", ""},
		{prometheus.NewDesc("c_seconds", "h", []string{"le"}, prometheus.Labels{"z": ""}), "c_seconds", "z,le"},
	} {
		name, labels, err := ParseDesc(tc.desc.String())
		if err != nil {
			t.Fatalf("%s: %v", tc.desc, err)
		}
		if name != tc.name || strings.Join(labels, ",") != tc.labels {
			t.Errorf("%s: got %s %v, want %s %s", tc.desc, name, labels, tc.name, tc.labels)
		}
	}
	for _, bad := range []string{
		"", "Desc{fqName: x", `Desc{fqName: "x", help: "h", unit: "", constLabels: {}, variableLabels: {a}`,
		`Desc{fqName: "x", help: "h", unit: "", constLabels: {a}, variableLabels: {}}`,
		`Desc{fqName: "9x", help: "h", unit: "", constLabels: {}, variableLabels: {}}`,
		`Desc{fqName: "x", help: "h", constLabels: {}, variableLabels: {}}`,
	} {
		if _, _, err := ParseDesc(bad); err == nil {
			t.Errorf("ParseDesc(%q) accepted", bad)
		}
	}
	// A descriptor built with an error (invalid name) prints differently and is refused.
	if _, _, err := ParseDesc(prometheus.NewDesc("bad name", "h", nil, nil).String()); err == nil {
		t.Error("invalid descriptor accepted")
	}
}

func TestLookupSuffixes(t *testing.T) {
	c := New()
	c.AddFamily("h_seconds", "histogram", "t")
	c.AddFamily("s_seconds", "summary", "t")
	c.AddFamily("g", "gauge", "t")
	c.AddFamily("x_count", "gauge", "t")
	for _, tc := range []struct {
		series string
		ok     bool
		extra  string
	}{
		{"h_seconds_bucket", true, "le"}, {"h_seconds_sum", true, ""}, {"h_seconds_count", true, ""},
		{"h_seconds", false, ""}, {"s_seconds", true, "quantile"}, {"s_seconds_sum", true, ""},
		{"s_seconds_bucket", false, ""}, {"g", true, ""}, {"g_sum", false, ""}, {"x_count", true, ""}, {"x", false, ""},
	} {
		_, extra, ok := c.Lookup(tc.series)
		if ok != tc.ok || strings.Join(extra, ",") != tc.extra {
			t.Errorf("Lookup(%s) = %v %v, want %v %s", tc.series, extra, ok, tc.ok, tc.extra)
		}
	}
}

func TestTypeConflict(t *testing.T) {
	c := New()
	c.AddFamily("x", "gauge", "a")
	c.AddFamily("x", "counter", "b")
	c.AddFamily("y", "", "a")
	c.AddFamily("y", "counter", "b")
	if got := c.Conflicts(); len(got) != 1 || !strings.HasPrefix(got[0], "x: ") {
		t.Errorf("Conflicts() = %v", got)
	}
}

func TestExpositionFilesMustMatch(t *testing.T) {
	c := New()
	if err := c.AddExpositionFiles(t.TempDir(), "nothing/*.prom"); err == nil {
		t.Error("an empty glob was accepted")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.prom"), []byte("# TYPE x counter\nx{ 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.AddExpositionFiles(dir, "*.prom"); err == nil {
		t.Error("a broken exposition file was accepted")
	}
}

func TestRecordingRules(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "x.rules.yml")
	if err := os.WriteFile(f, []byte("groups:\n- name: g\n  rules:\n  - record: job:x:rate5m\n    expr: sum(rate(x[5m]))\n    labels: {tier: a}\n  - alert: A\n    expr: up == 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := New()
	if err := c.AddRecordingRules(f); err != nil {
		t.Fatal(err)
	}
	m, ok := c.Family("job:x:rate5m")
	if !ok || !m.OpenLabels || !m.Values["tier"]["a"] {
		t.Fatalf("recording rule not catalogued: %+v", m)
	}
	if _, ok := c.Family("A"); ok {
		t.Error("an alerting rule was catalogued as a series")
	}
	if err := os.WriteFile(f, []byte("groups: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.AddRecordingRules(f); err == nil {
		t.Error("broken rule file accepted")
	}
}

// TestBuild derives the catalog from the real tree and spot-checks
// families from every source.
func TestBuild(t *testing.T) {
	c, err := Build(t, repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	if conf := c.Conflicts(); len(conf) > 0 {
		t.Errorf("families with conflicting types: %v", conf)
	}
	for name, wantLabels := range map[string][]string{
		"haproxy_server_status":                    {"proxy", "server", "state"},
		"haproxy_server_admin_state":               {"proxy", "server", "state"},
		"haproxy_process_uptime_seconds":           nil,
		"wcs_publishers":                           nil,
		"wcs_stream_viewers":                       {"stream"},
		"wcs_stat_value":                           {"key"},
		"srs_stream_publishing":                    {"vhost", "app", "stream"},
		"srs_players":                              {"vhost", "type", "protocol"},
		"emqx_cluster_nodes_stopped":               nil,
		"emqx_delivery_dropped_total":              {"node"},
		"lbpilot_up":                               {"module", "target"},
		"lbpilot_scrape_duration_seconds":          {"module"},
		"lbpilot_probe_invalid_requests_total":     {"reason"},
		"lbpilot_config_last_reload_successful":    nil,
		"go_goroutines":                            nil,
		"lbpilot_agent_utilization_ratio":          {"dimension"},
		"lbpilot_agent_replies_total":              {"kind"},
		"lbpilot_agent_check_duration_seconds":     nil,
		"lbpilot_rebalancer_owned_servers":         {"backend", "state"},
		"lbpilot_rebalancer_haproxy_up":            {"socket"},
		"lbpilot_rebalancer_haproxy_reloads_total": {"socket"},
		"lbpilot_rebalancer_alerts":                {"state"},
		"lbpilot_rebalancer_deferred_actions":      nil,
		"ALERTS":                                   {"alertname", "alertstate"},
	} {
		m, ok := c.Family(name)
		if !ok {
			t.Errorf("%s missing from the catalog", name)
			continue
		}
		for _, l := range wantLabels {
			if !m.Labels[l] {
				t.Errorf("%s lacks label %s (has %v)", name, l, m.Labels)
			}
		}
	}
	// Values come from the golden outputs.
	if m, _ := c.Family("haproxy_server_status"); !m.Values["state"]["DRAIN"] || !m.Values["state"]["MAINT"] {
		t.Errorf("haproxy_server_status states: %v", m.Values["state"])
	}
	if m, _ := c.Family("lbpilot_probe_invalid_requests_total"); m.Type != "counter" || !m.Values["reason"]["bad_target"] {
		t.Errorf("lbpilot_probe_invalid_requests_total: %+v", m)
	}
	if m, _ := c.Family("lbpilot_agent_utilization_ratio"); !m.Values["dimension"]["subscribers"] || !m.Values["dimension"]["connections"] || !m.Values["dimension"]["streams"] {
		t.Errorf("agent dimensions: %v", m.Values["dimension"])
	}
	if m, _ := c.Family("lbpilot_rebalancer_owned_servers"); !m.Values["state"]["drain"] {
		t.Errorf("owned servers: %v", m.Values)
	}
	if _, _, ok := c.Lookup("lbpilot_rebalancer_webhook_request_duration_seconds_bucket"); !ok {
		t.Error("the rebalancer's histogram buckets are not catalogued")
	}
	if _, _, ok := c.Lookup("lbpilot_agent_check_duration_seconds_bucket"); !ok {
		t.Error("the agent's histogram buckets are not catalogued")
	}
	if _, ok := c.Family("haproxy_server_http_responses"); ok {
		t.Error("a family that does not exist is catalogued")
	}
	t.Logf("%d families", c.Len())
}
