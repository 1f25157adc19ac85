package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/emqxapi"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/testenv"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// startMQTTLab starts an EMQX lab with one MQTT port per node.
func startMQTTLab(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Kind = EMQX
	if cfg.Name == "" {
		cfg.Name = "mq"
	}
	n := cfg.EMQXNodes
	if n == 0 {
		n = 2
	}
	for i := 0; i < n; i++ {
		cfg.ClientAddrs = append(cfg.ClientAddrs, "127.0.0.1:0")
	}
	s, err := Start(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if len(s.ClientURLs) != n {
		t.Fatalf("client URLs %v, want %d", s.ClientURLs, n)
	}
	return s
}

func dial(t *testing.T, url string, o MQTTOptions) *MQTTClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialMQTT(ctx, url, o)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(c.Close)
	return c
}

func fetch(t *testing.T, s *Server, auth upstream.Auth) *emqxapi.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A transport of its own, closed after the reading: a connection
	// left open would hold up the lab's shutdown.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	st, err := emqxapi.Fetch(ctx, &http.Client{Transport: tr}, s.URL, auth)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// eventually polls cond until it holds or 5 s pass.
// eventuallyShow waits up to 5 s for cond, and names what it last saw.
func eventuallyShow(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %s", what, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func node(s *Server, i int) string { return s.sim.(*emqxSim).nodes[i] }

// statIs waits until the stat of node i is want.
func statIs(t *testing.T, s *Server, i int, key string, want float64) {
	t.Helper()
	eventuallyShow(t, fmt.Sprintf("%s %s", node(s, i), key), func() (bool, string) {
		got := fetch(t, s, upstream.Auth{}).Stats[node(s, i)][key]
		return got == want, fmt.Sprintf("%v, want %v", got, want)
	})
}

func TestMQTTClientsCountOnTheirNode(t *testing.T) {
	bg := Load{Connections: 10, Subscriptions: 4, Topics: 3, Retained: 2}
	s := startMQTTLab(t, Config{Load: bg})
	n1, n2 := s.ClientURLs[0], s.ClientURLs[1]
	if !strings.HasPrefix(n1, "mqtt://127.0.0.1:") || n1 == n2 {
		t.Fatalf("client URLs %v", s.ClientURLs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var mu sync.Mutex
	var got []string
	sub := dial(t, n2, MQTTOptions{ClientID: "sub", OnMessage: func(topic string, p []byte) {
		mu.Lock()
		got = append(got, topic+"="+string(p))
		mu.Unlock()
	}})
	if err := sub.Subscribe(ctx, 1, "lab/+/temp"); err != nil {
		t.Fatal(err)
	}
	pub := dial(t, n1, MQTTOptions{ClientID: "pub"})
	idle := dial(t, n1, MQTTOptions{ClientID: "idle"})
	for i := 0; i < 3; i++ {
		if err := pub.Publish(ctx, "lab/a/temp", 1, false, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Publish(ctx, "lab/b/temp", 0, true, []byte("r")); err != nil {
		t.Fatal(err)
	}
	eventuallyShow(t, "messages routed from node 1 to the subscriber on node 2", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 4, fmt.Sprint(got)
	})

	st := fetch(t, s, upstream.Auth{})
	if st.API != emqxapi.V5 {
		t.Fatalf("API %s", st.API)
	}
	s1, s2 := st.Stats[node(s, 0)], st.Stats[node(s, 1)]
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"node 1 live connections (5 background + 2)", s1["live_connections.count"], 7},
		{"node 2 live connections (5 + 1)", s2["live_connections.count"], 6},
		{"node 1 sessions", s1["sessions.count"], 7},
		{"node 2 connections", s2["connections.count"], 6},
		{"node 1 subscriptions (2 + 0)", s1["subscriptions.count"], 2},
		{"node 2 subscriptions (2 + 1)", s2["subscriptions.count"], 3},
		{"topics, cluster-wide (3 + 1)", s1["topics.count"], 4},
		{"node 2 topics", s2["topics.count"], 4},
		{"node 1 retained (2 + 1)", s1["retained.count"], 3},
		{"node 2 retained (routed)", s2["retained.count"], 3},
		{"cluster sessions (10 + 3)", s1["cluster_sessions.count"], 13},
		{"all live connections", st.LiveConnections(), 13},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	m1, m2 := st.Metrics[node(s, 0)], st.Metrics[node(s, 1)]
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"node 1 messages.received", m1["messages.received"], 4},
		{"node 1 messages.qos1.received", m1["messages.qos1.received"], 3},
		{"node 1 messages.forward", m1["messages.forward"], 4},
		{"node 2 messages.received", m2["messages.received"], 0},
		{"node 2 messages.sent", m2["messages.sent"], 4},
		{"node 1 messages.sent", m1["messages.sent"], 0},
		{"node 2 client.subscribe", m2["client.subscribe"], 1},
		{"node 2 packets.subscribe.received", m2["packets.subscribe.received"], 1},
		{"node 1 packets.publish.received", m1["packets.publish.received"], 4},
		{"node 1 packets.puback.sent", m1["packets.puback.sent"], 3},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if m1["bytes.received"] < 40 || m2["bytes.sent"] < 40 || m1["client.connected"] < 2 {
		t.Errorf("node 1 bytes.received %v, node 2 bytes.sent %v, node 1 client.connected %v", m1["bytes.received"], m2["bytes.sent"], m1["client.connected"])
	}
	for _, n := range st.Nodes {
		want := map[string]float64{node(s, 0): 7, node(s, 1): 6}[n.Name]
		if n.Connections != want {
			t.Errorf("/nodes %s connections %v, want %v", n.Name, n.Connections, want)
		}
	}
	for path, want := range map[string]map[string]float64{
		"/api/v5/monitor_current":                     {"live_connections": 13, "connections": 13, "subscriptions": 5, "topics": 4, "retained_msg_count": 3},
		"/api/v5/monitor_current/nodes/" + node(s, 1): {"live_connections": 6, "subscriptions": 3},
	} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]float64
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s %s = %v, want %v", path, k, m[k], v)
			}
		}
	}
	if lv := s.Live(); lv.Sessions != 3 || lv.BytesIn == 0 || lv.Load.Connections != 3 {
		t.Errorf("GET /lab/load live part %+v", lv)
	}

	// Leaving restores the background.
	pub.Close()
	idle.Close()
	statIs(t, s, 0, "live_connections.count", 5)
	statIs(t, s, 0, "connections.count", 5)
	sub.Close()
	statIs(t, s, 1, "subscriptions.count", 2)
	statIs(t, s, 1, "live_connections.count", 5)
	st = fetch(t, s, upstream.Auth{})
	if got := st.Stats[node(s, 1)]["live_connections.max"]; got != 6 {
		t.Errorf("node 2 live_connections.max %v, want the high-water mark 6", got)
	}
	if got := st.Metrics[node(s, 1)]["client.disconnected"]; got != 1 {
		t.Errorf("node 2 client.disconnected %v, want 1", got)
	}
	if s.Live().Sessions != 0 {
		t.Errorf("live sessions left: %+v", s.Live())
	}

	// A restart of the simulated process zeroes the counters.
	s.Restart()
	if got := fetch(t, s, upstream.Auth{}).Metrics[node(s, 0)]["messages.received"]; got != 0 {
		t.Errorf("messages.received after a restart: %v", got)
	}
}

