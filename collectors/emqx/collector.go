package emqx

import (
	"context"
	"math"
	"sort"
	"sync"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/emqxapi"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

type gaugeDescs struct {
	gaugeDef
	count, max *prometheus.Desc
}

type counterDesc struct {
	key  string
	desc *prometheus.Desc
}

// Collector scrapes one EMQX cluster (or one node of it).
type Collector struct {
	opts      emqxapi.Options
	api       *emqxapi.API
	logger    collectors.Logger
	anomalies *collectors.Anomalies
	*descs
}

// Reasons this collector counts in lbpilot_upstream_anomalies_total
// (besides collectors.ReasonCounterNegative).
const reasonUnplacedValue = "unplaced_value"

// descs are a collector's descriptors: about 240, so /probe (a collector
// per request, no target labels) shares one set per mode.
type descs struct {
	gauges   []gaugeDescs
	counters []counterDesc

	nodeRunning, nodeInfo, nodeUptime, nodeLoad1, nodeLoad5, nodeLoad15 *prometheus.Desc
	nodeMemTotal, nodeMemUsed, nodeMaxFDs, nodeProcs, nodeProcsLimit    *prometheus.Desc
	nodesRunning, nodesStopped                                          *prometheus.Desc
}

var _ collectors.Collector = (*Collector)(nil)

// New builds a collector for one EMQX target. Credentials are read from
// their files here, so a rotated secret is picked up on the next reload
// (static targets) or the next request (/probe).
func New(opts emqxapi.Options, t collectors.Target, logger collectors.Logger) (*Collector, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := emqxapi.CheckURL(t.URL); err != nil {
		return nil, err
	}
	auth, err := opts.Credentials()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = log.NewNopLogger()
	}
	c := &Collector{opts: opts, logger: logger, anomalies: collectors.NewAnomalies("emqx", t, logger)}
	c.api = &emqxapi.API{
		HTTP:    opts.Client(),
		BaseURL: t.URL,
		Version: opts.Generation(),
		Auth:    auth,
		Node:    opts.Node,
		OnDetect: func(v emqxapi.Version) {
			level.Info(log.Logger(logger)).Log("msg", "Detected EMQX API generation", "url", upstream.RedactURL(t.URL), "api", v)
		},
	}
	c.descs = descsFor(t.Labels, opts.Node == "")
	return c, nil
}

var (
	probeDescsMu sync.Mutex
	probeDescs   = map[bool]*descs{}
)

// descsFor returns the descriptors for a target's labels; without target
// labels (/probe) they are built once per mode and shared.
func descsFor(cl prometheus.Labels, cluster bool) *descs {
	if len(cl) == 0 {
		probeDescsMu.Lock()
		defer probeDescsMu.Unlock()
		if d, ok := probeDescs[cluster]; ok {
			return d
		}
		d := buildDescs(nil, cluster)
		probeDescs[cluster] = d
		return d
	}
	return buildDescs(cl, cluster)
}

func buildDescs(cl prometheus.Labels, cluster bool) *descs {
	d := &descs{}
	node := []string{"node"}
	for _, g := range gaugeDefs {
		labels := node
		scope := "per node"
		if g.global {
			labels, scope = nil, "cluster-wide"
		}
		d.gauges = append(d.gauges, gaugeDescs{
			gaugeDef: g,
			count:    prometheus.NewDesc(g.name, g.help+" ("+scope+"; stats "+g.key+".count).", labels, cl),
			max:      prometheus.NewDesc(g.name+"_max", "Highest value since the node started: "+lower(g.help)+" (stats "+g.key+".max).", labels, cl),
		})
	}
	for _, m := range counterDefs {
		d.counters = append(d.counters, counterDesc{key: m.key, desc: prometheus.NewDesc(CounterName(m.key), m.help+", since the node started (metrics "+m.key+").", node, cl)})
	}
	nd := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, cl)
	}
	d.nodeRunning = nd("emqx_node_running", "Whether the node is running (1) or stopped (0) (nodes node_status).", "node")
	d.nodeInfo = nd("emqx_node_info", "Node version, role (core, replicant), edition and Erlang/OTP release as labels; the value is 1.", "node", "version", "role", "edition", "otp_release")
	d.nodeUptime = nd("emqx_node_uptime_seconds", "Time since the node started (nodes uptime: milliseconds in EMQX 5, text in 4 and 2).", "node")
	d.nodeLoad1 = nd("emqx_node_load1", "1-minute load average of the node's host (nodes load1).", "node")
	d.nodeLoad5 = nd("emqx_node_load5", "5-minute load average of the node's host (nodes load5).", "node")
	d.nodeLoad15 = nd("emqx_node_load15", "15-minute load average of the node's host (nodes load15).", "node")
	d.nodeMemTotal = nd("emqx_node_memory_total_bytes", "Memory of the node's host as EMQX reports it (nodes memory_total, \"15.51G\" read 1024-based).", "node")
	d.nodeMemUsed = nd("emqx_node_memory_used_bytes", "Memory in use on the node's host as EMQX reports it (nodes memory_used).", "node")
	d.nodeMaxFDs = nd("emqx_node_max_fds", "File descriptor limit of the node (nodes max_fds).", "node")
	d.nodeProcs = nd("emqx_node_erlang_processes", "Erlang processes in use on the node (nodes process_used).", "node")
	d.nodeProcsLimit = nd("emqx_node_erlang_processes_limit", "Erlang process limit of the node (nodes process_available).", "node")
	if cluster {
		d.nodesRunning = nd("emqx_cluster_nodes_running", "Nodes of the cluster that are running (same name as EMQX's built-in exporter).")
		d.nodesStopped = nd("emqx_cluster_nodes_stopped", "Nodes of the cluster that are stopped (same name as EMQX's built-in exporter).")
	}
	return d
}

