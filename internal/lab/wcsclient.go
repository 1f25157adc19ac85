package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
)

// WCSClient is a client of a lab WCS node's WebSocket API (the subset
// described at startWCSClients): it connects, publishes and plays
// streams, answers the node's pings and counts the media it receives.
// Its methods may be called from several goroutines.
type WCSClient struct {
	c     *websocket.Conn
	token string
	node  string

	seq     atomic.Int64
	recv    atomic.Int64
	sent    atomic.Int64
	mu      sync.Mutex
	waiters map[string]chan wcsEvent // by mediaSessionId
	streams map[*WCSStream]struct{}
	ready   chan wcsEvent // getUserData or a connection failure

	done chan struct{}
	err  error // why the connection ended; set before done closes
}

// WCSDialOptions are DialWCS's options; the zero value works.
type WCSDialOptions struct {
	// HTTPClient makes the handshake (nil: http.DefaultClient).
	HTTPClient *http.Client
	// Header is sent with the handshake.
	Header http.Header
	// AppKey is sent in the connection message (default "defaultApp").
	AppKey string
}

// WCSError is a failure the node reported in a "fail" message.
type WCSError struct {
	APIMethod string // StreamStatusEvent or ConnectionStatusEvent
	ID        string // the stream's mediaSessionId
	Info      string
}

func (e *WCSError) Error() string {
	if e.ID != "" {
		return fmt.Sprintf("wcs: %s %s failed: %s", e.APIMethod, e.ID, e.Info)
	}
	return fmt.Sprintf("wcs: %s failed: %s", e.APIMethod, e.Info)
}

// Is makes a refused connection match ErrRefused.
func (e *WCSError) Is(target error) bool {
	return target == ErrRefused && e.APIMethod == "ConnectionStatusEvent"
}

// ErrWCSClosed is what a request returns when the connection ends before
// the node answers it.
var ErrWCSClosed = errors.New("wcs: connection closed")

// wcsEvent is data[0] of a notifyStreamStatusEvent, getUserData or fail.
type wcsEvent struct {
	message        string
	MediaSessionID string `json:"mediaSessionId"`
	ID             string `json:"id"`
	Name           string `json:"name"`
	Status         string `json:"status"`
	Info           string `json:"info"`
	APIMethod      string `json:"apiMethod"`
	AuthToken      string `json:"authToken"`
	NodeName       string `json:"nodeName"`
}

func (ev wcsEvent) err() error {
	if ev.message == "fail" {
		return &WCSError{APIMethod: ev.APIMethod, ID: ev.ID, Info: ev.Info}
	}
	return nil
}

// DialWCS connects to url (ws://host:port/), sends the connection message
// and waits until the node establishes the session. A node at capacity
// makes it fail with a *WCSError that matches ErrRefused; a handshake
// answered with an HTTP status other than 101 with a *StatusError.
func DialWCS(ctx context.Context, url string, opts *WCSDialOptions) (*WCSClient, error) {
	if opts == nil {
		opts = &WCSDialOptions{}
	}
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: opts.HTTPClient, HTTPHeader: opts.Header})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			// HAProxy with no server up answers 503, for one.
			return nil, fmt.Errorf("wcs: dial %s: %w", url, &StatusError{URL: url, Status: resp.StatusCode})
		}
		return nil, fmt.Errorf("wcs: dial %s: %w", url, err)
	}
	c.SetReadLimit(wcsMaxMessage)
	cl := &WCSClient{c: c, waiters: map[string]chan wcsEvent{}, streams: map[*WCSStream]struct{}{},
		ready: make(chan wcsEvent, 1), done: make(chan struct{})}
	go cl.read()
	appKey := opts.AppKey
	if appKey == "" {
		appKey = "defaultApp"
	}
	if err := cl.send(ctx, "connection", map[string]any{"appKey": appKey, "mediaProviders": []string{"WebRTC"}, "clientVersion": "lbpilot-lab"}); err != nil {
		_ = c.CloseNow()
		return nil, fmt.Errorf("wcs: connection: %w", err)
	}
	select {
	case ev := <-cl.ready:
		if err := ev.err(); err != nil {
			_ = cl.Close()
			return nil, err
		}
		cl.token, cl.node = ev.AuthToken, ev.NodeName
		return cl, nil
	case <-cl.done:
		return nil, fmt.Errorf("wcs: connection: %w", cl.err)
	case <-ctx.Done():
		_ = c.CloseNow()
		<-cl.done
		return nil, ctx.Err()
	}
}

