package lab

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"

	"github.com/lbpilot/lbpilot/internal/traffic"
)

// dialLab is one protocol's lab node for the dialer tests.
type dialLab struct {
	proto, kind string
	target      string
	node        string
	srv         *Server
	refused     string // the reason a session past the capacity gets
}

// startDialLabs starts one node per protocol, each refusing past one
// session.
func startDialLabs(t *testing.T) []dialLab {
	t.Helper()
	capacity := Capacity{Sessions: 1, Refuse: true}
	start := func(cfg Config, addrs int) *Server {
		cfg.Capacity = capacity
		for range addrs {
			cfg.ClientAddrs = append(cfg.ClientAddrs, "127.0.0.1:0")
		}
		s, err := Start(cfg, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	wcs := start(Config{Kind: WCS, Name: "wcs-a"}, 1)
	origin := start(Config{Kind: SRS, Name: "origin-a"}, 1)
	flv := start(Config{Kind: SRS, Name: "edge-a", SRSRole: "edge"}, 1)
	hls := start(Config{Kind: SRS, Name: "edge-b", SRSRole: "edge"}, 1)
	emqx := start(Config{Kind: EMQX, Name: "emqx-a", EMQXNodes: 1}, 1)
	return []dialLab{
		{ProtoWCS, "play", wcs.ClientURLs[0], "wcs-a", wcs, "capacity"},
		{ProtoRTMP, "publish", origin.ClientURLs[0], "origin-a", origin, "publish_rejected"},
		{ProtoFLV, "play", flv.ClientURLs[0] + "/live", "edge-a", flv, "http_503"},
		{ProtoHLS, "play", hls.ClientURLs[0] + "/live", "edge-b", hls, "http_503"},
		{ProtoMQTT, "subscribe", emqx.ClientURLs[0], node(emqx, 0), emqx, "connack_0x89"},
	}
}

func TestDialersOpenRefuseCutAndComeBack(t *testing.T) {
	reg := Registry()
	for _, l := range startDialLabs(t) {
		t.Run(l.proto, func(t *testing.T) {
			ctx := testCtx(t)
			d := dialerOf(t, reg, l.proto)
			p := traffic.SessionParams{ID: 1, Stream: "stream1", Lifetime: time.Minute, OpenTimeout: 5 * time.Second}
			s, err := d.Open(ctx, l.target, l.kind, p)
			if err != nil {
				t.Fatal(err)
			}
			if s.Node() != l.node {
				t.Errorf("node %q, want %q", s.Node(), l.node)
			}
			// Past the capacity of one session: refused, with a reason.
			p.ID, p.Stream = 2, "stream2"
			if _, err := d.Open(ctx, l.target, l.kind, p); traffic.Reason(err) != l.refused {
				t.Errorf("past capacity: reason %q (%v), want %q", traffic.Reason(err), err, l.refused)
			}
			eventually(t, "bytes flow", func() bool { in, out := s.Bytes(); return in+out > 0 })

			// Killing the node cuts the session.
			st, err := l.srv.SetClientPorts(false)
			if err != nil || st.Open || st.Kills != 1 {
				t.Fatalf("kill: %+v %v", st, err)
			}
			waitc := make(chan error, 1)
			go func() { waitc <- s.Wait() }()
			select {
			case err := <-waitc:
				if r := traffic.Reason(err); r == "closed" || r == "canceled" {
					t.Errorf("cut reason %q (%v)", r, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the session outlived the node's kill")
			}
			_ = s.Close()
			// A killed node refuses connections.
			p.ID = 3
			if _, err := d.Open(ctx, l.target, l.kind, p); traffic.Reason(err) != "connection_refused" {
				t.Errorf("killed node: reason %q (%v)", traffic.Reason(err), err)
			}

			// Back: the node serves again, on the same address.
			if st, err := l.srv.SetClientPorts(true); err != nil || !st.Open {
				t.Fatalf("back: %+v %v", st, err)
			}
			eventually(t, "the cut session's slot is freed", func() bool { return l.srv.Live().Sessions == 0 })
			s2, err := d.Open(ctx, l.target, l.kind, p)
			if err != nil {
				t.Fatalf("after node-back: %v", err)
			}
			if s2.Node() != l.node {
				t.Errorf("after node-back: node %q", s2.Node())
			}
			// Closed by the client: Wait returns promptly.
			_ = s2.Close()
			done := make(chan struct{})
			go func() { _ = s2.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Wait after Close did not return")
			}
		})
	}
}

func dialerOf(t *testing.T, reg *traffic.Registry, proto string) traffic.Dialer {
	t.Helper()
	if _, ok := reg.Kinds(proto); !ok {
		t.Fatalf("%s not registered", proto)
	}
	return labDialers[proto]
}

func TestRegisterDialersTwice(t *testing.T) {
	reg := Registry()
	if err := RegisterDialers(reg); err == nil {
		t.Error("registered twice")
	}
	if got := strings.Join(reg.Names(), ","); got != "flv,hls,mqtt,rtmp,tcp,wcs" {
		t.Errorf("protocols %s", got)
	}
}

func TestDialerBadTargetsAndOptions(t *testing.T) {
	ctx := testCtx(t)
	cases := []struct {
		proto, target string
		opts          map[string]string
		reason        string
	}{
		{ProtoWCS, "http://127.0.0.1:1/", nil, "bad_target"},
		{ProtoWCS, "ws://127.0.0.1:1/", map[string]string{"bitrate": "0"}, "bad_option"},
		{ProtoWCS, "ws://127.0.0.1:1/", map[string]string{"bitrat": "10"}, "bad_option"},
		{ProtoRTMP, "rtmp://127.0.0.1:1/live", map[string]string{"bitrate": "x"}, "bad_option"},
		{ProtoRTMP, "http://127.0.0.1:1/live", nil, "bad_target"},
		{ProtoFLV, "rtmp://127.0.0.1:1/live", nil, "bad_target"},
		{ProtoFLV, "http://127.0.0.1:1/live", map[string]string{"bitrate": "1"}, "bad_option"},
		{ProtoHLS, "ws://127.0.0.1:1/live", nil, "bad_target"},
		{ProtoHLS, "http://127.0.0.1:1/live", map[string]string{"qos": "1"}, "bad_option"},
		{ProtoMQTT, "ws://127.0.0.1:1", nil, "bad_target"},
		{ProtoMQTT, "mqtt://127.0.0.1:1", map[string]string{"qos": "3"}, "bad_option"},
		{ProtoMQTT, "mqtt://127.0.0.1:1", map[string]string{"rate": "0"}, "bad_option"},
		{ProtoMQTT, "mqtt://127.0.0.1:1", map[string]string{"topic_prefix": "a/#/"}, "bad_option"},
		{ProtoMQTT, "mqtt://127.0.0.1:1", nil, "connection_refused"},
		{ProtoWCS, "ws://127.0.0.1:1/", nil, "connection_refused"},
	}
	for _, c := range cases {
		_, err := labDialers[c.proto].Open(ctx, c.target, "play", traffic.SessionParams{ID: 1, Stream: "s", Options: c.opts})
		if got := traffic.Reason(err); got != c.reason {
			t.Errorf("%s %s %v: reason %q (%v), want %q", c.proto, c.target, c.opts, got, err, c.reason)
		}
	}
}

func TestDialerRefusalsByStatusAndStream(t *testing.T) {
	ctx := testCtx(t)
	// HAProxy with no server up answers 503: the handshake, the FLV
	// request and the first playlist are refused as http_503.
	down := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no server", http.StatusServiceUnavailable)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: down, ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	for proto, target := range map[string]string{ProtoWCS: "ws://" + ln.Addr().String() + "/",
		ProtoFLV: "http://" + ln.Addr().String() + "/live", ProtoHLS: "http://" + ln.Addr().String() + "/live"} {
		_, err := labDialers[proto].Open(ctx, target, "play", traffic.SessionParams{ID: 1, Stream: "s", OpenTimeout: 2 * time.Second})
		if got := traffic.Reason(err); got != "http_503" {
			t.Errorf("%s: reason %q (%v)", proto, got, err)
		}
	}

	// A second publisher on a busy RTMP stream; a WCS stream refused.
	origin := startSRSLabNamed(t, Config{SRSRole: "origin"})
	p := traffic.SessionParams{ID: 1, Stream: "busy", OpenTimeout: 5 * time.Second}
	s, err := labDialers[ProtoRTMP].Open(ctx, origin.ClientURLs[0], "publish", p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := labDialers[ProtoRTMP].Open(ctx, origin.ClientURLs[0], "publish", p); traffic.Reason(err) != "stream_busy" {
		t.Errorf("busy stream: reason %q (%v)", traffic.Reason(err), err)
	}
	wcs := startWCSNode(t, Config{Name: "wcs-s"})
	if _, err := labDialers[ProtoWCS].Open(ctx, wcs.ClientURLs[0], "play", traffic.SessionParams{ID: 1, Stream: "s",
		Options: map[string]string{"bitrate": "100000"}}); err != nil {
		t.Errorf("bitrate at the maximum: %v", err)
	}

	// Open timeouts: a server that never answers.
	mute := haproxyMute(t)
	for _, proto := range []string{ProtoFLV, ProtoHLS, ProtoWCS, ProtoMQTT, ProtoRTMP} {
		scheme := map[string]string{ProtoFLV: "http://", ProtoHLS: "http://", ProtoWCS: "ws://", ProtoMQTT: "mqtt://", ProtoRTMP: "rtmp://"}[proto]
		_, err := labDialers[proto].Open(ctx, scheme+mute+"/live", "subscribe", traffic.SessionParams{ID: 1, Stream: "s", OpenTimeout: 200 * time.Millisecond})
		if got := traffic.Reason(err); got != "timeout" {
			t.Errorf("%s mute server: reason %q (%v)", proto, got, err)
		}
	}
}

// haproxyMute accepts connections and never answers.
func haproxyMute(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

func startSRSLabNamed(t *testing.T, cfg Config) *Server {
	s, _ := startSRSLab(t, cfg)
	return s
}

func TestMQTTPublishSessionsAndCauses(t *testing.T) {
	ctx := testCtx(t)
	s := startMQTTLab(t, Config{EMQXNodes: 1})
	d := labDialers[ProtoMQTT]
	opts := map[string]string{"qos": "1", "rate": "50", "size": "10", "topic_prefix": "t/"}
	sub, err := d.Open(ctx, s.ClientURLs[0], "subscribe", traffic.SessionParams{ID: 1, Stream: "x", Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := d.Open(ctx, s.ClientURLs[0], "publish", traffic.SessionParams{ID: 2, Stream: "x", Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the subscriber receives", func() bool { in, _ := sub.Bytes(); return in > 200 })
	if _, out := pub.Bytes(); out == 0 {
		t.Error("the publisher sent nothing")
	}
	if _, err := s.SetClientPorts(false); err != nil {
		t.Fatal(err)
	}
	for _, ss := range []traffic.Session{sub, pub} {
		if r := traffic.Reason(ss.Wait()); r == "closed" {
			t.Errorf("a killed broker's session: reason %q", r)
		}
		_ = ss.Close()
	}
	// Cause names: a DISCONNECT from the broker, a WebSocket close.
	if r := traffic.Reason(mqttCause(&MQTTDisconnectError{Code: 0x8b})); r != "disconnect_0x8b" {
		t.Errorf("disconnect cause %q", r)
	}
	if r := traffic.Reason(mediaCause(&StatusError{Status: 404})); r != "http_404" {
		t.Errorf("status cause %q", r)
	}
	if r := traffic.Reason(mediaCause(errors.New("FLV tag type 7"))); r != "bad_stream" {
		t.Errorf("bad FLV cause %q", r)
	}
	if mediaCause(nil) != nil {
		t.Error("a clean end has a cause")
	}
}

func TestWCSSessionCutByNodeClose(t *testing.T) {
	old := wcsCloseGrace
	wcsCloseGrace = time.Second
	defer func() { wcsCloseGrace = old }()
	s := startWCSNode(t, Config{Name: "wcs-c"})
	sess, err := labDialers[ProtoWCS].Open(testCtx(t), s.ClientURLs[0], "publish", traffic.SessionParams{ID: 1, Stream: "s",
		Options: map[string]string{"bitrate": "64"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if r := traffic.Reason(sess.Wait()); r != "ws_close_1001" {
		t.Errorf("node closed: reason %q", r)
	}
	_ = sess.Close()
}

func TestClientPortsControlAPI(t *testing.T) {
	s := startWCSNode(t, Config{Name: "wcs-k"})
	cl := dialWCS(t, s.ClientURLs[0])
	if cl.Node() != "wcs-k" {
		t.Errorf("nodeName %q", cl.Node())
	}
	do := func(method, body string, want int) ClientPorts {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+"/lab/clients", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: HTTP %d, want %d", method, body, resp.StatusCode, want)
		}
		var st ClientPorts
		if want == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				t.Fatal(err)
			}
		}
		return st
	}
	if st := do("GET", "", 200); !st.Open || st.Sessions != 1 || len(st.Clients) != 1 {
		t.Errorf("GET: %+v", st)
	}
	do("POST", `{}`, 400)
	do("POST", `{"open": "no"}`, 400)
	do("DELETE", ``, 405)
	if st := do("POST", `{"open": false}`, 200); st.Open || st.Kills != 1 || st.Reset != 1 {
		t.Errorf("kill: %+v", st)
	}
	<-cl.Done()
	// Killing a killed node changes nothing.
	if st := do("POST", `{"open": false}`, 200); st.Kills != 1 {
		t.Errorf("second kill: %+v", st)
	}
	// The address is taken meanwhile: the reopen fails and says so.
	addr := strings.TrimSuffix(strings.TrimPrefix(s.ClientURLs[0], "ws://"), "/")
	squat, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	do("POST", `{"open": true}`, 500)
	if st := do("GET", "", 200); st.Open {
		t.Errorf("open after a failed reopen: %+v", st)
	}
	squat.Close()
	if st := do("POST", `{"open": true}`, 200); !st.Open {
		t.Errorf("back: %+v", st)
	}
	c2 := dialWCS(t, s.ClientURLs[0])
	if c2.Node() != "wcs-k" {
		t.Errorf("after node-back: nodeName %q", c2.Node())
	}

	// A node without client ports has nothing to kill.
	bare, err := Start(Config{Kind: WCS, Name: "bare"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	resp, err := http.Post(bare.URL+"/lab/clients", "application/json", strings.NewReader(`{"open": false}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("no client ports: HTTP %d", resp.StatusCode)
	}
	if _, err := bare.SetClientPorts(true); !errors.Is(err, errNoClientPorts) {
		t.Errorf("no client ports: %v", err)
	}
}

func TestClientGateRaces(t *testing.T) {
	// Connections accepted while the port closes and reopens, under -race.
	s := startWCSNode(t, Config{Name: "wcs-r"})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if cl, err := DialWCS(ctx, s.ClientURLs[0], nil); err == nil {
					_ = cl.Close()
				}
			}
		}()
	}
	for range 10 {
		if _, err := s.SetClientPorts(false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if _, err := s.SetClientPorts(true); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	cl := dialWCS(t, s.ClientURLs[0])
	if cl.Node() != "wcs-r" {
		t.Errorf("node %q", cl.Node())
	}
	eventually(t, "sessions settle", func() bool { return s.Live().Sessions == 1 })
	// Closing the node while killed ends its servers.
	if _, err := s.SetClientPorts(false); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetClientPorts(true); err == nil {
		t.Error("a closed node reopened")
	}
}

func TestRTMPNodeFieldsOnlyInAConnectResult(t *testing.T) {
	data := amf0.Object{{Key: rtmpNodeKey, Value: "n"}}
	result := func(name string, code string) []byte {
		body, err := amf0.Data{name, float64(1), amf0.Object{{Key: "fmsVer", Value: "x"}},
			amf0.Object{{Key: "code", Value: code}}}.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		h := []byte{3, 0, 0, 0, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body)), rtmpCommandAMF0, 0, 0, 0, 0}
		return append(h, body...)
	}
	if _, ok := withConnectData(result("_result", "NetConnection.Connect.Success"), data); !ok {
		t.Error("a connect _result was not rewritten")
	}
	short := result("_result", "NetConnection.Connect.Success")
	for name, b := range map[string][]byte{
		"_error":        result("_error", "NetConnection.Connect.Rejected"),
		"other code":    result("_result", "NetStream.Publish.Start"),
		"short":         short[:len(short)-1],
		"tiny":          {3, 0},
		"not a command": {3, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0},
		"not AMF0":      {3, 0, 0, 0, 0, 0, 2, rtmpCommandAMF0, 0, 0, 0, 0, 0xff, 0xff},
	} {
		if _, ok := withConnectData(b, data); ok {
			t.Errorf("%s rewritten", name)
		}
	}
	// A server that never names itself: the scan gives up.
	sc := &nodeScanner{Conn: &fakeReadConn{n: nodeScanLimit + 10}}
	buf := make([]byte, 4096)
	for {
		if _, err := sc.Read(buf); err != nil {
			break
		}
	}
	if sc.Node() != "" || !sc.done || sc.buf != nil {
		t.Errorf("scan of a silent server: node %q done %v", sc.Node(), sc.done)
	}
}

// fakeReadConn reads n zero bytes, then EOF.
type fakeReadConn struct {
	net.Conn
	n int
}

func (c *fakeReadConn) Read(b []byte) (int, error) {
	if c.n <= 0 {
		return 0, io.EOF
	}
	k := min(len(b), c.n)
	clear(b[:k])
	c.n -= k
	return k, nil
}

func TestMQTTSessionCredentialsFile(t *testing.T) {
	ctx := testCtx(t)
	s := startMQTTLab(t, Config{EMQXNodes: 1, APIKey: "app", APISecret: "s3cret"})
	d := labDialers[ProtoMQTT]
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		opts   map[string]string
		reason string // "" opens
	}{
		{"right", map[string]string{"credentials_file": file("ok", "app:s3cret\n")}, ""},
		{"none", nil, "connack_0x86"},
		{"wrong", map[string]string{"credentials_file": file("bad", "app:nope")}, "connack_0x86"},
		{"no colon", map[string]string{"credentials_file": file("nocolon", "app")}, "bad_option"},
		{"missing", map[string]string{"credentials_file": filepath.Join(dir, "absent")}, "bad_option"},
	} {
		ss, err := d.Open(ctx, s.ClientURLs[0], "subscribe", traffic.SessionParams{ID: 1, Stream: "x", Options: tc.opts})
		if got := traffic.Reason(err); err != nil && got != tc.reason || err == nil && tc.reason != "" {
			t.Errorf("%s: reason %q (%v), want %q", tc.name, got, err, tc.reason)
		}
		if err == nil {
			_ = ss.Close()
		}
	}
}
