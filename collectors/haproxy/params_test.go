package haproxy

import (
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

func TestParseParams(t *testing.T) {
	all := map[string]bool{}
	for _, s := range allScopes {
		all[s] = true
	}
	tests := []struct {
		query      string
		scopes     map[string]bool // nil: no scope parameter
		metrics    map[string]bool
		incDefault bool
		noMaint    bool
		desc       bool
		extra      bool
		set        bool
	}{
		{query: "", incDefault: true},
		{query: "module=haproxy&target=unix:/x", incDefault: true},
		{query: "scope=server", scopes: map[string]bool{ScopeServer: true}, incDefault: true, set: true},
		{query: "scope=frontend&scope=backend", scopes: map[string]bool{ScopeFrontend: true, ScopeBackend: true}, incDefault: true, set: true},
		{query: "scope=global", scopes: map[string]bool{ScopeProcess: true}, incDefault: true, set: true},
		{query: "scope=listener&scope=sticktable&scope=resolver", scopes: map[string]bool{ScopeListener: true, ScopeStickTable: true, ScopeResolver: true}, incDefault: true, set: true},
		// promex README: "scope=*&scope=" exports nothing, "scope=&scope=global" the global scope.
		{query: "scope=*&scope=", scopes: map[string]bool{}, incDefault: true, set: true},
		{query: "scope=&scope=global", scopes: map[string]bool{ScopeProcess: true}, incDefault: true, set: true},
		{query: "scope=%2A", scopes: all, incDefault: true, set: true},
		{query: "metrics=-haproxy_server_check_status", metrics: map[string]bool{"haproxy_server_check_status": false}, incDefault: true, set: true},
		{query: "metrics=haproxy_frontend_status,haproxy_backend_status&metrics=haproxy_server_status",
			metrics: map[string]bool{"haproxy_frontend_status": true, "haproxy_backend_status": true, "haproxy_server_status": true}, set: true},
		// The last mention of a name wins; an include still ends "everything by default".
		{query: "metrics=a,-a", metrics: map[string]bool{"a": false}, set: true},
		{query: "metrics=-a,a", metrics: map[string]bool{"a": true}, set: true},
		// Empty items and a lone "-" are skipped.
		{query: "metrics=,-,-b,", metrics: map[string]bool{"b": false}, incDefault: true, set: true},
		{query: "no-maint", noMaint: true, incDefault: true, set: true},
		{query: "no-maint=empty&desc-labels=&extra-counters=1", noMaint: true, desc: true, extra: true, incDefault: true, set: true},
		{query: "scope=server&no-maint&module=haproxy", scopes: map[string]bool{ScopeServer: true}, noMaint: true, incDefault: true, set: true},
		// Other parameters are not promex's to refuse: a target URL may hold '=' or odd escapes.
		{query: "target=http://lb/stats?a=b=c&sc%zzope=x&no-maint", noMaint: true, incDefault: true, set: true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			p, err := ParseParams(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if tt.metrics == nil {
				tt.metrics = p.Metrics // only checked when the case names some
				if len(p.Metrics) != 0 {
					t.Errorf("metrics = %v, want none", p.Metrics)
				}
			}
			if !reflect.DeepEqual(p.Scopes, tt.scopes) || !reflect.DeepEqual(p.Metrics, tt.metrics) ||
				p.IncludeByDefault != tt.incDefault || p.NoMaint != tt.noMaint || p.DescLabels != tt.desc ||
				p.ExtraCounters != tt.extra || p.Set != tt.set {
				t.Errorf("got %+v", p)
			}
		})
	}
}

func TestParseParamsErrors(t *testing.T) {
	for query, want := range map[string]string{
		"scope":             `invalid parameter "scope": needs a value`,
		"scope=servers":     `invalid parameter scope="servers": unknown scope`,
		"scope=*all":        `invalid parameter scope="*all": unknown scope`,
		"scope=GLOBAL":      `invalid parameter scope="GLOBAL": unknown scope`,
		"metrics":           `invalid parameter "metrics": needs a value`,
		"scope=server=1":    `invalid parameter scope="server=1": a value may not contain '='`,
		"scope=%zz":         `invalid parameter scope="%zz": bad escape in the value`,
		"no-maint&scope=fe": `invalid parameter scope="fe": unknown scope`,
	} {
		_, err := ParseParams(query)
		var pe *ParamError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", query, err, want)
		}
	}
}

