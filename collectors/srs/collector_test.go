package srs

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/golden"
	"github.com/lbpilot/lbpilot/internal/srsapi"
	"github.com/lbpilot/lbpilot/internal/srsapi/srstest"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// manyStreamsFallback: the many_streams capture has no versions or
// self_proc_stats; the same master process answered them in load/.
const manyStreamsFallback = "testdata/v6.0.157/load/master"

// scenario is one captured node directory.
type scenario struct {
	dir, version, state, node string
}

func (s scenario) golden() string {
	return filepath.Join("testdata", "golden", s.version+"_"+s.state+"_"+s.node+".prom")
}

func (s scenario) fallback() string {
	if s.state == "many_streams" {
		return manyStreamsFallback
	}
	return ""
}

// role is what an operator would put in the target's labels: SRS cannot
// tell an edge from an origin.
func (s scenario) labels() prometheus.Labels {
	role := "origin"
	if s.node == "edge" {
		role = "edge"
	}
	return prometheus.Labels{"target": s.node, "role": role}
}

// scenarios finds every captured node directory (those with summaries),
// so a new capture is covered without editing the test.
func scenarios(t *testing.T) []scenario {
	t.Helper()
	dirs, err := filepath.Glob("testdata/v*/*/*/summaries.json")
	if err != nil {
		t.Fatal(err)
	}
	var out []scenario
	for _, f := range dirs {
		d := filepath.Dir(f)
		parts := strings.Split(filepath.ToSlash(d), "/")
		out = append(out, scenario{dir: d, version: parts[1], state: parts[2], node: parts[3]})
	}
	// v3, v4: idle+load × 3 nodes; v5: idle+load × 3 + after_unpublish
	// master; v6: idle, load, after_unpublish, after_all_gone × 3 +
	// many_streams master.
	if len(out) != 6+6+7+13 {
		t.Fatalf("found %d captured node directories, want 32: %v", len(out), out)
	}
	return out
}

