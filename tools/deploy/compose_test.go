package deploy

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

// root is the repository root, seen from this package.
const root = "../.."

var composeFile = filepath.Join(root, "docker-compose.yml")

// The services the issue asks for.
var wantServices = []string{
	"prometheus", "alertmanager", "grafana", "haproxy", "exporter", "rebalancer",
	"agent-wcs1", "agent-wcs2", "srs-origin", "srs-edge", "emqx", "wcs1", "wcs2",
}

// load reads a compose file with compose-go (schema validation,
// interpolation, anchors and merge keys, depends_on resolution), relative
// paths resolved against the repository root.
func load(t *testing.T, content []byte) (*types.Project, error) {
	t.Helper()
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  abs,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(abs, "docker-compose.yml"), Content: content}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("lbpilot", true) })
}

func loadShipped(t *testing.T) *types.Project {
	t.Helper()
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := load(t, b)
	if err != nil {
		t.Fatalf("compose-go cannot load docker-compose.yml: %v", err)
	}
	return p
}

func TestComposeLoads(t *testing.T) {
	p := loadShipped(t)
	var got []string
	for name := range p.Services {
		got = append(got, name)
	}
	sort.Strings(got)
	want := append([]string(nil), wantServices...)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}
	if probs := checkAll(p); len(probs) > 0 {
		t.Errorf("docker-compose.yml:\n  %s", strings.Join(probs, "\n  "))
	}
}

// checkAll runs every check of a loaded project and returns the problems.
func checkAll(p *types.Project) []string {
	var out []string
	for _, c := range []func(*types.Project) []string{checkImages, checkMounts, checkSecrets, checkPorts, checkEnvironment, checkHealthchecks, checkNetworkModes} {
		out = append(out, c(p)...)
	}
	return out
}

// checkImages: every image has a pinned tag (not latest); the lbpilot
// services build from the repository's Dockerfile.
func checkImages(p *types.Project) []string {
	var out []string
	for name, s := range p.Services {
		ref := s.Image
		if ref == "" {
			out = append(out, name+": no image")
			continue
		}
		repo, tag, ok := strings.Cut(ref[strings.LastIndex(ref, "/")+1:], ":")
		if !ok || tag == "" || tag == "latest" {
			out = append(out, fmt.Sprintf("%s: image %s has no pinned tag", name, ref))
		}
		if repo == "lbpilot" {
			if s.Build == nil {
				out = append(out, name+": the lbpilot image without build")
				continue
			}
			df := s.Build.Dockerfile
			if df == "" {
				df = "Dockerfile"
			}
			if _, err := os.Stat(filepath.Join(s.Build.Context, df)); err != nil {
				out = append(out, fmt.Sprintf("%s: build %s: %v", name, df, err))
			}
		}
	}
	return out
}

// checkMounts: every bind-mounted source exists inside the repository and
// is mounted read-only; every named volume is declared.
func checkMounts(p *types.Project) []string {
	var out []string
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			switch v.Type {
			case types.VolumeTypeBind:
				if _, err := os.Stat(v.Source); err != nil {
					out = append(out, fmt.Sprintf("%s: bind mount source %s does not exist", name, v.Source))
				}
				if rel, err := filepath.Rel(p.WorkingDir, v.Source); err != nil || strings.HasPrefix(rel, "..") {
					out = append(out, fmt.Sprintf("%s: bind mount %s is outside the repository", name, v.Source))
				}
				if !v.ReadOnly {
					out = append(out, fmt.Sprintf("%s: bind mount %s is writable (add :ro)", name, v.Source))
				}
			case types.VolumeTypeVolume:
				if _, ok := p.Volumes[v.Source]; !ok {
					out = append(out, fmt.Sprintf("%s: volume %s is not declared", name, v.Source))
				}
			default:
				out = append(out, fmt.Sprintf("%s: mount of type %s", name, v.Type))
			}
		}
	}
	return out
}

