package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// Media clients for the SRS lab nodes (and real SRS): what the traffic
// generator and the tests run.
//
//   - PublishRTMP publishes dummy H.264 and AAC over RTMP (gortmplib's
//     client: FCPublish then publish, so SRS lists it as fmle-publish) at
//     a bitrate until Close.
//   - PlayFLV plays HTTP-FLV, checking the FLV header and every tag's
//     framing, and counts bytes and tags.
//   - PlayHLS polls an HLS live playlist (following SRS's hls_ctx
//     redirect) and fetches each new segment, checking it is 188-byte
//     MPEG-TS packets.
//
// Each runs in its own goroutine from the moment it returns; Close stops
// it and returns the error that stopped it, if any other than Close.

// mediaClient is the lifecycle the three clients share.
type mediaClient struct {
	node   string // set before the client is returned
	bytes  atomic.Int64
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

func (c *mediaClient) init(ctx context.Context) context.Context {
	ctx, c.cancel = context.WithCancel(ctx)
	c.done = make(chan struct{})
	return ctx
}

func (c *mediaClient) finish(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	close(c.done)
}

// Node is the name of the lab node serving the client: lab_node in the
// connect _result's data (RTMP), the X-Lab-Node header (HTTP-FLV, HLS's
// first playlist); "" when the server does not say (a real SRS).
func (c *mediaClient) Node() string { return c.node }

// Bytes is what the client sent (publisher) or received (players).
func (c *mediaClient) Bytes() int64 { return c.bytes.Load() }

// Done is closed when the client stopped (Close, or an error).
func (c *mediaClient) Done() <-chan struct{} { return c.done }

// Err is the error that stopped the client (nil while it runs or after
// a plain Close).
func (c *mediaClient) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close stops the client and waits for it; it returns Err.
func (c *mediaClient) Close() error {
	c.cancel()
	<-c.done
	return c.Err()
}

// RTMPPublisher is a running RTMP publish.
type RTMPPublisher struct {
	mediaClient
	frames atomic.Int64
}

// Frames is the number of video frames sent.
func (p *RTMPPublisher) Frames() int64 { return p.frames.Load() }

// PublishRTMP connects to rawURL (rtmp://host:port/<app>/<stream>) and
// publishes dummy media at bitrate bit/s (a key frame every 2 s, 25
// frames per second, AAC every frame) until Close or ctx ends. It
// returns an error if the server refuses the publish.
func PublishRTMP(ctx context.Context, rawURL string, bitrate int) (*RTMPPublisher, error) {
	return publishRTMP(ctx, rawURL, bitrate, 10*time.Second)
}

// publishRTMP is PublishRTMP with a bound on the connect and publish.
func publishRTMP(ctx context.Context, rawURL string, bitrate int, openTimeout time.Duration) (*RTMPPublisher, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "rtmp" {
		return nil, fmt.Errorf("publish %s: want an rtmp:// URL", rawURL)
	}
	// gortmplib takes the stream name from the fragment: app is the
	// path up to the last slash, as ffmpeg and OBS split it.
	if i := strings.LastIndexByte(u.Path, '/'); i > 0 && u.Fragment == "" {
		u.Path, u.Fragment = u.Path[:i], u.Path[i+1:]
	}
	var scan *nodeScanner
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		scan = &nodeScanner{Conn: c}
		return scan, nil
	}
	c := &gortmplib.Client{URL: u, Publish: true, DialContext: dial}
	ictx, icancel := context.WithTimeout(ctx, openTimeout)
	defer icancel()
	if err := c.Initialize(ictx); err != nil {
		if errors.Is(ictx.Err(), context.DeadlineExceeded) {
			// gortmplib reports the connection it closed, not why.
			return nil, fmt.Errorf("publish %s: %w after %s (%v)", rawURL, context.DeadlineExceeded, openTimeout, err)
		}
		return nil, fmt.Errorf("publish %s: %w", rawURL, err)
	}
	video := &gortmplib.Track{Codec: &codecs.H264{}}
	audio := &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: &mpeg4audio.AudioSpecificConfig{
		Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 44100, ChannelConfig: 2}}}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{video, audio}}
	if err := w.Initialize(); err != nil {
		c.Close()
		return nil, fmt.Errorf("publish %s: %w", rawURL, err)
	}
	p := &RTMPPublisher{}
	if scan != nil {
		p.node = scan.Node()
	}
	ctx = p.init(ctx)
	p.bytes.Store(int64(c.BytesSent()))
	go func() {
		err := p.run(ctx, c, w, video, audio, bitrate)
		c.Close()
		p.finish(err)
	}()
	return p, nil
}

