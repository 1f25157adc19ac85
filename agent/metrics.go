package agent

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/lbpilot/lbpilot/internal/reloadstatus"
)

// metrics are the agent's own decisions and traffic, on /metrics.
type metrics struct {
	weight      prometheus.Gauge
	healthy     prometheus.Gauge
	utilization *prometheus.GaugeVec
	replies     *prometheus.CounterVec
	health      *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	writeErrors prometheus.Counter
	upRequests  prometheus.Counter
	upErrors    prometheus.Counter
	checkTime   prometheus.Histogram
	info        *prometheus.GaugeVec
	reload      *reloadstatus.Gauges
}

// Reasons a connection is closed without a reply.
const (
	rejectNotAllowed = "not_allowed"  // source outside --agent.allow
	rejectOverload   = "overload"     // too many checks in progress
	rejectPerSource  = "source_limit" // too many checks in progress from one source address
)

func newMetrics(reg prometheus.Registerer, kind Kind, mode Mode) *metrics {
	m := &metrics{
		weight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lbpilot_agent_weight_ratio",
			Help: "Weight of the last decision as a ratio of the server's configured weight (the agent's N% / 100); 0 when it said down.",
		}),
		healthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lbpilot_agent_healthy",
			Help: "1 when the last decision found the upstream readable and every dimension below its threshold (what /health answers 200 for), else 0.",
		}),
		utilization: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lbpilot_agent_utilization_ratio",
			Help: "Value of each checked dimension divided by its threshold at the last decision (1 = threshold reached).",
		}, []string{"dimension"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbpilot_agent_replies_total",
			Help: "Agent-check replies written, by kind: up (with a weight), down_load (updown mode, a threshold reached), down_upstream (upstream unreadable).",
		}, []string{"kind"}),
		health: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbpilot_agent_health_requests_total",
			Help: "GET /health answers, by HTTP status code.",
		}, []string{"code"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbpilot_agent_rejected_connections_total",
			Help: "Agent-check connections closed without a reply: not_allowed (source outside --agent.allow), overload (too many checks in progress), source_limit (too many from one source address).",
		}, []string{"reason"}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lbpilot_agent_write_errors_total",
			Help: "Agent-check replies that could not be written because the peer had gone (e.g. HAProxy's check timeout passed).",
		}),
		upRequests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lbpilot_agent_upstream_requests_total",
			Help: "Readings of the local upstream's statistics (one per cache period at most, however many checks arrive).",
		}),
		upErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lbpilot_agent_upstream_errors_total",
			Help: "Readings of the local upstream's statistics that failed.",
		}),
		checkTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lbpilot_agent_check_duration_seconds",
			Help:    "Time from accepting an agent-check connection to having written the reply.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lbpilot_agent_info",
			Help: "The agent's source and reply mode; always 1.",
		}, []string{"source", "mode"}),
		reload: reloadstatus.New(),
	}
	reg.MustRegister(m.weight, m.healthy, m.utilization, m.replies, m.health, m.rejected,
		m.writeErrors, m.upRequests, m.upErrors, m.checkTime, m.info, m.reload, versioncollector.NewCollector("lbpilot"))
	for _, k := range ReplyKinds {
		m.replies.WithLabelValues(string(k))
	}
	for _, r := range []string{rejectNotAllowed, rejectOverload, rejectPerSource} {
		m.rejected.WithLabelValues(r)
	}
	for _, c := range []int{200, 503} {
		m.health.WithLabelValues(strconv.Itoa(c))
	}
	m.info.WithLabelValues(string(kind), string(mode)).Set(1)
	return m
}

// observe publishes a new decision.
func (m *metrics) observe(d Decision, checked []Dimension) {
	m.weight.Set(float64(d.Weight) / 100)
	if d.Healthy {
		m.healthy.Set(1)
	} else {
		m.healthy.Set(0)
	}
	if d.Kind == KindDownUpstream {
		// Nothing was measured: old ratios would look current.
		m.utilization.Reset()
		return
	}
	seen := map[Dimension]bool{}
	for _, s := range d.Dims {
		m.utilization.WithLabelValues(s.Dimension.String()).Set(s.Ratio)
		seen[s.Dimension] = true
	}
	for _, dim := range checked {
		if !seen[dim] {
			m.utilization.DeleteLabelValues(dim.String())
		}
	}
}
