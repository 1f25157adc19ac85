// Package lograte keeps repeated log lines from flooding the log: per
// reason, one line per period gets through, and it carries how many
// similar lines were held back since the previous one. Metrics keep the
// full counts; the log keeps the story readable. An unauthenticated
// client can make a role refuse thousands of requests a second; without
// this each would cost a line.
package lograte

import (
	"sync"
	"time"
)

// DefaultPeriod is the spacing of lines of one reason.
const DefaultPeriod = time.Minute

// maxKeys bounds the reasons remembered; past it the oldest state is
// dropped (a key should be a reason, not a client-chosen value).
const maxKeys = 1024

// Limiter decides, per key, whether a line may be logged now.
type Limiter struct {
	period time.Duration
	now    func() time.Time

	mu   sync.Mutex
	keys map[string]*entry
}

type entry struct {
	next    time.Time
	skipped int
}

// New returns a limiter letting one line per key through every period.
func New(period time.Duration) *Limiter {
	return &Limiter{period: period, now: time.Now, keys: map[string]*entry{}}
}

// WithClock replaces the clock (tests).
func (l *Limiter) WithClock(now func() time.Time) *Limiter {
	l.now = now
	return l
}

// Allow reports whether a line for key may be logged now and, if so, how
// many were held back since the last one that was.
func (l *Limiter) Allow(key string) (ok bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[key]
	if e == nil {
		if len(l.keys) >= maxKeys {
			l.keys = map[string]*entry{}
		}
		e = &entry{}
		l.keys[key] = e
	}
	if now.Before(e.next) {
		e.skipped++
		return false, 0
	}
	n := e.skipped
	e.skipped, e.next = 0, now.Add(l.period)
	return true, n
}
