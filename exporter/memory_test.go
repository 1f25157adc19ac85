package exporter

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestMemReturner: after a quiet period with much memory held, it is
// returned once; a burst of scrapes postpones the check; little memory
// held is left alone.
func TestMemReturner(t *testing.T) {
	var freed atomic.Int32
	var held atomic.Uint64
	m := &memReturner{quiet: 50 * time.Millisecond, above: 100, resident: held.Load, free: func() { freed.Add(1) }}
	held.Store(1000)
	for i := 0; i < 5; i++ { // a burst: one check at its end
		m.scraped()
		time.Sleep(10 * time.Millisecond)
	}
	for deadline := time.Now().Add(5 * time.Second); freed.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("memory never returned")
		}
	}
	time.Sleep(200 * time.Millisecond)
	if n := freed.Load(); n != 1 {
		t.Errorf("returned %d times for one quiet period", n)
	}
	held.Store(10)
	m.scraped()
	time.Sleep(200 * time.Millisecond)
	if n := freed.Load(); n != 1 {
		t.Errorf("returned with only %d bytes held", held.Load())
	}
	if goResident() == 0 {
		t.Error("the runtime's resident memory reads 0")
	}
}
