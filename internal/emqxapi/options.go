package emqxapi

import (
	"fmt"
	"os"
	"strings"

	"github.com/lbpilot/lbpilot/internal/upstream"
)

// Options say how to reach one EMQX management API: the `emqx:` block of
// an exporter module and of the agent's config.
type Options struct {
	// APIVersion is v5, v4 or v2; auto (the default) detects it once per
	// target and logs the result.
	APIVersion string `yaml:"api_version"`
	// APIKeyFile is a file holding "key:secret" on its first line: an
	// EMQX 5 API key and secret (the format of EMQX's
	// api_key.bootstrap_file; a trailing ":role" is ignored), an EMQX 4
	// AppID and secret, or an emqttd 2 dashboard user and password. They
	// are sent as HTTP basic auth; http_client_config.basic_auth (the key
	// or AppID as username, the secret alone in password_file) is the
	// alternative.
	APIKeyFile string `yaml:"api_key_file"`
	// Node reads one node only: its name (emqx@10.0.0.11), or "self" for
	// the node answering (EMQX 5). Empty (the default) reads the whole
	// cluster through the answering node, labelled per node.
	Node string `yaml:"node"`
	// HTTPOptions: http_client_config (TLS for an https listener,
	// basic_auth, proxy) and its deprecated aliases.
	upstream.HTTPOptions `yaml:",inline"`
}

// DefaultOptions returns the options of the built-in emqx module.
func DefaultOptions() *Options {
	o := &Options{}
	if err := o.Validate(); err != nil {
		panic(err)
	}
	return o
}

// Validate fills defaults and checks the options (credential files must
// exist; they are read when a collector is built).
func (o *Options) Validate() error {
	switch strings.ToLower(o.APIVersion) {
	case "", "auto":
		o.APIVersion = "auto"
	case "v5", "5":
		o.APIVersion = string(V5)
	case "v4", "4":
		o.APIVersion = string(V4)
	case "v2", "2":
		o.APIVersion = string(V2)
	default:
		return fmt.Errorf("emqx: api_version %q: want auto, v5, v4 or v2", o.APIVersion)
	}
	if o.APIKeyFile != "" && (o.Username != "" || o.PasswordFile != "") {
		return fmt.Errorf("emqx: set either api_key_file or username and password_file, not both")
	}
	if o.APIKeyFile != "" && o.HasAuth() {
		return fmt.Errorf("emqx: api_key_file and http_client_config.%s are both set; keep one", o.authKey())
	}
	if o.APIKeyFile != "" {
		if _, err := os.Stat(o.APIKeyFile); err != nil {
			return fmt.Errorf("emqx: api_key_file: %w", err)
		}
	}
	if err := o.Prepare("emqx"); err != nil {
		return err
	}
	if o.Node == SelfNode && (o.APIVersion == string(V4) || o.APIVersion == string(V2)) {
		return fmt.Errorf("emqx: node: %s needs the EMQX 5 API; name the node", SelfNode)
	}
	return nil
}

// HasCredentials reports whether the options name any credentials (the
// exporter's --collector.emqx.api-key-file fills in those that do not).
func (o *Options) HasCredentials() bool {
	return o.APIKeyFile != "" || o.HasAuth()
}

// authKey names the http_client_config credentials key in use.
func (o *Options) authKey() string {
	c := &o.HTTPClientConfig.Config
	switch {
	case c.BasicAuth != nil:
		return "basic_auth"
	case c.OAuth2 != nil:
		return "oauth2"
	}
	return "authorization"
}

// Generation returns the configured generation, "" for auto.
func (o *Options) Generation() Version {
	if o.APIVersion == "auto" {
		return ""
	}
	return Version(o.APIVersion)
}

// Credentials reads the basic auth EMQX requests carry: api_key_file's key
// and secret, else http_client_config.basic_auth's username and password.
// The collector reads them when it is built (at load and reload, on every
// /probe request), the agent at start.
func (o *Options) Credentials() (upstream.Auth, error) {
	switch {
	case o.APIKeyFile != "":
		line, err := upstream.ReadSecretFile("emqx api_key_file", o.APIKeyFile)
		if err != nil {
			return upstream.Auth{}, err
		}
		key, secret, ok := strings.Cut(line, ":")
		secret, _, _ = strings.Cut(secret, ":") // bootstrap files may add ":role"
		if !ok || key == "" || secret == "" {
			return upstream.Auth{}, fmt.Errorf("emqx api_key_file %s: the first line must be key:secret", o.APIKeyFile)
		}
		return upstream.Auth{Username: key, Password: secret}, nil
	}
	return o.BasicAuth()
}

// CheckURL accepts http(s)://host:port of the dashboard/management
// listener.
func CheckURL(u string) error { return upstream.CheckHTTPURL("emqx", u) }
