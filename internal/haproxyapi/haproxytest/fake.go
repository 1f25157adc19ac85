// Package haproxytest provides HAProxy stand-ins for tests: a socket server
// that replays canned responses, a small stateful HAProxy that understands
// the runtime commands lbpilot sends, and a runner for a real haproxy
// process on a temporary socket.
package haproxytest

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Reply is what the fake socket does with one received line.
type Reply struct {
	Data  []byte        // written back before closing
	Delay time.Duration // wait before answering (timeouts)
	Hang  bool          // never answer; keep the connection open until the test ends
	Reset bool          // close with RST instead of FIN (after Data)
	Stall bool          // after Data, keep the connection open until the test ends (a dump stopping midway)
	// Chunk and Pace write Data Chunk bytes at a time, a chunk every
	// Pace, as HAProxy writes a large dump a buffer at a time (zero:
	// all at once).
	Chunk int
	Pace  time.Duration
	// Written, when set, is called once the last byte of Data is written.
	Written func()
}

// Handler answers one command line (without its "\n").
type Handler func(line string) Reply

// Socket is a fake HAProxy runtime socket on a unix path.
type Socket struct {
	Addr string // "unix:/…/admin.sock"
	Path string

	mu    sync.Mutex
	lines []string
	done  chan struct{}
	wg    sync.WaitGroup
}

// NewSocket serves handler on a fresh unix socket until the test ends.
func NewSocket(t testing.TB, h Handler) *Socket {
	t.Helper()
	path := filepath.Join(shortTempDir(t), "admin.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("fake socket: %v", err)
	}
	s := &Socket{Addr: "unix:" + path, Path: path, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(c, h) }()
		}
	}()
	t.Cleanup(func() {
		close(s.done)
		l.Close()
		s.wg.Wait()
	})
	return s
}

func (s *Socket) serve(c net.Conn, h Handler) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return // like HAProxy: a line without "\n" is never run
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	s.mu.Lock()
	s.lines = append(s.lines, line)
	s.mu.Unlock()
	r := h(line)
	if r.Delay > 0 {
		select {
		case <-time.After(r.Delay):
		case <-s.done:
			return
		}
	}
	if r.Hang {
		<-s.done
		return
	}
	if !s.write(c, r) {
		return
	}
	if r.Written != nil {
		r.Written()
	}
	if r.Stall {
		<-s.done
		return
	}
	if r.Reset {
		if uc, ok := c.(*net.UnixConn); ok {
			_ = uc.CloseWrite()
		}
	}
}

// write writes r.Data, paced when r asks; false when the test ended first.
func (s *Socket) write(c net.Conn, r Reply) bool {
	if r.Chunk <= 0 || r.Pace <= 0 {
		_, _ = c.Write(r.Data)
		return true
	}
	start := time.Now()
	for k := 0; k*r.Chunk < len(r.Data); k++ {
		if d := time.Until(start.Add(time.Duration(k) * r.Pace)); d > 0 {
			select {
			case <-time.After(d):
			case <-s.done:
				return false
			}
		}
		if _, err := c.Write(r.Data[k*r.Chunk : min((k+1)*r.Chunk, len(r.Data))]); err != nil {
			return true
		}
	}
	return true
}

// Lines returns every command line received so far.
func (s *Socket) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// Static answers every line with the same bytes.
func Static(data []byte) Handler { return func(string) Reply { return Reply{Data: data} } }

// ByLine answers known lines from a map and unknown ones like HAProxy does.
func ByLine(m map[string][]byte) Handler {
	return func(line string) Reply {
		if d, ok := m[line]; ok {
			return Reply{Data: d}
		}
		return Reply{Data: []byte("Unknown command, but maybe one of the following ones is a better match:\n  help : this message\n\n")}
	}
}

// shortTempDir returns a temp dir with a path short enough for a unix
// socket (sun_path is 108 bytes; t.TempDir() paths can be longer).
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "lbp")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}
