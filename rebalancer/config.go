package rebalancer

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/pkg/labels"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/yamlconf"
)

// Defaults of the settings that also exist as flags.
const (
	DefaultStateFile         = "rebalancer-state.json"
	DefaultReconcileInterval = 10 * time.Second
	DefaultAlertRetention    = 24 * time.Hour
	DefaultMaxAlerts         = 10000
	DefaultStartupGrace      = 2 * time.Minute
	DefaultAMTimeout         = 10 * time.Second
	DefaultNewAlertDelay     = time.Minute
	DefaultMassMinAlerts     = 3
	DefaultMassWindow        = time.Minute
	DefaultMassGrace         = 5 * time.Minute
	DefaultSocketTimeout     = 5 * time.Second
	DefaultProposalTTL       = time.Hour
	DefaultHistoryMaxBytes   = 16 << 20
	DefaultHistoryMaxAge     = 30 * 24 * time.Hour
)

// DefaultMinHeadroom is guard.min_headroom when unset: a server is drained
// only while the servers that would take its sessions still get at least
// half their configured weight. With the agent's default curve that is
// a peer under about 75 % of its thresholds; without agents (weights never
// lowered) it never holds a drain back. The control benchmark motivated
// it: in a two-node backend the first node drained sent every new session
// to the other, already loaded, which then overloaded in its turn.
const DefaultMinHeadroom = 0.5

// DefaultSessionCap is guard.session_cap when unset: a server whose drain
// the guard holds back is capped at the sessions it has. The control
// benchmark motivated it: with the small node killed during a flash
// crowd, the big one was the last server of its backend, the guard rightly
// kept it in rotation, and it took every new session up to 1.06× its
// capacity (docs/rebalancer.md, "Session cap").
const DefaultSessionCap = true

// The labels of the built-in rule.
const (
	LabelAction  = "lbpilot_action"
	LabelBackend = "haproxy_backend"
	LabelServer  = "haproxy_server"
	LabelAddress = "instance"
	// DefaultRuleName names the built-in rule in logs, metrics and state.
	DefaultRuleName = "default"
)

// Config is the rebalancer's YAML configuration file. Every key is
// optional; the zero file is the zero-config default.
type Config struct {
	HAProxy      HAProxyConfig      `yaml:"haproxy"`
	Rebalancer   RebalancerConfig   `yaml:"rebalancer"`
	Alertmanager AlertmanagerConfig `yaml:"alertmanager"`
	Guard        GuardConfig        `yaml:"guard"`
	MassResolve  MassResolveConfig  `yaml:"mass_resolve"`
	// DisableDefaultRule turns off the built-in rule (lbpilot_action,
	// haproxy_backend, haproxy_server labels); only Rules then apply.
	DisableDefaultRule bool `yaml:"disable_default_rule"`
	// Rules are tried in order before the built-in rule; the first match
	// decides an alert's action and targets.
	Rules []*RuleConfig `yaml:"rules"`

	rules        []*Rule
	deprecations []Deprecation
}

// HAProxyConfig lists the runtime sockets every action is applied to.
type HAProxyConfig struct {
	// Sockets: unix:/path, tcp://host:port (admin level). Flag --haproxy.socket.
	Sockets []string `yaml:"sockets"`
	// Timeout bounds one socket call.
	Timeout time.Duration `yaml:"timeout"`
}

