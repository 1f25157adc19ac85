package collectors

import (
	"sync"
	"time"
)

// Reasons CounterCheck counts in lbpilot_upstream_anomalies_total.
const (
	// A counter lower than its last accepted value, with no restart of the
	// upstream and no new object behind the series.
	ReasonCounterDecrease = "counter_decrease"
	// A byte counter that grew faster than MaxByteRate since its last
	// accepted value.
	ReasonCounterJump = "counter_jump"
	// A counter below zero.
	ReasonCounterNegative = "counter_negative"
)

// MaxByteRate is the fastest a byte counter may grow: 100 Gbit/s, more
// than any single server's links. Faster growth is a garbled counter
// (SRS 3 edges jump by ~10^14 bytes), not traffic.
const MaxByteRate = 100e9 / 8

// rebaselineAfter is how many scrapes in a row a counter may read below
// its last accepted value before that lower value is taken as its new
// start (Prometheus then sees a counter reset). Shorter dips, the usual
// garbling, heal by themselves once the counter passes the old value.
const rebaselineAfter = 10

// forgetAfter drops the state of a series not seen for this long (a
// stream that ended).
const forgetAfter = 15 * time.Minute

// CounterCheck screens the counters of one target across scrapes, so
// that a counter an upstream garbles never reaches Prometheus going
// backwards or leaping: the value is left out of that scrape and counted.
// Its state lives with the target's anomaly counts (one per kind and
// target, shared by the collectors /probe builds).
type CounterCheck struct {
	mu     sync.Mutex
	epoch  string
	uptime float64
	at     time.Time // when uptime was read
	series map[string]*counterPoint
}

// uptimeSlack is how far an upstream's uptime may lag the clock between
// two scrapes (it is sampled, and the clocks differ) before the
// difference reads as a restart in between.
const uptimeSlack = 30 * time.Second

type counterPoint struct {
	v      float64
	at     time.Time // when v was accepted
	seen   time.Time // the last scrape that had the series
	object string
	held   int // scrapes in a row below v
}

// CounterScrape is one scrape's use of a CounterCheck.
type CounterScrape struct {
	c       *CounterCheck
	a       *Anomalies
	now     time.Time
	dropped map[string]int
	first   map[string][]any
}

// CounterScrape starts screening one scrape's counters. epoch identifies
// the upstream process and uptime is its age in seconds (0 when
// unknown): a new epoch, a lower uptime, or an uptime that grew much less
// than the clock since the last scrape (a restart between two scrapes,
// for upstreams whose epoch does not change: SRS 4) is a restart, after
// which every counter starts afresh. now is when the values were read.
func (a *Anomalies) CounterScrape(epoch string, uptime float64, now time.Time) *CounterScrape {
	c := a.counts.check
	c.mu.Lock()
	restarted := c.series == nil || epoch != c.epoch || uptime < c.uptime
	if !restarted && uptime > 0 && !c.at.IsZero() {
		elapsed := now.Sub(c.at).Seconds()
		restarted = uptime+uptimeSlack.Seconds() < c.uptime+elapsed
	}
	if restarted {
		c.series = map[string]*counterPoint{}
	}
	c.epoch, c.uptime, c.at = epoch, uptime, now
	for k, p := range c.series {
		if now.Sub(p.seen) > forgetAfter {
			delete(c.series, k)
		}
	}
	c.mu.Unlock()
	return &CounterScrape{c: c, a: a, now: now, dropped: map[string]int{}, first: map[string][]any{}}
}

// Bytes screens a byte counter: key names the series (family and label
// values), object the upstream object behind it ("" when it lives as
// long as the process; a stream's id, since a recreated stream starts
// from 0). It reports whether v may be exported.
func (s *CounterScrape) Bytes(key, object string, v float64) bool {
	return s.check(key, object, v, MaxByteRate)
}

// Count screens a counter of anything else: only negative values and
// decreases are rejected.
func (s *CounterScrape) Count(key, object string, v float64) bool {
	return s.check(key, object, v, 0)
}

func (s *CounterScrape) check(key, object string, v, maxRate float64) bool {
	if v < 0 {
		s.drop(ReasonCounterNegative, key, "value", v)
		return false
	}
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.series[key]
	if !ok || p.object != object {
		c.series[key] = &counterPoint{v: v, at: s.now, seen: s.now, object: object}
		return true
	}
	p.seen = s.now
	switch {
	case v < p.v:
		p.held++
		if p.held >= rebaselineAfter {
			*p = counterPoint{v: v, at: s.now, seen: s.now, object: object}
			return true
		}
		s.drop(ReasonCounterDecrease, key, "last", p.v, "value", v)
		return false
	case maxRate > 0 && v-p.v > maxRate*max(s.now.Sub(p.at).Seconds(), 1):
		s.drop(ReasonCounterJump, key, "last", p.v, "value", v, "seconds", s.now.Sub(p.at).Seconds())
		return false
	}
	*p = counterPoint{v: v, at: s.now, seen: s.now, object: object}
	return true
}

func (s *CounterScrape) drop(reason, key string, kv ...any) {
	s.dropped[reason]++
	if _, ok := s.first[reason]; !ok {
		s.first[reason] = append([]any{"first_series", key}, kv...)
	}
}

// Done counts the scrape's dropped values, one debug line per reason
// naming the first series.
func (s *CounterScrape) Done() {
	for _, reason := range []string{ReasonCounterNegative, ReasonCounterDecrease, ReasonCounterJump} {
		if n := s.dropped[reason]; n > 0 {
			s.a.Add(reason, n, s.first[reason]...)
		}
	}
}
