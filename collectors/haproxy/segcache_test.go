package haproxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/internal/expo"
	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
)

// streamText returns each family's text of a server stream.
func streamText(t *testing.T, ss expo.Stream) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range ss.Families() {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		if err := ss.WriteSamples(w, f.Name); err != nil {
			t.Fatal(err)
		}
		_ = w.Flush()
		out[f.Name] = b.String()
	}
	return out
}

// renderUncached renders a snapshot's server families with a cache of
// its own: what the stream must say whatever the target's cache holds.
func renderUncached(t *testing.T, c *Collector, s *snapshot) map[string]string {
	t.Helper()
	ss := newServerStream(c, s.procCol >= 0)
	ss.cache = expo.NewSegmentCache()
	ss.render(s, 0, s.stat.Rows(), func(*compiled) bool { return true })
	ss.finish(s)
	return streamText(t, ss)
}

// scrapeChecked scrapes c through the stream and fails unless every
// family says what a render of the same dump without any cache says.
func scrapeChecked(t *testing.T, c *Collector, what string) (expo.Stream, map[string]string) {
	t.Helper()
	ch := make(chan prometheus.Metric, 1<<20)
	st, err := c.UpdateStream(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, want := streamText(t, st), renderUncached(t, c, s)
	for fam, w := range want {
		if got[fam] != w {
			t.Fatalf("%s: %s: the stream's %d bytes differ from the %d rendered without a cache", what, fam, len(got[fam]), len(w))
		}
	}
	return st, got
}

// TestSegmentInputCoversEveryField guards the input keys: a segment is
// taken from the cache, unrendered, when its key is the one it was made
// under, so every field that changes a family's lines must be in its key.
// Each field of each server row is changed in turn; where a family's
// lines change and the rows kept (and their labels) did not, the column
// must be one of the family's input columns.
func TestSegmentInputCoversEveryField(t *testing.T) {
	csv := strings.TrimRight(string(fixture(t, "status_zoo_show_stat.csv")), "\n")
	lines := strings.Split(csv, "\n")
	opts := map[string]*Options{"extra families": extrasOptions(), "extra counters": {ExtraCounters: true}}
	if err := opts["extra counters"].Validate(); err != nil {
		t.Fatal(err)
	}
	for name, o := range opts {
		t.Run(name, func(t *testing.T) {
			c := newCollector(t, o, "unix:/nonexistent/admin.sock", nil)
			type result struct {
				text   map[string]string
				rows   []int
				sums   []uint64
				inCols [][]int
			}
			render := func(text string) result {
				st, err := haproxyapi.ParseStatColumns([]byte(text+"\n\n"), c.columns)
				if err != nil {
					t.Fatal(err)
				}
				s := &snapshot{stat: st, procCol: -1}
				ss := newServerStream(c, false)
				ss.cache = expo.NewSegmentCache()
				ss.render(s, 0, st.Rows(), func(f *compiled) bool { return !deferred(f) })
				r := result{rows: slices.Clone(ss.rowIdx), sums: slices.Clone(ss.sums), inCols: ss.inCols}
				ss.finish(s)
				r.text = streamText(t, ss)
				return r
			}
			base := render(csv)
			header := strings.Split(strings.TrimPrefix(lines[0], "# "), ",")
			kept, err := haproxyapi.ParseStatColumns([]byte(csv+"\n\n"), c.columns)
			if err != nil {
				t.Fatal(err)
			}
			changed := map[string]bool{}
			servers := 0
			for li := 1; li < len(lines) && servers < 6; li++ {
				fields := strings.Split(lines[li], ",")
				if fields[1] == "FRONTEND" || fields[1] == "BACKEND" {
					continue
				}
				servers++ // six servers of different states are enough, and keep -race quick
				for col := range header {
					// A column the collector does not keep is not even parsed.
					if col >= len(fields) || !kept.Kept(col) {
						continue
					}
					mut := slices.Clone(fields)
					mut[col] = "7"
					if fields[col] == "7" {
						mut[col] = "8"
					}
					text := slices.Clone(lines)
					text[li] = strings.Join(mut, ",")
					got := render(strings.Join(text, "\n"))
					if !slices.Equal(got.rows, base.rows) || !slices.Equal(got.sums, base.sums) {
						continue // other rows or labels: every key changes
					}
					for i, f := range c.server {
						if deferred(f) || got.text[f.fqName] == base.text[f.fqName] {
							continue
						}
						changed[f.fqName] = true
						if !slices.Contains(base.inCols[i], col) {
							t.Errorf("%s: column %q (%d) changes its lines but is not in its input %v", f.fqName, header[col], col, base.inCols[i])
						}
					}
				}
			}
			// The check above means something only if fields did change
			// lines: most families must have been seen changing.
			if keyed := countKeyed(c); len(changed) < keyed*3/4 {
				t.Fatalf("only %d of %d families changed with any field", len(changed), keyed)
			}
		})
	}
}

func countKeyed(c *Collector) int {
	n := 0
	for _, f := range c.server {
		if !deferred(f) {
			n++
		}
	}
	return n
}

// bigZoo is the status zoo's server rows repeated up to about size bytes:
// several segments per family.
func bigZoo(t *testing.T, size int) []string {
	lines := strings.Split(strings.TrimRight(string(fixture(t, "status_zoo_show_stat.csv")), "\n"), "\n")
	out := slices.Clone(lines)
	n := len(csvJoin(out))
	for i := 0; n < size; i++ {
		for _, l := range lines[1:] {
			f := strings.SplitN(l, ",", 3)
			if f[1] != "FRONTEND" && f[1] != "BACKEND" {
				l = fmt.Sprintf("%s,%s_%d,%s", f[0], f[1], i, f[2])
				out = append(out, l)
				n += len(l) + 1
			}
		}
	}
	return out
}

func csvJoin(lines []string) string { return strings.Join(lines, "\n") + "\n\n" }

// reusedSegments counts a stream's segments taken from the cache, and all.
func reusedSegments(t *testing.T, s expo.Stream) (reused, all int) {
	t.Helper()
	ss, ok := s.(*serverStream)
	if !ok {
		t.Fatalf("stream is a %T", s)
	}
	for _, segs := range ss.segs {
		for _, p := range segs {
			p.Wait()
			all++
			if p.Reused {
				reused++
			}
		}
	}
	return reused, all
}

// Scrapes of one target reuse the segments that did not change, and say
// exactly what a render without any cache says.
func TestSegmentCacheAcrossScrapes(t *testing.T) {
	lines := bigZoo(t, 1<<20)
	var answer atomic.Pointer[string]
	set := func(ls []string) { s := csvJoin(ls); answer.Store(&s) }
	set(lines)
	others := haproxytest.ByLine(map[string][]byte{
		"show info": fixture(t, "show_info.txt"), "show servers state": fixture(t, "status_zoo_show_servers_state.txt"),
	})
	addr := haproxytest.NewSocket(t, func(line string) haproxytest.Reply {
		if line == "show stat" {
			return haproxytest.Reply{Data: []byte(*answer.Load())}
		}
		return others(line)
	}).Addr
	c := newCollector(t, extrasOptions(), addr, nil)
	scrape := func() (expo.Stream, map[string]string) { return scrapeChecked(t, c, "zoo") }

	first, text1 := scrape()
	if r, _ := reusedSegments(t, first); r != 0 {
		t.Fatalf("%d segments reused on the first scrape", r)
	}
	second, text2 := scrape()
	reused, all := reusedSegments(t, second)
	// Everything but the families show servers state feeds (rendered
	// and compared as text) comes from the cache unrendered.
	if all < 100 || reused < all*3/4 {
		t.Fatalf("unchanged dump: %d of %d segments reused", reused, all)
	}
	for name := range text1 {
		if text1[name] != text2[name] {
			t.Fatalf("%s changed between two scrapes of the same dump", name)
		}
	}

	// One server's counters and state change, another row goes: the
	// stream follows, and what did not change still comes from the cache.
	mut := slices.Clone(lines)
	for i, l := range mut {
		f := strings.Split(l, ",")
		if len(f) > 20 && f[1] == "web1_3" {
			f[7] = "987654321" // stot
			f[17] = "DOWN"     // status
			mut[i] = strings.Join(f, ",")
		}
	}
	mut = slices.Delete(mut, 300, 301)
	set(mut)
	third, _ := scrape()
	reused3, all3 := reusedSegments(t, third)
	if reused3 == 0 || reused3 >= all3 {
		t.Fatalf("changed dump: %d of %d segments reused; want some, not all", reused3, all3)
	}
}

// Collectors with other options on one target (a /probe with other
// parameters) share its cache and never get each other's segments.
func TestSegmentCacheSharedByOptions(t *testing.T) {
	lines := bigZoo(t, 256<<10)
	addr := haproxytest.NewSocket(t, haproxytest.ByLine(map[string][]byte{
		"show stat": []byte(csvJoin(lines)), "show info": fixture(t, "show_info.txt"),
		"show servers state": fixture(t, "status_zoo_show_servers_state.txt"),
	})).Addr
	excl := &Options{ExcludeServerStates: []string{"maint"}}
	counters := &Options{ExtraCounters: true}
	for _, o := range []*Options{excl, counters} {
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	labelled := prometheus.Labels{"zone": "a"}
	for round := range 2 {
		for name, c := range map[string]*Collector{
			"defaults": newCollector(t, nil, addr, nil), "maint left out": newCollector(t, excl, addr, nil),
			"extra counters": newCollector(t, counters, addr, nil), "target label": newCollector(t, nil, addr, labelled),
		} {
			scrapeChecked(t, c, fmt.Sprintf("round %d, %s", round, name))
		}
	}
}

func TestSegCacheListDropsTheLeastRecentlyUsed(t *testing.T) {
	l := &segCacheList{m: map[string]*segCacheEntry{}}
	first := l.get("unix:/0")
	for i := 1; i < maxSegCaches; i++ {
		l.get(fmt.Sprintf("unix:/%d", i))
	}
	if l.get("unix:/0") != first {
		t.Fatal("a target's cache changed while the list had room")
	}
	l.get("unix:/new") // full: drops unix:/1, the least recently used
	if len(l.m) != maxSegCaches {
		t.Fatalf("%d caches, want %d", len(l.m), maxSegCaches)
	}
	if _, ok := l.m["unix:/1"]; ok {
		t.Fatal("the least recently used cache was kept")
	}
	if l.get("unix:/0") != first {
		t.Fatal("a recently used cache was dropped")
	}
}

// reuse_unchanged: false renders and compresses everything every time.
func TestReuseUnchangedOff(t *testing.T) {
	addr := haproxytest.NewSocket(t, haproxytest.ByLine(map[string][]byte{
		"show stat": []byte(csvJoin(bigZoo(t, 256<<10))), "show info": fixture(t, "show_info.txt"),
	})).Addr
	off := false
	o := &Options{ReuseUnchanged: &off}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	c := newCollector(t, o, addr, nil)
	for round := range 2 {
		st, _ := scrapeChecked(t, c, fmt.Sprintf("round %d", round))
		if reused, all := reusedSegments(t, st); reused != 0 || all == 0 {
			t.Fatalf("round %d: %d of %d segments reused", round, reused, all)
		}
	}
}

// The backend aggregates read each row's key and status once per run of
// equal ones; they must count exactly what reading every row does, with
// backends interleaved and with the process label.
func TestAggregatesMatchPerRowReading(t *testing.T) {
	one, err := haproxyapi.ParseStat(fixture(t, "status_zoo_show_stat.csv"))
	if err != nil {
		t.Fatal(err)
	}
	two, err := concatStats([]*haproxyapi.Stat{one, one}, []string{"1", "2"})
	if err != nil {
		t.Fatal(err)
	}
	// One backend's servers only, twice: the rows where the process
	// changes have the same proxy name.
	var web []string
	for i, l := range strings.Split(string(fixture(t, "status_zoo_show_stat.csv")), "\n") {
		if i == 0 || strings.HasPrefix(l, "bk_web,web") {
			web = append(web, l)
		}
	}
	webOnly, err := haproxyapi.ParseStat([]byte(strings.Join(web, "\n") + "\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	webTwice, err := concatStats([]*haproxyapi.Stat{webOnly, webOnly}, []string{"1", "2"})
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*snapshot{
		"one process":           {stat: one, procCol: -1},
		"two, labelled":         {stat: two, procCol: two.Col(processColumn)},
		"one backend, labelled": {stat: webTwice, procCol: webTwice.Col(processColumn)},
	} {
		t.Run(name, func(t *testing.T) {
			st := s.stat
			wantAgg, wantChk := map[string][5]int{}, map[string][]int{}
			for r := 0; r < st.Rows(); r++ {
				if st.Type(r) != haproxyapi.TypeServer {
					continue
				}
				key := st.String(r, st.Col("pxname"))
				if s.procCol >= 0 {
					key = aggKey(key, st.String(r, s.procCol))
				}
				a := wantAgg[key]
				if i := stateIndex(haproxyapi.ParseStatus(st.String(r, st.Col("status"))).State); i >= 0 {
					a[i]++
				}
				wantAgg[key] = a
				if wantChk[key] == nil {
					wantChk[key] = make([]int, len(checkStates))
				}
				if i := slices.Index(checkStates, strings.TrimPrefix(st.String(r, st.Col("check_status")), "* ")); i >= 0 {
					wantChk[key][i]++
				}
			}
			got := aggregate(s)
			if len(got) != len(wantAgg) || len(got) < 2 {
				t.Fatalf("%d backends aggregated, want %d (at least 2)", len(got), len(wantAgg))
			}
			for k, w := range wantAgg {
				if got[k] == nil || *got[k] != w {
					t.Errorf("%q: states %v, want %v", k, got[k], w)
				}
			}
			chk := aggregateChecks(st, s.procCol)
			for k, w := range wantChk {
				if !slices.Equal(chk[k], w) {
					t.Errorf("%q: checks %v, want %v", k, chk[k], w)
				}
			}
			// Counted as the rows arrive, in batches of any size (a
			// batch may end inside a backend, or repeat the last end).
			for _, step := range []int{1, 3, 7, 1000} {
				g := newCounts(st, s.procCol, true)
				for to := 0; to < st.Rows()+step; to += step {
					g.add(s, min(to, st.Rows()))
				}
				if len(g.agg) != len(wantAgg) || len(g.chk) != len(wantChk) {
					t.Fatalf("batches of %d: %d and %d backends counted, want %d", step, len(g.agg), len(g.chk), len(wantAgg))
				}
				for k, w := range wantAgg {
					if g.agg[k] == nil || *g.agg[k] != w || !slices.Equal(g.chk[k], wantChk[k]) {
						t.Errorf("batches of %d: %q: states %v checks %v, want %v %v", step, k, g.agg[k], g.chk[k], w, wantChk[k])
					}
				}
			}
		})
	}
}

// The rows' keys: on a dump where only the volatile fields change (an
// idle HAProxy), every family that does not read them is reused without
// working out its fields' key; a field changed in one row costs each
// family the key of the one part holding that row. Every scrape says what
// a render without any cache says.
func TestRowsKeys(t *testing.T) {
	lines := bigZoo(t, 1<<20)
	header := strings.Split(strings.TrimPrefix(lines[0], "# "), ",")
	var answer atomic.Pointer[string]
	set := func(ls []string) { s := csvJoin(ls); answer.Store(&s) }
	set(lines)
	others := haproxytest.ByLine(map[string][]byte{"show info": fixture(t, "show_info.txt")})
	addr := haproxytest.NewSocket(t, func(line string) haproxytest.Reply {
		if line == "show stat" {
			return haproxytest.Reply{Data: []byte(*answer.Load())}
		}
		return others(line)
	}).Addr
	c := newCollector(t, &Options{}, addr, nil)
	scrape := func(what string) *serverStream {
		st, _ := scrapeChecked(t, c, what)
		return st.(*serverStream)
	}
	// mutate returns lines with the named columns of the server rows
	// (only of line only, when not 0) set by value.
	mutate := func(only int, value func(old string) string, cols ...string) []string {
		out := slices.Clone(lines)
		for i, l := range out[1:] {
			f := strings.Split(l, ",")
			if f[1] == "FRONTEND" || f[1] == "BACKEND" || only != 0 && 1+i != only {
				continue
			}
			for _, name := range cols {
				k := slices.Index(header, name)
				if k < 0 || k >= len(f) {
					t.Fatalf("no column %s", name)
				}
				f[k] = value(f[k])
			}
			out[1+i] = strings.Join(f, ",")
		}
		return out
	}

	serverLine := len(lines) / 2
	for strings.Contains(lines[serverLine], ",FRONTEND,") || strings.Contains(lines[serverLine], ",BACKEND,") {
		serverLine++
	}
	first := scrape("first")
	if first.inputKeys == 0 {
		t.Fatal("the first scrape worked out no key")
	}
	fieldsOnly, rowKeyed := 0, 0 // parts keyed by their fields only; families keyed by rows
	for i, f := range first.fams {
		switch {
		case deferred(f):
		case first.rowKeyed[i]:
			rowKeyed++
		default:
			fieldsOnly += len(first.segs[i])
		}
	}
	if fieldsOnly == 0 || rowKeyed < 20 {
		t.Fatalf("%d parts keyed by fields only, %d families by rows: the test says nothing", fieldsOnly, rowKeyed)
	}
	for _, step := range []struct {
		what  string
		lines []string
		want  int
	}{
		{"the same dump", lines, fieldsOnly},
		{"the volatile fields of every server changed", mutate(0, func(old string) string { return old + "1" }, "lastchg", "lastsess", "check_duration"), fieldsOnly},
		{"a counter of one server changed", mutate(serverLine, func(string) string { return "987654321" }, "stot"), fieldsOnly + rowKeyed},
	} {
		set(step.lines)
		if got := scrape(step.what).inputKeys; got != step.want {
			t.Errorf("%s: %d fields' keys worked out, want %d", step.what, got, step.want)
		}
	}
}

// On a single socket the backends' counts are worked out as the rows
// arrive; they are the counts of the whole dump, and a dump with
// duplicate proxies (rows screen drops) is counted again from the table.
func TestLiveCounts(t *testing.T) {
	zoo := bigZoo(t, 200<<10)
	// A second proxy of the first backend's name (another iid) with its
	// servers: screen drops its rows, which the live counts had counted.
	iid := slices.Index(strings.Split(strings.TrimPrefix(zoo[0], "# "), ","), "iid")
	dup := slices.Clone(zoo)
	first := ""
	for _, l := range zoo[1:] {
		if f := strings.Split(l, ","); first == "" && f[1] != "FRONTEND" && f[1] != "BACKEND" {
			first = f[0] // a backend with servers
		}
	}
	for _, l := range zoo[1:] {
		if f := strings.Split(l, ","); f[0] == first && f[1] != "FRONTEND" {
			f[iid] = "999"
			dup = append(dup, strings.Join(f, ","))
		}
	}
	for name, lines := range map[string][]string{"zoo": zoo, "duplicate backend": dup} {
		t.Run(name, func(t *testing.T) {
			addr := haproxytest.NewSocket(t, haproxytest.ByLine(map[string][]byte{
				"show stat": []byte(csvJoin(lines)), "show info": fixture(t, "show_info.txt"),
			})).Addr
			c := newCollector(t, &Options{}, addr, nil)
			live := newServerStream(c, false)
			s, err := c.fetchLive(context.Background(), live)
			live.discard()
			if err != nil {
				t.Fatal(err)
			}
			if live.counts == nil || live.counts.rows != s.stat.Rows() {
				t.Fatal("the rows were not counted as they arrived")
			}
			var others []int
			for r := 0; r < s.stat.Rows(); r++ {
				if s.stat.Type(r) != haproxyapi.TypeServer {
					others = append(others, r)
				}
			}
			if !slices.Equal(s.others, others) || len(others) < 4 {
				t.Fatalf("rows that are not servers' %v, want %v", s.others, others)
			}
			whole := &snapshot{stat: s.stat, procCol: -1, skip: s.skip}
			want, wantChk := aggregate(whole), aggregateChecks(s.stat, -1)
			if (s.skip != nil) != (name == "duplicate backend") {
				t.Fatalf("screen dropped rows: %v", s.skip != nil)
			}
			if len(s.agg) != len(want) || len(want) < 2 {
				t.Fatalf("%d backends counted, want %d", len(s.agg), len(want))
			}
			for k, w := range want {
				if s.agg[k] == nil || *s.agg[k] != *w || !slices.Equal(s.chk[k], wantChk[k]) {
					t.Errorf("%q: %v %v, want %v %v", k, s.agg[k], s.chk[k], *w, wantChk[k])
				}
			}
		})
	}
}
