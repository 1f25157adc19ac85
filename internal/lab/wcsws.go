package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

func init() { clientStarters[WCS] = startWCSClients }

// Tunables of the WCS WebSocket endpoint.
const (
	// DefaultPlayKbps is the bitrate of the dummy media a node sends each
	// player when neither Config.PlayKbps nor the play request sets one.
	DefaultPlayKbps = 500
	// MaxPlayKbps bounds a bitrate a play request (or Config.PlayKbps) may ask for.
	MaxPlayKbps = 100_000
	// wcsMaxMessage is the read limit: larger messages (text or binary)
	// are garbage.
	wcsMaxMessage = 64 << 10
	// wcsMaxStreams bounds the streams one connection may open.
	wcsMaxStreams = 16
	// wcsKeepAliveMisses is how many ping intervals a client may stay
	// silent before the node drops it.
	wcsKeepAliveMisses = 3
	// mediaTick is how often dummy media is sent; mediaMaxFrame bounds
	// one binary message.
	mediaTick     = 50 * time.Millisecond
	mediaMaxFrame = 16 << 10
	// wcsWriteTimeout drops a client that does not read what it is sent.
	wcsWriteTimeout = 10 * time.Second
)

// wcsPingInterval is how often the node sends "ping", and wcsCloseGrace
// how long closing a node waits for its clients' close handshakes; tests
// shorten them before starting a node.
var (
	wcsPingInterval = 5 * time.Second
	wcsCloseGrace   = 2 * time.Second
)

// startWCSClients serves a subset of WCS's WebSocket API (the signalling
// its Web SDK speaks on ws://host:8080/, wss://host:8443/) on each
// address, enough to tell publishers from players and to carry dummy
// media. It returns ws://host:port/ per address.
//
// Every message in either direction is a JSON text message
// {"message": NAME, "data": [OBJECT]}; binary messages carry media.
//
// Client to node:
//
//	connection       first message; data[0] is the client's configuration
//	                 (appKey, mediaProviders, ... — all ignored). Opens the
//	                 session: the node answers getUserData, or refuses at
//	                 capacity.
//	publishStream    data[0] {"mediaSessionId": ID, "name": NAME}: publish a
//	                 stream; the node answers notifyStreamStatusEvent PUBLISHING.
//	playStream       data[0] {"mediaSessionId": ID, "name": NAME, "bitrate": KBPS}:
//	                 play a stream; bitrate (kbit/s, optional) overrides the
//	                 node's default. The node answers notifyStreamStatusEvent
//	                 PLAYING, then sends binary messages of dummy media at that
//	                 bitrate. Players need no publisher: the lab does not
//	                 route media.
//	unPublishStream  data[0] {"mediaSessionId": ID}: stop publishing; answered
//	                 with notifyStreamStatusEvent UNPUBLISHED.
//	stopStream       data[0] {"mediaSessionId": ID}: stop playing; answered
//	                 with notifyStreamStatusEvent STOPPED.
//	pong             the answer to the node's ping (data ignored).
//	binary messages  media of a publisher (counted as bytes in); only on a
//	                 connection that publishes.
//
// Node to client:
//
//	getUserData              data[0] {"authToken": TOKEN, "nodeName": NAME}:
//	                         the session is established; nodeName (the
//	                         lab's addition) is the node's name.
//	notifyStreamStatusEvent  data[0] {"mediaSessionId", "name", "published",
//	                         "status"}: status is PUBLISHING, PLAYING,
//	                         UNPUBLISHED or STOPPED.
//	fail                     data[0] {"apiMethod", "id", "status": "FAILED",
//	                         "info"}: apiMethod StreamStatusEvent (id is the
//	                         mediaSessionId) when a stream is refused (more
//	                         than 16 streams on a connection, a bitrate out of
//	                         range); the connection stays. apiMethod
//	                         ConnectionStatusEvent when the node is at capacity
//	                         and refuses the session; the node then closes the
//	                         connection with status 1013 (try again later).
//	                         (The public Web SDK shows StreamStatusEvent
//	                         failures only; the connection form is the lab's.)
//	ping                     keep-alive, every 5 s once the session is open; a
//	                         client silent for three intervals (one that never
//	                         sends connection too) is closed (1008).
//	binary messages          dummy media for the connection's players (all
//	                         its playing streams share the connection).
//
// A node that closes cuts its connections with status 1001 (going away).
//
// Accounting: a connection is one session towards Config.Capacity and
// adds one connection (connections, connections_websocket); each
// publishing stream adds a publisher and each playing stream a
// subscriber, which the stat page splits over its stream counters so
// that the agent's sums (wcsapi Stats.Publishers, Subscribers) give them
// back. Bytes of media received and sent drive global_bandwidth_in/out.
// Everything a connection added goes away when it closes, however it
// closes.
//
// Garbage: text that is not a JSON message, an unknown message, any
// message but connection first (binary included), a second connection,
// a stream message without its ids (or with an id in use, or stopping an
// unknown one), binary media on a connection that does not publish, and a
// message over 64 KiB close the connection (1008; 1009 for size) and count
// as garbage.
func startWCSClients(s *Server, addrs []string) ([]string, error) {
	kbps := s.cfg.PlayKbps
	if kbps == 0 {
		kbps = DefaultPlayKbps
	}
	if kbps < 0 || kbps > MaxPlayKbps {
		return nil, fmt.Errorf("lab %s: play bitrate %d kbit/s out of range (1..%d)", s.cfg.Name, s.cfg.PlayKbps, MaxPlayKbps)
	}
	n := &wcsNode{s: s, kbps: kbps, ping: wcsPingInterval, grace: wcsCloseGrace, conns: map[*wcsConn]struct{}{}}
	urls := make([]string, 0, len(addrs))
	for _, a := range addrs {
		ln, err := s.listen(a)
		if err != nil {
			return nil, err
		}
		s.serveClientsHTTP(ln, n)
		urls = append(urls, "ws://"+ln.Addr().String()+"/")
	}
	// Closers run last to first: this one cuts the sessions before the
	// HTTP servers and listeners go.
	s.closers = append(s.closers, n.close)
	return urls, nil
}

