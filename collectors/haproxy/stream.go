package haproxy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"runtime"
	"slices"
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

// segRowText is the text a segment's rows are sized for: three quarters of
// segText, leaving room for rows that grow.
const segRowText = segText * 3 / 4

// segCaches keeps the compressed server families of the targets scraped
// last, by target URL, across collectors: /probe builds a collector per
// request.
var segCaches = &segCacheList{m: map[string]*segCacheEntry{}}

// maxSegCaches bounds segCaches; /probe targets come from requests. Each
// holds about one scrape's compressed server families.
const maxSegCaches = 64

type segCacheList struct {
	mu   sync.Mutex
	m    map[string]*segCacheEntry
	tick uint64
}

type segCacheEntry struct {
	c    *expo.SegmentCache
	used uint64
}

// get returns url's cache, making it (and dropping the least recently
// used one when full) if there is none.
func (l *segCacheList) get(url string) *expo.SegmentCache {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tick++
	if e, ok := l.m[url]; ok {
		e.used = l.tick
		return e.c
	}
	if len(l.m) >= maxSegCaches {
		oldest := ""
		for k, e := range l.m {
			if oldest == "" || e.used < l.m[oldest].used {
				oldest = k
			}
		}
		delete(l.m, oldest)
	}
	e := &segCacheEntry{c: expo.NewSegmentCache(), used: l.tick}
	l.m[url] = e
	return e.c
}

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
	segs   [][]*expo.Pending // per family, in order
	// The target's segments of its last scrapes (see closeSegment), and
	// per family: the rows a segment holds (from the cache), the rows of
	// all folded in so far, where the open segment starts, and the input
	// of the open segment (the fields its rows are rendered from).
	cache    *expo.SegmentCache
	reuse    bool // the cache is the target's; else one of the stream's own, keying nothing
	rowsPer  []int
	cur      []int
	segStart []int
	inputs   [][][]byte // per family and column (0: the label sums)
	rowIdx   []int      // all's rows of the Stat
	sums     []uint64   // all's label sums
	cfgSum   uint64     // the families and the label layout
	// The rows' key (SegmentKey.Rows): per row of all, a sum of its whole
	// line but the volatile fields, added up position by position
	// (lineSums[k] covers all[:k]), so a segment's is one subtraction.
	// noLines: the table has no lines (a built one); no such keys.
	lineSums  []uint64
	volatile  []int  // columns left out of the lines' sums, in header order
	lineBuf   []byte // scratch
	hdrSum    uint64 // the header the lines are read by
	noLines   bool
	rowKeyed  []bool     // per family: keyed by its rows too (reads no volatile column)
	inputKeys int        // input keys worked out (tests: the rows' keys spare them)
	counts    *counts    // the backends' counts, worked out as the rows arrive (live only)
	all       []batchRow // the rows kept so far, their labels in ss.labels
	added     int        // rows of the Stat looked at so far
	cols      []columns  // resolved from the header, on the first rows
	inCols    [][]int    // per family: the columns its lines are made from
	// The label layout: sources in sorted order, and for each extra
	// label slot the index in order before which it sorts in.
	order    []labelSource
	insertAt [numSlots]int
	labels   []byte // label pairs of the rows in all
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
		segs:    make([][]*expo.Pending, len(c.server)),
		reuse:   *c.opts.ReuseUnchanged,
		rowsPer: make([]int, len(c.server)), cur: make([]int, len(c.server)),
		segStart: make([]int, len(c.server)), inputs: make([][][]byte, len(c.server)),
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
	if ss.reuse {
		ss.cache = segCaches.get(c.target.URL)
	} else {
		ss.cache = expo.NewSegmentCache() // the rows per segment only
	}
	ss.cfgSum = streamConfigSum(ss)
	// Sized from the last dump, so the scrape does not grow them.
	if n := int(c.lastRows.Load()); n > 0 {
		ss.all, ss.rowIdx, ss.sums = make([]batchRow, 0, n), make([]int, 0, n), make([]uint64, 0, n)
		ss.labels = make([]byte, 0, n*40)
	}
	return ss
}

