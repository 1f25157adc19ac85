package rebalancer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/alertmanager/template"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

// realLab is a real haproxy plus an in-process rebalancer running its loop.
type realLab struct {
	t      *testing.T
	inst   *haproxytest.Instance
	client *haproxyapi.Client
	r      *Rebalancer
	srv    *httptest.Server
	logs   *testenv.SyncBuffer
	cancel context.CancelFunc
	done   chan struct{}
	cfg    *Config
}

const labInterval = 400 * time.Millisecond

func startRealLab(t *testing.T, backend string, yml string) *realLab {
	t.Helper()
	up := haproxytest.Listener(t)
	inst := haproxytest.Start(t, haproxytest.Global+strings.ReplaceAll(backend, "UP", up))
	c, err := haproxyapi.New(inst.Socket)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.HAProxy.Sockets = []string{inst.Socket}
	cfg.Rebalancer.StateFile = filepath.Join(t.TempDir(), "state.json")
	cfg.Rebalancer.ReconcileInterval = labInterval
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	lab := &realLab{t: t, inst: inst, client: c, logs: &testenv.SyncBuffer{}, cfg: cfg}
	lab.start()
	t.Cleanup(lab.stop)
	return lab
}

func (l *realLab) start() {
	r, err := New(Options{Config: l.cfg, Logger: log.NewLogfmtLogger(l.logs), DisableExporterMetrics: true})
	if err != nil {
		l.t.Fatal(err)
	}
	l.r = r
	l.srv = httptest.NewServer(r.Mux("/metrics"))
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go func() { defer close(l.done); _ = r.Run(ctx) }()
}

func (l *realLab) stop() {
	if l.cancel != nil {
		l.cancel()
		<-l.done
		l.srv.Close()
		l.cancel = nil
	}
}

func (l *realLab) post(b []byte) {
	l.t.Helper()
	resp, err := http.Post(l.srv.URL+"/api/v1/alerts", "application/json", bytes.NewReader(b))
	if err != nil {
		l.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		l.t.Fatalf("webhook answered %d", resp.StatusCode)
	}
}

// statStatus returns the `show stat` status column of a server.
func statStatus(t testing.TB, c *haproxyapi.Client, backend, server string) string {
	t.Helper()
	st, err := c.ShowStat(context.Background(), haproxyapi.StatFilter{Proxy: backend, Types: 4})
	if err != nil {
		return "unreachable: " + err.Error()
	}
	for i := 0; i < st.Rows(); i++ {
		if st.Get(i, "svname") == server {
			return st.Get(i, "status")
		}
	}
	t.Fatalf("no server %s/%s in show stat", backend, server)
	return ""
}

