package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/lbpilot/lbpilot/internal/traffic"
)

// The traffic generator's protocols (internal/traffic), built on the
// lab's clients. Each works against a lab node or a real server, direct
// or through HAProxy; against a lab node a session learns the node that
// serves it.
//
//	protocol  kinds               target                      options
//	wcs       publish, play       ws://host:port/             bitrate (kbit/s)
//	rtmp      publish             rtmp://host:port/<app>      bitrate (kbit/s)
//	flv       play                http://host:port/<app>      —
//	hls       play                http://host:port/<app>      —
//	mqtt      subscribe, publish  mqtt://host:port            qos, topic_prefix, rate, size
//
// The session's stream name (stream1 ...) names the WCS stream, the RTMP
// stream (<target>/<stream>), the played file (<target>/<stream>.flv,
// .m3u8) and the MQTT topic (<topic_prefix><stream>).
//
// Reasons a session is refused: capacity (WCS's ConnectionStatusEvent
// failure), http_<status> (a WebSocket handshake, an HTTP-FLV request or
// a first playlist answered with that status, e.g. HAProxy's 503 with no
// server up), publish_rejected and stream_busy (an RTMP publish refused
// with NetStream.Publish.Rejected or .BadName), stream_failed (a WCS
// stream refused), connack_0x<code> (an MQTT CONNACK error, 0x89 server
// busy), subscribe_failed, bad_target and bad_option, else what
// traffic.Reason reads from the error (connection_refused, timeout, ...).
//
// Causes of a cut: ws_close_<code> (the WebSocket close status, e.g.
// 1001 when a lab node closes), disconnect_0x<code> (an MQTT DISCONNECT
// from the broker), http_<status> (a later playlist or segment),
// bad_stream (FLV or TS that does not parse), else what traffic.Reason
// reads (eof, connection_reset, broken_pipe, ...).

// Protocol names the lab registers.
const (
	ProtoWCS  = "wcs"
	ProtoRTMP = "rtmp"
	ProtoFLV  = "flv"
	ProtoHLS  = "hls"
	ProtoMQTT = "mqtt"
)

// labHTTP is the players' HTTP client: one pool of connections per
// target, as players on one machine would share.
var labHTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}

// labDialers and labKinds are the lab's protocols.
var (
	labDialers = map[string]traffic.Dialer{
		ProtoWCS:  traffic.DialerFunc(dialWCSSession),
		ProtoRTMP: traffic.DialerFunc(dialRTMPSession),
		ProtoFLV: traffic.DialerFunc(func(ctx context.Context, target, kind string, p traffic.SessionParams) (traffic.Session, error) {
			return dialFLV(ctx, labHTTP, target, p)
		}),
		ProtoHLS: traffic.DialerFunc(func(ctx context.Context, target, kind string, p traffic.SessionParams) (traffic.Session, error) {
			return dialHLS(ctx, labHTTP, target, p)
		}),
		ProtoMQTT: traffic.DialerFunc(dialMQTTSession),
	}
	labKinds = map[string][]string{
		ProtoWCS:  {"publish", "play"},
		ProtoRTMP: {"publish"},
		ProtoFLV:  {"play"},
		ProtoHLS:  {"play"},
		ProtoMQTT: {"subscribe", "publish"},
	}
)

// RegisterDialers adds the lab's protocols to reg.
func RegisterDialers(reg *traffic.Registry) error {
	for _, name := range []string{ProtoWCS, ProtoRTMP, ProtoFLV, ProtoHLS, ProtoMQTT} {
		if err := reg.Register(name, labDialers[name], labKinds[name]...); err != nil {
			return err
		}
	}
	return nil
}

// Dialer returns one of the lab's protocols (ProtoWCS ...) and its
// session kinds, for a caller that wraps it (e.g. to time the opening).
func Dialer(name string) (traffic.Dialer, []string, bool) {
	d, ok := labDialers[name]
	return d, append([]string(nil), labKinds[name]...), ok
}

// Registry returns the traffic generator's registry: the built-in
// protocols and the lab's.
func Registry() *traffic.Registry {
	reg := traffic.DefaultRegistry()
	if err := RegisterDialers(reg); err != nil {
		panic(err) // the names are constants
	}
	return reg
}

