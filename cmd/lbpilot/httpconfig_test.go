package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCheckHTTPClientConfig: --config.check prints the modules'
// http_client_config (the deprecated keys converted) with secrets hidden,
// warns once per module using deprecated keys, and fails on a conflict.
func TestConfigCheckHTTPClientConfig(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	_ = os.WriteFile(pass, []byte("s3cret\n"), 0o600)
	file := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := file("good.yml", `modules:
  srs_old:
    kind: srs
    srs: {username: admin, password_file: `+pass+`}
  wcs_new:
    kind: wcs
    wcs:
      http_client_config:
        authorization: {credentials: hunter2}
        tls_config: {server_name: wcs.example}
`)
	code, out, stderr := runArgs("exporter", "--config.check", "--config.file="+good)
	if code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	for _, w := range []string{
		"OK (11 modules, 0 targets)", // the two above and the nine built-in kinds (four APIs, five probes)
		"  srs_old:\n    kind: srs\n",
		"      http_client_config:\n        basic_auth:\n          username: admin\n          password_file: " + pass + "\n",
		"        authorization:\n          type: Bearer\n          credentials: <secret>\n        tls_config:\n          server_name: wcs.example\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("stdout lacks %q:\n%s", w, out)
		}
	}
	if n := strings.Count(stderr, "level=warn"); n != 1 || !strings.Contains(stderr, "module=srs_old") ||
		!strings.Contains(stderr, "Deprecated username, password_file") {
		t.Errorf("stderr %q: want one deprecation warning for srs_old", stderr)
	}
	if strings.Contains(out+stderr, "hunter2") || strings.Contains(out+stderr, "s3cret") {
		t.Errorf("a secret was printed:\n%s\n%s", out, stderr)
	}

	conflict := file("conflict.yml", "modules:\n  s:\n    kind: srs\n    srs: {password_file: "+pass+", http_client_config: {basic_auth: {username: a, password: hunter2}}}\n")
	code, _, stderr = runArgs("exporter", "--config.check", "--config.file="+conflict)
	if code != 1 || !strings.Contains(stderr, `module "s": srs: password_file and http_client_config.basic_auth are both set`) || strings.Contains(stderr, "hunter2") {
		t.Errorf("conflict: %d %q", code, stderr)
	}

	agentCfg := file("agent.yml", "agent:\n  source: wcs\n  wcs: {insecure_skip_verify: true, http_client_config: {basic_auth: {username: a, password: hunter2}}}\n")
	code, out, stderr = runArgs("agent", "--config.check", "--config.file="+agentCfg)
	if code != 0 || !strings.Contains(out, "wcs:\n  http_client_config:\n    basic_auth:\n      username: a\n      password: <secret>\n    tls_config:\n      insecure_skip_verify: true\n") ||
		strings.Count(stderr, "level=warn") != 1 || !strings.Contains(stderr, "block=wcs") || strings.Contains(out+stderr, "hunter2") {
		t.Errorf("agent: %d\nstdout %s\nstderr %s", code, out, stderr)
	}
}
