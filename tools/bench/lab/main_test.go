package main

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

func TestParseSteps(t *testing.T) {
	got, err := parseSteps("500, 1000,2000")
	if err != nil || !reflect.DeepEqual(got, []int{500, 1000, 2000}) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "-5", "x", "100,100", "200,100"} {
		if _, err := parseSteps(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestPlanSteps(t *testing.T) {
	for _, c := range []struct {
		steps []int
		cap   int
		want  []int
	}{
		{[]int{500, 1000, 2000}, 8000, []int{500, 1000, 2000}},
		{[]int{500, 1000, 8000}, 5000, []int{500, 1000, 5000}},
		{[]int{500, 1000, 2000}, 1000, []int{500, 1000}},
		{[]int{500}, 100, []int{100}},
		{[]int{500}, 0, nil},
	} {
		if got := planSteps(c.steps, c.cap); !reflect.DeepEqual(got, c.want) {
			t.Errorf("planSteps(%v, %d) = %v, want %v", c.steps, c.cap, got, c.want)
		}
	}
	if got := fdCap(20000); got != 9744 {
		t.Errorf("fdCap(20000) = %d", got)
	}
	if got := fdCap(100); got != 0 {
		t.Errorf("fdCap(100) = %d", got)
	}
}

func TestJudgeAndCeiling(t *testing.T) {
	ok := step{Target: 1000, Sustained: 1000, P99: 100 * time.Millisecond}
	if why := judge(ok, 0.01, time.Second); why != "" {
		t.Errorf("a clean step failed: %s", why)
	}
	tolerated := step{Target: 1000, Sustained: 995, Refused: 5, P99: time.Second}
	if why := judge(tolerated, 0.01, time.Second); why != "" {
		t.Errorf("a step within tolerance failed: %s", why)
	}
	refused := step{Target: 1000, Sustained: 900, Refused: 80, Cut: 20, Reasons: map[string]int64{"wcs refused timeout": 80, "mqtt cut eof": 20}}
	if why := judge(refused, 0.01, time.Second); !strings.Contains(why, "100 sessions refused or cut so far, over 1.0% of 1000") || !strings.Contains(why, "mqtt cut eof 20, wcs refused timeout 80") {
		t.Errorf("refused: %q", why)
	}
	lost := step{Target: 1000, Sustained: 950}
	if why := judge(lost, 0.01, time.Second); !strings.Contains(why, "only 950 of 1000") {
		t.Errorf("lost: %q", why)
	}
	slow := step{Target: 1000, Sustained: 1000, P99: 3 * time.Second}
	if why := judge(slow, 0.01, 2*time.Second); !strings.Contains(why, "p99 3s over the 2s bound") {
		t.Errorf("slow: %q", why)
	}

	steps := []step{{Target: 500, Sustained: 500}, {Target: 1000, Sustained: 998}, {Target: 2000, Sustained: 1500, Failed: "x"}, {Target: 3000, Sustained: 3000}}
	best, fail := ceiling(steps)
	if best != 998 || fail == nil || fail.Target != 2000 {
		t.Errorf("ceiling = %d, %+v", best, fail)
	}
	if best, fail := ceiling(steps[:2]); best != 998 || fail != nil {
		t.Errorf("ceiling without a failure = %d, %+v", best, fail)
	}
}

func TestQuantileAndStat(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(101-i)*time.Millisecond)
	}
	if p50, p99 := quantile(d, 0.5), quantile(d, 0.99); p50 != 50*time.Millisecond || p99 != 99*time.Millisecond {
		t.Errorf("p50 %s p99 %s", p50, p99)
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing")
	}
	stat := "1234 (ha proxy) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 2 0 100 1000 100"
	if got := parseStatCPU(stat); got != 3 {
		t.Errorf("parseStatCPU = %g, want 3", got)
	}
	if parseStatCPU("garbage") != 0 {
		t.Error("garbage stat")
	}
}

