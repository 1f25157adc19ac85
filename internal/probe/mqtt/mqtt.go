// Package mqtt is the end-to-end MQTT probe: it connects to a broker (or
// to HAProxy in front of a cluster) with MQTT 5, subscribes to a probe
// topic, publishes one message with a fresh nonce and waits for it to
// come back, timing each step.
package mqtt

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/probe"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// Spec is the MQTT probe's metrics.
var Spec = probe.NewSpec("mqtt",
	[]string{"connect", "tls", "connack", "subscribe", "publish", "deliver"},
	probe.Value{Name: "round_trip_seconds", Help: "Time from sending the probe message to receiving it back through the broker, in seconds."},
	probe.Value{Name: "qos", Help: "The QoS the probe published and subscribed with."},
	probe.Value{Name: "connack_reason_code", Help: "The reason code of the broker's CONNACK (0 accepted; 0x86 bad credentials, 0x87 not authorized, 0x89 server busy)."},
)

// Options are an mqtt module's keys.
type Options struct {
	// QoS of the subscription and the probe message (0, 1 or 2; default 1).
	QoS *int `yaml:"qos,omitempty"`
	// Topic is the probe topic; default lbpilot/probe/<client id>, one
	// per probe so that concurrent probes never see each other's messages.
	Topic string `yaml:"topic,omitempty"`
	// ClientIDPrefix is followed by 16 random hex digits per probe.
	ClientIDPrefix string `yaml:"client_id_prefix,omitempty"`
	// Username and PasswordFile are sent in CONNECT; the password file is
	// read on every probe (its first line, trimmed).
	Username     string `yaml:"username,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty"`
	// TLSConfig is used for mqtts:// targets.
	TLSConfig *promconfig.TLSConfig `yaml:"tls_config,omitempty"`
}

// DefaultOptions are the defaults of a module that sets nothing.
func DefaultOptions() *Options { return &Options{} }

// Validate fills defaults and checks the options.
func (o *Options) Validate() error {
	if o.QoS == nil {
		q := 1
		o.QoS = &q
	}
	if *o.QoS < 0 || *o.QoS > 2 {
		return fmt.Errorf("mqtt: qos must be 0, 1 or 2, got %d", *o.QoS)
	}
	if strings.ContainsAny(o.Topic, "+#\x00") {
		return fmt.Errorf("mqtt: topic %q must be a plain topic name (no wildcards + or #)", o.Topic)
	}
	if o.ClientIDPrefix == "" {
		o.ClientIDPrefix = "lbpilot-probe-"
	}
	if len(o.ClientIDPrefix) > 40 {
		return fmt.Errorf("mqtt: client_id_prefix is %d bytes, at most 40", len(o.ClientIDPrefix))
	}
	if err := upstream.CheckBasicAuth("mqtt", o.Username, o.PasswordFile); err != nil {
		return err
	}
	if err := probe.CheckTLSConfig("mqtt", o.TLSConfig); err != nil {
		return err
	}
	return nil
}

// target is a parsed probe target.
type target struct {
	hostport string
	host     string
	tls      bool
}

// CheckTarget validates a target: mqtt://host:port, tcp://host:port,
// mqtts://, ssl:// or tls://host:port (TLS), or host:port.
func CheckTarget(t string) error {
	_, err := parseTarget(t)
	return err
}

func parseTarget(t string) (target, error) {
	hostport, useTLS := t, false
	if strings.Contains(t, "://") {
		u, err := url.Parse(t)
		if err != nil {
			return target{}, fmt.Errorf("mqtt target %q: %w", upstream.RedactURL(t), err)
		}
		switch u.Scheme {
		case "mqtt", "tcp":
		case "mqtts", "ssl", "tls":
			useTLS = true
		default:
			return target{}, fmt.Errorf("mqtt target %q: scheme %q (want mqtt, mqtts, tcp, ssl or tls)", upstream.RedactURL(t), u.Scheme)
		}
		if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return target{}, fmt.Errorf("mqtt target %q: only scheme://host:port (credentials go in the module)", upstream.RedactURL(t))
		}
		hostport = u.Host
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "" || port == "" {
		return target{}, fmt.Errorf("mqtt target %q: want host:port", upstream.RedactURL(t))
	}
	return target{hostport: hostport, host: host, tls: useTLS}, nil
}

