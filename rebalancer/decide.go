package rebalancer

import (
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// Step kinds.
const (
	StepApply   = "apply"   // a change to a server the rebalancer did not own
	StepChange  = "change"  // drain ↔ maint, or another weight, on an owned server
	StepRestore = "restore" // back to ready / the previous weight
)

// Values of the action label of lbpilot_rebalancer_actions_total.
const (
	ActDrain         = "drain"
	ActMaint         = "maint"
	ActReady         = "ready"
	ActWeight        = "weight"
	ActRestoreWeight = "restore_weight"
)

// Step is one runtime command with what it is for and what HAProxy must
// show afterwards.
type Step struct {
	Ref    haproxyapi.ServerRef
	Facet  string
	Kind   string
	Action string // ActDrain …
	From   string
	To     string
	Cmd    haproxyapi.Command
	Alerts []string
	Rules  []string

	admin   haproxyapi.AdminState // admin facet: the forced state expected
	weight  int                   // weight facet: the uweight expected
	percent int
	prevW   int    // weight facet, StepApply: the weight before
	maxconn int    // cap facet: the session limit expected (0: none)
	prevMax int    // cap facet, StepApply: the limit before
	wants   []Want // admin and weight facets: the wants asking for the step
	reduces bool
	order   time.Time
}

// Deferral is a step the guard held back.
type Deferral struct {
	Ref    haproxyapi.ServerRef `json:"-"`
	Server string               `json:"server"`
	Facet  string               `json:"facet"`
	Action string               `json:"action"`
	Reason string               `json:"reason"`
	Detail string               `json:"detail"`
	Alerts []string             `json:"alerts"`

	// The deferred step (approval: a proposal shows the guard's verdict).
	step *Step
}

// Note kinds: things worth a log line that are not actions.
const (
	NoteConfirmed   = "confirmed"    // a pending change found in effect (after a crash or a lost read-back)
	NoteRestored    = "restored"     // a restore found in effect
	NoteReloadLost  = "reload_lost"  // HAProxy reloaded; the change is gone and will be re-planned
	NoteNotApplied  = "not_applied"  // a pending change never took effect
	NoteOperator    = "operator"     // someone else changed an owned server: released
	NoteNotOurs     = "not_ours"     // wanted, but the server is drained/maint by someone else
	NoteRefused     = "refused"      // weight action on a server with an enabled agent-check
	NoteHeld        = "held"         // restore waits for min_hold
	NoteServerGone  = "server_gone"  // an owned server is no longer in HAProxy
	NoteReleaseDone = "release_done" // the alerts of a release ended
	NoteRescued     = "rescued"      // an owned drain lifted: its backend fell under min_ready
)

// Note is an event of the decision for the audit log.
type Note struct {
	Ref    haproxyapi.ServerRef
	Facet  string
	Kind   string
	From   string
	To     string
	Alerts []string
	Rules  []string
	Detail string
}

// decideInput is everything decide needs for one socket.
type decideInput struct {
	Socket   string
	Servers  *serverIndex
	Reloaded bool
	Desires  map[haproxyapi.ServerRef]*Desire
	Owned    map[haproxyapi.ServerRef]*Ownership // copies: decide edits them
	Released map[string]*Release                 // this socket's, by releaseKey
	InForce  map[string]bool                     // incarnations of every alert in force
	Guard    *GuardConfig
	MinHold  time.Duration
	Now      time.Time
}

// decision is the outcome: the steps to send (with the ownership each one
// needs marked pending or restoring first), the guard's deferrals, the
// ownership and releases as they must be recorded before sending, and the
// notes to log.
type decision struct {
	Steps    []Step
	Deferred []Deferral
	Owned    map[haproxyapi.ServerRef]*Ownership
	Released map[string]*Release
	Notes    []Note
	NextWake time.Time
}

// decide compares what the alerts want, what the rebalancer owns and what
// HAProxy shows, for one socket. Pure: no I/O, the clock is an input.
func decide(in decideInput) *decision {
	d := &decision{Owned: in.Owned, Released: map[string]*Release{}}
	for k, r := range in.Released {
		if anyIn(r.Alerts, in.InForce) {
			d.Released[k] = r
		} else {
			d.Notes = append(d.Notes, Note{Ref: refOf(r.Backend, r.Server), Facet: r.Facet, Kind: NoteReleaseDone, Alerts: r.Alerts})
		}
	}

	// 1. Is what the rebalancer owns still what HAProxy shows?
	for _, ref := range sortedRefs(d.Owned) {
		o := d.Owned[ref]
		srv, ok := in.Servers.byRef[ref]
		if !ok {
			d.Notes = append(d.Notes, Note{Ref: ref, Kind: NoteServerGone, Detail: "server no longer in HAProxy; forgetting it"})
			delete(d.Owned, ref)
			continue
		}
		if o.Admin != nil {
			d.checkAdmin(in, o, srv)
		}
		if o.Weight != nil {
			d.checkWeight(in, o, srv)
		}
		if o.empty() {
			delete(d.Owned, ref)
		}
	}

	// 2. What should change?
	refs := map[haproxyapi.ServerRef]bool{}
	for r := range in.Desires {
		refs[r] = true
	}
	for r := range d.Owned {
		refs[r] = true
	}
	var cands []guardCandidate
	pending := map[haproxyapi.ServerRef][]int{} // steps that reduce capacity, by server
	for _, ref := range sortRefSet(refs) {
		srv, ok := in.Servers.byRef[ref]
		if !ok {
			continue
		}
		des := in.Desires[ref]
		if des == nil {
			des = &Desire{Ref: ref}
		}
		o := d.Owned[ref]
		before := len(d.Steps)
		admin := d.filterReleased(in.Socket, ref, FacetAdmin, des.Admin)
		weight := d.filterReleased(in.Socket, ref, FacetWeight, des.Weight)
		if o == nil || o.Admin == nil {
			admin = unheld(admin)
		}
		if o == nil || o.Weight == nil {
			weight = unheld(weight)
		}
		d.planAdmin(in, ref, srv, o, admin)
		d.planWeight(in, ref, srv, o, weight)
		for i := before; i < len(d.Steps); i++ {
			if d.Steps[i].reduces {
				if len(pending[ref]) == 0 {
					cands = append(cands, guardCandidate{ref: ref, order: d.Steps[i].order})
				}
				pending[ref] = append(pending[ref], i)
			}
		}
	}

	// 3. The guard: a server stops being usable only while its backend keeps
	// its floor. A server's reducing steps pass or wait together.
	if len(cands) > 0 {
		verdicts := runGuard(in.Guard, capacities(in.Servers.all), cands)
		drop := map[int]bool{}
		for ref, idx := range pending {
			v := verdicts[ref]
			if v.allowed {
				continue
			}
			for _, i := range idx {
				s := d.Steps[i]
				drop[i] = true
				d.Deferred = append(d.Deferred, Deferral{Ref: ref, Server: ref.String(), Facet: s.Facet, Action: s.Action, Reason: v.reason, Detail: v.detail, Alerts: s.Alerts, step: &s})
			}
		}
		if len(drop) > 0 {
			kept := d.Steps[:0]
			for i, s := range d.Steps {
				if !drop[i] {
					kept = append(kept, s)
				}
			}
			d.Steps = kept
		}
		sort.Slice(d.Deferred, func(i, j int) bool { return d.Deferred[i].Server < d.Deferred[j].Server })
	}
	// 4. The floor, the other way round: a backend that fell under
	// min_ready by itself (a server failed its health check after the
	// guard let another one be drained) gets the rebalancer's own drains
	// back, before anything else.
	d.rescueFloor(in)
	// Restores first: they give capacity back.
	sort.SliceStable(d.Steps, func(i, j int) bool {
		return d.Steps[i].Kind == StepRestore && d.Steps[j].Kind != StepRestore
	})
	return d
}

func (d *decision) checkAdmin(in decideInput, o *Ownership, srv *haproxyapi.ServerState) {
	a := o.Admin
	ref := o.ref()
	cur := forcedState(srv.Admin)
	switch {
	case cur == a.State:
		if a.Phase == PhasePending {
			a.Phase = PhaseApplied
			if a.Since.IsZero() {
				a.Since = in.Now
			}
			d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetAdmin, Kind: NoteConfirmed, To: string(a.State), Alerts: a.Alerts, Rules: a.Rules})
		}
	case a.Phase == PhaseRestoring && cur == haproxyapi.StateReady:
		d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetAdmin, Kind: NoteRestored, From: string(a.State), To: string(cur), Alerts: a.Alerts, Rules: a.Rules})
		o.Admin = nil
	case in.Reloaded:
		d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetAdmin, Kind: NoteReloadLost, From: string(a.State), To: string(cur), Alerts: a.Alerts, Rules: a.Rules})
		o.Admin = nil
	case a.Phase == PhasePending && cur == a.Prev:
		d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetAdmin, Kind: NoteNotApplied, From: string(a.Prev), To: string(a.State), Alerts: a.Alerts, Rules: a.Rules})
		if a.Prev == haproxyapi.StateReady {
			o.Admin = nil
		} else {
			a.State, a.Phase = a.Prev, PhaseApplied
		}
	default:
		alerts := append([]string(nil), a.Alerts...)
		if des := in.Desires[ref]; des != nil {
			alerts = union(alerts, incarnations(des.Admin))
		}
		d.release(in, ref, FacetAdmin, alerts, string(cur))
		d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetAdmin, Kind: NoteOperator, From: string(a.State), To: string(cur), Alerts: alerts, Rules: a.Rules,
			Detail: "HAProxy shows " + string(cur) + " instead of the " + string(a.State) + " lbpilot set: changed outside lbpilot, leaving it alone"})
		o.Admin = nil
	}
}

