package demo

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

func newProcs(t *testing.T) (*Procs, string) {
	t.Helper()
	dir := t.TempDir()
	return &Procs{PidFile: filepath.Join(dir, "pids"), LogDir: dir}, dir
}

// sleeper runs a shell that sleeps, with dir on its command line (as
// every process of a stack has its folder there).
func sleeper(t *testing.T, ps *Procs, dir, name, script string) *Proc {
	t.Helper()
	sh := testenv.Binary(t, "sh")
	p, err := ps.Start(name, sh, "-c", script+"; :", name, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-p.Pid(), syscall.SIGKILL) })
	return p
}

func pidLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func TestProcsStartLogStop(t *testing.T) {
	ps, dir := newProcs(t)
	a := sleeper(t, ps, dir, "a", "echo hello from a; sleep 60")
	b := sleeper(t, ps, dir, "b", "sleep 60")
	lines := pidLines(t, ps.PidFile)
	sh := testenv.Binary(t, "sh")
	want := []string{strconv.Itoa(a.Pid()) + " a " + sh, strconv.Itoa(b.Pid()) + " b " + sh}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("pid file %q, want %q", lines, want)
	}
	if ps.Get("b") != b || ps.Get("c") != nil {
		t.Error("Get")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if out, _ := os.ReadFile(a.Log); strings.Contains(string(out), "hello from a") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a's output never reached its log")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ended, _ := a.Exited(); ended {
		t.Fatal("a ended early")
	}
	ps.StopAll(5 * time.Second)
	for _, p := range []*Proc{a, b} {
		if ended, _ := p.Exited(); !ended {
			t.Errorf("%s still running", p.Name)
		}
	}
	if _, err := os.Stat(ps.PidFile); !os.IsNotExist(err) {
		t.Errorf("pid file not removed: %v", err)
	}
}

// A process that ignores SIGTERM is killed with its process group.
func TestProcsStopEscalates(t *testing.T) {
	ps, dir := newProcs(t)
	p := sleeper(t, ps, dir, "stubborn", `trap "" TERM; sleep 60`)
	time.Sleep(100 * time.Millisecond) // let the shell set its trap
	t0 := time.Now()
	ps.Stop(p, 300*time.Millisecond)
	if ended, _ := p.Exited(); !ended {
		t.Fatal("still running after Stop")
	}
	if took := time.Since(t0); took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("Stop took %s", took)
	}
	ps.Stop(p, time.Second) // stopping a stopped process is a no-op
}

func TestProcsKillRestart(t *testing.T) {
	ps, dir := newProcs(t)
	p := sleeper(t, ps, dir, "p", "sleep 60")
	first := p.Pid()
	if err := ps.Restart(p); err == nil {
		t.Error("restarted a running process")
	}
	if err := ps.Signal(p, syscall.SIGKILL, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if ended, err := p.Exited(); !ended || err == nil {
		t.Errorf("after SIGKILL: ended %v, err %v", ended, err)
	}
	if err := ps.Restart(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-p.Pid(), syscall.SIGKILL) })
	if p.Pid() == first || p.Pid() == 0 {
		t.Errorf("pid %d after restart (was %d)", p.Pid(), first)
	}
	if lines := pidLines(t, ps.PidFile); len(lines) != 1 || !strings.HasPrefix(lines[0], strconv.Itoa(p.Pid())+" p ") {
		t.Errorf("pid file after restart: %q", lines)
	}
	// Signal waits, and says so when the process does not end.
	if err := ps.Signal(p, syscall.SIGCONT, 100*time.Millisecond); err == nil {
		t.Error("Signal did not report a process still running")
	}
	ps.StopAll(5 * time.Second)
	if err := ps.Signal(p, syscall.SIGTERM, time.Second); err == nil {
		t.Error("signalled a stopped process")
	}
}

func TestProcsStartMissingProgram(t *testing.T) {
	ps, _ := newProcs(t)
	if _, err := ps.Start("ghost", "/nonexistent/ghost"); err == nil || !strings.Contains(err.Error(), "ghost") {
		t.Fatalf("start a missing program: %v", err)
	}
}

