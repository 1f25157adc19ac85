package demo

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

//go:embed templates/*.tmpl
var templates embed.FS

// RuleDivisor divides every `for` and `keep_firing_for` of the shipped
// rules in the demo's copy: 1m → 1s, 2m → 2s, 5m → 5s.
const RuleDivisor = 60

// minRuleDuration is the shortest scaled `for` / keep_firing_for: one
// evaluation interval of the demo's Prometheus.
const minRuleDuration = time.Second

// minRangeDuration is the shortest scaled range window of a rule's
// expression (rate(x[5m]) → rate(x[5s])): five of the demo's 1 s scrapes,
// so that rate and increase always have two samples or more.
const minRangeDuration = 5 * time.Second

// Timers of the rebalancer's route in the demo's Alertmanager (the shipped
// alerts/alertmanager.yml: 5s, 10s).
const (
	demoGroupWait     = "1s"
	demoGroupInterval = "2s"
)

// The rebalancer's basic-auth users: Alertmanager sends the webhook as
// the first (alerts/alertmanager.yml's username), Prometheus scrapes as
// the second; both use the password in rebalancer.password.
const (
	WebhookUser = "alertmanager"
	ScrapeUser  = "prometheus"
)

// Files are the paths of a rendered demo configuration.
type Files struct {
	Dir              string
	HAProxy          string // haproxy.cfg
	Exporter         string // lbpilot.yml
	Rebalancer       string // rebalancer.yml
	RebalancerWeb    string // rebalancer-web.yml (basic auth)
	Password         string // rebalancer.password
	EMQXKey          string // emqx-api-key (key:secret, EMQX's bootstrap file format)
	MQTTProbe        string // mqtt-probe.password: the same secret alone, the MQTT probe's password
	Agents           [2]string
	Prometheus       string // prometheus.yml
	Rules            string // rules/ (the shipped rules, scaled)
	Alertmanager     string // alertmanager.yml (the shipped file, demo timers and addresses)
	StateFile        string // the rebalancer's state file
	HAProxySocket    string // admin socket path
	HAProxyMaster    string // master CLI socket path
	LabAddresses     string // the lab's addresses file
	PrometheusData   string
	AlertmanagerData string
	Logs             string
}

// NewFiles names the files of a demo stack in dir.
func NewFiles(dir string) Files {
	p := func(name string) string { return filepath.Join(dir, name) }
	return Files{
		Dir: dir, HAProxy: p("haproxy.cfg"), Exporter: p("lbpilot.yml"), Rebalancer: p("rebalancer.yml"),
		RebalancerWeb: p("rebalancer-web.yml"), Password: p("rebalancer.password"), EMQXKey: p("emqx-api-key"),
		MQTTProbe:  p("mqtt-probe.password"),
		Agents:     [2]string{p("agent-wcs1.yml"), p("agent-wcs2.yml")},
		Prometheus: p("prometheus.yml"), Rules: p("rules"), Alertmanager: p("alertmanager.yml"),
		StateFile: p("rebalancer-state.json"), HAProxySocket: p("haproxy.sock"), HAProxyMaster: p("haproxy-master.sock"),
		LabAddresses: p("lab.json"), PrometheusData: p("prometheus-data"), AlertmanagerData: p("alertmanager-data"),
		Logs: p("logs"),
	}
}

// agentData is one agent's part of the template data.
type agentData struct {
	Name                  string
	Check, HTTP, Upstream int
	Subscribers           int // threshold; 0 keeps the agent's default
}

// tmplData is what the templates see.
type tmplData struct {
	Dir         string
	Ports       Ports
	Lab         map[string]int // lab servers' API ports, "-" as "_" (srs_origin1)
	Client      map[string]int // lab client ports, "-" as "_" (srs_edge1, emqx1_node2)
	Agent       agentData
	RuleDivisor int
	Control     Control
}

