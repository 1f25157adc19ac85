package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/testenv"
	"github.com/lbpilot/lbpilot/internal/wcsapi"
)

func startWCSNode(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Kind = WCS
	if cfg.ClientAddrs == nil {
		cfg.ClientAddrs = []string{"127.0.0.1:0"}
	}
	s, err := Start(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if len(s.ClientURLs) != 1 || !strings.HasPrefix(s.ClientURLs[0], "ws://127.0.0.1:") {
		t.Fatalf("client URLs %v", s.ClientURLs)
	}
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dialWCS(t *testing.T, url string) *WCSClient {
	t.Helper()
	cl, err := DialWCS(testCtx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// wcsPage is what the agent and the collector read off the stat page.
type wcsPage struct {
	conns, ws, pubs, subs float64
	bwIn, bwOut           float64
}

func fetchWCS(t *testing.T, s *Server) wcsPage {
	t.Helper()
	st, err := wcsapi.Fetch(testCtx(t), nil, s.URL)
	if err != nil {
		t.Fatal(err)
	}
	var p wcsPage
	p.conns, _ = st.Connections()
	p.ws, _ = st.Value("connections_websocket")
	p.pubs, _ = st.Publishers()
	p.subs, _ = st.Subscribers()
	p.bwIn, p.bwOut, _ = st.Bandwidth()
	return p
}

func near(got, want, tol float64) bool { return got >= want*(1-tol) && got <= want*(1+tol) }

func TestWCSWebSocketSessionsOnStatPage(t *testing.T) {
	// Background: 2 publishers, 10 subscribers, connections derived (12).
	bg := Load{Publishers: 2, Subscribers: 10}
	s := startWCSNode(t, Config{Load: bg, PlayKbps: 400})
	url := s.ClientURLs[0]
	if p := fetchWCS(t, s); p.conns != 12 || p.pubs != 2 || p.subs != 10 {
		t.Fatalf("background page %+v", p)
	}
	ctx := testCtx(t)
	pubC := dialWCS(t, url)
	if pubC.Token() == "" {
		t.Error("no authToken in getUserData")
	}
	if p := fetchWCS(t, s); p.conns != 13 || p.ws != 13 || p.pubs != 2 {
		t.Fatalf("after connect %+v, want 13 connections (13 websocket), 2 publishers", p)
	}
	pub, err := pubC.Publish(ctx, "cam1", 300)
	if err != nil {
		t.Fatal(err)
	}
	playA, playB := dialWCS(t, url), dialWCS(t, url)
	stA, err := playA.Play(ctx, "cam1", 0) // the node's 400 kbit/s
	if err != nil {
		t.Fatal(err)
	}
	if _, err := playB.Play(ctx, "cam1", 800); err != nil {
		t.Fatal(err)
	}
	p := fetchWCS(t, s) // starts the bandwidth window
	if p.conns != 15 || p.ws != 15 || p.pubs != 3 || p.subs != 12 {
		t.Fatalf("publisher + 2 players: %+v, want 15 connections, 3 publishers, 12 subscribers", p)
	}
	time.Sleep(1200 * time.Millisecond)
	p = fetchWCS(t, s)
	if !near(p.bwIn, 0.3, 0.35) || !near(p.bwOut, 1.2, 0.35) {
		t.Errorf("bandwidth in %.3f out %.3f Mbit/s, want ~0.3 and ~1.2", p.bwIn, p.bwOut)
	}
	if playA.Received() == 0 || playB.Received() <= playA.Received() || pubC.Sent() == 0 {
		t.Errorf("media: player A got %d, player B (800 kbit/s) %d, publisher sent %d", playA.Received(), playB.Received(), pubC.Sent())
	}
	lv := s.Live()
	if lv.BytesIn == 0 || lv.BytesOut < playA.Received() || lv.Sessions != 3 {
		t.Errorf("live %+v", lv)
	}

	if err := stA.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if p := fetchWCS(t, s); p.subs != 11 || p.conns != 15 {
		t.Errorf("after stopStream %+v, want 11 subscribers on 15 connections", p)
	}
	if err := pub.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if p := fetchWCS(t, s); p.pubs != 2 {
		t.Errorf("after unPublishStream %+v, want 2 publishers", p)
	}
	for _, c := range []*WCSClient{pubC, playA, playB} {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}
	eventually(t, "sessions to end", func() bool { return s.Live().Sessions == 0 })
	if p := fetchWCS(t, s); p.conns != 12 || p.pubs != 2 || p.subs != 10 {
		t.Errorf("after the clients left %+v, want the background back", p)
	}
}

// dialRecordingConn dials through a transport that hands back the TCP
// connection, so a test can cut it without a close handshake.
func dialRecordingConn(t *testing.T, url string) (*WCSClient, func() net.Conn) {
	t.Helper()
	var mu sync.Mutex
	var raw net.Conn
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		mu.Lock()
		raw = c
		mu.Unlock()
		return c, err
	}}
	cl, err := DialWCS(testCtx(t), url, &WCSDialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl, func() net.Conn { mu.Lock(); defer mu.Unlock(); return raw }
}

func TestWCSSessionEndRestoresCounts(t *testing.T) {
	saved := wcsPingInterval
	wcsPingInterval = 50 * time.Millisecond
	t.Cleanup(func() { wcsPingInterval = saved })
	bg := Load{Publishers: 1, Subscribers: 4, Connections: 3}
	for _, tc := range []struct {
		name  string
		leave func(t *testing.T, cl *WCSClient, raw net.Conn, st *WCSStream)
	}{
		{"close", func(t *testing.T, cl *WCSClient, _ net.Conn, _ *WCSStream) { _ = cl.Close() }},
		{"stop then close", func(t *testing.T, cl *WCSClient, _ net.Conn, st *WCSStream) {
			if err := st.Stop(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			_ = cl.Close()
		}},
		{"abrupt TCP close", func(t *testing.T, _ *WCSClient, raw net.Conn, _ *WCSStream) {
			if tc, ok := raw.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST, no FIN
			}
			_ = raw.Close()
		}},
	} {
		for _, publish := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/publish=%v", tc.name, publish), func(t *testing.T) {
				s := startWCSNode(t, Config{Load: bg})
				cl, raw := dialRecordingConn(t, s.ClientURLs[0])
				var st *WCSStream
				var err error
				if publish {
					st, err = cl.Publish(testCtx(t), "s1", 200)
				} else {
					st, err = cl.Play(testCtx(t), "s1", 0)
				}
				if err != nil {
					t.Fatal(err)
				}
				// A few pings go by: the client answers them.
				time.Sleep(200 * time.Millisecond)
				if p := fetchWCS(t, s); p.conns != 4 || p.pubs+p.subs != 6 {
					t.Fatalf("with the client %+v", p)
				}
				tc.leave(t, cl, raw(), st)
				eventually(t, "the session to end", func() bool { return s.Live().Sessions == 0 })
				if p := fetchWCS(t, s); p.conns != 3 || p.pubs != 1 || p.subs != 4 {
					t.Errorf("after the client left %+v, want the background", p)
				}
				if s.Live().Garbage != 0 {
					t.Errorf("a client leaving counted as garbage")
				}
			})
		}
	}
}

