// The rules, their promtool unit tests and the Alertmanager configuration,
// checked with the real promtool and amtool.

package alerts

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/lbpilot/lbpilot/internal/docstest"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert         string            `yaml:"alert"`
	Record        string            `yaml:"record"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for"`
	KeepFiringFor string            `yaml:"keep_firing_for"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

type testFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(false)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no files match %s", pattern)
	}
	sort.Strings(files)
	return files
}

// alertRules returns every alerting rule by name, failing on duplicates.
func alertRules(t *testing.T) map[string]rule {
	t.Helper()
	out := map[string]rule{}
	for _, f := range glob(t, "*.rules.yml") {
		var rf ruleFile
		readYAML(t, f, &rf)
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				if _, dup := out[r.Alert]; dup {
					t.Errorf("%s: alert %s defined twice", f, r.Alert)
				}
				out[r.Alert] = r
			}
		}
	}
	return out
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := testenv.Binary(t, "promtool")
	for _, f := range glob(t, "*.rules.yml") {
		out, err := exec.Command(promtool, "check", "rules", "--lint=all", "--lint-fatal", f).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool check rules %s: %v\n%s", f, err, out)
		}
	}
	// The check can fail: a rule with a broken expression is refused.
	bad := filepath.Join(t.TempDir(), "bad.rules.yml")
	writeFile(t, bad, "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: sum by (x (up)\n")
	if out, err := exec.Command(promtool, "check", "rules", bad).CombinedOutput(); err == nil {
		t.Fatalf("promtool accepted a broken expression: %s", out)
	}
}

func TestPromtoolUnitTests(t *testing.T) {
	promtool := testenv.Binary(t, "promtool")
	files := glob(t, filepath.Join("tests", "*.test.yml"))
	args := append([]string{"test", "rules"}, files...)
	out, err := exec.Command(promtool, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "SUCCESS"); n != len(files) {
		t.Fatalf("promtool test rules: %d of %d files passed\n%s", n, len(files), out)
	}
	// The unit tests can fail: a wrong expectation is reported.
	dir := t.TempDir()
	rules, err := filepath.Abs("haproxy.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.test.yml")
	writeFile(t, bad, fmt.Sprintf(`rule_files: [%q]
tests:
  - interval: 1m
    input_series:
      - series: 'haproxy_server_status{proxy="b",server="s",state="DOWN"}'
        values: '1x10'
    alert_rule_test:
      - eval_time: 5m
        alertname: HAProxyServerDown
        exp_alerts: []
`, rules))
	if out, err := exec.Command(promtool, "test", "rules", bad).CombinedOutput(); err == nil {
		t.Fatalf("promtool accepted a wrong expectation: %s", out)
	}
}

// TestEveryAlertTested: every alert has a unit test case where it fires and
// one where it does not (a boundary: under the threshold, before for:,
// after recovery), and every test case names an alert that exists.
func TestEveryAlertTested(t *testing.T) {
	alerts := alertRules(t)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, f := range glob(t, filepath.Join("tests", "*.test.yml")) {
		var tf testFile
		readYAML(t, f, &tf)
		for _, tc := range tf.Tests {
			for _, a := range tc.AlertRuleTest {
				if _, ok := alerts[a.Alertname]; !ok {
					t.Errorf("%s (%s): alert %s does not exist", f, tc.Name, a.Alertname)
				}
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
		}
	}
	if missing := coverageGaps(alerts, fires, quiet); len(missing) > 0 {
		t.Errorf("alerts without a firing and a quiet test case:\n%s", strings.Join(missing, "\n"))
	}
	// The check can fail.
	if gaps := coverageGaps(map[string]rule{"A": {}, "B": {}}, map[string]bool{"A": true, "B": true}, map[string]bool{"A": true}); len(gaps) != 1 || !strings.HasPrefix(gaps[0], "B") {
		t.Errorf("coverageGaps missed a gap: %v", gaps)
	}
}

func coverageGaps(alerts map[string]rule, fires, quiet map[string]bool) []string {
	var out []string
	for name := range alerts {
		switch {
		case !fires[name] && !quiet[name]:
			out = append(out, name+": no test case")
		case !fires[name]:
			out = append(out, name+": no case where it fires")
		case !quiet[name]:
			out = append(out, name+": no case where it stays quiet")
		}
	}
	sort.Strings(out)
	return out
}

var runbookAnchor = regexp.MustCompile(`^https://github\.com/lbpilot/lbpilot/blob/main/alerts/RUNBOOK\.md#([a-z0-9-]+)$`)

