package emqx

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/emqxapi"
	"github.com/lbpilot/lbpilot/internal/golden"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// route is one canned answer of the fake management API.
type route struct {
	status int
	file   string   // under testdata/
	body   string   // used when file is empty
	realm  string   // WWW-Authenticate realm
	nodes  []string // keep only these nodes of a v5 list answer (EMQX leaves out a node that fails RPC)
}

// fake replays fixtures by request path (path?query when the query
// matters) and checks Basic credentials like EMQX does.
type fake struct {
	t        *testing.T
	routes   map[string]route
	user     string // required credentials; "" accepts any
	pass     string
	denied   route // answer to wrong or missing credentials
	mu       sync.Mutex
	requests []string
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.URL.RequestURI())
	f.mu.Unlock()
	open := r.URL.Path == "/api/v5/status" || r.URL.Path == "/status"
	if u, p, _ := r.BasicAuth(); f.user != "" && !open && (u != f.user || p != f.pass) {
		f.write(w, f.denied)
		return
	}
	rt, ok := f.routes[r.URL.RequestURI()]
	if !ok {
		rt, ok = f.routes[r.URL.Path]
	}
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("Not found."))
		return
	}
	f.write(w, rt)
}

func (f *fake) write(w http.ResponseWriter, rt route) {
	body := []byte(rt.body)
	if rt.file != "" {
		var err error
		if body, err = os.ReadFile(filepath.Join("testdata", rt.file)); err != nil {
			f.t.Errorf("fixture: %v", err)
		}
	}
	if rt.nodes != nil {
		var list []map[string]any
		if err := json.Unmarshal(body, &list); err != nil {
			f.t.Errorf("filtering %s: %v", rt.file, err)
		}
		var kept []map[string]any
		for _, e := range list {
			for _, n := range rt.nodes {
				if e["node"] == n {
					kept = append(kept, e)
				}
			}
		}
		body, _ = json.Marshal(kept)
		if kept == nil {
			body = []byte("[]")
		}
	}
	if rt.realm != "" {
		w.Header().Set("WWW-Authenticate", `Basic Realm="`+rt.realm+`"`)
	}
	if rt.status == 0 {
		rt.status = http.StatusOK
	}
	w.WriteHeader(rt.status)
	_, _ = w.Write(body)
}

func (f *fake) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

const (
	node1 = "emqx@10.0.0.11"
	node2 = "emqx@10.0.0.12"
)

// The fake brokers want these credentials; keyFile holds them.
const apiKey, apiSecret = "lbpilot", "s3cr3t-value"

var v5Denied = route{status: 401, file: "v5/error_401_bad_api_key.json", realm: "emqx-dashboard"}
var v4Denied = route{status: 401, file: "v4/error_401_unauthorized.txt", realm: "minirest-server"}
var v2Denied = route{status: 401, file: "v2/error_401_empty_body.txt", realm: "emqx control center"}

type scenario struct {
	name   string
	opts   emqxapi.Options
	denied route
	routes map[string]route
}

