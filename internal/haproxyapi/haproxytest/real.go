package haproxytest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

// Instance is a real haproxy process started by a test.
type Instance struct {
	Dir     string // working directory (config, pid file, sockets)
	Socket  string // "unix:<dir>/admin.sock", level admin
	Master  string // "unix:<dir>/master.sock": the master CLI (haproxy -W -S)
	Config  string // path of the rendered config
	cmd     *exec.Cmd
	stderr  *testenv.SyncBuffer // haproxy writes it while a test may read it (Logs)
	waitErr chan error
}

// Global is the global section every test config starts with: an admin
// socket at {{.Dir}}/admin.sock and a server-state file, no daemon.
const Global = `global
    stats socket {{.Dir}}/admin.sock mode 600 level admin
    stats timeout 30s
    pidfile {{.Dir}}/haproxy.pid
    server-state-file {{.Dir}}/server-state

defaults
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout check 2s
`

// Start renders the config template (fields: .Dir) and runs
// `haproxy -W -db -f <config>` until the test ends. It fails in CI, and
// skips elsewhere, when haproxy is not installed.
func Start(t testing.TB, config string) *Instance {
	t.Helper()
	bin := testenv.Binary(t, "haproxy")
	dir := shortTempDir(t)
	inst := &Instance{Dir: dir, Socket: "unix:" + filepath.Join(dir, "admin.sock"), Master: "unix:" + filepath.Join(dir, "master.sock"), Config: filepath.Join(dir, "haproxy.cfg")}
	tmpl, err := template.New("cfg").Parse(config)
	if err != nil {
		t.Fatalf("haproxy config template: %v", err)
	}
	var cfg bytes.Buffer
	if err := tmpl.Execute(&cfg, inst); err != nil {
		t.Fatalf("haproxy config template: %v", err)
	}
	if err := os.WriteFile(inst.Config, cfg.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-q", "-f", inst.Config).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c rejected the test config: %v\n%s\n%s", err, out, cfg.String())
	}
	inst.stderr = &testenv.SyncBuffer{}
	inst.cmd = exec.Command(bin, "-W", "-db", "-S", inst.masterSocket(), "-f", inst.Config)
	inst.cmd.Dir = dir
	inst.cmd.Stdout = inst.stderr
	inst.cmd.Stderr = inst.stderr
	inst.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := inst.cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	inst.waitErr = make(chan error, 1)
	go func() { inst.waitErr <- inst.cmd.Wait() }()
	t.Cleanup(inst.stop)
	inst.waitSocket(t, 0)
	inst.waitMaster(t)
	return inst
}

// waitMaster waits until the master CLI accepts connections.
func (i *Instance) waitMaster(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("unix", i.masterSocket(), 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("haproxy master CLI %s not ready in time\n%s", i.Master, i.Logs())
}

// SocketPath returns the admin socket's filesystem path.
func (i *Instance) SocketPath() string { return strings.TrimPrefix(i.Socket, "unix:") }

// Logs returns what haproxy printed so far.
func (i *Instance) Logs() string { return i.stderr.String() }

// Pid returns the worker's pid from `show info`.
func (i *Instance) Pid(t testing.TB) int {
	t.Helper()
	out := i.Exec(t, "show info")
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "Pid: "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatalf("no Pid in show info: %q", out)
	return 0
}

// Exec sends one raw line to the admin socket and returns the output.
func (i *Instance) Exec(t testing.TB, line string) string {
	t.Helper()
	c, err := net.DialTimeout("unix", i.SocketPath(), 2*time.Second)
	if err != nil {
		t.Fatalf("dial haproxy socket: %v\n%s", err, i.Logs())
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	_, _ = b.ReadFrom(c)
	return b.String()
}

func (i *Instance) masterSocket() string { return filepath.Join(i.Dir, "master.sock") }

// Reload asks the master for a graceful reload over its CLI (which drops
// runtime state unless the config loads a server-state file) and waits
// until a new worker answers. The master CLI is used rather than SIGUSR2:
// a signal sent right after start-up can arrive before the master
// listens for it.
func (i *Instance) Reload(t testing.TB) {
	t.Helper()
	old := i.Pid(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("unix", i.masterSocket(), time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Write([]byte("reload\n"))
			var b bytes.Buffer
			_, _ = b.ReadFrom(c)
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy master CLI: %v\n%s", err, i.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	i.waitSocket(t, old)
}

// Stop terminates haproxy (its socket disappears) until Restart.
func (i *Instance) Stop(t testing.TB) {
	t.Helper()
	i.stop()
}

// Restart starts haproxy again with the same config after Stop.
func (i *Instance) Restart(t testing.TB) {
	t.Helper()
	bin := testenv.Binary(t, "haproxy")
	i.cmd = exec.Command(bin, "-W", "-db", "-S", i.masterSocket(), "-f", i.Config)
	i.cmd.Dir = i.Dir
	i.cmd.Stdout = i.stderr
	i.cmd.Stderr = i.stderr
	i.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := i.cmd.Start(); err != nil {
		t.Fatalf("restart haproxy: %v", err)
	}
	i.waitErr = make(chan error, 1)
	go func() { i.waitErr <- i.cmd.Wait() }()
	i.waitSocket(t, 0)
}

func (i *Instance) stop() {
	if i.cmd == nil || i.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-i.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-i.waitErr:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-i.cmd.Process.Pid, syscall.SIGKILL)
		<-i.waitErr
	}
	i.cmd = nil
	_ = os.Remove(i.SocketPath())
}

// waitSocket waits until the admin socket answers with a worker pid other
// than notPid.
func (i *Instance) waitSocket(t testing.TB, notPid int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-i.waitErr:
			t.Fatalf("haproxy exited: %v\n%s", err, i.Logs())
		default:
		}
		if c, err := net.DialTimeout("unix", i.SocketPath(), 200*time.Millisecond); err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("show info\n"))
			var b bytes.Buffer
			_, _ = b.ReadFrom(c)
			c.Close()
			if pid := pidOf(b.String()); pid != 0 && pid != notPid {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("haproxy socket %s not ready in time\n%s", i.Socket, i.Logs())
}

func pidOf(info string) int {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(l, "Pid: "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// Serve listens on network/address and runs handle for every connection
// in its own goroutine until the test ends. It returns the bound address.
func Serve(t testing.TB, network, address string, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return l.Addr().String()
}

// Listener accepts TCP connections (enough for a "check" in tcp mode) and
// answers HTTP 200 to anything that looks like a request, so httpchk passes
// too. It returns "127.0.0.1:port".
func Listener(t testing.TB) string {
	t.Helper()
	return Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		if n > 0 && bytes.Contains(buf[:n], []byte("HTTP/")) {
			_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"))
		}
	})
}

// Agent serves a HAProxy agent-check that answers every connection with
// reply and a newline, then closes. It returns "127.0.0.1:port".
func Agent(t testing.TB, reply string) string {
	t.Helper()
	return Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		_, _ = c.Write([]byte(reply + "\n"))
		c.Close()
	})
}
