package traffic

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func schedPlan(seed int64) *Plan {
	return &Plan{
		Seed: seed,
		Caps: Caps{MaxConcurrent: 10, MaxTotal: 10, MaxDuration: Duration(time.Hour)},
		Protocols: map[string]ProtocolPlan{
			"a": {Target: "tcp://127.0.0.1:1", Rate: 50, Mix: map[string]float64{"publish": 0.2, "play": 0.8},
				Lifetime: Lifetime{Dist: LifetimeExponential, Mean: Duration(10 * time.Second), Max: Duration(30 * time.Second)}, Streams: 3},
			"b": {Target: "tcp://127.0.0.1:1", Rate: 10, Mix: map[string]float64{"hold": 1},
				Lifetime: Lifetime{Dist: LifetimeUniform, Min: Duration(time.Second), Max: Duration(2 * time.Second)}},
		},
		Phases: []Phase{
			{Kind: PhaseSteady, Duration: Duration(100 * time.Second)},
			{Kind: PhaseFlashCrowd, Factor: f(3), Duration: Duration(100 * time.Second)},
			{Kind: PhaseNodeKilled, Node: "n1", Factor: f(0), Duration: Duration(10 * time.Second)},
			{Kind: PhaseSteady, Factor: f(0.5), Duration: Duration(100 * time.Second)},
		},
	}
}

func all(s *Schedule) []Arrival {
	var out []Arrival
	for a, ok := s.Next(); ok; a, ok = s.Next() {
		out = append(out, a)
	}
	return out
}

func TestScheduleDeterministic(t *testing.T) {
	x, y := all(NewSchedule(schedPlan(42))), all(NewSchedule(schedPlan(42)))
	if len(x) < 1000 || !reflect.DeepEqual(x, y) {
		t.Fatalf("same seed, different arrivals (%d, %d)", len(x), len(y))
	}
	if z := all(NewSchedule(schedPlan(43))); reflect.DeepEqual(x[:100], z[:100]) {
		t.Fatal("another seed gives the same arrivals")
	}
	// Adding a protocol leaves the others' arrivals as they were.
	p := schedPlan(42)
	p.Protocols["c"] = p.Protocols["b"]
	var onlyA, onlyA2 []Arrival
	for _, a := range x {
		if a.Protocol == "a" {
			a.ID = 0
			onlyA = append(onlyA, a)
		}
	}
	for _, a := range all(NewSchedule(p)) {
		if a.Protocol == "a" {
			a.ID = 0
			onlyA2 = append(onlyA2, a)
		}
	}
	if !reflect.DeepEqual(onlyA, onlyA2) {
		t.Fatal("adding protocol c changed protocol a's arrivals")
	}
	for i := 1; i < len(x); i++ {
		if x[i].At < x[i-1].At || x[i].ID != x[i-1].ID+1 {
			t.Fatalf("arrival %d out of order: %+v after %+v", i, x[i], x[i-1])
		}
	}
}

// within checks n against a Poisson (or binomial) mean with its standard
// deviation: 5 sigma, so a correct generator fails about once in 3.5
// million seeds (and the seed is fixed anyway).
func within(t *testing.T, what string, n, mean, sd float64) {
	t.Helper()
	if math.Abs(n-mean) > 5*sd {
		t.Errorf("%s: %g, want %g ± %g", what, n, mean, 5*sd)
	}
}

func TestSchedulePhasesChangeRate(t *testing.T) {
	arr := all(NewSchedule(schedPlan(1)))
	per := map[int]map[string]float64{}
	for _, a := range arr {
		if per[a.Phase] == nil {
			per[a.Phase] = map[string]float64{}
		}
		per[a.Phase][a.Protocol]++
		if a.Phase == 2 {
			t.Fatalf("arrival in a phase of factor 0: %+v", a)
		}
	}
	for phase, factor := range map[int]float64{0: 1, 1: 3, 3: 0.5} {
		for proto, rate := range map[string]float64{"a": 50, "b": 10} {
			mean := rate * factor * 100
			within(t, proto+" phase "+string(rune('0'+phase)), per[phase][proto], mean, math.Sqrt(mean))
		}
	}
	// The flash crowd's ratio to steady: each count's variance is its mean.
	steady, crowd := per[0]["a"], per[1]["a"]
	ratio := crowd / steady
	sd := ratio * math.Sqrt(1/steady+1/crowd)
	within(t, "flash crowd ratio", ratio, 3, sd)
}

func TestScheduleMixAndLifetimes(t *testing.T) {
	arr := all(NewSchedule(schedPlan(5)))
	var na, pub, sumLife float64
	streams := map[string]bool{}
	for _, a := range arr {
		switch a.Protocol {
		case "a":
			na++
			if a.Kind == "publish" {
				pub++
			} else if a.Kind != "play" {
				t.Fatalf("kind %q", a.Kind)
			}
			if a.Lifetime < 0 || a.Lifetime > 30*time.Second {
				t.Fatalf("exponential lifetime %s past its cap", a.Lifetime)
			}
			sumLife += a.Lifetime.Seconds()
			streams[a.Stream] = true
		case "b":
			if a.Lifetime < time.Second || a.Lifetime > 2*time.Second || a.Kind != "hold" || a.Stream != "stream1" {
				t.Fatalf("b: %+v", a)
			}
		}
	}
	within(t, "publishers", pub, 0.2*na, math.Sqrt(na*0.2*0.8))
	// Mean of min(Exp(10), 30): 10(1-e^-3).
	mean := 10 * (1 - math.Exp(-3))
	if got := sumLife / na; math.Abs(got-mean) > 0.5 {
		t.Errorf("mean lifetime %g, want about %g", got, mean)
	}
	if len(streams) != 3 || !streams["stream3"] {
		t.Errorf("streams %v", streams)
	}
	p := schedPlan(5)
	p.Protocols["b"] = ProtocolPlan{Rate: 1, Mix: map[string]float64{"hold": 1, "never": 0}, Lifetime: Lifetime{Dist: LifetimeFixed, Value: Duration(time.Second)}}
	for _, a := range all(NewSchedule(p)) {
		if a.Protocol == "b" && (a.Lifetime != time.Second || a.Kind != "hold") {
			t.Fatalf("fixed: %+v", a)
		}
	}
}

func TestScheduleCutAtMaxDuration(t *testing.T) {
	p := schedPlan(3)
	p.Caps.MaxDuration = Duration(150 * time.Second)
	s := NewSchedule(p)
	if len(s.Spans()) != 2 || s.End() != 150*time.Second || s.Spans()[1].End != 150*time.Second {
		t.Fatalf("spans %+v", s.Spans())
	}
	for _, a := range all(s) {
		if a.At >= 150*time.Second {
			t.Fatalf("arrival past max_duration: %+v", a)
		}
	}
	if (&Schedule{}).End() != 0 {
		t.Error("empty schedule")
	}
}

func f(x float64) *float64 { return &x }
