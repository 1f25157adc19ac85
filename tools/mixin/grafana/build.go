package grafana

import (
	"fmt"
	"strings"
)

// GridWidth is Grafana's grid width in columns.
const GridWidth = 24

// layoutCursor flows panels left to right, top to bottom.
type layoutCursor struct {
	x, y, rowH int
}

// New returns an empty dashboard with lbpilot's defaults: shared
// crosshair, browser time zone, last 3 hours, 30 s refresh, read-only
// (it is generated; copy it to change it), and a datasource variable.
func New(uid, title, description string, tags ...string) *Dashboard {
	return &Dashboard{
		UID:         uid,
		Title:       title,
		Description: description,
		Tags:        append([]string{"lbpilot"}, tags...),
		Timezone:    "browser",
		Editable:    false,
		// Shared crosshair: a drain on one panel lines up with load on the others.
		GraphTooltip:  1,
		Time:          TimeRange{From: "now-3h", To: "now"},
		Timepicker:    Timepicker{RefreshIntervals: []string{"10s", "30s", "1m", "5m", "15m", "1h"}},
		Refresh:       "30s",
		SchemaVersion: SchemaVersion,
		Version:       1,
		Links: []Link{{
			Title: "lbpilot dashboards", Type: "dashboards", Tags: []string{"lbpilot"},
			AsDropdown: true, IncludeVars: false, KeepTime: true, Icon: "external link",
			Tooltip: "The other lbpilot dashboards (time range kept)",
		}},
		Annotations: Annotations{List: []Annotation{{
			BuiltIn: 1, Datasource: &Datasource{Type: "grafana", UID: "-- Grafana --"}, Enable: true, Hide: true,
			IconColor: "rgba(0, 211, 255, 1)", Name: "Annotations & Alerts", Type: "dashboard",
		}}},
		Templating: Templating{List: []*Variable{{
			Type: "datasource", Name: DatasourceVar, Label: "Data source",
			Description: "The Prometheus that scrapes lbpilot.", Query: "prometheus",
			Current: VariableOpts{}, Options: []any{}, Refresh: 1,
		}}},
	}
}

// QueryVar adds a Prometheus query variable: label_values(selector, label),
// refreshed on time-range change, multi-select with All.
func (d *Dashboard) QueryVar(name, label, description, selector, labelName, allValue string) *Variable {
	q := fmt.Sprintf("label_values(%s, %s)", selector, labelName)
	v := &Variable{
		Type: "query", Name: name, Label: label, Description: description,
		Datasource: Prometheus,
		Query:      VariableQuery{QryType: 1, Query: q, RefID: "PrometheusVariableQueryEditor-VariableQuery"},
		Definition: q, Current: VariableOpts{Selected: true, Text: []string{"All"}, Value: []string{"$__all"}},
		Options: []any{}, Refresh: 2, Multi: true, IncludeAll: true, AllValue: allValue, Sort: 1,
	}
	d.Templating.List = append(d.Templating.List, v)
	return v
}

// Annotate adds a Prometheus annotation: every non-zero sample of expr
// (evaluated every step) is an event.
func (d *Dashboard) Annotate(name, color, expr, title, text, tagKeys string) {
	d.Annotations.List = append(d.Annotations.List, Annotation{
		Datasource: Prometheus, Enable: true, IconColor: color, Name: name,
		Expr: expr, Step: "60s", TitleFormat: title, TextFormat: text, TagKeys: tagKeys,
	})
}

// Row starts a new (expanded) row with a title.
func (d *Dashboard) Row(title string) *Panel {
	d.newline()
	collapsed := false
	p := &Panel{Type: "row", Title: title, Collapsed: &collapsed, GridPos: GridPos{H: 1, W: GridWidth, X: 0, Y: d.layout.y}}
	d.nextID++
	p.ID = d.nextID
	d.Panels = append(d.Panels, p)
	d.layout.y++
	return p
}

func (d *Dashboard) newline() {
	if d.layout.x > 0 {
		d.layout.y += d.layout.rowH
	}
	d.layout.x, d.layout.rowH = 0, 0
}

// Add places panels of width w and height h after the previous ones,
// wrapping at the grid's edge, and numbers them.
func (d *Dashboard) Add(w, h int, panels ...*Panel) {
	for _, p := range panels {
		if d.layout.x+w > GridWidth {
			d.newline()
		}
		p.GridPos = GridPos{H: h, W: w, X: d.layout.x, Y: d.layout.y}
		d.layout.x += w
		if h > d.layout.rowH {
			d.layout.rowH = h
		}
		d.nextID++
		p.ID = d.nextID
		for i, t := range p.Targets {
			t.RefID = string(rune('A' + i))
		}
		d.Panels = append(d.Panels, p)
	}
}

