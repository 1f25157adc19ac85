// Command dashrecord records the data the dashboard previews are drawn
// from: it starts the demo's stack (real haproxy, Prometheus and
// Alertmanager, the lab, lbpilot), plays the demo's scenario with real
// sessions, keeps the after-scenario traffic flowing for a while, then
// asks the demo's Prometheus every panel's own queries over the run, as
// Grafana would, and writes the answers, compacted, to
// dashboards/preview/data.json. A panel without data is an error: every
// panel has data on the demo.
//
//	make previews     # builds bin/, records, then redraws the previews
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/lbpilot/lbpilot/demo"
	"github.com/lbpilot/lbpilot/tools/mixin/check"
	"github.com/lbpilot/lbpilot/tools/mixin/preview"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("dashrecord", flag.ContinueOnError)
	repo := fs.String("repo", "../..", "repository root")
	bin := fs.String("bin", "../../bin", "directory holding lbpilot and lbpilot-lab (make build)")
	dir := fs.String("dashboards", "../../dashboards", "directory holding the dashboards' JSON")
	out := fs.String("out", "../../dashboards/preview/data.json", "fixture to write")
	steady := fs.Duration("steady", 30*time.Second, "how long the after-scenario traffic flows before the queries")
	step := fs.Int("step", 2, "seconds between the points of the range queries")
	allowEmpty := fs.Bool("allow-empty", false, "write the fixture even when a panel has no data")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *step <= 0 || *steady < 0 {
		fmt.Fprintln(os.Stderr, "dashrecord: -step must be positive and -steady not negative")
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 6*time.Minute)
	defer cancelT()
	if err := record(ctx, *repo, *bin, *dir, *out, *steady, *step, *allowEmpty); err != nil {
		fmt.Fprintln(os.Stderr, "dashrecord:", err)
		return 1
	}
	return 0
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "dashrecord: "+format+"\n", args...)
}

func record(ctx context.Context, repo, bin, dir, out string, steady time.Duration, step int, allowEmpty bool) error {
	boards, err := readDashboards(dir)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "lbprec-") // short: unix socket paths
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ports, err := freePorts()
	if err != nil {
		return err
	}
	absRepo, err := filepath.Abs(repo)
	if err != nil {
		return err
	}
	absBin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	stackDir := filepath.Join(tmp, "stack")
	start := time.Now().Truncate(time.Second)
	say("starting the demo's stack (ports from %d)", ports.Prometheus)
	s, err := demo.Start(ctx, demo.Options{
		Dir: stackDir, Repo: absRepo,
		Lbpilot: filepath.Join(absBin, "lbpilot"), Lab: filepath.Join(absBin, "lbpilot-lab"),
		Ports: ports,
	})
	if err != nil {
		return fmt.Errorf("starting the demo's stack: %w", err)
	}
	defer s.Stop()
	say("playing the scenario")
	if _, err := s.Scenario(ctx, func(string, ...any) {}); err != nil {
		return fmt.Errorf("the demo's scenario: %w", err)
	}
	tr, err := s.KeepTraffic(ctx)
	if err != nil {
		return fmt.Errorf("the after-scenario traffic: %w", err)
	}
	defer tr.Stop()
	say("steady traffic for %s", steady)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(steady):
	}
	if ok, seen := tr.Carrying(); !ok {
		return fmt.Errorf("the after-scenario traffic does not flow: %s", seen)
	}
	end := time.Now().Truncate(time.Second)

	prom, err := newPromClient(demo.URL(s.Ports.Prometheus))
	if err != nil {
		return err
	}
	data := &preview.Data{Version: preview.DataVersion, Start: start.Unix(), End: int64(end.Sub(start).Seconds()), Step: step,
		Dashboards: map[string]map[string]preview.Rec{}}
	var empty []string
	panels := 0
	for _, b := range boards {
		recs := map[string]preview.Rec{}
		for _, p := range b.AllPanels() {
			if len(p.Targets) == 0 {
				continue
			}
			panels++
			var series []preview.Series
			for _, t := range p.Targets {
				expr := check.DemoExpand(t.Expr, end.Sub(start))
				ss, err := prom.query(ctx, expr, t.Instant, start, end, step)
				if err != nil {
					return fmt.Errorf("%s: panel %d %q target %s: %w", b.UID, p.ID, p.Title, t.RefID, err)
				}
				for _, r := range ss {
					se := r.series(t.LegendFormat, start)
					// The run's temporary folder is the demo's .demo/.
					se.Legend = strings.ReplaceAll(se.Legend, stackDir, ".demo")
					series = append(series, se)
				}
			}
			if len(series) == 0 {
				empty = append(empty, fmt.Sprintf("%s: panel %d %q", b.UID, p.ID, p.Title))
				continue
			}
			recs[strconv.Itoa(p.ID)] = preview.Rec{Series: preview.Compact(series, maxSeries, maxPoints)}
		}
		data.Dashboards[b.UID] = recs
	}
	say("%d of %d panels have data over %s", panels-len(empty), panels, end.Sub(start))
	if len(empty) > 0 {
		msg := fmt.Sprintf("no data on the demo for %d panels:\n  %s", len(empty), strings.Join(empty, "\n  "))
		if !allowEmpty {
			return fmt.Errorf("%s", msg)
		}
		say("%s", msg)
	}
	enc, err := data.Encode()
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, enc, 0o644); err != nil {
		return err
	}
	say("wrote %s (%d bytes)", out, len(enc))
	return nil
}

