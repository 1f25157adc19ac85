package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// MQTTOptions configure an MQTTClient.
type MQTTOptions struct {
	// ClientID identifies the client; "" lets the broker assign one.
	ClientID string
	// Username and Password are sent when Username is set (the lab's
	// API key and secret when it has one).
	Username, Password string
	// KeepAlive is the MQTT keep-alive (default 30s).
	KeepAlive time.Duration
	// OnMessage, if set, is called for every message received, from the
	// client's own goroutine.
	OnMessage func(topic string, payload []byte)
}

// ConnackError is a CONNACK that refused the connection.
type ConnackError struct {
	Code   byte   // MQTT 5 reason code, e.g. 0x89 server busy
	Reason string // the reason string, when the broker sent one
}

func (e *ConnackError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("mqtt: connection refused: %s (0x%02x)", e.Reason, e.Code)
	}
	return fmt.Sprintf("mqtt: connection refused (0x%02x)", e.Code)
}

// MQTTClient is a small MQTT 5 client for the lab's traffic generator and
// tests: connect, subscribe, publish (once or at a rate), disconnect.
type MQTTClient struct {
	c        *paho.Client
	conn     *countConn
	node     string
	received atomic.Int64
	sent     atomic.Int64

	endOnce sync.Once
	ended   chan struct{} // closed when the connection ends
	mu      sync.Mutex
	err     error // why; set before ended closes
}

// MQTTDisconnectError is a DISCONNECT the broker sent.
type MQTTDisconnectError struct {
	Code   byte
	Reason string
}

func (e *MQTTDisconnectError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("mqtt: disconnected by the broker: %s (0x%02x)", e.Reason, e.Code)
	}
	return fmt.Sprintf("mqtt: disconnected by the broker (0x%02x)", e.Code)
}

// errMQTTClosed is why a client closed with Close ended.
var errMQTTClosed = errors.New("mqtt: closed by the client")

// end records why the connection ended (the first cause wins).
func (m *MQTTClient) end(err error) {
	m.endOnce.Do(func() {
		m.mu.Lock()
		m.err = err
		m.mu.Unlock()
		close(m.ended)
	})
}

// countConn counts the bytes a client receives, and leaves its writes to
// the TCP connection itself: paho writes each packet as net.Buffers
// (header, then the rest), which a *net.TCPConn sends in one writev, and
// its pinger writes PINGREQ from a goroutine of its own. A wrapper with a
// Write of its own would split every packet into one write per buffer,
// and a PINGREQ could land between them and corrupt both packets; the
// embedded *net.TCPConn keeps the writev (its writeBuffers method is
// promoted). The bytes sent are read from the kernel instead (sent_linux.go).
type countConn struct {
	*net.TCPConn
	in   atomic.Int64
	sent atomic.Int64 // the last reading of the kernel's count
}

func (c *countConn) Read(b []byte) (int, error) {
	n, err := c.TCPConn.Read(b)
	c.in.Add(int64(n))
	return n, err
}

// out returns the bytes sent so far (the last reading once closed).
func (c *countConn) out() int64 {
	if n, ok := tcpBytesSent(c.TCPConn); ok && n > c.sent.Load() {
		c.sent.Store(n)
	}
	return c.sent.Load()
}

