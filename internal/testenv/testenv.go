// Package testenv holds helpers for tests that use real programs
// (haproxy, prometheus, promtool, alertmanager, amtool) and loopback ports.
//
// The rule: a test that needs a binary fails when CI is set and the binary
// is missing (CI must install it via `make deps`); outside CI it may skip.
package testenv

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// InCI reports whether the CI environment variable is set.
func InCI() bool { return os.Getenv("CI") != "" }

// Binary returns the path of a program the test needs. When it is missing
// the test fails in CI and is skipped elsewhere.
func Binary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if InCI() {
		t.Fatalf("%s is not installed, but CI must have it (make deps installs it): %v", name, err)
	}
	t.Skipf("%s not installed (run `make deps`); skipped outside CI only (CI=%q)", name, os.Getenv("CI"))
	return ""
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("no free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ClosedPort returns a loopback address nothing listens on, for servers
// that must be DOWN.
func ClosedPort(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", itoa(FreePort(t)))
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for n >= 10 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	b[i] = byte('0' + n)
	return string(b[i:])
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers: a log sink
// for a server under test that a test reads while it runs.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