// A run that died without stopping its processes leaves them and the pid
// file; the next run stops exactly those that are still its own.
func TestStopLeftovers(t *testing.T) {
	ps, dir := newProcs(t)
	p := sleeper(t, ps, dir, "orphan", "sleep 60")
	// A foreign process recorded under a recycled pid: another program, or
	// the same program without the folder on its command line.
	other := &Procs{PidFile: filepath.Join(t.TempDir(), "pids"), LogDir: t.TempDir()}
	foreign := sleeper(t, other, "/elsewhere", "foreign", "sleep 60")
	b, err := os.ReadFile(ps.PidFile)
	if err != nil {
		t.Fatal(err)
	}
	sh := testenv.Binary(t, "sh")
	extra := strconv.Itoa(foreign.Pid()) + " foreign " + sh + "\n" +
		strconv.Itoa(os.Getpid()) + " me /usr/bin/not-this-program\n" +
		"999999999 gone " + sh + "\nnot a line\n1 init /sbin/init\n"
	if err := os.WriteFile(ps.PidFile, append(b, extra...), 0o644); err != nil {
		t.Fatal(err)
	}
	left, err := StopLeftovers(ps.PidFile, dir, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].Pid != p.Pid() || left[0].Name != "orphan" || left[0].Program != sh {
		t.Fatalf("stopped %+v, want only the orphan", left)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ended, _ := p.Exited(); ended {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the orphan is still running")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ended, _ := foreign.Exited(); ended {
		t.Error("a process that is not the stack's was stopped")
	}
	if _, err := os.Stat(ps.PidFile); !os.IsNotExist(err) {
		t.Errorf("pid file not removed: %v", err)
	}
	// No pid file: nothing to do.
	if left, err := StopLeftovers(ps.PidFile, dir, time.Second); err != nil || left != nil {
		t.Errorf("without a pid file: %v %v", left, err)
	}
	// An unreadable pid file is an error.
	if _, err := StopLeftovers(t.TempDir(), dir, time.Second); err == nil {
		t.Error("a directory as pid file: no error")
	}
	other.StopAll(time.Second)
}

func TestAlive(t *testing.T) {
	if !alive(os.Getpid()) {
		t.Error("this process is not alive")
	}
	if alive(999999999) {
		t.Error("a pid that cannot exist is alive")
	}
}

func TestPortsLayout(t *testing.T) {
	for name, p := range map[string]Ports{"default": DefaultPorts(), "from 25000": PortsFrom(25000)} {
		l := p.List()
		if len(l) != PortCount {
			t.Errorf("%s: %d ports, PortCount %d", name, len(l), PortCount)
		}
		seen := map[int]bool{}
		for _, np := range l {
			if seen[np.Port] {
				t.Errorf("%s: port %d used twice", name, np.Port)
			}
			seen[np.Port] = true
			if np.Port < 1024 || np.Port >= 32768 {
				t.Errorf("%s: port %d (%s) outside 1024..32767", name, np.Port, np.What)
			}
		}
		if name == "from 25000" {
			for i := 25000; i < 25000+PortCount; i++ {
				if !seen[i] {
					t.Errorf("PortsFrom(25000) skips %d", i)
				}
			}
		}
	}
	p := PortsFrom(25000)
	if p.LabPort("wcs1") != p.Lab || p.LabPort("emqx1") != p.Lab+4 {
		t.Errorf("lab ports: %d %d (lab %d)", p.LabPort("wcs1"), p.LabPort("emqx1"), p.Lab)
	}
	// lbpilot-lab --base-port --client-ports: the client ports follow the
	// five API ports, in server order, one per EMQX node.
	for i, name := range []string{"wcs1", "wcs2", "srs-origin1", "srs-edge1", "emqx1-node1", "emqx1-node2"} {
		if got := p.ClientPort(name); got != p.Lab+5+i {
			t.Errorf("client port %s: %d, want %d", name, got, p.Lab+5+i)
		}
	}
	// The defaults keep every earlier port; the client ports come after the APIs.
	d := DefaultPorts()
	if d.LabPort("wcs1") != 18801 || d.LabPort("emqx1") != 18805 || d.ClientPort("wcs1") != 18806 || d.ClientPort("emqx1-node2") != 18811 {
		t.Errorf("default lab ports: API %d–%d, clients %d–%d", d.LabPort("wcs1"), d.LabPort("emqx1"), d.ClientPort("wcs1"), d.ClientPort("emqx1-node2"))
	}
	for name, f := range map[string]func(){"LabPort": func() { p.LabPort("wcs3") }, "ClientPort": func() { p.ClientPort("emqx1") }} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s of an unknown name did not panic", name)
				}
			}()
			f()
		}()
	}
}

