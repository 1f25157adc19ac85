package upstream

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"
)

// idleConnTimeout keeps idle upstream connections for reuse between
// scrapes (common's default is five minutes; an upstream restarting or a
// /probe target scraped once should not hold sockets that long).
const idleConnTimeout = 90 * time.Second

// ClientConfig is a module's http_client_config: Prometheus's common HTTP
// client configuration (basic_auth, authorization, oauth2, tls_config,
// proxy_url, follow_redirects, enable_http2, http_headers). Decoding it
// fills common's defaults (follow_redirects and enable_http2 true) but
// leaves the checks to HTTPOptions.Prepare, so that their errors name the
// module; it also remembers whether tls_config.insecure_skip_verify was
// written, so that the deprecated insecure_skip_verify key conflicts with
// an explicit false too.
type ClientConfig struct {
	Config promconfig.HTTPClientConfig

	insecureKey  bool
	redirectsKey bool  // follow_redirects was written
	decodeErr    error // a value common refused (a bad proxy_url, tls_config)
}

// UnmarshalYAML decodes through the caller's decoder, so unknown keys
// and wrong types stay errors naming their line.
func (c *ClientConfig) UnmarshalYAML(unmarshal func(any) error) error {
	var raw map[string]any
	if err := unmarshal(&raw); err != nil {
		return err
	}
	type plain promconfig.HTTPClientConfig
	c.Config = promconfig.DefaultHTTPClientConfig
	if err := unmarshal((*plain)(&c.Config)); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			c.decodeErr = err // reported by Prepare, with the module's name
			return nil
		}
		for i, e := range te.Errors {
			te.Errors[i] = strings.Replace(e, "in type upstream.plain", "in http_client_config", 1)
		}
		return te
	}
	if tls, ok := raw["tls_config"].(map[string]any); ok {
		_, c.insecureKey = tls["insecure_skip_verify"]
	}
	_, c.redirectsKey = raw["follow_redirects"]
	return nil
}

// MarshalYAML writes common's configuration; its secrets marshal as
// <secret>, a proxy URL's password as xxxxx.
func (c ClientConfig) MarshalYAML() (any, error) { return c.Config, nil }

// HTTPOptions are the HTTP keys every HTTP-speaking module block shares
// (wcs:, srs:, emqx:, haproxy: for stats pages; the agent's blocks too).
// Embed it with `yaml:",inline"` and call Prepare from the block's
// validation: it turns the deprecated keys into HTTPClientConfig, checks
// everything, and builds the module's one *http.Client, which every
// collector of the module (each /probe request builds one) then shares,
// so connections are reused across scrapes and probes.
type HTTPOptions struct {
	// HTTPClientConfig is the http_client_config key; nil means common's
	// defaults.
	HTTPClientConfig *ClientConfig `yaml:"http_client_config,omitempty"`

	// Username, PasswordFile and InsecureSkipVerify are the deprecated
	// module-level keys. Prepare moves them into HTTPClientConfig
	// (basic_auth, tls_config.insecure_skip_verify) and clears them.
	Username           string `yaml:"username,omitempty"`
	PasswordFile       string `yaml:"password_file,omitempty"`
	InsecureSkipVerify *bool  `yaml:"insecure_skip_verify,omitempty"`

	// MaxResponseBytes bounds one answer's body; a larger one fails the
	// request with an error naming the key. 0 keeps DefaultMaxBody.
	MaxResponseBytes int64 `yaml:"max_response_bytes,omitempty"`

	prepared *prepared
}

// prepared is what Prepare made; copies of the options share it.
type prepared struct {
	kind        string
	client      *http.Client
	deprecated  []string
	replacement string
}

// Prepare converts the deprecated keys, validates the configuration, checks
// that the files it names can be read, and builds the client. kind
// ("srs", "wcs", ...) prefixes every error. Preparing again is a no-op, so
// options validated at load keep their client in every copy.
func (o *HTTPOptions) Prepare(kind string) error { return o.prepare(kind, false) }

// PrepareFollowing is Prepare for a client that acts as a player does
// (the flv, hls and websocket probes): redirects are followed unless
// follow_redirects: false is written, and still only within the same
// scheme, host and port. SRS answers an HLS playlist with a 302 to the
// same playlist carrying its session (hls_ctx), and every player follows it.
func (o *HTTPOptions) PrepareFollowing(kind string) error { return o.prepare(kind, true) }

