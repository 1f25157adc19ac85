package agent

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/lab"
)

// These tests run a real haproxy whose backend checks two servers with
// agent-check against two in-process agents, each reading its own lab WCS.

// labAgent is one WCS node: its lab server and the agent in front of it.
type labAgent struct {
	lab   *lab.Server
	agent *Agent
	port  int
}

func startLabAgent(t *testing.T, mode Mode) *labAgent {
	t.Helper()
	l := startLab(t, lab.Config{Kind: lab.WCS})
	p := defaultPolicy(mode)
	a, err := New(Options{Kind: WCS, Source: &WCSSource{URL: l.URL + "/?action=stat"}, Policy: p,
		// The host's own load must not move the weights under test.
		CPU:      CPUFunc(func() (float64, error) { return 10, nil }),
		CacheTTL: 100 * time.Millisecond, UpstreamTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &labAgent{lab: l, agent: a, port: ln.Addr().(*net.TCPAddr).Port}
}

// startHAProxy runs haproxy with bk_wcs/wcs1 and wcs2 checked by the two
// agents every 300 ms (wcs2's checks also send an agent-send string).
func startHAProxy(t *testing.T, a1, a2 *labAgent) *haproxytest.Instance {
	t.Helper()
	cfg := fmt.Sprintf(`
backend bk_wcs
    mode tcp
    balance roundrobin
    server wcs1 %s weight 100 check inter 300ms agent-check agent-addr 127.0.0.1 agent-port %d agent-inter 300ms
    server wcs2 %s weight 100 check inter 300ms agent-check agent-addr 127.0.0.1 agent-port %d agent-inter 300ms agent-send "hello\n"
`, haproxytest.Listener(t), a1.port, haproxytest.Listener(t), a2.port)
	return haproxytest.Start(t, haproxytest.Global+cfg)
}

// serverRow is one server's show stat columns the tests read.
type serverRow struct {
	status, weight, lastAgt, agentStatus string
}

func (r serverRow) String() string {
	return fmt.Sprintf("status=%q weight=%s agent_status=%s last_agt=%q", r.status, r.weight, r.agentStatus, r.lastAgt)
}

func showServer(t *testing.T, inst *haproxytest.Instance, server string) serverRow {
	t.Helper()
	st, err := haproxyapi.ParseStat([]byte(inst.Exec(t, "show stat")))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < st.Rows(); i++ {
		if st.Get(i, "pxname") == "bk_wcs" && st.Get(i, "svname") == server {
			return serverRow{st.Get(i, "status"), st.Get(i, "weight"), st.Get(i, "last_agt"), st.Get(i, "agent_status")}
		}
	}
	t.Fatalf("bk_wcs/%s not in show stat", server)
	return serverRow{}
}

// waitServer polls show stat until cond holds (each agent interval is
// 300 ms; the deadline leaves room for a loaded machine).
func waitServer(t *testing.T, inst *haproxytest.Instance, server, what string, cond func(serverRow) bool) serverRow {
	t.Helper()
	var r serverRow
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r = showServer(t, inst, server); cond(r) {
			return r
		}
	}
	t.Fatalf("bk_wcs/%s: never %s; last %s\n%s", server, what, r, inst.Logs())
	return r
}

func setLoad(t *testing.T, l *lab.Server, load lab.Load) {
	t.Helper()
	if err := l.SetLoad(load); err != nil {
		t.Fatal(err)
	}
}

// TestHAProxyWeightFollowsLoad: as wcs1's load rises the weight HAProxy
// shows for wcs1 falls (51 at 75% of the subscribers threshold, the floor
// of 1 beyond it) while the server stays UP; wcs2 stays at 100.
func TestHAProxyWeightFollowsLoad(t *testing.T) {
	a1, a2 := startLabAgent(t, ModeWeight), startLabAgent(t, ModeWeight)
	inst := startHAProxy(t, a1, a2)
	weightIs := func(w string) func(serverRow) bool {
		return func(r serverRow) bool { return r.status == "UP" && r.weight == w && r.agentStatus == "L7OK" }
	}
	waitServer(t, inst, "wcs1", "UP at weight 100", weightIs("100"))
	waitServer(t, inst, "wcs2", "UP at weight 100 (with agent-send)", weightIs("100"))

	for _, step := range []struct {
		load   lab.Load
		weight string
	}{
		{lab.Load{Publishers: 10, Subscribers: 75}, "51"},
		{lab.Load{Publishers: 10, Subscribers: 90, BandwidthOutMbps: 40}, "21"},
		{lab.Load{Publishers: 10, Subscribers: 400, HLS: 300}, "1"},
		{lab.Load{Publishers: 1, Subscribers: 5}, "100"},
	} {
		setLoad(t, a1.lab, step.load)
		r := waitServer(t, inst, "wcs1", "UP at weight "+step.weight, weightIs(step.weight))
		if r.lastAgt != "via agent : up" {
			t.Errorf("last_agt %q", r.lastAgt)
		}
		if r2 := showServer(t, inst, "wcs2"); r2.weight != "100" || r2.status != "UP" {
			t.Errorf("wcs2 moved: %s", r2)
		}
	}
	if n := testutil.ToFloat64(a2.agent.m.replies.WithLabelValues("up")); n < 3 {
		t.Errorf("wcs2's agent (agent-send) answered %v checks", n)
	}
}

// TestHAProxyUpDown: in updown mode wcs1 goes DOWN (agent) with the reason
// in last_agt when a threshold is reached, and comes back UP below it.
func TestHAProxyUpDown(t *testing.T) {
	a1, a2 := startLabAgent(t, ModeUpDown), startLabAgent(t, ModeUpDown)
	inst := startHAProxy(t, a1, a2)
	waitServer(t, inst, "wcs1", "UP", func(r serverRow) bool { return r.status == "UP" && r.agentStatus == "L7OK" })

	setLoad(t, a1.lab, lab.Load{Subscribers: 150, BandwidthOutMbps: 50})
	r := waitServer(t, inst, "wcs1", "DOWN (agent)", func(r serverRow) bool { return r.status == "DOWN (agent)" })
	if r.lastAgt != "via agent : down (subscribers 150/100)" || r.agentStatus != "L7STS" {
		t.Errorf("down: %s", r)
	}
	if r2 := showServer(t, inst, "wcs2"); r2.status != "UP" {
		t.Errorf("wcs2: %s", r2)
	}

	setLoad(t, a1.lab, lab.Load{Subscribers: 99})
	r = waitServer(t, inst, "wcs1", "UP again", func(r serverRow) bool { return r.status == "UP" })
	if r.weight != "100" || r.lastAgt != "via agent : up" {
		t.Errorf("back up: %s", r)
	}

	// An unreadable upstream takes the server down with a reason too.
	a1.lab.SetFault(&lab.Fault{Status: 503})
	r = waitServer(t, inst, "wcs1", "DOWN for the upstream", func(r serverRow) bool { return r.status == "DOWN (agent)" })
	if r.lastAgt != "via agent : down (upstream HTTP 503)" {
		t.Errorf("upstream down: %s", r)
	}
	a1.lab.SetFault(nil)
	waitServer(t, inst, "wcs1", "UP after the upstream recovers", func(r serverRow) bool { return r.status == "UP" })
}

// TestHAProxyRuntimeDrainStays: a drain set through the runtime socket
// while the agent runs stays: the agent's replies (up, weights) never
// touch HAProxy's admin state. The weight still follows the load under
// the drain, and `state ready` ends it.
func TestHAProxyRuntimeDrainStays(t *testing.T) {
	a1, a2 := startLabAgent(t, ModeWeight), startLabAgent(t, ModeWeight)
	inst := startHAProxy(t, a1, a2)
	waitServer(t, inst, "wcs1", "UP", func(r serverRow) bool { return r.status == "UP" && r.agentStatus == "L7OK" })

	if out := inst.Exec(t, "set server bk_wcs/wcs1 state drain"); strings.TrimSpace(out) != "" {
		t.Fatalf("set server state drain: %q", out)
	}
	replies := func() float64 { return testutil.ToFloat64(a1.agent.m.replies.WithLabelValues("up")) }
	before := replies()
	// Hold for several agent checks (HAProxy runs them about twice a
	// second with agent-inter 300ms), looking every 100 ms.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if r := showServer(t, inst, "wcs1"); r.status != "DRAIN (agent)" {
			t.Fatalf("the drain did not stay: %s", r)
		}
	}
	if n := replies() - before; n < 4 {
		t.Fatalf("the agent answered only %v checks during the drain; the test proves nothing", n)
	}

	setLoad(t, a1.lab, lab.Load{Subscribers: 75})
	waitServer(t, inst, "wcs1", "weight 51 under the drain", func(r serverRow) bool { return r.weight == "51" })
	if r := showServer(t, inst, "wcs1"); r.status != "DRAIN (agent)" {
		t.Fatalf("a weight change lifted the drain: %s", r)
	}

	inst.Exec(t, "set server bk_wcs/wcs1 state ready")
	r := waitServer(t, inst, "wcs1", "UP after state ready", func(r serverRow) bool { return r.status == "UP" })
	if r.weight != "51" {
		t.Errorf("after ready: %s", r)
	}
}