// RebalancerConfig holds the loop and persistence settings.
type RebalancerConfig struct {
	StateFile         string        `yaml:"state_file"`         // --rebalancer.state-file
	ReconcileInterval time.Duration `yaml:"reconcile_interval"` // --rebalancer.reconcile-interval
	MinHold           time.Duration `yaml:"min_hold"`           // --rebalancer.min-hold
	DryRun            bool          `yaml:"dry_run"`            // --dry-run
	BearerTokenFile   string        `yaml:"bearer_token_file"`  // --rebalancer.bearer-token-file
	// AlertRetention keeps resolved alerts (tombstones) this long so that
	// late replays of their notifications stay no-ops.
	AlertRetention time.Duration `yaml:"alert_retention"`
	// Approve makes every rule propose its actions instead of applying
	// them (as if each rule had approve: true).
	Approve bool `yaml:"approve"`
	// ProposalTTL is how long a proposal waits for an approval.
	ProposalTTL time.Duration `yaml:"proposal_ttl"`
	// HistoryFile is the audit log (default: next to the state file).
	HistoryFile string `yaml:"history_file"`
	// HistoryMaxBytes rotates the audit log at this size (one rotated
	// file is kept).
	HistoryMaxBytes int64 `yaml:"history_max_bytes"`
	// HistoryMaxAge: older entries are not served, older rotated files removed.
	HistoryMaxAge time.Duration `yaml:"history_max_age"`
	// GracefulMaintTimeout > 0 makes every maint (alert or manual) drain
	// first and switch to maint when the server has no session left, or
	// after this long, whichever comes first. 0: maint at once.
	GracefulMaintTimeout time.Duration `yaml:"graceful_maint_timeout"`
	// MaxAlerts bounds the alerts tracked (firing and tombstones); a new
	// alert past it is refused and counted, so a flood of distinct alerts
	// cannot grow the state file and the process without bound.
	MaxAlerts int `yaml:"max_alerts"`
}

// AlertmanagerConfig enables the reconcile loop's refresh from the
// Alertmanager API v2.
type AlertmanagerConfig struct {
	URL        string                      `yaml:"url"` // --alertmanager.url
	HTTPConfig promconfig.HTTPClientConfig `yaml:"http_config"`
	// Receiver, when set, limits the refresh to alerts routed to receivers
	// matching this regular expression (the API's receiver parameter).
	Receiver string `yaml:"receiver"`
	// Filter adds Alertmanager matchers (e.g. 'lbpilot_action=~"drain|maint"').
	Filter []string `yaml:"filter"`
	// StartupGrace: an alert missing from the list is not taken as resolved
	// until Alertmanager has been up this long (its alerts live in memory and
	// come back only when Prometheus re-sends them).
	StartupGrace time.Duration `yaml:"startup_grace"`
	// NewAlertDelay: an alert the rebalancer has not heard of is taken from
	// the list only once it has been firing this long. Alertmanager holds a
	// new group for group_wait before notifying (and drops it silently if it
	// resolves meanwhile); acting on the list sooner would bypass that.
	NewAlertDelay time.Duration `yaml:"new_alert_delay"`
	Timeout       time.Duration `yaml:"timeout"`
}

// GuardConfig is the capacity floor, globally and per backend.
type GuardConfig struct {
	Limits   `yaml:",inline"`
	Backends map[string]*Limits `yaml:"backends"`
}

// Limits bound how many servers of a backend may be unusable.
type Limits struct {
	// MinReady usable servers must remain (default 1).
	MinReady *int `yaml:"min_ready"`
	// MaxUnavailable is the largest fraction of a backend's servers that may
	// be unusable (DOWN, DRAIN, MAINT or weight 0) after an action (default 1).
	MaxUnavailable *float64 `yaml:"max_unavailable"`
	// MinHeadroom is the smallest share of their configured weight the
	// other usable servers must still get for a server to be drained
	// (default DefaultMinHeadroom; 0 disables).
	MinHeadroom *float64 `yaml:"min_headroom"`
	// SessionCap: while the guard holds a server's drain or maint back,
	// cap the server at the sessions it has (default true; cap.go).
	SessionCap *CapSwitch `yaml:"session_cap"`
}

// CapSwitch is the value of a session_cap key, true or false; a nil
// *CapSwitch is an unset key. It decodes itself so that a wrong value
// names the key (yaml's own error says only "cannot unmarshal … into
// bool", with no key).
type CapSwitch bool

