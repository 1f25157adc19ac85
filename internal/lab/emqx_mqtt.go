package lab

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// MQTT on an EMQX lab node.
//
// Every node of the simulated cluster (Config.EMQXNodes) embeds a real
// MQTT broker (mochi-mqtt, MQTT 3.1, 3.1.1 and 5) on a client port of its
// own, one Config.ClientAddrs entry per node; Start returns them as
// mqtt://host:port in Server.ClientURLs, node 1 first. The brokers route
// between each other as an EMQX cluster does: a message published on one
// node also reaches the subscribers of the others (counted as
// messages.forward on the node that received it), so publishers and
// subscribers spread by HAProxy still meet.
//
// What each node reports in the management API (every generation: v5
// stats, metrics, nodes and monitor_current, v4, v2) is its share of the
// control API's background plus what its own broker carries: live
// connections and sessions, subscriptions, topics (cluster-wide, as in
// EMQX), retained messages, and its counters (packets by type, messages
// by QoS, bytes on the wire, client and session events, CONNACK errors).
// A lab restart zeroes the counters, not the connections.
//
// Capacity (Config.Capacity) is per node: Sessions is the connections
// one node carries comfortably, and each node's CPU (load1/5/15) is the
// background CPU plus what its own connections cost. With Refuse a node
// at capacity answers CONNECT with CONNACK "server busy" (MQTT 5, 0x89)
// or "server unavailable" (3.1.1, 0x03), counted as refused (GET
// /lab/load) and as packets.connack.error. With an API key set the
// brokers require it as MQTT username and the secret as password
// (CONNACK "bad username or password", 0x86, or "not authorized" on
// 3.1.1). Bytes that are not MQTT (a CONNECT that is not one, a
// malformed packet) close the connection and count as garbage; a
// connection closed without a word (a TCP health check) does not.
// Config.Load.StoppedNodes stops a node in the API only; its broker
// keeps serving.

func init() { clientStarters[EMQX] = startMQTT }

// mqttNode is one simulated EMQX node's broker.
type mqttNode struct {
	index int
	name  string // the EMQX node name the API reports (emqx@...)
	srv   *mqtt.Server
	url   string

	sessions int // admitted connections; guarded by Server.live.mu

	mu   sync.Mutex
	c    map[string]int64 // cumulative counters, EMQX 5 names
	base map[string]int64 // c at the simulated process's last start

	bytesIn, bytesOut atomic.Int64
}

func (n *mqttNode) add(kv ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := 0; i+1 < len(kv); i += 2 {
		n.c[kv[i].(string)] += int64(kv[i+1].(int))
	}
}

// counters returns the node's counters since the simulated process
// started.
func (n *mqttNode) counters() map[string]int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]int64, len(n.c)+2)
	for k, v := range n.c {
		out[k] = v - n.base[k]
	}
	out["bytes.received"] = n.bytesIn.Load() - n.base["bytes.received"]
	out["bytes.sent"] = n.bytesOut.Load() - n.base["bytes.sent"]
	return out
}

// restart makes the counters start from zero again.
func (n *mqttNode) restart() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.base = make(map[string]int64, len(n.c)+2)
	for k, v := range n.c {
		n.base[k] = v
	}
	n.base["bytes.received"] = n.bytesIn.Load()
	n.base["bytes.sent"] = n.bytesOut.Load()
}

// mqttGauges is what a broker holds right now.
type mqttGauges struct {
	live, sessions, subscriptions, subscribers, shared, retained int
	filters                                                      map[string]bool
}

func (n *mqttNode) gauges() mqttGauges {
	g := mqttGauges{filters: map[string]bool{}}
	for _, cl := range n.srv.Clients.GetAll() {
		if cl.Net.Inline {
			continue
		}
		g.sessions++
		if !cl.Closed() {
			g.live++
		}
		subs := cl.State.Subscriptions.GetAll()
		if len(subs) > 0 {
			g.subscribers++
		}
		for f := range subs {
			g.subscriptions++
			if strings.HasPrefix(f, "$share/") {
				g.shared++
			}
			g.filters[f] = true
		}
	}
	for topic := range n.srv.Topics.Retained.GetAll() {
		if !strings.HasPrefix(topic, "$SYS") {
			g.retained++
		}
	}
	return g
}

