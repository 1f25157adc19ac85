package check

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/tools/mixin/catalog"
)

// smallCatalog is test input for the rule tests (the real catalog is
// checked in check_test.go).
func smallCatalog() *catalog.Catalog {
	c := catalog.New()
	c.AddFamily("up_gauge", "gauge", "t", "proxy", "state").AddValue("state", "UP")
	c.Family("up_gauge")
	m, _ := c.Family("up_gauge")
	m.AddValue("state", "DOWN")
	c.AddFamily("req_total", "counter", "t", "code").AddValue("code", "5xx")
	c.AddFamily("lat_seconds", "histogram", "t")
	c.AddFamily("lbpilot_rebalancer_actions_total", "counter", "t", "action", "result").AddValue("result", "success")
	c.AddFamily("cluster:up_gauge:max", "gauge", "t", "cluster")
	c.AddFamily("clusterish_gauge", "gauge", "t", "cluster")
	c.Prometheus()
	return c
}

const sel = `job=~"$job",instance=~"$instance"`

func ds() map[string]any { return map[string]any{"type": "prometheus", "uid": "${datasource}"} }

func target(ref, expr string) map[string]any {
	return map[string]any{"refId": ref, "datasource": ds(), "expr": expr, "legendFormat": "", "range": true, "instant": false}
}

func variable(name, label, query, all string) map[string]any {
	return map[string]any{
		"type": "query", "name": name, "label": label, "datasource": ds(),
		"query":   map[string]any{"qryType": 1, "query": query, "refId": "X"},
		"refresh": 2, "multi": true, "includeAll": true, "allValue": all,
	}
}

// goodDashboard passes every rule; each test breaks one thing.
func goodDashboard() map[string]any {
	return map[string]any{
		"id": nil, "uid": "test-dash", "title": "Test", "schemaVersion": 39,
		"templating": map[string]any{"list": []any{
			map[string]any{"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus"},
			variable("job", "Job", "label_values(up_gauge, job)", ".+"),
			variable("instance", "Instance", `label_values(up_gauge{job=~"$job"}, instance)`, ".+"),
			variable("backend", "Backend", `label_values(up_gauge{`+sel+`}, proxy)`, ".*"),
		}},
		"annotations": map[string]any{"list": []any{
			map[string]any{"builtIn": 1, "datasource": map[string]any{"type": "grafana", "uid": "-- Grafana --"}, "name": "Annotations & Alerts", "enable": true},
			map[string]any{"datasource": ds(), "name": "Rebalancer actions", "enable": true, "step": "60s",
				"expr": `sum by (action) (increase(lbpilot_rebalancer_actions_total{result="success"}[2m])) > 0`},
		}},
		"panels": []any{
			map[string]any{"id": 1, "type": "row", "title": "Row", "gridPos": map[string]any{"h": 1, "w": 24, "x": 0, "y": 0}, "panels": []any{}},
			map[string]any{"id": 2, "type": "timeseries", "title": "Requests", "description": "Requests per second.",
				"gridPos": map[string]any{"h": 8, "w": 12, "x": 0, "y": 1}, "datasource": ds(),
				"fieldConfig": map[string]any{"defaults": map[string]any{"unit": "reqps"}},
				"targets": []any{
					target("A", `sum by (code) (rate(req_total{`+sel+`,code="5xx"}[$__rate_interval]))`),
					target("B", `histogram_quantile(0.9, sum by (le) (rate(lat_seconds_bucket{`+sel+`}[$__rate_interval])))`),
				}},
			map[string]any{"id": 3, "type": "state-timeline", "title": "State", "description": "State per backend.",
				"gridPos": map[string]any{"h": 8, "w": 12, "x": 12, "y": 1}, "datasource": ds(),
				"fieldConfig": map[string]any{"defaults": map[string]any{"unit": "none", "mappings": []any{map[string]any{"type": "value"}}}},
				"targets":     []any{target("A", `max by (proxy) (up_gauge{`+sel+`,proxy=~"$backend",state="UP"})`)}},
			map[string]any{"id": 4, "type": "stat", "title": "Alerts", "description": "Firing alerts.",
				"gridPos": map[string]any{"h": 4, "w": 6, "x": 0, "y": 9}, "datasource": ds(),
				"fieldConfig": map[string]any{"defaults": map[string]any{"unit": "none"}},
				"targets": []any{
					map[string]any{"refId": "A", "datasource": ds(), "instant": true, "expr": `count(ALERTS{alertstate="firing"}) + sum(increase(req_total{` + sel + `}[$__range]))`},
				}},
		},
	}
}