// The fixture's limits per panel.
const (
	maxSeries = 8
	maxPoints = 150
)

func readDashboards(dir string) ([]*check.Dashboard, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no dashboards in %s", dir)
	}
	sort.Strings(files)
	var out []*check.Dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		d, err := check.ParseDashboard(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// freePorts returns the demo's own ports (those `make demo` uses, so the
// previews' legends name the same addresses) when they are free, or else
// a free block below the kernel's ephemeral range.
func freePorts() (demo.Ports, error) {
	if p := demo.DefaultPorts(); p.CheckFree() == nil {
		return p, nil
	}
	return demo.FreePorts()
}

// promClient asks a Prometheus's HTTP API (client_golang's API client).
type promClient struct {
	api promv1.API
}

func newPromClient(base string) (*promClient, error) {
	c, err := promapi.NewClient(promapi.Config{Address: base})
	if err != nil {
		return nil, err
	}
	return &promClient{api: promv1.NewAPI(c)}, nil
}

// result is one series of an answer, timestamps in Unix seconds.
type result struct {
	labels map[string]string
	points [][2]float64
}

func (r result) series(legendFormat string, start time.Time) preview.Series {
	s := preview.Series{Legend: preview.Legend(legendFormat, r.labels)}
	for _, p := range r.points {
		s.Points = append(s.Points, [2]float64{p[0] - float64(start.Unix()), p[1]})
	}
	return s
}

// query runs expr as an instant query at end or a range query over
// start..end and returns its series (a scalar is one without labels).
func (p *promClient) query(ctx context.Context, expr string, instant bool, start, end time.Time, step int) ([]result, error) {
	var (
		v   model.Value
		err error
	)
	if instant {
		v, _, _, err = p.api.Query(ctx, expr, end)
	} else {
		v, _, _, err = p.api.QueryRange(ctx, expr, promv1.Range{Start: start, End: end, Step: time.Duration(step) * time.Second})
	}
	if err != nil {
		return nil, fmt.Errorf("the query failed: %w", err)
	}
	return fromValue(v)
}

// fromValue turns a query's matrix, vector or scalar into results; NaN
// and infinite points are dropped, and series left with none.
func fromValue(v model.Value) ([]result, error) {
	var out []result
	add := func(m model.Metric, pts ...model.SamplePair) {
		r := result{labels: map[string]string{}}
		for k, val := range m {
			r.labels[string(k)] = string(val)
		}
		for _, pt := range pts {
			if f := float64(pt.Value); !math.IsNaN(f) && !math.IsInf(f, 0) {
				r.points = append(r.points, [2]float64{float64(pt.Timestamp.Unix()), f})
			}
		}
		if len(r.points) > 0 {
			out = append(out, r)
		}
	}
	switch v := v.(type) {
	case *model.Scalar:
		add(nil, model.SamplePair{Timestamp: v.Timestamp, Value: v.Value})
	case model.Vector:
		for _, s := range v {
			add(s.Metric, model.SamplePair{Timestamp: s.Timestamp, Value: s.Value})
		}
	case model.Matrix:
		for _, s := range v {
			add(s.Metric, s.Values...)
		}
	default:
		return nil, fmt.Errorf("unexpected result type %T", v)
	}
	return out, nil
}
