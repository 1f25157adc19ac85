package haproxy

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/expo"
	"github.com/lbpilot/lbpilot/internal/golden"
	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
)

// shapesServer serves testdata/shapes_show_stat.csv as a stats page: an
// empty line before the header, a frontend and a backend both named
// "app", a second backend "bk_tcp" (iid 12) after the first (iid 7), a
// row printed twice, and rows with an empty and an unknown type.
func shapesServer(t *testing.T) string {
	csv := fixture(t, "shapes_show_stat.csv")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(csv) }))
	t.Cleanup(srv.Close)
	return srv.URL
}

func debugLogger(buf *bytes.Buffer) collectors.Logger {
	return level.NewFilter(log.NewLogfmtLogger(log.NewSyncWriter(buf)), level.AllowDebug())
}

func TestPublishedShapes(t *testing.T) {
	var logs bytes.Buffer
	c, err := New(*extrasOptions(), collectors.Target{URL: shapesServer(t), Labels: prometheus.Labels{"target": "lb1"}}, debugLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	// The golden file holds: both "app" proxies (a frontend and a backend
	// are two kinds); bk_tcp with the first proxy's values only (scur 0,
	// not the second's 7; no server tcp9); tcp2 once; bk_static without
	// the two rows of unknown type; and the anomaly counts of one scrape.
	goldenCompare(t, c, "published_shapes")

	want := map[string]float64{reasonUnknownRowType: 2, reasonDuplicateProxy: 2, reasonDuplicateRow: 1}
	for reason, n := range want {
		if got := c.anomalies.Count(reason); got != n {
			t.Errorf("%s = %v after one scrape, want %v", reason, got, n)
		}
	}
	// One debug line per reason and scrape, naming the first row.
	text := logs.String()
	for _, w := range []string{
		`reason=unknown_row_type count=2 first_row=bk_static/s1 type=`,
		`reason=duplicate_proxy count=2 first_row=bk_tcp/tcp9 iid=12 kept_iid=7`,
		`reason=duplicate_row count=1 first_row=bk_tcp/tcp2 iid=7 kept_iid=7`,
	} {
		if strings.Count(text, w) != 1 {
			t.Errorf("log should have %q once:\n%s", w, text)
		}
	}
	if n := strings.Count(text, "level=debug"); n != 3 {
		t.Errorf("%d debug lines, want 3:\n%s", n, text)
	}

	// The counts are counters: a second scrape adds to them.
	if err := c.Update(context.Background(), make(chan prometheus.Metric, 1<<12)); err != nil {
		t.Fatal(err)
	}
	if got := c.anomalies.Count(reasonDuplicateProxy); got != 4 {
		t.Errorf("duplicate_proxy = %v after two scrapes, want 4", got)
	}
}

// TestPublishedShapesStream: the streamed server block applies the same
// rule as the const metrics.
func TestPublishedShapesStream(t *testing.T) {
	url := shapesServer(t)
	c := newCollector(t, nil, url, nil)
	constSeries := serverSeries(t, golden.Format(t, collectors.Prometheus(c)))

	ch := make(chan prometheus.Metric, 1<<12)
	stream, err := c.UpdateStream(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	close(ch)
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	if err := expo.WriteStreams(bw, []expo.Stream{stream}, nil); err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	streamSeries := serverSeries(t, buf.Bytes())
	if len(constSeries) < 20 || len(constSeries) != len(streamSeries) {
		t.Fatalf("%d server series via const metrics, %d via the stream", len(constSeries), len(streamSeries))
	}
	for k := range constSeries {
		if !streamSeries[k] {
			t.Errorf("stream lacks %s", k)
		}
	}
	for k := range streamSeries {
		if strings.Contains(k, `server="tcp9"`) {
			t.Errorf("stream exports the duplicate proxy's server: %s", k)
		}
	}
}

// serverSeries returns the haproxy_server_* sample lines without values.
func serverSeries(t *testing.T, text []byte) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, l := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(l, "haproxy_server_") {
			out[l[:strings.LastIndexByte(l, ' ')]] = true
		}
	}
	return out
}

// TestShowInfoMiB: HAProxy 2.0-2.2 print memory only in MiB; the byte
// families are converted from them rather than left out.
func TestShowInfoMiB(t *testing.T) {
	addr := haproxytest.NewSocket(t, haproxytest.ByLine(map[string][]byte{
		"show info": fixture(t, "show_info_2.2.txt"),
	})).Addr
	opts := DefaultOptions()
	opts.Scopes = []string{ScopeProcess}
	c := newCollector(t, opts, addr, nil)
	want := `# HELP haproxy_process_max_memory_bytes Memory limit (-m), in bytes; 0 when unlimited.
# TYPE haproxy_process_max_memory_bytes gauge
haproxy_process_max_memory_bytes 5.36870912e+08
# HELP haproxy_process_pool_allocated_bytes Bytes allocated in memory pools.
# TYPE haproxy_process_pool_allocated_bytes gauge
haproxy_process_pool_allocated_bytes 3.145728e+06
# HELP haproxy_process_pool_used_bytes Bytes used in memory pools.
# TYPE haproxy_process_pool_used_bytes gauge
haproxy_process_pool_used_bytes 2.097152e+06
`
	if err := testutil.CollectAndCompare(collectors.Prometheus(c), strings.NewReader(want),
		"haproxy_process_max_memory_bytes", "haproxy_process_pool_allocated_bytes", "haproxy_process_pool_used_bytes"); err != nil {
		t.Fatal(err)
	}
	// 2.3+ print both: the byte fields win (they are exact).
	info := haproxyapi.Info{"Memmax_MB": "1", "Memmax_bytes": "1048577"}
	if v, ok := infoValue(info, "Memmax_bytes"); !ok || v != 1048577 {
		t.Errorf("Memmax_bytes = %v %v, want the byte field", v, ok)
	}
	if _, ok := infoValue(haproxyapi.Info{"PoolUsed_MB": "x"}, "PoolUsed_bytes"); ok {
		t.Error("a non-numeric MiB field gave a value")
	}
}

