package exporter

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/lbpilot/lbpilot/internal/lab"
)

// front is an HTTP server in front of an upstream that records what it
// is asked (path and Authorization) and counts the connections opened to
// it. As a proxy (proxy_url) it forwards absolute-URL requests to their
// host; else it forwards everything to the upstream.
type front struct {
	*httptest.Server
	mu    sync.Mutex
	seen  []string
	conns int
}

func newFront(t *testing.T, upstream string) *front {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	f := &front{}
	rp := httputil.NewSingleHostReverseProxy(u)
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, r.URL.Path+" "+r.Header.Get("Authorization"))
		f.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	f.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.mu.Lock()
			f.conns++
			f.mu.Unlock()
		}
	}
	f.Start()
	t.Cleanup(f.Close)
	return f
}

func (f *front) requests() ([]string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...), f.conns
}

// TestModuleHTTPClientConfig: every HTTP kind sends what its
// http_client_config says (here: through a proxy, with a bearer token),
// and /probe requests reuse the module's client and its connections.
func TestModuleHTTPClientConfig(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("tok3n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	csv, err := os.ReadFile("../collectors/haproxy/testdata/http_stats_csv.csv")
	if err != nil {
		t.Fatal(err)
	}
	stats := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(csv) }))
	defer stats.Close()
	targets := map[string]string{
		"wcs":     startLab(t, lab.Config{Kind: lab.WCS, Name: "wcs1"}).URL,
		"srs":     startLab(t, lab.Config{Kind: lab.SRS, Name: "srs1"}).URL,
		"emqx":    startLab(t, lab.Config{Kind: lab.EMQX, Name: "emqx1"}).URL,
		"haproxy": stats.URL + "/stats",
	}
	for kind, target := range targets {
		t.Run(kind, func(t *testing.T) {
			proxy := newFront(t, target)
			cfg := "modules:\n  m:\n    kind: " + kind + "\n    probe_allow: [127.0.0.1]\n    " + kind + ":\n      http_client_config:\n" +
				"        proxy_url: " + proxy.URL + "\n        authorization: {credentials_file: " + token + "}\n"
			if kind == "emqx" {
				cfg += "      api_version: v5\n"
			}
			e, logs := newTestExporter(t, cfg, Options{Kinds: Kinds()})
			h := e.ProbeHandler()
			var first int
			for i := 0; i < 3; i++ {
				if up := gaugeValue(t, scrape(t, h, probe("m", target)), "lbpilot_up", nil); up != 1 {
					t.Fatalf("probe %d: up %v; %s", i, up, logs)
				}
				if i == 0 {
					_, first = proxy.requests()
				}
			}
			seen, conns := proxy.requests()
			if len(seen) < 3 {
				t.Fatalf("the proxy saw %q", seen)
			}
			for _, s := range seen {
				if !strings.HasSuffix(s, " Bearer tok3n") {
					t.Errorf("request %q without the bearer token", s)
				}
			}
			// Three probes, each a new collector, share one client: WCS and
			// HAProxy ask one page at a time, so one connection serves all;
			// SRS and EMQX ask several endpoints at once, so the later
			// probes open at most as many as one probe asks.
			if (kind == "wcs" || kind == "haproxy") && conns != 1 {
				t.Errorf("%d connections for 3 sequential probes", conns)
			}
			if conns-first > len(seen)/3 {
				t.Errorf("%d connections after the first probe, %d after three (%d requests)", first, conns, len(seen))
			}
			if strings.Contains(logs.String(), "tok3n") {
				t.Errorf("the token reached the log: %s", logs)
			}
		})
	}
}