func lower(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range c.gauges {
		ch <- g.count
		ch <- g.max
	}
	for _, m := range c.counters {
		ch <- m.desc
	}
	for _, d := range []*prometheus.Desc{c.nodeRunning, c.nodeInfo, c.nodeUptime, c.nodeLoad1, c.nodeLoad5, c.nodeLoad15,
		c.nodeMemTotal, c.nodeMemUsed, c.nodeMaxFDs, c.nodeProcs, c.nodeProcsLimit, c.nodesRunning, c.nodesStopped} {
		if d != nil {
			ch <- d
		}
	}
	c.anomalies.Describe(ch)
}

// Update reads the management API and sends the metrics; a failed reading
// sends nothing. A stopped node is not a failure: it shows as
// emqx_node_running 0.
func (c *Collector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	st, err := c.api.Fetch(ctx)
	if err != nil {
		c.anomalies.Collect(ch)
		return err
	}
	c.send(st, ch)
	c.anomalies.Collect(ch)
	return nil
}

func sendIf(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, lv ...string) {
	if !math.IsNaN(v) {
		ch <- prometheus.MustNewConstMetric(d, t, v, lv...)
	}
}

func (c *Collector) send(st *emqxapi.Stats, ch chan<- prometheus.Metric) {
	for i := range st.Nodes {
		n := &st.Nodes[i]
		ch <- prometheus.MustNewConstMetric(c.nodeRunning, prometheus.GaugeValue, b2f(n.Running), n.Name)
		ch <- prometheus.MustNewConstMetric(c.nodeInfo, prometheus.GaugeValue, 1, n.Name, n.Version, n.Role, n.Edition, n.OTPRelease)
		sendIf(ch, c.nodeUptime, prometheus.GaugeValue, n.UptimeSeconds, n.Name)
		sendIf(ch, c.nodeLoad1, prometheus.GaugeValue, n.Load1, n.Name)
		sendIf(ch, c.nodeLoad5, prometheus.GaugeValue, n.Load5, n.Name)
		sendIf(ch, c.nodeLoad15, prometheus.GaugeValue, n.Load15, n.Name)
		sendIf(ch, c.nodeMemTotal, prometheus.GaugeValue, n.MemoryTotal, n.Name)
		sendIf(ch, c.nodeMemUsed, prometheus.GaugeValue, n.MemoryUsed, n.Name)
		sendIf(ch, c.nodeMaxFDs, prometheus.GaugeValue, n.MaxFDs, n.Name)
		sendIf(ch, c.nodeProcs, prometheus.GaugeValue, n.Processes, n.Name)
		sendIf(ch, c.nodeProcsLimit, prometheus.GaugeValue, n.ProcessesLimit, n.Name)
	}
	if c.nodesRunning != nil {
		ch <- prometheus.MustNewConstMetric(c.nodesRunning, prometheus.GaugeValue, float64(st.RunningNodes()))
		ch <- prometheus.MustNewConstMetric(c.nodesStopped, prometheus.GaugeValue, float64(st.StoppedNodes()))
	}
	names := sortedNodes(st.Stats)
	for _, g := range c.gauges {
		if g.global {
			// Every node reports the cluster-wide registries alike; the
			// first node (by name) that has the stat speaks for all.
			for _, n := range names {
				v := st.Stats[n]
				if cnt, ok := v[g.key+".count"]; ok {
					ch <- prometheus.MustNewConstMetric(g.count, prometheus.GaugeValue, cnt)
					if mx, ok := v[g.key+".max"]; ok {
						ch <- prometheus.MustNewConstMetric(g.max, prometheus.GaugeValue, mx)
					}
					break
				}
			}
			continue
		}
		for _, n := range names {
			v := st.Stats[n]
			if cnt, ok := v[g.key+".count"]; ok {
				ch <- prometheus.MustNewConstMetric(g.count, prometheus.GaugeValue, cnt, n)
			}
			if mx, ok := v[g.key+".max"]; ok {
				ch <- prometheus.MustNewConstMetric(g.max, prometheus.GaugeValue, mx, n)
			}
		}
	}
	var negative []any
	nNegative := 0
	for _, n := range sortedNodes(st.Metrics) {
		v := st.Metrics[n]
		for _, m := range c.counters {
			x, ok := v[m.key]
			switch {
			case !ok:
			case x < 0:
				// A counter below zero would read as a reset.
				if nNegative == 0 {
					negative = []any{"node", n, "key", m.key, "value", x}
				}
				nNegative++
			default:
				ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, x, n)
			}
		}
	}
	c.anomalies.Add(collectors.ReasonCounterNegative, nNegative, negative...)
	if len(st.Unplaced) > 0 {
		u := st.Unplaced[0]
		c.anomalies.Add(reasonUnplacedValue, len(st.Unplaced), "first_node", u.Node, "first_key", u.Key, "type", u.Type)
	}
}

func sortedNodes(m map[string]emqxapi.Values) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
