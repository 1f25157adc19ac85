package rebalancer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"sync"
	"time"
)

// History entry kinds.
const (
	HistAlertReceived = "alert_received"
	HistPlanned       = "planned"
	HistDeferred      = "deferred"
	HistApplied       = "applied"
	HistReadBack      = "read_back"
	HistRestored      = "restored"
	HistOperator      = "operator"
	HistForced        = "forced"
	HistPaused        = "paused"
	HistResumed       = "resumed"
	HistProposed      = "proposed"
	HistApproved      = "approved"
	HistRejected      = "rejected"
	HistExpired       = "expired"
	HistReload        = "reload"
)

// Actor types of a history entry.
const (
	ActorAlert    = "alert"
	ActorOperator = "operator"
	ActorSystem   = "system"
)

// Actor is who caused a history entry: alerts (fingerprints and rule), an
// operator (name), or lbpilot itself.
type Actor struct {
	Type         string   `json:"type"`
	Name         string   `json:"name,omitempty"`
	Rule         string   `json:"rule,omitempty"`
	Fingerprints []string `json:"fingerprints,omitempty"`
}

// HistoryEntry is one line of the audit log. It holds names, states,
// reasons and results, never a token, password or label value other than
// the fingerprints.
type HistoryEntry struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Backend string    `json:"backend,omitempty"`
	Server  string    `json:"server,omitempty"`
	Action  string    `json:"action,omitempty"`
	Actor   Actor     `json:"actor"`
	Reason  string    `json:"reason,omitempty"`
	Result  string    `json:"result,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// History is the append-only audit log: one JSON object per line in a
// file, rotated to file.1 when it grows over maxBytes (the previous .1 is
// dropped), so at most about twice maxBytes are kept; entries older than
// maxAge are not served, and a rotated file older than maxAge is removed.
// An empty path keeps the log in memory (dry-run, tests), bounded by
// memEntries.
type History struct {
	path     string
	maxBytes int64
	maxAge   time.Duration
	now      func() time.Time

	mu   sync.Mutex
	f    *os.File
	size int64
	mem  []HistoryEntry
}

// memEntries bounds an in-memory history.
const memEntries = 10000

// OpenHistory opens (creating) the audit log.
func OpenHistory(path string, maxBytes int64, maxAge time.Duration, now func() time.Time) (*History, error) {
	if now == nil {
		now = time.Now
	}
	h := &History{path: path, maxBytes: maxBytes, maxAge: maxAge, now: now}
	if path == "" {
		return h, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("history file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("history file: %w", err)
	}
	h.f, h.size = f, fi.Size()
	h.dropOldRotated()
	return h, nil
}

// Path is the log file ("" in memory).
func (h *History) Path() string { return h.path }

// Close closes the file.
func (h *History) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.f == nil {
		return nil
	}
	err := h.f.Close()
	h.f = nil
	return err
}

// Append adds entries (their Time set to now when zero). A write error is
// returned; the entry is lost but nothing else stops.
func (h *History) Append(es ...HistoryEntry) error {
	if h == nil || len(es) == 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now().UTC()
	var buf bytes.Buffer
	for i := range es {
		if es[i].Time.IsZero() {
			es[i].Time = now
		}
		b, err := json.Marshal(es[i])
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if h.path == "" {
		h.mem = append(h.mem, es...)
		if over := len(h.mem) - memEntries; over > 0 {
			h.mem = append(h.mem[:0], h.mem[over:]...)
		}
		return nil
	}
	if h.f == nil {
		return fmt.Errorf("history file closed")
	}
	if h.maxBytes > 0 && h.size > 0 && h.size+int64(buf.Len()) > h.maxBytes {
		if err := h.rotate(); err != nil {
			return err
		}
	}
	n, err := h.f.Write(buf.Bytes())
	h.size += int64(n)
	if err != nil {
		return fmt.Errorf("writing history: %w", err)
	}
	return nil
}

func (h *History) rotate() error {
	if err := h.f.Close(); err != nil {
		return fmt.Errorf("rotating history: %w", err)
	}
	h.f = nil
	if err := os.Rename(h.path, h.path+".1"); err != nil {
		return fmt.Errorf("rotating history: %w", err)
	}
	f, err := os.OpenFile(h.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("rotating history: %w", err)
	}
	h.f, h.size = f, 0
	return nil
}

func (h *History) dropOldRotated() {
	if h.maxAge <= 0 {
		return
	}
	if fi, err := os.Stat(h.path + ".1"); err == nil && h.now().Sub(fi.ModTime()) > h.maxAge {
		_ = os.Remove(h.path + ".1")
	}
}

// HistoryFilter selects entries.
type HistoryFilter struct {
	Backend string
	Server  string
	Since   time.Time
	Limit   int
}

// match: a backend filter also keeps the global entries (a global pause,
// a reload), which concern every backend; a server filter keeps that
// server's entries only.
func (f HistoryFilter) match(e *HistoryEntry) bool {
	backendOK := f.Backend == "" || e.Backend == f.Backend || (e.Backend == "" && f.Server == "")
	return backendOK && (f.Server == "" || e.Server == f.Server) &&
		(f.Since.IsZero() || !e.Time.Before(f.Since))
}

// Query returns matching entries, newest first.
func (h *History) Query(f HistoryFilter) ([]HistoryEntry, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.maxAge > 0 {
		if cut := h.now().Add(-h.maxAge); f.Since.Before(cut) {
			f.Since = cut
		}
	}
	var all []HistoryEntry
	if h.path == "" {
		for i := range h.mem {
			if f.match(&h.mem[i]) {
				all = append(all, h.mem[i])
			}
		}
	} else {
		h.dropOldRotated()
		for _, p := range []string{h.path + ".1", h.path} {
			es, err := readHistoryFile(p, f)
			if err != nil {
				return nil, err
			}
			all = append(all, es...)
		}
	}
	// Newest first; entries of the same instant in reverse order of writing.
	slices.Reverse(all)
	sort.SliceStable(all, func(i, j int) bool { return all[i].Time.After(all[j].Time) })
	if f.Limit > 0 && len(all) > f.Limit {
		all = all[:f.Limit]
	}
	return all, nil
}

// readHistoryFile reads one log file; a line that does not parse (a write
// cut short by a crash) is skipped.
func readHistoryFile(path string, f HistoryFilter) ([]HistoryEntry, error) {
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	defer fh.Close()
	var out []HistoryEntry
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e HistoryEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if f.match(&e) {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	return out, nil
}