func (d *decision) checkWeight(in decideInput, o *Ownership, srv *haproxyapi.ServerState) {
	w := o.Weight
	ref := o.ref()
	cur := srv.UWeight
	itoa := strconv.Itoa
	switch {
	case cur == w.Set:
		if w.Phase == PhasePending {
			w.Phase, w.Before = PhaseApplied, nil
			if w.Since.IsZero() {
				w.Since = in.Now
			}
			d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetWeight, Kind: NoteConfirmed, To: itoa(w.Set), Alerts: w.Alerts, Rules: w.Rules})
		}
	case w.Phase == PhaseRestoring && cur == w.Prev:
		d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetWeight, Kind: NoteRestored, From: itoa(w.Set), To: itoa(cur), Alerts: w.Alerts, Rules: w.Rules})
		o.Weight = nil
	case in.Reloaded:
		d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetWeight, Kind: NoteReloadLost, From: itoa(w.Set), To: itoa(cur), Alerts: w.Alerts, Rules: w.Rules})
		o.Weight = nil
	case w.Phase == PhasePending && w.Before == nil && cur == w.Prev:
		d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetWeight, Kind: NoteNotApplied, From: itoa(w.Prev), To: itoa(w.Set), Alerts: w.Alerts, Rules: w.Rules})
		o.Weight = nil
	case w.Phase == PhasePending && w.Before != nil && cur == w.Before.Set:
		d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetWeight, Kind: NoteNotApplied, From: itoa(w.Before.Set), To: itoa(w.Set), Alerts: w.Alerts, Rules: w.Rules})
		w.Set, w.Percent, w.Phase, w.Before = w.Before.Set, w.Before.Percent, PhaseApplied, nil
	default:
		alerts := append([]string(nil), w.Alerts...)
		if des := in.Desires[ref]; des != nil {
			alerts = union(alerts, incarnations(des.Weight))
		}
		d.release(in, ref, FacetWeight, alerts, itoa(cur))
		d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetWeight, Kind: NoteOperator, From: itoa(w.Set), To: itoa(cur), Alerts: alerts, Rules: w.Rules,
			Detail: "HAProxy shows weight " + itoa(cur) + " instead of the " + itoa(w.Set) + " lbpilot set: changed outside lbpilot, leaving it alone"})
		o.Weight = nil
	}
}

