package emqxapi

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecodeUptime(t *testing.T) {
	cases := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"10 days, 0 hours, 2 minutes, 3 seconds", 864123, true},
		{"7 seconds", 7, true},
		{"1 minutes, 51 seconds", 111, true},
		{"1 day, 1 hour", 90000, true},
		{"2 weeks", 1209600, true},
		{"soon", 0, false},
		{"3 fortnights", 0, false},
		{"", 0, false},
	}
	for _, tc := range cases {
		got, ok := decodeUptime(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%q: %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDecodeMemory(t *testing.T) {
	cases := []struct {
		in   any
		want float64
		ok   bool
	}{
		{"15.51G", 15.51 * 1024 * 1024 * 1024, true},
		{"962.34M", 962.34 * 1024 * 1024, true},
		{"512.00K", 512 * 1024, true},
		{"812", 812, true},
		{"0", 0, true},
		{"1.5T", 1.5 * 1024 * 1024 * 1024 * 1024, true},
		{"lots", 0, false},
		{"-1G", 0, false},
	}
	for _, tc := range cases {
		got, ok := decodeMemory(tc.in)
		if ok != tc.ok || (ok && math.Abs(got-tc.want) > 1e-6) {
			t.Errorf("%v: %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseStatus(t *testing.T) {
	cases := []struct {
		file       string
		node       string
		started    bool
		appRunning bool
	}{
		{"v5/status_running.txt", "emqx@10.0.0.11", true, true},
		{"v5/status_not_running_503.txt", "emqx@10.0.0.11", false, false},
		{"v5/status_running_format_json.json", "emqx@10.0.0.11", true, true},
		{"v4/status_docs.txt", "emqx@127.0.0.1", true, true},
		{"v2/status_derived.txt", "emq@10.0.0.11", true, true},
	}
	for _, tc := range cases {
		b, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		s, err := ParseStatus(b)
		if err != nil || s.Node != tc.node || s.Started != tc.started || s.AppRunning != tc.appRunning {
			t.Errorf("%s: %+v %v", tc.file, s, err)
		}
	}
	for _, bad := range []string{"", "Not found.", "<html>", `{"app_status":"running"}`} {
		if _, err := ParseStatus([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// TestBrokers: EMQX 4's /brokers answers decode like nodes (version and
// text uptime).
func TestBrokers(t *testing.T) {
	for _, f := range []string{"v4/brokers_docs.json", "v4/broker_node_docs.json"} {
		b, _ := os.ReadFile(filepath.Join("testdata", f))
		nodes, err := DecodeNodes(V4, b)
		if err != nil || len(nodes) != 1 || nodes[0].Name != "emqx@127.0.0.1" || !nodes[0].Running || math.IsNaN(nodes[0].UptimeSeconds) {
			t.Errorf("%s: %+v %v", f, nodes, err)
		}
	}
}

func TestDecodeShapes(t *testing.T) {
	cases := []struct {
		name string
		v    Version
		body string
		want map[string]Values
		err  string
	}{
		{"v5 aggregate object", V5, `{"connections.count":3}`, map[string]Values{"single": {"connections.count": 3}}, ""},
		{"v4 nested list", V4, `{"code":0,"data":[{"node":"a","stats":{"topics.count":2}}]}`, map[string]Values{"a": {"topics.count": 2}}, ""},
		{"v2 keyed by node, slash keys", V2, `{"code":0,"result":[{"a":{"clients/count":4,"packets/connect":9}}]}`, map[string]Values{"a": {"connections.count": 4, "packets.connect.received": 9}}, ""},
		{"non-numbers are skipped", V5, `[{"node":"a","x.count":"1","y":true,"z":null}]`, map[string]Values{"a": {"x.count": 1}}, ""},
		{"duplicate node", V5, `[{"node":"a"},{"node":"a"}]`, nil, "node a listed twice"},
		{"v4 without data", V4, `{"code":0}`, nil, `answer has no "data" (it has code)`},
		{"v4 code as text", V4, `{"code":"oops","data":[]}`, nil, "EMQX API error code oops"},
		{"v2 answer is a list", V2, `[]`, nil, `answer is a JSON array, want an object with "result"`},
		{"scalar payload", V5, `12`, nil, "a JSON number, want an object or a list"},
		{"list of strings", V5, `["a"]`, nil, "[0]: a JSON string, want an object"},
		{"trailing data", V5, `[] []`, nil, "trailing data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodePerNode(tc.v, []byte(tc.body), "single")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for n, vals := range tc.want {
				for k, v := range vals {
					if got[n][k] != v || len(got[n]) != len(vals) {
						t.Errorf("got %v, want %v", got, tc.want)
					}
				}
			}
		})
	}
}

// TestDecodePerNodeShapes: emqttd 2.1's result, an object keyed by node,
// is read per node; a flat map stays one node's values; a value that is
// not a number is returned as unplaced, never silently lost.
func TestDecodePerNodeShapes(t *testing.T) {
	cases := []struct {
		name, body string
		want       map[string]Values
		unplaced   []Unplaced
		err        string
	}{
		{"2.1 object of nodes", `{"code":0,"result":{"emq@a":{"clients/count":3,"sessions/count":4},"emq@b":{"clients/count":5}}}`,
			map[string]Values{"emq@a": {"connections.count": 3, "sessions.count": 4}, "emq@b": {"connections.count": 5}}, nil, ""},
		{"2.x list of the object", `{"code":0,"result":[{"emq@a":{"clients/count":3}}]}`,
			map[string]Values{"emq@a": {"connections.count": 3}}, nil, ""},
		{"flat node", `{"code":0,"result":{"clients/count":3}}`, map[string]Values{"single": {"connections.count": 3}}, nil, ""},
		{"flat with an odd value", `{"code":0,"result":{"clients/count":3,"topics/count":{"x":1},"routes/count":"many"}}`,
			map[string]Values{"single": {"connections.count": 3}},
			[]Unplaced{{"single", "routes/count", "string"}, {"single", "topics/count", "object"}}, ""},
		{"2.1 node with an odd value", `{"code":0,"result":{"emq@a":{"clients/count":[1]}}}`,
			map[string]Values{"emq@a": {}}, []Unplaced{{"emq@a", "clients/count", "array"}}, ""},
		{"2.x list with a non-object node", `{"code":0,"result":[{"emq@a":3}]}`, nil, nil, "[0].emq@a: a JSON number, want an object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, unplaced, err := DecodePerNodeUnplaced(V2, []byte(tc.body), "single")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("nodes %v, want %v", got, tc.want)
			}
			for n, vals := range tc.want {
				if len(got[n]) != len(vals) {
					t.Errorf("%s: %v, want %v", n, got[n], vals)
				}
				for k, v := range vals {
					if got[n][k] != v {
						t.Errorf("%s %s = %v, want %v", n, k, got[n][k], v)
					}
				}
			}
			if len(unplaced) != len(tc.unplaced) {
				t.Fatalf("unplaced %v, want %v", unplaced, tc.unplaced)
			}
			for i := range unplaced {
				if unplaced[i] != tc.unplaced[i] {
					t.Errorf("unplaced[%d] = %v, want %v", i, unplaced[i], tc.unplaced[i])
				}
			}
		})
	}
}
