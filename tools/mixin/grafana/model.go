// Package grafana is a small model of Grafana's classic dashboard JSON
// (schemaVersion 39), enough for lbpilot's dashboards: rows, time series,
// stat, bar gauge, state timeline and table panels, Prometheus targets,
// template variables and Prometheus annotations. Struct field order is the
// JSON order, maps encode sorted, so the output is stable and diffable.
//
// Grafana's own Go SDKs cannot be downloaded here (the module proxy refuses
// them); this model plus the checks in ../check stand in for them.
package grafana

import (
	"bytes"
	"encoding/json"
)

// SchemaVersion is the classic dashboard schema written: 39 is what
// Grafana 10.4 writes; 10.4 through 13.x load it and newer versions migrate
// it on load (migration only goes upwards).
const SchemaVersion = 39

// DatasourceVar is the name of every dashboard's datasource variable;
// every panel, target, query variable and annotation uses ${datasource}.
const DatasourceVar = "datasource"

// Datasource is a datasource reference.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Prometheus is the reference every panel and query uses.
var Prometheus = &Datasource{Type: "prometheus", UID: "${" + DatasourceVar + "}"}

// Dashboard is a classic Grafana dashboard.
type Dashboard struct {
	ID                   *int         `json:"id"`
	UID                  string       `json:"uid"`
	Title                string       `json:"title"`
	Description          string       `json:"description"`
	Tags                 []string     `json:"tags"`
	Timezone             string       `json:"timezone"`
	Editable             bool         `json:"editable"`
	GraphTooltip         int          `json:"graphTooltip"`
	FiscalYearStartMonth int          `json:"fiscalYearStartMonth"`
	WeekStart            string       `json:"weekStart"`
	LiveNow              bool         `json:"liveNow"`
	Time                 TimeRange    `json:"time"`
	Timepicker           Timepicker   `json:"timepicker"`
	Refresh              string       `json:"refresh"`
	SchemaVersion        int          `json:"schemaVersion"`
	Version              int          `json:"version"`
	Links                []Link       `json:"links"`
	Annotations          Annotations  `json:"annotations"`
	Templating           Templating   `json:"templating"`
	Panels               []*Panel     `json:"panels"`
	layout               layoutCursor `json:"-"`
	nextID               int          `json:"-"`
}

// TimeRange is the default time range.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Timepicker holds the refresh choices.
type Timepicker struct {
	RefreshIntervals []string `json:"refresh_intervals"`
}