// session adapts a lab client to traffic.Session.
type session struct {
	node  string
	bytes func() (in, out int64)
	done  <-chan struct{}
	cause func() error
	close func()
	once  sync.Once
}

// start makes the session end with ctx.
func (s *session) start(ctx context.Context) *session {
	context.AfterFunc(ctx, func() { _ = s.Close() })
	return s
}

func (s *session) Wait() error {
	<-s.done
	return s.cause()
}

func (s *session) Close() error {
	s.once.Do(s.close)
	return nil
}

func (s *session) Node() string { return s.node }

func (s *session) Bytes() (in, out int64) { return s.bytes() }

// options reads a protocol's options: known names only.
type options struct {
	proto string
	m     map[string]string
	err   error
}

func readOptions(proto string, m map[string]string, known ...string) *options {
	o := &options{proto: proto, m: m}
	for k := range m {
		if !contains(known, k) {
			o.err = traffic.WithReason("bad_option", fmt.Errorf("%s option %q: unknown (known: %s)", proto, k, strings.Join(known, ", ")))
		}
	}
	return o
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// int reads an integer option in [lo, hi], def when absent.
func (o *options) int(name string, def, lo, hi int) int {
	v, ok := o.m[name]
	if !ok || o.err != nil {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		o.err = traffic.WithReason("bad_option", fmt.Errorf("%s option %s %q: want an integer from %d to %d", o.proto, name, v, lo, hi))
		return def
	}
	return n
}

// float reads a positive number option up to hi, def when absent.
func (o *options) float(name string, def, hi float64) float64 {
	v, ok := o.m[name]
	if !ok || o.err != nil {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0 && f <= hi) {
		o.err = traffic.WithReason("bad_option", fmt.Errorf("%s option %s %q: want a number more than 0 and at most %g", o.proto, name, v, hi))
		return def
	}
	return f
}

func (o *options) str(name, def string) string {
	if v, ok := o.m[name]; ok {
		return v
	}
	return def
}

// checkTarget parses a target URL of one of the schemes.
func checkTarget(proto, target string, schemes ...string) (*url.URL, error) {
	u, err := url.Parse(target)
	if err != nil || !contains(schemes, u.Scheme) || u.Host == "" {
		return nil, traffic.WithReason("bad_target", fmt.Errorf("%s target %q: want %s://host:port", proto, target, strings.Join(schemes, ":// or ")))
	}
	return u, nil
}

// statusReason names a refusal by HTTP status, if err is one.
func statusReason(err error) error {
	var se *StatusError
	if errors.As(err, &se) {
		return traffic.WithReason("http_"+strconv.Itoa(se.Status), err)
	}
	return err
}

// within bounds an opening to the session's open timeout: the returned
// context ends with ctx, or at the timeout unless done is called first.
func within(ctx context.Context, d time.Duration) (context.Context, func() bool) {
	octx, cancel := context.WithCancel(ctx)
	t := time.AfterFunc(d, cancel)
	return octx, t.Stop
}

// openTimeout is the session's open timeout (5s when unset).
func openTimeout(p traffic.SessionParams) time.Duration {
	if p.OpenTimeout <= 0 {
		return 5 * time.Second
	}
	return p.OpenTimeout
}

// timedOut turns an error of an opening cut short by the open timeout
// into a timeout.
func timedOut(err error, d time.Duration) error {
	return traffic.WithReason("timeout", fmt.Errorf("not open after %s: %w", d, err))
}

// --- WCS ---

func dialWCSSession(ctx context.Context, target, kind string, p traffic.SessionParams) (traffic.Session, error) {
	if _, err := checkTarget(ProtoWCS, target, "ws", "wss"); err != nil {
		return nil, err
	}
	o := readOptions(ProtoWCS, p.Options, "bitrate")
	kbps := o.int("bitrate", 0, 1, MaxPlayKbps)
	if o.err != nil {
		return nil, o.err
	}
	if kind == "publish" && kbps == 0 {
		kbps = DefaultPlayKbps
	}
	octx, cancel := context.WithTimeout(ctx, openTimeout(p))
	defer cancel()
	cl, err := DialWCS(octx, target, nil)
	if err != nil {
		if errors.Is(err, ErrRefused) {
			return nil, traffic.WithReason("capacity", err)
		}
		return nil, statusReason(err)
	}
	if kind == "publish" {
		_, err = cl.Publish(octx, p.Stream, kbps)
	} else {
		_, err = cl.Play(octx, p.Stream, kbps)
	}
	if err != nil {
		_ = cl.Close()
		var we *WCSError
		if errors.As(err, &we) {
			return nil, traffic.WithReason("stream_failed", err)
		}
		return nil, err
	}
	s := &session{node: cl.Node(), done: cl.Done(),
		bytes: func() (int64, int64) { return cl.Received(), cl.Sent() },
		cause: func() error { return wsCause(cl.Err()) },
		close: func() { _ = cl.Close() }}
	return s.start(ctx), nil
}

// wsCause names a WebSocket connection's end by its close status.
func wsCause(err error) error {
	if code := websocket.CloseStatus(err); code != -1 {
		return traffic.WithReason("ws_close_"+strconv.Itoa(int(code)), err)
	}
	return err
}

// --- RTMP ---

func dialRTMPSession(ctx context.Context, target, kind string, p traffic.SessionParams) (traffic.Session, error) {
	u, err := checkTarget(ProtoRTMP, target, "rtmp")
	if err != nil {
		return nil, err
	}
	o := readOptions(ProtoRTMP, p.Options, "bitrate")
	kbps := o.int("bitrate", 1000, 1, MaxPlayKbps)
	if o.err != nil {
		return nil, o.err
	}
	pub, err := publishRTMP(ctx, strings.TrimSuffix(u.String(), "/")+"/"+p.Stream, kbps*1000, openTimeout(p))
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "NetStream.Publish.Rejected"):
			return nil, traffic.WithReason("publish_rejected", err)
		case strings.Contains(msg, "NetStream.Publish.BadName"):
			return nil, traffic.WithReason("stream_busy", err)
		}
		return nil, err
	}
	s := &session{node: pub.Node(), done: pub.Done(),
		bytes: func() (int64, int64) { return 0, pub.Bytes() },
		cause: pub.Err,
		close: func() { _ = pub.Close() }}
	return s.start(ctx), nil
}

