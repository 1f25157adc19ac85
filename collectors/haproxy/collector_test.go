package haproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/golden"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/expo"
	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// scenario is a HAProxy state captured as the socket answers.
type scenario struct {
	name               string
	stat, info, states string // fixture files; "" = command unknown
	tables, resolvers  string // show table, show resolvers; "" = command unknown
}

var scenarios = []scenario{
	{"healthy", "show_stat.csv", "show_info.txt", "show_servers_state.txt", "", ""},
	{"status_zoo", "status_zoo_show_stat.csv", "show_info.txt", "status_zoo_show_servers_state.txt", "", ""},
	{"agent_drain", "agent_drain_50pct_show_stat_bk_agent.csv", "show_info.txt", "agent_drain_50pct_show_servers_state_bk_agent.txt", "", ""},
	{"drained_down_server", "after_drain_down_server_show_stat.csv", "show_info.txt", "after_drain_down_server_servers_state.txt", "", ""},
	{"quoted_agent_desc", "csv_quoting_agent_desc_with_comma_quote.csv", "show_info.txt", "agent_down_show_servers_state_bk_agent.txt", "", ""},
	// haproxy 2.6.12 with listeners, stick tables, resolvers, backup
	// servers, a server in maintenance and one resolved by DNS
	// (testdata/promex/capture_haproxy.cfg).
	{"listeners_tables_resolvers", "promex/show_stat_listeners.csv", "promex/show_info.txt", "promex/show_servers_state.txt", "promex/show_table.txt", "promex/show_resolvers.txt"},
}

// fakeSocket serves a scenario's fixtures like HAProxy's admin socket.
func fakeSocket(t testing.TB, sc scenario) string {
	m := map[string][]byte{}
	if sc.stat != "" {
		m["show stat"] = fixture(t, sc.stat)
	}
	if sc.info != "" {
		m["show info"] = fixture(t, sc.info)
	}
	if sc.states != "" {
		m["show servers state"] = fixture(t, sc.states)
	}
	if sc.tables != "" {
		m["show table"] = fixture(t, sc.tables)
	}
	if sc.resolvers != "" {
		m["show resolvers"] = fixture(t, sc.resolvers)
	}
	return haproxytest.NewSocket(t, haproxytest.ByLine(m)).Addr
}

func newCollector(t testing.TB, opts *Options, url string, labels prometheus.Labels) *Collector {
	t.Helper()
	if opts == nil {
		opts = DefaultOptions()
	}
	c, err := New(*opts, collectors.Target{URL: url, Labels: labels}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// goldenCompare checks the collector's output against testdata/golden/<name>.prom.
func goldenCompare(t *testing.T, c *Collector, name string) {
	t.Helper()
	golden.Compare(t, collectors.Prometheus(c), filepath.Join("testdata", "golden", name+".prom"))
}

// extrasOptions are the default options with lbpilot's own server
// families on: the golden files hold them too.
func extrasOptions() *Options {
	o := &Options{ExtraServerFamilies: true}
	if err := o.Validate(); err != nil {
		panic(err)
	}
	return o
}

func TestGoldenScenarios(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			c := newCollector(t, extrasOptions(), fakeSocket(t, sc), nil)
			goldenCompare(t, c, sc.name)
		})
	}
}

// TestGoldenStickTableEntries: the opt-in per-key view of the captured
// 2.6 haproxy's st_src table (one key, three stored values).
func TestGoldenStickTableEntries(t *testing.T) {
	sock := haproxytest.NewSocket(t, haproxytest.ByLine(map[string][]byte{
		"show table":        fixture(t, "promex/show_table.txt"),
		"show table st_src": fixture(t, "promex/show_table_st_src.txt"),
	})).Addr
	opts := &Options{Scopes: []string{ScopeStickTable}, StickTableEntries: StickTableEntries{Tables: []string{"st_src"}}}
	goldenCompare(t, newCollector(t, opts, sock, nil), "sticktable_entries")

	// A table HAProxy does not have fails the scrape, naming it.
	opts = &Options{Scopes: []string{ScopeStickTable}, StickTableEntries: StickTableEntries{Tables: []string{"nosuch"}}}
	sock = haproxytest.NewSocket(t, haproxytest.ByLine(map[string][]byte{
		"show table":        fixture(t, "promex/show_table.txt"),
		"show table nosuch": fixture(t, "promex/show_table_unknown.txt"),
	})).Addr
	err := newCollector(t, opts, sock, nil).Update(context.Background(), make(chan prometheus.Metric, 64))
	if err == nil || !strings.Contains(err.Error(), `"show table": No such table`) {
		t.Errorf("unknown table: err %v", err)
	}
}

