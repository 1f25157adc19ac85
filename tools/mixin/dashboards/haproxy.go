package dashboards

import (
	g "github.com/lbpilot/lbpilot/tools/mixin/grafana"
)

// stateColors colours series named after HAProxy server states.
func stateColors(p *g.Panel) *g.Panel {
	for _, sc := range [][2]string{{"UP", "green"}, {"DOWN", "red"}, {"DRAIN", "orange"}, {"MAINT", "blue"}, {"NOLB", "purple"}} {
		p.Override(sc[0], g.FixedColor(sc[1]))
	}
	return p
}

// HAProxy is the HAProxy dashboard: status, per-server state and load
// share, frontends, backends, process.
func HAProxy() *g.Dashboard {
	d := g.New(UIDHAProxy, "lbpilot / HAProxy",
		"HAProxy through lbpilot's promex-compatible haproxy_* metrics (also works on HAProxy's built-in exporter, except the admin state). Servers' state and load share first: that is where drains show.",
		"haproxy")
	jobInstanceVars(d, "haproxy_backend_status")
	targetVar(d, "HAProxy", "haproxy_backend_status")
	d.QueryVar("frontend", "Frontend", "HAProxy frontends.", `haproxy_frontend_status{`+sel+`}`, "proxy", ".+")
	d.QueryVar("backend", "Backend", "HAProxy backends.", `haproxy_backend_status{`+sel+`}`, "proxy", ".+")
	d.QueryVar("server", "Server", "Servers of the selected backends.", `haproxy_server_status{`+sel+`,proxy=~"$backend"}`, "server", ".+")
	rebalancerAnnotations(d)

	fe := s(sel, `proxy=~"$frontend"`)
	be := s(sel, `proxy=~"$backend"`)
	sv := s(sel, `proxy=~"$backend"`, `server=~"$server"`)

	d.Row("Status")
	d.Add(4, 5,
		g.Stat("Backends without a usable server",
			"Selected backends that have servers but none UP. Alert: HAProxyBackendNoUsableServer.",
			"none",
			g.Instant(`count(
  max without (state) (haproxy_backend_agg_server_status{`+be+`,state="UP"}) == 0
  and
  sum without (state) (haproxy_backend_agg_server_status{`+be+`}) > 0
) or vector(0)`, "")).
			Thresholds(g.Steps("green", 1, "red")).StatBackground().NoGraph(),
		stateColors(g.Stat("Servers by state",
			"Servers of the selected backends in each state (UP, DOWN, DRAIN, MAINT, NOLB).",
			"none",
			g.Instant(`sum by (state) (haproxy_backend_agg_server_status{`+be+`})`, "{{state}}"))).
			Thresholds(g.Steps("text")).NoGraph(),
		g.Stat("Current sessions",
			"Sessions open on the selected frontends now.",
			"none",
			g.Q(`sum(haproxy_frontend_current_sessions{`+fe+`})`, "")).Thresholds(g.Steps("blue")),
		g.Stat("New sessions",
			"Sessions accepted per second by the selected frontends.",
			"ops",
			g.Q(`sum(rate(haproxy_frontend_sessions_total{`+fe+`}[$__rate_interval]))`, "")).Thresholds(g.Steps("blue")),
		g.Stat("HTTP requests",
			"HTTP requests per second on the selected frontends (HTTP mode only).",
			"reqps",
			g.Q(`sum(rate(haproxy_frontend_http_requests_total{`+fe+`}[$__rate_interval]))`, "")).Thresholds(g.Steps("blue")),
		g.Stat("Uptime",
			"Time since the HAProxy worker started (runtime socket targets only); a low value after a reload.",
			"s",
			g.Instant(`min(haproxy_process_uptime_seconds{`+sel+`})`, "")).
			Thresholds(g.Steps("orange", 3600, "green")).NoGraph(),
	)

	d.Row("Servers")
	d.Add(24, 8,
		g.StateTimeline("Server state",
			"State of every server of the selected backends from its status: UP, DOWN, DRAIN, MAINT, NOLB. The rebalancer's drains show as DRAIN (orange) with an annotation.",
			[]g.Mapping{serverStateMap},
			g.Q(serverStateExpr(sv), "{{target}} {{proxy}}/{{server}}")),
	)
	d.Add(24, 8,
		g.StateTimeline("Admin state",
			"Administrative state from show servers state (lbpilot only): ready, drain or maint, whoever set it (the rebalancer, an operator, the agent). A DOWN server keeps its admin state here.",
			[]g.Mapping{adminStateMap},
			g.Q(adminStateExpr(sv), "{{target}} {{proxy}}/{{server}}")),
	)
	d.Add(12, 9,
		g.TimeSeries("Load share: sessions per server",
			"Each server's current sessions as a share of its backend's. A drained server's share falls towards zero while its siblings take over: the proof that a drain moved load.",
			"percentunit",
			g.Q(`sum by (target, proxy, server) (haproxy_server_current_sessions{`+sv+`})
/ ignoring (server) group_left
sum by (target, proxy) (haproxy_server_current_sessions{`+be+`})`, "{{proxy}}/{{server}}")).
			Stacked(false).MinMax(g.F(0), nil).LegendTable("mean", "lastNotNull"),
		g.TimeSeries("Load share: new sessions per server",
			"Each server's share of the new sessions its backend assigned (load-balancing decisions), over the rate interval.",
			"percentunit",
			g.Q(`sum by (target, proxy, server) (rate(haproxy_server_sessions_total{`+sv+`}[$__rate_interval]))
/ ignoring (server) group_left ()
(sum by (target, proxy) (rate(haproxy_server_sessions_total{`+be+`}[$__rate_interval])) > 0)`, "{{proxy}}/{{server}}")).
			Stacked(false).MinMax(g.F(0), nil).LegendTable("mean", "lastNotNull"),
	)
	d.Add(8, 8,
		g.TimeSeries("Current sessions per server",
			"Sessions open on each server; dashed line: its maxconn when set.",
			"none",
			g.Q(`sum by (target, proxy, server) (haproxy_server_current_sessions{`+sv+`})`, "{{proxy}}/{{server}}")),
		g.TimeSeries("Session use of maxconn per server",
			"Current sessions as a share of each server's maxconn (servers without maxconn are left out). HAProxyServerSessionLimitNear fires above 90 %.",
			"percentunit",
			g.Q(`haproxy_server_current_sessions{`+sv+`} / haproxy_server_limit_sessions{`+sv+`}`, "{{proxy}}/{{server}}")).
			ThresholdLines(g.Steps("green", 0.9, "red")).MinMax(g.F(0), g.F(1)),
		g.TimeSeries("Effective weight per server",
			"Weight HAProxy uses now (after slowstart and the agent's N% replies); 0 takes no new sessions.",
			"none",
			g.Q(`sum by (target, proxy, server) (haproxy_server_weight{`+sv+`})`, "{{proxy}}/{{server}}")),
	)
	d.Add(8, 8,
		g.TimeSeries("Response time per server",
			"Average response time of each server over its last 1024 requests (HTTP).",
			"s",
			g.Q(`max by (target, proxy, server) (haproxy_server_response_time_average_seconds{`+sv+`})`, "{{proxy}}/{{server}}")),
		g.TimeSeries("Errors per server",
			"Connection errors, response errors, retries and redispatches per second, per server. HAProxyServerConnectionErrors drains a server whose errors exceed 10 % of its sessions.",
			"ops",
			g.Q(`sum by (target, proxy, server) (rate(haproxy_server_connection_errors_total{`+sv+`}[$__rate_interval]) + rate(haproxy_server_response_errors_total{`+sv+`}[$__rate_interval])) > 0`, "errors {{proxy}}/{{server}}"),
			g.Q(`sum by (target, proxy, server) (rate(haproxy_server_retry_warnings_total{`+sv+`}[$__rate_interval]) + rate(haproxy_server_redispatch_warnings_total{`+sv+`}[$__rate_interval])) > 0`, "retries {{proxy}}/{{server}}")),
		g.TimeSeries("5xx ratio per server",
			"Share of each server's HTTP responses that are 5xx. HAProxyServerHigh5xxRatio drains a server above 10 % while a sibling stays under 5 %.",
			"percentunit",
			g.Q(`sum by (target, proxy, server) (rate(haproxy_server_http_responses_total{`+sv+`,code="5xx"}[$__rate_interval]))
/
(sum by (target, proxy, server) (rate(haproxy_server_http_responses_total{`+sv+`}[$__rate_interval])) > 0)`, "{{proxy}}/{{server}}")).
			ThresholdLines(g.Steps("green", 0.1, "red")),
	)
	d.Add(24, 7,
		g.TablePanel("Last health check",
			"Result of each server's last health check (L4OK, L7OK, L4CON refused, L4TOUT timeout, L7STS bad status, …), its duration and HTTP code. Servers without checks are absent.",
			"s",
			g.Table(`max by (target, proxy, server, state) (haproxy_server_check_status{`+sv+`} == 1)`),
			g.Table(`max by (target, proxy, server) (haproxy_server_check_duration_seconds{`+sv+`})`)).
			Transform("merge", map[string]any{}).
			Transform("organize", map[string]any{
				"excludeByName": map[string]any{"Time": true, "Value #A": true},
				"renameByName":  map[string]any{"state": "check", "Value #B": "duration"},
			}),
	)

	d.Row("Frontends")
	d.Add(8, 8,
		g.TimeSeries("Session use of maxconn",
			"Current sessions as a share of each frontend's maxconn. HAProxyFrontendSessionLimitNear fires above 80 %.",
			"percentunit",
			g.Q(`haproxy_frontend_current_sessions{`+fe+`} / haproxy_frontend_limit_sessions{`+fe+`}`, "{{target}} {{proxy}}")).
			ThresholdLines(g.Steps("green", 0.8, "red")).MinMax(g.F(0), g.F(1)),
		g.TimeSeries("New sessions per frontend",
			"Sessions accepted per second.",
			"ops",
			g.Q(`sum by (target, proxy) (rate(haproxy_frontend_sessions_total{`+fe+`}[$__rate_interval]))`, "{{target}} {{proxy}}")),
		g.TimeSeries("HTTP responses by class",
			"HTTP responses per second by status class on the selected frontends.",
			"reqps",
			g.Q(`sum by (code) (rate(haproxy_frontend_http_responses_total{`+fe+`}[$__rate_interval]))`, "{{code}}")).
			Stacked(false).Override("5xx", g.FixedColor(colErr)).Override("4xx", g.FixedColor(colWarn)).Override("2xx", g.FixedColor(colIn)),
	)
	d.Add(12, 8,
		g.TimeSeries("Bytes per second per frontend",
			"Received from clients (in, above the axis) and sent to them (out, below).",
			"Bps",
			g.Q(`sum by (target, proxy) (rate(haproxy_frontend_bytes_in_total{`+fe+`}[$__rate_interval]))`, "in {{target}} {{proxy}}"),
			g.Q(`sum by (target, proxy) (rate(haproxy_frontend_bytes_out_total{`+fe+`}[$__rate_interval]))`, "out {{target}} {{proxy}}")).
			OverrideRegex("out .*", g.NegativeY()),
		g.TimeSeries("Denials and request errors",
			"Per second on the selected frontends: requests and connections denied by rules, malformed or aborted requests (ereq), internal errors.",
			"ops",
			g.Q(`sum by (proxy) (rate(haproxy_frontend_requests_denied_total{`+fe+`}[$__rate_interval]))`, "denied requests {{proxy}}"),
			g.Q(`sum by (proxy) (rate(haproxy_frontend_denied_connections_total{`+fe+`}[$__rate_interval]))`, "denied connections {{proxy}}"),
			g.Q(`sum by (proxy) (rate(haproxy_frontend_request_errors_total{`+fe+`}[$__rate_interval]))`, "request errors {{proxy}}"),
			g.Q(`sum by (proxy) (rate(haproxy_frontend_internal_errors_total{`+fe+`}[$__rate_interval]))`, "internal errors {{proxy}}")),
	)

	d.Row("Backends")
	d.Add(8, 8,
		g.TimeSeries("Current sessions per backend",
			"Sessions open towards each backend's servers.",
			"none",
			g.Q(`sum by (target, proxy) (haproxy_backend_current_sessions{`+be+`})`, "{{target}} {{proxy}}")),
		g.TimeSeries("Queue",
			"Requests waiting for a server in each backend (all its servers at maxconn). HAProxyBackendQueueing fires after 5 minutes above 0.",
			"none",
			g.Q(`sum by (target, proxy) (haproxy_backend_current_queue{`+be+`})`, "{{target}} {{proxy}}")).
			ThresholdLines(g.Steps("green", 1, "red")),
		g.TimeSeries("5xx ratio per backend",
			"Share of each backend's HTTP responses that are 5xx. HAProxyBackendHigh5xxRatio fires above 5 %.",
			"percentunit",
			g.Q(`sum by (target, proxy) (rate(haproxy_backend_http_responses_total{`+be+`,code="5xx"}[$__rate_interval]))
/
(sum by (target, proxy) (rate(haproxy_backend_http_responses_total{`+be+`}[$__rate_interval])) > 0)`, "{{target}} {{proxy}}")).
			ThresholdLines(g.Steps("green", 0.05, "red")),
	)
	d.Add(8, 8,
		g.TimeSeries("Response time per backend",
			"Average response time over the last 1024 requests (HTTP), per backend.",
			"s",
			g.Q(`max by (target, proxy) (haproxy_backend_response_time_average_seconds{`+be+`})`, "{{target}} {{proxy}}")),
		g.TimeSeries("Queue and connect time per backend",
			"Average time requests waited in the queue and took to connect to a server, over the last 1024 requests.",
			"s",
			g.Q(`max by (target, proxy) (haproxy_backend_queue_time_average_seconds{`+be+`})`, "queue {{proxy}}"),
			g.Q(`max by (target, proxy) (haproxy_backend_connect_time_average_seconds{`+be+`})`, "connect {{proxy}}")),
		g.TimeSeries("Errors per backend",
			"Per second: failed connections to servers, broken responses, connection retries and redispatches to another server.",
			"ops",
			g.Q(`sum by (proxy) (rate(haproxy_backend_connection_errors_total{`+be+`}[$__rate_interval]))`, "connection errors {{proxy}}"),
			g.Q(`sum by (proxy) (rate(haproxy_backend_response_errors_total{`+be+`}[$__rate_interval]))`, "response errors {{proxy}}"),
			g.Q(`sum by (proxy) (rate(haproxy_backend_retry_warnings_total{`+be+`}[$__rate_interval]))`, "retries {{proxy}}"),
			g.Q(`sum by (proxy) (rate(haproxy_backend_redispatch_warnings_total{`+be+`}[$__rate_interval]))`, "redispatches {{proxy}}")),
	)
	d.Add(12, 8,
		g.TimeSeries("Bytes per second per backend",
			"Sent to servers (in, above the axis) and received from them (out, below), per backend.",
			"Bps",
			g.Q(`sum by (target, proxy) (rate(haproxy_backend_bytes_in_total{`+be+`}[$__rate_interval]))`, "in {{target}} {{proxy}}"),
			g.Q(`sum by (target, proxy) (rate(haproxy_backend_bytes_out_total{`+be+`}[$__rate_interval]))`, "out {{target}} {{proxy}}")).
			OverrideRegex("out .*", g.NegativeY()),
		g.TimeSeries("Usable servers per backend",
			"Servers UP in each backend and its total: the headroom the rebalancer's guard keeps (min_ready).",
			"none",
			g.Q(`sum by (target, proxy) (haproxy_backend_agg_server_status{`+be+`,state="UP"})`, "UP {{proxy}}"),
			g.Q(`sum by (target, proxy) (haproxy_backend_agg_server_status{`+be+`})`, "total {{proxy}}")),
	)

	d.Row("Process")
	d.Add(6, 8,
		g.TimeSeries("Connections vs global maxconn",
			"Current connections as a share of the process's maxconn. HAProxyProcessConnectionLimitNear fires above 80 %.",
			"percentunit",
			g.Q(`haproxy_process_current_connections{`+sel+`} / haproxy_process_max_connections{`+sel+`}`, "{{target}}")).
			ThresholdLines(g.Steps("green", 0.8, "red")).MinMax(g.F(0), g.F(1)),
		g.TimeSeries("Connection and session rate",
			"New connections and sessions per second, as HAProxy measured over the last second.",
			"ops",
			g.Q(`sum by (target) (haproxy_process_current_connection_rate{`+sel+`})`, "connections {{target}}"),
			g.Q(`sum by (target) (haproxy_process_current_session_rate{`+sel+`})`, "sessions {{target}}")),
		g.TimeSeries("Idle time",
			"Share of the last second the worker's threads were idle: low means HAProxy itself is busy.",
			"percent",
			g.Q(`haproxy_process_idle_time_percent{`+sel+`}`, "{{target}}")).MinMax(g.F(0), g.F(100)),
		g.TimeSeries("Memory pools",
			"Bytes allocated in and used from HAProxy's memory pools.",
			"bytes",
			g.Q(`haproxy_process_pool_allocated_bytes{`+sel+`}`, "allocated {{target}}"),
			g.Q(`haproxy_process_pool_used_bytes{`+sel+`}`, "used {{target}}")),
	)
	return d
}