// rawWCS is a bare WebSocket client that speaks whatever a test sends.
func rawWCS(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(testCtx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func sendText(t *testing.T, c *websocket.Conn, s string) {
	t.Helper()
	if err := c.Write(testCtx(t), websocket.MessageText, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

// nextText reads the next text message (skipping media).
func nextText(t *testing.T, c *websocket.Conn) wcsMessage {
	t.Helper()
	for {
		typ, b, err := c.Read(testCtx(t))
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if typ == websocket.MessageText {
			var m wcsMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("node sent %q: %v", b, err)
			}
			return m
		}
	}
}

// closeStatus reads until the node closes the connection.
func closeStatus(t *testing.T, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	for {
		_, _, err := c.Read(testCtx(t))
		if err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

const (
	wsConnect = `{"message":"connection","data":[{"appKey":"defaultApp"}]}`
	wsPlay    = `{"message":"playStream","data":[{"mediaSessionId":"p1","name":"s"}]}`
	wsPublish = `{"message":"publishStream","data":[{"mediaSessionId":"m1","name":"s"}]}`
)

func TestWCSGarbageDisconnects(t *testing.T) {
	s := startWCSNode(t, Config{Load: Load{Subscribers: 2}})
	big := `{"message":"connection","data":["` + strings.Repeat("x", wcsMaxMessage) + `"]}`
	for i, tc := range []struct {
		name  string
		steps []string // text messages; "bin:" sends the rest as binary
		want  websocket.StatusCode
	}{
		{"not JSON", []string{"hello"}, websocket.StatusPolicyViolation},
		{"no message name", []string{`{"data":[]}`}, websocket.StatusPolicyViolation},
		{"JSON array", []string{`[1,2]`}, websocket.StatusPolicyViolation},
		{"publish before connection", []string{wsPublish}, websocket.StatusPolicyViolation},
		{"pong before connection", []string{`{"message":"pong","data":[null]}`}, websocket.StatusPolicyViolation},
		{"binary before connection", []string{"bin:abc"}, websocket.StatusPolicyViolation},
		{"unknown message", []string{wsConnect, `{"message":"sendData","data":[{}]}`}, websocket.StatusPolicyViolation},
		{"second connection", []string{wsConnect, wsConnect}, websocket.StatusPolicyViolation},
		{"publish without name", []string{wsConnect, `{"message":"publishStream","data":[{"mediaSessionId":"m1"}]}`}, websocket.StatusPolicyViolation},
		{"play without data", []string{wsConnect, `{"message":"playStream"}`}, websocket.StatusPolicyViolation},
		{"stream data not an object", []string{wsConnect, `{"message":"playStream","data":["x"]}`}, websocket.StatusPolicyViolation},
		{"mediaSessionId in use", []string{wsConnect, wsPlay, wsPlay}, websocket.StatusPolicyViolation},
		{"stop of an unknown stream", []string{wsConnect, `{"message":"stopStream","data":[{"mediaSessionId":"nope"}]}`}, websocket.StatusPolicyViolation},
		{"unpublish of a played stream", []string{wsConnect, wsPlay, `{"message":"unPublishStream","data":[{"mediaSessionId":"p1"}]}`}, websocket.StatusPolicyViolation},
		{"binary from a player", []string{wsConnect, wsPlay, "bin:frame"}, websocket.StatusPolicyViolation},
		{"oversized text", []string{big}, websocket.StatusMessageTooBig},
		{"oversized binary from a publisher", []string{wsConnect, wsPublish, "bin:" + strings.Repeat("z", wcsMaxMessage+1)}, websocket.StatusMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawWCS(t, s.ClientURLs[0])
			for _, step := range tc.steps {
				var err error
				if b, ok := strings.CutPrefix(step, "bin:"); ok {
					err = c.Write(testCtx(t), websocket.MessageBinary, []byte(b))
				} else {
					err = c.Write(testCtx(t), websocket.MessageText, []byte(step))
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := closeStatus(t, c); got != tc.want {
				t.Errorf("close status %v, want %v", got, tc.want)
			}
			eventually(t, "garbage counted and the session gone", func() bool {
				lv := s.Live()
				return lv.Garbage == int64(i+1) && lv.Sessions == 0
			})
		})
	}
	// The node still serves, and its counts are the background's.
	cl := dialWCS(t, s.ClientURLs[0])
	if _, err := cl.Play(testCtx(t), "s", 0); err != nil {
		t.Fatal(err)
	}
	_ = cl.Close()
	eventually(t, "the last session to end", func() bool { return s.Live().Sessions == 0 })
	if p := fetchWCS(t, s); p.subs != 2 || p.conns != 2 {
		t.Errorf("page after garbage %+v, want the background", p)
	}
}

func TestWCSRawExchange(t *testing.T) {
	saved := wcsPingInterval
	wcsPingInterval = 30 * time.Millisecond
	t.Cleanup(func() { wcsPingInterval = saved })
	s := startWCSNode(t, Config{})
	c := rawWCS(t, s.ClientURLs[0])
	sendText(t, c, wsConnect)
	if m := nextText(t, c); m.Message != "getUserData" || len(m.Data) != 1 || !strings.Contains(string(m.Data[0]), "authToken") {
		t.Fatalf("answer to connection: %+v", m)
	}
	sendText(t, c, wsPublish)
	m := nextText(t, c)
	var ev wcsEvent
	if m.Message == "ping" { // the keep-alive may come first
		m = nextText(t, c)
	}
	if len(m.Data) > 0 {
		_ = json.Unmarshal(m.Data[0], &ev)
	}
	if m.Message != "notifyStreamStatusEvent" || ev.MediaSessionID != "m1" || ev.Name != "s" || ev.Status != "PUBLISHING" {
		t.Fatalf("answer to publishStream: %s %+v", m.Message, ev)
	}
	// A client that never answers ping is dropped after three intervals,
	// without counting as garbage.
	if got := closeStatus(t, c); got != websocket.StatusPolicyViolation {
		t.Errorf("silent client closed with %v, want 1008", got)
	}
	eventually(t, "the silent session to end", func() bool { return s.Live().Sessions == 0 })
	if s.Live().Garbage != 0 {
		t.Error("a silent client counted as garbage")
	}
	// A socket that never says connection is dropped as well.
	c2 := rawWCS(t, s.ClientURLs[0])
	if got := closeStatus(t, c2); got != websocket.StatusPolicyViolation {
		t.Errorf("mute socket closed with %v, want 1008", got)
	}
}

func TestWCSCapacityRefusal(t *testing.T) {
	s := startWCSNode(t, Config{Capacity: Capacity{Sessions: 1, Refuse: true}})
	first := dialWCS(t, s.ClientURLs[0])
	_, err := DialWCS(testCtx(t), s.ClientURLs[0], nil)
	var we *WCSError
	if !errors.Is(err, ErrRefused) || !errors.As(err, &we) || we.APIMethod != "ConnectionStatusEvent" {
		t.Fatalf("second client at capacity 1: %v, want a refused connection", err)
	}
	// What the wire shows: a fail message, then close 1013.
	c := rawWCS(t, s.ClientURLs[0])
	sendText(t, c, wsConnect)
	m := nextText(t, c)
	if m.Message != "fail" || !strings.Contains(string(m.Data[0]), `"apiMethod":"ConnectionStatusEvent"`) {
		t.Errorf("refusal message %s %s", m.Message, m.Data)
	}
	if got := closeStatus(t, c); got != websocket.StatusTryAgainLater {
		t.Errorf("refused connection closed with %v, want 1013", got)
	}
	if lv := s.Live(); lv.Refused != 2 || lv.Sessions != 1 || lv.Garbage != 0 {
		t.Errorf("live %+v, want 2 refused, 1 session", lv)
	}
	_ = first.Close()
	eventually(t, "the slot to free", func() bool { return s.Live().Sessions == 0 })
	dialWCS(t, s.ClientURLs[0]) // admitted again
}

func TestWCSStreamFailuresKeepTheConnection(t *testing.T) {
	s := startWCSNode(t, Config{PlayKbps: 8})
	ctx := testCtx(t)
	cl := dialWCS(t, s.ClientURLs[0])
	for _, kbps := range []int{MaxPlayKbps + 1} {
		_, err := cl.Play(ctx, "s", kbps)
		var we *WCSError
		if !errors.As(err, &we) || we.APIMethod != "StreamStatusEvent" || !strings.Contains(we.Info, "Bitrate") {
			t.Errorf("play at %d kbit/s: %v, want a StreamStatusEvent failure", kbps, err)
		}
	}
	for i := 0; i < wcsMaxStreams; i++ {
		if _, err := cl.Play(ctx, fmt.Sprint("s", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	_, err := cl.Publish(ctx, "one-too-many", 0)
	var we *WCSError
	if !errors.As(err, &we) || !strings.Contains(we.Error(), "Too many streams") || errors.Is(err, ErrRefused) {
		t.Errorf("stream %d: %v, want a StreamStatusEvent failure", wcsMaxStreams+1, err)
	}
	if p := fetchWCS(t, s); p.subs != wcsMaxStreams || p.pubs != 0 || p.conns != 1 {
		t.Errorf("page %+v, want %d subscribers on one connection", p, wcsMaxStreams)
	}
	if cl.Err() != nil || s.Live().Garbage != 0 {
		t.Errorf("a refused stream closed the connection (%v) or counted as garbage", cl.Err())
	}
}

func TestWCSNodeCloseCutsSessions(t *testing.T) {
	s := startWCSNode(t, Config{})
	cl := dialWCS(t, s.ClientURLs[0])
	if _, err := cl.Play(testCtx(t), "s", 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cl.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("the client still runs after the node closed")
	}
	if got := websocket.CloseStatus(cl.Err()); got != websocket.StatusGoingAway {
		t.Errorf("client saw %v (%v), want 1001", got, cl.Err())
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("node close took %v", d)
	}
	if s.Live().Sessions != 0 {
		t.Errorf("sessions left after close: %+v", s.Live())
	}
	if _, err := DialWCS(testCtx(t), s.ClientURLs[0], nil); err == nil {
		t.Error("a closed node accepted a client")
	}
}

func TestWCSEndpointRejectsPlainHTTP(t *testing.T) {
	s := startWCSNode(t, Config{})
	resp, err := http.Get("http" + strings.TrimPrefix(s.ClientURLs[0], "ws"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET: %d, want 426", resp.StatusCode)
	}
}

func TestWCSClientPortConfig(t *testing.T) {
	for _, kbps := range []int{-1, MaxPlayKbps + 1} {
		_, err := Start(Config{Kind: WCS, PlayKbps: kbps, ClientAddrs: []string{"127.0.0.1:0"}}, "")
		if err == nil || !strings.Contains(err.Error(), "play bitrate") {
			t.Errorf("PlayKbps %d: %v", kbps, err)
		}
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := Start(Config{Kind: WCS, ClientAddrs: []string{busy.Addr().String()}}, ""); err == nil || !strings.Contains(err.Error(), "client port") {
		t.Errorf("a busy client port: %v", err)
	}
}

// fakeWCS serves one scripted WebSocket conversation.
func fakeWCS(t *testing.T, script func(c *websocket.Conn)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		script(c)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func TestWCSClientErrors(t *testing.T) {
	readOne := func(c *websocket.Conn) { _, _, _ = c.Read(context.Background()) }
	established := func(c *websocket.Conn) {
		readOne(c)
		_ = c.Write(context.Background(), websocket.MessageText, []byte(`{"message":"getUserData","data":[{"authToken":"t"}]}`))
	}
	t.Run("dial refused", func(t *testing.T) {
		if _, err := DialWCS(testCtx(t), "ws://"+testenv.ClosedPort(t)+"/", nil); err == nil || !strings.Contains(err.Error(), "wcs: dial") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("closed before getUserData", func(t *testing.T) {
		url := fakeWCS(t, func(c *websocket.Conn) { readOne(c); _ = c.Close(websocket.StatusInternalError, "boom") })
		if _, err := DialWCS(testCtx(t), url, nil); websocket.CloseStatus(err) != websocket.StatusInternalError {
			t.Errorf("got %v", err)
		}
	})
	t.Run("no answer", func(t *testing.T) {
		url := fakeWCS(t, func(c *websocket.Conn) { readOne(c); readOne(c) })
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := DialWCS(ctx, url, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("closed during a request", func(t *testing.T) {
		url := fakeWCS(t, func(c *websocket.Conn) { established(c); readOne(c); _ = c.Close(websocket.StatusNormalClosure, "") })
		cl, err := DialWCS(testCtx(t), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Publish(testCtx(t), "s", 0); !errors.Is(err, ErrWCSClosed) {
			t.Errorf("got %v", err)
		}
		if cl.Err() == nil {
			t.Error("Err is nil after the node closed")
		}
		if _, err := cl.Play(testCtx(t), "s", 0); err == nil {
			t.Error("a request on a closed connection succeeded")
		}
	})
	t.Run("unexpected status", func(t *testing.T) {
		url := fakeWCS(t, func(c *websocket.Conn) {
			established(c)
			_ = c.Write(context.Background(), websocket.MessageText, []byte(`not json`)) // ignored
			readOne(c)
			_ = c.Write(context.Background(), websocket.MessageText, []byte(`{"message":"notifyStreamStatusEvent","data":[{"mediaSessionId":"lab-1","status":"FAILED"}]}`))
			readOne(c)
		})
		cl, err := DialWCS(testCtx(t), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if _, err := cl.Publish(testCtx(t), "s", 0); err == nil || !strings.Contains(err.Error(), "status FAILED, want PUBLISHING") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("request timeout", func(t *testing.T) {
		url := fakeWCS(t, func(c *websocket.Conn) { established(c); readOne(c); readOne(c) })
		cl, err := DialWCS(testCtx(t), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := cl.Play(ctx, "s", 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v", err)
		}
	})
}

// TestWCSThroughHAProxy runs clients through a real haproxy in http mode
// (the seed's WebSocket backend: timeout tunnel) onto two lab nodes.
func TestWCSThroughHAProxy(t *testing.T) {
	n1 := startWCSNode(t, Config{Name: "wcs1"})
	n2 := startWCSNode(t, Config{Name: "wcs2"})
	addr := func(s *Server) string { return strings.TrimSuffix(strings.TrimPrefix(s.ClientURLs[0], "ws://"), "/") }
	port := testenv.FreePort(t)
	cfg := haproxytest.Global + fmt.Sprintf(`
frontend fe_wcs
    mode http
    bind 127.0.0.1:%d
    acl is_websocket hdr(Upgrade) -i WebSocket
    acl is_websocket hdr(Sec-WebSocket-Key) -m found
    use_backend be_wcs_ws if is_websocket

backend be_wcs_ws
    mode http
    balance roundrobin
    timeout tunnel 1h
    http-request add-header X-Client-IP %%ci:%%cp
    server wcs1 %s
    server wcs2 %s
`, port, addr(n1), addr(n2))
	haproxytest.Start(t, cfg)
	url := fmt.Sprintf("ws://127.0.0.1:%d/", port)
	var clients []*WCSClient
	for i := 0; i < 4; i++ {
		cl := dialWCS(t, url)
		if _, err := cl.Play(testCtx(t), "s", 0); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cl)
	}
	pub := dialWCS(t, url)
	if _, err := pub.Publish(testCtx(t), "s", 100); err != nil {
		t.Fatal(err)
	}
	eventually(t, "media through haproxy", func() bool {
		for _, cl := range clients {
			if cl.Received() == 0 {
				return false
			}
		}
		return n1.Live().BytesIn+n2.Live().BytesIn > 0
	})
	p1, p2 := fetchWCS(t, n1), fetchWCS(t, n2)
	if p1.conns < 2 || p2.conns < 2 || p1.conns+p2.conns != 5 || p1.subs+p2.subs != 4 || p1.pubs+p2.pubs != 1 {
		t.Errorf("nodes' pages %+v and %+v, want 5 connections spread over both, 4 subscribers, 1 publisher", p1, p2)
	}
	for _, cl := range append(clients, pub) {
		_ = cl.Close()
	}
	eventually(t, "sessions through haproxy to end", func() bool { return n1.Live().Sessions+n2.Live().Sessions == 0 })

	// A node closing cuts its clients through the tunnel too.
	cl := dialWCS(t, url)
	cl2 := dialWCS(t, url)
	_ = n1.Close()
	_ = n2.Close()
	for _, c := range []*WCSClient{cl, cl2} {
		select {
		case <-c.Done():
		case <-time.After(3 * time.Second):
			t.Fatal("a client through haproxy outlived its node")
		}
		if got := websocket.CloseStatus(c.Err()); got != websocket.StatusGoingAway {
			t.Errorf("client through haproxy saw %v, want 1001", got)
		}
	}
}

func TestWCSNodeCloseDropsUnresponsiveClients(t *testing.T) {
	saved := wcsCloseGrace
	wcsCloseGrace = 100 * time.Millisecond
	t.Cleanup(func() { wcsCloseGrace = saved })
	s := startWCSNode(t, Config{})
	c := rawWCS(t, s.ClientURLs[0])
	sendText(t, c, wsConnect)
	if m := nextText(t, c); m.Message != "getUserData" {
		t.Fatalf("got %s", m.Message)
	}
	// The client reads nothing more: it never answers the close handshake.
	// Without the grace, Close would wait out the WebSocket library's
	// own close-handshake timeout (5 s); the bound sits between the two,
	// wide enough for a loaded machine.
	start := time.Now()
	_ = s.Close()
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("closing the node took %v with a deaf client", d)
	}
	if s.Live().Sessions != 0 {
		t.Errorf("sessions left: %+v", s.Live())
	}
}
