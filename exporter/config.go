package exporter

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/lbpilot/lbpilot/collectors/haproxy"
	"github.com/lbpilot/lbpilot/collectors/srs"
	"github.com/lbpilot/lbpilot/collectors/wcs"
	"github.com/lbpilot/lbpilot/internal/emqxapi"
	"github.com/lbpilot/lbpilot/internal/probe/flv"
	"github.com/lbpilot/lbpilot/internal/probe/hls"
	"github.com/lbpilot/lbpilot/internal/probe/mqtt"
	"github.com/lbpilot/lbpilot/internal/probe/rtmp"
	"github.com/lbpilot/lbpilot/internal/probe/wcsws"
	"github.com/lbpilot/lbpilot/internal/upstream"
	"github.com/lbpilot/lbpilot/internal/yamlconf"
)

// DefaultTimeout bounds one target's scrape when neither the module nor
// Prometheus's X-Prometheus-Scrape-Timeout-Seconds header says otherwise.
const DefaultTimeout = 10 * time.Second

// Config is the exporter's YAML configuration file.
type Config struct {
	// Modules by name. The built-in modules haproxy, wcs, srs and emqx
	// exist even when the file does not define them.
	Modules map[string]*Module `yaml:"modules"`
	// Targets are scraped on every /metrics request.
	Targets []*TargetConfig `yaml:"targets"`
}

// Module is a named set of options for one upstream kind. It is what
// /probe?module= selects and what static targets refer to.
type Module struct {
	// Kind is haproxy, wcs, srs or emqx (an upstream's API), or mqtt, rtmp,
	// flv, hls or websocket (an end-to-end probe). It defaults to the module's name
	// when that name is a kind.
	Kind string `yaml:"kind"`
	// Timeout bounds one scrape of one target of this module.
	Timeout time.Duration `yaml:"timeout"`
	// ProbeAllow lists the targets /probe may point this module at (hosts,
	// host:port, CIDRs, URL prefixes); its static targets are implied. Empty
	// allows every target, unless the module sends credentials: then only
	// its static targets.
	ProbeAllow []string `yaml:"probe_allow,omitempty"`

	HAProxy *haproxy.Options `yaml:"haproxy,omitempty"`
	WCS     *wcs.Options     `yaml:"wcs,omitempty"`
	SRS     *srs.Options     `yaml:"srs,omitempty"`
	EMQX    *emqxapi.Options `yaml:"emqx,omitempty"`

	// The end-to-end probes (kinds_probe.go).
	MQTT       *mqtt.Options  `yaml:"mqtt,omitempty"`
	FLV        *flv.Options   `yaml:"flv,omitempty"`
	HLS        *hls.Options   `yaml:"hls,omitempty"`
	RTMP       *rtmp.Options  `yaml:"rtmp,omitempty"`
	WebSocket  *wcsws.Options `yaml:"websocket,omitempty"`
	probeAllow *probeAllow
}

// TargetConfig is one static target.
type TargetConfig struct {
	Name   string            `yaml:"name"`
	Module string            `yaml:"module"`
	URL    string            `yaml:"url"`
	Labels map[string]string `yaml:"labels"`
}

// Labels every target gets from the exporter; extra labels may not reuse them.
var reservedLabels = map[string]bool{"target": true, "module": true, "job": true, "instance": true}

// ErrEmptyFile is the error of a config file holding no YAML at all.
var ErrEmptyFile = errors.New("the file is empty (or only whitespace and comments): that would drop every static target and module setting; write at least \"targets: []\" to mean no targets")

// LoadFile reads and validates a config file. A file with no YAML
// document in it is an error: it is what a reload sees while an editor or
// a deployment tool is half-way through rewriting the file.
func LoadFile(path string, kinds map[string]Kind) (*Config, error) {
	return yamlconf.LoadFile(path, func(b []byte) (*Config, error) {
		var doc yaml.Node
		if len(bytes.TrimSpace(b)) == 0 || yaml.Unmarshal(b, &doc) == nil && len(doc.Content) == 0 {
			return nil, ErrEmptyFile
		}
		return Parse(b, kinds)
	})
}

// Parse decodes YAML strictly (an unknown key is an error naming the key
// and its line), fills defaults and validates.
func Parse(b []byte, kinds map[string]Kind) (*Config, error) {
	c := &Config{}
	if err := yamlconf.DecodeStrict(b, c); err != nil {
		return nil, err
	}
	if err := c.complete(kinds); err != nil {
		return nil, err
	}
	return c, nil
}

// Default returns the configuration used without --config.file: the
// built-in modules and no static targets.
func Default(kinds map[string]Kind) *Config {
	c := &Config{}
	if err := c.complete(kinds); err != nil {
		panic(err) // built-in defaults are tested to be valid
	}
	return c
}

