package probe

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"

	"github.com/lbpilot/lbpilot/internal/upstream"
)

func TestPrepareWindow(t *testing.T) {
	d := func(v time.Duration) *time.Duration { return &v }
	for _, tt := range []struct {
		name string
		in   *time.Duration
		want time.Duration
		err  string
	}{
		{"unset", nil, DefaultWindow, ""},
		{"zero skips the window", d(0), 0, ""},
		{"a minute", d(time.Minute), time.Minute, ""},
		{"negative", d(-time.Millisecond), 0, "flv: window -1ms out of range (0 to 1m)"},
		{"over a minute", d(time.Minute + time.Second), 0, "flv: window 1m1s out of range"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.in
			err := PrepareWindow("flv", &w)
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want %q", err, tt.err)
				}
			case err != nil:
				t.Errorf("error %v", err)
			case w == nil || *w != tt.want:
				t.Errorf("window %v, want %v", w, tt.want)
			}
		})
	}
}

// The credentials are read once, when the probe is built, and reach every
// run; a password file that cannot be read fails the construction.
func TestNewHTTPCollector(t *testing.T) {
	spec := NewSpec("test", []string{"connect"})
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := func(file string) *upstream.HTTPOptions {
		o := &upstream.HTTPOptions{HTTPClientConfig: &upstream.ClientConfig{Config: promconfig.HTTPClientConfig{
			BasicAuth: &promconfig.BasicAuth{Username: "probe", PasswordFile: file}}}}
		if err := o.PrepareFollowing("test"); err != nil {
			t.Fatal(err)
		}
		return o
	}
	o := opts(pw)
	var got []upstream.Auth
	c, err := NewHTTPCollector(spec, o, nil, func(_ context.Context, _ *Report, auth upstream.Auth) error {
		got = append(got, auth)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Rotating the file does not change a built probe.
	if err := os.WriteFile(pw, []byte("rotated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		ch := make(chan prometheus.Metric, 16)
		if err := c.Update(context.Background(), ch); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0] != (upstream.Auth{Username: "probe", Password: "s3cret"}) || got[1] != got[0] {
		t.Errorf("runs saw %+v", got)
	}
	if err := os.Remove(pw); err != nil {
		t.Fatal(err)
	}
	_, err = NewHTTPCollector(spec, o, nil, func(context.Context, *Report, upstream.Auth) error {
		t.Error("ran without credentials")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "password_file") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("removed password file: %v", err)
	}
}