// startMQTT starts one broker per node on addrs.
func startMQTT(s *Server, addrs []string) ([]string, error) {
	sim := s.sim.(*emqxSim)
	if len(addrs) < len(sim.nodes) {
		return nil, fmt.Errorf("lab %s: %d EMQX nodes need %d client addresses, got %d", s.cfg.Name, len(sim.nodes), len(sim.nodes), len(addrs))
	}
	nodes := make([]*mqttNode, len(sim.nodes))
	var urls []string
	for i := range nodes {
		ln, err := s.listen(addrs[i])
		if err != nil {
			return nil, err
		}
		caps := mqtt.NewDefaultServerCapabilities()
		caps.MaximumSessionExpiryInterval = 7200 // EMQX's default session expiry, 2h
		srv := mqtt.New(&mqtt.Options{
			Capabilities:           caps,
			InlineClient:           true, // routes messages between the nodes
			Logger:                 slog.New(slog.DiscardHandler),
			SysTopicResendInterval: 3600,
		})
		n := &mqttNode{index: i, name: sim.nodes[i], srv: srv, url: "mqtt://" + ln.Addr().String(), c: map[string]int64{}, base: map[string]int64{}}
		nodes[i] = n
		if err := srv.AddHook(&mqttHook{s: s, n: n, nodes: nodes}, nil); err != nil {
			return nil, fmt.Errorf("lab %s: MQTT broker: %w", s.cfg.Name, err)
		}
		if err := srv.AddListener(&mqttListener{id: fmt.Sprintf("n%d", i+1), ln: ln, s: s, n: n}); err != nil {
			return nil, fmt.Errorf("lab %s: MQTT broker: %w", s.cfg.Name, err)
		}
		urls = append(urls, n.url)
	}
	for _, n := range nodes {
		if err := n.srv.Serve(); err != nil {
			return nil, fmt.Errorf("lab %s: MQTT broker: %w", s.cfg.Name, err)
		}
		s.closers = append(s.closers, n.srv.Close)
	}
	s.mu.Lock()
	sim.brokers = nodes
	sim.sessions = func() []int { return s.nodeSessions(nodes) }
	sim.capacity = s.cfg.Capacity.Sessions
	s.mu.Unlock()
	return urls, nil
}

// admitMQTT admits a connection on node n, or refuses it when that node
// is at capacity and refuses (the capacity is per node).
func (s *Server) admitMQTT(n *mqttNode) (*mqttSession, error) {
	lv := &s.live
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if c := s.cfg.Capacity; c.Refuse && n.sessions >= c.Sessions {
		lv.refused++
		return nil, ErrRefused
	}
	d := Load{Connections: 1, Sessions: 1}
	lv.counts = addCounts(lv.counts, d, 1)
	lv.sessions++
	n.sessions++
	return &mqttSession{Session: Session{s: s, d: d}, n: n}, nil
}

// mqttSession is an admitted connection on one node.
type mqttSession struct {
	Session
	n    *mqttNode
	once sync.Once
}

func (ss *mqttSession) end() {
	ss.once.Do(func() {
		ss.End()
		lv := &ss.s.live
		lv.mu.Lock()
		ss.n.sessions--
		lv.mu.Unlock()
	})
}

// nodeSessions returns the admitted connections of every node.
func (s *Server) nodeSessions(nodes []*mqttNode) []int {
	lv := &s.live
	lv.mu.Lock()
	defer lv.mu.Unlock()
	out := make([]int, len(nodes))
	for i, n := range nodes {
		out[i] = n.sessions
	}
	return out
}

// mqttConn counts a client's bytes and carries its admission.
type mqttConn struct {
	net.Conn
	s    *Server
	n    *mqttNode
	mu   sync.Mutex
	sess *mqttSession
}

