package rebalancer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lbpilot/lbpilot/internal/docstest"
)

const fullConfig = `
haproxy:
  sockets: [unix:/run/haproxy/admin.sock, tcp://127.0.0.1:9999]
  timeout: 3s
rebalancer:
  state_file: /var/lib/lbpilot/rebalancer.json
  reconcile_interval: 15s
  min_hold: 1m
  dry_run: true
  alert_retention: 12h
alertmanager:
  url: http://127.0.0.1:9093
  receiver: rebalancer
  filter: ['lbpilot_action=~"drain|maint"']
  startup_grace: 90s
  http_config:
    basic_auth: {username: lbpilot, password: hunter2}
guard:
  min_ready: 2
  max_unavailable: 0.5
  backends:
    be_small: {min_ready: 1}
    be_big: {max_unavailable: 0.25}
mass_resolve: {min_alerts: 5, window: 30s, grace: 10m}
rules:
  - name: wcs-overload
    match: {alertname: WCSOverloaded}
    action: weight 50%
    target: {by: address, backends: [be_wcs]}
  - name: srs-down
    match_re: {alertname: "SRS.*Down", severity: "critical|page"}
    action: maint
    target: {by: labels, backend_label: proxy, server_label: server}
`

func TestParseFullConfig(t *testing.T) {
	c, err := Parse([]byte(fullConfig))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(c.CompiledRules()); got != 3 {
		t.Fatalf("%d rules, want 2 + the built-in one", got)
	}
	if c.CompiledRules()[2].Name != DefaultRuleName {
		t.Errorf("built-in rule is not last: %s", c.CompiledRules()[2].Name)
	}
	if c.Rebalancer.ReconcileInterval != 15*time.Second || c.Rebalancer.MinHold != time.Minute || !c.Rebalancer.DryRun {
		t.Errorf("rebalancer section: %+v", c.Rebalancer)
	}
	if mr, mu := c.Guard.limitsFor("be_small"); mr != 1 || mu != 0.5 {
		t.Errorf("be_small limits %d %g", mr, mu)
	}
	if mr, mu := c.Guard.limitsFor("be_big"); mr != 2 || mu != 0.25 {
		t.Errorf("be_big limits %d %g", mr, mu)
	}
	if mr, mu := c.Guard.limitsFor("other"); mr != 2 || mu != 0.5 {
		t.Errorf("default limits %d %g", mr, mu)
	}
	r := c.CompiledRules()[1]
	if !r.Matches(map[string]string{"alertname": "SRSOriginDown", "severity": "page"}) {
		t.Error("regex rule does not match")
	}
	if r.Matches(map[string]string{"alertname": "xSRSOriginDown", "severity": "page"}) {
		t.Error("regex is not anchored")
	}
	// Secrets never come back out of the configuration.
	out, err := yaml.Marshal(c.Alertmanager.HTTPConfig)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "hunter2") || !strings.Contains(string(out), "<secret>") {
		t.Errorf("marshalled http_config leaks the password:\n%s", out)
	}
}

