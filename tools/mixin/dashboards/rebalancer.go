package dashboards

import (
	g "github.com/lbpilot/lbpilot/tools/mixin/grafana"
)

// Rebalancer is the dashboard of lbpilot's own roles: what the rebalancer
// did and holds, how alerts reach it, its reconcile loop, and the agents'
// weights.
func Rebalancer() *g.Dashboard {
	d := g.New(UIDRebalancer, "lbpilot / Rebalancer and agent",
		"lbpilot's rebalancer (Alertmanager webhook → HAProxy drain/maint → ready) and agent (HAProxy agent-check): actions, servers held, guard deferrals, alert intake, reconcile loop, agent weights.",
		"rebalancer", "agent")
	jobInstanceVars(d, `{__name__=~"lbpilot_rebalancer_last_reconcile_success|lbpilot_agent_info"}`)
	rebalancerAnnotations(d)

	ji := jobInst

	d.Row("Now")
	d.Add(4, 5,
		g.Stat("Servers held",
			"HAProxy servers the rebalancer changed and will restore, by state (drain, maint, weight).",
			"none",
			g.Instant(`sum by (state) (lbpilot_rebalancer_owned_servers{`+ji+`})`, "{{state}}")).
			Thresholds(g.Steps("green", 1, "orange")).NoGraph(),
		g.Stat("Alerts held",
			"Alerts the rebalancer holds: firing, held (resolved, restore delayed by a mass resolve), resolved (kept so that replays are no-ops).",
			"none",
			g.Instant(`sum by (state) (lbpilot_rebalancer_alerts{`+ji+`})`, "{{state}}")).
			Thresholds(g.Steps("blue")).NoGraph(),
		g.Stat("Deferred now",
			"Actions the guard held back in the last reconcile cycle (min_ready, max_unavailable). Alert: LbpilotRebalancerActionsDeferred.",
			"none",
			g.Instant(`sum(lbpilot_rebalancer_deferred_actions{`+ji+`})`, "")).
			Thresholds(g.Steps("green", 1, "orange")).NoGraph(),
		g.Stat("Since last reconcile",
			"Time since the oldest of the selected rebalancers finished a reconcile cycle. Alert: LbpilotRebalancerReconcileFailing (after 5 minutes).",
			"s",
			g.Instant(`time() - min(lbpilot_rebalancer_last_reconcile_timestamp_seconds{`+ji+`})`, "")).
			Thresholds(g.Steps("green", 60, "orange", 300, "red")).NoGraph(),
		g.Stat("HAProxy sockets",
			"Runtime sockets that answered the last reconcile cycle, out of all (a DOWN socket gets no action).",
			"none",
			g.Instant(`sum(lbpilot_rebalancer_haproxy_up{`+ji+`})`, "up"),
			g.Instant(`count(lbpilot_rebalancer_haproxy_up{`+ji+`} == 0) or vector(0)`, "down")).
			Override("down", g.FixedColor(colErr)).Override("up", g.FixedColor(colIn)).NoGraph(),
		g.Stat("Dry run",
			"Whether a rebalancer runs with --dry-run (plans and logs, changes nothing).",
			"none",
			g.Instant(`max(lbpilot_rebalancer_dry_run{`+ji+`})`, "")).
			Mappings(g.ValueMap("0", "off", "green", "1", "DRY RUN", "orange")).NoGraph(),
	)

	d.Row("Actions")
	d.Add(12, 8,
		g.TimeSeries("Actions",
			"Runtime changes made or tried, per second, by action (drain, maint, ready, weight, restore_weight) and result (success, error, mismatch after read-back, refused, dry_run).",
			"ops",
			g.Q(`sum by (action, result) (rate(lbpilot_rebalancer_actions_total{`+ji+`}[$__rate_interval])) > 0`, "{{action}} {{result}}")).
			OverrideRegex(".*(error|mismatch).*", g.FixedColor(colErr)),
		g.TimeSeries("Servers held per backend",
			"Servers the rebalancer holds in drain, maint or a lowered weight, per backend. Read against the backends' usable servers on the HAProxy dashboard.",
			"none",
			g.Q(`sum by (backend, state) (lbpilot_rebalancer_owned_servers{`+ji+`})`, "{{backend}} {{state}}")).Stacked(false),
	)
	d.Add(8, 8,
		g.TimeSeries("Guard deferrals",
			"Actions the guard holds back: now (last cycle) and the rate of deferrals (one per action per cycle it waits).",
			"none",
			g.Q(`sum(lbpilot_rebalancer_deferred_actions{`+ji+`})`, "deferred now"),
			g.Q(`sum(rate(lbpilot_rebalancer_deferred_total{`+ji+`}[$__rate_interval]))`, "deferrals/s")),
		g.TimeSeries("Servers released to operators",
			"Servers someone else changed while the rebalancer owned them; they are left alone until their alerts end. Operator overrides per second below.",
			"none",
			g.Q(`sum(lbpilot_rebalancer_released_servers{`+ji+`})`, "released"),
			g.Q(`sum(rate(lbpilot_rebalancer_operator_overrides_total{`+ji+`}[$__rate_interval]))`, "overrides/s")),
		g.TimeSeries("Mass resolves",
			"Resolved alerts whose restore was held back because many resolved at once (Prometheus or an exporter down?), per second.",
			"ops",
			g.Q(`sum(rate(lbpilot_rebalancer_mass_resolves_total{`+ji+`}[$__rate_interval]))`, "held restores")),
	)

	d.Row("Alert intake")
	d.Add(8, 8,
		g.TimeSeries("Alerts received",
			"Alerts in Alertmanager notifications per second, by their own status, and those not acted on, by reason.",
			"ops",
			g.Q(`sum by (status) (rate(lbpilot_rebalancer_alerts_received_total{`+ji+`}[$__rate_interval]))`, "received {{status}}"),
			g.Q(`sum by (reason) (rate(lbpilot_rebalancer_alerts_ignored_total{`+ji+`}[$__rate_interval])) > 0`, "ignored {{reason}}")),
		g.TimeSeries("Webhook answers",
			"Webhook requests per second by HTTP status: 4xx is not retried by Alertmanager (credentials, payload), 5xx is.",
			"reqps",
			g.Q(`sum by (code) (rate(lbpilot_rebalancer_webhook_requests_total{`+ji+`}[$__rate_interval]))`, "{{code}}")).
			OverrideRegex("[45]..", g.FixedColor(colErr)),
		g.TimeSeries("Webhook latency",
			"Time to answer a webhook (decode, record, persist): median and 99th percentile.",
			"s",
			g.Q(`histogram_quantile(0.5, sum by (le) (rate(lbpilot_rebalancer_webhook_request_duration_seconds_bucket{`+ji+`}[$__rate_interval])))`, "p50"),
			g.Q(`histogram_quantile(0.99, sum by (le) (rate(lbpilot_rebalancer_webhook_request_duration_seconds_bucket{`+ji+`}[$__rate_interval])))`, "p99")),
	)

	d.Row("Reconcile and HAProxy")
	d.Add(24, 5,
		g.StateTimeline("HAProxy runtime sockets",
			"Whether each runtime socket answered the reconcile cycles.",
			[]g.Mapping{upDownMap},
			g.Q(`max by (instance, socket) (lbpilot_rebalancer_haproxy_up{`+ji+`})`, "{{instance}} {{socket}}")),
	)
	d.Add(8, 8,
		g.TimeSeries("Reconcile duration",
			"Duration of reconcile cycles: median and 99th percentile.",
			"s",
			g.Q(`histogram_quantile(0.5, sum by (le) (rate(lbpilot_rebalancer_reconcile_duration_seconds_bucket{`+ji+`}[$__rate_interval])))`, "p50"),
			g.Q(`histogram_quantile(0.99, sum by (le) (rate(lbpilot_rebalancer_reconcile_duration_seconds_bucket{`+ji+`}[$__rate_interval])))`, "p99")),
		g.TimeSeries("HAProxy reloads detected",
			"HAProxy reloads or restarts the reconcile loop noticed (new worker, lower uptime), per socket; the rebalancer re-applies what a reload dropped.",
			"none",
			g.Q(`sum by (socket) (increase(lbpilot_rebalancer_haproxy_reloads_total{`+ji+`}[$__rate_interval])) > 0`, "{{socket}}")),
		g.TimeSeries("State file write failures",
			"Failed writes of the state file per second (webhooks are answered 503 meanwhile). Alert: LbpilotRebalancerStatePersistFailing.",
			"ops",
			g.Q(`sum by (instance) (rate(lbpilot_rebalancer_state_write_failures_total{`+ji+`}[$__rate_interval]))`, "{{instance}}")).
			OverrideRegex(".*", g.FixedColor(colErr)),
	)

	d.Row("Agents")
	d.Add(4, 6,
		g.Stat("Agents below their thresholds",
			"Agents whose last decision found the upstream readable and every dimension below its threshold (what /health answers 200 for), and those that did not.",
			"none",
			g.Instant(`sum(lbpilot_agent_healthy{`+ji+`})`, "healthy"),
			g.Instant(`count(lbpilot_agent_healthy{`+ji+`} == 0) or vector(0)`, "at a threshold or blind")).
			Override("at a threshold or blind", g.FixedColor(colWarn)).Override("healthy", g.FixedColor(colIn)).NoGraph(),
	)
	d.Add(10, 6,
		g.TimeSeries("Agent weights",
			"The weight each agent gives its server, as a share of the configured weight (up 63% → 63 %); 0 when it answered down. It falls linearly from the knee (half the threshold by default) to the floor at the threshold.",
			"percentunit",
			g.Q(`max by (instance) (lbpilot_agent_weight_ratio{`+ji+`})`, "{{instance}}")).
			MinMax(g.F(0), g.F(1)).LegendTable("min", "lastNotNull"),
		g.TimeSeries("Most loaded dimension per agent",
			"The highest value ÷ threshold over each agent's dimensions: the utilisation its weight follows. At 1 the agent gives the floor weight (weight mode) or answers down (updown mode).",
			"percentunit",
			g.Q(`max by (instance) (lbpilot_agent_utilization_ratio{`+ji+`})`, "{{instance}}")).
			ThresholdLines(g.Steps("green", 0.5, "orange", 1, "red")).MinMax(g.F(0), nil),
	)
	d.Add(8, 8,
		g.TimeSeries("Utilisation by dimension",
			"Value ÷ threshold of every checked dimension (cpu, publishers, subscribers, hls, band-in, band-out, clients, streams, connections), per agent.",
			"percentunit",
			g.Q(`max by (instance, dimension) (lbpilot_agent_utilization_ratio{`+ji+`})`, "{{instance}} {{dimension}}")).
			ThresholdLines(g.Steps("green", 1, "red")).MinMax(g.F(0), nil),
		g.TimeSeries("Agent replies",
			"Agent-check replies per second by kind: up (with a weight), down_load (updown mode, a threshold reached), down_upstream (the upstream could not be read).",
			"ops",
			g.Q(`sum by (kind) (rate(lbpilot_agent_replies_total{`+ji+`}[$__rate_interval]))`, "{{kind}}")).
			Override("down_upstream", g.FixedColor(colErr)).Override("down_load", g.FixedColor(colWarn)).Override("up", g.FixedColor(colIn)),
		g.TimeSeries("Upstream readings and failures",
			"Readings of the local upstream per second (one per cache period at most) and the share that failed.",
			"percentunit",
			g.Q(`sum by (instance) (rate(lbpilot_agent_upstream_errors_total{`+ji+`}[$__rate_interval]))
/
(sum by (instance) (rate(lbpilot_agent_upstream_requests_total{`+ji+`}[$__rate_interval])) > 0)`, "failed {{instance}}")).
			ThresholdLines(g.Steps("green", 0.01, "red")).MinMax(g.F(0), g.F(1)),
	)
	d.Add(8, 8,
		g.TimeSeries("Check duration",
			"Time from accepting an agent-check connection to the reply: median and 99th percentile. Keep it well under HAProxy's timeout check.",
			"s",
			g.Q(`histogram_quantile(0.5, sum by (le) (rate(lbpilot_agent_check_duration_seconds_bucket{`+ji+`}[$__rate_interval])))`, "p50"),
			g.Q(`histogram_quantile(0.99, sum by (le) (rate(lbpilot_agent_check_duration_seconds_bucket{`+ji+`}[$__rate_interval])))`, "p99")),
		g.TimeSeries("Refused checks and lost replies",
			"Per second: connections closed without a reply (not_allowed: outside --agent.allow; overload: too many checks at once) and replies the peer did not wait for.",
			"ops",
			g.Q(`sum by (reason) (rate(lbpilot_agent_rejected_connections_total{`+ji+`}[$__rate_interval]))`, "refused {{reason}}"),
			g.Q(`sum(rate(lbpilot_agent_write_errors_total{`+ji+`}[$__rate_interval]))`, "write errors")),
		g.TablePanel("Agents",
			"Every agent with its source (wcs, srs, emqx) and reply mode (weight, updown).",
			"none",
			g.Table(`max by (instance, source, mode) (lbpilot_agent_info{`+ji+`})`)).
			Transform("organize", map[string]any{"excludeByName": map[string]any{"Time": true, "Value": true}}),
	)
	return d
}