// UnmarshalYAML accepts a YAML boolean only.
func (s *CapSwitch) UnmarshalYAML(n *yaml.Node) error {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		v := n.Value
		if n.Kind != yaml.ScalarNode {
			v = "a " + map[yaml.Kind]string{yaml.SequenceNode: "list", yaml.MappingNode: "map"}[n.Kind]
		} else {
			v = strconv.Quote(v)
		}
		return fmt.Errorf("line %d: session_cap: want true or false, not %s", n.Line, v)
	}
	*s = CapSwitch(b)
	return nil
}

// on reads a session_cap key: def when unset.
func (s *CapSwitch) on(def bool) bool {
	if s == nil {
		return def
	}
	return bool(*s)
}

// MassResolveConfig holds back restores when many alerts resolve at once,
// which is what Alertmanager does by itself when Prometheus stops sending.
type MassResolveConfig struct {
	// MinAlerts resolving within Window make a mass resolve (0 disables).
	MinAlerts *int          `yaml:"min_alerts"`
	Window    time.Duration `yaml:"window"`
	// Grace delays the restores of a mass resolve; an alert that fires again
	// meanwhile keeps its server.
	Grace time.Duration `yaml:"grace"`
}

// RuleConfig maps alerts to an action and to HAProxy servers.
type RuleConfig struct {
	Name string `yaml:"name"`
	// Matchers are Alertmanager matchers ('alertname=~"WCS.*"',
	// 'severity="page"'), parsed the way Alertmanager parses the matchers
	// of its routes. All must hold.
	Matchers []string `yaml:"matchers"`
	// Match (label equality) and MatchRE (anchored regular expressions) are
	// deprecated aliases: each entry becomes the matcher name="value" or
	// name=~"value", ANDed with Matchers. Loading a rule that uses them
	// logs a warning with the equivalent matchers.
	Match   map[string]string `yaml:"match"`
	MatchRE map[string]string `yaml:"match_re"`
	// Action: drain, maint or "weight N%". Or ActionLabel: take it from a label.
	Action      string       `yaml:"action"`
	ActionLabel string       `yaml:"action_label"`
	Target      TargetConfig `yaml:"target"`
	// Approve: the rule's drains, maints and weight changes are proposed
	// and applied only once an operator approves them.
	Approve bool `yaml:"approve"`
	// SessionCap says whether the rule's drains and maints may cap their
	// server when the guard holds them back (cap.go). Unset: the backend's
	// guard.backends.<name>.session_cap, else guard.session_cap. Rules
	// whose alerts are about errors or health rather than load set it to
	// false: a server failing its requests is not helped by being held at
	// its sessions, and a backend's last server would refuse new sessions
	// for a reason that is not load.
	SessionCap *CapSwitch `yaml:"session_cap"`
}

// TargetConfig says how an alert names its servers.
type TargetConfig struct {
	// By is "labels" (default) or "address".
	By string `yaml:"by"`
	// Labels mode: the labels holding the backend and server names.
	BackendLabel string `yaml:"backend_label"`
	ServerLabel  string `yaml:"server_label"`
	// Address mode: the label holding host[:port] (default instance), whose
	// host is compared with srv_addr (and srv_fqdn) of `show servers state`.
	AddressLabel string `yaml:"address_label"`
	// Backends restricts the rule to these backends (both modes).
	Backends []string `yaml:"backends"`
}

// Target modes.
const (
	TargetByLabels  = "labels"
	TargetByAddress = "address"
)

// LoadFile reads and validates a config file.
func LoadFile(path string) (*Config, error) { return yamlconf.LoadFile(path, Parse) }

// Parse decodes YAML strictly (unknown keys are errors), fills defaults
// and validates.
func Parse(b []byte) (*Config, error) {
	c := &Config{}
	if err := yamlconf.DecodeStrict(b, c); err != nil {
		return nil, err
	}
	if err := c.Complete(); err != nil {
		return nil, err
	}
	return c, nil
}

