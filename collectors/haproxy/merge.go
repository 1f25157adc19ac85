package haproxy

import (
	"fmt"
	"math"
	"strconv"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// processColumn is the column concatStats adds: the process label of the
// row. HAProxy prints no column of that name.
const processColumn = "lbpilot_process"

// mergeRule says how one `show stat` column of several processes becomes
// one value. docs/exporter.md lists every rule ("Several processes as
// one"); a test keeps the two in step.
type mergeRule uint8

const (
	mergeSum      mergeRule = iota // counters and current values: each process counts its own
	mergeMax                       // peaks, and per-server settings every process holds
	mergeMin                       // ages: the most recent change any process saw
	mergeMean                      // averages over each process's last requests
	mergeLimit                     // per-process limits: their sum, or none when any process has none
	mergeFirst                     // text and identifiers: the first process that prints one
	mergeStatus                    // states: the most available (UP > NOLB > DRAIN > MAINT > DOWN)
	mergeLastSess                  // seconds since the last session: the smallest, -1 only when no process had one
)

func (m mergeRule) String() string {
	return [...]string{"sum", "max", "min", "mean", "limit", "first", "status", "last_session"}[m]
}

// columnMerge is the rule of every column the families read. A column
// missing here (a newer HAProxy's) is summed when every process prints a
// number, else taken from the first process.
var columnMerge = map[string]mergeRule{
	"pxname": mergeFirst, "svname": mergeFirst, "type": mergeFirst, "mode": mergeFirst,
	"qcur": mergeSum, "qmax": mergeMax, "scur": mergeSum, "smax": mergeMax, "slim": mergeLimit,
	"stot": mergeSum, "bin": mergeSum, "bout": mergeSum, "dreq": mergeSum, "dresp": mergeSum,
	"ereq": mergeSum, "econ": mergeSum, "eresp": mergeSum, "wretr": mergeSum, "wredis": mergeSum,
	"status": mergeStatus, "weight": mergeMax, "uweight": mergeMax, "act": mergeMax, "bck": mergeMax,
	// Every process checks every server itself: failed checks add up,
	// but an UP/DOWN transition or a stretch of downtime is the same
	// event seen by each.
	"chkfail": mergeSum, "chkdown": mergeMax, "downtime": mergeMax, "lastchg": mergeMin,
	"qlimit": mergeLimit, "throttle": mergeMax, "lbtot": mergeSum,
	"rate": mergeSum, "rate_lim": mergeLimit, "rate_max": mergeMax,
	"check_status": mergeFirst, "check_code": mergeFirst, "check_duration": mergeFirst,
	"hrsp_1xx": mergeSum, "hrsp_2xx": mergeSum, "hrsp_3xx": mergeSum, "hrsp_4xx": mergeSum,
	"hrsp_5xx": mergeSum, "hrsp_other": mergeSum,
	"req_rate": mergeSum, "req_rate_max": mergeMax, "req_tot": mergeSum,
	"cli_abrt": mergeSum, "srv_abrt": mergeSum,
	"comp_in": mergeSum, "comp_out": mergeSum, "comp_byp": mergeSum, "comp_rsp": mergeSum,
	"lastsess": mergeLastSess,
	"qtime":    mergeMean, "ctime": mergeMean, "rtime": mergeMean, "ttime": mergeMean,
	"conn_rate": mergeSum, "conn_rate_max": mergeMax, "conn_tot": mergeSum,
	"intercepted": mergeSum, "dcon": mergeSum, "dses": mergeSum, "wrew": mergeSum,
	"connect": mergeSum, "reuse": mergeSum, "cache_lookups": mergeSum, "cache_hits": mergeSum,
	"srv_icur": mergeSum, "src_ilim": mergeLimit,
	"qtime_max": mergeMax, "ctime_max": mergeMax, "rtime_max": mergeMax, "ttime_max": mergeMax,
	"eint": mergeSum, "idle_conn_cur": mergeSum, "safe_conn_cur": mergeSum,
	"used_conn_cur": mergeSum, "need_conn_est": mergeSum, "priv_idle_cur": mergeSum,
	"reqbin": mergeSum, "reqbout": mergeSum, "resbin": mergeSum, "resbout": mergeSum,
	"agent_status": mergeFirst, "agent_code": mergeFirst, "agent_duration": mergeFirst,
	"check_rise": mergeFirst, "check_fall": mergeFirst, "check_health": mergeFirst,
	"agent_rise": mergeFirst, "agent_fall": mergeFirst, "agent_health": mergeFirst,
}

// statusRank orders the states by how available they leave the server:
// a server is DOWN in the merged view only when every process says so,
// and in MAINT only when none has it running.
func statusRank(raw []byte) int {
	switch haproxyapi.ParseStatus(string(raw)).State {
	case "UP":
		return 5
	case "NOLB":
		return 4
	case "DRAIN":
		return 3
	case "MAINT":
		return 2
	case "DOWN":
		return 1
	}
	return 0
}

// adminRank orders admin states the same way: ready > drain > maint.
func adminRank(f haproxyapi.AdminFlags) int {
	switch f.State() {
	case haproxyapi.StateReady:
		return 3
	case haproxyapi.StateDrain:
		return 2
	}
	return 1
}

// mergeValues combines one column's values of the processes that have the
// row. It appends the result to dst.
func mergeValues(dst []byte, rule mergeRule, vals [][]byte) []byte {
	if allSame(vals) {
		// Most columns hold the same text in every process (settings,
		// idle zeros, states): every rule but a sum keeps it, and a sum of
		// zeros or of nothing is itself. This skips most number parsing.
		v := vals[0]
		if (rule != mergeSum && rule != mergeLimit) || len(v) == 0 || (len(v) == 1 && v[0] == '0') {
			return append(dst, v...)
		}
	}
	first := func() []byte {
		for _, v := range vals {
			if len(v) > 0 {
				return append(dst, v...)
			}
		}
		return dst
	}
	switch rule {
	case mergeFirst:
		return first()
	case mergeStatus:
		best, rank := []byte(nil), -1
		for _, v := range vals {
			if r := statusRank(v); r > rank && len(v) > 0 {
				best, rank = v, r
			}
		}
		return append(dst, best...)
	}
	var acc float64
	n, empty := 0, 0
	for _, v := range vals {
		if len(v) == 0 {
			empty++
			continue
		}
		f, ok := haproxyapi.ParseNumber(v)
		if !ok {
			return first() // not a number after all: keep one process's text
		}
		switch {
		case rule == mergeLastSess && f < 0:
			continue // this process never had a session
		case n == 0:
			acc = f
		case rule == mergeMax:
			acc = math.Max(acc, f)
		case rule == mergeMin, rule == mergeLastSess:
			acc = math.Min(acc, f)
		default: // sum, mean, limit, unknown columns
			acc += f
		}
		n++
	}
	switch {
	case rule == mergeLastSess && n == 0 && empty < len(vals):
		return append(dst, "-1"...)
	case n == 0, rule == mergeLimit && empty > 0:
		return dst
	case rule == mergeMean:
		acc /= float64(n)
	}
	return appendNumber(dst, acc)
}

func allSame(vals [][]byte) bool {
	for _, v := range vals[1:] {
		if string(v) != string(vals[0]) {
			return false
		}
	}
	return true
}

// appendNumber writes integers as HAProxy does (no exponent, no point).
func appendNumber(dst []byte, f float64) []byte {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

// unionColumns lists the columns any of the dumps kept, in first-seen
// order.
func unionColumns(stats []*haproxyapi.Stat) []string {
	var cols []string
	seen := map[string]bool{}
	for _, st := range stats {
		for i, name := range st.Columns() {
			if name == "" || seen[name] || !st.Kept(i) {
				continue
			}
			seen[name] = true
			cols = append(cols, name)
		}
	}
	return cols
}

type rowRef struct{ p, r int }

// mergeStats folds several processes' dumps into one: rows with the same
// type, proxy and server name become one row, each column merged by its
// rule (columnMerge). Rows only some processes have keep those
// processes' values. The table is built column by column: each column of
// each dump is then read in order, which is what its column-major
// layout is fast at.
func mergeStats(stats []*haproxyapi.Stat) (*haproxyapi.Stat, error) {
	cols := unionColumns(stats)
	idx := make([][]int, len(stats)) // per process, per column: its position
	for p, st := range stats {
		idx[p] = make([]int, len(cols))
		for k, name := range cols {
			idx[p][k] = st.Col(name)
		}
	}
	var groups [][]rowRef
	byKey := map[string]int{}
	size := 0
	for p, st := range stats {
		size = max(size, st.Size())
		ty, px, sv := st.Col("type"), st.Col("pxname"), st.Col("svname")
		var key []byte
		for r := 0; r < st.Rows(); r++ {
			key = append(key[:0], st.Bytes(r, ty)...)
			key = append(key, 0)
			key = append(key, st.Bytes(r, px)...)
			key = append(key, 0)
			key = append(key, st.Bytes(r, sv)...)
			g, ok := byKey[string(key)]
			if !ok {
				g = len(groups)
				byKey[string(key)] = g
				groups = append(groups, nil)
			}
			groups[g] = append(groups[g], rowRef{p, r})
		}
	}
	b := haproxyapi.NewStatBuilder(cols, len(groups), size)
	var vals [][]byte
	var val []byte
	for k, name := range cols {
		rule := columnMerge[name] // unknown: mergeSum, which keeps text as first
		for _, g := range groups {
			if len(g) == 1 { // one process has the row: its value as it is
				b.Append(k, stats[g[0].p].Bytes(g[0].r, idx[g[0].p][k]))
				continue
			}
			vals = vals[:0]
			for _, ref := range g {
				vals = append(vals, stats[ref.p].Bytes(ref.r, idx[ref.p][k]))
			}
			val = mergeValues(val[:0], rule, vals)
			b.Append(k, val)
		}
	}
	st, err := b.Stat()
	if err != nil {
		return nil, fmt.Errorf("merging processes' show stat: %w", err)
	}
	return st, nil
}

// concatStats puts several processes' dumps one after the other, each row
// with its process label in processColumn.
func concatStats(stats []*haproxyapi.Stat, labels []string) (*haproxyapi.Stat, error) {
	cols := unionColumns(stats)
	size, rows := 0, 0
	for _, st := range stats {
		size += st.Size()
		rows += st.Rows()
	}
	b := haproxyapi.NewStatBuilder(append(cols, processColumn), rows, size)
	for k, name := range cols {
		for _, st := range stats {
			c := st.Col(name)
			for r := 0; r < st.Rows(); r++ {
				b.Append(k, st.Bytes(r, c))
			}
		}
	}
	for p, st := range stats {
		label := []byte(labels[p])
		for r := 0; r < st.Rows(); r++ {
			b.Append(len(cols), label)
		}
	}
	st, err := b.Stat()
	if err != nil {
		return nil, fmt.Errorf("joining processes' show stat: %w", err)
	}
	return st, nil
}

// infoMerge is the rule of the `show info` fields that are not summed.
// Fields not listed are summed when every process prints a number (the
// counters, current values and per-process limits), else taken from the
// first process (Version, Release_date, Node, …).
var infoMerge = map[string]mergeRule{
	"Uptime_sec":                  mergeMin,
	"Start_time_sec":              mergeMax,
	"Idle_pct":                    mergeMean,
	"SslFrontendSessionReuse_pct": mergeMean,
	"Stopping":                    mergeMax,
	"BusyPolling":                 mergeMax,
	"Pid":                         mergeFirst,
	"Uptime":                      mergeFirst,
}

// mergeInfo merges the processes' `show info`. Nbproc becomes the number
// of processes merged, and Process_num (which process this is) is
// dropped: it means nothing for the whole.
func mergeInfo(infos []haproxyapi.Info) haproxyapi.Info {
	out := haproxyapi.Info{}
	var keys []string
	for _, in := range infos {
		for k := range in {
			if _, ok := out[k]; !ok {
				out[k] = ""
				keys = append(keys, k)
			}
		}
	}
	vals := make([][]byte, len(infos))
	for _, k := range keys {
		for i, in := range infos {
			vals[i] = []byte(in[k])
		}
		out[k] = string(mergeValues(nil, infoMerge[k], vals)) // unlisted: mergeSum
	}
	delete(out, "Process_num")
	out["Nbproc"] = strconv.Itoa(len(infos))
	return out
}
