package lab

import (
	"errors"
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