func scenarios() []scenario {
	v5status := route{file: "v5/status_running.txt"}
	return []scenario{
		{"v5_cluster", emqxapi.Options{}, v5Denied, map[string]route{
			"/api/v5/status":  v5status,
			"/api/v5/nodes":   {file: "v5/nodes.json"},
			"/api/v5/stats":   {file: "v5/stats_aggregate_false.json"},
			"/api/v5/metrics": {file: "v5/metrics_aggregate_false.json"},
		}},
		{"v5_one_stopped", emqxapi.Options{APIVersion: "v5"}, v5Denied, map[string]route{
			"/api/v5/nodes":   {file: "v5/nodes_one_stopped.json"},
			"/api/v5/stats":   {file: "v5/stats_aggregate_false.json", nodes: []string{node1}},
			"/api/v5/metrics": {file: "v5/metrics_aggregate_false.json", nodes: []string{node1}},
		}},
		{"v5_0_legacy", emqxapi.Options{}, v5Denied, map[string]route{
			"/api/v5/status":  {status: 503, file: "v5/status_not_running_503.txt"}, // still tells it is EMQX 5
			"/api/v5/nodes":   {file: "v5/nodes_5_0_legacy.json"},
			"/api/v5/stats":   {file: "v5/stats_aggregate_false.json", nodes: []string{node1}},
			"/api/v5/metrics": {file: "v5/metrics_aggregate_false.json", nodes: []string{node1}},
		}},
		{"v5_node", emqxapi.Options{APIVersion: "v5", Node: node1}, v5Denied, map[string]route{
			"/api/v5/nodes/" + node1:                {file: "v5/node_emqx1.json"},
			"/api/v5/nodes/" + node1 + "/stats":     {file: "v5/node_stats_emqx1.json"},
			"/api/v5/metrics?node=emqx%4010.0.0.11": {file: "v5/metrics_aggregate_false.json", nodes: []string{node1}},
		}},
		{"v5_node", emqxapi.Options{Node: emqxapi.SelfNode}, v5Denied, map[string]route{ // the same node, found through /cluster
			"/api/v5/status":                        v5status,
			"/api/v5/cluster":                       {file: "v5/cluster.json"},
			"/api/v5/nodes/" + node1:                {file: "v5/node_emqx1.json"},
			"/api/v5/nodes/" + node1 + "/stats":     {file: "v5/node_stats_emqx1.json"},
			"/api/v5/metrics?node=emqx%4010.0.0.11": {file: "v5/metrics_aggregate_false.json", nodes: []string{node1}},
		}},
		{"v4_cluster", emqxapi.Options{}, v4Denied, map[string]route{
			"/api/v4/nodes":   {file: "v4/nodes_2node.json"},
			"/api/v4/stats":   {file: "v4/stats_2node.json"},
			"/api/v4/metrics": {file: "v4/metrics_2node_derived.json"},
		}},
		{"v4_docs", emqxapi.Options{APIVersion: "v4"}, v4Denied, map[string]route{
			"/api/v4/nodes":   {file: "v4/nodes_docs.json"},
			"/api/v4/stats":   {file: "v4/stats_docs.json"},
			"/api/v4/metrics": {file: "v4/metrics_docs.json"},
		}},
		{"v4_node", emqxapi.Options{APIVersion: "v4", Node: "emqx@127.0.0.1"}, v4Denied, map[string]route{
			"/api/v4/nodes/emqx@127.0.0.1":         {file: "v4/node_docs.json"},
			"/api/v4/nodes/emqx@127.0.0.1/stats":   {file: "v4/node_stats_docs.json"},
			"/api/v4/nodes/emqx@127.0.0.1/metrics": {file: "v4/node_metrics_docs.json"},
		}},
		{"v2_cluster_one_stopped", emqxapi.Options{}, v2Denied, map[string]route{
			"/api/v2/monitoring/nodes":   {file: "v2/monitoring_nodes_2node_one_stopped_derived.json"},
			"/api/v2/management/nodes":   {file: "v2/management_nodes_docs.json"}, // another node: nothing to merge
			"/api/v2/monitoring/stats":   {file: "v2/monitoring_stats_2node_derived.json"},
			"/api/v2/monitoring/metrics": {file: "v2/monitoring_metrics_2node_derived.json"},
		}},
		// emqttd 2.1: result is the object keyed by node, not a list of it.
		{"v2.1_cluster_one_stopped", emqxapi.Options{}, v2Denied, map[string]route{
			"/api/v2/monitoring/nodes":   {file: "v2/monitoring_nodes_2node_one_stopped_derived.json"},
			"/api/v2/management/nodes":   {file: "v2/management_nodes_docs.json"},
			"/api/v2/monitoring/stats":   {file: "v2/monitoring_stats_2.1_by_node.json"},
			"/api/v2/monitoring/metrics": {file: "v2/monitoring_metrics_2.1_by_node.json"},
		}},
		{"v2_node", emqxapi.Options{APIVersion: "v2", Node: "emq@127.0.0.1"}, v2Denied, map[string]route{
			"/api/v2/monitoring/nodes/emq@127.0.0.1":   {file: "v2/monitoring_node_docs.json"},
			"/api/v2/management/nodes/emq@127.0.0.1":   {file: "v2/management_nodes_docs.json"},
			"/api/v2/monitoring/stats/emq@127.0.0.1":   {file: "v2/monitoring_stats_node_docs.json"},
			"/api/v2/monitoring/metrics/emq@127.0.0.1": {file: "v2/monitoring_metrics_node_docs.json"},
		}},
		{"v2_docs_list", emqxapi.Options{APIVersion: "v2"}, v2Denied, map[string]route{
			"/api/v2/monitoring/nodes":   {file: "v2/monitoring_nodes_docs.json"},
			"/api/v2/management/nodes":   {file: "v2/management_nodes_docs.json"},
			"/api/v2/monitoring/stats":   {file: "v2/monitoring_stats_docs.json"},
			"/api/v2/monitoring/metrics": {body: `{"code":0,"result":[{"emq@127.0.0.1":` + mustFile("v2/monitoring_metrics_node_docs.json", "result") + `}]}`},
		}},
	}
}

