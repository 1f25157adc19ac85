package agent

import (
	"context"
	"sync"
	"time"
)

// cache keeps the last reading (success or error) for a short TTL, and
// lets every check that arrives while a reading is under way wait for that
// one (single flight): a burst of checks from several HAProxy processes
// costs one upstream request. The reading runs on its own context with
// the upstream timeout, so a check that gives up does not cancel it for
// the others.
type cache[T any] struct {
	ttl     time.Duration
	timeout time.Duration
	now     func() time.Time
	load    func(ctx context.Context) T

	mu     sync.Mutex
	cur    T
	at     time.Time // when cur was read; zero: nothing yet
	flight *flight[T]
}

type flight[T any] struct {
	done chan struct{}
	val  T
}

func newCache[T any](ttl, timeout time.Duration, now func() time.Time, load func(context.Context) T) *cache[T] {
	if now == nil {
		now = time.Now
	}
	return &cache[T]{ttl: ttl, timeout: timeout, now: now, load: load}
}

// get returns a reading younger than the TTL, or waits for a fresh one.
// ok is false only when ctx ended first.
func (c *cache[T]) get(ctx context.Context) (v T, ok bool) {
	c.mu.Lock()
	if !c.at.IsZero() && c.now().Sub(c.at) < c.ttl {
		v = c.cur
		c.mu.Unlock()
		return v, true
	}
	f := c.flight
	if f == nil {
		f = &flight[T]{done: make(chan struct{})}
		c.flight = f
		go c.run(f)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.val, true
	case <-ctx.Done():
		return v, false
	}
}

func (c *cache[T]) run(f *flight[T]) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	f.val = c.load(ctx)
	c.mu.Lock()
	c.cur, c.at, c.flight = f.val, c.now(), nil
	c.mu.Unlock()
	close(f.done)
}
