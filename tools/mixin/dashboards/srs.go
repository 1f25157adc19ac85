package dashboards

import (
	g "github.com/lbpilot/lbpilot/tools/mixin/grafana"
)

// SRS is the SRS dashboard: origins against edges, clients by type,
// bandwidth from byte counters, load share per node, streams.
func SRS() *g.Dashboard {
	d := g.New(UIDSRS, "lbpilot / SRS",
		"SRS origins and edges through lbpilot's srs_* metrics. The role comes from the targets' role label (origin, edge). Bandwidth is the rate of SRS's byte counters; per-stream panels need stream_metrics: true.",
		"srs")
	jobInstanceVars(d, "srs_build_info")
	d.QueryVar("role", "Role", "The targets' role label: origin or edge.", `srs_build_info{`+jobInst+`}`, "role", ".*")
	d.QueryVar("target", "Node", "SRS nodes of the selected roles.", `srs_build_info{`+jobInst+`,role=~"$role"}`, "target", ".*")
	d.QueryVar("vhost", "Vhost", "SRS vhosts.", `srs_vhost_clients{`+sel+`,role=~"$role"}`, "vhost", ".*")
	rebalancerAnnotations(d)

	rs := s(sel, `role=~"$role"`)
	rv := s(rs, `vhost=~"$vhost"`)

	d.Row("Cluster")
	d.Add(4, 5,
		g.Stat("Nodes by role",
			"SRS nodes answering the exporter, by role.",
			"none",
			g.Instant(`count by (role) (srs_build_info{`+rs+`})`, "{{role}}")).Thresholds(g.Steps("blue")).NoGraph(),
		g.Stat("Publishing streams",
			"Streams with an active publisher on origins (and nodes without a role); edges repeat them and are left out.",
			"none",
			g.Q(`sum(srs_vhost_publishing_streams{`+rv+`,role!="edge"})`, "")).Thresholds(g.Steps("blue")),
		g.Stat("Encoders",
			"Publishing clients on origins, without the forwards an origin receives from another (flash-publish).",
			"none",
			g.Q(`sum(srs_publishers{`+rv+`,role!="edge",type!="flash-publish"})`, "")).Thresholds(g.Steps("blue")),
		g.Stat("Players on edges",
			"Playing clients on edges: the audience served by the edge tier.",
			"none",
			g.Q(`sum(srs_players{`+rv+`,role="edge"})`, "")).Thresholds(g.Steps("blue")),
		g.Stat("Bandwidth out",
			"Bytes per second all selected nodes send to their clients.",
			"Bps",
			g.Q(`sum(rate(srs_send_bytes_total{`+rs+`}[$__rate_interval]))`, "")).Thresholds(g.Steps("blue")),
		g.Stat("Busiest node CPU",
			"CPU of the busiest selected node, as a share of one core (SRS serves clients on one thread). SRSCPUHigh drains a node above 80 %.",
			"percentunit",
			g.Q(`max(srs_cpu_ratio{`+rs+`})`, "")).Thresholds(g.Steps("green", 0.8, "orange", 0.95, "red")),
	)

	d.Row("Origin vs edge")
	d.Add(8, 8,
		g.TimeSeries("Clients by role",
			"Clients per role: on origins, publishers, forwards, local players and the edges' pull connections; on edges, players.",
			"none",
			g.Q(`sum by (role) (srs_clients{`+rs+`})`, "{{role}}")),
		g.TimeSeries("Bandwidth out by role",
			"Bytes per second sent to clients, by role (rate of srs_send_bytes_total; SRS updates it every 3 s). Origin traffic to edges counts on the origins.",
			"Bps",
			g.Q(`sum by (role) (rate(srs_send_bytes_total{`+rs+`}[$__rate_interval]))`, "{{role}}")),
		g.TimeSeries("Bandwidth in by role",
			"Bytes per second received from clients, by role: publishers' uploads on origins. An edge's ingest from its origin is not in this counter.",
			"Bps",
			g.Q(`sum by (role) (rate(srs_receive_bytes_total{`+rs+`}[$__rate_interval]))`, "{{role}}")),
	)
	d.Add(12, 8,
		g.TimeSeries("Edge ingest health",
			"Per edge and vhost: clients (above) and ingested streams (below). Clients with no ingested stream while origins publish is SRSEdgeNoIngest, which drains the edge.",
			"none",
			g.Q(`sum by (target, vhost) (srs_vhost_clients{`+rv+`,role="edge"})`, "clients {{target}} {{vhost}}"),
			g.Q(`sum by (target, vhost) (srs_vhost_publishing_streams{`+rv+`,role="edge"})`, "ingesting {{target}} {{vhost}}")).
			OverrideRegex("ingesting .*", g.NegativeY()),
		g.TimeSeries("Streams per node",
			"Stream entries per node, by role (an entry can outlive its publisher while HLS clients remain).",
			"none",
			g.Q(`sum by (target, role) (srs_streams{`+rs+`})`, "{{target}} ({{role}})")),
	)

	d.Row("Clients by type")
	d.Add(12, 8,
		g.TimeSeries("Players by type",
			"Playing clients by SRS type: rtmp-play, flv-play, hls-play, rtc-play, srt-play (SRS 4 reports FLV and HLS as rtmp-play). An edge's pull is an rtmp-play on its origin.",
			"none",
			g.Q(`sum by (type) (srs_players{`+rv+`})`, "{{type}}")).Stacked(false),
		g.TimeSeries("Publishers by type",
			"Publishing clients by SRS type: fmle-publish (RTMP encoders), flash-publish (forwards from another origin), haivision-publish and srt-publish (SRT), rtc-publish (WebRTC).",
			"none",
			g.Q(`sum by (type) (srs_publishers{`+rv+`})`, "{{type}}")).Stacked(false),
	)

	d.Row("Load share per node")
	d.Add(12, 8,
		g.TimeSeries("Share of clients per node within its role",
			"Each node's share of the clients of its role (origins among origins, edges among edges). A drained edge's share falls as its players leave and new ones go elsewhere.",
			"percentunit",
			g.Q(`sum by (target, role) (srs_clients{`+rs+`}) / ignoring (target) group_left sum by (role) (srs_clients{`+rs+`})`, "{{target}} ({{role}})")).
			MinMax(g.F(0), nil).LegendTable("mean", "lastNotNull"),
		g.TimeSeries("Bandwidth out per node",
			"Bytes per second each node sends to its clients.",
			"Bps",
			g.Q(`sum by (target) (rate(srs_send_bytes_total{`+rs+`}[$__rate_interval]))`, "{{target}}")).
			LegendTable("mean", "max"),
	)
	d.Add(8, 8,
		g.TimeSeries("CPU per node",
			"SRS process CPU as a share of one core; SRSCPUHigh drains a node above 80 % for 5 minutes.",
			"percentunit",
			g.Q(`max by (target) (srs_cpu_ratio{`+rs+`})`, "{{target}}")).
			ThresholdLines(g.Steps("green", 0.8, "red")).MinMax(g.F(0), nil),
		g.TimeSeries("Memory per node",
			"Resident memory of the SRS process.",
			"bytes",
			g.Q(`max by (target) (srs_memory_bytes{`+rs+`})`, "{{target}}")),
		g.TimeSeries("Host load per node",
			"1-minute load average of each node's host divided by its CPUs.",
			"percentunit",
			g.Q(`max by (target) (srs_host_load1{`+rs+`} / srs_host_cpus{`+rs+`})`, "{{target}}")),
	)

	d.Row("Streams (stream_metrics: true)")
	d.Add(12, 8,
		g.BarGauge("Streams with most clients",
			"Clients of the 10 busiest streams, publishers and edge pulls included, across the selected nodes.",
			"none",
			g.Instant(`topk(10, sum by (vhost, app, stream) (srs_stream_clients{`+rv+`}))`, "{{app}}/{{stream}}")).
			Thresholds(g.Steps("blue")),
		g.TimeSeries("Ingest bitrate of the busiest streams",
			"Bytes per second received by the 10 most fed streams on origins (their publishers' uploads). A flat zero with a publisher is SRSStreamStalled.",
			"Bps",
			g.Q(`topk(10, sum by (vhost, app, stream) (rate(srs_stream_receive_bytes_total{`+rv+`,role!="edge"}[$__rate_interval])))`, "{{app}}/{{stream}}")),
	)
	d.Add(12, 8,
		g.StateTimeline("Publishing state on origins",
			"Whether each stream on the origins has an active publisher.",
			[]g.Mapping{g.ValueMap("0", "no publisher", "red", "1", "publishing", "green")},
			g.Q(`max by (app, stream) (srs_stream_publishing{`+rv+`,role!="edge"})`, "{{app}}/{{stream}}")),
		g.TablePanel("Stream codecs",
			"Codec, profile and resolution of each stream's tracks.",
			"none",
			g.Table(`max by (vhost, app, stream, video_codec, video_profile, width, height, audio_codec, sample_rate) (srs_stream_codec_info{`+rv+`})`)).
			Transform("organize", map[string]any{"excludeByName": map[string]any{"Time": true, "Value": true}}),
	)

	d.Row("Nodes")
	d.Add(24, 7,
		g.TablePanel("SRS versions and uptime",
			"Version, release name and uptime of each node; the service id changes on every restart (SRS 5.0.135+).",
			"s",
			g.Table(`max by (target, role, version, code, service) (srs_build_info{`+rs+`})`),
			g.Table(`max by (target) (srs_uptime_seconds{`+rs+`})`)).
			Transform("merge", map[string]any{}).
			Transform("organize", map[string]any{
				"excludeByName": map[string]any{"Time": true, "Value #A": true},
				"renameByName":  map[string]any{"Value #B": "uptime"},
			}),
	)
	return d
}
