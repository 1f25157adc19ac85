package rebalancer

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/go-kit/log/level"
)

// DecisionRequest is the body of POST /api/v1/proposals/{id}/approve|reject.
type DecisionRequest struct {
	Author string `json:"author"`
	Reason string `json:"reason"`
}

func (r *Rebalancer) serveDecision(req *http.Request) (any, error) {
	id, verb := req.PathValue("id"), req.PathValue("verb")
	if verb != "approve" && verb != "reject" {
		return nil, notFound("unknown verb %s: want approve or reject", strconv.Quote(clip(verb, 32)))
	}
	var b DecisionRequest
	if err := decodeBody(req, &b); err != nil {
		return nil, err
	}
	if err := checkText("author", b.Author, true, maxAuthorLen); err != nil {
		return nil, err
	}
	if err := checkText("reason", b.Reason, false, maxReasonLen); err != nil {
		return nil, err
	}
	res, err := r.Decide(id, verb == "approve", strings.TrimSpace(b.Author), strings.TrimSpace(b.Reason))
	if err != nil {
		return nil, err
	}
	if verb == "approve" && res.Result == ManualApplied {
		// Apply it now rather than at the next tick; the answer says what
		// HAProxy shows (the guard and pauses still apply).
		_ = r.Reconcile(req.Context(), false)
		res.Server = r.serverView(refOf(res.Proposal.Backend, res.Proposal.Server))
	}
	return res, nil
}

// Decide approves or rejects a pending proposal. Deciding the same way
// twice changes nothing; the other way round is a conflict.
func (r *Rebalancer) Decide(id string, approve bool, author, reason string) (*WriteResult, error) {
	want := ProposalRejected
	if approve {
		want = ProposalApproved
	}
	var p *Proposal
	var aerr *apiError
	result := ManualApplied
	seq := r.store.Update(func(st *State) {
		cur := st.operator().Proposals[id]
		switch {
		case cur == nil:
			aerr = notFound("unknown proposal %s", strconv.Quote(clip(id, 32)))
			return
		case cur.Status == want:
			result = ManualUnchanged
		case cur.Status != ProposalPending:
			aerr = conflict("", "proposal %s is %s; it can no longer be %s", id, cur.Status, want)
			return
		default:
			cur.Status, cur.DecidedBy = want, author
		}
		p = cur.clone()
	})
	if aerr != nil {
		return nil, aerr
	}
	if result == ManualApplied {
		if err := r.syncOp(seq); err != nil {
			r.store.Update(func(st *State) { // not on disk: not done
				if cur := st.operator().Proposals[id]; cur != nil {
					cur.Status, cur.DecidedBy = ProposalPending, ""
				}
			})
			return nil, err
		}
		kind := HistRejected
		if approve {
			kind = HistApproved
		}
		r.history(HistoryEntry{Kind: kind, Backend: p.Backend, Server: p.Server, Action: p.Action, Actor: Actor{Type: ActorOperator, Name: author, Rule: p.Rule,
			Fingerprints: alertActor(p.Alerts, "").Fingerprints}, Reason: reason, Result: want, Detail: "proposal " + id})
		level.Info(r.logger).Log("msg", "Proposal "+want, "proposal", id, "backend", p.Backend, "server", p.Server, "action", p.Action, "author", author, "reason", reason)
	}
	pv := ProposalView{ID: p.ID, Backend: p.Backend, Server: p.Server, Action: p.Action, Weight: p.Weight, Rule: p.Rule,
		Alerts: alertActor(p.Alerts, "").Fingerprints, Guard: p.Guard, Created: p.Created, Expires: p.Expires}
	return &WriteResult{Result: result, Proposal: &pv}, nil
}
