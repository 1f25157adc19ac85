package rebalancer

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/yamlconf"
)

// Defaults of the settings that also exist as flags.
const (
	DefaultStateFile         = "rebalancer-state.json"
	DefaultReconcileInterval = 10 * time.Second
	DefaultAlertRetention    = 24 * time.Hour
	DefaultStartupGrace      = 2 * time.Minute
	DefaultAMTimeout         = 10 * time.Second
	DefaultNewAlertDelay     = time.Minute
	DefaultMassMinAlerts     = 3
	DefaultMassWindow        = time.Minute
	DefaultMassGrace         = 5 * time.Minute
	DefaultSocketTimeout     = 5 * time.Second
)

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

	rules []*Rule
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
	// Match: label equality; MatchRE: anchored regular expressions. All must hold.
	Match   map[string]string `yaml:"match"`
	MatchRE map[string]string `yaml:"match_re"`
	// Action: drain, maint or "weight N%". Or ActionLabel: take it from a label.
	Action      string       `yaml:"action"`
	ActionLabel string       `yaml:"action_label"`
	Target      TargetConfig `yaml:"target"`
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

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

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
	if err := c.Alertmanager.complete(); err != nil {
		return err
	}
	if err := c.Guard.complete(); err != nil {
		return err
	}
	if err := c.MassResolve.complete(); err != nil {
		return err
	}
	c.rules = c.rules[:0]
	names := map[string]bool{}
	for i, rc := range c.Rules {
		if rc == nil {
			return fmt.Errorf("rules[%d]: empty rule", i)
		}
		r, err := compileRule(rc)
		if err != nil {
			if rc.Name != "" {
				return fmt.Errorf("rule %q: %w", rc.Name, err)
			}
			return fmt.Errorf("rules[%d]: %w", i, err)
		}
		if names[r.Name] || r.Name == DefaultRuleName {
			return fmt.Errorf("rule %q: duplicate name (%q is reserved for the built-in rule)", r.Name, DefaultRuleName)
		}
		names[r.Name] = true
		c.rules = append(c.rules, r)
	}
	if !c.DisableDefaultRule {
		r, err := compileRule(defaultRuleConfig())
		if err != nil {
			return err
		}
		c.rules = append(c.rules, r)
	}
	if len(c.rules) == 0 {
		return fmt.Errorf("no rules: disable_default_rule is set and rules is empty")
	}
	return nil
}

// CompiledRules returns the rules in matching order.
func (c *Config) CompiledRules() []*Rule { return c.rules }

func defaultRuleConfig() *RuleConfig {
	return &RuleConfig{
		Name:        DefaultRuleName,
		MatchRE:     map[string]string{LabelAction: "drain|maint"},
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
	return nil
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
	Name        string
	match       map[string]string
	matchRE     map[string]*regexp.Regexp
	action      Action
	actionLabel string
	target      TargetConfig
	backends    map[string]bool
}

func compileRule(rc *RuleConfig) (*Rule, error) {
	if rc.Name == "" {
		return nil, fmt.Errorf("name is required")
	}
	r := &Rule{Name: rc.Name, match: map[string]string{}, matchRE: map[string]*regexp.Regexp{}}
	for k, v := range rc.Match {
		if !labelNameRE.MatchString(k) {
			return nil, fmt.Errorf("match: invalid label name %q", k)
		}
		r.match[k] = v
	}
	for k, v := range rc.MatchRE {
		if !labelNameRE.MatchString(k) {
			return nil, fmt.Errorf("match_re: invalid label name %q", k)
		}
		re, err := regexp.Compile("^(?:" + v + ")$")
		if err != nil {
			return nil, fmt.Errorf("match_re %s: %w", k, err)
		}
		r.matchRE[k] = re
	}
	if len(r.match)+len(r.matchRE) == 0 {
		return nil, fmt.Errorf("match or match_re is required (a rule matching every alert is almost certainly a mistake)")
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
	case rc.ActionLabel != "":
		if !labelNameRE.MatchString(rc.ActionLabel) {
			return nil, fmt.Errorf("action_label: invalid label name %q", rc.ActionLabel)
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
		for _, l := range []string{t.BackendLabel, t.ServerLabel} {
			if !labelNameRE.MatchString(l) {
				return nil, fmt.Errorf("target: invalid label name %q", l)
			}
		}
	case TargetByAddress:
		if t.BackendLabel != "" || t.ServerLabel != "" {
			return nil, fmt.Errorf("target.backend_label and server_label need target.by: labels")
		}
		if t.AddressLabel == "" {
			t.AddressLabel = LabelAddress
		}
		if !labelNameRE.MatchString(t.AddressLabel) {
			return nil, fmt.Errorf("target: invalid label name %q", t.AddressLabel)
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

// Matches reports whether every matcher of the rule holds for labels.
func (r *Rule) Matches(labels map[string]string) bool {
	for k, v := range r.match {
		if labels[k] != v {
			return false
		}
	}
	for k, re := range r.matchRE {
		if !re.MatchString(labels[k]) {
			return false
		}
	}
	return true
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
	var m []string
	for k, v := range r.match {
		m = append(m, fmt.Sprintf("%s=%q", k, v))
	}
	for k, re := range r.matchRE {
		m = append(m, fmt.Sprintf("%s=~%q", k, strings.TrimSuffix(strings.TrimPrefix(re.String(), "^(?:"), ")$")))
	}
	sort.Strings(m)
	act := r.action.String()
	if r.actionLabel != "" {
		act = "label " + r.actionLabel
	}
	return fmt.Sprintf("%s: {%s} -> %s by %s", r.Name, strings.Join(m, ", "), act, r.target.By)
}

func ptr[T any](v T) *T { return &v }