func (o *HTTPOptions) prepare(kind string, follow bool) error {
	if o.prepared != nil {
		return nil
	}
	cfg := promconfig.DefaultHTTPClientConfig
	insecureKey, redirectsKey := false, false
	if o.HTTPClientConfig != nil {
		if err := o.HTTPClientConfig.decodeErr; err != nil {
			return fmt.Errorf("%s: http_client_config: %w", kind, err)
		}
		cfg = o.HTTPClientConfig.Config
		insecureKey, redirectsKey = o.HTTPClientConfig.insecureKey, o.HTTPClientConfig.redirectsKey
	}
	if !redirectsKey {
		// An upstream API answers where it is asked; a redirect is a
		// misconfiguration or someone steering the request (and its
		// credentials) elsewhere. Common's default is true; lbpilot's is
		// false for API readers, true (same origin only) for probes.
		cfg.FollowRedirects = follow
	}
	var old, repl []string
	if o.Username != "" || o.PasswordFile != "" {
		keys := oldAuthKeys(o.Username, o.PasswordFile)
		if cfg.BasicAuth != nil {
			return fmt.Errorf("%s: %s and http_client_config.basic_auth are both set; keep http_client_config.basic_auth only", kind, strings.Join(keys, " and "))
		}
		if err := CheckBasicAuth(kind, o.Username, o.PasswordFile); err != nil {
			return err
		}
		cfg.BasicAuth = &promconfig.BasicAuth{Username: o.Username, PasswordFile: o.PasswordFile}
		old = append(old, keys...)
		var ba []string
		if o.Username != "" {
			ba = append(ba, "username: "+yamlScalar(o.Username))
		}
		if o.PasswordFile != "" {
			ba = append(ba, "password_file: "+yamlScalar(o.PasswordFile))
		}
		repl = append(repl, "basic_auth: {"+strings.Join(ba, ", ")+"}")
	}
	if o.InsecureSkipVerify != nil {
		if insecureKey {
			return fmt.Errorf("%s: insecure_skip_verify and http_client_config.tls_config.insecure_skip_verify are both set; keep http_client_config.tls_config.insecure_skip_verify only", kind)
		}
		cfg.TLSConfig.InsecureSkipVerify = *o.InsecureSkipVerify
		insecureKey = true
		old = append(old, "insecure_skip_verify")
		repl = append(repl, "tls_config: {insecure_skip_verify: "+strconv.FormatBool(*o.InsecureSkipVerify)+"}")
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: http_client_config: %w", kind, err)
	}
	if err := checkFiles(kind, &cfg); err != nil {
		return err
	}
	// lbpilot sends basic auth itself (Auth, read when a collector is
	// built), so the client leaves it out.
	clientCfg := cfg
	clientCfg.BasicAuth = nil
	hc, err := promconfig.NewClientFromConfig(clientCfg, "lbpilot_"+kind, promconfig.WithIdleConnTimeout(idleConnTimeout))
	if err != nil {
		return fmt.Errorf("%s: http_client_config: %w", kind, err)
	}
	if cfg.FollowRedirects {
		hc.CheckRedirect = sameOrigin
	}
	if o.MaxResponseBytes < 0 {
		return fmt.Errorf("%s: max_response_bytes must not be negative", kind)
	}
	if o.MaxResponseBytes > 0 {
		hc.Transport = limitBodies{next: hc.Transport, max: o.MaxResponseBytes}
	}
	if o.HTTPClientConfig != nil || len(old) > 0 {
		o.HTTPClientConfig = &ClientConfig{Config: cfg, insecureKey: insecureKey, redirectsKey: true}
	}
	o.Username, o.PasswordFile, o.InsecureSkipVerify = "", "", nil
	p := &prepared{kind: kind, client: hc, deprecated: old}
	if len(repl) > 0 {
		p.replacement = "http_client_config: {" + strings.Join(repl, ", ") + "}"
	}
	o.prepared = p
	return nil
}

// plainScalar matches strings YAML reads back as the same string unquoted.
var plainScalar = regexp.MustCompile(`^[A-Za-z0-9_./][A-Za-z0-9_./@+-]*$`)

// yamlScalar writes s for a flow mapping, quoted only when it must be.
func yamlScalar(s string) string {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "y", "n":
		return strconv.Quote(s)
	}
	if plainScalar.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

func oldAuthKeys(user, file string) []string {
	var keys []string
	if user != "" {
		keys = append(keys, "username")
	}
	if file != "" {
		keys = append(keys, "password_file")
	}
	return keys
}

// checkFiles reads the credential files of cfg now, so that a missing or
// empty one is a load error naming the key rather than a failing scrape.
// Common's client reads them again on every request (TLS files, the
// authorization credentials); basic auth is read when a collector is built.
func checkFiles(kind string, cfg *promconfig.HTTPClientConfig) error {
	if ba := cfg.BasicAuth; ba != nil {
		if ba.UsernameRef != "" || ba.PasswordRef != "" {
			return fmt.Errorf("%s: http_client_config.basic_auth: username_ref and password_ref need a secret manager, which lbpilot has not; use username_file or password_file", kind)
		}
		if _, err := readBasicAuth(kind, ba); err != nil {
			return err
		}
	}
	if a := cfg.Authorization; a != nil && a.CredentialsFile != "" {
		if _, err := ReadSecretFile("http_client_config.authorization.credentials_file", a.CredentialsFile); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
	}
	if a := cfg.OAuth2; a != nil && a.ClientSecretFile != "" {
		if _, err := ReadSecretFile("http_client_config.oauth2.client_secret_file", a.ClientSecretFile); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
	}
	return nil
}

