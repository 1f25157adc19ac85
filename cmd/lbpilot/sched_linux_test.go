package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

// The exporter's threads run under SCHED_BATCH unless told not to (see
// internal/sched for why), every one of them, a scrape's included.
func TestExporterSchedBatch(t *testing.T) {
	bin := buildBinary(t)
	for _, tc := range []struct {
		flag string
		want uint32
	}{
		{"", unix.SCHED_BATCH},
		{"--no-runtime.sched-batch", unix.SCHED_NORMAL},
	} {
		t.Run(fmt.Sprintf("flag %q", tc.flag), func(t *testing.T) {
			port := testenv.FreePort(t)
			args := []string{"exporter", fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port)}
			if tc.flag != "" {
				args = append(args, tc.flag)
			}
			p := startUnderNormalPolicy(t, bin, args...)
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			waitHTTP(t, base+"/-/ready")
			fetch(t, base+"/metrics") // threads busy with a request
			pid := p.cmd.Process.Pid
			ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				tid, _ := strconv.Atoi(e.Name())
				a, err := unix.SchedGetAttr(tid, 0)
				if err != nil {
					t.Fatalf("thread %d: %v", tid, err)
				}
				if a.Policy != tc.want {
					t.Errorf("thread %d of %d under policy %d, want %d", tid, len(ents), a.Policy, tc.want)
				}
			}
			p.stop(t)
		})
	}
}

// startUnderNormalPolicy is startProcess from a thread under the default
// policy: a child inherits its parent thread's, and other tests of this
// package run the exporter role in this process, which moves its threads
// to SCHED_BATCH.
func startUnderNormalPolicy(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	a, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		t.Fatal(err)
	}
	a.Policy = unix.SCHED_NORMAL
	if err := unix.SchedSetAttr(tid, a, 0); err != nil {
		t.Fatal(err)
	}
	return startProcess(t, bin, args...)
}
