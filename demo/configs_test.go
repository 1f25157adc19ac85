package demo

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

const repo = ".."

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert         string            `yaml:"alert"`
			Record        string            `yaml:"record"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for"`
			KeepFiringFor string            `yaml:"keep_firing_for"`
			Labels        map[string]string `yaml:"labels"`
			Annotations   map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func parseRules(t *testing.T, b []byte) ruleFile {
	t.Helper()
	var f ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return f
}

func TestScaleRules(t *testing.T) {
	src := `# a comment that stays
groups:
  - name: g
    rules:
      - alert: A
        expr: |
          up == 0
          or vector(1)
        for: 2m
        keep_firing_for: 5m
        labels: {severity: warning}
      - alert: B
        expr: up == 1
        for: 30s
      - alert: C
        expr: up == 2
        for: 90s
        keep_firing_for: 1h
      - record: r
        expr: sum(up)
      - alert: D
        expr: |
          rate(errors_total{code=~"[45].."}[5m]) / rate(x_total[2m]) > 0.1
          or max_over_time(rate(y_total[1h])[30m:1m]) > 1
          or last_over_time(z[15m:]) > 2 or q[90s] offset 5m
        for: 2m
`
	out, err := ScaleRules([]byte(src), 60, time.Second, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	f := parseRules(t, out)
	rules := f.Groups[0].Rules
	want := []struct{ forD, keep string }{{"2s", "5s"}, {"1s", ""}, {"1s", "1m"}, {"", ""}, {"2s", ""}}
	for i, w := range want {
		if rules[i].For != w.forD || rules[i].KeepFiringFor != w.keep {
			t.Errorf("rule %d: for %q keep_firing_for %q, want %q %q", i, rules[i].For, rules[i].KeepFiringFor, w.forD, w.keep)
		}
	}
	if rules[0].Expr != "up == 0\nor vector(1)\n" || rules[0].Labels["severity"] != "warning" || rules[3].Record != "r" {
		t.Errorf("more than the durations changed:\n%s", out)
	}
	if !strings.Contains(string(out), "# a comment that stays") {
		t.Errorf("comment lost:\n%s", out)
	}
	// Windows scaled (5m → 5s, 2m → 2s raised to the 5 s floor, 1h → 1m,
	// a subquery's range and step, an empty step kept); the regex in the
	// label matcher and the offset untouched.
	wantExpr := "rate(errors_total{code=~\"[45]..\"}[5s]) / rate(x_total[5s]) > 0.1\n" +
		"or max_over_time(rate(y_total[1m])[30s:1s]) > 1\n" +
		"or last_over_time(z[15s:]) > 2 or q[5s] offset 5m\n"
	if rules[4].Expr != wantExpr {
		t.Errorf("expr:\n%s\nwant:\n%s", rules[4].Expr, wantExpr)
	}
}

func TestScaleRulesErrors(t *testing.T) {
	for name, c := range map[string]struct {
		src string
		div int
	}{
		"divisor":        {"groups: [{name: g, rules: [{alert: A, expr: up, for: 1m}]}]", 0},
		"not yaml":       {"groups: [", 60},
		"no groups":      {"rules: []", 60},
		"no rules":       {"groups: [{name: g}]", 60},
		"bad duration":   {"groups: [{name: g, rules: [{alert: A, expr: up, for: soon}]}]", 60},
		"nothing to do":  {"groups: [{name: g, rules: [{record: r, expr: up}]}]", 60},
		"groups not seq": {"groups: {a: 1}", 60},
		"bad window":     {"groups: [{name: g, rules: [{alert: A, expr: 'rate(x[soon])', for: 1m}]}]", 60},
		"bad step":       {"groups: [{name: g, rules: [{alert: A, expr: 'max_over_time(x[5m:often])', for: 1m}]}]", 60},
		"unclosed [":     {"groups: [{name: g, rules: [{alert: A, expr: 'rate(x[5m)', for: 1m}]}]", 60},
		"open string":    {"groups: [{name: g, rules: [{alert: A, expr: 'x{a=\"b}', for: 1m}]}]", 60},
	} {
		out, err := ScaleRules([]byte(c.src), c.div, time.Second, 5*time.Second)
		if err == nil {
			t.Errorf("%s: no error; got\n%s", name, out)
			continue
		}
		if strings.Contains(c.src, "expr: '") && !strings.Contains(err.Error(), "expr") {
			t.Errorf("%s: error %q does not say it is the expression", name, err)
		}
	}
}

// Every shipped rule keeps its meaning in the demo's copy: only `for` and
// keep_firing_for change, each to max(original/60, 1s), and promtool
// accepts the result.
func TestScaleShippedRules(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repo, "alerts", "*.rules.yml"))
	if err != nil || len(files) < 5 {
		t.Fatalf("shipped rule files: %v %v", files, err)
	}
	promtool := testenv.Binary(t, "promtool")
	dir := t.TempDir()
	scaledAlerts := 0
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out, err := ScaleRules(src, RuleDivisor, minRuleDuration, minRangeDuration)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		orig, got := parseRules(t, src), parseRules(t, out)
		if len(orig.Groups) != len(got.Groups) {
			t.Fatalf("%s: groups changed", path)
		}
		for g := range orig.Groups {
			for r, o := range orig.Groups[g].Rules {
				n := got.Groups[g].Rules[r]
				if o.Alert != n.Alert || windowsOut(o.Expr) != windowsOut(n.Expr) || len(o.Labels) != len(n.Labels) || len(o.Annotations) != len(n.Annotations) {
					t.Errorf("%s %s: more than durations changed", path, o.Alert)
				}
				checkWindows(t, path+" "+o.Alert+o.Record, o.Expr, n.Expr)
				for _, d := range [][2]string{{o.For, n.For}, {o.KeepFiringFor, n.KeepFiringFor}} {
					if d[0] == "" {
						if d[1] != "" {
							t.Errorf("%s %s: a duration appeared: %q", path, o.Alert, d[1])
						}
						continue
					}
					od, _ := model.ParseDuration(d[0])
					want := max(time.Duration(od)/RuleDivisor, time.Second).Truncate(time.Second)
					if nd, err := model.ParseDuration(d[1]); err != nil || time.Duration(nd) != want {
						t.Errorf("%s %s: %s became %q, want %s", path, o.Alert, d[0], d[1], want)
					}
				}
				if o.For != "" {
					scaledAlerts++
				}
			}
		}
		p := filepath.Join(dir, filepath.Base(path))
		if err := os.WriteFile(p, out, 0o644); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command(promtool, "check", "rules", p).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules %s: %v\n%s", filepath.Base(path), err, b)
		}
	}
	if scaledAlerts < 30 {
		t.Errorf("only %d alerts with `for` scaled", scaledAlerts)
	}
}

