package testenv

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestFreePortIsBindable(t *testing.T) {
	p := FreePort(t)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("port %d from FreePort cannot be bound: %v", p, err)
	}
	l.Close()
}

func TestClosedPortRefuses(t *testing.T) {
	addr := ClosedPort(t)
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("ClosedPort %s accepted a connection", addr)
	}
}

func TestFreePortBelowEphemeralRange(t *testing.T) {
	lo := ephemeralLow()
	for i := 0; i < 20; i++ {
		if p := FreePort(t); p < 10000 || p >= lo {
			t.Fatalf("port %d outside 10000-%d", p, lo)
		}
	}
}

func TestBinaryFindsShell(t *testing.T) {
	if p := Binary(t, "sh"); p == "" {
		t.Fatal("sh not found")
	}
}

func TestSyncBufferConcurrentWriters(t *testing.T) {
	var b SyncBuffer
	done := make(chan struct{})
	for i := 0; i < 4; i++ {
		go func() {
			for j := 0; j < 100; j++ {
				_, _ = b.Write([]byte("x"))
			}
			done <- struct{}{}
		}()
	}
	for i := 0; i < 4; i++ {
		<-done
	}
	if n := len(b.String()); n != 400 {
		t.Fatalf("%d bytes, want 400", n)
	}
}

func TestSeedFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"a.csv": "1", "b.csv": "22", "c.txt": "333"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := SeedFiles(dir, "*.csv")
	if err != nil || len(got) != 2 || string(got[0]) != "1" || string(got[1]) != "22" {
		t.Fatalf("SeedFiles = %q, %v", got, err)
	}
	if _, err := SeedFiles(dir, "*.json"); err == nil || !strings.Contains(err.Error(), "no seeds match") {
		t.Errorf("no match: %v", err)
	}
	if _, err := SeedFiles(dir, "[.csv"); err == nil {
		t.Error("a bad pattern was accepted")
	}
}

func TestServeFile(t *testing.T) {
	srv, seen := ServeFile(t, http.StatusTeapot, "body.txt")
	resp, err := http.Get(srv.URL + "/x?y=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot || string(b) != "hello" || len(*seen) != 1 || (*seen)[0] != "/x?y=1" {
		t.Errorf("got %d %q, seen %v", resp.StatusCode, b, *seen)
	}
}

func TestServeTCP(t *testing.T) {
	addr := ServeTCP(t, func(c net.Conn) {
		defer c.Close()
		_, _ = c.Write([]byte("hi"))
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "hi" || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("read %q, %v from %s", b, err, addr)
	}
}
