package lab

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestCapacityValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Capacity
		want string
	}{
		{Capacity{}, ""},
		{Capacity{Sessions: 10, Refuse: true}, ""},
		{Capacity{Sessions: -1}, "capacity.sessions must not be negative"},
		{Capacity{Refuse: true}, "capacity.refuse needs capacity.sessions"},
	} {
		err := tc.c.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
		if tc.want != "" {
			if _, err := New(Config{Kind: WCS, Capacity: tc.c}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New accepted %+v: %v", tc.c, err)
			}
		}
	}
}

func TestAdmitCountsAndRefuses(t *testing.T) {
	now := time.Unix(1000, 0)
	s, err := New(Config{Kind: WCS, Capacity: Capacity{Sessions: 2, Refuse: true}, Load: Load{Publishers: 5, CPU: 0.1}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := s.Admit(Load{Publishers: 1, Connections: 1})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := s.Admit(Load{Subscribers: 1, Connections: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Admit(Load{Subscribers: 1}); !errors.Is(err, ErrRefused) {
		t.Fatalf("third session at capacity 2: %v, want ErrRefused", err)
	}
	l := s.withLive(s.Load())
	// The background sets no connections, so a WCS page derives its 5
	// from the publishers; the 2 live connections come on top.
	if l.Publishers != 6 || l.Subscribers != 1 || l.Connections != 7 {
		t.Errorf("background + live = %+v", l)
	}
	if got := l.CPU; got < 0.1+BusyCPU-1e-9 || got > 0.1+BusyCPU+1e-9 {
		t.Errorf("CPU at capacity = %v, want background 0.1 + %v", got, BusyCPU)
	}
	pub.End()
	pub.End() // a second End changes nothing
	if _, err := s.Admit(Load{Publishers: 1}); err != nil {
		t.Errorf("a freed slot was refused: %v", err)
	}
	sub.End()
	st := s.Live()
	if st.Sessions != 1 || st.Refused != 1 || st.Load.Subscribers != 0 || st.Load.Publishers != 1 {
		t.Errorf("live status %+v", st)
	}
	if s.Load().Publishers != 5 {
		t.Errorf("the background changed: %+v", s.Load())
	}
}

func TestOverCapacityCostsMore(t *testing.T) {
	s, err := New(Config{Kind: WCS, Capacity: Capacity{Sessions: 10}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 15; i++ {
		if _, err := s.Admit(Load{Subscribers: 1}); err != nil {
			t.Fatalf("session %d refused without Refuse: %v", i, err)
		}
	}
	l := s.withLive(Load{})
	if want := BusyCPU + 2*BusyCPU*0.5; l.CPU < want-1e-9 || l.CPU > want+1e-9 || l.Degraded != 5 {
		t.Errorf("15 sessions on capacity 10: CPU %v (want %v), degraded %d (want 5)", l.CPU, want, l.Degraded)
	}
	if got := sessionCPU(150, 0); got != 1 {
		t.Errorf("no capacity: 150 sessions cost %v, want 1 (capped at 100)", got)
	}
}

func TestMeasuredBandwidth(t *testing.T) {
	now := time.Unix(1000, 0)
	s, err := New(Config{Kind: SRS, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	s.Live() // starts the window
	s.CountBytes(125_000, 250_000)
	now = now.Add(time.Second)
	st := s.Live()
	if st.Load.BandwidthInMbps != 1 || st.Load.BandwidthOutMbps != 2 || st.BytesIn != 125_000 || st.BytesOut != 250_000 {
		t.Errorf("live %+v, want 1 and 2 Mbit/s", st)
	}
	s.CountGarbage()
	if s.Live().Garbage != 1 {
		t.Error("garbage not counted")
	}
}

func TestClientPortsNeedAProtocol(t *testing.T) {
	saved, had := clientStarters[SRS]
	delete(clientStarters, SRS)
	t.Cleanup(func() {
		if had {
			clientStarters[SRS] = saved
		}
	})
	_, err := Start(Config{Kind: SRS, ClientAddrs: []string{"127.0.0.1:0"}}, "")
	if err == nil || !strings.Contains(err.Error(), "srs nodes have no client ports") {
		t.Fatalf("got %v", err)
	}
}

func TestCPUHogShrinksCapacity(t *testing.T) {
	s, err := New(Config{Kind: WCS, Capacity: Capacity{Sessions: 12, Refuse: true}, Load: Load{CPU: 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	// A hog of a quarter of the CPU leaves 1 - 0.25/0.75 of the room:
	// 8 of the 12 sessions.
	if err := s.SetLoad(Load{CPU: 0.1, HogCPU: 0.25}); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.EffectiveCapacity != 8 || st.Capacity.Sessions != 12 {
		t.Fatalf("status capacity %+v, effective %d, want 12 and 8", st.Capacity, st.EffectiveCapacity)
	}
	for i := range 8 {
		if _, err := s.Admit(Load{Subscribers: 1}); err != nil {
			t.Fatalf("session %d of 8 refused: %v", i+1, err)
		}
	}
	if _, err := s.Admit(Load{Subscribers: 1}); !errors.Is(err, ErrRefused) {
		t.Fatalf("the 9th session under the hog: %v, want ErrRefused", err)
	}
	// The page's CPU: background, hog, and the sessions' own cost, which
	// the hog does not change; at the effective capacity it reaches what
	// the full capacity reaches without a hog.
	m := statValues(t, s)
	want := round((0.1+0.25+BusyCPU*8/12)*100, 2)
	if got := num(m["system_stats"]["system_java_cpu_usage"]); got != want {
		t.Errorf("system_java_cpu_usage %v, want %v (hog included)", got, want)
	}
	if got := num(m["core_stats"]["core_java_processCpuLoad"]); got != round(0.1+BusyCPU*8/12, 3) {
		t.Errorf("core_java_processCpuLoad %v: the hog is not the process's", got)
	}
	// Past the effective capacity the node degrades, as past its full one.
	if err := s.SetLoad(Load{CPU: 0.1}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Admit(Load{Subscribers: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if l := s.withLive(Load{HogCPU: 0.25}); l.Degraded != 2 || math.Abs(l.CPU-BusyCPU*(10+2)/12) > 1e-9 {
		t.Errorf("10 sessions, effective capacity 8: degraded %d (want 2), CPU %v (want %v)", l.Degraded, l.CPU, BusyCPU)
	}
}

func TestEffectiveCapacity(t *testing.T) {
	for _, tc := range []struct {
		cap  int
		hog  float64
		want int
	}{
		{0, 0.5, 0}, {100, 0, 100}, {100, 0.375, 50}, {100, 0.75, 1}, {100, 1, 1}, {60, 0.25, 40},
	} {
		if got := EffectiveCapacity(tc.cap, tc.hog); got != tc.want {
			t.Errorf("EffectiveCapacity(%d, %v) = %d, want %d", tc.cap, tc.hog, got, tc.want)
		}
	}
	if err := (Load{HogCPU: 1.5}).Validate(); err == nil || !strings.Contains(err.Error(), "hog_cpu") {
		t.Errorf("hog_cpu 1.5 accepted: %v", err)
	}
}
