package rebalancer

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// fakeAM serves /api/v2/status and /api/v2/alerts.
type fakeAM struct {
	mu      sync.Mutex
	started time.Time
	alerts  []APIAlert
	fail    bool
	queries []string
	auth    []string
	now     func() time.Time
}

func (f *fakeAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, r.URL.RequestURI())
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	if f.now != nil {
		w.Header().Set("Date", f.now().UTC().Format(http.TimeFormat))
	}
	if f.fail {
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	}
	switch r.URL.Path {
	case "/am/api/v2/status":
		_ = json.NewEncoder(w).Encode(map[string]any{"uptime": f.started})
	case "/am/api/v2/alerts":
		_ = json.NewEncoder(w).Encode(f.alerts)
	default:
		http.NotFound(w, r)
	}
}

func apiAlert(fp, server string, startsAt, updatedAt time.Time) APIAlert {
	a := APIAlert{Fingerprint: fp, StartsAt: startsAt, UpdatedAt: updatedAt, EndsAt: updatedAt.Add(4 * time.Minute),
		Labels: map[string]string{LabelAction: "drain", LabelBackend: "be_app", LabelServer: server}}
	a.Status.State = "active"
	return a
}

func amHarness(t *testing.T, am *fakeAM) *harness {
	t.Helper()
	srv := httptest.NewServer(am)
	t.Cleanup(srv.Close)
	return newHarness(t, `
alertmanager:
  url: `+srv.URL+`/am/
  receiver: rebalancer
  filter: ['lbpilot_action=~"drain|maint"']
  startup_grace: 2m
  http_config: {basic_auth: {username: lbpilot, password: pw}}
`, three())
}

func TestAlertmanagerClientAgainstFixture(t *testing.T) {
	var fixture []APIAlert
	if err := json.Unmarshal(readFixture(t, "am-0.25/api-v2-alerts-active-unsilenced-uninhibited.json"), &fixture); err != nil {
		t.Fatal(err)
	}
	if len(fixture) != 3 || fixture[0].Fingerprint != "137613970e605272" || fixture[0].UpdatedAt.IsZero() || fixture[0].Status.State != "active" {
		t.Fatalf("fixture decoded as %+v", fixture[0])
	}
	am := &fakeAM{started: time.Now().Add(-time.Hour), alerts: fixture}
	srv := httptest.NewServer(am)
	defer srv.Close()
	cfg := Default().Alertmanager
	cfg.URL, cfg.Receiver, cfg.Filter = srv.URL+"/am", "rebalancer", []string{`rebalance_action=~"drain|maint"`}
	c, err := NewAlertmanagerClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, date, err := c.Alerts(context.Background())
	if err != nil || len(got) != 3 || date.IsZero() {
		t.Fatalf("Alerts: %d, %v, %v", len(got), date, err)
	}
	q := am.queries[0]
	for _, want := range []string{"active=true", "silenced=true", "inhibited=true", "receiver=rebalancer", "filter=rebalance_action%3D~%22drain%7Cmaint%22"} {
		if !strings.Contains(q, want) {
			t.Errorf("query %q lacks %q", q, want)
		}
	}
	if _, err := c.Started(context.Background()); err != nil {
		t.Fatal(err)
	}
	am.fail = true
	if _, _, err := c.Alerts(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("error not reported: %v", err)
	}
	if _, err := c.Started(context.Background()); err == nil {
		t.Fatal("Started ignored a 500")
	}
}

func TestRefreshFromAlertmanager(t *testing.T) {
	am := &fakeAM{}
	hs := amHarness(t, am)
	am.now = hs.clock.Now
	t0 := hs.clock.Now()
	am.started = t0.Add(-time.Hour)
	// A webhook was missed while the rebalancer was down: the API has it.
	am.alerts = []APIAlert{apiAlert("f1", "web1", t0.Add(-time.Minute), t0)}
	if err := hs.r.Reconcile(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	if a := am.auth[len(am.auth)-1]; !strings.HasPrefix(a, "Basic ") {
		t.Fatalf("no basic auth sent to Alertmanager: %q", a)
	}
	// Gone from the API: resolved (Alertmanager has been up long enough).
	hs.clock.Advance(time.Minute)
	am.alerts = nil
	if err := hs.r.Reconcile(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	// A false resolve: the API lists the same incarnation again, updated
	// after the resolve (Prometheus reached Alertmanager again).
	hs.clock.Advance(time.Minute)
	am.alerts = []APIAlert{apiAlert("f1", "web1", t0.Add(-time.Minute), hs.clock.Now())}
	if err := hs.r.Reconcile(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
}

// TestRefreshLeavesNewAlertsToNotifications: an alert Alertmanager has
// just received is still in group_wait; the refresh leaves it to the
// notification (which never comes if it resolves meanwhile).
func TestRefreshLeavesNewAlertsToNotifications(t *testing.T) {
	am := &fakeAM{}
	hs := amHarness(t, am)
	am.now = hs.clock.Now
	t0 := hs.clock.Now()
	am.started = t0.Add(-time.Hour)
	am.alerts = []APIAlert{apiAlert("f1", "web1", t0.Add(-5*time.Second), t0)}
	if err := hs.r.Reconcile(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
	hs.clock.Advance(time.Minute) // still listed a minute later: the notification was missed
	am.alerts = []APIAlert{apiAlert("f1", "web1", t0.Add(-5*time.Second), hs.clock.Now())}
	if err := hs.r.Reconcile(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	// Listed and firing: left alone, so the resolved notification still wins
	// even if Alertmanager's updatedAt is later than Prometheus's endsAt.
	hs.mustPost(body(alert(StatusResolved, "f1", "drain", "be_app", "web1", t0.Add(-5*time.Second))))
	hs.mustReconcile()
	hs.wantAdmin("be_app", "web1", haproxyapi.StateReady)
}

func TestRefreshRightAfterAlertmanagerStart(t *testing.T) {
	am := &fakeAM{}
	hs := amHarness(t, am)
	t0 := hs.clock.Now()
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.mustReconcile()
	// Alertmanager restarted 30 s ago: its list is empty until Prometheus re-sends.
	hs.clock.Advance(time.Minute)
	am.now = hs.clock.Now
	am.started = hs.clock.Now().Add(-30 * time.Second)
	am.alerts = nil
	if err := hs.r.Reconcile(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	if !strings.Contains(hs.logs.String(), "Alertmanager started recently") {
		t.Fatal("not logged")
	}
	// Status unknown: same caution.
	am.mu.Lock()
	am.started = time.Time{}
	am.mu.Unlock()
	if err := hs.r.Reconcile(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
	// API down: nothing inferred, the cycle reports the failure.
	am.mu.Lock()
	am.fail = true
	am.mu.Unlock()
	if err := hs.r.Reconcile(context.Background(), true); err == nil {
		t.Fatal("failed refresh reported success")
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
}

func TestRefreshDoesNotResolveWhatArrivedDuringTheRequest(t *testing.T) {
	am := &fakeAM{}
	hs := amHarness(t, am)
	t0 := hs.clock.Now()
	am.started = t0.Add(-time.Hour)
	// The webhook arrives "after" the API request started: ReceivedAt is
	// later than the fetch start, so absence from the (older) list does not count.
	hs.clock.Advance(time.Second)
	hs.mustPost(body(alert(StatusFiring, "f1", "drain", "be_app", "web1", t0)))
	hs.clock.Advance(-time.Second)
	if err := hs.r.Reconcile(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	hs.wantAdmin("be_app", "web1", haproxyapi.StateDrain)
}
