// Package rtmp is the RTMP probe (gortmplib's client, the library the
// lab's SRS nodes use): it connects, completes the RTMP handshake and the
// connect/createStream/play exchange, waits for the first audio or video
// message and counts what arrives in a short window; or, with publish,
// publishes a short synthetic H.264 + AAC stream instead.
package rtmp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/probe"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// Spec is the RTMP probe's metrics.
var Spec = probe.NewSpec("rtmp",
	[]string{"connect", "tls", "handshake", "rtmp_connect", "first_media", "window"},
	probe.Value{Name: "received_bytes", Help: "Bytes received during the play window."},
	probe.Value{Name: "sent_bytes", Help: "Bytes sent during the publish window."},
	probe.Value{Name: "bitrate_bits_per_second", Help: "Bitrate over the window (received when playing, sent when publishing), in bit/s."},
)

// handshakeBytes is what a server sends in the RTMP handshake: S0, S1, S2.
const handshakeBytes = 1 + 1536 + 1536

// Options are an rtmp module's keys.
type Options struct {
	// Publish publishes a synthetic stream instead of playing.
	Publish bool `yaml:"publish,omitempty"`
	// Window is how long media is read (or written) after the stream
	// starts (default 1s; shortened to fit the deadline).
	Window *time.Duration `yaml:"window,omitempty"`
	// PublishKbps is the synthetic stream's bitrate (default 500).
	PublishKbps int `yaml:"publish_kbps,omitempty"`
	// TLSConfig is used for rtmps:// targets.
	TLSConfig *promconfig.TLSConfig `yaml:"tls_config,omitempty"`
}

// DefaultOptions are the defaults of a module that sets nothing.
func DefaultOptions() *Options { return &Options{} }

// Validate fills defaults and checks the options.
func (o *Options) Validate() error {
	if err := probe.PrepareWindow("rtmp", &o.Window); err != nil {
		return err
	}
	if o.PublishKbps == 0 {
		o.PublishKbps = 500
	}
	if o.PublishKbps < 0 || o.PublishKbps > 50_000 {
		return fmt.Errorf("rtmp: publish_kbps %d out of range (1 to 50000)", o.PublishKbps)
	}
	if err := probe.CheckTLSConfig("rtmp", o.TLSConfig); err != nil {
		return err
	}
	return nil
}

// CheckTarget validates a target: rtmp(s)://host[:port]/<app>/<stream>.
func CheckTarget(t string) error {
	_, err := parseTarget(t)
	return err
}