func TestWithParams(t *testing.T) {
	base := DefaultOptions()
	base.IncludeMetrics = []string{"haproxy_server_.*", "haproxy_backend_status"}
	base.Scopes = []string{ScopeBackend, ScopeServer}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	names := func(o Options) []string {
		var out []string
		for _, n := range []string{"haproxy_server_status", "haproxy_server_weight", "haproxy_backend_status", "haproxy_backend_weight", "haproxy_frontend_status"} {
			if o.wanted(n) {
				out = append(out, n)
			}
		}
		sort.Strings(out)
		return out
	}
	p, err := ParseParams("scope=server&scope=frontend&metrics=-haproxy_server_weight&no-maint&desc-labels")
	if err != nil {
		t.Fatal(err)
	}
	o := base.WithParams(p)
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	// Scopes: the module's that the request also names (frontend is not the module's).
	if !reflect.DeepEqual(o.Scopes, []string{ScopeServer}) {
		t.Errorf("scopes = %v", o.Scopes)
	}
	// Families: the module's include list and the request's exclusion both apply.
	if got := names(o); !reflect.DeepEqual(got, []string{"haproxy_backend_status", "haproxy_server_status"}) {
		t.Errorf("families = %v", got)
	}
	if !o.excludes("MAINT") || o.excludes("DRAIN") || !o.DescLabels || o.ExtraCounters {
		t.Errorf("flags: excluded %v desc %v extra %v", o.excluded, o.DescLabels, o.ExtraCounters)
	}
	// The module's own options are untouched.
	if base.excludes("MAINT") || len(base.Scopes) != 2 || base.DescLabels {
		t.Errorf("base options changed: %+v", base)
	}

	// scope= leaves nothing, and Validate (run again by New) keeps it so.
	p, _ = ParseParams("scope=")
	o = base.WithParams(p)
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(o.Scopes) != 0 {
		t.Errorf("scope= left %v", o.Scopes)
	}
	// An include list in the request keeps only what it names.
	p, _ = ParseParams("metrics=haproxy_server_weight")
	if got := names(base.WithParams(p)); !reflect.DeepEqual(got, []string{"haproxy_server_weight"}) {
		t.Errorf("include: %v", got)
	}
	// No promex parameter: the options are returned as they are.
	p, _ = ParseParams("module=haproxy")
	if got := base.WithParams(p); !reflect.DeepEqual(got.Scopes, base.Scopes) || got.params != nil {
		t.Errorf("no params changed the options: %+v", got)
	}
}

func TestExcludeServerStatesOption(t *testing.T) {
	o := &Options{ExcludeServerStates: []string{"maint", "Drain"}}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if !o.excludes("MAINT") || !o.excludes("DRAIN") || o.excludes("UP") {
		t.Errorf("excluded = %v", o.excluded)
	}
	o = &Options{ExcludeServerStates: []string{"stopped"}}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), `exclude_server_states: unknown state "stopped"`) {
		t.Errorf("err = %v", err)
	}
}

// TestExcludedServersLeaveEveryServerFamily: with exclude_server_states
// (or no-maint) the status zoo's servers in maintenance or drain are in no
// server family, the others in every one they were in, and backend
// aggregates still count them.
func TestExcludedServersLeaveEveryServerFamily(t *testing.T) {
	sc := scenarios[1]
	servers := func(opts *Options) (map[string]map[string]bool, float64) {
		c := newCollector(t, opts, fakeSocket(t, sc), nil)
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(collectors.Prometheus(c))
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]map[string]bool{}
		var maintAgg float64
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				var srv, state string
				for _, l := range m.GetLabel() {
					switch l.GetName() {
					case "server":
						srv = l.GetValue()
					case "state":
						state = l.GetValue()
					}
				}
				if srv != "" {
					if out[mf.GetName()] == nil {
						out[mf.GetName()] = map[string]bool{}
					}
					out[mf.GetName()][srv] = true
				}
				if mf.GetName() == "haproxy_backend_agg_server_status" && state == "MAINT" {
					maintAgg += value(m)
				}
			}
		}
		return out, maintAgg
	}
	all, aggAll := servers(nil)
	status := map[string]string{}
	c := newCollector(t, nil, fakeSocket(t, sc), nil)
	for srv := range all["haproxy_server_status"] {
		for _, st := range serverStates {
			if gatherStateValue(t, c, srv, st) == 1 {
				status[srv] = st
			}
		}
	}
	p, err := ParseParams("no-maint")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts Options
		gone map[string]bool
	}{
		{"no-maint", DefaultOptions().WithParams(p), map[string]bool{"MAINT": true}},
		{"maint and drain", Options{ExcludeServerStates: []string{"maint", "drain"}}, map[string]bool{"MAINT": true, "DRAIN": true}},
	} {
		got, agg := servers(&tc.opts)
		if agg != aggAll || aggAll == 0 {
			t.Errorf("%s: backends count %v servers in MAINT, %v without exclusion", tc.name, agg, aggAll)
		}
		left := 0
		for fam, srvs := range all {
			for srv := range srvs {
				if tc.gone[status[srv]] == got[fam][srv] {
					t.Errorf("%s: %s{server=%s} (status %s) present=%v", tc.name, fam, srv, status[srv], got[fam][srv])
				}
				if got[fam][srv] {
					left++
				}
			}
		}
		if left == 0 {
			t.Errorf("%s: no server left", tc.name)
		}
	}
}