// streamConfigSum sums up what a family's lines are made of besides its
// rows: the families and the label layout. Collectors of one target with
// other options (a /probe with other parameters) share its cache; their
// segments never pass for each other's.
func streamConfigSum(ss *serverStream) uint64 {
	var h maphash.Hash
	h.SetSeed(inputSeed)
	for _, f := range ss.fams {
		fmt.Fprintf(&h, "%s\x00%d\x00%v\x00%s\x00%d\x00%q\x01", f.fqName, f.kind, f.scale, f.col, f.typ, f.states)
	}
	for _, l := range ss.order {
		fmt.Fprintf(&h, "%s\x00%s\x00%d\x01", l.name, l.value, l.kind)
	}
	fmt.Fprintf(&h, "%v\x01%v", ss.insertAt, ss.infoOrder)
	return h.Sum64()
}

var inputSeed = maphash.MakeSeed()

// render renders rows [from, to) of s.stat for the families that pick
// selects, leaving out the rows the snapshot or the exclusion options
// drop.
func (ss *serverStream) render(s *snapshot, from, to int, pick func(*compiled) bool) {
	st := s.stat
	if ss.cols == nil {
		ss.cols = resolveColumns(st, ss.fams)
		ss.inCols = make([][]int, len(ss.cols))
		for i, c := range ss.cols {
			ss.inCols[i] = inputColumns(c)
		}
		ss.keyLines(st)
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
	// Rows first (their labels rendered once, kept for the scrape), then
	// family by family: the table is stored column by column, so each
	// family reads one column in order.
	px, sv := st.Col("pxname"), st.Col("svname")
	skip := ss.c.serverFilter(st)
	for r := max(from, ss.added); r < to; r++ {
		if st.Type(r) != haproxyapi.TypeServer || !s.keep(r) || skip(r) {
			continue
		}
		row := batchRow{r: r, vars: []string{st.String(r, px), st.String(r, sv)}, start: len(ss.labels)}
		if s.procCol >= 0 {
			row.vars = append(row.vars, s.rowProcess(r))
		}
		row.at = ss.appendLabels(row.vars)
		row.end = len(ss.labels)
		ss.all = append(ss.all, row)
		ss.rowIdx = append(ss.rowIdx, r)
		ss.sums = append(ss.sums, maphash.Bytes(inputSeed, ss.labels[row.start:row.end]))
		ss.addLineSum(st, r)
	}
	ss.added = max(ss.added, to)
	for _, i := range which {
		ss.advance(s, i)
	}
}

// advance folds family i's new rows into its open segment, closing each
// segment once it holds its rows. Segments hold a fixed number of rows,
// set from the size of the family's first row (so that a row a few bytes
// longer changes one segment, not where every later one starts).
func (ss *serverStream) advance(s *snapshot, i int) {
	f := ss.fams[i]
	if ss.rowsPer[i] == 0 && ss.cur[i] < len(ss.all) {
		ss.rowsPer[i] = ss.cache.Rows(f.fqName, func() int {
			return segRowText / max(64, len(ss.appendLine(nil, s, i, &ss.all[ss.cur[i]])))
		})
	}
	for ss.cur[i] < len(ss.all) {
		end := min(len(ss.all), ss.segStart[i]+ss.rowsPer[i])
		ss.cur[i] = end
		if end-ss.segStart[i] >= ss.rowsPer[i] {
			ss.closeSegment(s, i, end)
		}
	}
}

// appendInputs adds rows [from, to) of all to family i's open segment's
// input: what its lines are rendered from, the rows' labels (their sums)
// and every field the family reads, each with its length, one part per
// column (so the input does not depend on how the rows came in batches).
// TestSegmentInputCoversEveryField checks that no other field changes
// the lines.
func (ss *serverStream) appendInputs(st *haproxyapi.Stat, i, from, to int) {
	in := ss.inputs[i]
	if len(in) == 0 {
		in = make([][]byte, 1+len(ss.inCols[i]))
		in[0] = make([]byte, 0, 8*ss.rowsPer[i])
		for k := 1; k < len(in); k++ {
			in[k] = make([]byte, 0, 8*ss.rowsPer[i])
		}
	}
	for _, sum := range ss.sums[from:to] {
		in[0] = binary.LittleEndian.AppendUint64(in[0], sum)
	}
	for k, c := range ss.inCols[i] {
		in[1+k] = st.AppendFields(in[1+k], c, ss.rowIdx[from:to])
	}
	ss.inputs[i] = in
}

// inputKey sums up the input of family i's rows [from, end) of all.
func (ss *serverStream) inputKey(st *haproxyapi.Stat, i, from, end int) uint64 {
	ss.inputKeys++
	ss.appendInputs(st, i, from, end)
	var h maphash.Hash
	h.SetSeed(inputSeed)
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], ss.cfgSum)])
	for k, part := range ss.inputs[i] {
		if k > 0 {
			h.Write(n[:binary.PutVarint(n[:], int64(ss.inCols[i][k-1]))])
		}
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(part)))])
		h.Write(part)
		ss.inputs[i][k] = part[:0]
	}
	return h.Sum64() | 1 // 0 is "no key"
}

