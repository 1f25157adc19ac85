// Package collectors holds the contract every upstream collector
// (collectors/haproxy, wcs, srs, emqx) implements, the adapter the
// exporter and the tests use around it, and the row type of the metric
// table each collector documents itself with (MetricDoc). Reading an
// upstream is not a collector's job: internal/haproxyapi, wcsapi, srsapi
// and emqxapi do it, and a collector turns their typed stats into metrics.
//
// A Collector scrapes one target of one upstream once per Update. It builds
// its descriptors once, in its constructor (const labels identify the
// target), and sends const metrics from Update. It returns an error when
// the target could not be scraped; it never logs the error itself: the
// exporter logs it once with the target named and sets lbpilot_up to 0.
package collectors

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/internal/expo"
)

// Collector scrapes one upstream target.
type Collector interface {
	// Describe sends every descriptor Update may use (built once).
	Describe(ch chan<- *prometheus.Desc)
	// Update fetches the target once and sends its metrics. Metrics sent
	// before an error are still exposed.
	Update(ctx context.Context, ch chan<- prometheus.Metric) error
}

// Streamer is implemented by collectors whose bulk (HAProxy's per-server
// block: hundreds of thousands of series on large configs) is cheaper to
// write straight into the text exposition format than through const
// metrics. UpdateStream is Update, except that the bulk families are
// returned as a Stream instead of being sent on ch.
type Streamer interface {
	Collector
	UpdateStream(ctx context.Context, ch chan<- prometheus.Metric) (expo.Stream, error)
}

// Target identifies what one Collector scrapes.
type Target struct {
	// Name is the static target's name from the config, "" for /probe.
	Name string
	// URL is the upstream address: "unix:/path", "tcp://host:port" or
	// "http(s)://host:port[/path]", depending on the kind.
	URL string
	// Labels are added to every series the collector emits (for static
	// targets: target=<name> plus the target's extra labels).
	Labels prometheus.Labels
}

// Logger is the subset of go-kit's log.Logger the collectors use.
type Logger interface {
	Log(keyvals ...any) error
}

// ErrNoData marks an Update that found nothing to report, which is not a
// failure (a node with no streams). The exporter logs it at debug level.
var ErrNoData = errors.New("no data")

// Prometheus adapts a Collector to prometheus.Collector, for registries and
// for testutil.CollectAndCompare. Update errors become an invalid metric so
// a test sees them.
func Prometheus(c Collector) prometheus.Collector { return adapter{c} }

type adapter struct{ c Collector }

func (a adapter) Describe(ch chan<- *prometheus.Desc) { a.c.Describe(ch) }

func (a adapter) Collect(ch chan<- prometheus.Metric) {
	if err := a.c.Update(context.Background(), ch); err != nil {
		ch <- prometheus.NewInvalidMetric(prometheus.NewDesc("lbpilot_collector_error", "Update failed.", nil, nil), err)
	}
}
