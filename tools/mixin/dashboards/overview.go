package dashboards

import (
	g "github.com/lbpilot/lbpilot/tools/mixin/grafana"
)

// lbpilotAlerts selects the firing alerts of alerts/*.rules.yml.
const lbpilotAlerts = `ALERTS{alertstate="firing",alertname=~"(HAProxy|WCS|SRS|EMQX|Lbpilot).+"}`

// Overview is the cluster overview: health on top, then load share per
// server, then traffic per service.
func Overview() *g.Dashboard {
	d := g.New(UIDOverview, "lbpilot / Cluster overview",
		"Health of the HAProxy-fronted WCS, SRS and EMQX cluster and what lbpilot's rebalancer did about it. Start here; the links lead to the per-service dashboards.",
		"overview")
	// Every lbpilot job: exporters (/metrics and /probe) and rebalancers.
	jobInstanceVars(d, `{__name__=~"lbpilot_up|lbpilot_rebalancer_last_reconcile_success"}`)
	rebalancerAnnotations(d)

	d.Row("Health")
	d.Add(4, 5,
		g.Stat("Backends without a usable server",
			"HAProxy backends that have servers but none of them UP: their clients get 503 or wait in the queue. Alert: HAProxyBackendNoUsableServer.",
			"none",
			g.Instant(`count(
  max without (state) (haproxy_backend_agg_server_status{`+jobInst+`,state="UP"}) == 0
  and
  sum without (state) (haproxy_backend_agg_server_status{`+jobInst+`}) > 0
) or vector(0)`, "")).
			Thresholds(g.Steps("green", 1, "red")).StatBackground().NoGraph().Link("HAProxy", UIDHAProxy),
		g.Stat("Servers not UP",
			"HAProxy servers in DOWN, MAINT, DRAIN or NOLB, by state. DRAIN and MAINT are often the rebalancer's doing (see the servers held below).",
			"none",
			g.Instant(`sum by (state) (haproxy_backend_agg_server_status{`+jobInst+`,state!="UP"})`, "{{state}}")).
			Thresholds(g.Steps("green", 1, "orange")).NoGraph().Link("HAProxy", UIDHAProxy),
		g.Stat("Targets down",
			"Upstreams (HAProxy, WCS, SRS, EMQX) the exporter cannot scrape now (lbpilot_up 0). Alert: LbpilotTargetDown.",
			"none",
			g.Instant(`count(lbpilot_up{`+jobInst+`} == 0) or vector(0)`, "")).
			Thresholds(g.Steps("green", 1, "red")).StatBackground().NoGraph(),
		g.Stat("Targets up",
			"Upstreams scraped successfully now, by module.",
			"none",
			g.Instant(`sum by (module) (lbpilot_up{`+jobInst+`})`, "{{module}}")).
			Thresholds(g.Steps("blue")).NoGraph(),
		g.Stat("Alerts firing",
			"lbpilot's alerts firing now, by severity (Prometheus's ALERTS series). Those with lbpilot_action also reach the rebalancer.",
			"none",
			g.Instant(`count by (severity) (`+lbpilotAlerts+`)`, "{{severity}}")).
			Thresholds(g.Steps("green", 1, "orange")).NoGraph(),
		g.Stat("Servers held by the rebalancer",
			"HAProxy servers the rebalancer has drained, put in maintenance or re-weighted and will restore, by state.",
			"none",
			g.Instant(`sum by (state) (lbpilot_rebalancer_owned_servers{`+jobInst+`})`, "{{state}}")).
			Thresholds(g.Steps("green", 1, "orange")).NoGraph().Link("Rebalancer", UIDRebalancer),
	)
	d.Add(8, 8,
		g.BarGauge("Usable servers per backend",
			"Share of each backend's servers that are UP. Red under 50 %: the backend runs on half its capacity or less.",
			"percentunit",
			g.Instant(`sum by (target, proxy) (haproxy_backend_agg_server_status{`+jobInst+`,state="UP"})
/
(sum by (target, proxy) (haproxy_backend_agg_server_status{`+jobInst+`}) > 0)`, "{{target}} {{proxy}}")).
			MinMax(g.F(0), g.F(1)).Thresholds(g.Steps("red", 0.5, "orange", 0.75, "green")),
		g.TimeSeries("Rebalancer actions",
			"Runtime changes the rebalancer made, per second, by action and result (success, error, mismatch after read-back, refused, dry_run).",
			"ops",
			g.Q(`sum by (action, result) (rate(lbpilot_rebalancer_actions_total{`+jobInst+`}[$__rate_interval])) > 0`, "{{action}} {{result}}")).
			OverrideRegex(".*(error|mismatch).*", g.FixedColor(colErr)),
		g.TimeSeries("Alerts firing",
			"lbpilot's alerts firing over time, by alert name.",
			"none",
			g.Q(`count by (alertname) (`+lbpilotAlerts+`)`, "{{alertname}}")).Stacked(false),
	)

	d.Row("Load share per server")
	d.Add(24, 9,
		g.TimeSeries("HAProxy: share of each backend's sessions per server",
			"Current sessions of each server as a share of its backend's. When the rebalancer drains a server its share falls towards zero and the others' rise: this is where a drain shows it moved load.",
			"percentunit",
			g.Q(`sum by (target, proxy, server) (haproxy_server_current_sessions{`+jobInst+`})
/ ignoring (server) group_left
sum by (target, proxy) (haproxy_server_current_sessions{`+jobInst+`})`, "{{proxy}}/{{server}}")).
			Stacked(false).MinMax(g.F(0), nil).LegendTable("mean", "lastNotNull"),
	)
	d.Add(8, 8,
		g.TimeSeries("WCS: streams per node",
			"Publishers plus subscribers per WCS node (the agent-check's two load counts).",
			"none",
			g.Q(`sum by (target) (wcs_publishers{`+jobInst+`} + wcs_subscribers{`+jobInst+`})`, "{{target}}")).
			Stacked(false).Link("WCS", UIDWCS),
		g.TimeSeries("SRS: clients per node",
			"Clients (publishers, players, edge pulls, HLS sessions) per SRS node, origins and edges.",
			"none",
			g.Q(`sum by (target, role) (srs_clients{`+jobInst+`})`, "{{target}} ({{role}})")).
			Stacked(false).Link("SRS", UIDSRS),
		g.TimeSeries("EMQX: live connections per node",
			"MQTT clients with a live connection, per EMQX node.",
			"none",
			g.Q(`sum by (node) (emqx_live_connections{`+jobInst+`})`, "{{node}}")).
			Stacked(false).Link("EMQX", UIDEMQX),
	)

	d.Row("Traffic")
	d.Add(8, 8,
		g.TimeSeries("HAProxy: sessions per second by frontend",
			"New client sessions accepted per second by each frontend.",
			"ops",
			g.Q(`sum by (target, proxy) (rate(haproxy_frontend_sessions_total{`+jobInst+`}[$__rate_interval]))`, "{{target}} {{proxy}}")),
		g.TimeSeries("HAProxy: bytes per second by frontend",
			"Bytes received from (in, above) and sent to (out, below) clients by each frontend.",
			"Bps",
			g.Q(`sum by (target, proxy) (rate(haproxy_frontend_bytes_in_total{`+jobInst+`}[$__rate_interval]))`, "in {{target}} {{proxy}}"),
			g.Q(`sum by (target, proxy) (rate(haproxy_frontend_bytes_out_total{`+jobInst+`}[$__rate_interval]))`, "out {{target}} {{proxy}}")).
			OverrideRegex("out .*", g.NegativeY()),
		g.TimeSeries("HAProxy: 5xx ratio by backend",
			"Share of each backend's HTTP responses that are 5xx. The HAProxyBackendHigh5xxRatio alert fires above 5 % (dashed line).",
			"percentunit",
			g.Q(`sum by (target, proxy) (rate(haproxy_backend_http_responses_total{`+jobInst+`,code="5xx"}[$__rate_interval]))
/
(sum by (target, proxy) (rate(haproxy_backend_http_responses_total{`+jobInst+`}[$__rate_interval])) > 0)`, "{{target}} {{proxy}}")).
			ThresholdLines(g.Steps("green", 0.05, "red")),
	)
	d.Add(8, 8,
		g.TimeSeries("SRS: bandwidth by role",
			"Bytes per second SRS sends to its clients, origins and edges apart (rate of srs_send_bytes_total).",
			"Bps",
			g.Q(`sum by (role) (rate(srs_send_bytes_total{`+jobInst+`}[$__rate_interval]))`, "{{role}}")),
		g.TimeSeries("EMQX: messages per second",
			"PUBLISH messages received from and sent to clients per second, whole cluster.",
			"ops",
			g.Q(`sum(rate(emqx_messages_received_total{`+jobInst+`}[$__rate_interval]))`, "received"),
			g.Q(`sum(rate(emqx_messages_sent_total{`+jobInst+`}[$__rate_interval]))`, "sent")),
		g.TimeSeries("WCS: bandwidth",
			"Channel bandwidth WCS measures, whole cluster (only with global_bandwidth_check_enabled).",
			"Bps",
			g.Q(`sum by (direction) (wcs_bandwidth_bytes_per_second{`+jobInst+`})`, "{{direction}}")).
			Override("out", g.NegativeY()),
	)
	return d
}
