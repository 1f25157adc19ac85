package rebalancer

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// rulesOf parses a rules config.
func rulesOf(t *testing.T, yml string) []*Rule {
	t.Helper()
	c, err := Parse([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	return c.CompiledRules()
}

func TestClassifyInjectionAndValidation(t *testing.T) {
	rules := Default().CompiledRules()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		labels template.KV
		status string
		fp     string
		reason string
	}{
		{"ok", template.KV{LabelAction: "drain", LabelBackend: "be_app", LabelServer: "web1"}, StatusFiring, "abc", ""},
		{"semicolon", template.KV{LabelAction: "drain", LabelBackend: "be_app", LabelServer: "web1;shutdown sessions"}, StatusFiring, "abc", ReasonInvalidName},
		{"newline", template.KV{LabelAction: "drain", LabelBackend: "be_app", LabelServer: "web1\nset server be_app/web2 state maint"}, StatusFiring, "abc", ReasonInvalidName},
		{"space", template.KV{LabelAction: "maint", LabelBackend: "be app", LabelServer: "web1"}, StatusFiring, "abc", ReasonInvalidName},
		{"slash", template.KV{LabelAction: "maint", LabelBackend: "be_app/web2", LabelServer: "web1"}, StatusFiring, "abc", ReasonInvalidName},
		{"cr", template.KV{LabelAction: "maint", LabelBackend: "be_app", LabelServer: "web1\r"}, StatusFiring, "abc", ReasonInvalidName},
		{"unicode", template.KV{LabelAction: "maint", LabelBackend: "be_app", LabelServer: "wеb1"}, StatusFiring, "abc", ReasonInvalidName},
		{"empty server", template.KV{LabelAction: "maint", LabelBackend: "be_app", LabelServer: ""}, StatusFiring, "abc", ReasonInvalidName},
		{"missing server", template.KV{LabelAction: "maint", LabelBackend: "be_app"}, StatusFiring, "abc", ReasonMissingLabel},
		{"no rule", template.KV{"alertname": "Other"}, StatusFiring, "abc", ReasonNoRule},
		{"action injection", template.KV{LabelAction: "drain;shutdown", LabelBackend: "b", LabelServer: "s"}, StatusFiring, "abc", ReasonNoRule},
		{"bad status", template.KV{LabelAction: "drain", LabelBackend: "b", LabelServer: "s"}, "pending", "abc", ReasonInvalidStatus},
		{"bad fingerprint", template.KV{LabelAction: "drain", LabelBackend: "b", LabelServer: "s"}, StatusFiring, "ab c", ReasonInvalidFingerprint},
		{"long fingerprint", template.KV{LabelAction: "drain", LabelBackend: "b", LabelServer: "s"}, StatusFiring, strings.Repeat("a", 65), ReasonInvalidFingerprint},
		// A resolved alert is recorded by identity only: the store decides.
		{"resolved with bad names", template.KV{LabelAction: "drain", LabelBackend: "b", LabelServer: "s;x"}, StatusResolved, "abc", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rej := classify(rules, template.Alert{Status: tt.status, Labels: tt.labels, Fingerprint: tt.fp, StartsAt: t0}, SourceWebhook)
			got := ""
			if rej != nil {
				got = rej.Reason
			}
			if got != tt.reason {
				t.Fatalf("reason %q, want %q (%v)", got, tt.reason, rej)
			}
		})
	}
}

func TestClassifyComputesFingerprintLikeAlertmanager(t *testing.T) {
	// The fixture's fingerprint for these labels, computed by Alertmanager.
	labels := template.KV{"alertname": "BackendServerUnhealthy", "backend": "be_app", "instance": "127.0.0.1:19100", "job": "lab",
		"lab": "alerting", "rebalance_action": "drain", "server": "web1", "severity": "page"}
	fp, err := alertFingerprint(template.Alert{Labels: labels})
	if err != nil || fp != "5ce62929166302a4" {
		t.Fatalf("fingerprint %q, %v; want 5ce62929166302a4", fp, err)
	}
	if _, err := alertFingerprint(template.Alert{}); err == nil {
		t.Fatal("no labels and no fingerprint accepted")
	}
}

