package agent

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/go-kit/log/level"
)

// The connection's life after the reply. HAProxy reads one line and then
// resets the connection; it may also have sent an agent-send string
// first. The agent answers at once, without waiting for that string, then
// half-closes and reads whatever the peer sent until it closes (bounded):
// closing a socket with unread input makes the kernel send an RST, which
// could overtake the reply on a slow path.
const (
	drainTimeout = time.Second
	maxDrain     = 64 << 10
)

// rejectLogPeriod spaces the warnings about refused sources.
const rejectLogPeriod = time.Minute

// Serve answers agent checks on ln until ctx ends, then waits for the
// checks in progress and returns nil. It returns an error if the listener
// fails for another reason.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http does, rather than stop answering for good.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			level.Error(a.logger).Log("msg", "Accepting an agent-check connection", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0
		// The source check comes before anything is read or computed.
		if !a.cur().opts.Allow.Allows(c.RemoteAddr()) {
			a.reject(c, rejectNotAllowed)
			continue
		}
		src := sourceOf(c.RemoteAddr())
		if !a.takeSource(src) {
			a.reject(c, rejectPerSource)
			continue
		}
		select {
		case a.sem <- struct{}{}:
		default:
			a.releaseSource(src)
			a.reject(c, rejectOverload)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			replied := func() bool {
				defer func() { <-a.sem; a.releaseSource(src) }()
				return a.handle(ctx, c)
			}()
			// The check's slot is free again: a client that never reads
			// or never closes holds at most a drain slot, never the slot
			// a legitimate check needs.
			if replied {
				a.drain(c)
			} else {
				_ = c.Close()
			}
		}()
	}
}

// sourceOf is the address part of a peer (its port varies per connection).
func sourceOf(addr net.Addr) string {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return addr.String()
}

// takeSource counts a check in progress from src, unless src already has
// its share of the slots.
func (a *Agent) takeSource(src string) bool {
	a.srcMu.Lock()
	defer a.srcMu.Unlock()
	if a.bySource[src] >= a.perSource {
		return false
	}
	a.bySource[src]++
	return true
}

func (a *Agent) releaseSource(src string) {
	a.srcMu.Lock()
	defer a.srcMu.Unlock()
	if a.bySource[src]--; a.bySource[src] <= 0 {
		delete(a.bySource, src)
	}
}

// reject closes a connection without a reply, counts it and warns now
// and then (never once per connection: a scanner must not flood the log).
// Counting and logging come before the close, so whoever sees the
// connection closed already sees it counted.
func (a *Agent) reject(c net.Conn, reason string) {
	a.m.rejected.WithLabelValues(reason).Inc()
	if ok, held := a.rejectLog.Allow(reason); ok {
		level.Warn(a.logger).Log("msg", "Closed an agent-check connection without a reply", "reason", reason, "source", c.RemoteAddr(), "allow", a.cur().opts.Allow, "similar_since_last_warning", held)
	}
	_ = c.Close()
}

// handle writes the one line; it reports whether it did (the caller
// then drains and closes the connection).
func (a *Agent) handle(ctx context.Context, c net.Conn) bool {
	start := time.Now()
	l := a.cur()
	_ = c.SetDeadline(start.Add(l.replyTimeout))
	r, ok := l.cache.get(ctx)
	if !ok {
		return false // shutting down: no line, HAProxy keeps the last state
	}
	// The line is a few bytes: it fits the socket buffer of any peer,
	// reading or not, so the write cannot wait on a slow reader.
	if _, err := c.Write(r.line); err != nil {
		// The peer went away first (HAProxy's timeout passed and it reset
		// the connection): nothing to do but count it.
		a.m.writeErrors.Inc()
		level.Debug(a.logger).Log("msg", "Writing the agent reply", "source", c.RemoteAddr(), "err", err)
		return false
	}
	a.m.checkTime.Observe(time.Since(start).Seconds())
	a.m.replies.WithLabelValues(string(r.d.Kind)).Inc()
	return true
}

// drain half-closes after the reply and reads what the peer sent until it
// closes (bounded), then closes. Drains have slots of their own; when all
// are taken the connection is closed at once (its reply is already sent).
func (a *Agent) drain(c net.Conn) {
	defer c.Close()
	select {
	case a.drains <- struct{}{}:
		defer func() { <-a.drains }()
	default:
		return
	}
	if hc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	// Reading ends at the peer's close or reset (both normal: HAProxy
	// resets after the line), at the deadline, or after maxDrain bytes.
	_ = c.SetReadDeadline(time.Now().Add(drainTimeout))
	_, _ = io.CopyN(io.Discard, c, maxDrain)
}
