package rebalancer

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
)

// opPost sends an operator write over HTTP, with the CSRF token fetched
// the way a client does.
func opPost(t testing.TB, baseURL, path string, body any) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(baseURL + "/api/v1/csrf")
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, baseURL+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(CSRFHeader, tok.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func (l *realLab) mustOp(path string, body any) map[string]any {
	l.t.Helper()
	code, out := opPost(l.t, l.srv.URL, path, body)
	if code != http.StatusOK {
		l.t.Fatalf("%s: %d %v\n%s", path, code, out, l.logs.String())
	}
	return out
}

func TestRealHAProxyOperatorControl(t *testing.T) {
	lab := startRealLab(t, labBackend, "guard: {min_ready: 2}")
	for _, s := range []string{"web1", "web2", "web3"} {
		lab.waitStatus(s, "UP", 5*time.Second)
	}
	// A manual drain is in HAProxy when the answer arrives.
	out := lab.mustOp("/api/v1/servers/bk/web1/drain", obj{"reason": "kernel update", "author": "alice", "expires_in": "1h"})
	if got := statStatus(t, lab.client, "bk", "web1"); !strings.HasPrefix(got, "DRAIN") {
		t.Fatalf("web1 %s right after the answer %v", got, out)
	}
	// The guard refuses a second one (min_ready 2), force overrides it.
	if code, out := opPost(t, lab.srv.URL, "/api/v1/servers/bk/web2/maint", obj{"reason": "r", "author": "alice"}); code != http.StatusConflict || out["guard"] != GuardMinReady {
		t.Fatalf("guard: %d %v", code, out)
	}
	lab.holdStatus("web2", "UP", 2*labInterval)

	// An alert on the held server changes nothing, and its end does not
	// lift the hold.
	t0 := time.Now().UTC()
	lab.post(body(alert(StatusFiring, "f1", "maint", "bk", "web1", t0)))
	lab.holdStatus("web1", "DRAIN", 2*labInterval)
	lab.post(body(alert(StatusResolved, "f1", "maint", "bk", "web1", t0)))
	lab.holdStatus("web1", "DRAIN", 2*labInterval)

	// Paused: a new alert is recorded, not applied; resumed: applied.
	lab.mustOp("/api/v1/servers/bk/web1/release", obj{"author": "alice"})
	lab.waitStatus("web1", "UP", 2*time.Second)
	lab.mustOp("/api/v1/pause", obj{"reason": "change window", "author": "bob"})
	lab.post(body(alert(StatusFiring, "f2", "drain", "bk", "web3", t0)))
	lab.holdStatus("web3", "UP", 3*labInterval)
	lab.mustOp("/api/v1/resume", obj{"author": "bob"})
	lab.waitStatus("web3", "DRAIN", 2*time.Second)

	// The history tells the story, newest first.
	resp, err := http.Get(lab.srv.URL + "/api/v1/history?backend=bk")
	if err != nil {
		t.Fatal(err)
	}
	var h HistoryAnswer
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range h.Entries {
		kinds = append(kinds, e.Kind)
	}
	got := strings.Join(kinds, ",")
	for _, k := range []string{HistApplied, HistResumed, HistPaused, HistOperator, HistDeferred} {
		if !strings.Contains(got, k) {
			t.Errorf("history lacks %s: %s", k, got)
		}
	}
}

func TestRealHAProxyApproval(t *testing.T) {
	lab := startRealLab(t, labBackend, "rebalancer: {approve: true}")
	lab.waitStatus("web2", "UP", 5*time.Second)
	lab.post(body(alert(StatusFiring, "f1", "drain", "bk", "web2", time.Now().UTC())))
	var ps []ProposalView
	deadline := time.Now().Add(3 * time.Second)
	for len(ps) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		ps = lab.r.StateView().Proposals
	}
	if len(ps) != 1 {
		t.Fatalf("no proposal\n%s", lab.logs.String())
	}
	lab.holdStatus("web2", "UP", 2*labInterval)
	lab.mustOp("/api/v1/proposals/"+ps[0].ID+"/approve", obj{"author": "alice"})
	if got := statStatus(t, lab.client, "bk", "web2"); !strings.HasPrefix(got, "DRAIN") {
		t.Fatalf("web2 %s right after the approval", got)
	}
}

// BenchmarkRebalancerManualDrain: POST /api/v1/servers/bk/s0001/drain
// until `show servers state` shows DRAIN, against the same drain asked by
// an alert (webhook → reconcile → socket).
func BenchmarkRebalancerManualDrain(b *testing.B) {
	lab := startBenchLab(b, 4)
	defer lab.stop()
	var manual, viaAlert []time.Duration
	t0 := time.Now().UTC()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if code, out := opPost(b, lab.srv.URL, "/api/v1/servers/bk/s0001/drain", obj{"reason": "bench", "author": "bench"}); code != http.StatusOK {
			b.Fatalf("%d %v", code, out)
		}
		lab.waitCount(b, "drain", 1)
		manual = append(manual, time.Since(start))
		if code, out := opPost(b, lab.srv.URL, "/api/v1/servers/bk/s0001/release", obj{"author": "bench"}); code != http.StatusOK {
			b.Fatalf("%d %v", code, out)
		}
		lab.waitCount(b, "ready", 4)

		inc := t0.Add(time.Duration(i) * time.Second)
		start = time.Now()
		lab.post(b, []template.Alert{alert(StatusFiring, "c0ffee0000000002", "drain", "bk", "s0001", inc)})
		lab.waitCount(b, "drain", 1)
		viaAlert = append(viaAlert, time.Since(start))
		lab.post(b, []template.Alert{alert(StatusResolved, "c0ffee0000000002", "drain", "bk", "s0001", inc)})
		lab.waitCount(b, "ready", 4)
	}
	b.StopTimer()
	b.ReportMetric(percentile(manual, .5), "manual-p50-ms")
	b.ReportMetric(percentile(manual, .99), "manual-p99-ms")
	b.ReportMetric(percentile(viaAlert, .5), "alert-p50-ms")
	b.ReportMetric(percentile(viaAlert, .99), "alert-p99-ms")
	b.ReportMetric(percentile(manual, .5)/percentile(viaAlert, .5), "manual/alert-p50")
}
