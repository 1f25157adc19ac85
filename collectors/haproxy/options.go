// Package haproxy collects HAProxy's statistics — from the runtime socket
// (`show info`, `show stat`, `show servers state`) or from the HTTP stats
// page's CSV — under the metric names of HAProxy's built-in Prometheus
// exporter, so its dashboards work on HAProxy versions without it.
package haproxy

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// Options configure the HAProxy collector (the `haproxy:` block of a module).
type Options struct {
	// Scopes to export: process, frontend, backend, server. Default: all.
	Scopes []string `yaml:"scopes"`
	// IncludeMetrics and ExcludeMetrics are regular expressions matched
	// against whole family names (e.g. "haproxy_server_check_status");
	// a family is exported when it matches an include (or none are given)
	// and no exclude. This is the field selection for large configs.
	IncludeMetrics []string `yaml:"include_metrics"`
	ExcludeMetrics []string `yaml:"exclude_metrics"`
	// ServersState also reads `show servers state` for the admin state
	// (haproxy_server_admin_state). Socket targets only. Default true.
	ServersState *bool `yaml:"servers_state"`
	// HTTPOptions: http_client_config for stats page targets (basic_auth
	// of `stats auth`, TLS, proxy) and its deprecated aliases; socket
	// targets ignore it, except max_response_bytes, which bounds one
	// answer of the socket (`show stat`) too (default
	// DefaultMaxResponseBytes).
	upstream.HTTPOptions `yaml:",inline"`

	include, exclude []*regexp.Regexp
}

// DefaultMaxResponseBytes is sized to the largest HAProxy: `show stat`
// of 10,000 servers is about 15 MB, so four times that leaves room, while
// an endless or hostile upstream is cut off long before it can cost
// hundreds of megabytes.
const DefaultMaxResponseBytes = 64 << 20

// DefaultOptions returns the options of the built-in haproxy module.
func DefaultOptions() *Options {
	o := &Options{}
	if err := o.Validate(); err != nil {
		panic(err)
	}
	return o
}

// Validate fills defaults and checks the options.
func (o *Options) Validate() error {
	if len(o.Scopes) == 0 {
		o.Scopes = []string{ScopeProcess, ScopeFrontend, ScopeBackend, ScopeServer}
	}
	for _, s := range o.Scopes {
		switch s {
		case ScopeProcess, ScopeFrontend, ScopeBackend, ScopeServer:
		default:
			return fmt.Errorf("haproxy: unknown scope %q (want process, frontend, backend or server)", s)
		}
	}
	if o.ServersState == nil {
		t := true
		o.ServersState = &t
	}
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.MaxResponseBytes < 4<<10 {
		return fmt.Errorf("haproxy: max_response_bytes %d: want at least 4096", o.MaxResponseBytes)
	}
	var err error
	if o.include, err = compileAll("include_metrics", o.IncludeMetrics); err != nil {
		return err
	}
	if o.exclude, err = compileAll("exclude_metrics", o.ExcludeMetrics); err != nil {
		return err
	}
	return o.Prepare("haproxy")
}

func compileAll(key string, exprs []string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, e := range exprs {
		re, err := regexp.Compile("^(?:" + e + ")$")
		if err != nil {
			return nil, fmt.Errorf("haproxy: %s: %w", key, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func (o *Options) hasScope(s string) bool {
	for _, x := range o.Scopes {
		if x == s {
			return true
		}
	}
	return false
}

// wanted applies include_metrics and exclude_metrics to a family name.
func (o *Options) wanted(name string) bool {
	if len(o.include) > 0 {
		ok := false
		for _, re := range o.include {
			if re.MatchString(name) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, re := range o.exclude {
		if re.MatchString(name) {
			return false
		}
	}
	return true
}

// CheckURL accepts the runtime socket forms (unix:/path, tcp://host:port,
// ipv4@host:port) and http(s) stats pages.
func CheckURL(u string) error {
	if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
		p, err := url.Parse(u)
		if err != nil {
			return fmt.Errorf("haproxy stats URL %q: %w", u, err)
		}
		if p.Host == "" {
			return fmt.Errorf("haproxy stats URL %q: no host", u)
		}
		return nil
	}
	_, err := haproxyapi.ParseAddress(u)
	return err
}

// csvURL turns a stats page URL into its CSV form: ".../stats" gets
// ";csv" appended; a URL already naming ";csv" is kept.
func csvURL(u string) string {
	if strings.Contains(u, ";csv") {
		return u
	}
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	if p.Path == "" {
		p.Path = "/"
	}
	p.Path = strings.TrimSuffix(p.Path, "/") + ";csv"
	if p.Path == ";csv" {
		p.Path = "/;csv"
	}
	return p.String()
}
