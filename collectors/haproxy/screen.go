package haproxy

import (
	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// Reasons this collector counts in lbpilot_upstream_anomalies_total.
const (
	// A row whose type column is empty or not 0-3: it belongs to no family.
	reasonUnknownRowType = "unknown_row_type"
	// A frontend, or a backend with its servers, whose name an earlier
	// proxy of the same kind and another iid already holds.
	reasonDuplicateProxy = "duplicate_proxy"
	// A row repeating an earlier one (same kind, proxy, iid and svname),
	// as concatenated per-process dumps print.
	reasonDuplicateRow = "duplicate_row"
	// A show info field of an exported family that is not a number.
	reasonUnparsableInfo = "unparsable_info"
)

// screenInfo counts the show info fields lbpilot exports that hold
// something other than a number (an empty field is "not set" and fine).
func (c *Collector) screenInfo(info haproxyapi.Info) {
	n := 0
	var first []any
	for _, d := range c.info {
		if _, ok := infoValue(info, d.key); ok || info[d.key] == "" {
			continue
		}
		if n == 0 {
			first = []any{"first_key", d.key, "value", info[d.key]}
		}
		n++
	}
	c.anomalies.Add(reasonUnparsableInfo, n, first...)
}

// screen finds the rows no family may export, counts and logs them, and
// returns them as a mask (nil when every row is exported). The rule for
// names: promex labels by proxy name only, so within one kind (frontends;
// backends and their servers) the first proxy printed under a name owns
// it, and later proxies of that name are dropped and counted rather than
// emitted as duplicate series. A frontend and a backend sharing a name
// (a `listen` section, or a frontend named after its backend) are two
// kinds and are both exported. Listener rows (type 3) are not screened.
// With the process label (procCol a column of st) each process has its
// own names: the same proxy in two processes is not a duplicate.
//
// The common case, where every frontend and backend name is unique, costs
// one pass over the type column and a map of the proxies; servers are
// only looked at when a duplicate proxy was seen.
func (c *Collector) screen(st *haproxyapi.Stat, procCol int) []bool {
	px, sv, iidCol := st.Col("pxname"), st.Col("svname"), st.Col("iid")
	type proxyKey struct {
		backend    bool
		name, proc string
	}
	proc := func(r int) string {
		if procCol < 0 {
			return ""
		}
		return st.String(r, procCol)
	}
	owner := map[proxyKey]string{} // iid of the proxy owning the name
	unknown, firstUnknown := 0, -1
	dups := false
	for r := 0; r < st.Rows(); r++ {
		switch st.Type(r) {
		case haproxyapi.TypeUnknown:
			unknown++
			if firstUnknown < 0 {
				firstUnknown = r
			}
		case haproxyapi.TypeFrontend, haproxyapi.TypeBackend:
			k := proxyKey{st.Type(r) == haproxyapi.TypeBackend, st.String(r, px), proc(r)}
			if _, seen := owner[k]; seen {
				dups = true
				continue
			}
			owner[k] = st.String(r, iidCol)
		}
	}
	if unknown > 0 {
		c.anomalies.Add(reasonUnknownRowType, unknown,
			"first_row", st.String(firstUnknown, px)+"/"+st.String(firstUnknown, sv),
			"type", st.Get(firstUnknown, "type"))
	}
	if !dups {
		return nil
	}
	skip := make([]bool, st.Rows())
	type rowKey struct {
		typ              haproxyapi.RowType
		px, sv, id, proc string
	}
	seen := map[rowKey]bool{}
	var dropped [2]int // duplicate_proxy, duplicate_row
	first := [2]int{-1, -1}
	for r := 0; r < st.Rows(); r++ {
		t := st.Type(r)
		if t != haproxyapi.TypeFrontend && t != haproxyapi.TypeBackend && t != haproxyapi.TypeServer {
			continue
		}
		name, id := st.String(r, px), st.String(r, iidCol)
		pk := proxyKey{t != haproxyapi.TypeFrontend, name, proc(r)}
		own, ok := owner[pk]
		if !ok {
			// Servers of a backend whose BACKEND row is not in the
			// output (a filtered show stat): the first iid owns it.
			own = id
			owner[pk] = id
		}
		which := -1
		if own != id {
			which = 0
		} else if k := (rowKey{t, name, st.String(r, sv), id, proc(r)}); seen[k] {
			which = 1
		} else {
			seen[k] = true
		}
		if which >= 0 {
			skip[r] = true
			dropped[which]++
			if first[which] < 0 {
				first[which] = r
			}
		}
	}
	for i, reason := range []string{reasonDuplicateProxy, reasonDuplicateRow} {
		if r := first[i]; r >= 0 {
			c.anomalies.Add(reason, dropped[i],
				"first_row", st.String(r, px)+"/"+st.String(r, sv), "iid", st.String(r, iidCol),
				"kept_iid", owner[proxyKey{st.Type(r) != haproxyapi.TypeFrontend, st.String(r, px), proc(r)}])
		}
	}
	return skip
}

// infoMB are the `show info` fields HAProxy 2.0-2.2 print in MiB, where
// later versions print bytes (2.3+ print both). The MiB figures are
// whole numbers, so converted values are multiples of 1 MiB.
var infoMB = map[string]string{
	"Memmax_bytes":    "Memmax_MB",
	"PoolAlloc_bytes": "PoolAlloc_MB",
	"PoolUsed_bytes":  "PoolUsed_MB",
}

// infoValue reads a numeric `show info` field, falling back to the MiB
// field of older versions for the byte ones.
func infoValue(info haproxyapi.Info, key string) (float64, bool) {
	if v, ok := info.Float(key); ok {
		return v, true
	}
	if mb, ok := infoMB[key]; ok {
		if v, ok := info.Float(mb); ok {
			return v * (1 << 20), true
		}
	}
	return 0, false
}