// wcsNode is a node's WebSocket endpoint.
type wcsNode struct {
	s     *Server
	kbps  int
	ping  time.Duration
	grace time.Duration

	mu     sync.Mutex
	closed bool
	conns  map[*wcsConn]struct{}
	wg     sync.WaitGroup // connection handlers
}

// wcsConn is one client connection.
type wcsConn struct {
	n      *wcsNode
	c      *websocket.Conn
	cancel context.CancelFunc
	last   atomic.Int64 // unix nanos of the last message received

	sess        *Session    // nil until "connection"
	established atomic.Bool // sess is set: the node pings
	streams     map[string]*wcsStream
	players     sync.WaitGroup
	playCtx     context.Context // ends the players' media (not their writes)
	stopPlayers context.CancelFunc

	closeOnce sync.Once // the node closes the connection once
}

type wcsStream struct {
	name      string
	published bool
	stop      context.CancelFunc // a player's media sender
}

// wcsMessage is one message of the API.
type wcsMessage struct {
	Message string            `json:"message"`
	Data    []json.RawMessage `json:"data"`
}

// wcsStreamReq is data[0] of the stream messages (WCS clients send more
// fields; they are ignored).
type wcsStreamReq struct {
	MediaSessionID string   `json:"mediaSessionId"`
	Name           string   `json:"name"`
	Bitrate        *float64 `json:"bitrate"`
}

// errGarbage is a client that spoke something the node does not
// understand.
type errGarbage struct{ what string }

func (e errGarbage) Error() string { return e.what }

func garbage(format string, args ...any) error { return errGarbage{fmt.Sprintf(format, args...)} }

func (n *wcsNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Any origin: the lab serves demo pages from anywhere.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept answered the HTTP request
	}
	c.SetReadLimit(wcsMaxMessage)
	ctx, cancel := context.WithCancel(context.Background())
	cn := &wcsConn{n: n, c: c, cancel: cancel, streams: map[string]*wcsStream{}}
	cn.playCtx, cn.stopPlayers = context.WithCancel(context.Background())
	cn.last.Store(time.Now().UnixNano())
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		cancel()
		cn.stopPlayers()
		_ = c.Close(websocket.StatusGoingAway, "lab node closed")
		return
	}
	n.conns[cn] = struct{}{}
	n.wg.Add(1)
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.conns, cn)
		n.mu.Unlock()
		n.wg.Done()
	}()
	cn.serve(ctx)
}

