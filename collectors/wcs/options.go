// Package wcs collects Flashphoner Web Call Server statistics from its
// `/?action=stat` page (text or JSON form) as wcs_* metrics, and exports
// the parser (Parse, Fetch, Stats) for other packages, such as lbpilot's
// agent, that need the numbers without Prometheus.
package wcs

import (
	"fmt"
	"strings"

	"github.com/lbpilot/lbpilot/internal/upstream"
)

// Request formats of the statistics page.
const (
	FormatJSON = "json"
	FormatText = "text"
)

// DefaultMaxStreams caps the per-stream series of one target.
const DefaultMaxStreams = 100

// Options configure the WCS collector (the `wcs:` block of a module).
type Options struct {
	// Format asks WCS for json (default, `&format=json`) or text. The
	// answer is parsed by its content either way.
	Format string `yaml:"format"`
	// BandwidthUnit is the unit of global_bandwidth_in/out on the page:
	// Mbps (default, as the WCS agent script's thresholds assume), kbps
	// or bps. lbpilot exports bytes per second.
	BandwidthUnit string `yaml:"bandwidth_unit"`
	// StreamMetrics exports per-stream series (viewers from
	// streams_viewers, transcoding outputs). Off by default: one series
	// per stream name.
	StreamMetrics bool `yaml:"stream_metrics"`
	// MaxStreams caps the per-stream series per family (default 100). The
	// streams with the most viewers are kept; wcs_stream_series_dropped
	// says how many were left out.
	MaxStreams int `yaml:"max_streams"`
	// UnknownKeys exports every numeric key lbpilot does not map as
	// wcs_stat_value{key="..."}. Off by default.
	UnknownKeys bool `yaml:"unknown_keys"`
	// InsecureSkipVerify disables TLS verification (https on port 8444).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`

	unit Unit
}

// DefaultOptions returns the options of the built-in wcs module.
func DefaultOptions() *Options {
	o := &Options{}
	if err := o.Validate(); err != nil {
		panic(err)
	}
	return o
}

// Validate fills defaults and checks the options.
func (o *Options) Validate() error {
	switch strings.ToLower(o.Format) {
	case "", FormatJSON:
		o.Format = FormatJSON
	case FormatText:
		o.Format = FormatText
	default:
		return fmt.Errorf("wcs: format %q: want json or text", o.Format)
	}
	switch strings.ToLower(o.BandwidthUnit) {
	case "", "mbps":
		o.unit = Mbps
	case "kbps":
		o.unit = Kbps
	case "bps":
		o.unit = Bps
	default:
		return fmt.Errorf("wcs: bandwidth_unit %q: want Mbps, kbps or bps", o.BandwidthUnit)
	}
	o.BandwidthUnit = string(o.unit)
	if o.MaxStreams < 0 {
		return fmt.Errorf("wcs: max_streams must not be negative")
	}
	if o.MaxStreams == 0 {
		o.MaxStreams = DefaultMaxStreams
	}
	return nil
}

// CheckURL accepts http(s)://host:port[/path] (WCS's REST port, 8081).
func CheckURL(u string) error { return upstream.CheckHTTPURL("wcs", u) }