func newCollector(t *testing.T, opts Options, url string, labels prometheus.Labels) *Collector {
	t.Helper()
	c, err := New(opts, collectors.Target{URL: url, Labels: labels}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGolden scrapes every captured SRS node (versions 3 to 6; origin
// master and slave, edge; idle, loaded, after unpublish, after all left,
// many streams) with per-stream series on, against testdata/golden.
func TestGolden(t *testing.T) {
	for _, sc := range scenarios(t) {
		t.Run(sc.dir, func(t *testing.T) {
			r, srv := srstest.NewReplay(t, sc.dir, sc.fallback())
			c := newCollector(t, Options{StreamMetrics: true}, srv.URL, sc.labels())
			golden.Compare(t, collectors.Prometheus(c), sc.golden())
			for _, req := range r.Seen() {
				path, _, _ := strings.Cut(req, "?")
				switch path {
				case "/api/v1/vhosts", "/api/v1/streams", "/api/v1/clients":
					t.Errorf("requested %s without the trailing slash (SRS answers 302)", req)
				}
			}
		})
	}
}

// TestGoldenDefaultOptions: no per-stream series unless asked.
func TestGoldenDefaultOptions(t *testing.T) {
	_, srv := srstest.NewReplay(t, "testdata/v6.0.157/load/master", "")
	c := newCollector(t, Options{}, srv.URL, prometheus.Labels{"target": "master", "role": "origin"})
	golden.Compare(t, collectors.Prometheus(c), "testdata/golden/default_options_v6.0.157_load_master.prom")
}

// TestGoldenIntegerIDs: SRS 3 before 3.0.157 sent ids as JSON integers
// (the streams answer quoted in ossrs/srs#1873); the rest of the node is
// the SRS 3.0.170 capture. The stream's integer vhost id matches no vhost
// there, so it is labelled __unknown__, never with the id.
func TestGoldenIntegerIDs(t *testing.T) {
	r, srv := srstest.NewReplay(t, "testdata/v3.0.170/load/master", "")
	body, err := os.ReadFile("testdata/community/srs3_pre3.0.157_int_ids_streams.json")
	if err != nil {
		t.Fatal(err)
	}
	r.Override["/api/v1/streams/"] = srstest.Capture{Status: 200, Body: body}
	c := newCollector(t, Options{StreamMetrics: true}, srv.URL, prometheus.Labels{"target": "srs3"})
	golden.Compare(t, collectors.Prometheus(c), "testdata/golden/community_srs3_int_ids.prom")
}

func TestGoldenPassesPromtool(t *testing.T) {
	golden.Promtool(t, filepath.Join("testdata", "golden", "*.prom"))
}

// TestErrorCaptures replays SRS's captured error answers on the endpoint
// where they would occur; each fails the scrape with the code or status
// named, and no metric is sent.
func TestErrorCaptures(t *testing.T) {
	cases := []struct {
		capture, path string
		auth          bool
		want          []string
	}{
		{"stream_notfound.http.txt", "/api/v1/streams/", false, []string{"SRS error code 2048 (stream not found)", "/api/v1/streams/?start=0&count=1000"}},
		{"client_notfound.http.txt", "/api/v1/clients/", false, []string{"SRS error code 2049 (client not found)"}},
		{"vhost_notfound.http.txt", "/api/v1/vhosts/", false, []string{"SRS error code 2014 (vhost not found)"}},
		{"raw_disabled.http.txt", "/api/v1/summaries", false, []string{"SRS error code 1061 (raw API disabled)"}},
		{"metrics_exporter_disabled_noauth.http.txt", "/api/v1/versions", false, []string{"SRS error code 1090"}},
		{"unknown_path.http.txt", "/api/v1/summaries", false, []string{`/api/v1/summaries: answer has no "data" (it has code, pid, server, service, tests, urls)`}},
		{"unknown_root_path.http.txt", "/api/v1/streams/", false, []string{`answer has no "streams" (it has code, pid, server, service, urls)`}},
		{"api_index.http.txt", "/api/v1/self_proc_stats", false, []string{`answer has no "data"`}},
		{"versions_jsonp.http.txt", "/api/v1/versions", false, []string{"invalid JSON", "cb({"}},
		{"metrics_on_api_port.http.txt", "/api/v1/summaries", false, []string{"invalid JSON", "# HELP srs_node_uname_info"}},
		{"auth_missing.http.txt", "/api/v1/summaries", false, []string{"HTTP 401", "http_api.auth is on: set username and password_file"}},
		{"auth_wrong.http.txt", "/api/v1/vhosts/", true, []string{"HTTP 401", "credentials refused"}},
		{"streams_post.http.txt", "/api/v1/streams/", false, []string{"HTTP 405", "Method Not Allowed"}},
		{"streams_noslash_redirect.http.txt", "/api/v1/clients/", false, []string{"HTTP 302", "Redirect to /api/v1/streams/"}},
	}
	for _, tc := range cases {
		t.Run(tc.capture, func(t *testing.T) {
			r, srv := srstest.NewReplay(t, "testdata/v6.0.157/load/master", "")
			cp := srstest.ReadCapture(t, filepath.Join("testdata/v6.0.157/misc", tc.capture))
			if cp.Status == http.StatusFound {
				cp.Header.Del("Location") // a redirect loop would hide the status
			}
			r.Override[tc.path] = cp
			opts := Options{}
			if tc.auth {
				opts.Username, opts.PasswordFile = "admin", writeSecret(t, "not-the-password\n")
			}
			c := newCollector(t, opts, srv.URL, nil)
			ch := make(chan prometheus.Metric, 1000)
			err := c.Update(context.Background(), ch)
			if err == nil {
				t.Fatal("scrape succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "not-the-password") {
				t.Errorf("error leaks the password: %q", err)
			}
			if len(ch) != 0 {
				t.Errorf("%d metrics sent on a failed scrape", len(ch))
			}
		})
	}
}

func writeSecret(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBasicAuth: with http_api auth on, the configured user and password
// file are sent (captured auth_ok answer) and nothing else is accepted.
func TestBasicAuth(t *testing.T) {
	ok := srstest.ReadCapture(t, "testdata/v6.0.157/misc/auth_ok.http.txt")
	denied := srstest.ReadCapture(t, "testdata/v6.0.157/misc/auth_missing.http.txt")
	rp := &srstest.Replay{Dir: "testdata/v6.0.157/idle/master", Override: map[string]srstest.Capture{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, has := r.BasicAuth(); !has || u != "admin" || p != "secret" {
			w.Header()["Www-Authenticate"] = denied.Header["Www-Authenticate"]
			w.WriteHeader(denied.Status)
			return
		}
		if r.URL.Path == "/api/v1/versions" {
			w.Header().Set("Server", ok.Header.Get("Server"))
			_, _ = w.Write(ok.Body)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := newCollector(t, Options{HTTPOptions: upstream.HTTPOptions{Username: "admin", PasswordFile: writeSecret(t, "secret\n")}}, srv.URL, nil)
	want := `
# HELP srs_build_info SRS version, release code name, build date, server id, service (new on every start) and pid, as labels; the value is 1. Same name as SRS's built-in exporter.
# TYPE srs_build_info gauge
srs_build_info{build_date="2026-11-21 19:04:43",code="Hang",major="6",pid="27068",server="vid-4o345r5",service="07k1gp8o",version="6.0.157"} 1
`
	if err := testutil.CollectAndCompare(collectors.Prometheus(c), strings.NewReader(want), "srs_build_info"); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{HTTPOptions: upstream.HTTPOptions{Username: "admin", PasswordFile: "/nonexistent/secret"}}, collectors.Target{URL: srv.URL}, nil); err == nil {
		t.Error("a missing password_file was accepted")
	}
}

// TestStreamCap keeps the streams with most clients, counts the rest.
func TestStreamCap(t *testing.T) {
	_, srv := srstest.NewReplay(t, "testdata/v6.0.157/many_streams/master", manyStreamsFallback)
	c := newCollector(t, Options{StreamMetrics: true, MaxStreams: 5}, srv.URL, nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.Prometheus(c))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var clients []*dto.Metric
	dropped := -1.0
	for _, mf := range mfs {
		switch mf.GetName() {
		case "srs_stream_clients":
			clients = mf.GetMetric()
		case "srs_stream_series_dropped":
			dropped = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if len(clients) != 5 || dropped != 8 {
		t.Fatalf("%d streams exported, %v dropped; want 5 and 8", len(clients), dropped)
	}
	// live/test has 5 clients, every s1..s12 one: test must be kept.
	found := false
	for _, m := range clients {
		for _, l := range m.GetLabel() {
			if l.GetName() == "stream" && l.GetValue() == "test" {
				found = true
			}
		}
	}
	if !found {
		t.Error("the stream with most clients was dropped")
	}
}

// builtin maps every family of SRS's built-in exporter to lbpilot's:
// same name and type where the built-in name conforms, else the
// conforming family carrying the quantity, or "" when the http_api does
// not expose it. README's SRS table documents the same mapping.
var builtin = map[string]struct {
	ours  string
	scale float64 // ours = builtin × scale; 0: values not comparable
	tol   float64 // relative tolerance: RSS moves between two requests
}{
	"srs_build_info":          {"srs_build_info", 0, 0},
	"srs_send_bytes_total":    {"srs_send_bytes_total", 0, 0}, // sampled every 3 s, at another moment than the capture
	"srs_receive_bytes_total": {"srs_receive_bytes_total", 0, 0},
	"srs_streams":             {"srs_streams", 1, 0},
	"srs_clients":             {"srs_clients", 1, 0},
	"srs_cpu_percent":         {"srs_cpu_ratio", 0, 0}, // ×0.01; both are instantaneous samples
	"srs_memory":              {"srs_memory_bytes", 1024, 0.02},
	"srs_node_uname_info":     {"", 0, 0},
	"srs_clients_total":       {"", 0, 0},
	"srs_clients_errs_total":  {"", 0, 0},
}

// TestBuiltinExporterMapping compares lbpilot's output with SRS's own
// /metrics captured from the same node: every built-in family is mapped,
// a kept name keeps its type, and counts of the same moment agree.
func TestBuiltinExporterMapping(t *testing.T) {
	files, _ := filepath.Glob("testdata/v*/*/*/metrics.txt")
	if len(files) < 10 {
		t.Fatalf("only %d metrics.txt captures", len(files))
	}
	for _, f := range files {
		sc := scenario{dir: filepath.Dir(f)}
		parts := strings.Split(filepath.ToSlash(sc.dir), "/")
		sc.version, sc.state, sc.node = parts[1], parts[2], parts[3]
		t.Run(sc.dir, func(t *testing.T) {
			theirs := golden.ParseFile(t, f)
			ours := golden.ParseFile(t, sc.golden())
			for name, mf := range theirs {
				m, ok := builtin[name]
				if !ok {
					t.Errorf("built-in family %s is not in the mapping", name)
					continue
				}
				if m.ours == "" {
					continue
				}
				o, ok := ours[m.ours]
				if !ok {
					t.Errorf("%s: lbpilot has no %s", name, m.ours)
					continue
				}
				if m.ours == name && o.GetType() != mf.GetType() {
					t.Errorf("%s: type %v, built-in %v", name, o.GetType(), mf.GetType())
				}
				// many_streams borrows versions and process stats from
				// another moment of the same process: no value checks.
				if m.scale != 0 && sc.state != "many_streams" {
					want := value(mf.GetMetric()[0]) * m.scale
					if got := value(o.GetMetric()[0]); math.Abs(got-want) > m.tol*want {
						t.Errorf("%s = %v, built-in %s = %v (×%v)", m.ours, got, name, value(mf.GetMetric()[0]), m.scale)
					}
				}
			}
			// The join label dashboards use (version) is on our build info.
			if bi := ours["srs_build_info"]; bi == nil || !hasLabel(bi.GetMetric()[0], "version") {
				t.Error("srs_build_info without a version label")
			}
		})
	}
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

func hasLabel(m *dto.Metric, name string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return true
		}
	}
	return false
}

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		opts Options
		err  string
	}{
		{Options{}, ""},
		{Options{PageSize: 5}, "below SRS's minimum of 10"},
		{Options{PageSize: -1}, "page_size must not be negative"},
		{Options{MaxStreams: -1}, "max_streams must not be negative"},
		{Options{HTTPOptions: upstream.HTTPOptions{PasswordFile: "/x"}}, "password_file needs username"},
		{Options{HTTPOptions: upstream.HTTPOptions{Username: "u", PasswordFile: "/nonexistent"}}, "password_file"},
	}
	for _, tc := range cases {
		err := tc.opts.Validate()
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v: got %v, want %q", tc.opts, err, tc.err)
		}
	}
	d := DefaultOptions()
	if d.PageSize != srsapi.DefaultPageSize || !*d.Clients || d.MaxStreams != DefaultMaxStreams {
		t.Errorf("defaults %+v", d)
	}
	if _, err := New(Options{}, collectors.Target{URL: "tcp://h:1985"}, nil); err == nil {
		t.Error("a tcp:// URL was accepted")
	}
}

// TestClientsOff: without the client list the per-type families are
// absent and srs_clients comes from the summaries on SRS 5+; on SRS 3 and
// 4, whose conn_srs counts the API's own connections, it is left out.
func TestClientsOff(t *testing.T) {
	r, srv := srstest.NewReplay(t, "testdata/v6.0.157/load/master", "")
	off := false
	c := newCollector(t, Options{Clients: &off}, srv.URL, nil)
	if n := testutil.CollectAndCount(collectors.Prometheus(c), "srs_players", "srs_publishers"); n != 0 {
		t.Errorf("%d per-type series, want none", n)
	}
	want := "# HELP srs_clients Clients: publishers, players, edge pulls and HLS sessions (length of the client list; without it, summaries conn_srs on SRS 5+).\n# TYPE srs_clients gauge\nsrs_clients 5\n"
	if err := testutil.CollectAndCompare(collectors.Prometheus(c), strings.NewReader(want), "srs_clients"); err != nil {
		t.Error(err)
	}
	for _, req := range r.Seen() {
		if strings.HasPrefix(req, "/api/v1/clients") {
			t.Errorf("client list requested: %s", req)
		}
	}
	_, srv4 := srstest.NewReplay(t, "testdata/v4.0.271/load/master", "")
	c4 := newCollector(t, Options{Clients: &off}, srv4.URL, nil)
	if n := testutil.CollectAndCount(collectors.Prometheus(c4), "srs_clients"); n != 0 {
		t.Errorf("SRS 4 without the client list: %d srs_clients series, want none", n)
	}
	if n := testutil.CollectAndCount(collectors.Prometheus(c4), "srs_streams"); n != 1 {
		t.Errorf("SRS 4 without the client list: %d srs_streams series, want the scrape's other families", n)
	}
}

func TestTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c := newCollector(t, Options{}, srv.URL, nil)
	err := c.Update(context.Background(), make(chan prometheus.Metric, 100))
	var he *upstream.HTTPError
	if err == nil || errors.As(err, &he) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("got %v", err)
	}
}
