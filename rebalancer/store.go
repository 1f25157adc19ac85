package rebalancer

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Store holds the State in memory and on disk. Every change bumps a
// sequence number; Sync(seq) returns once a snapshot at least that new is
// durable (temp file, fsync, rename, fsync of the directory). Concurrent
// Syncs share one write (group commit), so 200 simultaneous webhooks cost a
// handful of fsyncs, not 200.
type Store struct {
	path string // "" keeps the state in memory only (dry-run, tests)

	mu       sync.Mutex
	st       *State
	seq      uint64
	flushed  uint64
	resolves []time.Time // firing→resolved transitions inside the mass-resolve window

	maxAlerts int // 0: no cap

	flushMu sync.Mutex
	// onDisk is the digest of what the file holds (read at open or last
	// written): a Sync whose snapshot is the same bytes writes nothing, so
	// a reconcile that changed nothing costs no new inode and no fsync.
	onDisk [sha256.Size]byte
	writes uint64 // files written, for tests and metrics
}

// OpenStore loads the state file at path (a missing file is an empty
// state). Leftover temp files of an interrupted write are removed: the
// rename never happened, so the file itself is the last complete state. A
// file that does not parse is an error — starting empty would forget which
// servers the rebalancer drained, and they would never be restored.
func OpenStore(path string) (*Store, error) {
	s := &Store{path: path, st: newState()}
	if path == "" {
		return s, nil
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), tempPrefix(base)) {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state file: %w", err)
	}
	st, err := decodeState(b)
	if err != nil {
		return nil, fmt.Errorf("state file %s is damaged (%w); it lists the servers the rebalancer changed, so it is not ignored: repair it, or move it away after checking those servers by hand", path, err)
	}
	s.st = st
	s.onDisk = sha256.Sum256(b)
	return s, nil
}

// NewMemoryStore returns a store that never writes (dry-run).
func NewMemoryStore(st *State) *Store {
	if st == nil {
		st = newState()
	}
	return &Store{st: st}
}

func tempPrefix(base string) string { return "." + base + ".tmp-" }

func decodeState(b []byte) (*State, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	st := &State{}
	if err := dec.Decode(st); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the state object")
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("state format version %d, want %d", st.Version, stateVersion)
	}
	if st.Alerts == nil {
		st.Alerts = map[string]*AlertRecord{}
	}
	if st.Owned == nil {
		st.Owned = map[string]*Ownership{}
	}
	if st.Released == nil {
		st.Released = map[string]*Release{}
	}
	if st.Sockets == nil {
		st.Sockets = map[string]*SocketMark{}
	}
	for k, r := range st.Alerts {
		if r == nil || r.Fingerprint != k {
			return nil, fmt.Errorf("alert %q: inconsistent entry", k)
		}
	}
	for k, o := range st.Owned {
		if o == nil || ownKey(o.Socket, o.ref()) != k {
			return nil, fmt.Errorf("owned %q: inconsistent entry", k)
		}
	}
	for k, r := range st.Released {
		if r == nil || releaseKey(r.Socket, refOf(r.Backend, r.Server), r.Facet) != k {
			return nil, fmt.Errorf("released %q: inconsistent entry", k)
		}
	}
	return st, nil
}

// SetMaxAlerts caps the alerts tracked: Observe refuses a new alert
// while the state holds n (0: no cap). Alerts already tracked are
// updated whatever the count.
func (s *Store) SetMaxAlerts(n int) {
	s.mu.Lock()
	s.maxAlerts = n
	s.mu.Unlock()
}

// Path is the state file ("" in memory).
func (s *Store) Path() string { return s.path }

// View runs fn with the state locked; fn must not keep references.
func (s *Store) View(fn func(st *State)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.st)
}

// Update runs fn with the state locked and returns the sequence number the
// change is part of (pass it to Sync).
func (s *Store) Update(fn func(st *State)) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.st)
	s.seq++
	return s.seq
}