func TestDemoAlertmanagerShipped(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repo, "alerts", "alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := DemoAlertmanager(src, "http://127.0.0.1:12345/api/v1/alerts", pw)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Route struct {
			GroupWait string `yaml:"group_wait"`
			Routes    []struct {
				Receiver      string `yaml:"receiver"`
				GroupWait     string `yaml:"group_wait"`
				GroupInterval string `yaml:"group_interval"`
				Continue      bool   `yaml:"continue"`
			} `yaml:"routes"`
		} `yaml:"route"`
		Receivers []struct {
			Name     string `yaml:"name"`
			Webhooks []struct {
				URL          string `yaml:"url"`
				SendResolved bool   `yaml:"send_resolved"`
				MaxAlerts    int    `yaml:"max_alerts"`
				HTTPConfig   struct {
					BasicAuth struct {
						Username     string `yaml:"username"`
						PasswordFile string `yaml:"password_file"`
					} `yaml:"basic_auth"`
				} `yaml:"http_config"`
			} `yaml:"webhook_configs"`
		} `yaml:"receivers"`
	}
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Route.GroupWait != "30s" {
		t.Errorf("the root route's group_wait changed to %q", cfg.Route.GroupWait)
	}
	found := false
	for _, r := range cfg.Route.Routes {
		if r.Receiver == "lbpilot-rebalancer" {
			found = true
			if r.GroupWait != demoGroupWait || r.GroupInterval != demoGroupInterval || !r.Continue {
				t.Errorf("rebalancer route: %+v", r)
			}
		} else if r.GroupWait == demoGroupWait {
			t.Errorf("route to %s got the demo timers", r.Receiver)
		}
	}
	if !found {
		t.Error("no rebalancer route in the result")
	}
	hooks := 0
	for _, r := range cfg.Receivers {
		for _, w := range r.Webhooks {
			hooks++
			if r.Name != "lbpilot-rebalancer" || w.URL != "http://127.0.0.1:12345/api/v1/alerts" || !w.SendResolved || w.MaxAlerts != 0 ||
				w.HTTPConfig.BasicAuth.Username != WebhookUser || w.HTTPConfig.BasicAuth.PasswordFile != pw {
				t.Errorf("webhook of %s: %+v", r.Name, w)
			}
		}
	}
	if hooks != 1 {
		t.Errorf("%d webhooks, want the rebalancer's", hooks)
	}
	amtool := testenv.Binary(t, "amtool")
	p := filepath.Join(dir, "am.yml")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(amtool, "check-config", p).CombinedOutput(); err != nil {
		t.Errorf("amtool check-config: %v\n%s", err, b)
	}
}

