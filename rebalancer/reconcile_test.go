package rebalancer

import (
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

func TestFiringDrainsResolvedRestores(t *testing.T) {
	hs := newHarness(t, "", servers(map[string][]string{"be_app": {"web1", "web2", "web3"}}))
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "aaaa000000000001", "drain", "be_app", "web1", t0)))
	if err := hs.reconcile(); err != nil {
		t.Fatal(err)
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	hs.wantAdmin("be_app", "web2", haproxyapi.StateReady)

	// A replay changes nothing and sends nothing.
	before := len(hs.setCommands())
	hs.mustPost(body(alert(StatusFiring, "aaaa000000000001", "drain", "be_app", "web1", t0)))
	if err := hs.reconcile(); err != nil {
		t.Fatal(err)
	}
	if n := len(hs.setCommands()); n != before {
		t.Fatalf("replay sent %d more commands", n-before)
	}

	hs.clock.Advance(time.Minute)
	hs.mustPost(body(alert(StatusResolved, "aaaa000000000001", "drain", "be_app", "web1", t0)))
	if err := hs.reconcile(); err != nil {
		t.Fatal(err)
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	got := strings.Join(hs.setCommands(), "\n")
	want := "set server be_app/web1 state drain\nset server be_app/web1 state ready"
	if got != want {
		t.Fatalf("commands:\n%s\nwant:\n%s", got, want)
	}
	var owned int
	hs.r.store.View(func(st *State) { owned = len(st.Owned) })
	if owned != 0 {
		t.Fatalf("%d servers still owned after restore", owned)
	}
}
