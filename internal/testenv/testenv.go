// Package testenv holds helpers for tests that use real programs
// (haproxy, prometheus, promtool, alertmanager, amtool) and loopback ports.
//
// The rule: a test that needs a binary fails when CI is set and the binary
// is missing (CI must install it via `make deps`); outside CI it may skip.
package testenv

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// FreePort returns a loopback TCP port that was free a moment ago. It is
// picked at random below the kernel's ephemeral range: a port from that
// range (what ":0" gives) can be taken by any outgoing connection of a
// test running in parallel before the process under test binds it.
func FreePort(t testing.TB) int {
	t.Helper()
	lo, hi := 10000, ephemeralLow()
	for i := 0; i < 200; i++ {
		p := lo + rand.IntN(hi-lo)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Fatalf("no free port in %d-%d after 200 tries", lo, hi)
	return 0
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				return n
			}
		}
	}
	return 32768
}

// ClosedPort returns a loopback address nothing listens on, for servers
// that must be DOWN.
func ClosedPort(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
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

// AddSeeds adds every file of testdata/ matching pattern to a fuzz
// target's corpus; a pattern that matches nothing fails the target (a
// fuzzer without its seeds would quietly test much less).
func AddSeeds(f *testing.F, pattern string) {
	f.Helper()
	seeds, err := SeedFiles("testdata", pattern)
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range seeds {
		f.Add(b)
	}
}

// SeedFiles reads the files of dir matching pattern, in name order.
func SeedFiles(dir, pattern string) ([][]byte, error) {
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return nil, fmt.Errorf("seeds %s: %w", pattern, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no seeds match %s", filepath.Join(dir, pattern))
	}
	out := make([][]byte, 0, len(files))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// ServeFile serves testdata/file (an empty body for "") with status to
// every request until the test ends, and records the request URIs.
func ServeFile(t testing.TB, status int, file string) (*httptest.Server, *[]string) {
	t.Helper()
	var body []byte
	if file != "" {
		var err error
		if body, err = os.ReadFile(filepath.Join("testdata", file)); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu   sync.Mutex
		seen []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RequestURI())
		mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

// ServeTCP serves loopback TCP connections with handle until the test
// ends, and then waits for every handler to return (so tests that count
// goroutines see none left). It returns "127.0.0.1:port".
func ServeTCP(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); handle(c) }()
		}
	}()
	return ln.Addr().String()
}