// mustFile returns the JSON under key of a fixture (to re-wrap a node
// form as a list form in one place, said so where it is used).
func mustFile(name, key string) string {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		panic(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	return string(m[key])
}

// keyFile writes the credentials in EMQX's bootstrap-file format.
func keyFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "emqx.key")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func start(t *testing.T, sc scenario) (*fake, *httptest.Server) {
	t.Helper()
	f := &fake{t: t, routes: sc.routes, user: apiKey, pass: apiSecret, denied: sc.denied}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { emqxapi.ForgetDetected(srv.URL) })
	return f, srv
}

func newCollector(t *testing.T, opts emqxapi.Options, url string) *Collector {
	t.Helper()
	if opts.APIKeyFile == "" && opts.Username == "" {
		opts.APIKeyFile = keyFile(t, apiKey+":"+apiSecret+":viewer\n")
	}
	c, err := New(opts, collectors.Target{Name: "emqx", URL: url, Labels: prometheus.Labels{"target": "emqx"}}, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGolden: every fixture set (EMQX 5 cluster, one node stopped, 5.0
// string loads, one node by name or as "self"; EMQX 4 cluster, docs,
// node; emqttd 2 cluster with a stopped node, node, list) against
// testdata/golden.
func TestGolden(t *testing.T) {
	for _, sc := range scenarios() {
		t.Run(sc.name+"/"+sc.opts.Node, func(t *testing.T) {
			f, srv := start(t, sc)
			c := newCollector(t, sc.opts, srv.URL)
			golden.Compare(t, collectors.Prometheus(c), filepath.Join("testdata", "golden", sc.name+".prom"))
			for _, r := range f.seen() {
				if strings.Contains(r, "aggregate=true") {
					t.Errorf("asked for the aggregate (%s): it sums cluster_sessions and maxima", r)
				}
			}
		})
	}
}

func TestGoldenPassesPromtool(t *testing.T) {
	golden.Promtool(t, filepath.Join("testdata", "golden", "*.prom"))
}

// TestVersionsAgree: the EMQX 4 and 5 fixtures describe the same cluster
// with the same counts, so the families both generations have must agree.
func TestVersionsAgree(t *testing.T) {
	v5 := golden.ParseFile(t, "testdata/golden/v5_cluster.prom")
	v4 := golden.ParseFile(t, "testdata/golden/v4_cluster.prom")
	compared := 0
	for name, mf4 := range v4 {
		mf5, ok := v5[name]
		if !ok || strings.HasPrefix(name, "emqx_node_info") || name == "emqx_node_uptime_seconds" {
			continue // 4 has routes and string uptimes; versions differ
		}
		got, want := samples(mf4), samples(mf5)
		for k, v := range got {
			if w, ok := want[k]; ok {
				compared++
				if v != w {
					t.Errorf("%s%s: v4 %v, v5 %v", name, k, v, w)
				}
			}
		}
	}
	if compared < 100 {
		t.Errorf("only %d samples compared", compared)
	}
}

// TestErrors: every error answer fails the scrape with the HTTP status and
// EMQX's code and message (or the v4/v2 code in a 200 answer), and sends
// nothing. The secret never shows.
func TestErrors(t *testing.T) {
	v5ok := map[string]route{
		"/api/v5/nodes":   {file: "v5/nodes.json"},
		"/api/v5/stats":   {file: "v5/stats_aggregate_false.json"},
		"/api/v5/metrics": {file: "v5/metrics_aggregate_false.json"},
	}
	with := func(base map[string]route, path string, r route) map[string]route {
		m := map[string]route{}
		for k, v := range base {
			m[k] = v
		}
		m[path] = r
		return m
	}
	cases := []struct {
		name   string
		opts   emqxapi.Options
		routes map[string]route
		denied route
		creds  string // key file content; "" uses the right ones
		want   string
	}{
		{"v5 wrong secret", emqxapi.Options{APIVersion: "v5"}, v5ok, v5Denied, "lbpilot:wrong", "HTTP 401 BAD_API_KEY_OR_SECRET: Check api_key/api_secret"},
		{"v5 no Authorization header", emqxapi.Options{APIVersion: "v5"}, with(v5ok, "/api/v5/stats", route{status: 401, file: "v5/error_401_no_authorization_header.json"}), v5Denied, "", "HTTP 401 AUTHORIZATION_HEADER_ERROR: Support authorization: basic/bearer"},
		{"v5 token expired", emqxapi.Options{APIVersion: "v5"}, with(v5ok, "/api/v5/metrics", route{status: 401, file: "v5/error_401_token_expired.json"}), v5Denied, "", "HTTP 401 TOKEN_TIME_OUT: Token expired, get new token by POST /login"},
		{"v5 viewer role refused", emqxapi.Options{APIVersion: "v5"}, with(v5ok, "/api/v5/nodes", route{status: 403, file: "v5/error_403_unauthorized_role.json"}), v5Denied, "", "HTTP 403 UNAUTHORIZED_ROLE: This API Key don't have permission"},
		{"v5 internal error", emqxapi.Options{APIVersion: "v5"}, with(v5ok, "/api/v5/stats", route{status: 500, file: "v5/error_500_internal_error.json"}), v5Denied, "", "HTTP 500 INTERNAL_ERROR: error, not_found"},
		{"v5 docs' reason field", emqxapi.Options{APIVersion: "v5"}, with(v5ok, "/api/v5/stats", route{status: 400, body: `{"code":"BAD_REQUEST","reason":"nope"}`}), v5Denied, "", "HTTP 400 BAD_REQUEST: nope"},
		{"v5 unknown node", emqxapi.Options{APIVersion: "v5", Node: "emqx@10.0.0.99"}, map[string]route{
			"/api/v5/nodes/emqx@10.0.0.99":       {status: 404, file: "v5/error_404_node_not_found.json"},
			"/api/v5/nodes/emqx@10.0.0.99/stats": {status: 404, file: "v5/error_404_node_not_found.json"},
			"/api/v5/metrics":                    {file: "v5/metrics_unknown_node_empty.json"},
		}, v5Denied, "", "HTTP 404 NOT_FOUND: Node not found: emqx@10.0.0.99"},
		{"v5 node vanished from metrics", emqxapi.Options{APIVersion: "v5", Node: node1}, map[string]route{
			"/api/v5/nodes/" + node1:            {file: "v5/node_emqx1.json"},
			"/api/v5/nodes/" + node1 + "/stats": {file: "v5/node_stats_emqx1.json"},
			"/api/v5/metrics":                   {file: "v5/metrics_unknown_node_empty.json"},
		}, v5Denied, "", "node emqx@10.0.0.11 not found (the answer lists no node)"},
		{"v5 nodes is not a list", emqxapi.Options{APIVersion: "v5"}, with(v5ok, "/api/v5/nodes", route{body: `"x"`}), v5Denied, "", "nodes: a JSON string, want a list of nodes"},
		{"v5 HTML", emqxapi.Options{APIVersion: "v5"}, with(v5ok, "/api/v5/stats", route{body: "<html>proxy</html>"}), v5Denied, "", "/api/v5/stats: invalid JSON"},
		{"v5 bad load", emqxapi.Options{APIVersion: "v5"}, with(v5ok, "/api/v5/nodes", route{body: `[{"node":"n","load1":"high"}]`}), v5Denied, "", "node n: load1=high is not a number"},
		{"v4 wrong AppID secret", emqxapi.Options{APIVersion: "v4"}, nil, v4Denied, "admin:public", "HTTP 401: UNAUTHORIZED"},
		{"v4 unknown node (404 text)", emqxapi.Options{APIVersion: "v4", Node: "emqx@nowhere"}, nil, v4Denied, "", "HTTP 404: Not found."},
		{"v4 node down (200, message only)", emqxapi.Options{APIVersion: "v4", Node: "emqx@127.0.0.1"}, map[string]route{
			"/api/v4/nodes/emqx@127.0.0.1":         {file: "v4/node_docs.json"},
			"/api/v4/nodes/emqx@127.0.0.1/stats":   {file: "v4/node_stats_rpc_error.json"},
			"/api/v4/nodes/emqx@127.0.0.1/metrics": {file: "v4/node_metrics_docs.json"},
		}, v4Denied, "", `/api/v4/nodes/emqx@127.0.0.1/stats: EMQX API error: nodedown (no "data" in the answer)`},
		{"v4 error code in a 200", emqxapi.Options{APIVersion: "v4"}, map[string]route{
			"/api/v4/nodes":   {file: "v4/nodes_2node.json"},
			"/api/v4/stats":   {body: `{"code":101,"message":"badrpc"}`},
			"/api/v4/metrics": {file: "v4/metrics_2node_derived.json"},
		}, v4Denied, "", "/api/v4/stats: EMQX API error code 101: badrpc"},
		{"v2 wrong dashboard user", emqxapi.Options{APIVersion: "v2"}, nil, v2Denied, "admin:public", "HTTP 401: credentials refused or missing"},
		{"v2 error code in a 200", emqxapi.Options{APIVersion: "v2"}, map[string]route{
			"/api/v2/monitoring/nodes":   {body: `{"code":104,"message":"bad request"}`},
			"/api/v2/management/nodes":   {file: "v2/management_nodes_docs.json"},
			"/api/v2/monitoring/stats":   {file: "v2/monitoring_stats_docs.json"},
			"/api/v2/monitoring/metrics": {file: "v2/monitoring_stats_docs.json"},
		}, v2Denied, "", "EMQX API error code 104: bad request"},
		{"nothing answers like EMQX", emqxapi.Options{}, map[string]route{}, v5Denied, "", "cannot tell the EMQX API generation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := start(t, scenario{routes: tc.routes, denied: tc.denied})
			opts := tc.opts
			if tc.creds != "" {
				opts.APIKeyFile = keyFile(t, tc.creds)
			}
			c := newCollector(t, opts, srv.URL)
			ch := make(chan prometheus.Metric, 1000)
			err := c.Update(context.Background(), ch)
			if err == nil {
				t.Fatal("scrape succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			for _, secret := range []string{apiSecret, "wrong", "public"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks a secret", err)
				}
			}
			if len(ch) != 0 {
				t.Errorf("%d metrics sent on a failed scrape", len(ch))
			}
		})
	}
}

// TestDetection: each generation is recognised by its own answer (with
// or without good credentials), once per base URL, and logged once.
func TestDetection(t *testing.T) {
	cases := []struct {
		name   string
		routes map[string]route
		denied route
		creds  string
		want   emqxapi.Version
	}{
		{"v5 status", map[string]route{"/api/v5/status": {file: "v5/status_running.txt"}}, v5Denied, "", emqxapi.V5},
		{"v5 status json form", map[string]route{"/api/v5/status": {file: "v5/status_running_format_json.json"}}, v5Denied, "", emqxapi.V5},
		{"v4 nodes", map[string]route{"/api/v4/nodes": {file: "v4/nodes_docs.json"}}, v4Denied, "", emqxapi.V4},
		{"v4 refusing the credentials", nil, v4Denied, "x:y", emqxapi.V4},
		{"v2 nodes", map[string]route{"/api/v2/monitoring/nodes": {file: "v2/monitoring_nodes_docs.json"}}, v2Denied, "", emqxapi.V2},
		{"v2 refusing the credentials", nil, v2Denied, "x:y", emqxapi.V2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := start(t, scenario{routes: tc.routes, denied: tc.denied})
			auth := struct{ u, p string }{apiKey, apiSecret}
			if tc.creds != "" {
				auth.u, auth.p, _ = strings.Cut(tc.creds, ":")
			}
			var logged []emqxapi.Version
			api := &emqxapi.API{BaseURL: srv.URL, OnDetect: func(v emqxapi.Version) { logged = append(logged, v) }}
			api.Auth.Username, api.Auth.Password = auth.u, auth.p
			for i := 0; i < 2; i++ {
				v, err := emqxapi.Detect(context.Background(), nil, srv.URL, api.Auth)
				if err != nil || v != tc.want {
					t.Fatalf("detected %q, %v; want %s", v, err, tc.want)
				}
			}
			n := len(f.seen())
			_, _ = api.Fetch(context.Background()) // uses the cache: no new probe, no log
			if len(logged) != 0 {
				t.Errorf("logged %v for a cached detection", logged)
			}
			for _, r := range f.seen()[n:] {
				if strings.HasSuffix(r, "/status") {
					t.Errorf("probed again: %s", r)
				}
			}
		})
	}
}

