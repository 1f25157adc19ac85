package haproxy

import (
	"context"
	"fmt"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

// TestRealHAProxyStates scrapes a real haproxy whose servers are up, down,
// drained, in maintenance, agent-checked, and drained while down, and
// checks each one's status and admin state series.
func TestRealHAProxyStates(t *testing.T) {
	up := haproxytest.Listener(t)
	down := testenv.ClosedPort(t)
	agent := haproxytest.Agent(t, "up 50%")
	_, agentPort, _ := net.SplitHostPort(agent)
	inst := haproxytest.Start(t, haproxytest.Global+fmt.Sprintf(`
backend bk
    mode tcp
    default-server inter 100ms fall 1 rise 1
    server up1 %[1]s check
    server down1 %[2]s check
    server drained %[1]s check
    server maint %[1]s check
    server downdrained %[2]s check
    server agent1 %[1]s check weight 100 agent-check agent-port %[3]s agent-inter 100ms
    server nocheck %[1]s
`, up, down, agentPort))
	cl, _ := haproxyapi.New(inst.Socket)
	ctx := context.Background()
	var cmds []haproxyapi.Command
	for srv, st := range map[string]haproxyapi.AdminState{"drained": haproxyapi.StateDrain, "maint": haproxyapi.StateMaint, "downdrained": haproxyapi.StateDrain, "agent1": haproxyapi.StateDrain} {
		c, err := haproxyapi.SetServerState(haproxyapi.ServerRef{Backend: "bk", Server: srv}, st)
		if err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	if res, err := cl.Apply(ctx, cmds); err != nil || res.Err() != nil {
		t.Fatal(err, res.Err())
	}

	c, err := New(*DefaultOptions(), collectors.Target{URL: inst.Socket, Labels: prometheus.Labels{"target": "lb"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `# HELP haproxy_server_admin_state Admin state from show servers state, one series per state (ready, drain, maint; 1 for the current one).
# TYPE haproxy_server_admin_state gauge
` + series("haproxy_server_admin_state", map[string]string{
		"up1": "ready", "down1": "ready", "drained": "drain", "maint": "maint", "downdrained": "drain", "agent1": "drain", "nocheck": "ready",
	}, adminStates) + `# HELP haproxy_server_status Current status, one series per state (1 for the current one): DRAIN (agent) is DRAIN, MAINT (via …) is MAINT, no check is UP.
# TYPE haproxy_server_status gauge
` + series("haproxy_server_status", map[string]string{
		"up1": "UP", "down1": "DOWN", "drained": "DRAIN", "maint": "MAINT", "downdrained": "DOWN", "agent1": "DRAIN", "nocheck": "UP",
	}, serverStates)
	// Health checks need a few intervals to settle; retry until they have.
	var lastErr error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		lastErr = testutil.CollectAndCompare(collectors.Prometheus(c), strings.NewReader(want), "haproxy_server_status", "haproxy_server_admin_state")
		if lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatal(lastErr)
	}
	// The agent's "50%" becomes agent1's effective weight (drain leaves
	// the weight column alone).
	var w float64
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if w = gatherValue(t, c, "haproxy_server_weight", "agent1"); w == 50 {
			return
		}
	}
	t.Fatalf("agent1 weight = %v, want 50 from the agent's reply", w)
}

// gatherValue returns the value of family name for one server.
func gatherValue(t *testing.T, c *Collector, name, server string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.Prometheus(c))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "server" && l.GetValue() == server {
					return value(m)
				}
			}
		}
	}
	return math.NaN()
}

func series(name string, cur map[string]string, states []string) string {
	var b strings.Builder
	for _, srv := range []string{"agent1", "down1", "downdrained", "drained", "maint", "nocheck", "up1"} {
		for _, st := range states {
			v := 0
			if cur[srv] == st {
				v = 1
			}
			fmt.Fprintf(&b, "%s{proxy=\"bk\",server=%q,state=%q,target=\"lb\"} %d\n", name, srv, st, v)
		}
	}
	return b.String()
}
