package dashboards

import (
	g "github.com/lbpilot/lbpilot/tools/mixin/grafana"
)

// EMQX is the EMQX dashboard: node state, connections and their share per
// node, capacity, messages and drops, client activity, node resources.
func EMQX() *g.Dashboard {
	d := g.New(UIDEMQX, "lbpilot / EMQX",
		"EMQX clusters through lbpilot's emqx_* metrics (per node: the node label). Connections per node show how HAProxy spreads MQTT clients; drops show subscribers that cannot keep up.",
		"emqx")
	jobInstanceVars(d, "emqx_node_running")
	targetVar(d, "Cluster", "emqx_node_running")
	d.QueryVar("node", "Node", "EMQX nodes of the selected clusters.", `emqx_node_running{`+sel+`}`, "node", ".+")
	rebalancerAnnotations(d)

	en := s(sel, `node=~"$node"`)
	capacity := `(emqx_live_connections{` + en + `} or emqx_connections{` + en + `}) / emqx_node_max_fds{` + en + `}`

	d.Row("Cluster")
	d.Add(4, 5,
		g.Stat("Nodes stopped",
			"Nodes the cluster reports stopped (down or partitioned). Alert: EMQXNodeStopped.",
			"none",
			g.Instant(`count(emqx_node_running{`+en+`} == 0) or vector(0)`, "")).
			Thresholds(g.Steps("green", 1, "red")).StatBackground().NoGraph(),
		g.Stat("Nodes running",
			"Nodes the cluster reports running.",
			"none",
			g.Instant(`count(emqx_node_running{`+en+`} == 1)`, "")).Thresholds(g.Steps("blue")).NoGraph(),
		g.Stat("Live connections",
			"MQTT clients with a live network connection, selected nodes.",
			"none",
			g.Q(`sum(emqx_live_connections{`+en+`})`, "")).Thresholds(g.Steps("blue")),
		g.Stat("Sessions",
			"Sessions on the selected nodes, including those of disconnected clients not yet expired.",
			"none",
			g.Q(`sum(emqx_sessions{`+en+`})`, "")).Thresholds(g.Steps("blue")),
		g.Stat("Messages in",
			"PUBLISH messages received from clients per second.",
			"ops",
			g.Q(`sum(rate(emqx_messages_received_total{`+en+`}[$__rate_interval]))`, "")).Thresholds(g.Steps("blue")),
		g.Stat("Messages out",
			"PUBLISH messages sent to clients per second.",
			"ops",
			g.Q(`sum(rate(emqx_messages_sent_total{`+en+`}[$__rate_interval]))`, "")).Thresholds(g.Steps("blue")),
	)

	d.Row("Nodes and connections")
	d.Add(24, 6,
		g.StateTimeline("Node state",
			"Running or stopped, per node, as the cluster reports it.",
			[]g.Mapping{g.ValueMap("0", "stopped", "red", "1", "running", "green")},
			g.Q(`max by (target, node) (emqx_node_running{`+en+`})`, "{{node}}")),
	)
	d.Add(8, 8,
		g.TimeSeries("Live connections per node",
			"Clients connected to each node.",
			"none",
			g.Q(`sum by (node) (emqx_live_connections{`+en+`})`, "{{node}}")).LegendTable("lastNotNull", "max"),
		g.TimeSeries("Share of connections per node",
			"Each node's share of its cluster's live connections. HAProxy's balancing (and a drain) shows here: a drained node's share stops growing and falls as clients reconnect elsewhere.",
			"percentunit",
			g.Q(`sum by (target, node) (emqx_live_connections{`+en+`}) / ignoring (node) group_left sum by (target) (emqx_live_connections{`+sel+`})`, "{{node}}")).
			Stacked(false).MinMax(g.F(0), nil).LegendTable("mean", "lastNotNull"),
		g.TimeSeries("Capacity used per node",
			"The larger use of the node's two hard limits: live connections per file descriptor limit, Erlang processes per process limit. EMQXConnectionsNearLimit drains the node above 80 %.",
			"percentunit",
			g.Q(`max by (node) (`+capacity+`)`, "fds {{node}}"),
			g.Q(`max by (node) (emqx_node_erlang_processes{`+en+`} / emqx_node_erlang_processes_limit{`+en+`})`, "processes {{node}}")).
			ThresholdLines(g.Steps("green", 0.8, "red")).MinMax(g.F(0), g.F(1)),
	)

	d.Row("Messages")
	d.Add(8, 8,
		g.TimeSeries("Messages per node",
			"PUBLISH messages received (above) and sent (below) per second, per node.",
			"ops",
			g.Q(`sum by (node) (rate(emqx_messages_received_total{`+en+`}[$__rate_interval]))`, "in {{node}}"),
			g.Q(`sum by (node) (rate(emqx_messages_sent_total{`+en+`}[$__rate_interval]))`, "out {{node}}")).
			OverrideRegex("out .*", g.NegativeY()),
		g.TimeSeries("Dropped deliveries by reason",
			"Messages dropped on delivery per second: queue full (slow subscribers), QoS 0 dropped from full queues, expired, too large, no-local.",
			"ops",
			g.Q(`sum(rate(emqx_delivery_dropped_queue_full_total{`+en+`}[$__rate_interval]))`, "queue full"),
			g.Q(`sum(rate(emqx_delivery_dropped_qos0_msg_total{`+en+`}[$__rate_interval]))`, "qos0 from full queue"),
			g.Q(`sum(rate(emqx_delivery_dropped_expired_total{`+en+`}[$__rate_interval]))`, "expired"),
			g.Q(`sum(rate(emqx_delivery_dropped_too_large_total{`+en+`}[$__rate_interval]))`, "too large"),
			g.Q(`sum(rate(emqx_delivery_dropped_no_local_total{`+en+`}[$__rate_interval]))`, "no local")).Stacked(false),
		g.TimeSeries("Delivery drop ratio per node",
			"Dropped deliveries as a share of deliveries (sent plus dropped). EMQXMessagesDropped fires above 1 %.",
			"percentunit",
			g.Q(`sum by (node) (rate(emqx_delivery_dropped_total{`+en+`}[$__rate_interval]))
/
(sum by (node) (rate(emqx_messages_sent_total{`+en+`}[$__rate_interval]) + rate(emqx_delivery_dropped_total{`+en+`}[$__rate_interval])) > 0)`, "{{node}}")).
			ThresholdLines(g.Steps("green", 0.01, "red")).MinMax(g.F(0), nil),
	)
	d.Add(12, 8,
		g.TimeSeries("Messages dropped before forwarding",
			"Messages dropped before routing, per second: no subscriber for the topic (often expected), QoS 2 awaiting PUBREL too long.",
			"ops",
			g.Q(`sum(rate(emqx_messages_dropped_no_subscribers_total{`+en+`}[$__rate_interval]))`, "no subscribers"),
			g.Q(`sum(rate(emqx_messages_dropped_await_pubrel_timeout_total{`+en+`}[$__rate_interval]))`, "await PUBREL timeout")),
		g.TimeSeries("Messages by QoS",
			"PUBLISH messages received per second by QoS level.",
			"ops",
			g.Q(`sum(rate(emqx_messages_qos0_received_total{`+en+`}[$__rate_interval]))`, "QoS 0"),
			g.Q(`sum(rate(emqx_messages_qos1_received_total{`+en+`}[$__rate_interval]))`, "QoS 1"),
			g.Q(`sum(rate(emqx_messages_qos2_received_total{`+en+`}[$__rate_interval]))`, "QoS 2")).Stacked(false),
	)

	d.Row("Clients")
	d.Add(8, 8,
		g.TimeSeries("Connects and disconnects",
			"Client CONNECTs received, successful connections and disconnections per second. Connects far above connections: clients retrying.",
			"ops",
			g.Q(`sum(rate(emqx_packets_connect_received_total{`+en+`}[$__rate_interval]))`, "CONNECT received"),
			g.Q(`sum(rate(emqx_client_connected_total{`+en+`}[$__rate_interval]))`, "connected"),
			g.Q(`sum(rate(emqx_client_disconnected_total{`+en+`}[$__rate_interval]))`, "disconnected")),
		g.TimeSeries("Refused connections",
			"CONNACKs with a failure reason and those for failed authentication, per second.",
			"ops",
			g.Q(`sum(rate(emqx_packets_connack_error_total{`+en+`}[$__rate_interval]))`, "CONNACK errors"),
			g.Q(`sum(rate(emqx_packets_connack_auth_error_total{`+en+`}[$__rate_interval]))`, "authentication errors")).
			Override("authentication errors", g.FixedColor(colErr)),
		g.TimeSeries("Subscriptions per node",
			"Subscriptions held on each node (shared ones included).",
			"none",
			g.Q(`sum by (node) (emqx_subscriptions{`+en+`})`, "{{node}}")),
	)

	d.Row("Node resources")
	d.Add(8, 8,
		g.TimeSeries("Load average per node",
			"1-minute load average of each node's host.",
			"short",
			g.Q(`max by (node) (emqx_node_load1{`+en+`})`, "{{node}}")),
		g.TimeSeries("Memory used per node",
			"Memory in use on each node's host as EMQX reports it, against its total.",
			"percentunit",
			g.Q(`max by (node) (emqx_node_memory_used_bytes{`+en+`} / emqx_node_memory_total_bytes{`+en+`})`, "{{node}}")).MinMax(g.F(0), g.F(1)),
		g.TablePanel("Node versions and uptime",
			"EMQX version, edition, role (core, replicant) and uptime of each node.",
			"s",
			g.Table(`max by (node, version, edition, role) (emqx_node_info{`+en+`})`),
			g.Table(`max by (node) (emqx_node_uptime_seconds{`+en+`})`)).
			Transform("merge", map[string]any{}).
			Transform("organize", map[string]any{
				"excludeByName": map[string]any{"Time": true, "Value #A": true},
				"renameByName":  map[string]any{"Value #B": "uptime"},
			}),
	)
	return d
}