func TestMQTTShapesOfOlderAPIs(t *testing.T) {
	for _, v := range []string{"v4", "v2"} {
		t.Run(v, func(t *testing.T) {
			s := startMQTTLab(t, Config{EMQXVersion: v, Load: Load{Connections: 4}})
			c := dial(t, s.ClientURLs[1], MQTTOptions{ClientID: "x"})
			if err := c.Subscribe(context.Background(), 0, "t"); err != nil {
				t.Fatal(err)
			}
			st := fetch(t, s, upstream.Auth{})
			if string(st.API) != v {
				t.Fatalf("API %s", st.API)
			}
			if got := st.Stats[node(s, 1)]["connections.count"]; got != 3 {
				t.Errorf("node 2 connections.count %v, want 2 + 1", got)
			}
			if got := st.Stats[node(s, 1)]["subscriptions.count"]; got != 1 {
				t.Errorf("node 2 subscriptions.count %v, want 1", got)
			}
			if got := st.Metrics[node(s, 1)]["packets.subscribe.received"]; got != 1 {
				t.Errorf("node 2 packets.subscribe.received %v, want 1", got)
			}
		})
	}
}

func TestMQTTCapacityIsPerNode(t *testing.T) {
	s := startMQTTLab(t, Config{Capacity: Capacity{Sessions: 1, Refuse: true}, Load: Load{CPU: 0.1}})
	dial(t, s.ClientURLs[0], MQTTOptions{ClientID: "a"})
	_, err := DialMQTT(context.Background(), s.ClientURLs[0], MQTTOptions{ClientID: "b"})
	var ce *ConnackError
	if !errors.As(err, &ce) || ce.Code != 0x89 || !strings.Contains(err.Error(), "server busy") {
		t.Fatalf("second client on a full node: %v, want CONNACK server busy (0x89)", err)
	}
	dial(t, s.ClientURLs[1], MQTTOptions{ClientID: "c"}) // node 2 has room
	st := fetch(t, s, upstream.Auth{})
	if got := st.Metrics[node(s, 0)]["packets.connack.error"]; got != 1 {
		t.Errorf("node 1 packets.connack.error %v, want 1", got)
	}
	for _, n := range st.Nodes {
		if want := (0.1 + BusyCPU) * 4; n.Load1 != want {
			t.Errorf("%s load1 %v, want %v (one node at capacity)", n.Name, n.Load1, want)
		}
	}
	if lv := s.Live(); lv.Refused != 1 || lv.Sessions != 2 {
		t.Errorf("live %+v, want 1 refused, 2 sessions", lv)
	}
}