// TestGoldenExtraCounters: the stats modules' columns of the captured 2.6
// haproxy under promex's names, labelled with their module.
func TestGoldenExtraCounters(t *testing.T) {
	sc := scenarios[len(scenarios)-1]
	opts := &Options{ExtraCounters: true, IncludeMetrics: []string{"haproxy_[a-z]+_(ssl|h1|h2)_.*"}}
	goldenCompare(t, newCollector(t, opts, fakeSocket(t, sc), nil), "extra_counters")
}

func TestGoldenHTTPStatsPage(t *testing.T) {
	csv := fixture(t, "http_stats_csv.csv")
	var gotPath, gotUser, gotPass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		gotUser, gotPass, _ = r.BasicAuth()
		_, _ = w.Write(csv)
	}))
	defer srv.Close()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := &Options{ExtraServerFamilies: true, HTTPOptions: upstream.HTTPOptions{Username: "stats", PasswordFile: pw}}
	c := newCollector(t, opts, srv.URL+"/stats", prometheus.Labels{"target": "lb1"})
	goldenCompare(t, c, "http_stats_page")
	if gotPath != "/stats;csv" || gotUser != "stats" || gotPass != "s3cret" {
		t.Errorf("request path %q user %q pass %q", gotPath, gotUser, gotPass)
	}
}

func TestUpdateErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("socket missing", func(t *testing.T) {
		c := newCollector(t, nil, "unix:/nonexistent/admin.sock", nil)
		err := c.Update(ctx, make(chan prometheus.Metric, 10000))
		if err == nil || !strings.Contains(err.Error(), "dial") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("permission denied", func(t *testing.T) {
		addr := haproxytest.NewSocket(t, haproxytest.Static([]byte("Permission denied\n\n"))).Addr
		c := newCollector(t, nil, addr, nil)
		err := c.Update(ctx, make(chan prometheus.Metric, 10000))
		if err == nil || !strings.Contains(err.Error(), "Permission denied") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("hang past the deadline", func(t *testing.T) {
		addr := haproxytest.NewSocket(t, func(string) haproxytest.Reply { return haproxytest.Reply{Hang: true} }).Addr
		c := newCollector(t, nil, addr, nil)
		cctx, cancel := context.WithTimeout(ctx, 100*1e6)
		defer cancel()
		err := c.Update(cctx, make(chan prometheus.Metric, 10000))
		if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("http 401", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html><body>401 Unauthorized\nYou need a valid user and password</body></html>", http.StatusUnauthorized)
		}))
		defer srv.Close()
		c := newCollector(t, nil, srv.URL+"/stats;csv", nil)
		err := c.Update(ctx, make(chan prometheus.Metric, 10000))
		if err == nil || !strings.Contains(err.Error(), "HTTP 401") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("err = %q", err)
		}
	})
	t.Run("http html page instead of csv", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("<html>stats</html>"))
		}))
		defer srv.Close()
		c := newCollector(t, nil, srv.URL+"/stats", nil)
		err := c.Update(ctx, make(chan prometheus.Metric, 10000))
		if err == nil || !strings.Contains(err.Error(), "no CSV header") {
			t.Fatalf("err = %v", err)
		}
	})
	// An answer past max_response_bytes fails the scrape, naming the key,
	// over the socket and over HTTP (it used to be cut at 256 MiB and
	// parsed as if whole).
	t.Run("socket answer over max_response_bytes", func(t *testing.T) {
		addr := haproxytest.NewSocket(t, haproxytest.Static([]byte(strings.Repeat("x", 10000)))).Addr
		o := DefaultOptions()
		o.MaxResponseBytes = 4096
		err := newCollector(t, o, addr, nil).Update(ctx, make(chan prometheus.Metric, 10000))
		if !errors.Is(err, haproxyapi.ErrResponseTooLarge) || !strings.Contains(err.Error(), "haproxy.max_response_bytes") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("stats page over max_response_bytes", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("# pxname,svname\n" + strings.Repeat("x,y\n", 5000)))
		}))
		defer srv.Close()
		o := DefaultOptions()
		o.MaxResponseBytes = 4096
		err := newCollector(t, o, srv.URL+"/stats", nil).Update(ctx, make(chan prometheus.Metric, 10000))
		if !errors.Is(err, haproxyapi.ErrResponseTooLarge) || !strings.Contains(err.Error(), "more than 4096 bytes (the module's haproxy.max_response_bytes)") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("servers state fails, stats still exported", func(t *testing.T) {
		addr := fakeSocket(t, scenario{stat: "show_stat.csv", info: "show_info.txt"})
		c := newCollector(t, extrasOptions(), addr, nil)
		ch := make(chan prometheus.Metric, 100000)
		err := c.Update(ctx, ch)
		close(ch)
		if err == nil || !strings.Contains(err.Error(), "show servers state") {
			t.Fatalf("err = %v", err)
		}
		if len(ch) < 100 {
			t.Errorf("only %d metrics despite a good show stat", len(ch))
		}
	})
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"defaults", Options{}, ""},
		{"bad scope", Options{Scopes: []string{"listeners"}}, `unknown scope "listeners"`},
		{"global is process", Options{Scopes: []string{"global", "listener", "sticktable", "resolver"}}, ""},
		{"bad excluded state", Options{ExcludeServerStates: []string{"maintenance"}}, `unknown state "maintenance"`},
		{"table entries", Options{StickTableEntries: StickTableEntries{Tables: []string{"st_src", "t2"}, MaxEntries: 10000}}, ""},
		{"bad table name", Options{StickTableEntries: StickTableEntries{Tables: []string{"st;clear table x"}}}, `sticktable_entries.tables: invalid HAProxy table name "st;clear table x"`},
		{"table twice", Options{StickTableEntries: StickTableEntries{Tables: []string{"a", "a"}}}, `"a" named twice`},
		{"too many entries", Options{StickTableEntries: StickTableEntries{Tables: []string{"a"}, MaxEntries: 10001}}, "max_entries 10001 out of range (1 to 10000)"},
		{"negative entries", Options{StickTableEntries: StickTableEntries{Tables: []string{"a"}, MaxEntries: -1}}, "max_entries -1 out of range"},
		{"bad regex", Options{ExcludeMetrics: []string{"("}}, "exclude_metrics"},
		{"password without user", Options{HTTPOptions: upstream.HTTPOptions{PasswordFile: "/etc/hostname"}}, "password_file needs username"},
		{"missing password file", Options{HTTPOptions: upstream.HTTPOptions{Username: "u", PasswordFile: "/nonexistent/pw"}}, "password_file"},
	}
	for _, tt := range tests {
		err := tt.opts.Validate()
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
	for _, u := range []string{"unix:/run/haproxy/admin.sock", "tcp://127.0.0.1:9999", "http://lb:8404/stats", "https://lb/stats;csv"} {
		if err := CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q) = %v", u, err)
		}
	}
	for _, u := range []string{"", "ftp://x", "http://", "relative.sock"} {
		if err := CheckURL(u); err == nil {
			t.Errorf("CheckURL(%q) accepted", u)
		}
	}
	for in, want := range map[string]string{
		"http://lb:8404/stats": "http://lb:8404/stats;csv", "http://lb:8404/stats/": "http://lb:8404/stats;csv",
		"http://lb:8404": "http://lb:8404/;csv", "http://lb:8404/stats;csv;norefresh": "http://lb:8404/stats;csv;norefresh",
	} {
		if got := csvURL(in); got != want {
			t.Errorf("csvURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func familyNames(t *testing.T, c *Collector) []string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.Prometheus(c))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		out = append(out, mf.GetName())
	}
	return out
}

// TestExtraServerFamiliesOptIn: by default the server families are
// promex's; extra_server_families adds exactly lbpilot's own ones, and
// without it `show servers state` is not even asked for.
func TestExtraServerFamiliesOptIn(t *testing.T) {
	sc := scenarios[0]
	withExtras := familyNames(t, newCollector(t, extrasOptions(), fakeSocket(t, sc), nil))
	noStates := sc
	noStates.states = "" // a socket that does not know show servers state
	def := familyNames(t, newCollector(t, nil, fakeSocket(t, noStates), nil))
	inDefault := map[string]bool{}
	for _, n := range def {
		inDefault[n] = true
	}
	var added []string
	for _, n := range withExtras {
		if !inDefault[n] {
			added = append(added, n)
		}
	}
	want := []string{
		"haproxy_server_admin_state", "haproxy_server_agent_fall", "haproxy_server_agent_health",
		"haproxy_server_agent_rise", "haproxy_server_check_fall", "haproxy_server_check_health",
		"haproxy_server_check_rise", "haproxy_server_info",
	}
	if strings.Join(added, " ") != strings.Join(want, " ") {
		t.Errorf("extra_server_families adds %v, want %v", added, want)
	}
	if len(def) != len(withExtras)-len(want) {
		t.Errorf("default has %d families, with extras %d: the default has some of its own", len(def), len(withExtras))
	}
	for name := range extraServerFamilies {
		if inDefault["haproxy_server_"+name] {
			t.Errorf("haproxy_server_%s is exported by default", name)
		}
		if !serverFamilyNamed(name) {
			t.Errorf("extraServerFamilies names %q, which is no server family", name)
		}
	}
}

func serverFamilyNamed(name string) bool {
	for _, f := range serverFamilies {
		if f.name == name {
			return true
		}
	}
	return false
}

func TestScopeAndFieldSelection(t *testing.T) {
	addr := fakeSocket(t, scenarios[0])
	c := newCollector(t, &Options{Scopes: []string{ScopeServer}, ExcludeMetrics: []string{"haproxy_server_check_status", "haproxy_server_http_.*"}}, addr, nil)
	names := familyNames(t, c)
	if len(names) < 20 {
		t.Fatalf("only %d families", len(names))
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "haproxy_server_") || n == "haproxy_server_check_status" || strings.HasPrefix(n, "haproxy_server_http_") {
			t.Errorf("unexpected family %s", n)
		}
	}
	c = newCollector(t, &Options{IncludeMetrics: []string{"haproxy_(server|backend)_status", "haproxy_process_build_info"}}, addr, nil)
	got := strings.Join(familyNames(t, c), ",")
	if got != "haproxy_backend_status,haproxy_process_build_info,haproxy_server_status" {
		t.Errorf("include selection gave %s", got)
	}
	c = newCollector(t, &Options{ServersState: new(bool)}, addr, nil)
	for _, n := range familyNames(t, c) {
		if n == "haproxy_server_admin_state" {
			t.Error("servers_state: false still exports admin_state")
		}
	}
}

