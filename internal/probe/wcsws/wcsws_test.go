package wcsws

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	promconfig "github.com/prometheus/common/config"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/probe/probetest"
	"github.com/lbpilot/lbpilot/internal/testenv"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

func probeOnce(t *testing.T, o Options, target string, timeout time.Duration) probetest.Result {
	t.Helper()
	return probetest.Once(t, Spec, New, o, target, timeout)
}

// A lab WCS node through a real haproxy (mode http, as WCS is usually
// fronted), plain and with haproxy terminating TLS; then a node at
// capacity refusing the session.
func TestLabWCSThroughHAProxy(t *testing.T) {
	_, node := probetest.Lab(t, lab.Config{Kind: lab.WCS, Name: "wcs-probe", Capacity: lab.Capacity{Sessions: 1, Refuse: true},
		ClientAddrs: []string{"127.0.0.1:0"}})
	ca := probetest.NewCA(t)
	plain := probetest.Front(t, "http", node)
	tls := probetest.FrontTLS(t, "http", ca, node)
	withCA := Options{HTTPOptions: upstream.HTTPOptions{HTTPClientConfig: &upstream.ClientConfig{
		Config: promconfig.HTTPClientConfig{TLSConfig: promconfig.TLSConfig{CAFile: ca.CAFile}, FollowRedirects: true, EnableHTTP2: true}}}}
	for _, tt := range []struct {
		name, target string
		o            Options
		phases       []string
	}{
		{"ws", "ws://" + plain + "/", Options{}, []string{"connect", "upgrade", "wcs_connect"}},
		{"wss", "wss://" + tls + "/", withCA, []string{"connect", "tls", "upgrade", "wcs_connect"}},
		{"play", "ws://" + plain + "/", Options{PlayStream: "probe"}, []string{"connect", "upgrade", "wcs_connect", "play", "first_media"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := probeOnce(t, tt.o, tt.target, 5*time.Second)
			probetest.WantSuccess(t, r, tt.phases...)
			if r.Values["http_status_code"] != 101 {
				t.Errorf("status %v", r.Values)
			}
			if tt.name != "play" && r.Phases["first_media"] != 0 {
				t.Errorf("first_media without play_stream: %v", r.Phases)
			}
		})
	}
	r := probeOnce(t, Options{}, "wss://"+tls+"/", 5*time.Second)
	if r.Success || r.Reason != "tls" {
		t.Errorf("unknown CA: %+v", r)
	}
	// The node's one session is taken: the probe is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	held, err := lab.DialWCS(ctx, "ws://"+node+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	r = probeOnce(t, Options{}, "ws://"+plain+"/", 5*time.Second)
	if r.Success || r.Reason != "refused" {
		t.Errorf("at capacity: %+v", r)
	}
}

func TestFailures(t *testing.T) {
	testenv.Binary(t, "haproxy")
	notWS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) }))
	t.Cleanup(notWS.Close)
	junk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_ = c.Write(r.Context(), websocket.MessageText, []byte("hello, not JSON"))
		_, _, _ = c.Read(r.Context())
	}))
	t.Cleanup(junk.Close)
	closer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		_, _, _ = c.Read(r.Context())
		_ = c.Close(websocket.StatusPolicyViolation, "no")
	}))
	t.Cleanup(closer.Close)
	down := probetest.Front(t, "http", testenv.ClosedPort(t)+" disabled")
	for _, tt := range []struct {
		name, target, reason string
	}{
		{"no server behind haproxy", "ws://" + down + "/", "http_status"},
		{"not a WebSocket server", strings.Replace(notWS.URL, "http", "ws", 1), "http_status"},
		{"not WCS", strings.Replace(junk.URL, "http", "ws", 1), "protocol"},
		{"closed by the node", strings.Replace(closer.URL, "http", "ws", 1), "closed"},
		{"refused", "ws://" + testenv.ClosedPort(t) + "/", "connection_refused"},
		{"garbage", "ws://" + probetest.Garbage(t) + "/", "protocol"},
		{"silent", "ws://" + probetest.Silent(t) + "/", "timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			probetest.WantFailureWithin(t, probeOnce(t, Options{}, tt.target, time.Second), tt.reason, time.Second)
		})
	}
}

func TestBadConfigAndTargets(t *testing.T) {
	if err := (&Options{AppKey: strings.Repeat("k", 300)}).Validate(); err == nil {
		t.Error("long app_key accepted")
	}
	for _, tg := range []string{"", "tcp://h:1", "ws://", "ws://u:pw@h/"} {
		if err := CheckTarget(tg); err == nil {
			t.Errorf("CheckTarget(%q) passed", tg)
		}
	}
	for _, tg := range []string{"ws://h:8080/", "wss://h/", "http://h:1"} {
		if err := CheckTarget(tg); err != nil {
			t.Errorf("CheckTarget(%q): %v", tg, err)
		}
	}
	o := Options{HTTPOptions: upstream.HTTPOptions{HTTPClientConfig: &upstream.ClientConfig{Config: promconfig.HTTPClientConfig{EnableHTTP2: true}}}}
	if err := o.Validate(); err != nil || o.HTTPClientConfig.Config.EnableHTTP2 {
		t.Errorf("enable_http2 stays on: %v", err)
	}
}

// A node that opens the session but refuses the stream: play_failed,
// whether it says so with fail or with a FAILED status.
func TestPlayRefused(t *testing.T) {
	for _, answer := range []string{
		`{"message":"fail","data":[{"apiMethod":"StreamStatusEvent","id":"%s","status":"FAILED","info":"no such stream"}]}`,
		`{"message":"notifyStreamStatusEvent","data":[{"mediaSessionId":"%s","status":"FAILED","info":"no such stream"}]}`,
	} {
		node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			ctx := r.Context()
			if _, _, err := c.Read(ctx); err != nil { // connection
				return
			}
			_ = c.Write(ctx, websocket.MessageText, []byte(`{"message":"ping","data":[]}`))
			_ = c.Write(ctx, websocket.MessageText, []byte(`{"message":"getUserData","data":[{"authToken":"t"}]}`))
			for {
				_, b, err := c.Read(ctx)
				if err != nil {
					return
				}
				var m struct {
					Message string `json:"message"`
					Data    []struct {
						ID string `json:"mediaSessionId"`
					} `json:"data"`
				}
				if json.Unmarshal(b, &m) == nil && m.Message == "playStream" && len(m.Data) == 1 {
					_ = c.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf(answer, m.Data[0].ID)))
				}
			}
		}))
		r := probeOnce(t, Options{PlayStream: "nope"}, strings.Replace(node.URL, "http", "ws", 1), 3*time.Second)
		node.Close()
		if r.Success || r.Reason != "play_failed" || !strings.Contains(r.Message, "no such stream") || r.Phases["wcs_connect"] <= 0 {
			t.Errorf("%s: %+v", answer[:30], r)
		}
	}
}
