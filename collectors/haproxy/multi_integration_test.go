package haproxy

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

// twoProcesses starts two real haproxy instances with the same backend,
// each with its own stats socket and master CLI, and a frontend on its
// own port; requests[i] HTTP requests go through instance i. Admin states
// differ between them: drained is drained in the first only, downmaint
// (a DOWN server) in maintenance in the first only, maint in both.
func twoProcesses(t *testing.T, requests [2]int) [2]*haproxytest.Instance {
	t.Helper()
	up := haproxytest.Listener(t)
	down := testenv.ClosedPort(t)
	var insts [2]*haproxytest.Instance
	for i := range insts {
		port := testenv.FreePort(t)
		insts[i] = haproxytest.Start(t, haproxytest.Global+fmt.Sprintf(`
frontend fe
    mode http
    bind 127.0.0.1:%[3]d
    default_backend bk

backend bk
    mode http
    balance roundrobin
    default-server inter 100ms fall 1 rise 1
    server up1 %[1]s check
    server down1 %[2]s check
    server drained %[1]s check
    server maint %[1]s check
    server downmaint %[2]s check
`, up, down, port))
		set := map[string]haproxyapi.AdminState{"maint": haproxyapi.StateMaint}
		if i == 0 {
			set["drained"] = haproxyapi.StateDrain
			set["downmaint"] = haproxyapi.StateMaint
		}
		cl, _ := haproxyapi.New(insts[i].Socket)
		var cmds []haproxyapi.Command
		for srv, st := range set {
			c, err := haproxyapi.SetServerState(haproxyapi.ServerRef{Backend: "bk", Server: srv}, st)
			if err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, c)
		}
		if res, err := cl.Apply(t.Context(), cmds); err != nil || res.Err() != nil {
			t.Fatal(err, res.Err())
		}
		for n := 0; n < requests[i]; n++ {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	return insts
}

func statusSeries(proc string, cur map[string]string) string {
	var b strings.Builder
	for _, srv := range []string{"down1", "downmaint", "drained", "maint", "up1"} {
		for _, st := range serverStates {
			v := 0
			if cur[srv] == st {
				v = 1
			}
			fmt.Fprintf(&b, "haproxy_server_status{%sproxy=\"bk\",server=%q,state=%q} %d\n", proc, srv, st, v)
		}
	}
	return b.String()
}

const (
	reqHead    = "# HELP haproxy_frontend_http_requests_total Total HTTP requests received.\n# TYPE haproxy_frontend_http_requests_total counter\n"
	statusHead = "# HELP haproxy_server_status Current status, one series per state (1 for the current one): DRAIN (agent) is DRAIN, MAINT (via …) is MAINT, no check is UP.\n# TYPE haproxy_server_status gauge\n"
	aggHead    = "# HELP haproxy_backend_agg_server_status Number of the backend's servers in each state.\n# TYPE haproxy_backend_agg_server_status gauge\n"
	adminHead  = "# HELP haproxy_server_admin_state Admin state from show servers state, one series per state (ready, drain, maint; 1 for the current one).\n# TYPE haproxy_server_admin_state gauge\n"
	nbprocHead = "# HELP haproxy_process_nbproc Number of worker processes (always 1 since HAProxy 2.5).\n# TYPE haproxy_process_nbproc gauge\n"
)

// mergedWant is the merged view of twoProcesses with 3 and 2 requests.
var mergedWant = reqHead + "haproxy_frontend_http_requests_total{proxy=\"fe\"} 5\n" +
	statusHead + statusSeries("", map[string]string{
	"up1": "UP", "down1": "DOWN", "drained": "UP", "maint": "MAINT", "downmaint": "MAINT",
}) + aggHead + `haproxy_backend_agg_server_status{proxy="bk",state="DOWN"} 1
haproxy_backend_agg_server_status{proxy="bk",state="DRAIN"} 0
haproxy_backend_agg_server_status{proxy="bk",state="MAINT"} 2
haproxy_backend_agg_server_status{proxy="bk",state="NOLB"} 0
haproxy_backend_agg_server_status{proxy="bk",state="UP"} 2
` + adminHead + adminSeries("", map[string]string{"up1": "ready", "down1": "ready", "drained": "ready", "maint": "maint", "downmaint": "ready"}) +
	nbprocHead + "haproxy_process_nbproc 2\n"

func adminSeries(proc string, cur map[string]string) string {
	var b strings.Builder
	for _, srv := range []string{"down1", "downmaint", "drained", "maint", "up1"} {
		for _, st := range adminStates {
			v := 0
			if cur[srv] == st {
				v = 1
			}
			fmt.Fprintf(&b, "haproxy_server_admin_state{%sproxy=\"bk\",server=%q,state=%q} %d\n", proc, srv, st, v)
		}
	}
	return b.String()
}

var multiFamilies = []string{"haproxy_frontend_http_requests_total", "haproxy_server_status", "haproxy_backend_agg_server_status", "haproxy_server_admin_state", "haproxy_process_nbproc"}

// compareEventually retries while health checks settle.
func compareEventually(t *testing.T, c *Collector, want string) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = testutil.CollectAndCompare(collectors.Prometheus(c), strings.NewReader(want), multiFamilies...); err == nil {
			return
		}
	}
	t.Fatal(err)
}

