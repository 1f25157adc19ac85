package lab

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

// Killing a node: the control API (POST /lab/clients {"open": false})
// closes every client port of a node and cuts every connection they
// accepted, as a crashed process would (the connections are reset, not
// closed politely); {"open": true} binds the same addresses again. The
// node's API port stays up, so the exporter still reads it.
//
// Each client port is a clientGate: a net.Listener that the protocol's
// server (http.Server, the RTMP accept loop, the MQTT broker) keeps
// calling Accept on. While the port is closed Accept blocks instead of
// failing, so the servers survive a kill and serve again after the
// reopen.

// clientGate is one client port that can be closed and reopened.
type clientGate struct {
	addr net.Addr // the bound address, bound again on reopen

	mu    sync.Mutex
	ln    net.Listener // nil while the port is closed
	done  bool         // closed with the node, for good
	wake  chan struct{}
	conns map[*gateConn]struct{}
}

func newClientGate(ln net.Listener) *clientGate {
	return &clientGate{addr: ln.Addr(), ln: ln, wake: make(chan struct{}), conns: map[*gateConn]struct{}{}}
}

// signal wakes the Accept calls waiting for a change (g.mu held).
func (g *clientGate) signal() {
	close(g.wake)
	g.wake = make(chan struct{})
}

// Accept returns the next connection; while the port is closed it
// waits for the reopen. It fails only once the node closes (or when the
// listener fails on its own).
func (g *clientGate) Accept() (net.Conn, error) {
	for {
		g.mu.Lock()
		if g.done {
			g.mu.Unlock()
			return nil, net.ErrClosed
		}
		ln, wake := g.ln, g.wake
		g.mu.Unlock()
		if ln == nil {
			<-wake
			continue
		}
		c, err := ln.Accept()
		g.mu.Lock()
		if g.done || g.ln != ln {
			// Closed (or closed and reopened) meanwhile: that listener's
			// connections belong to the crashed node.
			done := g.done
			g.mu.Unlock()
			if c != nil {
				abortConn(c)
			}
			if done {
				return nil, net.ErrClosed
			}
			continue
		}
		if err != nil {
			g.mu.Unlock()
			return nil, err
		}
		gc := &gateConn{Conn: c, g: g}
		g.conns[gc] = struct{}{}
		g.mu.Unlock()
		return gc, nil
	}
}

// Close closes the port for good (the node closes).
func (g *clientGate) Close() error {
	g.mu.Lock()
	if g.done {
		g.mu.Unlock()
		return nil
	}
	ln := g.ln
	g.ln, g.done = nil, true
	g.signal()
	g.mu.Unlock()
	if ln != nil {
		return ln.Close()
	}
	return nil
}

// Addr is the port's address, open or not.
func (g *clientGate) Addr() net.Addr { return g.addr }

// shut closes the port and resets its connections; it returns how many
// it reset.
func (g *clientGate) shut() int {
	g.mu.Lock()
	ln := g.ln
	g.ln = nil
	conns := g.conns
	g.conns = map[*gateConn]struct{}{}
	g.signal()
	g.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	for c := range conns {
		abortConn(c.Conn)
	}
	return len(conns)
}

// reopen binds the port's address again.
func (g *clientGate) reopen() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return net.ErrClosed
	}
	if g.ln != nil {
		return nil
	}
	ln, err := net.Listen(g.addr.Network(), g.addr.String())
	if err != nil {
		return err
	}
	g.ln = ln
	g.signal()
	return nil
}

func (g *clientGate) isOpen() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ln != nil
}

func (g *clientGate) forget(c *gateConn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
}

// gateConn is a connection a gate accepted.
type gateConn struct {
	net.Conn
	g *clientGate
}

func (c *gateConn) Close() error {
	c.g.forget(c)
	return c.Conn.Close()
}

// abortConn resets a connection (RST, as when a process dies) instead
// of closing it.
func abortConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// ClientPorts is what GET /lab/clients reports.
type ClientPorts struct {
	// Open is false while the node is killed (its client ports closed).
	Open bool `json:"open"`
	// Clients are the client ports' URLs.
	Clients []string `json:"clients"`
	// Sessions are the live sessions now.
	Sessions int `json:"sessions"`
	// Kills counts the times the ports were closed, and Reset the
	// connections those kills reset.
	Kills int   `json:"kills"`
	Reset int64 `json:"reset"`
}

// errNoClientPorts is a kill or a reopen of a node without client ports.
var errNoClientPorts = errors.New("this lab server has no client ports (start it with --client-ports)")

// ClientPorts reports the client ports' state.
func (s *Server) ClientPorts() ClientPorts {
	s.gateMu.Lock()
	defer s.gateMu.Unlock()
	return s.clientPortsLocked()
}

func (s *Server) clientPortsLocked() ClientPorts {
	open := len(s.gates) > 0
	for _, g := range s.gates {
		open = open && g.isOpen()
	}
	return ClientPorts{Open: open, Clients: s.ClientURLs, Sessions: s.Live().Sessions, Kills: s.kills, Reset: s.reset}
}

// SetClientPorts kills the node (open false: its client ports close and
// every connection on them is reset, as if the process had crashed) or
// brings it back (open true: the ports are bound again on the same
// addresses). Doing what is already done changes nothing.
func (s *Server) SetClientPorts(open bool) (ClientPorts, error) {
	s.gateMu.Lock()
	defer s.gateMu.Unlock()
	if len(s.gates) == 0 {
		return ClientPorts{}, errNoClientPorts
	}
	if !open {
		if s.clientPortsLocked().Open {
			s.kills++
		}
		for _, g := range s.gates {
			s.reset += int64(g.shut())
		}
		for _, f := range s.onKill {
			f()
		}
		return s.clientPortsLocked(), nil
	}
	var reopened []*clientGate
	for _, g := range s.gates {
		if g.isOpen() {
			continue
		}
		if err := g.reopen(); err != nil {
			for _, r := range reopened {
				s.reset += int64(r.shut())
			}
			return s.clientPortsLocked(), fmt.Errorf("lab %s: reopening client port %s: %w", s.cfg.Name, g.addr, err)
		}
		reopened = append(reopened, g)
	}
	return s.clientPortsLocked(), nil
}