func TestHostOf(t *testing.T) {
	good := map[string]string{"10.0.0.1:9100": "10.0.0.1", "10.0.0.1": "10.0.0.1", "[2001:db8::1]:9100": "2001:db8::1",
		"2001:db8::1": "2001:db8::1", "[2001:db8::1]": "2001:db8::1", "Web1.Example:80": "web1.example"}
	for in, want := range good {
		if got, err := hostOf(in); err != nil || got != want {
			t.Errorf("hostOf(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", ":9100", "a b", "x;y", "http://x/y", "x\ny"} {
		if got, err := hostOf(in); err == nil {
			t.Errorf("hostOf(%q) = %q, want an error", in, got)
		}
	}
}

func record(fp string, labels map[string]string, startsAt time.Time) *AlertRecord {
	return &AlertRecord{Fingerprint: fp, Labels: labels, Status: StatusFiring, StartsAt: startsAt, At: startsAt}
}

func TestPlanPrecedenceAndMatching(t *testing.T) {
	rules := rulesOf(t, `
rules:
  - name: weight-by-address
    match: {alertname: Overloaded}
    action: weight 50%
    target: {by: address, backends: [be_a, be_b]}
  - name: weight-deeper
    match: {alertname: VeryOverloaded}
    action: weight 20%
    target: {by: address}
  - name: maint-by-labels
    match_re: {alertname: "Down|Broken"}
    action: maint
    target: {by: labels, backend_label: proxy, server_label: server}
  - name: first-wins
    match: {alertname: Down, team: x}
    action: weight 10%
`)
	ss := &haproxyapi.ServersState{Servers: []haproxyapi.ServerState{
		{Backend: "be_a", Name: "s1", Addr: "10.0.0.1", OpState: 2, UWeight: 100, IWeight: 100},
		{Backend: "be_b", Name: "s1", Addr: "10.0.0.1", OpState: 2, UWeight: 100, IWeight: 100},
		{Backend: "be_c", Name: "s1", Addr: "10.0.0.1", OpState: 2, UWeight: 100, IWeight: 100},
		{Backend: "be_a", Name: "s2", Addr: "10.0.0.2", FQDN: "node2.example", OpState: 2, UWeight: 100, IWeight: 100},
	}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	alerts := []*AlertRecord{
		record("a1", map[string]string{"alertname": "Overloaded", "instance": "10.0.0.1:9100"}, t0),
		record("a2", map[string]string{"alertname": "VeryOverloaded", "instance": "10.0.0.1:9100"}, t0.Add(time.Second)),
		record("a3", map[string]string{"alertname": "Down", "team": "x", "proxy": "be_a", "server": "s1"}, t0.Add(2*time.Second)),
		record("a4", map[string]string{"alertname": "Broken", "proxy": "be_a", "server": "s1"}, t0.Add(3*time.Second)),
		record("a5", map[string]string{"alertname": "Overloaded", "instance": "node2.example:9100"}, t0),
		record("a6", map[string]string{"alertname": "Overloaded", "instance": "10.9.9.9:9100"}, t0),
		record("a7", map[string]string{"alertname": "Broken", "proxy": "be_a", "server": "s9"}, t0),
		record("a8", map[string]string{"alertname": "Nothing"}, t0),
		record("a9", map[string]string{LabelAction: "drain", LabelBackend: "be_c", LabelServer: "s1"}, t0),
	}
	desires, unresolved := Plan(rules, alerts, indexServers(ss))

	a1 := desires[refOf("be_a", "s1")]
	if a1 == nil {
		t.Fatal("be_a/s1 has no desire")
	}
	// maint (a4 via maint-by-labels) beats everything; a3 matched the
	// maint rule first although "first-wins" is more specific: order decides.
	st, who := strongestAdmin(a1.Admin)
	if st != haproxyapi.StateMaint || len(who) != 2 || who[0].Fingerprint != "a3" || who[1].Fingerprint != "a4" {
		t.Errorf("be_a/s1 admin = %s by %+v, want maint by a3, a4", st, who)
	}
	pct, whoW := lowestWeight(a1.Weight)
	if pct != 20 || whoW[0].Fingerprint != "a2" {
		t.Errorf("be_a/s1 weight = %d%% by %+v, want the lowest, 20%% by a2", pct, whoW)
	}
	// Address rule restricted to be_a, be_b: be_c/s1 only gets a2 (unrestricted) and a9 (labels).
	c := desires[refOf("be_c", "s1")]
	if c == nil || len(c.Weight) != 1 || c.Weight[0].Fingerprint != "a2" || len(c.Admin) != 1 || c.Admin[0].Fingerprint != "a9" {
		t.Errorf("be_c/s1 = %+v", c)
	}
	if d := desires[refOf("be_a", "s2")]; d == nil || len(d.Weight) != 1 || d.Weight[0].Fingerprint != "a5" {
		t.Errorf("fqdn match: be_a/s2 = %+v", d)
	}
	reasons := map[string]string{}
	for _, u := range unresolved {
		reasons[u.Fingerprint] = u.Reason
	}
	want := map[string]string{"a6": ReasonNoServer, "a7": ReasonNoServer, "a8": ReasonNoRule}
	for fp, r := range want {
		if reasons[fp] != r {
			t.Errorf("%s: reason %q, want %q", fp, reasons[fp], r)
		}
	}
	if len(unresolved) != len(want) {
		t.Errorf("unresolved %+v", unresolved)
	}
}

func TestPlanRevalidatesStoredLabels(t *testing.T) {
	// A state file edited by hand (or written by an older version) must not
	// smuggle a bad name past the planner.
	rules := Default().CompiledRules()
	ss := &haproxyapi.ServersState{Servers: []haproxyapi.ServerState{{Backend: "be", Name: "s", OpState: 2, UWeight: 1}}}
	a := record("x", map[string]string{LabelAction: "drain", LabelBackend: "be", LabelServer: "s\nshutdown sessions"}, time.Now())
	desires, un := Plan(rules, []*AlertRecord{a}, indexServers(ss))
	if len(desires) != 0 || len(un) != 1 || un[0].Reason != ReasonInvalidName {
		t.Fatalf("desires %v, unresolved %+v", desires, un)
	}
}

func TestGuard(t *testing.T) {
	mk := func(usable, down int) *haproxyapi.ServersState {
		ss := &haproxyapi.ServersState{}
		for i := 0; i < usable; i++ {
			ss.Servers = append(ss.Servers, haproxyapi.ServerState{Backend: "be", Name: "u" + string(rune('a'+i)), OpState: 2, UWeight: 1})
		}
		for i := 0; i < down; i++ {
			ss.Servers = append(ss.Servers, haproxyapi.ServerState{Backend: "be", Name: "d" + string(rune('a'+i)), OpState: 0, UWeight: 1})
		}
		return ss
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cands := func(n int) []guardCandidate {
		var out []guardCandidate
		for i := n - 1; i >= 0; i-- { // given in reverse: the guard orders by time
			out = append(out, guardCandidate{ref: refOf("be", "u"+string(rune('a'+i))), order: t0.Add(time.Duration(i) * time.Second)})
		}
		return out
	}
	guard := func(yml string) *GuardConfig {
		c, err := Parse([]byte(yml))
		if err != nil {
			t.Fatal(err)
		}
		return &c.Guard
	}
	tests := []struct {
		name          string
		guard         string
		usable, down  int
		cands         int
		allowed       int
		reasonOfFirst string
	}{
		{"default floor keeps one", "", 3, 0, 3, 2, GuardMinReady},
		{"min_ready 2", "guard: {min_ready: 2}", 4, 0, 4, 2, GuardMinReady},
		{"down servers count against the fraction", "guard: {max_unavailable: 0.5}", 3, 1, 3, 1, GuardMaxUnavailable},
		{"fraction exact boundary allowed", "guard: {max_unavailable: 0.5}", 4, 0, 4, 2, GuardMaxUnavailable},
		{"backend override", "guard: {min_ready: 3, backends: {be: {min_ready: 0}}}", 2, 0, 2, 2, ""},
		{"already at floor", "", 1, 2, 1, 0, GuardMinReady},
		{"zero floor drains all", "guard: {min_ready: 0}", 2, 0, 2, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := mk(tt.usable, tt.down)
			v := runGuard(guard(tt.guard), capacities(ss), cands(tt.cands))
			n := 0
			var firstDeferred string
			for i := 0; i < tt.cands; i++ {
				vd := v[refOf("be", "u"+string(rune('a'+i)))]
				if vd.allowed {
					n++
					if firstDeferred != "" {
						t.Errorf("u%c allowed after an earlier one was deferred: order not respected", 'a'+i)
					}
				} else if firstDeferred == "" {
					firstDeferred = vd.reason
					if vd.detail == "" {
						t.Error("deferral without detail")
					}
				}
			}
			if n != tt.allowed || firstDeferred != tt.reasonOfFirst {
				t.Fatalf("allowed %d (first deferral %q), want %d (%q)", n, firstDeferred, tt.allowed, tt.reasonOfFirst)
			}
		})
	}
}