// TestDeprecatedModuleKeys: the old keys send the same requests as the
// http_client_config they stand for, with exactly one warning per module
// per load, naming the module, the keys and the replacement.
func TestDeprecatedModuleKeys(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "srs.pass")
	if err := os.WriteFile(pass, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srs := startLab(t, lab.Config{Kind: lab.SRS, Name: "srs1", APIKey: "admin", APISecret: "s3cret"})
	f := newFront(t, srs.URL)
	cfg := `modules:
  old:
    kind: srs
    probe_allow: [127.0.0.1]
    srs: {username: admin, password_file: ` + pass + `, insecure_skip_verify: true, clients: false}
  new:
    kind: srs
    probe_allow: [127.0.0.1]
    srs:
      clients: false
      http_client_config:
        basic_auth: {username: admin, password_file: ` + pass + `}
        tls_config: {insecure_skip_verify: true}
  old_tls:
    kind: wcs
    wcs: {insecure_skip_verify: false}
`
	e, logs := newTestExporter(t, cfg, Options{Kinds: Kinds()})
	h := e.ProbeHandler()
	var byModule [2][]string
	for i, m := range []string{"old", "new"} {
		n, _ := f.requests()
		if up := gaugeValue(t, scrape(t, h, probe(m, f.URL)), "lbpilot_up", nil); up != 1 {
			t.Fatalf("%s: up %v; %s", m, up, logs)
		}
		seen, _ := f.requests()
		byModule[i] = seen[len(n):]
		sort.Strings(byModule[i]) // SRS reads its endpoints concurrently
	}
	if strings.Join(byModule[0], "\n") != strings.Join(byModule[1], "\n") || !strings.Contains(byModule[0][0], "Basic ") {
		t.Errorf("old keys sent\n%q\nthe new form\n%q", byModule[0], byModule[1])
	}
	lines := func() []string {
		var out []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "level=warn") && strings.Contains(l, "Deprecated") {
				out = append(out, l)
			}
		}
		return out
	}
	want := []string{
		`module=old`, `username, password_file, insecure_skip_verify`,
		`http_client_config: {basic_auth: {username: admin, password_file: ` + pass + `}, tls_config: {insecure_skip_verify: true}}`,
	}
	got := lines()
	if len(got) != 2 {
		t.Fatalf("want one warning for old and one for old_tls, got %q", got)
	}
	for _, w := range want {
		if !strings.Contains(got[0], w) {
			t.Errorf("warning %q does not say %q", got[0], w)
		}
	}
	if !strings.Contains(got[1], "module=old_tls") || !strings.Contains(got[1], "tls_config: {insecure_skip_verify: false}") {
		t.Errorf("warning %q", got[1])
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Errorf("a secret reached the log: %s", logs)
	}
	// A reload warns again, once per module.
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := len(lines()); n != 4 {
		t.Errorf("%d warnings after one reload, want 4", n)
	}
}

// TestHTTPClientConfigErrorsNameTheModule: errors at load name the module
// and the keys, and never print a secret.
func TestHTTPClientConfigErrorsNameTheModule(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	_ = os.WriteFile(key, []byte("k:s3cret\n"), 0o600)
	missing := filepath.Join(dir, "missing")
	tests := []struct{ yaml, want string }{
		{"modules:\n  a:\n    kind: srs\n    srs: {username: u, http_client_config: {basic_auth: {username: v, password: s3cret}}}\n",
			`module "a": srs: username and http_client_config.basic_auth are both set`},
		{"modules:\n  a:\n    kind: wcs\n    wcs: {insecure_skip_verify: true, http_client_config: {tls_config: {insecure_skip_verify: true}}}\n",
			`module "a": wcs: insecure_skip_verify and http_client_config.tls_config.insecure_skip_verify are both set`},
		{"modules:\n  a:\n    kind: emqx\n    emqx: {api_key_file: " + key + ", http_client_config: {basic_auth: {username: v, password: s3cret}}}\n",
			`module "a": emqx: api_key_file and http_client_config.basic_auth are both set`},
		{"modules:\n  a:\n    kind: emqx\n    emqx: {api_key_file: " + key + ", http_client_config: {authorization: {credentials: s3cret}}}\n",
			`module "a": emqx: api_key_file and http_client_config.authorization are both set`},
		{"modules:\n  a:\n    kind: haproxy\n    haproxy: {http_client_config: {proxy_url: '::x'}}\n",
			`module "a": haproxy: http_client_config: parse "::x": missing protocol scheme`},
		{"modules:\n  a:\n    kind: srs\n    srs: {http_client_config: {tls_config: {ca_file: " + missing + "}}}\n",
			`module "a": srs: http_client_config: unable to read CA cert`},
		{"modules:\n  a:\n    kind: wcs\n    wcs: {http_client_config: {authorization: {credentials_file: " + missing + "}}}\n",
			`module "a": wcs: reading http_client_config.authorization.credentials_file`},
		{"modules:\n  a:\n    kind: wcs\n    wcs:\n      http_client_config: {tls_config: {key_fil: x}}\n",
			"line 5: field key_fil not found"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml), Kinds())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.yaml, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error leaks a secret: %v", err)
		}
	}
}