func TestDefaultConfig(t *testing.T) {
	c := Default()
	if c.Rebalancer.StateFile != DefaultStateFile || c.Rebalancer.ReconcileInterval != DefaultReconcileInterval || c.Rebalancer.MinHold != 0 {
		t.Errorf("defaults: %+v", c.Rebalancer)
	}
	if mr, mu := c.Guard.limitsFor("x"); mr != 1 || mu != 1 {
		t.Errorf("default floor %d %g, want min_ready 1, max_unavailable 1", mr, mu)
	}
	if h := c.Guard.headroomFor("x"); h != DefaultMinHeadroom {
		t.Errorf("default min_headroom %g, want %g", h, DefaultMinHeadroom)
	}
	if !c.Guard.sessionCapFor("x") {
		t.Error("session_cap off by default")
	}
	if *c.MassResolve.MinAlerts != DefaultMassMinAlerts {
		t.Errorf("mass resolve default %d", *c.MassResolve.MinAlerts)
	}
	rules := c.CompiledRules()
	if len(rules) != 1 || rules[0].Name != DefaultRuleName {
		t.Fatalf("rules %v", rules)
	}
	lbl := map[string]string{LabelAction: "drain", LabelBackend: "b", LabelServer: "s"}
	if !rules[0].Matches(lbl) {
		t.Error("built-in rule does not match its own labels")
	}
	lbl[LabelAction] = "weight 50%"
	if rules[0].Matches(lbl) {
		t.Error("built-in rule accepts weight (only drain and maint)")
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ name, yml, want string }{
		{"unknown key", "rebalancer: {state_flie: x}", "field state_flie not found"},
		{"two documents", "rules: []\n---\nrules: []\n", "more than one YAML document"},
		{"bad socket", "haproxy: {sockets: [relative.sock]}", "want unix:/path"},
		{"duplicate socket", "haproxy: {sockets: [unix:/a, 'unix:///a']}", "listed twice"},
		{"short interval", "rebalancer: {reconcile_interval: 10ms}", "at least 100ms"},
		{"negative hold", "rebalancer: {min_hold: -1s}", "min_hold must not be negative"},
		{"negative retention", "rebalancer: {alert_retention: -1s}", "alert_retention"},
		{"negative proposal ttl", "rebalancer: {proposal_ttl: -1s}", "rebalancer.proposal_ttl must not be negative"},
		{"tiny history", "rebalancer: {history_max_bytes: 100}", "rebalancer.history_max_bytes 100: want at least 4096"},
		{"negative history age", "rebalancer: {history_max_age: -1h}", "rebalancer.history_max_age must not be negative"},
		{"negative graceful", "rebalancer: {graceful_maint_timeout: -1s}", "rebalancer.graceful_maint_timeout must not be negative"},
		{"approve type", "rules: [{name: x, matchers: ['a=\"b\"'], action: drain, approve: maybe}]", "into bool"},
		{"negative socket timeout", "haproxy: {timeout: -1s}", "haproxy.timeout"},
		{"bad am url", "alertmanager: {url: 'ftp://x'}", "want http(s)://"},
		{"am url credentials", "alertmanager: {url: 'http://u:p@x:9093'}", "credentials"},
		{"am bad receiver", "alertmanager: {url: 'http://x:9093', receiver: '('}", "alertmanager.receiver"},
		{"am negative grace", "alertmanager: {startup_grace: -1s}", "must not be negative"},
		{"am bad http_config", "alertmanager: {url: 'http://x:9093', http_config: {basic_auth: {username: u, password: p, password_file: f}}}", "at most one of basic_auth"},
		{"guard negative", "guard: {min_ready: -1}", "min_ready must not be negative"},
		{"guard fraction", "guard: {max_unavailable: 1.5}", "want a fraction"},
		{"guard backend name", "guard: {backends: {'be x': {min_ready: 1}}}", "invalid HAProxy backend name"},
		{"guard backend empty", "guard: {backends: {be: }}", "empty entry"},
		{"guard backend fraction", "guard: {backends: {be: {max_unavailable: -0.1}}}", "guard.backends.be.max_unavailable"},
		{"guard headroom over 1", "guard: {min_headroom: 1.5}", "guard.min_headroom 1.5: want a fraction"},
		{"guard backend headroom negative", "guard: {backends: {be: {min_headroom: -0.1}}}", "guard.backends.be.min_headroom"},
		{"guard session_cap not a bool", "guard: {session_cap: sometimes}", `line 1: session_cap: want true or false, not "sometimes"`},
		{"guard backend session_cap a list", "guard: {backends: {be: {session_cap: [true]}}}", "session_cap: want true or false, not a list"},
		{"rule session_cap not a bool", "rules:\n  - name: x\n    matchers: ['a=\"b\"']\n    action: drain\n    session_cap: 1\n", `line 5: session_cap: want true or false, not "1"`},
		{"rule session_cap on a weight rule", "rules: [{name: w, matchers: ['a=\"b\"'], action: weight 50%, session_cap: false}]", `rules[0] "w": session_cap: the rule's action is weight 50%; the session cap only comes with a drain or maint`},
		{"rule session_cap a map", "rules: [{name: x, matchers: ['a=\"b\"'], action: drain, session_cap: {on: true}}]", "session_cap: want true or false, not a map"},
		{"mass negative", "mass_resolve: {min_alerts: -1}", "must not be negative"},
		{"mass one", "mass_resolve: {min_alerts: 1}", "would hold every restore"},
		{"rule without name", "rules: [{match: {a: b}, action: drain}]", "name is required"},
		{"rule empty", "rules: [null]", "empty rule"},
		{"rule without matchers", "rules: [{name: r, action: drain}]", "match or match_re is required"},
		{"rule bad label", "rules: [{name: r, match: {'a-b': c}, action: drain}]", "invalid label name"},
		{"rule bad re label", "rules: [{name: r, match_re: {'1a': c}, action: drain}]", "invalid label name"},
		{"rule bad regex", "rules: [{name: r, match_re: {a: '('}, action: drain}]", "match_re a"},
		{"rule two actions", "rules: [{name: r, match: {a: b}, action: drain, action_label: x}]", "either action or action_label"},
		{"rule no action", "rules: [{name: r, match: {a: b}}]", "action or action_label is required"},
		{"rule bad action", "rules: [{name: r, match: {a: b}, action: reboot}]", "want drain, maint or weight"},
		{"rule bad weight", "rules: [{name: r, match: {a: b}, action: weight 150%}]", "percentage 0%..100%"},
		{"rule bad action label", "rules: [{name: r, match: {a: b}, action_label: 'x y'}]", "action_label: invalid label name"},
		{"rule duplicate", "rules: [{name: r, match: {a: b}, action: drain}, {name: r, match: {a: c}, action: drain}]", "duplicate name"},
		{"rule reserved name", "rules: [{name: default, match: {a: b}, action: drain}]", "duplicate name"},
		{"rule bad target", "rules: [{name: r, match: {a: b}, action: drain, target: {by: dns}}]", "want labels or address"},
		{"rule address label in labels mode", "rules: [{name: r, match: {a: b}, action: drain, target: {address_label: x}}]", "needs target.by: address"},
		{"rule server label in address mode", "rules: [{name: r, match: {a: b}, action: drain, target: {by: address, server_label: x}}]", "need target.by: labels"},
		{"rule bad target label", "rules: [{name: r, match: {a: b}, action: drain, target: {server_label: 'x.y'}}]", "invalid label name"},
		{"rule bad address label", "rules: [{name: r, match: {a: b}, action: drain, target: {by: address, address_label: 'x.y'}}]", "invalid label name"},
		{"rule bad backend", "rules: [{name: r, match: {a: b}, action: drain, target: {backends: ['be;x']}}]", "target.backends"},
		{"no rules at all", "disable_default_rule: true", "no rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rb.yml")
	if err := os.WriteFile(p, []byte(fullConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(p); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yml")); err == nil || !strings.Contains(err.Error(), "reading config") {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(p, []byte("guard: {min_ready: x}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("bad file error does not name the file: %v", err)
	}
}

// TestExampleConfig keeps the documented example valid.
func TestExampleConfig(t *testing.T) {
	c, err := LoadFile(filepath.Join("testdata", "rebalancer.example.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.CompiledRules()) < 2 {
		t.Fatalf("example has %d rules", len(c.CompiledRules()))
	}
}

func TestParseAction(t *testing.T) {
	good := map[string]Action{
		"drain": {Kind: ActionDrain}, " maint ": {Kind: ActionMaint}, "weight 50%": {Kind: ActionWeight, Percent: 50},
		"weight:0%": {Kind: ActionWeight, Percent: 0}, "weight 100 %": {Kind: ActionWeight, Percent: 100},
	}
	for in, want := range good {
		got, err := ParseAction(in)
		if err != nil || got != want {
			t.Errorf("ParseAction(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "DRAIN", "ready", "weight", "weight 50", "weight -5%", "weight +5%", "weight 101%", "weight x%", "drain;shutdown", "weight 5%%"} {
		if a, err := ParseAction(in); err == nil {
			t.Errorf("ParseAction(%q) = %v, want an error", in, a)
		}
	}
	if s := (Action{Kind: ActionWeight, Percent: 25}).String(); s != "weight 25%" {
		t.Errorf("String() = %q", s)
	}
}

// TestREADMEConfigExample keeps the README's configuration example valid.
func TestREADMEConfigExample(t *testing.T) {
	s := docstest.Section(t, "docs/rebalancer.md", "configuration-file")
	start := strings.Index(s, "```yaml\n")
	end := strings.Index(s[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no yaml block")
	}
	c, err := Parse([]byte(s[start+8 : start+8+end]))
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	if len(c.CompiledRules()) != 3 || c.Alertmanager.URL == "" {
		t.Fatalf("README example parsed to %d rules", len(c.CompiledRules()))
	}
}

// A rule's session_cap: unset inherits the backend's (then the global)
// setting; set, it wins.
func TestSessionCapPerRuleConfig(t *testing.T) {
	c, err := Parse([]byte(`
guard: {session_cap: false, backends: {be_on: {session_cap: true}}}
rules:
  - {name: load, matchers: ['a="load"'], action: drain, session_cap: true}
  - {name: errors, matchers: ['a="errors"'], action: drain, session_cap: false}
  - {name: unset, matchers: ['a="unset"'], action: drain}
  - {name: empty, matchers: ['a="empty"'], action: drain, session_cap: }
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]bool{
		"load":          {"be_on": true, "other": true},
		"errors":        {"be_on": false, "other": false},
		"unset":         {"be_on": true, "other": false},
		"empty":         {"be_on": true, "other": false},
		DefaultRuleName: {"be_on": true, "other": false},
	}
	for _, r := range c.CompiledRules() {
		for b, w := range want[r.Name] {
			if got := c.Guard.capAllowed(r.sessionCap, b); got != w {
				t.Errorf("rule %s, backend %s: cap allowed %v, want %v", r.Name, b, got, w)
			}
		}
		delete(want, r.Name)
	}
	if len(want) != 0 {
		t.Errorf("rules not compiled: %v", want)
	}
}

func TestSessionCapPerBackend(t *testing.T) {
	c, err := Parse([]byte("guard: {session_cap: false, backends: {be_on: {session_cap: true}, be_x: {min_ready: 2}}}"))
	if err != nil {
		t.Fatal(err)
	}
	for b, want := range map[string]bool{"be_on": true, "be_x": false, "other": false} {
		if got := c.Guard.sessionCapFor(b); got != want {
			t.Errorf("session_cap of %s = %v, want %v", b, got, want)
		}
	}
}