func TestMQTTSharedSubscriptionsAreClusterWide(t *testing.T) {
	s := startMQTTLab(t, Config{})
	c := dial(t, s.ClientURLs[0], MQTTOptions{ClientID: "g1"})
	if err := c.Subscribe(context.Background(), 1, "$share/workers/jobs/+", "jobs/done"); err != nil {
		t.Fatal(err)
	}
	st := fetch(t, s, upstream.Auth{})
	for i := 0; i < 2; i++ {
		if got := st.Stats[node(s, i)]["subscriptions.shared.count"]; got != 1 {
			t.Errorf("%s subscriptions.shared.count %v, want 1", node(s, i), got)
		}
		if got := st.Stats[node(s, i)]["topics.count"]; got != 2 {
			t.Errorf("%s topics.count %v, want 2", node(s, i), got)
		}
	}
	if got := st.Stats[node(s, 0)]["subscriptions.count"]; got != 2 {
		t.Errorf("subscriptions.count %v, want 2", got)
	}
}

func TestMQTTCPUPastCapacity(t *testing.T) {
	s := startMQTTLab(t, Config{Capacity: Capacity{Sessions: 2}})
	for i := 0; i < 3; i++ {
		dial(t, s.ClientURLs[0], MQTTOptions{ClientID: "c" + strconv.Itoa(i)})
	}
	st := fetch(t, s, upstream.Auth{})
	n1, _ := st.Node(node(s, 0))
	n2, _ := st.Node(node(s, 1))
	if want := round((BusyCPU+2*BusyCPU*0.5)*4, 2); n1.Load1 != want || n2.Load1 != 0 {
		t.Errorf("load1 %v and %v, want %v on the node past capacity and 0", n1.Load1, n2.Load1, want)
	}
}

func TestMQTTGarbage(t *testing.T) {
	s := startMQTTLab(t, Config{})
	addr := strings.TrimPrefix(s.ClientURLs[0], "mqtt://")
	for _, tc := range []struct {
		name    string
		send    []byte
		garbage int64
	}{
		{"connect and close (a TCP check)", nil, 0},
		{"HTTP", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 1},
		{"malformed length", []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x01}, 2},
		{"CONNECT of another protocol", []byte{0x10, 0x0c, 0x00, 0x04, 'H', 'T', 'T', 'P', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00}, 3},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if tc.send != nil {
			_, _ = c.Write(tc.send)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 64)
			for {
				if _, err := c.Read(buf); err != nil {
					break // the broker hung up
				}
			}
		}
		c.Close()
		eventuallyShow(t, tc.name, func() (bool, string) {
			g := s.Live().Garbage
			return g == tc.garbage, fmt.Sprintf("garbage %d, want %d", g, tc.garbage)
		})
	}
	// The broker still serves.
	dial(t, s.ClientURLs[0], MQTTOptions{ClientID: "after"})
}

