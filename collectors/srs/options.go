// Package srs turns SRS (Simple Realtime Server) 3–7 statistics, read by
// internal/srsapi from its http_api, into srs_* metrics, keeping the names
// of SRS's built-in exporter where they conform.
package srs

import (
	"fmt"

	"github.com/lbpilot/lbpilot/internal/srsapi"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// DefaultMaxStreams caps the per-stream series of one target.
const DefaultMaxStreams = 100

// Options configure the SRS collector (the `srs:` block of a module).
type Options struct {
	// PageSize is the count asked per page of the stream and client
	// lists (default 1000, at least 10).
	PageSize int `yaml:"page_size"`
	// Clients reads the client list for the per-type publisher and player
	// counts (default true). Turn it off on nodes with very many clients
	// to save the scrape; srs_clients still comes from the summaries.
	Clients *bool `yaml:"clients"`
	// StreamMetrics exports per-stream series labelled by vhost, app and
	// stream (off by default).
	StreamMetrics bool `yaml:"stream_metrics"`
	// MaxStreams caps the streams exported per scrape (default 100); the
	// streams with most clients are kept and srs_stream_series_dropped
	// counts the rest.
	MaxStreams int `yaml:"max_streams"`
	// HTTPOptions: http_client_config (basic_auth for http_api with
	// `auth { enabled on; }`, SRS 5.0.152+ and 6.0.40+; TLS for an https
	// http_api) and its deprecated aliases.
	upstream.HTTPOptions `yaml:",inline"`
}

// DefaultOptions returns the options of the built-in srs module.
func DefaultOptions() *Options {
	o := &Options{}
	if err := o.Validate(); err != nil {
		panic(err)
	}
	return o
}

// Validate fills defaults and checks the options.
func (o *Options) Validate() error {
	if o.PageSize < 0 {
		return fmt.Errorf("srs: page_size must not be negative")
	}
	if o.PageSize == 0 {
		o.PageSize = srsapi.DefaultPageSize
	}
	if o.PageSize < srsapi.MinPageSize {
		return fmt.Errorf("srs: page_size %d is below SRS's minimum of %d (SRS would answer %d items and paging would stop early)", o.PageSize, srsapi.MinPageSize, srsapi.MinPageSize)
	}
	if o.Clients == nil {
		t := true
		o.Clients = &t
	}
	if o.MaxStreams < 0 {
		return fmt.Errorf("srs: max_streams must not be negative")
	}
	if o.MaxStreams == 0 {
		o.MaxStreams = DefaultMaxStreams
	}
	return o.Prepare("srs")
}

// CheckURL accepts http(s)://host:port (the http_api listen address,
// 1985 by default).
func CheckURL(u string) error { return upstream.CheckHTTPURL("srs", u) }
