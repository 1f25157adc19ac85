package agent

import (
	"fmt"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/lbpilot/lbpilot/internal/emqxapi"
	"github.com/lbpilot/lbpilot/internal/srsapi"
	"github.com/lbpilot/lbpilot/internal/upstream"
	"github.com/lbpilot/lbpilot/internal/wcsapi"
	"github.com/lbpilot/lbpilot/internal/yamlconf"
)

// File is the agent's configuration file: one `agent:` section, whose keys
// are the flags' names without the `agent.` prefix (dashes become
// underscores).
type File struct {
	Agent Config `yaml:"agent"`
}

// Config is the agent's configuration as written: the file's `agent:`
// section, with command-line flags laid over it. Complete fills the
// defaults and checks it; Options compiles it.
type Config struct {
	ListenAddress string `yaml:"listen_address"`
	// HTTPListenAddress serves /health and /metrics; "" turns HTTP off.
	HTTPListenAddress *string `yaml:"http_listen_address"`
	// Allow lists the source networks answered (CIDRs or addresses);
	// empty answers every source.
	Allow  []string `yaml:"allow"`
	Source string   `yaml:"source"`
	Target string   `yaml:"target"`
	Mode   string   `yaml:"mode"`
	// Thresholds by name: a positive number or "off".
	Thresholds map[string]string `yaml:"thresholds"`
	Weight     WeightConfig      `yaml:"weight"`
	MaxConn    int               `yaml:"maxconn"`
	// CacheTTL is how long one upstream reading serves checks (0: no
	// cache; concurrent checks still share a reading).
	CacheTTL        *time.Duration `yaml:"cache_ttl"`
	UpstreamTimeout time.Duration  `yaml:"upstream_timeout"`

	WCS  WCSConfig       `yaml:"wcs"`
	SRS  SRSConfig       `yaml:"srs"`
	EMQX emqxapi.Options `yaml:"emqx"`
}

// WeightConfig shapes the weight curve (weight mode).
type WeightConfig struct {
	// Knee: percent of a threshold up to which the weight stays 100%.
	Knee *float64 `yaml:"knee"`
	// Floor: the weight, in percent, at and above a threshold (1..100).
	Floor *int `yaml:"floor"`
}

// WCSConfig holds what reading WCS needs besides its URL.
type WCSConfig struct {
	// BandwidthUnit is the unit of global_bandwidth_in/out on the page:
	// Mbps (default), kbps or bps. band-in/band-out limits are in Mbit/s.
	BandwidthUnit string `yaml:"bandwidth_unit"`
	// HTTPOptions: http_client_config and its deprecated aliases.
	upstream.HTTPOptions `yaml:",inline"`
}

// SRSConfig holds how to reach SRS http_api: http_client_config (its
// basic_auth for http_api.auth, SRS 5.0.152+, 6.0.40+) and the
// deprecated aliases.
type SRSConfig struct {
	upstream.HTTPOptions `yaml:",inline"`
}

// defaultTargets is the local upstream's address per kind: the ports each
// server listens on out of the box.
var defaultTargets = map[Kind]string{
	WCS:  DefaultWCSTarget,
	SRS:  "http://localhost:1985",
	EMQX: "http://localhost:18083",
}

// LoadFile reads a configuration file strictly.
func LoadFile(path string) (*Config, error) { return yamlconf.LoadFile(path, Parse) }

// Parse decodes one YAML document; an unknown key is an error naming the
// key and its line.
func Parse(b []byte) (*Config, error) {
	var f File
	if err := yamlconf.DecodeStrict(b, &f); err != nil {
		return nil, err
	}
	return &f.Agent, nil
}

