// Package check verifies lbpilot's dashboards and alert rules against the
// PromQL grammar, against what lbpilot really emits (the catalog package)
// and against a re-implementation of the dashboard-linter rules lbpilot
// adopts. The tests in this package run every check on the repository's
// dashboards/ and alerts/; each rule also has a test proving it fails on a
// bad input.
package check

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/lbpilot/lbpilot/tools/mixin/catalog"
)

// Sentinel durations the Grafana interval variables expand to, so that the
// parsed AST still tells which one a range selector used.
const (
	rateIntervalSentinel = 1111 * time.Second
	rangeSentinel        = 2222 * time.Second
	intervalSentinel     = 3333 * time.Second
)

var (
	// $var, ${var}, ${var:fmt}, [[var]], [[var:fmt]]
	varRE = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[A-Za-z0-9_]+)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)(?::[A-Za-z0-9_]+)?\]\]`)
	// BuiltinVars are Grafana's own variables.
	builtinVars = map[string]bool{
		"__rate_interval": true, "__interval": true, "__interval_ms": true, "__range": true, "__range_s": true,
		"__range_ms": true, "__auto": true, "__from": true, "__to": true, "__all_variables": true,
		"__url_time_range": true, "__dashboard": true, "__org": true, "__user": true, "__name": true,
		"__field": true, "__series": true, "__value": true, "__data": true, "__cell": true, "__timeFilter": true,
	}
)

// VarRefs returns the variable names an expression references.
func VarRefs(expr string) []string {
	var out []string
	for _, m := range varRE.FindAllStringSubmatch(expr, -1) {
		for _, n := range m[1:] {
			if n != "" {
				out = append(out, n)
			}
		}
	}
	return out
}

// Expand replaces Grafana variables the way dashboard-linter does, so the
// expression can be parsed: inside double-quoted strings they stay (they
// are label values or regexes there); outside, the interval variables
// become sentinel durations, the _s/_ms ones a number, and any other
// variable its bare name (valid as a label name or identifier).
func Expand(expr string) string {
	var b strings.Builder
	inQuote := false
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case c == '\\' && inQuote && i+1 < len(expr):
			b.WriteByte(c)
			b.WriteByte(expr[i+1])
			i++
			continue
		case c == '"':
			inQuote = !inQuote
		case !inQuote && (c == '$' || (c == '[' && strings.HasPrefix(expr[i:], "[["))):
			if loc := varRE.FindStringSubmatchIndex(expr[i:]); loc != nil && loc[0] == 0 {
				m := varRE.FindStringSubmatch(expr[i:])
				name := m[1] + m[2] + m[3]
				b.WriteString(expandVar(name))
				i += loc[1] - 1
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

func expandVar(name string) string {
	switch name {
	case "__rate_interval":
		return fmtDur(rateIntervalSentinel)
	case "__range":
		return fmtDur(rangeSentinel)
	case "__interval", "__auto":
		return fmtDur(intervalSentinel)
	}
	if strings.HasSuffix(name, "_s") || strings.HasSuffix(name, "_ms") {
		return "300"
	}
	return name
}

func fmtDur(d time.Duration) string { return fmt.Sprintf("%ds", int(d.Seconds())) }

var promqlParser = parser.NewParser(parser.Options{})

// Parse parses a (Grafana-expanded) expression.
func Parse(expr string) (parser.Expr, error) {
	return promqlParser.ParseExpr(Expand(expr))
}

// Selector is one vector selector of an expression with its context.
type Selector struct {
	Name     string   // the metric name, "" when the selector has none
	Names    []string // the names a __name__=~"a|b" regex alternation lists
	Matchers []*labels.Matcher
	// Range is the range of the enclosing matrix selector (0 when none).
	Range time.Duration
	// Func is the function applied to the matrix selector ("" when none).
	Func string
	Text string
}

// Selectors lists every vector selector of an expression.
func Selectors(e parser.Expr) []Selector {
	var out []Selector
	parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		sel := Selector{Name: vs.Name, Text: vs.String()}
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel {
				switch m.Type {
				case labels.MatchEqual:
					sel.Name = m.Value
				case labels.MatchRegexp:
					sel.Names = literalAlternatives(m.Value)
				}
				continue
			}
			sel.Matchers = append(sel.Matchers, m)
		}
		if len(path) > 0 {
			if ms, ok := path[len(path)-1].(*parser.MatrixSelector); ok {
				sel.Range = ms.Range
				if len(path) > 1 {
					if c, ok := path[len(path)-2].(*parser.Call); ok {
						sel.Func = c.Func.Name
					}
				}
			}
		}
		out = append(out, sel)
		return nil
	})
	return out
}

var literalName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// literalAlternatives returns the names of a regex that is an alternation
// of literal metric names ("a|b"), nil otherwise.
func literalAlternatives(re string) []string {
	parts := strings.Split(re, "|")
	for _, p := range parts {
		if !literalName.MatchString(p) {
			return nil
		}
	}
	return parts
}

// ConventionalLabels are the labels any lbpilot series may carry besides
// its own: Prometheus's job and instance, target (the exporter's static
// targets, /probe jobs' relabeling) and the target labels lbpilot's rules
// and dashboards read (README "Alerts and dashboards").
var ConventionalLabels = map[string]bool{
	"job": true, "instance": true, "target": true, "role": true, "site": true, "cluster": true,
	"haproxy_backend": true, "haproxy_server": true,
}

// CheckSelectors checks every selector of an expression against the
// catalog: the metric exists, its matchers use labels it has, equality
// matchers use values seen on it, and counters and histogram buckets are
// only read through rate, irate or increase. where prefixes problems.
func CheckSelectors(cat *catalog.Catalog, e parser.Expr, where string) []string {
	var probs []string
	for _, s := range Selectors(e) {
		names := s.Names
		if s.Name != "" {
			names = []string{s.Name}
		}
		if len(names) == 0 {
			probs = append(probs, fmt.Sprintf("%s: selector %s names no metric (or a __name__ regex that is not a list of names)", where, s.Text))
			continue
		}
		for _, name := range names {
			m, extra, ok := cat.Lookup(name)
			if !ok {
				probs = append(probs, fmt.Sprintf("%s: metric %s is not emitted by lbpilot%s", where, name, suggest(cat, name)))
				continue
			}
			probs = append(probs, checkMatchers(m, extra, s, name, where)...)
			if isCounterSeries(m, name) && !rateLike[s.Func] {
				probs = append(probs, fmt.Sprintf("%s: counter %s must be read through rate(), irate() or increase() (in %s)", where, name, s.Text))
			}
		}
	}
	return probs
}

var rateLike = map[string]bool{"rate": true, "irate": true, "increase": true}

func isCounterSeries(m *catalog.Metric, name string) bool {
	switch {
	case m.Type == "counter":
		return true
	case m.Type == "histogram" && strings.HasSuffix(name, "_bucket"):
		return true
	case (m.Type == "histogram" || m.Type == "summary") && (strings.HasSuffix(name, "_sum") || strings.HasSuffix(name, "_count")):
		return true
	case m.Type == "" && strings.HasSuffix(name, "_total"):
		return true
	}
	return false
}

func checkMatchers(m *catalog.Metric, extra []string, s Selector, name, where string) []string {
	var probs []string
	for _, mt := range s.Matchers {
		known := m.OpenLabels || m.Labels[mt.Name] || ConventionalLabels[mt.Name]
		for _, e := range extra {
			known = known || e == mt.Name
		}
		if !known {
			probs = append(probs, fmt.Sprintf("%s: %s has no label %q (it has %s)", where, name, mt.Name, strings.Join(sortedKeys(m.Labels), ", ")))
			continue
		}
		seen := m.Values[mt.Name]
		if len(seen) == 0 || ConventionalLabels[mt.Name] || strings.Contains(mt.Value, "$") {
			continue
		}
		var want []string
		switch mt.Type {
		case labels.MatchEqual, labels.MatchNotEqual:
			if mt.Value != "" {
				want = []string{mt.Value}
			}
		case labels.MatchRegexp, labels.MatchNotRegexp:
			want = literalValues(mt.Value)
		}
		for _, v := range want {
			if !seen[v] {
				probs = append(probs, fmt.Sprintf("%s: %s{%s} never carries %s=%q (seen: %s)", where, name, mt.Name, mt.Name, v, strings.Join(sortedKeys(seen), ", ")))
			}
		}
	}
	return probs
}

var literalValue = regexp.MustCompile(`^[A-Za-z0-9_ -]+$`)

// literalValues returns the alternatives of a regex made only of literal
// alternatives ("drain|maint"), nil otherwise.
func literalValues(re string) []string {
	parts := strings.Split(re, "|")
	for _, p := range parts {
		if !literalValue.MatchString(p) {
			return nil
		}
	}
	return parts
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// suggest names catalogued metrics close to a missing one.
func suggest(cat *catalog.Catalog, name string) string {
	var close []string
	stem := name
	for _, suf := range []string{"_total", "_seconds", "_bytes", "_ratio"} {
		stem = strings.TrimSuffix(stem, suf)
	}
	for _, n := range cat.Names() {
		if strings.HasPrefix(n, stem) || strings.HasPrefix(stem, n) {
			close = append(close, n)
		}
	}
	if len(close) == 0 || len(close) > 5 {
		return ""
	}
	return " (did you mean " + strings.Join(close, ", ") + "?)"
}
