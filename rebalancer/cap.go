package rebalancer

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/go-kit/log/level"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// The session cap. When the guard holds a drain (or maint) back because
// the other servers cannot take the sessions (min_ready, max_unavailable
// or headroom), the server stays in rotation and, before this, kept
// taking every session HAProxy sent it: the last node standing of a
// backend went as far over its capacity as the traffic took it. With
// guard.session_cap the rebalancer instead caps the server at the
// sessions it carries now (`set maxconn server`): it keeps them, new ones
// go to the other servers or wait in the backend's queue, and past
// `timeout queue` HAProxy refuses them (503). A cap is a limit, never an
// eviction: no session is cut. The cap is lifted (the server's previous
// maxconn set again) once the drain is no longer held back — its alerts
// ended (after min_hold, as any restore) or the drain itself went
// through.

// Values of the action label for the cap.
const (
	ActCap        = "cap"
	ActRestoreCap = "restore_cap"
)

// SessionLimit is a server's current sessions and session limit as
// `show stat` shows them (scur, slim; slim 0 when there is none).
type SessionLimit struct {
	Sessions int
	MaxConn  int
}

// limitReader is a socket that reports each server's sessions and limit.
type limitReader interface {
	Limits(ctx context.Context) (map[haproxyapi.ServerRef]SessionLimit, error)
}

func (s clientSocket) Limits(ctx context.Context) (map[haproxyapi.ServerRef]SessionLimit, error) {
	st, err := s.c.ShowStat(ctx, haproxyapi.StatFilter{Types: 4}) // servers only
	if err != nil {
		return nil, err
	}
	return limitsOf(st), nil
}

// Limits of a dry run show the caps it would have set.
func (d *dryRunSocket) Limits(ctx context.Context) (map[haproxyapi.ServerRef]SessionLimit, error) {
	lr, ok := d.Socket.(limitReader)
	if !ok {
		return nil, errNoLimits
	}
	out, err := lr.Limits(ctx)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for ref, n := range d.maxconn {
		if l, ok := out[ref]; ok {
			l.MaxConn = n
			out[ref] = l
		}
	}
	return out, nil
}

// errNoLimits: the socket cannot report session limits.
var errNoLimits = errors.New("socket cannot report session limits")

// limitsOf reads scur and slim of every server row; an empty slim is no
// limit (0).
func limitsOf(st *haproxyapi.Stat) map[haproxyapi.ServerRef]SessionLimit {
	out := map[haproxyapi.ServerRef]SessionLimit{}
	px, sv, scur, slim := st.Col("pxname"), st.Col("svname"), st.Col("scur"), st.Col("slim")
	if px < 0 || sv < 0 || scur < 0 || slim < 0 {
		return out
	}
	for i := 0; i < st.Rows(); i++ {
		if st.Type(i) != haproxyapi.TypeServer {
			continue
		}
		cur, ok := st.Float(i, scur)
		if !ok {
			continue
		}
		l := SessionLimit{Sessions: int(cur)}
		if v, ok := st.Float(i, slim); ok {
			l.MaxConn = int(v)
		}
		out[refOf(st.String(i, px), st.String(i, sv))] = l
	}
	return out
}

// capInput is what the cap pass needs besides the decision.
type capInput struct {
	Socket   string
	Servers  *serverIndex
	Limits   map[haproxyapi.ServerRef]SessionLimit // nil: not read
	Reloaded bool
	Guard    *GuardConfig
	Approval func(Step) bool // a step that waits for an operator (nil: none)
	MinHold  time.Duration
	Now      time.Time
}

// capWant is why a server is to be capped: the alerts (and their rules)
// of the drain the guard held back.
type capWant struct {
	alerts, rules []string
}

