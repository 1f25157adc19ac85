package haproxy

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

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

	c, err := New(*extrasOptions(), collectors.Target{URL: inst.Socket, Labels: prometheus.Labels{"target": "lb"}}, nil)
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

// TestRealHAProxyTablesResolversListeners scrapes a real haproxy with a
// tracked stick table, a resolvers section, option socket-stats and a
// backup server, and checks the values of the families they feed.
func TestRealHAProxyTablesResolversListeners(t *testing.T) {
	up := haproxytest.Listener(t)
	httpPort := testenv.FreePort(t)
	inst := haproxytest.Start(t, haproxytest.Global+fmt.Sprintf(`
resolvers dns1
    nameserver ns1 %[2]s
    hold valid 1s

frontend fe
    mode http
    bind 127.0.0.1:%[3]d name main
    option socket-stats
    http-request track-sc0 src table tbl
    http-request return status 200

backend tbl
    stick-table type ip size 512 expire 1m store http_req_cnt

backend bk
    mode tcp
    server active1 %[1]s
    server spare %[1]s backup
    server named example.invalid:8080 resolvers dns1 init-addr none
`, up, testenv.ClosedPort(t), httpPort))
	// One connection per request: two sessions on the listener.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < 2; i++ {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", httpPort))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	c, err := New(Options{ExtraServerFamilies: true, StickTableEntries: StickTableEntries{Tables: []string{"tbl"}}}, collectors.Target{URL: inst.Socket}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `# HELP haproxy_sticktable_entry ` + tableEntryHelp + `
# TYPE haproxy_sticktable_entry gauge
haproxy_sticktable_entry{data="http_req_cnt",key="127.0.0.1",name="tbl"} 2
# HELP haproxy_sticktable_size Stick table size (maximum number of entries).
# TYPE haproxy_sticktable_size gauge
haproxy_sticktable_size{name="tbl",type="ip"} 512
# HELP haproxy_sticktable_used Entries in use in the stick table.
# TYPE haproxy_sticktable_used gauge
haproxy_sticktable_used{name="tbl",type="ip"} 1
# HELP haproxy_server_backup 1 for a backup server, 0 for an active one.
# TYPE haproxy_server_backup gauge
haproxy_server_backup{proxy="bk",server="active1"} 0
haproxy_server_backup{proxy="bk",server="named"} 0
haproxy_server_backup{proxy="bk",server="spare"} 1
# HELP haproxy_listener_sessions_total Total number of sessions.
# TYPE haproxy_listener_sessions_total counter
haproxy_listener_sessions_total{listener="main",proxy="fe"} 2
# HELP haproxy_frontend_info The frontend's mode (http, tcp) as a label; the value is 1.
# TYPE haproxy_frontend_info gauge
haproxy_frontend_info{mode="http",proxy="fe"} 1
`
	if err := testutil.CollectAndCompare(collectors.Prometheus(c), strings.NewReader(want),
		"haproxy_sticktable_entry", "haproxy_sticktable_size", "haproxy_sticktable_used", "haproxy_server_backup", "haproxy_listener_sessions_total", "haproxy_frontend_info"); err != nil {
		t.Error(err)
	}
	// The resolved server's FQDN and port, the others' address.
	_, upPort, _ := net.SplitHostPort(up)
	for srv, labels := range map[string]string{
		"named":   `address="",fqdn="example.invalid",port="8080"`,
		"active1": `address="127.0.0.1",fqdn="",port="` + upPort + `"`,
	} {
		exp := `# HELP haproxy_server_info The server's address, port and FQDN (from show servers state) as labels; the value is 1.
# TYPE haproxy_server_info gauge
haproxy_server_info{` + labels + `,proxy="bk",server="` + srv + `"} 1
`
		if err := compareOne(c, "haproxy_server_info", srv, exp); err != nil {
			t.Errorf("%s: %v", srv, err)
		}
	}
	// One sent counter per nameserver (the default section from
	// resolv.conf may add more).
	if v := gatherLabelled(t, c, "haproxy_resolver_sent", "nameserver", "ns1"); math.IsNaN(v) {
		t.Error("no haproxy_resolver_sent for dns1/ns1")
	}
}

// compareOne compares one server's series of a family.
func compareOne(c *Collector, family, server, want string) error {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.Prometheus(c))
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		var keep []*dto.Metric
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "server" && l.GetValue() == server {
					keep = append(keep, m)
				}
			}
		}
		mf.Metric = keep
		var b strings.Builder
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			return err
		}
		if b.String() != want {
			return fmt.Errorf("got\n%s\nwant\n%s", b.String(), want)
		}
		return nil
	}
	return fmt.Errorf("no %s", family)
}

func gatherLabelled(t *testing.T, c *Collector, family, label, value string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.Prometheus(c))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return math.NaN()
}