// TestRealHAProxySeveralSocketsMerged reads two real haproxy processes
// through their stats sockets, then through their master CLIs, as one:
// counters summed, a server DOWN or in MAINT only where both say so, the
// backend's per-state counts from the merged states.
func TestRealHAProxySeveralSocketsMerged(t *testing.T) {
	insts := twoProcesses(t, [2]int{3, 2})
	for name, url := range map[string]string{
		"sockets":    insts[0].Socket + "," + insts[1].Socket,
		"master CLI": "master:" + insts[0].Master + ", master:" + insts[1].Master,
	} {
		t.Run(name, func(t *testing.T) {
			c, err := New(*extrasOptions(), collectors.Target{URL: url}, nil)
			if err != nil {
				t.Fatal(err)
			}
			compareEventually(t, c, mergedWant)
		})
	}
}

// TestRealHAProxyProcessLabel keeps the processes apart on request.
func TestRealHAProxyProcessLabel(t *testing.T) {
	insts := twoProcesses(t, [2]int{3, 2})
	opts := extrasOptions()
	opts.ProcessLabel = true
	want := reqHead + "haproxy_frontend_http_requests_total{process=\"1\",proxy=\"fe\"} 3\nhaproxy_frontend_http_requests_total{process=\"2\",proxy=\"fe\"} 2\n" +
		statusHead + statusSeries(`process="1",`, map[string]string{"up1": "UP", "down1": "DOWN", "drained": "DRAIN", "maint": "MAINT", "downmaint": "MAINT"}) +
		statusSeries(`process="2",`, map[string]string{"up1": "UP", "down1": "DOWN", "drained": "UP", "maint": "MAINT", "downmaint": "DOWN"}) +
		aggHead + `haproxy_backend_agg_server_status{process="1",proxy="bk",state="DOWN"} 1
haproxy_backend_agg_server_status{process="1",proxy="bk",state="DRAIN"} 1
haproxy_backend_agg_server_status{process="1",proxy="bk",state="MAINT"} 2
haproxy_backend_agg_server_status{process="1",proxy="bk",state="NOLB"} 0
haproxy_backend_agg_server_status{process="1",proxy="bk",state="UP"} 1
haproxy_backend_agg_server_status{process="2",proxy="bk",state="DOWN"} 2
haproxy_backend_agg_server_status{process="2",proxy="bk",state="DRAIN"} 0
haproxy_backend_agg_server_status{process="2",proxy="bk",state="MAINT"} 1
haproxy_backend_agg_server_status{process="2",proxy="bk",state="NOLB"} 0
haproxy_backend_agg_server_status{process="2",proxy="bk",state="UP"} 2
` + adminHead + adminSeries(`process="1",`, map[string]string{"up1": "ready", "down1": "ready", "drained": "drain", "maint": "maint", "downmaint": "maint"}) +
		adminSeries(`process="2",`, map[string]string{"up1": "ready", "down1": "ready", "drained": "ready", "maint": "maint", "downmaint": "ready"}) +
		nbprocHead + "haproxy_process_nbproc{process=\"1\"} 1\nhaproxy_process_nbproc{process=\"2\"} 1\n"
	c, err := New(*opts, collectors.Target{URL: "master:" + insts[0].Master + "," + insts[1].Socket}, nil)
	if err != nil {
		t.Fatal(err)
	}
	compareEventually(t, c, want)
}

// TestRealHAProxyMasterFollowsReload: the master CLI entry is resolved on
// every scrape, so after a reload the new worker is read (its counters
// start again, its runtime states are the config's).
func TestRealHAProxyMasterFollowsReload(t *testing.T) {
	insts := twoProcesses(t, [2]int{3, 2})
	c, err := New(*extrasOptions(), collectors.Target{URL: "master:" + insts[0].Master + "," + insts[1].Socket}, nil)
	if err != nil {
		t.Fatal(err)
	}
	compareEventually(t, c, mergedWant)
	insts[0].Reload(t)
	// The first instance's new worker starts from the config: no
	// requests yet, every server ready; so maint is UP there, and
	// downmaint DOWN in both.
	want := reqHead + "haproxy_frontend_http_requests_total{proxy=\"fe\"} 2\n" +
		statusHead + statusSeries("", map[string]string{
		"up1": "UP", "down1": "DOWN", "drained": "UP", "maint": "UP", "downmaint": "DOWN",
	}) + aggHead + `haproxy_backend_agg_server_status{proxy="bk",state="DOWN"} 2
haproxy_backend_agg_server_status{proxy="bk",state="DRAIN"} 0
haproxy_backend_agg_server_status{proxy="bk",state="MAINT"} 0
haproxy_backend_agg_server_status{proxy="bk",state="NOLB"} 0
haproxy_backend_agg_server_status{proxy="bk",state="UP"} 3
` + adminHead + adminSeries("", map[string]string{"up1": "ready", "down1": "ready", "drained": "ready", "maint": "ready", "downmaint": "ready"}) +
		nbprocHead + "haproxy_process_nbproc 2\n"
	compareEventually(t, c, want)
}
