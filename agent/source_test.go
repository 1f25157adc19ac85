package agent

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/emqxapi"
	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/srsapi"
	"github.com/lbpilot/lbpilot/internal/srsapi/srstest"
	"github.com/lbpilot/lbpilot/internal/testenv"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

func startLab(t testing.TB, cfg lab.Config) *lab.Server {
	t.Helper()
	s, err := lab.Start(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func sampleOf(t *testing.T, src Source) (Sample, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return src.Sample(ctx)
}

func wantDims(t *testing.T, s Sample, want map[Dimension]float64) {
	t.Helper()
	for d, w := range want {
		if v, ok := s.Get(d); !ok || math.Abs(v-w) > 1e-6*math.Max(1, w) {
			t.Errorf("%s = %v (measured %v), want %v", d, v, ok, w)
		}
	}
}

// TestWCSSourceLab reads the lab's WCS in both forms: a base URL (JSON,
// as the exporter asks) and the docs' ?action=stat (text).
func TestWCSSourceLab(t *testing.T) {
	l := startLab(t, lab.Config{Kind: lab.WCS, Load: lab.Load{Publishers: 12, Subscribers: 140, HLS: 20, BandwidthInMbps: 30.5, BandwidthOutMbps: 400}})
	for _, u := range []string{l.URL, l.URL + "/?action=stat"} {
		s, err := sampleOf(t, &WCSSource{URL: u})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		wantDims(t, s, map[Dimension]float64{Publishers: 12, Subscribers: 140, HLS: 20, BandIn: 30.5, BandOut: 400})
	}
}

// TestSourceFailuresLab: every way the local upstream can fail gives a
// down reply with a short reason.
func TestSourceFailuresLab(t *testing.T) {
	l := startLab(t, lab.Config{Kind: lab.WCS})
	p := defaultPolicy(ModeWeight)
	tests := []struct {
		name  string
		fault *lab.Fault
		url   string
		want  string
	}{
		{"HTTP 503", &lab.Fault{Status: 503, Body: "busy"}, l.URL, "down #upstream HTTP 503"},
		{"slow", &lab.Fault{Delay: lab.Duration(2 * time.Second)}, l.URL, "down #upstream timeout"},
		{"truncated", &lab.Fault{Truncate: true}, l.URL, "down #upstream bad answer"},
		{"HTML page", &lab.Fault{Body: "<html><body>proxy error</body></html>"}, l.URL, "down #upstream bad answer"},
		{"empty page", &lab.Fault{Body: ""}, l.URL, "down #upstream bad answer"},
		{"wrong path", nil, l.URL + "/nothing?x=1", "down #upstream HTTP 404"},
		{"nothing listening", nil, "http://" + testenv.ClosedPort(t), "down #upstream unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l.SetFault(tt.fault)
			defer l.SetFault(nil)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err := (&WCSSource{URL: tt.url}).Sample(ctx)
			if err == nil {
				t.Fatal("no error")
			}
			if got := p.Decide(Sample{}, err).Reply; got != tt.want {
				t.Errorf("reply %q, want %q (err %v)", got, tt.want, err)
			}
		})
	}
}

func TestSRSSourceLab(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1795288528, 0)}
	l := startLab(t, lab.Config{Kind: lab.SRS, Now: clk.now, Load: lab.Load{Publishers: 3, Subscribers: 30, BandwidthInMbps: 8, BandwidthOutMbps: 80}})
	src := NewSRSSource(srsapi.API{BaseURL: l.URL})
	s, err := sampleOf(t, src)
	if err != nil {
		t.Fatal(err)
	}
	wantDims(t, s, map[Dimension]float64{Clients: 33, Streams: 3})
	if _, ok := s.Get(BandIn); ok {
		t.Error("bandwidth from a single reading")
	}
	clk.add(10 * time.Second)
	s, err = sampleOf(t, src)
	if err != nil {
		t.Fatal(err)
	}
	wantDims(t, s, map[Dimension]float64{BandIn: 8, BandOut: 80, Clients: 33})
	// A restart resets the counters: no rate until the next reading.
	l.Restart()
	clk.add(10 * time.Second)
	if s, _ = sampleOf(t, src); hasAny(s, BandIn, BandOut) {
		t.Error("bandwidth across a restart")
	}
	clk.add(10 * time.Second)
	if s, _ = sampleOf(t, src); !hasAny(s, BandIn) {
		t.Error("no bandwidth after the restart settled")
	}
	l.SetFault(&lab.Fault{Status: 500})
	if _, err := sampleOf(t, src); err == nil {
		t.Error("SRS answering 500 is not an error")
	}
}

// TestSRSSourceClientsFromList samples an SRS 4 again and again against a
// replay whose conn_srs counts open connections, as SRS 3 and 4 do (the
// agent's own requests included): the clients dimension stays the
// length of the client list, as the exporter's srs_clients.
func TestSRSSourceClientsFromList(t *testing.T) {
	r, srv := srstest.NewConnCountingReplay(t, "testdata/srs_v4.0.271_load_master", "")
	src := NewSRSSource(srsapi.API{BaseURL: srv.URL})
	for i := 0; i < 10; i++ {
		s, err := sampleOf(t, src)
		if err != nil {
			t.Fatal(err)
		}
		wantDims(t, s, map[Dimension]float64{Clients: 5, Streams: 1})
	}
	for _, req := range r.Seen() {
		if strings.HasPrefix(req, "/api/v1/self_proc_stats") || strings.HasPrefix(req, "/api/v1/features") {
			t.Errorf("the agent asked for %s, which it does not use", req)
		}
	}
}