// Default is the configuration without a file: the built-in rule only.
func Default() *Config {
	c := &Config{}
	if err := c.Complete(); err != nil {
		panic(err) // tested
	}
	return c
}

// Complete fills defaults, validates and compiles the rules. Call it again
// after changing fields (the command line does, for flags).
func (c *Config) Complete() error {
	if c.HAProxy.Timeout < 0 {
		return fmt.Errorf("haproxy.timeout must not be negative")
	}
	if c.HAProxy.Timeout == 0 {
		c.HAProxy.Timeout = DefaultSocketTimeout
	}
	seen := map[string]bool{}
	for _, s := range c.HAProxy.Sockets {
		a, err := haproxyapi.ParseAddress(s)
		if err != nil {
			return fmt.Errorf("haproxy.sockets: %w", err)
		}
		if seen[a.String()] {
			return fmt.Errorf("haproxy.sockets: %s listed twice", a)
		}
		seen[a.String()] = true
	}
	rb := &c.Rebalancer
	if rb.StateFile == "" {
		rb.StateFile = DefaultStateFile
	}
	if rb.ReconcileInterval == 0 {
		rb.ReconcileInterval = DefaultReconcileInterval
	}
	if rb.ReconcileInterval < 100*time.Millisecond {
		return fmt.Errorf("rebalancer.reconcile_interval %s: want at least 100ms", rb.ReconcileInterval)
	}
	if rb.MinHold < 0 {
		return fmt.Errorf("rebalancer.min_hold must not be negative")
	}
	if rb.AlertRetention == 0 {
		rb.AlertRetention = DefaultAlertRetention
	}
	if rb.AlertRetention < 0 {
		return fmt.Errorf("rebalancer.alert_retention must not be negative")
	}
	if rb.ProposalTTL == 0 {
		rb.ProposalTTL = DefaultProposalTTL
	}
	if rb.ProposalTTL < 0 {
		return fmt.Errorf("rebalancer.proposal_ttl must not be negative")
	}
	if rb.HistoryMaxBytes == 0 {
		rb.HistoryMaxBytes = DefaultHistoryMaxBytes
	}
	if rb.HistoryMaxBytes < 4096 {
		return fmt.Errorf("rebalancer.history_max_bytes %d: want at least 4096", rb.HistoryMaxBytes)
	}
	if rb.HistoryMaxAge == 0 {
		rb.HistoryMaxAge = DefaultHistoryMaxAge
	}
	if rb.GracefulMaintTimeout < 0 {
		return fmt.Errorf("rebalancer.graceful_maint_timeout must not be negative")
	}
	if rb.HistoryMaxAge < 0 {
		return fmt.Errorf("rebalancer.history_max_age must not be negative")
	}
	if rb.MaxAlerts == 0 {
		rb.MaxAlerts = DefaultMaxAlerts
	}
	if rb.MaxAlerts < 0 {
		return fmt.Errorf("rebalancer.max_alerts must not be negative")
	}
	if err := c.Alertmanager.complete(); err != nil {
		return err
	}
	if err := c.Guard.complete(); err != nil {
		return err
	}
	if err := c.MassResolve.complete(); err != nil {
		return err
	}
	// Compile into fresh slices and keep them only when every rule is
	// valid: a failed Complete leaves the previous rules in place, and a
	// Rebalancer still holding them is not touched.
	var rules []*Rule
	var deprecations []Deprecation
	names := map[string]bool{}
	for i, rc := range c.Rules {
		if rc == nil {
			return fmt.Errorf("rules[%d]: empty rule", i)
		}
		r, err := compileRule(rc)
		if err != nil {
			if rc.Name != "" {
				return fmt.Errorf("rules[%d] %q: %w", i, rc.Name, err)
			}
			return fmt.Errorf("rules[%d]: %w", i, err)
		}
		if names[r.Name] || r.Name == DefaultRuleName {
			return fmt.Errorf("rules[%d] %q: duplicate name (%q is reserved for the built-in rule)", i, r.Name, DefaultRuleName)
		}
		names[r.Name] = true
		rules = append(rules, r)
		if len(rc.Match)+len(rc.MatchRE) > 0 {
			deprecations = append(deprecations, Deprecation{Rule: r.Name, Keys: aliasKeys(rc), Replacement: r.matchersYAML()})
		}
	}
	if !c.DisableDefaultRule {
		r, err := compileRule(defaultRuleConfig())
		if err != nil {
			return err
		}
		rules = append(rules, r)
	}
	if len(rules) == 0 {
		return fmt.Errorf("no rules: disable_default_rule is set and rules is empty")
	}
	c.rules, c.deprecations = rules, deprecations
	return nil
}

