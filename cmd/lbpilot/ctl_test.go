package main

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/rebalancer"
)

// ctlLab is a rebalancer (fake HAProxy, bearer token) served over HTTP.
type ctlLab struct {
	h     *haproxytest.HAProxy
	r     *rebalancer.Rebalancer
	url   string
	token string
}

func startCtlLab(t *testing.T, yml string) *ctlLab {
	t.Helper()
	dir := t.TempDir()
	h := haproxytest.NewHAProxy(t, []haproxytest.Server{
		{Backend: "be_app", Name: "web1", Up: true, Addr: "10.0.0.1", Port: 80},
		{Backend: "be_app", Name: "web2", Up: true, Addr: "10.0.0.2", Port: 80},
	})
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := rebalancer.Parse([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.HAProxy.Sockets = []string{h.Socket.Addr}
	cfg.Rebalancer.StateFile = filepath.Join(dir, "state.json")
	cfg.Rebalancer.BearerTokenFile = tok
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	r, err := rebalancer.New(rebalancer.Options{Config: cfg, DisableExporterMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Reconcile(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Mux("/metrics"))
	t.Cleanup(srv.Close)
	return &ctlLab{h: h, r: r, url: srv.URL, token: tok}
}

func (l *ctlLab) ctl(args ...string) (int, string, string) {
	return runArgs(append([]string{"ctl", "--rebalancer.url=" + l.url, "--auth.bearer-token-file=" + l.token, "--author=alice"}, args...)...)
}

func TestCtl(t *testing.T) {
	l := startCtlLab(t, "guard: {min_ready: 1}")
	code, out, errs := l.ctl("drain", "be_app/web1", "--reason=kernel update", "--expires-in=30m")
	if code != 0 || !strings.Contains(out, "applied") || !strings.Contains(out, "DRAIN") {
		t.Fatalf("drain: %d\n%s\n%s", code, out, errs)
	}
	if s, _ := l.h.Server("be_app", "web1"); s.Admin&0x08 == 0 {
		t.Fatal("web1 not drained")
	}
	// The guard's refusal: exit 1, its reason on stderr.
	code, _, errs = l.ctl("maint", "be_app/web2", "--reason=r")
	if code != 1 || !strings.Contains(errs, "409") || !strings.Contains(errs, "guard: min_ready") {
		t.Fatalf("guard: %d %q", code, errs)
	}
	code, out, errs = l.ctl("status")
	if code != 0 || !strings.Contains(out, "BACKEND") || !strings.Contains(out, "drain by alice until") || !strings.Contains(out, "paused:  no") {
		t.Fatalf("status: %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = l.ctl("-o", "json", "status")
	var v rebalancer.StateView
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || len(v.Servers) != 2 || v.Servers[0].Owner != rebalancer.OwnerOperator {
		t.Fatalf("status json: %d\n%s", code, out)
	}
	if code, out, errs = l.ctl("pause", "--backend=be_app", "--reason=window"); code != 0 || !strings.Contains(out, "paused be_app:  yes, by alice") {
		t.Fatalf("pause: %d\n%s\n%s", code, out, errs)
	}
	if code, out, _ = l.ctl("resume", "--backend=be_app"); code != 0 || !strings.Contains(out, "applied") {
		t.Fatalf("resume: %d\n%s", code, out)
	}
	if code, out, _ = l.ctl("release", "be_app/web1"); code != 0 || !strings.Contains(out, "READY") {
		t.Fatalf("release: %d\n%s", code, out)
	}
	if code, out, _ = l.ctl("weight", "be_app/web2", "5", "--reason=canary"); code != 0 || !strings.Contains(out, "weight 5") {
		t.Fatalf("weight: %d\n%s", code, out)
	}
	code, out, _ = l.ctl("history", "--server=web1")
	if code != 0 || !strings.Contains(out, "operator alice") || !strings.Contains(out, "kernel update") || strings.Count(out, "\n") != 3 {
		t.Fatalf("history: %d\n%s", code, out)
	}
	if code, _, errs = l.ctl("approve", "nope"); code != 1 || !strings.Contains(errs, "404") {
		t.Fatalf("approve unknown: %d %q", code, errs)
	}
}

func TestCtlErrors(t *testing.T) {
	l := startCtlLab(t, "")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ctl", "--rebalancer.url=" + l.url, "status"}, 1, "401"},
		{[]string{"ctl", "--rebalancer.url=" + l.url, "--auth.bearer-token-file=" + l.token, "--author=a", "drain", "web1", "--reason=r"}, 2, "BACKEND/SERVER"},
		{[]string{"ctl", "--rebalancer.url=" + l.url, "--auth.bearer-token-file=" + l.token, "--author=a", "drain", "be_app/web1"}, 2, "--reason"},
		{[]string{"ctl", "--rebalancer.url=" + l.url, "--auth.bearer-token-file=" + l.token, "--author=", "drain", "be_app/web1", "--reason=r"}, 2, "--author"},
		{[]string{"ctl", "--rebalancer.url=" + l.url, "--auth.bearer-token-file=" + l.token, "--author=a", "weight", "be_app/web1", "999", "--reason=r"}, 1, "want 0..256"},
		{[]string{"ctl", "--rebalancer.url=" + l.url, "--auth.password-file=/x", "status"}, 2, "--auth.username"},
		{[]string{"ctl", "--rebalancer.url=http://127.0.0.1:1", "status"}, 2, "connection refused"},
	} {
		code, _, errs := runArgs(c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%v: %d %q, want %d naming %q", c.args[2:], code, errs, c.code, c.want)
		}
	}
	if s, _ := l.h.Server("be_app", "web1"); s.Admin != 0 {
		t.Fatal("a failed command changed HAProxy")
	}
}
