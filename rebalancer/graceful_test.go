package rebalancer

import (
	"net/http"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

func TestGracefulMaintWaitsForSessions(t *testing.T) {
	hs := newHarness(t, "rebalancer: {graceful_maint_timeout: 10m}", three())
	hs.h.SetSessions("be_app", "web1", 5)
	hs.h.SetSessions("be_app", "web2", 7)
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "maint", "be_app", "web1", t0), alert(StatusFiring, "f2", "maint", "be_app", "web2", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain) // drained first
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain) // sessions left
	v := hs.r.StateView()
	var p *MaintProgress
	var deferred string
	for _, s := range v.Servers {
		if s.Server == "web1" {
			p, deferred = s.MaintProgress, s.Deferred
		}
	}
	if p == nil || p.Sessions != 5 || !p.Deadline.Equal(t0.Add(10*time.Minute)) || deferred == "" {
		t.Fatalf("progress %+v, deferred %q", p, deferred)
	}
	// web1's sessions end: maint at once; web2 waits for its deadline.
	hs.h.SetSessions("be_app", "web1", 0)
	hs.clock.Advance(time.Minute)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateMaint)
	hs.wantAdmin("be_app", "web2", haproxyapi.StateDrain)
	hs.clock.Advance(10 * time.Minute)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web2", haproxyapi.StateMaint)
	// The alerts end: both back to ready.
	hs.mustPost(body(alert(StatusResolved, "f1", "maint", "be_app", "web1", t0), alert(StatusResolved, "f2", "maint", "be_app", "web2", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	hs.wantAdmin("be_app", "web2", haproxyapi.StateReady)
}

func TestGracefulManualMaint(t *testing.T) {
	hs := newHarness(t, "rebalancer: {graceful_maint_timeout: 5m}", three())
	hs.h.SetSessions("be_app", "web3", 2)
	hs.mustReconcile()
	out := hs.mustOp(http.MethodPost, "/api/v1/servers/be_app/web3/maint", obj{"reason": "disk", "author": "alice"})
	if out["result"] != ManualApplied {
		t.Fatal(out)
	}
	hs.wantAdmin("be_app", "web3", haproxyapi.StateDrain)
	if out := hs.mustOp(http.MethodPost, "/api/v1/servers/be_app/web3/maint", obj{"reason": "disk", "author": "alice"}); out["result"] != ManualUnchanged {
		t.Fatalf("replay while draining: %v", out)
	}
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web3", haproxyapi.StateDrain)
	hs.clock.Advance(6 * time.Minute)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web3", haproxyapi.StateMaint)
}

func TestMaintWithoutGracefulIsImmediate(t *testing.T) {
	hs := newHarness(t, "", three())
	hs.h.SetSessions("be_app", "web1", 5)
	hs.mustPost(body(alert(StatusFiring, "f1", "maint", "be_app", "web1", hs.clock.Now())))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateMaint)
}
