package rebalancer

import (
	"sort"
	"strings"
	"time"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// Want is one alert's wish for one server.
type Want struct {
	Incarnation string
	Fingerprint string
	Rule        string
	Action      Action
	StartsAt    time.Time
	// Held: the alert has resolved and is kept in force by a mass-resolve
	// grace. It keeps what the rebalancer already did for it (the restore
	// waits) and never starts anything new.
	Held bool
	// SessionCap is the rule's session_cap (nil: unset, the backend's
	// guard setting decides).
	SessionCap *CapSwitch
}

// Desire collects every wish for one server of one socket.
type Desire struct {
	Ref    haproxyapi.ServerRef
	Admin  []Want // drain and maint
	Weight []Want // weight N%
}

// Unresolved is an alert in force that names no server on this socket.
type Unresolved struct {
	Fingerprint string
	Incarnation string
	Rule        string
	Reason      string
	Detail      string
}

// serverIndex finds servers by name and by address.
type serverIndex struct {
	byRef  map[haproxyapi.ServerRef]*haproxyapi.ServerState
	byHost map[string][]*haproxyapi.ServerState
	all    *haproxyapi.ServersState
}

func indexServers(ss *haproxyapi.ServersState) *serverIndex {
	ix := &serverIndex{byRef: map[haproxyapi.ServerRef]*haproxyapi.ServerState{}, byHost: map[string][]*haproxyapi.ServerState{}, all: ss}
	for i := range ss.Servers {
		s := &ss.Servers[i]
		ix.byRef[s.Ref()] = s
		for _, h := range []string{s.Addr, s.FQDN} {
			if h != "" {
				h = strings.ToLower(h)
				ix.byHost[h] = append(ix.byHost[h], s)
			}
		}
	}
	return ix
}

// Plan computes, for one socket, what the alerts in force want of which
// servers. It is a pure function of its inputs: the current rules (an
// alert is re-matched every time, so a changed rule applies to alerts
// already held), the alerts, and the socket's `show servers state`.
func Plan(rules []*Rule, alerts []*AlertRecord, ix *serverIndex) (map[haproxyapi.ServerRef]*Desire, []Unresolved) {
	desires := map[haproxyapi.ServerRef]*Desire{}
	var unresolved []Unresolved
	for _, a := range alerts {
		inc := a.incarnation()
		un := func(rule, reason, detail string) {
			unresolved = append(unresolved, Unresolved{Fingerprint: a.Fingerprint, Incarnation: inc, Rule: rule, Reason: reason, Detail: detail})
		}
		rule := matchRule(rules, a.Labels)
		if rule == nil {
			un("", ReasonNoRule, "no rule matches the alert's labels")
			continue
		}
		act, err := rule.ActionFor(a.Labels)
		if err != nil {
			un(rule.Name, ReasonInvalidAction, err.Error())
			continue
		}
		var targets []*haproxyapi.ServerState
		switch rule.target.By {
		case TargetByLabels:
			ref := haproxyapi.ServerRef{Backend: a.Labels[rule.target.BackendLabel], Server: a.Labels[rule.target.ServerLabel]}
			if err := ref.Validate(); err != nil {
				un(rule.Name, ReasonInvalidName, err.Error())
				continue
			}
			if !rule.allowsBackend(ref.Backend) {
				un(rule.Name, ReasonBackendNotAllowed, "backend "+ref.Backend)
				continue
			}
			s, ok := ix.byRef[ref]
			if !ok {
				un(rule.Name, ReasonNoServer, "no server "+ref.String())
				continue
			}
			targets = append(targets, s)
		case TargetByAddress:
			host, err := hostOf(a.Labels[rule.target.AddressLabel])
			if err != nil {
				un(rule.Name, ReasonInvalidAddress, err.Error())
				continue
			}
			for _, s := range ix.byHost[host] {
				if rule.allowsBackend(s.Backend) && s.Ref().Validate() == nil {
					targets = append(targets, s)
				}
			}
			if len(targets) == 0 {
				un(rule.Name, ReasonNoServer, "no server with address "+host)
				continue
			}
		}
		w := Want{Incarnation: inc, Fingerprint: a.Fingerprint, Rule: rule.Name, Action: act, StartsAt: a.StartsAt, Held: a.Status == StatusResolved, SessionCap: rule.sessionCap}
		for _, s := range targets {
			d := desires[s.Ref()]
			if d == nil {
				d = &Desire{Ref: s.Ref()}
				desires[s.Ref()] = d
			}
			if act.Kind == ActionWeight {
				d.Weight = append(d.Weight, w)
			} else {
				d.Admin = append(d.Admin, w)
			}
		}
	}
	for _, d := range desires {
		sortWants(d.Admin)
		sortWants(d.Weight)
	}
	return desires, unresolved
}

func sortWants(ws []Want) {
	sort.Slice(ws, func(i, j int) bool {
		if !ws[i].StartsAt.Equal(ws[j].StartsAt) {
			return ws[i].StartsAt.Before(ws[j].StartsAt)
		}
		return ws[i].Fingerprint < ws[j].Fingerprint
	})
}

// strongestAdmin returns maint over drain, and the wants asking for it.
func strongestAdmin(ws []Want) (haproxyapi.AdminState, []Want) {
	var best haproxyapi.AdminState
	var who []Want
	for _, w := range ws {
		st := w.Action.adminState()
		switch c := strength(st) - strength(best); {
		case c > 0:
			best, who = st, []Want{w}
		case c == 0:
			who = append(who, w)
		}
	}
	return best, who
}

// lowestWeight returns the smallest percentage asked for (-1 for none).
func lowestWeight(ws []Want) (int, []Want) {
	best := -1
	var who []Want
	for _, w := range ws {
		switch {
		case best < 0 || w.Action.Percent < best:
			best, who = w.Action.Percent, []Want{w}
		case w.Action.Percent == best:
			who = append(who, w)
		}
	}
	return best, who
}

func incarnations(ws []Want) []string {
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.Incarnation)
	}
	return out
}

func ruleNames(ws []Want) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range ws {
		if !seen[w.Rule] {
			seen[w.Rule] = true
			out = append(out, w.Rule)
		}
	}
	return out
}

func earliest(ws []Want) time.Time {
	var t time.Time
	for i, w := range ws {
		if i == 0 || w.StartsAt.Before(t) {
			t = w.StartsAt
		}
	}
	return t
}