// CompiledRules returns the rules in matching order.
func (c *Config) CompiledRules() []*Rule { return c.rules }

// Deprecation is a rule that uses the deprecated match / match_re keys.
type Deprecation struct {
	Rule string // the rule's name
	Keys string // "match", "match_re" or "match and match_re"
	// Replacement is the rule's equivalent matchers key, in YAML, to be
	// written instead of its matchers, match and match_re keys.
	Replacement string
}

// Deprecations lists the rules of the last successful Complete that use
// deprecated keys, in rule order.
func (c *Config) Deprecations() []Deprecation { return c.deprecations }

// LogDeprecations logs one warning per rule that uses match or match_re,
// naming the rule and the matchers to write instead. Call it once per
// loaded configuration.
func (c *Config) LogDeprecations(logger log.Logger) {
	for _, d := range c.deprecations {
		level.Warn(logger).Log("msg", "Rule uses deprecated "+d.Keys+" (still working, same meaning); write matchers instead",
			"rule", d.Rule, "replacement", d.Replacement)
	}
}

func aliasKeys(rc *RuleConfig) string {
	switch {
	case len(rc.Match) > 0 && len(rc.MatchRE) > 0:
		return "match and match_re"
	case len(rc.Match) > 0:
		return "match"
	default:
		return "match_re"
	}
}

func defaultRuleConfig() *RuleConfig {
	return &RuleConfig{
		Name:        DefaultRuleName,
		Matchers:    []string{LabelAction + `=~"drain|maint"`},
		ActionLabel: LabelAction,
		Target:      TargetConfig{By: TargetByLabels},
	}
}

func (a *AlertmanagerConfig) complete() error {
	if a.StartupGrace == 0 {
		a.StartupGrace = DefaultStartupGrace
	}
	if a.Timeout == 0 {
		a.Timeout = DefaultAMTimeout
	}
	if a.NewAlertDelay == 0 {
		a.NewAlertDelay = DefaultNewAlertDelay
	}
	if a.StartupGrace < 0 || a.Timeout < 0 || a.NewAlertDelay < 0 {
		return fmt.Errorf("alertmanager: startup_grace, new_alert_delay and timeout must not be negative")
	}
	if a.URL == "" {
		return nil
	}
	u, err := url.Parse(a.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("alertmanager.url %q: want http(s)://host:port[/prefix]", a.URL)
	}
	if u.User != nil {
		return fmt.Errorf("alertmanager.url: put credentials in alertmanager.http_config, not in the URL")
	}
	if a.Receiver != "" {
		if _, err := regexp.Compile("^(?:" + a.Receiver + ")$"); err != nil {
			return fmt.Errorf("alertmanager.receiver: %w", err)
		}
	}
	if err := a.HTTPConfig.Validate(); err != nil {
		return fmt.Errorf("alertmanager.http_config: %w", err)
	}
	return nil
}