func TestRender(t *testing.T) {
	r := &result{NOFILE: 20000, HapNOFILE: "20000", HapMaxconn: 9000, Cap: 8000, Hold: 4 * time.Second, Rate: 400, MaxFail: 0.01,
		P99Bound: 2 * time.Second, CPUs: 2, IdleRSS: 10 << 20, IdleHeap: 2 << 20, HapIdleRSS: 15 << 20,
		Steps: []step{
			{Target: 2000, Sustained: 2000, P50: 3 * time.Millisecond, P99: 40 * time.Millisecond, CPU: 0.5, HapCPU: 0.2, RSS: 210 << 20, Heap: 102 << 20, HapRSS: 35 << 20},
			{Target: 3000, Sustained: 2500, Refused: 500, Failed: "500 of 3000 sessions refused or cut (over 1.0%): wcs refused timeout 500"},
		}}
	out := render(r, "-steps 2000,3000")
	for _, want := range []string{
		"## Lab ceiling",
		"| 2000 | 2000 | 0 | 0 | 3ms | 40ms | 0.50 | 0.250 | 0.20 | 0.100 | 210 MiB | 102 KiB | 51 KiB | 35 MiB | ok |",
		"**failed**",
		"Ceiling: sustained 2000 concurrent mixed sessions; the first failing step, 3000, failed: 500 of 3000",
		"0.25 ms of CPU a second in the lab and generator and 0.10 ms in haproxy",
		"**met**, 0 more (1.0×)",
		"RLIMIT_NOFILE 20000",
		"`go run ./tools/bench/lab -steps 2000,3000`",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("fragment lacks %q:\n%s", want, out)
		}
	}
	r.Steps = r.Steps[:1]
	r.Steps[0].Sustained = 1500
	if out := render(r, ""); !strings.Contains(out, "**not met** (500 short)") {
		t.Errorf("not met:\n%s", out)
	}
}

func TestStepPlanIsValid(t *testing.T) {
	reg, err := timedRegistry(&timing{})
	if err != nil {
		t.Fatal(err)
	}
	p := stepPlan(1000, 800, &haproxy{wcs: 1, rtmp: 2, play: 3, mqtt: 4}, 1)
	if err := p.Validate(reg); err != nil {
		t.Fatal(err)
	}
	if p.Caps.MaxTotal != 1000 || p.Caps.MaxConcurrent != 1000 {
		t.Errorf("caps %+v", p.Caps)
	}
	sum := 0.0
	for _, pp := range p.Protocols {
		sum += pp.Rate
	}
	if sum < 799 || sum > 801 {
		t.Errorf("rates sum to %g", sum)
	}
	if _, _, ok := lab.Dialer("nope"); ok {
		t.Error("lab.Dialer(nope)")
	}
}

// TestShortRun runs the real thing small: the lab, haproxy, two steps.
func TestShortRun(t *testing.T) {
	hap := testenv.Binary(t, "haproxy")
	res, err := run(context.Background(), config{steps: []int{50, 100}, hold: time.Second, rate: 400, maxFail: 0.05,
		p99Bound: 5 * time.Second, hardCap: 8000, haproxy: hap, log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 2 {
		t.Fatalf("steps %+v", res.Steps)
	}
	for _, s := range res.Steps {
		if s.Failed != "" || s.Sustained < int64(s.Target)*95/100 || s.P50 <= 0 || s.CPU <= 0 || s.RSS <= 0 {
			t.Errorf("step %+v", s)
		}
	}
	if res.NOFILE == 0 || res.HapNOFILE == "?" {
		t.Errorf("limits %d, %s", res.NOFILE, res.HapNOFILE)
	}
	out := render(res, "")
	if !strings.Contains(out, "| 100 | ") || !strings.Contains(out, "Ceiling: sustained") {
		t.Errorf("fragment:\n%s", out)
	}
	if testing.Verbose() {
		_, _ = os.Stdout.WriteString(out)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
