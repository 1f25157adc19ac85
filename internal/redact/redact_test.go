package redact

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/go-kit/log"
)

func TestURLAndText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"http://host:8080/stats", "http://host:8080/stats"},
		{"http://user@host/", "http://user@host/"},
		{"http://user:SECRET@host/stats", "http://user:xxxxx@host/stats"},
		{"http://user:SECRET@[::1/stats", "http://user:xxxxx@[::1/stats"}, // does not parse
		{"tcp://admin:SECRET@10.0.0.1:9999", "tcp://admin:xxxxx@10.0.0.1:9999"},
		{"https://u:p%40ss@h/", "https://u:xxxxx@h/"},
		{"unix:/run/haproxy/admin.sock", "unix:/run/haproxy/admin.sock"},
	} {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{`parse "http://user:SECRET@[::1/stats": missing ']' in host`, `parse "http://user:xxxxx@[::1/stats": missing ']' in host`},
		{"address user:SECRET@host: missing port in address", "address user:xxxxx@host: missing port in address"},
		{"GET http://a:b@h/ and http://c:d@e/", "GET http://a:xxxxx@h/ and http://c:xxxxx@e/"},
		{"node emqx@10.0.0.11 at 12:30", "node emqx@10.0.0.11 at 12:30"},
		{"no credentials here", "no credentials here"},
	} {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestError(t *testing.T) {
	if Error(nil) != nil {
		t.Fatal("nil error became non-nil")
	}
	_, perr := url.Parse(fmt.Sprintf("http://user:%s@[::1/stats", "SECRET")) // does not parse
	err := Error(fmt.Errorf("target %q: %w", "x", perr))
	if strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("secret kept: %v", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Fatal("cause lost")
	}
	plain := fs.ErrNotExist
	if Error(plain) != plain {
		t.Fatal("an error without credentials was wrapped")
	}
}

func TestLogger(t *testing.T) {
	var b bytes.Buffer
	l := Logger(log.NewLogfmtLogger(&b))
	serr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("lookup user:SECRET@host: no such host")}
	_ = l.Log("msg", "Scrape of http://u:SECRET@h/ failed", "err", serr, "addr", stringer("tcp://u:SECRET@h:1"), "n", 3)
	if strings.Contains(b.String(), "SECRET") || !strings.Contains(b.String(), "xxxxx") || !strings.Contains(b.String(), "n=3") {
		t.Fatalf("log line: %s", b.String())
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := Writer(&b)
	msg := "target \"x\": parse \"http://u:SECRET@[::1/\": missing ']' in host\n"
	n, err := w.Write([]byte(msg))
	if err != nil || n != len(msg) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if strings.Contains(b.String(), "SECRET") || !strings.Contains(b.String(), "u:xxxxx@") {
		t.Fatalf("written: %q", b.String())
	}
}
