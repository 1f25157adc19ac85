// Package hls is the HLS play probe: it fetches a live playlist (through
// a master playlist's first variant when given one), fetches the newest
// segment, and reads the playlist again until its media sequence
// advances, so that a playlist that is served but no longer moves, or
// lists segments that cannot be fetched, fails the probe.
package hls

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/probe"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// Spec is the HLS probe's metrics.
var Spec = probe.NewSpec("hls",
	[]string{"connect", "tls", "first_byte", "playlist", "segment", "refresh"},
	probe.Value{Name: "http_status_code", Help: "The HTTP status of the (media) playlist request."},
	probe.Value{Name: "media_sequence", Help: "The playlist's EXT-X-MEDIA-SEQUENCE on the last read."},
	probe.Value{Name: "media_sequence_advanced", Help: "Whether the media sequence advanced between the first read and the last (1) or not (0); absent when the probe could not wait a target duration."},
	probe.Value{Name: "target_duration_seconds", Help: "The playlist's EXT-X-TARGETDURATION, in seconds."},
	probe.Value{Name: "playlist_segments", Help: "Segments the media playlist lists."},
	probe.Value{Name: "newest_segment_age_seconds", Help: "Age of the end of the newest segment (from EXT-X-PROGRAM-DATE-TIME, else the segment's Last-Modified), in seconds; absent when neither is given."},
	probe.Value{Name: "segment_bytes", Help: "Size of the newest segment, in bytes."},
)

// Options are an hls module's keys.
type Options struct {
	upstream.HTTPOptions `yaml:",inline"`
	// Freshness (default true) re-reads the playlist until its media
	// sequence advances, for up to 1.5 target durations (within the
	// deadline); a playlist that does not advance fails as "stale".
	Freshness *bool `yaml:"freshness,omitempty"`
	// MaxSegmentBytes bounds the segment read (default 64 MiB).
	MaxSegmentBytes int64 `yaml:"max_segment_bytes,omitempty"`
}

// DefaultOptions are the defaults of a module that sets nothing.
func DefaultOptions() *Options { return &Options{} }

// Validate fills defaults and checks the options.
func (o *Options) Validate() error {
	if o.Freshness == nil {
		t := true
		o.Freshness = &t
	}
	if o.MaxSegmentBytes < 0 {
		return fmt.Errorf("hls: max_segment_bytes must not be negative")
	}
	if o.MaxSegmentBytes == 0 {
		o.MaxSegmentBytes = 64 << 20
	}
	return o.HTTPOptions.PrepareFollowing("hls")
}

// CheckTarget validates a target: http(s)://host[:port]/app/stream.m3u8.
func CheckTarget(t string) error {
	_, err := probe.CheckHTTPTarget("hls", t)
	return err
}

// New returns the probe of one target.
func New(o Options, t string, labels prometheus.Labels) (*probe.Collector, error) {
	if err := CheckTarget(t); err != nil {
		return nil, err
	}
	return probe.NewHTTPCollector(Spec, &o.HTTPOptions, labels, func(ctx context.Context, r *probe.Report, auth upstream.Auth) error {
		p := &prober{o: o, auth: auth, r: r}
		return p.run(ctx, t)
	})
}

type prober struct {
	o    Options
	auth upstream.Auth
	r    *probe.Report
}

