package rebalancer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/testenv"

	"github.com/go-kit/log"
	"github.com/prometheus/alertmanager/template"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock {
	return &testClock{t: time.Date(2026, 11, 21, 19, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// servers builds fake servers: backend → names, all up, weight 100.
func servers(spec map[string][]string) []haproxytest.Server {
	var out []haproxytest.Server
	for _, b := range sortedKeys(spec) {
		for i, n := range spec[b] {
			out = append(out, haproxytest.Server{Backend: b, Name: n, Up: true, Addr: fmt.Sprintf("10.0.%d.%d", len(out)/250, i+1), Port: 8080})
		}
	}
	return out
}

type harness struct {
	t     *testing.T
	r     *Rebalancer
	h     *haproxytest.HAProxy
	clock *testClock
	cfg   *Config
	dir   string
	logs  *testenv.SyncBuffer
	srv   *httptest.Server
}

// newHarness starts a stateful fake HAProxy and a rebalancer with the
// given YAML config (sockets and state file are filled in).
func newHarness(t *testing.T, yml string, srvs []haproxytest.Server) *harness {
	t.Helper()
	h := haproxytest.NewHAProxy(t, srvs)
	hs := &harness{t: t, h: h, clock: newClock(), dir: t.TempDir(), logs: &testenv.SyncBuffer{}}
	cfg, err := Parse([]byte(yml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.HAProxy.Sockets = []string{h.Socket.Addr}
	cfg.Rebalancer.StateFile = filepath.Join(hs.dir, "state.json")
	cfg.Rebalancer.HistoryFile = filepath.Join(hs.dir, "history.jsonl")
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	hs.cfg = cfg
	hs.start()
	return hs
}

// start (re)creates the rebalancer from the state file, as a restart does.
func (hs *harness) start() {
	hs.t.Helper()
	r, err := New(Options{Config: hs.cfg, Logger: log.NewLogfmtLogger(hs.logs), Now: hs.clock.Now, DisableExporterMetrics: true})
	if err != nil {
		hs.t.Fatalf("New: %v", err)
	}
	hs.r = r
	if hs.srv != nil {
		hs.srv.Close()
	}
	hs.srv = httptest.NewServer(r.Mux("/metrics"))
	hs.t.Cleanup(hs.srv.Close)
}

func (hs *harness) reconcile() error {
	hs.t.Helper()
	return hs.r.Reconcile(context.Background(), false)
}

// post sends a webhook body and returns the status code.
func (hs *harness) post(body []byte) int {
	hs.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/alerts", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	hs.r.Mux("/metrics").ServeHTTP(rec, req)
	return rec.Code
}

func (hs *harness) mustPost(body []byte) {
	hs.t.Helper()
	if code := hs.post(body); code != http.StatusOK {
		hs.t.Fatalf("webhook answered %d, want 200\n%s", code, hs.logs.String())
	}
}

// admin returns the admin state HAProxy shows (ready/drain/maint).
func (hs *harness) admin(b, s string) haproxyapi.AdminState {
	hs.t.Helper()
	srv, ok := hs.h.Server(b, s)
	if !ok {
		hs.t.Fatalf("no server %s/%s", b, s)
	}
	return haproxyapi.AdminFlags(srv.Admin).State()
}

func (hs *harness) weight(b, s string) int {
	hs.t.Helper()
	srv, _ := hs.h.Server(b, s)
	return srv.UWeight
}

func (hs *harness) wantAdmin(b, s string, want haproxyapi.AdminState) {
	hs.t.Helper()
	if got := hs.admin(b, s); got != want {
		hs.t.Fatalf("%s/%s is %s, want %s\nlogs:\n%s", b, s, got, want, hs.logs.String())
	}
}

// setCommands returns the state-changing commands HAProxy received.
func (hs *harness) setCommands() []string {
	var out []string
	for _, c := range hs.h.Commands() {
		if strings.HasPrefix(c, "set server") || strings.HasPrefix(c, "set weight") {
			out = append(out, c)
		}
	}
	return out
}

// alert builds a webhook alert with the built-in labels.
func alert(status, fp, action, backend, server string, startsAt time.Time) template.Alert {
	a := template.Alert{
		Status:      status,
		Fingerprint: fp,
		Labels:      template.KV{"alertname": "Test", LabelAction: action, LabelBackend: backend, LabelServer: server},
		StartsAt:    startsAt,
	}
	if status == StatusResolved {
		a.EndsAt = startsAt.Add(time.Minute)
	}
	return a
}

// body encodes a webhook payload the way Alertmanager does.
func body(alerts ...template.Alert) []byte {
	st := StatusResolved
	for _, a := range alerts {
		if a.Status == StatusFiring {
			st = StatusFiring
		}
	}
	msg := Message{
		Data:     &template.Data{Receiver: "rebalancer", Status: st, Alerts: alerts, GroupLabels: template.KV{}, CommonLabels: template.KV{}, CommonAnnotations: template.KV{}},
		Version:  WebhookVersion,
		GroupKey: `{}:{alertname="Test"}`,
	}
	b, err := json.Marshal(msg)
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