// --- HTTP-FLV and HLS ---

// player is what an HTTP-FLV and an HLS player have in common.
type player interface {
	Node() string
	Done() <-chan struct{}
	Bytes() int64
	Err() error
	Close() error
}

func dialFLV(ctx context.Context, hc *http.Client, target string, p traffic.SessionParams) (traffic.Session, error) {
	return dialPlayer(ctx, ProtoFLV, ".flv", target, p, func(ctx context.Context, u string) (player, error) {
		pl, err := PlayFLV(ctx, hc, u)
		if err != nil {
			return nil, err
		}
		return pl, nil
	})
}

func dialHLS(ctx context.Context, hc *http.Client, target string, p traffic.SessionParams) (traffic.Session, error) {
	return dialPlayer(ctx, ProtoHLS, ".m3u8", target, p, func(ctx context.Context, u string) (player, error) {
		pl, err := PlayHLS(ctx, hc, u)
		if err != nil {
			return nil, err
		}
		return pl, nil
	})
}

// dialPlayer opens a player of proto on target/<stream><suffix>.
func dialPlayer(ctx context.Context, proto, suffix, target string, p traffic.SessionParams, play func(context.Context, string) (player, error)) (traffic.Session, error) {
	if _, err := checkTarget(proto, target, "http", "https"); err != nil {
		return nil, err
	}
	if o := readOptions(proto, p.Options); o.err != nil {
		return nil, o.err
	}
	octx, opened := within(ctx, openTimeout(p))
	pl, err := play(octx, strings.TrimSuffix(target, "/")+"/"+p.Stream+suffix)
	if !opened() {
		if err == nil {
			_ = pl.Close()
			err = context.DeadlineExceeded
		}
		return nil, timedOut(err, openTimeout(p))
	}
	if err != nil {
		return nil, statusReason(err)
	}
	s := &session{node: pl.Node(), done: pl.Done(),
		bytes: func() (int64, int64) { return pl.Bytes(), 0 },
		cause: func() error { return mediaCause(pl.Err()) },
		close: func() { _ = pl.Close() }}
	return s.start(ctx), nil
}

// mediaCause names a player's end: a status, a stream that does not
// parse, or the network's error.
func mediaCause(err error) error {
	if err == nil {
		return nil
	}
	var se *StatusError
	if errors.As(err, &se) {
		return statusReason(err)
	}
	if errors.Is(err, errNotTS) || strings.HasPrefix(err.Error(), "FLV ") || strings.Contains(err.Error(), "M3U8") {
		return traffic.WithReason("bad_stream", err)
	}
	return err
}

