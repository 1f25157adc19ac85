package rebalancer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log/level"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// Deferral reasons besides the guard's.
const (
	DeferPaused           = "paused"
	DeferAwaitingApproval = "awaiting_approval"
	DeferRejected         = "rejected"
	DeferProposalExpired  = "proposal_expired"
)

// operatorSnapshot copies the operator state for one cycle.
func (r *Rebalancer) operatorSnapshot() *OperatorState {
	out := &OperatorState{Pauses: map[string]*Pause{}, Holds: map[string]*Hold{}, Proposals: map[string]*Proposal{}}
	r.store.View(func(st *State) {
		o := st.Operator
		if o == nil {
			return
		}
		if o.Pause != nil {
			out.Pause = o.Pause.clone()
		}
		for k, p := range o.Pauses {
			out.Pauses[k] = p.clone()
		}
		for k, h := range o.Holds {
			out.Holds[k] = h.clone()
		}
		for k, p := range o.Proposals {
			out.Proposals[k] = p.clone()
		}
	})
	return out
}

// dropHeld takes the servers an operator holds away from the alerts: no
// desire acts on them and what lbpilot owned there is forgotten (the
// operator's state replaced it).
func dropHeld(desires map[haproxyapi.ServerRef]*Desire, owned map[haproxyapi.ServerRef]*Ownership, released map[string]*Release, holds map[haproxyapi.ServerRef]*Hold) {
	for ref := range holds {
		delete(desires, ref)
		if o := owned[ref]; o != nil && o.Cap != nil {
			// A session cap lbpilot set stays its own: with no alert
			// acting on the held server any more, the cap pass lifts it.
			o.Admin, o.Weight = nil, nil
		} else {
			delete(owned, ref)
		}
		for k, rel := range released {
			if rel.Backend == ref.Backend && rel.Server == ref.Server {
				delete(released, k)
			}
		}
	}
}

// needsApproval reports whether a step of these rules waits for an
// operator: restores never do.
func (r *Rebalancer) needsApproval(s Step) bool {
	if s.Kind == StepRestore {
		return false
	}
	if r.cfg.Rebalancer.Approve {
		return true
	}
	for _, name := range s.Rules {
		for _, rule := range r.rules {
			if rule.Name == name && rule.approve {
				return true
			}
		}
	}
	return false
}

// proposalID names an action for the alerts that ask for it: the same
// server, target and alerts give the same id on every socket and cycle.
func proposalID(s Step) string {
	alerts := append([]string(nil), s.Alerts...)
	sort.Strings(alerts)
	h := sha256.Sum256([]byte(s.Ref.String() + "\x00" + s.Facet + "\x00" + s.Action + "\x00" + s.To + "\x00" + strings.Join(alerts, ",")))
	return hex.EncodeToString(h[:6])
}