// Complete fills the defaults and validates everything that can be
// checked without the network (credential files must exist).
func (c *Config) Complete() error {
	if c.ListenAddress == "" {
		c.ListenAddress = DefaultListenAddress
	}
	if c.HTTPListenAddress == nil {
		a := DefaultHTTPListenAddress
		c.HTTPListenAddress = &a
	}
	if c.Source == "" {
		c.Source = string(WCS)
	}
	k, err := ParseKind(c.Source)
	if err != nil {
		return err
	}
	c.Source = string(k)
	if c.Target == "" {
		c.Target = defaultTargets[k]
	}
	if err := upstream.CheckHTTPURL(string(k), c.Target); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if c.Mode == "" {
		c.Mode = string(ModeWeight)
	}
	m, err := ParseMode(c.Mode)
	if err != nil {
		return err
	}
	c.Mode = string(m)
	if _, err := DefaultThresholds(k).Apply(k, c.Thresholds); err != nil {
		return err
	}
	if c.Weight.Knee == nil {
		v := float64(DefaultKnee)
		c.Weight.Knee = &v
	}
	if c.Weight.Floor == nil {
		v := DefaultFloor
		c.Weight.Floor = &v
	}
	if c.CacheTTL == nil {
		v := DefaultCacheTTL
		c.CacheTTL = &v
	}
	if *c.CacheTTL < 0 {
		return fmt.Errorf("cache_ttl %v must not be negative", *c.CacheTTL)
	}
	if c.UpstreamTimeout == 0 {
		c.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if c.UpstreamTimeout < 0 {
		return fmt.Errorf("upstream_timeout %v must be positive", c.UpstreamTimeout)
	}
	if _, err := ParseAllowlist(c.Allow); err != nil {
		return err
	}
	if err := c.policy(k, m).Validate(); err != nil {
		return err
	}
	return c.completeSource(k)
}

func (c *Config) completeSource(k Kind) error {
	switch k {
	case WCS:
		u, ok := wcsapi.ParseUnit(c.WCS.BandwidthUnit)
		if !ok {
			return fmt.Errorf("wcs: bandwidth_unit %q: want Mbps, kbps or bps", c.WCS.BandwidthUnit)
		}
		c.WCS.BandwidthUnit = string(u)
		if err := c.WCS.Prepare("wcs"); err != nil {
			return err
		}
	case SRS:
		if err := c.SRS.Prepare("srs"); err != nil {
			return err
		}
	case EMQX:
		if err := c.EMQX.Validate(); err != nil {
			return err
		}
		if c.EMQX.Node == "" {
			if c.EMQX.APIVersion == string(emqxapi.V4) || c.EMQX.APIVersion == string(emqxapi.V2) {
				return fmt.Errorf("emqx: node: name the local node (e.g. emqx@10.0.0.11); EMQX 4 and emqttd 2 cannot say which node answers")
			}
			// The agent speaks for its own node, never the cluster.
			c.EMQX.Node = emqxapi.SelfNode
		}
	}
	return nil
}

// HTTP returns the HTTP options of the configured source's block.
func (c *Config) HTTP() *upstream.HTTPOptions {
	switch Kind(c.Source) {
	case WCS:
		return &c.WCS.HTTPOptions
	case SRS:
		return &c.SRS.HTTPOptions
	case EMQX:
		return &c.EMQX.HTTPOptions
	}
	return nil
}

// Deprecation reports the deprecated keys (username, password_file,
// insecure_skip_verify) the source's block used, after Complete.
func (c *Config) Deprecation() (upstream.Deprecation, bool) {
	if h := c.HTTP(); h != nil {
		return h.Deprecated()
	}
	return upstream.Deprecation{}, false
}

// LogDeprecation logs one warning when the source's block uses deprecated
// keys, naming them and the http_client_config replacing them.
func (c *Config) LogDeprecation(logger log.Logger) {
	if d, ok := c.Deprecation(); ok {
		level.Warn(logger).Log("msg", d.Message(), "block", c.Source)
	}
}

func (c *Config) policy(k Kind, m Mode) Policy {
	t, _ := DefaultThresholds(k).Apply(k, c.Thresholds) // checked by Complete
	return Policy{Mode: m, Thresholds: t, Knee: *c.Weight.Knee, Floor: *c.Weight.Floor, MaxConn: c.MaxConn}
}

// Options completes the configuration and compiles it, reading credential
// files (a rotated secret is picked up on restart).
func (c *Config) Options(logger log.Logger) (Options, error) {
	if err := c.Complete(); err != nil {
		return Options{}, err
	}
	k, m := Kind(c.Source), Mode(c.Mode)
	allow, _ := ParseAllowlist(c.Allow) // checked by Complete
	o := Options{
		Kind: k, Target: c.Target, Policy: c.policy(k, m), Allow: allow,
		CacheTTL: *c.CacheTTL, UpstreamTimeout: c.UpstreamTimeout, Logger: logger,
	}
	switch k {
	case WCS:
		auth, err := c.WCS.BasicAuth()
		if err != nil {
			return Options{}, err
		}
		o.Source = &WCSSource{HTTP: c.WCS.Client(), Auth: auth, URL: c.Target, Unit: wcsapi.Unit(c.WCS.BandwidthUnit)}
	case SRS:
		auth, err := c.SRS.BasicAuth()
		if err != nil {
			return Options{}, err
		}
		o.Source = NewSRSSource(srsapi.API{HTTP: c.SRS.Client(), BaseURL: c.Target, Auth: auth})
	case EMQX:
		auth, err := c.EMQX.Credentials()
		if err != nil {
			return Options{}, err
		}
		api := &emqxapi.API{HTTP: c.EMQX.Client(), BaseURL: c.Target, Auth: auth, Node: c.EMQX.Node}
		if c.EMQX.APIVersion != "auto" {
			api.Version = emqxapi.Version(c.EMQX.APIVersion)
		}
		o.Source = &EMQXSource{API: api}
	}
	return o, nil
}