// Sync makes the state up to seq durable. A memory store returns at once.
func (s *Store) Sync(seq uint64) error {
	if s.path == "" {
		return nil
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	if s.flushed >= seq {
		s.mu.Unlock()
		return nil
	}
	data, err := json.Marshal(s.st)
	cur := s.seq
	s.mu.Unlock()
	if err != nil {
		return err
	}
	data = append(data, '\n')
	sum := sha256.Sum256(data)
	if sum != s.onDisk {
		if err := writeAtomic(s.path, data); err != nil {
			return err
		}
		s.onDisk = sum
		s.writes++
	}
	s.mu.Lock()
	s.flushed = max(s.flushed, cur)
	s.mu.Unlock()
	return nil
}

// Writes is how many times the file was replaced since the store opened.
func (s *Store) Writes() uint64 {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	return s.writes
}

// SyncAll makes the current state durable.
func (s *Store) SyncAll() error {
	s.mu.Lock()
	seq := s.seq
	s.mu.Unlock()
	return s.Sync(seq)
}

// writeAtomic replaces path with data: a reader (or a restart after a
// crash at any instant) sees either the old or the new file, never a mix.
func writeAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, tempPrefix(base)+"*")
	if err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("syncing state file: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("closing state file: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("replacing state file: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		// Make the rename itself durable; some filesystems refuse, harmlessly.
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ObserveResult summarises one batch of observations.
type ObserveResult struct {
	Changed, Unchanged, Stale, NotTracked int
	// OverCap counts new alerts refused because the state holds the
	// maximum number of alerts already.
	OverCap int
	// Seq is the state that reflects the whole batch; once Sync(Seq)
	// returns, answering the sender is safe (also for a batch that changed
	// nothing, but whose earlier delivery is not durable yet).
	Seq         uint64
	Transitions []Transition
	// MassHeld counts resolves held back as part of a mass resolve.
	MassHeld int
}

// Transition is a change of an alert's status (or a new incarnation).
type Transition struct {
	Fingerprint string
	Rule        string
	From, To    string // "", firing, resolved
	Source      string
}

// Observe merges observations: each record keeps the highest version seen,
// so repeats and old notifications are no-ops whatever their order. A
// resolved observation for an unknown alert is kept as a tombstone when it
// matches a rule (Observation.Rule set), else ignored.
// When at least mass.MinAlerts firing alerts resolve within mass.Window,
// their restores are held for mass.Grace.
func (s *Store) Observe(obs []Observation, now time.Time, mass MassResolveConfig) ObserveResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res ObserveResult
	var resolvedNow []*AlertRecord
	for _, o := range obs {
		rec := s.st.Alerts[o.Fingerprint]
		if rec == nil {
			if o.Status != StatusFiring && o.Rule == "" {
				res.NotTracked++
				continue
			}
			if s.maxAlerts > 0 && len(s.st.Alerts) >= s.maxAlerts {
				res.OverCap++
				continue
			}
			s.seq++
			rec = &AlertRecord{Fingerprint: o.Fingerprint, seq: s.seq}
			s.st.Alerts[o.Fingerprint] = rec
			if o.Status == StatusFiring {
				res.Transitions = append(res.Transitions, Transition{Fingerprint: o.Fingerprint, Rule: o.Rule, To: StatusFiring, Source: o.Source})
			}
			// A resolved alert never seen firing becomes a tombstone: it
			// changes nothing now, and keeps a late firing of the same
			// incarnation from acting.
			rec.apply(o, now)
			res.Changed++
			res.Seq = max(res.Seq, rec.seq)
			continue
		}
		switch c := o.version().compare(rec.version()); {
		case c < 0:
			res.Stale++
			res.Seq = max(res.Seq, rec.seq)
			continue
		case c == 0:
			res.Unchanged++
			res.Seq = max(res.Seq, rec.seq)
			continue
		}
		from := rec.Status
		newIncarnation := !o.StartsAt.Equal(rec.StartsAt)
		rec.apply(o, now)
		s.seq++
		rec.seq = s.seq
		res.Changed++
		res.Seq = max(res.Seq, rec.seq)
		if from != rec.Status || newIncarnation {
			res.Transitions = append(res.Transitions, Transition{Fingerprint: o.Fingerprint, Rule: rec.Rule, From: from, To: rec.Status, Source: o.Source})
		}
		if from == StatusFiring && rec.Status == StatusResolved {
			resolvedNow = append(resolvedNow, rec)
		}
	}
	if n := len(resolvedNow); n > 0 && mass.MinAlerts != nil && *mass.MinAlerts > 0 {
		keep := s.resolves[:0]
		for _, t := range s.resolves {
			if now.Sub(t) < mass.Window {
				keep = append(keep, t)
			}
		}
		s.resolves = keep
		for range resolvedNow {
			s.resolves = append(s.resolves, now)
		}
		if len(s.resolves) >= *mass.MinAlerts {
			for _, rec := range resolvedNow {
				rec.HoldUntil = now.Add(mass.Grace)
			}
			res.MassHeld = n
		}
	}
	if res.Changed > 0 {
		res.Seq = max(res.Seq, s.seq)
	}
	return res
}

// apply sets the record from a newer observation.
func (r *AlertRecord) apply(o Observation, now time.Time) {
	if len(o.Labels) > 0 {
		r.Labels = make(map[string]string, len(o.Labels))
		for k, v := range o.Labels {
			r.Labels[k] = v
		}
	}
	if o.Rule != "" {
		r.Rule = o.Rule
	}
	switch {
	case o.Status == StatusFiring:
		r.ResolvedAt = time.Time{}
	case r.Status != StatusResolved:
		r.ResolvedAt = now
	}
	if o.Status == StatusFiring {
		r.HoldUntil = time.Time{}
		r.EndsAt = time.Time{}
	} else {
		r.EndsAt = o.EndsAt
	}
	r.Status = o.Status
	r.StartsAt = o.StartsAt
	r.At = o.At
	r.Source = o.Source
	r.ReceivedAt = now
}

// gc drops resolved alerts older than retention that hold nothing back.
func (st *State) gc(now time.Time, retention time.Duration) int {
	n := 0
	for fp, r := range st.Alerts {
		if r.Status == StatusResolved && !r.inForce(now) && now.Sub(r.ReceivedAt) > retention {
			delete(st.Alerts, fp)
			n++
		}
	}
	return n
}

// StateLock is one process's exclusive hold on a state file. Two
// rebalancers on one file would overwrite each other's view every cycle,
// and after a crash one could leave a server drained that the other's
// resolved alert should have restored.
type StateLock struct{ f *os.File }

// LockPath is the lock file beside a state file. The state file itself
// cannot carry the lock: every write replaces it by a rename (a new inode).
func LockPath(stateFile string) string { return stateFile + ".lock" }

// LockStateFile takes an exclusive, non-blocking flock on the state file's
// lock file and writes this process's pid into it. When another process
// holds it the error names that process's pid. The kernel drops the lock
// when the process dies, so a crash never leaves a stale lock behind.
func LockStateFile(stateFile string) (*StateLock, error) {
	p := LockPath(stateFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state file lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := "unknown pid"
		if b, rerr := os.ReadFile(p); rerr == nil {
			if pid := strings.TrimSpace(string(b)); pid != "" {
				holder = "pid " + pid
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("state file %s is in use by another rebalancer (%s holds %s); two rebalancers on one state file overwrite each other's view, so this one does not start", stateFile, holder, p)
		}
		return nil, fmt.Errorf("state file lock %s: %w", p, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &StateLock{f: f}, nil
}

// Release gives the lock up (the lock file stays, holding no lock).
func (l *StateLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
