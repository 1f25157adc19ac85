package exporter

import (
	"strings"
	"testing"

	"github.com/go-kit/log"

	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
)

func TestParseConfigErrors(t *testing.T) {
	kinds := fakeKinds(nil, nil)
	tests := []struct{ name, yaml, want string }{
		{"unknown key names key and line", "modules:\n  fake:\n    timeout: 1s\n    tiemout: 2s\n", "line 4: field tiemout not found"},
		{"unknown top-level key", "targetz: []\n", "field targetz not found"},
		{"unknown kind", "modules:\n  m: {kind: nginx}\n", `unknown kind "nginx"`},
		{"kind required", "modules:\n  custom: {timeout: 1s}\n", `module "custom": kind is required`},
		{"negative timeout", "modules:\n  fake: {timeout: -1s}\n", "timeout must not be negative"},
		{"bad duration", "modules:\n  fake: {timeout: soon}\n", "soon"},
		{"target name", "targets:\n  - {module: fake, url: ok://a}\n", "targets[0]: name is required"},
		{"duplicate target", "targets:\n  - {name: a, module: fake, url: ok://a}\n  - {name: a, module: fake, url: ok://b}\n", `target "a": duplicate name`},
		{"module required", "targets:\n  - {name: a, url: ok://a}\n", `target "a": module is required`},
		{"unknown module", "targets:\n  - {name: a, module: nope, url: ok://a}\n", `target "a": unknown module "nope"`},
		{"url required", "targets:\n  - {name: a, module: fake}\n", `target "a": url is required`},
		{"bad url for kind", "targets:\n  - {name: a, module: fake, url: plain}\n", `target "a": want scheme://`},
		{"bad label name", "targets:\n  - {name: a, module: fake, url: ok://a, labels: {1x: y}}\n", `invalid label name "1x"`},
		{"colon label", "targets:\n  - {name: a, module: fake, url: ok://a, labels: {'a:b': y}}\n", `target "a": invalid label name "a:b"`},
		{"utf-8 label", "targets:\n  - {name: a, module: fake, url: ok://a, labels: {'zoné': y}}\n", `target "a": invalid label name "zoné"`},
		{"empty label name", "targets:\n  - {name: a, module: fake, url: ok://a, labels: {'': y}}\n", `target "a": invalid label name ""`},
		{"dunder label", "targets:\n  - {name: a, module: fake, url: ok://a, labels: {__x: y}}\n", `invalid label name "__x"`},
		{"reserved label", "targets:\n  - {name: a, module: fake, url: ok://a, labels: {instance: y}}\n", `label "instance" is set by lbpilot`},
		{"empty target entry", "targets:\n  -\n", "targets[0]: empty entry"},
		{"two documents", "targets: []\n---\ntargets: []\n", "more than one YAML document"},
		{"not yaml", "targets: [\n", "yaml"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml), kinds)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := Parse([]byte("targets:\n  - {name: a, module: fake, url: ok://a}\n"), fakeKinds(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Modules["fake"]; m == nil || m.Kind != "fake" || m.Timeout != DefaultTimeout {
		t.Errorf("built-in module: %+v", m)
	}
	c, err = Parse(nil, fakeKinds(nil, nil))
	if err != nil || len(c.Modules) != 1 {
		t.Errorf("empty file: %v %v", c, err)
	}
	d := Default(Kinds())
	for _, k := range []string{"haproxy"} {
		if d.Modules[k] == nil || d.Modules[k].Kind != k {
			t.Errorf("default config lacks module %s", k)
		}
	}
}

// TestLabelConflictsAreConfigErrors: an extra label that reuses a label
// the collector sets (HAProxy's proxy) is refused at load, not at scrape.
func TestLabelConflictsAreConfigErrors(t *testing.T) {
	_, err := buildStateFromYAML(t, "targets:\n  - {name: lb, module: haproxy, url: \"unix:/x.sock\", labels: {proxy: p}}\n")
	if err == nil || !strings.Contains(err.Error(), "metric labels conflict") {
		t.Fatalf("err = %v", err)
	}
}

func buildStateFromYAML(t *testing.T, y string) (*state, error) {
	t.Helper()
	cfg, err := Parse([]byte(y), Kinds())
	if err != nil {
		t.Fatal(err)
	}
	return buildState(cfg, Kinds(), log.NewNopLogger())
}

// TestProbeBuiltInHAProxyModule: without a config file, /probe with
// module=haproxy works against a runtime socket.
func TestProbeBuiltInHAProxyModule(t *testing.T) {
	h := haproxytest.NewHAProxy(t, []haproxytest.Server{{Backend: "bk", Name: "web1", Up: true}, {Backend: "bk", Name: "web2"}})
	e, err := New(Options{Logger: log.NewNopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	rec, body := get(t, e.ProbeHandler(), "/probe?module=haproxy&target="+h.Socket.Addr, nil)
	mfs := parse(t, body)
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, body)
	}
	if v, ok := sample(mfs, "lbpilot_up", map[string]string{"module": "haproxy"}); !ok || v != 1 {
		t.Errorf("lbpilot_up = %v %v\n%s", v, ok, body)
	}
	if v, ok := sample(mfs, "haproxy_server_status", map[string]string{"proxy": "bk", "server": "web2", "state": "DOWN"}); !ok || v != 1 {
		t.Errorf("web2 DOWN = %v %v", v, ok)
	}
	// lbpilot's own server families are opt-in: the built-in module
	// answers like promex.
	if _, ok := mfs["haproxy_server_admin_state"]; ok {
		t.Errorf("the built-in module exports haproxy_server_admin_state without extra_server_families")
	}
}
