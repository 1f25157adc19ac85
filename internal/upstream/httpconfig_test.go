package upstream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/yamlconf"
)

// block is a module block as the collectors embed HTTPOptions.
type block struct {
	Other       string `yaml:"other"`
	HTTPOptions `yaml:",inline"`
}

func prepare(t *testing.T, doc string) (*HTTPOptions, error) {
	t.Helper()
	var b block
	if err := yamlconf.DecodeStrict([]byte(doc), &b); err != nil {
		return nil, err
	}
	if err := b.Prepare("test"); err != nil {
		return nil, err
	}
	return &b.HTTPOptions, nil
}

// fetch does what a collector does: the module's client, basic auth read
// when the collector is built.
func fetch(t *testing.T, o *HTTPOptions, u string) (*Response, error) {
	t.Helper()
	auth, err := o.BasicAuth()
	if err != nil {
		return nil, err
	}
	return Get(context.Background(), o.Client(), u, auth, 0)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemFile(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	return writeFile(t, dir, name, string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})))
}

// clientCert makes a CA and a client certificate it signs; it returns
// the CA pool (for the server) and the cert and key files.
func clientCert(t *testing.T, dir string) (*x509.CertPool, string, string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "lbpilot"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, pemFile(t, dir, "client.crt", "CERTIFICATE", der), pemFile(t, dir, "client.key", "EC PRIVATE KEY", keyDER)
}

var quiet = log.New(io.Discard, "", 0)

// echo answers with what identifies the request: its auth and client
// certificate.
func echo(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/redirect" {
		http.Redirect(w, r, "/", http.StatusFound)
		return
	}
	out := "auth=" + r.Header.Get("Authorization")
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		out += " cert=" + r.TLS.PeerCertificates[0].Subject.CommonName
	}
	_, _ = w.Write([]byte(out))
}