// Token is the authToken the node gave the session.
func (cl *WCSClient) Token() string { return cl.token }

// Node is the name of the lab node serving the session (getUserData's
// nodeName), "" when the server does not say (a real WCS).
func (cl *WCSClient) Node() string { return cl.node }

// Received is the media bytes the node sent so far; Sent what the
// client's publishers sent.
func (cl *WCSClient) Received() int64 { return cl.recv.Load() }

// Sent is the media bytes the client's publishers sent so far.
func (cl *WCSClient) Sent() int64 { return cl.sent.Load() }

// Done is closed when the connection ends; Err then says why
// (websocket.CloseStatus(Err()) gives the node's close status).
func (cl *WCSClient) Done() <-chan struct{} { return cl.done }

// Err is why the connection ended (nil while it is open).
func (cl *WCSClient) Err() error {
	select {
	case <-cl.done:
		return cl.err
	default:
		return nil
	}
}

// Close stops the client's streams' media and closes the connection
// normally.
func (cl *WCSClient) Close() error {
	cl.mu.Lock()
	for st := range cl.streams {
		st.stopMedia()
	}
	cl.mu.Unlock()
	err := cl.c.Close(websocket.StatusNormalClosure, "")
	<-cl.done
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// read handles what the node sends until the connection ends.
func (cl *WCSClient) read() {
	defer close(cl.done)
	for {
		typ, b, err := cl.c.Read(context.Background())
		if err != nil {
			cl.err = err
			return
		}
		if typ == websocket.MessageBinary {
			cl.recv.Add(int64(len(b)))
			continue
		}
		var m wcsMessage
		if json.Unmarshal(b, &m) != nil {
			continue // a lab node never sends that; ignore as a browser would
		}
		var ev wcsEvent
		if len(m.Data) > 0 {
			_ = json.Unmarshal(m.Data[0], &ev)
		}
		ev.message = m.Message
		switch {
		case m.Message == "ping":
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), wcsWriteTimeout)
				defer cancel()
				_ = cl.send(ctx, "pong", nil)
			}()
		case m.Message == "getUserData", m.Message == "fail" && ev.APIMethod == "ConnectionStatusEvent":
			select {
			case cl.ready <- ev:
			default:
			}
		case m.Message == "notifyStreamStatusEvent", m.Message == "fail":
			id := ev.MediaSessionID
			if id == "" {
				id = ev.ID
			}
			cl.mu.Lock()
			w := cl.waiters[id]
			delete(cl.waiters, id)
			cl.mu.Unlock()
			if w != nil {
				w <- ev
			}
		}
	}
}

func (cl *WCSClient) send(ctx context.Context, message string, data any) error {
	m := struct {
		Message string `json:"message"`
		Data    []any  `json:"data"`
	}{message, []any{data}}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return cl.c.Write(ctx, websocket.MessageText, b)
}

