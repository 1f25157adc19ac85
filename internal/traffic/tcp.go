package traffic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// TCPKinds are the built-in tcp protocol's session kinds: hold (connect
// and read until the end) and echo (also send a chunk every interval).
var TCPKinds = []string{"hold", "echo"}

// TCPDialer is the built-in "tcp" protocol: it connects to
// tcp://host:port and holds the connection, reading whatever the server
// sends. The echo kind also writes options["size"] bytes (default 64)
// every options["interval"] (default 100ms). A server that closes the
// connection cuts the session (cause closed_by_peer, or
// connection_reset).
type TCPDialer struct{}

var _ Dialer = TCPDialer{}

// Open connects.
func (TCPDialer) Open(ctx context.Context, target, kind string, p SessionParams) (Session, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "tcp" || u.Host == "" {
		return nil, WithReason("bad_target", fmt.Errorf("tcp target %q: want tcp://host:port", target))
	}
	interval, size := 100*time.Millisecond, 64
	if kind == "echo" {
		if v, ok := p.Options["interval"]; ok {
			if interval, err = time.ParseDuration(v); err != nil || interval <= 0 {
				return nil, WithReason("bad_option", fmt.Errorf("tcp option interval %q: want a positive duration", v))
			}
		}
		if v, ok := p.Options["size"]; ok {
			if size, err = strconv.Atoi(v); err != nil || size <= 0 || size > 1<<20 {
				return nil, WithReason("bad_option", fmt.Errorf("tcp option size %q: want 1 to 1048576 bytes", v))
			}
		}
	}
	d := net.Dialer{Timeout: p.OpenTimeout}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	s := &tcpSession{conn: conn, done: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() { s.end(ctx.Err()) })
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer stop()
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			s.in.Add(int64(n))
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = WithReason("closed_by_peer", err)
				}
				s.end(err)
				return
			}
		}
	}()
	if kind == "echo" {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			chunk := make([]byte, size)
			for i := range chunk {
				chunk[i] = 'a' + byte(i%26)
			}
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-s.done:
					return
				case <-t.C:
					n, err := conn.Write(chunk)
					s.out.Add(int64(n))
					if err != nil {
						s.end(err)
						return
					}
				}
			}
		}()
	}
	return s, nil
}

type tcpSession struct {
	conn    net.Conn
	in, out atomic.Int64
	wg      sync.WaitGroup
	once    sync.Once
	err     error
	done    chan struct{}
}

// end records why the session ended (the first reason wins) and closes
// the connection.
func (s *tcpSession) end(err error) {
	s.once.Do(func() {
		s.err = err
		_ = s.conn.Close()
		close(s.done)
	})
}

func (s *tcpSession) Wait() error {
	<-s.done
	s.wg.Wait()
	return s.err
}

func (s *tcpSession) Close() error {
	s.end(errClosed)
	return nil
}

func (s *tcpSession) Node() string { return "" }

func (s *tcpSession) Bytes() (in, out int64) { return s.in.Load(), s.out.Load() }

// errClosed is what a session closed by the client reports.
var errClosed = errors.New("closed by the client")
