package haproxy

import (
	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// serverFilter returns whether a server row is left out by
// exclude_server_states (or a request's no-maint). The state is promex's
// reading of the status column, so "MAINT (via …)" and "MAINT
// (resolution)" are MAINT and "DRAIN (agent)" is DRAIN, as promex's
// no-maint skips every server whose admin state holds maintenance.
func (c *Collector) serverFilter(st *haproxyapi.Stat) func(r int) bool {
	if len(c.opts.excluded) == 0 {
		return func(int) bool { return false }
	}
	col := st.Col("status")
	return func(r int) bool {
		return c.opts.excludes(haproxyapi.ParseStatus(string(st.Bytes(r, col))).State)
	}
}

func (c *Collector) hasBackendKind(k valueKind) bool {
	for _, f := range c.backend {
		if f.kind == k {
			return true
		}
	}
	return false
}

// aggregateChecks counts, per backend, its servers whose health check runs
// (a non-empty check_status: not paused, not absent) by last result, as
// promex's haproxy_backend_agg_check_status does. Every backend with at
// least one server gets an entry.
func aggregateChecks(st *haproxyapi.Stat, procCol int) map[string][]int {
	g := newCounts(st, procCol, true)
	g.add(&snapshot{stat: st, procCol: procCol}, st.Rows())
	return g.chk
}
