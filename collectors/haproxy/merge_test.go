package haproxy

import (
	"bufio"
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/docstest"
	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
)

func TestMergeValues(t *testing.T) {
	for _, tc := range []struct {
		rule mergeRule
		in   []string
		want string
	}{
		{mergeSum, []string{"3", "4", ""}, "7"},
		{mergeSum, []string{"3", "3"}, "6"}, // the same text in each process still adds up
		{mergeSum, []string{"0", "0", "0"}, "0"},
		{mergeLimit, []string{"100", "100"}, "200"},
		{mergeMax, []string{"7", "7"}, "7"},
		{mergeMean, []string{"12", "12"}, "12"},
		{mergeLastSess, []string{"-1", "-1", "-1"}, "-1"},
		{mergeStatus, []string{"DRAIN (agent)", "DRAIN (agent)"}, "DRAIN (agent)"},
		{mergeSum, []string{"", ""}, ""},
		{mergeSum, []string{"1.5", "2"}, "3.5"},
		{mergeSum, []string{"http", "http"}, "http"}, // not numbers: the first
		{mergeMax, []string{"3", "9", "4"}, "9"},
		{mergeMin, []string{"30", "5", ""}, "5"},
		{mergeMean, []string{"10", "", "21"}, "15.5"},
		{mergeLimit, []string{"100", "50"}, "150"},
		{mergeLimit, []string{"100", ""}, ""}, // one process unlimited: the whole too
		{mergeFirst, []string{"", "L7OK", "L4CON"}, "L7OK"},
		{mergeLastSess, []string{"-1", "12", "3"}, "3"},
		{mergeLastSess, []string{"-1", "-1"}, "-1"},
		{mergeLastSess, []string{"", ""}, ""},
		{mergeStatus, []string{"DOWN", "DOWN"}, "DOWN"},
		{mergeStatus, []string{"DOWN", "MAINT"}, "MAINT"},
		{mergeStatus, []string{"MAINT (via bk/s1)", "DRAIN (agent)"}, "DRAIN (agent)"},
		{mergeStatus, []string{"DRAIN", "NOLB", "DOWN"}, "NOLB"},
		{mergeStatus, []string{"DOWN", "UP 1/3", "DRAIN"}, "UP 1/3"},
		{mergeStatus, []string{"no check", "DOWN"}, "no check"},
		{mergeStatus, []string{"STOP", "OPEN"}, "OPEN"},
		{mergeStatus, []string{"", "DOWN"}, "DOWN"},
		{mergeStatus, []string{"weird", ""}, "weird"},
	} {
		vals := make([][]byte, len(tc.in))
		for i, v := range tc.in {
			vals[i] = []byte(v)
		}
		if got := string(mergeValues(nil, tc.rule, vals)); got != tc.want {
			t.Errorf("%s%q = %q, want %q", tc.rule, tc.in, got, tc.want)
		}
	}
}

// TestMergeRulesCoverFamilies: every column a family reads has a rule of
// its own, and the docs name every rule's columns.
func TestMergeRulesCoverFamilies(t *testing.T) {
	doc := docstest.Section(t, "docs/exporter.md", "several-processes-as-one")
	for _, set := range [][]family{frontendFamilies, backendFamilies, serverFamilies} {
		for _, f := range set {
			if f.col == "" {
				continue
			}
			if _, ok := columnMerge[f.col]; !ok {
				t.Errorf("column %s (family %s) has no merge rule in columnMerge", f.col, f.name)
			}
		}
	}
	for col, rule := range columnMerge {
		if !strings.Contains(doc, "`"+col+"`") {
			t.Errorf("docs/exporter.md#several-processes-as-one does not name column %s (rule %s)", col, rule)
		}
	}
	for key := range infoMerge {
		if key == "Pid" || key == "Uptime" {
			continue // text: "first", as every non-number
		}
		if !strings.Contains(doc, "`"+key+"`") {
			t.Errorf("docs/exporter.md#several-processes-as-one does not name show info field %s", key)
		}
	}
}

