package rebalancer

import (
	"fmt"
	"sort"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// rescueFloor lifts the rebalancer's own drains (and maintenances) in a
// backend whose usable servers fell under min_ready without its doing:
// the guard let a server be drained while another was usable, then that
// other one failed its health check, and the backend was left with
// nothing to send new sessions to. A drained server that is healthy
// (running, with a weight) is set ready again, the latest drained first,
// until the floor holds; its alerts keep asking for the drain, which the
// guard then defers until the backend has the servers to spare. The
// restore skips min_hold: an empty backend is worse than a hot node.
func (d *decision) rescueFloor(in decideInput) {
	caps := capacities(in.Servers.all)
	planned := map[haproxyapi.ServerRef]bool{} // an admin step of this cycle already
	for _, s := range d.Steps {
		if s.Facet == FacetAdmin {
			planned[s.Ref] = true
		}
	}
	type cand struct {
		ref haproxyapi.ServerRef
		own *AdminOwn
	}
	byBackend := map[string][]cand{}
	for ref, o := range d.Owned {
		a := o.Admin
		if a == nil || a.Phase != PhaseApplied || planned[ref] {
			continue
		}
		srv, ok := in.Servers.byRef[ref]
		if !ok || !(srv.OpState == haproxyapi.OpRunning || srv.OpState == haproxyapi.OpStarting) || srv.Failing() || srv.UWeight <= 0 {
			continue // it would not be usable either once ready
		}
		byBackend[ref.Backend] = append(byBackend[ref.Backend], cand{ref, a})
	}
	backends := make([]string, 0, len(byBackend))
	for b := range byBackend {
		backends = append(backends, b)
	}
	sort.Strings(backends)
	for _, b := range backends {
		c := caps[b]
		if c == nil {
			continue
		}
		minReady, _ := in.Guard.limitsFor(b)
		missing := minReady - c.usable
		if missing <= 0 {
			continue
		}
		cs := byBackend[b]
		sort.Slice(cs, func(i, j int) bool {
			if !cs[i].own.Since.Equal(cs[j].own.Since) {
				return cs[i].own.Since.After(cs[j].own.Since)
			}
			return cs[i].ref.String() < cs[j].ref.String()
		})
		for _, x := range cs[:min(missing, len(cs))] {
			cmd, err := haproxyapi.SetServerState(x.ref, haproxyapi.StateReady)
			if err != nil {
				continue // unreachable: the ref came from HAProxy
			}
			detail := fmt.Sprintf("%d of %d servers usable, min_ready %d", c.usable, c.total, minReady)
			d.Steps = append(d.Steps, Step{Ref: x.ref, Facet: FacetAdmin, Kind: StepRestore, Action: ActReady, From: string(x.own.State),
				To: string(haproxyapi.StateReady), Cmd: cmd, Alerts: x.own.Alerts, Rules: x.own.Rules, admin: haproxyapi.StateReady})
			d.Notes = append(d.Notes, Note{Ref: x.ref, Facet: FacetAdmin, Kind: NoteRescued, From: string(x.own.State), To: string(haproxyapi.StateReady),
				Alerts: x.own.Alerts, Rules: x.own.Rules, Detail: detail})
		}
	}
}