// volatileColumns change on an idle HAProxy from one scrape to the next:
// seconds since the last state change and the last session, how long the
// last check took. They are left out of the lines' sums, so that the
// families not reading them are keyed by their rows on an idle HAProxy;
// the families reading them are keyed by their fields only.
var volatileColumns = []string{"lastchg", "lastsess", "check_duration", "agent_duration"}

// keyLines sets up the rows' keys for the table's header.
func (ss *serverStream) keyLines(st *haproxyapi.Stat) {
	ss.volatile = ss.volatile[:0]
	for _, name := range volatileColumns {
		if c := st.Col(name); c >= 0 {
			ss.volatile = append(ss.volatile, c)
		}
	}
	sort.Ints(ss.volatile)
	ss.rowKeyed = make([]bool, len(ss.fams))
	for i, f := range ss.fams {
		ss.rowKeyed[i] = !deferred(f)
		for _, c := range ss.inCols[i] {
			if slices.Contains(ss.volatile, c) {
				ss.rowKeyed[i] = false
			}
		}
	}
	var h maphash.Hash
	h.SetSeed(inputSeed)
	for _, name := range st.Columns() {
		h.WriteString(name)
		h.WriteByte(',')
	}
	ss.hdrSum = h.Sum64()
	if len(ss.lineSums) == 0 {
		ss.lineSums = append(ss.lineSums, 0)
	}
}

// addLineSum adds row r of the Stat, just appended to all, to lineSums:
// its line's sum (the volatile fields left out) mixed with its label sum
// and its position, so that rows that trade places change the key.
func (ss *serverStream) addLineSum(st *haproxyapi.Stat, r int) {
	k := len(ss.all) - 1
	var ok bool
	ss.lineBuf, ok = st.AppendLine(ss.lineBuf[:0], r, ss.volatile)
	if !ok {
		ss.noLines = true
	}
	m := mix64(maphash.Bytes(inputSeed, ss.lineBuf) ^ mix64(ss.sums[k]+uint64(k)*0x9E3779B97F4A7C15))
	ss.lineSums = append(ss.lineSums, ss.lineSums[k]+m)
}

// rowsKey is the SegmentKey.Rows of family i's rows [from, end) of all,
// 0 when the family is not keyed by rows.
func (ss *serverStream) rowsKey(i, from, end int) uint64 {
	if !ss.reuse || ss.noLines || !ss.rowKeyed[i] {
		return 0
	}
	var b [5 * 8]byte
	binary.LittleEndian.PutUint64(b[0:], ss.cfgSum)
	binary.LittleEndian.PutUint64(b[8:], ss.hdrSum)
	binary.LittleEndian.PutUint64(b[16:], uint64(from))
	binary.LittleEndian.PutUint64(b[24:], uint64(end))
	binary.LittleEndian.PutUint64(b[32:], ss.lineSums[end]-ss.lineSums[from])
	return maphash.Bytes(inputSeed, b[:]) | 1
}