// checkSecrets: secrets come from non-empty files in the repository, and
// every secret a service names is declared.
func checkSecrets(p *types.Project) []string {
	var out []string
	for name, sec := range p.Secrets {
		if sec.File == "" {
			out = append(out, fmt.Sprintf("secret %s is not a file", name))
			continue
		}
		if fi, err := os.Stat(sec.File); err != nil || fi.Size() == 0 {
			out = append(out, fmt.Sprintf("secret %s: %s missing or empty (%v)", name, sec.File, err))
		}
	}
	for name, s := range p.Services {
		for _, ref := range s.Secrets {
			if _, ok := p.Secrets[ref.Source]; !ok {
				out = append(out, fmt.Sprintf("%s: secret %s is not declared", name, ref.Source))
			}
		}
	}
	return out
}

// checkPorts: published host ports are valid TCP ports above 1023 (no
// root needed) and never published twice; container ports likewise.
func checkPorts(p *types.Project) []string {
	var out []string
	host := map[string]string{}
	for name, s := range p.Services {
		for _, port := range s.Ports {
			if port.Target == 0 || port.Target > 65535 {
				out = append(out, fmt.Sprintf("%s: container port %d", name, port.Target))
			}
			if port.Target < 1024 {
				out = append(out, fmt.Sprintf("%s: container port %d needs root", name, port.Target))
			}
			n, err := strconv.Atoi(port.Published)
			if err != nil || n < 1024 || n > 65535 {
				out = append(out, fmt.Sprintf("%s: host port %q is not a port above 1023", name, port.Published))
				continue
			}
			key := port.Published + "/" + port.Protocol
			if other, dup := host[key]; dup {
				out = append(out, fmt.Sprintf("host port %s published by %s and %s", key, other, name))
			}
			host[key] = name
		}
	}
	return out
}

var secretName = regexp.MustCompile(`(?i)(PASSWORD|SECRET|TOKEN|API_KEY|APIKEY|PASSWD)`)

// checkEnvironment: every variable has a value; anything that looks like
// a credential is given as a file (…__FILE / …_FILE variables, or a path
// under /run/secrets), never inline.
func checkEnvironment(p *types.Project) []string {
	var out []string
	for name, s := range p.Services {
		for k, v := range s.Environment {
			if v == nil || strings.TrimSpace(*v) == "" {
				out = append(out, fmt.Sprintf("%s: %s has no value", name, k))
				continue
			}
			if !secretName.MatchString(k) {
				continue
			}
			val := strings.Trim(*v, `"'`)
			if strings.HasSuffix(k, "_FILE") || strings.HasPrefix(val, "/run/secrets/") {
				if !strings.HasPrefix(val, "/run/secrets/") {
					out = append(out, fmt.Sprintf("%s: %s points at %s, not a compose secret", name, k, val))
				}
				continue
			}
			out = append(out, fmt.Sprintf("%s: %s looks like a secret given inline; use a secret file", name, k))
		}
	}
	return out
}

// checkHealthchecks: every service has a healthcheck with a command, or
// says why not in x-healthcheck-reason.
func checkHealthchecks(p *types.Project) []string {
	var out []string
	for name, s := range p.Services {
		reason, _ := s.Extensions["x-healthcheck-reason"].(string)
		hc := s.HealthCheck
		switch {
		case hc != nil && !hc.Disable && len(hc.Test) > 1 && (hc.Test[0] == "CMD" || hc.Test[0] == "CMD-SHELL"):
			if reason != "" {
				out = append(out, name+": a healthcheck and a reason not to have one")
			}
		case hc != nil && !hc.Disable:
			out = append(out, fmt.Sprintf("%s: healthcheck test %q runs nothing", name, hc.Test))
		case strings.TrimSpace(reason) == "":
			out = append(out, name+": no healthcheck and no x-healthcheck-reason")
		}
	}
	return out
}

// checkNetworkModes: a service sharing another's network namespace names
// an existing service and publishes no port of its own.
func checkNetworkModes(p *types.Project) []string {
	var out []string
	for name, s := range p.Services {
		other, ok := strings.CutPrefix(s.NetworkMode, "service:")
		if !ok {
			continue
		}
		if _, exists := p.Services[other]; !exists {
			out = append(out, fmt.Sprintf("%s: network_mode service:%s names no service", name, other))
		}
		if len(s.Ports) > 0 {
			out = append(out, name+": publishes ports inside another service's network namespace")
		}
	}
	return out
}