func (c *mqttConn) Read(b []byte) (int, error) {
	k, err := c.Conn.Read(b)
	if k > 0 {
		c.n.bytesIn.Add(int64(k))
		c.s.CountBytes(k, 0)
	}
	return k, err
}

func (c *mqttConn) Write(b []byte) (int, error) {
	k, err := c.Conn.Write(b)
	if k > 0 {
		c.n.bytesOut.Add(int64(k))
		c.s.CountBytes(0, k)
	}
	return k, err
}

func (c *mqttConn) setSession(ss *mqttSession) {
	c.mu.Lock()
	c.sess = ss
	c.mu.Unlock()
}

func (c *mqttConn) endSession() {
	c.mu.Lock()
	ss := c.sess
	c.mu.Unlock()
	if ss != nil {
		ss.end()
	}
}

// mqttListener serves a node's client port: it hands each connection to
// the broker and, once the broker is done with it, ends its admission and
// counts garbage.
type mqttListener struct {
	id  string
	ln  net.Listener
	s   *Server
	n   *mqttNode
	end atomic.Bool
}

func (l *mqttListener) ID() string              { return l.id }
func (l *mqttListener) Address() string         { return l.ln.Addr().String() }
func (l *mqttListener) Protocol() string        { return "tcp" }
func (l *mqttListener) Init(*slog.Logger) error { return nil }

func (l *mqttListener) Serve(establish listeners.EstablishFn) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return // closed with the node
		}
		go func() {
			c := &mqttConn{Conn: conn, s: l.s, n: l.n}
			err := establish(l.id, c)
			c.endSession()
			if isGarbage(err) {
				l.s.CountGarbage()
			}
		}()
	}
}

func (l *mqttListener) Close(closeClients listeners.CloseFn) {
	if l.end.CompareAndSwap(false, true) {
		closeClients(l.id)
	}
	_ = l.ln.Close()
}

// isGarbage tells a client that spoke something other than MQTT (a
// malformed packet, a protocol violation such as a first packet that is
// not CONNECT) from one that just went away or was turned down.
func isGarbage(err error) bool {
	var code packets.Code
	if !errors.As(err, &code) {
		return false
	}
	return code.Code == packets.ErrMalformedPacket.Code || code.Code == packets.ErrProtocolViolation.Code
}

// mqttHook admits connections, checks credentials and counts what a
// node's broker does under EMQX's metric names.
type mqttHook struct {
	mqtt.HookBase
	s     *Server
	n     *mqttNode
	nodes []*mqttNode
}

func (h *mqttHook) ID() string { return "lbpilot-lab" }

func (h *mqttHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSessionEstablished, mqtt.OnDisconnect,
		mqtt.OnPacketRead, mqtt.OnPacketSent, mqtt.OnSubscribed, mqtt.OnUnsubscribed, mqtt.OnPublished, mqtt.OnPacketEncode:
		return true
	}
	return false
}

// errTurnedDown ends a connection the hook answered with a CONNACK error.
var errTurnedDown = errors.New("lab: connection turned down")

// OnConnect checks the credentials and the node's capacity before the
// broker accepts the connection.
func (h *mqttHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	// The CONNECT itself is counted by OnPacketRead, as every packet is.
	h.n.add("client.connect", 1, "client.authenticate", 1)
	cfg := h.s.cfg
	if cfg.APIKey != "" && (pk.Connect.Username == nil || string(pk.Connect.Username) != cfg.APIKey || string(pk.Connect.Password) != cfg.APISecret) {
		h.n.add("packets.connack.error", 1, "packets.connack.auth_error", 1, "authentication.failure", 1)
		_ = h.n.srv.SendConnack(cl, packets.ErrBadUsernameOrPassword, false, nil)
		return errTurnedDown
	}
	ss, err := h.s.admitMQTT(h.n)
	if err != nil {
		code := packets.ErrServerBusy
		if cl.Properties.ProtocolVersion < 5 {
			code = packets.ErrServerUnavailable
		}
		h.n.add("packets.connack.error", 1, "overload_protection.new_conn", 1)
		_ = h.n.srv.SendConnack(cl, code, false, nil)
		return errTurnedDown
	}
	// Every client comes through an mqttListener, which ends the
	// admission when the broker is done with the connection.
	cl.Net.Conn.(*mqttConn).setSession(ss)
	if cfg.APIKey != "" {
		h.n.add("authentication.success", 1)
	} else {
		h.n.add("authentication.success", 1, "authentication.success.anonymous", 1, "client.auth.anonymous", 1)
	}
	return nil
}