func TestMQTTAPIKey(t *testing.T) {
	s := startMQTTLab(t, Config{APIKey: "key", APISecret: "secret"})
	_, err := DialMQTT(context.Background(), s.ClientURLs[0], MQTTOptions{ClientID: "anon"})
	var ce *ConnackError
	if !errors.As(err, &ce) || ce.Code != 0x86 {
		t.Fatalf("no credentials: %v, want CONNACK bad username or password", err)
	}
	_, err = DialMQTT(context.Background(), s.ClientURLs[0], MQTTOptions{Username: "key", Password: "wrong"})
	if !errors.As(err, &ce) || ce.Code != 0x86 {
		t.Fatalf("wrong secret: %v", err)
	}
	dial(t, s.ClientURLs[0], MQTTOptions{ClientID: "ok", Username: "key", Password: "secret"})
	st := fetch(t, s, upstream.Auth{Username: "key", Password: "secret"})
	m := st.Metrics[node(s, 0)]
	if m["packets.connack.auth_error"] != 2 || m["authentication.failure"] != 2 || m["authentication.success"] != 1 {
		t.Errorf("auth counters: auth_error %v, failure %v, success %v", m["packets.connack.auth_error"], m["authentication.failure"], m["authentication.success"])
	}
	if got := st.Stats[node(s, 0)]["live_connections.count"]; got != 1 {
		t.Errorf("live connections %v, want 1 (refused ones do not count)", got)
	}
}

func TestMQTTStartErrors(t *testing.T) {
	_, err := Start(Config{Kind: EMQX, EMQXNodes: 3, ClientAddrs: []string{"127.0.0.1:0", "127.0.0.1:0"}}, "")
	if err == nil || !strings.Contains(err.Error(), "3 EMQX nodes need 3 client addresses, got 2") {
		t.Errorf("too few addresses: %v", err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = Start(Config{Kind: EMQX, ClientAddrs: []string{"127.0.0.1:0", busy.Addr().String()}}, "")
	if err == nil || !strings.Contains(err.Error(), "client port") {
		t.Errorf("port in use: %v", err)
	}
}

func TestMQTTClientErrors(t *testing.T) {
	ctx := context.Background()
	for _, addr := range []string{"http://127.0.0.1:1", "mqtt://%zz", "127.0.0.1"} {
		if _, err := DialMQTT(ctx, addr, MQTTOptions{}); err == nil || !strings.Contains(err.Error(), "bad address") {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if _, err := DialMQTT(ctx, testenv.ClosedPort(t), MQTTOptions{}); err == nil {
		t.Error("a closed port connected")
	}
	mute := haproxytest.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) { c.Close() })
	if _, err := DialMQTT(ctx, "tcp://"+mute, MQTTOptions{}); err == nil || !strings.Contains(err.Error(), "mqtt: connect") {
		t.Errorf("a server that hangs up: %v", err)
	}

	s := startMQTTLab(t, Config{})
	c := dial(t, s.ClientURLs[0], MQTTOptions{})
	if err := c.Subscribe(ctx, 0, "a/#/b"); err == nil || !strings.Contains(err.Error(), "mqtt: subscribe a/#/b: failed") {
		t.Errorf("invalid filter: %v", err)
	}
	if err := c.PublishAt(ctx, "t", 0, 0, nil); err == nil {
		t.Error("rate 0 accepted")
	}
	pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := c.PublishAt(pctx, "t", 0, 50, []byte("x")); err != nil {
		t.Errorf("PublishAt until the context ends: %v", err)
	}
	if n := c.Sent(); n < 5 || n > 16 {
		t.Errorf("50/s for 0.3 s sent %d", n)
	}
	c.Close()
	if err := c.Publish(ctx, "t", 1, false, nil); err == nil {
		t.Error("publish after Close succeeded")
	}
	if err := c.Subscribe(ctx, 1, "t"); err == nil {
		t.Error("subscribe after Close succeeded")
	}
	if err := c.PublishAt(ctx, "t", 1, 100, nil); err == nil || !strings.Contains(err.Error(), "mqtt: publish t") {
		t.Errorf("PublishAt on a closed client: %v", err)
	}

	// A broker that accepts the connection but never acknowledges a
	// QoS 1 message: PublishAt stops, without an error, when the context
	// ends.
	silent := haproxytest.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 256)
		if _, err := c.Read(buf); err != nil {
			return
		}
		_, _ = c.Write([]byte{0x20, 0x03, 0x00, 0x00, 0x00}) // CONNACK, success, no properties
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	sc := dial(t, silent, MQTTOptions{ClientID: "s"})
	// A CONNACK refusal without a reason string.
	refuser := haproxytest.Serve(t, "tcp", "127.0.0.1:0", func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 256)
		if _, err := c.Read(buf); err == nil {
			_, _ = c.Write([]byte{0x20, 0x03, 0x00, 0x87, 0x00}) // CONNACK, not authorized
		}
	})
	var ce *ConnackError
	if _, err := DialMQTT(ctx, refuser, MQTTOptions{}); !errors.As(err, &ce) || err.Error() != "mqtt: connection refused (0x87)" {
		t.Errorf("a bare CONNACK refusal: %v", err)
	}
	pctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := sc.PublishAt(pctx, "t", 1, 100, []byte("x")); err != nil {
		t.Errorf("PublishAt to a broker that never acknowledges: %v", err)
	}
	if sc.Sent() != 0 {
		t.Errorf("%d unacknowledged messages counted as sent", sc.Sent())
	}
}