func hasAny(s Sample, dims ...Dimension) bool {
	for _, d := range dims {
		if _, ok := s.Get(d); ok {
			return true
		}
	}
	return false
}

func TestSRSRates(t *testing.T) {
	t0 := time.Unix(100, 0)
	c := func(service string, at time.Duration, recv, send float64) *srsCounters {
		return &srsCounters{service: service, at: t0.Add(at), recv: recv, send: send}
	}
	tests := []struct {
		name      string
		prev, cur *srsCounters
		in, out   float64
		ok        bool
	}{
		{"first", nil, c("a", 0, 1, 1), 0, 0, false},
		{"steady", c("a", 0, 0, 0), c("a", 2*time.Second, 1e6, 2.5e6), 4, 10, true},
		{"restart by id", c("a", 0, 0, 0), c("b", time.Second, 1e6, 1e6), 0, 0, false},
		{"counter fell", c("a", 0, 5e6, 5e6), c("a", time.Second, 1e6, 6e6), 0, 0, false},
		{"clock still", c("a", time.Second, 0, 0), c("a", time.Second, 1e6, 1e6), 0, 0, false},
		{"gap too long", c("a", 0, 0, 0), c("a", 2*time.Minute, 1e6, 1e6), 0, 0, false},
	}
	for _, tt := range tests {
		in, out, ok := srsRates(tt.prev, tt.cur)
		if ok != tt.ok || math.Abs(in-tt.in) > 1e-9 || math.Abs(out-tt.out) > 1e-9 {
			t.Errorf("%s: %v %v %v, want %v %v %v", tt.name, in, out, ok, tt.in, tt.out, tt.ok)
		}
	}
}

// TestEMQXSourceLab: the agent reports its own node, not the cluster.
func TestEMQXSourceLab(t *testing.T) {
	l := startLab(t, lab.Config{Kind: lab.EMQX, Name: "mq", EMQXNodes: 2, APIKey: "k", APISecret: "s", Load: lab.Load{Connections: 501}})
	auth := upstream.Auth{Username: "k", Password: "s"}
	s, err := sampleOf(t, &EMQXSource{API: &emqxapi.API{BaseURL: l.URL, Auth: auth, Node: emqxapi.SelfNode}})
	if err != nil {
		t.Fatal(err)
	}
	wantDims(t, s, map[Dimension]float64{Connections: 251}) // node 1's share of 501
	s, err = sampleOf(t, &EMQXSource{API: &emqxapi.API{BaseURL: l.URL, Auth: auth, Node: "emqx@mq-n2.lab"}})
	if err != nil {
		t.Fatal(err)
	}
	wantDims(t, s, map[Dimension]float64{Connections: 250})

	_, err = sampleOf(t, &EMQXSource{API: &emqxapi.API{BaseURL: l.URL, Auth: upstream.Auth{Username: "k", Password: "wrong"}, Node: emqxapi.SelfNode}})
	if got := upstreamReason(err); got != "upstream HTTP 401" {
		t.Errorf("bad secret: %q (%v)", got, err)
	}
}

func TestEMQXSourceStoppedNode(t *testing.T) {
	for _, v := range []string{"v5", "v4"} {
		l := startLab(t, lab.Config{Kind: lab.EMQX, Name: "mq", EMQXVersion: v, EMQXNodes: 2, Load: lab.Load{Connections: 10, StoppedNodes: 1}})
		_, err := sampleOf(t, &EMQXSource{API: &emqxapi.API{BaseURL: l.URL, Node: "emqx@mq-n2.lab"}})
		if err == nil {
			t.Fatalf("%s: a stopped node is not an error", v)
		}
		if got := upstreamReason(err); !strings.HasPrefix(got, "upstream ") {
			t.Errorf("%s: reason %q", v, got)
		}
		t.Logf("%s stopped node: %v → %s", v, err, upstreamReason(err))
	}
}

func TestEMQXSourceNodeNotRunning(t *testing.T) {
	// A node listed as stopped in an otherwise good answer.
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v5/nodes/n1", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"node":"n1","node_status":"stopped"}`))
	})
	mux.HandleFunc("/api/v5/nodes/n1/stats", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"connections.count":0}`))
	})
	mux.HandleFunc("/api/v5/metrics", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`[{"node":"n1","messages.received":0}]`))
	})
	srv := startHTTP(t, mux)
	_, err := sampleOf(t, &EMQXSource{API: &emqxapi.API{BaseURL: srv, Version: emqxapi.V5, Node: "n1"}})
	if got := upstreamReason(err); got != "upstream node not running" {
		t.Errorf("reason %q (%v)", got, err)
	}
}

func startHTTP(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
