package rebalancer

import (
	"sort"
	"strings"
	"time"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// OperatorState is what operators decided: pauses, holds on servers, and
// proposals waiting for (or having had) an approval. It is part of the
// state file, so it survives restarts.
type OperatorState struct {
	// Pause is the global pause (nil: not paused).
	Pause *Pause `json:"pause,omitempty"`
	// Pauses are per-backend pauses.
	Pauses map[string]*Pause `json:"pauses,omitempty"`
	// Holds are the servers an operator took over, by "backend/server".
	Holds map[string]*Hold `json:"holds,omitempty"`
	// Proposals are actions waiting for an approval, or decided ones kept
	// until their alerts end (so a rejected action is not proposed again).
	Proposals map[string]*Proposal `json:"proposals,omitempty"`
}

// Pause stops new drains, maints and weight changes (and restores unless
// Restores is set) globally or on one backend.
type Pause struct {
	Reason   string    `json:"reason"`
	Author   string    `json:"author"`
	Since    time.Time `json:"since"`
	Expires  time.Time `json:"expires,omitzero"`
	Restores bool      `json:"restores"`
}

// Manual actions an operator can hold a server in.
const (
	HoldDrain  = "drain"
	HoldMaint  = "maint"
	HoldReady  = "ready"
	HoldWeight = "weight"
)

// Hold is an operator's decision on one server: the server stays in that
// state (on every socket) until released or expired; alerts never act on
// it meanwhile.
type Hold struct {
	Action  string    `json:"action"`
	Weight  *int      `json:"weight,omitempty"`
	Reason  string    `json:"reason"`
	Author  string    `json:"author"`
	Since   time.Time `json:"since"`
	Expires time.Time `json:"expires,omitzero"`
	Forced  bool      `json:"forced"`
}

func (h *Hold) clone() *Hold {
	c := *h
	if h.Weight != nil {
		w := *h.Weight
		c.Weight = &w
	}
	return &c
}

// same reports whether two holds ask for the same server state.
func (h *Hold) same(o *Hold) bool {
	if h.Action != o.Action {
		return false
	}
	if h.Action == HoldWeight {
		return h.Weight != nil && o.Weight != nil && *h.Weight == *o.Weight
	}
	return true
}

// adminState is the admin state a drain, maint or ready hold sets ("" for
// a weight hold).
func (h *Hold) adminState() haproxyapi.AdminState {
	switch h.Action {
	case HoldDrain:
		return haproxyapi.StateDrain
	case HoldMaint:
		return haproxyapi.StateMaint
	case HoldReady:
		return haproxyapi.StateReady
	}
	return ""
}

// reduces reports whether the hold makes a usable server unusable.
func (h *Hold) reduces() bool {
	switch h.Action {
	case HoldDrain, HoldMaint:
		return true
	case HoldWeight:
		return h.Weight != nil && *h.Weight == 0
	}
	return false
}

// inEffect reports whether HAProxy shows what the hold asks for.
func (h *Hold) inEffect(s *haproxyapi.ServerState) bool {
	if h.Action == HoldWeight {
		return h.Weight != nil && s.UWeight == *h.Weight
	}
	return forcedState(s.Admin) == h.adminState()
}

// command is the runtime command that puts a server in the held state.
func (h *Hold) command(ref haproxyapi.ServerRef) (haproxyapi.Command, error) {
	if h.Action == HoldWeight {
		return haproxyapi.SetWeight(ref, haproxyapi.Weight{Value: *h.Weight})
	}
	return haproxyapi.SetServerState(ref, h.adminState())
}

// releaseCommand hands the server back: ready again, or its configured
// weight.
func (h *Hold) releaseCommand(ref haproxyapi.ServerRef, s *haproxyapi.ServerState) (haproxyapi.Command, bool, error) {
	if h.Action == HoldWeight {
		if s.UWeight == s.IWeight {
			return haproxyapi.Command{}, false, nil
		}
		c, err := haproxyapi.SetWeight(ref, haproxyapi.Weight{Value: s.IWeight})
		return c, true, err
	}
	if forcedState(s.Admin) == haproxyapi.StateReady {
		return haproxyapi.Command{}, false, nil
	}
	c, err := haproxyapi.SetServerState(ref, haproxyapi.StateReady)
	return c, true, err
}

// Proposal statuses.
const (
	ProposalPending  = "pending"
	ProposalApproved = "approved"
	ProposalRejected = "rejected"
	ProposalExpired  = "expired"
)

// Proposal is an action that waits for an operator's approval.
type Proposal struct {
	ID      string `json:"id"`
	Backend string `json:"backend"`
	Server  string `json:"server"`
	Action  string `json:"action"`
	// Weight is the weight the action would set (weight actions).
	Weight *int   `json:"weight,omitempty"`
	Rule   string `json:"rule"`
	// Alerts are the incarnations that ask for it.
	Alerts  []string  `json:"alerts"`
	Guard   string    `json:"guard"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Status  string    `json:"status"`
	// DecidedBy is the operator who approved or rejected it.
	DecidedBy string `json:"decided_by,omitempty"`
}

func (p *Proposal) clone() *Proposal {
	c := *p
	c.Alerts = append([]string(nil), p.Alerts...)
	if p.Weight != nil {
		w := *p.Weight
		c.Weight = &w
	}
	return &c
}

// operator returns the operator state, creating it (and its maps) on
// first use; call it inside Store.Update only.
func (st *State) operator() *OperatorState {
	if st.Operator == nil {
		st.Operator = &OperatorState{}
	}
	o := st.Operator
	if o.Pauses == nil {
		o.Pauses = map[string]*Pause{}
	}
	if o.Holds == nil {
		o.Holds = map[string]*Hold{}
	}
	if o.Proposals == nil {
		o.Proposals = map[string]*Proposal{}
	}
	return o
}

// pauseFor returns the pause in force for a backend (the global one
// first), nil when none.
func (o *OperatorState) pauseFor(backend string, now time.Time) *Pause {
	if o == nil {
		return nil
	}
	if p := o.Pause; p != nil && p.active(now) {
		return p
	}
	if p := o.Pauses[backend]; p != nil && p.active(now) {
		return p
	}
	return nil
}

func (p *Pause) active(now time.Time) bool { return p.Expires.IsZero() || now.Before(p.Expires) }

func (p *Pause) clone() *Pause {
	c := *p
	return &c
}

func holdKey(ref haproxyapi.ServerRef) string { return ref.String() }

// holdRef parses a hold key (names never contain '/').
func holdRef(key string) haproxyapi.ServerRef {
	b, s, _ := strings.Cut(key, "/")
	return refOf(b, s)
}

// holdsSnapshot copies the holds (by server).
func (o *OperatorState) holdsSnapshot() map[haproxyapi.ServerRef]*Hold {
	out := map[haproxyapi.ServerRef]*Hold{}
	if o == nil {
		return out
	}
	for k, h := range o.Holds {
		out[holdRef(k)] = h.clone()
	}
	return out
}

// expiries returns the earliest expiry after now among pauses, holds and
// pending proposals (zero when none), so the loop wakes for it.
func (o *OperatorState) nextExpiry(now time.Time) time.Time {
	var t time.Time
	consider := func(e time.Time) {
		if !e.IsZero() && e.After(now) && (t.IsZero() || e.Before(t)) {
			t = e
		}
	}
	if o == nil {
		return t
	}
	if o.Pause != nil {
		consider(o.Pause.Expires)
	}
	for _, p := range o.Pauses {
		consider(p.Expires)
	}
	for _, h := range o.Holds {
		consider(h.Expires)
	}
	for _, p := range o.Proposals {
		if p.Status == ProposalPending {
			consider(p.Expires)
		}
	}
	return t
}

func sortedHoldRefs(m map[haproxyapi.ServerRef]*Hold) []haproxyapi.ServerRef {
	out := make([]haproxyapi.ServerRef, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