// Q is a range query with a legend.
func Q(expr, legend string) *Target {
	return &Target{Datasource: Prometheus, EditorMode: "code", Expr: strings.TrimSpace(expr), LegendFormat: legend, Range: true}
}

// Instant is an instant query (stats, tables, bar gauges).
func Instant(expr, legend string) *Target {
	t := Q(expr, legend)
	t.Range, t.Instant = false, true
	return t
}

// Table marks an instant query as table-formatted.
func Table(expr string) *Target {
	t := Instant(expr, "")
	t.Format = "table"
	return t
}

func f(v float64) *float64 { return &v }

// F returns a pointer to v (thresholds, min, max).
func F(v float64) *float64 { return f(v) }

// Steps builds absolute thresholds: base colour, then value/colour pairs.
func Steps(base string, pairs ...any) Thresholds {
	t := Thresholds{Mode: "absolute", Steps: []Step{{Color: base}}}
	for i := 0; i+1 < len(pairs); i += 2 {
		t.Steps = append(t.Steps, Step{Value: f(toFloat(pairs[i])), Color: pairs[i+1].(string)})
	}
	return t
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case float64:
		return x
	}
	panic(fmt.Sprintf("threshold %v: want a number", v))
}

func panel(typ, title, description, unit string, targets []*Target) *Panel {
	return &Panel{
		Type: typ, Title: title, Description: description, Datasource: Prometheus, Targets: targets,
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{
			Unit: unit, Color: map[string]any{"mode": "palette-classic"},
			Thresholds: Steps("green"), Mappings: []Mapping{}, Custom: map[string]any{},
		}, Overrides: []Override{}},
	}
}

// TimeSeries is a line chart.
func TimeSeries(title, description, unit string, targets ...*Target) *Panel {
	p := panel("timeseries", title, description, unit, targets)
	p.FieldConfig.Defaults.Custom = map[string]any{
		"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "gradientMode": "none",
		"showPoints": "never", "spanNulls": false, "axisPlacement": "auto", "axisSoftMin": 0,
		"stacking":        map[string]any{"mode": "none", "group": "A"},
		"thresholdsStyle": map[string]any{"mode": "off"},
	}
	p.Options = map[string]any{
		"legend":  map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true, "calcs": []string{}},
		"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
	}
	return p
}

// Stacked makes a time series stacked (shares of a whole).
func (p *Panel) Stacked(percent bool) *Panel {
	mode := "normal"
	if percent {
		mode = "percent"
	}
	p.FieldConfig.Defaults.Custom["stacking"] = map[string]any{"mode": mode, "group": "A"}
	p.FieldConfig.Defaults.Custom["fillOpacity"] = 60
	p.FieldConfig.Defaults.Custom["lineWidth"] = 0
	return p
}

// ThresholdLines draws the thresholds as dashed lines (the alert levels).
func (p *Panel) ThresholdLines(t Thresholds) *Panel {
	p.FieldConfig.Defaults.Thresholds = t
	p.FieldConfig.Defaults.Custom["thresholdsStyle"] = map[string]any{"mode": "dashed"}
	return p
}

// LegendTable shows the legend as a table on the right with the given calcs.
func (p *Panel) LegendTable(calcs ...string) *Panel {
	opts := p.Options.(map[string]any)
	opts["legend"] = map[string]any{"displayMode": "table", "placement": "right", "showLegend": true, "calcs": calcs}
	return p
}

// Stat is a single-value panel.
func Stat(title, description, unit string, targets ...*Target) *Panel {
	p := panel("stat", title, description, unit, targets)
	p.FieldConfig.Defaults.Color = map[string]any{"mode": "thresholds"}
	p.FieldConfig.Defaults.NoValue = "0"
	p.Options = map[string]any{
		"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
		"colorMode":     "value", "graphMode": "area", "justifyMode": "auto", "textMode": "auto",
		"orientation": "auto", "wideLayout": true, "showPercentChange": false,
	}
	return p
}

// BarGauge shows one bar per series (instant queries).
func BarGauge(title, description, unit string, targets ...*Target) *Panel {
	p := panel("bargauge", title, description, unit, targets)
	p.FieldConfig.Defaults.Color = map[string]any{"mode": "thresholds"}
	p.Options = map[string]any{
		"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
		"orientation":   "horizontal", "displayMode": "gradient", "showUnfilled": true,
		"valueMode": "color", "namePlacement": "auto", "sizing": "auto", "minVizHeight": 16, "minVizWidth": 8, "maxVizHeight": 300,
	}
	return p
}