func TestHTTPClientConfigRequests(t *testing.T) {
	dir := t.TempDir()
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(echo))
	tlsSrv.Config.ErrorLog = quiet // the handshakes refused on purpose
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	caFile := pemFile(t, dir, "ca.crt", "CERTIFICATE", tlsSrv.Certificate().Raw)

	pool, certFile, keyFile := clientCert(t, dir)
	mtls := httptest.NewUnstartedServer(http.HandlerFunc(echo))
	mtls.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	mtls.Config.ErrorLog = quiet
	mtls.StartTLS()
	defer mtls.Close()
	mtlsCA := pemFile(t, dir, "mtls-ca.crt", "CERTIFICATE", mtls.Certificate().Raw)

	plain := httptest.NewServer(http.HandlerFunc(echo))
	defer plain.Close()
	// elsewhere sends every request on to plain: same host, another port.
	elsewhere := httptest.NewServer(http.RedirectHandler(plain.URL+"/", http.StatusFound))
	defer elsewhere.Close()

	var proxied []string
	var mu sync.Mutex
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proxied = append(proxied, r.Method+" "+r.URL.String()+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		_, _ = w.Write([]byte("via proxy"))
	}))
	defer proxy.Close()

	token := writeFile(t, dir, "token", "tok3n\n")
	pass := writeFile(t, dir, "pass", "s3cret\n")
	// httptest's certificate names example.com and 127.0.0.1, not localhost.
	localhost := strings.Replace(tlsSrv.URL, "127.0.0.1", "localhost", 1)

	tests := []struct {
		name, yaml, url string
		status          int
		body, err       string
	}{
		{"tls with ca_file", "http_client_config: {tls_config: {ca_file: " + caFile + "}}", tlsSrv.URL, 200, "auth=", ""},
		{"tls without ca_file", "", tlsSrv.URL, 0, "", "certificate signed by unknown authority"},
		{"insecure_skip_verify", "http_client_config: {tls_config: {insecure_skip_verify: true}}", tlsSrv.URL, 200, "auth=", ""},
		{"server_name", "http_client_config: {tls_config: {ca_file: " + caFile + ", server_name: example.com}}", localhost, 200, "auth=", ""},
		{"no server_name for a name the cert lacks", "http_client_config: {tls_config: {ca_file: " + caFile + "}}", localhost, 0, "", "not localhost"},
		{"client certificate", "http_client_config: {tls_config: {ca_file: " + mtlsCA + ", cert_file: " + certFile + ", key_file: " + keyFile + "}}", mtls.URL, 200, "auth= cert=lbpilot", ""},
		{"server requires a certificate", "http_client_config: {tls_config: {ca_file: " + mtlsCA + "}}", mtls.URL, 0, "", "certificate required"},
		{"bearer credentials_file", "http_client_config: {authorization: {credentials_file: " + token + "}}", plain.URL, 200, "auth=Bearer tok3n", ""},
		{"authorization type", "http_client_config: {authorization: {type: Token, credentials: abc}}", plain.URL, 200, "auth=Token abc", ""},
		{"basic_auth password_file", "http_client_config: {basic_auth: {username: admin, password_file: " + pass + "}}", plain.URL, 200, "auth=Basic YWRtaW46czNjcmV0", ""},
		{"basic_auth inline", "http_client_config: {basic_auth: {username: admin, password: s3cret}}", plain.URL, 200, "auth=Basic YWRtaW46czNjcmV0", ""},
		{"deprecated username and password_file", "username: admin\npassword_file: " + pass, plain.URL, 200, "auth=Basic YWRtaW46czNjcmV0", ""},
		{"deprecated insecure_skip_verify", "insecure_skip_verify: true", tlsSrv.URL, 200, "auth=", ""},
		{"proxy_url", "http_client_config: {proxy_url: " + proxy.URL + ", authorization: {credentials: abc}}", "http://upstream.invalid:1985/api/v1/summaries", 200, "via proxy", ""},
		{"follow_redirects default off", "", plain.URL + "/redirect", 302, "", ""},
		{"follow_redirects false", "http_client_config: {follow_redirects: false}", plain.URL + "/redirect", 302, "", ""},
		{"follow_redirects true", "http_client_config: {follow_redirects: true}", plain.URL + "/redirect", 200, "auth=", ""},
		{"follow_redirects never to another port", "http_client_config: {follow_redirects: true, basic_auth: {username: admin, password: s3cret}}", elsewhere.URL + "/", 0, "", "a redirect may not leave " + elsewhere.URL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := prepare(t, tt.yaml)
			if err != nil {
				t.Fatal(err)
			}
			r, err := fetch(t, o, tt.url)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status || !strings.HasPrefix(string(r.Body), tt.body) {
				t.Errorf("got %d %q, want %d %q", r.Status, r.Body, tt.status, tt.body)
			}
		})
	}
	if len(proxied) != 1 || proxied[0] != "GET http://upstream.invalid:1985/api/v1/summaries Bearer abc" {
		t.Errorf("proxy saw %q", proxied)
	}
}

// TestDeprecatedAliases: the old keys become the http_client_config they
// stand for, send the same requests, and are reported once, with their
// replacement.
func TestDeprecatedAliases(t *testing.T) {
	dir := t.TempDir()
	pass := writeFile(t, dir, "pass", "s3cret\n")
	var seen []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
	}))
	srv.Config.ErrorLog = quiet
	srv.StartTLS()
	defer srv.Close()
	old, err := prepare(t, "username: admin\npassword_file: "+pass+"\ninsecure_skip_verify: true\n")
	if err != nil {
		t.Fatal(err)
	}
	repl := "http_client_config: {basic_auth: {username: admin, password_file: " + pass + "}, tls_config: {insecure_skip_verify: true}}"
	d, ok := old.Deprecated()
	if !ok || strings.Join(d.Keys, ",") != "username,password_file,insecure_skip_verify" || d.Replacement != repl {
		t.Fatalf("deprecation %+v %v", d, ok)
	}
	if msg := d.Message(); !strings.Contains(msg, "username, password_file, insecure_skip_verify") || !strings.Contains(msg, repl) {
		t.Errorf("message %q", msg)
	}
	// The replacement, written out, means the same and is not deprecated.
	repl2 := strings.TrimPrefix(repl, "http_client_config: ")
	neu, err := prepare(t, "http_client_config: "+repl2)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := neu.Deprecated(); ok {
		t.Error("the new form is reported as deprecated")
	}
	for _, o := range []*HTTPOptions{old, neu} {
		if _, err := fetch(t, o, srv.URL+"/x"); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 2 || seen[0] != seen[1] || !strings.HasPrefix(seen[0], "GET /x Basic ") {
		t.Errorf("requests %q", seen)
	}
	// Preparing again (a collector built from prepared options) neither
	// reports twice nor builds another client.
	hc := old.Client()
	if err := old.Prepare("test"); err != nil || old.Client() != hc {
		t.Errorf("second Prepare: %v, same client %v", err, old.Client() == hc)
	}
	if old.Username != "" || old.PasswordFile != "" || old.InsecureSkipVerify != nil || old.HTTPClientConfig == nil {
		t.Errorf("aliases not moved: %+v", old)
	}
	// An explicit false is converted too (same meaning: verify).
	f, err := prepare(t, "insecure_skip_verify: false\n")
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := f.Deprecated(); !ok || d.Replacement != "http_client_config: {tls_config: {insecure_skip_verify: false}}" {
		t.Errorf("false: %+v", d)
	}
	if _, err := fetch(t, f, srv.URL); err == nil {
		t.Error("insecure_skip_verify: false skipped verification")
	}
}

