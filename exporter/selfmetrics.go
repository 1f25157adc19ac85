package exporter

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// runtimeCollectors are the exporter's go_* and process_* metrics on
// /metrics (left out with Options.DisableExporterMetrics). They live in a
// file of their own so client_golang's collectors package needs no alias
// next to lbpilot's.
func runtimeCollectors() []prometheus.Collector {
	return []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
}