// Every check finds the mistake it is for.
func TestComposeChecksCatchMistakes(t *testing.T) {
	orig, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, old, new, want string
	}{
		{"missing mount", "./deploy/compose/haproxy.cfg:", "./deploy/compose/nonexistent.cfg:", "does not exist"},
		{"writable mount", "./deploy/compose/lbpilot.yml:/etc/lbpilot/lbpilot.yml:ro", "./deploy/compose/lbpilot.yml:/etc/lbpilot/lbpilot.yml", "writable"},
		{"mount outside", "./deploy/compose/lbpilot.yml:/etc/lbpilot/lbpilot.yml:ro", "/etc/hostname:/etc/lbpilot/lbpilot.yml:ro", "outside the repository"},
		{"duplicate host port", `"9708:9708"`, `"9709:9708"`, "published by"},
		{"privileged host port", `"9708:9708"`, `"80:9708"`, "above 1023"},
		{"inline secret", "GF_SECURITY_ADMIN_PASSWORD__FILE: /run/secrets/grafana_admin_password", "GF_SECURITY_ADMIN_PASSWORD: hunter2", "inline"},
		{"secret file elsewhere", "GF_SECURITY_ADMIN_PASSWORD__FILE: /run/secrets/grafana_admin_password", "GF_SECURITY_ADMIN_PASSWORD__FILE: /etc/pw", "not a compose secret"},
		{"missing secret file", "file: ./deploy/compose/secrets/emqx-api-key", "file: ./deploy/compose/secrets/nope", "missing or empty"},
		{"no healthcheck", `test: ["CMD", "wget", "-q", "--spider", "http://localhost:3000/api/health"]`, `disable: true`, "no healthcheck"},
		{"unpinned image", "image: grafana/grafana:11.6.1", "image: grafana/grafana", "no pinned tag"},
		{"latest image", "image: grafana/grafana:11.6.1", "image: grafana/grafana:latest", "no pinned tag"},
		{"ports in a shared namespace", `    network_mode: "service:wcs1"`, "    network_mode: \"service:wcs1\"\n    ports: [\"9999:9707\"]", "another service's network namespace"},
	} {
		mutated := strings.Replace(string(orig), c.old, c.new, 1)
		if mutated == string(orig) {
			t.Fatalf("%s: %q is not in docker-compose.yml", c.name, c.old)
		}
		p, err := load(t, []byte(mutated))
		if err != nil {
			t.Errorf("%s: the loader refused it (%v); the check is meant to", c.name, err)
			continue
		}
		probs := strings.Join(checkAll(p), "\n")
		if !strings.Contains(probs, c.want) {
			t.Errorf("%s: no %q among the problems:\n%s", c.name, c.want, probs)
		}
	}
	// The loader itself refuses unknown keys and undefined dependencies.
	for name, m := range map[string][2]string{
		"unknown key":       {"    restart: unless-stopped\n    volumes:\n      - ./deploy/compose/haproxy.cfg", "    restart: unless-stopped\n    portz: [1]\n    volumes:\n      - ./deploy/compose/haproxy.cfg"},
		"unknown service":   {"      - srs-origin\n", "      - srs-origin\n      - nosuchservice\n"},
		"bad network_mode":  {`network_mode: "service:wcs2"`, `network_mode: "service:wcs9"`},
		"undeclared secret": {"      - grafana_admin_password\n    volumes", "      - nosuchsecret\n    volumes"},
	} {
		mutated := strings.Replace(string(orig), m[0], m[1], 1)
		if mutated == string(orig) {
			t.Fatalf("%s: %q is not in docker-compose.yml", name, m[0])
		}
		if _, err := load(t, []byte(mutated)); err == nil {
			t.Errorf("%s: loaded without error", name)
		}
	}
}

// mountSource returns the repository path mounted at target in a service
// ("" if none).
func mountSource(s types.ServiceConfig, target string) string {
	for _, v := range s.Volumes {
		if v.Target == target {
			return v.Source
		}
	}
	return ""
}

