package rebalancer

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/alertmanager/template"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

// The benchmarks run against a real haproxy and measure what an operator
// sees: from the webhook POST until `show servers state` shows the change.
// scripts/bench.d/30-rebalancer.sh turns their metrics into BENCHMARKS.md.

type benchLab struct {
	r      *Rebalancer
	client *haproxyapi.Client
	srv    *httptest.Server
	stop   func()
}

func startBenchLab(b *testing.B, servers int) *benchLab {
	b.Helper()
	testenv.Binary(b, "haproxy")
	var cfg strings.Builder
	cfg.WriteString(haproxytest.Global + "\nbackend bk\n    mode http\n")
	up := haproxytest.Listener(b)
	for i := 0; i < servers; i++ {
		fmt.Fprintf(&cfg, "    server s%04d %s\n", i, up)
	}
	inst := haproxytest.Start(b, cfg.String())
	client, err := haproxyapi.New(inst.Socket)
	if err != nil {
		b.Fatal(err)
	}
	c, err := Parse([]byte("guard: {min_ready: 0}\nmass_resolve: {min_alerts: 0}\nrebalancer: {reconcile_interval: 10s}"))
	if err != nil {
		b.Fatal(err)
	}
	c.HAProxy.Sockets = []string{inst.Socket}
	c.Rebalancer.StateFile = filepath.Join(benchStateDir(b), "state.json")
	if err := c.Complete(); err != nil {
		b.Fatal(err)
	}
	r, err := New(Options{Config: c, Logger: log.NewNopLogger(), DisableExporterMetrics: true})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(r.Mux("/metrics"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	return &benchLab{r: r, client: client, srv: srv, stop: func() { cancel(); <-done; srv.Close() }}
}

func (l *benchLab) post(b *testing.B, alerts []template.Alert) {
	resp, err := http.Post(l.srv.URL+"/api/v1/alerts", "application/json", bytes.NewReader(body(alerts...)))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("webhook %d", resp.StatusCode)
	}
}

// waitCount polls until n servers of bk are in state st. It pauses
// between polls (more for big backends) so that polling does not take the
// CPU from what it measures; the pause bounds the resolution.
func (l *benchLab) waitCount(b *testing.B, st haproxyapi.AdminState, n int) {
	pause := 100 * time.Microsecond
	if n > 100 {
		pause = time.Millisecond
	}
	deadline := time.Now().Add(10 * time.Second)
	for first := true; time.Now().Before(deadline); first = false {
		if !first {
			time.Sleep(pause)
		}
		ss, err := l.client.ShowServersState(context.Background(), "bk")
		if err != nil {
			b.Fatal(err)
		}
		c := 0
		for _, s := range ss.Servers {
			if forcedState(s.Admin) == st {
				c++
			}
		}
		if c == n {
			return
		}
	}
	b.Fatalf("%d servers never reached %s", n, st)
}

func percentile(d []time.Duration, p float64) float64 {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p * float64(len(s)-1))
	return float64(s[i]) / float64(time.Millisecond)
}

func storm(n int, status string, t0 time.Time) []template.Alert {
	out := make([]template.Alert, n)
	for i := range out {
		out[i] = alert(status, fmt.Sprintf("%016x", 0xb000+i), "drain", "bk", fmt.Sprintf("s%04d", i), t0)
	}
	return out
}

// BenchmarkRebalancerWebhookToHAProxy: one alert, POST → drained (and
// resolved → ready), against the same change sent straight to the socket.
func BenchmarkRebalancerWebhookToHAProxy(b *testing.B) {
	lab := startBenchLab(b, 4)
	defer lab.stop()
	ref := refOf("bk", "s0001")
	drain, _ := haproxyapi.SetServerState(ref, haproxyapi.StateDrain)
	ready, _ := haproxyapi.SetServerState(ref, haproxyapi.StateReady)
	var viaRB, viaRBRestore, direct []time.Duration
	t0 := time.Now().UTC()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		inc := t0.Add(time.Duration(i) * time.Second)
		start := time.Now()
		lab.post(b, []template.Alert{alert(StatusFiring, "c0ffee0000000001", "drain", "bk", "s0001", inc)})
		lab.waitCount(b, haproxyapi.StateDrain, 1)
		viaRB = append(viaRB, time.Since(start))
		start = time.Now()
		lab.post(b, []template.Alert{alert(StatusResolved, "c0ffee0000000001", "drain", "bk", "s0001", inc)})
		lab.waitCount(b, haproxyapi.StateReady, 4)
		viaRBRestore = append(viaRBRestore, time.Since(start))
		// The socket alone: send, then poll the same way.
		start = time.Now()
		if _, err := lab.client.Apply(context.Background(), []haproxyapi.Command{drain}); err != nil {
			b.Fatal(err)
		}
		lab.waitCount(b, haproxyapi.StateDrain, 1)
		direct = append(direct, time.Since(start))
		if _, err := lab.client.Apply(context.Background(), []haproxyapi.Command{ready}); err != nil {
			b.Fatal(err)
		}
		lab.waitCount(b, haproxyapi.StateReady, 4)
	}
	b.StopTimer()
	b.ReportMetric(percentile(viaRB, .5), "p50-ms")
	b.ReportMetric(percentile(viaRB, .99), "p99-ms")
	b.ReportMetric(percentile(viaRBRestore, .5), "restore-p50-ms")
	b.ReportMetric(percentile(viaRBRestore, .99), "restore-p99-ms")
	b.ReportMetric(percentile(direct, .5), "socket-p50-ms")
	b.ReportMetric(percentile(direct, .99), "socket-p99-ms")
}

