package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// WCS is the Flashphoner WCS dashboard: load against the agent-check
// limits, load share, streams, connections, resources.
func WCS() (dashboard.Dashboard, error) {
	d := newBoard(UIDWCS, "lbpilot / WCS",
		"Flashphoner Web Call Server nodes through lbpilot's wcs_* metrics: load against the limits of the WCS HAProxy agent-check (the alert thresholds are the dashed lines), load share per node, streams by protocol, resources.",
		"wcs")
	jobInstanceVars(d, "wcs_connections")
	targetVar(d, "Node", "wcs_connections")
	rebalancerAnnotations(d)

	d.row("Cluster")
	d.add(4, 5,
		statPanel("Nodes reporting",
			"WCS nodes whose statistics page answered the last scrape.",
			"none",
			instant(`count(wcs_connections{`+sel+`})`, "")).Thresholds(steps("blue")).GraphMode(common.BigValueGraphModeNone),
		statPanel("Publishers",
			"Streams published to the selected nodes (WebRTC, RTMP, RTSP), as the agent-check counts them.",
			"none",
			q(`sum(wcs_publishers{`+sel+`})`, "")).Thresholds(steps("blue")),
		statPanel("Subscribers",
			"Streams played from the selected nodes, as the agent-check counts them.",
			"none",
			q(`sum(wcs_subscribers{`+sel+`})`, "")).Thresholds(steps("blue")),
		statPanel("Connections",
			"Client connections on the selected nodes, all transports.",
			"none",
			q(`sum(wcs_connections{`+sel+`})`, "")).Thresholds(steps("blue")),
		statPanel("Degraded streams",
			"Streams the nodes cannot keep up with (growing processing queues).",
			"none",
			q(`sum(wcs_degraded_streams{`+sel+`})`, "")).Thresholds(steps("green", 1, "orange")),
		statPanel("Highest CPU",
			"CPU of the busiest selected node. WCSCPUHigh drains a node above 80 %.",
			"percentunit",
			q(`max(wcs_cpu_usage_ratio{`+sel+`})`, "")).
			Thresholds(steps("green", 0.8, "orange", 0.9, "red")).Min(0).Max(1),
	)

	d.row("Load against the agent-check limits")
	d.add(12, 8,
		timeSeries("Publishers per node",
			"Published streams per node. Dashed lines: 80 (WCSPublishersNearLimit drains the node) and 100 (the agent-check's MAX_PUBLISHERS).",
			"none",
			q(`sum by (target) (wcs_publishers{`+sel+`})`, "{{target}}")).
			Thresholds(steps("green", 80, "orange", 100, "red")).ThresholdsStyle(dashed()),
		timeSeries("Subscribers per node",
			"Played streams per node. Dashed lines: 80 (WCSSubscribersNearLimit drains the node) and 100 (the agent-check's MAX_SUBSCRIBERS).",
			"none",
			q(`sum by (target) (wcs_subscribers{`+sel+`})`, "{{target}}")).
			Thresholds(steps("green", 80, "orange", 100, "red")).ThresholdsStyle(dashed()),
	)
	d.add(12, 8,
		timeSeries("CPU per node",
			"CPU use as the WCS console shows it. Dashed lines: 80 % (WCSCPUHigh drains the node) and 90 % (the agent-check's CPU_MAX_LOAD).",
			"percentunit",
			q(`max by (target) (wcs_cpu_usage_ratio{`+sel+`})`, "{{target}}")).
			Thresholds(steps("green", 0.8, "orange", 0.9, "red")).ThresholdsStyle(dashed()).Min(0).Max(1),
		timeSeries("Bandwidth per node",
			"Channel bandwidth WCS measures, in (above) and out (below), per node; only with global_bandwidth_check_enabled. WCSBandwidthNearLimit drains a node at 80 Mbit/s (10 MB/s) either way.",
			"Bps",
			q(`sum by (target) (wcs_bandwidth_bytes_per_second{`+sel+`,direction="in"})`, "in {{target}}"),
			q(`sum by (target) (wcs_bandwidth_bytes_per_second{`+sel+`,direction="out"})`, "out {{target}}")).
			OverrideByRegexp("out .*", negativeY()),
	)

	d.row("Load share per node")
	d.add(12, 8,
		timeSeries("Share of publishers per node",
			"Each node's share of the cluster's published streams. A drained node's share stops growing while the others take the new publishers.",
			"percentunit",
			q(`sum by (target) (wcs_publishers{`+sel+`}) / ignoring (target) group_left sum(wcs_publishers{`+sel+`})`, "{{target}}")).
			Stacking(stack()).FillOpacity(60).LineWidth(0).Min(0).Legend(legendTable("mean", "lastNotNull")),
		timeSeries("Share of subscribers per node",
			"Each node's share of the cluster's played streams.",
			"percentunit",
			q(`sum by (target) (wcs_subscribers{`+sel+`}) / ignoring (target) group_left sum(wcs_subscribers{`+sel+`})`, "{{target}}")).
			Stacking(stack()).FillOpacity(60).LineWidth(0).Min(0).Legend(legendTable("mean", "lastNotNull")),
	)

	d.row("Streams and connections")
	d.add(8, 8,
		timeSeries("Published streams by protocol",
			"Streams coming into the selected nodes, by protocol.",
			"none",
			q(`sum by (protocol) (wcs_streams{`+sel+`,direction="in"})`, "{{protocol}}")).Stacking(stack()).FillOpacity(60).LineWidth(0),
		timeSeries("Played streams by protocol",
			"Streams going out of the selected nodes, by protocol (rtmp_client: WCS re-publishing to RTMP servers).",
			"none",
			q(`sum by (protocol) (wcs_streams{`+sel+`,direction="out"})`, "{{protocol}}")).Stacking(stack()).FillOpacity(60).LineWidth(0),
		timeSeries("Connections by transport",
			"Client connections by transport (HLS over HTTP/2 shares connections, so it can be lower than HLS viewers).",
			"none",
			q(`sum by (transport) (wcs_transport_connections{`+sel+`})`, "{{transport}}")).Stacking(stack()).FillOpacity(60).LineWidth(0),
	)
	d.add(12, 8,
		timeSeries("Degraded streams per node",
			"Share of each node's streams that are degraded. WCSDegradedStreams drains a node above 5 %.",
			"percentunit",
			q(`max by (target) (wcs_degraded_streams_ratio{`+sel+`})`, "{{target}}")).
			Thresholds(steps("green", 0.05, "red")).ThresholdsStyle(dashed()).Min(0),
		barGauge("Most watched streams",
			"Viewers of the 10 most watched streams (stream_metrics: true on the module).",
			"none",
			instant(`topk(10, sum by (stream) (wcs_stream_viewers{`+sel+`}))`, "{{stream}}")).
			Thresholds(steps("blue")),
	)

	d.row("Resources")
	d.add(8, 8,
		timeSeries("Free media ports per node",
			"Share of each node's media (RTP) port pool that is free. WCSMediaPortsLow drains a node under 10 %.",
			"percentunit",
			q(`sum by (target) (wcs_ports{`+sel+`,pool="media",state="free"}) / sum by (target) (wcs_ports{`+sel+`,pool="media"})`, "{{target}}")).
			Thresholds(steps("red", 0.1, "green")).ThresholdsStyle(dashed()).Min(0).Max(1),
		timeSeries("Native codec resources",
			"Native encoders and decoders in use (transcoding), whole selection.",
			"none",
			q(`sum by (resource) (wcs_native_resources{`+sel+`})`, "{{resource}}")),
		timeSeries("JVM threads per node",
			"Live JVM threads and, below the axis, blocked ones: many blocked threads precede stalls.",
			"none",
			q(`sum by (target) (wcs_jvm_threads{`+sel+`})`, "live {{target}}"),
			q(`sum by (target) (wcs_jvm_blocked_threads{`+sel+`})`, "blocked {{target}}")).
			OverrideByRegexp("blocked .*", negativeY()),
	)
	d.add(12, 8,
		timeSeries("Host memory used per node",
			"Host RAM in use (total minus free) as the JVM sees it.",
			"bytes",
			q(`sum by (target) (wcs_host_memory_total_bytes{`+sel+`} - wcs_host_memory_free_bytes{`+sel+`})`, "{{target}}")),
		timeSeries("Process and host CPU per node",
			"CPU load of the WCS JVM process and of the whole host, 0..1 of all CPUs.",
			"percentunit",
			q(`max by (target) (wcs_process_cpu_load_ratio{`+sel+`})`, "process {{target}}"),
			q(`max by (target) (wcs_host_cpu_load_ratio{`+sel+`})`, "host {{target}}")).Min(0).Max(1),
	)
	return d.build()
}
