package rebalancer

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

// process runs a program until the test ends.
func process(t *testing.T, name string, args ...string) {
	t.Helper()
	bin := testenv.Binary(t, name)
	var out testenv.SyncBuffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _, _ = cmd.Process.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("--- %s output:\n%s", name, tail(out.String(), 400))
		}
	})
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func waitHTTP(t *testing.T, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not up after %s", url, within)
}

// TestEndToEndPrometheusAlertmanager: a lab metric flips, a real
// Prometheus rule fires, a real Alertmanager (Debian 0.25) notifies the
// rebalancer with a bearer token, a real haproxy drains the server; the
// metric flips back and the server is ready again.
func TestEndToEndPrometheusAlertmanager(t *testing.T) {
	testenv.Binary(t, "prometheus")
	testenv.Binary(t, "prometheus-alertmanager")
	dir := t.TempDir()

	// HAProxy with three healthy servers.
	up := haproxytest.Listener(t)
	inst := haproxytest.Start(t, haproxytest.Global+strings.ReplaceAll(labBackend, "UP", up))
	client, err := haproxyapi.New(inst.Socket)
	if err != nil {
		t.Fatal(err)
	}

	// The lab target: one gauge that the test flips.
	var unhealthy atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE lab_backend_unhealthy gauge\nlab_backend_unhealthy{haproxy_backend=\"bk\",haproxy_server=\"web2\"} %d\n", unhealthy.Load())
	}))
	defer target.Close()

	// The rebalancer, with a bearer token and the Alertmanager API refresh.
	amPort, promPort := testenv.FreePort(t), testenv.FreePort(t)
	token := writeFile(t, dir, "token", "e2e-token-value\n")
	cfg, err := Parse([]byte(fmt.Sprintf(`
haproxy: {sockets: ['%s']}
rebalancer: {state_file: %s, reconcile_interval: 1s, bearer_token_file: %s}
alertmanager: {url: 'http://127.0.0.1:%d'}
`, inst.Socket, filepath.Join(dir, "state.json"), token, amPort)))
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	r, err := New(Options{Config: cfg, Logger: log.NewLogfmtLogger(logs), DisableExporterMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	rbSrv := httptest.NewServer(r.Mux("/metrics"))
	defer rbSrv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); _ = r.Run(ctx) }()
	defer func() { cancel(); <-loopDone }()

	// Alertmanager 0.25: a short route to the rebalancer, bearer token from a file.
	amCfg := writeFile(t, dir, "am.yml", fmt.Sprintf(`
route:
  receiver: rebalancer
  group_by: [alertname, haproxy_backend, haproxy_server]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: rebalancer
    webhook_configs:
      - url: %s/api/v1/alerts
        send_resolved: true
        max_alerts: 0
        http_config:
          authorization: {type: Bearer, credentials_file: %s}
`, rbSrv.URL, token))
	process(t, "prometheus-alertmanager", "--config.file="+amCfg, "--storage.path="+filepath.Join(dir, "am"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", amPort), "--cluster.listen-address=", "--log.level=debug")

	// Prometheus: 1 s scrape and evaluation, `for: 1s`, fast resends.
	rules := writeFile(t, dir, "rules.yml", `
groups:
  - name: lbpilot-e2e
    interval: 1s
    rules:
      - alert: LabBackendUnhealthy
        expr: lab_backend_unhealthy > 0
        for: 1s
        labels: {lbpilot_action: drain}
`)
	promCfg := writeFile(t, dir, "prometheus.yml", fmt.Sprintf(`
global: {scrape_interval: 1s, evaluation_interval: 1s}
alerting:
  alertmanagers: [{static_configs: [{targets: ['127.0.0.1:%d']}]}]
rule_files: [%s]
scrape_configs:
  - job_name: lab
    static_configs: [{targets: ['%s']}]
`, amPort, rules, strings.TrimPrefix(target.URL, "http://")))
	process(t, "prometheus", "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort), "--rules.alert.resend-delay=1s")
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/-/ready", amPort), 20*time.Second)
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/-/ready", promPort), 20*time.Second)

	wait := func(want string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < within {
			if strings.HasPrefix(statStatus(t, client, "bk", "web2"), want) {
				return time.Since(start)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("web2 not %s after %s (status %q)\nrebalancer log:\n%s", want, within, statStatus(t, client, "bk", "web2"), logs.String())
		return 0
	}
	wait("UP", 10*time.Second)
	unhealthy.Store(1)
	took := wait("DRAIN", 60*time.Second)
	t.Logf("metric flip → DRAIN in HAProxy: %s", took.Round(10*time.Millisecond))
	if s := statStatus(t, client, "bk", "web1"); !strings.HasPrefix(s, "UP") {
		t.Errorf("web1 %s: only web2's alert fired", s)
	}
	unhealthy.Store(0)
	took = wait("UP", 60*time.Second)
	t.Logf("metric flip back → UP in HAProxy: %s", took.Round(10*time.Millisecond))
	// The API refresh against the real Alertmanager worked.
	if v := testutil.ToFloat64(r.m.amRefreshOK); v != 1 {
		t.Errorf("alertmanager refresh success = %g\n%s", v, logs.String())
	}
	if got := testutil.ToFloat64(r.m.webhookRequests.WithLabelValues("200")); got < 2 {
		t.Errorf("%g webhooks answered 200, want firing and resolved", got)
	}
	if got := testutil.ToFloat64(r.m.webhookRequests.WithLabelValues("401")); got != 0 {
		t.Errorf("%g webhooks refused: the bearer token did not match", got)
	}
}
