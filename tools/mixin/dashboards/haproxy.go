package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
)

// stateColors colours series named after HAProxy server states.
func stateColors(p *stat.PanelBuilder) *stat.PanelBuilder {
	for _, sc := range [][2]string{{"UP", "green"}, {"DOWN", "red"}, {"DRAIN", "orange"}, {"MAINT", "blue"}, {"NOLB", "purple"}} {
		p.OverrideByName(sc[0], fixedColor(sc[1]))
	}
	return p
}

// HAProxy is the HAProxy dashboard: status, per-server state and load
// share, frontends, backends, process.
func HAProxy() (dashboard.Dashboard, error) {
	d := newBoard(UIDHAProxy, "lbpilot / HAProxy",
		"HAProxy through lbpilot's promex-compatible haproxy_* metrics (also works on HAProxy's built-in exporter, except the admin state). Servers' state and load share first: that is where drains show.",
		"haproxy")
	jobInstanceVars(d, "haproxy_backend_status")
	targetVar(d, "HAProxy", "haproxy_backend_status")
	d.queryVar("frontend", "Frontend", "HAProxy frontends.", `haproxy_frontend_status{`+sel+`}`, "proxy", ".+")
	d.queryVar("backend", "Backend", "HAProxy backends.", `haproxy_backend_status{`+sel+`}`, "proxy", ".+")
	d.queryVar("server", "Server", "Servers of the selected backends.", `haproxy_server_status{`+sel+`,proxy=~"$backend"}`, "server", ".+")
	rebalancerAnnotations(d)

	fe := s(sel, `proxy=~"$frontend"`)
	be := s(sel, `proxy=~"$backend"`)
	sv := s(sel, `proxy=~"$backend"`, `server=~"$server"`)

	d.row("Status")
	d.add(4, 5,
		statPanel("Backends without a usable server",
			"Selected backends that have servers but none UP. Alert: HAProxyBackendNoUsableServer.",
			"none",
			instant(`count(
  max without (state) (haproxy_backend_agg_server_status{`+be+`,state="UP"}) == 0
  and
  sum without (state) (haproxy_backend_agg_server_status{`+be+`}) > 0
) or vector(0)`, "")).
			Thresholds(steps("green", 1, "red")).ColorMode(common.BigValueColorModeBackground).GraphMode(common.BigValueGraphModeNone),
		stateColors(statPanel("Servers by state",
			"Servers of the selected backends in each state (UP, DOWN, DRAIN, MAINT, NOLB).",
			"none",
			instant(`sum by (state) (haproxy_backend_agg_server_status{`+be+`})`, "{{state}}"))).
			Thresholds(steps("text")).GraphMode(common.BigValueGraphModeNone),
		statPanel("Current sessions",
			"Sessions open on the selected frontends now.",
			"none",
			q(`sum(haproxy_frontend_current_sessions{`+fe+`})`, "")).Thresholds(steps("blue")),
		statPanel("New sessions",
			"Sessions accepted per second by the selected frontends.",
			"ops",
			q(`sum(rate(haproxy_frontend_sessions_total{`+fe+`}[$__rate_interval]))`, "")).Thresholds(steps("blue")),
		statPanel("HTTP requests",
			"HTTP requests per second on the selected frontends (HTTP mode only).",
			"reqps",
			q(`sum(rate(haproxy_frontend_http_requests_total{`+fe+`}[$__rate_interval]))`, "")).Thresholds(steps("blue")),
		statPanel("Uptime",
			"Time since the HAProxy worker started (runtime socket targets only); a low value after a reload.",
			"s",
			instant(`min(haproxy_process_uptime_seconds{`+sel+`})`, "")).
			Thresholds(steps("orange", 3600, "green")).GraphMode(common.BigValueGraphModeNone),
	)

	d.row("Servers")
	d.add(24, 8,
		stateTimeline("Server state",
			"State of every server of the selected backends from its status: UP, DOWN, DRAIN, MAINT, NOLB. The rebalancer's drains show as DRAIN (orange) with an annotation.",
			[]dashboard.ValueMapping{serverStateMap},
			q(serverStateExpr(sv), "{{target}} {{proxy}}/{{server}}")),
	)
	d.add(24, 8,
		stateTimeline("Admin state",
			"Administrative state from show servers state (lbpilot only): ready, drain or maint, whoever set it (the rebalancer, an operator, the agent). A DOWN server keeps its admin state here.",
			[]dashboard.ValueMapping{adminStateMap},
			q(adminStateExpr(sv), "{{target}} {{proxy}}/{{server}}")),
	)
	d.add(12, 9,
		timeSeries("Load share: sessions per server",
			"Each server's current sessions as a share of its backend's. A drained server's share falls towards zero while its siblings take over: the proof that a drain moved load.",
			"percentunit",
			q(`sum by (target, proxy, server) (haproxy_server_current_sessions{`+sv+`})
/ ignoring (server) group_left
sum by (target, proxy) (haproxy_server_current_sessions{`+be+`})`, "{{proxy}}/{{server}}")).
			Stacking(stack()).FillOpacity(60).LineWidth(0).Min(0).Legend(legendTable("mean", "lastNotNull")),
		timeSeries("Load share: new sessions per server",
			"Each server's share of the new sessions its backend assigned (load-balancing decisions), over the rate interval.",
			"percentunit",
			q(`sum by (target, proxy, server) (rate(haproxy_server_sessions_total{`+sv+`}[$__rate_interval]))
/ ignoring (server) group_left ()
(sum by (target, proxy) (rate(haproxy_server_sessions_total{`+be+`}[$__rate_interval])) > 0)`, "{{proxy}}/{{server}}")).
			Stacking(stack()).FillOpacity(60).LineWidth(0).Min(0).Legend(legendTable("mean", "lastNotNull")),
	)
	d.add(8, 8,
		timeSeries("Current sessions per server",
			"Sessions open on each server; dashed line: its maxconn when set.",
			"none",
			q(`sum by (target, proxy, server) (haproxy_server_current_sessions{`+sv+`})`, "{{proxy}}/{{server}}")),
		timeSeries("Session use of maxconn per server",
			"Current sessions as a share of each server's maxconn (servers without maxconn are left out). HAProxyServerSessionLimitNear fires above 90 %.",
			"percentunit",
			q(`haproxy_server_current_sessions{`+sv+`} / haproxy_server_limit_sessions{`+sv+`}`, "{{proxy}}/{{server}}")).
			Thresholds(steps("green", 0.9, "red")).ThresholdsStyle(dashed()).Min(0).Max(1),
		timeSeries("Effective weight per server",
			"Weight HAProxy uses now (after slowstart and the agent's N% replies); 0 takes no new sessions.",
			"none",
			q(`sum by (target, proxy, server) (haproxy_server_weight{`+sv+`})`, "{{proxy}}/{{server}}")),
	)
	d.add(8, 8,
		timeSeries("Response time per server",
			"Average response time of each server over its last 1024 requests (HTTP).",
			"s",
			q(`max by (target, proxy, server) (haproxy_server_response_time_average_seconds{`+sv+`})`, "{{proxy}}/{{server}}")),
		timeSeries("Errors per server",
			"Connection errors, response errors, retries and redispatches per second: per server where there are any, and all of them together (0 when nothing fails). HAProxyServerConnectionErrors drains a server whose errors exceed 10 % of its sessions.",
			"ops",
			q(`sum by (target, proxy, server) (rate(haproxy_server_connection_errors_total{`+sv+`}[$__rate_interval]) + rate(haproxy_server_response_errors_total{`+sv+`}[$__rate_interval])) > 0`, "errors {{proxy}}/{{server}}"),
			q(`sum by (target, proxy, server) (rate(haproxy_server_retry_warnings_total{`+sv+`}[$__rate_interval]) + rate(haproxy_server_redispatch_warnings_total{`+sv+`}[$__rate_interval])) > 0`, "retries {{proxy}}/{{server}}"),
			q(`sum(rate(haproxy_server_connection_errors_total{`+sv+`}[$__rate_interval]) + rate(haproxy_server_response_errors_total{`+sv+`}[$__rate_interval])
  + rate(haproxy_server_retry_warnings_total{`+sv+`}[$__rate_interval]) + rate(haproxy_server_redispatch_warnings_total{`+sv+`}[$__rate_interval]))`, "all of them")),
		timeSeries("5xx ratio per server",
			"Share of each server's HTTP responses that are 5xx. HAProxyServerHigh5xxRatio drains a server above 10 % while a sibling stays under 5 %.",
			"percentunit",
			q(`sum by (target, proxy, server) (rate(haproxy_server_http_responses_total{`+sv+`,code="5xx"}[$__rate_interval]))
/
(sum by (target, proxy, server) (rate(haproxy_server_http_responses_total{`+sv+`}[$__rate_interval])) > 0)`, "{{proxy}}/{{server}}")).
			Thresholds(steps("green", 0.1, "red")).ThresholdsStyle(dashed()),
	)
	d.add(24, 7,
		tablePanel("Last health check",
			"Result of each server's last health check (L4OK, L7OK, L4CON refused, L4TOUT timeout, L7STS bad status, …), its duration and HTTP code. Servers without checks are absent.",
			"s",
			tableQuery(`max by (target, proxy, server, state) (haproxy_server_check_status{`+sv+`} == 1)`),
			tableQuery(`max by (target, proxy, server) (haproxy_server_check_duration_seconds{`+sv+`})`)).
			WithTransformation(transform("merge", map[string]any{})).
			WithTransformation(transform("organize", map[string]any{
				"excludeByName": map[string]any{"Time": true, "Value #A": true},
				"renameByName":  map[string]any{"state": "check", "Value #B": "duration"},
			})),
	)

	d.row("Frontends")
	d.add(8, 8,
		timeSeries("Session use of maxconn",
			"Current sessions as a share of each frontend's maxconn. HAProxyFrontendSessionLimitNear fires above 80 %.",
			"percentunit",
			q(`haproxy_frontend_current_sessions{`+fe+`} / haproxy_frontend_limit_sessions{`+fe+`}`, "{{target}} {{proxy}}")).
			Thresholds(steps("green", 0.8, "red")).ThresholdsStyle(dashed()).Min(0).Max(1),
		timeSeries("New sessions per frontend",
			"Sessions accepted per second.",
			"ops",
			q(`sum by (target, proxy) (rate(haproxy_frontend_sessions_total{`+fe+`}[$__rate_interval]))`, "{{target}} {{proxy}}")),
		timeSeries("HTTP responses by class",
			"HTTP responses per second by status class on the selected frontends.",
			"reqps",
			q(`sum by (code) (rate(haproxy_frontend_http_responses_total{`+fe+`}[$__rate_interval]))`, "{{code}}")).
			Stacking(stack()).FillOpacity(60).LineWidth(0).OverrideByName("5xx", fixedColor(colErr)).OverrideByName("4xx", fixedColor(colWarn)).OverrideByName("2xx", fixedColor(colIn)),
	)
	d.add(12, 8,
		timeSeries("Bytes per second per frontend",
			"Received from clients (in, above the axis) and sent to them (out, below).",
			"Bps",
			q(`sum by (target, proxy) (rate(haproxy_frontend_bytes_in_total{`+fe+`}[$__rate_interval]))`, "in {{target}} {{proxy}}"),
			q(`sum by (target, proxy) (rate(haproxy_frontend_bytes_out_total{`+fe+`}[$__rate_interval]))`, "out {{target}} {{proxy}}")).
			OverrideByRegexp("out .*", negativeY()),
		timeSeries("Denials and request errors",
			"Per second on the selected frontends: requests and connections denied by rules, malformed or aborted requests (ereq), internal errors.",
			"ops",
			q(`sum by (proxy) (rate(haproxy_frontend_requests_denied_total{`+fe+`}[$__rate_interval]))`, "denied requests {{proxy}}"),
			q(`sum by (proxy) (rate(haproxy_frontend_denied_connections_total{`+fe+`}[$__rate_interval]))`, "denied connections {{proxy}}"),
			q(`sum by (proxy) (rate(haproxy_frontend_request_errors_total{`+fe+`}[$__rate_interval]))`, "request errors {{proxy}}"),
			q(`sum by (proxy) (rate(haproxy_frontend_internal_errors_total{`+fe+`}[$__rate_interval]))`, "internal errors {{proxy}}")),
	)

	d.row("Backends")
	d.add(8, 8,
		timeSeries("Current sessions per backend",
			"Sessions open towards each backend's servers.",
			"none",
			q(`sum by (target, proxy) (haproxy_backend_current_sessions{`+be+`})`, "{{target}} {{proxy}}")),
		timeSeries("Queue",
			"Requests waiting for a server in each backend (all its servers at maxconn). HAProxyBackendQueueing fires after 5 minutes above 0.",
			"none",
			q(`sum by (target, proxy) (haproxy_backend_current_queue{`+be+`})`, "{{target}} {{proxy}}")).
			Thresholds(steps("green", 1, "red")).ThresholdsStyle(dashed()),
		timeSeries("5xx ratio per backend",
			"Share of each backend's HTTP responses that are 5xx. HAProxyBackendHigh5xxRatio fires above 5 %.",
			"percentunit",
			q(`sum by (target, proxy) (rate(haproxy_backend_http_responses_total{`+be+`,code="5xx"}[$__rate_interval]))
/
(sum by (target, proxy) (rate(haproxy_backend_http_responses_total{`+be+`}[$__rate_interval])) > 0)`, "{{target}} {{proxy}}")).
			Thresholds(steps("green", 0.05, "red")).ThresholdsStyle(dashed()),
	)
	d.add(8, 8,
		timeSeries("Response time per backend",
			"Average response time over the last 1024 requests (HTTP), per backend.",
			"s",
			q(`max by (target, proxy) (haproxy_backend_response_time_average_seconds{`+be+`})`, "{{target}} {{proxy}}")),
		timeSeries("Queue and connect time per backend",
			"Average time requests waited in the queue and took to connect to a server, over the last 1024 requests.",
			"s",
			q(`max by (target, proxy) (haproxy_backend_queue_time_average_seconds{`+be+`})`, "queue {{proxy}}"),
			q(`max by (target, proxy) (haproxy_backend_connect_time_average_seconds{`+be+`})`, "connect {{proxy}}")),
		timeSeries("Errors per backend",
			"Per second: failed connections to servers, broken responses, connection retries and redispatches to another server.",
			"ops",
			q(`sum by (proxy) (rate(haproxy_backend_connection_errors_total{`+be+`}[$__rate_interval]))`, "connection errors {{proxy}}"),
			q(`sum by (proxy) (rate(haproxy_backend_response_errors_total{`+be+`}[$__rate_interval]))`, "response errors {{proxy}}"),
			q(`sum by (proxy) (rate(haproxy_backend_retry_warnings_total{`+be+`}[$__rate_interval]))`, "retries {{proxy}}"),
			q(`sum by (proxy) (rate(haproxy_backend_redispatch_warnings_total{`+be+`}[$__rate_interval]))`, "redispatches {{proxy}}")),
	)
	d.add(12, 8,
		timeSeries("Bytes per second per backend",
			"Sent to servers (in, above the axis) and received from them (out, below), per backend.",
			"Bps",
			q(`sum by (target, proxy) (rate(haproxy_backend_bytes_in_total{`+be+`}[$__rate_interval]))`, "in {{target}} {{proxy}}"),
			q(`sum by (target, proxy) (rate(haproxy_backend_bytes_out_total{`+be+`}[$__rate_interval]))`, "out {{target}} {{proxy}}")).
			OverrideByRegexp("out .*", negativeY()),
		timeSeries("Usable servers per backend",
			"Servers UP in each backend and its total: the headroom the rebalancer's guard keeps (min_ready).",
			"none",
			q(`sum by (target, proxy) (haproxy_backend_agg_server_status{`+be+`,state="UP"})`, "UP {{proxy}}"),
			q(`sum by (target, proxy) (haproxy_backend_agg_server_status{`+be+`})`, "total {{proxy}}")),
	)

	d.row("Process")
	d.add(6, 8,
		timeSeries("Connections vs global maxconn",
			"Current connections as a share of the process's maxconn. HAProxyProcessConnectionLimitNear fires above 80 %.",
			"percentunit",
			q(`haproxy_process_current_connections{`+sel+`} / haproxy_process_max_connections{`+sel+`}`, "{{target}}")).
			Thresholds(steps("green", 0.8, "red")).ThresholdsStyle(dashed()).Min(0).Max(1),
		timeSeries("Connection and session rate",
			"New connections and sessions per second, as HAProxy measured over the last second.",
			"ops",
			q(`sum by (target) (haproxy_process_current_connection_rate{`+sel+`})`, "connections {{target}}"),
			q(`sum by (target) (haproxy_process_current_session_rate{`+sel+`})`, "sessions {{target}}")),
		timeSeries("Idle time",
			"Share of the last second the worker's threads were idle: low means HAProxy itself is busy.",
			"percent",
			q(`haproxy_process_idle_time_percent{`+sel+`}`, "{{target}}")).Min(0).Max(100),
		timeSeries("Memory pools",
			"Bytes allocated in and used from HAProxy's memory pools.",
			"bytes",
			q(`haproxy_process_pool_allocated_bytes{`+sel+`}`, "allocated {{target}}"),
			q(`haproxy_process_pool_used_bytes{`+sel+`}`, "used {{target}}")),
	)
	return d.build()
}