// The lab's addresses file must list the ports the configuration was
// rendered with; anything else is named.
func TestCheckLabAddresses(t *testing.T) {
	p := PortsFrom(24800)
	file := filepath.Join(t.TempDir(), "lab.json")
	// What lbpilot-lab --base-port=24805 --client-ports writes.
	good := `[
  {"name": "wcs1", "kind": "wcs", "url": "http://127.0.0.1:24805", "clients": ["ws://127.0.0.1:24810/"]},
  {"name": "wcs2", "kind": "wcs", "url": "http://127.0.0.1:24806", "clients": ["ws://127.0.0.1:24811/"]},
  {"name": "srs-origin1", "kind": "srs", "url": "http://127.0.0.1:24807", "clients": ["rtmp://127.0.0.1:24812/live"]},
  {"name": "srs-edge1", "kind": "srs", "url": "http://127.0.0.1:24808", "clients": ["http://127.0.0.1:24813"]},
  {"name": "emqx1", "kind": "emqx", "url": "http://127.0.0.1:24809", "clients": ["mqtt://127.0.0.1:24814", "mqtt://127.0.0.1:24815"]}
]`
	if p.Lab != 24805 {
		t.Fatalf("PortsFrom(24800).Lab = %d", p.Lab)
	}
	if err := checkLabAddresses(file, p); err == nil {
		t.Error("no error without the file")
	}
	for name, c := range map[string]struct{ js, want string }{
		"good":           {good, ""},
		"no client port": {strings.Replace(good, `, "clients": ["http://127.0.0.1:24813"]`, "", 1), `srs-edge1 at "http://127.0.0.1:24808", want "http://127.0.0.1:24808 http://127.0.0.1:24813"`},
		"one mqtt port":  {strings.Replace(good, `, "mqtt://127.0.0.1:24815"`, "", 1), "emqx1 at"},
		"moved":          {strings.ReplaceAll(good, "2481", "2491"), "wcs1 at"},
		"not json":       {"[", "lab.json"},
	} {
		if err := os.WriteFile(file, []byte(c.js), 0o644); err != nil {
			t.Fatal(err)
		}
		err := checkLabAddresses(file, p)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
}

func TestCheckFree(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	p := PortsFrom(26000)
	p.Prometheus = taken
	err = p.CheckFree()
	if err == nil {
		t.Fatal("a taken port passed")
	}
	want := "port " + strconv.Itoa(taken) + " (Prometheus) is taken by pid " + strconv.Itoa(os.Getpid()) + " ("
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	p = PortsFrom(26000)
	p.Exporter = p.Rebalancer
	if err := p.CheckFree(); err == nil || !strings.Contains(err.Error(), "given to both") {
		t.Errorf("duplicate port: %v", err)
	}
	p = PortsFrom(26000)
	p.MQTT = 70000
	if err := p.CheckFree(); err == nil || !strings.Contains(err.Error(), "not a TCP port") {
		t.Errorf("bad port: %v", err)
	}
	if owner := PortOwner(taken); !strings.HasPrefix(owner, "pid "+strconv.Itoa(os.Getpid())+" ") {
		t.Errorf("PortOwner(%d) = %q", taken, owner)
	}
	if owner := PortOwner(testenv.FreePort(t)); owner != "" {
		t.Errorf("owner of a free port: %q", owner)
	}
}

// Start refuses a taken port before it starts anything, and names it.
func TestStartPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sh := testenv.Binary(t, "sh")
	p := PortsFrom(27000)
	p.Exporter = l.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	_, err = Start(context.Background(), Options{Dir: dir, Repo: repo, Ports: p,
		Lbpilot: sh, Lab: sh, HAProxy: sh, Prometheus: sh, Alertmanager: sh, Promtool: sh, Amtool: sh})
	if err == nil || !strings.Contains(err.Error(), "(lbpilot exporter) is taken") {
		t.Fatalf("Start with a taken port: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pids")); !os.IsNotExist(err) {
		t.Errorf("a pid file was written: %v", err)
	}
}

func TestStartMissingPrograms(t *testing.T) {
	_, err := Start(context.Background(), Options{Dir: t.TempDir(), Repo: repo, Ports: PortsFrom(27000),
		Lbpilot: "/nonexistent/lbpilot", Lab: "/nonexistent/lbpilot-lab", HAProxy: "sh", Prometheus: "sh", Alertmanager: "sh", Promtool: "sh", Amtool: "sh"})
	if err == nil || !strings.Contains(err.Error(), "missing programs: lbpilot, lbpilot-lab") || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("Start without lbpilot: %v", err)
	}
}

func TestFreePorts(t *testing.T) {
	p, err := FreePorts()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckFree(); err != nil {
		t.Errorf("FreePorts gave a block that is not free: %v", err)
	}
	if p.HAProxyStats < 20000 || p.Alertmanager >= 32768 {
		t.Errorf("block %d–%d is not below the ephemeral range", p.HAProxyStats, p.Alertmanager)
	}
}

func TestBuildProgramsNamesTheFailure(t *testing.T) {
	goBin := testenv.Binary(t, "go")
	_, _, err := BuildPrograms(context.Background(), goBin, t.TempDir(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "go build ./cmd/lbpilot ./cmd/lbpilot-lab in ") {
		t.Fatalf("building in an empty folder: %v", err)
	}
}
