package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

func runArgs(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLI(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{[]string{"--help"}, 0, "exporter", ""},
		{[]string{"exporter", "--help"}, 0, "--web.telemetry-path", ""},
		{[]string{"version"}, 0, "lbpilot, version", ""},
		{[]string{"bogus"}, 2, "", `expected command but got "bogus"`},
		{[]string{"exporter", "--log.level=chatty"}, 2, "", `invalid --log.level "chatty"`},
		{[]string{"exporter", "--config.check"}, 2, "", "--config.check needs --config.file"},
		{[]string{"exporter", "--config.check", "--config.file=/nonexistent.yml"}, 1, "", "reading config"},
		{[]string{"exporter", "--timeout-offset=-1"}, 2, "", "must not be negative"},
		{[]string{"exporter", "--probe.max-concurrent=0"}, 2, "", "--probe.max-concurrent must be at least 1"},
		{[]string{"exporter", "--probe.max-concurrent-protocol=0"}, 2, "", "--probe.max-concurrent-protocol must be at least 1"},
		{[]string{"exporter", "--web.read-timeout=0s"}, 2, "", "--web.read-timeout must be positive"},
		{[]string{"rebalancer", "--haproxy.socket=unix:/x.sock", "--web.max-connections=-1"}, 2, "", "--web.max-connections must not be negative"},
		{[]string{"agent", "--web.idle-timeout=0s"}, 1, "", "--web.idle-timeout must be positive"},
	}
	for _, tt := range tests {
		code, stdout, stderr := runArgs(tt.args...)
		if code != tt.code || !strings.Contains(stdout, tt.inStdout) || !strings.Contains(stderr, tt.inStderr) {
			t.Errorf("lbpilot %v = %d\nstdout %q\nstderr %q", tt.args, code, stdout, stderr)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	code, out, _ := runArgs("exporter", "--config.check", "--config.file=../../examples/lbpilot.yml")
	if code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("example config: %d %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yml")
	_ = os.WriteFile(bad, []byte("modules:\n  haproxy:\n    haproxy:\n      scopez: [server]\n"), 0o600)
	code, _, stderr := runArgs("exporter", "--config.check", "--config.file="+bad)
	if code != 1 || !strings.Contains(stderr, "line 4: field scopez not found") {
		t.Fatalf("bad config: %d %q", code, stderr)
	}
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildBinary compiles lbpilot once for all the process tests of a run.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "lbpilot-bin-"); buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "lbpilot")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// process is a running lbpilot binary; its stderr is collected.
type process struct {
	cmd  *exec.Cmd
	logs *testenv.SyncBuffer
	done chan error
}

// startProcess runs bin with args until the test ends.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), logs: &testenv.SyncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	return p
}

// stop sends SIGTERM and requires a clean exit within 10 s.
func (p *process) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, p.logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
	}
	t.Fatalf("%s never answered 200", url)
}

func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestExporterProcess runs the real binary against a real haproxy: the
// landing page, health endpoints, /metrics, /probe, SIGHUP reload with a
// bad and then a good file, and a clean exit on SIGTERM.
func TestExporterProcess(t *testing.T) {
	testenv.Binary(t, "haproxy")
	inst := haproxytest.Start(t, haproxytest.Global+"\nbackend bk\n    mode tcp\n    server web1 "+haproxytest.Listener(t)+" check inter 200ms\n")
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lbpilot.yml")
	writeCfg := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg(fmt.Sprintf("targets:\n  - {name: lb1, module: haproxy, url: %q}\n", inst.Socket))
	port := testenv.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	proc := startProcess(t, bin, "exporter", "--web.listen-address=127.0.0.1:"+fmt.Sprint(port), "--config.file="+cfg, "--log.format=json")
	cmd, logs := proc.cmd, proc.logs
	waitHTTP(t, base+"/-/ready")

	if code, body := fetch(t, base+"/"); code != 200 || !strings.Contains(body, "lbpilot exporter") {
		t.Errorf("landing page: %d", code)
	}
	if code, _ := fetch(t, base+"/-/healthy"); code != 200 {
		t.Errorf("/-/healthy: %d", code)
	}
	_, body := fetch(t, base+"/metrics")
	for _, want := range []string{`lbpilot_up{module="haproxy",target="lb1"} 1`, `haproxy_server_status{proxy="bk",server="web1",state="UP",target="lb1"} 1`, "lbpilot_build_info{"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	_, body = fetch(t, base+"/probe?module=haproxy&target="+inst.Socket)
	if !strings.Contains(body, `lbpilot_up{module="haproxy"} 1`) {
		t.Errorf("/probe: %s", body)
	}

	// A bad file on SIGHUP keeps the running config and says so.
	writeCfg("targets: [\n")
	_ = cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool {
		_, b := fetch(t, base+"/metrics")
		return strings.Contains(b, "lbpilot_config_last_reload_successful 0")
	})
	_, body = fetch(t, base+"/metrics")
	if !strings.Contains(body, `target="lb1"`) {
		t.Error("a bad reload dropped the running targets")
	}
	writeCfg(fmt.Sprintf("targets:\n  - {name: lb2, module: haproxy, url: %q}\n", inst.Socket))
	_ = cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool {
		_, b := fetch(t, base+"/metrics")
		return strings.Contains(b, "lbpilot_config_last_reload_successful 1") && strings.Contains(b, `target="lb2"`)
	})

	proc.stop(t)
	if !strings.Contains(logs.String(), `"msg":"Error loading config"`) {
		t.Errorf("the failed reload was not logged:\n%s", logs.String())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached in 10s")
}

