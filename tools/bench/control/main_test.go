package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/quality"
)

func TestParseArms(t *testing.T) {
	if got, err := parseArms("4, 1"); err != nil || len(got) != 2 || got[0] != 4 || got[1] != 1 {
		t.Errorf("parseArms(4, 1) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "5", "1,1", "x"} {
		if _, err := parseArms(bad); err == nil {
			t.Errorf("parseArms(%q) accepted", bad)
		}
	}
}

// runOf is a made-up arm run: one node over capacity for over seconds.
func runOf(arm int, over, empty, relief float64, drains int) armRun {
	res := &quality.Result{Phases: []quality.Mark{{T: 0, What: quality.PhaseSteady}, {T: 2, What: quality.PhaseCrowd}}}
	for i := range 6 {
		st := "UP"
		if drains > 0 && i == 3 {
			st = "DRAIN"
		}
		res.Samples = append(res.Samples, quality.Sample{T: float64(i), Phase: quality.PhaseSteady, Nodes: []quality.NodeSample{
			{Name: "wcs1", Sessions: 5 * i, Capacity: 20, State: st, Admin: strings.ToLower(strings.Replace(st, "UP", "ready", 1)), Weight: 100},
			{Name: "wcs2", Sessions: 3 * i, Capacity: 40, State: "UP", Admin: "ready", Weight: 100},
		}})
	}
	m := quality.Measures{OverSeconds: over, EmptySeconds: empty, Reliefs: []float64{relief},
		Nodes: []quality.NodeMeasures{{Name: "wcs1", OverSeconds: over, MaxDrains: drains}, {Name: "wcs2"}}}
	return armRun{Round: 1, Arm: arm, Name: quality.Arms()[arm-1].Name, Result: res, Measures: m}
}

func TestRenderTargets(t *testing.T) {
	cfg := config{scale: 1, seed: 12, rounds: 1}
	good := []armRun{runOf(1, 40, 0, 10, 0), runOf(2, 20, 3, 8, 0), runOf(3, 15, 0, 6, 0), runOf(4, 8, 0, 5, 1)}
	out := render(good, nil, cfg, "-short")
	for _, want := range []string{"| arm 1 | arm 2 | arm 3 | arm 4 |", "✓ 8.0 vs 40.0 (0.20×)", "✓ 8.0 vs 20.0, 15.0", "✓ 5.0 s vs 6.0 s", "`go run ./tools/bench/control -short`"} {
		if !strings.Contains(out, want) {
			t.Errorf("fragment lacks %q:\n%s", want, out)
		}
	}
	bad := []armRun{runOf(1, 10, 0, 10, 0), runOf(2, 5, 3, 8, 0), runOf(3, 4, 0, 3, 0), runOf(4, 8, 1.5, 5, 2)}
	out = render(bad, nil, cfg, "")
	for _, want := range []string{"✗ 1.5 s", "✗ 2", "✗ 8.0 vs 10.0 (0.80×)", "✗ 8.0 vs 5.0, 4.0", "✗ 5.0 s vs 3.0 s"} {
		if !strings.Contains(out, want) {
			t.Errorf("fragment lacks %q:\n%s", want, out)
		}
	}
}

func TestReliefComparedAtTheSamplingResolution(t *testing.T) {
	cfg := config{scale: 1, seed: 12, rounds: 1}
	runs := func(relief4, relief3 float64) []armRun {
		return []armRun{runOf(1, 40, 0, 10, 0), runOf(2, 20, 3, 8, 0), runOf(3, 15, 0, relief3, 0), runOf(4, 8, 0, relief4, 1)}
	}
	for _, c := range []struct {
		relief4, relief3 float64
		want             string
	}{
		{1.04, 0.98, "✓ 1.0 s vs 1.0 s"}, // the same two samples apart
		{1.3, 0.98, "✗ 1.3 s vs 1.0 s"},  // a sample later
		{0.7, 1.2, "✓ 0.7 s vs 1.2 s"},
	} {
		out := render(runs(c.relief4, c.relief3), nil, cfg, "")
		if !strings.Contains(out, c.want) {
			t.Errorf("relief %.2f vs %.2f: fragment lacks %q:\n%s", c.relief4, c.relief3, c.want, out)
		}
	}
}

func TestDrawAll(t *testing.T) {
	dir := t.TempDir()
	runs := []armRun{runOf(1, 1, 0, 1, 0), runOf(4, 1, 0, 1, 1)}
	paths, err := drawAll(runs, dir, "docs/images")
	if err != nil {
		t.Fatal(err)
	}
	if paths[4] != "docs/images/control-arm4.png" || len(paths) != 2 {
		t.Errorf("paths %v", paths)
	}
	for _, arm := range []int{1, 4} {
		f, err := os.Open(filepath.Join(dir, "control-arm"+string(rune('0'+arm))+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("arm %d: %v", arm, err)
		}
		if b := img.Bounds(); b.Dx() < 500 || b.Dy() < 200 {
			t.Errorf("arm %d: %v", arm, b)
		}
	}
}
