package rebalancer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/internal/reloadstatus"
)

// Results of an action (label of lbpilot_rebalancer_actions_total).
const (
	ResultSuccess  = "success"
	ResultError    = "error"
	ResultMismatch = "mismatch"
	ResultRefused  = "refused"
	ResultDryRun   = "dry_run"
)

type metrics struct {
	actions           *prometheus.CounterVec
	deferred          prometheus.Counter
	webhookRequests   *prometheus.CounterVec
	webhookDuration   prometheus.Histogram
	alertsReceived    *prometheus.CounterVec
	alertsIgnored     *prometheus.CounterVec
	truncated         prometheus.Counter
	reconcileTime     prometheus.Gauge
	reconcileOK       prometheus.Gauge
	reconcileDur      prometheus.Histogram
	socketUp          *prometheus.GaugeVec
	reloads           *prometheus.CounterVec
	overrides         prometheus.Counter
	stateWriteFails   prometheus.Counter
	amRefreshOK       prometheus.Gauge
	amRefreshTime     prometheus.Gauge
	massResolves      prometheus.Counter
	historyWriteFails prometheus.Counter
	forced            *prometheus.CounterVec
	manual            *prometheus.CounterVec
	reload            *reloadstatus.Gauges
}

func newMetrics(reg prometheus.Registerer, r *Rebalancer) *metrics {
	m := &metrics{
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbpilot_rebalancer_actions_total",
			Help: "Runtime changes the rebalancer made or tried, by action (drain, maint, ready, weight, restore_weight, cap, restore_cap) and result (success, error, mismatch after read-back, refused, dry_run).",
		}, []string{"action", "result"}),
		deferred: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lbpilot_rebalancer_deferred_total",
			Help: "Actions held back by the guard (min_ready, max_unavailable), counted once per reconcile they wait in.",
		}),
		webhookRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbpilot_rebalancer_webhook_requests_total",
			Help: "Alertmanager webhook requests answered, by HTTP status code.",
		}, []string{"code"}),
		webhookDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lbpilot_rebalancer_webhook_request_duration_seconds",
			Help:    "Time to answer an Alertmanager webhook request (decode, record, persist).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		alertsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbpilot_rebalancer_alerts_received_total",
			Help: "Alerts received in webhook notifications, by their own status.",
		}, []string{"status"}),
		alertsIgnored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbpilot_rebalancer_alerts_ignored_total",
			Help: "Alerts not acted on, by reason (no_rule, invalid_name, no_server, stale, …).",
		}, []string{"reason"}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lbpilot_rebalancer_webhook_truncated_alerts_total",
			Help: "Alerts Alertmanager left out of notifications because of max_alerts (they are never delivered; set max_alerts to 0).",
		}),
		reconcileTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lbpilot_rebalancer_last_reconcile_timestamp_seconds",
			Help: "When the last reconcile cycle ended.",
		}),
		reconcileOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lbpilot_rebalancer_last_reconcile_success",
			Help: "Whether the last reconcile cycle reached every socket and applied everything it planned (1) or not (0).",
		}),
		reconcileDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lbpilot_rebalancer_reconcile_duration_seconds",
			Help:    "Duration of reconcile cycles.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		socketUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lbpilot_rebalancer_haproxy_up",
			Help: "Whether the HAProxy runtime socket answered in the last reconcile cycle.",
		}, []string{"socket"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbpilot_rebalancer_haproxy_reloads_total",
			Help: "HAProxy reloads or restarts detected (new worker pid or lower uptime in show info).",
		}, []string{"socket"}),
		overrides: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lbpilot_rebalancer_operator_overrides_total",
			Help: "Servers the rebalancer had changed that someone else changed afterwards; they are left alone.",
		}),
		stateWriteFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lbpilot_rebalancer_state_write_failures_total",
			Help: "Failed writes of the state file (webhooks are answered 503 and no change is applied meanwhile).",
		}),
		amRefreshOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lbpilot_rebalancer_alertmanager_last_refresh_success",
			Help: "Whether the last refresh of active alerts from the Alertmanager API succeeded.",
		}),
		amRefreshTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lbpilot_rebalancer_alertmanager_last_refresh_timestamp_seconds",
			Help: "When active alerts were last refreshed from the Alertmanager API successfully.",
		}),
		massResolves: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lbpilot_rebalancer_mass_resolves_total",
			Help: "Resolved alerts whose restore was held back because many alerts resolved at once.",
		}),
		historyWriteFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lbpilot_rebalancer_history_write_failures_total",
			Help: "Audit log entries that could not be written.",
		}),
		forced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbpilot_rebalancer_forced_actions_total",
			Help: "Manual actions an operator forced past the guard's refusal, by action.",
		}, []string{"action"}),
		manual: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lbpilot_rebalancer_manual_actions_total",
			Help: "Manual actions requested through the API, by action (drain, maint, ready, weight, release) and result (applied, unchanged, refused, error).",
		}, []string{"action", "result"}),
		reload: reloadstatus.New(),
	}
	for _, a := range []string{HoldDrain, HoldMaint, HoldReady, HoldWeight, "release"} {
		for _, res := range []string{ManualApplied, ManualUnchanged, ManualRefused, ManualError} {
			m.manual.WithLabelValues(a, res)
		}
		if a != "release" && a != HoldReady {
			m.forced.WithLabelValues(a)
		}
	}
	for _, a := range []string{ActDrain, ActMaint, ActReady, ActWeight, ActRestoreWeight, ActCap, ActRestoreCap} {
		for _, res := range []string{ResultSuccess, ResultError, ResultMismatch} {
			m.actions.WithLabelValues(a, res)
		}
	}
	m.actions.WithLabelValues(ActWeight, ResultRefused)
	for _, s := range []string{StatusFiring, StatusResolved} {
		m.alertsReceived.WithLabelValues(s)
	}
	for _, reason := range ignoreReasons {
		m.alertsIgnored.WithLabelValues(reason)
	}
	reg.MustRegister(m.actions, m.deferred, m.webhookRequests, m.webhookDuration, m.alertsReceived, m.alertsIgnored,
		m.truncated, m.reconcileTime, m.reconcileOK, m.reconcileDur, m.socketUp, m.reloads, m.overrides,
		m.stateWriteFails, m.massResolves, m.historyWriteFails, m.forced, m.manual, m.reload, stateCollector{r})
	if r.am != nil {
		reg.MustRegister(m.amRefreshOK, m.amRefreshTime)
	}
	return m
}

