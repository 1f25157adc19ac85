package demo

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/docstest"
)

func readmeDemo(t *testing.T) string {
	t.Helper()
	return docstest.Section(t, "docs/lab.md", "demo")
}

// The README's port table lists exactly the demo's fixed ports.
func TestReadmeDemoPorts(t *testing.T) {
	var documented []int
	for _, line := range strings.Split(readmeDemo(t), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !regexp.MustCompile(`^\s*\d`).MatchString(cells[1]) {
			continue
		}
		for _, part := range strings.Split(cells[1], ",") {
			lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "–")
			a, err := strconv.Atoi(lo)
			if err != nil {
				t.Fatalf("port cell %q", cells[1])
			}
			b := a
			if isRange {
				if b, err = strconv.Atoi(hi); err != nil {
					t.Fatalf("port cell %q", cells[1])
				}
			}
			for p := a; p <= b; p++ {
				documented = append(documented, p)
			}
		}
	}
	var want []int
	for _, np := range DefaultPorts().List() {
		want = append(want, np.Port)
	}
	sort.Ints(documented)
	sort.Ints(want)
	if fmtInts(documented) != fmtInts(want) {
		t.Errorf("README's Demo table has ports %v, the demo uses %v", documented, want)
	}
}

func fmtInts(l []int) string {
	var s []string
	for _, n := range l {
		s = append(s, strconv.Itoa(n))
	}
	return "[" + strings.Join(s, " ") + "]"
}

// The README's table of demo timings says what the demo's files set.
func TestReadmeDemoTimings(t *testing.T) {
	s := readmeDemo(t)
	for _, want := range []string{
		"÷ " + strconv.Itoa(RuleDivisor),
		"`group_wait: " + demoGroupWait + "`, `group_interval: " + demoGroupInterval + "`",
		"--port-base=23000` moves all " + strconv.Itoa(PortCount) + " ports",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("README's Demo section lacks %q", want)
		}
	}
	reb, err := templates.ReadFile("templates/rebalancer.yml.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range []string{"reconcile_interval: 1s", "startup_grace: 15s", "window: 1s", "grace: 5s", "new_alert_delay: 1s"} {
		if !strings.Contains(string(reb), kv) {
			t.Errorf("the README's timings table says %s; the rebalancer template does not", kv)
		}
	}
	if !strings.Contains(s, "| 1 s, 15 s |") {
		t.Error("README's timings table lost the rebalancer's row")
	}
	if !strings.Contains(s, "| 1 s, 5 s; 1 s (÷ 60, as the rules) |") {
		t.Error("README's timings table lost the rebalancer's mass_resolve row")
	}
}

// The Demo section describes the after-scenario traffic and the
// exporter's per-stream opt-ins as the demo has them.
func TestReadmeDemoSteadyTraffic(t *testing.T) {
	s := readmeDemo(t)
	for _, want := range []string{
		"`" + SteadyWCSStream + "-1`, `" + SteadyWCSStream + "-2`, " + strconv.Itoa(steadyKbps) + " kbit/s",
		"`live/" + SteadyRTMPStream + "`",
		"`stream_metrics: true` for wcs and srs",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the Demo section lacks %q", want)
		}
	}
	if SteadyWCSPublishers != 2 || SteadyWCSPlayers != 4 || SteadyFLVPlayers != 2 || SteadyHLSPlayers != 1 || SteadyMQTT != 2 {
		t.Error("the after-scenario traffic's sizes changed: update the Demo section's sentence and this test")
	}
	exp, err := templates.ReadFile("templates/lbpilot.yml.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(exp), "stream_metrics: true"); n != 2 {
		t.Errorf("the exporter template turns stream_metrics on %d times, want 2 (wcs, srs)", n)
	}
}