func TestDemoAlertmanagerErrors(t *testing.T) {
	hook := "receivers: [{name: lbpilot-rebalancer, webhook_configs: [{url: 'http://x', http_config: {basic_auth: {username: a, password_file: /p}}}]}]\n"
	for name, src := range map[string]string{
		"not yaml":         "route: [",
		"no route":         hook,
		"no rebalancer":    "route: {receiver: people, routes: [{receiver: other}]}\n" + hook,
		"no receiver":      "route: {receiver: lbpilot-rebalancer}\n",
		"no webhooks":      "route: {receiver: lbpilot-rebalancer}\nreceivers: [{name: lbpilot-rebalancer}]\n",
		"no basic auth":    "route: {receiver: lbpilot-rebalancer}\nreceivers: [{name: lbpilot-rebalancer, webhook_configs: [{url: 'http://x'}]}]\n",
		"other's webhooks": "route: {receiver: lbpilot-rebalancer}\nreceivers: [{name: people, webhook_configs: [{url: 'http://x'}]}]\n",
	} {
		if out, err := DemoAlertmanager([]byte(src), "http://127.0.0.1:1/api/v1/alerts", "/pw"); err == nil {
			t.Errorf("%s: no error; got\n%s", name, out)
		}
	}
	// A nested route to the rebalancer is found too.
	out, err := DemoAlertmanager([]byte("route: {receiver: people, routes: [{receiver: x, routes: [{receiver: lbpilot-rebalancer}]}]}\n"+hook), "http://h/api/v1/alerts", "/pw")
	if err != nil || !strings.Contains(string(out), "group_interval: "+demoGroupInterval) {
		t.Errorf("nested route: %v\n%s", err, out)
	}
}

