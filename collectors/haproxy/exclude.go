package haproxy

import "github.com/lbpilot/lbpilot/internal/haproxyapi"

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
