package rebalancer

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// staticSocket is an in-memory HAProxy: a fixed server list that the
// dry-run overlay turns into a stateful one. recordingSocket in front of it
// keeps every command that reached the Socket interface.
type staticSocket struct{ ss haproxyapi.ServersState }

func (s *staticSocket) Name() string { return "unix:/fuzz/admin.sock" }
func (s *staticSocket) ShowInfo(context.Context) (haproxyapi.Info, error) {
	return haproxyapi.Info{"Name": "HAProxy", "Pid": "1", "Uptime_sec": "1"}, nil
}
func (s *staticSocket) ShowServersState(context.Context) (*haproxyapi.ServersState, error) {
	c := s.ss
	c.Servers = append([]haproxyapi.ServerState(nil), s.ss.Servers...)
	return &c, nil
}
func (s *staticSocket) Apply(_ context.Context, cmds []haproxyapi.Command) (haproxyapi.Results, error) {
	return make(haproxyapi.Results, len(cmds)), nil
}

type recordingSocket struct {
	*dryRunSocket
	mu   sync.Mutex
	cmds []string
}

func (r *recordingSocket) Apply(ctx context.Context, cmds []haproxyapi.Command) (haproxyapi.Results, error) {
	r.mu.Lock()
	for _, c := range cmds {
		r.cmds = append(r.cmds, c.String())
	}
	r.mu.Unlock()
	return r.dryRunSocket.Apply(ctx, cmds)
}

var safeCommand = regexp.MustCompile(`^set (server [A-Za-z0-9_.:-]+/[A-Za-z0-9_.:-]+ state (ready|drain|maint)|weight [A-Za-z0-9_.:-]+/[A-Za-z0-9_.:-]+ [0-9]{1,3}%?)$`)

