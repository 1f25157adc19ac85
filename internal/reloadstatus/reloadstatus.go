// Package reloadstatus holds the two gauges every lbpilot role exports
// about reloading its configuration, under the names Prometheus and
// Alertmanager use for theirs, so one alert covers all of them.
package reloadstatus

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Gauges are lbpilot_config_last_reload_successful and
// lbpilot_config_last_reload_success_timestamp_seconds. They start as a
// successful load now: the role only runs once its configuration loaded.
type Gauges struct {
	ok, at prometheus.Gauge
}

// New returns the gauges, set to a successful load at this moment.
func New() *Gauges {
	g := &Gauges{
		ok: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lbpilot_config_last_reload_successful",
			Help: "Whether the last configuration reload attempt was successful.",
		}),
		at: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lbpilot_config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}),
	}
	g.Record(nil)
	return g
}

// Record sets the gauges after a reload attempt that returned err.
func (g *Gauges) Record(err error) {
	if err != nil {
		g.ok.Set(0)
		return
	}
	g.ok.Set(1)
	g.at.SetToCurrentTime()
}

// Successful reads the first gauge: 1 after a good load, 0 after a
// refused one.
func (g *Gauges) Successful() float64 {
	var m dto.Metric
	if err := g.ok.Write(&m); err != nil {
		return 0
	}
	return m.GetGauge().GetValue()
}

// Describe implements prometheus.Collector.
func (g *Gauges) Describe(ch chan<- *prometheus.Desc) {
	g.ok.Describe(ch)
	g.at.Describe(ch)
}

// Collect implements prometheus.Collector.
func (g *Gauges) Collect(ch chan<- prometheus.Metric) {
	g.ok.Collect(ch)
	g.at.Collect(ch)
}