// parseRole parses a role's flags the way run() does.
func parseRole(t *testing.T, name string, args ...string) role {
	t.Helper()
	app := kingpin.New("lbpilot", "")
	r := roles[name](app.Command(name, ""))
	if _, err := app.Parse(append([]string{name}, args...)); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestWarnsWhenOpen: each role logs exactly one warning at start when it
// serves without authentication beyond loopback, and none on loopback; its
// landing page links to no pprof handler (none is served).
func TestWarnsWhenOpen(t *testing.T) {
	h := haproxytest.NewHAProxy(t, []haproxytest.Server{{Backend: "be_app", Name: "web1", Up: true}})
	for _, tc := range []struct {
		role string
		args func(host string, p1, p2 int) []string
	}{
		{"exporter", func(host string, p1, _ int) []string {
			return []string{fmt.Sprintf("--web.listen-address=%s:%d", host, p1)}
		}},
		{"rebalancer", func(host string, p1, _ int) []string {
			return []string{fmt.Sprintf("--web.listen-address=%s:%d", host, p1), "--haproxy.socket=" + h.Socket.Addr,
				"--rebalancer.state-file=" + filepath.Join(t.TempDir(), "s.json")}
		}},
		{"agent", func(host string, p1, p2 int) []string {
			return []string{fmt.Sprintf("--agent.listen-address=%s:%d", host, p2), fmt.Sprintf("--agent.http-listen-address=%s:%d", host, p1),
				"--agent.target=http://127.0.0.1:1/"}
		}},
	} {
		for host, want := range map[string]int{"": 1, "127.0.0.1": 0} {
			t.Run(tc.role+"/"+host, func(t *testing.T) {
				p1, p2 := testenv.FreePort(t), testenv.FreePort(t)
				r := parseRole(t, tc.role, tc.args(host, p1, p2)...)
				ctx, cancel := context.WithCancel(context.Background())
				logs := &testenv.SyncBuffer{}
				done := make(chan int, 1)
				go func() { done <- r.run(ctx, io.Discard, logs) }()
				waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/-/ready", p1))
				// The landing page links only to what is served: no pprof.
				if _, body := fetch(t, fmt.Sprintf("http://127.0.0.1:%d/", p1)); !strings.Contains(body, "lbpilot "+tc.role) || strings.Contains(body, "debug/pprof") {
					t.Errorf("landing page:\n%s", body)
				}
				cancel()
				if code := <-done; code != 0 {
					t.Fatalf("exit %d\n%s", code, logs.String())
				}
				if got := strings.Count(logs.String(), "Serving without authentication"); got != want {
					t.Fatalf("%d warnings, want %d:\n%s", got, want, logs.String())
				}
			})
		}
	}
}

// TestExporterEmptyConfigOnReload: an empty or comment-only file (what a
// reload sees while the file is being rewritten) is refused and the
// running targets stay; a reload that really drops every target is
// accepted with a warning.
func TestExporterEmptyConfigOnReload(t *testing.T) {
	bin := buildBinary(t)
	cfg := filepath.Join(t.TempDir(), "lbpilot.yml")
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("targets:\n  - {name: lb1, module: haproxy, url: 'unix:/nonexistent.sock'}\n")
	port := testenv.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	proc := startProcess(t, bin, "exporter", fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--config.file="+cfg)
	waitHTTP(t, base+"/-/ready")
	for _, empty := range []string{"", "  \n\t\n", "# all commented out\n# targets: []\n"} {
		write(empty)
		resp, err := http.Post(base+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 || !strings.Contains(string(b), "the file is empty") {
			t.Errorf("reload of %q: %d %s", empty, resp.StatusCode, b)
		}
		if _, body := fetch(t, base+"/metrics"); !strings.Contains(body, `target="lb1"`) || !strings.Contains(body, "lbpilot_config_last_reload_successful 0") {
			t.Errorf("after the refused reload of %q, /metrics:\n%s", empty, body)
		}
	}
	if code, out, _ := runArgs("exporter", "--config.check", "--config.file="+cfg); code != 1 {
		t.Errorf("--config.check of an empty file: %d %s", code, out)
	}
	write("targets: []\n")
	if resp, err := http.Post(base+"/-/reload", "", nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("reload to no targets: %v %v", resp, err)
	}
	proc.stop(t)
	if n := strings.Count(proc.logs.String(), "has no static targets"); n != 1 {
		t.Errorf("%d warnings about the dropped targets, want 1:\n%s", n, proc.logs.String())
	}
}

// TestExporterSIGTERMWithProbeInFlight: a /probe waiting on an upstream
// that never answers is cancelled by SIGTERM; the client gets its answer
// (lbpilot_up 0) and the process exits 0, as documented.
func TestExporterSIGTERMWithProbeInFlight(t *testing.T) {
	bin := buildBinary(t)
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := hang.Accept(); err == nil {
			accepted <- c // held open, never answered
		}
	}()
	port := testenv.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	proc := startProcess(t, bin, "exporter", fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	waitHTTP(t, base+"/-/ready")
	type answer struct {
		code int
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Get(base + "/probe?module=haproxy&target=tcp://" + hang.Addr().String())
		if err != nil {
			got <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- answer{code: resp.StatusCode, body: string(b)}
	}()
	select {
	case c := <-accepted:
		defer c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the probe never reached the upstream")
	}
	proc.stop(t) // requires exit 0
	a := <-got
	if a.err != nil || a.code != 200 || !strings.Contains(a.body, `lbpilot_up{module="haproxy"} 0`) {
		t.Fatalf("the probe's client got %d %v:\n%s", a.code, a.err, a.body)
	}
	if strings.Contains(proc.logs.String(), "still running after the shutdown timeout") {
		t.Fatalf("the probe was not cancelled, only cut off:\n%s", proc.logs.String())
	}
}
