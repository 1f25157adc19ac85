package emqx

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lbpilot/lbpilot/internal/emqxapi"
	"github.com/lbpilot/lbpilot/internal/golden"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lbpilot/lbpilot/collectors"
)

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
	c, err := New(emqxapi.Options{}, collectors.Target{URL: "http://emqx:18083"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, gen uint8, nodes bool) {
		v := []emqxapi.Version{emqxapi.V5, emqxapi.V4, emqxapi.V2}[gen%3]
		st := &emqxapi.Stats{API: v}
		var err error
		if nodes {
			st.Nodes, err = emqxapi.DecodeNodes(v, body)
		} else {
			st.Stats, st.Unplaced, err = emqxapi.DecodePerNodeUnplaced(v, body, "n")
			st.Metrics = st.Stats
		}
		if _, serr := emqxapi.ParseStatus(body); serr != nil && serr.Error() == "" {
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
	st *emqxapi.Stats
}

func (s sendOnly) Describe(ch chan<- *prometheus.Desc) { s.c.Describe(ch) }
func (s sendOnly) Collect(ch chan<- prometheus.Metric) { s.c.send(s.st, ch) }
