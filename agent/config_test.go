package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lbpilot/lbpilot/internal/emqxapi"
)

func TestConfigDefaults(t *testing.T) {
	c, err := Parse([]byte(""))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Complete(); err != nil {
		t.Fatal(err)
	}
	if c.ListenAddress != ":9707" || *c.HTTPListenAddress != ":9710" || c.Source != "wcs" || c.Target != "http://localhost:8081/?action=stat" ||
		c.Mode != "weight" || *c.Weight.Knee != 50 || *c.Weight.Floor != 1 || *c.CacheTTL != time.Second || c.UpstreamTimeout != time.Second ||
		c.WCS.BandwidthUnit != "Mbps" {
		t.Errorf("defaults: %+v", c)
	}
	o, err := c.Options(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Policy.Thresholds.String() != DefaultThresholds(WCS).String() || !o.Allow.Empty() {
		t.Errorf("options: %+v", o)
	}
	if src, ok := o.Source.(*WCSSource); !ok || src.URL != DefaultWCSTarget {
		t.Errorf("source: %#v", o.Source)
	}
}

func TestConfigFull(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "srs.pass")
	if err := os.WriteFile(pass, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte(`agent:
  listen_address: 127.0.0.1:19707
  http_listen_address: ""
  allow: [10.0.0.0/8, 127.0.0.1]
  source: SRS
  target: http://10.0.0.5:1985
  mode: updown
  thresholds: {cpu: 70, clients: 5000, band_out: "off"}
  weight: {knee: 0, floor: 10}
  maxconn: 300
  cache_ttl: 0s
  upstream_timeout: 500ms
  srs: {username: admin, password_file: ` + pass + `}
`))
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Options(nil)
	if err != nil {
		t.Fatal(err)
	}
	if *c.HTTPListenAddress != "" || o.Kind != SRS || o.Policy.Mode != ModeUpDown || o.Policy.Knee != 0 || o.Policy.Floor != 10 ||
		o.Policy.MaxConn != 300 || o.CacheTTL != 0 || o.UpstreamTimeout != 500*time.Millisecond || o.Allow.String() != "10.0.0.0/8,127.0.0.1/32" {
		t.Errorf("options: %+v", o)
	}
	if got := o.Policy.Thresholds.String(); got != "cpu=70 band-in=100 clients=5000 streams=100" {
		t.Errorf("thresholds: %q", got)
	}
	src, ok := o.Source.(*SRSSource)
	if !ok || src.API.BaseURL != "http://10.0.0.5:1985" || src.API.Auth.Username != "admin" || src.API.Auth.Password != "s3cret" || src.API.SkipClients || !src.API.SkipFeatures {
		t.Errorf("source: %#v", o.Source)
	}
}

func TestConfigEMQX(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("k1:sec:administrator\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Config{Source: "emqx", EMQX: emqxapi.Options{APIKeyFile: key}}
	o, err := c.Options(nil)
	if err != nil {
		t.Fatal(err)
	}
	src := o.Source.(*EMQXSource)
	if src.API.Node != emqxapi.SelfNode || src.API.Auth.Username != "k1" || src.API.Auth.Password != "sec" || src.API.Version != "" || src.API.BaseURL != "http://localhost:18083" {
		t.Errorf("emqx source: %+v", src.API)
	}
	c = &Config{Source: "emqx", EMQX: emqxapi.Options{APIVersion: "4", Node: "emqx@10.0.0.11"}}
	if o, err = c.Options(nil); err != nil || o.Source.(*EMQXSource).API.Version != emqxapi.V4 {
		t.Errorf("v4 with a node: %v", err)
	}
	// A credential file that vanished between Complete and Options.
	gone := filepath.Join(dir, "gone")
	_ = os.WriteFile(gone, []byte("\n"), 0o600)
	c = &Config{Source: "emqx", EMQX: emqxapi.Options{APIKeyFile: gone}}
	if _, err := c.Options(nil); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty key file: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	tests := []struct {
		yaml string
		want string
	}{
		{"agent:\n  sauce: wcs\n", "line 2: field sauce not found"},
		{"agent: {}\n---\nagent: {}\n", "more than one YAML document"},
		{"agent: [\n", "did not find expected node content"},
		{"agent:\n  source: nginx\n", `unknown source "nginx"`},
		{"agent:\n  target: ftp://x\n", "scheme must be http or https"},
		{"agent:\n  mode: drain\n", `unknown mode "drain"`},
		{"agent:\n  thresholds: {cpu: zero}\n", `threshold cpu: limit "zero"`},
		{"agent:\n  thresholds: {connections: 5}\n", "source wcs does not measure it"},
		{"agent:\n  weight: {floor: 0}\n", "weight floor 0"},
		{"agent:\n  weight: {knee: 150}\n", "weight knee 150"},
		{"agent:\n  maxconn: -2\n", "maxconn -2"},
		{"agent:\n  cache_ttl: -1s\n", "cache_ttl -1s must not be negative"},
		{"agent:\n  upstream_timeout: -1s\n", "upstream_timeout -1s must be positive"},
		{"agent:\n  allow: [not-an-ip]\n", `allow "not-an-ip"`},
		{"agent:\n  wcs: {bandwidth_unit: furlongs}\n", `bandwidth_unit "furlongs"`},
		{"agent:\n  source: srs\n  srs: {password_file: /nonexistent}\n", "srs: password_file needs username"},
		{"agent:\n  source: srs\n  srs: {username: u, password_file: /nonexistent}\n", "srs: password_file"},
		{"agent:\n  source: emqx\n  emqx: {api_version: v4}\n", "name the local node"},
		{"agent:\n  source: emqx\n  emqx: {api_version: v9}\n", `api_version "v9"`},
		{"agent:\n  source: srs\n  srs: {username: u, password_file: " + empty + "}\n", "is empty"},
	}
	for _, tt := range tests {
		c, err := Parse([]byte(tt.yaml))
		if err == nil {
			_, err = c.Options(nil)
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadFile(filepath.Join(dir, "missing.yml")); err == nil || !strings.Contains(err.Error(), "reading config") {
		t.Errorf("missing: %v", err)
	}
	bad := filepath.Join(dir, "bad.yml")
	_ = os.WriteFile(bad, []byte("agent:\n  modee: weight\n"), 0o600)
	if _, err := LoadFile(bad); err == nil || !strings.Contains(err.Error(), "config file "+bad+": yaml: unmarshal errors:\n  line 2: field modee not found") {
		t.Errorf("bad: %v", err)
	}
	// The shipped example must load and compile.
	c, err := LoadFile("../examples/agent.yml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Options(nil); err != nil {
		t.Fatalf("examples/agent.yml: %v", err)
	}
}
