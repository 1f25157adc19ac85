package lab

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// shape lists every key path of a JSON document with the JSON type of its
// value ("streams[].publish.active:bool"). Object keys holding a node
// name (emqttd 2 keys stats by node) are written <node>.
func shape(t *testing.T, body []byte) map[string]bool {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v: %.200s", err, body)
	}
	out := map[string]bool{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			out[path+":object"] = true
			for k, e := range x {
				if strings.Contains(k, "@") {
					k = "<node>"
				}
				walk(path+"."+k, e)
			}
		case []any:
			out[path+":array"] = true
			for _, e := range x {
				walk(path+"[]", e)
			}
		case string:
			out[path+":string"] = true
		case bool:
			out[path+":bool"] = true
		case nil:
			out[path+":null"] = true
		default:
			out[path+":number"] = true
		}
	}
	walk("", v)
	return out
}

func diff(a, b map[string]bool) []string {
	var d []string
	for k := range a {
		if !b[k] {
			d = append(d, k)
		}
	}
	sort.Strings(d)
	return d
}

func get(t *testing.T, h http.Handler, target string, auth ...string) (int, http.Header, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, rec.Result().Header, body
}

func fixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameShape fails unless the lab's answer has exactly the fixture's key
// paths and value types.
func sameShape(t *testing.T, what string, lab, fix []byte) {
	t.Helper()
	l, f := shape(t, lab), shape(t, fix)
	if missing := diff(f, l); len(missing) > 0 {
		t.Errorf("%s: the lab lacks %v", what, missing)
	}
	if extra := diff(l, f); len(extra) > 0 {
		t.Errorf("%s: the lab adds %v", what, extra)
	}
}

// fixtureLoad is the captured load scenario: one publisher, players of
// every kind, so every optional object is present.
var fixtureLoad = Load{Publishers: 1, Subscribers: 4, HLS: 1, Streams: 1, Connections: 2460, Sessions: 2460,
	Subscriptions: 7300, Topics: 520, Retained: 35, BandwidthInMbps: 0.3, BandwidthOutMbps: 1.4, CPU: 0.05,
	MessagesInRate: 1500, MessagesOutRate: 6000}

func TestSRSShapes(t *testing.T) {
	for _, v := range []string{"3.0.170", "4.0.271", "5.0.216", "6.0.157"} {
		for _, role := range []string{"origin", "edge"} {
			node := map[string]string{"origin": "master", "edge": "edge"}[role]
			s, err := New(Config{Kind: SRS, Name: "srs-" + role, SRSVersion: v, SRSRole: role, Load: fixtureLoad})
			if err != nil {
				t.Fatal(err)
			}
			for _, ep := range []string{"versions", "summaries", "self_proc_stats", "vhosts/", "streams/", "clients/"} {
				what := "SRS " + v + " " + role + " " + ep
				code, hdr, body := get(t, s, "/api/v1/"+ep)
				if code != 200 || hdr.Get("Content-Type") != "application/json" {
					t.Errorf("%s: HTTP %d %s", what, code, hdr.Get("Content-Type"))
				}
				if !strings.HasPrefix(hdr.Get("Server"), "SRS/"+v+"(") {
					t.Errorf("%s: Server %q", what, hdr.Get("Server"))
				}
				sameShape(t, what, body, fixture(t, "srs/v"+v+"/"+node+"/"+strings.TrimSuffix(ep, "/")+".json"))
			}
		}
	}
}

func TestWCSShapes(t *testing.T) {
	s, err := New(Config{Kind: WCS, Load: fixtureLoad})
	if err != nil {
		t.Fatal(err)
	}
	_, _, body := get(t, s, "/?action=stat&format=json")
	sameShape(t, "WCS JSON", body, fixture(t, "wcs/stat_loaded.json"))
	// The text form: the same section headers and keys, in order.
	_, _, text := get(t, s, "/?action=stat")
	keys := func(b []byte) []string {
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			k, _, _ := strings.Cut(line, "=")
			out = append(out, k)
		}
		return out
	}
	if got, want := keys(text), keys(fixture(t, "wcs/stat_loaded.txt")); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("text form keys differ:\n%v\n%v", got, want)
	}
	if _, _, b := get(t, s, "/?action=stat&params=connections_hls"); string(b) != "connections_hls=1\n" {
		t.Errorf("params answer %q", b)
	}
	_, _, g := get(t, s, "/?action=stat&format=json&groups=network_stats")
	var m map[string]any
	if json.Unmarshal(g, &m) != nil || len(m) != 1 || m["network_stats"] == nil {
		t.Errorf("groups answer %s", g)
	}
	if code, _, _ := get(t, s, "/"); code != 404 {
		t.Errorf("/ without action: HTTP %d", code)
	}
}