// TestAlertConventions: severity, summary, description and a runbook link
// whose section exists; traffic-moving alerts carry the labels the
// rebalancer reads (checked on the alerts their unit tests expect).
func TestAlertConventions(t *testing.T) {
	alerts := alertRules(t)
	runbook, err := os.ReadFile("RUNBOOK.md")
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, line := range strings.Split(string(runbook), "\n") {
		if h, ok := strings.CutPrefix(line, "### "); ok {
			headings[strings.ToLower(strings.TrimSpace(h))] = true
		}
	}
	for name, r := range alerts {
		switch r.Labels["severity"] {
		case "critical", "warning", "info":
		default:
			t.Errorf("%s: severity %q, want critical, warning or info", name, r.Labels["severity"])
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", name, a)
			}
		}
		m := runbookAnchor.FindStringSubmatch(r.Annotations["runbook_url"])
		switch {
		case m == nil:
			t.Errorf("%s: runbook_url %q is not a RUNBOOK.md anchor", name, r.Annotations["runbook_url"])
		case m[1] != strings.ToLower(name):
			t.Errorf("%s: runbook_url points at #%s", name, m[1])
		case !headings[strings.ToLower(name)]:
			t.Errorf("%s: RUNBOOK.md has no section ### %s", name, name)
		}
		if act, ok := r.Labels["lbpilot_action"]; ok {
			if !strings.Contains(act, "drain") && !strings.Contains(act, "maint") {
				t.Errorf("%s: lbpilot_action %q names no action the rebalancer knows", name, act)
			}
			if r.KeepFiringFor == "" {
				t.Errorf("%s moves traffic but has no keep_firing_for (a restore would follow every dip)", name)
			}
		}
	}
	for h := range headings {
		found := false
		for name := range alerts {
			found = found || strings.ToLower(name) == h
		}
		if !found {
			t.Errorf("RUNBOOK.md section %q names no alert", h)
		}
	}
}

// TrafficAlerts returns the alerts that move traffic: those whose rule
// sets lbpilot_action.
func trafficAlerts(alerts map[string]rule) map[string]bool {
	out := map[string]bool{}
	for name, r := range alerts {
		if _, ok := r.Labels["lbpilot_action"]; ok {
			out[name] = true
		}
	}
	return out
}

// TestTrafficAlertsNameServers: in the unit tests, every firing alert with
// lbpilot_action names a server the rebalancer can resolve: haproxy_backend
// plus haproxy_server (its built-in rule), or haproxy_backend plus an
// instance that is a bare host (an address rule). Every traffic alert has
// at least one such expected alert.
func TestTrafficAlertsNameServers(t *testing.T) {
	alerts := alertRules(t)
	traffic := trafficAlerts(alerts)
	if len(traffic) == 0 {
		t.Fatal("no alert moves traffic")
	}
	acting := map[string]bool{}
	hostOnly := regexp.MustCompile(`^[A-Za-z0-9.:\[\]-]+$`)
	for _, f := range glob(t, filepath.Join("tests", "*.test.yml")) {
		var tf testFile
		readYAML(t, f, &tf)
		for _, tc := range tf.Tests {
			for _, a := range tc.AlertRuleTest {
				for _, e := range a.ExpAlerts {
					act, ok := e.ExpLabels["lbpilot_action"]
					if !ok {
						continue
					}
					if !traffic[a.Alertname] {
						t.Errorf("%s: %s expects lbpilot_action but its rule has none", f, a.Alertname)
					}
					if act != "drain" && act != "maint" {
						t.Errorf("%s: %s expects lbpilot_action %q", f, a.Alertname, act)
					}
					byName := e.ExpLabels["haproxy_backend"] != "" && e.ExpLabels["haproxy_server"] != ""
					byAddr := e.ExpLabels["haproxy_backend"] != "" && e.ExpLabels["haproxy_server"] == "" && hostOnly.MatchString(e.ExpLabels["instance"]) && !strings.Contains(e.ExpLabels["instance"], ":9708")
					if !byName && !byAddr {
						t.Errorf("%s: %s at %s acts on no server the rebalancer can resolve: %v", f, a.Alertname, a.EvalTime, e.ExpLabels)
					}
					acting[a.Alertname] = true
				}
			}
		}
	}
	for name := range traffic {
		if !acting[name] {
			t.Errorf("%s moves traffic but no unit test expects it with lbpilot_action and a server", name)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReadmeListsEveryAlert: the README's alert table names every alert
// with its severity and, for those that move traffic, their action.
func TestReadmeListsEveryAlert(t *testing.T) {
	section := docstest.Section(t, "docs/alerts-and-dashboards.md", "alert-rules")
	rows := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) > 5 {
			rows[strings.TrimSpace(cells[1])] = line
		}
	}
	for name, r := range alertRules(t) {
		row, ok := rows[name]
		if !ok {
			t.Errorf("README's alert table lacks %s", name)
			continue
		}
		cells := strings.Split(row, "|")
		if got := strings.TrimSpace(cells[3]); got != r.Labels["severity"] {
			t.Errorf("README: %s has severity %q, the rule %q", name, got, r.Labels["severity"])
		}
		_, moves := r.Labels["lbpilot_action"]
		if got := strings.TrimSpace(cells[4]); (got != "") != moves {
			t.Errorf("README: %s moves traffic %q, the rule has lbpilot_action: %v", name, got, moves)
		}
	}
}