func lintMap(t *testing.T, m map[string]any) []string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDashboard(b)
	if err != nil {
		t.Fatal(err)
	}
	return Lint(d, smallCatalog())
}

func panelAt(m map[string]any, i int) map[string]any {
	return m["panels"].([]any)[i].(map[string]any)
}

func targetAt(m map[string]any, p, i int) map[string]any {
	return panelAt(m, p)["targets"].([]any)[i].(map[string]any)
}

func TestLintGoodDashboard(t *testing.T) {
	if probs := lintMap(t, goodDashboard()); len(probs) > 0 {
		t.Fatalf("the good dashboard has problems:\n%s", strings.Join(probs, "\n"))
	}
}

// The per-cluster recording rules have no job or instance to match on;
// any other series still needs the variables.
func TestLintClusterWideSeries(t *testing.T) {
	m := goodDashboard()
	targetAt(m, 2, 0)["expr"] = `cluster:up_gauge:max`
	if probs := lintMap(t, m); len(probs) > 0 {
		t.Errorf("a per-cluster series: %v", probs)
	}
	m = goodDashboard()
	targetAt(m, 2, 0)["expr"] = `clusterish_gauge`
	if probs := strings.Join(lintMap(t, m), "\n"); !strings.Contains(probs, "no job matcher") {
		t.Errorf("a series that is not a per-cluster rule: %q", probs)
	}
}

