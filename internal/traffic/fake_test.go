package traffic

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// fakeKinds: ok stays open until closed; cut is ended by the "server"
// at once; refuse fails to open; block never finishes opening until its
// context ends.
var fakeKinds = []string{"ok", "cut", "refuse", "block"}

// fakeDialer counts what it is asked and what is open.
type fakeDialer struct {
	open, maxOpen, opened, closed atomic.Int64
	mu                            sync.Mutex
	sessions                      []*fakeSession
}

func (d *fakeDialer) Open(ctx context.Context, target, kind string, p SessionParams) (Session, error) {
	switch kind {
	case "refuse":
		return nil, WithReason("http_503", errors.New("node at capacity"))
	case "block":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	n := d.open.Add(1)
	for {
		m := d.maxOpen.Load()
		if n <= m || d.maxOpen.CompareAndSwap(m, n) {
			break
		}
	}
	d.opened.Add(1)
	s := &fakeSession{d: d, node: fmt.Sprintf("n%d", p.ID%2+1), done: make(chan struct{})}
	d.mu.Lock()
	d.sessions = append(d.sessions, s)
	d.mu.Unlock()
	if kind == "cut" {
		s.end(WithReason("kicked", errors.New("kicked by the server")))
	}
	stop := context.AfterFunc(ctx, func() { s.end(ctx.Err()) })
	go func() { <-s.done; stop() }()
	return s, nil
}

type fakeSession struct {
	d    *fakeDialer
	node string
	once sync.Once
	err  error
	done chan struct{}
}

func (s *fakeSession) end(err error) {
	s.once.Do(func() {
		s.err = err
		s.d.open.Add(-1)
		s.d.closed.Add(1)
		close(s.done)
	})
}

func (s *fakeSession) Wait() error           { <-s.done; return s.err }
func (s *fakeSession) Close() error          { s.end(nil); return nil }
func (s *fakeSession) Node() string          { return s.node }
func (s *fakeSession) Bytes() (int64, int64) { return 100, 10 }

func fakeRegistry(t interface{ Fatal(...any) }, d Dialer) *Registry {
	r := DefaultRegistry()
	if err := r.Register("fake", d, fakeKinds...); err != nil {
		t.Fatal(err)
	}
	return r
}