// mosquittoRun runs a mosquitto client program with a deadline.
func mosquittoRun(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, testenv.Binary(t, name), args...).CombinedOutput()
	return string(out), err
}

func hostPort(t *testing.T, url string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(strings.TrimPrefix(url, "mqtt://"))
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func TestMQTTMosquittoClients(t *testing.T) {
	testenv.Binary(t, "mosquitto_pub")
	testenv.Binary(t, "mosquitto_sub")
	s := startMQTTLab(t, Config{Capacity: Capacity{Sessions: 1, Refuse: true}})
	h1, p1 := hostPort(t, s.ClientURLs[0])
	h2, p2 := hostPort(t, s.ClientURLs[1])

	// mosquitto_sub (MQTT 3.1.1) on node 2 receives what mosquitto_pub
	// publishes on node 1.
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := mosquittoRun(t, "mosquitto_sub", "-h", h2, "-p", p2, "-V", "mqttv311", "-i", "msub", "-q", "1", "-t", "lab/#", "-C", "2", "-v")
		done <- result{out, err}
	}()
	statIs(t, s, 1, "subscriptions.count", 1)
	for _, m := range []string{"one", "two"} {
		if out, err := mosquittoRun(t, "mosquitto_pub", "-h", h1, "-p", p1, "-V", "mqttv311", "-i", "mpub", "-q", "1", "-t", "lab/x", "-m", m); err != nil {
			t.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
	}
	r := <-done
	if r.err != nil || r.out != "lab/x one\nlab/x two\n" {
		t.Fatalf("mosquitto_sub: %v\n%q", r.err, r.out)
	}
	// The subscriber may exit before node 2 has finished counting its
	// delivery (the QoS 1 acknowledgement), so the counters are polled.
	eventuallyShow(t, "node 1 received 2 QoS 1 messages and node 2 sent 2", func() (bool, string) {
		m := fetch(t, s, upstream.Auth{}).Metrics
		got, sent := m[node(s, 0)]["messages.qos1.received"], m[node(s, 1)]["messages.sent"]
		return got == 2 && sent == 2, fmt.Sprintf("received %v, sent %v", got, sent)
	})

	// A full node answers an MQTT 3.1.1 CONNECT with "server unavailable".
	dial(t, s.ClientURLs[0], MQTTOptions{ClientID: "holder"})
	out, err := mosquittoRun(t, "mosquitto_pub", "-h", h1, "-p", p1, "-V", "mqttv311", "-t", "x", "-m", "y")
	if err == nil || !strings.Contains(strings.ToLower(out), "unavailable") {
		t.Errorf("mosquitto_pub to a full node: %v\n%s", err, out)
	}
	// and an MQTT 5 one with "server busy".
	out, err = mosquittoRun(t, "mosquitto_pub", "-h", h1, "-p", p1, "-V", "mqttv5", "-t", "x", "-m", "y")
	if err == nil || !strings.Contains(strings.ToLower(out), "busy") {
		t.Errorf("mosquitto_pub (MQTT 5) to a full node: %v\n%s", err, out)
	}
	if got := s.Live().Refused; got != 2 {
		t.Errorf("refused %d, want 2", got)
	}
}

// The seed's setup: HAProxy in tcp mode, leastconn, long timeouts and
// TCP checks in front of the nodes' MQTT ports.
const mqttHAProxy = `
frontend mqtt
    bind 127.0.0.1:{{.Port}}
    mode tcp
    option tcplog
    timeout client 3h
    default_backend emqx

backend emqx
    mode tcp
    balance leastconn
    timeout server 3h
    server emqx1 {{.N1}} check inter 200ms fall 2 rise 1
    server emqx2 {{.N2}} check inter 200ms fall 2 rise 1
`

func TestMQTTThroughHAProxy(t *testing.T) {
	s := startMQTTLab(t, Config{})
	port := testenv.FreePort(t)
	cfg := strings.NewReplacer("{{.Port}}", strconv.Itoa(port),
		"{{.N1}}", strings.TrimPrefix(s.ClientURLs[0], "mqtt://"),
		"{{.N2}}", strings.TrimPrefix(s.ClientURLs[1], "mqtt://")).Replace(mqttHAProxy)
	haproxytest.Start(t, haproxytest.Global+cfg)
	front := "mqtt://127.0.0.1:" + strconv.Itoa(port)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var clients []*MQTTClient
	for i := 0; i < 6; i++ {
		var c *MQTTClient
		var err error
		for try := 0; try < 50; try++ { // haproxy may still be binding
			if c, err = DialMQTT(ctx, front, MQTTOptions{ClientID: "h" + strconv.Itoa(i)}); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("client %d through haproxy: %v", i, err)
		}
		t.Cleanup(c.Close)
		clients = append(clients, c)
	}
	if err := clients[0].Subscribe(ctx, 1, "fleet/#"); err != nil {
		t.Fatal(err)
	}
	statIs(t, s, 0, "live_connections.count", 3)
	statIs(t, s, 1, "live_connections.count", 3)
	// Publishers on both nodes reach the subscriber, wherever it landed.
	for _, c := range clients[1:] {
		if err := c.Publish(ctx, "fleet/x", 1, false, []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	eventuallyShow(t, "messages through haproxy", func() (bool, string) {
		return clients[0].Received() == 5, fmt.Sprint(clients[0].Received())
	})
	if g := s.Live().Garbage; g != 0 {
		t.Errorf("haproxy's TCP checks counted as garbage: %d", g)
	}
}

// TestMQTTSubscribeRightAfterConnect: paho's pinger sends PINGREQ at once
// after CONNECT, from its own goroutine, while the test subscribes; the
// client's connection must keep each packet's bytes together (a split
// packet is a protocol violation and the broker drops the client). Each
// CONNECT is counted once.
func TestMQTTSubscribeRightAfterConnect(t *testing.T) {
	s := startMQTTLab(t, Config{})
	const n = 200
	for i := 0; i < n; i++ {
		c := dial(t, s.ClientURLs[i%2], MQTTOptions{ClientID: fmt.Sprintf("c%d", i)})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.Subscribe(ctx, 1, "a/b")
		cancel()
		if err != nil {
			t.Fatalf("subscribe %d right after connect: %v (client: %v)", i, err, c.Err())
		}
		if _, out := c.WireBytes(); out == 0 {
			t.Fatalf("client %d: no bytes sent counted", i)
		}
		c.Close()
	}
	m := fetch(t, s, upstream.Auth{}).Metrics
	if got := m[node(s, 0)]["packets.connect.received"] + m[node(s, 1)]["packets.connect.received"]; got != n {
		t.Errorf("packets.connect.received = %v over both nodes, want %d", got, n)
	}
	if garbage := s.Live().Garbage; garbage != 0 {
		t.Errorf("%d clients dropped for garbage", garbage)
	}
}
