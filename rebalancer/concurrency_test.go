package rebalancer

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// TestConcurrentWebhooks: 200 webhooks at once (with the reconcile loop
// running) end in one consistent state: the same alert state a sequential
// delivery gives, and HAProxy showing exactly what that state asks for.
func TestConcurrentWebhooks(t *testing.T) {
	names := make([]string, 30)
	for i := range names {
		names[i] = fmt.Sprintf("web%02d", i)
	}
	hs := newHarness(t, "guard: {min_ready: 0}\nmass_resolve: {min_alerts: 0}\nrebalancer: {reconcile_interval: 100ms}",
		servers(map[string][]string{"be_app": names}))
	t0 := hs.clock.Now()
	rng := rand.New(rand.NewSource(42))
	bodies := make([][]byte, 200)
	for i := range bodies {
		var alerts []template.Alert
		for j := 0; j < 1+rng.Intn(4); j++ {
			k := rng.Intn(len(names))
			inc := time.Duration(rng.Intn(3)) * time.Minute // incarnations
			st := StatusFiring
			if rng.Intn(3) == 0 {
				st = StatusResolved
			}
			action := "drain"
			if k%5 == 0 {
				action = "maint"
			}
			alerts = append(alerts, alert(st, fmt.Sprintf("fp%02d", k), action, "be_app", names[k], t0.Add(inc)))
		}
		bodies[i] = body(alerts...)
	}

	ctx, cancel := context.WithCancel(context.Background())
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); _ = hs.r.Run(ctx) }()

	var wg sync.WaitGroup
	start := make(chan struct{})
	codes := make([]int, len(bodies))
	for i, b := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := http.Post(hs.srv.URL+"/api/v1/alerts", "application/json", bytes.NewReader(b))
			if err != nil {
				codes[i] = -1
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	cancel()
	<-loopDone
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("webhook %d answered %d", i, c)
		}
	}
	hs.mustReconcile()

	// Sequential reference.
	ref := NewMemoryStore(nil)
	rules := hs.cfg.CompiledRules()
	for _, b := range bodies {
		msg, err := DecodeMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		var os []Observation
		for _, a := range msg.Alerts {
			if o, rej := classify(rules, a, SourceWebhook); rej == nil {
				os = append(os, o)
			}
		}
		ref.Observe(os, t0, noMass)
	}
	if got, want := statusOf(hs.r.store), statusOf(ref); !reflect.DeepEqual(got, want) {
		t.Fatalf("concurrent state differs from sequential:\n%v\n%v", got, want)
	}
	// HAProxy shows exactly what the final alerts want.
	want := map[string]haproxyapi.AdminState{}
	ref.View(func(st *State) {
		for _, a := range st.Alerts {
			if a.Status == StatusFiring {
				s := haproxyapi.AdminState(a.Labels[LabelAction])
				if strength(s) > strength(want[a.Labels[LabelServer]]) {
					want[a.Labels[LabelServer]] = s
				}
			}
		}
	})
	for _, n := range names {
		w := want[n]
		if w == "" {
			w = haproxyapi.StateReady
		}
		if got := hs.admin("be_app", n); got != w {
			t.Errorf("%s is %s, want %s", n, got, w)
		}
	}
	// And the state file says the same after a restart.
	disk, err := OpenStore(hs.cfg.Rebalancer.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := statusOf(disk), statusOf(ref); !reflect.DeepEqual(got, want) {
		t.Fatalf("state file differs:\n%v\n%v", got, want)
	}
}
