package rebalancer

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func obs(fp, status string, startsAt, at time.Time) Observation {
	o := Observation{Fingerprint: fp, Status: status, StartsAt: startsAt, At: at, Source: SourceWebhook,
		Labels: map[string]string{LabelAction: "drain", LabelBackend: "b", LabelServer: fp}, Rule: DefaultRuleName}
	if status == StatusResolved {
		o.EndsAt = at
	}
	return o
}

var noMass = MassResolveConfig{MinAlerts: ptr(0)}

// statusOf returns fingerprint → "status@startsAt" for comparison.
func statusOf(s *Store) map[string]string {
	out := map[string]string{}
	s.View(func(st *State) {
		for fp, r := range st.Alerts {
			out[fp] = r.Status + "@" + r.StartsAt.Format(time.RFC3339) + "/" + r.At.Format(time.RFC3339)
		}
	})
	return out
}

func TestObserveVersionOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0.Add(time.Hour)
	s := NewMemoryStore(nil)
	steps := []struct {
		o                                     Observation
		changed, unchanged, stale, notTracked int
		want                                  string
	}{
		{Observation{Fingerprint: "a", Status: StatusResolved, StartsAt: t0, At: t0}, 0, 0, 0, 1, ""}, // unknown, matching no rule: ignored
		{obs("z", StatusResolved, t0, t0.Add(time.Minute)), 1, 0, 0, 0, ""},                           // unknown, matching a rule: tombstone
		{obs("z", StatusFiring, t0, t0), 0, 0, 1, 0, ""},                                              // ... so its late firing is stale
		{obs("a", StatusFiring, t0, t0), 1, 0, 0, 0, StatusFiring},
		{obs("a", StatusFiring, t0, t0), 0, 1, 0, 0, StatusFiring}, // duplicate
		{obs("a", StatusResolved, t0, t0.Add(time.Minute)), 1, 0, 0, 0, StatusResolved},
		{obs("a", StatusFiring, t0, t0), 0, 0, 1, 0, StatusResolved},                                     // replay of the old firing
		{obs("a", StatusFiring, t0.Add(2*time.Minute), t0.Add(2*time.Minute)), 1, 0, 0, 0, StatusFiring}, // new incarnation
		{obs("a", StatusResolved, t0, t0.Add(time.Minute)), 0, 0, 1, 0, StatusFiring},                    // stale resolved of the old one
		// Alertmanager's API lists it again after a false resolve: same startsAt, later updatedAt.
		{obs("a", StatusResolved, t0.Add(2*time.Minute), t0.Add(3*time.Minute)), 1, 0, 0, 0, StatusResolved},
		{obs("a", StatusFiring, t0.Add(2*time.Minute), t0.Add(4*time.Minute)), 1, 0, 0, 0, StatusFiring},
	}
	for i, st := range steps {
		res := s.Observe([]Observation{st.o}, now, noMass)
		if res.Changed != st.changed || res.Unchanged != st.unchanged || res.Stale != st.stale || res.NotTracked != st.notTracked {
			t.Fatalf("step %d: %+v", i, res)
		}
		got := ""
		s.View(func(x *State) {
			if r := x.Alerts["a"]; r != nil {
				got = r.Status
			}
		})
		if got != st.want {
			t.Fatalf("step %d: status %q, want %q", i, got, st.want)
		}
	}
}

// TestObserveOrderIndependent: any permutation, with repeats, of the same
// notifications ends in the same state.
func TestObserveOrderIndependent(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var all []Observation
	for _, fp := range []string{"a", "b", "c", "d"} {
		s1 := t0.Add(time.Duration(len(all)) * time.Second)
		s2 := s1.Add(10 * time.Minute)
		all = append(all,
			obs(fp, StatusFiring, s1, s1), obs(fp, StatusResolved, s1, s1.Add(time.Minute)),
			obs(fp, StatusFiring, s2, s2), obs(fp, StatusFiring, s2, s2.Add(time.Minute)))
		if fp == "b" || fp == "d" {
			all = append(all, obs(fp, StatusResolved, s2, s2.Add(2*time.Minute)))
		}
	}
	ref := NewMemoryStore(nil)
	for _, o := range all {
		ref.Observe([]Observation{o}, t0, noMass)
	}
	want := statusOf(ref)
	rng := rand.New(rand.NewSource(7))
	for trial := 0; trial < 200; trial++ {
		s := NewMemoryStore(nil)
		perm := append([]Observation(nil), all...)
		for i := 0; i < 5; i++ { // repeats
			perm = append(perm, all[rng.Intn(len(all))])
		}
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		for _, o := range perm {
			s.Observe([]Observation{o}, t0, noMass)
		}
		if got := statusOf(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("trial %d: %v, want %v", trial, got, want)
		}
	}
}