// OnConnectAuthenticate lets in what OnConnect let through.
func (h *mqttHook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

// OnACLCheck allows every topic.
func (h *mqttHook) OnACLCheck(*mqtt.Client, string, bool) bool {
	h.n.add("client.authorize", 1, "authorization.allow", 1)
	return true
}

func (h *mqttHook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	h.n.add("client.connected", 1, "session.created", 1)
}

func (h *mqttHook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	h.n.add("client.disconnected", 1)
	if expire {
		h.n.add("session.terminated", 1)
	}
	if c, ok := cl.Net.Conn.(*mqttConn); ok {
		c.endSession()
	}
}

// OnPacketEncode names the node in an MQTT 5 CONNACK: the user property
// "node" is the EMQX node name (as the management API lists it), so a
// client behind HAProxy can tell which broker took it. MQTT 3.1.1 has no
// properties; its clients cannot tell.
func (h *mqttHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && pk.ProtocolVersion >= 5 {
		pk.Properties.User = append(pk.Properties.User, packets.UserProperty{Key: MQTTNodeProperty, Val: h.n.name})
	}
	return pk
}

// MQTTNodeProperty is the CONNACK user property naming the EMQX node.
const MQTTNodeProperty = "node"

// packetNames are the EMQX packet counters by MQTT packet type.
var packetNames = map[byte]string{
	packets.Connect: "connect", packets.Connack: "connack", packets.Publish: "publish", packets.Puback: "puback",
	packets.Pubrec: "pubrec", packets.Pubrel: "pubrel", packets.Pubcomp: "pubcomp", packets.Subscribe: "subscribe",
	packets.Suback: "suback", packets.Unsubscribe: "unsubscribe", packets.Unsuback: "unsuback", packets.Pingreq: "pingreq",
	packets.Pingresp: "pingresp", packets.Disconnect: "disconnect", packets.Auth: "auth",
}

func (h *mqttHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	h.n.add("packets.received", 1)
	if name, ok := packetNames[pk.FixedHeader.Type]; ok {
		h.n.add("packets."+name+".received", 1)
	}
	return pk, nil
}

func (h *mqttHook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, b []byte) {
	h.n.add("packets.sent", 1)
	if name, ok := packetNames[pk.FixedHeader.Type]; ok {
		h.n.add("packets."+name+".sent", 1)
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		h.n.add("client.connack", 1)
	case packets.Publish:
		h.n.add("messages.sent", 1, fmt.Sprintf("messages.qos%d.sent", pk.FixedHeader.Qos), 1, "messages.delivered", 1)
	}
}

func (h *mqttHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	h.n.add("client.subscribe", len(pk.Filters))
}

func (h *mqttHook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	h.n.add("client.unsubscribe", len(pk.Filters))
}

// OnPublished counts a client's message and routes it to the other
// nodes, as an EMQX cluster does.
func (h *mqttHook) OnPublished(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline {
		return // routed from another node
	}
	h.n.add("messages.received", 1, fmt.Sprintf("messages.qos%d.received", pk.FixedHeader.Qos), 1, "messages.publish", 1)
	for _, o := range h.nodes {
		if o == h.n {
			continue
		}
		if err := o.srv.Publish(pk.TopicName, pk.Payload, pk.FixedHeader.Retain, pk.FixedHeader.Qos); err == nil {
			h.n.add("messages.forward", 1)
		}
	}
}
