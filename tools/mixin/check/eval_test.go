package check

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
)

// seriesLoad turns what the catalog saw lbpilot expose into a promqltest
// load block: the collectors' golden outputs (job and instance as a static
// target of the exporter would have them, target naming the golden file so
// the files never collide) and the exporter's, rebalancer's and agent's
// gathered registries (each its own job and instance). Two samples a
// minute apart; counters and histograms grow by 60, so rates are 1/s.
func seriesLoad(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("load 1m\n")
	seen := map[string]bool{}
	emit := func(name string, labels map[string]string, v, step float64) {
		series := seriesString(name, labels)
		if seen[series] {
			return
		}
		seen[series] = true
		fmt.Fprintf(&b, "  %s %s %s\n", series, fmtValue(v), fmtValue(v+step))
	}
	golden := 0
	for i, src := range testCatalog(t).Samples() {
		isGolden := strings.HasPrefix(src.Source, "collectors/")
		if isGolden {
			golden++
		}
		base := strings.TrimSuffix(filepath.Base(src.Source), ".prom")
		kind := strings.Split(src.Source, "/")[min(1, len(strings.Split(src.Source, "/"))-1)]
		for _, mf := range src.Families {
			name := mf.GetName()
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, lp := range m.GetLabel() {
					labels[lp.GetName()] = lp.GetValue()
				}
				if isGolden {
					labels["job"], labels["instance"] = "lbpilot", "exp:9708"
					if labels["target"] == "" {
						labels["target"] = kind + "-" + base
					} else {
						labels["target"] += "-" + base
					}
				} else {
					labels["job"] = "lbpilot-" + strings.Fields(src.Source)[0]
					labels["instance"] = fmt.Sprintf("src%d:9709", i)
				}
				switch mf.GetType() {
				case dto.MetricType_COUNTER:
					emit(name, labels, m.GetCounter().GetValue(), 60)
				case dto.MetricType_GAUGE:
					emit(name, labels, m.GetGauge().GetValue(), 0)
				case dto.MetricType_UNTYPED:
					emit(name, labels, m.GetUntyped().GetValue(), 0)
				case dto.MetricType_HISTOGRAM:
					h := m.GetHistogram()
					for _, bk := range h.GetBucket() {
						emit(name+"_bucket", with(labels, "le", fmtValue(bk.GetUpperBound())), float64(bk.GetCumulativeCount()), 60)
					}
					emit(name+"_bucket", with(labels, "le", "+Inf"), float64(h.GetSampleCount()), 60)
					emit(name+"_sum", labels, h.GetSampleSum(), 6)
					emit(name+"_count", labels, float64(h.GetSampleCount()), 60)
				case dto.MetricType_SUMMARY:
					sm := m.GetSummary()
					for _, q := range sm.GetQuantile() {
						emit(name, with(labels, "quantile", fmtValue(q.GetQuantile())), q.GetValue(), 0)
					}
					emit(name+"_sum", labels, sm.GetSampleSum(), 6)
					emit(name+"_count", labels, float64(sm.GetSampleCount()), 60)
				}
			}
		}
	}
	if golden < 10 {
		t.Fatalf("only %d golden outputs in the catalog", golden)
	}
	return b.String()
}

func with(labels map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(labels)+1)
	for a, b := range labels {
		out[a] = b
	}
	out[k] = v
	return out
}

func seriesString(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+strconv.Quote(labels[k]))
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

func fmtValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// evalExpand gives the variables values that select everything: ".*"
// inside regex matchers, the interval variables 2m (two samples).
func evalExpand(expr string) string {
	return expandVars(expr, varValues{rateInterval: "2m", interval: "1m", rng: "2m", rangeS: "120", rangeMs: "120000"})
}

type evaluator struct {
	t   *testing.T
	eng *promql.Engine
	st  storage.Queryable
	at  time.Time
}

