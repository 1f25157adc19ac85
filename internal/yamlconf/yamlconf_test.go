package yamlconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type conf struct {
	Name    string `yaml:"name"`
	Timeout string `yaml:"timeout"`
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{"name: a\n", "a", ""},
		{"", "", ""},
		{"name: a\nnmae: b\n", "", "line 2: field nmae not found"},
		{"name: a\n---\nname: b\n", "", "more than one YAML document"},
		{"name: [\n", "", "yaml"},
	}
	for _, tt := range tests {
		var c conf
		err := DecodeStrict([]byte(tt.in), &c)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || c.Name != tt.want {
			t.Errorf("%q: %+v, %v", tt.in, c, err)
		}
	}
}

func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yml")
	_ = os.WriteFile(p, []byte("name: x\nbogus: 1\n"), 0o600)
	parse := func(b []byte) (*conf, error) {
		c := &conf{}
		return c, DecodeStrict(b, c)
	}
	if _, err := LoadFile(p, parse); err == nil || !strings.Contains(err.Error(), "config file "+p) || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("bad file: %v", err)
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.yml"), parse); err == nil || !strings.Contains(err.Error(), "reading config") {
		t.Errorf("missing file: %v", err)
	}
	_ = os.WriteFile(p, []byte("name: ok\n"), 0o600)
	if c, err := LoadFile(p, parse); err != nil || c.Name != "ok" {
		t.Errorf("good file: %+v %v", c, err)
	}
}
