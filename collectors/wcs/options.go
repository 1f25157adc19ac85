// Package wcs turns Flashphoner Web Call Server statistics (read by
// internal/wcsapi from its `/?action=stat` page) into wcs_* metrics.
package wcs

import (
	"fmt"
	"strings"

	"github.com/lbpilot/lbpilot/internal/upstream"
	"github.com/lbpilot/lbpilot/internal/wcsapi"
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
	// HTTPOptions: http_client_config (TLS for https on port 8444, auth,
	// proxy) and its deprecated aliases.
	upstream.HTTPOptions `yaml:",inline"`

	unit wcsapi.Unit
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
	case "", wcsapi.FormatJSON:
		o.Format = wcsapi.FormatJSON
	case wcsapi.FormatText:
		o.Format = wcsapi.FormatText
	default:
		return fmt.Errorf("wcs: format %q: want json or text", o.Format)
	}
	u, ok := wcsapi.ParseUnit(o.BandwidthUnit)
	if !ok {
		return fmt.Errorf("wcs: bandwidth_unit %q: want Mbps, kbps or bps", o.BandwidthUnit)
	}
	o.unit = u
	o.BandwidthUnit = string(o.unit)
	if o.MaxStreams < 0 {
		return fmt.Errorf("wcs: max_streams must not be negative")
	}
	if o.MaxStreams == 0 {
		o.MaxStreams = DefaultMaxStreams
	}
	return o.Prepare("wcs")
}

// CheckURL accepts http(s)://host:port[/path] (WCS's REST port, 8081).
func CheckURL(u string) error { return upstream.CheckHTTPURL("wcs", u) }
