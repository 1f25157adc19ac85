package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/lbpilot/lbpilot/tools/mixin/catalog"
)

// Dashboard is the part of Grafana's dashboard JSON the checks read. It is
// decoded from the files themselves, independently of the generator's
// model, so hand edits are checked too.
type Dashboard struct {
	Inputs        json.RawMessage `json:"__inputs"`
	ID            json.RawMessage `json:"id"`
	UID           string          `json:"uid"`
	Title         string          `json:"title"`
	SchemaVersion int             `json:"schemaVersion"`
	Panels        []Panel         `json:"panels"`
	Templating    struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []Annotation `json:"list"`
	} `json:"annotations"`
}

// Panel is a panel or row.
type Panel struct {
	ID          int             `json:"id"`
	Type        string          `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	GridPos     GridPos         `json:"gridPos"`
	Datasource  json.RawMessage `json:"datasource"`
	Targets     []Target        `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit     string            `json:"unit"`
			Mappings []json.RawMessage `json:"mappings"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Links []struct {
		URL string `json:"url"`
	} `json:"links"`
	Panels []Panel `json:"panels"`
}

// GridPos is a panel's place.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Target is a panel query.
type Target struct {
	RefID        string          `json:"refId"`
	Datasource   json.RawMessage `json:"datasource"`
	Expr         string          `json:"expr"`
	LegendFormat string          `json:"legendFormat"`
	Instant      bool            `json:"instant"`
}

// Variable is a template variable.
type Variable struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Label      string          `json:"label"`
	Datasource json.RawMessage `json:"datasource"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Refresh    int             `json:"refresh"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

// Annotation is an annotation query.
type Annotation struct {
	BuiltIn    int             `json:"builtIn"`
	Datasource json.RawMessage `json:"datasource"`
	Name       string          `json:"name"`
	Enable     bool            `json:"enable"`
	Expr       string          `json:"expr"`
	Step       string          `json:"step"`
}

// ParseDashboard decodes a dashboard file strictly enough to notice
// truncation (trailing data is an error).
func ParseDashboard(b []byte) (*Dashboard, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var d Dashboard
	if err := dec.Decode(&d); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the dashboard object")
	}
	return &d, nil
}

// AllPanels returns every panel, those nested in collapsed rows included.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// Query is one PromQL expression of a dashboard and where it sits.
type Query struct {
	Where   string
	Expr    string
	Kind    string // "panel", "instant", "variable", "annotation"
	Panel   *Panel
	VarName string
}

var labelValuesRE = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)
var queryResultRE = regexp.MustCompile(`^\s*query_result\((.*)\)\s*$`)

// VariableQuery returns a query variable's PromQL selector or expression
// (label_values(selector, label) → selector; query_result(e) → e) and the
// label it reads. The string and the object form are both accepted.
func VariableQuery(v Variable) (expr, label string, err error) {
	q := ""
	if len(v.Query) > 0 && v.Query[0] == '"' {
		if err := json.Unmarshal(v.Query, &q); err != nil {
			return "", "", err
		}
	} else if len(v.Query) > 0 {
		var obj struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &obj); err != nil {
			return "", "", err
		}
		q = obj.Query
	}
	if q == "" {
		q = v.Definition
	}
	if m := labelValuesRE.FindStringSubmatch(q); m != nil {
		return m[1], m[2], nil
	}
	if m := queryResultRE.FindStringSubmatch(q); m != nil {
		return m[1], "", nil
	}
	return "", "", fmt.Errorf("query %q: want label_values(selector, label) or query_result(expr)", q)
}

// Queries lists every PromQL expression of the dashboard: panel targets,
// query variables and annotation queries.
func (d *Dashboard) Queries() ([]Query, []string) {
	var out []Query
	var probs []string
	panels := d.AllPanels()
	for i := range panels {
		p := &panels[i]
		for _, t := range p.Targets {
			kind := "panel"
			if t.Instant {
				kind = "instant"
			}
			out = append(out, Query{Where: fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, t.RefID), Expr: t.Expr, Kind: kind, Panel: p})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		e, _, err := VariableQuery(v)
		if err != nil {
			probs = append(probs, fmt.Sprintf("variable %s: %v", v.Name, err))
			continue
		}
		out = append(out, Query{Where: "variable " + v.Name, Expr: e, Kind: "variable", VarName: v.Name})
	}
	for _, a := range d.Annotations.List {
		if a.BuiltIn == 1 {
			continue
		}
		out = append(out, Query{Where: "annotation " + a.Name, Expr: a.Expr, Kind: "annotation"})
	}
	return out, probs
}

// DatasourceRef reads a datasource reference (object or legacy string).
func DatasourceRef(raw json.RawMessage) (typ, uid string, ok bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return "", s, true
	}
	var o struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	if json.Unmarshal(raw, &o) != nil {
		return "", "", false
	}
	return o.Type, o.UID, true
}

const templatedDS = "${datasource}"

// WantSchemaVersion is the classic schema lbpilot's dashboards target.
const WantSchemaVersion = 39

var uidRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)

// Lint applies lbpilot's dashboard rules (re-implemented from
// dashboard-linter, plus structural ones) and returns the problems found.
func Lint(d *Dashboard, cat *catalog.Catalog) []string {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	// Structure.
	if len(d.Inputs) > 0 && string(d.Inputs) != "null" {
		add("__inputs present: ${DS_…} placeholders are not replaced by file provisioning; use the datasource variable")
	}
	if len(d.ID) > 0 && string(d.ID) != "null" {
		add("id must be null (it is per Grafana instance)")
	}
	if !uidRE.MatchString(d.UID) {
		add("uid %q: want 1-40 characters of [A-Za-z0-9_-]", d.UID)
	}
	if d.Title == "" {
		add("no title")
	}
	if d.SchemaVersion != WantSchemaVersion {
		add("schemaVersion %d, want %d (Grafana 10.4+, migrated upwards by newer versions)", d.SchemaVersion, WantSchemaVersion)
	}

	// template-datasource-rule.
	vars := map[string]Variable{}
	dsVar := false
	for _, v := range d.Templating.List {
		if _, dup := vars[v.Name]; dup {
			add("variable %s defined twice", v.Name)
		}
		vars[v.Name] = v
		if v.Type == "datasource" && v.Name == "datasource" {
			dsVar = true
			var q string
			_ = json.Unmarshal(v.Query, &q)
			if q != "prometheus" || v.Label != "Data source" {
				add("datasource variable: want query \"prometheus\" and label \"Data source\", got %q and %q", q, v.Label)
			}
		}
	}
	if !dsVar {
		add("no datasource variable named datasource")
	}

	// Query variables: templated datasource, refresh on time change,
	// job/instance multi-select with allValue .+ (template-job/instance-rule).
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		if _, uid, _ := DatasourceRef(v.Datasource); uid != templatedDS {
			add("variable %s: datasource %s, want %s", v.Name, string(v.Datasource), templatedDS)
		}
		if v.Refresh != 2 {
			add("variable %s: refresh %d, want 2 (on time range change)", v.Name, v.Refresh)
		}
		if v.Name == "job" || v.Name == "instance" {
			want := map[string]string{"job": "Job", "instance": "Instance"}[v.Name]
			if v.Label != want || !v.Multi || v.AllValue != ".+" || !v.IncludeAll {
				add("variable %s: want label %q, multi, include All and allValue \".+\"", v.Name, want)
			}
		}
	}
	if _, ok := vars["job"]; !ok {
		add("no job variable")
	}
	if _, ok := vars["instance"]; !ok {
		add("no instance variable")
	}

	// Panels.
	ids := map[int]string{}
	var placed []Panel
	for _, p := range d.AllPanels() {
		if prev, dup := ids[p.ID]; dup {
			add("panel id %d used by %q and %q", p.ID, prev, p.Title)
		}
		ids[p.ID] = p.Title
		gp := p.GridPos
		if gp.W <= 0 || gp.H <= 0 || gp.X < 0 || gp.Y < 0 || gp.X+gp.W > 24 {
			add("panel %d %q: gridPos %+v outside the 24-column grid", p.ID, p.Title, gp)
		}
		placed = append(placed, p)
		for _, l := range p.Links {
			for _, ref := range VarRefs(l.URL) {
				if !builtinVars[ref] {
					add("panel %d %q: link uses $%s, which is not a built-in variable", p.ID, p.Title, ref)
				}
			}
		}
		if p.Type == "row" {
			if gp.W != 24 || gp.H != 1 {
				add("row %d %q: gridPos %+v, want w 24 h 1", p.ID, p.Title, gp)
			}
			continue
		}
		if p.Title == "" || strings.TrimSpace(p.Description) == "" {
			add("panel %d %q: want a title and a description", p.ID, p.Title)
		}
		if _, uid, _ := DatasourceRef(p.Datasource); uid != templatedDS {
			add("panel %d %q: datasource %s, want uid %s", p.ID, p.Title, string(p.Datasource), templatedDS)
		}
		if p.Type != "text" {
			if !validUnits[p.FieldConfig.Defaults.Unit] {
				add("panel %d %q: unit %q is not a Grafana unit id lbpilot uses", p.ID, p.Title, p.FieldConfig.Defaults.Unit)
			}
			if len(p.Targets) == 0 {
				add("panel %d %q: no targets", p.ID, p.Title)
			}
		}
		if (p.Type == "state-timeline" || p.Type == "status-history") && len(p.FieldConfig.Defaults.Mappings) == 0 {
			add("panel %d %q: a state panel needs value mappings", p.ID, p.Title)
		}
		refs := map[string]bool{}
		for _, t := range p.Targets {
			if refs[t.RefID] || t.RefID == "" {
				add("panel %d %q: refId %q empty or repeated", p.ID, p.Title, t.RefID)
			}
			refs[t.RefID] = true
			if typ, uid, _ := DatasourceRef(t.Datasource); uid != templatedDS || typ != "prometheus" {
				add("panel %d %q target %s: datasource %s, want {type: prometheus, uid: %s}", p.ID, p.Title, t.RefID, string(t.Datasource), templatedDS)
			}
			if strings.TrimSpace(t.Expr) == "" {
				add("panel %d %q target %s: empty expression", p.ID, p.Title, t.RefID)
			}
		}
	}
	probs = append(probs, Overlaps(placed)...)

	// Annotations: datasource, and the rebalancer's actions on every dashboard.
	rebalancerActions := false
	for _, a := range d.Annotations.List {
		typ, uid, _ := DatasourceRef(a.Datasource)
		if a.BuiltIn == 1 {
			if typ != "grafana" {
				add("built-in annotation: datasource %s", string(a.Datasource))
			}
			continue
		}
		if uid != templatedDS {
			add("annotation %q: datasource %s, want uid %s", a.Name, string(a.Datasource), templatedDS)
		}
		if strings.Contains(a.Expr, "lbpilot_rebalancer_actions_total") && a.Enable {
			rebalancerActions = true
		}
	}
	if !rebalancerActions {
		add("no enabled annotation for the rebalancer's actions (lbpilot_rebalancer_actions_total)")
	}

	// Queries.
	qs, qprobs := d.Queries()
	probs = append(probs, qprobs...)
	for _, q := range qs {
		probs = append(probs, lintQuery(q, vars, cat)...)
	}
	return probs
}

// Overlaps reports panels whose grid boxes intersect.
func Overlaps(ps []Panel) []string {
	var probs []string
	for i := range ps {
		for j := i + 1; j < len(ps); j++ {
			a, b := ps[i].GridPos, ps[j].GridPos
			if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
				probs = append(probs, fmt.Sprintf("panels %d %q and %d %q overlap (%+v, %+v)", ps[i].ID, ps[i].Title, ps[j].ID, ps[j].Title, a, b))
			}
		}
	}
	return probs
}

// lintQuery: target-promql, target-rate-interval, target-counter-agg,
// target-job/instance rules, defined variables, metric names and labels.
func lintQuery(q Query, vars map[string]Variable, cat *catalog.Catalog) []string {
	var probs []string
	add := func(format string, args ...any) {
		probs = append(probs, q.Where+": "+fmt.Sprintf(format, args...))
	}
	for _, ref := range VarRefs(q.Expr) {
		if _, ok := vars[ref]; !ok && !builtinVars[ref] {
			add("uses undefined variable $%s", ref)
		}
		if q.Kind == "annotation" && strings.HasPrefix(ref, "__") {
			add("annotation queries do not get $%s reliably; use a fixed window", ref)
		}
	}
	e, err := Parse(q.Expr)
	if err != nil {
		add("does not parse: %v", err)
		return probs
	}
	probs = append(probs, CheckSelectors(cat, e, q.Where)...)
	for _, s := range Selectors(e) {
		switch q.Kind {
		case "panel", "instant":
			if s.Range != 0 {
				ok := s.Range == rateIntervalSentinel || (q.Kind == "instant" && s.Range == rangeSentinel)
				if !ok {
					add("range %s in %s: use [$__rate_interval] (or [$__range] in an instant query)", fmtRange(s.Range), s.Text)
				}
			}
		case "annotation":
			if s.Range != 0 && s.Range < 2*time.Minute {
				add("range %s in %s: annotations run at a 60 s step, use at least 2m", fmtRange(s.Range), s.Text)
			}
		}
		if s.Name == "ALERTS" || s.Name == "ALERTS_FOR_STATE" || q.Kind == "annotation" {
			continue // Prometheus's own series and cluster-wide event markers
		}
		if clusterWide(s.Name) {
			continue // capacity.rules.yml's per-cluster series have no job or instance
		}
		if q.Kind == "variable" && (q.VarName == "job" || q.VarName == "instance") {
			// The job variable lists jobs; instance filters by job only.
			if q.VarName == "instance" && !hasVarMatcher(s, "job") {
				add("selector %s: the instance variable must filter by $job", s.Text)
			}
			continue
		}
		for _, l := range []string{"job", "instance"} {
			if !hasVarMatcher(s, l) {
				add("selector %s has no %s matcher on a dashboard variable", s.Text, l)
			}
		}
	}
	return probs
}

func hasVarMatcher(s Selector, label string) bool {
	for _, m := range s.Matchers {
		if m.Name == label && (m.Type == labels.MatchRegexp || m.Type == labels.MatchEqual) && strings.Contains(m.Value, "$") {
			return true
		}
	}
	return false
}

func fmtRange(d time.Duration) string {
	switch d {
	case rateIntervalSentinel:
		return "$__rate_interval"
	case rangeSentinel:
		return "$__range"
	case intervalSentinel:
		return "$__interval"
	}
	return d.String()
}

// ParseAll parses every expression of a list; used by the rule checks too.
func ParseAll(exprs map[string]string) (map[string]parser.Expr, []string) {
	out := map[string]parser.Expr{}
	var probs []string
	for where, e := range exprs {
		pe, err := Parse(e)
		if err != nil {
			probs = append(probs, fmt.Sprintf("%s: does not parse: %v", where, err))
			continue
		}
		out[where] = pe
	}
	return out, probs
}

// validUnits are Grafana unit ids (from Grafana's value formats) that
// lbpilot's dashboards may use.
var validUnits = map[string]bool{
	"none": true, "short": true, "percent": true, "percentunit": true, "s": true, "ms": true, "µs": true, "ns": true,
	"dtdurations": true, "bytes": true, "decbytes": true, "bits": true, "Bps": true, "bps": true, "binBps": true,
	"ops": true, "reqps": true, "rps": true, "wps": true, "cps": true, "pps": true, "hertz": true, "bool": true,
	"bool_on_off": true, "dateTimeAsIso": true, "dateTimeFromNow": true, "string": true,
}

// clusterWide reports whether a series is one of the per-cluster
// recording rules (level cluster or cluster_dimension, or lbpilot's
// global settings): they aggregate job and instance away, so the
// dashboard's job and instance variables cannot apply to them.
func clusterWide(name string) bool {
	return strings.HasPrefix(name, "cluster:") || strings.HasPrefix(name, "cluster_dimension:") || strings.HasPrefix(name, "lbpilot:")
}