// readBasicAuth reads basic_auth's username and password (inline or from
// their files; a file's first line, trimmed).
func readBasicAuth(kind string, ba *promconfig.BasicAuth) (Auth, error) {
	a := Auth{Username: ba.Username, Password: string(ba.Password)}
	var err error
	if ba.UsernameFile != "" {
		if a.Username, err = ReadSecretFile("http_client_config.basic_auth.username_file", ba.UsernameFile); err != nil {
			return Auth{}, fmt.Errorf("%s: %w", kind, err)
		}
	}
	if ba.PasswordFile != "" {
		if a.Password, err = ReadSecretFile("http_client_config.basic_auth.password_file", ba.PasswordFile); err != nil {
			return Auth{}, fmt.Errorf("%s: %w", kind, err)
		}
	}
	if a.Username == "" && a.Password != "" {
		return Auth{}, fmt.Errorf("%s: http_client_config.basic_auth: a password needs a username", kind)
	}
	return a, nil
}

// Client returns the module's client built by Prepare (the shared pooled
// client before it).
func (o *HTTPOptions) Client() *http.Client {
	if o.prepared == nil {
		return pooled
	}
	return o.prepared.client
}

// BasicAuth reads the credentials of http_client_config.basic_auth from
// their files, for the caller to send (and to name in its hints when an
// upstream refuses them). Collectors call it when they are built, so a
// rotated password is used from the next reload, or the next /probe
// request. Call Prepare first.
func (o *HTTPOptions) BasicAuth() (Auth, error) {
	if o.HTTPClientConfig == nil || o.HTTPClientConfig.Config.BasicAuth == nil {
		return Auth{}, nil
	}
	kind := "http"
	if o.prepared != nil {
		kind = o.prepared.kind
	}
	return readBasicAuth(kind, o.HTTPClientConfig.Config.BasicAuth)
}

// HasAuth reports whether any credentials are configured: basic_auth,
// authorization, oauth2 or the deprecated username and password_file.
func (o *HTTPOptions) HasAuth() bool {
	if o.Username != "" || o.PasswordFile != "" {
		return true
	}
	if o.HTTPClientConfig == nil {
		return false
	}
	c := &o.HTTPClientConfig.Config
	return c.BasicAuth != nil || c.Authorization != nil || c.OAuth2 != nil || c.BearerToken != "" || c.BearerTokenFile != ""
}

// SendsCredentials reports whether requests of these options carry
// anything secret: basic auth, an authorization header, oauth2, a TLS
// client certificate or custom headers. Such a module must not be
// pointed at an arbitrary /probe target.
func (o *HTTPOptions) SendsCredentials() bool {
	if o.HasAuth() {
		return true
	}
	if o.HTTPClientConfig == nil {
		return false
	}
	c := &o.HTTPClientConfig.Config
	return c.TLSConfig.CertFile != "" || c.TLSConfig.Cert != "" || (c.HTTPHeaders != nil && len(c.HTTPHeaders.Headers) > 0)
}

// limitBodies fails the read of a response body past max bytes.
type limitBodies struct {
	next http.RoundTripper
	max  int64
}

func (l limitBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: l.max, max: l.max}
	return resp, nil
}

// ErrBodyTooLarge is a response body past the module's max_response_bytes.
var ErrBodyTooLarge = errors.New("response too large")

type limitedBody struct {
	io.ReadCloser
	left, max int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, fmt.Errorf("%w: body larger than %d bytes (the module's max_response_bytes)", ErrBodyTooLarge, b.max)
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, fmt.Errorf("%w: body larger than %d bytes (the module's max_response_bytes)", ErrBodyTooLarge, b.max)
	}
	return n, err
}

// maxRedirects is net/http's own limit.
const maxRedirects = 10

// sameOrigin follows a redirect only to the same scheme, host and port:
// the credentials a module sends (basic auth, and the headers common's
// round tripper adds to every request) must never reach another listener.
// net/http itself keeps Authorization across a change of port.
func sameOrigin(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		return fmt.Errorf("redirect to %s refused: a redirect may not leave %s://%s (credentials are never sent elsewhere)", RedactURL(req.URL.String()), first.Scheme, first.Host)
	}
	return nil
}

// Deprecation is a module block's use of the deprecated keys.
type Deprecation struct {
	// Keys are the deprecated keys used, e.g. [username password_file].
	Keys []string
	// Replacement is the http_client_config they were converted into.
	Replacement string
}

// Deprecated returns the deprecated keys Prepare converted, if any.
func (o *HTTPOptions) Deprecated() (Deprecation, bool) {
	if o.prepared == nil || len(o.prepared.deprecated) == 0 {
		return Deprecation{}, false
	}
	return Deprecation{Keys: o.prepared.deprecated, Replacement: o.prepared.replacement}, true
}

// Message is the deprecation warning's text.
func (d Deprecation) Message() string {
	return "Deprecated " + strings.Join(d.Keys, ", ") + " (still working, same meaning); write " + d.Replacement + " instead"
}