func TestDetectionLogsOnce(t *testing.T) {
	_, srv := start(t, scenarios()[0])
	var buf strings.Builder
	c, err := New(emqxapi.Options{APIKeyFile: keyFile(t, apiKey+":"+apiSecret)}, collectors.Target{URL: srv.URL}, log.NewLogfmtLogger(&buf))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := c.Update(context.Background(), make(chan prometheus.Metric, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(buf.String(), "Detected EMQX API generation"); n != 1 || !strings.Contains(buf.String(), "api=v5") {
		t.Errorf("log %q: want one detection line with api=v5", buf.String())
	}
}

func TestCredentials(t *testing.T) {
	cases := []struct {
		name      string
		opts      func(t *testing.T) emqxapi.Options
		user, pwd string
		err       string
	}{
		{"bootstrap file with role", func(t *testing.T) emqxapi.Options {
			return emqxapi.Options{APIKeyFile: keyFile(t, "k:s:viewer\nother:line\n")}
		}, "k", "s", ""},
		{"key:secret with CRLF", func(t *testing.T) emqxapi.Options { return emqxapi.Options{APIKeyFile: keyFile(t, "k:s\r\n")} }, "k", "s", ""},
		{"username + password file", func(t *testing.T) emqxapi.Options {
			return emqxapi.Options{HTTPOptions: upstream.HTTPOptions{Username: "admin", PasswordFile: keyFile(t, "p:with:colons\n")}}
		}, "admin", "p:with:colons", ""},
		{"no secret", func(t *testing.T) emqxapi.Options { return emqxapi.Options{APIKeyFile: keyFile(t, "justakey\n")} }, "", "", "must be key:secret"},
		{"empty file", func(t *testing.T) emqxapi.Options { return emqxapi.Options{APIKeyFile: keyFile(t, "\n")} }, "", "", "is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts(t)
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			a, err := o.Credentials()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "justakey") {
					t.Errorf("error leaks the file content: %v", err)
				}
				return
			}
			if err != nil || a.Username != tc.user || a.Password != tc.pwd {
				t.Errorf("got %+v %v", a, err)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	f := filepath.Join(t.TempDir(), "k")
	_ = os.WriteFile(f, []byte("k:s"), 0o600)
	cases := []struct {
		opts emqxapi.Options
		err  string
	}{
		{emqxapi.Options{}, ""},
		{emqxapi.Options{APIVersion: "5"}, ""},
		{emqxapi.Options{APIVersion: "v3"}, `api_version "v3"`},
		{emqxapi.Options{APIKeyFile: f, HTTPOptions: upstream.HTTPOptions{Username: "u"}}, "not both"},
		{emqxapi.Options{HTTPOptions: upstream.HTTPOptions{PasswordFile: f}}, "password_file needs username"},
		{emqxapi.Options{APIKeyFile: "/nonexistent"}, "api_key_file"},
		{emqxapi.Options{APIVersion: "v4", Node: emqxapi.SelfNode}, "needs the EMQX 5 API"},
	}
	for _, tc := range cases {
		err := tc.opts.Validate()
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v: got %v, want %q", tc.opts, err, tc.err)
		}
	}
	if d := emqxapi.DefaultOptions(); d.APIVersion != "auto" || d.HasCredentials() {
		t.Errorf("defaults %+v", d)
	}
}

// TestStatsHelpers: the numbers the agent reads.
func TestStatsHelpers(t *testing.T) {
	_, srv := start(t, scenarios()[1]) // one node stopped
	st, err := (&emqxapi.API{BaseURL: srv.URL, Version: emqxapi.V5, Auth: authOK()}).Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.RunningNodes() != 1 || st.StoppedNodes() != 1 || st.Connections() != 1250 || st.LiveConnections() != 1200 || st.Sessions() != 1250 {
		t.Errorf("running %d stopped %d conns %v live %v sessions %v", st.RunningNodes(), st.StoppedNodes(), st.Connections(), st.LiveConnections(), st.Sessions())
	}
	n, ok := st.Node(node2)
	if !ok || n.Running || n.Status != "stopped" {
		t.Errorf("node2 %+v", n)
	}
	if n, ok := st.Node(node1); !ok || n.UptimeSeconds != 864123.456 || n.MemoryUsed != 7.02*1024*1024*1024 {
		t.Errorf("node1 %+v", n)
	}
}

func authOK() upstream.Auth { return upstream.Auth{Username: apiKey, Password: apiSecret} }

func TestCounterCatalogCoversFixtures(t *testing.T) {
	known := map[string]bool{}
	for _, c := range counterDefs {
		if known[c.key] {
			t.Errorf("%s twice in the catalog", c.key)
		}
		known[c.key] = true
	}
	for _, f := range []struct {
		v    emqxapi.Version
		file string
	}{
		{emqxapi.V5, "v5/metrics_aggregate_false.json"}, {emqxapi.V5, "v5/metrics_aggregate_true.json"},
		{emqxapi.V4, "v4/metrics_docs.json"}, {emqxapi.V4, "v4/node_metrics_docs.json"},
		{emqxapi.V2, "v2/monitoring_metrics_2node_derived.json"}, {emqxapi.V2, "v2/monitoring_metrics_node_docs.json"},
	} {
		b, _ := os.ReadFile(filepath.Join("testdata", f.file))
		m, err := emqxapi.DecodePerNode(f.v, b, "single")
		if err != nil {
			t.Fatalf("%s: %v", f.file, err)
		}
		for _, vals := range m {
			for k := range vals {
				if !known[k] {
					t.Errorf("%s: counter %s is not in the catalog", f.file, k)
				}
			}
		}
	}
	stats := map[string]bool{}
	for _, g := range gaugeDefs {
		stats[g.key+".count"], stats[g.key+".max"] = true, true
	}
	for _, f := range []struct {
		v    emqxapi.Version
		file string
	}{
		{emqxapi.V5, "v5/stats_aggregate_false.json"}, {emqxapi.V4, "v4/stats_docs.json"}, {emqxapi.V2, "v2/monitoring_stats_2node_derived.json"},
	} {
		b, _ := os.ReadFile(filepath.Join("testdata", f.file))
		m, err := emqxapi.DecodePerNode(f.v, b, "single")
		if err != nil {
			t.Fatal(err)
		}
		for _, vals := range m {
			for k := range vals {
				if !stats[k] {
					t.Errorf("%s: stat %s is not in the catalog", f.file, k)
				}
			}
		}
	}
}

// TestAggregateMatchesPerNodeSums: lbpilot exports per-node series and
// leaves sums to PromQL; EMQX's own aggregate must equal those sums for
// every per-node key (the cluster-wide registries are not summed by EMQX,
// and cluster_sessions is summed by EMQX although it is cluster-wide:
// the quirk lbpilot avoids by exporting it once).
func TestAggregateMatchesPerNodeSums(t *testing.T) {
	for _, pair := range [][2]string{
		{"v5/stats_aggregate_false.json", "v5/stats_aggregate_true.json"},
		{"v5/metrics_aggregate_false.json", "v5/metrics_aggregate_true.json"},
	} {
		per := decodeFile(t, emqxapi.V5, pair[0])
		agg := decodeFile(t, emqxapi.V5, pair[1])["cluster"]
		global := map[string]bool{}
		for _, g := range gaugeDefs {
			if g.global {
				global[g.key+".count"], global[g.key+".max"] = true, true
			}
		}
		for k, want := range agg {
			var sum float64
			for _, v := range per {
				sum += v[k]
			}
			switch {
			case global[k] && k != "cluster_sessions.count" && k != "cluster_sessions.max":
				if want != per[node1][k] {
					t.Errorf("%s: aggregate %v, a node reports %v", k, want, per[node1][k])
				}
			case sum != want:
				t.Errorf("%s %s: aggregate %v, per-node sum %v", pair[1], k, want, sum)
			}
		}
	}
}

func decodeFile(t *testing.T, v emqxapi.Version, name string) map[string]emqxapi.Values {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := emqxapi.DecodePerNode(v, b, "cluster")
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

func TestCollectorLint(t *testing.T) {
	_, srv := start(t, scenarios()[0])
	c := newCollector(t, emqxapi.Options{}, srv.URL)
	problems, err := testutil.CollectAndLint(collectors.Prometheus(c))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestProbeDescsShared: collectors without target labels (/probe) share
// one descriptor set per mode; labelled ones get their own.
func TestProbeDescsShared(t *testing.T) {
	mk := func(node string, labels prometheus.Labels) *Collector {
		c, err := New(emqxapi.Options{APIVersion: "v5", Node: node}, collectors.Target{URL: "http://e:18083", Labels: labels}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := mk("", nil), mk("", nil)
	n := mk("emqx@a", nil)
	l := mk("", prometheus.Labels{"target": "x"})
	if a.descs != b.descs || a.descs == n.descs || a.descs == l.descs {
		t.Error("descriptor sets not shared as intended")
	}
	if n.nodesRunning != nil || a.nodesRunning == nil {
		t.Error("node mode must not describe the cluster node counts")
	}
}

// TestEmqttd21PerNode: emqttd 2.1 answers stats and metrics with result as
// the object keyed by node; read per node, it gives exactly what the list
// form of the same cluster gives (it used to give nothing, with
// lbpilot_up 1).
func TestEmqttd21PerNode(t *testing.T) {
	list := golden.ParseFile(t, "testdata/golden/v2_cluster_one_stopped.prom")
	byNode := golden.ParseFile(t, "testdata/golden/v2.1_cluster_one_stopped.prom")
	if len(list) != len(byNode) {
		t.Fatalf("%d families from the list form, %d from the 2.1 form", len(list), len(byNode))
	}
	compared := 0
	for name, mf := range list {
		got, want := samples(byNode[name]), samples(mf)
		if len(got) != len(want) {
			t.Errorf("%s: %d series, want %d", name, len(got), len(want))
		}
		for k, v := range want {
			compared++
			if got[k] != v {
				t.Errorf("%s%s = %v, want %v", name, k, got[k], v)
			}
		}
	}
	if compared < 50 {
		t.Fatalf("only %d series compared", compared)
	}
	if _, ok := byNode["emqx_connections"]; !ok {
		t.Error("no per-node connections from the 2.1 form")
	}
}

// TestUnplacedValues: a stats value that is not a number is left out,
// counted and logged, and the rest of the answer is exported.
func TestUnplacedValues(t *testing.T) {
	stats := strings.Replace(strings.Replace(mustFileRaw("v2/monitoring_stats_2.1_by_node.json"),
		`"clients/count": 40,`, `"clients/count": "n/a",`, 1),
		`"sessions/count": 38,`, `"sessions/count": {"now": 38},`, 1)
	sc := scenario{"v2.1_unplaced", emqxapi.Options{APIVersion: "v2"}, v2Denied, map[string]route{
		"/api/v2/monitoring/nodes":   {file: "v2/monitoring_nodes_2node_one_stopped_derived.json"},
		"/api/v2/management/nodes":   {file: "v2/management_nodes_docs.json"},
		"/api/v2/monitoring/stats":   {body: stats},
		"/api/v2/monitoring/metrics": {body: strings.Replace(mustFileRaw("v2/monitoring_metrics_2.1_by_node.json"), `"bytes/received": `, `"bytes/received": -`, 1)},
	}}
	_, srv := start(t, sc)
	var logs bytes.Buffer
	opts := sc.opts
	opts.APIKeyFile = keyFile(t, apiKey+":"+apiSecret+"\n")
	c, err := New(opts, collectors.Target{URL: srv.URL}, level.NewFilter(log.NewLogfmtLogger(log.NewSyncWriter(&logs)), level.AllowDebug()))
	if err != nil {
		t.Fatal(err)
	}
	mfs := map[string]*dto.MetricFamily{}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.Prometheus(c))
	got, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range got {
		mfs[mf.GetName()] = mf
	}
	conns := samples(mfs["emqx_connections"])
	if len(conns) != 1 {
		t.Errorf("connections: %v, want only the node whose value is a number", conns)
	}
	reasons := samples(mfs[collectors.AnomaliesName])
	if reasons[`{reason="unplaced_value"}`] != 2 || reasons[`{reason="counter_negative"}`] != 1 {
		t.Errorf("anomalies %v, want 2 unplaced values and 1 negative counter", reasons)
	}
	for _, w := range []string{"reason=unplaced_value count=2 first_node=emq@10.0.0.11 first_key=clients/count type=string", "reason=counter_negative count=1"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logs.String())
		}
	}
}

func mustFileRaw(name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		panic(err)
	}
	return string(b)
}