func gatherStateValue(t *testing.T, c *Collector, server, state string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.Prometheus(c))
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "haproxy_server_status" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var s, st string
			for _, l := range m.GetLabel() {
				if l.GetName() == "server" {
					s = l.GetValue()
				}
				if l.GetName() == "state" {
					st = l.GetValue()
				}
			}
			if s == server && st == state {
				return value(m)
			}
		}
	}
	return -1
}

// TestDescLabels: desc-labels puts the global description on every
// process family (the capture's "edge lb one"), and only then.
func TestDescLabels(t *testing.T) {
	sc := scenarios[len(scenarios)-1]
	for _, tc := range []struct {
		desc bool
		want string
	}{
		{false, `haproxy_process_nbthread 2`},
		{true, `haproxy_process_nbthread{desc="edge lb one"} 2`},
	} {
		c := newCollector(t, &Options{Scopes: []string{ScopeProcess}, DescLabels: tc.desc}, fakeSocket(t, sc), nil)
		want := "# HELP haproxy_process_nbthread Number of threads.\n# TYPE haproxy_process_nbthread gauge\n" + tc.want + "\n" +
			"# HELP haproxy_process_description The global description, as a label; the value is 1. Absent without one.\n# TYPE haproxy_process_description gauge\n" +
			"haproxy_process_description{desc=\"edge lb one\"} 1\n"
		if err := testutil.CollectAndCompare(collectors.Prometheus(c), strings.NewReader(want), "haproxy_process_nbthread", "haproxy_process_description"); err != nil {
			t.Errorf("desc %v: %v", tc.desc, err)
		}
	}
}

func FuzzParseParams(f *testing.F) {
	for _, q := range []string{"scope=server&scope=&scope=*", "metrics=a,-b,,-&no-maint", "scope", "scope=%zz", "target=a=b&desc-labels"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		p, err := ParseParams(q)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) || !promexParams[pe.Param] {
				t.Fatalf("%q: error %v is not a ParamError naming a promex parameter", q, err)
			}
			return
		}
		for s := range p.Scopes {
			if !containsScope(s) {
				t.Fatalf("%q: unknown scope %q accepted", q, s)
			}
		}
		for name := range p.Metrics {
			if name == "" || strings.HasPrefix(name, "-") && p.Metrics[name] {
				t.Fatalf("%q: metric filter %q", q, name)
			}
		}
	})
}

func containsScope(s string) bool {
	for _, x := range allScopes {
		if x == s {
			return true
		}
	}
	return false
}

// TestMergeEntries: two processes' views of one table add up per key and
// stored type, bounded by the most entries any process returned.
func TestMergeEntries(t *testing.T) {
	entry := func(key string, n float64) haproxyapi.StickEntry {
		return haproxyapi.StickEntry{Key: key, Data: []haproxyapi.StickData{{Name: "http_req_cnt", Value: n, Numeric: true}}}
	}
	p1 := moduleData{entries: [][]haproxyapi.StickTable{{{Name: "t", Type: "ip", Entries: []haproxyapi.StickEntry{entry("a", 1), entry("b", 2)}}}}}
	p2 := moduleData{entries: [][]haproxyapi.StickTable{{{Name: "t", Type: "ip", Entries: []haproxyapi.StickEntry{entry("b", 5), entry("c", 7)}}}}}
	got := mergeEntries([]moduleData{p1, p2})
	if len(got) != 1 || len(got[0]) != 1 {
		t.Fatalf("merged %+v", got)
	}
	es := got[0][0].Entries
	if len(es) != 2 || es[0].Key != "a" || es[0].Data[0].Value != 1 || es[1].Key != "b" || es[1].Data[0].Value != 7 {
		t.Errorf("entries %+v, want a=1, b=2+5 (c over the bound of 2)", es)
	}
}
