package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

// TestAgentReloadsOnSIGHUP runs the binary: SIGHUP puts a new threshold in
// force, a bad file is refused (the old one stays, the gauge says so),
// POST /-/reload does the same as SIGHUP.
func TestAgentReloadsOnSIGHUP(t *testing.T) {
	l, err := lab.Start(lab.Config{Kind: lab.WCS, Load: lab.Load{Subscribers: 150}}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bin := buildBinary(t)
	httpPort := testenv.FreePort(t)
	cfgFile := filepath.Join(t.TempDir(), "agent.yml")
	write := func(s string) {
		if err := os.WriteFile(cfgFile, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := func(subs int) string {
		return fmt.Sprintf("agent:\n  listen_address: 127.0.0.1:%d\n  http_listen_address: 127.0.0.1:%d\n  target: %q\n  thresholds: {cpu: \"off\", subscribers: %d}\n  cache_ttl: 0s\n",
			testenv.FreePort(t), httpPort, l.URL+"/?action=stat", subs)
	}
	first := conf(100)
	write(first)
	proc := startProcess(t, bin, "agent", "--config.file="+cfgFile)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	waitHTTP(t, base+"/-/ready")
	if code, _ := fetch(t, base+"/health"); code != 503 {
		t.Fatalf("/health %d with subscribers 150/100", code)
	}
	// The listen address must stay: keep the first file's and raise the threshold.
	write(strings.Replace(first, "subscribers: 100", "subscribers: 1000", 1))
	if err := proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { code, _ := fetch(t, base+"/health"); return code == 200 })

	write("agent:\n  thresholds: {bogus: 1}\n")
	resp, err := http.Post(base+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("POST /-/reload of a bad file: %d", resp.StatusCode)
	}
	if code, _ := fetch(t, base+"/health"); code != 200 {
		t.Fatal("a refused reload changed the configuration")
	}
	if _, body := fetch(t, base+"/metrics"); !strings.Contains(body, "lbpilot_config_last_reload_successful 0") {
		t.Fatalf("metrics after a refused reload:\n%s", body)
	}
	write(conf(100)) // another listen address: refused
	if err := proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(proc.logs.String(), "listen_address cannot change on reload") })
	proc.stop(t)
}

// TestRebalancerReloadsOnSIGHUP runs the binary against a fake HAProxy:
// SIGHUP puts a new rule in force, a bad file is refused and the running
// rules stay; lbpilot ctl talks to the same process.
func TestRebalancerReloadsOnSIGHUP(t *testing.T) {
	h := haproxytest.NewHAProxy(t, []haproxytest.Server{{Backend: "be_app", Name: "web1", Up: true}, {Backend: "be_app", Name: "web2", Up: true}})
	bin := buildBinary(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "rb.yml")
	write := func(s string) {
		if err := os.WriteFile(cfgFile, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("guard: {min_ready: 1}\n")
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	proc := startProcess(t, bin, "rebalancer", "--config.file="+cfgFile, "--haproxy.socket="+h.Socket.Addr,
		"--rebalancer.state-file="+filepath.Join(dir, "state.json"), "--web.listen-address="+addr)
	base := "http://" + addr
	waitHTTP(t, base+"/-/ready")
	rules := func() int {
		_, body := fetch(t, base+"/api/v1/state")
		var v struct{ Rules []string }
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		return len(v.Rules)
	}
	if n := rules(); n != 1 {
		t.Fatalf("%d rules at start", n)
	}
	write("rules: [{name: wcs, matchers: ['alertname=\"WCSDown\"'], action: drain}]\n")
	if err := proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return rules() == 2 })
	write("rules: [{name: wcs, matchers: ['alertname=~\"(\"'], action: drain}]\n")
	if err := proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		_, body := fetch(t, base+"/metrics")
		return strings.Contains(body, "lbpilot_config_last_reload_successful 0")
	})
	if n := rules(); n != 2 {
		t.Fatalf("%d rules after a refused reload, want the running 2", n)
	}
	if code, out, errs := runArgs("ctl", "--rebalancer.url="+base, "--author=ops", "drain", "be_app/web2", "--reason=test"); code != 0 || !strings.Contains(out, "DRAIN") {
		t.Fatalf("ctl drain: %d\n%s\n%s", code, out, errs)
	}
	if s, _ := h.Server("be_app", "web2"); s.Admin&0x08 == 0 {
		t.Fatal("web2 not drained")
	}
	proc.stop(t)
	if !strings.Contains(proc.logs.String(), "Configuration reload refused") {
		t.Fatalf("refusal not logged:\n%s", proc.logs.String())
	}
}
