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
	// Scopes to export: process (or global, promex's name), frontend,
	// backend, server, listener, sticktable, resolver. Default: all.
	Scopes []string `yaml:"scopes"`
	// IncludeMetrics and ExcludeMetrics are regular expressions matched
	// against whole family names (e.g. "haproxy_server_check_status");
	// a family is exported when it matches an include (or none are given)
	// and no exclude. This is the field selection for large configs.
	IncludeMetrics []string `yaml:"include_metrics"`
	ExcludeMetrics []string `yaml:"exclude_metrics"`
	// ExcludeServerStates drops the per-server families of servers whose
	// status is one of these promex states (maint, drain, nolb, down, up;
	// case-insensitive): e.g. [maint] or [maint, drain] keeps parked
	// server-template slots out of Prometheus. Backend aggregates still
	// count them.
	ExcludeServerStates []string `yaml:"exclude_server_states"`
	// DescLabels adds the global description as a "desc" label to the
	// process families (promex's desc-labels parameter).
	DescLabels bool `yaml:"desc_labels"`
	// ExtraCounters exports the counters HAProxy's stats modules add to
	// show stat (SSL, H1, H2, …; promex's extra-counters parameter).
	ExtraCounters bool `yaml:"extra_counters"`
	// StickTableEntries opts in to a per-key view of some stick tables
	// (haproxy_sticktable_entry): `show table <name>` for each table named,
	// at most MaxEntries entries each. Off by default: a table can hold
	// millions of keys.
	StickTableEntries StickTableEntries `yaml:"sticktable_entries"`
	// ExtraServerFamilies adds lbpilot's own per-server families, beyond
	// promex: haproxy_server_info, haproxy_server_admin_state and the check
	// and agent configuration (haproxy_server_check_rise, …). Off by
	// default: they cost several series per server, and a promex job
	// pointed at lbpilot gets exactly promex's families.
	ExtraServerFamilies bool `yaml:"extra_server_families"`
	// ServersState reads `show servers state` for the admin state
	// (haproxy_server_admin_state, so only with extra_server_families).
	// Socket targets only. Default true; false leaves that family out.
	ServersState *bool `yaml:"servers_state"`
	// ReuseUnchanged keeps each target's compressed server families
	// between scrapes and reuses, unrendered, every part whose fields did
	// not change (see collectors/haproxy/stream.go, closeSegment). Default
	// true; false renders and compresses everything on every scrape.
	ReuseUnchanged *bool `yaml:"reuse_unchanged"`
	// ProcessLabel keeps the processes of a several-socket or master CLI
	// target apart: every series gets a process label ("1", "2", … in
	// target order) instead of the merged view. Socket targets only.
	ProcessLabel bool `yaml:"process_label"`
	// HTTPOptions: http_client_config for stats page targets (basic_auth
	// of `stats auth`, TLS, proxy) and its deprecated aliases; socket
	// targets ignore it, except max_response_bytes, which bounds one
	// answer of the socket (`show stat`) too (default
	// DefaultMaxResponseBytes).
	upstream.HTTPOptions `yaml:",inline"`

	include, exclude []*regexp.Regexp
	excluded         []string // ExcludeServerStates, upper case
	params           *Params  // a request's metrics= filter
	noScopes         bool     // a request's scope= left no scope
}

// StickTableEntries is the opt-in per-key view of stick tables.
type StickTableEntries struct {
	// Tables to read entry by entry (their names as in show table).
	Tables []string `yaml:"tables"`
	// MaxEntries bounds the entries exported per table: the first ones in
	// HAProxy's order (by key). Default 100, at most 10000.
	MaxEntries int `yaml:"max_entries"`
}

// Defaults and bounds of sticktable_entries.max_entries.
const (
	DefaultStickTableEntries = 100
	MaxStickTableEntries     = 10000
)

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
	if len(o.Scopes) == 0 && !o.noScopes {
		o.Scopes = allScopes
	}
	scopes := make([]string, 0, len(o.Scopes))
	for _, s := range o.Scopes {
		switch s {
		case "global":
			s = ScopeProcess
		case ScopeProcess, ScopeFrontend, ScopeBackend, ScopeServer, ScopeListener, ScopeStickTable, ScopeResolver:
		default:
			return fmt.Errorf("haproxy: unknown scope %q (want process, frontend, backend, server, listener, sticktable or resolver)", s)
		}
		scopes = append(scopes, s)
	}
	o.Scopes = scopes
	o.excluded = nil
	for _, s := range o.ExcludeServerStates {
		up := strings.ToUpper(s)
		if stateIndex(up) < 0 {
			return fmt.Errorf("haproxy: exclude_server_states: unknown state %q (want maint, drain, nolb, down or up)", s)
		}
		o.excluded = append(o.excluded, up)
	}
	if err := o.StickTableEntries.validate(); err != nil {
		return err
	}
	if o.ServersState == nil {
		t := true
		o.ServersState = &t
	}
	if o.ReuseUnchanged == nil {
		t := true
		o.ReuseUnchanged = &t
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

// excludes reports whether servers in a promex state (upper case) are left out.
func (o *Options) excludes(state string) bool {
	for _, s := range o.excluded {
		if s == state {
			return true
		}
	}
	return false
}

// wanted applies include_metrics, exclude_metrics and a request's metrics=
// parameter to a family name.
func (o *Options) wanted(name string) bool {
	if !o.params.keep(name) {
		return false
	}
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
	_, err := parseEndpoints(u)
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

func (e *StickTableEntries) validate() error {
	seen := map[string]bool{}
	for _, t := range e.Tables {
		if err := haproxyapi.CheckName("table", t); err != nil {
			return fmt.Errorf("haproxy: sticktable_entries.tables: %w", err)
		}
		if seen[t] {
			return fmt.Errorf("haproxy: sticktable_entries.tables: %q named twice", t)
		}
		seen[t] = true
	}
	switch {
	case e.MaxEntries == 0:
		e.MaxEntries = DefaultStickTableEntries
	case e.MaxEntries < 0 || e.MaxEntries > MaxStickTableEntries:
		return fmt.Errorf("haproxy: sticktable_entries.max_entries %d out of range (1 to %d)", e.MaxEntries, MaxStickTableEntries)
	}
	return nil
}