// twoDumps returns the healthy fixture and a second process's dump of the
// same config: bk_web/web1 drained there, web3 up, one more frontend,
// other counters.
func twoDumps(t *testing.T) (a, b []byte) {
	a = fixture(t, "show_stat.csv")
	lines := strings.Split(strings.TrimRight(string(a), "\n"), "\n")
	hdr := strings.Split(strings.TrimPrefix(lines[0], "# "), ",")
	col := func(name string) int {
		for i, h := range hdr {
			if h == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	edits := map[string]map[string]string{
		"bk_web,web1": {"scur": "2", "smax": "7", "stot": "6", "status": "DRAIN"},
		"bk_web,web3": {"status": "UP"},
	}
	var extra string
	for i, l := range lines[1:] {
		f := strings.Split(l, ",")
		for name, v := range edits[f[0]+","+f[1]] {
			f[col(name)] = v
		}
		lines[i+1] = strings.Join(f, ",")
		if f[0] == "fe_tcp" {
			f[0], f[col("stot")] = "fe_extra", "4"
			extra = strings.Join(f, ",")
		}
	}
	lines = append(lines, extra)
	return a, []byte(strings.Join(lines, "\n") + "\n\n")
}

// TestMergeStatsFixture merges two processes' dumps through a collector
// and checks summed, peak, state and one-process rows.
func TestMergeStatsFixture(t *testing.T) {
	a, b := twoDumps(t)
	state := fixture(t, "show_servers_state.txt")
	sa := haproxytest.NewSocket(t, haproxytest.ByLine(map[string][]byte{"show stat": a, "show info": fixture(t, "show_info.txt"), "show servers state": state}))
	sb := haproxytest.NewSocket(t, haproxytest.ByLine(map[string][]byte{"show stat": b, "show info": fixture(t, "show_info.txt"), "show servers state": state}))
	opts := DefaultOptions()
	f := false
	opts.ServersState = &f
	c, err := New(*opts, collectors.Target{URL: sa.Addr + "," + sb.Addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `# HELP haproxy_frontend_sessions_total Total number of sessions.
# TYPE haproxy_frontend_sessions_total counter
haproxy_frontend_sessions_total{proxy="fe_extra"} 4
haproxy_frontend_sessions_total{proxy="fe_http"} 42
haproxy_frontend_sessions_total{proxy="fe_tcp"} 6
haproxy_frontend_sessions_total{proxy="stats"} 0
# HELP haproxy_process_nbproc Number of worker processes (always 1 since HAProxy 2.5).
# TYPE haproxy_process_nbproc gauge
haproxy_process_nbproc 2
# HELP haproxy_server_current_sessions Current number of active sessions.
# TYPE haproxy_server_current_sessions gauge
haproxy_server_current_sessions{proxy="bk_web",server="web1"} 2
# HELP haproxy_server_max_sessions Highest number of concurrent sessions seen.
# TYPE haproxy_server_max_sessions gauge
haproxy_server_max_sessions{proxy="bk_web",server="web1"} 7
# HELP haproxy_server_sessions_total Total number of sessions.
# TYPE haproxy_server_sessions_total counter
haproxy_server_sessions_total{proxy="bk_web",server="web1"} 20
`
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.Prometheus(c))
	got, err := testutil.GatherAndCount(reg)
	if err != nil || got == 0 {
		t.Fatalf("gather: %d, %v", got, err)
	}
	if err := testutil.GatherAndCompare(onlyServer(reg, "web1"), strings.NewReader(want),
		"haproxy_frontend_sessions_total", "haproxy_process_nbproc", "haproxy_server_current_sessions", "haproxy_server_max_sessions", "haproxy_server_sessions_total"); err != nil {
		t.Fatal(err)
	}
	// web1 is UP in one process and DRAIN in the other: UP. web3 is DOWN
	// in one and UP in the other: UP.
	for srv, state := range map[string]string{"web1": "UP", "web3": "UP"} {
		if v := gatherState(t, c, "haproxy_server_status", srv, state); v != 1 {
			t.Errorf("%s %s = %v, want 1", srv, state, v)
		}
	}
}

// TestSeveralSocketsOneFails: a process that does not answer costs the
// whole scrape its families, not just its share, and the error names it.
func TestSeveralSocketsOneFails(t *testing.T) {
	a, _ := twoDumps(t)
	ok := haproxytest.NewSocket(t, haproxytest.ByLine(map[string][]byte{"show stat": a, "show servers state": fixture(t, "show_servers_state.txt")}))
	bad := haproxytest.NewSocket(t, haproxytest.Static([]byte("Permission denied\n\n")))
	opts := DefaultOptions()
	opts.Scopes = []string{ScopeServer}
	f := false
	opts.ServersState = &f
	c, err := New(*opts, collectors.Target{URL: ok.Addr + "," + bad.Addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan prometheus.Metric, 100000)
	stream, err := c.UpdateStream(context.Background(), ch)
	close(ch)
	if err == nil || !strings.Contains(err.Error(), "process 2 ("+bad.Addr) || !strings.Contains(err.Error(), "Permission denied") {
		t.Fatalf("error = %v, want one naming process 2 and HAProxy's answer", err)
	}
	if stream != nil || len(ch) != 0 {
		t.Fatalf("a partial merge was exported: stream %v, %d metrics", stream != nil, len(ch))
	}
}

// TestMasterWithoutWorkers: a master CLI that lists no current worker (or
// is not a master socket) is an error naming the socket.
func TestMasterErrors(t *testing.T) {
	noWorker := haproxytest.NewSocket(t, haproxytest.ByLine(map[string][]byte{
		"show proc;quit": []byte("#<PID> <type> <reloads> <uptime> <version>\n41 master 0 [failed: 0] 0d00h00m01s 2.6.12\n# workers\n# old workers\n40 worker 1 0d00h00m09s 2.6.12\n\n"),
	}))
	notMaster := haproxytest.NewSocket(t, haproxytest.ByLine(nil))
	for sock, want := range map[*haproxytest.Socket]string{
		noWorker:  "show proc lists no current worker",
		notMaster: "is this the master CLI socket?",
	} {
		c, err := New(*DefaultOptions(), collectors.Target{URL: "master:" + sock.Addr}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan prometheus.Metric, 1000)
		_, err = c.UpdateStream(context.Background(), ch)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), sock.Addr) {
			t.Errorf("master %s: error %v, want %q", sock.Addr, err, want)
		}
	}
}

func TestParseEndpoints(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []endpoint
		err  string
	}{
		{in: "unix:/a.sock", want: []endpoint{{addr: "unix:/a.sock"}}},
		{in: "unix:/a.sock, tcp://127.0.0.1:9999,ipv4@10.0.0.1:1", want: []endpoint{{addr: "unix:/a.sock"}, {addr: "tcp://127.0.0.1:9999"}, {addr: "tcp://10.0.0.1:1"}}},
		{in: "master:unix:/m.sock", want: []endpoint{{addr: "unix:/m.sock", master: true}}},
		{in: "master:/m.sock,/m.sock", want: []endpoint{{addr: "unix:/m.sock", master: true}, {addr: "unix:/m.sock"}}},
		{in: "unix:/a.sock,", err: "empty HAProxy socket address"},
		{in: "unix:/a.sock,unix:///a.sock", err: "unix:/a.sock is listed twice"},
		{in: "unix:/a.sock,http://lb/stats", err: "stats sockets only, not the stats page"},
		{in: "master:http://lb/stats", err: "stats sockets only"},
		{in: "master:", err: "empty HAProxy socket address"},
		{in: "unix:/a.sock,unix:relative", err: "must be absolute"},
		{in: "unix:/a.sock,tcp://nohost", err: "missing port"},
		{in: strings.Repeat("unix:/a,", 70) + "unix:/b", err: "is too many"},
	} {
		got, err := parseEndpoints(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseEndpoints(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("parseEndpoints(%q) = %v, %v", tc.in, got, err)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("parseEndpoints(%q)[%d] = %+v, want %+v", tc.in, i, got[i], tc.want[i])
			}
		}
		if err := CheckURL(tc.in); err != nil {
			t.Errorf("CheckURL(%q) = %v", tc.in, err)
		}
	}
}

func TestProcessLabelNeedsSockets(t *testing.T) {
	opts := DefaultOptions()
	opts.ProcessLabel = true
	if _, err := New(*opts, collectors.Target{URL: "http://user:secret@lb:8404/stats"}, nil); err == nil ||
		!strings.Contains(err.Error(), "process_label needs stats socket targets") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("process_label on a stats page: %v", err)
	}
}

