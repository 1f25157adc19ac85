package rebalancer

import (
	"context"
	"fmt"
	"time"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// DeferGracefulMaint is the deferral reason of a maint that waits for the
// drained server's sessions.
const DeferGracefulMaint = "graceful_maint"

// sessionReader is a socket that reports each server's current sessions
// (scur of `show stat`).
type sessionReader interface {
	Sessions(ctx context.Context) (map[haproxyapi.ServerRef]int, error)
}

func (s clientSocket) Sessions(ctx context.Context) (map[haproxyapi.ServerRef]int, error) {
	st, err := s.c.ShowStat(ctx, haproxyapi.StatFilter{Types: 4}) // servers only
	if err != nil {
		return nil, err
	}
	return sessionsOf(st), nil
}

func (d *dryRunSocket) Sessions(ctx context.Context) (map[haproxyapi.ServerRef]int, error) {
	sr, ok := d.Socket.(sessionReader)
	if !ok {
		return nil, fmt.Errorf("socket %s cannot report sessions", d.Name())
	}
	return sr.Sessions(ctx)
}

func sessionsOf(st *haproxyapi.Stat) map[haproxyapi.ServerRef]int {
	out := map[haproxyapi.ServerRef]int{}
	px, sv, scur := st.Col("pxname"), st.Col("svname"), st.Col("scur")
	if px < 0 || sv < 0 || scur < 0 {
		return out
	}
	for i := 0; i < st.Rows(); i++ {
		if st.Type(i) != haproxyapi.TypeServer {
			continue
		}
		if v, ok := st.Float(i, scur); ok {
			out[refOf(st.String(i, px), st.String(i, sv))] = int(v)
		}
	}
	return out
}

// maintGate decides, for graceful maintenance, whether a server may go
// to maint now: once it has no session left, or at its deadline. Sessions
// are read once per cycle, and only when a maint is in question.
type maintGate struct {
	timeout  time.Duration
	socket   Socket
	now      time.Time
	read     bool
	sessions map[haproxyapi.ServerRef]int
	progress map[string]*MaintProgress
	wake     time.Time
}

func (r *Rebalancer) newMaintGate(s Socket, now time.Time) *maintGate {
	return &maintGate{timeout: r.cfg.Rebalancer.GracefulMaintTimeout, socket: s, now: now, progress: map[string]*MaintProgress{}}
}

// wait reports whether a server drained since `since` must stay drained
// (and records the progress); false: maint now.
func (g *maintGate) wait(ctx context.Context, ref haproxyapi.ServerRef, since time.Time) bool {
	if since.IsZero() {
		since = g.now
	}
	deadline := since.Add(g.timeout)
	if !g.now.Before(deadline) {
		return false
	}
	if !g.read {
		g.read = true
		if sr, ok := g.socket.(sessionReader); ok {
			g.sessions, _ = sr.Sessions(ctx) // unknown sessions: wait for the deadline
		}
	}
	n, known := g.sessions[ref]
	if known && n == 0 {
		return false
	}
	g.progress[ownKey(g.socket.Name(), ref)] = &MaintProgress{Sessions: n, Since: since, Deadline: deadline}
	if g.wake.IsZero() || deadline.Before(g.wake) {
		g.wake = deadline
	}
	return true
}

// graceful turns an alert's maint into a drain first, and holds the
// switch to maint back until the server has no session or its deadline
// (drain confirmed + graceful_maint_timeout) has passed.
func (r *Rebalancer) graceful(ctx context.Context, g *maintGate, dec *decision, ix *serverIndex) {
	if g.timeout <= 0 {
		return
	}
	kept := dec.Steps[:0]
	for _, s := range dec.Steps {
		if s.Facet != FacetAdmin || s.admin != haproxyapi.StateMaint {
			kept = append(kept, s)
			continue
		}
		switch s.Kind {
		case StepApply:
			if cmd, err := haproxyapi.SetServerState(s.Ref, haproxyapi.StateDrain); err == nil {
				s.Cmd, s.admin, s.Action, s.To = cmd, haproxyapi.StateDrain, ActDrain, string(haproxyapi.StateDrain)
				g.wait(ctx, s.Ref, g.now) // progress from now on
			}
		case StepChange:
			var since time.Time
			if o := dec.Owned[s.Ref]; o != nil && o.Admin != nil && o.Admin.State == haproxyapi.StateDrain {
				since = o.Admin.Since
			}
			if srv := ix.byRef[s.Ref]; srv != nil && forcedState(srv.Admin) == haproxyapi.StateDrain && g.wait(ctx, s.Ref, since) {
				p := g.progress[ownKey(g.socket.Name(), s.Ref)]
				dec.Deferred = append(dec.Deferred, Deferral{Ref: s.Ref, Server: s.Ref.String(), Facet: s.Facet, Action: s.Action, Reason: DeferGracefulMaint,
					Detail: fmt.Sprintf("drained, %d session(s) left; maint at 0 or at %s", p.Sessions, p.Deadline.UTC().Format(time.RFC3339)), Alerts: s.Alerts})
				continue
			}
		}
		kept = append(kept, s)
	}
	dec.Steps = kept
}

// publish makes the cycle's progress visible (state view).
func (r *Rebalancer) publishProgress(g *maintGate) {
	r.viewMu.Lock()
	defer r.viewMu.Unlock()
	if r.progress == nil {
		r.progress = map[string]*MaintProgress{}
	}
	for k, p := range r.progress {
		if p.socket == g.socket.Name() {
			delete(r.progress, k)
		}
	}
	for k, p := range g.progress {
		c := *p
		c.socket = g.socket.Name()
		r.progress[k] = &c
	}
}

// maintProgress lists the graceful maintenances under way, by ownKey.
func (r *Rebalancer) maintProgress() map[string]*MaintProgress {
	r.viewMu.Lock()
	defer r.viewMu.Unlock()
	out := make(map[string]*MaintProgress, len(r.progress))
	for k, p := range r.progress {
		c := *p
		out[k] = &c
	}
	return out
}