// TestScreenWithoutBackendRows: in an output filtered to frontends and
// servers, a duplicate frontend must not take the servers (whose BACKEND
// rows are absent) down with it.
func TestScreenWithoutBackendRows(t *testing.T) {
	csv := "# pxname,svname,scur,iid,type,\nfe,FRONTEND,1,2,0,\nfe,FRONTEND,9,5,0,\nbk,s1,3,3,2,\nbk,s2,4,3,2,\nbk,s1,3,3,2,\n\n"
	st, err := haproxyapi.ParseStat([]byte(csv))
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector(t, nil, "tcp://screen-test:1", nil)
	// A target's counts live as long as the process (they are counters
	// across reloads), so a second -count run starts from the first's.
	proxies0, rows0 := c.anomalies.Count(reasonDuplicateProxy), c.anomalies.Count(reasonDuplicateRow)
	skip := c.screen(st, -1)
	want := []bool{false, true, false, false, true}
	for r, w := range want {
		if skip[r] != w {
			t.Errorf("row %d (%s/%s) skipped %v, want %v", r, st.Get(r, "pxname"), st.Get(r, "svname"), skip[r], w)
		}
	}
	proxies, rows := c.anomalies.Count(reasonDuplicateProxy)-proxies0, c.anomalies.Count(reasonDuplicateRow)-rows0
	if proxies != 1 || rows != 1 {
		t.Errorf("duplicate_proxy +%v, duplicate_row +%v; want 1 and 1", proxies, rows)
	}
}

// TestShowInfoUnparsable: a show info field lbpilot exports that is not a
// number is left out and counted, the others are exported.
func TestShowInfoUnparsable(t *testing.T) {
	info := strings.Replace(string(fixture(t, "show_info_2.2.txt")), "Maxconn: 9975", "Maxconn: unlimited", 1)
	addr := haproxytest.NewSocket(t, haproxytest.ByLine(map[string][]byte{"show info": []byte(info)})).Addr
	opts := DefaultOptions()
	opts.Scopes = []string{ScopeProcess}
	var logs bytes.Buffer
	c, err := New(*opts, collectors.Target{URL: addr}, debugLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(collectors.Prometheus(c), "haproxy_process_max_connections"); n != 0 {
		t.Errorf("%d max_connections series from %q", n, "unlimited")
	}
	if n := testutil.CollectAndCount(collectors.Prometheus(c), "haproxy_process_hard_max_connections"); n != 1 {
		t.Errorf("the other fields were lost: %d hard_max_connections series", n)
	}
	if got := c.anomalies.Count(reasonUnparsableInfo); got != 2 {
		t.Errorf("unparsable_info = %v after two scrapes, want 2", got)
	}
	if !strings.Contains(logs.String(), "first_key=Maxconn value=unlimited") {
		t.Errorf("log does not name the field:\n%s", logs.String())
	}
}

// TestScreenPerProcess: with the process label, the same proxies printed
// by two processes are two sets of proxies, not duplicates; without it the
// second process's rows are duplicates of the first's.
func TestScreenPerProcess(t *testing.T) {
	csv := "# pxname,svname,scur,iid,type,process,\nfe,FRONTEND,1,2,0,1,\nbk,s1,3,3,2,1,\nbk,BACKEND,3,3,1,1,\nfe,FRONTEND,2,2,0,2,\nbk,s1,4,3,2,2,\nbk,BACKEND,4,3,1,2,\n\n"
	st, err := haproxyapi.ParseStat([]byte(csv))
	if err != nil {
		t.Fatal(err)
	}
	if st.Col("process") < 0 {
		t.Fatal("no process column")
	}
	for _, tc := range []struct {
		name    string
		procCol int
		want    []bool
		dupRows float64
	}{
		{"process label", st.Col("process"), []bool{false, false, false, false, false, false}, 0},
		{"merged view", -1, []bool{false, false, false, true, true, true}, 3},
	} {
		c := newCollector(t, nil, "tcp://screen-per-process-"+strings.ReplaceAll(tc.name, " ", "-")+":1", nil)
		rows0 := c.anomalies.Count(reasonDuplicateRow) // counts outlive a -count run
		skip := c.screen(st, tc.procCol)
		for r, w := range tc.want {
			if got := skip != nil && skip[r]; got != w {
				t.Errorf("%s: row %d (%s/%s, process %s) skipped %v, want %v", tc.name, r, st.Get(r, "pxname"), st.Get(r, "svname"), st.Get(r, "process"), got, w)
			}
		}
		if n := c.anomalies.Count(reasonDuplicateRow) - rows0; n != tc.dupRows {
			t.Errorf("%s: duplicate_row +%v, want +%v", tc.name, n, tc.dupRows)
		}
	}
}
