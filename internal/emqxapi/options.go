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
	// AppID and secret, or an emqttd 2 dashboard user and password.
	APIKeyFile string `yaml:"api_key_file"`
	// Username and PasswordFile are the alternative: the user (API key,
	// AppID) in the config and the secret alone in a file.
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	// Node reads one node only: its name (emqx@10.0.0.11), or "self" for
	// the node answering (EMQX 5). Empty (the default) reads the whole
	// cluster through the answering node, labelled per node.
	Node string `yaml:"node"`
	// InsecureSkipVerify disables TLS verification for an https listener.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
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
	if o.PasswordFile != "" && o.Username == "" {
		return fmt.Errorf("emqx: password_file needs username")
	}
	for key, f := range map[string]string{"api_key_file": o.APIKeyFile, "password_file": o.PasswordFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("emqx: %s: %w", key, err)
		}
	}
	if o.Node == SelfNode && (o.APIVersion == string(V4) || o.APIVersion == string(V2)) {
		return fmt.Errorf("emqx: node: %s needs the EMQX 5 API; name the node", SelfNode)
	}
	return nil
}

// HasCredentials reports whether the options name any credentials (the
// exporter's --collector.emqx.api-key-file fills in those that do not).
func (o *Options) HasCredentials() bool {
	return o.APIKeyFile != "" || o.Username != "" || o.PasswordFile != ""
}

// Generation returns the configured generation, "" for auto.
func (o *Options) Generation() Version {
	if o.APIVersion == "auto" {
		return ""
	}
	return Version(o.APIVersion)
}

// Credentials reads the configured secret files.
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
	case o.PasswordFile != "":
		pass, err := upstream.ReadSecretFile("emqx password_file", o.PasswordFile)
		if err != nil {
			return upstream.Auth{}, err
		}
		return upstream.Auth{Username: o.Username, Password: pass}, nil
	case o.Username != "":
		return upstream.Auth{Username: o.Username}, nil
	}
	return upstream.Auth{}, nil
}

// CheckURL accepts http(s)://host:port of the dashboard/management
// listener.
func CheckURL(u string) error { return upstream.CheckHTTPURL("emqx", u) }
