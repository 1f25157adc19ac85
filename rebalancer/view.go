package rebalancer

import (
	"sort"
	"time"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// PausedView is the pause part of the state view.
type PausedView struct {
	Global   *Pause            `json:"global"`
	Backends map[string]*Pause `json:"backends"`
}

// ServerView is one server of one socket as the page shows it: what
// HAProxy shows, who owns it, and what acts or waits on it.
type ServerView struct {
	Backend      string `json:"backend"`
	Server       string `json:"server"`
	Socket       string `json:"socket"`
	HAProxyState string `json:"haproxy_state"`
	Weight       int    `json:"weight"`
	// Owner is "alert" (lbpilot changed it for alerts), "operator" (held
	// through the API) or "" (nobody).
	Owner         string         `json:"owner"`
	Hold          *Hold          `json:"hold"`
	Alerts        []string       `json:"alerts"`
	Deferred      string         `json:"deferred,omitempty"`
	MaintProgress *MaintProgress `json:"maint_progress,omitempty"`
}

// MaintProgress is a graceful maintenance under way: drained, waiting for
// the sessions to end (or the deadline).
type MaintProgress struct {
	Sessions int       `json:"sessions"`
	Since    time.Time `json:"since"`
	Deadline time.Time `json:"deadline"`

	socket string
}

// ProposalView is a pending proposal of the state view.
type ProposalView struct {
	ID      string    `json:"id"`
	Backend string    `json:"backend"`
	Server  string    `json:"server"`
	Action  string    `json:"action"`
	Weight  *int      `json:"weight,omitempty"`
	Rule    string    `json:"rule"`
	Alerts  []string  `json:"alerts"`
	Guard   string    `json:"guard"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// Owners of a server.
const (
	OwnerAlert    = "alert"
	OwnerOperator = "operator"
)

// haproxyStateName is the state shown for a server: MAINT and DRAIN by
// admin flags, else DOWN, NOLB or READY by the operational state.
func haproxyStateName(s *haproxyapi.ServerState) string {
	switch {
	case s.Admin.Maint():
		return "MAINT"
	case s.Admin.Drain():
		return "DRAIN"
	case s.OpState == haproxyapi.OpStopped:
		return "DOWN"
	case s.OpState == haproxyapi.OpStopping:
		return "NOLB"
	}
	return "READY"
}

// operatorView fills the pause, server and proposal parts of the view.
func (r *Rebalancer) operatorView(v *StateView, now time.Time) {
	v.Paused = PausedView{Backends: map[string]*Pause{}}
	v.Servers = []ServerView{}
	v.Proposals = []ProposalView{}
	holds := map[haproxyapi.ServerRef]*Hold{}
	owned := map[string]bool{}
	r.store.View(func(st *State) {
		for k := range st.Owned {
			owned[k] = true
		}
		o := st.Operator
		if o == nil {
			return
		}
		if o.Pause != nil && o.Pause.active(now) {
			v.Paused.Global = o.Pause.clone()
		}
		for b, p := range o.Pauses {
			if p.active(now) {
				v.Paused.Backends[b] = p.clone()
			}
		}
		holds = o.holdsSnapshot()
		for _, k := range sortedKeys(o.Proposals) {
			p := o.Proposals[k]
			if p.Status != ProposalPending {
				continue
			}
			pv := ProposalView{ID: p.ID, Backend: p.Backend, Server: p.Server, Action: p.Action, Weight: p.Weight, Rule: p.Rule,
				Alerts: alertActor(p.Alerts, "").Fingerprints, Guard: p.Guard, Created: p.Created, Expires: p.Expires}
			if pv.Alerts == nil {
				pv.Alerts = []string{}
			}
			v.Proposals = append(v.Proposals, pv)
		}
	})
	progress := r.maintProgress()
	r.viewMu.Lock()
	defer r.viewMu.Unlock()
	for _, name := range sortedKeys(r.sockState) {
		ss := r.sockState[name]
		if ss.servers == nil {
			continue
		}
		deferred := map[haproxyapi.ServerRef]string{}
		for _, d := range ss.Deferred {
			if _, ok := deferred[d.Ref]; !ok {
				deferred[d.Ref] = d.Reason + ": " + d.Detail
			}
		}
		for i := range ss.servers.Servers {
			s := &ss.servers.Servers[i]
			ref := s.Ref()
			sv := ServerView{Backend: s.Backend, Server: s.Name, Socket: name, HAProxyState: haproxyStateName(s), Weight: s.UWeight,
				Alerts: append([]string{}, ss.alerts[ref]...), Deferred: deferred[ref], MaintProgress: progress[ownKey(name, ref)]}
			sort.Strings(sv.Alerts)
			if h := holds[ref]; h != nil {
				sv.Owner, sv.Hold = OwnerOperator, h
			} else if owned[ownKey(name, ref)] {
				sv.Owner = OwnerAlert
			}
			v.Servers = append(v.Servers, sv)
		}
	}
}

// serverView returns one server's view on the first socket that has it.
func (r *Rebalancer) serverView(ref haproxyapi.ServerRef) *ServerView {
	var v StateView
	r.operatorView(&v, r.now())
	for i := range v.Servers {
		if v.Servers[i].Backend == ref.Backend && v.Servers[i].Server == ref.Server {
			return &v.Servers[i]
		}
	}
	return nil
}

// knownServer reports whether the last cycle saw a server (or a backend,
// when server is ""), and whether any socket was read at all.
func (r *Rebalancer) knownServer(backend, server string) (found, anyRead bool) {
	r.viewMu.Lock()
	defer r.viewMu.Unlock()
	for _, ss := range r.sockState {
		if ss.servers == nil {
			continue
		}
		anyRead = true
		for i := range ss.servers.Servers {
			s := &ss.servers.Servers[i]
			if s.Backend == backend && (server == "" || s.Name == server) {
				return true, true
			}
		}
	}
	return false, anyRead
}