// fetch GETs u and returns the body (at most limit bytes), the final URL
// (after redirects) and the response.
func (p *prober) fetch(ctx context.Context, u string, limit int64, record bool, what string) ([]byte, *url.URL, *http.Response, error) {
	resp, err := probe.HTTPGet(ctx, p.r, p.o.Client(), u, p.auth, record)
	if err != nil {
		return nil, nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, resp, probe.Failf(what+"_status", "%s: HTTP %d %s", what, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, resp, probe.Fail(probe.NetReason(err, "protocol"), fmt.Errorf("%s: reading the body: %w", what, err))
	}
	if int64(len(b)) > limit {
		return nil, nil, resp, probe.Failf("protocol", "%s: more than %d bytes", what, limit)
	}
	return b, resp.Request.URL, resp, nil
}

// playlist fetches and parses a media playlist (following a master
// playlist to its first variant).
func (p *prober) playlist(ctx context.Context, u string, record bool) (*Playlist, *url.URL, error) {
	for range 2 {
		b, final, resp, err := p.fetch(ctx, u, MaxPlaylistBytes, record, "playlist")
		if resp != nil {
			p.r.Set("http_status_code", float64(resp.StatusCode))
		}
		if err != nil {
			return nil, nil, err
		}
		record = false
		pl, err := Parse(b)
		if err != nil {
			return nil, nil, probe.Fail("protocol", fmt.Errorf("playlist %s: %w", upstream.RedactURL(final.String()), err))
		}
		if !pl.Master {
			return pl, final, nil
		}
		v, err := final.Parse(pl.Variants[0])
		if err != nil {
			return nil, nil, probe.Fail("protocol", fmt.Errorf("variant URI %q: %w", pl.Variants[0], err))
		}
		u = v.String()
	}
	return nil, nil, probe.Failf("protocol", "a master playlist's variant is a master playlist again")
}

func (p *prober) run(ctx context.Context, target string) error {
	r := p.r
	pl, final, err := p.playlist(ctx, target, true)
	if err != nil {
		return err
	}
	r.Phase("playlist")
	first := pl.MediaSequence
	r.Set("media_sequence", float64(first))
	r.Set("target_duration_seconds", pl.TargetDuration.Seconds())
	r.Set("playlist_segments", float64(len(pl.Segments)))
	if len(pl.Segments) == 0 {
		return probe.Failf("no_segments", "the playlist lists no segment")
	}
	newest := pl.Segments[len(pl.Segments)-1]
	su, err := final.Parse(newest.URI)
	if err != nil {
		return probe.Fail("protocol", fmt.Errorf("segment URI %q: %w", shorten(newest.URI), err))
	}
	seg, _, resp, err := p.fetch(ctx, su.String(), p.o.MaxSegmentBytes, false, "segment")
	if err != nil {
		return err
	}
	r.Phase("segment")
	r.Set("segment_bytes", float64(len(seg)))
	if len(seg) == 0 {
		return probe.Failf("segment_empty", "the newest segment is empty")
	}
	if end := segmentEnd(newest, resp); !end.IsZero() {
		r.Set("newest_segment_age_seconds", time.Since(end).Seconds())
	}
	if !*p.o.Freshness || pl.EndList || pl.TargetDuration <= 0 {
		return nil
	}
	// A live playlist must advance within a target duration; wait up to
	// one and a half, reloading every half (RFC 8216 6.3.4).
	want := pl.TargetDuration * 3 / 2
	wait := probe.Budget(ctx, want)
	if wait < pl.TargetDuration {
		return nil // the deadline leaves too little time to judge
	}
	deadline := time.Now().Add(wait)
	step := pl.TargetDuration / 2
	seq := first
	for seq == first {
		next := min(time.Until(deadline), step)
		if next <= 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(next):
		}
		pl2, _, err := p.playlist(ctx, final.String(), false)
		if err != nil {
			return err
		}
		seq = pl2.MediaSequence
		r.Set("media_sequence", float64(seq))
	}
	r.Phase("refresh")
	if seq == first {
		r.Set("media_sequence_advanced", 0)
		return probe.Failf("stale", "the media sequence stayed at %d for %v (target duration %v)", first, wait.Round(time.Millisecond), pl.TargetDuration)
	}
	if seq < first {
		r.Set("media_sequence_advanced", 0)
		return probe.Failf("stale", "the media sequence went back from %d to %d", first, seq)
	}
	r.Set("media_sequence_advanced", 1)
	return nil
}

// segmentEnd is when the newest segment ended: its program date-time
// plus its duration, else its Last-Modified; zero when neither is known.
func segmentEnd(s Segment, resp *http.Response) time.Time {
	if !s.ProgramDateTime.IsZero() {
		return s.ProgramDateTime.Add(s.Duration)
	}
	if resp != nil {
		if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
			return t
		}
	}
	return time.Time{}
}

// MetricDocs is the probe's metric table (docs/metrics.md).
func MetricDocs() []collectors.MetricDoc { return Spec.MetricDocs() }
