// Package dashboards defines lbpilot's Grafana dashboards with the
// builders of Grafana's foundation SDK (github.com/grafana/grafana-foundation-sdk/go).
// cmd/dashgen writes them to ../../dashboards/*.json; a test keeps the
// committed files equal to a fresh generation. board.go and panels.go hold
// the few defaults every lbpilot dashboard and panel kind shares.
//
// Label conventions every dashboard follows (README "Alerts and
// dashboards"): job and instance are Prometheus's; target names the
// upstream (lbpilot sets it on static targets, /probe jobs copy
// __param_target into it); every upstream selector carries
// job=~"$job",instance=~"$instance",target=~"$target"; legends name
// {{target}}.
package dashboards

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// UIDs of the dashboards (stable across instances; links use them).
const (
	UIDOverview   = "lbpilot-overview"
	UIDHAProxy    = "lbpilot-haproxy"
	UIDWCS        = "lbpilot-wcs"
	UIDSRS        = "lbpilot-srs"
	UIDEMQX       = "lbpilot-emqx"
	UIDRebalancer = "lbpilot-rebalancer"
)

// All builds every dashboard, keyed by file name.
func All() (map[string]dashboard.Dashboard, error) {
	out := map[string]dashboard.Dashboard{}
	for name, build := range map[string]func() (dashboard.Dashboard, error){
		"overview.json":   Overview,
		"haproxy.json":    HAProxy,
		"wcs.json":        WCS,
		"srs.json":        SRS,
		"emqx.json":       EMQX,
		"rebalancer.json": Rebalancer,
	} {
		d, err := build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = d
	}
	return out, nil
}

// Selectors of the job, instance and target variables.
const (
	jobInst = `job=~"$job",instance=~"$instance"`
	sel     = `job=~"$job",instance=~"$instance",target=~"$target"`
)

// s joins matchers into a selector body: s(sel, `proxy=~"$backend"`).
func s(parts ...string) string { return strings.Join(parts, ",") }

// jobInstanceVars adds job and instance variables over the given metric
// (a family every scrape of the dashboard's subject carries).
func jobInstanceVars(d *board, metric string) {
	d.queryVar("job", "Job", "Prometheus jobs scraping lbpilot for this dashboard.", metric, "job", ".+")
	d.queryVar("instance", "Instance", "Scrape instances: the exporter on /metrics jobs, the upstream address on /probe jobs.", withMatchers(metric, `job=~"$job"`), "instance", ".+")
}

// withMatchers adds matchers to a metric name or a selector.
func withMatchers(base, matchers string) string {
	if strings.HasSuffix(base, "}") {
		return base[:len(base)-1] + "," + matchers + "}"
	}
	return base + "{" + matchers + "}"
}

// targetVar adds the target variable. Its All value also matches series
// without a target label (a /probe job that does not copy it).
func targetVar(d *board, label, metric string) {
	d.queryVar("target", label, "The upstreams (the target label: a static target's name, or the address a /probe job copies into it).",
		withMatchers(metric, jobInst), "target", ".*")
}

// rebalancerAnnotations mark what the rebalancer did, from lbpilot's own
// metrics, on every dashboard: its successful (or dry-run) actions, and
// HAProxy servers entering drain or maint and going back to ready (the
// admin state only lbpilot exports). Fixed 2m windows at a 60 s step:
// annotation queries do not get Grafana's $__rate_interval reliably.
func rebalancerAnnotations(d *board) {
	d.annotate("Rebalancer actions", "orange",
		`sum by (action, result) (increase(lbpilot_rebalancer_actions_total{result=~"success|dry_run"}[2m])) > 0`,
		"rebalancer: {{action}}", "{{result}}", "action,result")
	d.annotate("Servers drained or in maintenance", "red",
		`(haproxy_server_admin_state{state=~"drain|maint"} == 1) unless (haproxy_server_admin_state{state=~"drain|maint"} offset 2m == 1)`,
		"{{proxy}}/{{server}} → {{state}}", "HAProxy {{target}}", "proxy,server,state")
	d.annotate("Servers back to ready", "green",
		`(haproxy_server_admin_state{state="ready"} == 1) and ignoring (state) (haproxy_server_admin_state{state=~"drain|maint"} offset 2m == 1)`,
		"{{proxy}}/{{server}} → ready", "HAProxy {{target}}", "proxy,server")
}

// Value mappings shared by the state panels.
var (
	// serverStateMap maps the folded HAProxy server state (see
	// serverStateExpr) to names and colours.
	serverStateMap = valueMap(
		"0", "DOWN", "red",
		"1", "UP", "green",
		"2", "MAINT", "blue",
		"3", "DRAIN", "orange",
		"4", "NOLB", "purple",
	)
	adminStateMap = valueMap(
		"0", "ready", "green",
		"1", "drain", "orange",
		"2", "maint", "blue",
	)
	upDownMap = valueMap(
		"0", "DOWN", "red",
		"1", "UP", "green",
	)
)

// serverStateExpr folds HAProxy's one-series-per-state status into one
// code per server: 1 UP, 2 MAINT, 3 DRAIN, 4 NOLB, 0 DOWN.
func serverStateExpr(selector string) string {
	var parts []string
	for _, st := range []struct {
		state string
		code  int
	}{{"UP", 1}, {"MAINT", 2}, {"DRAIN", 3}, {"NOLB", 4}, {"DOWN", 0}} {
		parts = append(parts, fmt.Sprintf(`max by (target, proxy, server) (haproxy_server_status{%s,state="%s"} == 1) * %d`, selector, st.state, st.code))
	}
	return strings.Join(parts, "\nor\n")
}

// adminStateExpr folds haproxy_server_admin_state: 0 ready, 1 drain, 2 maint.
func adminStateExpr(selector string) string {
	return fmt.Sprintf(`max by (target, proxy, server) (haproxy_server_admin_state{%[1]s,state="ready"} == 1) * 0
or
max by (target, proxy, server) (haproxy_server_admin_state{%[1]s,state="drain"} == 1) * 1
or
max by (target, proxy, server) (haproxy_server_admin_state{%[1]s,state="maint"} == 1) * 2`, selector)
}

// Colours used for directions and outcomes.
const (
	colIn   = "green"
	colOut  = "blue"
	colErr  = "red"
	colWarn = "orange"
)