func TestMergeInfo(t *testing.T) {
	got := mergeInfo([]haproxyapi.Info{
		{"Version": "2.6.12", "Nbproc": "1", "Process_num": "1", "CurrConns": "3", "Uptime_sec": "100", "Start_time_sec": "1000", "Idle_pct": "90", "Maxconn": "100", "Stopping": "0"},
		{"Version": "2.6.12", "Nbproc": "1", "Process_num": "2", "CurrConns": "4", "Uptime_sec": "40", "Start_time_sec": "1060", "Idle_pct": "70", "Maxconn": "100", "Stopping": "1"},
	})
	want := haproxyapi.Info{"Version": "2.6.12", "Nbproc": "2", "CurrConns": "7", "Uptime_sec": "40", "Start_time_sec": "1060", "Idle_pct": "80", "Maxconn": "200", "Stopping": "1"}
	if len(got) != len(want) {
		t.Fatalf("mergeInfo = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// onlyServer keeps the series without a server label and those of one
// server.
func onlyServer(g prometheus.Gatherer, server string) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := g.Gather()
		for _, mf := range mfs {
			var keep []*dto.Metric
			for _, m := range mf.GetMetric() {
				ok := true
				for _, l := range m.GetLabel() {
					if l.GetName() == "server" && l.GetValue() != server {
						ok = false
					}
				}
				if ok {
					keep = append(keep, m)
				}
			}
			mf.Metric = keep
		}
		return mfs, err
	})
}