func parseTarget(t string) (*url.URL, error) {
	u, err := url.Parse(t)
	if err != nil {
		return nil, fmt.Errorf("rtmp target %q: %w", upstream.RedactURL(t), err)
	}
	if u.Scheme != "rtmp" && u.Scheme != "rtmps" {
		return nil, fmt.Errorf("rtmp target %q: scheme %q (want rtmp or rtmps)", upstream.RedactURL(t), u.Scheme)
	}
	if u.Hostname() == "" || u.User != nil {
		return nil, fmt.Errorf("rtmp target %q: want rtmp://host[:port]/<app>/<stream>", upstream.RedactURL(t))
	}
	// gortmplib takes the stream from the fragment, the app from the path
	// (split at the last slash, as ffmpeg and OBS do).
	i := strings.LastIndexByte(u.Path, '/')
	if u.Fragment == "" {
		if i <= 0 || i == len(u.Path)-1 {
			return nil, fmt.Errorf("rtmp target %q: no /<app>/<stream> path", upstream.RedactURL(t))
		}
		u.Path, u.Fragment = u.Path[:i], u.Path[i+1:]
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		port := "1935"
		if u.Scheme == "rtmps" {
			port = "443"
		}
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return u, nil
}

// New returns the probe of one target.
func New(o Options, t string, labels prometheus.Labels) (*probe.Collector, error) {
	u, err := parseTarget(t)
	if err != nil {
		return nil, err
	}
	return probe.NewCollector(Spec, labels, func(ctx context.Context, r *probe.Report) error {
		return run(ctx, r, o, *u)
	}), nil
}

// MetricDocs is the probe's metric table (docs/metrics.md).
func MetricDocs() []collectors.MetricDoc { return Spec.MetricDocs() }

// watchConn notes when the server's handshake has arrived.
type watchConn struct {
	net.Conn
	read   atomic.Int64
	mu     sync.Mutex
	shaken time.Time
}

func (w *watchConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if w.read.Add(int64(n)) >= handshakeBytes && int(w.read.Load())-n < handshakeBytes {
		w.mu.Lock()
		w.shaken = time.Now()
		w.mu.Unlock()
	}
	return n, err
}

func run(ctx context.Context, r *probe.Report, o Options, u url.URL) error {
	var tlsCfg *tls.Config
	if u.Scheme == "rtmps" {
		var err error
		if tlsCfg, err = probe.TLSConfig(o.TLSConfig, u.Hostname()); err != nil {
			return err
		}
	}
	var wc *watchConn
	dial := func(ctx context.Context, _, addr string) (net.Conn, error) {
		c, err := probe.Dial(ctx, r, addr, tlsCfg)
		if err != nil {
			return nil, err
		}
		wc = &watchConn{Conn: c}
		return wc, nil
	}
	c := &gortmplib.Client{URL: &u, Publish: o.Publish, DialContext: dial}
	if tlsCfg != nil {
		c.DialTLSContext = dial // probe.Dial does the TLS handshake, timed
	}
	err := c.Initialize(ctx)
	if wc != nil {
		wc.mu.Lock()
		if shaken := wc.shaken; !shaken.IsZero() {
			r.PhaseTook("handshake", shaken.Sub(r.Mark()))
			r.SetMark(shaken)
		}
		wc.mu.Unlock()
	}
	if err != nil {
		return initFailure(ctx, err, wc)
	}
	defer c.Close()
	stop := probe.DeadlineConn(ctx, c.NetConn())
	defer stop()
	r.Phase("rtmp_connect")
	if o.Publish {
		return publish(ctx, r, o, c)
	}
	return play(ctx, r, o, c)
}

// initFailure names a failed handshake, connect or play/publish.
func initFailure(ctx context.Context, err error, wc *watchConn) error {
	var f *probe.Failure
	switch {
	case errors.As(err, &f):
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("RTMP connect: %w", ctx.Err())
	case wc == nil:
		return probe.Fail(probe.NetReason(err, "connect"), err)
	}
	msg := err.Error()
	switch {
	case wc.read.Load() < handshakeBytes:
		return probe.Fail(probe.NetReason(err, "protocol"), fmt.Errorf("RTMP handshake: %w", err))
	case strings.Contains(msg, "NetStream.") || strings.Contains(msg, "NetConnection.") || strings.Contains(msg, "bad result"):
		// The server answered connect, play or publish with an error
		// status (SRS: a play on an origin, a busy stream, at capacity).
		return probe.Fail("refused", fmt.Errorf("the server refused: %s", probe.OneLine(msg)))
	}
	return probe.Fail(probe.NetReason(err, "protocol"), fmt.Errorf("RTMP connect: %w", err))
}

func play(ctx context.Context, r *probe.Report, o Options, c *gortmplib.Client) error {
	for {
		msg, err := c.Read()
		if err != nil {
			return readFailure(ctx, "before the first media message", err)
		}
		if isMedia(msg) {
			break
		}
	}
	r.Phase("first_media")
	window := probe.Budget(ctx, *o.Window)
	if window <= 0 {
		return nil
	}
	_ = c.NetConn().SetReadDeadline(time.Now().Add(window))
	from := c.BytesReceived()
	t0 := time.Now()
	for {
		if _, err := c.Read(); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || ctx.Err() != nil {
				return readFailure(ctx, "during the window", err)
			}
			break
		}
	}
	el := time.Since(t0)
	r.Phase("window")
	got := c.BytesReceived() - from
	r.Set("received_bytes", float64(got))
	r.Set("bitrate_bits_per_second", float64(got)*8/el.Seconds())
	if got == 0 {
		return probe.Failf("no_media", "no media in the %v window", window)
	}
	return nil
}

func isMedia(m message.Message) bool {
	switch m.(type) {
	case *message.Video, *message.Audio, *message.VideoExFramesX, *message.VideoExCodedFrames:
		return true
	}
	return false
}

func publish(ctx context.Context, r *probe.Report, o Options, c *gortmplib.Client) error {
	video := &gortmplib.Track{Codec: &codecs.H264{}}
	audio := &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: &mpeg4audio.AudioSpecificConfig{
		Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 44100, ChannelConfig: 2}}}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{video, audio}}
	if err := w.Initialize(); err != nil {
		return readFailure(ctx, "announcing the tracks", err)
	}
	window := probe.Budget(ctx, *o.Window)
	const fps = 25
	perFrame := max(o.PublishKbps*1000/8/fps, 64)
	aac := make([]byte, min(200, perFrame/4))
	nal := make([]byte, max(perFrame-len(aac)-40, 16))
	from := c.BytesSent()
	t0 := time.Now()
	tick := time.NewTicker(time.Second / fps)
	defer tick.Stop()
	for n := 0; time.Since(t0) < window; n++ {
		pts := time.Since(t0)
		nal[0] = 0x41
		if n == 0 {
			nal[0] = 0x65 // an IDR first
		}
		if err := w.WriteH264(video, pts, pts, [][]byte{nal}); err != nil {
			return readFailure(ctx, "publishing", err)
		}
		if err := w.WriteMPEG4Audio(audio, pts, aac); err != nil {
			return readFailure(ctx, "publishing", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	el := time.Since(t0)
	r.Phase("window")
	sent := c.BytesSent() - from
	r.Set("sent_bytes", float64(sent))
	if el > 0 {
		r.Set("bitrate_bits_per_second", float64(sent)*8/el.Seconds())
	}
	return nil
}

func readFailure(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	return probe.Fail(probe.NetReason(err, "protocol"), fmt.Errorf("%s: %w", what, err))
}
