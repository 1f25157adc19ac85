package emqx

import (
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lbpilot/lbpilot/internal/golden"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lbpilot/lbpilot/collectors"
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

// builtinName returns the family EMQX's own /api/v5/prometheus/stats uses
// for one of lbpilot's, and how lbpilot's sample is found.
func builtinMapping() map[string]string {
	m := map[string]string{
		"emqx_cluster_nodes_running": "emqx_cluster_nodes_running",
		"emqx_cluster_nodes_stopped": "emqx_cluster_nodes_stopped",
	}
	for _, g := range gaugeDefs {
		base := "emqx_" + strings.ReplaceAll(g.key, ".", "_")
		m[base+"_count"] = g.name
		m[base+"_max"] = g.name + "_max"
	}
	for _, c := range counterDefs {
		m["emqx_"+strings.ReplaceAll(c.key, ".", "_")] = CounterName(c.key)
	}
	// EMQX's two renamed counters.
	m["emqx_packets_connect"] = CounterName("packets.connect.received")
	m["emqx_messages_dropped_expired"] = CounterName("messages.dropped.await_pubrel_timeout")
	return m
}

// notExported are built-in families the REST API does not carry.
var notExported = []string{"erlang_vm_", "emqx_vm_", "emqx_mria_", "emqx_cert_expiry_at", "emqx_conf_sync_txid",
	"emqx_client_disconnected_reason", "emqx_authorization_superuser", "emqx_authorization_nomatch",
	"emqx_authorization_matched_allow", "emqx_authorization_matched_deny", "emqx_messages_retained", "emqx_durable_subscriptions_"}

// TestBuiltinExporterMapping reads EMQX's own exposition for the same
// cluster (node mode: node 1; unaggregated: both nodes) and checks that
// every family maps to one of lbpilot's with the same values.
func TestBuiltinExporterMapping(t *testing.T) {
	mapping := builtinMapping()
	for _, tc := range []struct{ builtin, ours, node string }{
		{"v5/prometheus_stats_mode_node.txt", "golden/v5_node.prom", node1},
		{"v5/prometheus_stats_mode_all_nodes_unaggregated.txt", "golden/v5_cluster.prom", ""},
	} {
		t.Run(tc.builtin, func(t *testing.T) {
			theirs := golden.ParseFile(t, filepath.Join("testdata", tc.builtin))
			ours := golden.ParseFile(t, filepath.Join("testdata", tc.ours))
			checked := 0
		families:
			for name, mf := range theirs {
				for _, p := range notExported {
					if strings.HasPrefix(name, p) {
						continue families
					}
				}
				if tc.node != "" && strings.HasPrefix(name, "emqx_cluster_nodes_") {
					continue // node mode reads one node, not the cluster
				}
				on, ok := mapping[name]
				if !ok {
					t.Errorf("built-in %s has no mapping", name)
					continue
				}
				omf, ok := ours[on]
				if !ok {
					t.Errorf("built-in %s maps to %s, which lbpilot did not export", name, on)
					continue
				}
				if mf.GetType() == dto.MetricType_COUNTER && omf.GetType() != dto.MetricType_COUNTER {
					t.Errorf("%s: built-in counter, lbpilot's %s is %v", name, on, omf.GetType())
				}
				want := samples(mf)
				got := samples(omf)
				for k, v := range want {
					gk := k
					switch {
					case tc.node != "" && k == "" && hasNodeLabel(omf):
						gk = `{node="` + tc.node + `"}`
					case !hasNodeLabel(omf):
						// EMQX repeats cluster-wide gauges per node in
						// unaggregated mode; lbpilot has them once.
						gk = ""
					}
					if gv, ok := got[gk]; !ok || gv != v {
						t.Errorf("%s%s = %v; lbpilot %s%s = %v (present %v)", name, k, v, on, gk, gv, ok)
					}
					checked++
				}
			}
			if checked < 100 {
				t.Errorf("only %d samples compared", checked)
			}
		})
	}
}

func hasNodeLabel(mf *dto.MetricFamily) bool {
	for _, l := range mf.GetMetric()[0].GetLabel() {
		if l.GetName() == "node" {
			return true
		}
	}
	return false
}

// samples keys each sample by its labels, the target label left out.
func samples(mf *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range mf.GetMetric() {
		var parts []string
		for _, l := range m.GetLabel() {
			if l.GetName() != "target" {
				parts = append(parts, l.GetName()+`="`+l.GetValue()+`"`)
			}
		}
		sort.Strings(parts)
		key := ""
		if len(parts) > 0 {
			key = "{" + strings.Join(parts, ",") + "}"
		}
		var v float64
		switch {
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		default:
			v = m.GetUntyped().GetValue()
		}
		out[key] = v
	}
	return out
}

// FuzzDecode feeds the nodes and per-node decoders of every generation
// (seeded with every fixture): no panic, accepted answers give a valid
// exposition.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/v*/*")
	if len(files) < 40 {
		f.Fatalf("only %d seeds", len(files))
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		v := uint8(0)
		switch {
		case strings.HasPrefix(file, "testdata/v4"):
			v = 1
		case strings.HasPrefix(file, "testdata/v2"):
			v = 2
		}
		f.Add(b, v, strings.Contains(file, "node"))
	}
	c, err := New(Options{}, collectors.Target{URL: "http://emqx:18083"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, gen uint8, nodes bool) {
		v := []Version{V5, V4, V2}[gen%3]
		st := &Stats{API: v}
		var err error
		if nodes {
			st.Nodes, err = DecodeNodes(v, body)
		} else {
			st.Stats, err = DecodePerNode(v, body, "n")
			st.Metrics = st.Stats
		}
		if _, serr := ParseStatus(body); serr != nil && serr.Error() == "" {
			t.Fatal("empty status error")
		}
		if err != nil {
			if err.Error() == "" || !utf8.ValidString(err.Error()) {
				t.Fatalf("bad error %q", err)
			}
			return
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(sendOnly{c, st})
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("accepted answer gives an invalid exposition: %v", err)
		}
	})
}

type sendOnly struct {
	c  *Collector
	st *Stats
}

func (s sendOnly) Describe(ch chan<- *prometheus.Desc) { s.c.Describe(ch) }
func (s sendOnly) Collect(ch chan<- prometheus.Metric) { s.c.send(s.st, ch) }
