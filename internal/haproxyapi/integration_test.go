package haproxyapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

func startLab(t *testing.T) (*haproxytest.Instance, *Client) {
	t.Helper()
	up1, up2 := haproxytest.Listener(t), haproxytest.Listener(t)
	down := testenv.ClosedPort(t)
	_, agentPort, _ := net.SplitHostPort(haproxytest.Agent(t, "up"))
	cfg := haproxytest.Global + fmt.Sprintf(`
backend bk_web
    mode http
    balance roundrobin
    option httpchk GET /
    default-server inter 100ms fall 1 rise 1
    server web1 %[1]s check weight 100
    server web2 %[2]s check weight 50
    server web3 %[3]s check weight 10
    server web5 %[1]s check disabled

backend bk_agent
    mode http
    server app1 %[1]s check inter 100ms agent-check agent-port %[4]s agent-inter 100ms

backend bk_tcp
    mode tcp
    balance leastconn
    server tcp1 %[2]s check inter 100ms
    server tcp3 %[2]s weight 5

backend bk_static
    mode http
    balance source
    server s1 %[1]s weight 10

backend bk_track
    mode http
    server t1 %[1]s track bk_web/web1
`, up1, up2, down, agentPort)
	inst := haproxytest.Start(t, cfg)
	c, err := New(inst.Socket)
	if err != nil {
		t.Fatal(err)
	}
	return inst, c
}

// statusOf returns the status column of one server.
func statusOf(t *testing.T, c *Client, backend, server string) string {
	t.Helper()
	return columnOf(t, c, backend, server, "status")
}

// columnOf returns one show stat column of one server.
func columnOf(t *testing.T, c *Client, backend, server, column string) string {
	t.Helper()
	st, err := c.ShowStat(context.Background(), StatFilter{Proxy: backend, Types: 4})
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r < st.Rows(); r++ {
		if st.Get(r, "svname") == server {
			return st.Get(r, column)
		}
	}
	t.Fatalf("%s/%s not in show stat", backend, server)
	return ""
}

func waitStatus(t *testing.T, c *Client, backend, server string, ok func(string) bool) string {
	t.Helper()
	var s string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if s = statusOf(t, c, backend, server); ok(s) {
			return s
		}
	}
	t.Fatalf("%s/%s status stayed %q", backend, server, s)
	return s
}