// capWanted returns the servers to cap this cycle: those whose drain or
// maint the capacity guard held back, where at least one of the rules
// that want the drain allows a cap (its session_cap, else the backend's);
// and, when the reason is headroom — the other servers are nearly
// full by their weights — those other servers too. Capping only the
// server that alerted sends every new session to the nearly full
// others, which is the overload the headroom check exists to avoid (the
// control benchmark: the crowd went from a capped wcs2 to wcs1, 34
// sessions of 30, before wcs1's own alert came). With every loaded server
// held at what it has, the backend queues new sessions instead.
//
// A drain that waits for an operator's approval gets no cap, nor do its
// peers: the cap comes with the drain, not before it. An operator who
// changed a cap lbpilot set takes the server's cap away from the alerts
// that asked for it (a release, as for drains).
func capWanted(dec *decision, socket string, ix *serverIndex, g *GuardConfig, approval func(Step) bool) map[haproxyapi.ServerRef]*capWant {
	out := map[haproxyapi.ServerRef]*capWant{}
	add := func(ref haproxyapi.ServerRef, by []Want) {
		alerts := incarnations(by)
		if rel := dec.Released[releaseKey(socket, ref, FacetCap)]; rel != nil && anyIn(alerts, setOf(rel.Alerts)) {
			return
		}
		w := out[ref]
		if w == nil {
			w = &capWant{}
			out[ref] = w
		}
		w.alerts = union(w.alerts, alerts)
		w.rules = union(w.rules, ruleNames(by))
	}
	for _, df := range dec.Deferred {
		if df.Facet != FacetAdmin || !guardReason(df.Reason) {
			continue
		}
		if df.step == nil || (df.step.admin != haproxyapi.StateDrain && df.step.admin != haproxyapi.StateMaint) {
			continue
		}
		by := capping(g, df.Ref.Backend, df.step.wants)
		if len(by) == 0 {
			continue // no rule that wants the drain allows a cap
		}
		if approval != nil && approval(*df.step) {
			continue
		}
		add(df.Ref, by)
		if df.Reason != GuardHeadroom || ix == nil || ix.all == nil {
			continue
		}
		h := g.headroomFor(df.Ref.Backend)
		for i := range ix.all.Servers {
			p := &ix.all.Servers[i]
			if p.Backend != df.Ref.Backend || p.Ref() == df.Ref || !p.Usable() || p.Failing() || p.IWeight <= 0 {
				continue
			}
			if float64(min(p.UWeight, p.IWeight))/float64(p.IWeight) < h {
				add(p.Ref(), by)
			}
		}
	}
	return out
}

// capping returns the wants whose rule allows a session cap in backend
// (the rule's session_cap, else the backend's): a held drain is capped
// when at least one of the alerts asking for it is about load. The cap
// is then owned by those alerts only, so it is lifted when they end even
// if an error alert still holds the drain back.
func capping(g *GuardConfig, backend string, ws []Want) []Want {
	var out []Want
	for _, w := range ws {
		if g.capAllowed(w.SessionCap, backend) {
			out = append(out, w)
		}
	}
	return out
}

