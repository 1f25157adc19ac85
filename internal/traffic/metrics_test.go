package traffic

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

func TestMetricsGolden(t *testing.T) {
	p := fakePlan(200, map[string]float64{"ok": 2, "cut": 1, "refuse": 1}, 200*time.Millisecond, 100*time.Millisecond, 10*time.Second)
	p.Phases[0].Name = "calm"
	e := NewEngine(p, fakeRegistry(t, &fakeDialer{}))
	run(t, e)
	// The counts follow from the seed (11): these are its arrivals.
	var ok, cut, ref [3]int // by node n1, n2 (ID parity)
	for _, a := range all(NewSchedule(p)) {
		n := int(a.ID%2 + 1)
		switch a.Kind {
		case "ok":
			ok[n]++
		case "cut":
			cut[n]++
		case "refuse":
			ref[0]++
		}
	}
	if ok[1]+ok[2] == 0 || cut[1]+cut[2] == 0 || ref[0] == 0 {
		t.Fatalf("seed gives too few sessions: %v %v %v", ok, cut, ref)
	}
	want := fmt.Sprintf(`# HELP lbpilot_traffic_phase_info The plan's current phase (1), by label and kind.
# TYPE lbpilot_traffic_phase_info gauge
lbpilot_traffic_phase_info{kind="steady",phase="calm"} 1
# HELP lbpilot_traffic_sessions_cut_total Sessions the server or the proxy ended before their planned lifetime, by cause.
# TYPE lbpilot_traffic_sessions_cut_total counter
lbpilot_traffic_sessions_cut_total{cause="kicked",node="n1",protocol="fake"} %d
lbpilot_traffic_sessions_cut_total{cause="kicked",node="n2",protocol="fake"} %d
# HELP lbpilot_traffic_sessions_ended_total Sessions the traffic generator closed at the end of their planned lifetime.
# TYPE lbpilot_traffic_sessions_ended_total counter
lbpilot_traffic_sessions_ended_total{node="n1",protocol="fake"} %d
lbpilot_traffic_sessions_ended_total{node="n2",protocol="fake"} %d
# HELP lbpilot_traffic_sessions_failed_total Sessions that failed to open, by reason.
# TYPE lbpilot_traffic_sessions_failed_total counter
lbpilot_traffic_sessions_failed_total{protocol="fake",reason="http_503"} %d
# HELP lbpilot_traffic_sessions Sessions the traffic generator holds open, by protocol and the backend node serving them (unknown when the protocol cannot tell).
# TYPE lbpilot_traffic_sessions gauge
lbpilot_traffic_sessions{node="n1",protocol="fake"} 0
lbpilot_traffic_sessions{node="n2",protocol="fake"} 0
# HELP lbpilot_traffic_sessions_opened_total Sessions the traffic generator opened.
# TYPE lbpilot_traffic_sessions_opened_total counter
lbpilot_traffic_sessions_opened_total{node="n1",protocol="fake"} %d
lbpilot_traffic_sessions_opened_total{node="n2",protocol="fake"} %d
# HELP lbpilot_traffic_sessions_skipped_total Planned arrivals not opened because the plan's max_concurrent sessions were open.
# TYPE lbpilot_traffic_sessions_skipped_total counter
lbpilot_traffic_sessions_skipped_total{protocol="fake"} 0
# HELP lbpilot_traffic_sessions_stopped_total Sessions the traffic generator closed because its run ended (max_duration, interrupted) before their lifetime.
# TYPE lbpilot_traffic_sessions_stopped_total counter
lbpilot_traffic_sessions_stopped_total{node="n1",protocol="fake"} 0
lbpilot_traffic_sessions_stopped_total{node="n2",protocol="fake"} 0
# HELP lbpilot_traffic_received_bytes_total Bytes the traffic generator's sessions received.
# TYPE lbpilot_traffic_received_bytes_total counter
lbpilot_traffic_received_bytes_total{node="n1",protocol="fake"} %d
lbpilot_traffic_received_bytes_total{node="n2",protocol="fake"} %d
# HELP lbpilot_traffic_sent_bytes_total Bytes the traffic generator's sessions sent.
# TYPE lbpilot_traffic_sent_bytes_total counter
lbpilot_traffic_sent_bytes_total{node="n1",protocol="fake"} %d
lbpilot_traffic_sent_bytes_total{node="n2",protocol="fake"} %d
`, cut[1], cut[2], ok[1], ok[2], ref[0], ok[1]+cut[1], ok[2]+cut[2],
		100*(ok[1]+cut[1]), 100*(ok[2]+cut[2]), 10*(ok[1]+cut[1]), 10*(ok[2]+cut[2]))
	if err := testutil.CollectAndCompare(e, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(e); n != 17 {
		t.Errorf("%d series", n)
	}
	// Every name passes promtool.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	lint, err := testutil.GatherAndLint(reg)
	if err != nil || len(lint) > 0 {
		t.Errorf("lint: %v %v", lint, err)
	}
	promtool := testenv.Binary(t, "promtool")
	var text strings.Builder
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestHTTPHook(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 100)
		n, _ := r.Body.Read(b)
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b[:n])+" "+r.Header.Get("Content-Type"))
		if r.URL.Path == "/bad" {
			http.Error(w, "no such node", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	hook := HTTPHook(nil)
	ctx := context.Background()
	if err := hook(ctx, Event{Kind: PhaseSteady}); err != nil {
		t.Fatal(err)
	}
	if err := hook(ctx, Event{Request: &Request{URL: srv.URL + "/lab/fault", Body: []byte(`{"status":503}`)}}); err != nil {
		t.Fatal(err)
	}
	if err := hook(ctx, Event{Request: &Request{Method: "delete", URL: srv.URL + "/lab/fault"}}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != `POST /lab/fault {"status":503} application/json|DELETE /lab/fault  ` {
		t.Errorf("requests %q", got)
	}
	for _, r := range []*Request{
		{URL: srv.URL + "/bad"},
		{URL: "http://10.0.0.1:1/"},
		{Method: "BAD METHOD", URL: srv.URL},
		{URL: strings.Replace(srv.URL, "http://127.0.0.1:", "http://127.0.0.1:1", 1) + "9"},
	} {
		if err := hook(ctx, Event{Request: r}); err == nil {
			t.Errorf("%+v: no error", r)
		}
	}
	if err := hook(ctx, Event{Request: &Request{URL: srv.URL + "/bad"}}); !strings.Contains(err.Error(), "HTTP 404: no such node") {
		t.Errorf("got %v", err)
	}
}
