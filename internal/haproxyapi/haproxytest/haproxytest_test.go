package haproxytest

import (
	"bytes"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

func send(t *testing.T, addr, line string) string {
	t.Helper()
	c, err := net.Dial("unix", strings.TrimPrefix(addr, "unix:"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	_, _ = c.Write([]byte(line + "\n"))
	var b bytes.Buffer
	_, _ = b.ReadFrom(c)
	return b.String()
}

// TestStatefulFakeSpeaksLikeHAProxy checks the fake's answers against the
// exact bytes HAProxy 2.6 printed for the same commands (the captures in
// ../shared/fixtures/haproxy: set_server_*.txt, get_weight_*.txt,
// severity_output_number_multi.txt).
func TestStatefulFakeSpeaksLikeHAProxy(t *testing.T) {
	h := NewHAProxy(t, []Server{{Backend: "bk_web", Name: "web1", Up: true}, {Backend: "bk_web", Name: "web2", Up: true, IWeight: 50, UWeight: 50}, {Backend: "bk_static", Name: "s1", Up: true, StaticLB: true, IWeight: 10, UWeight: 10}})
	tests := []struct{ line, want string }{
		{"set server bk_web/web1 state drain", "\n"},
		{"set server bk_web/nonexistent state drain", "No such server.\n\n"},
		{"set server nonexistent/x state drain", "No such backend.\n\n"},
		{"set server bk_web state drain", "Require 'backend/server'.\n\n"},
		{"set server bk_web/web1 state DRAIN", "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"},
		{"get weight bk_web/web1", "100 (initial 100)\n\n"},
		{"set weight bk_web/web2 50%", "\n"},
		{"get weight bk_web/web2", "25 (initial 50)\n\n"},
		{"set weight bk_web/web1 300", "Absolute weight can only be between 0 and 256 inclusive.\n\n"},
		{"set weight bk_static/s1 5", "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n\n"},
		{"set severity-output number;set server bk_web/nosuch state drain;set server bk_web/web1 state ready", "\n[3]: No such server.\n\n\n"},
		{"show servers state nosuch", "Can't find backend.\n\n"},
	}
	for _, tt := range tests {
		if got := send(t, h.Socket.Addr, tt.line); got != tt.want {
			t.Errorf("%q:\n got %q\nwant %q", tt.line, got, tt.want)
		}
	}
	if s, _ := h.Server("bk_web", "web1"); s.Admin != 0 {
		t.Errorf("web1 admin = %d after drain then ready", s.Admin)
	}
}

func TestStatefulFakeReloadDownAndOperator(t *testing.T) {
	h := NewHAProxy(t, []Server{{Backend: "bk", Name: "a", Up: true}})
	send(t, h.Socket.Addr, "set server bk/a state maint")
	if !strings.Contains(send(t, h.Socket.Addr, "show stat"), "bk,a,0,0,,0,MAINT,") {
		t.Error("show stat does not show MAINT")
	}
	h.Reload()
	if s, _ := h.Server("bk", "a"); s.Admin != 0 {
		t.Error("Reload kept runtime state")
	}
	if !strings.Contains(send(t, h.Socket.Addr, "show info"), "Pid: 1001") {
		t.Error("Reload did not change the pid")
	}
	h.SetDown(true)
	if out := send(t, h.Socket.Addr, "show info"); out != "" {
		t.Errorf("a down HAProxy answered %q", out)
	}
	h.SetDown(false)
	h.Operator("set server bk/a state drain")
	if s, _ := h.Server("bk", "a"); s.Admin != 0x08 {
		t.Error("Operator change not applied")
	}
	if cmds := h.Commands(); len(cmds) != 3 {
		t.Errorf("commands over the socket = %v (operator changes are not socket commands)", cmds)
	}
	h.SetUp("bk", "a", false)
	if !strings.Contains(send(t, h.Socket.Addr, "show servers state bk"), "bk 1 a 127.0.0.1 0 8") {
		t.Error("show servers state does not show op state 0 and drain")
	}
}

func TestRealHAProxyRunner(t *testing.T) {
	testenv.Binary(t, "haproxy")
	inst := Start(t, Global+"\nbackend bk\n    mode tcp\n    server a "+Listener(t)+"\n")
	if !strings.Contains(inst.Exec(t, "show servers state bk"), " bk ") {
		t.Fatal("no backend bk")
	}
	old := inst.Pid(t)
	inst.Reload(t)
	if inst.Pid(t) == old {
		t.Fatal("reload kept the worker")
	}
	inst.Stop(t)
	if _, err := net.Dial("unix", inst.SocketPath()); err == nil {
		t.Fatal("socket still answers after Stop")
	}
	inst.Restart(t)
	if inst.Pid(t) == 0 {
		t.Fatal("no worker after Restart")
	}
	if got := send(t, "unix:"+inst.SocketPath(), "show cli level"); !strings.Contains(got, "admin") {
		t.Errorf("socket level = %q, want admin", got)
	}
	agent := Agent(t, "up 42%")
	c, err := net.Dial("tcp", agent)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	_, _ = b.ReadFrom(c)
	if b.String() != "up 42%\n" {
		t.Errorf("agent said %q", b.String())
	}
}

// A paced reply arrives whole, a chunk per pace (so not sooner than the
// chunks' pauses add up to), and says when its last byte was written.
func TestPacedReply(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", 10))
	var written atomic.Int64
	s := NewSocket(t, func(string) Reply {
		return Reply{Data: data, Chunk: 10, Pace: 5 * time.Millisecond, Written: func() { written.Store(time.Now().UnixNano()) }}
	})
	start := time.Now()
	got := send(t, s.Addr, "show stat")
	took := time.Since(start)
	if got != string(data) {
		t.Fatalf("got %q", got)
	}
	if took < 45*time.Millisecond { // nine pauses of 5 ms between ten chunks
		t.Errorf("the reply came in %v, before its pace allows", took)
	}
	if w := written.Load(); w == 0 || time.Unix(0, w).Before(start.Add(45*time.Millisecond)) {
		t.Errorf("Written called at %v, want after the last chunk", time.Unix(0, w).Sub(start))
	}
}
