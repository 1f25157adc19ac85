package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

func TestPercentilesAndMerge(t *testing.T) {
	d := func(ms ...int) []time.Duration {
		var out []time.Duration
		for _, m := range ms {
			out = append(out, time.Duration(m)*time.Millisecond)
		}
		return out
	}
	m := merge([]result{{lat: d(5, 1), upstream: 2, errors: 1, elapsed: time.Second}, {lat: d(3, 2, 4), upstream: 3, elapsed: time.Second}})
	if m.pct(0) != time.Millisecond || m.pct(50) != 3*time.Millisecond || m.pct(100) != 5*time.Millisecond {
		t.Errorf("percentiles of %v", m.lat)
	}
	if m.upstream != 5 || m.errors != 1 || m.rate() != 2.5 {
		t.Errorf("merged %+v rate %v", m, m.rate())
	}
	if pctOf(nil, 99) != 0 || ratio(time.Second, 0) != 0 {
		t.Error("empty inputs")
	}
	if thousands(1000) != "1,000" || thousands(999) != "999" || thousands(25000) != "25,000" {
		t.Error("thousands")
	}
	c := config{rounds: 2}
	if cacheVerdict(result{elapsed: 6 * time.Second, upstream: 9}, c) != "met" || cacheVerdict(result{elapsed: 6 * time.Second, upstream: 10}, c) != "not met" {
		t.Error("cache verdict")
	}
	if zeroVerdict(0) != "met" || zeroVerdict(1) != "not met" {
		t.Error("zero verdict")
	}
}

func TestStartAgentFails(t *testing.T) {
	if _, _, err := startAgent(filepath.Join(t.TempDir(), "missing"), "http://127.0.0.1:1"); err == nil {
		t.Error("a missing binary started")
	}
}

func TestScriptToolsMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, _, err := startScriptService(t.TempDir(), "http://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "not installed") {
		t.Errorf("got %v", err)
	}
}

// TestQuickRun builds lbpilot and runs a short measurement end to end:
// every row is produced, no check fails and the cache holds upstream
// requests to about one per second.
func TestQuickRun(t *testing.T) {
	goBin := testenv.Binary(t, "go")
	bin := filepath.Join(t.TempDir(), "lbpilot")
	if out, err := exec.Command(goBin, "build", "-o", bin, "../../../cmd/lbpilot").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	md, err := run(config{lbpilot: bin, rate: 200, duration: 500 * time.Millisecond, rounds: 1, scriptChecks: 2, closed: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Agent: HAProxy agent-check against a lab WCS", "| 200 checks/s, open loop |", "| p99 reply latency |",
		"| upstream requests for 100 checks |", "| failed or non-up replies | 0 | 0 |", "Highest rate"} {
		if !strings.Contains(md, want) {
			t.Errorf("fragment lacks %q:\n%s", want, md)
		}
	}
	if _, err := exec.LookPath("jq"); err == nil && !strings.Contains(md, "xinetd-style script |") {
		t.Errorf("jq is installed but the script comparison is missing:\n%s", md)
	}
}