// New returns the probe of one target.
func New(o Options, t string, labels prometheus.Labels) (*probe.Collector, error) {
	tg, err := parseTarget(t)
	if err != nil {
		return nil, err
	}
	return probe.NewCollector(Spec, labels, func(ctx context.Context, r *probe.Report) error {
		return run(ctx, r, o, tg)
	}), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func run(ctx context.Context, r *probe.Report, o Options, tg target) error {
	qos := byte(*o.QoS)
	r.Set("qos", float64(qos))
	password := ""
	if o.PasswordFile != "" {
		var err error
		if password, err = upstream.ReadSecretFile("mqtt password_file", o.PasswordFile); err != nil {
			return probe.Fail("config", err)
		}
	}
	var tlsCfg *tls.Config
	if tg.tls {
		var err error
		if tlsCfg, err = probe.TLSConfig(o.TLSConfig, tg.host); err != nil {
			return err
		}
	}
	conn, err := probe.Dial(ctx, r, tg.hostport, tlsCfg)
	if err != nil {
		return err
	}
	stop := probe.DeadlineConn(ctx, conn)
	defer stop()
	// A connection that ends or carries something that is not MQTT ends
	// the wait for CONNACK at once rather than at the deadline.
	connCtx, endConn := context.WithCancel(ctx)
	defer endConn()
	wc := &watchConn{Conn: conn, end: endConn}
	conn = wc

	clientID := o.ClientIDPrefix + randomHex(8)
	topic := o.Topic
	if topic == "" {
		topic = "lbpilot/probe/" + clientID
	}
	nonce := []byte(randomHex(16))
	got := make(chan time.Time, 1)
	ended := make(chan error, 1)
	c := paho.NewClient(paho.ClientConfig{
		ClientID: clientID,
		Conn:     conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			if pr.Packet.Topic == topic && bytes.Equal(pr.Packet.Payload, nonce) {
				select {
				case got <- time.Now():
				default:
				}
			}
			return true, nil
		}},
		OnClientError: func(err error) {
			select {
			case ended <- err:
			default:
			}
		},
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case ended <- fmt.Errorf("broker sent DISCONNECT (reason 0x%02x)", d.ReasonCode):
			default:
			}
		},
	})
	defer func() {
		_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
		_ = conn.Close()
	}()
	cp := &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true}
	if o.Username != "" {
		cp.Username, cp.UsernameFlag = o.Username, true
		cp.Password, cp.PasswordFlag = []byte(password), password != ""
	}
	ca, err := c.Connect(connCtx, cp)
	if ca != nil {
		r.Set("connack_reason_code", float64(ca.ReasonCode))
	}
	if err != nil {
		return connectFailure(ctx, ca, err, wc)
	}
	r.Phase("connack")
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: qos}}}); err != nil {
		return probe.Fail(reasonOr(ctx, err, "subscribe"), fmt.Errorf("subscribe %s: %w", topic, err))
	}
	r.Phase("subscribe")
	sent := time.Now()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: nonce}); err != nil {
		return probe.Fail(reasonOr(ctx, err, "publish"), fmt.Errorf("publish %s: %w", topic, err))
	}
	r.Phase("publish")
	select {
	case at := <-got:
		r.Phase("deliver")
		r.Set("round_trip_seconds", at.Sub(sent).Seconds())
		return nil
	case err := <-ended:
		return probe.Fail(reasonOr(ctx, err, "disconnected"), fmt.Errorf("connection ended before the probe message came back: %w", err))
	case <-ctx.Done():
		return fmt.Errorf("the probe message did not come back on %s: %w", topic, ctx.Err())
	}
}

// watchConn remembers what the broker sent before CONNACK failed and
// ends the wait when the connection does. It is a sync.Locker: paho
// writes a packet in several Write calls and locks a Locker around them,
// so that its pinger's PINGREQ cannot land inside another packet (a
// wrapped connection loses the single writev a *net.TCPConn gives).
type watchConn struct {
	net.Conn
	end   context.CancelFunc
	wmu   sync.Mutex
	mu    sync.Mutex
	n     int
	first []byte
	err   error
}

// Lock and Unlock serialise whole packets (see watchConn).
func (w *watchConn) Lock()   { w.wmu.Lock() }
func (w *watchConn) Unlock() { w.wmu.Unlock() }

func (w *watchConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	w.mu.Lock()
	if len(w.first) < 8 {
		w.first = append(w.first, p[:min(n, 8-len(w.first))]...)
	}
	w.n += n
	if err != nil && w.err == nil {
		w.err = err
		w.end()
	}
	w.mu.Unlock()
	return n, err
}

// connectFailure names a refused or failed CONNECT.
func connectFailure(ctx context.Context, ca *paho.Connack, err error, wc *watchConn) error {
	if ca != nil && ca.ReasonCode >= 0x80 {
		reason := "connect_refused"
		switch ca.ReasonCode {
		case 0x86, 0x87, 0x8C:
			reason = "auth_refused"
		case 0x89, 0x88, 0x97, 0x9F:
			reason = "server_busy"
		}
		msg := fmt.Sprintf("broker refused CONNECT: reason 0x%02x", ca.ReasonCode)
		if ca.Properties != nil && ca.Properties.ReasonString != "" {
			msg += " (" + ca.Properties.ReasonString + ")"
		}
		return probe.Fail(reason, errors.New(msg))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("no CONNACK: %w", ctx.Err())
	}
	wc.mu.Lock()
	n, first, rerr := wc.n, wc.first, wc.err
	wc.mu.Unlock()
	// A CONNACK starts with 0x20; anything else is another protocol.
	if n > 0 && (len(first) == 0 || first[0] != 0x20) {
		return probe.Failf("protocol", "the server answered CONNECT with %d bytes that are not MQTT (first bytes %q)", n, first)
	}
	if rerr != nil {
		return probe.Fail(probe.NetReason(rerr, "protocol"), fmt.Errorf("connection ended before CONNACK: %w", rerr))
	}
	return probe.Fail(reasonOr(ctx, err, "protocol"), fmt.Errorf("CONNECT: %w", err))
}

// reasonOr classifies err by network cause, def for the rest; a deadline
// is left to probe.Classify.
func reasonOr(ctx context.Context, err error, def string) string {
	if ctx.Err() != nil {
		return "timeout"
	}
	return probe.NetReason(err, def)
}

// MetricDocs is the probe's metric table (docs/metrics.md).
func MetricDocs() []collectors.MetricDoc { return Spec.MetricDocs() }