// StateTimeline draws one lane per series with value mappings.
func StateTimeline(title, description string, mappings []Mapping, targets ...*Target) *Panel {
	p := panel("state-timeline", title, description, "none", targets)
	p.FieldConfig.Defaults.Color = map[string]any{"mode": "thresholds"}
	p.FieldConfig.Defaults.Mappings = mappings
	p.FieldConfig.Defaults.Custom = map[string]any{"fillOpacity": 80, "lineWidth": 0, "hideFrom": map[string]any{"legend": false, "tooltip": false, "viz": false}}
	p.Options = map[string]any{
		"mergeValues": true, "showValue": "never", "alignValue": "left", "rowHeight": 0.8,
		"legend":  map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true},
		"tooltip": map[string]any{"mode": "single", "sort": "none"},
	}
	return p
}

// TablePanel shows instant table queries.
func TablePanel(title, description, unit string, targets ...*Target) *Panel {
	p := panel("table", title, description, unit, targets)
	p.FieldConfig.Defaults.Color = map[string]any{"mode": "thresholds"}
	p.FieldConfig.Defaults.Custom = map[string]any{"align": "auto", "cellOptions": map[string]any{"type": "auto"}, "inspect": false}
	p.Options = map[string]any{"showHeader": true, "cellHeight": "sm", "footer": map[string]any{"show": false, "reducer": []string{"sum"}, "fields": ""}}
	return p
}

// Thresholds sets the colour thresholds.
func (p *Panel) Thresholds(t Thresholds) *Panel {
	p.FieldConfig.Defaults.Thresholds = t
	return p
}

// MinMax bounds the axis or gauge.
func (p *Panel) MinMax(min, max *float64) *Panel {
	p.FieldConfig.Defaults.Min, p.FieldConfig.Defaults.Max = min, max
	return p
}

// Decimals fixes the number of decimals.
func (p *Panel) Decimals(n int) *Panel {
	p.FieldConfig.Defaults.Decimals = &n
	return p
}

// Mappings sets value mappings.
func (p *Panel) Mappings(m ...Mapping) *Panel {
	p.FieldConfig.Defaults.Mappings = m
	return p
}

// Override adds an override for the fields named name (a legend).
func (p *Panel) Override(name string, props ...Property) *Panel {
	p.FieldConfig.Overrides = append(p.FieldConfig.Overrides, Override{Matcher: Matcher{ID: "byName", Options: name}, Properties: props})
	return p
}

// OverrideRegex adds an override for fields whose names match re.
func (p *Panel) OverrideRegex(re string, props ...Property) *Panel {
	p.FieldConfig.Overrides = append(p.FieldConfig.Overrides, Override{Matcher: Matcher{ID: "byRegexp", Options: re}, Properties: props})
	return p
}

// NegativeY draws the matching series below the axis (out vs in).
func NegativeY() Property {
	return Property{ID: "custom.transform", Value: "negative-Y"}
}

// FixedColor gives matching series one colour.
func FixedColor(c string) Property {
	return Property{ID: "color", Value: map[string]any{"mode": "fixed", "fixedColor": c}}
}

// StatBackground colours the whole stat background by thresholds.
func (p *Panel) StatBackground() *Panel {
	p.Options.(map[string]any)["colorMode"] = "background"
	return p
}

// NoGraph hides a stat's sparkline.
func (p *Panel) NoGraph() *Panel {
	p.Options.(map[string]any)["graphMode"] = "none"
	return p
}

// Link adds a link to another dashboard, keeping time and variables.
func (p *Panel) Link(title, uid string) *Panel {
	p.Links = append(p.Links, PanelLink{Title: title, URL: "/d/" + uid + "?${__url_time_range}&${__all_variables}"})
	return p
}

// Transform adds a transformation.
func (p *Panel) Transform(id string, options map[string]any) *Panel {
	p.Transforms = append(p.Transforms, map[string]any{"id": id, "options": options})
	return p
}

// ValueMap maps exact values to texts and colours: value, text, colour, …
func ValueMap(triples ...string) Mapping {
	opts := map[string]any{}
	for i := 0; i+2 < len(triples); i += 3 {
		opts[triples[i]] = map[string]any{"text": triples[i+1], "color": triples[i+2], "index": i / 3}
	}
	return Mapping{Type: "value", Options: opts}
}