// The rendered files agree with each other: the exporter's WCS and SRS
// targets name servers that exist in haproxy.cfg, the agents listen where
// haproxy's agent-check connects, Prometheus sends to the demo's
// Alertmanager, which posts to the demo's rebalancer with the password its
// web config accepts.
func TestRenderConsistent(t *testing.T) {
	dir := t.TempDir()
	f := NewFiles(dir)
	ports := PortsFrom(21000)
	// Leftovers of an earlier run are removed.
	for _, d := range []string{f.PrometheusData, f.AlertmanagerData} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(f.StateFile, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Render(f, repo, ports, Control{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{f.PrometheusData, f.AlertmanagerData, f.StateFile} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s from an earlier run is still there", p)
		}
	}
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	hap := read(f.HAProxy)
	servers := map[string]string{}   // backend/server → the rest of the line
	serverLab := map[string]string{} // backend/server → the lab server whose client port it reaches
	backend := ""
	// Which lab server each port belongs to, as lbpilot-lab lays them out.
	apiOf, clientOf := map[int]string{}, map[int]string{}
	for _, n := range labNames {
		apiOf[ports.LabPort(n)] = n
	}
	for _, c := range labClients {
		clientOf[ports.ClientPort(c.name)] = c.server
	}
	reached := map[int]string{} // client port → the server line reaching it
	for _, line := range strings.Split(hap, "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 2 && fields[0] == "backend":
			backend = fields[1]
		case len(fields) >= 3 && fields[0] == "server" && backend != "":
			name := backend + "/" + fields[1]
			servers[name] = line
			host, portText, err := net.SplitHostPort(fields[2])
			port, _ := strconv.Atoi(portText)
			if err != nil || host != "127.0.0.1" {
				t.Errorf("%s: address %q", name, fields[2])
				continue
			}
			// Every server reaches a real listener: a lab client port,
			// never an API port, and no two servers the same one.
			lab, ok := clientOf[port]
			if !ok {
				t.Errorf("%s goes to %d, not a lab client port (the API port of %q)", name, port, apiOf[port])
				continue
			}
			if other, dup := reached[port]; dup {
				t.Errorf("%s and %s share port %d", other, name, port)
			}
			reached[port] = name
			serverLab[name] = lab
		}
	}
	if len(servers) != 6 {
		t.Fatalf("haproxy.cfg has %d servers, want 6: %v", len(servers), servers)
	}
	if len(reached) != len(labClients) {
		t.Errorf("the servers reach %d of the lab's %d client ports: %v", len(reached), len(labClients), reached)
	}
	// The MQTT servers are the two EMQX nodes, one broker each.
	for i, srv := range []string{"be_mqtt/emqx1", "be_mqtt/emqx2"} {
		if !strings.Contains(servers[srv], ":"+strconv.Itoa(ports.ClientPort(fmt.Sprintf("emqx1-node%d", i+1)))+" ") {
			t.Errorf("%s is not emqx1's node %d: %s", srv, i+1, servers[srv])
		}
	}
	if !regexp.MustCompile(`(?m)^backend be_srs_edge\n(    .*\n)*    option httpchk GET /\n`).MatchString(hap) {
		t.Error("be_srs_edge does not check the edge with GET /")
	}

	var exp struct {
		Targets []struct {
			Name   string            `yaml:"name"`
			Module string            `yaml:"module"`
			URL    string            `yaml:"url"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"targets"`
	}
	if err := yaml.Unmarshal([]byte(read(f.Exporter)), &exp); err != nil {
		t.Fatal(err)
	}
	labelled := 0
	for _, tg := range exp.Targets {
		be, srv := tg.Labels["haproxy_backend"], tg.Labels["haproxy_server"]
		if be == "" || srv == "" {
			continue
		}
		labelled++
		line, ok := servers[be+"/"+srv]
		if !ok {
			t.Errorf("target %s names %s/%s, which haproxy.cfg does not have", tg.Name, be, srv)
			continue
		}
		// The server is the upstream the target reads: the server line
		// reaches a client port of the lab server whose API port the
		// target reads.
		lab := apiAt(t, tg.URL, apiOf)
		if lab == "" || serverLab[be+"/"+srv] != lab {
			t.Errorf("target %s reads %s (the API of %q); %s/%s reaches a client port of %q: %s", tg.Name, tg.URL, lab, be, srv, serverLab[be+"/"+srv], line)
		}
	}
	emqxTargets := 0
	for _, tg := range exp.Targets {
		if tg.Module == "emqx" {
			emqxTargets++
			if lab := apiAt(t, tg.URL, apiOf); lab != "emqx1" {
				t.Errorf("EMQX target %s reads %s (the API of %q), want emqx1's, whose nodes be_mqtt's servers reach", tg.Name, tg.URL, lab)
			}
		}
	}
	if emqxTargets != 1 || serverLab["be_mqtt/emqx1"] != "emqx1" || serverLab["be_mqtt/emqx2"] != "emqx1" {
		t.Errorf("%d EMQX targets; be_mqtt reaches %q and %q", emqxTargets, serverLab["be_mqtt/emqx1"], serverLab["be_mqtt/emqx2"])
	}
	if labelled != 4 {
		t.Errorf("%d targets name their HAProxy server, want wcs1, wcs2, srs-origin1, srs-edge1", labelled)
	}
	if _, ok := servers[WCSBackend+"/"+ScenarioServer]; !ok {
		t.Errorf("no %s/%s in haproxy.cfg", WCSBackend, ScenarioServer)
	}

	for i, name := range []string{"wcs1", "wcs2"} {
		var a struct {
			Agent struct {
				Listen string `yaml:"listen_address"`
				Target string `yaml:"target"`
			} `yaml:"agent"`
		}
		if err := yaml.Unmarshal([]byte(read(f.Agents[i])), &a); err != nil {
			t.Fatal(err)
		}
		line := servers[WCSBackend+"/"+name]
		m := regexp.MustCompile(`agent-port (\d+)`).FindStringSubmatch(line)
		if m == nil || a.Agent.Listen != "127.0.0.1:"+m[1] {
			t.Errorf("%s: haproxy's agent-check goes to %v, the agent listens on %s", name, m, a.Agent.Listen)
		}
		if !strings.Contains(a.Agent.Target, ":"+strconv.Itoa(ports.LabPort(name))+"/") {
			t.Errorf("agent of %s reads %s", name, a.Agent.Target)
		}
		// The agent HAProxy asks about a server reads the API of the lab
		// server that server line reaches.
		if lab := apiAt(t, a.Agent.Target, apiOf); lab != serverLab[WCSBackend+"/"+name] {
			t.Errorf("agent of %s reads %s (the API of %q), its server line reaches %q", name, a.Agent.Target, lab, serverLab[WCSBackend+"/"+name])
		}
	}

	prom := read(f.Prometheus)
	if !strings.Contains(prom, "'127.0.0.1:"+strconv.Itoa(ports.Alertmanager)+"'") || !strings.Contains(prom, f.Rules+"/*.rules.yml") {
		t.Errorf("prometheus.yml does not send to the demo's Alertmanager or load its rules:\n%s", prom)
	}
	shipped, _ := filepath.Glob(filepath.Join(repo, "alerts", "*.rules.yml"))
	if rules, _ := filepath.Glob(filepath.Join(f.Rules, "*.rules.yml")); len(rules) != len(shipped) || len(rules) < 7 {
		t.Errorf("rules/: %v, want one per alerts/*.rules.yml (%d)", rules, len(shipped))
	}
	am := read(f.Alertmanager)
	if !strings.Contains(am, "http://127.0.0.1:"+strconv.Itoa(ports.Rebalancer)+"/api/v1/alerts") || !strings.Contains(am, f.Password) {
		t.Errorf("alertmanager.yml does not post to the demo's rebalancer with its password:\n%s", am)
	}
	password := strings.TrimSpace(read(f.Password))
	var web struct {
		Users map[string]string `yaml:"basic_auth_users"`
	}
	if err := yaml.Unmarshal([]byte(read(f.RebalancerWeb)), &web); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{WebhookUser, ScrapeUser} {
		if err := bcrypt.CompareHashAndPassword([]byte(web.Users[u]), []byte(password)); err != nil {
			t.Errorf("web config user %s does not accept the password file: %v", u, err)
		}
	}
	if key := read(f.EMQXKey); !regexp.MustCompile(`^lbpilot-demo:[0-9a-f]{32}\n$`).MatchString(key) {
		t.Errorf("EMQX key file %q is not key:secret", key)
	}
	if key, pw := read(f.EMQXKey), read(f.MQTTProbe); !strings.HasSuffix(key, ":"+pw) {
		t.Errorf("the MQTT probe's password %q is not the EMQX key's secret", pw)
	}
	for _, secret := range []string{f.Password, f.RebalancerWeb, f.EMQXKey, f.MQTTProbe} {
		if fi, err := os.Stat(secret); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", secret, fi.Mode().Perm(), err)
		}
	}
	// A second run gets a new password.
	if err := Render(f, repo, ports, Control{}); err != nil {
		t.Fatal(err)
	}
	if again := strings.TrimSpace(read(f.Password)); again == password {
		t.Error("the password did not change between runs")
	}

	haproxyBin := testenv.Binary(t, "haproxy")
	if b, err := exec.Command(haproxyBin, "-c", "-q", "-f", f.HAProxy).CombinedOutput(); err != nil {
		t.Errorf("haproxy -c: %v\n%s", err, b)
	}
	promtool := testenv.Binary(t, "promtool")
	if b, err := exec.Command(promtool, "check", "config", f.Prometheus).CombinedOutput(); err != nil {
		t.Errorf("promtool check config: %v\n%s", err, b)
	}
}

