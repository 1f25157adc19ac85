package rebalancer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// fakeIntake records what the handler passes on (pushgateway style).
type fakeIntake struct {
	msgs []*Message
	err  error
}

func (f *fakeIntake) Record(_ context.Context, m *Message) (Summary, error) {
	f.msgs = append(f.msgs, m)
	return Summary{Alerts: len(m.Alerts), Recorded: len(m.Alerts)}, f.err
}

func newTestMetrics(t *testing.T) *metrics {
	t.Helper()
	r := &Rebalancer{store: NewMemoryStore(nil), now: time.Now, sockState: map[string]*socketStatus{}}
	return newMetrics(prometheus.NewRegistry(), r)
}

func TestWebhookStatusCodes(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cr3t-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	auth, err := NewBearerAuth(tokenFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	good := readFixture(t, "am-0.25/webhook-firing-1-alert.raw.json")
	big := append([]byte(`{"version":"4","alerts":[],"pad":"`), bytes.Repeat([]byte("x"), MaxBodyBytes)...)
	big = append(big, `"}`...)
	tests := []struct {
		name        string
		method      string
		ctype       string
		authz       string
		body        []byte
		chunked     bool
		intakeErr   error
		code        int
		wantRecords int
	}{
		{name: "ok", body: good, code: 200, wantRecords: 1},
		{name: "ok with charset", ctype: "application/json; charset=utf-8", body: good, code: 200, wantRecords: 1},
		{name: "no auth", authz: "-", body: good, code: 401},
		{name: "wrong token", authz: "Bearer nope", body: good, code: 401},
		{name: "basic instead of bearer", authz: "Basic YWxlcnRtYW5hZ2VyOmh1bnRlcjI=", body: good, code: 401},
		{name: "lowercase scheme", authz: "bearer s3cr3t-token", body: good, code: 200, wantRecords: 1},
		{name: "GET", method: http.MethodGet, code: 405},
		{name: "no content type", ctype: "-", body: good, code: 415},
		{name: "form", ctype: "application/x-www-form-urlencoded", body: good, code: 415},
		{name: "too large by header", body: big, code: 413},
		{name: "too large streamed", body: big, chunked: true, code: 413},
		{name: "bad json", body: []byte(`{"version":"4","alerts":[`), code: 400},
		{name: "trailing garbage", body: append(append([]byte(nil), good...), []byte("{}")...), code: 400},
		{name: "wrong version", body: []byte(`{"version":"3","alerts":[]}`), code: 400},
		{name: "no version", body: []byte(`{"alerts":[]}`), code: 400},
		{name: "no alerts", body: []byte(`{"version":"4","status":"firing"}`), code: 400},
		{name: "empty alerts", body: []byte(`{"version":"4","alerts":[]}`), code: 200, wantRecords: 1},
		{name: "unknown fields tolerated", body: []byte(`{"version":"4","alerts":[],"notification_reason":"x","routeLabels":{},"future":{"a":1}}`), code: 200, wantRecords: 1},
		{name: "alert with wrong types", body: []byte(`{"version":"4","alerts":[{"labels":"x"}]}`), code: 400},
		{name: "not persisted", body: good, intakeErr: errPersist, code: 503, wantRecords: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &fakeIntake{err: tt.intakeErr}
			m := newTestMetrics(t)
			h := WebhookHandler(in, auth, m, log.NewNopLogger(), nil)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			var rd io.Reader = bytes.NewReader(tt.body)
			if tt.chunked {
				rd = io.MultiReader(rd) // hides the length: no Content-Length
			}
			req := httptest.NewRequest(method, "/api/v1/alerts", rd)
			if tt.chunked {
				req.ContentLength = -1
			}
			switch tt.ctype {
			case "":
				req.Header.Set("Content-Type", "application/json")
			case "-":
			default:
				req.Header.Set("Content-Type", tt.ctype)
			}
			switch tt.authz {
			case "":
				req.Header.Set("Authorization", "Bearer s3cr3t-token")
			case "-":
			default:
				req.Header.Set("Authorization", tt.authz)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Fatalf("code %d, want %d: %s", rec.Code, tt.code, rec.Body.String())
			}
			if len(in.msgs) != tt.wantRecords {
				t.Fatalf("intake got %d messages, want %d", len(in.msgs), tt.wantRecords)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("answer Content-Type %q", ct)
			}
			var ans map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
				t.Errorf("answer is not JSON: %q", rec.Body.String())
			}
			if tt.code == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Error("401 without WWW-Authenticate: Bearer")
			}
			if strings.Contains(rec.Body.String(), "s3cr3t") {
				t.Error("answer reveals the token")
			}
			if got := testutil.ToFloat64(m.webhookRequests.WithLabelValues(strconv.Itoa(tt.code))); got != 1 {
				t.Errorf("webhook_requests_total{code=%d} = %g", tt.code, got)
			}
		})
	}
}