func TestEMQXShapes(t *testing.T) {
	type ep struct{ path, fixture string }
	cases := map[string][]ep{
		"v5": {
			{"/api/v5/nodes", "v5/nodes.json"},
			{"/api/v5/nodes/emqx@emqx-n1.lab", "v5/node_emqx1.json"},
			{"/api/v5/stats", "v5/stats_aggregate_false.json"},
			{"/api/v5/stats?aggregate=true", "v5/stats_aggregate_true.json"},
			{"/api/v5/nodes/emqx@emqx-n1.lab/stats", "v5/node_stats_emqx1.json"},
			{"/api/v5/metrics", "v5/metrics_aggregate_false.json"},
			{"/api/v5/metrics?aggregate=true", "v5/metrics_aggregate_true.json"},
			{"/api/v5/monitor_current", "v5/monitor_current.json"},
			{"/api/v5/monitor_current/nodes/emqx@emqx-n1.lab", "v5/monitor_current_node_emqx1.json"},
			{"/api/v5/cluster", "v5/cluster.json"},
			{"/api/v5/status?format=json", "v5/status_running_format_json.json"},
		},
		"v4": {
			{"/api/v4/nodes", "v4/nodes_2node.json"},
			{"/api/v4/stats", "v4/stats_2node.json"},
			{"/api/v4/metrics", "v4/metrics_docs.json"},
			{"/api/v4/brokers", "v4/brokers_docs.json"},
		},
		"v2": {
			{"/api/v2/monitoring/stats", "v2/monitoring_stats_2node_derived.json"},
			{"/api/v2/monitoring/metrics", "v2/monitoring_metrics_2node_derived.json"},
			{"/api/v2/management/nodes", "v2/management_nodes_docs.json"},
			{"/api/v2/monitoring/nodes/emq@emqx-n1.lab", "v2/monitoring_node_docs.json"},
		},
	}
	for v, eps := range cases {
		s, err := New(Config{Kind: EMQX, EMQXVersion: v, APIKey: "k", APISecret: "s", Load: fixtureLoad})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range eps {
			code, _, body := get(t, s, e.path, "k", "s")
			if code != 200 {
				t.Errorf("%s: HTTP %d %s", e.path, code, body)
				continue
			}
			sameShape(t, e.path, body, fixture(t, "emqx/"+e.fixture))
		}
	}
	// A stopped node has the short form of nodes_one_stopped.json (v5)
	// and of the emqttd 2 list.
	l := fixtureLoad
	l.StoppedNodes = 1
	for v, pf := range map[string][2]string{
		"v5": {"/api/v5/nodes", "v5/nodes_one_stopped.json"},
		"v2": {"/api/v2/monitoring/nodes", "v2/monitoring_nodes_2node_one_stopped_derived.json"},
	} {
		s, _ := New(Config{Kind: EMQX, EMQXVersion: v, Load: l})
		_, _, body := get(t, s, pf[0])
		sameShape(t, v+" one stopped", body, fixture(t, "emqx/"+pf[1]))
	}
	// A stopped node's stats in EMQX 4: HTTP 200 {"message":"nodedown"}.
	s4, _ := New(Config{Kind: EMQX, EMQXVersion: "v4", Load: l})
	_, _, body := get(t, s4, "/api/v4/nodes/emqx@emqx-n2.lab/stats")
	sameShape(t, "v4 nodedown", body, fixture(t, "emqx/v4/node_stats_rpc_error.json"))
	// Status texts.
	for v, f := range map[string]string{"v5": "v5/status_running.txt", "v4": "v4/status_docs.txt", "v2": "v2/status_derived.txt"} {
		s, _ := New(Config{Kind: EMQX, EMQXVersion: v, Load: fixtureLoad})
		_, _, body := get(t, s, "/status")
		want := strings.Fields(string(fixture(t, "emqx/"+f)))
		got := strings.Fields(string(body))
		if len(got) != len(want) || got[0] != want[0] || got[2] != want[2] || got[4] != want[4] {
			t.Errorf("%s status %q, fixture %q", v, body, want)
		}
	}
}
