package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// lbpilotAlerts selects the firing alerts of alerts/*.rules.yml.
const lbpilotAlerts = `ALERTS{alertstate="firing",alertname=~"(HAProxy|WCS|SRS|EMQX|Lbpilot|Probe|HLS|Cluster).+"}`

// Overview is the cluster overview: health on top, then load share per
// server, then traffic per service.
func Overview() (dashboard.Dashboard, error) {
	d := newBoard(UIDOverview, "lbpilot / Cluster overview",
		"Health of the HAProxy-fronted WCS, SRS and EMQX cluster and what lbpilot's rebalancer did about it. Start here; the links lead to the per-service dashboards.",
		"overview")
	// Every lbpilot job: exporters (/metrics and /probe) and rebalancers.
	jobInstanceVars(d, `{__name__=~"lbpilot_up|lbpilot_rebalancer_last_reconcile_success"}`)
	rebalancerAnnotations(d)

	d.row("Health")
	d.add(4, 5,
		statPanel("Backends without a usable server",
			"HAProxy backends that have servers but none of them UP: their clients get 503 or wait in the queue. Alert: HAProxyBackendNoUsableServer.",
			"none",
			instant(`count(
  max without (state) (haproxy_backend_agg_server_status{`+jobInst+`,state="UP"}) == 0
  and
  sum without (state) (haproxy_backend_agg_server_status{`+jobInst+`}) > 0
) or vector(0)`, "")).
			Thresholds(steps("green", 1, "red")).ColorMode(common.BigValueColorModeBackground).GraphMode(common.BigValueGraphModeNone).Links(linkTo("HAProxy", UIDHAProxy)),
		statPanel("Servers not UP",
			"HAProxy servers in DOWN, MAINT, DRAIN or NOLB, by state. DRAIN and MAINT are often the rebalancer's doing (see the servers held below).",
			"none",
			instant(`sum by (state) (haproxy_backend_agg_server_status{`+jobInst+`,state!="UP"})`, "{{state}}")).
			Thresholds(steps("green", 1, "orange")).GraphMode(common.BigValueGraphModeNone).Links(linkTo("HAProxy", UIDHAProxy)),
		statPanel("Targets down",
			"Upstreams (HAProxy, WCS, SRS, EMQX) the exporter cannot scrape now (lbpilot_up 0). Alert: LbpilotTargetDown.",
			"none",
			instant(`count(lbpilot_up{`+jobInst+`} == 0) or vector(0)`, "")).
			Thresholds(steps("green", 1, "red")).ColorMode(common.BigValueColorModeBackground).GraphMode(common.BigValueGraphModeNone),
		statPanel("Targets up",
			"Upstreams scraped successfully now, by module.",
			"none",
			instant(`sum by (module) (lbpilot_up{`+jobInst+`})`, "{{module}}")).
			Thresholds(steps("blue")).GraphMode(common.BigValueGraphModeNone),
		statPanel("Alerts firing",
			"lbpilot's alerts firing now, by severity (Prometheus's ALERTS series). Those with lbpilot_action also reach the rebalancer.",
			"none",
			instant(`count by (severity) (`+lbpilotAlerts+`) or vector(0)`, "{{severity}}")).
			Thresholds(steps("green", 1, "orange")).GraphMode(common.BigValueGraphModeNone),
		statPanel("Servers held by the rebalancer",
			"HAProxy servers the rebalancer has drained, put in maintenance or re-weighted and will restore, by state.",
			"none",
			instant(`sum by (state) (lbpilot_rebalancer_owned_servers{`+jobInst+`}) or vector(0)`, "{{state}}")).
			Thresholds(steps("green", 1, "orange")).GraphMode(common.BigValueGraphModeNone).Links(linkTo("Rebalancer", UIDRebalancer)),
	)
	d.add(8, 8,
		barGauge("Usable servers per backend",
			"Share of each backend's servers that are UP. Red under 50 %: the backend runs on half its capacity or less.",
			"percentunit",
			instant(`sum by (target, proxy) (haproxy_backend_agg_server_status{`+jobInst+`,state="UP"})
/
(sum by (target, proxy) (haproxy_backend_agg_server_status{`+jobInst+`}) > 0)`, "{{target}} {{proxy}}")).
			Min(0).Max(1).Thresholds(steps("red", 0.5, "orange", 0.75, "green")),
		timeSeries("Rebalancer actions",
			"Runtime changes the rebalancer made, per second, by action and result (success, error, mismatch after read-back, refused, dry_run).",
			"ops",
			q(`sum by (action, result) (rate(lbpilot_rebalancer_actions_total{`+jobInst+`}[$__rate_interval])) > 0`, "{{action}} {{result}}")).
			OverrideByRegexp(".*(error|mismatch).*", fixedColor(colErr)),
		timeSeries("Alerts firing",
			"lbpilot's alerts firing over time, by alert name.",
			"none",
			q(`count by (alertname) (`+lbpilotAlerts+`)`, "{{alertname}}")).Stacking(stack()).FillOpacity(60).LineWidth(0),
	)

	d.row("What users feel: end-to-end probes")
	d.add(6, 8,
		statPanel("Probes failing",
			"lbpilot's protocol probes (mqtt, rtmp, flv, hls, websocket modules) failing now, by reason: clients connecting through HAProxy fail the same way. Alerts: ProbeFailing, HLSStale.",
			"none",
			instant(`count by (reason) (probe_failure_info{`+jobInst+`}) or vector(0)`, "{{reason}}")).
			Thresholds(steps("green", 1, "red")).ColorMode(common.BigValueColorModeBackground).GraphMode(common.BigValueGraphModeNone),
		timeSeries("Probe success",
			"Share of successful probes per probe job (the mean over the job's targets).",
			"percentunit",
			q(`avg by (job) (probe_success{`+jobInst+`})`, "{{job}}")).
			Min(0).Max(1),
		timeSeries("Time to first media and to a session",
			"HTTP-FLV: request to the first audio or video tag; WCS WebSocket: connect to the node's answer; HLS: playlist to the newest segment fetched. Alert: ProbeMediaStartSlow above 3 s.",
			"s",
			q(`sum by (target) (probe_flv_duration_seconds{`+jobInst+`,phase=~"connect|tls|first_byte|header|first_media"})`, "flv {{target}}"),
			q(`sum by (target) (probe_websocket_duration_seconds{`+jobInst+`,phase=~"connect|tls|upgrade|wcs_connect"})`, "websocket {{target}}"),
			q(`sum by (target) (probe_hls_duration_seconds{`+jobInst+`,phase=~"connect|tls|first_byte|playlist|segment"})`, "hls {{target}}")),
		timeSeries("MQTT round trip",
			"Time from publishing the probe message to receiving it back through HAProxy and the broker. Alert: ProbeRoundTripSlow above 500 ms (dashed line).",
			"s",
			q(`max by (target) (probe_mqtt_round_trip_seconds{`+jobInst+`})`, "{{target}}")).
			Thresholds(steps("green", 0.5, "red")).ThresholdsStyle(dashed()),
	)
	d.add(8, 8,
		timeSeries("HTTP-FLV bitrate",
			"Bitrate an HTTP-FLV player receives over the probe's window, per probed stream.",
			"bps",
			q(`max by (target) (probe_flv_bitrate_bits_per_second{`+jobInst+`})`, "{{target}}")),
		timeSeries("HLS freshness",
			"Whether each probed HLS playlist's media sequence advanced during the probe (1) or stayed (0: stale, alert HLSStale).",
			"none",
			q(`min by (target) (probe_hls_media_sequence_advanced{`+jobInst+`})`, "{{target}}")).
			Min(0).Max(1),
		timeSeries("Probe phases",
			"Mean duration of each phase of each probe kind: where the time of a slow probe goes.",
			"s",
			q(`avg by (phase) (probe_mqtt_duration_seconds{`+jobInst+`})`, "mqtt {{phase}}"),
			q(`avg by (phase) (probe_flv_duration_seconds{`+jobInst+`})`, "flv {{phase}}"),
			q(`avg by (phase) (probe_hls_duration_seconds{`+jobInst+`})`, "hls {{phase}}"),
			q(`avg by (phase) (probe_websocket_duration_seconds{`+jobInst+`})`, "websocket {{phase}}"),
			q(`avg by (phase) (probe_rtmp_duration_seconds{`+jobInst+`})`, "rtmp {{phase}}")).
			Stacking(stack()).FillOpacity(60).LineWidth(0),
	)

	d.row("Capacity per cluster")
	d.add(6, 8,
		timeSeries("Utilisation of the busiest dimension",
			"Per cluster, the utilisation of its busiest dimension against the agents' limits (1 = the limit, where the agents shed HAProxy weight). The dashed line is the target utilisation; ClusterCapacityLow fires 10 points above it.",
			"percentunit",
			q(`cluster:lbpilot_capacity_utilization:max`, "{{cluster}}"),
			q(`lbpilot:capacity_target_utilization:ratio`, "target")).
			Min(0).OverrideByName("target", fixedColor(colErr)),
		timeSeries("Utilisation per dimension",
			"Each dimension the agents check, per cluster: the mean of the nodes' reading over their limit.",
			"percentunit",
			q(`cluster_dimension:lbpilot_agent_utilization:avg`, "{{cluster}} {{dimension}}")).
			Min(0),
		barGauge("Headroom",
			"The share of each cluster's capacity left per dimension (1 − utilisation).",
			"percentunit",
			instant(`cluster_dimension:lbpilot_capacity_headroom:ratio`, "{{cluster}} {{dimension}}")).
			Min(0).Max(1).Thresholds(steps("red", 0.1, "orange", 0.3, "green")),
		timeSeries("Nodes: reporting and needed at the target",
			"Nodes whose agent reports, and the nodes that would bring the busiest dimension to the target utilisation (what an autoscaler tracks, docs/scaling.md).",
			"none",
			q(`cluster:lbpilot_agent_nodes:count`, "{{cluster}} reporting"),
			q(`cluster:lbpilot_capacity_nodes_needed:max`, "{{cluster}} needed")).
			Min(0),
	)

	d.row("Load share per server")
	d.add(24, 9,
		timeSeries("HAProxy: share of each backend's sessions per server",
			"Current sessions of each server as a share of its backend's. When the rebalancer drains a server its share falls towards zero and the others' rise: this is where a drain shows it moved load.",
			"percentunit",
			q(`sum by (target, proxy, server) (haproxy_server_current_sessions{`+jobInst+`})
/ ignoring (server) group_left
sum by (target, proxy) (haproxy_server_current_sessions{`+jobInst+`})`, "{{proxy}}/{{server}}")).
			Stacking(stack()).FillOpacity(60).LineWidth(0).Min(0).Legend(legendTable("mean", "lastNotNull")),
	)
	d.add(8, 8,
		timeSeries("WCS: streams per node",
			"Publishers plus subscribers per WCS node (the agent-check's two load counts).",
			"none",
			q(`sum by (target) (wcs_publishers{`+jobInst+`} + wcs_subscribers{`+jobInst+`})`, "{{target}}")).
			Stacking(stack()).FillOpacity(60).LineWidth(0).Links(linkTo("WCS", UIDWCS)),
		timeSeries("SRS: clients per node",
			"Clients (publishers, players, edge pulls, HLS sessions) per SRS node, origins and edges.",
			"none",
			q(`sum by (target, role) (srs_clients{`+jobInst+`})`, "{{target}} ({{role}})")).
			Stacking(stack()).FillOpacity(60).LineWidth(0).Links(linkTo("SRS", UIDSRS)),
		timeSeries("EMQX: live connections per node",
			"MQTT clients with a live connection, per EMQX node.",
			"none",
			q(`sum by (node) (emqx_live_connections{`+jobInst+`})`, "{{node}}")).
			Stacking(stack()).FillOpacity(60).LineWidth(0).Links(linkTo("EMQX", UIDEMQX)),
	)

	d.row("Traffic")
	d.add(8, 8,
		timeSeries("HAProxy: sessions per second by frontend",
			"New client sessions accepted per second by each frontend.",
			"ops",
			q(`sum by (target, proxy) (rate(haproxy_frontend_sessions_total{`+jobInst+`}[$__rate_interval]))`, "{{target}} {{proxy}}")),
		timeSeries("HAProxy: bytes per second by frontend",
			"Bytes received from (in, above) and sent to (out, below) clients by each frontend.",
			"Bps",
			q(`sum by (target, proxy) (rate(haproxy_frontend_bytes_in_total{`+jobInst+`}[$__rate_interval]))`, "in {{target}} {{proxy}}"),
			q(`sum by (target, proxy) (rate(haproxy_frontend_bytes_out_total{`+jobInst+`}[$__rate_interval]))`, "out {{target}} {{proxy}}")).
			OverrideByRegexp("out .*", negativeY()),
		timeSeries("HAProxy: 5xx ratio by backend",
			"Share of each backend's HTTP responses that are 5xx. The HAProxyBackendHigh5xxRatio alert fires above 5 % (dashed line).",
			"percentunit",
			q(`sum by (target, proxy) (rate(haproxy_backend_http_responses_total{`+jobInst+`,code="5xx"}[$__rate_interval]))
/
(sum by (target, proxy) (rate(haproxy_backend_http_responses_total{`+jobInst+`}[$__rate_interval])) > 0)`, "{{target}} {{proxy}}")).
			Thresholds(steps("green", 0.05, "red")).ThresholdsStyle(dashed()),
	)
	d.add(8, 8,
		timeSeries("SRS: bandwidth by role",
			"Bytes per second SRS sends to its clients, origins and edges apart (rate of srs_send_bytes_total).",
			"Bps",
			q(`sum by (role) (rate(srs_send_bytes_total{`+jobInst+`}[$__rate_interval]))`, "{{role}}")),
		timeSeries("EMQX: messages per second",
			"PUBLISH messages received from and sent to clients per second, whole cluster.",
			"ops",
			q(`sum(rate(emqx_messages_received_total{`+jobInst+`}[$__rate_interval]))`, "received"),
			q(`sum(rate(emqx_messages_sent_total{`+jobInst+`}[$__rate_interval]))`, "sent")),
		timeSeries("WCS: bandwidth",
			"Channel bandwidth WCS measures, whole cluster (only with global_bandwidth_check_enabled).",
			"Bps",
			q(`sum by (direction) (wcs_bandwidth_bytes_per_second{`+jobInst+`})`, "{{direction}}")).
			OverrideByName("out", negativeY()),
	)
	return d.build()
}