// mix64 is a bijective 64-bit mixer (the MurmurHash3 finaliser): sums of
// mixed values do not cancel the way sums of raw ones can.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb93fe51a85cd
	x ^= x >> 33
	return x
}

// inputColumns lists the columns of a family's fields.
func inputColumns(c columns) []int {
	var out []int
	for _, k := range [...]int{c.main, c.mode, c.http[0], c.http[1], c.http[2], c.http[3], c.http[4], c.http[5]} {
		if k >= 0 {
			out = append(out, k)
		}
	}
	return out
}

// closeSegment ends family i's open segment at row end of all. A family
// whose lines need only their row (not a deferred one) is keyed by its
// input: when the cache's segment at this position was made from the same
// input, it is used as it is, and the rows are not even rendered (on a
// large HAProxy most families do not change between scrapes). Otherwise
// the rows are rendered and compressed; the compressors still reuse the
// cached segment when the text comes out the same.
func (ss *serverStream) closeSegment(s *snapshot, i, end int) {
	f := ss.fams[i]
	from := ss.segStart[i]
	ss.segStart[i] = end
	if !ss.reuse {
		if b := ss.renderRows(s, i, from, end); len(b) > 0 {
			ss.segs[i] = append(ss.segs[i], ss.d.Deflate(b))
		}
		return
	}
	slot := ss.cache.Slot(f.fqName, len(ss.segs[i]))
	var key expo.SegmentKey
	if !deferred(f) {
		if key.Rows = ss.rowsKey(i, from, end); key.Rows != 0 {
			if p, ok := ss.d.Cached(slot, key); ok {
				ss.segs[i] = append(ss.segs[i], p)
				return
			}
		}
		key.Input = ss.inputKey(s.stat, i, from, end)
		if p, ok := ss.d.Cached(slot, key); ok {
			ss.segs[i] = append(ss.segs[i], p)
			return
		}
	}
	b := ss.renderRows(s, i, from, end)
	if len(b) == 0 {
		// Kept all the same: an empty part found by its key next time
		// costs nothing, and each part keeps its slot.
		ss.segs[i] = append(ss.segs[i], ss.d.Empty(slot, key))
		return
	}
	ss.segs[i] = append(ss.segs[i], ss.d.DeflateCached(b, slot, key))
}

// renderRows renders family i's lines for rows [from, end) of all into
// a text buffer for the compressors; nil when there are none (a family
// these servers have nothing for: no checks, no agent).
func (ss *serverStream) renderRows(s *snapshot, i, from, end int) []byte {
	b := ss.d.Buffer(segText)
	for k := from; k < end; k++ {
		b = ss.appendLine(b, s, i, &ss.all[k])
	}
	if len(b) == 0 {
		ss.d.Recycle(b)
		return nil
	}
	return b
}

// appendLine appends family i's lines for a row.
func (ss *serverStream) appendLine(b []byte, s *snapshot, i int, row *batchRow) []byte {
	if ss.fams[i].kind == serverInfo {
		return ss.appendServerInfo(b, s, row.vars)
	}
	return ss.appendRow(b, s, i, row)
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

// finish closes every family's last segment and waits for every segment.
func (ss *serverStream) finish(s *snapshot) {
	for i := range ss.fams {
		if ss.segStart[i] < ss.cur[i] {
			ss.closeSegment(s, i, ss.cur[i])
		}
	}
	ss.d.Close()
	// The stream lives until its answer is written; its scratch need not.
	ss.labels, ss.all, ss.inputs, ss.rowIdx, ss.sums, ss.lineSums = nil, nil, nil, nil, nil, nil
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
