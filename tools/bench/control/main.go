// Command control (tools/bench/control) measures control quality on real
// traffic: the same seeded plan (internal/quality: steady load, a flash
// crowd at three times the arrival rate, the small node killed and
// brought back, steady again, with an outside CPU hog slowing the big
// node mid-run) played through the demo's whole stack on loopback — real
// haproxy, the lab's real sessions, Prometheus with the shipped rules at
// the demo's scale, Alertmanager — once per arm, the arms alternated:
//
//  1. HAProxy alone (roundrobin, no agent-check);
//  2. agents answering the WCS docs' up/down verdicts at fixed thresholds;
//  3. lbpilot agents in weight mode, no rebalancer;
//  4. lbpilot agents, rebalancer and shipped rules (the product).
//
// It writes a markdown fragment for BENCHMARKS.md (scripts/bench.d/
// 60-control.sh) with the measures per arm and the product's targets,
// and one PNG per arm (sessions per node over time, capacity, drain and
// ready marks).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lbpilot/lbpilot/demo"
	"github.com/lbpilot/lbpilot/internal/quality"
)

type config struct {
	scale   quality.Scale
	seed    int64
	rounds  int
	arms    []int
	repo    string
	lbpilot string
	out     string
	images  string
	imgRef  string
	data    string
	short   bool
	keep    string
}

func main() {
	short := flag.Bool("short", false, "a quick run: every phase and lifetime at a quarter of the full plan")
	scale := flag.Float64("scale", 1, "length of the plan (1: about 2¼ minutes of arrivals per arm)")
	seed := flag.Int64("seed", 12, "the traffic plan's seed")
	rounds := flag.Int("rounds", 1, "how many times the four arms are run, alternated")
	arms := flag.String("arms", "1,2,3,4", "arms to run")
	lbpilot := flag.String("lbpilot", "", "lbpilot binary (default: built from the repository with lbpilot-lab)")
	out := flag.String("out", "", "markdown fragment to write (default stdout)")
	images := flag.String("images", "docs/images", "folder for the PNGs ('' for none)")
	imgRef := flag.String("image-ref", "docs/images", "how the fragment refers to the images folder")
	data := flag.String("data", "", "JSON file to write every run's samples and measures to")
	keep := flag.String("keep", "", "keep every arm's stack folder (configuration, logs) under this folder")
	flag.Parse()
	cfg := config{scale: quality.Scale(*scale), seed: *seed, rounds: *rounds, lbpilot: *lbpilot, out: *out,
		images: *images, imgRef: *imgRef, data: *data, short: *short, keep: *keep}
	if *short {
		cfg.scale = 0.25
	}
	var err error
	if cfg.arms, err = parseArms(*arms); err != nil {
		fail(2, "-arms: %v", err)
	}
	if cfg.rounds < 1 {
		fail(2, "-rounds %d: want 1 or more", cfg.rounds)
	}
	if cfg.repo, err = os.Getwd(); err != nil {
		fail(1, "%v", err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	runs, err := run(ctx, cfg)
	if err != nil {
		fail(1, "%v", err)
	}
	if cfg.data != "" {
		b, err := json.MarshalIndent(runs, "", " ")
		if err == nil {
			err = os.WriteFile(cfg.data, b, 0o644)
		}
		if err != nil {
			fail(1, "%v", err)
		}
	}
	var pngs map[int]string
	if cfg.images != "" {
		if pngs, err = drawAll(runs, cfg.images, cfg.imgRef); err != nil {
			fail(1, "drawing: %v", err)
		}
	}
	var args []string
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "out", "images", "image-ref", "data", "lbpilot", "keep":
		default:
			args = append(args, "-"+f.Name+"="+f.Value.String())
		}
	})
	frag := render(runs, pngs, cfg, strings.Join(args, " "))
	if cfg.out == "" {
		fmt.Print(frag)
		return
	}
	if err := os.WriteFile(cfg.out, []byte(frag), 0o644); err != nil {
		fail(1, "%v", err)
	}
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/control: "+format+"\n", args...)
	os.Exit(code)
}

func parseArms(s string) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for _, f := range strings.Split(s, ",") {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(f), "%d", &n); err != nil || n < 1 || n > 4 || seen[n] {
			return nil, fmt.Errorf("%q: want distinct arms 1 to 4, e.g. 1,2,3,4", f)
		}
		seen[n] = true
		out = append(out, n)
	}
	return out, nil
}

// armRun is one arm's run.
type armRun struct {
	Round    int              `json:"round"`
	Arm      int              `json:"arm"`
	Name     string           `json:"name"`
	Result   *quality.Result  `json:"result"`
	Measures quality.Measures `json:"measures"`
	Took     float64          `json:"took_seconds"`
}

func run(ctx context.Context, cfg config) ([]armRun, error) {
	tmp, err := os.MkdirTemp("", "lbpctl-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	lbp, labBin, err := demo.BuildPrograms(ctx, "go", cfg.repo, filepath.Join(tmp, "bin"))
	if err != nil {
		return nil, err
	}
	if cfg.lbpilot != "" {
		lbp = cfg.lbpilot
	}
	arms := quality.Arms()
	var runs []armRun
	for round := 1; round <= cfg.rounds; round++ {
		for _, n := range cfg.arms {
			arm := arms[n-1]
			t0 := time.Now()
			logf("round %d, arm %d: %s", round, arm.N, arm.Name)
			dir := filepath.Join(tmp, fmt.Sprintf("r%da%d", round, n))
			if cfg.keep != "" {
				dir = filepath.Join(cfg.keep, fmt.Sprintf("r%da%d", round, n))
			}
			res, err := runArm(ctx, cfg, arm, dir, lbp, labBin)
			if err != nil {
				return nil, fmt.Errorf("round %d, arm %d: %w", round, arm.N, err)
			}
			m := res.Measure()
			logf("round %d, arm %d: %s (%s)", round, arm.N, m, time.Since(t0).Round(time.Second))
			runs = append(runs, armRun{Round: round, Arm: arm.N, Name: arm.Name, Result: res, Measures: m, Took: time.Since(t0).Seconds()})
		}
	}
	return runs, nil
}

func runArm(ctx context.Context, cfg config, arm quality.Arm, dir, lbp, labBin string) (*quality.Result, error) {
	ports, err := demo.FreePorts()
	if err != nil {
		return nil, err
	}
	s, err := demo.Start(ctx, demo.Options{Dir: dir, Repo: cfg.repo, Lbpilot: lbp, Lab: labBin, Ports: ports, Control: arm.Control})
	if err != nil {
		return nil, err
	}
	defer s.Stop()
	return quality.Run(ctx, s, quality.Options{Scale: cfg.scale, Seed: cfg.seed, Say: logf})
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05 ")+format+"\n", args...)
}
