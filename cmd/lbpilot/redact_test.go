package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

// TestSecretsNeverShown plants a password in URLs of the exporter's
// configuration and of /probe targets, and greps every channel the
// process has for it: --config.check's output (a good and a bad file),
// the log (the reload error line, scrape failures' err= fields) and the
// answers of POST /-/reload and /probe.
func TestSecretsNeverShown(t *testing.T) {
	const secret = "PLANTED-SECRET"
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lbpilot.yml")
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dead := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) // nothing listens
	good := fmt.Sprintf("targets:\n  - {name: lb1, module: haproxy, url: 'http://admin:%s@%s/stats'}\n", secret, dead)
	bad := []string{
		fmt.Sprintf("targets:\n  - {name: lb1, module: haproxy, url: 'http://admin:%s@[::1/stats'}\n", secret),
		fmt.Sprintf("targets:\n  - {name: lb1, module: haproxy, url: 'tcp://admin:%s@%s'}\n", secret, dead),
		fmt.Sprintf("targets:\n  - {name: lb1, module: wcs, url: 'http://admin:%s@[::1/'}\n", secret),
	}
	var shown []string
	check := func(what string) {
		out, _ := exec.Command(bin, "exporter", "--config.check", "--config.file="+cfg).CombinedOutput()
		shown = append(shown, what+": "+string(out))
	}
	write(good)
	check("--config.check of a good file")
	for i, b := range bad {
		write(b)
		check(fmt.Sprintf("--config.check of bad file %d", i))
	}

	write(good)
	port := testenv.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	proc := startProcess(t, bin, "exporter", fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--config.file="+cfg)
	waitHTTP(t, base+"/-/ready")
	_, body := fetch(t, base+"/metrics") // lb1 fails: err= names its URL
	shown = append(shown, "/metrics: "+body)
	for i, b := range bad {
		write(b)
		resp, err := http.Post(base+"/-/reload", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		_, _ = fmt.Fprint(&sb, resp.Status, " ")
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		resp.Body.Close()
		if resp.StatusCode != 500 {
			t.Errorf("bad file %d reloaded: %d", i, resp.StatusCode)
		}
		shown = append(shown, fmt.Sprintf("POST /-/reload of bad file %d: %s%s", i, sb.String(), buf[:n]))
		_ = proc.cmd.Process.Signal(syscall.SIGHUP)
		waitFor(t, func() bool { return strings.Count(proc.logs.String(), "Error loading config") == 2*(i+1) })
	}
	for _, target := range []string{
		"http://admin:" + secret + "@" + dead + "/stats",
		"http://admin:" + secret + "@[::1/stats",
		"tcp://admin:" + secret + "@" + dead,
	} {
		_, body := fetch(t, base+"/probe?module=haproxy&target="+url.QueryEscape(target))
		shown = append(shown, "/probe: "+body)
	}
	proc.stop(t)
	shown = append(shown, "log: "+proc.logs.String())

	all := strings.Join(shown, "\n")
	if strings.Contains(all, secret) {
		for _, s := range shown {
			if strings.Contains(s, secret) {
				t.Errorf("secret shown in %s", s)
			}
		}
	}
	if !strings.Contains(all, "admin:xxxxx@") {
		t.Errorf("no redacted URL anywhere (did the channels run?):\n%s", all)
	}
}