// DialMQTT connects to a broker at addr (mqtt://host:port, tcp://host:port
// or host:port) and completes the MQTT handshake with a clean session.
func DialMQTT(ctx context.Context, addr string, o MQTTOptions) (*MQTTClient, error) {
	hostport, err := mqttHostPort(addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		_ = conn.Close()
		return nil, fmt.Errorf("mqtt: %s is not a TCP connection", hostport)
	}
	cc := &countConn{TCPConn: tcp}
	mc := &MQTTClient{conn: cc, ended: make(chan struct{})}
	on := func(pr paho.PublishReceived) (bool, error) {
		mc.received.Add(1)
		if o.OnMessage != nil {
			o.OnMessage(pr.Packet.Topic, pr.Packet.Payload)
		}
		return true, nil
	}
	mc.c = paho.NewClient(paho.ClientConfig{ClientID: o.ClientID, Conn: cc, OnPublishReceived: []func(paho.PublishReceived) (bool, error){on},
		OnClientError: func(err error) { mc.end(err) },
		OnServerDisconnect: func(d *paho.Disconnect) {
			de := &MQTTDisconnectError{Code: d.ReasonCode}
			if d.Properties != nil {
				de.Reason = d.Properties.ReasonString
			}
			mc.end(de)
		}})
	keep := o.KeepAlive
	if keep <= 0 {
		keep = 30 * time.Second
	}
	cp := &paho.Connect{ClientID: o.ClientID, KeepAlive: uint16(keep / time.Second), CleanStart: true}
	if o.Username != "" {
		cp.Username, cp.UsernameFlag = o.Username, true
		cp.Password, cp.PasswordFlag = []byte(o.Password), true
	}
	ca, err := mc.c.Connect(ctx, cp)
	if err != nil {
		_ = conn.Close()
		if ca != nil && ca.ReasonCode >= 0x80 {
			ce := &ConnackError{Code: ca.ReasonCode}
			if ca.Properties != nil {
				ce.Reason = ca.Properties.ReasonString
			}
			return nil, ce
		}
		return nil, fmt.Errorf("mqtt: connect %s: %w", hostport, err)
	}
	if ca.Properties != nil {
		mc.node = ca.Properties.User.Get(MQTTNodeProperty)
	}
	go func() {
		// paho reports a lost connection to OnClientError, a DISCONNECT
		// to OnServerDisconnect, both after Done; a shutdown without
		// either is a clean end.
		<-mc.c.Done()
		select {
		case <-mc.ended:
		case <-time.After(time.Second):
			mc.end(nil)
		}
	}()
	return mc, nil
}

// Node is the name of the lab EMQX node serving the client (the CONNACK
// user property "node"), "" when the broker does not say.
func (m *MQTTClient) Node() string { return m.node }

// Done is closed when the connection ends (Close, the broker, the
// network); Err then says why.
func (m *MQTTClient) Done() <-chan struct{} { return m.ended }

// Err is why the connection ended: a *MQTTDisconnectError when the
// broker sent DISCONNECT, the network error when it was lost, nil while
// it is up or when it ended cleanly.
func (m *MQTTClient) Err() error {
	select {
	case <-m.ended:
	default:
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err == errMQTTClosed {
		return nil
	}
	return m.err
}

// WireBytes are the bytes received and sent on the connection so far.
func (m *MQTTClient) WireBytes() (in, out int64) { return m.conn.in.Load(), m.conn.out() }

// mqttHostPort reads a broker address.
func mqttHostPort(addr string) (string, error) {
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			return "", fmt.Errorf("mqtt: bad address %q: %w", addr, err)
		}
		if u.Scheme != "mqtt" && u.Scheme != "tcp" {
			return "", fmt.Errorf("mqtt: bad address %q: scheme must be mqtt or tcp", addr)
		}
		addr = u.Host
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("mqtt: bad address %q: %w", addr, err)
	}
	return addr, nil
}

// Subscribe subscribes to the topic filters at the QoS.
func (m *MQTTClient) Subscribe(ctx context.Context, qos byte, filters ...string) error {
	sub := &paho.Subscribe{}
	for _, f := range filters {
		sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: qos})
	}
	// A SUBACK refusing a filter (reason code 0x80 or more) is an error.
	if _, err := m.c.Subscribe(ctx, sub); err != nil {
		return fmt.Errorf("mqtt: subscribe %s: %w", strings.Join(filters, " "), err)
	}
	return nil
}

// Publish sends one message (QoS 0 returns once written, 1 and 2 once
// acknowledged).
func (m *MQTTClient) Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	if _, err := m.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: payload}); err != nil {
		return fmt.Errorf("mqtt: publish %s: %w", topic, err)
	}
	m.sent.Add(1)
	return nil
}

// PublishAt publishes payload to topic at rate messages per second until
// ctx ends (then it returns nil) or a publish fails.
func (m *MQTTClient) PublishAt(ctx context.Context, topic string, qos byte, rate float64, payload []byte) error {
	if rate <= 0 {
		return fmt.Errorf("mqtt: publish rate must be positive, got %v", rate)
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := m.Publish(ctx, topic, qos, false, payload); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// Received is the number of messages received so far.
func (m *MQTTClient) Received() int64 { return m.received.Load() }

// Sent is the number of messages published so far.
func (m *MQTTClient) Sent() int64 { return m.sent.Load() }

// Close sends DISCONNECT (when the connection is still up) and closes
// the connection.
func (m *MQTTClient) Close() {
	m.end(errMQTTClosed)
	_ = m.c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	m.conn.out() // the last reading, before the socket goes
	<-m.c.Done()
}
