package check

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/lbpilot/lbpilot/demo"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

// TestPanelsOnTheDemo starts the demo's stack (real haproxy, Prometheus
// and Alertmanager), plays its scenario, keeps its after-scenario traffic
// flowing for a few scrapes, and asks the demo's Prometheus every panel
// query of every dashboard, as Grafana would over the run: a range query
// from the stack's start to now, or an instant query now for the panels
// that ask for one. Every panel must return data.
func TestPanelsOnTheDemo(t *testing.T) {
	if testing.Short() && !testenv.InCI() {
		t.Skip("starts the demo's stack (never skipped in CI)")
	}
	for _, b := range []string{"haproxy", "prometheus", "prometheus-alertmanager", "promtool", "amtool"} {
		testenv.Binary(t, b)
	}
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	dir, err := os.MkdirTemp("", "lbpdash-") // short: unix socket paths
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	lbpilot, lab, err := demo.BuildPrograms(ctx, testenv.Binary(t, "go"), root, filepath.Join(dir, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	built := time.Now()
	ports, err := demo.FreePorts()
	if err != nil {
		t.Fatal(err)
	}
	s, err := demo.Start(ctx, demo.Options{
		Dir: filepath.Join(dir, "stack"), Repo: root, Lbpilot: lbpilot, Lab: lab,
		Ports: ports,
	})
	if err != nil {
		t.Fatalf("starting the demo's stack: %v", err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			dumpDemoLogs(t, s.Files.Logs)
		}
	})
	started := time.Now()
	if _, err := s.Scenario(ctx, func(string, ...any) {}); err != nil {
		t.Fatalf("the demo's scenario: %v", err)
	}
	played := time.Now()
	tr, err := s.KeepTraffic(ctx)
	if err != nil {
		t.Fatalf("the after-scenario traffic: %v", err)
	}
	t.Cleanup(tr.Stop)
	// A few scrapes (1 s apart) with the steady traffic flowing, so rates
	// over it have two samples and the instant panels see it.
	select {
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	case <-time.After(demoSettle):
	}
	if ok, seen := tr.Carrying(); !ok {
		t.Errorf("the after-scenario traffic does not flow: %s", seen)
	} else {
		t.Logf("after-scenario traffic: %s", seen)
	}

	pc, err := promapi.NewClient(promapi.Config{Address: demo.URL(s.Ports.Prometheus)})
	if err != nil {
		t.Fatal(err)
	}
	prom := &promClient{api: promv1.NewAPI(pc)}
	start, end := built, time.Now()
	queries, queriesWithData, panels := 0, 0, 0
	var empty []string
	for _, f := range dashboardFiles(t) {
		d := readDashboard(t, f)
		qs, _ := d.Queries()
		type panelResult struct {
			title string
			data  bool
			exprs []string // the queries without data
		}
		byPanel := map[int]*panelResult{}
		var order []int
		for _, q := range qs {
			if q.Panel == nil {
				continue
			}
			pr := byPanel[q.Panel.ID]
			if pr == nil {
				pr = &panelResult{title: q.Panel.Title}
				byPanel[q.Panel.ID] = pr
				order = append(order, q.Panel.ID)
			}
			queries++
			expr := DemoExpand(q.Expr, end.Sub(start))
			n, err := prom.count(ctx, expr, q.Kind == "instant", start, end)
			if err != nil {
				t.Errorf("%s: panel %q: %v\n    %s", filepath.Base(f), q.Panel.Title, err, expr)
				continue
			}
			if n == 0 {
				pr.exprs = append(pr.exprs, fmt.Sprintf("(%s) %s", q.Kind, oneLine(q.Expr)))
				continue
			}
			queriesWithData++
			pr.data = true
		}
		for _, id := range order {
			pr := byPanel[id]
			panels++
			switch {
			case !pr.data:
				empty = append(empty, fmt.Sprintf("%s: panel %q:\n        %s", filepath.Base(f), pr.title, strings.Join(pr.exprs, "\n        ")))
			case len(pr.exprs) > 0:
				// A series a panel shows only when it is not zero (an
				// error rate "> 0"), next to others that have data.
				t.Logf("%s: panel %q has data; empty on the demo: %s", filepath.Base(f), pr.title, strings.Join(pr.exprs, "; "))
			}
		}
	}
	for _, e := range empty {
		t.Errorf("no data on the demo: %s", e)
	}
	t.Logf("%d of %d panels and %d of %d panel queries return data on the demo (build %s, stack %s, scenario %s, total %s)",
		panels-len(empty), panels, queriesWithData, queries, built.Sub(t0).Round(time.Millisecond), started.Sub(built).Round(time.Millisecond),
		played.Sub(started).Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	if queries < 150 {
		t.Errorf("only %d panel queries in dashboards/", queries)
	}
}

// demoSettle is how long the after-scenario traffic flows before the
// queries: Prometheus scrapes every second.
const demoSettle = 6 * time.Second

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// promClient asks a Prometheus's HTTP API (client_golang's API client).
type promClient struct {
	api promv1.API
}

// count runs expr as an instant query at end or a range query over
// start..end (1 s steps) and returns the number of series (a scalar is
// one).
func (p *promClient) count(ctx context.Context, expr string, instant bool, start, end time.Time) (int, error) {
	var (
		v   model.Value
		err error
	)
	if instant {
		v, _, _, err = p.api.Query(ctx, expr, end)
	} else {
		v, _, _, err = p.api.QueryRange(ctx, expr, promv1.Range{Start: start, End: end, Step: time.Second})
	}
	if err != nil {
		return 0, err
	}
	switch v := v.(type) {
	case *model.Scalar:
		return 1, nil
	case model.Vector:
		return len(v), nil
	case model.Matrix:
		return len(v), nil
	}
	return 0, fmt.Errorf("unexpected result type %s", v.Type())
}

func dumpDemoLogs(t *testing.T, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Log(err)
	}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		t.Logf("--- %s (last %d lines)\n%s", e.Name(), len(lines), strings.Join(lines, "\n"))
	}
}
