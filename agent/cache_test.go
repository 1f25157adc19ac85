package agent

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestCacheTTL(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	var loads atomic.Int32
	c := newCache(time.Second, time.Second, clk.now, func(context.Context) int { return int(loads.Add(1)) })
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if v, ok := c.get(ctx); !ok || v != 1 {
			t.Fatalf("get %d: %v %v, want the first reading", i, v, ok)
		}
		clk.add(50 * time.Millisecond)
	}
	clk.add(time.Second)
	if v, _ := c.get(ctx); v != 2 {
		t.Fatalf("after the TTL: %v, want a second reading", v)
	}
	if loads.Load() != 2 {
		t.Fatalf("%d readings, want 2", loads.Load())
	}
}

func TestCacheZeroTTLReadsEveryTime(t *testing.T) {
	var loads atomic.Int32
	c := newCache(0, time.Second, nil, func(context.Context) int { return int(loads.Add(1)) })
	for i := 1; i <= 3; i++ {
		if v, _ := c.get(context.Background()); v != i {
			t.Fatalf("get %d: %v", i, v)
		}
	}
}

// TestCacheSingleFlight: checks arriving while a reading is under way all
// wait for that one reading.
func TestCacheSingleFlight(t *testing.T) {
	release := make(chan struct{})
	var loads atomic.Int32
	c := newCache(0, 5*time.Second, nil, func(context.Context) int {
		loads.Add(1)
		<-release
		return 42
	})
	const n = 50
	var wg sync.WaitGroup
	results := make(chan int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, _ := c.get(context.Background())
			results <- v
		}()
	}
	// Let every goroutine join the flight before it lands.
	for deadline := time.Now().Add(5 * time.Second); loads.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(results)
	for v := range results {
		if v != 42 {
			t.Fatalf("got %v", v)
		}
	}
	if got := loads.Load(); got != 1 {
		t.Fatalf("%d concurrent checks made %d readings, want 1", n, got)
	}
}

// TestCacheCallerGivesUp: a caller whose context ends gets ok=false, and
// the reading goes on for the others (it has its own timeout).
func TestCacheCallerGivesUp(t *testing.T) {
	release := make(chan struct{})
	var deadline time.Time
	c := newCache(time.Minute, 3*time.Second, nil, func(ctx context.Context) int {
		deadline, _ = ctx.Deadline()
		<-release
		return 7
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := c.get(ctx); ok {
		t.Fatal("a cancelled caller got a value")
	}
	close(release)
	start := time.Now()
	if v, ok := c.get(context.Background()); !ok || v != 7 {
		t.Fatalf("next caller: %v %v", v, ok)
	}
	if d := deadline.Sub(start); d <= 2*time.Second || d > 3*time.Second+time.Second/2 {
		t.Fatalf("the reading's context deadline is %v away, want the 3s upstream timeout", d)
	}
}
