package rebalancer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log/level"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// ActRelease hands a held server back to lbpilot.
const ActRelease = "release"

// ManualRequest is the body of POST /api/v1/servers/{backend}/{server}/{action}.
type ManualRequest struct {
	Reason    string `json:"reason"`
	Author    string `json:"author"`
	ExpiresIn string `json:"expires_in"`
	Weight    *int   `json:"weight"`
	Force     bool   `json:"force"`
}

// ManualAction is a validated manual action.
type ManualAction struct {
	Ref       haproxyapi.ServerRef
	Action    string // drain, maint, ready, weight, release
	Weight    int
	Reason    string
	Author    string
	ExpiresIn time.Duration
	Force     bool
}

func (r *Rebalancer) serveManual(req *http.Request) (any, error) {
	backend, server, action := req.PathValue("backend"), req.PathValue("server"), req.PathValue("action")
	var body ManualRequest
	if err := decodeBody(req, &body); err != nil {
		return nil, err
	}
	a, err := validateManual(backend, server, action, body)
	if err != nil {
		return nil, err
	}
	res, err := r.Manual(req.Context(), a)
	if err != nil {
		r.m.manual.WithLabelValues(a.Action, manualErrResult(err)).Inc()
		return nil, err
	}
	r.m.manual.WithLabelValues(a.Action, res.Result).Inc()
	return res, nil
}

func manualErrResult(err error) string {
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == http.StatusConflict {
		return ManualRefused
	}
	return ManualError
}

// validateManual checks everything of a manual action before anything
// else happens: names with the rules alert-derived names obey, the
// action, the texts, the weight and the expiry.
func validateManual(backend, server, action string, b ManualRequest) (ManualAction, error) {
	a := ManualAction{Ref: refOf(backend, server), Action: action, Reason: strings.TrimSpace(b.Reason), Author: strings.TrimSpace(b.Author), Force: b.Force}
	if err := checkBackend("backend", backend); err != nil {
		return a, err
	}
	if err := haproxyapi.CheckName("server", server); err != nil {
		return a, badRequest("field server: %v", err)
	}
	switch action {
	case HoldDrain, HoldMaint, HoldReady, HoldWeight, ActRelease:
	default:
		return a, notFound("unknown action %s: want drain, maint, ready, weight or release", strconv.Quote(clip(action, 32)))
	}
	if err := checkText("reason", b.Reason, action != ActRelease, maxReasonLen); err != nil {
		return a, err
	}
	if err := checkText("author", b.Author, true, maxAuthorLen); err != nil {
		return a, err
	}
	switch {
	case action == HoldWeight && b.Weight == nil:
		return a, badRequest("field weight is required for the weight action")
	case action == HoldWeight && (*b.Weight < 0 || *b.Weight > 256):
		return a, badRequest("field weight %d: want 0..256", *b.Weight)
	case action != HoldWeight && b.Weight != nil:
		return a, badRequest("field weight is only for the weight action")
	case action == HoldWeight:
		a.Weight = *b.Weight
	}
	d, err := parseExpiresIn(b.ExpiresIn)
	if err != nil {
		return a, err
	}
	if action == ActRelease && (d > 0 || b.Force) {
		return a, badRequest("fields expires_in and force do not apply to release")
	}
	a.ExpiresIn = d
	return a, nil
}

