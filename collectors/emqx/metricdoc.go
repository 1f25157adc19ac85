package emqx

import (
	"strings"

	"github.com/lbpilot/lbpilot/collectors"
)

// nodeDocs are the families read from the node list.
var nodeDocs = []collectors.MetricDoc{
	{Names: []string{"emqx_node_running"}, Type: "gauge", Labels: "`node`", Help: "1 running, 0 stopped", Source: "nodes `node_status`", Native: "—"},
	{Names: []string{"emqx_node_info"}, Type: "gauge", Labels: "`node`, `version`, `role`, `edition`, `otp_release`", Help: "1", Source: "nodes", Native: "—"},
	{Names: []string{"emqx_node_uptime_seconds"}, Type: "gauge", Labels: "`node`", Help: "time since the node started", Source: "nodes `uptime` (ms in 5.x, \"2 days, 3 hours, …\" in 4/2)", Native: "—"},
	{Names: []string{"emqx_node_load1", "emqx_node_load5", "emqx_node_load15"}, Type: "gauge", Labels: "`node`", Help: "host load averages (strings in 5.0.x and 4)", Source: "nodes `load1/5/15`", Native: "emqx-exporter's `emqx_cluster_cpu_load`"},
	{Names: []string{"emqx_node_memory_total_bytes", "emqx_node_memory_used_bytes"}, Type: "gauge", Labels: "`node`", Help: "memory as EMQX reports it (\"15.51G\", 1024-based)", Source: "nodes `memory_total`, `memory_used`", Native: "≈ `emqx_vm_total_memory`, `emqx_vm_used_memory`"},
	{Names: []string{"emqx_node_max_fds"}, Type: "gauge", Labels: "`node`", Help: "file descriptor limit", Source: "nodes `max_fds`", Native: "—"},
	{Names: []string{"emqx_node_erlang_processes", "emqx_node_erlang_processes_limit"}, Type: "gauge", Labels: "`node`", Help: "Erlang processes in use, limit", Source: "nodes `process_used`, `process_available`", Native: "—"},
	{Names: []string{"emqx_cluster_nodes_running", "emqx_cluster_nodes_stopped"}, Type: "gauge", Help: "nodes by status (whole-cluster mode)", Source: "nodes", Native: "same names"},
}

// nativeGauge overrides the built-in exporter's name of a stat.
var nativeGauge = map[string]string{
	"resources": "— (EMQX 4 plugin only)",
	"routes":    "`emqx_routes_count`, `emqx_routes_max` (6.x)",
}

// nativeCounter lists the counters EMQX's built-in exporter does not name
// as the key without _total.
var nativeCounter = map[string]string{
	"packets.connect.received":              "`emqx_packets_connect`",
	"messages.dropped.await_pubrel_timeout": "`emqx_messages_dropped_expired` (5.x)",
	"messages.dropped.expired":              "— (EMQX 4 only)",
}

// MetricDocs documents every family (docs/metrics.md): the node list's,
// the stats' gauges (each with its _max) and the metrics' counters.
func MetricDocs() []collectors.MetricDoc {
	out := append([]collectors.MetricDoc(nil), nodeDocs...)
	under := strings.NewReplacer(".", "_", "-", "_")
	for _, g := range gaugeDefs {
		d := collectors.MetricDoc{
			Names:  []string{g.name, g.name + "_max"},
			Type:   "gauge",
			Labels: "`node`",
			Help:   g.help + "; `_max`: highest since the node started",
			Source: "stats `" + g.key + ".count` / `.max`",
			Native: "`emqx_" + under.Replace(g.key) + "_count`, `emqx_" + under.Replace(g.key) + "_max`",
		}
		if g.global {
			d.Labels = "—"
		}
		if n, ok := nativeGauge[g.key]; ok {
			d.Native = n
		}
		out = append(out, d)
	}
	for _, c := range counterDefs {
		d := collectors.MetricDoc{
			Names:  []string{CounterName(c.key)},
			Type:   "counter",
			Labels: "`node`",
			Help:   c.help,
			Source: "metrics `" + c.key + "`",
			Native: "`emqx_" + under.Replace(c.key) + "`",
		}
		if n, ok := nativeCounter[c.key]; ok {
			d.Native = n
		}
		out = append(out, d)
	}
	out = append(out, collectors.AnomaliesDoc("`unplaced_value`: a stats or metrics value that is not a number (keys lbpilot does not export are not counted); `counter_negative`: a metrics counter below 0"))
	return out
}
