package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

func getHealth(t *testing.T, h http.Handler, method string) (int, healthBody, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/health", nil))
	var b healthBody
	if method == http.MethodGet && rec.Code != http.StatusMethodNotAllowed {
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
	}
	return rec.Code, b, rec.Body.String()
}

func TestHealth(t *testing.T) {
	ta := newTestAgent(t, func(o *Options) { o.Policy.Mode = ModeUpDown })
	h := ta.HealthHandler()

	ta.src.set(sampleWith(map[Dimension]float64{Publishers: 40, Subscribers: 80}), nil)
	code, b, _ := getHealth(t, h, http.MethodGet)
	if code != 200 || b.Status != "ok" || b.Reply != "up 100%" || b.WeightPercent != 100 || b.Mode != ModeUpDown || b.Source != WCS || b.Reason != "" || b.SampledAt.IsZero() {
		t.Errorf("below thresholds: %d %+v", code, b)
	}
	// cpu (10%, from the test CPU reader), publishers, subscribers.
	if len(b.Dimensions) != 3 || b.Dimensions[2] != (dimensionBody{Name: "subscribers", Value: 80, Threshold: 100, Ratio: 0.8}) || b.LoadRatio != 0.8 {
		t.Errorf("dimensions: %+v load %v", b.Dimensions, b.LoadRatio)
	}

	ta.src.set(sampleWith(map[Dimension]float64{Subscribers: 155}), nil)
	code, b, _ = getHealth(t, h, http.MethodGet)
	if code != 503 || b.Status != "overloaded" || b.Reason != "subscribers 155/100" || b.Reply != "down #subscribers 155/100" {
		t.Errorf("over a threshold: %d %+v", code, b)
	}

	ta.src.set(Sample{}, &upstream.HTTPError{URL: "http://secret-host:8081/?action=stat", Status: 502})
	code, b, raw := getHealth(t, h, http.MethodGet)
	if code != 503 || b.Status != "unavailable" || b.Reason != "upstream HTTP 502" || len(b.Dimensions) != 0 {
		t.Errorf("upstream down: %d %+v", code, b)
	}
	if strings.Contains(raw, "secret-host") {
		t.Errorf("/health shows the upstream's address: %s", raw)
	}

	code, _, raw = getHealth(t, h, http.MethodHead)
	if code != 503 || raw != "" {
		t.Errorf("HEAD: %d %q", code, raw)
	}
	code, _, _ = getHealth(t, h, http.MethodPost)
	if code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", code)
	}
	for c, want := range map[string]float64{"200": 1, "503": 3} {
		if got := testutil.ToFloat64(ta.m.health.WithLabelValues(c)); got != want {
			t.Errorf("health_requests_total{code=%s} = %v, want %v", c, got, want)
		}
	}
}

// TestHealthWeightMode: in weight mode the agent-check reply stays up (at
// the floor) but /health, which cannot carry a weight, says 503.
func TestHealthWeightMode(t *testing.T) {
	ta := newTestAgent(t, nil)
	ta.src.set(sampleWith(map[Dimension]float64{HLS: 120}), nil)
	code, b, _ := getHealth(t, ta.HealthHandler(), http.MethodGet)
	if code != 503 || b.Reply != "up 1%" || b.WeightPercent != 1 || b.Status != "overloaded" {
		t.Errorf("%d %+v", code, b)
	}
}

// TestHealthClientGone: a request whose client has gone while the reading
// is under way gets nothing written.
func TestHealthClientGone(t *testing.T) {
	ta := newTestAgent(t, nil)
	gate := ta.src.hold()
	defer close(gate)
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest(http.MethodGet, "/health", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { ta.HealthHandler().ServeHTTP(rec, req); close(done) }()
	waitFor(t, "the reading to start", func() bool { return ta.src.calls.Load() == 1 })
	cancel()
	<-done
	if rec.Body.Len() != 0 || rec.Code != 200 || len(rec.Header()) != 0 {
		t.Errorf("wrote %d %q %v", rec.Code, rec.Body, rec.Header())
	}
}

// TestHealthLab is the HTTP endpoint's integration test: 200 → 503 → 200
// as the lab WCS's load crosses a threshold and comes back.
func TestHealthLab(t *testing.T) {
	l := startLab(t, lab.Config{Kind: lab.WCS, Load: lab.Load{Subscribers: 20}})
	a, err := New(Options{Kind: WCS, Source: &WCSSource{URL: l.URL}, CPU: CPUFunc(func() (float64, error) { return 5, nil }),
		Policy: defaultPolicy(ModeWeight), CacheTTL: 100 * time.Millisecond, UpstreamTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.HealthHandler())
	defer srv.Close()
	status := func() (int, healthBody) {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b healthBody
		if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	steps := []struct {
		load lab.Load
		code int
		want string
	}{
		{lab.Load{Subscribers: 20}, 200, "up 100%"},
		{lab.Load{Subscribers: 99, BandwidthOutMbps: 50}, 200, "up 3%"},
		{lab.Load{Subscribers: 101}, 503, "up 1%"},
		{lab.Load{Publishers: 5, BandwidthInMbps: 150}, 503, "up 1%"},
		{lab.Load{Subscribers: 10}, 200, "up 100%"},
	}
	for i, st := range steps {
		if err := l.SetLoad(st.load); err != nil {
			t.Fatal(err)
		}
		var code int
		var b healthBody
		waitFor(t, fmt.Sprintf("step %d: %d %s", i, st.code, st.want), func() bool {
			code, b = status()
			return code == st.code && b.Reply == st.want
		})
	}
	l.SetFault(&lab.Fault{Status: 500})
	waitFor(t, "503 unavailable", func() bool { c, b := status(); return c == 503 && b.Status == "unavailable" })
}
