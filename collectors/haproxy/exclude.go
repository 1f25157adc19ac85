package haproxy

import (
	"bytes"
	"slices"
	"strings"

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
	out := map[string][]int{}
	keys := newRowKeys(st, procCol)
	chk := st.Col("check_status")
	var counts []int
	var last []byte
	idx := -1
	for r := 0; r < st.Rows(); r++ {
		if st.Type(r) != haproxyapi.TypeServer {
			continue
		}
		if name, changed := keys.at(r); changed || counts == nil {
			if counts = out[name]; counts == nil {
				counts = make([]int, len(checkStates))
				out[name] = counts
			}
		}
		// Servers of a backend mostly share a check status: look it up
		// once.
		if b := st.Bytes(r, chk); last == nil || !bytes.Equal(b, last) {
			last, idx = b, slices.Index(checkStates, strings.TrimPrefix(string(b), "* "))
			if last == nil {
				last = []byte{}
			}
		}
		if idx >= 0 {
			counts[idx]++
		}
	}
	return out
}
