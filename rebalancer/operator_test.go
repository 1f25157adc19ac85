package rebalancer

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// op sends an operator request (with the CSRF token for POST) and
// returns the status code and the decoded JSON answer.
func (hs *harness) op(method, path string, body any) (int, map[string]any) {
	hs.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			hs.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	if method == http.MethodPost {
		req.Header.Set(CSRFHeader, hs.r.CSRFToken())
	}
	rec := httptest.NewRecorder()
	hs.r.Mux("/metrics").ServeHTTP(rec, req)
	out := map[string]any{}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		hs.t.Fatalf("%s %s: answer %d is not a JSON object: %q", method, path, rec.Code, rec.Body.String())
	}
	return rec.Code, out
}

func (hs *harness) mustOp(method, path string, body any) map[string]any {
	hs.t.Helper()
	code, out := hs.op(method, path, body)
	if code != http.StatusOK {
		hs.t.Fatalf("%s %s: %d %v\n%s", method, path, code, out, hs.logs.String())
	}
	return out
}

type obj = map[string]any

func TestStateViewOperatorFields(t *testing.T) {
	hs := newHarness(t, "", three())
	hs.mustReconcile()
	b, err := json.Marshal(hs.r.StateView())
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Paused struct {
			Global   *Pause           `json:"global"`
			Backends map[string]Pause `json:"backends"`
		} `json:"paused"`
		Servers   []map[string]json.RawMessage `json:"servers"`
		Proposals []json.RawMessage            `json:"proposals"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Paused.Global != nil || v.Paused.Backends == nil || v.Proposals == nil {
		t.Fatalf("paused/proposals: %s", b)
	}
	if len(v.Servers) != 3 {
		t.Fatalf("servers: %d, want 3", len(v.Servers))
	}
	s := v.Servers[0]
	for _, k := range []string{"backend", "server", "socket", "haproxy_state", "weight", "owner", "hold", "alerts"} {
		if _, ok := s[k]; !ok {
			t.Errorf("server view lacks %q: %v", k, s)
		}
	}
	if string(s["haproxy_state"]) != `"READY"` || string(s["hold"]) != "null" || string(s["owner"]) != `""` || string(s["alerts"]) != "[]" {
		t.Errorf("server view %v", s)
	}
}

func TestCSRFRequired(t *testing.T) {
	hs := newHarness(t, "", three())
	tok := hs.mustOp(http.MethodGet, "/api/v1/csrf", nil)["token"]
	if tok != hs.r.CSRFToken() || len(hs.r.CSRFToken()) < 32 {
		t.Fatalf("token %v", tok)
	}
	for _, hdr := range []string{"", "wrong"} {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/pause", strings.NewReader(`{"reason":"x","author":"y"}`))
		if hdr != "" {
			req.Header.Set(CSRFHeader, hdr)
		}
		rec := httptest.NewRecorder()
		hs.r.Mux("/metrics").ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "CSRF") {
			t.Fatalf("header %q: %d %s", hdr, rec.Code, rec.Body)
		}
	}
	if v := hs.r.StateView(); v.Paused.Global != nil {
		t.Fatal("a request without the token paused the rebalancer")
	}
}

func TestOperatorEndpointsNeedAuth(t *testing.T) {
	hs := newHarness(t, "", three())
	tokFile := writeFile(t, hs.dir, "token", "s3cret\n")
	hs.cfg.Rebalancer.BearerTokenFile = tokFile
	hs.start()
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/csrf"}, {http.MethodGet, "/api/v1/history"}, {http.MethodPost, "/api/v1/pause"},
		{http.MethodPost, "/api/v1/servers/be_app/web1/drain"}, {http.MethodPost, "/api/v1/proposals/x/approve"},
	} {
		code, out := hs.op(c.method, c.path, obj{"reason": "r", "author": "a"})
		if code != http.StatusUnauthorized {
			t.Errorf("%s %s without token: %d %v", c.method, c.path, code, out)
		}
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
}

func TestPauseHoldsNewActionsAndRestores(t *testing.T) {
	hs := newHarness(t, "", three())
	t0 := hs.clock.Now()
	hs.mustReconcile()
	out := hs.mustOp(http.MethodPost, "/api/v1/pause", obj{"reason": "deploy", "author": "alice"})
	if out["result"] != ManualApplied {
		t.Fatalf("pause: %v", out)
	}
	if out := hs.mustOp(http.MethodPost, "/api/v1/pause", obj{"reason": "deploy", "author": "alice"}); out["result"] != ManualUnchanged {
		t.Fatalf("replayed pause: %v", out)
	}
	want := `
# HELP lbpilot_rebalancer_paused Whether the rebalancer is paused (1): backend="" for the global pause (always present), one series per paused backend.
# TYPE lbpilot_rebalancer_paused gauge
lbpilot_rebalancer_paused{backend=""} 1
`
	if err := testutil.GatherAndCompare(hs.r.Registry(), strings.NewReader(want), "lbpilot_rebalancer_paused"); err != nil {
		t.Fatal(err)
	}
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	v := hs.r.StateView()
	if d := v.Sockets[hs.h.Socket.Addr].Deferred; len(d) != 1 || d[0].Reason != DeferPaused {
		t.Fatalf("deferred %+v", d)
	}
	if len(v.Alerts) != 1 {
		t.Fatal("alert not recorded while paused")
	}
	hs.mustOp(http.MethodPost, "/api/v1/resume", obj{"author": "alice"})
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)

	// Paused on the backend: the restore waits too (restores: false) …
	hs.mustOp(http.MethodPost, "/api/v1/pause", obj{"backend": "be_app", "reason": "investigating", "author": "bob"})
	hs.mustPost(body(alert(StatusResolved, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	// … until the pause expires by itself.
	hs.mustOp(http.MethodPost, "/api/v1/resume", obj{"backend": "be_app", "author": "bob"})
	hs.mustOp(http.MethodPost, "/api/v1/pause", obj{"backend": "be_app", "reason": "short", "author": "bob", "expires_in": "5m"})
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	hs.clock.Advance(6 * time.Minute)
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	if p := hs.r.StateView().Paused.Backends; len(p) != 0 {
		t.Fatalf("expired pause still listed: %v", p)
	}
}

func TestPauseWithRestoresLetsRestoresThrough(t *testing.T) {
	hs := newHarness(t, "", three())
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.mustOp(http.MethodPost, "/api/v1/pause", obj{"reason": "r", "author": "a", "restores": true})
	hs.mustPost(body(alert(StatusResolved, "f1", "drain", "be_app", "web1", t0), alert(StatusFiring, "f2", "drain", "be_app", "web2", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	hs.wantAdmin("be_app", "web2", haproxyapi.StateReady)
}

func TestPauseSurvivesRestart(t *testing.T) {
	hs := newHarness(t, "", three())
	hs.mustReconcile()
	hs.mustOp(http.MethodPost, "/api/v1/pause", obj{"backend": "be_app", "reason": "r", "author": "a"})
	hs.start()
	if p := hs.r.StateView().Paused.Backends["be_app"]; p == nil || p.Author != "a" {
		t.Fatalf("pause lost on restart: %+v", hs.r.StateView().Paused)
	}
}

func TestManualDrainIsTheOperators(t *testing.T) {
	hs := newHarness(t, "", three())
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)

	out := hs.mustOp(http.MethodPost, "/api/v1/servers/be_app/web1/maint", obj{"reason": "disk swap", "author": "alice"})
	if out["result"] != ManualApplied {
		t.Fatalf("maint: %v", out)
	}
	srv := out["server"].(map[string]any)
	if srv["haproxy_state"] != "MAINT" || srv["owner"] != OwnerOperator || srv["hold"].(map[string]any)["author"] != "alice" {
		t.Fatalf("server view %v", srv)
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateMaint)
	if out := hs.mustOp(http.MethodPost, "/api/v1/servers/be_app/web1/maint", obj{"reason": "disk swap", "author": "alice"}); out["result"] != ManualUnchanged {
		t.Fatalf("replay: %v", out)
	}
	// The alert's end does not lift the operator's hold.
	hs.mustPost(body(alert(StatusResolved, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateMaint)
	// A new alert does not act on it either.
	hs.mustPost(body(alert(StatusFiring, "f2", "drain", "be_app", "web1", t0.Add(time.Minute))))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateMaint)
	// HAProxy reloaded: the hold is applied again.
	hs.h.Reload()
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateMaint)
	// Released: ready again, and lbpilot's (the firing alert drains it).
	hs.mustOp(http.MethodPost, "/api/v1/servers/be_app/web1/release", obj{"author": "alice"})
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	if out := hs.mustOp(http.MethodPost, "/api/v1/servers/be_app/web1/release", obj{"author": "alice"}); out["result"] != ManualUnchanged {
		t.Fatalf("replayed release: %v", out)
	}
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
}

func TestManualHoldExpires(t *testing.T) {
	hs := newHarness(t, "", three())
	hs.mustReconcile()
	hs.mustOp(http.MethodPost, "/api/v1/servers/be_app/web2/weight", obj{"reason": "canary", "author": "bob", "weight": 10, "expires_in": "30m"})
	if w := hs.weight("be_app", "web2"); w != 10 {
		t.Fatalf("weight %d", w)
	}
	hs.clock.Advance(31 * time.Minute)
	hs.mustReconcile()
	srv, _ := hs.h.Server("be_app", "web2")
	if srv.UWeight != srv.IWeight {
		t.Fatalf("weight %d after expiry, want %d", srv.UWeight, srv.IWeight)
	}
	if h := hs.r.StateView().Servers[1].Hold; h != nil {
		t.Fatalf("expired hold still shown: %+v", h)
	}
}

func TestManualGuardAndForce(t *testing.T) {
	hs := newHarness(t, "guard: {min_ready: 2}", three())
	hs.mustReconcile()
	hs.mustOp(http.MethodPost, "/api/v1/servers/be_app/web1/drain", obj{"reason": "r", "author": "a"})
	code, out := hs.op(http.MethodPost, "/api/v1/servers/be_app/web2/drain", obj{"reason": "r", "author": "a"})
	if code != http.StatusConflict || out["guard"] != GuardMinReady || !strings.Contains(out["error"].(string), "force") {
		t.Fatalf("guard: %d %v", code, out)
	}
	hs.wantAdmin("be_app", "web2", haproxyapi.StateReady)
	out = hs.mustOp(http.MethodPost, "/api/v1/servers/be_app/web2/drain", obj{"reason": "r", "author": "a", "force": true})
	hs.wantAdmin("be_app", "web2", haproxyapi.StateDrain)
	if !out["server"].(map[string]any)["hold"].(map[string]any)["forced"].(bool) {
		t.Fatalf("hold not marked forced: %v", out)
	}
	if got := testutil.ToFloat64(hs.r.m.forced.WithLabelValues(HoldDrain)); got != 1 {
		t.Fatalf("forced counter %v", got)
	}
	if !strings.Contains(hs.logs.String(), "Operator forced an action past the guard") {
		t.Fatal("forcing not logged")
	}
}

func TestOperatorBadRequests(t *testing.T) {
	hs := newHarness(t, "", three())
	hs.mustReconcile()
	for _, c := range []struct {
		name, method, path string
		body               any
		code               int
		want               string
	}{
		{"no reason", "POST", "/api/v1/servers/be_app/web1/drain", obj{"author": "a"}, 400, "reason"},
		{"no author", "POST", "/api/v1/servers/be_app/web1/drain", obj{"reason": "r"}, 400, "author"},
		{"bad server name", "POST", "/api/v1/servers/be_app/we%3Bb1/drain", obj{"reason": "r", "author": "a"}, 400, "server"},
		{"bad backend name", "POST", "/api/v1/servers/be%20app/web1/drain", obj{"reason": "r", "author": "a"}, 400, "backend"},
		{"unknown server", "POST", "/api/v1/servers/be_app/web9/drain", obj{"reason": "r", "author": "a"}, 404, "web9"},
		{"unknown action", "POST", "/api/v1/servers/be_app/web1/explode", obj{"reason": "r", "author": "a"}, 404, "explode"},
		{"weight missing", "POST", "/api/v1/servers/be_app/web1/weight", obj{"reason": "r", "author": "a"}, 400, "weight"},
		{"weight range", "POST", "/api/v1/servers/be_app/web1/weight", obj{"reason": "r", "author": "a", "weight": 300}, 400, "weight"},
		{"weight type", "POST", "/api/v1/servers/be_app/web1/weight", obj{"reason": "r", "author": "a", "weight": "ten"}, 400, "weight"},
		{"weight on drain", "POST", "/api/v1/servers/be_app/web1/drain", obj{"reason": "r", "author": "a", "weight": 5}, 400, "weight"},
		{"bad expiry", "POST", "/api/v1/servers/be_app/web1/drain", obj{"reason": "r", "author": "a", "expires_in": "soon"}, 400, "expires_in"},
		{"unknown field", "POST", "/api/v1/servers/be_app/web1/drain", obj{"reason": "r", "author": "a", "forse": true}, 400, "forse"},
		{"control char", "POST", "/api/v1/servers/be_app/web1/drain", obj{"reason": "a\nb", "author": "a"}, 400, "reason"},
		{"pause no reason", "POST", "/api/v1/pause", obj{"author": "a"}, 400, "reason"},
		{"pause bad backend", "POST", "/api/v1/pause", obj{"backend": "a;b", "reason": "r", "author": "a"}, 400, "backend"},
		{"pause unknown backend", "POST", "/api/v1/pause", obj{"backend": "be_nope", "reason": "r", "author": "a"}, 404, "be_nope"},
		{"resume no author", "POST", "/api/v1/resume", obj{}, 400, "author"},
		{"unknown proposal", "POST", "/api/v1/proposals/abc/approve", obj{"author": "a"}, 404, "abc"},
		{"GET a write", "GET", "/api/v1/pause", nil, 405, "POST"},
		{"unknown path", "POST", "/api/v1/servers/be_app/web1/", obj{}, 404, "no such endpoint"},
		{"history since", "GET", "/api/v1/history?since=yesterday", nil, 400, "since"},
		{"history limit", "GET", "/api/v1/history?limit=-1", nil, 400, "limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out := hs.op(c.method, c.path, c.body)
			msg, _ := out["error"].(string)
			if code != c.code || !strings.Contains(msg, c.want) {
				t.Fatalf("%d %q, want %d naming %q", code, msg, c.code, c.want)
			}
		})
	}
	if c := hs.setCommands(); len(c) != 0 {
		t.Fatalf("bad requests reached HAProxy: %v", c)
	}
}

func TestHistoryRecordsAndFilters(t *testing.T) {
	hs := newHarness(t, "", three())
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.clock.Advance(time.Minute)
	hs.mustOp(http.MethodPost, "/api/v1/servers/be_app/web2/drain", obj{"reason": "patching", "author": "alice"})
	hs.mustOp(http.MethodPost, "/api/v1/pause", obj{"reason": "window", "author": "bob"})
	hs.start() // the log survives a restart
	all := hs.mustOp(http.MethodGet, "/api/v1/history", nil)["entries"].([]any)
	var kinds []string
	for _, e := range all {
		kinds = append(kinds, e.(map[string]any)["kind"].(string))
	}
	if got := strings.Join(kinds, ","); got != "paused,operator,applied,planned,alert_received" {
		t.Fatalf("entries %s", got)
	}
	first := all[0].(map[string]any)
	if first["kind"] != HistPaused || first["actor"].(map[string]any)["name"] != "bob" {
		t.Fatalf("newest first: %v", first)
	}
	web2 := hs.mustOp(http.MethodGet, "/api/v1/history?server=web2", nil)["entries"].([]any)
	if len(web2) != 1 || web2[0].(map[string]any)["reason"] != "patching" || web2[0].(map[string]any)["actor"].(map[string]any)["type"] != ActorOperator {
		t.Fatalf("server filter: %v", web2)
	}
	web1 := hs.mustOp(http.MethodGet, "/api/v1/history?backend=be_app&server=web1", nil)["entries"].([]any)
	if len(web1) != 2 || web1[0].(map[string]any)["actor"].(map[string]any)["fingerprints"].([]any)[0] != "f1" {
		t.Fatalf("alert entry: %v", web1)
	}
	since := hs.mustOp(http.MethodGet, "/api/v1/history?since=30s", nil)["entries"].([]any)
	if len(since) != 2 {
		t.Fatalf("since=30s: %d entries", len(since))
	}
	if l := hs.mustOp(http.MethodGet, "/api/v1/history?limit=1", nil)["entries"].([]any); len(l) != 1 {
		t.Fatalf("limit: %d", len(l))
	}
}

func TestApprovalFlow(t *testing.T) {
	hs := newHarness(t, "rebalancer: {approve: true, proposal_ttl: 10m}", three())
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0), alert(StatusFiring, "f2", "maint", "be_app", "web2", t0)))
	hs.mustReconcile()
	hs.mustReconcile() // proposed once, not twice
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	ps := hs.r.StateView().Proposals
	if len(ps) != 2 || ps[0].Guard != "ok" || len(ps[0].Alerts) != 1 {
		t.Fatalf("proposals %+v", ps)
	}
	byServer := map[string]string{}
	for _, p := range ps {
		byServer[p.Server] = p.ID
	}
	out := hs.mustOp(http.MethodPost, "/api/v1/proposals/"+byServer["web1"]+"/approve", obj{"author": "alice"})
	if out["result"] != ManualApplied {
		t.Fatalf("approve: %v", out)
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	if out := hs.mustOp(http.MethodPost, "/api/v1/proposals/"+byServer["web1"]+"/approve", obj{"author": "alice"}); out["result"] != ManualUnchanged {
		t.Fatalf("replayed approve: %v", out)
	}
	hs.mustOp(http.MethodPost, "/api/v1/proposals/"+byServer["web2"]+"/reject", obj{"author": "alice", "reason": "not now"})
	if code, _ := hs.op(http.MethodPost, "/api/v1/proposals/"+byServer["web2"]+"/approve", obj{"author": "alice"}); code != http.StatusConflict {
		t.Fatalf("approving a rejected proposal: %d", code)
	}
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web2", haproxyapi.StateReady)
	if len(hs.r.StateView().Proposals) != 0 {
		t.Fatal("decided proposals still pending")
	}
	// Restores need no approval.
	hs.mustPost(body(alert(StatusResolved, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
}

func TestProposalDroppedOnResolveOrExpiry(t *testing.T) {
	hs := newHarness(t, "rules: [{name: gated, matchers: ['alertname=\"Test\"'], action: drain, approve: true}]", three())
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	if len(hs.r.StateView().Proposals) != 1 {
		t.Fatal("no proposal")
	}
	hs.mustPost(body(alert(StatusResolved, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	if len(hs.r.StateView().Proposals) != 0 {
		t.Fatal("proposal outlived its alert")
	}
	hs.mustPost(body(alert(StatusFiring, "f2", "drain", "be_app", "web2", t0.Add(time.Minute))))
	hs.mustReconcile()
	id := hs.r.StateView().Proposals[0].ID
	hs.clock.Advance(2 * time.Hour)
	hs.mustReconcile()
	hs.mustReconcile()
	if len(hs.r.StateView().Proposals) != 0 {
		t.Fatal("expired proposal still pending")
	}
	if code, out := hs.op(http.MethodPost, "/api/v1/proposals/"+id+"/approve", obj{"author": "a"}); code != http.StatusConflict || !strings.Contains(out["error"].(string), "expired") {
		t.Fatalf("approving an expired proposal: %d %v", code, out)
	}
	hs.wantAdmin("be_app", "web2", haproxyapi.StateReady)
}

func TestProposalShowsTheGuardsVerdict(t *testing.T) {
	hs := newHarness(t, "rebalancer: {approve: true}\nguard: {min_ready: 2}", three())
	t0 := hs.clock.Now()
	hs.h.SetUp("be_app", "web3", false) // two usable: a drain would leave one
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	ps := hs.r.StateView().Proposals
	if len(ps) != 1 || !strings.HasPrefix(ps[0].Guard, GuardMinReady+": ") {
		t.Fatalf("proposals %+v", ps)
	}
	hs.h.SetUp("be_app", "web3", true)
	hs.mustReconcile()
	if ps := hs.r.StateView().Proposals; len(ps) != 1 || ps[0].Guard != "ok" {
		t.Fatalf("guard verdict not updated: %+v", ps)
	}
	hs.mustOp(http.MethodPost, "/api/v1/proposals/"+ps[0].ID+"/approve", obj{"author": "a"})
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
}

func TestManualWeightRefusedWithAgentCheck(t *testing.T) {
	srvs := three()
	srvs[0].Agent = true
	hs := newHarness(t, "", srvs)
	hs.mustReconcile()
	code, out := hs.op(http.MethodPost, "/api/v1/servers/be_app/web1/weight", obj{"reason": "r", "author": "a", "weight": 10})
	if code != http.StatusConflict || !strings.Contains(out["error"].(string), "agent-check") {
		t.Fatalf("%d %v", code, out)
	}
	if c := hs.setCommands(); len(c) != 0 {
		t.Fatalf("sent %v", c)
	}
	// drain is fine: the agent of lbpilot never replies drain or ready.
	hs.mustOp(http.MethodPost, "/api/v1/servers/be_app/web1/drain", obj{"reason": "r", "author": "a"})
}

func TestOperatorWritesNeedAPersistedState(t *testing.T) {
	hs := newHarness(t, "", three())
	dir := filepath.Join(hs.dir, "sub")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	hs.cfg.Rebalancer.StateFile = filepath.Join(dir, "state.json")
	hs.start()
	hs.mustReconcile()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	code, out := hs.op(http.MethodPost, "/api/v1/servers/be_app/web1/drain", obj{"reason": "r", "author": "a"})
	if code != http.StatusServiceUnavailable || !strings.Contains(out["error"].(string), "persisted") {
		t.Fatalf("%d %v", code, out)
	}
	if c := hs.setCommands(); len(c) != 0 {
		t.Fatalf("HAProxy changed although the hold is not on disk: %v", c)
	}
	if code, _ := hs.op(http.MethodPost, "/api/v1/pause", obj{"reason": "r", "author": "a"}); code != http.StatusServiceUnavailable {
		t.Fatalf("pause: %d", code)
	}
	// Nothing half-applied: no hold, no pause, and the next cycle (state
	// still unwritable) sends nothing either.
	v := hs.r.StateView()
	if v.Paused.Global != nil || v.Servers[0].Hold != nil {
		t.Fatalf("refused writes left state behind: %+v %+v", v.Paused, v.Servers[0])
	}
	_ = hs.reconcile()
	if c := hs.setCommands(); len(c) != 0 {
		t.Fatalf("sent %v", c)
	}
}

func TestOperatorBodyLimits(t *testing.T) {
	hs := newHarness(t, "", three())
	for _, c := range []struct {
		ctype, body string
		code        int
	}{
		{"text/plain", `{"reason":"r","author":"a"}`, http.StatusUnsupportedMediaType},
		{"application/json", `{"reason":"` + strings.Repeat("x", maxOpBody) + `","author":"a"}`, http.StatusRequestEntityTooLarge},
		{"application/json", `{"reason":"r","author":"a"} {}`, http.StatusBadRequest},
		{"application/json", `[1]`, http.StatusBadRequest},
	} {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/pause", strings.NewReader(c.body))
		req.Header.Set("Content-Type", c.ctype)
		req.Header.Set(CSRFHeader, hs.r.CSRFToken())
		rec := httptest.NewRecorder()
		hs.r.Mux("/metrics").ServeHTTP(rec, req)
		if rec.Code != c.code {
			t.Errorf("%s %.40q: %d, want %d (%s)", c.ctype, c.body, rec.Code, c.code, rec.Body)
		}
	}
	if hs.r.StateView().Paused.Global != nil {
		t.Fatal("a refused body paused the rebalancer")
	}
}