// Link is a dashboard link (to the other lbpilot dashboards, by tag).
type Link struct {
	Title       string   `json:"title"`
	Type        string   `json:"type"`
	Tags        []string `json:"tags"`
	AsDropdown  bool     `json:"asDropdown"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
	TargetBlank bool     `json:"targetBlank"`
	Tooltip     string   `json:"tooltip"`
	Icon        string   `json:"icon"`
	URL         string   `json:"url"`
}

// Annotations holds the annotation queries.
type Annotations struct {
	List []Annotation `json:"list"`
}

// Annotation is the built-in Grafana entry or a Prometheus query whose
// non-zero samples become events.
type Annotation struct {
	BuiltIn     int         `json:"builtIn,omitempty"`
	Datasource  *Datasource `json:"datasource"`
	Enable      bool        `json:"enable"`
	Hide        bool        `json:"hide"`
	IconColor   string      `json:"iconColor"`
	Name        string      `json:"name"`
	Type        string      `json:"type,omitempty"`
	Expr        string      `json:"expr,omitempty"`
	Step        string      `json:"step,omitempty"`
	TitleFormat string      `json:"titleFormat,omitempty"`
	TextFormat  string      `json:"textFormat,omitempty"`
	TagKeys     string      `json:"tagKeys,omitempty"`
	UseValueFor bool        `json:"useValueForTime"`
}

// Templating holds the variables.
type Templating struct {
	List []*Variable `json:"list"`
}

// Variable is a template variable.
type Variable struct {
	Type        string       `json:"type"`
	Name        string       `json:"name"`
	Label       string       `json:"label"`
	Description string       `json:"description"`
	Datasource  *Datasource  `json:"datasource,omitempty"`
	Query       any          `json:"query"`
	Definition  string       `json:"definition,omitempty"`
	Regex       string       `json:"regex"`
	Current     VariableOpts `json:"current"`
	Options     []any        `json:"options"`
	Refresh     int          `json:"refresh"`
	Multi       bool         `json:"multi"`
	IncludeAll  bool         `json:"includeAll"`
	AllValue    string       `json:"allValue,omitempty"`
	Sort        int          `json:"sort"`
	Hide        int          `json:"hide"`
	SkipURLSync bool         `json:"skipUrlSync"`
}

// VariableOpts is a variable's current selection.
type VariableOpts struct {
	Selected bool `json:"selected,omitempty"`
	Text     any  `json:"text,omitempty"`
	Value    any  `json:"value,omitempty"`
}

// VariableQuery is the object form of a Prometheus query variable that
// Grafana 10+ writes.
type VariableQuery struct {
	QryType int    `json:"qryType"`
	Query   string `json:"query"`
	RefID   string `json:"refId"`
}

// GridPos places a panel on the 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Panel is any panel, rows included.
type Panel struct {
	ID          int          `json:"id"`
	Type        string       `json:"type"`
	Title       string       `json:"title"`
	Description string       `json:"description,omitempty"`
	GridPos     GridPos      `json:"gridPos"`
	Datasource  *Datasource  `json:"datasource,omitempty"`
	Collapsed   *bool        `json:"collapsed,omitempty"`
	Panels      []*Panel     `json:"panels,omitempty"`
	Interval    string       `json:"interval,omitempty"`
	MaxData     int          `json:"maxDataPoints,omitempty"`
	Targets     []*Target    `json:"targets,omitempty"`
	FieldConfig *FieldConfig `json:"fieldConfig,omitempty"`
	Options     any          `json:"options,omitempty"`
	Transforms  []any        `json:"transformations,omitempty"`
	Links       []PanelLink  `json:"links,omitempty"`
}

// PanelLink links a panel to another dashboard.
type PanelLink struct {
	Title       string `json:"title"`
	URL         string `json:"url"`
	TargetBlank bool   `json:"targetBlank"`
}

// Target is a Prometheus query.
type Target struct {
	RefID        string      `json:"refId"`
	Datasource   *Datasource `json:"datasource"`
	EditorMode   string      `json:"editorMode"`
	Expr         string      `json:"expr"`
	LegendFormat string      `json:"legendFormat"`
	Range        bool        `json:"range"`
	Instant      bool        `json:"instant"`
	Format       string      `json:"format,omitempty"`
	Interval     string      `json:"interval,omitempty"`
}

// FieldConfig is a panel's field configuration.
type FieldConfig struct {
	Defaults  FieldDefaults `json:"defaults"`
	Overrides []Override    `json:"overrides"`
}

// FieldDefaults apply to every field of the panel.
type FieldDefaults struct {
	Unit        string         `json:"unit"`
	Decimals    *int           `json:"decimals,omitempty"`
	Min         *float64       `json:"min,omitempty"`
	Max         *float64       `json:"max,omitempty"`
	NoValue     string         `json:"noValue,omitempty"`
	DisplayName string         `json:"displayName,omitempty"`
	Color       map[string]any `json:"color"`
	Thresholds  Thresholds     `json:"thresholds"`
	Mappings    []Mapping      `json:"mappings"`
	Custom      map[string]any `json:"custom"`
}

// Thresholds colour values; the first step's Value is nil (minus infinity).
type Thresholds struct {
	Mode  string `json:"mode"`
	Steps []Step `json:"steps"`
}

// Step is one threshold.
type Step struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// Mapping is a value mapping.
type Mapping struct {
	Type    string         `json:"type"`
	Options map[string]any `json:"options"`
}

// Override changes field config for matching fields.
type Override struct {
	Matcher    Matcher    `json:"matcher"`
	Properties []Property `json:"properties"`
}

// Matcher selects fields.
type Matcher struct {
	ID      string `json:"id"`
	Options any    `json:"options"`
}

// Property is one overridden field config property.
type Property struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

// JSON encodes the dashboard with two-space indentation and a final
// newline, without HTML escaping (PromQL has < and >).
func (d *Dashboard) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
