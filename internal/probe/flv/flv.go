// Package flv is the HTTP-FLV play probe: it requests a live stream,
// checks the answer is an FLV stream, times the first audio or video
// tag, then counts what arrives in a short window to give the bitrate a
// player sees.
package flv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/probe"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// Spec is the FLV probe's metrics.
var Spec = probe.NewSpec("flv",
	[]string{"connect", "tls", "first_byte", "header", "first_media", "window"},
	probe.Value{Name: "http_status_code", Help: "The HTTP status of the play request."},
	probe.Value{Name: "received_bytes", Help: "Bytes of FLV tags received during the measuring window."},
	probe.Value{Name: "bitrate_bits_per_second", Help: "Bitrate of the stream over the measuring window, in bit/s."},
	probe.Value{Name: "video_tags", Help: "Video tags received, from the start of the stream to the end of the window."},
	probe.Value{Name: "audio_tags", Help: "Audio tags received, from the start of the stream to the end of the window."},
)

// DefaultWindow is how long the probe measures the bitrate.
const DefaultWindow = probe.DefaultWindow

// Options are an flv module's keys.
type Options struct {
	upstream.HTTPOptions `yaml:",inline"`
	// Window is how long the bitrate is measured after the first media
	// tag (default 1s; shortened to fit the scrape's deadline, 0 skips
	// the measurement).
	Window *time.Duration `yaml:"window,omitempty"`
}

// DefaultOptions are the defaults of a module that sets nothing.
func DefaultOptions() *Options { return &Options{} }

// Validate fills defaults and checks the options.
func (o *Options) Validate() error {
	if err := probe.PrepareWindow("flv", &o.Window); err != nil {
		return err
	}
	return o.HTTPOptions.PrepareFollowing("flv")
}

// CheckTarget validates a target: http(s)://host[:port]/app/stream.flv.
func CheckTarget(t string) error {
	_, err := probe.CheckHTTPTarget("flv", t)
	return err
}

// New returns the probe of one target.
func New(o Options, t string, labels prometheus.Labels) (*probe.Collector, error) {
	if err := CheckTarget(t); err != nil {
		return nil, err
	}
	return probe.NewHTTPCollector(Spec, &o.HTTPOptions, labels, func(ctx context.Context, r *probe.Report, auth upstream.Auth) error {
		return run(ctx, r, o, t, auth)
	})
}

func run(ctx context.Context, r *probe.Report, o Options, target string, auth upstream.Auth) error {
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := probe.HTTPGet(reqCtx, r, o.Client(), target, auth, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	r.Set("http_status_code", float64(resp.StatusCode))
	if resp.StatusCode != http.StatusOK {
		return probe.Failf("http_status", "HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	br := bufio.NewReaderSize(resp.Body, 32<<10)
	if _, err := ReadHeader(br); err != nil {
		return probe.Fail(mediaReason(ctx, err), err)
	}
	r.Phase("header")
	var audio, video int
	count := func(t Tag) {
		switch t.Type {
		case TagAudio:
			audio++
		case TagVideo:
			video++
		}
	}
	for audio+video == 0 {
		t, err := NextTag(br)
		if err != nil {
			return probe.Fail(mediaReason(ctx, err), fmt.Errorf("before the first audio or video tag: %w", err))
		}
		count(t)
	}
	r.Phase("first_media")
	defer func() {
		r.Set("video_tags", float64(video))
		r.Set("audio_tags", float64(audio))
	}()
	window := probe.Budget(ctx, *o.Window)
	if window <= 0 {
		return nil
	}
	// The window ends by cancelling the request: the body's Read returns.
	var ended atomic.Bool
	timer := time.AfterFunc(window, func() { ended.Store(true); cancel() })
	defer timer.Stop()
	start := time.Now()
	var bytes int
	for {
		t, err := NextTag(br)
		if err != nil {
			if !ended.Load() {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return probe.Fail(mediaReason(ctx, err), fmt.Errorf("during the window: %w", err))
			}
			break
		}
		bytes += t.Wire()
		count(t)
	}
	elapsed := time.Since(start)
	r.Phase("window")
	r.Set("received_bytes", float64(bytes))
	r.Set("bitrate_bits_per_second", float64(bytes)*8/elapsed.Seconds())
	if bytes == 0 {
		return probe.Failf("no_media", "no FLV tag in the %v window", window)
	}
	return nil
}

// mediaReason classifies an error reading the stream.
func mediaReason(ctx context.Context, err error) string {
	switch {
	case ctx.Err() != nil:
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "stream_ended"
	}
	return probe.NetReason(err, "protocol")
}

// MetricDocs is the probe's metric table (docs/metrics.md).
func MetricDocs() []collectors.MetricDoc { return Spec.MetricDocs() }