// seriesKey renders a metric's labels in sorted order.
func seriesKey(m *dto.Metric) string {
	var l []string
	for _, lp := range m.GetLabel() {
		l = append(l, lp.GetName()+"="+lp.GetValue())
	}
	sort.Strings(l)
	return strings.Join(l, ",")
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	}
	return m.GetUntyped().GetValue()
}

func sameValue(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

// TestStreamMatchesConstMetrics renders every scenario both ways — const
// metrics through client_golang, and the streaming writer the exporter
// uses — and requires the same families, types, help, series and values.
func TestStreamMatchesConstMetrics(t *testing.T) {
	// The status zoo again with servers left out by state and the desc label.
	// The captured 2.6 haproxy again with the extra counters.
	excl := &Options{ExcludeServerStates: []string{"maint", "drain"}, DescLabels: true}
	extra := &Options{ExtraCounters: true}
	// The status zoo and the captured haproxy read as two processes:
	// merged, and apart under the process label.
	perProcess := &Options{ProcessLabel: true, DescLabels: true}
	for i, sc := range append(scenarios, scenarios[1], scenarios[len(scenarios)-1], scenarios[1], scenarios[len(scenarios)-1]) {
		opts := (*Options)(nil)
		twice := false
		switch i {
		case len(scenarios):
			sc.name, opts = "status_zoo_excluded", excl
		case len(scenarios) + 1:
			sc.name, opts = sc.name+"_extra_counters", extra
		case len(scenarios) + 2:
			sc.name, twice = sc.name+"_two_processes_merged", true
		case len(scenarios) + 3:
			sc.name, opts, twice = sc.name+"_two_processes_labelled", perProcess, true
		}
		t.Run(sc.name, func(t *testing.T) {
			labels := prometheus.Labels{"target": "lb\"1\\x\n", "site": "dc-1"} // escaping matters
			url := fakeSocket(t, sc)
			if twice {
				url += "," + fakeSocket(t, sc)
			}
			c := newCollector(t, opts, url, labels)

			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(collectors.Prometheus(c))
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var constText bytes.Buffer
			for _, mf := range mfs {
				_, _ = expfmt.MetricFamilyToText(&constText, mf)
			}

			ch := make(chan prometheus.Metric, 1<<16)
			stream, err := c.UpdateStream(context.Background(), ch)
			if err != nil {
				t.Fatal(err)
			}
			close(ch)
			var ms []prometheus.Metric
			for m := range ch {
				ms = append(ms, m)
			}
			reg2 := prometheus.NewPedanticRegistry()
			reg2.MustRegister(replayMetrics(ms))
			mfs2, err := reg2.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var streamText bytes.Buffer
			bw := bufio.NewWriter(&streamText)
			skip := map[string]bool{}
			for _, mf := range mfs2 {
				skip[mf.GetName()] = true
				_, _ = expfmt.MetricFamilyToText(bw, mf)
			}
			if err := expo.WriteStreams(bw, []expo.Stream{stream}, skip); err != nil {
				t.Fatal(err)
			}
			bw.Flush()

			want, got := golden.Parse(t, bytes.NewReader(constText.Bytes())), golden.Parse(t, bytes.NewReader(streamText.Bytes()))
			if len(want) != len(got) {
				t.Fatalf("const path has %d families, stream path %d", len(want), len(got))
			}
			total := 0
			for name, w := range want {
				g, ok := got[name]
				if !ok {
					t.Fatalf("stream path lacks %s", name)
				}
				if w.GetType() != g.GetType() || w.GetHelp() != g.GetHelp() {
					t.Errorf("%s: type/help differ: %v %q vs %v %q", name, w.GetType(), w.GetHelp(), g.GetType(), g.GetHelp())
				}
				ws := map[string]float64{}
				for _, m := range w.GetMetric() {
					ws[seriesKey(m)] = value(m)
				}
				if len(w.GetMetric()) != len(g.GetMetric()) {
					t.Errorf("%s: %d series vs %d", name, len(w.GetMetric()), len(g.GetMetric()))
				}
				for _, m := range g.GetMetric() {
					total++
					wv, ok := ws[seriesKey(m)]
					if !ok || !sameValue(wv, value(m)) {
						t.Errorf("%s{%s} = %v via stream, %v (%v) via const metrics", name, seriesKey(m), value(m), wv, ok)
					}
				}
			}
			if total < 50 {
				t.Errorf("only %d series compared", total)
			}
		})
	}
}

type replayMetrics []prometheus.Metric

func (replayMetrics) Describe(chan<- *prometheus.Desc) {}
func (r replayMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, m := range r {
		ch <- m
	}
}

// TestPromexCompatibility renders the status-zoo snapshot and compares it
// with what HAProxy's built-in exporter printed at the same moment: every
// family lbpilot shares with promex has the same type and label names, and
// the same value for every series of the state and configuration families.
func TestPromexCompatibility(t *testing.T) {
	sc := scenarios[1]
	c := newCollector(t, &Options{Scopes: []string{ScopeFrontend, ScopeBackend, ScopeServer}}, fakeSocket(t, sc), nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.Prometheus(c))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	promex := golden.Parse(t, bytes.NewReader(fixture(t, "status_zoo_promex_metrics.txt")))
	// Values that move between the two captures (times, counters bumped by
	// the capture itself) are compared by presence only.
	exact := map[string]bool{
		"haproxy_server_status": true, "haproxy_backend_status": true, "haproxy_frontend_status": true,
		"haproxy_server_weight": true, "haproxy_server_uweight": true, "haproxy_backend_weight": true,
		"haproxy_backend_active_servers": true, "haproxy_backend_backup_servers": true,
		"haproxy_server_limit_sessions": true, "haproxy_server_queue_limit": true, "haproxy_frontend_limit_sessions": true,
		"haproxy_backend_agg_server_status": true, "haproxy_backend_agg_server_check_status": true,
		"haproxy_server_check_status": true, "haproxy_server_check_code": true, "haproxy_server_current_sessions": true,
	}
	shared, compared := 0, 0
	for _, mf := range mfs {
		p, ok := promex[mf.GetName()]
		if !ok {
			if !lbpilotOwn[mf.GetName()] && !inPromex(t, mf.GetName()) {
				t.Errorf("%s: neither a promex family (2.6 or 3.4) nor one of lbpilot's own", mf.GetName())
			}
			continue
		}
		shared++
		if p.GetType() != mf.GetType() {
			t.Errorf("%s: type %v, promex %v", mf.GetName(), mf.GetType(), p.GetType())
		}
		pv := map[string]float64{}
		for _, m := range p.GetMetric() {
			pv[seriesKey(m)] = value(m)
		}
		for _, m := range mf.GetMetric() {
			v, ok := pv[seriesKey(m)]
			if !ok {
				t.Errorf("%s{%s}: promex has no such series", mf.GetName(), seriesKey(m))
				continue
			}
			if exact[mf.GetName()] {
				compared++
				if !sameValue(v, value(m)) {
					t.Errorf("%s{%s} = %v, promex %v", mf.GetName(), seriesKey(m), value(m), v)
				}
			}
		}
		if exact[mf.GetName()] && len(mf.GetMetric()) != len(p.GetMetric()) {
			t.Errorf("%s: %d series, promex %d", mf.GetName(), len(mf.GetMetric()), len(p.GetMetric()))
		}
	}
	if shared < 100 || compared < 200 {
		t.Errorf("only %d shared families / %d exact series compared", shared, compared)
	}
}

// TestProcessFamiliesMatchPromexNames checks the show info mapping against
// the family names and types promex printed from the same HAProxy build.
func TestProcessFamiliesMatchPromexNames(t *testing.T) {
	promex := golden.Parse(t, bytes.NewReader(fixture(t, "promex_metrics.txt")))
	c := newCollector(t, &Options{Scopes: []string{ScopeProcess}}, fakeSocket(t, scenarios[0]), nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.Prometheus(c))
	mfs, _ := reg.Gather()
	if len(mfs) < 50 {
		t.Fatalf("only %d process families", len(mfs))
	}
	for _, mf := range mfs {
		name := mf.GetName()
		p, ok := promex[name]
		if name == "haproxy_process_failed_resolutions_total" {
			p, ok = promex["haproxy_process_failed_resolutions"] // promex's name breaks Prometheus naming
		}
		if !ok {
			if !inPromex(t, name) {
				t.Errorf("%s: not in promex", name)
			}
			continue
		}
		if p.GetType() != mf.GetType() {
			t.Errorf("%s: type %v, promex %v", name, mf.GetType(), p.GetType())
		}
	}
}

// TestGoldenFilesPassPromtool runs real `promtool check metrics` on every
// golden file.
func TestGoldenFilesPassPromtool(t *testing.T) {
	golden.Promtool(t, "testdata/golden/*.prom")
}

func TestLintClean(t *testing.T) {
	c := newCollector(t, nil, fakeSocket(t, scenarios[0]), nil)
	problems, err := testutil.CollectAndLint(collectors.Prometheus(c))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	_ = fmt.Sprint()
}
