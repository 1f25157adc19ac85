package dashboards

import (
	g "github.com/lbpilot/lbpilot/tools/mixin/grafana"
)

// WCS is the Flashphoner WCS dashboard: load against the agent-check
// limits, load share, streams, connections, resources.
func WCS() *g.Dashboard {
	d := g.New(UIDWCS, "lbpilot / WCS",
		"Flashphoner Web Call Server nodes through lbpilot's wcs_* metrics: load against the limits of the WCS HAProxy agent-check (the alert thresholds are the dashed lines), load share per node, streams by protocol, resources.",
		"wcs")
	jobInstanceVars(d, "wcs_connections")
	targetVar(d, "Node", "wcs_connections")
	rebalancerAnnotations(d)

	d.Row("Cluster")
	d.Add(4, 5,
		g.Stat("Nodes reporting",
			"WCS nodes whose statistics page answered the last scrape.",
			"none",
			g.Instant(`count(wcs_connections{`+sel+`})`, "")).Thresholds(g.Steps("blue")).NoGraph(),
		g.Stat("Publishers",
			"Streams published to the selected nodes (WebRTC, RTMP, RTSP), as the agent-check counts them.",
			"none",
			g.Q(`sum(wcs_publishers{`+sel+`})`, "")).Thresholds(g.Steps("blue")),
		g.Stat("Subscribers",
			"Streams played from the selected nodes, as the agent-check counts them.",
			"none",
			g.Q(`sum(wcs_subscribers{`+sel+`})`, "")).Thresholds(g.Steps("blue")),
		g.Stat("Connections",
			"Client connections on the selected nodes, all transports.",
			"none",
			g.Q(`sum(wcs_connections{`+sel+`})`, "")).Thresholds(g.Steps("blue")),
		g.Stat("Degraded streams",
			"Streams the nodes cannot keep up with (growing processing queues).",
			"none",
			g.Q(`sum(wcs_degraded_streams{`+sel+`})`, "")).Thresholds(g.Steps("green", 1, "orange")),
		g.Stat("Highest CPU",
			"CPU of the busiest selected node. WCSCPUHigh drains a node above 80 %.",
			"percentunit",
			g.Q(`max(wcs_cpu_usage_ratio{`+sel+`})`, "")).
			Thresholds(g.Steps("green", 0.8, "orange", 0.9, "red")).MinMax(g.F(0), g.F(1)),
	)

	d.Row("Load against the agent-check limits")
	d.Add(12, 8,
		g.TimeSeries("Publishers per node",
			"Published streams per node. Dashed lines: 80 (WCSPublishersNearLimit drains the node) and 100 (the agent-check's MAX_PUBLISHERS).",
			"none",
			g.Q(`sum by (target) (wcs_publishers{`+sel+`})`, "{{target}}")).
			ThresholdLines(g.Steps("green", 80, "orange", 100, "red")),
		g.TimeSeries("Subscribers per node",
			"Played streams per node. Dashed lines: 80 (WCSSubscribersNearLimit drains the node) and 100 (the agent-check's MAX_SUBSCRIBERS).",
			"none",
			g.Q(`sum by (target) (wcs_subscribers{`+sel+`})`, "{{target}}")).
			ThresholdLines(g.Steps("green", 80, "orange", 100, "red")),
	)
	d.Add(12, 8,
		g.TimeSeries("CPU per node",
			"CPU use as the WCS console shows it. Dashed lines: 80 % (WCSCPUHigh drains the node) and 90 % (the agent-check's CPU_MAX_LOAD).",
			"percentunit",
			g.Q(`max by (target) (wcs_cpu_usage_ratio{`+sel+`})`, "{{target}}")).
			ThresholdLines(g.Steps("green", 0.8, "orange", 0.9, "red")).MinMax(g.F(0), g.F(1)),
		g.TimeSeries("Bandwidth per node",
			"Channel bandwidth WCS measures, in (above) and out (below), per node; only with global_bandwidth_check_enabled. WCSBandwidthNearLimit drains a node at 80 Mbit/s (10 MB/s) either way.",
			"Bps",
			g.Q(`sum by (target) (wcs_bandwidth_bytes_per_second{`+sel+`,direction="in"})`, "in {{target}}"),
			g.Q(`sum by (target) (wcs_bandwidth_bytes_per_second{`+sel+`,direction="out"})`, "out {{target}}")).
			OverrideRegex("out .*", g.NegativeY()),
	)

	d.Row("Load share per node")
	d.Add(12, 8,
		g.TimeSeries("Share of publishers per node",
			"Each node's share of the cluster's published streams. A drained node's share stops growing while the others take the new publishers.",
			"percentunit",
			g.Q(`sum by (target) (wcs_publishers{`+sel+`}) / ignoring (target) group_left sum(wcs_publishers{`+sel+`})`, "{{target}}")).
			Stacked(false).MinMax(g.F(0), nil).LegendTable("mean", "lastNotNull"),
		g.TimeSeries("Share of subscribers per node",
			"Each node's share of the cluster's played streams.",
			"percentunit",
			g.Q(`sum by (target) (wcs_subscribers{`+sel+`}) / ignoring (target) group_left sum(wcs_subscribers{`+sel+`})`, "{{target}}")).
			Stacked(false).MinMax(g.F(0), nil).LegendTable("mean", "lastNotNull"),
	)

	d.Row("Streams and connections")
	d.Add(8, 8,
		g.TimeSeries("Published streams by protocol",
			"Streams coming into the selected nodes, by protocol.",
			"none",
			g.Q(`sum by (protocol) (wcs_streams{`+sel+`,direction="in"})`, "{{protocol}}")).Stacked(false),
		g.TimeSeries("Played streams by protocol",
			"Streams going out of the selected nodes, by protocol (rtmp_client: WCS re-publishing to RTMP servers).",
			"none",
			g.Q(`sum by (protocol) (wcs_streams{`+sel+`,direction="out"})`, "{{protocol}}")).Stacked(false),
		g.TimeSeries("Connections by transport",
			"Client connections by transport (HLS over HTTP/2 shares connections, so it can be lower than HLS viewers).",
			"none",
			g.Q(`sum by (transport) (wcs_transport_connections{`+sel+`})`, "{{transport}}")).Stacked(false),
	)
	d.Add(12, 8,
		g.TimeSeries("Degraded streams per node",
			"Share of each node's streams that are degraded. WCSDegradedStreams drains a node above 5 %.",
			"percentunit",
			g.Q(`max by (target) (wcs_degraded_streams_ratio{`+sel+`})`, "{{target}}")).
			ThresholdLines(g.Steps("green", 0.05, "red")).MinMax(g.F(0), nil),
		g.BarGauge("Most watched streams",
			"Viewers of the 10 most watched streams (stream_metrics: true on the module).",
			"none",
			g.Instant(`topk(10, sum by (stream) (wcs_stream_viewers{`+sel+`}))`, "{{stream}}")).
			Thresholds(g.Steps("blue")),
	)

	d.Row("Resources")
	d.Add(8, 8,
		g.TimeSeries("Free media ports per node",
			"Share of each node's media (RTP) port pool that is free. WCSMediaPortsLow drains a node under 10 %.",
			"percentunit",
			g.Q(`sum by (target) (wcs_ports{`+sel+`,pool="media",state="free"}) / sum by (target) (wcs_ports{`+sel+`,pool="media"})`, "{{target}}")).
			ThresholdLines(g.Steps("red", 0.1, "green")).MinMax(g.F(0), g.F(1)),
		g.TimeSeries("Native codec resources",
			"Native encoders and decoders in use (transcoding), whole selection.",
			"none",
			g.Q(`sum by (resource) (wcs_native_resources{`+sel+`})`, "{{resource}}")),
		g.TimeSeries("JVM threads per node",
			"Live JVM threads and, below the axis, blocked ones: many blocked threads precede stalls.",
			"none",
			g.Q(`sum by (target) (wcs_jvm_threads{`+sel+`})`, "live {{target}}"),
			g.Q(`sum by (target) (wcs_jvm_blocked_threads{`+sel+`})`, "blocked {{target}}")).
			OverrideRegex("blocked .*", g.NegativeY()),
	)
	d.Add(12, 8,
		g.TimeSeries("Host memory used per node",
			"Host RAM in use (total minus free) as the JVM sees it.",
			"bytes",
			g.Q(`sum by (target) (wcs_host_memory_total_bytes{`+sel+`} - wcs_host_memory_free_bytes{`+sel+`})`, "{{target}}")),
		g.TimeSeries("Process and host CPU per node",
			"CPU load of the WCS JVM process and of the whole host, 0..1 of all CPUs.",
			"percentunit",
			g.Q(`max by (target) (wcs_process_cpu_load_ratio{`+sel+`})`, "process {{target}}"),
			g.Q(`max by (target) (wcs_host_cpu_load_ratio{`+sel+`})`, "host {{target}}")).MinMax(g.F(0), g.F(1)),
	)
	return d
}