func (d *decision) release(in decideInput, ref haproxyapi.ServerRef, facet string, alerts []string, observed string) {
	k := releaseKey(in.Socket, ref, facet)
	r := d.Released[k]
	if r == nil {
		r = &Release{Socket: in.Socket, Backend: ref.Backend, Server: ref.Server, Facet: facet, At: in.Now}
		d.Released[k] = r
	}
	r.Alerts = union(r.Alerts, alerts)
	r.Observed = observed
}

// filterReleased drops the wants an operator has taken the server away from.
func (d *decision) filterReleased(socket string, ref haproxyapi.ServerRef, facet string, ws []Want) []Want {
	r := d.Released[releaseKey(socket, ref, facet)]
	if r == nil {
		return ws
	}
	var out []Want
	for _, w := range ws {
		if !slices.Contains(r.Alerts, w.Incarnation) {
			out = append(out, w)
		}
	}
	return out
}

func (d *decision) planAdmin(in decideInput, ref haproxyapi.ServerRef, srv *haproxyapi.ServerState, o *Ownership, ws []Want) {
	want, who := strongestAdmin(ws)
	if o != nil && o.Admin != nil {
		a := o.Admin
		switch {
		case want == "":
			if until := a.Since.Add(in.MinHold); in.Now.Before(until) {
				d.wake(until)
				d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetAdmin, Kind: NoteHeld, From: string(a.State), To: string(haproxyapi.StateReady), Alerts: a.Alerts, Rules: a.Rules,
					Detail: "min_hold until " + until.UTC().Format(time.RFC3339)})
				return
			}
			cmd, err := haproxyapi.SetServerState(ref, haproxyapi.StateReady)
			if err != nil {
				return // unreachable: ref came from HAProxy and passed Validate
			}
			d.Steps = append(d.Steps, Step{Ref: ref, Facet: FacetAdmin, Kind: StepRestore, Action: ActReady, From: string(a.State), To: string(haproxyapi.StateReady),
				Cmd: cmd, Alerts: a.Alerts, Rules: a.Rules, admin: haproxyapi.StateReady})
		case want == a.State:
			if a.Phase == PhaseRestoring {
				a.Phase = PhaseApplied // wanted again before the restore was sent
			}
			a.Alerts, a.Rules = incarnations(who), ruleNames(who)
		default:
			cmd, err := haproxyapi.SetServerState(ref, want)
			if err != nil {
				return
			}
			d.Steps = append(d.Steps, Step{Ref: ref, Facet: FacetAdmin, Kind: StepChange, Action: string(want), From: string(a.State), To: string(want),
				Cmd: cmd, Alerts: incarnations(who), Rules: ruleNames(who), admin: want, order: earliest(who), wants: who})
		}
		return
	}
	if want == "" {
		return
	}
	if cur := srv.Admin.State(); cur != haproxyapi.StateReady {
		d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetAdmin, Kind: NoteNotOurs, From: string(cur), To: string(want), Alerts: incarnations(who), Rules: ruleNames(who),
			Detail: "server is " + string(cur) + " by someone else (operator, config, tracking or agent); not taking it over"})
		return
	}
	cmd, err := haproxyapi.SetServerState(ref, want)
	if err != nil {
		return
	}
	d.Steps = append(d.Steps, Step{Ref: ref, Facet: FacetAdmin, Kind: StepApply, Action: string(want), From: string(haproxyapi.StateReady), To: string(want),
		Cmd: cmd, Alerts: incarnations(who), Rules: ruleNames(who), admin: want, reduces: srv.Usable(), order: earliest(who), wants: who})
}