// gate holds back the steps an approval or a pause stops, as deferrals,
// and records new proposals.
func (r *Rebalancer) gate(socket string, dec *decision, op *OperatorState, now time.Time) {
	kept := dec.Steps[:0]
	var created []*Proposal
	guards := map[string]string{} // proposal id → the guard's verdict this cycle
	propose := func(s Step, guard string) *Proposal {
		id := proposalID(s)
		guards[id] = guard
		if p := op.Proposals[id]; p != nil {
			return p
		}
		p := &Proposal{ID: id, Backend: s.Ref.Backend, Server: s.Ref.Server, Action: s.Action, Rule: strings.Join(s.Rules, ","),
			Alerts: append([]string(nil), s.Alerts...), Guard: guard, Created: now, Expires: now.Add(r.cfg.Rebalancer.ProposalTTL), Status: ProposalPending}
		if s.Facet == FacetWeight {
			w := s.weight
			p.Weight = &w
		}
		op.Proposals[id] = p
		created = append(created, p)
		return p
	}
	// A step the guard holds back that needs an approval is proposed too,
	// with the guard's verdict, so the operator sees it waiting for both.
	for i, d := range dec.Deferred {
		if d.step != nil && r.needsApproval(*d.step) {
			p := propose(*d.step, d.Reason+": "+d.Detail)
			dec.Deferred[i].Detail += " (proposal " + p.ID + ")"
		}
	}
	for _, s := range dec.Steps {
		if r.needsApproval(s) {
			p := propose(s, "ok")
			reason := ""
			switch {
			case p.Status == ProposalPending:
				reason = DeferAwaitingApproval
			case p.Status == ProposalRejected:
				reason = DeferRejected
			case p.Status == ProposalExpired:
				reason = DeferProposalExpired
			}
			if reason != "" {
				dec.Deferred = append(dec.Deferred, Deferral{Ref: s.Ref, Server: s.Ref.String(), Facet: s.Facet, Action: s.Action, Reason: reason,
					Detail: "proposal " + p.ID, Alerts: s.Alerts})
				continue
			}
		}
		if p := op.pauseFor(s.Ref.Backend, now); p != nil && (s.Kind != StepRestore || !p.Restores) {
			dec.Deferred = append(dec.Deferred, Deferral{Ref: s.Ref, Server: s.Ref.String(), Facet: s.Facet, Action: s.Action, Reason: DeferPaused,
				Detail: "paused by " + p.Author + ": " + p.Reason, Alerts: s.Alerts})
			continue
		}
		kept = append(kept, s)
	}
	dec.Steps = kept
	sort.SliceStable(dec.Deferred, func(i, j int) bool { return dec.Deferred[i].Server < dec.Deferred[j].Server })
	// The guard's verdict on pending proposals follows the capacity.
	var changed []string
	for id, g := range guards {
		if p := op.Proposals[id]; p != nil && p.Status == ProposalPending && p.Guard != g && !slicesContains(created, p) {
			p.Guard = g
			changed = append(changed, id)
		}
	}
	if len(created) == 0 && len(changed) == 0 {
		return
	}
	var hist []HistoryEntry
	r.store.Update(func(st *State) {
		o := st.operator()
		for _, id := range changed {
			if p := o.Proposals[id]; p != nil {
				p.Guard = guards[id]
			}
		}
		for _, p := range created {
			if _, ok := o.Proposals[p.ID]; ok {
				continue // another socket's cycle proposed it first
			}
			o.Proposals[p.ID] = p.clone()
			hist = append(hist, HistoryEntry{Kind: HistProposed, Backend: p.Backend, Server: p.Server, Action: p.Action,
				Actor: alertActor(p.Alerts, p.Rule), Result: ProposalPending, Detail: "proposal " + p.ID + ", expires " + p.Expires.UTC().Format(time.RFC3339)})
		}
	})
	r.history(hist...)
	for _, p := range created {
		level.Info(r.logger).Log("msg", "Action proposed; waiting for an operator's approval", "socket", socket, "backend", p.Backend, "server", p.Server,
			"action", p.Action, "proposal", p.ID, "rule", p.Rule)
	}
}

// alertActor is the actor of alert-driven entries: the fingerprints of
// the incarnations (fingerprint@startsAt).
func alertActor(incs []string, rule string) Actor {
	a := Actor{Type: ActorAlert, Rule: rule}
	seen := map[string]bool{}
	for _, inc := range incs {
		fp, _, _ := strings.Cut(inc, "@")
		if !seen[fp] {
			seen[fp] = true
			a.Fingerprints = append(a.Fingerprints, fp)
		}
	}
	return a
}

// enforceHolds keeps held servers in the state their operator asked for
// (a HAProxy reload forgets runtime changes), and hands expired holds
// back. When it changed anything it returns the socket's state read back.
func (r *Rebalancer) enforceHolds(ctx context.Context, s Socket, ix *serverIndex, holds map[haproxyapi.ServerRef]*Hold, mg *maintGate, now time.Time) (*haproxyapi.ServersState, error) {
	var cmds []haproxyapi.Command
	var what []HistoryEntry
	for _, ref := range sortedHoldRefs(holds) {
		h := holds[ref]
		srv, ok := ix.byRef[ref]
		if !ok {
			continue
		}
		if !h.Expires.IsZero() && !now.Before(h.Expires) {
			c, need, err := h.releaseCommand(ref, srv)
			if err != nil || !need {
				continue
			}
			cmds = append(cmds, c)
			what = append(what, HistoryEntry{Kind: HistRestored, Backend: ref.Backend, Server: ref.Server, Action: ActReady, Actor: Actor{Type: ActorSystem},
				Detail: "operator hold (" + h.Action + " by " + h.Author + ") expired on " + s.Name()})
			continue
		}
		if h.inEffect(srv) {
			continue
		}
		c, err := h.command(ref)
		if err != nil {
			continue
		}
		if h.Action == HoldMaint && mg.timeout > 0 && mg.wait(ctx, ref, h.Since) {
			// Graceful: drained until the sessions end or the deadline.
			if forcedState(srv.Admin) == haproxyapi.StateDrain {
				continue
			}
			if c, err = haproxyapi.SetServerState(ref, haproxyapi.StateDrain); err != nil {
				continue
			}
		}
		cmds = append(cmds, c)
		what = append(what, HistoryEntry{Kind: HistApplied, Backend: ref.Backend, Server: ref.Server, Action: h.Action, Actor: Actor{Type: ActorSystem},
			Reason: h.Reason, Detail: "operator hold re-applied on " + s.Name() + " (HAProxy showed something else, e.g. after a reload)"})
	}
	if len(cmds) == 0 {
		return nil, nil
	}
	res, err := s.Apply(ctx, cmds)
	for i := range what {
		what[i].Result = ResultSuccess
		if i < len(res) && res[i].Err != nil {
			what[i].Result = ResultError
			what[i].Detail += ": " + res[i].Err.Error()
		} else if err != nil {
			what[i].Result = ResultError
		}
	}
	r.history(what...)
	rb, rbErr := s.ShowServersState(ctx)
	if rbErr != nil {
		rb = nil
	}
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return rb, fmt.Errorf("%s: operator holds: %w", s.Name(), err)
	}
	return rb, nil
}

