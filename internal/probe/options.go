package probe

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/internal/upstream"
)

// DefaultWindow is how long a media probe (flv, rtmp) reads or writes
// media when its module sets no window.
const DefaultWindow = time.Second

// maxWindow bounds a module's window: a probe runs inside one scrape.
const maxWindow = time.Minute

// PrepareWindow fills a media probe's window key with DefaultWindow when
// it is unset and checks it lies within 0 to 1m.
func PrepareWindow(proto string, w **time.Duration) error {
	if *w == nil {
		d := DefaultWindow
		*w = &d
	}
	if **w < 0 || **w > maxWindow {
		return fmt.Errorf("%s: window %v out of range (0 to 1m)", proto, **w)
	}
	return nil
}

// HTTPFunc runs one probe of an HTTP-based protocol with the module's
// basic_auth credentials.
type HTTPFunc func(ctx context.Context, r *Report, auth upstream.Auth) error

// NewHTTPCollector returns the collector of an HTTP-based probe (flv,
// hls, websocket) whose target the caller has checked. It reads the
// module's basic_auth credentials now, so that a password file that
// cannot be read fails the probe's construction (a reload, a /probe
// request) rather than every run, and a rotated password is used from
// the next one.
func NewHTTPCollector(spec *Spec, o *upstream.HTTPOptions, labels prometheus.Labels, fn HTTPFunc) (*Collector, error) {
	auth, err := o.BasicAuth()
	if err != nil {
		return nil, err
	}
	return NewCollector(spec, labels, func(ctx context.Context, r *Report) error {
		return fn(ctx, r, auth)
	}), nil
}
