package sched

import (
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// lockedThreads starts n goroutines each locked to a thread of its own
// (the runtime starts threads for them) and returns a func ending them.
func lockedThreads(t *testing.T, n int) func() {
	t.Helper()
	var started, stop sync.WaitGroup
	stop.Add(1)
	for range n {
		started.Add(1)
		go func() {
			runtime.LockOSThread()
			started.Done()
			stop.Wait()
			runtime.UnlockOSThread()
		}()
	}
	started.Wait()
	return stop.Done
}

func policies(t *testing.T) map[int]*unix.SchedAttr {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]*unix.SchedAttr{}
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		if a, err := unix.SchedGetAttr(tid, 0); err == nil {
			out[tid] = a
		}
	}
	return out
}

// Every thread ends up under SCHED_BATCH, those started before Batch and
// those the runtime starts after it, with its nice value kept; a thread
// an operator put under another policy stays there.
func TestBatchEveryThread(t *testing.T) {
	end := lockedThreads(t, 4)
	defer end()
	// One thread niced and one under SCHED_IDLE (both allowed unprivileged).
	niced, idle := make(chan int), make(chan int)
	release := make(chan struct{})
	defer close(release)
	for _, tc := range []struct {
		ch  chan int
		set func(tid int) error
	}{
		{niced, func(tid int) error { return unix.Setpriority(unix.PRIO_PROCESS, tid, 7) }},
		{idle, func(tid int) error {
			a, err := unix.SchedGetAttr(tid, 0)
			if err != nil {
				return err
			}
			a.Policy = unix.SCHED_IDLE
			return unix.SchedSetAttr(tid, a, 0)
		}},
	} {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tid := unix.Gettid()
			if err := tc.set(tid); err != nil {
				t.Error(err)
			}
			tc.ch <- tid
			<-release
		}()
	}
	nicedTid, idleTid := <-niced, <-idle

	moved, err := Batch()
	if err != nil {
		t.Fatal(err)
	}
	if moved < 5 {
		t.Fatalf("moved %d threads, want at least the 5 started here", moved)
	}
	end2 := lockedThreads(t, 4) // started after Batch
	defer end2()

	for tid, a := range policies(t) {
		switch {
		case tid == idleTid:
			if a.Policy != unix.SCHED_IDLE {
				t.Errorf("thread %d under SCHED_IDLE moved to policy %d", tid, a.Policy)
			}
		case a.Policy != unix.SCHED_BATCH:
			t.Errorf("thread %d under policy %d, want SCHED_BATCH (%d)", tid, a.Policy, unix.SCHED_BATCH)
		case tid == nicedTid && a.Nice != 7:
			t.Errorf("thread %d niced 7 has nice %d after Batch", tid, a.Nice)
		}
	}
	// Run again: nothing left to move.
	if again, err := Batch(); err != nil || again != 0 {
		t.Errorf("second Batch moved %d (%v), want 0", again, err)
	}
}