func (g *GuardConfig) complete() error {
	if g.MinReady == nil {
		g.MinReady = ptr(1)
	}
	if g.MaxUnavailable == nil {
		g.MaxUnavailable = ptr(1.0)
	}
	if g.MinHeadroom == nil {
		g.MinHeadroom = ptr(DefaultMinHeadroom)
	}
	if g.SessionCap == nil {
		g.SessionCap = ptr(CapSwitch(DefaultSessionCap))
	}
	if err := g.Limits.check("guard"); err != nil {
		return err
	}
	for name, l := range g.Backends {
		if !haproxyapi.ValidName(name) {
			return fmt.Errorf("guard.backends: %w", haproxyapi.CheckName("backend", name))
		}
		if l == nil {
			return fmt.Errorf("guard.backends.%s: empty entry", name)
		}
		if err := l.check("guard.backends." + name); err != nil {
			return err
		}
	}
	return nil
}

func (l *Limits) check(where string) error {
	if l.MinReady != nil && *l.MinReady < 0 {
		return fmt.Errorf("%s.min_ready must not be negative", where)
	}
	if l.MaxUnavailable != nil && (*l.MaxUnavailable < 0 || *l.MaxUnavailable > 1) {
		return fmt.Errorf("%s.max_unavailable %g: want a fraction 0..1", where, *l.MaxUnavailable)
	}
	if l.MinHeadroom != nil && (*l.MinHeadroom < 0 || *l.MinHeadroom > 1) {
		return fmt.Errorf("%s.min_headroom %g: want a fraction 0..1", where, *l.MinHeadroom)
	}
	return nil
}

// headroomFor returns the effective min_headroom of a backend.
func (g *GuardConfig) headroomFor(backend string) float64 {
	if l := g.Backends[backend]; l != nil && l.MinHeadroom != nil {
		return *l.MinHeadroom
	}
	if g.MinHeadroom == nil {
		return 0
	}
	return *g.MinHeadroom
}

// capAllowed reports whether a want of a rule with session_cap set to
// rule (nil: unset) may cap a server of backend: the rule's own value
// when it has one, else the backend's.
func (g *GuardConfig) capAllowed(rule *CapSwitch, backend string) bool {
	return rule.on(g.sessionCapFor(backend))
}

// sessionCapFor returns the effective session_cap of a backend.
func (g *GuardConfig) sessionCapFor(backend string) bool {
	if l := g.Backends[backend]; l != nil && l.SessionCap != nil {
		return bool(*l.SessionCap)
	}
	return g.SessionCap.on(false)
}

// limitsFor returns the effective limits of a backend.
func (g *GuardConfig) limitsFor(backend string) (minReady int, maxUnavailable float64) {
	minReady, maxUnavailable = *g.MinReady, *g.MaxUnavailable
	if l := g.Backends[backend]; l != nil {
		if l.MinReady != nil {
			minReady = *l.MinReady
		}
		if l.MaxUnavailable != nil {
			maxUnavailable = *l.MaxUnavailable
		}
	}
	return minReady, maxUnavailable
}

func (m *MassResolveConfig) complete() error {
	if m.MinAlerts == nil {
		m.MinAlerts = ptr(DefaultMassMinAlerts)
	}
	if m.Window == 0 {
		m.Window = DefaultMassWindow
	}
	if m.Grace == 0 {
		m.Grace = DefaultMassGrace
	}
	if *m.MinAlerts < 0 || m.Window < 0 || m.Grace < 0 {
		return fmt.Errorf("mass_resolve: values must not be negative")
	}
	if *m.MinAlerts == 1 {
		return fmt.Errorf("mass_resolve.min_alerts 1 would hold every restore; use rebalancer.min_hold for that, or 0 to disable")
	}
	return nil
}

// Rule is a compiled RuleConfig.
type Rule struct {
	Name string
	// matchers: those of the matchers key in order, then those converted
	// from match and match_re (sorted by label name).
	matchers    labels.Matchers
	action      Action
	actionLabel string
	approve     bool
	sessionCap  *CapSwitch // nil: the guard's session_cap of the backend
	target      TargetConfig
	backends    map[string]bool
}

