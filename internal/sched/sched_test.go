package sched

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestSetAllErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tid := range []string{"11", "12", "13", "self-not-a-thread"} {
		if err := os.Mkdir(filepath.Join(dir, tid), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		dir     string
		set     func(int) (bool, error)
		moved   int
		wantErr string
	}{
		{"all moved", dir, func(int) (bool, error) { return true, nil }, 3, ""},
		{"one under another policy", dir, func(tid int) (bool, error) { return tid != 12, nil }, 2, ""},
		{"one gone meanwhile", dir, func(tid int) (bool, error) {
			if tid == 13 {
				return false, errGone
			}
			return true, nil
		}, 2, ""},
		{"refused", dir, func(tid int) (bool, error) {
			if tid == 12 {
				return false, errors.New("operation not permitted")
			}
			return true, nil
		}, -1, "thread 12: operation not permitted"},
		{"no task directory", filepath.Join(dir, "missing"), func(int) (bool, error) { return true, nil }, 0, "listing the threads"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			moved, err := setAll(tc.dir, tc.set)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || moved != tc.moved {
				t.Fatalf("moved %d (%v), want %d", moved, err, tc.moved)
			}
		})
	}
}

// A thread the runtime starts while a pass runs is set by the next pass.
func TestSetAllSeesThreadsStartedMeanwhile(t *testing.T) {
	dir := t.TempDir()
	mk := func(tid int) {
		if err := os.Mkdir(filepath.Join(dir, strconv.Itoa(tid)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mk(1)
	set := map[int]bool{}
	moved, err := setAll(dir, func(tid int) (bool, error) {
		set[tid] = true
		if tid == 1 {
			mk(2) // started while the first pass runs
		}
		return true, nil
	})
	if err != nil || moved != 2 || !set[2] {
		t.Fatalf("moved %d (%v), threads set %v: the thread started meanwhile was missed", moved, err, set)
	}
}
