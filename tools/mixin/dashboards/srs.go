package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// SRS is the SRS dashboard: origins against edges, clients by type,
// bandwidth from byte counters, load share per node, streams.
func SRS() (dashboard.Dashboard, error) {
	d := newBoard(UIDSRS, "lbpilot / SRS",
		"SRS origins and edges through lbpilot's srs_* metrics. The role comes from the targets' role label (origin, edge). Bandwidth is the rate of SRS's byte counters; per-stream panels need stream_metrics: true.",
		"srs")
	jobInstanceVars(d, "srs_build_info")
	d.queryVar("role", "Role", "The targets' role label: origin or edge.", `srs_build_info{`+jobInst+`}`, "role", ".*")
	d.queryVar("target", "Node", "SRS nodes of the selected roles.", `srs_build_info{`+jobInst+`,role=~"$role"}`, "target", ".*")
	d.queryVar("vhost", "Vhost", "SRS vhosts.", `srs_vhost_clients{`+sel+`,role=~"$role"}`, "vhost", ".*")
	rebalancerAnnotations(d)

	rs := s(sel, `role=~"$role"`)
	rv := s(rs, `vhost=~"$vhost"`)

	d.row("Cluster")
	d.add(4, 5,
		statPanel("Nodes by role",
			"SRS nodes answering the exporter, by role.",
			"none",
			instant(`count by (role) (srs_build_info{`+rs+`})`, "{{role}}")).Thresholds(steps("blue")).GraphMode(common.BigValueGraphModeNone),
		statPanel("Publishing streams",
			"Streams with an active publisher on origins (and nodes without a role); edges repeat them and are left out.",
			"none",
			q(`sum(srs_vhost_publishing_streams{`+rv+`,role!="edge"})`, "")).Thresholds(steps("blue")),
		statPanel("Encoders",
			"Publishing clients on origins, without the forwards an origin receives from another (flash-publish).",
			"none",
			q(`sum(srs_publishers{`+rv+`,role!="edge",type!="flash-publish"})`, "")).Thresholds(steps("blue")),
		statPanel("Players on edges",
			"Playing clients on edges: the audience served by the edge tier.",
			"none",
			q(`sum(srs_players{`+rv+`,role="edge"})`, "")).Thresholds(steps("blue")),
		statPanel("Bandwidth out",
			"Bytes per second all selected nodes send to their clients.",
			"Bps",
			q(`sum(rate(srs_send_bytes_total{`+rs+`}[$__rate_interval]))`, "")).Thresholds(steps("blue")),
		statPanel("Busiest node CPU",
			"CPU of the busiest selected node, as a share of one core (SRS serves clients on one thread). SRSCPUHigh drains a node above 80 %.",
			"percentunit",
			q(`max(srs_cpu_ratio{`+rs+`})`, "")).Thresholds(steps("green", 0.8, "orange", 0.95, "red")),
	)

	d.row("Origin vs edge")
	d.add(8, 8,
		timeSeries("Clients by role",
			"Clients per role: on origins, publishers, forwards, local players and the edges' pull connections; on edges, players.",
			"none",
			q(`sum by (role) (srs_clients{`+rs+`})`, "{{role}}")),
		timeSeries("Bandwidth out by role",
			"Bytes per second sent to clients, by role (rate of srs_send_bytes_total; SRS updates it every 3 s). Origin traffic to edges counts on the origins.",
			"Bps",
			q(`sum by (role) (rate(srs_send_bytes_total{`+rs+`}[$__rate_interval]))`, "{{role}}")),
		timeSeries("Bandwidth in by role",
			"Bytes per second received from clients, by role: publishers' uploads on origins. An edge's ingest from its origin is not in this counter.",
			"Bps",
			q(`sum by (role) (rate(srs_receive_bytes_total{`+rs+`}[$__rate_interval]))`, "{{role}}")),
	)
	d.add(12, 8,
		timeSeries("Edge ingest health",
			"Per edge and vhost: clients (above) and ingested streams (below). Clients with no ingested stream while origins publish is SRSEdgeNoIngest, which drains the edge.",
			"none",
			q(`sum by (target, vhost) (srs_vhost_clients{`+rv+`,role="edge"})`, "clients {{target}} {{vhost}}"),
			q(`sum by (target, vhost) (srs_vhost_publishing_streams{`+rv+`,role="edge"})`, "ingesting {{target}} {{vhost}}")).
			OverrideByRegexp("ingesting .*", negativeY()),
		timeSeries("Streams per node",
			"Stream entries per node, by role (an entry can outlive its publisher while HLS clients remain).",
			"none",
			q(`sum by (target, role) (srs_streams{`+rs+`})`, "{{target}} ({{role}})")),
	)

	d.row("Clients by type")
	d.add(12, 8,
		timeSeries("Players by type",
			"Playing clients by SRS type: rtmp-play, flv-play, hls-play, rtc-play, srt-play (SRS 4 reports FLV and HLS as rtmp-play). An edge's pull is an rtmp-play on its origin.",
			"none",
			q(`sum by (type) (srs_players{`+rv+`})`, "{{type}}")).Stacking(stack()).FillOpacity(60).LineWidth(0),
		timeSeries("Publishers by type",
			"Publishing clients by SRS type: fmle-publish (RTMP encoders), flash-publish (forwards from another origin), haivision-publish and srt-publish (SRT), rtc-publish (WebRTC).",
			"none",
			q(`sum by (type) (srs_publishers{`+rv+`})`, "{{type}}")).Stacking(stack()).FillOpacity(60).LineWidth(0),
	)

	d.row("Load share per node")
	d.add(12, 8,
		timeSeries("Share of clients per node within its role",
			"Each node's share of the clients of its role (origins among origins, edges among edges). A drained edge's share falls as its players leave and new ones go elsewhere.",
			"percentunit",
			q(`sum by (target, role) (srs_clients{`+rs+`}) / ignoring (target) group_left sum by (role) (srs_clients{`+rs+`})`, "{{target}} ({{role}})")).
			Min(0).Legend(legendTable("mean", "lastNotNull")),
		timeSeries("Bandwidth out per node",
			"Bytes per second each node sends to its clients.",
			"Bps",
			q(`sum by (target) (rate(srs_send_bytes_total{`+rs+`}[$__rate_interval]))`, "{{target}}")).
			Legend(legendTable("mean", "max")),
	)
	d.add(8, 8,
		timeSeries("CPU per node",
			"SRS process CPU as a share of one core; SRSCPUHigh drains a node above 80 % for 5 minutes.",
			"percentunit",
			q(`max by (target) (srs_cpu_ratio{`+rs+`})`, "{{target}}")).
			Thresholds(steps("green", 0.8, "red")).ThresholdsStyle(dashed()).Min(0),
		timeSeries("Memory per node",
			"Resident memory of the SRS process.",
			"bytes",
			q(`max by (target) (srs_memory_bytes{`+rs+`})`, "{{target}}")),
		timeSeries("Host load per node",
			"1-minute load average of each node's host divided by its CPUs.",
			"percentunit",
			q(`max by (target) (srs_host_load1{`+rs+`} / srs_host_cpus{`+rs+`})`, "{{target}}")),
	)

	d.row("Streams (stream_metrics: true)")
	d.add(12, 8,
		barGauge("Streams with most clients",
			"Clients of the 10 busiest streams, publishers and edge pulls included, across the selected nodes.",
			"none",
			instant(`topk(10, sum by (vhost, app, stream) (srs_stream_clients{`+rv+`}))`, "{{app}}/{{stream}}")).
			Thresholds(steps("blue")),
		timeSeries("Ingest bitrate of the busiest streams",
			"Bytes per second received by the 10 most fed streams on origins (their publishers' uploads). A flat zero with a publisher is SRSStreamStalled.",
			"Bps",
			q(`topk(10, sum by (vhost, app, stream) (rate(srs_stream_receive_bytes_total{`+rv+`,role!="edge"}[$__rate_interval])))`, "{{app}}/{{stream}}")),
	)
	d.add(12, 8,
		stateTimeline("Publishing state on origins",
			"Whether each stream on the origins has an active publisher.",
			[]dashboard.ValueMapping{valueMap("0", "no publisher", "red", "1", "publishing", "green")},
			q(`max by (app, stream) (srs_stream_publishing{`+rv+`,role!="edge"})`, "{{app}}/{{stream}}")),
		tablePanel("Stream codecs",
			"Codec, profile and resolution of each stream's tracks.",
			"none",
			tableQuery(`max by (vhost, app, stream, video_codec, video_profile, width, height, audio_codec, sample_rate) (srs_stream_codec_info{`+rv+`})`)).
			WithTransformation(transform("organize", map[string]any{"excludeByName": map[string]any{"Time": true, "Value": true}})),
	)

	d.row("Nodes")
	d.add(24, 7,
		tablePanel("SRS versions and uptime",
			"Version, release name and uptime of each node; the service id changes on every restart (SRS 5.0.135+).",
			"s",
			tableQuery(`max by (target, role, version, code, service) (srs_build_info{`+rs+`})`),
			tableQuery(`max by (target) (srs_uptime_seconds{`+rs+`})`)).
			WithTransformation(transform("merge", map[string]any{})).
			WithTransformation(transform("organize", map[string]any{
				"excludeByName": map[string]any{"Time": true, "Value #A": true},
				"renameByName":  map[string]any{"Value #B": "uptime"},
			})),
	)
	return d.build()
}
