package dashboards

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The panel constructors below set what every lbpilot panel of a kind
// shares (datasource, colours, legend, tooltip, options) and return the
// SDK's builder, so a dashboard goes on with the SDK's own methods.

// q is a range query with a legend, in code mode.
func q(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(prometheusDS()).
		EditorMode(prometheus.QueryEditorModeCode).
		Expr(strings.TrimSpace(expr)).
		LegendFormat(legend).
		Range()
}

// instant is an instant query (stats, tables, bar gauges).
func instant(expr, legend string) *prometheus.DataqueryBuilder {
	return q(expr, legend).Instant()
}

// tableQuery is a table-formatted instant query.
func tableQuery(expr string) *prometheus.DataqueryBuilder {
	return instant(expr, "").Format(prometheus.PromQueryFormatTable)
}

// targets names queries A, B, … in order.
func targets(qs []*prometheus.DataqueryBuilder) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], len(qs))
	for i, t := range qs {
		out[i] = t.RefId(string(rune('A' + i)))
	}
	return out
}

// steps builds absolute thresholds: base colour, then value/colour pairs.
func steps(base string, pairs ...any) *dashboard.ThresholdsConfigBuilder {
	s := []dashboard.Threshold{{Color: base}}
	for i := 0; i+1 < len(pairs); i += 2 {
		var v float64
		switch x := pairs[i].(type) {
		case int:
			v = float64(x)
		case float64:
			v = x
		default:
			panic("threshold: want a number")
		}
		s = append(s, dashboard.Threshold{Value: cog.ToPtr(v), Color: pairs[i+1].(string)})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(s)
}

func colorMode(m dashboard.FieldColorModeId) *dashboard.FieldColorBuilder {
	return dashboard.NewFieldColorBuilder().Mode(m)
}

// fixedColor gives matching series one colour (an override property).
func fixedColor(c string) []dashboard.DynamicConfigValue {
	return []dashboard.DynamicConfigValue{{Id: "color", Value: dashboard.FieldColor{Mode: dashboard.FieldColorModeIdFixed, FixedColor: cog.ToPtr(c)}}}
}

// negativeY draws matching series below the axis (out vs in).
func negativeY() []dashboard.DynamicConfigValue {
	return []dashboard.DynamicConfigValue{{Id: "custom.transform", Value: common.GraphTransformNegativeY}}
}

// stack stacks a time series' series (shares of a whole); lbpilot's
// stacked panels also fill at 60 % without lines.
func stack() *common.StackingConfigBuilder {
	return common.NewStackingConfigBuilder().Mode(common.StackingModeNormal).Group("A")
}

// dashed draws a time series' thresholds as dashed lines (the alert levels).
func dashed() *common.GraphThresholdsStyleConfigBuilder {
	return common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed)
}

// legendTable shows the legend as a table on the right with the given calcs.
func legendTable(calcs ...string) *common.VizLegendOptionsBuilder {
	return common.NewVizLegendOptionsBuilder().
		DisplayMode(common.LegendDisplayModeTable).Placement(common.LegendPlacementRight).ShowLegend(true).Calcs(calcs)
}

func legendList() *common.VizLegendOptionsBuilder {
	return common.NewVizLegendOptionsBuilder().
		DisplayMode(common.LegendDisplayModeList).Placement(common.LegendPlacementBottom).ShowLegend(true).Calcs([]string{})
}

func lastValue() *common.ReduceDataOptionsBuilder {
	return common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Fields("").Values(false)
}

// linkTo links a panel to another dashboard, keeping time and variables.
func linkTo(title, uid string) []cog.Builder[dashboard.DashboardLink] {
	return []cog.Builder[dashboard.DashboardLink]{dashboard.NewDashboardLinkBuilder(title).
		Type(dashboard.DashboardLinkTypeLink).
		Url("/d/" + uid + "?${__url_time_range}&${__all_variables}").
		TargetBlank(false)}
}

// valueMap maps exact values to texts and colours: value, text, colour, …
func valueMap(triples ...string) dashboard.ValueMapping {
	m := dashboard.NewValueMap()
	for i := 0; i+2 < len(triples); i += 3 {
		m.Options[triples[i]] = dashboard.ValueMappingResult{
			Text: cog.ToPtr(triples[i+1]), Color: cog.ToPtr(triples[i+2]), Index: cog.ToPtr(int32(i / 3)),
		}
	}
	return dashboard.ValueMapping{ValueMap: m}
}

