// Package wcsws is the WebSocket probe of Flashphoner WCS: it upgrades to
// WebSocket, sends WCS's "connection" message and times the node's
// answer (getUserData), and optionally plays a stream until the first
// media arrives. It speaks the subset of WCS's signalling the Web SDK
// uses to open a session; media itself goes over WebRTC in WCS, so the
// play step is meaningful where the node sends media on the socket (the
// lab) and is off by default.
package wcsws

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/probe"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// Spec is the WebSocket probe's metrics.
var Spec = probe.NewSpec("websocket",
	[]string{"connect", "tls", "upgrade", "wcs_connect", "play", "first_media"},
	probe.Value{Name: "http_status_code", Help: "The HTTP status of the upgrade request (101 when it upgraded)."},
)

// maxMessage bounds one message read from the node.
const maxMessage = 1 << 20

// Options are a websocket module's keys.
type Options struct {
	upstream.HTTPOptions `yaml:",inline"`
	// AppKey is sent in the connection message (default "defaultApp").
	AppKey string `yaml:"app_key,omitempty"`
	// PlayStream, when set, is played after the session opens: the probe
	// waits for PLAYING and the first binary media message.
	PlayStream string `yaml:"play_stream,omitempty"`
}

// DefaultOptions are the defaults of a module that sets nothing.
func DefaultOptions() *Options { return &Options{} }

// Validate fills defaults and checks the options. WebSocket upgrades
// need HTTP/1.1, so enable_http2 is always off.
func (o *Options) Validate() error {
	if o.AppKey == "" {
		o.AppKey = "defaultApp"
	}
	if len(o.AppKey) > 256 || len(o.PlayStream) > 256 {
		return errors.New("websocket: app_key and play_stream are at most 256 bytes")
	}
	if o.HTTPClientConfig == nil {
		o.HTTPClientConfig = &upstream.ClientConfig{Config: promconfig.DefaultHTTPClientConfig}
	}
	o.HTTPClientConfig.Config.EnableHTTP2 = false
	return o.HTTPOptions.PrepareFollowing("websocket")
}

// CheckTarget validates a target: ws://host:port/ or wss://host:port/
// (http and https are taken as ws and wss).
func CheckTarget(t string) error {
	_, err := parseTarget(t)
	return err
}

func parseTarget(t string) (string, error) {
	u, err := url.Parse(t)
	if err != nil {
		return "", fmt.Errorf("websocket target %q: %w", upstream.RedactURL(t), err)
	}
	switch u.Scheme {
	case "ws", "http":
		u.Scheme = "http"
	case "wss", "https":
		u.Scheme = "https"
	default:
		return "", fmt.Errorf("websocket target %q: scheme %q (want ws or wss)", upstream.RedactURL(t), u.Scheme)
	}
	if _, err := probe.CheckHTTPTarget("websocket", u.String()); err != nil {
		return "", err
	}
	return u.String(), nil
}

// New returns the probe of one target.
func New(o Options, t string, labels prometheus.Labels) (*probe.Collector, error) {
	u, err := parseTarget(t)
	if err != nil {
		return nil, err
	}
	return probe.NewHTTPCollector(Spec, &o.HTTPOptions, labels, func(ctx context.Context, r *probe.Report, auth upstream.Auth) error {
		return run(ctx, r, o, u, auth)
	})
}

type message struct {
	Message string            `json:"message"`
	Data    []json.RawMessage `json:"data"`
}

type event struct {
	APIMethod      string `json:"apiMethod"`
	Info           string `json:"info"`
	Status         string `json:"status"`
	MediaSessionID string `json:"mediaSessionId"`
	ID             string `json:"id"`
}