func newEvaluator(t *testing.T) *evaluator {
	t.Helper()
	st := promqltest.LoadedStorage(t, seriesLoad(t))
	eng := promqltest.NewTestEngine(t, false, 5*time.Minute, 1_000_000)
	return &evaluator{t: t, eng: eng, st: st, at: time.Unix(60, 0)}
}

func (e *evaluator) eval(expr string) (promql.Vector, error) {
	q, err := e.eng.NewInstantQuery(context.Background(), e.st, nil, evalExpand(expr), e.at)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	res := q.Exec(context.Background())
	if res.Err != nil {
		return nil, res.Err
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		return v, nil
	case promql.Scalar:
		return promql.Vector{{F: v.V}}, nil
	}
	return nil, fmt.Errorf("unexpected result type %T", res.Value)
}

// TestDashboardQueriesEvaluate runs every dashboard query against the
// collectors' golden outputs: none may fail at evaluation time (duplicate
// series in a match group, a many-to-many join), and the panels of the
// upstream dashboards must show data for lbpilot's real output.
func TestDashboardQueriesEvaluate(t *testing.T) {
	ev := newEvaluator(t)
	empty := map[string][]string{}
	for _, f := range dashboardFiles(t) {
		d := readDashboard(t, f)
		qs, _ := d.Queries()
		panelHasData := map[string]bool{}
		for _, q := range qs {
			v, err := ev.eval(q.Expr)
			if err != nil {
				t.Errorf("%s %s: %v", filepath.Base(f), q.Where, err)
				continue
			}
			if q.Panel != nil {
				key := fmt.Sprintf("%d %q", q.Panel.ID, q.Panel.Title)
				panelHasData[key] = panelHasData[key] || len(v) > 0
			}
		}
		for p, ok := range panelHasData {
			if !ok {
				empty[filepath.Base(f)] = append(empty[filepath.Base(f)], p)
			}
		}
	}
	// A panel may only be empty when none of its metrics was loaded (ALERTS,
	// which Prometheus writes): every other panel shows data for lbpilot's
	// real output.
	golden := loadedFamilies(t)
	for file, panels := range empty {
		sort.Strings(panels)
		for _, p := range panels {
			if names := goldenNamesOfPanel(t, file, p, golden); len(names) > 0 {
				t.Errorf("%s: panel %s shows nothing on lbpilot's outputs although they hold %s", file, p, strings.Join(names, ", "))
			}
		}
		t.Logf("%s: empty on lbpilot's outputs (their metrics are not in them): %s", file, strings.Join(panels, "; "))
	}
}

func loadedFamilies(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, line := range strings.Split(seriesLoad(t), "\n")[1:] {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), "{"); ok {
			out[name] = true
		}
	}
	return out
}

// goldenNamesOfPanel returns the metrics of a panel (by its "id title" key)
// that the golden outputs hold.
func goldenNamesOfPanel(t *testing.T, file, key string, golden map[string]bool) []string {
	t.Helper()
	d := readDashboard(t, filepath.Join(root, "dashboards", file))
	var out []string
	for _, p := range d.AllPanels() {
		if fmt.Sprintf("%d %q", p.ID, p.Title) != key {
			continue
		}
		for _, tg := range p.Targets {
			e, err := Parse(tg.Expr)
			if err != nil {
				continue
			}
			for _, s := range Selectors(e) {
				if golden[s.Name] {
					out = append(out, s.Name)
				}
			}
		}
	}
	return out
}

