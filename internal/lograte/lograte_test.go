package lograte

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(time.Minute).WithClock(func() time.Time { return now })
	type step struct {
		advance time.Duration
		key     string
		ok      bool
		held    int
	}
	for i, s := range []step{
		{0, "a", true, 0},
		{0, "a", false, 0},
		{time.Second, "a", false, 0},
		{0, "b", true, 0}, // another reason has its own budget
		{59 * time.Second, "a", true, 2},
		{0, "a", false, 0},
		{2 * time.Minute, "a", true, 1},
		{0, "b", true, 0},
	} {
		now = now.Add(s.advance)
		ok, held := l.Allow(s.key)
		if ok != s.ok || held != s.held {
			t.Errorf("step %d (%s): %v %d, want %v %d", i, s.key, ok, held, s.ok, s.held)
		}
	}
	for i := 0; i < 3*maxKeys; i++ {
		l.Allow(fmt.Sprint(i))
	}
	if len(l.keys) > maxKeys {
		t.Errorf("%d keys remembered", len(l.keys))
	}
}
