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
)

// capacity is one backend's server count and usable count as HAProxy shows
// them: usable = running (or starting), not drained, not in maintenance,
// weight > 0 — whatever made it so (health checks, operators, lbpilot).
type capacity struct {
	total, usable int
}

func capacities(ss *haproxyapi.ServersState) map[string]*capacity {
	caps := map[string]*capacity{}
	for _, s := range ss.Servers {
		c := caps[s.Backend]
		if c == nil {
			c = &capacity{}
			caps[s.Backend] = c
		}
		c.total++
		// A server failing its checks is on its way down: counting it
		// would let the last healthy one be drained just before it goes.
		if s.Usable() && !s.Failing() {
			c.usable++
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
	reason  string // GuardMinReady or GuardMaxUnavailable when deferred
	detail  string
}

// runGuard lets candidates through, per backend, in order, while the
// backend stays at or above min_ready usable servers and at or below
// max_unavailable unusable ones. Restores planned in the same cycle are not
// counted as capacity: they count once HAProxy shows the server usable.
func runGuard(g *GuardConfig, caps map[string]*capacity, cands []guardCandidate) map[haproxyapi.ServerRef]guardVerdict {
	sort.Slice(cands, func(i, j int) bool {
		if !cands[i].order.Equal(cands[j].order) {
			return cands[i].order.Before(cands[j].order)
		}
		return cands[i].ref.String() < cands[j].ref.String()
	})
	out := make(map[haproxyapi.ServerRef]guardVerdict, len(cands))
	left := map[string]int{}
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
		switch {
		case after < minReady:
			out[c.ref] = guardVerdict{reason: GuardMinReady, detail: fmt.Sprintf("%d of %d servers usable, min_ready %d", usable, capc.total, minReady)}
		case unavailable > maxUnavail+1e-9:
			out[c.ref] = guardVerdict{reason: GuardMaxUnavailable, detail: fmt.Sprintf("%d of %d servers would be unusable, max_unavailable %g", capc.total-after, capc.total, maxUnavail)}
		default:
			out[c.ref] = guardVerdict{allowed: true}
			usable = after
		}
		left[c.ref.Backend] = usable
	}
	return out
}