func compileRule(rc *RuleConfig) (*Rule, error) {
	if rc.Name == "" {
		return nil, fmt.Errorf("name is required")
	}
	r := &Rule{Name: rc.Name, approve: rc.Approve, sessionCap: rc.SessionCap}
	ms, err := parseMatchers(rc.Matchers)
	if err != nil {
		return nil, err
	}
	r.matchers = ms
	aliases, err := aliasMatchers(rc.Match, rc.MatchRE)
	if err != nil {
		return nil, err
	}
	r.matchers = append(r.matchers, aliases...)
	if len(r.matchers) == 0 {
		return nil, fmt.Errorf("one of matchers, match or match_re is required (a rule matching every alert is almost certainly a mistake)")
	}
	switch {
	case rc.Action != "" && rc.ActionLabel != "":
		return nil, fmt.Errorf("set either action or action_label, not both")
	case rc.Action != "":
		a, err := ParseAction(rc.Action)
		if err != nil {
			return nil, err
		}
		r.action = a
		if a.Kind == ActionWeight && rc.SessionCap != nil {
			return nil, fmt.Errorf("session_cap: the rule's action is %s; the session cap only comes with a drain or maint the guard holds back", a)
		}
	case rc.ActionLabel != "":
		if err := checkLabelName(rc.ActionLabel); err != nil {
			return nil, fmt.Errorf("action_label: %w", err)
		}
		r.actionLabel = rc.ActionLabel
	default:
		return nil, fmt.Errorf("action or action_label is required")
	}
	t := rc.Target
	switch t.By {
	case "", TargetByLabels:
		t.By = TargetByLabels
		if t.AddressLabel != "" {
			return nil, fmt.Errorf("target.address_label needs target.by: address")
		}
		if t.BackendLabel == "" {
			t.BackendLabel = LabelBackend
		}
		if t.ServerLabel == "" {
			t.ServerLabel = LabelServer
		}
		if err := checkLabelName(t.BackendLabel); err != nil {
			return nil, fmt.Errorf("target.backend_label: %w", err)
		}
		if err := checkLabelName(t.ServerLabel); err != nil {
			return nil, fmt.Errorf("target.server_label: %w", err)
		}
	case TargetByAddress:
		if t.BackendLabel != "" || t.ServerLabel != "" {
			return nil, fmt.Errorf("target.backend_label and server_label need target.by: labels")
		}
		if t.AddressLabel == "" {
			t.AddressLabel = LabelAddress
		}
		if err := checkLabelName(t.AddressLabel); err != nil {
			return nil, fmt.Errorf("target.address_label: %w", err)
		}
	default:
		return nil, fmt.Errorf("target.by %q: want labels or address", t.By)
	}
	if len(t.Backends) > 0 {
		r.backends = map[string]bool{}
		for _, b := range t.Backends {
			if err := haproxyapi.CheckName("backend", b); err != nil {
				return nil, fmt.Errorf("target.backends: %w", err)
			}
			r.backends[b] = true
		}
	}
	r.target = t
	return r, nil
}

// parseMatchers parses the matchers key the way Alertmanager parses the
// matchers of its routes (one or more matchers per entry, ANDed), and
// holds label names to Prometheus's label name syntax.
func parseMatchers(lines []string) (labels.Matchers, error) {
	var out labels.Matchers
	for i, line := range lines {
		if strings.TrimSpace(line) == "" {
			return nil, fmt.Errorf("matchers[%d] is empty", i)
		}
		ms, err := compat.Matchers(line, "config")
		if err != nil {
			return nil, fmt.Errorf("matchers[%d] %s: %w", i, quoteMatcher(line), err)
		}
		if len(ms) == 0 {
			return nil, fmt.Errorf("matchers[%d] %s: no matcher in it", i, quoteMatcher(line))
		}
		for _, m := range ms {
			if err := checkLabelName(m.Name); err != nil {
				return nil, fmt.Errorf("matchers[%d] %s: %w", i, quoteMatcher(line), err)
			}
		}
		out = append(out, ms...)
	}
	return out, nil
}