func TestBearerTokenRotation(t *testing.T) {
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := NewBearerAuth(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := func(tok string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
	if !a.Allow(req("one")) || a.Allow(req("two")) {
		t.Fatal("initial token")
	}
	if err := os.WriteFile(p, []byte("two-longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !a.Allow(req("two-longer")) || a.Allow(req("one")) {
		t.Fatal("rotated token not picked up")
	}
	if err := os.WriteFile(p, []byte("  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !a.Allow(req("two-longer")) {
		t.Fatal("an emptied token file must keep the last good token")
	}
	for _, bad := range []string{filepath.Join(t.TempDir(), "missing"), p} {
		if _, err := NewBearerAuth(bad, nil); err == nil {
			t.Errorf("NewBearerAuth(%s) accepted a missing or empty file", bad)
		}
	}
	var nilAuth *BearerAuth
	if !nilAuth.Allow(req("")) {
		t.Fatal("no token configured must allow")
	}
}

// TestWebhookFixtures feeds every captured Alertmanager payload (0.25 and
// 0.34) through the real handler and checks the resulting HAProxy state.
func TestWebhookFixtures(t *testing.T) {
	const labRules = `
disable_default_rule: true
guard: {min_ready: 0}
mass_resolve: {min_alerts: 0}
rules:
  - name: lab
    match_re: {rebalance_action: "drain|maint"}
    action_label: rebalance_action
    target: {by: labels, backend_label: backend, server_label: server}
`
	type step struct {
		file string
		want map[string]haproxyapi.AdminState
	}
	run := func(t *testing.T, steps []step) {
		hs := newHarness(t, labRules, servers(map[string][]string{"be_app": {"web1", "web2", "web3"}}))
		for _, st := range steps {
			b := readFixture(t, st.file)
			code := hs.post(b)
			if code != 200 {
				t.Fatalf("%s: %d", st.file, code)
			}
			hs.mustReconcile()
			for s, want := range st.want {
				if got := hs.admin("be_app", s); got != want {
					t.Fatalf("after %s: %s is %s, want %s\n%s", st.file, s, got, want, hs.logs.String())
				}
			}
			// Replaying the same notification changes nothing.
			before := len(hs.setCommands())
			if code := hs.post(b); code != 200 {
				t.Fatalf("replay %s: %d", st.file, code)
			}
			hs.mustReconcile()
			if after := len(hs.setCommands()); after != before {
				t.Fatalf("replay of %s sent %d commands", st.file, after-before)
			}
		}
	}
	R, D := haproxyapi.StateReady, haproxyapi.StateDrain
	t.Run("0.25", func(t *testing.T) {
		run(t, []step{
			{"am-0.25/webhook-firing-1-alert.json", map[string]haproxyapi.AdminState{"web1": D, "web2": R}},
			{"am-0.25/webhook-firing-2-alerts.json", map[string]haproxyapi.AdminState{"web1": D, "web2": D}},
			// top-level status firing, but web1's own status is resolved
			{"am-0.25/webhook-firing-mixed-1-resolved-1-firing.json", map[string]haproxyapi.AdminState{"web1": R, "web2": D}},
			{"am-0.25/webhook-resolved-1-alert.json", map[string]haproxyapi.AdminState{"web1": R, "web2": R}},
			{"am-0.25/webhook-firing-1-new-plus-2-stale-resolved.json", map[string]haproxyapi.AdminState{"web1": R, "web2": R, "web3": D}},
			{"am-0.25/webhook-firing-3-alerts.json", map[string]haproxyapi.AdminState{"web1": D, "web2": D, "web3": D}},
			{"am-0.25/webhook-resolved-3-by-endsAt-timeout-prometheus-down.json", map[string]haproxyapi.AdminState{"web1": R, "web2": R, "web3": R}},
		})
	})
	t.Run("0.34", func(t *testing.T) {
		run(t, []step{
			{"am-0.34/webhook-firing-1-alert.json", map[string]haproxyapi.AdminState{"web1": R, "web2": D}},
			{"am-0.34/webhook-firing-2-alerts.raw.json", map[string]haproxyapi.AdminState{"web1": D, "web2": D}},
			{"am-0.34/webhook-firing-2-plus-1-resolved.json", map[string]haproxyapi.AdminState{"web1": D, "web2": D, "web3": R}},
			{"am-0.34/webhook-resolved-2-alerts.json", map[string]haproxyapi.AdminState{"web1": R, "web2": R}},
		})
	})
	t.Run("truncated", func(t *testing.T) {
		hs := newHarness(t, labRules, three())
		if code := hs.post(readFixture(t, "am-0.25/webhook-firing-truncated-max_alerts-1.json")); code != 200 {
			t.Fatal(code)
		}
		if got := testutil.ToFloat64(hs.r.m.truncated); got != 2 {
			t.Fatalf("truncated alerts counted %g, want 2", got)
		}
		if !strings.Contains(hs.logs.String(), "max_alerts") {
			t.Fatal("truncation not logged")
		}
	})
}

// TestWebhookCapturedHeaders replays a notification with the exact request
// headers Alertmanager 0.25 sent (bearer token, content type).
func TestWebhookCapturedHeaders(t *testing.T) {
	raw := readFixture(t, "am-0.25/webhook-headers-bearer.txt")
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(append(bytes.TrimRight(raw, "\n"), []byte("\r\n\r\n")...))))
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
	p := filepath.Join(t.TempDir(), "token")
	_ = os.WriteFile(p, []byte(tok), 0o600)
	hs := newHarness(t, "rebalancer: {bearer_token_file: "+p+"}", three())
	body := readFixture(t, "am-0.25/webhook-firing-1-alert.raw.json")
	r2 := httptest.NewRequest(http.MethodPost, "/api/v1/alerts", bytes.NewReader(body))
	for k, v := range req.Header {
		r2.Header[k] = v
	}
	r2.ContentLength = int64(len(body))
	rec := httptest.NewRecorder()
	hs.r.Mux("/metrics").ServeHTTP(rec, r2)
	if rec.Code != 200 {
		t.Fatalf("code %d: %s", rec.Code, rec.Body.String())
	}
	// The state API is behind the same token and shows no secret.
	st := httptest.NewRequest(http.MethodGet, "/api/v1/state", nil)
	rec = httptest.NewRecorder()
	hs.r.Mux("/metrics").ServeHTTP(rec, st)
	if rec.Code != 401 {
		t.Fatalf("state without token: %d", rec.Code)
	}
	st.Header.Set("Authorization", "Bearer "+tok)
	rec = httptest.NewRecorder()
	hs.r.Mux("/metrics").ServeHTTP(rec, st)
	if rec.Code != 200 || strings.Contains(rec.Body.String(), tok) {
		t.Fatalf("state: %d %s", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	hs.r.Mux("/metrics").ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/state", nil))
	if rec.Code != 401 {
		t.Fatalf("POST state without token: %d", rec.Code)
	}
	pst := httptest.NewRequest(http.MethodPost, "/api/v1/state", nil)
	pst.Header.Set("Authorization", "Bearer "+tok)
	rec = httptest.NewRecorder()
	hs.r.Mux("/metrics").ServeHTTP(rec, pst)
	if rec.Code != 405 {
		t.Fatalf("POST state: %d", rec.Code)
	}
}

// TestWebhookInjectionSendsNothing: hostile label values are refused at
// intake, counted, logged, and no byte reaches the socket.
func TestWebhookInjectionSendsNothing(t *testing.T) {
	hs := newHarness(t, "", three())
	t0 := hs.clock.Now()
	evil := []string{"web1;shutdown sessions server be_app/web2", "web1\nset server be_app/web2 state maint", "web1 state maint", "web1\r", "web1/../web2", "#1;x", "web1\x00"}
	var alerts []any
	for i, s := range evil {
		alerts = append(alerts, alert(StatusFiring, "e"+strconv.Itoa(i), "maint", "be_app", s, t0))
		alerts = append(alerts, alert(StatusFiring, "b"+strconv.Itoa(i), "maint", s, "web1", t0))
	}
	b, _ := json.Marshal(map[string]any{"version": "4", "status": "firing", "alerts": alerts})
	if code := hs.post(b); code != 200 {
		t.Fatalf("code %d (a hostile alert is not Alertmanager's fault: 200, counted)", code)
	}
	hs.mustReconcile()
	for _, c := range hs.h.Commands() {
		if !strings.HasPrefix(c, "show ") {
			t.Fatalf("command sent: %q", c)
		}
	}
	if got := testutil.ToFloat64(hs.r.m.alertsIgnored.WithLabelValues(ReasonInvalidName)); got != float64(2*len(evil)) {
		t.Fatalf("invalid_name counted %g, want %d", got, 2*len(evil))
	}
	// Every one counted, one line logged: a flood of bad alerts does not
	// flood the log.
	if n := strings.Count(hs.logs.String(), "Alert rejected"); n != 1 {
		t.Fatalf("%d rejection lines logged for %d rejections of one reason", n, 2*len(evil))
	}
	if len(hs.r.StateView().Alerts) != 0 {
		t.Fatal("hostile alerts were recorded")
	}
}

// TestWebhook503WhenStateCannotBePersisted uses the real intake: the state
// directory disappears; the answer is 503 and no change reaches HAProxy;
// once the directory is back, the retry answers 200.
func TestWebhook503WhenStateCannotBePersisted(t *testing.T) {
	hs := newHarness(t, "", three())
	dir := filepath.Join(hs.dir, "sub")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	hs.cfg.Rebalancer.StateFile = filepath.Join(dir, "state.json")
	hs.start()
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	b := body(alert(StatusFiring, "f1", "drain", "be_app", "web1", hs.clock.Now()))
	if code := hs.post(b); code != 503 {
		t.Fatalf("code %d, want 503", code)
	}
	if err := hs.reconcile(); err == nil {
		t.Fatal("reconcile succeeded without a writable state file")
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	// Never attempted, so never shown as owned (pending) either.
	if owned := hs.r.StateView().Owned; len(owned) != 0 {
		t.Fatalf("/api/v1/state shows %d owned server(s) after an intent that could not be written: %+v", len(owned), owned[0])
	}
	if got := testutil.ToFloat64(hs.r.m.stateWriteFails); got < 2 {
		t.Fatalf("state_write_failures_total %g", got)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if code := hs.post(b); code != 200 {
		t.Fatalf("retry: code %d, want 200 (the retry must persist what the failed attempt could not)", code)
	}
	if _, err := os.Stat(hs.cfg.Rebalancer.StateFile); err != nil {
		t.Fatal(err)
	}
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
}

func TestWebhookReplayAnswersTheSame(t *testing.T) {
	hs := newHarness(t, "", three())
	b := body(alert(StatusFiring, "f1", "drain", "be_app", "web1", hs.clock.Now()))
	var answers []string
	for i := 0; i < 3; i++ {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/alerts", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		hs.r.Mux("/metrics").ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatal(rec.Code)
		}
		var s Summary
		_ = json.Unmarshal(rec.Body.Bytes(), &s)
		answers = append(answers, rec.Body.String())
		if i > 0 && (s.Recorded != 0 || s.Unchanged != 1) {
			t.Fatalf("replay %d: %+v", i, s)
		}
	}
	if answers[1] != answers[2] {
		t.Fatalf("replays answered differently: %q vs %q", answers[1], answers[2])
	}
}

// TestWebhookBoundsState: alerts with oversized labels are refused (one
// log line per notification, every one counted); past max_alerts new
// alerts are refused; once HAProxy has been read, an alert naming a
// server no socket has is not stored. The state file stays small.
func TestWebhookBoundsState(t *testing.T) {
	hs := newHarness(t, "rebalancer: {max_alerts: 3}\n", three())
	t0 := hs.clock.Now()
	var alerts []any
	for i := 0; i < 5; i++ {
		a := alert(StatusFiring, "big"+strconv.Itoa(i), "drain", "be_app", "web1", t0)
		a.Labels["junk"] = strings.Repeat("x", 100<<10) // under the 1 MiB body limit all together
		alerts = append(alerts, a)
	}
	b, _ := json.Marshal(map[string]any{"version": "4", "status": "firing", "alerts": alerts})
	hs.mustPost(b)
	if got := testutil.ToFloat64(hs.r.m.alertsIgnored.WithLabelValues(ReasonLabelsTooLarge)); got != 5 {
		t.Errorf("labels_too_large counted %g, want 5", got)
	}
	if n := strings.Count(hs.logs.String(), "Alerts with oversized labels refused"); n != 1 {
		t.Errorf("%d log lines for one notification of oversized alerts, want 1", n)
	}

	hs.mustReconcile() // HAProxy's servers are known from here on
	b, _ = json.Marshal(map[string]any{"version": "4", "status": "firing", "alerts": []any{alert(StatusFiring, "ghost", "drain", "be_app", "web9", t0)}})
	hs.mustPost(b)
	if got := testutil.ToFloat64(hs.r.m.alertsIgnored.WithLabelValues(ReasonNoServer)); got != 1 {
		t.Errorf("no_server counted %g, want 1", got)
	}

	alerts = nil
	for i := 0; i < 5; i++ {
		alerts = append(alerts, alert(StatusFiring, "ok"+strconv.Itoa(i), "drain", "be_app", []string{"web1", "web2", "web3"}[i%3], t0))
	}
	b, _ = json.Marshal(map[string]any{"version": "4", "status": "firing", "alerts": alerts})
	hs.mustPost(b)
	if got := testutil.ToFloat64(hs.r.m.alertsIgnored.WithLabelValues(ReasonTooManyAlerts)); got != 2 {
		t.Errorf("too_many_alerts counted %g, want 2", got)
	}
	if n := len(hs.r.StateView().Alerts); n != 3 {
		t.Errorf("%d alerts tracked, want max_alerts 3", n)
	}
	if err := hs.r.store.SyncAll(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(hs.cfg.Rebalancer.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 16<<10 {
		t.Errorf("state file of %d bytes", fi.Size())
	}
	if b, _ := os.ReadFile(hs.cfg.Rebalancer.StateFile); strings.Contains(string(b), "ghost") || strings.Contains(string(b), "big0") {
		t.Errorf("refused alerts on disk: %s", b)
	}
}

// TestWebhookRefusalsLogOnce: a flood of unauthenticated requests is
// counted in full and logged once per answer code.
func TestWebhookRefusalsLogOnce(t *testing.T) {
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	hs := newHarness(t, "rebalancer: {bearer_token_file: "+p+"}\n", three())
	const n = 200
	for i := 0; i < n; i++ {
		if code := hs.post([]byte(`{}`)); code != http.StatusUnauthorized {
			t.Fatalf("unauthenticated: %d", code)
		}
	}
	if got := testutil.ToFloat64(hs.r.m.webhookRequests.WithLabelValues("401")); got != n {
		t.Errorf("401 counted %g times, want %d", got, n)
	}
	if c := strings.Count(hs.logs.String(), "Webhook request refused"); c != 1 {
		t.Errorf("%d log lines for %d refusals, want 1", c, n)
	}
}