// expireOperator ends expired pauses and proposals, forgets the proposals
// whose alerts all ended, and returns the holds that expired (handed
// back by the socket cycles, then forgotten by forgetExpiredHolds).
func (r *Rebalancer) expireOperator(now time.Time, inForce map[string]bool) {
	var hist []HistoryEntry
	r.store.Update(func(st *State) {
		if st.Operator == nil {
			return
		}
		o := st.operator()
		if p := o.Pause; p != nil && !p.active(now) {
			o.Pause = nil
			hist = append(hist, HistoryEntry{Kind: HistResumed, Actor: Actor{Type: ActorSystem}, Reason: p.Reason, Detail: "global pause by " + p.Author + " expired"})
		}
		for b, p := range o.Pauses {
			if !p.active(now) {
				delete(o.Pauses, b)
				hist = append(hist, HistoryEntry{Kind: HistResumed, Backend: b, Actor: Actor{Type: ActorSystem}, Reason: p.Reason, Detail: "pause by " + p.Author + " expired"})
			}
		}
		for id, p := range o.Proposals {
			switch {
			case !anyIn(p.Alerts, inForce):
				delete(o.Proposals, id)
				if p.Status == ProposalPending {
					hist = append(hist, HistoryEntry{Kind: HistExpired, Backend: p.Backend, Server: p.Server, Action: p.Action, Actor: alertActor(p.Alerts, p.Rule),
						Result: "dropped", Detail: "proposal " + id + ": its alerts ended before an approval"})
				}
			case p.Status == ProposalPending && !now.Before(p.Expires):
				p.Status = ProposalExpired
				hist = append(hist, HistoryEntry{Kind: HistExpired, Backend: p.Backend, Server: p.Server, Action: p.Action, Actor: alertActor(p.Alerts, p.Rule),
					Result: ProposalExpired, Detail: "proposal " + id + " was not approved in time"})
			}
		}
	})
	r.history(hist...)
}

// forgetExpiredHolds drops the holds that expired (after every socket
// handed them back).
func (r *Rebalancer) forgetExpiredHolds(now time.Time) {
	var hist []HistoryEntry
	r.store.Update(func(st *State) {
		if st.Operator == nil {
			return
		}
		for k, h := range st.Operator.Holds {
			if !h.Expires.IsZero() && !now.Before(h.Expires) {
				delete(st.Operator.Holds, k)
				ref := holdRef(k)
				hist = append(hist, HistoryEntry{Kind: HistExpired, Backend: ref.Backend, Server: ref.Server, Action: h.Action, Actor: Actor{Type: ActorSystem},
					Reason: h.Reason, Detail: "operator hold by " + h.Author + " expired; the server is lbpilot's again"})
			}
		}
	})
	r.history(hist...)
}

// history appends to the audit log; a failure is logged, never fatal.
func (r *Rebalancer) history(es ...HistoryEntry) {
	if len(es) == 0 || r.hist == nil {
		return
	}
	if err := r.hist.Append(es...); err != nil {
		r.m.historyWriteFails.Inc()
		level.Error(r.logger).Log("msg", "Writing the audit log failed", "file", r.hist.Path(), "err", err)
	}
}

// stepEntry is the history entry of an alert-driven step.
func stepEntry(socket string, s Step, outcome string) HistoryEntry {
	kind := HistApplied
	if s.Kind == StepRestore {
		kind = HistRestored
	}
	return HistoryEntry{Kind: kind, Backend: s.Ref.Backend, Server: s.Ref.Server, Action: s.Action, Actor: alertActor(s.Alerts, strings.Join(s.Rules, ",")),
		Result: outcome, Detail: s.From + " → " + s.To + " on " + socket}
}

func itoaPtr(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}

func slicesContains(ps []*Proposal, p *Proposal) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}