// transform is a transformation with its options.
func transform(id string, options map[string]any) dashboard.DataTransformerConfig {
	return dashboard.DataTransformerConfig{Id: id, Options: options}
}

// timeSeries is a line chart.
func timeSeries(title, description, unit string, qs ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).Description(description).Datasource(prometheusDS()).Targets(targets(qs)).
		Unit(unit).ColorScheme(colorMode(dashboard.FieldColorModeIdPaletteClassic)).Thresholds(steps("green")).
		DrawStyle(common.GraphDrawStyleLine).LineWidth(1).FillOpacity(10).GradientMode(common.GraphGradientModeNone).
		ShowPoints(common.VisibilityModeNever).SpanNulls(common.BoolOrFloat64{Bool: cog.ToPtr(false)}).
		AxisPlacement(common.AxisPlacementAuto).AxisSoftMin(0).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNone).Group("A")).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeOff)).
		Legend(legendList()).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
}

// statPanel is a single-value panel with a sparkline.
func statPanel(title, description, unit string, qs ...*prometheus.DataqueryBuilder) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).Description(description).Datasource(prometheusDS()).Targets(targets(qs)).
		Unit(unit).ColorScheme(colorMode(dashboard.FieldColorModeIdThresholds)).Thresholds(steps("green")).NoValue("0").
		ReduceOptions(lastValue()).
		ColorMode(common.BigValueColorModeValue).GraphMode(common.BigValueGraphModeArea).
		JustifyMode(common.BigValueJustifyModeAuto).TextMode(common.BigValueTextModeAuto).
		Orientation(common.VizOrientationAuto).WideLayout(true).ShowPercentChange(false)
}

// barGauge shows one bar per series (instant queries).
func barGauge(title, description, unit string, qs ...*prometheus.DataqueryBuilder) *bargauge.PanelBuilder {
	return bargauge.NewPanelBuilder().
		Title(title).Description(description).Datasource(prometheusDS()).Targets(targets(qs)).
		Unit(unit).ColorScheme(colorMode(dashboard.FieldColorModeIdThresholds)).Thresholds(steps("green")).
		ReduceOptions(lastValue()).
		Orientation(common.VizOrientationHorizontal).DisplayMode(common.BarGaugeDisplayModeGradient).ShowUnfilled(true).
		ValueMode(common.BarGaugeValueModeColor).NamePlacement(common.BarGaugeNamePlacementAuto).Sizing(common.BarGaugeSizingAuto).
		MinVizHeight(16).MinVizWidth(8).MaxVizHeight(300)
}

// stateTimeline draws one lane per series with value mappings.
func stateTimeline(title, description string, mappings []dashboard.ValueMapping, qs ...*prometheus.DataqueryBuilder) *statetimeline.PanelBuilder {
	return statetimeline.NewPanelBuilder().
		Title(title).Description(description).Datasource(prometheusDS()).Targets(targets(qs)).
		Unit("none").ColorScheme(colorMode(dashboard.FieldColorModeIdThresholds)).Thresholds(steps("green")).
		Mappings(mappings).
		FillOpacity(80).LineWidth(0).
		HideFrom(common.NewHideSeriesConfigBuilder().Legend(false).Tooltip(false).Viz(false)).
		MergeValues(true).ShowValue(common.VisibilityModeNever).AlignValue(common.TimelineValueAlignmentLeft).RowHeight(0.8).
		// Every lane on one page (the SDK would page them by 20).
		DisablePagination().
		Legend(legendList()).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeSingle).Sort(common.SortOrderNone))
}

// tablePanel shows instant table queries.
func tablePanel(title, description, unit string, qs ...*prometheus.DataqueryBuilder) *table.PanelBuilder {
	return table.NewPanelBuilder().
		Title(title).Description(description).Datasource(prometheusDS()).Targets(targets(qs)).
		Unit(unit).ColorScheme(colorMode(dashboard.FieldColorModeIdThresholds)).Thresholds(steps("green")).
		Align(common.FieldTextAlignmentAuto).
		CellOptions(common.TableCellOptions{TableAutoCellOptions: &common.TableAutoCellOptions{Type: common.TableCellDisplayModeAuto}}).
		Inspect(false).
		ShowHeader(true).CellHeight(common.TableCellHeightSm).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"}))
}