// serve runs the connection until the client or the node ends it.
func (cn *wcsConn) serve(ctx context.Context) {
	defer cn.cancel()
	go cn.keepAlive(ctx)
	err := cn.readLoop(ctx)
	// Whatever ended the connection, its session and streams go now.
	cn.stopPlayers()
	cn.players.Wait()
	if cn.sess != nil {
		cn.sess.End()
	}
	var g errGarbage
	switch {
	case errors.As(err, &g):
		cn.n.s.CountGarbage()
		cn.shut(websocket.StatusPolicyViolation, g.what)
	case errors.Is(err, websocket.ErrMessageTooBig):
		// The library already closed it with 1009.
		cn.n.s.CountGarbage()
	case errors.Is(err, ErrRefused):
		cn.shut(websocket.StatusTryAgainLater, "lab node at capacity")
	}
	_ = cn.c.CloseNow()
}

// shut closes the connection with a status, once.
func (cn *wcsConn) shut(code websocket.StatusCode, reason string) {
	cn.closeOnce.Do(func() {
		_ = cn.c.Close(code, reason)
	})
}

// keepAlive pings the client and drops it when it stays silent.
func (cn *wcsConn) keepAlive(ctx context.Context) {
	t := time.NewTicker(cn.n.ping)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if now.Sub(time.Unix(0, cn.last.Load())) > wcsKeepAliveMisses*cn.n.ping {
				cn.shut(websocket.StatusPolicyViolation, "keep-alive timeout")
				return
			}
			if !cn.established.Load() {
				continue // no ping before the session opens
			}
			if cn.send(ctx, "ping", nil) != nil {
				return
			}
		}
	}
}

// send writes one message; data nil sends an empty data array.
func (cn *wcsConn) send(ctx context.Context, message string, data any) error {
	m := struct {
		Message string `json:"message"`
		Data    []any  `json:"data"`
	}{message, []any{}}
	if data != nil {
		m.Data = []any{data}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, wcsWriteTimeout)
	defer cancel()
	return cn.c.Write(wctx, websocket.MessageText, b)
}

func (cn *wcsConn) readLoop(ctx context.Context) error {
	for {
		typ, b, err := cn.c.Read(ctx)
		if err != nil {
			return err
		}
		cn.last.Store(time.Now().UnixNano())
		if typ == websocket.MessageBinary {
			if !cn.publishing() {
				return garbage("binary message without a published stream")
			}
			cn.n.s.CountBytes(len(b), 0)
			continue
		}
		var m wcsMessage
		if err := json.Unmarshal(b, &m); err != nil || m.Message == "" {
			return garbage("not a WCS message")
		}
		if err := cn.handle(ctx, m); err != nil {
			return err
		}
	}
}

func (cn *wcsConn) publishing() bool {
	for _, st := range cn.streams {
		if st.published {
			return true
		}
	}
	return false
}

// handle answers one text message.
func (cn *wcsConn) handle(ctx context.Context, m wcsMessage) error {
	if cn.sess == nil && m.Message != "connection" {
		return garbage("%s before connection", m.Message)
	}
	switch m.Message {
	case "connection":
		if cn.sess != nil {
			return garbage("second connection message")
		}
		sess, err := cn.n.s.Admit(Load{Connections: 1})
		if err != nil {
			_ = cn.send(ctx, "fail", map[string]any{"apiMethod": "ConnectionStatusEvent", "status": "FAILED", "info": "Server at capacity"})
			return err
		}
		cn.sess = sess
		cn.established.Store(true)
		// nodeName is the lab's: it tells a client behind HAProxy which
		// node serves it.
		return cn.send(ctx, "getUserData", map[string]any{"authToken": token(), "nodeName": cn.n.s.cfg.Name})
	case "pong":
		return nil
	case "publishStream", "playStream":
		req, err := streamReq(m, true)
		if err != nil {
			return err
		}
		return cn.start(ctx, req, m.Message == "publishStream")
	case "unPublishStream", "stopStream":
		req, err := streamReq(m, false)
		if err != nil {
			return err
		}
		st := cn.streams[req.MediaSessionID]
		if st == nil || st.published != (m.Message == "unPublishStream") {
			return garbage("%s of an unknown stream", m.Message)
		}
		delete(cn.streams, req.MediaSessionID)
		status := "STOPPED"
		if st.published {
			status = "UNPUBLISHED"
			cn.sess.add(Load{Publishers: 1}, -1)
		} else {
			st.stop()
			cn.sess.add(Load{Subscribers: 1}, -1)
		}
		return cn.send(ctx, "notifyStreamStatusEvent", streamEvent(req.MediaSessionID, st, status))
	default:
		return garbage("unknown message %q", m.Message)
	}
}