func TestHTTPClientConfigErrors(t *testing.T) {
	dir := t.TempDir()
	pass := writeFile(t, dir, "pass", "s3cret\n")
	empty := writeFile(t, dir, "empty", "\n")
	missing := filepath.Join(dir, "missing")
	tests := []struct{ name, yaml, want string }{
		{"username and basic_auth", "username: a\nhttp_client_config: {basic_auth: {username: b}}", "test: username and http_client_config.basic_auth are both set"},
		{"password_file and basic_auth", "username: a\npassword_file: " + pass + "\nhttp_client_config: {basic_auth: {username: b}}", "username and password_file and http_client_config.basic_auth are both set"},
		{"both insecure_skip_verify", "insecure_skip_verify: true\nhttp_client_config: {tls_config: {insecure_skip_verify: false}}", "insecure_skip_verify and http_client_config.tls_config.insecure_skip_verify are both set"},
		{"password_file without username", "password_file: " + pass, "test: password_file needs username"},
		{"missing deprecated password_file", "username: a\npassword_file: " + missing, "test: password_file: stat "},
		{"missing password_file", "http_client_config: {basic_auth: {username: a, password_file: " + missing + "}}", "test: reading http_client_config.basic_auth.password_file: open " + missing},
		{"empty password_file", "http_client_config: {basic_auth: {username: a, password_file: " + empty + "}}", "http_client_config.basic_auth.password_file " + empty + " is empty"},
		{"missing username_file", "http_client_config: {basic_auth: {username_file: " + missing + "}}", "http_client_config.basic_auth.username_file"},
		{"password without username", "http_client_config: {basic_auth: {password: x}}", "basic_auth: a password needs a username"},
		{"secret refs", "http_client_config: {basic_auth: {username: a, password_ref: vault}}", "need a secret manager"},
		{"two passwords", "http_client_config: {basic_auth: {username: a, password: x, password_file: " + pass + "}}", "test: http_client_config: at most one of basic_auth password, password_file & password_ref"},
		{"basic_auth and authorization", "http_client_config: {basic_auth: {username: a}, authorization: {credentials: x}}", "test: http_client_config: at most one of basic_auth, oauth2 & authorization"},
		{"missing credentials_file", "http_client_config: {authorization: {credentials_file: " + missing + "}}", "test: reading http_client_config.authorization.credentials_file"},
		{"missing oauth2 client_secret_file", "http_client_config: {oauth2: {client_id: a, client_secret_file: " + missing + ", token_url: 'http://x/token'}}", "http_client_config.oauth2.client_secret_file"},
		{"missing ca_file", "http_client_config: {tls_config: {ca_file: " + missing + "}}", "test: http_client_config: unable to read CA cert"},
		{"ca_file not PEM", "http_client_config: {tls_config: {ca_file: " + pass + "}}", "unable to use specified CA cert"},
		{"cert without key", "http_client_config: {tls_config: {cert_file: " + pass + "}}", "test: http_client_config: exactly one of key or key_file"},
		{"bad cert pair", "http_client_config: {tls_config: {cert_file: " + pass + ", key_file: " + pass + "}}", "unable to use specified client cert"},
		{"ca_ref", "http_client_config: {tls_config: {ca_ref: x}}", "cannot use secret ref without manager"},
		{"bad proxy_url", "http_client_config: {proxy_url: '::not a url'}", "test: http_client_config: parse \"::not a url\": missing protocol scheme"},
		{"proxy_url and from environment", "http_client_config: {proxy_url: 'http://p:3128', proxy_from_environment: true}", "if proxy_from_environment is configured, proxy_url must not be configured"},
		{"unknown key", "http_client_config:\n  tls_config: {}\n  folow_redirects: false\n", "line 3: field folow_redirects not found in http_client_config"},
		{"unknown nested key", "http_client_config:\n  tls_config: {ca_fil: x}\n", "line 2: field ca_fil not found"},
		{"wrong type", "http_client_config: {follow_redirects: maybe}", "cannot unmarshal !!str `maybe` into bool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := prepare(t, tt.yaml)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestHTTPOptionsHelpers(t *testing.T) {
	var o HTTPOptions
	if o.Client() != pooled || o.HasAuth() {
		t.Error("unprepared options: want the pooled client and no auth")
	}
	if a, err := o.BasicAuth(); err != nil || a != (Auth{}) {
		t.Errorf("no basic auth: %+v %v", a, err)
	}
	for doc, want := range map[string]bool{
		"username: a": true,
		"http_client_config: {authorization: {credentials: x}}":                    true,
		"http_client_config: {bearer_token: x}":                                    true,
		"http_client_config: {oauth2: {client_id: a, token_url: 'http://x/t'}}":    true,
		"http_client_config: {tls_config: {insecure_skip_verify: true}}":           false,
		"http_client_config: {basic_auth: {username: a}, follow_redirects: false}": true,
	} {
		var b block
		if err := yamlconf.DecodeStrict([]byte(doc), &b); err != nil {
			t.Fatal(err)
		}
		if b.HasAuth() != want {
			t.Errorf("%s: HasAuth %v", doc, !want)
		}
	}
	for s, want := range map[string]string{"admin": "admin", "/etc/x.pass": "/etc/x.pass", "a b": `"a b"`, "yes": `"yes"`, "": `""`, "#x": `"#x"`} {
		if got := yamlScalar(s); got != want {
			t.Errorf("yamlScalar(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestPrepareFollowing: a player-like client follows a redirect by
// default, within the same origin only; follow_redirects: false still
// turns it off.
func TestPrepareFollowing(t *testing.T) {
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a redirect reached another listener (Authorization %q)", r.Header.Get("Authorization"))
	}))
	defer elsewhere.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/live/a.m3u8":
			if r.URL.Query().Get("hls_ctx") == "" {
				http.Redirect(w, r, "/live/a.m3u8?hls_ctx=x1", http.StatusFound)
				return
			}
			_, _ = io.WriteString(w, "#EXTM3U\n")
		case "/away":
			http.Redirect(w, r, elsewhere.URL+"/", http.StatusFound)
		}
	}))
	defer srv.Close()
	for _, tt := range []struct {
		name, yaml, path string
		status           int
		err              string
	}{
		{"default follows", "", "/live/a.m3u8", 200, ""},
		{"follow_redirects false", "http_client_config: {follow_redirects: false}", "/live/a.m3u8", 302, ""},
		{"never to another origin", "", "/away", 0, "a redirect may not leave"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b block
			if err := yamlconf.DecodeStrict([]byte(tt.yaml), &b); err != nil {
				t.Fatal(err)
			}
			if err := b.PrepareFollowing("test"); err != nil {
				t.Fatal(err)
			}
			r, err := fetch(t, &b.HTTPOptions, srv.URL+tt.path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status {
				t.Errorf("status %d, want %d", r.Status, tt.status)
			}
		})
	}
}
