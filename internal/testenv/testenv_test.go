package testenv

import (
	"net"
	"strconv"
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

func TestItoa(t *testing.T) {
	for _, n := range []int{0, 7, 10, 65535, 123456789} {
		if got := itoa(n); got != strconv.Itoa(n) {
			t.Errorf("itoa(%d) = %q", n, got)
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