func (d *decision) planWeight(in decideInput, ref haproxyapi.ServerRef, srv *haproxyapi.ServerState, o *Ownership, ws []Want) {
	pct, who := lowestWeight(ws)
	if pct >= 0 && srv.AgentEnabled() {
		d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetWeight, Kind: NoteRefused, To: strconv.Itoa(pct) + "%", Alerts: incarnations(who), Rules: ruleNames(who),
			Detail: "the server's agent-check is enabled and would overwrite the weight; weight actions are refused"})
		pct = -1
	}
	itoa := strconv.Itoa
	if o != nil && o.Weight != nil {
		w := o.Weight
		switch {
		case pct < 0:
			if until := w.Since.Add(in.MinHold); in.Now.Before(until) {
				d.wake(until)
				d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetWeight, Kind: NoteHeld, From: itoa(w.Set), To: itoa(w.Prev), Alerts: w.Alerts, Rules: w.Rules,
					Detail: "min_hold until " + until.UTC().Format(time.RFC3339)})
				return
			}
			cmd, err := haproxyapi.SetWeight(ref, haproxyapi.Weight{Value: w.Prev})
			if err != nil {
				return
			}
			d.Steps = append(d.Steps, Step{Ref: ref, Facet: FacetWeight, Kind: StepRestore, Action: ActRestoreWeight, From: itoa(w.Set), To: itoa(w.Prev),
				Cmd: cmd, Alerts: w.Alerts, Rules: w.Rules, weight: w.Prev})
		case pct == w.Percent:
			if w.Phase == PhaseRestoring {
				w.Phase = PhaseApplied
			}
			w.Alerts, w.Rules = incarnations(who), ruleNames(who)
		default:
			target := weightOf(srv.IWeight, pct)
			cmd, err := haproxyapi.SetWeight(ref, haproxyapi.Weight{Value: pct, Percent: true})
			if err != nil {
				return
			}
			d.Steps = append(d.Steps, Step{Ref: ref, Facet: FacetWeight, Kind: StepChange, Action: ActWeight, From: itoa(w.Set), To: itoa(target),
				Cmd: cmd, Alerts: incarnations(who), Rules: ruleNames(who), weight: target, percent: pct, reduces: target == 0 && srv.Usable(), order: earliest(who)})
		}
		return
	}
	if pct < 0 {
		return
	}
	if srv.UWeight != srv.IWeight {
		// Someone else (an operator, or an agent before it was disabled)
		// set this weight: as with drain and maint, not taking it over.
		d.Notes = append(d.Notes, Note{Ref: ref, Facet: FacetWeight, Kind: NoteNotOurs, From: itoa(srv.UWeight), To: strconv.Itoa(pct) + "%", Alerts: incarnations(who), Rules: ruleNames(who),
			Detail: "weight " + itoa(srv.UWeight) + " differs from the configured " + itoa(srv.IWeight) + " (set by someone else); not taking it over"})
		return
	}
	target := weightOf(srv.IWeight, pct)
	if target == srv.UWeight {
		return
	}
	cmd, err := haproxyapi.SetWeight(ref, haproxyapi.Weight{Value: pct, Percent: true})
	if err != nil {
		return
	}
	d.Steps = append(d.Steps, Step{Ref: ref, Facet: FacetWeight, Kind: StepApply, Action: ActWeight, From: itoa(srv.UWeight), To: itoa(target),
		Cmd: cmd, Alerts: incarnations(who), Rules: ruleNames(who), weight: target, percent: pct, prevW: srv.UWeight,
		reduces: target == 0 && srv.Usable(), order: earliest(who)})
}