// Manual applies an operator's action to a server on every socket and
// answers once HAProxy shows it. The server becomes the operator's: the
// alerts no longer act on it, and what lbpilot had set there is not
// restored by an alert's end. Release hands it back (ready again, or its
// configured weight). Replaying a request changes nothing ("unchanged").
func (r *Rebalancer) Manual(ctx context.Context, a ManualAction) (*WriteResult, error) {
	r.cycleMu.Lock()
	defer r.cycleMu.Unlock()
	now := r.now().UTC()
	type sockRead struct {
		s   Socket
		ss  *haproxyapi.ServersState
		srv *haproxyapi.ServerState
	}
	var reads []sockRead
	for _, s := range r.sockets {
		ss, err := s.ShowServersState(ctx)
		if err != nil {
			return nil, &apiError{Code: http.StatusBadGateway, Msg: fmt.Sprintf("HAProxy socket %s: %v; nothing was changed", s.Name(), err)}
		}
		ix := indexServers(ss)
		reads = append(reads, sockRead{s: s, ss: ss, srv: ix.byRef[a.Ref]})
	}
	found := false
	for _, rd := range reads {
		found = found || rd.srv != nil
	}
	if !found {
		return nil, notFound("unknown server %s on every socket", a.Ref)
	}
	var cur *Hold
	r.store.View(func(st *State) {
		if st.Operator != nil && st.Operator.Holds[holdKey(a.Ref)] != nil {
			cur = st.Operator.Holds[holdKey(a.Ref)].clone()
		}
	})
	actor := Actor{Type: ActorOperator, Name: a.Author}

	if a.Action == ActRelease {
		if cur == nil {
			return &WriteResult{Result: ManualUnchanged, Server: r.serverView(a.Ref)}, nil
		}
		seq := r.store.Update(func(st *State) { delete(st.operator().Holds, holdKey(a.Ref)) })
		if err := r.syncOp(seq); err != nil {
			r.store.Update(func(st *State) { st.operator().Holds[holdKey(a.Ref)] = cur.clone() }) // not on disk: not done
			return nil, err
		}
		var errs []error
		for _, rd := range reads {
			if rd.srv == nil {
				continue
			}
			c, need, err := cur.releaseCommand(a.Ref, rd.srv)
			if err != nil || !need {
				continue
			}
			if err := r.applyOne(ctx, rd.s, c); err != nil {
				errs = append(errs, err)
			}
		}
		res := resultOf(errs)
		r.history(HistoryEntry{Kind: HistOperator, Backend: a.Ref.Backend, Server: a.Ref.Server, Action: ActRelease, Actor: actor, Reason: a.Reason, Result: res,
			Detail: "hold " + cur.Action + " by " + cur.Author + " released; the server is lbpilot's again"})
		level.Info(r.logger).Log("msg", "Operator released a server", "backend", a.Ref.Backend, "server", a.Ref.Server, "author", a.Author, "result", res)
		if len(errs) > 0 {
			return nil, &apiError{Code: http.StatusBadGateway, Msg: "released, but HAProxy refused handing it back: " + errors.Join(errs...).Error()}
		}
		r.Kick()
		return &WriteResult{Result: ManualApplied, Server: r.serverView(a.Ref)}, nil
	}

	h := &Hold{Action: a.Action, Reason: a.Reason, Author: a.Author, Since: now}
	if a.Action == HoldWeight {
		w := a.Weight
		h.Weight = &w
	}
	if a.ExpiresIn > 0 {
		h.Expires = now.Add(a.ExpiresIn)
	}
	graceful := a.Action == HoldMaint && r.cfg.Rebalancer.GracefulMaintTimeout > 0
	if cur != nil && cur.same(h) {
		inEffect := true
		for _, rd := range reads {
			if rd.srv == nil {
				continue
			}
			if graceful && forcedState(rd.srv.Admin) == haproxyapi.StateDrain {
				continue // draining before its maint
			}
			if !cur.inEffect(rd.srv) {
				inEffect = false
			}
		}
		if inEffect {
			return &WriteResult{Result: ManualUnchanged, Server: r.serverView(a.Ref)}, nil
		}
		h = cur // same decision, HAProxy lost it: apply again, keep its record
	}

	// A weight the server's agent-check would overwrite at its next check
	// is refused, as for alerts.
	if h.Action == HoldWeight {
		for _, rd := range reads {
			if rd.srv != nil && rd.srv.AgentEnabled() {
				return nil, conflict("", "%s has an enabled agent-check, which sets its weight; disable it (disable agent %s) before holding a weight", a.Ref, a.Ref)
			}
		}
	}

	// The guard, on every socket, before anything changes.
	if h.reduces() {
		for _, rd := range reads {
			if rd.srv == nil || !rd.srv.Usable() {
				continue
			}
			v := runGuard(&r.cfg.Guard, capacities(rd.ss), []guardCandidate{{ref: a.Ref, order: now}})[a.Ref]
			if v.allowed {
				continue
			}
			if !a.Force {
				r.history(HistoryEntry{Kind: HistDeferred, Backend: a.Ref.Backend, Server: a.Ref.Server, Action: a.Action, Actor: actor, Reason: a.Reason,
					Result: ManualRefused, Detail: v.reason + ": " + v.detail})
				return nil, conflict(v.reason, "the guard refuses %s of %s: %s (%s); send force: true to override", a.Action, a.Ref, v.detail, v.reason)
			}
			h.Forced = true
			r.m.forced.WithLabelValues(a.Action).Inc()
			level.Warn(r.logger).Log("msg", "Operator forced an action past the guard", "backend", a.Ref.Backend, "server", a.Ref.Server, "action", a.Action,
				"author", a.Author, "reason", a.Reason, "guard", v.reason, "detail", v.detail)
			r.history(HistoryEntry{Kind: HistForced, Backend: a.Ref.Backend, Server: a.Ref.Server, Action: a.Action, Actor: actor, Reason: a.Reason,
				Result: "forced", Detail: v.reason + ": " + v.detail})
			break
		}
	}

	// Intent first: the hold, and the end of lbpilot's own ownership of
	// the server (an alert's end must not undo the operator's state).
	var dropped []string
	droppedOwned := map[string]*Ownership{}
	droppedRel := map[string]*Release{}
	seq := r.store.Update(func(st *State) {
		st.operator().Holds[holdKey(a.Ref)] = h.clone()
		for k, o := range st.Owned {
			if o.Backend == a.Ref.Backend && o.Server == a.Ref.Server {
				droppedOwned[k] = o
				delete(st.Owned, k)
				dropped = append(dropped, k)
				if o.Cap != nil {
					// lbpilot's session cap stays its own, to lift: the
					// hold is about the admin state and the weight.
					st.Owned[k] = &Ownership{Socket: o.Socket, Backend: o.Backend, Server: o.Server, Cap: o.Cap}
				}
			}
		}
		for k, rel := range st.Released {
			if rel.Backend == a.Ref.Backend && rel.Server == a.Ref.Server {
				droppedRel[k] = rel
				delete(st.Released, k)
			}
		}
	})
	if err := r.syncOp(seq); err != nil {
		// Not on disk: not done. Everything goes back as it was.
		r.store.Update(func(st *State) {
			if cur != nil {
				st.operator().Holds[holdKey(a.Ref)] = cur.clone()
			} else {
				delete(st.operator().Holds, holdKey(a.Ref))
			}
			for k, o := range droppedOwned {
				st.Owned[k] = o
			}
			for k, rel := range droppedRel {
				st.Released[k] = rel
			}
		})
		return nil, err
	}
	cmd, err := h.command(a.Ref)
	if err != nil {
		return nil, badRequest("%v", err) // unreachable: validated above
	}
	if graceful {
		// Drain first; the reconcile switches to maint when the sessions
		// end or at the deadline.
		if cmd, err = haproxyapi.SetServerState(a.Ref, haproxyapi.StateDrain); err != nil {
			return nil, badRequest("%v", err)
		}
	}
	var errs []error
	for _, rd := range reads {
		if rd.srv == nil || h.inEffect(rd.srv) || (graceful && forcedState(rd.srv.Admin) == haproxyapi.StateDrain) {
			continue
		}
		if err := r.applyOne(ctx, rd.s, cmd); err != nil {
			errs = append(errs, err)
		}
	}
	res := resultOf(errs)
	detail := "held " + a.Action
	if h.Weight != nil {
		detail += " " + strconv.Itoa(*h.Weight)
	}
	if !h.Expires.IsZero() {
		detail += " until " + h.Expires.Format(time.RFC3339)
	}
	if len(dropped) > 0 {
		detail += "; took over from the alerts"
	}
	r.history(HistoryEntry{Kind: HistOperator, Backend: a.Ref.Backend, Server: a.Ref.Server, Action: a.Action, Actor: actor, Reason: a.Reason, Result: res, Detail: detail})
	level.Info(r.logger).Log("msg", "Operator action", "backend", a.Ref.Backend, "server", a.Ref.Server, "action", a.Action, "weight", itoaPtr(h.Weight),
		"author", a.Author, "reason", a.Reason, "forced", h.Forced, "expires", h.Expires, "result", res)
	if len(errs) > 0 {
		return nil, &apiError{Code: http.StatusBadGateway, Msg: "held, but HAProxy did not take it (retried every reconcile): " + errors.Join(errs...).Error()}
	}
	if graceful {
		r.Kick()
	}
	return &WriteResult{Result: ManualApplied, Server: r.serverView(a.Ref)}, nil
}

// applyOne sends one command and reads the socket back into the view.
func (r *Rebalancer) applyOne(ctx context.Context, s Socket, c haproxyapi.Command) error {
	res, err := s.Apply(ctx, []haproxyapi.Command{c})
	if err == nil {
		err = res.Err()
	}
	if rb, rbErr := s.ShowServersState(ctx); rbErr == nil {
		r.viewMu.Lock()
		r.sockState[s.Name()].servers = rb
		r.viewMu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %w", s.Name(), c, err)
	}
	return nil
}

func resultOf(errs []error) string {
	if len(errs) > 0 {
		return ResultError
	}
	return ResultSuccess
}