func run(ctx context.Context, r *probe.Report, o Options, u string, auth upstream.Auth) error {
	h := http.Header{}
	h.Set("User-Agent", "lbpilot-probe")
	if auth.Username != "" {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.SetBasicAuth(auth.Username, auth.Password)
		h.Set("Authorization", req.Header.Get("Authorization"))
	}
	traced, phases := probe.Trace(ctx, r)
	c, resp, err := websocket.Dial(traced, u, &websocket.DialOptions{HTTPClient: o.Client(), HTTPHeader: h})
	phases()
	if resp != nil {
		r.Set("http_status_code", float64(resp.StatusCode))
	}
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return probe.Failf("http_status", "upgrade answered HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		}
		if ctx.Err() != nil {
			return fmt.Errorf("upgrade: %w", ctx.Err())
		}
		return probe.Fail(probe.NetReason(err, "protocol"), fmt.Errorf("upgrade: %w", err))
	}
	r.Phase("upgrade")
	defer c.CloseNow()
	c.SetReadLimit(maxMessage)
	send := func(msg string, data any) error {
		b, _ := json.Marshal(struct {
			Message string `json:"message"`
			Data    []any  `json:"data"`
		}{msg, []any{data}})
		return c.Write(ctx, websocket.MessageText, b)
	}
	if err := send("connection", map[string]any{"appKey": o.AppKey, "mediaProviders": []string{"WebRTC"}, "clientVersion": "lbpilot-probe"}); err != nil {
		return readFailure(ctx, "sending connection", err)
	}
	// read returns the next text message, answering pings on the way;
	// binary messages are counted by the caller through gotBinary.
	gotBinary := false
	read := func() (message, event, error) {
		for {
			typ, b, err := c.Read(ctx)
			if err != nil {
				return message{}, event{}, err
			}
			if typ == websocket.MessageBinary {
				gotBinary = true
				return message{Message: "<binary>"}, event{}, nil
			}
			var m message
			if err := json.Unmarshal(b, &m); err != nil || m.Message == "" {
				return message{}, event{}, probe.Failf("protocol", "the node sent %q, not a WCS message", upstream.Excerpt(b, 40))
			}
			var ev event
			if len(m.Data) > 0 {
				_ = json.Unmarshal(m.Data[0], &ev)
			}
			if m.Message == "ping" {
				_ = send("pong", nil)
				continue
			}
			return m, ev, nil
		}
	}
	for {
		m, ev, err := read()
		if err != nil {
			return readFailure(ctx, "waiting for getUserData", err)
		}
		if m.Message == "getUserData" {
			break
		}
		if m.Message == "fail" && ev.APIMethod == "ConnectionStatusEvent" {
			return probe.Failf("refused", "the node refused the session: %s", probe.OneLine(ev.Info))
		}
	}
	r.Phase("wcs_connect")
	if o.PlayStream == "" {
		_ = c.Close(websocket.StatusNormalClosure, "")
		return nil
	}
	id := randomID()
	if err := send("playStream", map[string]any{"mediaSessionId": id, "name": o.PlayStream}); err != nil {
		return readFailure(ctx, "sending playStream", err)
	}
	playing := false
	for !gotBinary {
		m, ev, err := read()
		if err != nil {
			return readFailure(ctx, "waiting for media", err)
		}
		switch {
		case m.Message == "fail" && (ev.ID == id || ev.MediaSessionID == id):
			return probe.Failf("play_failed", "the node refused to play %q: %s", o.PlayStream, probe.OneLine(ev.Info))
		case m.Message == "notifyStreamStatusEvent" && ev.MediaSessionID == id:
			switch ev.Status {
			case "PLAYING":
				if !playing {
					r.Phase("play")
					playing = true
				}
			case "FAILED", "STOPPED":
				return probe.Failf("play_failed", "stream %q is %s: %s", o.PlayStream, ev.Status, probe.OneLine(ev.Info))
			}
		}
	}
	r.Phase("first_media")
	_ = c.Close(websocket.StatusNormalClosure, "")
	return nil
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "probe-" + hex.EncodeToString(b)
}

// readFailure names a failure while talking to the node.
func readFailure(ctx context.Context, what string, err error) error {
	var f *probe.Failure
	switch {
	case errors.As(err, &f):
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	if st := websocket.CloseStatus(err); st != -1 {
		reason := "closed"
		if st == websocket.StatusTryAgainLater {
			reason = "refused"
		}
		return probe.Fail(reason, fmt.Errorf("%s: the node closed the WebSocket (%d)", what, st))
	}
	return probe.Fail(probe.NetReason(err, "protocol"), fmt.Errorf("%s: %s", what, strings.TrimSpace(err.Error())))
}

// MetricDocs is the probe's metric table (docs/metrics.md).
func MetricDocs() []collectors.MetricDoc { return Spec.MetricDocs() }