// TestLintRulesFail breaks the good dashboard one way at a time; every rule
// must report it.
func TestLintRulesFail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(m map[string]any)
		want   string
	}{
		{"__inputs", func(m map[string]any) { m["__inputs"] = []any{map[string]any{"name": "DS_PROMETHEUS"}} }, "__inputs present"},
		{"id", func(m map[string]any) { m["id"] = 7 }, "id must be null"},
		{"uid", func(m map[string]any) { m["uid"] = "a b" }, "uid"},
		{"schema version", func(m map[string]any) { m["schemaVersion"] = 36 }, "schemaVersion 36"},
		{"no datasource variable", func(m map[string]any) {
			l := m["templating"].(map[string]any)["list"].([]any)
			m["templating"].(map[string]any)["list"] = l[1:]
		}, "no datasource variable"},
		{"datasource variable label", func(m map[string]any) {
			m["templating"].(map[string]any)["list"].([]any)[0].(map[string]any)["label"] = "Prometheus"
		}, "label \"Data source\""},
		{"hard-coded panel datasource", func(m map[string]any) {
			panelAt(m, 1)["datasource"] = map[string]any{"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}
		}, "want uid ${datasource}"},
		{"legacy string datasource on a target", func(m map[string]any) { targetAt(m, 1, 0)["datasource"] = "Prometheus" }, "target A: datasource"},
		{"state panel datasource", func(m map[string]any) { delete(panelAt(m, 2), "datasource") }, `"State": datasource`},
		{"variable datasource", func(m map[string]any) {
			m["templating"].(map[string]any)["list"].([]any)[3].(map[string]any)["datasource"] = map[string]any{"uid": "abc"}
		}, "variable backend: datasource"},
		{"annotation datasource", func(m map[string]any) {
			m["annotations"].(map[string]any)["list"].([]any)[1].(map[string]any)["datasource"] = map[string]any{"uid": "abc"}
		}, "annotation \"Rebalancer actions\": datasource"},
		{"no description", func(m map[string]any) { delete(panelAt(m, 1), "description") }, "want a title and a description"},
		{"no unit", func(m map[string]any) {
			panelAt(m, 1)["fieldConfig"] = map[string]any{"defaults": map[string]any{}}
		}, `unit ""`},
		{"unknown unit", func(m map[string]any) {
			panelAt(m, 1)["fieldConfig"] = map[string]any{"defaults": map[string]any{"unit": "kbps-ish"}}
		}, `unit "kbps-ish"`},
		{"no targets", func(m map[string]any) { delete(panelAt(m, 1), "targets") }, "no targets"},
		{"repeated refId", func(m map[string]any) { targetAt(m, 1, 1)["refId"] = "A" }, "refId \"A\" empty or repeated"},
		{"duplicate panel id", func(m map[string]any) { panelAt(m, 2)["id"] = 2 }, "panel id 2 used by"},
		{"duplicate id in a collapsed row", func(m map[string]any) {
			panelAt(m, 0)["panels"] = []any{map[string]any{"id": 3, "type": "row", "title": "inner", "gridPos": map[string]any{"h": 1, "w": 24, "x": 0, "y": 40}}}
		}, "panel id 3 used by"},
		{"overlap", func(m map[string]any) {
			panelAt(m, 2)["gridPos"] = map[string]any{"h": 8, "w": 12, "x": 6, "y": 1}
		}, "overlap"},
		{"past the grid", func(m map[string]any) {
			panelAt(m, 2)["gridPos"] = map[string]any{"h": 8, "w": 13, "x": 12, "y": 1}
		}, "outside the 24-column grid"},
		{"row width", func(m map[string]any) {
			panelAt(m, 0)["gridPos"] = map[string]any{"h": 1, "w": 12, "x": 0, "y": 0}
		}, "want w 24 h 1"},
		{"fixed rate window", func(m map[string]any) {
			targetAt(m, 1, 0)["expr"] = `sum(rate(req_total{` + sel + `}[5m]))`
		}, "range 5m0s"},
		{"$__range in a range query", func(m map[string]any) {
			targetAt(m, 1, 0)["expr"] = `sum(increase(req_total{` + sel + `}[$__range]))`
		}, "range $__range"},
		{"$__interval", func(m map[string]any) {
			targetAt(m, 1, 0)["expr"] = `sum(rate(req_total{` + sel + `}[$__interval]))`
		}, "range $__interval"},
		{"counter without rate", func(m map[string]any) { targetAt(m, 1, 0)["expr"] = `sum(req_total{` + sel + `})` }, "counter req_total must be read through rate"},
		{"histogram bucket without rate", func(m map[string]any) {
			targetAt(m, 1, 1)["expr"] = `histogram_quantile(0.9, sum by (le) (lat_seconds_bucket{` + sel + `}))`
		}, "counter lat_seconds_bucket"},
		{"counter through deriv", func(m map[string]any) {
			targetAt(m, 1, 0)["expr"] = `deriv(req_total{` + sel + `}[$__rate_interval])`
		}, "must be read through rate"},
		{"no job matcher", func(m map[string]any) { targetAt(m, 2, 0)["expr"] = `up_gauge{instance=~"$instance"}` }, "no job matcher"},
		{"job matcher without a variable", func(m map[string]any) {
			targetAt(m, 2, 0)["expr"] = `up_gauge{job="lbpilot",instance=~"$instance"}`
		}, "no job matcher"},
		{"no instance matcher", func(m map[string]any) { targetAt(m, 2, 0)["expr"] = `up_gauge{job=~"$job"}` }, "no instance matcher"},
		{"instance variable ignores job", func(m map[string]any) {
			m["templating"].(map[string]any)["list"].([]any)[2].(map[string]any)["query"] = "label_values(up_gauge, instance)"
		}, "must filter by $job"},
		{"variable selector without job", func(m map[string]any) {
			m["templating"].(map[string]any)["list"].([]any)[3].(map[string]any)["query"] = "label_values(up_gauge, proxy)"
		}, "variable backend: selector"},
		{"undefined variable", func(m map[string]any) {
			targetAt(m, 2, 0)["expr"] = `up_gauge{` + sel + `,proxy=~"$frontend"}`
		}, "undefined variable $frontend"},
		{"refresh", func(m map[string]any) {
			m["templating"].(map[string]any)["list"].([]any)[3].(map[string]any)["refresh"] = 1
		}, "refresh 1"},
		{"job allValue", func(m map[string]any) {
			m["templating"].(map[string]any)["list"].([]any)[1].(map[string]any)["allValue"] = ".*"
		}, "variable job: want label"},
		{"no instance variable", func(m map[string]any) {
			l := m["templating"].(map[string]any)["list"].([]any)
			m["templating"].(map[string]any)["list"] = []any{l[0], l[1], l[3]}
		}, "no instance variable"},
		{"variable query form", func(m map[string]any) {
			m["templating"].(map[string]any)["list"].([]any)[3].(map[string]any)["query"] = "up_gauge"
		}, "want label_values"},
		{"parse error", func(m map[string]any) {
			targetAt(m, 2, 0)["expr"] = `max by (proxy (up_gauge{` + sel + `})`
		}, "does not parse"},
		{"group_left swallowing the next parenthesis", func(m map[string]any) {
			targetAt(m, 2, 0)["expr"] = `up_gauge{` + sel + `} / ignoring (state) group_left
(sum by (proxy) (up_gauge{` + sel + `}) > 0)`
		}, "does not parse"},
		{"unknown metric", func(m map[string]any) { targetAt(m, 2, 0)["expr"] = `up_gaug{` + sel + `}` }, "metric up_gaug is not emitted"},
		{"unknown label", func(m map[string]any) {
			targetAt(m, 2, 0)["expr"] = `up_gauge{` + sel + `,server="s1"}`
		}, `has no label "server"`},
		{"unseen label value", func(m map[string]any) {
			targetAt(m, 2, 0)["expr"] = `up_gauge{` + sel + `,state="up"}`
		}, `never carries state="up"`},
		{"unseen value in an alternation", func(m map[string]any) {
			targetAt(m, 2, 0)["expr"] = `up_gauge{` + sel + `,state=~"UP|DRAINING"}`
		}, `never carries state="DRAINING"`},
		{"histogram read by its bare name", func(m map[string]any) { targetAt(m, 2, 0)["expr"] = `lat_seconds{` + sel + `}` }, "metric lat_seconds is not emitted"},
		{"state timeline without mappings", func(m map[string]any) {
			panelAt(m, 2)["fieldConfig"] = map[string]any{"defaults": map[string]any{"unit": "none"}}
		}, "needs value mappings"},
		{"no rebalancer annotation", func(m map[string]any) {
			l := m["annotations"].(map[string]any)["list"].([]any)
			m["annotations"].(map[string]any)["list"] = l[:1]
		}, "no enabled annotation for the rebalancer's actions"},
		{"annotation with $__rate_interval", func(m map[string]any) {
			m["annotations"].(map[string]any)["list"].([]any)[1].(map[string]any)["expr"] = `increase(lbpilot_rebalancer_actions_total[$__rate_interval]) > 0`
		}, "annotation queries do not get $__rate_interval"},
		{"annotation window under two steps", func(m map[string]any) {
			m["annotations"].(map[string]any)["list"].([]any)[1].(map[string]any)["expr"] = `increase(lbpilot_rebalancer_actions_total[1m]) > 0`
		}, "use at least 2m"},
		{"link with an unknown variable", func(m map[string]any) {
			panelAt(m, 1)["links"] = []any{map[string]any{"url": "/d/x?var-job=$job"}}
		}, "link uses $job"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := goodDashboard()
			tc.break_(m)
			probs := lintMap(t, m)
			for _, p := range probs {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("no problem mentions %q; got:\n%s", tc.want, strings.Join(probs, "\n"))
		})
	}
}