// TestReloadKeepsHTTPClientConfig: a reload whose http_client_config is
// bad is refused, naming the module and key; the running modules keep
// their clients and credentials.
func TestReloadKeepsHTTPClientConfig(t *testing.T) {
	wcs := startLab(t, lab.Config{Kind: lab.WCS, Name: "wcs1"})
	f := newFront(t, wcs.URL)
	dir := t.TempDir()
	cfg := "modules:\n  w:\n    kind: wcs\n    probe_allow: [127.0.0.1]\n    wcs: {http_client_config: {authorization: {credentials: first}}}\n"
	path := writeFile(t, dir, "lbpilot.yml", cfg)
	e, logs := newExporter(t, Options{ConfigFile: path})
	writeFile(t, dir, "lbpilot.yml", "modules:\n  w:\n    kind: wcs\n    wcs: {http_client_config: {authorization: {credentials_file: "+filepath.Join(dir, "gone")+"}}}\n")
	rec := httptest.NewRecorder()
	e.ReloadHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/-/reload", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `module "w": wcs: reading http_client_config.authorization.credentials_file`) {
		t.Fatalf("bad reload: %d %s", rec.Code, rec.Body)
	}
	if up := gaugeValue(t, scrape(t, e.ProbeHandler(), probe("w", f.URL)), "lbpilot_up", nil); up != 1 {
		t.Fatalf("up %v; %s", up, logs)
	}
	if seen, _ := f.requests(); len(seen) != 1 || !strings.HasSuffix(seen[0], " Bearer first") {
		t.Errorf("after a refused reload the module sent %q", seen)
	}
}

// TestConfigYAMLHidesSecrets: the configuration --config.check prints
// shows the http_client_config keys (the deprecated ones converted) and
// no secret.
func TestConfigYAMLHidesSecrets(t *testing.T) {
	dir := t.TempDir()
	pass := writeFile(t, dir, "pass", "s3cret\n")
	cfg := `modules:
  a:
    kind: wcs
    wcs:
      http_client_config:
        basic_auth: {username: admin, password: hunter2}
        tls_config: {server_name: wcs.example, insecure_skip_verify: false}
        proxy_url: http://user:proxypass@proxy:3128
        follow_redirects: false
  b:
    kind: srs
    srs: {username: admin, password_file: ` + pass + `}
  c:
    kind: emqx
    emqx: {http_client_config: {authorization: {credentials: t0ken}}}
`
	c, err := CheckConfig(writeFile(t, dir, "lbpilot.yml", cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"      http_client_config:\n        basic_auth:\n          username: admin\n          password: <secret>\n        tls_config:\n          server_name: wcs.example\n          insecure_skip_verify: false\n        follow_redirects: false\n",
		"proxy_url: http://user:xxxxx@proxy:3128",
		"      http_client_config:\n        basic_auth:\n          username: admin\n          password_file: " + pass + "\n",
		"        authorization:\n          type: Bearer\n          credentials: <secret>\n",
	} {
		if !strings.Contains(string(out), w) {
			t.Errorf("output lacks\n%s\n--- output:\n%s", w, out)
		}
	}
	for _, s := range []string{"hunter2", "proxypass", "s3cret", "t0ken", "insecure_skip_verify: true"} {
		if strings.Contains(string(out), s) {
			t.Errorf("output shows %q:\n%s", s, out)
		}
	}
	if d := c.Deprecations(); len(d) != 1 || d[0].Module != "b" {
		t.Errorf("deprecations %+v", d)
	}
}