// Render writes the demo's configuration into f.Dir: the templates of
// demo/templates, the rules of repo/alerts with scaled durations, the
// Alertmanager configuration of repo/alerts with the demo's timers and
// addresses, and fresh credentials (a random rebalancer password with its
// bcrypt hashes, an EMQX API key). Runtime data of an earlier run
// (Prometheus's and Alertmanager's storage, the rebalancer's state file)
// is removed, so every run starts from the same state.
func Render(f Files, repo string, ports Ports, c Control) error {
	if err := c.validate(); err != nil {
		return err
	}
	for _, old := range []string{f.PrometheusData, f.AlertmanagerData, f.StateFile, f.Rules, f.LabAddresses} {
		if err := os.RemoveAll(old); err != nil {
			return err
		}
	}
	for _, d := range []string{f.Dir, f.Rules, f.Logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	data := tmplData{Dir: f.Dir, Ports: ports, Lab: map[string]int{}, Client: map[string]int{}, RuleDivisor: RuleDivisor, Control: c}
	for _, n := range labNames {
		data.Lab[strings.ReplaceAll(n, "-", "_")] = ports.LabPort(n)
	}
	for _, c := range labClients {
		data.Client[strings.ReplaceAll(c.name, "-", "_")] = ports.ClientPort(c.name)
	}
	write := func(path string, b []byte, mode os.FileMode) error {
		return os.WriteFile(path, b, mode)
	}
	for tmpl, path := range map[string]string{
		"haproxy.cfg.tmpl": f.HAProxy, "lbpilot.yml.tmpl": f.Exporter, "rebalancer.yml.tmpl": f.Rebalancer,
		"prometheus.yml.tmpl": f.Prometheus,
	} {
		b, err := execTemplate(tmpl, data)
		if err != nil {
			return err
		}
		if err := write(path, b, 0o644); err != nil {
			return err
		}
	}
	for i, name := range []string{"wcs1", "wcs2"} {
		data.Agent = agentData{Name: name, Check: ports.AgentCheck[i], HTTP: ports.AgentHTTP[i], Upstream: ports.LabPort(name), Subscribers: c.Subscribers[i]}
		b, err := execTemplate("agent.yml.tmpl", data)
		if err != nil {
			return err
		}
		if err := write(f.Agents[i], b, 0o644); err != nil {
			return err
		}
	}

	password, err := randomHex(16)
	if err != nil {
		return err
	}
	if err := write(f.Password, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	web, err := webConfig(password, WebhookUser, ScrapeUser)
	if err != nil {
		return err
	}
	if err := write(f.RebalancerWeb, web, 0o600); err != nil {
		return err
	}
	secret, err := randomHex(16)
	if err != nil {
		return err
	}
	if err := write(f.EMQXKey, []byte("lbpilot-demo:"+secret+"\n"), 0o600); err != nil {
		return err
	}
	if err := write(f.MQTTProbe, []byte(secret+"\n"), 0o600); err != nil {
		return err
	}

	rules, err := filepath.Glob(filepath.Join(repo, "alerts", "*.rules.yml"))
	if err != nil {
		return err
	}
	if len(rules) == 0 {
		return fmt.Errorf("no alerts/*.rules.yml under %s: run the demo from the repository", repo)
	}
	for _, r := range rules {
		src, err := os.ReadFile(r)
		if err != nil {
			return err
		}
		out, err := ScaleRules(src, RuleDivisor, minRuleDuration, minRangeDuration)
		if err != nil {
			return fmt.Errorf("%s: %w", r, err)
		}
		header := fmt.Sprintf("# Generated by the lbpilot demo from alerts/%s: every `for` and\n# keep_firing_for divided by %d (at least %s), every range window of an\n# expression too (at least %s). Edit the original, not this copy.\n", filepath.Base(r), RuleDivisor, minRuleDuration, minRangeDuration)
		if err := write(filepath.Join(f.Rules, filepath.Base(r)), append([]byte(header), out...), 0o644); err != nil {
			return err
		}
	}

	am, err := os.ReadFile(filepath.Join(repo, "alerts", "alertmanager.yml"))
	if err != nil {
		return err
	}
	out, err := DemoAlertmanager(am, fmt.Sprintf("http://127.0.0.1:%d/api/v1/alerts", ports.Rebalancer), f.Password)
	if err != nil {
		return fmt.Errorf("alerts/alertmanager.yml: %w", err)
	}
	header := "# Generated by the lbpilot demo from alerts/alertmanager.yml: the rebalancer's\n# route with group_wait " + demoGroupWait + " and group_interval " + demoGroupInterval + ", its webhook on the demo's\n# port with the demo's password file. Edit the original, not this copy.\n"
	return write(f.Alertmanager, append([]byte(header), out...), 0o644)
}

func execTemplate(name string, data tmplData) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").ParseFS(templates, "templates/"+name)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// webConfig is an exporter-toolkit web configuration with basic auth for
// users, all with password.
func webConfig(password string, users ...string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# The rebalancer's basic auth (demo): Alertmanager's webhook and Prometheus's scrape.\nbasic_auth_users:\n")
	for _, u := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "  %s: %s\n", u, h)
	}
	return b.Bytes(), nil
}

// ScaleRules divides the `for` and `keep_firing_for` of every rule in a
// Prometheus rule file by div, never below floor, and the range windows of
// every expression (`[5m]`, and both durations of a subquery `[30m:1m]`)
// by div, never below rangeFloor. Everything else (labels, annotations,
// comments, the rest of the expressions) stays as it was.
//
// The windows are scaled with the durations because an alert ends only
// once its window has forgotten the trouble: rate(errors[5m]) stays high
// for five minutes after the errors stop, and a drained server waits for
// that (plus keep_firing_for) before it is made ready. With `for` alone
// scaled, a demo minute would hold a server drained for five real ones.
func ScaleRules(src []byte, div int, floor, rangeFloor time.Duration) ([]byte, error) {
	if div < 1 {
		return nil, fmt.Errorf("divisor %d: want 1 or more", div)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	groups := lookup(root(&doc), "groups")
	if groups == nil || groups.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("no groups list")
	}
	scaled := 0
	for _, g := range groups.Content {
		rules := lookup(g, "rules")
		if rules == nil || rules.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("line %d: a group without a rules list", g.Line)
		}
		for _, r := range rules.Content {
			if v := lookup(r, "expr"); v != nil {
				e, err := scaleRanges(v.Value, div, rangeFloor)
				if err != nil {
					return nil, fmt.Errorf("line %d: expr: %w", v.Line, err)
				}
				v.Value = e
			}
			for _, key := range []string{"for", "keep_firing_for"} {
				v := lookup(r, key)
				if v == nil {
					continue
				}
				d, err := model.ParseDuration(v.Value)
				if err != nil {
					return nil, fmt.Errorf("line %d: %s: %w", v.Line, key, err)
				}
				nd := max(time.Duration(d)/time.Duration(div), floor)
				nd = nd.Truncate(time.Second)
				v.Value = model.Duration(nd).String()
				v.Style = 0
				scaled++
			}
		}
	}
	if scaled == 0 {
		return nil, fmt.Errorf("no `for` or keep_firing_for to scale")
	}
	return encode(&doc)
}