// apiAt names the lab server whose API port a URL points at ("" if none).
func apiAt(t *testing.T, rawURL string, apiOf map[int]string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		t.Errorf("URL %q: %v", rawURL, err)
		return ""
	}
	port, _ := strconv.Atoi(u.Port())
	return apiOf[port]
}

func TestRenderWithoutAlerts(t *testing.T) {
	if err := Render(NewFiles(t.TempDir()), t.TempDir(), DefaultPorts(), Control{}); err == nil || !strings.Contains(err.Error(), "alerts/*.rules.yml") {
		t.Fatalf("rendering without the repository's alerts: %v", err)
	}
}

// windowRE finds the range windows of a PromQL expression once its
// double-quoted strings are gone (stringRE): a regex like "[^@]+" in a
// label_replace is not a window.
var (
	windowRE = regexp.MustCompile(`\[([^\]:]*)(?::[^\]]*)?\]`)
	stringRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
)

// windowsOut is an expression with its windows emptied.
func windowsOut(e string) string { return windowRE.ReplaceAllString(e, "[]") }

// checkWindows holds every window of a shipped expression to
// max(original/RuleDivisor, minRangeDuration).
func checkWindows(t *testing.T, what, orig, scaled string) {
	t.Helper()
	// Strings compared whole: a bracket inside one must not change.
	if strings.Join(stringRE.FindAllString(orig, -1), "\x00") != strings.Join(stringRE.FindAllString(scaled, -1), "\x00") {
		t.Errorf("%s: a string literal changed", what)
	}
	orig, scaled = stringRE.ReplaceAllString(orig, `""`), stringRE.ReplaceAllString(scaled, `""`)
	o, n := windowRE.FindAllStringSubmatch(orig, -1), windowRE.FindAllStringSubmatch(scaled, -1)
	if len(o) != len(n) {
		t.Errorf("%s: %d windows became %d", what, len(o), len(n))
		return
	}
	for i := range o {
		od, err1 := model.ParseDuration(o[i][1])
		nd, err2 := model.ParseDuration(n[i][1])
		want := max(time.Duration(od)/RuleDivisor, minRangeDuration).Truncate(time.Second)
		if err1 != nil || err2 != nil || time.Duration(nd) != want {
			t.Errorf("%s: window [%s] became [%s], want %s", what, o[i][1], n[i][1], model.Duration(want))
		}
	}
}
