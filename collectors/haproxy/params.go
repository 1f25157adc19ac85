package haproxy

import (
	"fmt"
	"net/url"
	"strings"
)

// Params are the query parameters HAProxy's built-in exporter (promex)
// reads from its /metrics URL, so a Prometheus job written for promex
// works unchanged against /probe and /metrics. ParseParams follows
// promex's parser (addons/promex/service-prometheus.c, HAProxy 3.4):
//
//   - scope (repeatable, applied in order): global, frontend, backend,
//     server, listener, sticktable, resolver or * add scopes; an empty
//     value removes every scope parsed so far; "scope" without "=" and an
//     unknown scope are errors. Without any scope parameter every scope is
//     exported.
//   - metrics (repeatable): comma-separated family names; "-name"
//     excludes a family, a plain name includes it and switches the default
//     from "everything" to "only the names included". When a name is given
//     twice the last mention wins; empty items and a lone "-" are ignored.
//     "metrics" without "=" is an error.
//   - no-maint, desc-labels, extra-counters: flags; their value, if any,
//     is ignored.
//
// Every other parameter (module, target, …) is ignored here; in promex's
// own, a value holding a second "=" or a bad %-escape is an error, as in
// promex.
type Params struct {
	// Set reports that at least one promex parameter was given.
	Set bool
	// Scopes is nil when no scope parameter was given, else the scopes
	// left after applying them in order (possibly none).
	Scopes map[string]bool
	// Metrics maps a family name to true (include) or false (exclude).
	Metrics map[string]bool
	// IncludeByDefault is false once a family was named for inclusion.
	IncludeByDefault bool
	NoMaint          bool
	DescLabels       bool
	ExtraCounters    bool
}

// ParamError is an invalid promex parameter; the exporter answers 400.
type ParamError struct {
	Param, Value, Reason string
}

func (e *ParamError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("invalid parameter %q: %s", e.Param, e.Reason)
	}
	return fmt.Sprintf("invalid parameter %s=%q: %s", e.Param, e.Value, e.Reason)
}

// promexParams are the parameters promex reads.
var promexParams = map[string]bool{"scope": true, "metrics": true, "no-maint": true, "desc-labels": true, "extra-counters": true}

// paramScopes maps promex's scope names to lbpilot's.
var paramScopes = map[string]string{
	"global":     ScopeProcess,
	"frontend":   ScopeFrontend,
	"backend":    ScopeBackend,
	"server":     ScopeServer,
	"listener":   ScopeListener,
	"sticktable": ScopeStickTable,
	"resolver":   ScopeResolver,
}

// ParseParams reads promex's parameters from a raw (still escaped) query
// string. It parses the raw string itself because promex tells "scope"
// (an error) from "scope=" (no scope), which url.Values cannot.
func ParseParams(rawQuery string) (Params, error) {
	p := Params{IncludeByDefault: true}
	for _, pair := range strings.Split(rawQuery, "&") {
		if pair == "" {
			continue
		}
		rawKey, rawValue, hasValue := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil || !promexParams[key] {
			// Not promex's (module, target, …): left to their readers,
			// which may allow what promex refuses (a '=' in a target URL).
			continue
		}
		var value string
		if hasValue {
			if strings.Contains(rawValue, "=") {
				return Params{}, &ParamError{Param: key, Value: rawValue, Reason: "a value may not contain '=' (escape it as %3D)"}
			}
			if value, err = url.QueryUnescape(rawValue); err != nil {
				return Params{}, &ParamError{Param: key, Value: rawValue, Reason: "bad escape in the value"}
			}
		}
		switch key {
		case "scope":
			p.Set = true
			if !hasValue {
				return Params{}, &ParamError{Param: key, Reason: "needs a value (scope= for none, scope=* for all)"}
			}
			if p.Scopes == nil {
				p.Scopes = map[string]bool{}
			}
			switch value {
			case "":
				clear(p.Scopes)
			case "*":
				for _, s := range paramScopes {
					p.Scopes[s] = true
				}
			default:
				s, ok := paramScopes[value]
				if !ok {
					return Params{}, &ParamError{Param: key, Value: value, Reason: "unknown scope (want global, frontend, backend, server, listener, sticktable, resolver, * or empty)"}
				}
				p.Scopes[s] = true
			}
		case "metrics":
			p.Set = true
			if !hasValue {
				return Params{}, &ParamError{Param: key, Reason: "needs a value (metrics=name,-name)"}
			}
			if p.Metrics == nil {
				p.Metrics = map[string]bool{}
			}
			for _, m := range strings.Split(value, ",") {
				include := true
				if name, ok := strings.CutPrefix(m, "-"); ok {
					m, include = name, false
				}
				if m == "" {
					continue
				}
				if include {
					p.IncludeByDefault = false
				}
				p.Metrics[m] = include
			}
		case "no-maint":
			p.Set, p.NoMaint = true, true
		case "desc-labels":
			p.Set, p.DescLabels = true, true
		case "extra-counters":
			p.Set, p.ExtraCounters = true, true
		}
	}
	return p, nil
}

// keep applies the metrics parameter to a family name.
func (p *Params) keep(name string) bool {
	if p == nil || len(p.Metrics) == 0 {
		return true
	}
	if inc, ok := p.Metrics[name]; ok {
		return inc
	}
	return p.IncludeByDefault
}

// WithParams returns the options narrowed by a request's promex
// parameters: the scopes are those of the module that the parameters
// also name; a family is exported when both the module's
// include/exclude_metrics and the metrics parameter keep it; no-maint adds
// MAINT to exclude_server_states; desc-labels and extra-counters turn on
// what the module may already have on.
func (o Options) WithParams(p Params) Options {
	if !p.Set {
		return o
	}
	if p.Scopes != nil {
		var scopes []string
		for _, s := range o.Scopes {
			if p.Scopes[s] {
				scopes = append(scopes, s)
			}
		}
		o.Scopes = scopes
		o.noScopes = len(scopes) == 0
	}
	if len(p.Metrics) > 0 {
		pc := p
		o.params = &pc
	}
	if p.NoMaint && !o.excludes("MAINT") {
		o.ExcludeServerStates = append(append([]string(nil), o.ExcludeServerStates...), "maint")
		o.excluded = append(append([]string(nil), o.excluded...), "MAINT")
	}
	o.DescLabels = o.DescLabels || p.DescLabels
	o.ExtraCounters = o.ExtraCounters || p.ExtraCounters
	return o
}