func TestParseDashboardRejectsBrokenJSON(t *testing.T) {
	for _, b := range []string{`{"uid": "x"`, `{"uid": "x"} {"uid": "y"}`, `[]`, `{"panels": 3}`} {
		if _, err := ParseDashboard([]byte(b)); err == nil {
			t.Errorf("ParseDashboard(%q) accepted", b)
		}
	}
}

func TestExpand(t *testing.T) {
	for in, want := range map[string]string{
		`rate(x{job=~"$job"}[$__rate_interval])`:       `rate(x{job=~"$job"}[1111s])`,
		`sum by ($label) (x[${__range}])`:              `sum by (label) (x[2222s])`,
		`x{a="${var:regex}"} * [[scale]]`:              `x{a="${var:regex}"} * scale`,
		`x / $__range_s`:                               `x / 300`,
		`x{a="say \"$hi\""} + $y`:                      `x{a="say \"$hi\""} + y`,
		`rate(x[$__interval]) or rate(x[${__auto}])`:   `rate(x[3333s]) or rate(x[3333s])`,
		`count(x) == $__all_variables_price_in_dollar`: `count(x) == __all_variables_price_in_dollar`,
	} {
		if got := Expand(in); got != want {
			t.Errorf("Expand(%s) = %s, want %s", in, got, want)
		}
	}
	refs := VarRefs(`x{a=~"$a",b="${b:pipe}"}[$__rate_interval] [[c]]`)
	if strings.Join(refs, ",") != "a,b,__rate_interval,c" {
		t.Errorf("VarRefs: %v", refs)
	}
}

