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