// complete adds the built-in modules, applies defaults and validates.
func (c *Config) complete(kinds map[string]Kind) error {
	if c.Modules == nil {
		c.Modules = map[string]*Module{}
	}
	for name := range kinds {
		if _, ok := c.Modules[name]; !ok {
			c.Modules[name] = &Module{Kind: name}
		}
	}
	for _, name := range sortedNames(c.Modules) {
		m := c.Modules[name]
		if m == nil {
			m = &Module{}
			c.Modules[name] = m
		}
		if m.Kind == "" {
			if _, ok := kinds[name]; ok {
				m.Kind = name
			} else {
				return fmt.Errorf("module %q: kind is required (one of %s)", name, kindList(kinds))
			}
		}
		k, ok := kinds[m.Kind]
		if !ok {
			return fmt.Errorf("module %q: unknown kind %q (want one of %s)", name, m.Kind, kindList(kinds))
		}
		if m.Timeout < 0 {
			return fmt.Errorf("module %q: timeout must not be negative", name)
		}
		if m.Timeout == 0 {
			m.Timeout = DefaultTimeout
		}
		if k.Prepare != nil {
			if err := k.Prepare(m); err != nil {
				return fmt.Errorf("module %q: %w", name, err)
			}
		}
		pa, err := compileProbeAllow(m.ProbeAllow)
		if err != nil {
			return fmt.Errorf("module %q: %w", name, err)
		}
		m.probeAllow = pa
	}
	seen := map[string]bool{}
	for i, t := range c.Targets {
		if t == nil {
			return fmt.Errorf("targets[%d]: empty entry", i)
		}
		if t.Name == "" {
			return fmt.Errorf("targets[%d]: name is required", i)
		}
		if seen[t.Name] {
			return fmt.Errorf("target %q: duplicate name", t.Name)
		}
		seen[t.Name] = true
		if t.Module == "" {
			return fmt.Errorf("target %q: module is required", t.Name)
		}
		m, ok := c.Modules[t.Module]
		if !ok {
			return fmt.Errorf("target %q: unknown module %q", t.Name, t.Module)
		}
		if t.URL == "" {
			return fmt.Errorf("target %q: url is required", t.Name)
		}
		if k := kinds[m.Kind]; k.CheckURL != nil {
			if err := k.CheckURL(t.URL); err != nil {
				return fmt.Errorf("target %q: %w", t.Name, err)
			}
		}
		m.probeAllow.addStatic(m.allowTarget(t.URL))
		for ln := range t.Labels {
			// Prometheus's label name syntax (legacy, strict: no UTF-8
			// names); names starting with __ are reserved for internal use.
			if !model.LegacyValidation.IsValidLabelName(ln) || strings.HasPrefix(ln, "__") {
				return fmt.Errorf("target %q: invalid label name %q", t.Name, ln)
			}
			if reservedLabels[ln] {
				return fmt.Errorf("target %q: label %q is set by lbpilot and cannot be overridden", t.Name, ln)
			}
		}
	}
	return nil
}

// YAML renders the loaded configuration as lbpilot reads it: defaults
// filled in, the built-in modules added, deprecated keys shown as the
// http_client_config they became, and secrets as <secret>.
func (c *Config) YAML() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// HTTP returns the module's HTTP options (http_client_config and its
// deprecated aliases), nil for a kind without them.
func (m *Module) HTTP() *upstream.HTTPOptions {
	switch {
	case m.Kind == "haproxy" && m.HAProxy != nil:
		return &m.HAProxy.HTTPOptions
	case m.Kind == "wcs" && m.WCS != nil:
		return &m.WCS.HTTPOptions
	case m.Kind == "srs" && m.SRS != nil:
		return &m.SRS.HTTPOptions
	case m.Kind == "emqx" && m.EMQX != nil:
		return &m.EMQX.HTTPOptions
	case m.Kind == "flv" && m.FLV != nil:
		return &m.FLV.HTTPOptions
	case m.Kind == "hls" && m.HLS != nil:
		return &m.HLS.HTTPOptions
	case m.Kind == "websocket" && m.WebSocket != nil:
		return &m.WebSocket.HTTPOptions
	}
	return nil
}

// Deprecation is a module's use of deprecated keys.
type Deprecation struct {
	Module string
	upstream.Deprecation
}

// Deprecations lists, by module name, the modules whose blocks use the
// deprecated username, password_file or insecure_skip_verify keys.
func (c *Config) Deprecations() []Deprecation {
	var out []Deprecation
	for _, name := range sortedNames(c.Modules) {
		if h := c.Modules[name].HTTP(); h != nil {
			if d, ok := h.Deprecated(); ok {
				out = append(out, Deprecation{Module: name, Deprecation: d})
			}
		}
	}
	return out
}

// LogDeprecations logs one warning per module that uses deprecated keys,
// naming the keys and the http_client_config replacing them.
func (c *Config) LogDeprecations(logger log.Logger) {
	for _, d := range c.Deprecations() {
		level.Warn(logger).Log("msg", d.Message(), "module", d.Module)
	}
}

func sortedNames(m map[string]*Module) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func kindList(kinds map[string]Kind) string {
	var l []string
	for k := range kinds {
		l = append(l, k)
	}
	sort.Strings(l)
	return strings.Join(l, ", ")
}
