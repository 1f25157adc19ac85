package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

// parseRebalancer parses rebalancer flags the way run() does.
func parseRebalancer(t *testing.T, args ...string) *rebalancerRole {
	t.Helper()
	app := kingpin.New("lbpilot", "")
	r := newRebalancerRole(app.Command("rebalancer", "")).(*rebalancerRole)
	if _, err := app.Parse(append([]string{"rebalancer"}, args...)); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRebalancerFlagsOverrideConfigFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rb.yml")
	if err := os.WriteFile(file, []byte(`
haproxy: {sockets: ['unix:/run/a.sock']}
rebalancer: {state_file: /from/file.json, reconcile_interval: 30s, min_hold: 1m}
alertmanager: {url: 'http://am:9093'}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file's values stand where no flag is given (flag defaults do not override).
	cfg, err := parseRebalancer(t, "--config.file="+file).config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rebalancer.StateFile != "/from/file.json" || cfg.Rebalancer.ReconcileInterval != 30*time.Second || cfg.Rebalancer.MinHold != time.Minute ||
		cfg.HAProxy.Sockets[0] != "unix:/run/a.sock" || cfg.Alertmanager.URL != "http://am:9093" || cfg.Rebalancer.DryRun {
		t.Fatalf("file values lost: %+v %+v", cfg.Rebalancer, cfg.HAProxy)
	}
	// Flags given on the command line win.
	cfg, err = parseRebalancer(t, "--config.file="+file, "--haproxy.socket=unix:/run/b.sock", "--haproxy.socket=tcp://127.0.0.1:9999",
		"--rebalancer.state-file=/from/flag.json", "--rebalancer.reconcile-interval=5s", "--rebalancer.min-hold=0s",
		"--alertmanager.url=http://other:9093", "--dry-run").config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rebalancer.StateFile != "/from/flag.json" || cfg.Rebalancer.ReconcileInterval != 5*time.Second || cfg.Rebalancer.MinHold != 0 ||
		len(cfg.HAProxy.Sockets) != 2 || cfg.Alertmanager.URL != "http://other:9093" || !cfg.Rebalancer.DryRun {
		t.Fatalf("flags did not win: %+v %+v %s", cfg.Rebalancer, cfg.HAProxy, cfg.Alertmanager.URL)
	}
	// Zero config: the socket flag alone.
	cfg, err = parseRebalancer(t, "--haproxy.socket=unix:/run/haproxy/admin.sock").config()
	if err != nil || cfg.Rebalancer.StateFile != "rebalancer-state.json" || len(cfg.CompiledRules()) != 1 {
		t.Fatalf("zero config: %v %+v", err, cfg)
	}
	for _, bad := range [][]string{{}, {"--haproxy.socket=relative"}, {"--haproxy.socket=unix:/a", "--rebalancer.reconcile-interval=1ms"}, {"--config.file=" + filepath.Join(dir, "missing.yml")}} {
		if _, err := parseRebalancer(t, bad...).config(); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestRebalancerConfigCheck(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"rebalancer", "--config.check", "--haproxy.socket=unix:/run/haproxy/admin.sock"}, &out, &errb); code != 0 {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "configuration OK: 1 socket(s), 1 rule(s)") {
		t.Fatalf("output %q", out.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"rebalancer", "--config.check"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no HAProxy socket") {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"rebalancer", "--haproxy.socket=bad"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "Invalid configuration") {
		t.Fatalf("code %d: %s", code, errb.String())
	}
}

// The shipped rebalancer configurations pass --config.check with the
// flags their unit and compose service give them.
func TestRebalancerShippedConfigsCheck(t *testing.T) {
	for _, f := range []string{"../../examples/rebalancer.yml", "../../deploy/compose/rebalancer.yml"} {
		var out, errb bytes.Buffer
		if code := run([]string{"rebalancer", "--config.check", "--config.file=" + f, "--haproxy.socket=unix:/run/haproxy/admin.sock"}, &out, &errb); code != 0 {
			t.Fatalf("%s: code %d: %s", f, code, errb.String())
		}
		if !strings.Contains(out.String(), "configuration OK: 1 socket(s), 2 rule(s)") {
			t.Errorf("%s: output %q", f, out.String())
		}
	}
}

// TestRebalancerDeprecatedMatchKeys: a rule written with match / match_re
// loads, and the load logs exactly one warning for it (although the
// configuration is completed twice: file, then flags) naming the rule and
// the matchers to write instead. A bad matcher fails the check.
func TestRebalancerDeprecatedMatchKeys(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rb.yml")
	if err := os.WriteFile(file, []byte(`
rules:
  - name: srs-down
    match_re: {alertname: "SRS.*Down"}
    action: maint
  - name: wcs
    matchers: ['alertname=~"WCS.*"', 'severity="page"']
    action: drain
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"rebalancer", "--config.check", "--config.file=" + file, "--haproxy.socket=unix:/run/haproxy/admin.sock"}, &out, &errb); code != 0 {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "configuration OK: 1 socket(s), 3 rule(s)") {
		t.Fatalf("output %q", out.String())
	}
	logs := strings.TrimSpace(errb.String())
	if n := strings.Count(logs, "deprecated"); n != 1 || strings.Count(logs, "\n") != 0 ||
		!strings.Contains(logs, "level=warn") || !strings.Contains(logs, "rule=srs-down") ||
		!strings.Contains(logs, `replacement="matchers: ['alertname=~\"SRS.*Down\"']"`) {
		t.Fatalf("want one deprecation line for srs-down:\n%s", logs)
	}
	if err := os.WriteFile(file, []byte("rules: [{name: bad, matchers: ['alertname=~\"(\"'], action: drain}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"rebalancer", "--config.check", "--config.file=" + file, "--haproxy.socket=unix:/a"}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), `rules[0] "bad": matchers[0] 'alertname=~"("'`) {
		t.Fatalf("code %d: %s", code, errb.String())
	}
}

// TestRebalancerServesWithBasicAuth runs the command with a web config
// holding basic auth (what the example Alertmanager config sends), against
// a fake HAProxy, and stops it.
func TestRebalancerServesWithBasicAuth(t *testing.T) {
	h := haproxytest.NewHAProxy(t, []haproxytest.Server{{Backend: "be_app", Name: "web1", Up: true}, {Backend: "be_app", Name: "web2", Up: true}})
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("hunter2"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, []byte("basic_auth_users:\n  alertmanager: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	state := filepath.Join(dir, "state.json")
	r := parseRebalancer(t, "--haproxy.socket="+h.Socket.Addr, "--web.listen-address="+addr, "--web.config.file="+webCfg,
		"--rebalancer.state-file="+state, "--log.level=debug")
	ctx, cancel := context.WithCancel(context.Background())
	var out, logs bytes.Buffer
	done := make(chan int)
	go func() { done <- r.run(ctx, &out, &logs) }()
	base := "http://" + addr
	var ready bool
	for i := 0; i < 200 && !ready; i++ {
		if resp, err := http.Get(base + "/-/healthy"); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == 401 // the whole server is behind basic auth
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !ready {
		cancel()
		t.Fatalf("not serving\n%s", logs.String())
	}
	body := fmt.Sprintf(`{"version":"4","status":"firing","alerts":[{"status":"firing","fingerprint":"0123456789abcdef","startsAt":%q,"labels":{"lbpilot_action":"drain","haproxy_backend":"be_app","haproxy_server":"web1"}}]}`,
		time.Now().UTC().Format(time.RFC3339))
	post := func(user, pw string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/alerts", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := post("", ""); c != 401 {
		t.Errorf("no credentials: %d", c)
	}
	if c := post("alertmanager", "wrong"); c != 401 {
		t.Errorf("wrong password: %d", c)
	}
	if c := post("alertmanager", "hunter2"); c != 200 {
		t.Errorf("right password: %d", c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, _ := h.Server("be_app", "web1")
		if s.Admin&0x08 != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("web1 not drained\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
	req.SetBasicAuth("alertmanager", "hunter2")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("operator page: %v %v", resp, err)
	} else {
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// The landing page's links stay, and the basic-auth user is the
		// page's default author.
		for _, want := range []string{`href="/metrics"`, `href="/api/v1/state"`, `href="/-/healthy"`, `href="/-/ready"`, `<meta name="lbpilot-operator" content="alertmanager">`} {
			if !strings.Contains(string(page), want) {
				t.Errorf("operator page lacks %s:\n%s", want, page)
			}
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d\n%s", code, logs.String())
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("state file: %v", err)
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Fatal("password in the log")
	}
}

// TestRebalancerEmptyBearerTokenFile: an empty value would run the API
// without authentication; it is a startup error instead.
func TestRebalancerEmptyBearerTokenFile(t *testing.T) {
	code, _, stderr := runArgs("rebalancer", "--haproxy.socket=unix:/nonexistent.sock", "--rebalancer.bearer-token-file=", "--config.check")
	if code != 1 || !strings.Contains(stderr, "--rebalancer.bearer-token-file is empty") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

// TestRebalancerStateFileLock runs two real rebalancer processes on one
// state file: the second exits 1 naming the first's pid; a dry run may
// still shadow the first; the lock goes with the first's exit.
func TestRebalancerStateFileLock(t *testing.T) {
	h := haproxytest.NewHAProxy(t, []haproxytest.Server{{Backend: "be_app", Name: "web1", Up: true}})
	bin := buildBinary(t)
	state := filepath.Join(t.TempDir(), "state.json")
	args := func(port int, extra ...string) []string {
		return append([]string{"rebalancer", "--haproxy.socket=" + h.Socket.Addr, "--rebalancer.state-file=" + state,
			fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port)}, extra...)
	}
	port := testenv.FreePort(t)
	first := startProcess(t, bin, args(port)...)
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/-/ready", port))

	out, err := exec.Command(bin, args(testenv.FreePort(t))...).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("second rebalancer: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("pid %d holds", first.cmd.Process.Pid); !strings.Contains(string(out), want) {
		t.Fatalf("second rebalancer does not name the holder (%q):\n%s", want, out)
	}

	dryPort := testenv.FreePort(t)
	dry := startProcess(t, bin, args(dryPort, "--dry-run")...)
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/-/ready", dryPort))
	dry.stop(t)

	first.stop(t)
	third := startProcess(t, bin, args(port)...)
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/-/ready", port))
	third.stop(t)
}