var (
	ownedDesc = prometheus.NewDesc("lbpilot_rebalancer_owned_servers",
		"Servers the rebalancer has changed and will restore, by backend and state (drain, maint, weight, cap); a server counts once even when several sockets hold it.",
		[]string{"backend", "state"}, nil)
	alertsDesc = prometheus.NewDesc("lbpilot_rebalancer_alerts",
		"Alerts the rebalancer holds, by state: firing, held (resolved, restore held by a mass resolve), resolved (kept to make replays no-ops).",
		[]string{"state"}, nil)
	releasedDesc = prometheus.NewDesc("lbpilot_rebalancer_released_servers",
		"Servers an operator changed while the rebalancer owned them; the rebalancer leaves them alone until their alerts end.",
		nil, nil)
	deferredNowDesc = prometheus.NewDesc("lbpilot_rebalancer_deferred_actions",
		"Actions the guard held back in the last reconcile cycle.",
		nil, nil)
	pausedDesc = prometheus.NewDesc("lbpilot_rebalancer_paused",
		"Whether the rebalancer is paused (1): backend=\"\" for the global pause (always present), one series per paused backend.",
		[]string{"backend"}, nil)
	holdsDesc = prometheus.NewDesc("lbpilot_rebalancer_operator_holds",
		"Servers an operator holds through the API (drain, maint, ready, weight), by backend and action.",
		[]string{"backend", "action"}, nil)
	proposalsDesc = prometheus.NewDesc("lbpilot_rebalancer_pending_proposals",
		"Actions waiting for an operator's approval.",
		nil, nil)
	dryRunDesc = prometheus.NewDesc("lbpilot_rebalancer_dry_run",
		"Whether the rebalancer runs with --dry-run (plans and logs, changes nothing).",
		nil, nil)
)

// stateCollector derives gauges from the state at scrape time.
type stateCollector struct{ r *Rebalancer }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- ownedDesc
	ch <- alertsDesc
	ch <- releasedDesc
	ch <- deferredNowDesc
	ch <- dryRunDesc
	ch <- pausedDesc
	ch <- holdsDesc
	ch <- proposalsDesc
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ backend, state string }
	owned := map[key]map[string]bool{}
	add := func(k key, server string) {
		if owned[k] == nil {
			owned[k] = map[string]bool{}
		}
		owned[k][server] = true
	}
	alerts := map[string]float64{StatusFiring: 0, "held": 0, StatusResolved: 0}
	released := map[string]bool{}
	now := c.r.now()
	paused := map[string]float64{"": 0}
	holds := map[key]float64{}
	pending := 0.0
	c.r.store.View(func(st *State) {
		if o := st.Operator; o != nil {
			if o.Pause != nil && o.Pause.active(now) {
				paused[""] = 1
			}
			for b, p := range o.Pauses {
				if p.active(now) {
					paused[b] = 1
				}
			}
			for k, h := range o.Holds {
				holds[key{holdRef(k).Backend, h.Action}]++
			}
			for _, p := range o.Proposals {
				if p.Status == ProposalPending {
					pending++
				}
			}
		}
		for _, o := range st.Owned {
			if o.Admin != nil {
				add(key{o.Backend, string(o.Admin.State)}, o.Server)
			}
			if o.Weight != nil {
				add(key{o.Backend, FacetWeight}, o.Server)
			}
			if o.Cap != nil {
				add(key{o.Backend, FacetCap}, o.Server)
			}
		}
		for _, a := range st.Alerts {
			switch {
			case a.Status == StatusFiring:
				alerts[StatusFiring]++
			case a.inForce(now):
				alerts["held"]++
			default:
				alerts[StatusResolved]++
			}
		}
		for _, rel := range st.Released {
			released[rel.Backend+"/"+rel.Server] = true
		}
	})
	for k, servers := range owned {
		ch <- prometheus.MustNewConstMetric(ownedDesc, prometheus.GaugeValue, float64(len(servers)), k.backend, k.state)
	}
	for s, v := range alerts {
		ch <- prometheus.MustNewConstMetric(alertsDesc, prometheus.GaugeValue, v, s)
	}
	ch <- prometheus.MustNewConstMetric(releasedDesc, prometheus.GaugeValue, float64(len(released)))
	ch <- prometheus.MustNewConstMetric(deferredNowDesc, prometheus.GaugeValue, float64(c.r.deferredCount()))
	dry := 0.0
	if c.r.dryRun {
		dry = 1
	}
	ch <- prometheus.MustNewConstMetric(dryRunDesc, prometheus.GaugeValue, dry)
	for b, v := range paused {
		ch <- prometheus.MustNewConstMetric(pausedDesc, prometheus.GaugeValue, v, b)
	}
	for k, v := range holds {
		ch <- prometheus.MustNewConstMetric(holdsDesc, prometheus.GaugeValue, v, k.backend, k.state)
	}
	ch <- prometheus.MustNewConstMetric(proposalsDesc, prometheus.GaugeValue, pending)
}
