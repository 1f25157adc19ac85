package traffic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

func fakePlan(rate float64, mix map[string]float64, lifetime, phase, maxDur time.Duration) *Plan {
	return &Plan{
		Seed: 11,
		Caps: Caps{MaxConcurrent: 1000, MaxTotal: 100000, MaxDuration: Duration(maxDur)},
		Protocols: map[string]ProtocolPlan{"fake": {Target: "tcp://127.0.0.1:1", Rate: rate, Mix: mix,
			Lifetime: Lifetime{Dist: LifetimeFixed, Value: Duration(lifetime)}}},
		Phases: []Phase{{Kind: PhaseSteady, Duration: Duration(phase)}},
	}
}

// expect counts the plan's arrivals by kind.
func expect(p *Plan) map[string]int64 {
	n := map[string]int64{}
	for _, a := range all(NewSchedule(p)) {
		n[a.Kind]++
	}
	return n
}

func run(t *testing.T, e *Engine) *Summary {
	t.Helper()
	sum, err := e.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestEngineClassifies(t *testing.T) {
	d := &fakeDialer{}
	p := fakePlan(200, map[string]float64{"ok": 2, "cut": 1, "refuse": 1}, 100*time.Millisecond, 200*time.Millisecond, 10*time.Second)
	if err := p.Validate(fakeRegistry(t, d)); err != nil {
		t.Fatal(err)
	}
	want := expect(p)
	var rep bytes.Buffer
	e := NewEngine(p, fakeRegistry(t, d))
	e.Report = &rep
	e.Interval = 50 * time.Millisecond
	sum := run(t, e)
	pc := sum.Protocols["fake"]
	if pc.Ended != want["ok"] || pc.Cut != want["cut"] || pc.Refused != want["refuse"] || pc.Stopped != 0 || pc.Active != 0 {
		t.Fatalf("counts %+v, want %v", pc, want)
	}
	if pc.Opened != want["ok"]+want["cut"] || pc.BytesIn != 100*pc.Opened || pc.BytesOut != 10*pc.Opened {
		t.Errorf("opened/bytes %+v", pc)
	}
	if pc.Nodes["n1"].Opened+pc.Nodes["n2"].Opened != pc.Opened || pc.Nodes["n1"].Opened == 0 {
		t.Errorf("nodes %+v", pc.Nodes)
	}
	if sum.StoppedBy != "plan" || int64(sum.Sessions) != want["ok"]+want["cut"]+want["refuse"] {
		t.Errorf("summary %+v", sum)
	}
	if int64(len(sum.Failures)) != want["cut"]+want["refuse"] {
		t.Fatalf("%d failures", len(sum.Failures))
	}
	for _, f := range sum.Failures {
		switch {
		case f.Kind == "cut" && f.Outcome == OutcomeCut && f.Reason == "kicked" && strings.Contains(f.Error, "kicked by the server") && f.Node != UnknownNode:
		case f.Kind == "refuse" && f.Outcome == OutcomeRefused && f.Reason == "http_503" && f.Node == UnknownNode:
		default:
			t.Errorf("failure %+v", f)
		}
		if f.Phase != "1-steady" {
			t.Errorf("phase %q", f.Phase)
		}
	}
	// JSON lines: snapshots, then the summary last.
	lines := strings.Split(strings.TrimSpace(rep.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("report:\n%s", rep.String())
	}
	var snap Snapshot
	if err := json.Unmarshal([]byte(lines[len(lines)-2]), &snap); err != nil || snap.Phase != "1-steady" || snap.Protocols["fake"].Ended != want["ok"] {
		t.Errorf("last snapshot %s (%v)", lines[len(lines)-2], err)
	}
	var last struct{ Summary *Summary }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Summary == nil || len(last.Summary.Failures) != len(sum.Failures) {
		t.Errorf("summary line %s (%v)", lines[len(lines)-1], err)
	}
}

func TestEngineCaps(t *testing.T) {
	t.Run("max_concurrent", func(t *testing.T) {
		d := &fakeDialer{}
		p := fakePlan(2000, map[string]float64{"ok": 1}, 150*time.Millisecond, 300*time.Millisecond, 10*time.Second)
		p.Caps.MaxConcurrent = 5
		sum := run(t, NewEngine(p, fakeRegistry(t, d)))
		if m := d.maxOpen.Load(); m > 5 || m == 0 {
			t.Errorf("%d open at once, cap 5", m)
		}
		pc := sum.Protocols["fake"]
		if pc.Skipped == 0 || pc.Opened+pc.Skipped != expect(p)["ok"] {
			t.Errorf("opened %d + skipped %d, want %d arrivals", pc.Opened, pc.Skipped, expect(p)["ok"])
		}
	})
	t.Run("max_total", func(t *testing.T) {
		d := &fakeDialer{}
		p := fakePlan(2000, map[string]float64{"ok": 1}, 10*time.Millisecond, 5*time.Second, 10*time.Second)
		p.Caps.MaxTotal = 7
		start := time.Now()
		sum := run(t, NewEngine(p, fakeRegistry(t, d)))
		if sum.Sessions != 7 || d.opened.Load() != 7 || sum.StoppedBy != "max_total" {
			t.Errorf("%d sessions, %d opened, stopped by %s", sum.Sessions, d.opened.Load(), sum.StoppedBy)
		}
		if time.Since(start) > 3*time.Second {
			t.Error("did not stop at max_total")
		}
	})
	t.Run("max_duration", func(t *testing.T) {
		d := &fakeDialer{}
		p := fakePlan(100, map[string]float64{"ok": 1, "block": 1}, time.Hour, time.Hour, 200*time.Millisecond)
		start := time.Now()
		sum := run(t, NewEngine(p, fakeRegistry(t, d)))
		pc := sum.Protocols["fake"]
		if sum.StoppedBy != "max_duration" || pc.Stopped != pc.Opened || pc.Opened == 0 || pc.Refused != 0 || d.open.Load() != 0 {
			t.Errorf("stopped by %s, %+v, %d still open", sum.StoppedBy, pc, d.open.Load())
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("ran %s", el)
		}
	})
}

// settle waits for the goroutine count to come back to at most n.
func settle(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEngineCancelsCleanly(t *testing.T) {
	before := runtime.NumGoroutine()
	d := &fakeDialer{}
	p := fakePlan(500, map[string]float64{"ok": 3, "block": 1}, time.Hour, time.Hour, time.Hour)
	e := NewEngine(p, fakeRegistry(t, d))
	e.Report = &bytes.Buffer{}
	e.Interval = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *Summary)
	go func() {
		sum, err := e.Run(ctx)
		if err != nil {
			t.Error(err)
		}
		done <- sum
	}()
	for d.open.Load() < 20 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	var sum *Summary
	select {
	case sum = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if d.open.Load() != 0 || d.closed.Load() != d.opened.Load() {
		t.Errorf("%d sessions still open", d.open.Load())
	}
	pc := sum.Protocols["fake"]
	if sum.StoppedBy != "interrupted" || pc.Stopped != pc.Opened || pc.Refused != 0 || len(sum.Failures) != 0 {
		t.Errorf("summary %+v", sum)
	}
	settle(t, before)
	if _, err := e.Run(context.Background()); err == nil {
		t.Error("an engine ran twice")
	}
}

func TestEngineHook(t *testing.T) {
	d := &fakeDialer{}
	p := fakePlan(100, map[string]float64{"ok": 1}, 10*time.Millisecond, 50*time.Millisecond, 10*time.Second)
	p.Phases = append(p.Phases, Phase{Kind: PhaseNodeKilled, Node: "n1", Duration: Duration(50 * time.Millisecond)},
		Phase{Kind: PhaseNodeBack, Node: "n1", Duration: Duration(50 * time.Millisecond), Request: &Request{URL: "http://127.0.0.1:1/"}})
	var got []string
	e := NewEngine(p, fakeRegistry(t, d))
	e.Hook = func(ctx context.Context, ev Event) error {
		got = append(got, ev.Label+"/"+ev.Kind+"/"+ev.Node)
		if ev.Kind == PhaseNodeBack && (ev.Request == nil || ev.At != 100*time.Millisecond) {
			t.Errorf("event %+v", ev)
		}
		return nil
	}
	run(t, e)
	if strings.Join(got, " ") != "1-steady/steady/ 2-node-killed/node-killed/n1 3-node-back/node-back/n1" {
		t.Errorf("events %v", got)
	}

	// A failing hook stops the run.
	e = NewEngine(p, fakeRegistry(t, &fakeDialer{}))
	e.Hook = func(ctx context.Context, ev Event) error {
		if ev.Kind == PhaseNodeKilled {
			return errors.New("no such node")
		}
		return nil
	}
	sum, err := e.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "2-node-killed: no such node") || sum.StoppedBy != "hook" || sum.HookError == "" {
		t.Errorf("err %v, summary %+v", err, sum)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestEngineReportError(t *testing.T) {
	p := fakePlan(100, map[string]float64{"ok": 1}, 10*time.Millisecond, 30*time.Millisecond, 10*time.Second)
	e := NewEngine(p, fakeRegistry(t, &fakeDialer{}))
	e.Report = failWriter{}
	sum, err := e.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "writing the report: disk full") || sum == nil {
		t.Errorf("err %v", err)
	}
}

// Report lines arrive over time, one per interval.
func TestEngineReportsOverTime(t *testing.T) {
	p := fakePlan(100, map[string]float64{"ok": 1}, 50*time.Millisecond, 300*time.Millisecond, 10*time.Second)
	var rep bytes.Buffer
	e := NewEngine(p, fakeRegistry(t, &fakeDialer{}))
	e.Report = &rep
	e.Interval = 50 * time.Millisecond
	run(t, e)
	sc := bufio.NewScanner(&rep)
	n, active := 0, false
	for sc.Scan() {
		var s Snapshot
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		if s.Protocols["fake"].Active > 0 {
			active = true
		}
		n++
	}
	if n < 4 || !active {
		t.Errorf("%d lines, active seen %v:\n%s", n, active, rep.String())
	}
}
