package agent

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-kit/log"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

// recorder forwards to an upstream and records each request's path and
// Authorization header.
func recorder(t *testing.T, upstream string) (*httptest.Server, func() []string) {
	t.Helper()
	u, _ := url.Parse(upstream)
	rp := httputil.NewSingleHostReverseProxy(u)
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// TestSourceHTTPClientConfig: each source's block takes
// http_client_config, and its deprecated keys send the same requests with
// one warning.
func TestSourceHTTPClientConfig(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	pass := filepath.Join(dir, "pass")
	_ = os.WriteFile(token, []byte("tok3n\n"), 0o600)
	_ = os.WriteFile(pass, []byte("s\n"), 0o600)
	wcs := startLab(t, lab.Config{Kind: lab.WCS})
	srs := startLab(t, lab.Config{Kind: lab.SRS, APIKey: "k", APISecret: "s"})
	emqx := startLab(t, lab.Config{Kind: lab.EMQX, Name: "mq", APIKey: "k", APISecret: "s"})
	tests := []struct {
		name, source, upstream, block string
		auth, deprecated              string
	}{
		{"wcs bearer", "wcs", wcs.URL, "wcs: {http_client_config: {authorization: {credentials_file: " + token + "}}}", "Bearer tok3n", ""},
		{"srs basic_auth", "srs", srs.URL, "srs: {http_client_config: {basic_auth: {username: k, password_file: " + pass + "}}}", "Basic azpz", ""},
		{"srs deprecated", "srs", srs.URL, "srs: {username: k, password_file: " + pass + "}", "Basic azpz",
			`msg="Deprecated username, password_file (still working, same meaning); write http_client_config: {basic_auth: {username: k, password_file: ` + pass + `}} instead" block=srs`},
		{"emqx basic_auth", "emqx", emqx.URL, "emqx: {http_client_config: {basic_auth: {username: k, password_file: " + pass + "}}}", "Basic azpz", ""},
		{"emqx deprecated", "emqx", emqx.URL, "emqx: {username: k, password_file: " + pass + "}", "Basic azpz", "block=emqx"},
		{"wcs deprecated insecure_skip_verify", "wcs", wcs.URL, "wcs: {insecure_skip_verify: true}", "", "tls_config: {insecure_skip_verify: true}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			front, seen := recorder(t, tt.upstream)
			c, err := Parse([]byte("agent:\n  source: " + tt.source + "\n  target: " + front.URL + "\n  " + tt.block + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			o, err := c.Options(nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sampleOf(t, o.Source); err != nil {
				t.Fatal(err)
			}
			for _, s := range seen() {
				if strings.HasSuffix(s, "/api/v5/status ") {
					continue // EMQX's generation probe asks without credentials
				}
				if !strings.HasSuffix(s, " "+tt.auth) {
					t.Errorf("request %q, want Authorization %q", s, tt.auth)
				}
			}
			var logs testenv.SyncBuffer
			c.LogDeprecation(log.NewLogfmtLogger(&logs))
			n := strings.Count(logs.String(), "level=warn")
			if tt.deprecated == "" && n != 0 || tt.deprecated != "" && (n != 1 || !strings.Contains(logs.String(), tt.deprecated)) {
				t.Errorf("deprecation log %q, want %q", logs.String(), tt.deprecated)
			}
		})
	}
}

func TestSourceHTTPClientConfigErrors(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	_ = os.WriteFile(key, []byte("k:s3cret\n"), 0o600)
	tests := []struct{ yaml, want string }{
		{"agent:\n  source: srs\n  srs: {username: u, http_client_config: {basic_auth: {username: v}}}\n", "srs: username and http_client_config.basic_auth are both set"},
		{"agent:\n  source: wcs\n  wcs: {insecure_skip_verify: true, http_client_config: {tls_config: {insecure_skip_verify: false}}}\n", "wcs: insecure_skip_verify and http_client_config.tls_config.insecure_skip_verify are both set"},
		{"agent:\n  source: emqx\n  emqx: {api_key_file: " + key + ", http_client_config: {basic_auth: {username: v, password: s3cret}}}\n", "emqx: api_key_file and http_client_config.basic_auth are both set"},
		{"agent:\n  source: wcs\n  wcs: {http_client_config: {proxy_url: '::x'}}\n", `wcs: http_client_config: parse "::x"`},
		{"agent:\n  source: srs\n  srs: {http_client_config: {tls_config: {ca_file: /nonexistent/ca}}}\n", "srs: http_client_config: unable to read CA cert"},
		{"agent:\n  source: srs\n  srs: {http_client_config: {basic_auth: {username: u, password_file: /nonexistent/p}}}\n", "srs: reading http_client_config.basic_auth.password_file"},
		{"agent:\n  source: wcs\n  wcs: {http_client_config: {folow_redirects: true}}\n", "line 3: field folow_redirects not found in http_client_config"},
	}
	for _, tt := range tests {
		c, err := Parse([]byte(tt.yaml))
		if err == nil {
			_, err = c.Options(nil)
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.yaml, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error leaks a secret: %v", err)
		}
	}
}