func TestRealHAProxyReadsAndStatuses(t *testing.T) {
	_, c := startLab(t)
	ctx := context.Background()
	waitStatus(t, c, "bk_web", "web3", func(s string) bool { return s == "DOWN" })
	info, err := c.ShowInfo(ctx)
	if err != nil || info["Name"] != "HAProxy" {
		t.Fatalf("show info: %v %v", info, err)
	}
	st, err := c.ShowStat(ctx, StatFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"bk_web/web1": "UP", "bk_web/web3": "DOWN", "bk_web/web5": "MAINT", "bk_tcp/tcp3": "UP",
		"bk_track/t1": "UP", "bk_static/s1": "UP",
	}
	for r := 0; r < st.Rows(); r++ {
		key := st.Get(r, "pxname") + "/" + st.Get(r, "svname")
		if w, ok := want[key]; ok {
			if got := ParseStatus(st.Get(r, "status")).State; got != w {
				t.Errorf("%s: %q -> %q, want %s", key, st.Get(r, "status"), got, w)
			}
		}
		if key == "bk_tcp/tcp3" && st.Get(r, "status") != "no check" {
			t.Errorf("tcp3 status %q, want no check", st.Get(r, "status"))
		}
	}
	ss, err := c.ShowServersState(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	app1, _ := ss.Find(ServerRef{"bk_agent", "app1"})
	if !app1.AgentEnabled() {
		t.Errorf("agent not enabled on app1: %+v", app1)
	}
	web5, _ := ss.Find(ServerRef{"bk_web", "web5"})
	if web5.Admin.State() != StateMaint {
		t.Errorf("config-disabled web5: %+v", web5)
	}
}

func TestRealHAProxyStateChanges(t *testing.T) {
	inst, c := startLab(t)
	ctx := context.Background()
	web1 := ref("bk_web", "web1")
	apply := func(cmds ...Command) Results {
		t.Helper()
		res, err := c.Apply(ctx, cmds)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	if err := apply(mustState(t, web1, StateDrain)).Err(); err != nil {
		t.Fatal(err)
	}
	if s := statusOf(t, c, "bk_web", "web1"); s != "DRAIN" {
		t.Errorf("after drain: %q", s)
	}
	ss, _ := c.ShowServersState(ctx, "bk_web")
	if s, _ := ss.Find(web1); s.Admin != AdminForcedDrain || s.UWeight != 100 {
		t.Errorf("servers state after drain: %+v", s)
	}

	apply(mustState(t, web1, StateMaint))
	if s := statusOf(t, c, "bk_web", "web1"); s != "MAINT" {
		t.Errorf("after maint: %q", s)
	}
	if s := statusOf(t, c, "bk_track", "t1"); s != "MAINT (via bk_web/web1)" {
		t.Errorf("tracking server: %q", s)
	}

	apply(mustState(t, web1, StateReady))
	waitStatus(t, c, "bk_web", "web1", func(s string) bool { return ParseStatus(s).State == "UP" })

	// Exact errors, per command, in one batch; the rest still apply.
	w50, _ := SetWeight(ref("bk_web", "web1"), Weight{Value: 50, Percent: true})
	wStatic, _ := SetWeight(ref("bk_static", "s1"), Weight{Value: 5})
	gw, _ := GetWeight(web1)
	res := apply(
		mustState(t, ref("bk_web", "nosuch"), StateDrain),
		mustState(t, ref("nosuch", "web1"), StateDrain),
		w50, wStatic, gw,
		mustState(t, ref("#5", "#1"), StateDrain), // ids of a backend that may not exist: an error or a change, never a crash
	)
	wantErr := []string{"No such server.", "No such backend.", "", "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.", ""}
	for i, w := range wantErr {
		var ce *CommandError
		switch {
		case w == "" && res[i].Err != nil:
			t.Errorf("cmd %d (%s) failed: %v", i, res[i].Command, res[i].Err)
		case w != "" && (!errors.As(res[i].Err, &ce) || ce.Message != w || ce.Severity != 3):
			t.Errorf("cmd %d (%s) = %v, want %q", i, res[i].Command, res[i].Err, w)
		}
	}
	if res[4].Output != "50 (initial 100)" {
		t.Errorf("get weight after 50%% = %q", res[4].Output)
	}

	// A reload drops runtime state (no load-server-state-from-file here).
	apply(mustState(t, ref("bk_web", "web2"), StateDrain))
	inst.Reload(t)
	c2, _ := New(inst.Socket)
	ss, err := c2.ShowServersState(ctx, "bk_web")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := ss.Find(ref("bk_web", "web2")); s.Admin != 0 {
		t.Errorf("drain survived a reload: %+v", s)
	}
	if s, _ := ss.Find(web1); s.UWeight != 100 {
		t.Errorf("weight survived a reload: %+v", s)
	}
}

// slimOf returns the slim column (the server's session limit) of one server.
func slimOf(t *testing.T, c *Client, backend, server string) string {
	t.Helper()
	return columnOf(t, c, backend, server, "slim")
}

// `set maxconn server` shows as slim; 0 lifts the limit again (an empty
// slim, as without maxconn in the configuration); a reload drops it.
func TestRealHAProxySetMaxConn(t *testing.T) {
	inst, c := startLab(t)
	web1 := ref("bk_web", "web1")
	if s := slimOf(t, c, "bk_web", "web1"); s != "" {
		t.Fatalf("slim without maxconn = %q, want empty", s)
	}
	cap5, _ := SetMaxConn(web1, 5)
	if err := mustApply(t, c, cap5); err != nil {
		t.Fatal(err)
	}
	if s := slimOf(t, c, "bk_web", "web1"); s != "5" {
		t.Errorf("slim after maxconn 5 = %q", s)
	}
	lift, _ := SetMaxConn(web1, 0)
	if err := mustApply(t, c, lift); err != nil {
		t.Fatal(err)
	}
	if s := slimOf(t, c, "bk_web", "web1"); s != "" {
		t.Errorf("slim after maxconn 0 = %q, want empty (no limit)", s)
	}
	mustApply(t, c, cap5)
	inst.Reload(t)
	c2, _ := New(inst.Socket)
	if s := slimOf(t, c2, "bk_web", "web1"); s != "" {
		t.Errorf("maxconn survived a reload: slim %q", s)
	}
	bad, _ := SetMaxConn(ref("bk_web", "nosuch"), 5)
	var ce *CommandError
	if err := mustApply(t, c2, bad); !errors.As(err, &ce) || ce.Message != "No such server." {
		t.Errorf("maxconn of a missing server: %v", err)
	}
}

// mustApply sends commands and returns the first command's error.
func mustApply(t *testing.T, c *Client, cmds ...Command) error {
	t.Helper()
	res, err := c.Apply(context.Background(), cmds)
	if err != nil {
		t.Fatal(err)
	}
	return res.Err()
}

func TestRealHAProxyBatchOf250(t *testing.T) {
	up := haproxytest.Listener(t)
	var b strings.Builder
	b.WriteString(haproxytest.Global + "\nbackend bk_big\n    mode tcp\n")
	var cmds []Command
	for i := 0; i < 250; i++ {
		fmt.Fprintf(&b, "    server s%d %s\n", i, up)
		cmds = append(cmds, mustState(t, ref("bk_big", fmt.Sprintf("s%d", i)), StateDrain))
	}
	inst := haproxytest.Start(t, b.String())
	c, _ := New(inst.Socket)
	res, err := c.Apply(context.Background(), cmds)
	if err != nil || res.Err() != nil {
		t.Fatal(err, res.Err())
	}
	ss, err := c.ShowServersState(context.Background(), "bk_big")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss.Servers {
		if s.Admin != AdminForcedDrain {
			t.Fatalf("%s not drained: %+v", s.Name, s)
		}
	}
	if len(ss.Servers) != 250 {
		t.Fatalf("%d servers", len(ss.Servers))
	}
}
