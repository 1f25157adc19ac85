package traffic

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descSessions = prometheus.NewDesc("lbpilot_traffic_sessions",
		"Sessions the traffic generator holds open, by protocol and the backend node serving them (unknown when the protocol cannot tell).",
		[]string{"protocol", "node"}, nil)
	descOpened = prometheus.NewDesc("lbpilot_traffic_sessions_opened_total",
		"Sessions the traffic generator opened.", []string{"protocol", "node"}, nil)
	descEnded = prometheus.NewDesc("lbpilot_traffic_sessions_ended_total",
		"Sessions the traffic generator closed at the end of their planned lifetime.", []string{"protocol", "node"}, nil)
	descCut = prometheus.NewDesc("lbpilot_traffic_sessions_cut_total",
		"Sessions the server or the proxy ended before their planned lifetime, by cause.", []string{"protocol", "node", "cause"}, nil)
	descStopped = prometheus.NewDesc("lbpilot_traffic_sessions_stopped_total",
		"Sessions the traffic generator closed because its run ended (max_duration, interrupted) before their lifetime.", []string{"protocol", "node"}, nil)
	descFailed = prometheus.NewDesc("lbpilot_traffic_sessions_failed_total",
		"Sessions that failed to open, by reason.", []string{"protocol", "reason"}, nil)
	descSkipped = prometheus.NewDesc("lbpilot_traffic_sessions_skipped_total",
		"Planned arrivals not opened because the plan's max_concurrent sessions were open.", []string{"protocol"}, nil)
	descRecv = prometheus.NewDesc("lbpilot_traffic_received_bytes_total",
		"Bytes the traffic generator's sessions received.", []string{"protocol", "node"}, nil)
	descSent = prometheus.NewDesc("lbpilot_traffic_sent_bytes_total",
		"Bytes the traffic generator's sessions sent.", []string{"protocol", "node"}, nil)
	descPhase = prometheus.NewDesc("lbpilot_traffic_phase_info",
		"The plan's current phase (1), by label and kind.", []string{"phase", "kind"}, nil)
)

var _ prometheus.Collector = (*Engine)(nil)

// Describe sends the engine's metric descriptions.
func (e *Engine) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descOpened, descEnded, descCut, descStopped, descFailed, descSkipped, descRecv, descSent, descPhase} {
		ch <- d
	}
}

// Collect sends the run's counts so far.
func (e *Engine) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	counts := e.protocolCounts()
	type failed struct {
		protocol, reason string
		n                int64
	}
	var fails []failed
	for p, t := range e.protos {
		for r, n := range t.refused {
			fails = append(fails, failed{p, r, n})
		}
	}
	cuts := make(map[cutKey]int64, len(e.cuts))
	for k, n := range e.cuts {
		cuts[k] = n
	}
	phase := e.phase
	e.mu.Unlock()

	for p, pc := range counts {
		ch <- prometheus.MustNewConstMetric(descSkipped, prometheus.CounterValue, float64(pc.Skipped), p)
		for n, c := range pc.Nodes {
			ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(c.Active), p, n)
			ch <- prometheus.MustNewConstMetric(descOpened, prometheus.CounterValue, float64(c.Opened), p, n)
			ch <- prometheus.MustNewConstMetric(descEnded, prometheus.CounterValue, float64(c.Ended), p, n)
			ch <- prometheus.MustNewConstMetric(descStopped, prometheus.CounterValue, float64(c.Stopped), p, n)
			ch <- prometheus.MustNewConstMetric(descRecv, prometheus.CounterValue, float64(c.BytesIn), p, n)
			ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(c.BytesOut), p, n)
		}
	}
	for _, f := range fails {
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(f.n), f.protocol, f.reason)
	}
	for k, n := range cuts {
		ch <- prometheus.MustNewConstMetric(descCut, prometheus.CounterValue, float64(n), k.protocol, k.node, k.cause)
	}
	if phase.Label != "" {
		ch <- prometheus.MustNewConstMetric(descPhase, prometheus.GaugeValue, 1, phase.Label, phase.Phase.Kind)
	}
}