func fuzzRebalancer(t testing.TB, yml string) (*Rebalancer, *recordingSocket) {
	cfg, err := Parse([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Rebalancer.StateFile = filepath.Join(t.TempDir(), "unused.json")
	base := &staticSocket{}
	for i, n := range []string{"web1", "web2", "web3", "web4"} {
		base.ss.Servers = append(base.ss.Servers, haproxyapi.ServerState{Backend: "be_app", Name: n, Addr: "10.0.0." + string(rune('1'+i)),
			OpState: haproxyapi.OpRunning, UWeight: 100, IWeight: 100})
	}
	rec := &recordingSocket{dryRunSocket: newDryRunSocket(base)}
	r, err := New(Options{Config: cfg, Sockets: []Socket{rec}, DisableExporterMetrics: true, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	r.store = NewMemoryStore(nil) // no fsync per iteration
	return r, rec
}

const fuzzRules = `
guard: {min_ready: 0}
rules:
  - name: by-address
    match: {alertname: Addr}
    action_label: act
    target: {by: address}
  - name: lab
    match_re: {rebalance_action: ".+"}
    action_label: rebalance_action
    target: {by: labels, backend_label: backend, server_label: server}
`

func checkCommands(t *testing.T, rec *recordingSocket) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, c := range rec.cmds {
		if !safeCommand.MatchString(c) {
			t.Fatalf("unsafe command reached the socket: %q", c)
		}
	}
	rec.cmds = rec.cmds[:0]
}

// FuzzWebhookBody: arbitrary bodies through the real handler and a
// reconcile: no panic, an answer from the contract, and only well-formed
// commands on known names reach the socket.
func FuzzWebhookBody(f *testing.F) {
	for _, dir := range []string{"testdata/am-0.25", "testdata/am-0.34"} {
		files, _ := filepath.Glob(filepath.Join(dir, "webhook-*.json"))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"version":"4","alerts":[{"status":"firing","labels":{"lbpilot_action":"drain","haproxy_backend":"be_app","haproxy_server":"web1;shutdown sessions"}}]}`))
	f.Add([]byte(`{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"Addr","act":"weight 0%","instance":"10.0.0.2:9100"}}]}`))
	f.Add([]byte(`{"version":"4","alerts":[{"status":"resolved","fingerprint":"x","startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"version":"4","alerts":null}`))
	f.Add([]byte(`[]`))
	r, rec := fuzzRebalancer(f, fuzzRules)
	h := r.Mux("/metrics")
	f.Fuzz(func(t *testing.T, b []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/alerts", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 413:
		default:
			t.Fatalf("answer %d", w.Code)
		}
		if err := r.Reconcile(context.Background(), false); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		checkCommands(t, rec)
	})
}

// FuzzAlertLabels: arbitrary label values (names, action, address) through
// intake and planner.
func FuzzAlertLabels(f *testing.F) {
	f.Add("be_app", "web1", "drain", "10.0.0.1:9100", "firing")
	f.Add("be_app", "web1;shutdown sessions", "maint", "10.0.0.1", "firing")
	f.Add("be_app\n", "web1", "weight 50%", "[::1]:80", "firing")
	f.Add("be app", "web 1", "weight 0%", "10.0.0.3 ;x", "resolved")
	f.Add("#1", "#2", "maint", "#1", "firing")
	f.Add("be_app", "web2", "drain\nmaint", "10.0.0.2:9100/x", "firing")
	r, rec := fuzzRebalancer(f, fuzzRules)
	f.Fuzz(func(t *testing.T, backend, server, action, instance, status string) {
		alerts := []map[string]any{
			{"status": status, "startsAt": "2026-01-01T00:00:00Z", "labels": map[string]string{"rebalance_action": action, "backend": backend, "server": server}},
			{"status": status, "startsAt": "2026-01-01T00:00:00Z", "labels": map[string]string{"alertname": "Addr", "act": action, "instance": instance}},
		}
		b, err := json.Marshal(map[string]any{"version": "4", "alerts": alerts})
		if err != nil {
			return // invalid UTF-8 is replaced, never an error; defensive
		}
		msg, err := DecodeMessage(b)
		if err != nil {
			t.Fatalf("valid JSON refused: %v", err)
		}
		if _, err := r.Record(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
		if err := r.Reconcile(context.Background(), false); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		checkCommands(t, rec)
	})
}

// FuzzOperatorRequest: arbitrary names, actions and bodies through the
// operator endpoints (with a valid CSRF token): no panic, an answer from
// the contract, and only well-formed commands on known names reach the
// socket.
func FuzzOperatorRequest(f *testing.F) {
	f.Add("be_app", "web1", "drain", []byte(`{"reason":"r","author":"a"}`))
	f.Add("be_app", "web1", "weight", []byte(`{"reason":"r","author":"a","weight":0,"force":true}`))
	f.Add("be_app", "web1;shutdown sessions", "maint", []byte(`{"reason":"r","author":"a"}`))
	f.Add("be_app", "web2", "release", []byte(`{"author":"a"}`))
	f.Add("be%0aapp", "#1", "ready", []byte(`{"reason":"r\n","author":"a","expires_in":"-5m"}`))
	f.Add("be_app", "", "pause", []byte(`{"backend":"be_app","reason":"r","author":"a","expires_in":"1h"}`))
	f.Add("x", "", "approve", []byte(`{"author":"a"}`))
	r, rec := fuzzRebalancer(f, fuzzRules)
	h := r.Mux("/metrics")
	tok := r.CSRFToken()
	f.Fuzz(func(t *testing.T, backend, server, action string, body []byte) {
		var path string
		switch action {
		case "pause", "resume":
			path = "/api/v1/" + action
		case "approve", "reject":
			path = "/api/v1/proposals/" + url.PathEscape(backend) + "/" + action
		default:
			path = "/api/v1/servers/" + url.PathEscape(backend) + "/" + url.PathEscape(server) + "/" + url.PathEscape(action)
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(CSRFHeader, tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 404, 409, 413:
		case 301, 307: // the mux cleans paths with empty or dot segments
		default:
			t.Fatalf("%s: answer %d %s", path, w.Code, w.Body)
		}
		if w.Code != 301 && w.Code != 307 {
			var out map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
				t.Fatalf("%s: answer is not JSON: %q", path, w.Body)
			}
		}
		checkCommands(t, rec)
		if err := r.Reconcile(context.Background(), false); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		checkCommands(t, rec)
	})
}