// --- MQTT ---

func dialMQTTSession(ctx context.Context, target, kind string, p traffic.SessionParams) (traffic.Session, error) {
	if _, err := checkTarget(ProtoMQTT, target, "mqtt", "tcp"); err != nil {
		return nil, err
	}
	o := readOptions(ProtoMQTT, p.Options, "qos", "topic_prefix", "rate", "size", "credentials_file")
	qos := o.int("qos", 0, 0, 2)
	rate := o.float("rate", 1, 1000)
	size := o.int("size", 64, 0, 1<<20)
	topic := o.str("topic_prefix", "lbpilot/") + p.Stream
	credFile := o.str("credentials_file", "")
	if o.err != nil {
		return nil, o.err
	}
	var user, pass string
	if credFile != "" {
		// username:password, as EMQX's API key bootstrap file holds it;
		// read from a file so a plan never carries the secret.
		b, err := os.ReadFile(credFile)
		if err != nil {
			return nil, traffic.WithReason("bad_option", fmt.Errorf("mqtt credentials_file: %w", err))
		}
		var ok bool
		if user, pass, ok = strings.Cut(strings.TrimSpace(string(b)), ":"); !ok || user == "" {
			return nil, traffic.WithReason("bad_option", fmt.Errorf("mqtt credentials_file %s: want one line username:password", credFile))
		}
	}
	if strings.ContainsAny(topic, "+#") {
		return nil, traffic.WithReason("bad_option", fmt.Errorf("mqtt topic %q: no wildcards (+, #) in topic_prefix", topic))
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	octx, cancel := context.WithTimeout(ctx, openTimeout(p))
	defer cancel()
	cl, err := DialMQTT(octx, target, MQTTOptions{ClientID: fmt.Sprintf("lbpilot-%d-%s", p.ID, hex.EncodeToString(suffix[:])), Username: user, Password: pass})
	if err != nil {
		var ce *ConnackError
		if errors.As(err, &ce) {
			return nil, traffic.WithReason(fmt.Sprintf("connack_0x%02x", ce.Code), err)
		}
		return nil, err
	}
	s := &session{node: cl.Node(), bytes: cl.WireBytes}
	done := make(chan struct{})
	var (
		mu    sync.Mutex
		cause error
	)
	s.done = done
	s.cause = func() error {
		mu.Lock()
		defer mu.Unlock()
		return cause
	}
	pctx, stopPub := context.WithCancel(context.Background())
	var pubWG sync.WaitGroup
	s.close = func() {
		stopPub()
		pubWG.Wait()
		cl.Close()
	}
	if kind == "subscribe" {
		if err := cl.Subscribe(octx, byte(qos), topic); err != nil {
			stopPub()
			cl.Close()
			return nil, traffic.WithReason("subscribe_failed", err)
		}
		go func() {
			<-cl.Done()
			mu.Lock()
			cause = mqttCause(cl.Err())
			mu.Unlock()
			close(done)
		}()
		return s.start(ctx), nil
	}
	pubErr := make(chan error, 1)
	pubWG.Add(1)
	go func() {
		defer pubWG.Done()
		pubErr <- cl.PublishAt(pctx, topic, byte(qos), rate, make([]byte, size))
	}()
	go func() {
		var err error
		select {
		case <-cl.Done():
			err = mqttCause(cl.Err())
		case err = <-pubErr:
			if err == nil {
				<-cl.Done() // stopped by Close
				err = mqttCause(cl.Err())
				break
			}
			// A publish failed: the connection's own end says more.
			select {
			case <-cl.Done():
				if e := cl.Err(); e != nil {
					err = mqttCause(e)
				}
			case <-time.After(time.Second):
			}
		}
		mu.Lock()
		cause = err
		mu.Unlock()
		close(done)
	}()
	return s.start(ctx), nil
}

// mqttCause names the broker's DISCONNECT by its reason code.
func mqttCause(err error) error {
	var de *MQTTDisconnectError
	if errors.As(err, &de) {
		return traffic.WithReason(fmt.Sprintf("disconnect_0x%02x", de.Code), err)
	}
	return err
}
