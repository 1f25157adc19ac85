package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// SchemaVersion is the classic dashboard schema written: 39 is what
// Grafana 10.4 writes; 10.4 through 13.x load it and newer versions migrate
// it on load (migration only goes upwards). The SDK defaults to the newest
// schema, which older Grafana versions would load unmigrated.
const SchemaVersion = 39

// DatasourceVar is the name of every dashboard's datasource variable;
// every panel, target, query variable and annotation uses ${datasource}.
const DatasourceVar = "datasource"

// gridWidth is Grafana's grid width in columns.
const gridWidth = 24

// prometheusDS is the reference every panel, query, query variable and
// annotation uses: whatever Prometheus the datasource variable selects.
func prometheusDS() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${" + DatasourceVar + "}")}
}

// board is a dashboard under construction: the SDK's dashboard builder plus
// the panel numbering and sizing lbpilot's dashboards share. Panels flow
// left to right and wrap at the grid's edge (the SDK's layout).
type board struct {
	b      *dashboard.DashboardBuilder
	nextID uint32
	col    uint32 // where the next panel goes on its line
}

// newBoard starts a dashboard with lbpilot's defaults: shared crosshair,
// browser time zone, last 3 hours, 30 s refresh, read-only (it is
// generated; copy it to change it), a link to the other lbpilot
// dashboards, Grafana's built-in annotations and a datasource variable.
func newBoard(uid, title, description string, tags ...string) *board {
	b := dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags(append([]string{"lbpilot"}, tags...)).
		Timezone("browser").
		Readonly().
		// Shared crosshair: a drain on one panel lines up with load on the others.
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		FiscalYearStartMonth(0).
		WeekStart("").
		LiveNow(false).
		Time("now-3h", "now").
		Timepicker(dashboard.NewTimePickerBuilder().RefreshIntervals([]string{"10s", "30s", "1m", "5m", "15m", "1h"})).
		Refresh("30s").
		Version(1).
		Link(dashboard.NewDashboardLinkBuilder("lbpilot dashboards").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"lbpilot"}).
			AsDropdown(true).
			IncludeVars(false).
			KeepTime(true).
			TargetBlank(false).
			Icon("external link").
			Tooltip("The other lbpilot dashboards (time range kept)")).
		Annotation(dashboard.NewAnnotationQueryBuilder().
			Name("Annotations & Alerts").
			BuiltIn(1).
			Datasource(common.DataSourceRef{Type: cog.ToPtr("grafana"), Uid: cog.ToPtr("-- Grafana --")}).
			Enable(true).
			Hide(true).
			IconColor("rgba(0, 211, 255, 1)").
			Type("dashboard")).
		WithVariable(dashboard.NewDatasourceVariableBuilder(DatasourceVar).
			Label("Data source").
			Description("The Prometheus that scrapes lbpilot.").
			Type("prometheus"))
	return &board{b: b}
}

// queryVar adds a Prometheus query variable: label_values(selector, label),
// refreshed on time-range change, multi-select with All selected.
func (d *board) queryVar(name, label, description, selector, labelName, allValue string) {
	q := fmt.Sprintf("label_values(%s, %s)", selector, labelName)
	d.b.WithVariable(dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Description(description).
		Datasource(prometheusDS()).
		Query(dashboard.StringOrMap{Map: map[string]any{
			"qryType": 1, "query": q, "refId": "PrometheusVariableQueryEditor-VariableQuery",
		}}).
		Definition(q).
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
		}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Multi(true).
		IncludeAll(true).
		AllValue(allValue).
		Sort(dashboard.VariableSortAlphabeticalAsc))
}

// annotate adds a Prometheus annotation: every non-zero sample of expr
// (evaluated every step) is an event.
func (d *board) annotate(name, color, expr, title, text, tagKeys string) {
	d.b.Annotation(dashboard.NewAnnotationQueryBuilder().
		Name(name).
		Datasource(prometheusDS()).
		Enable(true).
		Hide(false).
		IconColor(color).
		Expr(expr).
		Step("60s").
		TitleFormat(title).
		TextFormat(text).
		TagKeys(tagKeys).
		UseValueForTime(false))
}

// row starts a new (expanded) row.
func (d *board) row(title string) {
	d.nextID++
	d.col = 0
	d.b.WithRow(dashboard.NewRowBuilder(title).Id(d.nextID))
}

// add places panels of width w and height h after the previous ones and
// numbers them. The SDK starts a new line only once a line is full, so a
// panel that would cross the grid's right edge is an error here.
func (d *board) add(w, h uint32, panels ...cog.Builder[dashboard.Panel]) {
	for _, pb := range panels {
		p, err := pb.Build()
		if err != nil {
			d.b.RecordError("panel", err)
			continue
		}
		if d.col+w > gridWidth {
			title := ""
			if p.Title != nil {
				title = *p.Title
			}
			d.b.RecordError("panel", fmt.Errorf("%q: %d columns wide at column %d, past the grid's %d", title, w, d.col, gridWidth))
			continue
		}
		if d.col += w; d.col == gridWidth {
			d.col = 0
		}
		d.nextID++
		p.Id = cog.ToPtr(d.nextID)
		p.GridPos = &dashboard.GridPos{W: w, H: h}
		d.b.WithPanel(sized(p))
	}
}

// sized is a panel already built and sized by add, handed back to the
// dashboard builder, which places it.
type sized dashboard.Panel

func (p sized) Build() (dashboard.Panel, error) { return dashboard.Panel(p), nil }

// build finishes the dashboard. Placement is cleared on the dashboard link
// and the annotations: the SDK puts both in Grafana 12's controls menu by
// default, while lbpilot shows them above the panels as every Grafana
// version does without the key.
func (d *board) build() (dashboard.Dashboard, error) {
	dash, err := d.b.Build()
	if err != nil {
		return dashboard.Dashboard{}, err
	}
	dash.SchemaVersion = SchemaVersion
	for i := range dash.Links {
		dash.Links[i].Placement = nil
	}
	for i := range dash.Annotations.List {
		dash.Annotations.List[i].Placement = nil
	}
	for _, p := range dash.Panels {
		if p.Panel != nil {
			for i := range p.Panel.Links {
				p.Panel.Links[i].Placement = nil
			}
		}
	}
	return dash, nil
}

// JSON encodes a dashboard with two-space indentation and a final newline,
// without HTML escaping (PromQL has <, > and &).
func JSON(d dashboard.Dashboard) ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, unescapeHTML(b), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// unescapeHTML undoes encoding/json's HTML escaping (\u003c, \u003e,
// \u0026) in compact JSON. The SDK's own MarshalJSON methods call
// json.Marshal, so an encoder's SetEscapeHTML(false) does not reach them.
// Other escapes, an escaped backslash followed by "u003c" included, are
// copied as they are.
func unescapeHTML(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			out = append(out, b[i])
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) {
			switch string(b[i+2 : i+6]) {
			case "003c":
				out = append(out, '<')
				i += 5
				continue
			case "003e":
				out = append(out, '>')
				i += 5
				continue
			case "0026":
				out = append(out, '&')
				i += 5
				continue
			}
		}
		out = append(out, b[i], b[i+1])
		i++
	}
	return out
}
