// Package mixin holds lbpilot's monitoring mixin tooling: the Grafana
// dashboard generator (cmd/dashgen), the dashboard preview renderer
// (cmd/dashpreview) and the recorder of the demo-run data it draws
// (cmd/dashrecord), and the checks that keep dashboards/ and alerts/ true to
// what lbpilot emits (check/).
//
// It is a module of its own so that github.com/prometheus/prometheus (the
// PromQL parser and the rule file format, used only by the checks),
// Grafana's foundation SDK (the dashboards' builders) and
// golang.org/x/image (the preview's font) never enter lbpilot's module
// graph, go.sum or binary. `make test` runs its tests explicitly.
package mixin
