package collectors

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

func TestCounterCheck(t *testing.T) {
	type step struct {
		epoch  string
		uptime float64
		object string
		v      float64
		want   bool
		gap    time.Duration // since the previous scrape; 0: 10 s
	}
	const gb = 1e9
	tests := []struct {
		name    string
		steps   []step
		reasons map[string]float64
	}{
		{"steady growth", []step{{"a", 10, "", 1 * gb, true, 0}, {"a", 20, "", 2 * gb, true, 0}, {"a", 30, "", 2 * gb, true, 0}}, nil},
		// SRS 3 edges: a leap of ~10^14 bytes, then back to normal.
		{"leap then back", []step{{"a", 10, "", 1 * gb, true, 0}, {"a", 20, "", 4.7e14, false, 0}, {"a", 30, "", 1.5 * gb, true, 0}},
			map[string]float64{ReasonCounterJump: 1}},
		{"dip heals", []step{{"a", 10, "", 5 * gb, true, 0}, {"a", 20, "", 3 * gb, false, 0}, {"a", 30, "", 4 * gb, false, 0}, {"a", 40, "", 6 * gb, true, 0}},
			map[string]float64{ReasonCounterDecrease: 2}},
		{"negative", []step{{"a", 10, "", -1205506797, false, 0}, {"a", 20, "", 10, true, 0}}, map[string]float64{ReasonCounterNegative: 1}},
		{"restart by epoch", []step{{"a", 10, "", 5 * gb, true, 0}, {"b", 11, "", 100, true, 0}}, nil},
		{"restart by uptime", []step{{"", 1000, "", 5 * gb, true, 0}, {"", 3, "", 100, true, 0}}, nil},
		// An uptime that grew by far less than the clock is a restart in
		// between, although it is higher (SRS 4 has no service id).
		{"restart between scrapes", []step{{"", 20, "", 5 * gb, true, 0}, {"", 90, "", 100, true, 5 * time.Minute}}, nil},
		{"uptime lagging a little", []step{{"", 100, "", 5 * gb, true, 0}, {"", 101, "", 4 * gb, false, 0}}, map[string]float64{ReasonCounterDecrease: 1}},
		{"new object", []step{{"a", 10, "s1", 5 * gb, true, 0}, {"a", 20, "s2", 100, true, 0}}, nil},
		// Even a 100 Gbit/s link moves 125 GB in 10 s, not more.
		{"fast but possible", []step{{"a", 10, "", 0, true, 0}, {"a", 20, "", 124 * gb, true, 0}}, nil},
		{"too fast", []step{{"a", 10, "", 0, true, 0}, {"a", 20, "", 126 * gb, false, 0}}, map[string]float64{ReasonCounterJump: 1}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAnomalies("test", Target{URL: fmt.Sprintf("http://counter-check-%d", i)}, nil)
			at := time.Unix(1795287976, 0)
			for j, s := range tt.steps {
				if j > 0 {
					if s.gap == 0 {
						s.gap = 10 * time.Second
					}
					at = at.Add(s.gap)
				}
				sc := a.CounterScrape(s.epoch, s.uptime, at)
				if got := sc.Bytes("srs_send_bytes_total", s.object, s.v); got != s.want {
					t.Errorf("step %d (%v): accepted %v, want %v", j, s.v, got, s.want)
				}
				sc.Done()
			}
			for _, r := range []string{ReasonCounterDecrease, ReasonCounterJump, ReasonCounterNegative} {
				if got := a.Count(r); got != tt.reasons[r] {
					t.Errorf("%s = %v, want %v", r, got, tt.reasons[r])
				}
			}
		})
	}
}

// TestCounterCheckRebaseline: a counter that stays below its old value
// is taken as restarted after rebaselineAfter scrapes, not dropped forever.
func TestCounterCheckRebaseline(t *testing.T) {
	var logs bytes.Buffer
	a := NewAnomalies("test", Target{URL: "http://counter-rebaseline"}, level.NewFilter(log.NewLogfmtLogger(&logs), level.AllowDebug()))
	at := time.Unix(1795287976, 0)
	sc := a.CounterScrape("a", 10, at)
	sc.Count("frames", "", 1000)
	sc.Done()
	accepted := -1
	for i := 1; i <= rebaselineAfter; i++ {
		sc := a.CounterScrape("a", float64(10+i), at.Add(time.Duration(i)*time.Second))
		if sc.Count("frames", "", 10) && accepted < 0 {
			accepted = i
		}
		sc.Done()
	}
	if accepted != rebaselineAfter {
		t.Errorf("lower value accepted at scrape %d, want %d", accepted, rebaselineAfter)
	}
	if got := a.Count(ReasonCounterDecrease); got != rebaselineAfter-1 {
		t.Errorf("counter_decrease = %v, want %d", got, rebaselineAfter-1)
	}
	if !strings.Contains(logs.String(), "first_series=frames last=1000 value=10") {
		t.Errorf("log does not name the series:\n%s", logs.String())
	}
}