func (d *decision) wake(t time.Time) {
	if d.NextWake.IsZero() || t.Before(d.NextWake) {
		d.NextWake = t
	}
}

// markSteps records in the ownership what each step is about to do, before
// it is sent: a new change is "pending", a restore "restoring".
func markSteps(owned map[haproxyapi.ServerRef]*Ownership, socket string, steps []Step) {
	for _, s := range steps {
		o := owned[s.Ref]
		if o == nil {
			o = &Ownership{Socket: socket, Backend: s.Ref.Backend, Server: s.Ref.Server}
			owned[s.Ref] = o
		}
		switch s.Facet {
		case FacetAdmin:
			switch s.Kind {
			case StepApply:
				o.Admin = &AdminOwn{State: s.admin, Prev: haproxyapi.StateReady, Phase: PhasePending, Alerts: s.Alerts, Rules: s.Rules}
			case StepChange:
				o.Admin.Prev, o.Admin.State, o.Admin.Phase = o.Admin.State, s.admin, PhasePending
				o.Admin.Alerts, o.Admin.Rules = s.Alerts, s.Rules
			case StepRestore:
				o.Admin.Phase = PhaseRestoring
			}
		case FacetWeight:
			switch s.Kind {
			case StepApply:
				o.Weight = &WeightOwn{Percent: s.percent, Set: s.weight, Prev: s.prevW, Phase: PhasePending, Alerts: s.Alerts, Rules: s.Rules}
			case StepChange:
				w := o.Weight
				w.Before = &WeightPoint{Percent: w.Percent, Set: w.Set}
				w.Percent, w.Set, w.Phase, w.Alerts, w.Rules = s.percent, s.weight, PhasePending, s.Alerts, s.Rules
			case StepRestore:
				o.Weight.Phase = PhaseRestoring
			}
		case FacetCap:
			switch s.Kind {
			case StepApply:
				o.Cap = &CapOwn{Set: s.maxconn, Prev: s.prevMax, Phase: PhasePending, Alerts: s.Alerts, Rules: s.Rules}
			case StepRestore:
				o.Cap.Phase = PhaseRestoring
			}
		}
	}
}

// unheld drops the wants of resolved alerts a mass-resolve grace keeps in
// force: they hold what was done for them, they start nothing. Before,
// such an alert whose drain the guard had deferred drained its server
// seconds after it resolved, once the guard let it (control benchmark:
// wcs2 drained 4 s after its WCSCPUHigh ended, docs/rebalancer.md).
func unheld(ws []Want) []Want {
	var out []Want
	for _, w := range ws {
		if !w.Held {
			out = append(out, w)
		}
	}
	return out
}

func anyIn(xs []string, set map[string]bool) bool {
	for _, x := range xs {
		if set[x] {
			return true
		}
	}
	return false
}

func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

func sortedRefs[V any](m map[haproxyapi.ServerRef]V) []haproxyapi.ServerRef {
	out := make([]haproxyapi.ServerRef, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	sortRefs(out)
	return out
}

func sortRefSet(m map[haproxyapi.ServerRef]bool) []haproxyapi.ServerRef { return sortedRefs(m) }

func sortRefs(rs []haproxyapi.ServerRef) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Backend != rs[j].Backend {
			return rs[i].Backend < rs[j].Backend
		}
		return rs[i].Server < rs[j].Server
	})
}