func (p *RTMPPublisher) run(ctx context.Context, c *gortmplib.Client, w *gortmplib.Writer, video, audio *gortmplib.Track, bitrate int) error {
	const fps = 25
	perFrame := max(bitrate/8/fps, 64)
	aac := make([]byte, min(200, perFrame/4))
	nal := make([]byte, max(perFrame-len(aac)-40, 16))
	t := time.NewTicker(time.Second / fps)
	defer t.Stop()
	start := time.Now()
	for n := 0; ; n++ {
		pts := time.Since(start)
		nal[0] = 0x41 // non-IDR slice
		if n%(2*fps) == 0 {
			nal[0] = 0x65 // IDR slice
		}
		_ = c.NetConn().SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := w.WriteH264(video, pts, pts, [][]byte{nal}); err != nil {
			return ignoreCanceled(ctx, err)
		}
		if err := w.WriteMPEG4Audio(audio, pts, aac); err != nil {
			return ignoreCanceled(ctx, err)
		}
		p.frames.Add(1)
		p.bytes.Store(int64(c.BytesSent()))
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func ignoreCanceled(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// StatusError is a player's request answered with a status other than
// 200 (503 when the node refuses at capacity).
type StatusError struct {
	URL    string
	Status int
}

func (e *StatusError) Error() string { return fmt.Sprintf("GET %s: HTTP %d", e.URL, e.Status) }

// FLVPlayer is a running HTTP-FLV play.
type FLVPlayer struct {
	mediaClient
	tags, video, audio atomic.Int64
}

// Tags is the number of FLV tags read (Video and Audio of them media).
func (p *FLVPlayer) Tags() int64 { return p.tags.Load() }

// Video is the number of video tags read.
func (p *FLVPlayer) Video() int64 { return p.video.Load() }

// Audio is the number of audio tags read.
func (p *FLVPlayer) Audio() int64 { return p.audio.Load() }

// PlayFLV requests rawURL (http://host:port/<app>/<stream>.flv), checks
// the answer is 200 with an FLV header, and reads tags until Close, ctx
// ends or the stream breaks (an invalid tag stops it with an error). hc
// nil means http.DefaultClient.
func PlayFLV(ctx context.Context, hc *http.Client, rawURL string) (*FLVPlayer, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	p := &FLVPlayer{}
	ctx = p.init(ctx)
	mc := &p.mediaClient
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		mc.cancel()
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		mc.cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		mc.cancel()
		return nil, &StatusError{URL: rawURL, Status: resp.StatusCode}
	}
	p.node = resp.Header.Get("X-Lab-Node")
	br := bufio.NewReader(&countingReader{r: resp.Body, n: &p.bytes})
	head := make([]byte, 13)
	if _, err := io.ReadFull(br, head); err != nil {
		resp.Body.Close()
		mc.cancel()
		return nil, fmt.Errorf("play %s: FLV header: %w", rawURL, err)
	}
	if !bytes.Equal(head[:3], []byte("FLV")) || head[3] != 1 || binary.BigEndian.Uint32(head[5:9]) != 9 || binary.BigEndian.Uint32(head[9:]) != 0 {
		resp.Body.Close()
		mc.cancel()
		return nil, fmt.Errorf("play %s: not an FLV header: % x", rawURL, head)
	}
	go func() {
		err := p.read(br)
		resp.Body.Close()
		p.finish(ignoreCanceled(ctx, err))
	}()
	return p, nil
}

// read checks each tag's header, type and PreviousTagSize.
func (p *FLVPlayer) read(br *bufio.Reader) error {
	hdr := make([]byte, 11)
	var body []byte
	for {
		if _, err := io.ReadFull(br, hdr); err != nil {
			return err
		}
		size := int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
		switch hdr[0] {
		case 8:
			p.audio.Add(1)
		case 9:
			p.video.Add(1)
		case 18:
		default:
			return fmt.Errorf("FLV tag type %d", hdr[0])
		}
		if cap(body) < size+4 {
			body = make([]byte, size+4)
		}
		body = body[:size+4]
		if _, err := io.ReadFull(br, body); err != nil {
			return err
		}
		if prev := binary.BigEndian.Uint32(body[size:]); prev != uint32(11+size) {
			return fmt.Errorf("FLV PreviousTagSize %d after a tag of %d bytes", prev, 11+size)
		}
		p.tags.Add(1)
	}
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// HLSPlayer is a running HLS play.
type HLSPlayer struct {
	mediaClient
	segments  atomic.Int64
	firstNode string // X-Lab-Node of the first answer, before run starts
	answered  bool
}

// Segments is the number of segments fetched.
func (p *HLSPlayer) Segments() int64 { return p.segments.Load() }

// PlayHLS fetches the playlist at rawURL (http://host:port/<app>/<stream>.m3u8)
// and, until Close or ctx ends, re-fetches it every half target duration
// and fetches the segments it has not fetched yet. The first playlist
// must answer 200 (else a *StatusError); a later failure, a bad playlist
// or a segment that is not 188-byte TS packets stops it with an error.
// hc nil means http.DefaultClient.
func PlayHLS(ctx context.Context, hc *http.Client, rawURL string) (*HLSPlayer, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	p := &HLSPlayer{}
	ctx = p.init(ctx)
	mc := &p.mediaClient
	pl, segs, target, err := p.playlist(ctx, hc, rawURL)
	if err != nil {
		mc.cancel()
		return nil, err
	}
	p.node = p.firstNode
	go func() {
		p.finish(ignoreCanceled(ctx, p.run(ctx, hc, pl, segs, target)))
	}()
	return p, nil
}

func (p *HLSPlayer) run(ctx context.Context, hc *http.Client, pl *url.URL, segs []*url.URL, target time.Duration) error {
	seen := map[string]bool{}
	for {
		for _, s := range segs {
			if seen[s.String()] {
				continue
			}
			seen[s.String()] = true
			if err := p.segment(ctx, hc, s); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(max(target/2, 100*time.Millisecond)):
		}
		var err error
		if pl, segs, target, err = p.playlist(ctx, hc, pl.String()); err != nil {
			return err
		}
	}
}

func (p *HLSPlayer) get(ctx context.Context, hc *http.Client, u string) ([]byte, *url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if !p.answered {
		// Only PlayHLS's own goroutine gets here: the first playlist is
		// fetched before run starts.
		p.answered, p.firstNode = true, resp.Header.Get("X-Lab-Node")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, &StatusError{URL: u, Status: resp.StatusCode}
	}
	b, err := io.ReadAll(io.LimitReader(&countingReader{r: resp.Body, n: &p.bytes}, 64<<20))
	return b, resp.Request.URL, err
}

// playlist fetches and parses a live playlist: the final URL (after
// SRS's hls_ctx redirect), the segment URLs and the target duration.
func (p *HLSPlayer) playlist(ctx context.Context, hc *http.Client, u string) (*url.URL, []*url.URL, time.Duration, error) {
	b, final, err := p.get(ctx, hc, u)
	if err != nil {
		return nil, nil, 0, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "#EXTM3U" {
		return nil, nil, 0, fmt.Errorf("GET %s: not an M3U8 playlist", u)
	}
	target := 2 * time.Second
	var segs []*url.URL
	for _, l := range lines[1:] {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "#EXT-X-TARGETDURATION:"); ok {
			if d, err := time.ParseDuration(v + "s"); err == nil && d > 0 {
				target = d
			}
		}
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		s, err := final.Parse(l)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("GET %s: segment %q: %w", u, l, err)
		}
		segs = append(segs, s)
	}
	return final, segs, target, nil
}

// errNotTS is a segment that is not MPEG-TS packets.
var errNotTS = errors.New("not MPEG-TS (188-byte packets starting 0x47)")

func (p *HLSPlayer) segment(ctx context.Context, hc *http.Client, u *url.URL) error {
	b, _, err := p.get(ctx, hc, u.String())
	if err != nil {
		return err
	}
	if len(b) == 0 || len(b)%tsPacket != 0 {
		return fmt.Errorf("GET %s: %w", u, errNotTS)
	}
	for i := 0; i < len(b); i += tsPacket {
		if b[i] != 0x47 {
			return fmt.Errorf("GET %s: %w", u, errNotTS)
		}
	}
	p.segments.Add(1)
	return nil
}