// gatherState returns the value of a per-state family for one server.
func gatherState(t *testing.T, c *Collector, name, server, state string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.Prometheus(c))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var srv, st string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "server":
					srv = l.GetValue()
				case "state":
					st = l.GetValue()
				}
			}
			if srv == server && st == state {
				return value(m)
			}
		}
	}
	t.Fatalf("%s{server=%q,state=%q} not gathered", name, server, state)
	return 0
}

func TestMergeModules(t *testing.T) {
	got := mergeModules([]moduleData{
		{tables: []haproxyapi.StickTable{{Name: "fe", Type: "ip", Size: 100, Used: 3}},
			resolvers: []haproxyapi.Nameserver{{Resolvers: "dns", Name: "ns1", Counters: []haproxyapi.Counter{{Name: "sent", Value: 5}}}}},
		{tables: []haproxyapi.StickTable{{Name: "fe", Type: "ip", Size: 100, Used: 4}, {Name: "be", Type: "string", Size: 10, Used: 1}},
			resolvers: []haproxyapi.Nameserver{{Resolvers: "dns", Name: "ns1", Counters: []haproxyapi.Counter{{Name: "sent", Value: 7}, {Name: "errors", Value: 1}}}}},
	})
	wantTables := []haproxyapi.StickTable{{Name: "fe", Type: "ip", Size: 200, Used: 7}, {Name: "be", Type: "string", Size: 10, Used: 1}}
	if len(got.tables) != 2 || got.tables[0].Size != wantTables[0].Size || got.tables[0].Used != 7 || got.tables[1].Name != "be" || got.tables[1].Used != 1 {
		t.Errorf("tables = %+v, want %+v", got.tables, wantTables)
	}
	if len(got.resolvers) != 1 || len(got.resolvers[0].Counters) != 2 || got.resolvers[0].Counters[0].Value != 12 || got.resolvers[0].Counters[1].Value != 1 {
		t.Errorf("resolvers = %+v, want ns1 sent 12, errors 1", got.resolvers)
	}
}

// FuzzMergeStats: any two parseable dumps merge and join without panics,
// into no more rows than they hold together, and the merge of a dump with
// itself has its rows.
func FuzzMergeStats(f *testing.F) {
	for _, name := range []string{"show_stat.csv", "status_zoo_show_stat.csv", "csv_quoting_agent_desc_with_comma_quote.csv"} {
		b := fixture(f, name)
		f.Add(b, b)
	}
	f.Add([]byte("# pxname,svname,type,status,scur,\nbk,s1,2,UP,3,\n\n"), []byte("# pxname,svname,type,scur,status,\nbk,s1,2,4,DOWN,\nbk,s2,2,1,\n\n"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if len(a)+len(b) > 64<<10 {
			return // large inputs only slow the instrumented merge down
		}
		sa, err := haproxyapi.ParseStat(a)
		if err != nil {
			return
		}
		sb, err := haproxyapi.ParseStat(b)
		if err != nil {
			return
		}
		// Merging rewrites every field of every row: a header of
		// thousands of columns over thousands of one-byte rows is a
		// legal but slow input. HAProxy prints about 130 columns and the
		// collector keeps fewer; bound the width to keep fuzzing fast.
		if len(sa.Columns()) > 256 || len(sb.Columns()) > 256 {
			return
		}
		m, err := mergeStats([]*haproxyapi.Stat{sa, sb})
		if err != nil {
			t.Fatalf("merge of two parsed dumps failed: %v", err)
		}
		if m.Rows() > sa.Rows()+sb.Rows() {
			t.Fatalf("merged %d rows from %d + %d", m.Rows(), sa.Rows(), sb.Rows())
		}
		j, err := concatStats([]*haproxyapi.Stat{sa, sb}, []string{"1", "2"})
		if err != nil {
			t.Fatalf("join of two parsed dumps failed: %v", err)
		}
		if j.Rows() != sa.Rows()+sb.Rows() {
			t.Fatalf("joined %d rows from %d + %d", j.Rows(), sa.Rows(), sb.Rows())
		}
	})
}

