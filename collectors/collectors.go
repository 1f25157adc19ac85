// Package collectors holds the contract every upstream collector
// (collectors/haproxy, wcs, srs, emqx) implements, and the adapters the
// exporter and the tests use around it.
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
	"fmt"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

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

// RedactURL returns u with any password replaced by "xxxxx", for logs and
// error messages.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	return p.Redacted()
}

// HTTPError is an upstream HTTP answer that is not a success. Body is a
// short, single-line excerpt for the log.
type HTTPError struct {
	URL    string
	Status int
	Body   string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("GET %s: HTTP %d", RedactURL(e.URL), e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Excerpt shortens an upstream body for an error message: one line, at most
// n bytes, control characters removed, valid UTF-8.
func Excerpt(b []byte, n int) string { return Shorten(string(b), n) }

// Shorten is Excerpt for a string.
func Shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return ValidUTF8(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s))
}

// ValidUTF8 makes s usable as a label value (Prometheus requires UTF-8).
func ValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// JSONType names the JSON type of a value decoded into any, for error
// messages about payloads of the wrong shape.
func JSONType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	}
	return "number"
}

// SortedKeys returns a decoded JSON object's keys in order, so errors and
// outputs are deterministic.
func SortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