// TestServerStateFold: the state timeline's fold of haproxy_server_status
// gives every server of the golden outputs the code of its current state.
func TestServerStateFold(t *testing.T) {
	ev := newEvaluator(t)
	codes := map[string]float64{"UP": 1, "MAINT": 2, "DRAIN": 3, "NOLB": 4, "DOWN": 0}
	want := map[string]float64{}
	cur, err := ev.eval(`haproxy_server_status == 1`)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cur {
		k := s.Metric.Get("target") + "/" + s.Metric.Get("proxy") + "/" + s.Metric.Get("server")
		want[k] = codes[s.Metric.Get("state")]
	}
	seen := map[float64]bool{}
	for _, w := range want {
		seen[w] = true
	}
	if len(seen) < 4 {
		t.Fatalf("the golden outputs hold only states %v; the test needs UP, DOWN, DRAIN and MAINT", seen)
	}
	got, err := ev.eval(serverStateQuery(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("fold gives %d servers, the status %d", len(got), len(want))
	}
	for _, s := range got {
		k := s.Metric.Get("target") + "/" + s.Metric.Get("proxy") + "/" + s.Metric.Get("server")
		if w, ok := want[k]; !ok || w != s.F {
			t.Errorf("%s: fold %v, want %v", k, s.F, w)
		}
	}
}

// serverStateQuery is the HAProxy dashboard's "Server state" query.
func serverStateQuery(t *testing.T) string {
	t.Helper()
	for _, p := range readDashboard(t, filepath.Join(root, "dashboards", "haproxy.json")).AllPanels() {
		if p.Title == "Server state" && len(p.Targets) == 1 {
			return p.Targets[0].Expr
		}
	}
	t.Fatal("haproxy.json has no Server state panel")
	return ""
}

var ignoringRE = regexp.MustCompile(`ignoring \(([a-z_]+)\) group_left`)

// TestLoadShareSumsToOne: the load-share panels split each backend (or
// cluster) into shares that add up to 1.
func TestLoadShareSumsToOne(t *testing.T) {
	ev := newEvaluator(t)
	checked := 0
	for _, f := range dashboardFiles(t) {
		for _, p := range readDashboard(t, f).AllPanels() {
			if !strings.Contains(strings.ToLower(p.Title), "share") || len(p.Targets) != 1 {
				continue
			}
			v, err := ev.eval(p.Targets[0].Expr)
			if err != nil {
				t.Fatalf("%s %q: %v", filepath.Base(f), p.Title, err)
			}
			// The member of a share is the label the division ignores.
			m := ignoringRE.FindStringSubmatch(p.Targets[0].Expr)
			if m == nil {
				t.Errorf("%s %q: a share without ignoring (member) / group_left", filepath.Base(f), p.Title)
				continue
			}
			groups := map[string]float64{}
			for _, s := range v {
				lbls := s.Metric.Map()
				delete(lbls, m[1])
				groups[fmt.Sprint(lbls)] += s.F
			}
			if len(groups) == 0 {
				t.Errorf("%s %q: no data on the golden outputs", filepath.Base(f), p.Title)
			}
			for g, sum := range groups {
				if !math.IsNaN(sum) && math.Abs(sum-1) > 1e-9 {
					t.Errorf("%s %q: shares of %s add up to %v", filepath.Base(f), p.Title, g, sum)
				}
			}
			checked++
		}
	}
	if checked < 6 {
		t.Errorf("only %d load-share panels checked", checked)
	}
}

// TestEvaluationCanFail: a join the data makes ambiguous is reported, and
// so is a query on nothing the goldens hold being empty.
func TestEvaluationCanFail(t *testing.T) {
	ev := newEvaluator(t)
	if _, err := ev.eval(`haproxy_server_status / ignoring (state) haproxy_server_weight`); err == nil {
		t.Error("a many-to-one join without group_left evaluated")
	}
	v, err := ev.eval(`wcs_publishers{target=~"$target",job=~"$job"} > 1e12`)
	if err != nil || len(v) != 0 {
		t.Errorf("got %v, %v", v, err)
	}
	if got := evalExpand(`rate(x{a=~"$a",b=~"${b:regex}"}[$__rate_interval]) / $__range_s`); got != `rate(x{a=~".*",b=~".*"}[2m]) / 120` {
		t.Errorf("evalExpand: %s", got)
	}
}