// request sends a stream message and waits for the node's answer about
// that stream.
func (cl *WCSClient) request(ctx context.Context, message string, data map[string]any) (wcsEvent, error) {
	id := data["mediaSessionId"].(string)
	w := make(chan wcsEvent, 1)
	cl.mu.Lock()
	cl.waiters[id] = w
	cl.mu.Unlock()
	defer func() {
		cl.mu.Lock()
		if cl.waiters[id] == w {
			delete(cl.waiters, id)
		}
		cl.mu.Unlock()
	}()
	if err := cl.send(ctx, message, data); err != nil {
		return wcsEvent{}, fmt.Errorf("wcs: %s: %w", message, err)
	}
	select {
	case ev := <-w:
		return ev, ev.err()
	case <-cl.done:
		return wcsEvent{}, fmt.Errorf("wcs: %s: %w (%v)", message, ErrWCSClosed, cl.err)
	case <-ctx.Done():
		return wcsEvent{}, ctx.Err()
	}
}

// WCSStream is a stream the client publishes or plays.
type WCSStream struct {
	cl        *WCSClient
	ID, Name  string
	Published bool

	stopMedia context.CancelFunc
	mediaDone chan struct{}
}

// Publish publishes a stream named name and, when kbps > 0, sends dummy
// media at that bitrate until the stream stops.
func (cl *WCSClient) Publish(ctx context.Context, name string, kbps int) (*WCSStream, error) {
	return cl.open(ctx, "publishStream", "PUBLISHING", name, kbps, nil)
}

// Play plays a stream named name; kbps > 0 asks the node for that media
// bitrate instead of its default.
func (cl *WCSClient) Play(ctx context.Context, name string, kbps int) (*WCSStream, error) {
	extra := map[string]any{}
	if kbps > 0 {
		extra["bitrate"] = kbps
	}
	return cl.open(ctx, "playStream", "PLAYING", name, 0, extra)
}

func (cl *WCSClient) open(ctx context.Context, message, want, name string, kbps int, extra map[string]any) (*WCSStream, error) {
	st := &WCSStream{cl: cl, ID: "lab-" + strconv.FormatInt(cl.seq.Add(1), 10), Name: name,
		Published: message == "publishStream", mediaDone: make(chan struct{})}
	data := map[string]any{"mediaSessionId": st.ID, "name": name, "published": st.Published, "hasAudio": true, "hasVideo": true,
		"status": "PENDING", "mediaProvider": "WebRTC"}
	for k, v := range extra {
		data[k] = v
	}
	ev, err := cl.request(ctx, message, data)
	if err != nil {
		return nil, err
	}
	if ev.Status != want {
		return nil, fmt.Errorf("wcs: %s %s: status %s, want %s", message, name, ev.Status, want)
	}
	mctx, stop := context.WithCancel(context.Background())
	st.stopMedia = stop
	cl.mu.Lock()
	cl.streams[st] = struct{}{}
	cl.mu.Unlock()
	if kbps <= 0 {
		close(st.mediaDone)
		return st, nil
	}
	go func() {
		defer close(st.mediaDone)
		_ = paceMedia(mctx, kbps, func(frame []byte) error {
			wctx, cancel := context.WithTimeout(context.Background(), wcsWriteTimeout)
			defer cancel()
			if err := cl.c.Write(wctx, websocket.MessageBinary, frame); err != nil {
				return err
			}
			cl.sent.Add(int64(len(frame)))
			return nil
		})
	}()
	return st, nil
}

// Stop stops publishing (unPublishStream) or playing (stopStream) and
// waits for the node's answer.
func (st *WCSStream) Stop(ctx context.Context) error {
	st.stopMedia()
	<-st.mediaDone
	st.cl.mu.Lock()
	delete(st.cl.streams, st)
	st.cl.mu.Unlock()
	message, want := "stopStream", "STOPPED"
	if st.Published {
		message, want = "unPublishStream", "UNPUBLISHED"
	}
	ev, err := st.cl.request(ctx, message, map[string]any{"mediaSessionId": st.ID, "name": st.Name, "published": st.Published})
	if err != nil {
		return err
	}
	if ev.Status != want {
		return fmt.Errorf("wcs: %s %s: status %s, want %s", message, st.Name, ev.Status, want)
	}
	return nil
}