func TestMassResolveHolds(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mass := MassResolveConfig{MinAlerts: ptr(3), Window: time.Minute, Grace: 5 * time.Minute}
	s := NewMemoryStore(nil)
	var firing, resolved []Observation
	for _, fp := range []string{"a", "b", "c", "d"} {
		firing = append(firing, obs(fp, StatusFiring, t0, t0))
		resolved = append(resolved, obs(fp, StatusResolved, t0, t0.Add(time.Minute)))
	}
	s.Observe(firing, t0, mass)
	now := t0.Add(2 * time.Minute)
	// Two separate resolves: below the threshold, not held.
	if res := s.Observe(resolved[:1], now, mass); res.MassHeld != 0 {
		t.Fatalf("first resolve held: %+v", res)
	}
	if res := s.Observe(resolved[1:2], now.Add(time.Second), mass); res.MassHeld != 0 {
		t.Fatalf("second resolve held: %+v", res)
	}
	// The third inside the window makes it a mass resolve; with the fourth
	// in the same notification both are held.
	res := s.Observe(resolved[2:], now.Add(2*time.Second), mass)
	if res.MassHeld != 2 {
		t.Fatalf("mass resolve not detected: %+v", res)
	}
	inForce := func(at time.Time) []string {
		var out []string
		s.View(func(st *State) {
			for _, fp := range sortedKeys(st.Alerts) {
				if st.Alerts[fp].inForce(at) {
					out = append(out, fp)
				}
			}
		})
		return out
	}
	if got := inForce(now.Add(3 * time.Second)); !reflect.DeepEqual(got, []string{"c", "d"}) {
		t.Fatalf("in force during the grace: %v", got)
	}
	if got := inForce(now.Add(6 * time.Minute)); len(got) != 0 {
		t.Fatalf("in force after the grace: %v", got)
	}
	// Prometheus comes back (a restart gives a new startsAt): c fires again, the hold ends.
	s.Observe([]Observation{obs("c", StatusFiring, now.Add(time.Minute), now.Add(time.Minute))}, now.Add(time.Minute), mass)
	s.View(func(st *State) {
		if c := st.Alerts["c"]; c.Status != StatusFiring || !c.HoldUntil.IsZero() {
			t.Fatalf("c after re-fire: %+v", c)
		}
	})
	// Outside the window the count starts again.
	s2 := NewMemoryStore(nil)
	s2.Observe(firing, t0, mass)
	for i, o := range resolved[:3] {
		if res := s2.Observe([]Observation{o}, now.Add(time.Duration(i)*2*time.Minute), mass); res.MassHeld != 0 {
			t.Fatalf("spread-out resolve %d held", i)
		}
	}
}

func TestStorePersistsAndReloads(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	s, err := OpenStore(p)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	res := s.Observe([]Observation{obs("a", StatusFiring, t0, t0), obs("b", StatusFiring, t0, t0)}, t0, noMass)
	seq := s.Update(func(st *State) {
		st.Owned[ownKey("unix:/x", refOf("b", "a"))] = &Ownership{Socket: "unix:/x", Backend: "b", Server: "a",
			Admin: &AdminOwn{State: "drain", Prev: "ready", Phase: PhaseApplied, Since: t0, Alerts: []string{incarnation("a", t0)}}}
		st.Sockets["unix:/x"] = &SocketMark{Pid: 42, Uptime: 7}
	})
	if err := s.Sync(max(seq, res.Seq)); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenStore(p)
	if err != nil {
		t.Fatal(err)
	}
	var a, b *State
	s.View(func(st *State) { a = cloneState(t, st) })
	s2.View(func(st *State) { b = cloneState(t, st) })
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("reloaded state differs:\n%+v\n%+v", a, b)
	}
	// A replay after a restart is still a no-op: no new write needed.
	res = s2.Observe([]Observation{obs("a", StatusFiring, t0, t0)}, t0, noMass)
	if res.Changed != 0 || res.Unchanged != 1 {
		t.Fatalf("replay after restart: %+v", res)
	}
}