// TestSeveralSocketsPartFails: a process that answers show stat but not
// show info (or show servers state) costs the whole answer that part's
// families only, and the scrape fails naming the process.
func TestSeveralSocketsPartFails(t *testing.T) {
	a, _ := twoDumps(t)
	full := map[string][]byte{"show stat": a, "show info": fixture(t, "show_info.txt"), "show servers state": fixture(t, "show_servers_state.txt")}
	for _, missing := range []string{"show info", "show servers state"} {
		t.Run(missing, func(t *testing.T) {
			partial := map[string][]byte{}
			for k, v := range full {
				if k != missing {
					partial[k] = v
				}
			}
			ok := haproxytest.NewSocket(t, haproxytest.ByLine(full))
			bad := haproxytest.NewSocket(t, haproxytest.ByLine(partial))
			c, err := New(*extrasOptions(), collectors.Target{URL: ok.Addr + "," + bad.Addr}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ch := make(chan prometheus.Metric, 100000)
			stream, err := c.UpdateStream(context.Background(), ch)
			close(ch)
			if err == nil || !strings.Contains(err.Error(), "process 2 ("+bad.Addr) {
				t.Fatalf("error = %v, want one naming process 2", err)
			}
			if stream == nil {
				t.Fatal("show stat worked on both: its families must stay")
			}
			names := map[string]bool{}
			for m := range ch {
				names[m.Desc().String()] = true
			}
			var sawProcess bool
			for d := range names {
				if strings.Contains(d, `"haproxy_process_`) {
					sawProcess = true
				}
			}
			if missing == "show info" && sawProcess {
				t.Error("process families exported with one process's show info missing")
			}
			if missing == "show servers state" {
				var buf strings.Builder
				w := bufio.NewWriter(&buf)
				if err := stream.WriteSamples(w, "haproxy_server_admin_state"); err != nil {
					t.Fatal(err)
				}
				w.Flush()
				if buf.Len() != 0 {
					t.Errorf("admin state exported with one process's show servers state missing:\n%.300s", buf.String())
				}
			}
		})
	}
}

// TestProcessLabelWithPromexOptions: the process label combines with the
// options that add labels or families (desc-labels, extra-counters,
// excluded states): every series is consistent and unique per process.
func TestProcessLabelWithPromexOptions(t *testing.T) {
	a, b := twoDumps(t)
	info := fixture(t, "show_info.txt")
	state := fixture(t, "show_servers_state.txt")
	sa := haproxytest.NewSocket(t, haproxytest.ByLine(map[string][]byte{"show stat": a, "show info": info, "show servers state": state}))
	sb := haproxytest.NewSocket(t, haproxytest.ByLine(map[string][]byte{"show stat": b, "show info": info, "show servers state": state}))
	opts := DefaultOptions()
	opts.ProcessLabel, opts.DescLabels, opts.ExtraCounters = true, true, true
	opts.ExcludeServerStates = []string{"maint"}
	if err := opts.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := New(*opts, collectors.Target{URL: sa.Addr + "," + sb.Addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.Prometheus(c))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	procs := map[string]bool{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "haproxy_frontend_") && !strings.HasPrefix(mf.GetName(), "haproxy_server_status") {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "process" {
					procs[l.GetValue()] = true
				}
			}
		}
	}
	if !procs["1"] || !procs["2"] || len(procs) != 2 {
		t.Errorf("process label values = %v, want 1 and 2", procs)
	}
}
