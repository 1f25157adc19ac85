package haproxy

import (
	"bufio"
	"runtime"
	"sort"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lbpilot/lbpilot/internal/expo"
	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// Extra label slots: families with no extra label, with "state", with
// "code", with "mod" (extra counters).
const (
	extraNone = iota
	extraState
	extraCode
	extraMod
	numSlots
)

var slotNames = [numSlots]string{"", "state", "code", "mod"}

// segText is how much text a family collects before it goes to the
// compressors: ~60 server families fill at once, so this bounds the text
// held to a few MB, while a segment stays long enough that restarting
// the deflate dictionary per segment costs little ratio.
const segText = 64 << 10

// maxCompressors bounds the goroutines compressing one scrape: eight
// cores compress a 10,000-server answer faster than HAProxy dumps it, and
// each holds its own deflate state and queued text.
const maxCompressors = 8

// serverStream holds the server families of one scrape as deflated
// segments, family by family (the exposition groups lines by family,
// while show stat prints row by row). Rows are rendered into per-family
// text buffers; a full buffer goes to the compressors, on the other cores,
// at once. On a socket the rows are rendered as HAProxy dumps them
// (UpdateStream's live path), so when its last byte arrives only the last
// buffers remain to compress.
//
// Each row's label pairs are rendered once, in client_golang's order
// (sorted by name), and reused for every family; integer fields are
// copied from the CSV as they are.
type serverStream struct {
	c      *Collector
	d      *expo.Deflater
	fams   []*compiled
	byName map[string]int
	bufs   [][]byte          // per family: text not yet compressed
	segs   [][]*expo.Pending // per family, in order
	cols   []columns         // resolved from the header, on the first rows
	// The label layout: sources in sorted order, and for each extra
	// label slot the index in order before which it sorts in.
	order    []labelSource
	insertAt [numSlots]int
	labels   []byte     // label pairs of the rows being rendered (scratch)
	batch    []batchRow // the rows being rendered (scratch)
	// haproxy_server_info: its label names in sorted order, and with the
	// process label the servers already written (rows repeat per process).
	infoNames []string
	infoOrder []int
	infoSeen  map[[2]string]bool
}

// labelSource is a label in sorted order: a const label, proxy or server.
type labelSource struct {
	name  string
	value string // const labels only
	kind  int    // 0 const, 1 proxy, 2 server, 3 process
}

// deferred reports the families that need more than their own row of
// show stat: the show servers state ones, rendered after every part of
// the scrape has arrived.
func deferred(f *compiled) bool {
	switch f.kind {
	case adminState, serverInfo, aggState, aggCheck:
		return true
	}
	return false
}

func newServerStream(c *Collector, process bool) *serverStream {
	ss := &serverStream{
		c: c, d: expo.NewLineDeflater(min(runtime.GOMAXPROCS(0), maxCompressors)),
		fams: c.server, byName: map[string]int{},
		bufs: make([][]byte, len(c.server)), segs: make([][]*expo.Pending, len(c.server)),
	}
	for i, f := range c.server {
		ss.byName[f.fqName] = i
	}
	ss.order = []labelSource{{name: "proxy", kind: 1}, {name: "server", kind: 2}}
	if process {
		ss.order = append(ss.order, labelSource{name: "process", kind: 3})
		ss.infoSeen = map[[2]string]bool{}
	}
	for i, n := range c.constNames {
		ss.order = append(ss.order, labelSource{name: n, value: c.constValues[i]})
	}
	sort.Slice(ss.order, func(i, j int) bool { return ss.order[i].name < ss.order[j].name })
	for slot := extraState; slot < numSlots; slot++ {
		ss.insertAt[slot] = sort.Search(len(ss.order), func(i int) bool { return ss.order[i].name > slotNames[slot] })
	}
	// haproxy_server_info's sources: 0 proxy, 1 server, 2..4 address,
	// port, fqdn, 5.. const labels.
	ss.infoNames = append([]string{"proxy", "server"}, serverInfoLabels...)
	ss.infoNames = append(ss.infoNames, c.constNames...)
	ss.infoOrder = make([]int, len(ss.infoNames))
	for i := range ss.infoOrder {
		ss.infoOrder[i] = i
	}
	sort.Slice(ss.infoOrder, func(a, b int) bool { return ss.infoNames[ss.infoOrder[a]] < ss.infoNames[ss.infoOrder[b]] })
	return ss
}

// render renders rows [from, to) of s.stat for the families that pick
// selects, leaving out the rows the snapshot or the exclusion options
// drop.
func (ss *serverStream) render(s *snapshot, from, to int, pick func(*compiled) bool) {
	st := s.stat
	if ss.cols == nil {
		ss.cols = resolveColumns(st, ss.fams)
	}
	which := make([]int, 0, len(ss.fams))
	for i, f := range ss.fams {
		if pick(f) {
			which = append(which, i)
		}
	}
	if len(which) == 0 {
		// Nothing left for after the dump (no show servers state
		// family): building every row's labels again would only fill
		// the heap at its fullest moment.
		return
	}
	// Rows first (their labels rendered once), then family by family:
	// the table is stored column by column, so each family reads one
	// column in order and appends to one buffer.
	px, sv := st.Col("pxname"), st.Col("svname")
	skip := ss.c.serverFilter(st)
	rows := ss.batch[:0]
	ss.labels = ss.labels[:0]
	for r := from; r < to; r++ {
		if st.Type(r) != haproxyapi.TypeServer || !s.keep(r) || skip(r) {
			continue
		}
		row := batchRow{r: r, vars: []string{st.String(r, px), st.String(r, sv)}, start: len(ss.labels)}
		if s.procCol >= 0 {
			row.vars = append(row.vars, s.rowProcess(r))
		}
		row.at = ss.appendLabels(row.vars)
		row.end = len(ss.labels)
		rows = append(rows, row)
	}
	ss.batch = rows
	for _, i := range which {
		for k := range rows {
			if ss.bufs[i] == nil {
				ss.bufs[i] = ss.d.Buffer(segText)
			}
			if ss.fams[i].kind == serverInfo {
				ss.bufs[i] = ss.appendServerInfo(ss.bufs[i], s, rows[k].vars)
			} else {
				ss.bufs[i] = ss.appendRow(ss.bufs[i], s, i, &rows[k])
			}
			if len(ss.bufs[i]) >= segText-4096 {
				ss.flush(i)
			}
		}
		if b := ss.bufs[i]; b != nil && len(b) == 0 {
			// A family these servers have nothing for (no checks, no
			// agent) holds no buffer between batches.
			ss.d.Recycle(b)
			ss.bufs[i] = nil
		}
	}
}

// batchRow is a server row being rendered, with its label pairs at
// ss.labels[start:end].
type batchRow struct {
	r          int
	vars       []string
	start, end int
	at         [numSlots]int // where each extra label slot sorts in, from start
}

// appendLabels appends a row's label pairs to ss.labels and returns
// where each extra label slot sorts in.
func (ss *serverStream) appendLabels(vars []string) (at [numSlots]int) {
	b := ss.labels
	base := len(b)
	for k, l := range ss.order {
		for slot := extraState; slot < numSlots; slot++ {
			if ss.insertAt[slot] == k {
				at[slot] = len(b) - base
			}
		}
		if k > 0 {
			b = append(b, ',')
		}
		v := l.value
		if l.kind > 0 {
			v = vars[l.kind-1]
		}
		b = append(b, l.name...)
		b = append(b, '=', '"')
		b = expo.AppendLabelValue(b, v)
		b = append(b, '"')
	}
	for slot := extraState; slot < numSlots; slot++ {
		if ss.insertAt[slot] == len(ss.order) {
			at[slot] = len(b) - base
		}
	}
	ss.labels = b
	return at
}

// appendRow appends family i's lines for a row.
func (ss *serverStream) appendRow(b []byte, s *snapshot, i int, row *batchRow) []byte {
	f, col, st, r := ss.fams[i], ss.cols[i], s.stat, row.r
	name, labels := f.fqName, ss.labels[row.start:row.end]
	if (f.kind == plain || f.kind == nanIfEmpty) && f.scale == 1 && col.mode < 0 && col.main >= 0 {
		// Fast path: the CSV already spells the integer.
		raw := st.Bytes(r, col.main)
		if len(raw) == 0 && f.kind == plain {
			return b
		}
		if isInteger(raw) {
			return appendSample(b, name, labels, raw)
		}
	}
	if f.kind == plain && f.scale == ms && col.mode < 0 && col.main >= 0 {
		// Milliseconds as seconds: formatting the float is the costly
		// part, and the values repeat (times of up to 10 s cover almost
		// every server), so their text comes from a table.
		if txt, ok := msText(st.Bytes(r, col.main)); ok {
			return appendSample(b, name, labels, txt)
		}
	}
	slot := extraState
	switch f.kind {
	case httpCodes:
		slot = extraCode
	case extraCounter:
		slot = extraMod
	case plain, nanIfEmpty, checkCode:
		slot = extraNone
	}
	rowSamples(s, r, f, col, row.vars, func(extra string, v float64) {
		b = append(b, name...)
		b = append(b, '{')
		if extra == "" || slot == extraNone {
			b = append(b, labels...)
		} else {
			at := row.at[slot]
			b = append(b, labels[:at]...)
			if at > 0 {
				b = append(b, ',')
			}
			b = append(b, slotNames[slot]...)
			b = append(b, '=', '"')
			b = append(b, extra...)
			b = append(b, '"')
			if at == 0 && len(labels) > 0 {
				b = append(b, ',')
			}
			b = append(b, labels[at:]...)
		}
		b = append(b, '}', ' ')
		b = expo.AppendFloat(b, v)
		b = append(b, '\n')
	})
	return b
}

// appendServerInfo appends haproxy_server_info's line for a server; its
// three extra labels do not fit the one-slot layout of the other
// families.
func (ss *serverStream) appendServerInfo(b []byte, s *snapshot, vars []string) []byte {
	if ss.infoSeen != nil {
		k := [2]string{vars[0], vars[1]}
		if ss.infoSeen[k] {
			return b
		}
		ss.infoSeen[k] = true
	}
	sv, ok := s.serverInfo(vars)
	if !ok {
		return b
	}
	b = append(b, "haproxy_server_info{"...)
	for j, k := range ss.infoOrder {
		if j > 0 {
			b = append(b, ',')
		}
		b = append(b, ss.infoNames[k]...)
		b = append(b, '=', '"')
		switch k {
		case 0, 1:
			b = expo.AppendLabelValue(b, vars[k])
		case 2:
			b = expo.AppendLabelValue(b, sv.Addr)
		case 3: // port: digits, no escaping needed
			if sv.Port > 0 {
				b = strconv.AppendInt(b, int64(sv.Port), 10)
			}
		case 4:
			b = expo.AppendLabelValue(b, sv.FQDN)
		default:
			b = expo.AppendLabelValue(b, ss.c.constValues[k-5])
		}
		b = append(b, '"')
	}
	return append(b, "} 1\n"...)
}

// flush hands family i's text to the compressors.
func (ss *serverStream) flush(i int) {
	if len(ss.bufs[i]) == 0 {
		return
	}
	ss.segs[i] = append(ss.segs[i], ss.d.Deflate(ss.bufs[i]))
	ss.bufs[i] = nil
}

// finish compresses what is left and waits for every segment.
func (ss *serverStream) finish() {
	for i := range ss.bufs {
		ss.flush(i)
	}
	ss.d.Close()
	ss.labels, ss.batch = nil, nil // scratch; the stream lives until its answer is written
}

// discard drops a stream that will not be written (its scrape failed, or
// it is rendered again).
func (ss *serverStream) discard() {
	if ss != nil {
		ss.d.Close()
	}
}

func (ss *serverStream) Families() []expo.Family {
	out := make([]expo.Family, 0, len(ss.fams))
	for _, f := range ss.fams {
		t := dto.MetricType_GAUGE
		switch f.typ {
		case prometheus.CounterValue:
			t = dto.MetricType_COUNTER
		case prometheus.UntypedValue:
			t = dto.MetricType_UNTYPED
		}
		out = append(out, expo.Family{Name: f.fqName, Help: f.help, Type: t})
	}
	return out
}

// Segments returns family name's samples, compressed.
func (ss *serverStream) Segments(name string) []expo.Segment {
	i, ok := ss.byName[name]
	if !ok {
		return nil
	}
	out := make([]expo.Segment, len(ss.segs[i]))
	for k, p := range ss.segs[i] {
		out[k] = p.Wait()
	}
	return out
}

// WriteSamples writes family name's samples as text (inflated).
func (ss *serverStream) WriteSamples(w *bufio.Writer, name string) error {
	return expo.InflateSegments(w, ss.Segments(name))
}

// msTable[n] is the sample text of n milliseconds in seconds, exactly as
// the general path spells float64(n)*ms.
var msTable = sync.OnceValue(func() []string {
	t := make([]string, 10000)
	for n := range t {
		t[n] = string(expo.AppendFloat(nil, float64(n)*ms))
	}
	return t
})

// msText returns the table's text for a field of 0 to 9999 (ms).
func msText(raw []byte) (string, bool) {
	if len(raw) == 0 || len(raw) > 4 {
		return "", false
	}
	n := 0
	for _, c := range raw {
		if c < '0' || c > '9' {
			return "", false
		}
		n = n*10 + int(c-'0')
	}
	return msTable()[n], true
}

// isInteger reports an optionally negative run of at most 18 decimal digits.
func isInteger(b []byte) bool {
	i := 0
	if len(b) > 1 && b[0] == '-' {
		i = 1
	}
	if len(b) > 18 || len(b) == 0 {
		return false
	}
	for ; i < len(b); i++ {
		if b[i] < '0' || b[i] > '9' {
			return false
		}
	}
	return true
}

// appendSample writes one exposition line whose value is already text.
func appendSample[V string | []byte](b []byte, name string, labels []byte, value V) []byte {
	b = append(b, name...)
	b = append(b, '{')
	b = append(b, labels...)
	b = append(b, '}', ' ')
	b = append(b, value...)
	return append(b, '\n')
}
