// Package sched puts the process's threads under Linux's SCHED_BATCH
// policy, so that lbpilot yields to the servers it reads on the same host.
//
// Reading a large answer (HAProxy's `show stat` of 10,000 servers) wakes
// the reader every time the server writes a buffer's worth. Under the
// default policy the woken thread, having slept, usually preempts the
// writer on its core: HAProxy's dump stops while lbpilot parses what it
// sent, and the scrape takes the sum of both instead of the longer one.
// SCHED_BATCH threads are not favoured on wakeup; they get the same share
// of the CPU (their nice value is kept) but wait for a free core or the
// next tick instead of interrupting the thread that woke them.
package sched

import (
	"errors"
	"fmt"
	"os"
	"strconv"
)

// ErrUnsupported is Batch's error where the system has no such policy
// (not Linux).
var ErrUnsupported = errors.New("SCHED_BATCH exists on Linux only")

// Batch moves every thread of the process that runs under the default
// policy to SCHED_BATCH, keeping its nice value, and returns how many it
// moved. Threads the runtime starts later inherit the policy from the
// thread that starts them. Threads under another policy (set with chrt)
// are left as they are.
func Batch() (int, error) {
	if !supported {
		return 0, ErrUnsupported
	}
	return setAll("/proc/self/task", setBatch)
}

// setAll calls set for every thread listed in dir (a /proc task
// directory), again until a pass finds no thread it has not seen: the
// runtime may start one while the first pass runs. A thread gone before
// its turn is no error.
func setAll(dir string, set func(tid int) (bool, error)) (int, error) {
	seen := map[int]bool{}
	moved := 0
	for pass := 0; pass < 10; pass++ {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return moved, fmt.Errorf("listing the threads: %w", err)
		}
		fresh := 0
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || seen[tid] {
				continue
			}
			seen[tid] = true
			fresh++
			ok, err := set(tid)
			if errors.Is(err, errGone) {
				continue
			}
			if err != nil {
				return moved, fmt.Errorf("thread %d: %w", tid, err)
			}
			if ok {
				moved++
			}
		}
		if fresh == 0 {
			return moved, nil
		}
	}
	return moved, nil
}

// errGone: the thread ended before it was set.
var errGone = errors.New("thread gone")
