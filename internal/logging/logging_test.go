package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-kit/log/level"
)

func TestNewWriterFormatsAndLevels(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		wantErr  string
		wantIn   []string
		wantNot  []string
		wantJSON bool
	}{
		{name: "logfmt info drops debug", cfg: Config{Level: "info", Format: "logfmt"},
			wantIn: []string{`level=info`, `msg="hello world"`}, wantNot: []string{"debug-line"}},
		{name: "json debug keeps debug", cfg: Config{Level: "debug", Format: "json"},
			wantIn: []string{`"msg":"hello world"`, `"msg":"debug-line"`}, wantJSON: true},
		{name: "error drops info", cfg: Config{Level: "error", Format: "logfmt"},
			wantNot: []string{"hello world"}},
		{name: "bad level", cfg: Config{Level: "chatty"}, wantErr: `invalid --log.level "chatty"`},
		{name: "bad format", cfg: Config{Format: "xml"}, wantErr: `invalid --log.format "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := NewWriter(&buf, tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			level.Info(l).Log("msg", "hello world")
			level.Debug(l).Log("msg", "debug-line")
			out := buf.String()
			if !strings.Contains(out, "logging_test.go") && out != "" {
				t.Errorf("caller is not the test file: %q", out)
			}
			for _, s := range tt.wantIn {
				if !strings.Contains(out, s) {
					t.Errorf("output %q lacks %q", out, s)
				}
			}
			for _, s := range tt.wantNot {
				if strings.Contains(out, s) {
					t.Errorf("output %q contains %q", out, s)
				}
			}
			if tt.wantJSON {
				for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
					var m map[string]any
					if err := json.Unmarshal([]byte(line), &m); err != nil {
						t.Errorf("line %q is not JSON: %v", line, err)
					}
				}
			}
		})
	}
}

func TestSlogBridgeSharesSinkAndFilter(t *testing.T) {
	var buf bytes.Buffer
	l, err := NewWriter(&buf, Config{Level: "warn", Format: "logfmt"})
	if err != nil {
		t.Fatal(err)
	}
	s := Slog(l).With("component", "web").WithGroup("tls")
	s.Info("dropped by the go-kit filter")
	s.Warn("Listening on", "address", "127.0.0.1:9", "n", 3)
	out := buf.String()
	if strings.Contains(out, "dropped") {
		t.Errorf("info record passed a warn filter: %q", out)
	}
	if !strings.HasPrefix(out, "level=warn ts=") {
		t.Errorf("slog line does not start like go-kit lines: %q", out)
	}
	if !strings.Contains(out, "caller=logging_test.go:") {
		t.Errorf("slog line does not name its caller: %q", out)
	}
	for _, want := range []string{"level=warn", `msg="Listening on"`, "component=web", "tls.address=127.0.0.1:9", "tls.n=3", "ts="} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
}