// secretTarget reports whether a service gets a secret at path.
func secretTarget(s types.ServiceConfig, path string) string {
	for _, ref := range s.Secrets {
		tgt := ref.Target
		if tgt == "" {
			tgt = ref.Source
		}
		if !strings.HasPrefix(tgt, "/") {
			tgt = "/run/secrets/" + tgt
		}
		if tgt == path {
			return ref.Source
		}
	}
	return ""
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// hostPort splits "host:port" or a URL into host and port.
func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			t.Fatal(err)
		}
		addr = u.Host
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%q: %v", addr, err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// The configuration files the services mount agree with the compose file
// and with each other: every address names a service, every file a
// config names is mounted or a secret there, the rebalancer's web config
// accepts the password Alertmanager and Prometheus send.
func TestComposeCrossReferences(t *testing.T) {
	p := loadShipped(t)
	svc := func(name string) types.ServiceConfig {
		s, ok := p.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		return s
	}
	isService := func(host string) bool { _, ok := p.Services[host]; return ok }

	// Prometheus.
	prom := svc("prometheus")
	promCfg := mountSource(prom, "/etc/prometheus/prometheus.yml")
	var pc struct {
		Global struct {
			ScrapeInterval string `yaml:"scrape_interval"`
		} `yaml:"global"`
		Alerting struct {
			Alertmanagers []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName        string `yaml:"job_name"`
			RelabelConfigs []struct {
				Replacement string `yaml:"replacement"`
				TargetLabel string `yaml:"target_label"`
			} `yaml:"relabel_configs"`
			BasicAuth *struct {
				PasswordFile string `yaml:"password_file"`
			} `yaml:"basic_auth"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, promCfg, &pc)
	for _, am := range pc.Alerting.Alertmanagers {
		for _, sc := range am.StaticConfigs {
			for _, tg := range sc.Targets {
				if h, port := hostPort(t, tg); h != "alertmanager" || port != 9093 {
					t.Errorf("prometheus sends alerts to %s", tg)
				}
			}
		}
	}
	for _, rf := range pc.RuleFiles {
		dir := filepath.Dir(rf)
		src := mountSource(prom, dir)
		if src == "" {
			t.Errorf("rule_files %s: nothing mounted at %s", rf, dir)
			continue
		}
		if m, _ := filepath.Glob(filepath.Join(src, filepath.Base(rf))); len(m) < 5 {
			t.Errorf("rule_files %s: %s holds %v", rf, src, m)
		}
	}
	probeJobs := 0
	for _, sc := range pc.ScrapeConfigs {
		targets := []string{}
		probe := ""
		for _, r := range sc.RelabelConfigs {
			if r.TargetLabel == "__address__" {
				probe = r.Replacement
			}
		}
		if probe != "" {
			probeJobs++
			targets = append(targets, probe)
		}
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
		for _, tg := range targets {
			if h, _ := hostPort(t, tg); !isService(h) {
				t.Errorf("job %s scrapes %s: no such service", sc.JobName, tg)
			}
		}
		if sc.BasicAuth != nil && secretTarget(prom, sc.BasicAuth.PasswordFile) == "" {
			t.Errorf("job %s: password_file %s is not a secret of the prometheus service", sc.JobName, sc.BasicAuth.PasswordFile)
		}
	}
	if probeJobs < 2 {
		t.Errorf("%d /probe jobs, want SRS and EMQX", probeJobs)
	}

	// Grafana: the datasource's timeInterval is Prometheus's scrape
	// interval; the provider's path is where dashboards/ is mounted.
	graf := svc("grafana")
	prov := mountSource(graf, "/etc/grafana/provisioning")
	var ds struct {
		Datasources []struct {
			URL      string `yaml:"url"`
			JSONData struct {
				TimeInterval string `yaml:"timeInterval"`
			} `yaml:"jsonData"`
			Type string `yaml:"type"`
		} `yaml:"datasources"`
	}
	dsFiles, _ := filepath.Glob(filepath.Join(prov, "datasources", "*.yml"))
	if len(dsFiles) != 1 {
		t.Fatalf("datasource files: %v", dsFiles)
	}
	readYAML(t, dsFiles[0], &ds)
	for _, d := range ds.Datasources {
		if h, _ := hostPort(t, d.URL); !isService(h) {
			t.Errorf("datasource %s: no such service", d.URL)
		}
		if d.Type == "prometheus" && d.JSONData.TimeInterval != pc.Global.ScrapeInterval {
			t.Errorf("datasource timeInterval %s, Prometheus scrape_interval %s", d.JSONData.TimeInterval, pc.Global.ScrapeInterval)
		}
	}
	var dp struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	dpFiles, _ := filepath.Glob(filepath.Join(prov, "dashboards", "*.yml"))
	if len(dpFiles) != 1 {
		t.Fatalf("dashboard provider files: %v", dpFiles)
	}
	readYAML(t, dpFiles[0], &dp)
	for _, pr := range dp.Providers {
		src := mountSource(graf, pr.Options.Path)
		if m, _ := filepath.Glob(filepath.Join(src, "*.json")); len(m) < 6 {
			t.Errorf("dashboard provider path %s: %q mounted there holds %v", pr.Options.Path, src, m)
		}
	}
	if sec := secretTarget(graf, strings.Trim(*graf.Environment["GF_SECURITY_ADMIN_PASSWORD__FILE"], `"`)); sec == "" {
		t.Error("grafana's admin password file is not one of its secrets")
	}

	// Alertmanager: the shipped configuration but for the rebalancer's
	// address, which is the rebalancer service; its password file is the
	// secret Prometheus sends too.
	am := svc("alertmanager")
	amCfg := mountSource(am, "/etc/alertmanager/alertmanager.yml")
	compose, shipped := map[string]any{}, map[string]any{}
	readYAML(t, amCfg, &compose)
	readYAML(t, filepath.Join(root, "alerts", "alertmanager.yml"), &shipped)
	hook := func(m map[string]any) map[string]any {
		for _, r := range m["receivers"].([]any) {
			rm := r.(map[string]any)
			if rm["name"] == "lbpilot-rebalancer" {
				return rm["webhook_configs"].([]any)[0].(map[string]any)
			}
		}
		t.Fatal("no lbpilot-rebalancer receiver")
		return nil
	}
	ch, sh := hook(compose), hook(shipped)
	h, port := hostPort(t, ch["url"].(string))
	if h != "rebalancer" || port != 9709 {
		t.Errorf("alertmanager posts to %s", ch["url"])
	}
	ch["url"] = sh["url"]
	if !reflect.DeepEqual(compose, shipped) {
		t.Error("deploy/compose/alertmanager.yml differs from alerts/alertmanager.yml in more than the rebalancer's url")
	}
	pwFile := ch["http_config"].(map[string]any)["basic_auth"].(map[string]any)["password_file"].(string)
	amSecret := secretTarget(am, pwFile)
	if amSecret == "" {
		t.Errorf("alertmanager's password_file %s is not one of its secrets", pwFile)
	}

	// The rebalancer accepts that password.
	reb := svc("rebalancer")
	var web struct {
		Users map[string]string `yaml:"basic_auth_users"`
	}
	readYAML(t, mountSource(reb, "/etc/lbpilot/web.yml"), &web)
	pw, err := os.ReadFile(p.Secrets[amSecret].File)
	if err != nil {
		t.Fatal(err)
	}
	user := ch["http_config"].(map[string]any)["basic_auth"].(map[string]any)["username"].(string)
	if err := bcrypt.CompareHashAndPassword([]byte(web.Users[user]), []byte(strings.TrimSpace(string(pw)))); err != nil {
		t.Errorf("the rebalancer's web config does not accept %s with the %s secret: %v", user, amSecret, err)
	}
	if !containsArg(reb.Command, "--web.config.file=/etc/lbpilot/web.yml") {
		t.Errorf("rebalancer command %q does not use its web config", reb.Command)
	}
	if !containsArg(reb.Command, "--config.file=/etc/lbpilot/rebalancer.yml") || mountSource(reb, "/etc/lbpilot/rebalancer.yml") == "" {
		t.Errorf("rebalancer command %q does not use its mounted rules (/etc/lbpilot/rebalancer.yml)", reb.Command)
	}

	// HAProxy: every server is a service; the runtime socket sits in the
	// volume shared with the exporter and the rebalancer, whose group may
	// use it.
	hap := svc("haproxy")
	cfg, err := os.ReadFile(mountSource(hap, "/usr/local/etc/haproxy/haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	var binds []int
	var socket string
	for _, line := range strings.Split(string(cfg), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "server":
			if host, _ := hostPort(t, f[2]); !isService(host) {
				t.Errorf("haproxy server %s: %s is no service", f[1], f[2])
			}
		case len(f) >= 2 && f[0] == "bind":
			_, port := hostPort(t, f[1])
			binds = append(binds, port)
		case len(f) >= 3 && f[0] == "stats" && f[1] == "socket":
			socket = f[2]
		}
	}
	var published []int
	for _, pt := range hap.Ports {
		published = append(published, int(pt.Target))
	}
	sort.Ints(binds)
	sort.Ints(published)
	if !reflect.DeepEqual(binds, published) {
		t.Errorf("haproxy binds %v, compose publishes %v", binds, published)
	}
	sockDir := filepath.Dir(socket)
	vol := ""
	for _, v := range hap.Volumes {
		if v.Target == sockDir && v.Type == types.VolumeTypeVolume {
			vol = v.Source
		}
	}
	if vol == "" {
		t.Fatalf("haproxy's socket %s is not in a named volume", socket)
	}
	for _, name := range []string{"exporter", "rebalancer"} {
		s := svc(name)
		shared := false
		for _, v := range s.Volumes {
			shared = shared || (v.Source == vol && v.Target == sockDir)
		}
		if !shared || !reflect.DeepEqual(s.GroupAdd, []string{"99"}) {
			t.Errorf("%s: volume %s at %s %v, group_add %v: cannot use haproxy's socket", name, vol, sockDir, shared, s.GroupAdd)
		}
	}
	if !containsArg(reb.Command, "--haproxy.socket=unix:"+socket) {
		t.Errorf("rebalancer command %q does not name %s", reb.Command, socket)
	}

	// The exporter's static targets: the socket, and services.
	exp := svc("exporter")
	var ec struct {
		Targets []struct {
			Name   string            `yaml:"name"`
			URL    string            `yaml:"url"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"targets"`
	}
	readYAML(t, mountSource(exp, "/etc/lbpilot/lbpilot.yml"), &ec)
	for _, tg := range ec.Targets {
		if u, ok := strings.CutPrefix(tg.URL, "unix:"); ok {
			if u != socket {
				t.Errorf("exporter target %s reads %s, haproxy's socket is %s", tg.Name, u, socket)
			}
			continue
		}
		if h, _ := hostPort(t, tg.URL); !isService(h) {
			t.Errorf("exporter target %s: %s is no service", tg.Name, tg.URL)
		}
		if srv := tg.Labels["haproxy_server"]; srv != "" && !regexp.MustCompile(`(?m)^\s*server `+regexp.QuoteMeta(srv)+` `).Match(cfg) {
			t.Errorf("exporter target %s names server %s, not in haproxy.cfg", tg.Name, srv)
		}
	}

	// EMQX's bootstrap file is key:secret, and the exporter reads the same.
	emqx := svc("emqx")
	path := strings.Trim(*emqx.Environment["EMQX_API_KEY__BOOTSTRAP_FILE"], `"`)
	keySecret := secretTarget(emqx, path)
	if keySecret == "" {
		t.Fatalf("EMQX's bootstrap file %s is not one of its secrets", path)
	}
	key, err := os.ReadFile(p.Secrets[keySecret].File)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]+:[^:\s]+\n?$`).Match(key) {
		t.Errorf("%s is not one key:secret line", p.Secrets[keySecret].File)
	}
	if !containsArg(exp.Command, "--collector.emqx.api-key-file=/run/secrets/"+keySecret) || secretTarget(exp, "/run/secrets/"+keySecret) == "" {
		t.Errorf("the exporter does not read EMQX's key %s: %q", keySecret, exp.Command)
	}

	// SRS: the command loads the file mounted for it.
	for _, name := range []string{"srs-origin", "srs-edge"} {
		s := svc(name)
		conf := s.Command[len(s.Command)-1]
		if mountSource(s, "/usr/local/srs/"+conf) == "" {
			t.Errorf("%s runs with %s, which is not mounted", name, conf)
		}
	}
}

func containsArg(args []string, want string) bool {
	for _, a := range args {
		if a == want {
			return true
		}
	}
	return false
}

// The lbpilot and lbpilot-lab commands in the compose file use flags that
// exist (asked of the binaries themselves).
func TestComposeCommandsUseRealFlags(t *testing.T) {
	p := loadShipped(t)
	bins := buildBinaries(t)
	help := map[string]string{}
	helpOf := func(args ...string) string {
		key := strings.Join(args, " ")
		if h, ok := help[key]; ok {
			return h
		}
		out, err := exec.Command(args[0], append(args[1:], "--help")...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s --help: %v\n%s", key, err, out)
		}
		help[key] = string(out)
		return string(out)
	}
	checked := 0
	for name, s := range p.Services {
		if !strings.HasPrefix(s.Image, "lbpilot:") {
			continue
		}
		var h string
		args := []string(s.Command)
		switch {
		case len(s.Entrypoint) == 1 && s.Entrypoint[0] == "/usr/local/bin/lbpilot-lab":
			h = helpOf(bins.lab)
		case len(s.Entrypoint) == 0 && len(args) > 0:
			h = helpOf(bins.lbpilot, args[0])
			args = args[1:]
		default:
			t.Errorf("%s: entrypoint %q command %q", name, s.Entrypoint, s.Command)
			continue
		}
		for _, a := range args {
			flag, _, _ := strings.Cut(a, "=")
			if !strings.HasPrefix(flag, "--") || !strings.Contains(h, flag+"=") && !strings.Contains(h, flag+" ") {
				t.Errorf("%s: %s is not a flag of its program", name, flag)
			}
		}
		checked++
	}
	if checked != 6 {
		t.Errorf("checked %d lbpilot services, want 6", checked)
	}
}

// Debian's docker-compose (1.29, Python) validates the file against its
// own schema, without an engine. `make deps` installs it.
func TestDockerComposeConfig(t *testing.T) {
	dc := testenv.Binary(t, "docker-compose")
	cmd := exec.Command(dc, "-f", "docker-compose.yml", "config", "-q")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("docker-compose config -q: %v\n%s", err, out)
	}
	// It does find mistakes.
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "docker-compose.yml")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(b), "    restart: unless-stopped\n", "    restart: unless-stopped\n    portz: [1]\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(dc, "-f", bad, "--project-directory", root, "config", "-q")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("docker-compose accepted an unknown key:\n%s", out)
	}
}

// The files mounted into the containers load in the programs that read
// them (the Debian versions here: haproxy 2.6, Prometheus 2.42,
// Alertmanager 0.25, older than the images', so this is a floor).
func TestComposeConfigsLoad(t *testing.T) {
	bins := buildBinaries(t)
	dir := filepath.Join(root, "deploy", "compose")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(bins.lbpilot, "exporter", "--config.check", "--config.file="+filepath.Join(dir, "lbpilot.yml"))
	run(bins.lbpilot, "rebalancer", "--config.check", "--config.file="+filepath.Join(dir, "rebalancer.yml"), "--haproxy.socket=unix:/var/lib/haproxy/admin.sock")
	run(testenv.Binary(t, "promtool"), "check", "config", filepath.Join(dir, "prometheus.yml"))
	run(testenv.Binary(t, "amtool"), "check-config", filepath.Join(dir, "alertmanager.yml"))
	// Outside the compose network the servers' names do not resolve;
	// init-addr none lets HAProxy start anyway. Nothing else may warn.
	out := run(testenv.Binary(t, "haproxy"), "-c", "-f", filepath.Join(dir, "haproxy.cfg"))
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "[WARNING]") && !strings.Contains(line, "could not resolve address") || strings.Contains(line, "[ALERT]") {
			t.Errorf("haproxy -c: %s", line)
		}
	}
}
