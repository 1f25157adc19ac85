package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// EMQX is the EMQX dashboard: node state, connections and their share per
// node, capacity, messages and drops, client activity, node resources.
func EMQX() (dashboard.Dashboard, error) {
	d := newBoard(UIDEMQX, "lbpilot / EMQX",
		"EMQX clusters through lbpilot's emqx_* metrics (per node: the node label). Connections per node show how HAProxy spreads MQTT clients; drops show subscribers that cannot keep up.",
		"emqx")
	jobInstanceVars(d, "emqx_node_running")
	targetVar(d, "Cluster", "emqx_node_running")
	d.queryVar("node", "Node", "EMQX nodes of the selected clusters.", `emqx_node_running{`+sel+`}`, "node", ".+")
	rebalancerAnnotations(d)

	en := s(sel, `node=~"$node"`)
	capacity := `(emqx_live_connections{` + en + `} or emqx_connections{` + en + `}) / emqx_node_max_fds{` + en + `}`

	d.row("Cluster")
	d.add(4, 5,
		statPanel("Nodes stopped",
			"Nodes the cluster reports stopped (down or partitioned). Alert: EMQXNodeStopped.",
			"none",
			instant(`count(emqx_node_running{`+en+`} == 0) or vector(0)`, "")).
			Thresholds(steps("green", 1, "red")).ColorMode(common.BigValueColorModeBackground).GraphMode(common.BigValueGraphModeNone),
		statPanel("Nodes running",
			"Nodes the cluster reports running.",
			"none",
			instant(`count(emqx_node_running{`+en+`} == 1)`, "")).Thresholds(steps("blue")).GraphMode(common.BigValueGraphModeNone),
		statPanel("Live connections",
			"MQTT clients with a live network connection, selected nodes.",
			"none",
			q(`sum(emqx_live_connections{`+en+`})`, "")).Thresholds(steps("blue")),
		statPanel("Sessions",
			"Sessions on the selected nodes, including those of disconnected clients not yet expired.",
			"none",
			q(`sum(emqx_sessions{`+en+`})`, "")).Thresholds(steps("blue")),
		statPanel("Messages in",
			"PUBLISH messages received from clients per second.",
			"ops",
			q(`sum(rate(emqx_messages_received_total{`+en+`}[$__rate_interval]))`, "")).Thresholds(steps("blue")),
		statPanel("Messages out",
			"PUBLISH messages sent to clients per second.",
			"ops",
			q(`sum(rate(emqx_messages_sent_total{`+en+`}[$__rate_interval]))`, "")).Thresholds(steps("blue")),
	)

	d.row("Nodes and connections")
	d.add(24, 6,
		stateTimeline("Node state",
			"Running or stopped, per node, as the cluster reports it.",
			[]dashboard.ValueMapping{valueMap("0", "stopped", "red", "1", "running", "green")},
			q(`max by (target, node) (emqx_node_running{`+en+`})`, "{{node}}")),
	)
	d.add(8, 8,
		timeSeries("Live connections per node",
			"Clients connected to each node.",
			"none",
			q(`sum by (node) (emqx_live_connections{`+en+`})`, "{{node}}")).Legend(legendTable("lastNotNull", "max")),
		timeSeries("Share of connections per node",
			"Each node's share of its cluster's live connections. HAProxy's balancing (and a drain) shows here: a drained node's share stops growing and falls as clients reconnect elsewhere.",
			"percentunit",
			q(`sum by (target, node) (emqx_live_connections{`+en+`}) / ignoring (node) group_left sum by (target) (emqx_live_connections{`+sel+`})`, "{{node}}")).
			Stacking(stack()).FillOpacity(60).LineWidth(0).Min(0).Legend(legendTable("mean", "lastNotNull")),
		timeSeries("Capacity used per node",
			"The larger use of the node's two hard limits: live connections per file descriptor limit, Erlang processes per process limit. EMQXConnectionsNearLimit drains the node above 80 %.",
			"percentunit",
			q(`max by (node) (`+capacity+`)`, "fds {{node}}"),
			q(`max by (node) (emqx_node_erlang_processes{`+en+`} / emqx_node_erlang_processes_limit{`+en+`})`, "processes {{node}}")).
			Thresholds(steps("green", 0.8, "red")).ThresholdsStyle(dashed()).Min(0).Max(1),
	)

	d.row("Messages")
	d.add(8, 8,
		timeSeries("Messages per node",
			"PUBLISH messages received (above) and sent (below) per second, per node.",
			"ops",
			q(`sum by (node) (rate(emqx_messages_received_total{`+en+`}[$__rate_interval]))`, "in {{node}}"),
			q(`sum by (node) (rate(emqx_messages_sent_total{`+en+`}[$__rate_interval]))`, "out {{node}}")).
			OverrideByRegexp("out .*", negativeY()),
		timeSeries("Dropped deliveries by reason",
			"Messages dropped on delivery per second: queue full (slow subscribers), QoS 0 dropped from full queues, expired, too large, no-local.",
			"ops",
			q(`sum(rate(emqx_delivery_dropped_queue_full_total{`+en+`}[$__rate_interval]))`, "queue full"),
			q(`sum(rate(emqx_delivery_dropped_qos0_msg_total{`+en+`}[$__rate_interval]))`, "qos0 from full queue"),
			q(`sum(rate(emqx_delivery_dropped_expired_total{`+en+`}[$__rate_interval]))`, "expired"),
			q(`sum(rate(emqx_delivery_dropped_too_large_total{`+en+`}[$__rate_interval]))`, "too large"),
			q(`sum(rate(emqx_delivery_dropped_no_local_total{`+en+`}[$__rate_interval]))`, "no local")).Stacking(stack()).FillOpacity(60).LineWidth(0),
		timeSeries("Delivery drop ratio per node",
			"Dropped deliveries as a share of deliveries (sent plus dropped). EMQXMessagesDropped fires above 1 %.",
			"percentunit",
			q(`sum by (node) (rate(emqx_delivery_dropped_total{`+en+`}[$__rate_interval]))
/
(sum by (node) (rate(emqx_messages_sent_total{`+en+`}[$__rate_interval]) + rate(emqx_delivery_dropped_total{`+en+`}[$__rate_interval])) > 0)`, "{{node}}")).
			Thresholds(steps("green", 0.01, "red")).ThresholdsStyle(dashed()).Min(0),
	)
	d.add(12, 8,
		timeSeries("Messages dropped before forwarding",
			"Messages dropped before routing, per second: no subscriber for the topic (often expected), QoS 2 awaiting PUBREL too long.",
			"ops",
			q(`sum(rate(emqx_messages_dropped_no_subscribers_total{`+en+`}[$__rate_interval]))`, "no subscribers"),
			q(`sum(rate(emqx_messages_dropped_await_pubrel_timeout_total{`+en+`}[$__rate_interval]))`, "await PUBREL timeout")),
		timeSeries("Messages by QoS",
			"PUBLISH messages received per second by QoS level.",
			"ops",
			q(`sum(rate(emqx_messages_qos0_received_total{`+en+`}[$__rate_interval]))`, "QoS 0"),
			q(`sum(rate(emqx_messages_qos1_received_total{`+en+`}[$__rate_interval]))`, "QoS 1"),
			q(`sum(rate(emqx_messages_qos2_received_total{`+en+`}[$__rate_interval]))`, "QoS 2")).Stacking(stack()).FillOpacity(60).LineWidth(0),
	)

	d.row("Clients")
	d.add(8, 8,
		timeSeries("Connects and disconnects",
			"Client CONNECTs received, successful connections and disconnections per second. Connects far above connections: clients retrying.",
			"ops",
			q(`sum(rate(emqx_packets_connect_received_total{`+en+`}[$__rate_interval]))`, "CONNECT received"),
			q(`sum(rate(emqx_client_connected_total{`+en+`}[$__rate_interval]))`, "connected"),
			q(`sum(rate(emqx_client_disconnected_total{`+en+`}[$__rate_interval]))`, "disconnected")),
		timeSeries("Refused connections",
			"CONNACKs with a failure reason and those for failed authentication, per second.",
			"ops",
			q(`sum(rate(emqx_packets_connack_error_total{`+en+`}[$__rate_interval]))`, "CONNACK errors"),
			q(`sum(rate(emqx_packets_connack_auth_error_total{`+en+`}[$__rate_interval]))`, "authentication errors")).
			OverrideByName("authentication errors", fixedColor(colErr)),
		timeSeries("Subscriptions per node",
			"Subscriptions held on each node (shared ones included).",
			"none",
			q(`sum by (node) (emqx_subscriptions{`+en+`})`, "{{node}}")),
	)

	d.row("Node resources")
	d.add(8, 8,
		timeSeries("Load average per node",
			"1-minute load average of each node's host.",
			"short",
			q(`max by (node) (emqx_node_load1{`+en+`})`, "{{node}}")),
		timeSeries("Memory used per node",
			"Memory in use on each node's host as EMQX reports it, against its total.",
			"percentunit",
			q(`max by (node) (emqx_node_memory_used_bytes{`+en+`} / emqx_node_memory_total_bytes{`+en+`})`, "{{node}}")).Min(0).Max(1),
		tablePanel("Node versions and uptime",
			"EMQX version, edition, role (core, replicant) and uptime of each node.",
			"s",
			tableQuery(`max by (node, version, edition, role) (emqx_node_info{`+en+`})`),
			tableQuery(`max by (node) (emqx_node_uptime_seconds{`+en+`})`)).
			WithTransformation(transform("merge", map[string]any{})).
			WithTransformation(transform("organize", map[string]any{
				"excludeByName": map[string]any{"Time": true, "Value #A": true},
				"renameByName":  map[string]any{"Value #B": "uptime"},
			})),
	)
	return d.build()
}
