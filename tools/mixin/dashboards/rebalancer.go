package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Rebalancer is the dashboard of lbpilot's own roles: what the rebalancer
// did and holds, how alerts reach it, its reconcile loop, and the agents'
// weights.
func Rebalancer() (dashboard.Dashboard, error) {
	d := newBoard(UIDRebalancer, "lbpilot / Rebalancer and agent",
		"lbpilot's rebalancer (Alertmanager webhook → HAProxy drain/maint → ready) and agent (HAProxy agent-check): actions, servers held, guard deferrals, alert intake, reconcile loop, agent weights.",
		"rebalancer", "agent")
	jobInstanceVars(d, `{__name__=~"lbpilot_rebalancer_last_reconcile_success|lbpilot_agent_info"}`)
	rebalancerAnnotations(d)

	ji := jobInst

	d.row("Now")
	d.add(4, 5,
		statPanel("Servers held",
			"HAProxy servers the rebalancer changed and will restore, by state (drain, maint, weight, cap).",
			"none",
			instant(`sum by (state) (lbpilot_rebalancer_owned_servers{`+ji+`}) or vector(0)`, "{{state}}")).
			Thresholds(steps("green", 1, "orange")).GraphMode(common.BigValueGraphModeNone),
		statPanel("Alerts held",
			"Alerts the rebalancer holds: firing, held (resolved, restore delayed by a mass resolve), resolved (kept so that replays are no-ops).",
			"none",
			instant(`sum by (state) (lbpilot_rebalancer_alerts{`+ji+`})`, "{{state}}")).
			Thresholds(steps("blue")).GraphMode(common.BigValueGraphModeNone),
		statPanel("Deferred now",
			"Actions the guard held back in the last reconcile cycle (min_ready, max_unavailable). Alert: LbpilotRebalancerActionsDeferred.",
			"none",
			instant(`sum(lbpilot_rebalancer_deferred_actions{`+ji+`})`, "")).
			Thresholds(steps("green", 1, "orange")).GraphMode(common.BigValueGraphModeNone),
		statPanel("Since last reconcile",
			"Time since the oldest of the selected rebalancers finished a reconcile cycle. Alert: LbpilotRebalancerReconcileFailing (after 5 minutes).",
			"s",
			instant(`time() - min(lbpilot_rebalancer_last_reconcile_timestamp_seconds{`+ji+`})`, "")).
			Thresholds(steps("green", 60, "orange", 300, "red")).GraphMode(common.BigValueGraphModeNone),
		statPanel("HAProxy sockets",
			"Runtime sockets that answered the last reconcile cycle, out of all (a DOWN socket gets no action).",
			"none",
			instant(`sum(lbpilot_rebalancer_haproxy_up{`+ji+`})`, "up"),
			instant(`count(lbpilot_rebalancer_haproxy_up{`+ji+`} == 0) or vector(0)`, "down")).
			OverrideByName("down", fixedColor(colErr)).OverrideByName("up", fixedColor(colIn)).GraphMode(common.BigValueGraphModeNone),
		statPanel("Dry run",
			"Whether a rebalancer runs with --dry-run (plans and logs, changes nothing).",
			"none",
			instant(`max(lbpilot_rebalancer_dry_run{`+ji+`})`, "")).
			Mappings([]dashboard.ValueMapping{valueMap("0", "off", "green", "1", "DRY RUN", "orange")}).GraphMode(common.BigValueGraphModeNone),
	)

	d.row("Actions")
	d.add(12, 8,
		timeSeries("Actions",
			"Runtime changes made or tried, per second, by action (drain, maint, ready, weight, restore_weight, cap, restore_cap) and result (success, error, mismatch after read-back, refused, dry_run).",
			"ops",
			q(`sum by (action, result) (rate(lbpilot_rebalancer_actions_total{`+ji+`}[$__rate_interval])) > 0`, "{{action}} {{result}}")).
			OverrideByRegexp(".*(error|mismatch).*", fixedColor(colErr)),
		timeSeries("Servers held per backend",
			"Servers the rebalancer holds in drain, maint or a lowered weight, per backend. Read against the backends' usable servers on the HAProxy dashboard.",
			"none",
			q(`sum by (backend, state) (lbpilot_rebalancer_owned_servers{`+ji+`})`, "{{backend}} {{state}}")).Stacking(stack()).FillOpacity(60).LineWidth(0),
	)
	d.add(8, 8,
		timeSeries("Guard deferrals",
			"Actions the guard holds back: now (last cycle) and the rate of deferrals (one per action per cycle it waits).",
			"none",
			q(`sum(lbpilot_rebalancer_deferred_actions{`+ji+`})`, "deferred now"),
			q(`sum(rate(lbpilot_rebalancer_deferred_total{`+ji+`}[$__rate_interval]))`, "deferrals/s")),
		timeSeries("Servers released to operators",
			"Servers someone else changed while the rebalancer owned them; they are left alone until their alerts end. Operator overrides per second below.",
			"none",
			q(`sum(lbpilot_rebalancer_released_servers{`+ji+`})`, "released"),
			q(`sum(rate(lbpilot_rebalancer_operator_overrides_total{`+ji+`}[$__rate_interval]))`, "overrides/s")),
		timeSeries("Mass resolves",
			"Resolved alerts whose restore was held back because many resolved at once (Prometheus or an exporter down?), per second.",
			"ops",
			q(`sum(rate(lbpilot_rebalancer_mass_resolves_total{`+ji+`}[$__rate_interval]))`, "held restores")),
	)

	d.row("Alert intake")
	d.add(8, 8,
		timeSeries("Alerts received",
			"Alerts in Alertmanager notifications per second, by their own status, and those not acted on, by reason.",
			"ops",
			q(`sum by (status) (rate(lbpilot_rebalancer_alerts_received_total{`+ji+`}[$__rate_interval]))`, "received {{status}}"),
			q(`sum by (reason) (rate(lbpilot_rebalancer_alerts_ignored_total{`+ji+`}[$__rate_interval])) > 0`, "ignored {{reason}}")),
		timeSeries("Webhook answers",
			"Webhook requests per second by HTTP status: 4xx is not retried by Alertmanager (credentials, payload), 5xx is.",
			"reqps",
			q(`sum by (code) (rate(lbpilot_rebalancer_webhook_requests_total{`+ji+`}[$__rate_interval]))`, "{{code}}")).
			OverrideByRegexp("[45]..", fixedColor(colErr)),
		timeSeries("Webhook latency",
			"Time to answer a webhook (decode, record, persist): median and 99th percentile.",
			"s",
			q(`histogram_quantile(0.5, sum by (le) (rate(lbpilot_rebalancer_webhook_request_duration_seconds_bucket{`+ji+`}[$__rate_interval])))`, "p50"),
			q(`histogram_quantile(0.99, sum by (le) (rate(lbpilot_rebalancer_webhook_request_duration_seconds_bucket{`+ji+`}[$__rate_interval])))`, "p99")),
	)

	d.row("Reconcile and HAProxy")
	d.add(24, 5,
		stateTimeline("HAProxy runtime sockets",
			"Whether each runtime socket answered the reconcile cycles.",
			[]dashboard.ValueMapping{upDownMap},
			q(`max by (instance, socket) (lbpilot_rebalancer_haproxy_up{`+ji+`})`, "{{instance}} {{socket}}")),
	)
	d.add(8, 8,
		timeSeries("Reconcile duration",
			"Duration of reconcile cycles: median and 99th percentile.",
			"s",
			q(`histogram_quantile(0.5, sum by (le) (rate(lbpilot_rebalancer_reconcile_duration_seconds_bucket{`+ji+`}[$__rate_interval])))`, "p50"),
			q(`histogram_quantile(0.99, sum by (le) (rate(lbpilot_rebalancer_reconcile_duration_seconds_bucket{`+ji+`}[$__rate_interval])))`, "p99")),
		timeSeries("HAProxy reloads detected",
			"HAProxy reloads or restarts the reconcile loop noticed (new worker, lower uptime), per socket; the rebalancer re-applies what a reload dropped. A socket without a reload yet reads 0.",
			"none",
			q(`sum by (socket) (increase(lbpilot_rebalancer_haproxy_reloads_total{`+ji+`}[$__rate_interval]))
or
sum by (socket) (0 * lbpilot_rebalancer_haproxy_up{`+ji+`})`, "{{socket}}")),
		timeSeries("State file write failures",
			"Failed writes of the state file per second (webhooks are answered 503 meanwhile). Alert: LbpilotRebalancerStatePersistFailing.",
			"ops",
			q(`sum by (instance) (rate(lbpilot_rebalancer_state_write_failures_total{`+ji+`}[$__rate_interval]))`, "{{instance}}")).
			OverrideByRegexp(".*", fixedColor(colErr)),
	)

	d.row("Agents")
	d.add(4, 6,
		statPanel("Agents below their thresholds",
			"Agents whose last decision found the upstream readable and every dimension below its threshold (what /health answers 200 for), and those that did not.",
			"none",
			instant(`sum(lbpilot_agent_healthy{`+ji+`})`, "healthy"),
			instant(`count(lbpilot_agent_healthy{`+ji+`} == 0) or vector(0)`, "at a threshold or blind")).
			OverrideByName("at a threshold or blind", fixedColor(colWarn)).OverrideByName("healthy", fixedColor(colIn)).GraphMode(common.BigValueGraphModeNone),
	)
	d.add(10, 6,
		timeSeries("Agent weights",
			"The weight each agent gives its server, as a share of the configured weight (up 63% → 63 %); 0 when it answered down. It falls linearly from the knee (half the threshold by default) to the floor at the threshold.",
			"percentunit",
			q(`max by (instance) (lbpilot_agent_weight_ratio{`+ji+`})`, "{{instance}}")).
			Min(0).Max(1).Legend(legendTable("min", "lastNotNull")),
		timeSeries("Most loaded dimension per agent",
			"The highest value ÷ threshold over each agent's dimensions: the utilisation its weight follows. At 1 the agent gives the floor weight (weight mode) or answers down (updown mode).",
			"percentunit",
			q(`max by (instance) (lbpilot_agent_utilization_ratio{`+ji+`})`, "{{instance}}")).
			Thresholds(steps("green", 0.5, "orange", 1, "red")).ThresholdsStyle(dashed()).Min(0),
	)
	d.add(8, 8,
		timeSeries("Utilisation by dimension",
			"Value ÷ threshold of every checked dimension (cpu, publishers, subscribers, hls, band-in, band-out, clients, streams, connections), per agent.",
			"percentunit",
			q(`max by (instance, dimension) (lbpilot_agent_utilization_ratio{`+ji+`})`, "{{instance}} {{dimension}}")).
			Thresholds(steps("green", 1, "red")).ThresholdsStyle(dashed()).Min(0),
		timeSeries("Agent replies",
			"Agent-check replies per second by kind: up (with a weight), down_load (updown mode, a threshold reached), down_upstream (the upstream could not be read).",
			"ops",
			q(`sum by (kind) (rate(lbpilot_agent_replies_total{`+ji+`}[$__rate_interval]))`, "{{kind}}")).
			OverrideByName("down_upstream", fixedColor(colErr)).OverrideByName("down_load", fixedColor(colWarn)).OverrideByName("up", fixedColor(colIn)),
		timeSeries("Upstream readings and failures",
			"Readings of the local upstream per second (one per cache period at most) and the share that failed.",
			"percentunit",
			q(`sum by (instance) (rate(lbpilot_agent_upstream_errors_total{`+ji+`}[$__rate_interval]))
/
(sum by (instance) (rate(lbpilot_agent_upstream_requests_total{`+ji+`}[$__rate_interval])) > 0)`, "failed {{instance}}")).
			Thresholds(steps("green", 0.01, "red")).ThresholdsStyle(dashed()).Min(0).Max(1),
	)
	d.add(8, 8,
		timeSeries("Check duration",
			"Time from accepting an agent-check connection to the reply: median and 99th percentile. Keep it well under HAProxy's timeout check.",
			"s",
			q(`histogram_quantile(0.5, sum by (le) (rate(lbpilot_agent_check_duration_seconds_bucket{`+ji+`}[$__rate_interval])))`, "p50"),
			q(`histogram_quantile(0.99, sum by (le) (rate(lbpilot_agent_check_duration_seconds_bucket{`+ji+`}[$__rate_interval])))`, "p99")),
		timeSeries("Refused checks and lost replies",
			"Per second: connections closed without a reply (not_allowed: outside --agent.allow; overload: too many checks at once) and replies the peer did not wait for.",
			"ops",
			q(`sum by (reason) (rate(lbpilot_agent_rejected_connections_total{`+ji+`}[$__rate_interval]))`, "refused {{reason}}"),
			q(`sum(rate(lbpilot_agent_write_errors_total{`+ji+`}[$__rate_interval]))`, "write errors")),
		tablePanel("Agents",
			"Every agent with its source (wcs, srs, emqx) and reply mode (weight, updown).",
			"none",
			tableQuery(`max by (instance, source, mode) (lbpilot_agent_info{`+ji+`})`)).
			WithTransformation(transform("organize", map[string]any{"excludeByName": map[string]any{"Time": true, "Value": true}})),
	)
	return d.build()
}
