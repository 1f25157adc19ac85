package alerts

import (
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

const amConfig = "alertmanager.yml"

// receiversFor is where an alert must go: the rebalancer too when it
// carries lbpilot_action, and people always, critical ones paged.
func receiversFor(severity string, action bool) string {
	human := "team-default"
	if severity == "critical" {
		human = "team-page"
	}
	if action {
		return "lbpilot-rebalancer," + human
	}
	return human
}

// TestEveryAlertRoutes routes the labels of every rule's alert through the
// shipped Alertmanager configuration with amtool: alerts that move traffic
// reach the rebalancer and people, the same alerts from a target without
// HAProxy labels (no lbpilot_action) and all other alerts reach people only.
func TestEveryAlertRoutes(t *testing.T) {
	amtool := testenv.Binary(t, "amtool")
	if out, err := exec.Command(amtool, "check-config", amConfig).CombinedOutput(); err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	alerts := alertRules(t)
	names := make([]string, 0, len(alerts))
	for n := range alerts {
		names = append(names, n)
	}
	sort.Strings(names)
	type route struct {
		labels []string
		want   string
	}
	var routes []route
	for _, name := range names {
		r := alerts[name]
		base := []string{"alertname=" + name, "severity=" + r.Labels["severity"], "job=lbpilot", "instance=exp:9708"}
		_, moves := r.Labels["lbpilot_action"]
		routes = append(routes, route{base, receiversFor(r.Labels["severity"], false)})
		if moves {
			labels := append(append([]string{}, base...), "lbpilot_action=drain", "haproxy_backend=be_app", "haproxy_server=s1")
			routes = append(routes, route{labels, receiversFor(r.Labels["severity"], true)})
		}
	}
	routes = append(routes, route{[]string{"alertname=X", "lbpilot_action=maint", "haproxy_backend=b", "haproxy_server=s", "severity=critical"}, "lbpilot-rebalancer,team-page"})
	for _, rt := range routes {
		args := append([]string{"config", "routes", "test", "--config.file=" + amConfig, "--verify.receivers=" + rt.want}, rt.labels...)
		if out, err := exec.Command(amtool, args...).CombinedOutput(); err != nil {
			t.Errorf("%v: want receivers %s: %v\n%s", rt.labels, rt.want, err, out)
		}
	}
	// The check can fail: a wrong expectation is reported.
	args := []string{"config", "routes", "test", "--config.file=" + amConfig, "--verify.receivers=team-default", "alertname=X", "severity=critical"}
	if out, err := exec.Command(amtool, args...).CombinedOutput(); err == nil {
		t.Errorf("amtool accepted a critical alert going to team-default only: %s", out)
	}
}

type amFile struct {
	InhibitRules []struct {
		SourceMatchers []string `yaml:"source_matchers"`
		TargetMatchers []string `yaml:"target_matchers"`
		Equal          []string `yaml:"equal"`
	} `yaml:"inhibit_rules"`
}

// unsafeInhibitions lists inhibit rules that could mute an alert carrying
// lbpilot_action: its resolve would never be sent and the server would stay
// drained.
func unsafeInhibitions(f amFile) []string {
	var out []string
	for _, r := range f.InhibitRules {
		safe := false
		for _, m := range r.TargetMatchers {
			safe = safe || strings.ReplaceAll(m, " ", "") == `lbpilot_action=""`
		}
		if !safe {
			out = append(out, strings.Join(r.TargetMatchers, ","))
		}
	}
	return out
}

// TestInhibitionsSpareTrafficAlerts: every inhibit rule's target matchers
// require lbpilot_action to be empty, and names an alert that exists.
func TestInhibitionsSpareTrafficAlerts(t *testing.T) {
	b, err := os.ReadFile(amConfig)
	if err != nil {
		t.Fatal(err)
	}
	var f amFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.InhibitRules) == 0 {
		t.Fatal("no inhibit rules")
	}
	for _, u := range unsafeInhibitions(f) {
		t.Errorf("inhibit rule targeting %s may mute an alert that moves traffic; add lbpilot_action=\"\"", u)
	}
	alerts := alertRules(t)
	for _, r := range f.InhibitRules {
		for _, m := range append(append([]string{}, r.SourceMatchers...), r.TargetMatchers...) {
			if name, ok := strings.CutPrefix(m, "alertname="); ok {
				name = strings.Trim(name, `"`)
				if _, exists := alerts[name]; !exists {
					t.Errorf("inhibit rule names alert %s, which no rule defines", name)
				}
			}
		}
	}
	// The check can fail.
	var bad amFile
	if err := yaml.Unmarshal([]byte("inhibit_rules:\n- source_matchers: [a=\"1\"]\n  target_matchers: [alertname=\"B\"]\n"), &bad); err != nil {
		t.Fatal(err)
	}
	if len(unsafeInhibitions(bad)) != 1 {
		t.Error("an inhibition without lbpilot_action=\"\" passed")
	}
}