// quoteMatcher quotes a matcher for an error message the way it is
// usually written in YAML ('name="value"'), or Go-quoted when it holds a
// single quote or a control character.
func quoteMatcher(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return r == '\'' || r < ' ' || r == 0x7f }) {
		return strconv.Quote(s)
	}
	return "'" + s + "'"
}

// aliasMatchers converts the deprecated match and match_re keys into the
// equivalent matchers: name="value" and name=~"value" (anchored, as
// Alertmanager anchors every regular expression matcher).
func aliasMatchers(match, matchRE map[string]string) (labels.Matchers, error) {
	var out labels.Matchers
	for _, alias := range []struct {
		key    string
		values map[string]string
		typ    labels.MatchType
	}{{"match", match, labels.MatchEqual}, {"match_re", matchRE, labels.MatchRegexp}} {
		for _, k := range sortedKeys(alias.values) {
			if err := checkLabelName(k); err != nil {
				return nil, fmt.Errorf("%s: %w", alias.key, err)
			}
			m, err := labels.NewMatcher(alias.typ, k, alias.values[k])
			if err != nil { // only a regular expression can fail
				return nil, fmt.Errorf("%s %s: %w", alias.key, k, err)
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// checkLabelName applies Prometheus's (legacy, strict) label name syntax.
func checkLabelName(name string) error {
	if !model.LegacyValidation.IsValidLabelName(name) {
		return fmt.Errorf("invalid label name %q", name)
	}
	return nil
}

// Matches reports whether every matcher of the rule holds for labels.
func (r *Rule) Matches(lbls map[string]string) bool { return r.matchSet(labelSet(lbls)) }

// matchSet is Matches for labels already converted (once per alert).
func (r *Rule) matchSet(ls model.LabelSet) bool { return r.matchers.Matches(ls) }

func labelSet(lbls map[string]string) model.LabelSet {
	ls := make(model.LabelSet, len(lbls))
	for k, v := range lbls {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}

// matchersYAML renders the rule's matchers as a matchers key in YAML flow
// style, e.g. matchers: ['alertname=~"WCS.*"', 'severity="page"'].
func (r *Rule) matchersYAML() string {
	q := make([]string, len(r.matchers))
	for i, m := range r.matchers {
		q[i] = "'" + strings.ReplaceAll(m.String(), "'", "''") + "'"
	}
	return "matchers: [" + strings.Join(q, ", ") + "]"
}

// ActionFor returns the rule's action for an alert.
func (r *Rule) ActionFor(labels map[string]string) (Action, error) {
	if r.actionLabel == "" {
		return r.action, nil
	}
	v, ok := labels[r.actionLabel]
	if !ok {
		return Action{}, fmt.Errorf("label %s missing", r.actionLabel)
	}
	return ParseAction(v)
}

// allowsBackend applies the rule's backends restriction.
func (r *Rule) allowsBackend(b string) bool { return r.backends == nil || r.backends[b] }

// Describe is a one-line summary for logs.
func (r *Rule) Describe() string {
	m := make([]string, len(r.matchers))
	for i, mt := range r.matchers {
		m[i] = mt.String()
	}
	sort.Strings(m)
	act := r.action.String()
	if r.actionLabel != "" {
		act = "label " + r.actionLabel
	}
	return fmt.Sprintf("%s: {%s} -> %s by %s", r.Name, strings.Join(m, ", "), act, r.target.By)
}

func ptr[T any](v T) *T { return &v }

// HistoryPath is the audit log: history_file, or next to the state file
// (state.json → state.history.jsonl).
func (rb *RebalancerConfig) HistoryPath() string {
	if rb.HistoryFile != "" {
		return rb.HistoryFile
	}
	return strings.TrimSuffix(rb.StateFile, ".json") + ".history.jsonl"
}