// waitStatus waits until the status starts with want and returns how long it took.
func (l *realLab) waitStatus(server, want string, within time.Duration) time.Duration {
	l.t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	var got string
	for time.Now().Before(deadline) {
		if got = statStatus(l.t, l.client, "bk", server); strings.HasPrefix(got, want) {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.t.Fatalf("%s: status %q after %s, want %s\nrebalancer log:\n%s", server, got, within, want, l.logs.String())
	return 0
}

// holdStatus checks the status stays as it is for d.
func (l *realLab) holdStatus(server, want string, d time.Duration) {
	l.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if got := statStatus(l.t, l.client, "bk", server); !strings.HasPrefix(got, want) {
			l.t.Fatalf("%s: status %q, want it to stay %s\n%s", server, got, want, l.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const labBackend = `
backend bk
    mode http
    default-server check inter 100ms rise 1 fall 1
    server web1 UP
    server web2 UP
    server web3 UP
`

func TestRealHAProxyDrainRestoreAndOperator(t *testing.T) {
	lab := startRealLab(t, labBackend, "")
	for _, s := range []string{"web1", "web2", "web3"} {
		lab.waitStatus(s, "UP", 5*time.Second)
	}
	t0 := time.Now().UTC()
	lab.post(body(alert(StatusFiring, "f1", "drain", "bk", "web1", t0)))
	lab.waitStatus("web1", "DRAIN", 2*time.Second) // kicked at once, not at the next interval
	lab.post(body(alert(StatusResolved, "f1", "drain", "bk", "web1", t0)))
	lab.waitStatus("web1", "UP", 2*time.Second)

	// An operator's maint on a drained server survives the end of the alert.
	lab.post(body(alert(StatusFiring, "f2", "drain", "bk", "web2", t0)))
	lab.waitStatus("web2", "DRAIN", 2*time.Second)
	lab.inst.Exec(t, "set server bk/web2 state maint")
	lab.holdStatus("web2", "MAINT", 2*labInterval)
	lab.post(body(alert(StatusResolved, "f2", "drain", "bk", "web2", t0)))
	lab.holdStatus("web2", "MAINT", 3*labInterval)
	if !strings.Contains(lab.logs.String(), "Server changed outside lbpilot") {
		t.Fatalf("operator change not logged:\n%s", lab.logs.String())
	}
}

func TestRealHAProxyReloadReapplied(t *testing.T) {
	lab := startRealLab(t, labBackend, "")
	lab.waitStatus("web3", "UP", 5*time.Second)
	lab.post(body(alert(StatusFiring, "f3", "maint", "bk", "web3", time.Now().UTC())))
	lab.waitStatus("web3", "MAINT", 2*time.Second)
	lab.inst.Reload(t) // waits for the new worker; runtime state is gone
	took := lab.waitStatus("web3", "MAINT", labInterval+time.Second)
	if took > labInterval+500*time.Millisecond {
		t.Errorf("re-applied %s after the reload; the interval is %s", took, labInterval)
	}
	t.Logf("re-applied %s after the reload (interval %s)", took, labInterval)
}

func TestRealHAProxyStoppedDuringAlert(t *testing.T) {
	lab := startRealLab(t, labBackend, "")
	lab.waitStatus("web1", "UP", 5*time.Second)
	lab.inst.Stop(t)
	lab.post(body(alert(StatusFiring, "f1", "drain", "bk", "web1", time.Now().UTC()))) // 200: intent recorded
	time.Sleep(2 * labInterval)
	lab.inst.Restart(t)
	lab.waitStatus("web1", "DRAIN", labInterval+2*time.Second)
	if !strings.Contains(lab.logs.String(), "HAProxy socket unreachable") {
		t.Fatal("outage not logged")
	}
}

// stallProxy forwards a unix socket to HAProxy's; while armed it holds the
// second connection that carries `set server` commands (the second batch),
// forwarding nothing, and reports it.
type stallProxy struct {
	path, target string
	mu           sync.Mutex
	armed        bool
	batches      int
	stalled      chan struct{}
	held         []net.Conn
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	dir, err := os.MkdirTemp("/tmp", "lbpx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &stallProxy{path: filepath.Join(dir, "proxy.sock"), target: target, armed: true, stalled: make(chan struct{}, 1)}
	haproxytest.Serve(t, "unix", p.path, p.serve)
	return p
}

func (p *stallProxy) serve(c net.Conn) {
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		c.Close()
		return
	}
	if strings.Contains(line, "set server") {
		p.mu.Lock()
		p.batches++
		stall := p.armed && p.batches == 2
		if stall {
			p.held = append(p.held, c)
		}
		p.mu.Unlock()
		if stall {
			p.stalled <- struct{}{}
			return // held open, never forwarded
		}
	}
	defer c.Close()
	up, err := net.Dial("unix", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	if _, err := io.WriteString(up, line); err != nil {
		return
	}
	_, _ = io.Copy(c, up)
}

func (p *stallProxy) disarm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = false
	for _, c := range p.held {
		c.Close()
	}
}

// TestRealHAProxyKilledMidBatch: a 150-server storm is two batches; the
// rebalancer process is SIGKILLed after the first reached HAProxy and
// while the second is in flight. After a restart it converges: all 150
// drained and owned, and all back to ready when the alerts end.
func TestRealHAProxyKilledMidBatch(t *testing.T) {
	testenv.Binary(t, "haproxy")
	var b strings.Builder
	b.WriteString("\nbackend bk\n    mode http\n")
	for i := 0; i < 150; i++ {
		fmt.Fprintf(&b, "    server s%03d UP\n", i)
	}
	up := haproxytest.Listener(t)
	inst := haproxytest.Start(t, haproxytest.Global+strings.ReplaceAll(b.String(), "UP", up))
	client, err := haproxyapi.New(inst.Socket)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newStallProxy(t, inst.SocketPath())
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "rb.yml")
	stateFile := filepath.Join(dir, "state.json")
	yml := fmt.Sprintf("haproxy: {sockets: ['unix:%s']}\nrebalancer: {state_file: %s, reconcile_interval: 300ms}\nguard: {min_ready: 0}\nmass_resolve: {min_alerts: 0}\n", proxy.path, stateFile)
	if err := os.WriteFile(cfgFile, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	var logs testenv.SyncBuffer
	startHelper := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "LBPILOT_REBALANCER_HELPER="+cfgFile, "LBPILOT_REBALANCER_ADDR="+addr)
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if resp, err := http.Get("http://" + addr + "/-/ready"); err == nil {
				resp.Body.Close()
				return cmd
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("helper rebalancer did not start\n%s", logs.String())
		return nil
	}
	post := func(alerts []template.Alert) {
		resp, err := http.Post("http://"+addr+"/api/v1/alerts", "application/json", bytes.NewReader(body(alerts...)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("webhook %d", resp.StatusCode)
		}
	}
	count := func(want haproxyapi.AdminState) int {
		ss, err := client.ShowServersState(context.Background(), "bk")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range ss.Servers {
			if forcedState(s.Admin) == want {
				n++
			}
		}
		return n
	}
	t0 := time.Now().UTC()
	var firing, resolved []template.Alert
	for i := 0; i < 150; i++ {
		s := fmt.Sprintf("s%03d", i)
		firing = append(firing, alert(StatusFiring, fmt.Sprintf("%016x", i), "drain", "bk", s, t0))
		resolved = append(resolved, alert(StatusResolved, fmt.Sprintf("%016x", i), "drain", "bk", s, t0))
	}

	cmd := startHelper()
	post(firing)
	select {
	case <-proxy.stalled:
	case <-time.After(10 * time.Second):
		t.Fatalf("second batch never came\n%s", logs.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = cmd.Process.Wait()
	if n := count(haproxyapi.StateDrain); n != 100 {
		t.Fatalf("%d servers drained at the kill, want exactly the first batch (100)", n)
	}
	proxy.disarm()

	startHelper()
	deadline := time.Now().Add(10 * time.Second)
	for count(haproxyapi.StateDrain) != 150 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := count(haproxyapi.StateDrain); n != 150 {
		t.Fatalf("%d of 150 drained after the restart\n%s", n, logs.String())
	}
	// Every drained server is owned and confirmed: none mistaken for an operator's.
	waitOwned := func(want int) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, err := OpenStore(stateFile)
			if err != nil {
				t.Fatal(err)
			}
			applied := 0
			st.View(func(s *State) {
				for _, o := range s.Owned {
					if o.Admin != nil && o.Admin.Phase == PhaseApplied {
						applied++
					}
				}
			})
			if applied == want || time.Now().After(deadline) {
				if applied != want {
					t.Fatalf("%d applied ownership records on disk, want %d\n%s", applied, want, logs.String())
				}
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitOwned(150)
	if strings.Contains(logs.String(), "changed outside lbpilot") {
		t.Fatalf("crash recovery mistaken for operator changes\n%s", logs.String())
	}
	post(resolved)
	deadline = time.Now().Add(10 * time.Second)
	for count(haproxyapi.StateReady) != 150 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := count(haproxyapi.StateReady); n != 150 {
		t.Fatalf("%d of 150 ready after the alerts ended\n%s", n, logs.String())
	}
	waitOwned(0)
}
