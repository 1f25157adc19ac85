package rebalancer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHistoryRotatesBySizeAndAge(t *testing.T) {
	clock := newClock()
	p := filepath.Join(t.TempDir(), "h.jsonl")
	h, err := OpenHistory(p, 4096, 24*time.Hour, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for i := 0; i < 100; i++ {
		clock.Advance(time.Minute)
		if err := h.Append(HistoryEntry{Kind: HistOperator, Backend: "be", Server: "s", Reason: strings.Repeat("x", 60)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{p, p + ".1"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 4096 {
			t.Fatalf("%s is %d bytes, limit 4096", f, fi.Size())
		}
	}
	es, err := h.Query(HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) < 20 || len(es) >= 100 || !es[0].Time.Equal(clock.Now().UTC()) {
		t.Fatalf("%d entries, newest %v (the current and the rotated file, the rest dropped)", len(es), es[0].Time)
	}
	// A line cut short by a crash is skipped, the rest is read.
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"time":"2026-11-2`)
	f.Close()
	if es2, err := h.Query(HistoryFilter{}); err != nil || len(es2) != len(es) {
		t.Fatalf("after a torn line: %d entries, %v", len(es2), err)
	}
	// Past max_age: not served, and the rotated file is removed.
	old := clock.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(p+".1", old, old); err != nil {
		t.Fatal(err)
	}
	clock.Advance(25 * time.Hour)
	es, err = h.Query(HistoryFilter{})
	if err != nil || len(es) != 0 {
		t.Fatalf("%d entries older than max_age served (%v)", len(es), err)
	}
	if fileExists(p + ".1") {
		t.Fatal("rotated file older than max_age kept")
	}
}

func TestHistoryWriteFailureIsCountedNotFatal(t *testing.T) {
	hs := newHarness(t, "", three())
	hs.mustReconcile()
	if err := hs.r.hist.Close(); err != nil {
		t.Fatal(err)
	}
	hs.mustOp("POST", "/api/v1/servers/be_app/web1/drain", obj{"reason": "r", "author": "a"})
	if got := testutil.ToFloat64(hs.r.m.historyWriteFails); got != 1 {
		t.Fatalf("history write failures %v", got)
	}
	if !strings.Contains(hs.logs.String(), "Writing the audit log failed") {
		t.Fatal("not logged")
	}
}

func TestHistoryFileUnwritable(t *testing.T) {
	dir := t.TempDir()
	cfg := Default()
	cfg.HAProxy.Sockets = []string{"unix:/nonexistent.sock"}
	cfg.Rebalancer.StateFile = filepath.Join(dir, "state.json")
	cfg.Rebalancer.HistoryFile = dir // a directory
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Config: cfg}); err == nil || !strings.Contains(err.Error(), "history file") {
		t.Fatalf("err %v", err)
	}
}