// BenchmarkRebalancerStorm1000: one notification with 1,000 firing alerts
// → all 1,000 servers drained, against 1,000 batched commands sent straight
// to the socket (and read back the same way).
func BenchmarkRebalancerStorm1000(b *testing.B) {
	const n = 1000
	lab := startBenchLab(b, n)
	defer lab.stop()
	var cmdsDrain, cmdsReady []haproxyapi.Command
	for i := 0; i < n; i++ {
		d, _ := haproxyapi.SetServerState(refOf("bk", fmt.Sprintf("s%04d", i)), haproxyapi.StateDrain)
		r, _ := haproxyapi.SetServerState(refOf("bk", fmt.Sprintf("s%04d", i)), haproxyapi.StateReady)
		cmdsDrain, cmdsReady = append(cmdsDrain, d), append(cmdsReady, r)
	}
	var viaRB, restore, direct []time.Duration
	t0 := time.Now().UTC()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		inc := t0.Add(time.Duration(i) * time.Minute)
		start := time.Now()
		lab.post(b, storm(n, StatusFiring, inc))
		lab.waitCount(b, haproxyapi.StateDrain, n)
		viaRB = append(viaRB, time.Since(start))
		start = time.Now()
		lab.post(b, storm(n, StatusResolved, inc))
		lab.waitCount(b, haproxyapi.StateReady, n)
		restore = append(restore, time.Since(start))
		start = time.Now()
		if _, err := lab.client.Apply(context.Background(), cmdsDrain); err != nil {
			b.Fatal(err)
		}
		lab.waitCount(b, haproxyapi.StateDrain, n)
		direct = append(direct, time.Since(start))
		if _, err := lab.client.Apply(context.Background(), cmdsReady); err != nil {
			b.Fatal(err)
		}
		lab.waitCount(b, haproxyapi.StateReady, n)
	}
	b.StopTimer()
	b.ReportMetric(percentile(viaRB, .5), "storm-p50-ms")
	b.ReportMetric(percentile(viaRB, 1), "storm-max-ms")
	b.ReportMetric(percentile(restore, .5), "restore-p50-ms")
	b.ReportMetric(percentile(direct, .5), "socket-p50-ms")
	b.ReportMetric(percentile(direct, 1), "socket-max-ms")
}

// benchStateDir is where the benchmark keeps the state file:
// LBPILOT_BENCH_STATE_DIR (e.g. /dev/shm to leave fsync out), else a temp dir.
func benchStateDir(b *testing.B) string {
	if d := os.Getenv("LBPILOT_BENCH_STATE_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "lbpbench")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// BenchmarkStateAPI10000Servers: GET /api/v1/state with 1,000 backends ×
// 10 servers (what the operator page refreshes from), some of them held
// by an operator, one backend paused.
func BenchmarkStateAPI10000Servers(b *testing.B) {
	spec := map[string][]string{}
	for i := 0; i < 1000; i++ {
		names := make([]string, 10)
		for j := range names {
			names[j] = fmt.Sprintf("srv%02d", j)
		}
		spec[fmt.Sprintf("be%04d", i)] = names
	}
	h := haproxytest.NewHAProxy(b, servers(spec))
	cfg := Default()
	cfg.HAProxy.Sockets = []string{h.Socket.Addr}
	cfg.Rebalancer.StateFile = filepath.Join(b.TempDir(), "state.json")
	if err := cfg.Complete(); err != nil {
		b.Fatal(err)
	}
	r, err := New(Options{Config: cfg, Logger: log.NewNopLogger(), DisableExporterMetrics: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Reconcile(ctx, false); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := r.Manual(ctx, ManualAction{Ref: refOf(fmt.Sprintf("be%04d", i), "srv00"), Action: HoldDrain, Reason: "bench", Author: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := r.Pause("be0999", "bench", "bench", 0, false); err != nil {
		b.Fatal(err)
	}
	mux := r.Mux("/metrics")
	var size int
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/state", nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size)/1024, "KiB")
}