func cloneState(t *testing.T, st *State) *State {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStoreTornWrite: a crash while writing leaves a partial temp file; the
// next start reads the last complete state and removes the leftover.
func TestStoreTornWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	s, _ := OpenStore(p)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	res := s.Observe([]Observation{obs("a", StatusFiring, t0, t0)}, t0, noMass)
	if err := s.Sync(res.Seq); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(p)
	// The next write dies half-way: only the temp file exists, truncated.
	torn := filepath.Join(dir, tempPrefix("state.json")+"123456")
	if err := os.WriteFile(torn, good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenStore(p)
	if err != nil {
		t.Fatalf("torn temp file broke the start: %v", err)
	}
	if got := statusOf(s2); got["a"] == "" {
		t.Fatalf("state lost: %v", got)
	}
	if _, err := os.Stat(torn); !os.IsNotExist(err) {
		t.Fatalf("leftover temp file not removed: %v", err)
	}
}

func TestStoreDamagedFileRefused(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for name, content := range map[string]string{
		"truncated":        `{"version":1,"alerts":{"a":{"fingerprint":"a"`,
		"trailing":         `{"version":1}{"version":1}`,
		"wrong version":    `{"version":9}`,
		"unknown field":    `{"version":1,"surprise":true}`,
		"inconsistent key": `{"version":1,"alerts":{"a":{"fingerprint":"b"}}}`,
		"inconsistent own": `{"version":1,"owned":{"x":{"socket":"s","backend":"b","server":"c"}}}`,
		"inconsistent rel": `{"version":1,"released":{"x":{"socket":"s","backend":"b","server":"c","facet":"admin"}}}`,
	} {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenStore(p); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if err := os.WriteFile(p, []byte(`{"version":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(p); err != nil {
		t.Errorf("minimal file refused: %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(filepath.Join(dir, "adir")); err == nil || !strings.Contains(err.Error(), "reading state file") {
		t.Errorf("directory as state file: %v", err)
	}
}

func TestStoreSyncFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	seq := s.Update(func(*State) {})
	if err := s.Sync(seq); err == nil || !strings.Contains(err.Error(), "writing state file") {
		t.Fatalf("Sync into a missing directory: %v", err)
	}
}

// TestStoreGroupCommit: concurrent Syncs all return with their change on disk.
func TestStoreGroupCommit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	s, _ := OpenStore(p)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fp := "fp" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26))
			res := s.Observe([]Observation{obs(fp, StatusFiring, t0, t0)}, t0, noMass)
			if err := s.Sync(res.Seq); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s2, err := OpenStore(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(statusOf(s2)); got != 100 {
		t.Fatalf("%d alerts on disk, want 100", got)
	}
}

func TestGCKeepsHeldAndRecent(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := newState()
	st.Alerts["old"] = &AlertRecord{Fingerprint: "old", Status: StatusResolved, ReceivedAt: t0}
	st.Alerts["held"] = &AlertRecord{Fingerprint: "held", Status: StatusResolved, ReceivedAt: t0, HoldUntil: t0.Add(48 * time.Hour)}
	st.Alerts["firing"] = &AlertRecord{Fingerprint: "firing", Status: StatusFiring, ReceivedAt: t0}
	st.Alerts["recent"] = &AlertRecord{Fingerprint: "recent", Status: StatusResolved, ReceivedAt: t0.Add(23 * time.Hour)}
	if n := st.gc(t0.Add(25*time.Hour), 24*time.Hour); n != 1 || st.Alerts["old"] != nil {
		t.Fatalf("gc removed %d; left %v", n, sortedKeys(st.Alerts))
	}
}

// TestStoreWritesOnlyOnChange: a Sync whose snapshot equals the file
// leaves the file (its inode) alone; a real change replaces it.
func TestStoreWritesOnlyOnChange(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	s, err := OpenStore(p)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	res := s.Observe([]Observation{obs("a", StatusFiring, t0, t0)}, t0, noMass)
	if err := s.Sync(res.Seq); err != nil {
		t.Fatal(err)
	}
	inode := func() uint64 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	first := inode()
	for i := 0; i < 3; i++ { // what a quiet reconcile does: an Update that changes nothing
		if err := s.Sync(s.Update(func(*State) {})); err != nil {
			t.Fatal(err)
		}
	}
	if got := inode(); got != first || s.Writes() != 1 {
		t.Fatalf("unchanged state rewritten: inode %d→%d, %d writes", first, got, s.Writes())
	}
	// After a restart, too: the file read at open is what is on disk.
	s2, err := OpenStore(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.SyncAll(); err != nil {
		t.Fatal(err)
	}
	if err := s2.Sync(s2.Update(func(*State) {})); err != nil {
		t.Fatal(err)
	}
	if got := inode(); got != first || s2.Writes() != 0 {
		t.Fatalf("reopened unchanged state rewritten: %d writes", s2.Writes())
	}
	res = s2.Observe([]Observation{obs("b", StatusFiring, t0, t0)}, t0, noMass)
	if err := s2.Sync(res.Seq); err != nil {
		t.Fatal(err)
	}
	if got := inode(); got == first || s2.Writes() != 1 {
		t.Fatalf("a change was not written: %d writes", s2.Writes())
	}
}

// TestLockStateFile: a second holder is refused with the first one's pid;
// after Release the file can be taken again.
func TestLockStateFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	l, err := LockStateFile(p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockStateFile(p)
	want := fmt.Sprintf("in use by another rebalancer (pid %d holds %s)", os.Getpid(), LockPath(p))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second lock: %v, want %q", err, want)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := LockStateFile(p)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	_ = l2.Release()
	if _, err := LockStateFile(filepath.Join(t.TempDir(), "missing", "state.json")); err == nil || !strings.Contains(err.Error(), "state file lock") {
		t.Fatalf("lock in a missing directory: %v", err)
	}
}
