package lab

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)} }

func mustNew(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func getJSON(t *testing.T, s http.Handler, target string, v any) {
	t.Helper()
	code, _, body := get(t, s, target)
	if code != 200 {
		t.Fatalf("GET %s: HTTP %d %s", target, code, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
}

func statValues(t *testing.T, s http.Handler) map[string]map[string]any {
	var m map[string]map[string]any
	getJSON(t, s, "/?action=stat&format=json", &m)
	return m
}

func num(v any) float64 { f, _ := v.(float64); return f }

// TestWCSFollowsLoad: the stat page's stream counts add up to the load's
// publishers and subscribers the way the WCS agent script sums them.
func TestWCSFollowsLoad(t *testing.T) {
	for _, l := range []Load{
		{},
		{Publishers: 1, Subscribers: 1},
		{Publishers: 18, Subscribers: 155, HLS: 25, BandwidthInMbps: 38.52, BandwidthOutMbps: 412.77, CPU: 0.473},
		{Publishers: 997, Subscribers: 12345, CPU: 1.5},
	} {
		s := mustNew(t, Config{Kind: WCS, Load: l})
		m := statValues(t, s)
		st := m["streams_stats"]
		pub := num(st["streams_webrtc_in"]) + num(st["streams_rtmp_in"]) + num(st["streams_rtsp_in"]) + num(st["streams_rtsp_push_in"])
		sub := num(st["streams_webrtc_out"]) + num(st["streams_rtmp_out"]) + num(st["streams_rtmp_client_out"]) + num(st["streams_rtsp_out"]) + num(st["streams_websocket_out"])
		if int(pub) != l.Publishers || int(sub) != l.Subscribers || int(num(st["streams_hls"])) != l.HLS {
			t.Errorf("load %+v: page says %v publishers, %v subscribers, %v hls", l, pub, sub, st["streams_hls"])
		}
		n := m["network_stats"]
		if num(n["global_bandwidth_in"]) != l.BandwidthInMbps || num(n["global_bandwidth_out"]) != l.BandwidthOutMbps {
			t.Errorf("bandwidth %v", n)
		}
		if got := num(m["system_stats"]["system_java_cpu_usage"]); got != round(l.CPU*100, 2) {
			t.Errorf("cpu %v, want %v", got, l.CPU*100)
		}
	}
}

// TestProfile: steps jump, ramps interpolate, loops repeat.
func TestProfile(t *testing.T) {
	c := newClock()
	s := mustNew(t, Config{Kind: WCS, Now: c.now})
	p := Profile{Steps: []Step{
		{At: 0, Load: Load{Publishers: 10}},
		{At: Duration(30 * time.Second), Load: Load{Publishers: 20}},
		{At: Duration(60 * time.Second), Ramp: true, Load: Load{Publishers: 80, CPU: 0.9}},
	}}
	if err := s.SetProfile(p); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Duration
		pubs int
		cpu  float64
	}{{0, 10, 0}, {29 * time.Second, 10, 0}, {30 * time.Second, 20, 0}, {45 * time.Second, 50, 0.45}, {60 * time.Second, 80, 0.9}, {time.Hour, 80, 0.9}} {
		c.t = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC).Add(tc.at)
		if l := s.Load(); l.Publishers != tc.pubs || l.CPU != tc.cpu {
			t.Errorf("at %v: %+v, want %d publishers, cpu %v", tc.at, l, tc.pubs, tc.cpu)
		}
	}
	p.Loop = true
	if err := s.SetProfile(p); err != nil {
		t.Fatal(err)
	}
	c.add(75 * time.Second) // 15 s into the second period
	if l := s.Load(); l.Publishers != 10 {
		t.Errorf("looped: %+v", l)
	}
	s.StopProfile()
	c.add(time.Hour)
	if l := s.Load(); l.Publishers != 10 {
		t.Errorf("after StopProfile the load moved: %+v", l)
	}
	for _, bad := range []Profile{
		{},
		{Steps: []Step{{At: Duration(time.Minute)}, {At: Duration(time.Second)}}},
		{Steps: []Step{{Load: Load{Publishers: -1}}}},
		{Steps: []Step{{}}, Loop: true},
	} {
		if err := s.SetProfile(bad); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

// TestSRSCountersFollowLoad: byte counters grow at the set bandwidth and
// never go back, also across load changes.
func TestSRSCountersFollowLoad(t *testing.T) {
	c := newClock()
	s := mustNew(t, Config{Kind: SRS, Now: c.now, Load: Load{Publishers: 2, Subscribers: 10, BandwidthInMbps: 8, BandwidthOutMbps: 80, CPU: 0.5}})
	type summ struct {
		Data struct {
			Self struct {
				CPUPercent float64 `json:"cpu_percent"`
			} `json:"self"`
			System struct {
				Send float64 `json:"srs_send_bytes"`
				Recv float64 `json:"srs_recv_bytes"`
				Conn float64 `json:"conn_srs"`
			} `json:"system"`
		} `json:"data"`
	}
	var a, b summ
	getJSON(t, s, "/api/v1/summaries", &a)
	c.add(10 * time.Second)
	getJSON(t, s, "/api/v1/summaries", &b)
	if got := b.Data.System.Send - a.Data.System.Send; got != 80*125000*10 {
		t.Errorf("sent %v bytes in 10 s at 80 Mbit/s", got)
	}
	if got := b.Data.System.Recv - a.Data.System.Recv; got != 8*125000*10 {
		t.Errorf("received %v bytes in 10 s at 8 Mbit/s", got)
	}
	if b.Data.System.Conn != 12 || b.Data.Self.CPUPercent != 0.5 {
		t.Errorf("clients %v cpu %v", b.Data.System.Conn, b.Data.Self.CPUPercent)
	}
	if err := s.SetLoad(Load{Publishers: 1, Subscribers: 1}); err != nil {
		t.Fatal(err)
	}
	c.add(time.Second)
	var d summ
	getJSON(t, s, "/api/v1/summaries", &d)
	if d.Data.System.Send < b.Data.System.Send {
		t.Error("counter went back after a load change")
	}
	// A restart: counters from zero, a new service id.
	var v1, v2 struct{ Service string }
	getJSON(t, s, "/api/v1/versions", &v1)
	s.Restart()
	getJSON(t, s, "/api/v1/versions", &v2)
	var e summ
	getJSON(t, s, "/api/v1/summaries", &e)
	if v1.Service == v2.Service || e.Data.System.Send != 0 {
		t.Errorf("restart: service %s → %s, send %v", v1.Service, v2.Service, e.Data.System.Send)
	}
}

// TestSRSListsAndPaging: the lists follow the load and SRS's paging rules.
func TestSRSListsAndPaging(t *testing.T) {
	type list struct {
		Streams []struct {
			ID      string
			Clients int
			Publish struct {
				Active bool
				CID    string
			}
		}
		Clients []struct {
			Type    string
			Publish bool
		}
	}
	s := mustNew(t, Config{Kind: SRS, Load: Load{Publishers: 30, Streams: 35, Subscribers: 300}})
	var all list
	getJSON(t, s, "/api/v1/streams/?start=0&count=1000", &all)
	if len(all.Streams) != 35 {
		t.Fatalf("%d streams", len(all.Streams))
	}
	active, clients := 0, 0
	for _, st := range all.Streams {
		if st.Publish.Active {
			active++
		}
		clients += st.Clients
	}
	if active != 30 || clients != 330 {
		t.Errorf("%d active, %d clients", active, clients)
	}
	var page list
	getJSON(t, s, "/api/v1/streams/?start=30&count=5", &page) // count < 10 becomes 10
	if len(page.Streams) != 5 || page.Streams[0].ID != all.Streams[30].ID {
		t.Errorf("page: %d streams", len(page.Streams))
	}
	getJSON(t, s, "/api/v1/clients/", &page) // default count 10
	if len(page.Clients) != 10 {
		t.Errorf("default page: %d clients", len(page.Clients))
	}
	if code, hdr, _ := get(t, s, "/api/v1/streams?count=3"); code != http.StatusFound || hdr.Get("Location") != "/api/v1/streams/?count=3" {
		t.Errorf("no-slash: HTTP %d %s", code, hdr.Get("Location"))
	}
	// SRS 3 returns every stream whatever start says.
	s3 := mustNew(t, Config{Kind: SRS, SRSVersion: "3.0.170", Load: Load{Publishers: 12}})
	var v3 list
	getJSON(t, s3, "/api/v1/streams/?start=5&count=10", &v3)
	if len(v3.Streams) != 12 {
		t.Errorf("SRS 3: %d streams", len(v3.Streams))
	}
	// An edge: no publisher clients, publish.cid is a player.
	edge := mustNew(t, Config{Kind: SRS, SRSRole: "edge", Load: Load{Publishers: 1, Subscribers: 2}})
	var e list
	getJSON(t, edge, "/api/v1/clients/", &e)
	getJSON(t, edge, "/api/v1/streams/", &e)
	for _, c := range e.Clients {
		if c.Publish {
			t.Error("an edge lists a publisher")
		}
	}
	if len(e.Streams) != 1 || !e.Streams[0].Publish.Active || e.Streams[0].Publish.CID == "" {
		t.Errorf("edge streams %+v", e.Streams)
	}
}

func TestSRSAuth(t *testing.T) {
	s := mustNew(t, Config{Kind: SRS, APIKey: "admin", APISecret: "secret"})
	if code, hdr, _ := get(t, s, "/api/v1/versions"); code != 401 || hdr.Get("WWW-Authenticate") != "Basic" {
		t.Errorf("no credentials: HTTP %d", code)
	}
	if code, _, _ := get(t, s, "/api/v1/versions", "admin", "secret"); code != 200 {
		t.Errorf("credentials: HTTP %d", code)
	}
}

// TestEMQXFollowsLoad: stats split over the running nodes, counters grow
// with the message rates, a stopped node drops out.
func TestEMQXFollowsLoad(t *testing.T) {
	c := newClock()
	s := mustNew(t, Config{Kind: EMQX, EMQXNodes: 3, Now: c.now, Load: Load{Connections: 1000, MessagesInRate: 300}})
	var stats []map[string]any
	getJSON(t, s, "/api/v5/stats", &stats)
	total := 0.0
	for _, n := range stats {
		total += num(n["live_connections.count"])
	}
	if len(stats) != 3 || total != 1000 {
		t.Errorf("%d nodes, %v live connections", len(stats), total)
	}
	c.add(10 * time.Second)
	var metrics []map[string]any
	getJSON(t, s, "/api/v5/metrics", &metrics)
	recv := 0.0
	for _, n := range metrics {
		recv += num(n["messages.received"])
	}
	if recv < 2997 || recv > 3000 { // 300/s × 10 s, floored per node
		t.Errorf("messages.received %v", recv)
	}
	if err := s.SetLoad(Load{Connections: 1000, StoppedNodes: 1}); err != nil {
		t.Fatal(err)
	}
	var nodes []map[string]any
	getJSON(t, s, "/api/v5/nodes", &nodes)
	getJSON(t, s, "/api/v5/stats", &stats)
	if len(nodes) != 3 || nodes[2]["node_status"] != "stopped" || len(stats) != 2 {
		t.Errorf("nodes %v, stats of %d nodes", nodes, len(stats))
	}
	if code, _, _ := get(t, s, "/api/v5/nodes/emqx@emqx-n9.lab"); code != 404 {
		t.Errorf("unknown node: HTTP %d", code)
	}
}

func TestEMQXAuth(t *testing.T) {
	for _, tc := range []struct {
		v, realm, body string
	}{
		{"v5", "emqx-dashboard", "BAD_API_KEY_OR_SECRET"},
		{"v4", "minirest-server", "UNAUTHORIZED"},
		{"v2", "emqx control center", ""},
	} {
		s := mustNew(t, Config{Kind: EMQX, EMQXVersion: tc.v, APIKey: "k", APISecret: "s"})
		code, hdr, body := get(t, s, "/api/"+tc.v+"/nodes", "k", "wrong")
		if code != 401 || !strings.Contains(hdr.Get("WWW-Authenticate"), tc.realm) || !strings.Contains(string(body), tc.body) {
			t.Errorf("%s: HTTP %d %q %q", tc.v, code, hdr.Get("WWW-Authenticate"), body)
		}
		if code, _, _ := get(t, s, "/status"); code != 200 {
			t.Errorf("%s: /status needs no credentials, got HTTP %d", tc.v, code)
		}
	}
}

// TestControlAPI drives a started lab server over HTTP.
func TestControlAPI(t *testing.T) {
	s, err := Start(Config{Kind: WCS, Name: "wcs1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	post := func(path, body string) (int, string) {
		resp, err := http.Post(s.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("/lab/load", `{"publishers": 5, "cpu": 0.5}`); code != 200 || !strings.Contains(body, `"publishers": 5`) {
		t.Fatalf("POST /lab/load: %d %s", code, body)
	}
	// A partial update keeps the other fields.
	if code, body := post("/lab/load", `{"subscribers": 7}`); code != 200 || !strings.Contains(body, `"publishers": 5`) || !strings.Contains(body, `"subscribers": 7`) {
		t.Fatalf("partial update: %d %s", code, body)
	}
	for _, bad := range []string{`{"publishers": -1}`, `{"nope": 1}`, `not json`} {
		if code, _ := post("/lab/load", bad); code != 400 {
			t.Errorf("POST /lab/load %s: HTTP %d", bad, code)
		}
	}
	if code, _ := post("/lab/profile", `{"steps":[{"at":"0s","load":{"publishers":3}},{"at":60,"ramp":true,"load":{"publishers":9}}]}`); code != 200 {
		t.Errorf("profile: HTTP %d", code)
	}
	if st := s.Status(); !st.Profile || st.Load.Publishers != 3 {
		t.Errorf("status %+v", st)
	}
	// Faults.
	if code, _ := post("/lab/fault", `{"status": 503, "body": "maintenance"}`); code != 200 {
		t.Fatal("fault")
	}
	resp, err := http.Get(s.URL + "/?action=stat")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || string(b) != "maintenance" {
		t.Errorf("fault answer %d %q", resp.StatusCode, b)
	}
	post("/lab/fault", `{"truncate": true}`)
	full := httptest.NewRecorder()
	s.SetFault(nil)
	s.ServeHTTP(full, httptest.NewRequest("GET", "/?action=stat", nil))
	s.SetFault(&Fault{Truncate: true})
	half := httptest.NewRecorder()
	s.ServeHTTP(half, httptest.NewRequest("GET", "/?action=stat", nil))
	if half.Body.Len() != full.Body.Len()/2 || !strings.HasPrefix(full.Body.String(), half.Body.String()) {
		t.Errorf("truncated answer: %d of %d bytes", half.Body.Len(), full.Body.Len())
	}
	req, _ := http.NewRequest(http.MethodDelete, s.URL+"/lab/fault", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("DELETE /lab/fault: %v", err)
	}
	if s.Status().Fault != nil {
		t.Error("fault still set")
	}
	if code, _ := post("/lab/restart", ""); code != 200 {
		t.Errorf("restart: HTTP %d", code)
	}
	if code, _, _ := get(t, s, "/lab/nothing"); code != 404 {
		t.Errorf("unknown control path: HTTP %d", code)
	}
}

func TestFaultDelayHonoursCancel(t *testing.T) {
	s := mustNew(t, Config{Kind: WCS})
	s.SetFault(&Fault{Delay: Duration(time.Hour)})
	srv := httptest.NewServer(s)
	defer srv.Close()
	client := &http.Client{Timeout: 50 * time.Millisecond}
	start := time.Now()
	if _, err := client.Get(srv.URL + "/?action=stat"); err == nil {
		t.Fatal("a delayed answer arrived")
	}
	if time.Since(start) > 5*time.Second {
		t.Error("the delay did not stop with the client")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Kind: "nginx"},
		{Kind: SRS, SRSVersion: "2.0"},
		{Kind: SRS, SRSRole: "proxy"},
		{Kind: EMQX, EMQXVersion: "v3"},
		{Kind: WCS, Load: Load{CPU: -1}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
}

func TestIdentStable(t *testing.T) {
	a, b := ident("srs1", "server", 7), ident("srs1", "server", 7)
	if a != b || len(a) != 7 || a == ident("srs2", "server", 7) {
		t.Errorf("ident: %q %q", a, b)
	}
}
