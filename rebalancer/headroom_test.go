package rebalancer

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

func TestGuardHeadroom(t *testing.T) {
	type srv struct {
		name        string
		cur, init   int
		down, drain bool
		failing     bool
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		guard   string
		servers []srv
		cands   []string // in alert order
		allowed []string
		reason  string // of the first deferral
	}{
		{"peer at full weight", "", []srv{{"a", 100, 100, false, false, false}, {"b", 100, 100, false, false, false}}, []string{"a"}, []string{"a"}, ""},
		{"peer loaded: drain would only move the load", "", []srv{{"a", 100, 100, false, false, false}, {"b", 40, 100, false, false, false}}, []string{"a"}, nil, GuardHeadroom},
		{"exactly min_headroom passes", "", []srv{{"a", 100, 100, false, false, false}, {"b", 50, 100, false, false, false}}, []string{"a"}, []string{"a"}, ""},
		{"weights summed by configured weight", "", []srv{{"a", 10, 100, false, false, false}, {"b", 10, 100, false, false, false}, {"c", 200, 200, false, false, false}}, []string{"a"}, []string{"a"}, ""},
		{"candidate's own weight does not count", "", []srv{{"a", 100, 100, false, false, false}, {"b", 30, 100, false, false, false}, {"c", 60, 100, false, false, false}}, []string{"a"}, nil, GuardHeadroom},
		{"drained, down and failing peers bring nothing", "", []srv{{"a", 100, 100, false, false, false}, {"b", 30, 100, false, false, false},
			{"c", 100, 100, true, false, false}, {"d", 100, 100, false, true, false}, {"e", 100, 100, false, false, true}}, []string{"a"}, nil, GuardHeadroom},
		{"a weight above the configured one counts as full", "", []srv{{"a", 100, 100, false, false, false}, {"b", 1, 300, false, false, false}, {"c", 256, 100, false, false, false}}, []string{"a"}, nil, GuardHeadroom},
		{"server let through earlier no longer a peer", "guard: {min_ready: 1}", []srv{{"a", 100, 100, false, false, false}, {"b", 100, 100, false, false, false}, {"c", 30, 100, false, false, false}},
			[]string{"a", "b"}, []string{"a"}, GuardHeadroom},
		{"disabled", "guard: {min_headroom: 0}", []srv{{"a", 100, 100, false, false, false}, {"b", 1, 100, false, false, false}}, []string{"a"}, []string{"a"}, ""},
		{"backend override", "guard: {min_headroom: 0, backends: {be: {min_headroom: 0.8}}}", []srv{{"a", 100, 100, false, false, false}, {"b", 70, 100, false, false, false}}, []string{"a"}, nil, GuardHeadroom},
		{"min_ready first", "", []srv{{"a", 100, 100, false, false, false}, {"b", 100, 100, true, false, false}}, []string{"a"}, nil, GuardMinReady},
		{"no configured weight: nothing to judge", "guard: {min_ready: 0}", []srv{{"a", 100, 100, false, false, false}, {"b", 1, 0, false, false, false}}, []string{"a"}, []string{"a"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.guard))
			if err != nil {
				t.Fatal(err)
			}
			ss := &haproxyapi.ServersState{}
			for _, s := range tt.servers {
				st := haproxyapi.ServerState{Backend: "be", Name: s.name, OpState: haproxyapi.OpRunning, UWeight: s.cur, IWeight: s.init}
				if s.down {
					st.OpState = haproxyapi.OpStopped
				}
				if s.drain {
					st.Admin = haproxyapi.AdminForcedDrain
				}
				if s.failing {
					st.CheckState, st.CheckResult = haproxyapi.CheckEnabled, haproxyapi.CheckFailed
				}
				ss.Servers = append(ss.Servers, st)
			}
			var cands []guardCandidate
			for i, n := range tt.cands {
				cands = append(cands, guardCandidate{ref: refOf("be", n), order: t0.Add(time.Duration(i) * time.Second)})
			}
			v := runGuard(&c.Guard, capacities(ss), cands)
			var allowed []string
			reason := ""
			for _, n := range tt.cands {
				vd := v[refOf("be", n)]
				switch {
				case vd.allowed:
					allowed = append(allowed, n)
				case reason == "":
					reason = vd.reason
					if vd.detail == "" {
						t.Error("deferral without detail")
					}
				}
			}
			if strings.Join(allowed, ",") != strings.Join(tt.allowed, ",") || reason != tt.reason {
				t.Fatalf("allowed %v (first deferral %q), want %v (%q)", allowed, reason, tt.allowed, tt.reason)
			}
		})
	}
}

// The agent lowers the other server's weight as its node fills: a drain
// then only moves the overload, and waits until the other has room again.
func TestGuardHeadroomDefersUntilPeerHasRoom(t *testing.T) {
	hs := newHarness(t, "", servers(map[string][]string{"be_app": {"web1", "web2"}}))
	hs.h.Operator("set weight be_app/web2 40") // as an agent's "up 40%" does
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	v := hs.r.StateView()
	d := v.Sockets[hs.h.Socket.Addr].Deferred
	if len(d) != 1 || d[0].Server != "be_app/web1" || d[0].Reason != GuardHeadroom || !strings.Contains(d[0].Detail, "40%") || !strings.Contains(d[0].Detail, "min_headroom 0.5") {
		t.Fatalf("deferred %+v", d)
	}
	hs.mustReconcile()
	if got := testutil.ToFloat64(hs.r.m.deferred); got != 2 {
		t.Fatalf("deferred counter %v, want 2 (one per cycle)", got)
	}
	if n := strings.Count(hs.logs.String(), "Action deferred by the guard"); n != 1 || !strings.Contains(hs.logs.String(), "reason=headroom") {
		t.Fatalf("deferral logged %d times:\n%s", n, hs.logs.String())
	}
	es, err := hs.r.hist.Query(HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range es {
		if e.Kind == HistDeferred && e.Server == "web1" && e.Reason == GuardHeadroom {
			found = true
		}
	}
	if !found {
		t.Fatalf("no headroom deferral in the history: %+v", es)
	}

	hs.h.Operator("set weight be_app/web2 100") // web2 has room again
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	if d := hs.r.StateView().Sockets[hs.h.Socket.Addr].Deferred; len(d) != 0 {
		t.Fatalf("still deferred: %+v", d)
	}
}

func TestManualDrainRefusedWithoutHeadroom(t *testing.T) {
	hs := newHarness(t, "", three())
	hs.h.Operator("set weight be_app/web2 20")
	hs.h.Operator("set weight be_app/web3 60")
	hs.mustReconcile()
	code, out := hs.op(http.MethodPost, "/api/v1/servers/be_app/web1/drain", obj{"reason": "r", "author": "a"})
	if code != http.StatusConflict || out["guard"] != GuardHeadroom {
		t.Fatalf("guard: %d %v", code, out)
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	hs.mustOp(http.MethodPost, "/api/v1/servers/be_app/web1/drain", obj{"reason": "r", "author": "a", "force": true})
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
}
