package rebalancer

import (
	"fmt"
	"sort"
	"time"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// Guard reasons (log field and state API).
const (
	GuardMinReady       = "min_ready"
	GuardMaxUnavailable = "max_unavailable"
	GuardHeadroom       = "headroom"
)

// guardReason reports a reason the capacity guard gives (as opposed to a
// hold of another kind: approval, manual ownership).
func guardReason(reason string) bool {
	return reason == GuardMinReady || reason == GuardMaxUnavailable || reason == GuardHeadroom
}

// capacity is one backend's server count and usable count as HAProxy shows
// them: usable = running (or starting), not drained, not in maintenance,
// weight > 0 — whatever made it so (health checks, operators, lbpilot).
type capacity struct {
	total, usable int
	// weights of the usable servers: what HAProxy sends them now
	// (srv_uweight, which an agent lowers as its node fills) against what
	// they are configured with (srv_iweight).
	weights map[haproxyapi.ServerRef]serverWeight
}

type serverWeight struct{ cur, initial int }

func capacities(ss *haproxyapi.ServersState) map[string]*capacity {
	caps := map[string]*capacity{}
	for _, s := range ss.Servers {
		c := caps[s.Backend]
		if c == nil {
			c = &capacity{weights: map[haproxyapi.ServerRef]serverWeight{}}
			caps[s.Backend] = c
		}
		c.total++
		// A server failing its checks is on its way down: counting it
		// would let the last healthy one be drained just before it goes.
		if s.Usable() && !s.Failing() {
			c.usable++
			c.weights[s.Ref()] = serverWeight{cur: s.UWeight, initial: s.IWeight}
		}
	}
	return caps
}

// guardCandidate is a server that would stop being usable.
type guardCandidate struct {
	ref   haproxyapi.ServerRef
	order time.Time // earliest alert first: the first to ask is the first served
}

// guardVerdict is the outcome for one candidate.
type guardVerdict struct {
	allowed bool
	reason  string // GuardMinReady, GuardMaxUnavailable or GuardHeadroom when deferred
	detail  string
}

// runGuard lets candidates through, per backend, in order, while the
// backend stays at or above min_ready usable servers and at or below
// max_unavailable unusable ones, and while the servers that would take the
// candidate's sessions have the headroom for them (min_headroom). Restores
// planned in the same cycle are not counted as capacity: they count once
// HAProxy shows the server usable.
func runGuard(g *GuardConfig, caps map[string]*capacity, cands []guardCandidate) map[haproxyapi.ServerRef]guardVerdict {
	sort.Slice(cands, func(i, j int) bool {
		if !cands[i].order.Equal(cands[j].order) {
			return cands[i].order.Before(cands[j].order)
		}
		return cands[i].ref.String() < cands[j].ref.String()
	})
	out := make(map[haproxyapi.ServerRef]guardVerdict, len(cands))
	left := map[string]int{}
	gone := map[haproxyapi.ServerRef]bool{} // let through earlier in this pass
	for _, c := range cands {
		capc := caps[c.ref.Backend]
		if capc == nil || capc.total == 0 {
			out[c.ref] = guardVerdict{reason: GuardMinReady, detail: "backend has no servers"}
			continue
		}
		usable, ok := left[c.ref.Backend]
		if !ok {
			usable = capc.usable
		}
		minReady, maxUnavail := g.limitsFor(c.ref.Backend)
		after := usable - 1
		unavailable := float64(capc.total-after) / float64(capc.total)
		minHeadroom := g.headroomFor(c.ref.Backend)
		headroom, peers := peerHeadroom(capc, c.ref, gone)
		switch {
		case after < minReady:
			out[c.ref] = guardVerdict{reason: GuardMinReady, detail: fmt.Sprintf("%d of %d servers usable, min_ready %d", usable, capc.total, minReady)}
		case unavailable > maxUnavail+1e-9:
			out[c.ref] = guardVerdict{reason: GuardMaxUnavailable, detail: fmt.Sprintf("%d of %d servers would be unusable, max_unavailable %g", capc.total-after, capc.total, maxUnavail)}
		case minHeadroom > 0 && peers > 0 && headroom < minHeadroom-1e-9:
			out[c.ref] = guardVerdict{reason: GuardHeadroom, detail: fmt.Sprintf("the %d other usable servers are at %.0f%% of their weight, min_headroom %g: draining would only move the load", peers, 100*headroom, minHeadroom)}
		default:
			out[c.ref] = guardVerdict{allowed: true}
			usable = after
			gone[c.ref] = true
		}
		left[c.ref.Backend] = usable
	}
	return out
}

// peerHeadroom is the share of their configured weight that the servers
// which would take ref's new sessions still get from HAProxy: the sum of
// their current weights over the sum of their configured ones. An agent in
// weight mode lowers a server's weight as its node fills, so a low share
// says the others are loaded too and a drain would only move the overload
// onto them. A peer let through earlier in the same pass no longer counts.
// The weights are what HAProxy applies, so the signal holds whatever lowered
// them (an agent, an operator's `set weight`); the peers' own alerts are not
// used: an alert says something is wrong with a server, not that it is full.
// peers is the number of usable peers with a configured weight; 0 means
// there is nobody to judge (min_ready decides).
func peerHeadroom(c *capacity, ref haproxyapi.ServerRef, gone map[haproxyapi.ServerRef]bool) (headroom float64, peers int) {
	var cur, initial int
	for r, w := range c.weights {
		if r == ref || gone[r] || w.initial <= 0 {
			continue
		}
		peers++
		initial += w.initial
		cur += min(w.cur, w.initial)
	}
	if peers == 0 {
		return 1, 0
	}
	return float64(cur) / float64(initial), peers
}