func streamReq(m wcsMessage, needName bool) (wcsStreamReq, error) {
	var req wcsStreamReq
	if len(m.Data) == 0 || json.Unmarshal(m.Data[0], &req) != nil || req.MediaSessionID == "" || (needName && req.Name == "") {
		return req, garbage("%s without mediaSessionId and name", m.Message)
	}
	return req, nil
}

func streamEvent(id string, st *wcsStream, status string) map[string]any {
	return map[string]any{"mediaSessionId": id, "name": st.name, "published": st.published, "status": status}
}

// start opens a publishing or playing stream.
func (cn *wcsConn) start(ctx context.Context, req wcsStreamReq, publish bool) error {
	if _, dup := cn.streams[req.MediaSessionID]; dup {
		return garbage("mediaSessionId %q in use", req.MediaSessionID)
	}
	fail := func(info string) error {
		return cn.send(ctx, "fail", map[string]any{"apiMethod": "StreamStatusEvent", "id": req.MediaSessionID,
			"name": req.Name, "status": "FAILED", "info": info})
	}
	if len(cn.streams) >= wcsMaxStreams {
		return fail(fmt.Sprintf("Too many streams on one connection (%d)", wcsMaxStreams))
	}
	kbps := cn.n.kbps
	if !publish && req.Bitrate != nil && *req.Bitrate != 0 {
		b := *req.Bitrate
		if b < 1 || b > MaxPlayKbps || math.IsNaN(b) {
			return fail(fmt.Sprintf("Bitrate %v kbit/s out of range (1..%d)", b, MaxPlayKbps))
		}
		kbps = int(b)
	}
	st := &wcsStream{name: req.Name, published: publish}
	cn.streams[req.MediaSessionID] = st
	if publish {
		cn.sess.add(Load{Publishers: 1}, 1)
		return cn.send(ctx, "notifyStreamStatusEvent", streamEvent(req.MediaSessionID, st, "PUBLISHING"))
	}
	cn.sess.add(Load{Subscribers: 1}, 1)
	if err := cn.send(ctx, "notifyStreamStatusEvent", streamEvent(req.MediaSessionID, st, "PLAYING")); err != nil {
		return err
	}
	// Stopping a player ends its media between frames: cancelling a
	// write would close the whole connection.
	pctx, stop := context.WithCancel(cn.playCtx)
	st.stop = stop
	cn.players.Add(1)
	go func() {
		defer cn.players.Done()
		_ = paceMedia(pctx, kbps, func(frame []byte) error {
			wctx, cancel := context.WithTimeout(context.Background(), wcsWriteTimeout)
			defer cancel()
			if err := cn.c.Write(wctx, websocket.MessageBinary, frame); err != nil {
				return err
			}
			cn.n.s.CountBytes(0, len(frame))
			return nil
		})
	}()
	return nil
}

// close cuts every connection (status 1001) and waits for their
// handlers; connections whose clients do not complete the close
// handshake within the grace are dropped.
func (n *wcsNode) close() error {
	n.mu.Lock()
	n.closed = true
	conns := make([]*wcsConn, 0, len(n.conns))
	for cn := range n.conns {
		conns = append(conns, cn)
	}
	n.mu.Unlock()
	for _, cn := range conns {
		go cn.shut(websocket.StatusGoingAway, "lab node closed")
	}
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(n.grace):
		// A client that does not answer the close handshake: drop it.
		for _, cn := range conns {
			cn.cancel()
		}
		<-done
	}
	return nil
}

// paceMedia calls send with dummy frames at kbps until ctx ends (nil) or
// send fails (its error). A stalled sender catches up at most a few
// ticks' worth.
func paceMedia(ctx context.Context, kbps int, send func([]byte) error) error {
	t := time.NewTicker(mediaTick)
	defer t.Stop()
	frame := make([]byte, mediaMaxFrame)
	bytesPerSec := float64(kbps) * 1000 / 8
	maxDue := int64(4 * bytesPerSec * mediaTick.Seconds())
	start := time.Now()
	var sent int64
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			due := int64(now.Sub(start).Seconds()*bytesPerSec) - sent
			if due > maxDue {
				sent += due - maxDue
				due = maxDue
			}
			for due > 0 {
				k := min(due, mediaMaxFrame)
				if err := send(frame[:k]); err != nil {
					return err
				}
				sent += k
				due -= k
			}
		}
	}
}

func token() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