func TestSelectors(t *testing.T) {
	e, err := Parse(`sum(rate(a_total{x="1"}[$__rate_interval])) / on () group_left b offset 5m + increase({__name__=~"c_total|d_total"}[2m]) + {__name__=~"e.*"}`)
	if err != nil {
		t.Fatal(err)
	}
	got := Selectors(e)
	if len(got) != 4 {
		t.Fatalf("selectors: %+v", got)
	}
	if got[0].Name != "a_total" || got[0].Func != "rate" || got[0].Range != rateIntervalSentinel || len(got[0].Matchers) != 1 {
		t.Errorf("a_total: %+v", got[0])
	}
	if got[1].Name != "b" || got[1].Func != "" || got[1].Range != 0 {
		t.Errorf("b: %+v", got[1])
	}
	if strings.Join(got[2].Names, ",") != "c_total,d_total" || got[2].Func != "increase" || got[2].Range != 2*time.Minute {
		t.Errorf("c|d: %+v", got[2])
	}
	if got[3].Name != "" || got[3].Names != nil {
		t.Errorf("a regex that is no list of names: %+v", got[3])
	}
	probs := CheckSelectors(smallCatalog(), e, "x")
	if len(probs) == 0 || !strings.Contains(strings.Join(probs, "\n"), "names no metric") {
		t.Errorf("an unverifiable __name__ regex passed: %v", probs)
	}
}

func TestRuleFilesFail(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := dir + "/" + name
		if err := writeFile(p, s); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.rules.yml", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: sum(rate(req_total[5m])\n")
	if probs := LintRules(bad, smallCatalog()); len(probs) == 0 {
		t.Error("a rule that does not parse passed")
	}
	unknown := write("unknown.rules.yml", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up_gauge{state=\"GONE\"} == 0\n  - record: r\n    expr: req_total > 0\n")
	probs := strings.Join(LintRules(unknown, smallCatalog()), "\n")
	for _, want := range []string{`never carries state="GONE"`, "counter req_total"} {
		if !strings.Contains(probs, want) {
			t.Errorf("problems lack %q:\n%s", want, probs)
		}
	}
	badTmpl := write("tmpl.rules.yml", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up_gauge == 0\n    annotations: {summary: '{{ $labels.x '}\n")
	if _, probs := RuleExprs(badTmpl); len(probs) == 0 {
		t.Error("a broken template passed")
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