func setOf(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// needLimits reports whether the cap pass has anything to do: a held
// back drain to cap, or a cap of its own to check.
func needLimits(dec *decision, socket string, ix *serverIndex, g *GuardConfig, approval func(Step) bool) bool {
	if len(capWanted(dec, socket, ix, g, approval)) > 0 {
		return true
	}
	for _, o := range dec.Owned {
		if o.Cap != nil {
			return true
		}
	}
	return false
}

// planCaps checks the caps the rebalancer owns against HAProxy, lifts
// those no longer wanted and caps the servers newly held back. Pure:
// the limits are an input; without them (not read, or the read failed)
// nothing is capped and owned caps wait for the next cycle.
func (d *decision) planCaps(in capInput) {
	if in.Limits == nil {
		return
	}
	want := capWanted(d, in.Socket, in.Servers, in.Guard, in.Approval)
	itoa := strconv.Itoa
	for _, ref := range sortedRefs(d.Owned) {
		o := d.Owned[ref]
		c := o.Cap
		if c == nil {
			continue
		}
		lim, ok := in.Limits[ref]
		if !ok {
			continue // the server is gone: decide's first pass forgets it
		}
		cur := lim.MaxConn
		switch {
		case cur == c.Set && c.Phase != PhaseRestoring:
			if c.Phase == PhasePending {
				c.Phase = PhaseApplied
				if c.Since.IsZero() {
					c.Since = in.Now
				}
				d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetCap, Kind: NoteConfirmed, To: itoa(c.Set), Alerts: c.Alerts, Rules: c.Rules})
			}
		case c.Phase == PhaseRestoring && cur == c.Prev:
			d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetCap, Kind: NoteRestored, From: itoa(c.Set), To: maxconnText(cur), Alerts: c.Alerts, Rules: c.Rules})
			o.Cap = nil
		case c.Phase == PhaseRestoring && cur == c.Set:
			// The lift was sent; HAProxy has not shown it yet: send it again below.
		case in.Reloaded:
			d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetCap, Kind: NoteReloadLost, From: itoa(c.Set), To: maxconnText(cur), Alerts: c.Alerts, Rules: c.Rules})
			o.Cap = nil
		case c.Phase == PhasePending && cur == c.Prev:
			d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetCap, Kind: NoteNotApplied, From: maxconnText(c.Prev), To: itoa(c.Set), Alerts: c.Alerts, Rules: c.Rules})
			o.Cap = nil
		default:
			d.release(decideInput{Socket: in.Socket, Now: in.Now}, ref, FacetCap, c.Alerts, maxconnText(cur))
			d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetCap, Kind: NoteOperator, From: itoa(c.Set), To: maxconnText(cur), Alerts: c.Alerts, Rules: c.Rules,
				Detail: "HAProxy shows maxconn " + maxconnText(cur) + " instead of the " + itoa(c.Set) + " lbpilot set: changed outside lbpilot, leaving it alone"})
			o.Cap = nil
		}
		if o.Cap == nil {
			if o.empty() {
				delete(d.Owned, ref)
			}
			continue
		}
		if w, held := want[ref]; held {
			if c.Phase == PhaseRestoring {
				c.Phase = PhaseApplied // held back again before the lift was sent
			}
			c.Alerts, c.Rules = w.alerts, w.rules
			delete(want, ref)
			continue
		}
		if c.Phase != PhaseRestoring {
			if until := c.Since.Add(in.MinHold); !c.Since.IsZero() && in.Now.Before(until) {
				d.wake(until)
				d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetCap, Kind: NoteHeld, From: itoa(c.Set), To: maxconnText(c.Prev), Alerts: c.Alerts, Rules: c.Rules,
					Detail: "min_hold until " + until.UTC().Format(time.RFC3339)})
				continue
			}
		}
		cmd, err := haproxyapi.SetMaxConn(ref, c.Prev)
		if err != nil {
			continue // unreachable: ref came from HAProxy, Prev from its slim
		}
		d.Steps = append(d.Steps, Step{Ref: ref, Facet: FacetCap, Kind: StepRestore, Action: ActRestoreCap, From: itoa(c.Set), To: maxconnText(c.Prev),
			Cmd: cmd, Alerts: c.Alerts, Rules: c.Rules, maxconn: c.Prev})
	}
	for _, ref := range sortedRefs(want) {
		w := want[ref]
		lim, ok := in.Limits[ref]
		if !ok {
			continue
		}
		n := max(lim.Sessions, 1)
		if lim.MaxConn > 0 && lim.MaxConn <= n {
			continue // already limited to as much or less
		}
		cmd, err := haproxyapi.SetMaxConn(ref, min(n, haproxyapi.MaxMaxConn))
		if err != nil {
			continue
		}
		d.Steps = append(d.Steps, Step{Ref: ref, Facet: FacetCap, Kind: StepApply, Action: ActCap, From: maxconnText(lim.MaxConn), To: itoa(n),
			Cmd: cmd, Alerts: w.alerts, Rules: w.rules, maxconn: n, prevMax: lim.MaxConn})
	}
}

// maxconnText shows a session limit, 0 as "none".
func maxconnText(n int) string {
	if n == 0 {
		return "none"
	}
	return strconv.Itoa(n)
}

// sessionCap runs the cap pass of one socket's cycle: it reads the
// servers' sessions and limits only when there is something to cap or
// to check.
func (r *Rebalancer) sessionCap(ctx context.Context, s Socket, dec *decision, ix *serverIndex, reloaded bool, now time.Time) {
	if !needLimits(dec, s.Name(), ix, &r.cfg.Guard, r.needsApproval) {
		return
	}
	lr, ok := s.(limitReader)
	if !ok {
		return
	}
	limits, err := lr.Limits(ctx)
	if err != nil {
		level.Warn(r.logger).Log("msg", "Reading the servers' sessions for the session cap failed; no cap this cycle", "socket", s.Name(), "err", err)
		return
	}
	dec.planCaps(capInput{Socket: s.Name(), Servers: ix, Limits: limits, Reloaded: reloaded, Guard: &r.cfg.Guard, Approval: r.needsApproval, MinHold: r.cfg.Rebalancer.MinHold, Now: now})
}
