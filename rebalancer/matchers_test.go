package rebalancer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/lbpilot/lbpilot/internal/docstest"
)

// ruleYAML is a one-rule configuration with the given matcher keys.
func ruleYAML(keys string) string {
	return "rules:\n  - name: r\n    action: drain\n" + keys
}

func parseRule(t *testing.T, keys string) *Rule {
	t.Helper()
	c, err := Parse([]byte(ruleYAML(keys)))
	if err != nil {
		t.Fatalf("%s: %v", keys, err)
	}
	return c.CompiledRules()[0]
}

func TestRuleMatchersParse(t *testing.T) {
	tests := []struct {
		name, keys string
		want       []string // the compiled matchers, in order
	}{
		{"equal", `    matchers: ['alertname="WCSNodeDown"']`, []string{`alertname="WCSNodeDown"`}},
		{"all four operators", `    matchers: ['a="1"', 'b!="2"', 'c=~"3|4"', 'd!~"5.*"']`,
			[]string{`a="1"`, `b!="2"`, `c=~"3|4"`, `d!~"5.*"`}},
		{"several in one entry", `    matchers: ['alertname="A", severity="page"']`, []string{`alertname="A"`, `severity="page"`}},
		{"braces", `    matchers: ['{alertname="A",severity=~"page|critical"}']`, []string{`alertname="A"`, `severity=~"page|critical"`}},
		{"unquoted value", `    matchers: ['alertname=WCSNodeDown']`, []string{`alertname="WCSNodeDown"`}},
		{"spaces", `    matchers: ['  alertname  =~  "WCS.*"  ']`, []string{`alertname=~"WCS.*"`}},
		{"comma and escaped quote in a value", `    matchers: ['summary="a, \"b\""']`, []string{`summary="a, \"b\""`}},
		{"empty value", `    matchers: ['team=""', 'alertname="A"']`, []string{`team=""`, `alertname="A"`}},
		{"matchers first, then aliases sorted by name", "    matchers: ['z=\"1\"']\n    match: {b: '2', a: '1'}\n    match_re: {c: 'x|y'}",
			[]string{`z="1"`, `a="1"`, `b="2"`, `c=~"x|y"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseRule(t, tt.keys)
			var got []string
			for _, m := range r.matchers {
				got = append(got, m.String())
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("matchers %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRuleMatchSemantics(t *testing.T) {
	tests := []struct {
		matchers string
		labels   map[string]string
		want     bool
	}{
		// = is whole-value equality; a missing label is the empty value.
		{`'alertname="WCSNodeDown"'`, map[string]string{"alertname": "WCSNodeDown"}, true},
		{`'alertname="WCSNodeDown"'`, map[string]string{"alertname": "WCSNodeDown2"}, false},
		{`'alertname="WCSNodeDown"'`, map[string]string{}, false},
		{`'team=""', 'alertname="A"'`, map[string]string{"alertname": "A"}, true},
		{`'team=""', 'alertname="A"'`, map[string]string{"alertname": "A", "team": "x"}, false},
		// != holds for another value and for a missing label.
		{`'severity!="info"'`, map[string]string{"severity": "page"}, true},
		{`'severity!="info"'`, map[string]string{}, true},
		{`'severity!="info"'`, map[string]string{"severity": "info"}, false},
		// =~ is anchored at both ends, like every Alertmanager regex.
		{`'alertname=~"WCS.*"'`, map[string]string{"alertname": "WCSNodeDown"}, true},
		{`'alertname=~"WCS.*"'`, map[string]string{"alertname": "xWCSNodeDown"}, false},
		{`'alertname=~"WCS"'`, map[string]string{"alertname": "WCSNodeDown"}, false},
		{`'alertname=~"Node"'`, map[string]string{"alertname": "WCSNodeDown"}, false},
		{`'alertname=~".*Node.*"'`, map[string]string{"alertname": "WCSNodeDown"}, true},
		{`'severity=~"page|critical"'`, map[string]string{"severity": "critical"}, true},
		{`'severity=~"page|critical"'`, map[string]string{"severity": "pager"}, false},
		{`'severity=~"page|critical"'`, map[string]string{}, false},
		{`'severity=~"|page"'`, map[string]string{}, true},
		// !~ is the anchored negation; a missing label does not match the regex.
		{`'env!~"prod|stage"'`, map[string]string{"env": "prod"}, false},
		{`'env!~"prod|stage"'`, map[string]string{"env": "production"}, true},
		{`'env!~"prod|stage"'`, map[string]string{}, true},
		{`'env!~".*"'`, map[string]string{"env": "x"}, false},
		// Every matcher must hold.
		{`'alertname=~"WCS.*"', 'severity="page"'`, map[string]string{"alertname": "WCSNodeDown", "severity": "page"}, true},
		{`'alertname=~"WCS.*"', 'severity="page"'`, map[string]string{"alertname": "WCSNodeDown", "severity": "info"}, false},
		{`'alertname=~"WCS.*", severity="page"'`, map[string]string{"alertname": "SRSDown", "severity": "page"}, false},
		// Values are exact: case, spaces and regex metacharacters in = count.
		{`'alertname="a.b"'`, map[string]string{"alertname": "axb"}, false},
		{`'alertname="A"'`, map[string]string{"alertname": "a"}, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %v", tt.matchers, tt.labels), func(t *testing.T) {
			r := parseRule(t, "    matchers: ["+tt.matchers+"]")
			if got := r.Matches(tt.labels); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
			// The intake path (labels converted once per alert) agrees.
			if got := matchRule([]*Rule{r}, tt.labels) != nil; got != tt.want {
				t.Errorf("matchRule = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMatchAliasesEquivalent: match and match_re mean exactly the matchers
// they are converted to, alone and combined (by AND) with matchers, and the
// replacement the deprecation warning suggests means the same again.
func TestMatchAliasesEquivalent(t *testing.T) {
	tests := []struct{ alias, matchers string }{
		{"    match: {alertname: WCSNodeOverloaded}", `    matchers: ['alertname="WCSNodeOverloaded"']`},
		{"    match: {alertname: WCSNodeOverloaded, team: ''}", `    matchers: ['alertname="WCSNodeOverloaded"', 'team=""']`},
		{`    match_re: {alertname: "SRSEdge(Down|HighErrorRate)"}`, `    matchers: ['alertname=~"SRSEdge(Down|HighErrorRate)"']`},
		{`    match_re: {alertname: "SRS.*Down", severity: "critical|page"}`, `    matchers: ['alertname=~"SRS.*Down"', 'severity=~"critical|page"']`},
		{`    match: {severity: page}` + "\n" + `    match_re: {alertname: "WCS.*"}`, `    matchers: ['severity="page"', 'alertname=~"WCS.*"']`},
		{"    matchers: ['env!=\"test\"']\n    match: {severity: page}", `    matchers: ['env!="test"', 'severity="page"']`},
		{`    match: {msg: 'say "hi", \ ok'}`, `    matchers: ['msg="say \"hi\", \\ ok"']`},
	}
	labelSets := []map[string]string{
		{},
		{"alertname": "WCSNodeOverloaded"},
		{"alertname": "WCSNodeOverloaded", "team": "x"},
		{"alertname": "xWCSNodeOverloaded"},
		{"alertname": "SRSEdgeDown"},
		{"alertname": "SRSEdgeDownx"},
		{"alertname": "SRSOriginDown", "severity": "page"},
		{"alertname": "SRSOriginDown", "severity": "critical"},
		{"alertname": "SRSOriginDown", "severity": "info"},
		{"alertname": "WCSNodeDown", "severity": "page"},
		{"alertname": "WCSNodeDown", "severity": "page", "env": "test"},
		{"alertname": "WCSNodeDown", "severity": "page", "env": "prod"},
		{"msg": `say "hi", \ ok`},
		{"msg": `say "hi", ok`},
	}
	for _, tt := range tests {
		t.Run(tt.alias, func(t *testing.T) {
			c, err := Parse([]byte(ruleYAML(tt.alias)))
			if err != nil {
				t.Fatal(err)
			}
			alias := c.CompiledRules()[0]
			want := parseRule(t, tt.matchers)
			deps := c.Deprecations()
			if len(deps) != 1 {
				t.Fatalf("deprecations %+v", deps)
			}
			suggested := parseRule(t, "    "+deps[0].Replacement)
			matched := 0
			for _, l := range labelSets {
				a, m, s := alias.Matches(l), want.Matches(l), suggested.Matches(l)
				if a != m || s != m {
					t.Errorf("%v: alias %v, matchers %v, suggested %v", l, a, m, s)
				}
				if m {
					matched++
				}
			}
			if matched == 0 {
				t.Error("no label set matches: the comparison proves nothing")
			}
		})
	}
}

func TestMatchersAndDefaultRule(t *testing.T) {
	// The built-in rule is written with matchers: no deprecation for it.
	if d := Default().Deprecations(); len(d) != 0 {
		t.Errorf("built-in rule deprecations %+v", d)
	}
	c, err := Parse([]byte(ruleYAML("    matchers: ['alertname=\"A\"']")))
	if err != nil || len(c.Deprecations()) != 0 {
		t.Fatalf("matchers-only rule: %v %+v", err, c.Deprecations())
	}
	if got := c.CompiledRules()[1].Describe(); got != `default: {lbpilot_action=~"drain|maint"} -> label lbpilot_action by labels` {
		t.Errorf("built-in rule %s", got)
	}
	if got := c.CompiledRules()[0].Describe(); got != `r: {alertname="A"} -> drain by labels` {
		t.Errorf("rule %s", got)
	}
}

// logLines captures what a go-kit logger is given, one map per line.
type logLines []map[string]string

func (l *logLines) Log(kv ...any) error {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[fmt.Sprint(kv[i])] = fmt.Sprint(kv[i+1])
	}
	*l = append(*l, m)
	return nil
}

func TestDeprecationLogLine(t *testing.T) {
	c, err := Parse([]byte(`
rules:
  - name: wcs-overload
    match: {alertname: WCSNodeOverloaded}
    action: weight 50%
  - name: modern
    matchers: ['alertname="X"']
    action: drain
  - name: srs-down
    matchers: ['env!="test"']
    match: {severity: page}
    match_re: {alertname: "SRS.*Down", team: "a|b"}
    action: maint
  - name: only-re
    match_re: {alertname: "EMQX.+"}
    action: drain
`))
	if err != nil {
		t.Fatal(err)
	}
	// Complete again (the command line does, after applying flags): the
	// deprecations are recomputed, not accumulated.
	if err := c.Complete(); err != nil {
		t.Fatal(err)
	}
	var lines logLines
	c.LogDeprecations(&lines)
	want := []struct{ rule, keys, replacement string }{
		{"wcs-overload", "deprecated match (", `matchers: ['alertname="WCSNodeOverloaded"']`},
		{"srs-down", "deprecated match and match_re (", `matchers: ['env!="test"', 'severity="page"', 'alertname=~"SRS.*Down"', 'team=~"a|b"']`},
		{"only-re", "deprecated match_re (", `matchers: ['alertname=~"EMQX.+"']`},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want one per rule using match/match_re: %v", len(lines), lines)
	}
	for i, w := range want {
		l := lines[i]
		if l["level"] != "warn" || l["rule"] != w.rule || l["replacement"] != w.replacement ||
			!strings.Contains(l["msg"], w.keys) || !strings.Contains(l["msg"], "write matchers instead") || !strings.Contains(l["msg"], "same meaning") {
			t.Errorf("line %d = %v, want rule %s, %q, replacement %s", i, l, w.rule, w.keys, w.replacement)
		}
	}
	// The logfmt line an operator reads.
	var sb strings.Builder
	c.LogDeprecations(log.NewLogfmtLogger(&sb))
	first := strings.SplitN(sb.String(), "\n", 2)[0]
	if first != `level=warn msg="Rule uses deprecated match (still working, same meaning); write matchers instead" rule=wcs-overload replacement="matchers: ['alertname=\"WCSNodeOverloaded\"']"` {
		t.Errorf("logfmt line: %s", first)
	}
}

func TestMatcherErrors(t *testing.T) {
	tests := []struct{ name, yml, want string }{
		{"no operator", ruleYAML("    matchers: ['alertname']"), `rules[0] "r": matchers[0] 'alertname': bad matcher format: alertname`},
		{"bad label start", ruleYAML(`    matchers: ['1a="x"']`), `rules[0] "r": matchers[0] '1a="x"': bad matcher format`},
		{"colon in label name", ruleYAML(`    matchers: ['a:b="x"']`), `rules[0] "r": matchers[0] 'a:b="x"': invalid label name "a:b"`},
		{"bad regex", ruleYAML(`    matchers: ['alertname="A"', 'severity=~"("']`), `rules[0] "r": matchers[1] 'severity=~"("': error parsing regexp: missing closing )`},
		{"bad negated regex", ruleYAML(`    matchers: ['severity!~"a[b"']`), `matchers[0] 'severity!~"a[b"': error parsing regexp`},
		{"unterminated quote", ruleYAML(`    matchers: ['alertname="A']`), `matchers[0] 'alertname="A': matcher value contains unescaped double quote`},
		{"stray quote", ruleYAML(`    matchers: ['alertname=A"B']`), `unescaped double quote`},
		{"bad one of several in an entry", ruleYAML(`    matchers: ['a="1", 2b="2"']`), `matchers[0] 'a="1", 2b="2"': bad matcher format: 2b="2"`},
		{"empty entry", ruleYAML(`    matchers: ['alertname="A"', '  ']`), `rules[0] "r": matchers[1] is empty`},
		{"no matcher in an entry", ruleYAML(`    matchers: ['{}']`), `matchers[0] '{}': no matcher in it`},
		{"single quote in the matcher is Go-quoted", ruleYAML(`    matchers: ['it''s']`), `matchers[0] "it's": bad matcher format`},
		{"unnamed rule", "rules: [{matchers: ['x'], action: drain}]", "rules[0]: name is required"},
		{"second rule named", "rules: [{name: ok, matchers: ['a=\"b\"'], action: drain}, {name: bad, matchers: ['a=~\"(\"'], action: drain}]",
			`rules[1] "bad": matchers[0] 'a=~"("'`},
		{"empty list", ruleYAML("    matchers: []"), "one of matchers, match or match_re is required"},
		{"not a list", ruleYAML(`    matchers: 'alertname="A"'`), "cannot unmarshal"},
		{"match bad label", ruleYAML("    match: {'a:b': c}"), `rules[0] "r": match: invalid label name "a:b"`},
		{"match_re bad label", ruleYAML("    match_re: {'é': c}"), `rules[0] "r": match_re: invalid label name "é"`},
		{"match_re bad regex with valid matchers", ruleYAML("    matchers: ['a=\"b\"']\n    match_re: {a: '['}"), `rules[0] "r": match_re a: error parsing regexp`},
		{"action label colon", "rules: [{name: r, matchers: ['a=\"b\"'], action_label: 'x:y'}]", `action_label: invalid label name "x:y"`},
		{"backend label", "rules: [{name: r, matchers: ['a=\"b\"'], action: drain, target: {backend_label: 'ü'}}]", `target.backend_label: invalid label name "ü"`},
		{"server label", "rules: [{name: r, matchers: ['a=\"b\"'], action: drain, target: {server_label: ''}}]", ""},
		{"address label", "rules: [{name: r, matchers: ['a=\"b\"'], action: drain, target: {by: address, address_label: 'a-b'}}]", `target.address_label: invalid label name "a-b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yml))
			if tt.want == "" {
				// server_label '' takes the default: not an error.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestFailedCompleteKeepsRules: a configuration that fails to complete
// keeps its previous rules and deprecations; nothing is half-applied, and
// a slice of rules handed out earlier is never written to.
func TestFailedCompleteKeepsRules(t *testing.T) {
	c, err := Parse([]byte(`
rules:
  - {name: a, match: {alertname: A}, action: drain}
  - {name: b, matchers: ['alertname="B"'], action: drain}
`))
	if err != nil {
		t.Fatal(err)
	}
	before := c.CompiledRules()
	held := append([]*Rule(nil), before...)
	deps := c.Deprecations()
	c.Rules = append([]*RuleConfig{{Name: "z", Matchers: []string{`alertname="Z"`}, Action: "drain"}}, c.Rules...)
	c.Rules = append(c.Rules, &RuleConfig{Name: "bad", Matchers: []string{`alertname=~"("`}, Action: "drain"})
	if err := c.Complete(); err == nil || !strings.Contains(err.Error(), `rules[3] "bad": matchers[0] 'alertname=~"("'`) {
		t.Fatalf("err = %v", err)
	}
	after := c.CompiledRules()
	if len(after) != len(held) || len(c.Deprecations()) != len(deps) {
		t.Fatalf("rules %d -> %d, deprecations %d -> %d", len(held), len(after), len(deps), len(c.Deprecations()))
	}
	for i := range held {
		if after[i] != held[i] || before[i] != held[i] {
			t.Errorf("rule %d replaced: %s", i, after[i].Describe())
		}
	}
}

// TestDocsDeprecationLine keeps the docs' example warning identical to
// what the rebalancer logs for that rule.
func TestDocsDeprecationLine(t *testing.T) {
	var doc string
	for _, l := range strings.Split(docstest.Section(t, "docs/rebalancer.md", "configuration-file"), "\n") {
		if strings.HasPrefix(l, "level=warn msg=\"Rule uses deprecated") {
			doc = l
		}
	}
	if doc == "" {
		t.Fatal("docs/rebalancer.md#configuration-file shows no deprecation warning")
	}
	c, err := Parse([]byte(ruleYAML(`    match_re: {alertname: "SRSEdge(Down|HighErrorRate)"}`)))
	if err != nil {
		t.Fatal(err)
	}
	c.Rules[0].Name = "srs-edge"
	if err := c.Complete(); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	c.LogDeprecations(log.NewLogfmtLogger(&sb))
	if got := strings.TrimSuffix(sb.String(), "\n"); got != doc {
		t.Errorf("README:\n%s\nlogged:\n%s", doc, got)
	}
}