// scaleRanges divides every duration between square brackets of a PromQL
// expression — range selectors and subqueries — by div, never below floor
// (a subquery's step keeps no floor but is never 0). Brackets inside
// string literals (a regex such as "[45].." in a label matcher) are left
// alone; so are the @ and offset modifiers, which are times, not windows.
func scaleRanges(expr string, div int, floor time.Duration) (string, error) {
	scale := func(s string, fl time.Duration) (string, error) {
		d, err := model.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return "", err
		}
		nd := max(time.Duration(d)/time.Duration(div), fl, time.Second).Truncate(time.Second)
		return model.Duration(nd).String(), nil
	}
	var b strings.Builder
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch c {
		case '"', '\'', '`':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(expr) {
				return "", fmt.Errorf("unterminated string at offset %d", i)
			}
			b.WriteString(expr[i : j+1])
			i = j
		case '[':
			end := strings.IndexByte(expr[i:], ']')
			if end < 0 {
				return "", fmt.Errorf("unclosed [ at offset %d", i)
			}
			inner := expr[i+1 : i+end]
			rng, step, sub := strings.Cut(inner, ":")
			r, err := scale(rng, floor)
			if err != nil {
				return "", fmt.Errorf("range [%s]: %w", inner, err)
			}
			b.WriteString("[" + r)
			if sub {
				b.WriteByte(':')
				if strings.TrimSpace(step) != "" {
					st, err := scale(step, 0)
					if err != nil {
						return "", fmt.Errorf("subquery step [%s]: %w", inner, err)
					}
					b.WriteString(st)
				}
			}
			b.WriteByte(']')
			i += end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// DemoAlertmanager adapts the shipped Alertmanager configuration to the
// demo: the route to the lbpilot-rebalancer receiver gets the demo's short
// group_wait and group_interval, and that receiver's webhooks post to
// webhookURL with the password in passwordFile. Everything else stays.
func DemoAlertmanager(src []byte, webhookURL, passwordFile string) ([]byte, error) {
	const receiver = "lbpilot-rebalancer"
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	top := root(&doc)
	routes := 0
	var walk func(route *yaml.Node)
	walk = func(route *yaml.Node) {
		if r := lookup(route, "receiver"); r != nil && r.Value == receiver {
			setScalar(route, "group_wait", demoGroupWait)
			setScalar(route, "group_interval", demoGroupInterval)
			routes++
		}
		if sub := lookup(route, "routes"); sub != nil {
			for _, child := range sub.Content {
				walk(child)
			}
		}
	}
	route := lookup(top, "route")
	if route == nil {
		return nil, fmt.Errorf("no route")
	}
	walk(route)
	if routes == 0 {
		return nil, fmt.Errorf("no route to the %s receiver", receiver)
	}
	hooks := 0
	if recvs := lookup(top, "receivers"); recvs != nil {
		for _, r := range recvs.Content {
			if n := lookup(r, "name"); n == nil || n.Value != receiver {
				continue
			}
			wcs := lookup(r, "webhook_configs")
			if wcs == nil {
				break
			}
			for _, w := range wcs.Content {
				setScalar(w, "url", webhookURL)
				ba := lookup(lookup(w, "http_config"), "basic_auth")
				if ba == nil {
					return nil, fmt.Errorf("line %d: the %s webhook has no http_config.basic_auth", w.Line, receiver)
				}
				setScalar(ba, "username", WebhookUser)
				setScalar(ba, "password_file", passwordFile)
				hooks++
			}
		}
	}
	if hooks == 0 {
		return nil, fmt.Errorf("no webhook_configs in the %s receiver", receiver)
	}
	return encode(&doc)
}

func root(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		return doc.Content[0]
	}
	return doc
}

// lookup returns the value of key in a mapping node (nil if absent or not
// a mapping).
func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// setScalar sets key to a plain scalar in a mapping, adding the key when
// it is missing.
func setScalar(m *yaml.Node, key, value string) {
	if v := lookup(m, key); v != nil {
		v.Kind, v.Tag, v.Value, v.Style, v.Content = yaml.ScalarNode, "!!str", value, 0, nil
		return
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
}

func encode(doc *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
