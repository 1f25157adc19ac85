package haproxyapi

import (
	"fmt"
	"net"
	"strings"

	"github.com/lbpilot/lbpilot/internal/redact"
)

// Address is a parsed runtime-socket address.
type Address struct {
	Network string // "unix" or "tcp"
	Addr    string // filesystem path or host:port
}

func (a Address) String() string {
	if a.Network == "unix" {
		return "unix:" + a.Addr
	}
	return "tcp://" + a.Addr
}

// ParseAddress accepts the forms operators write for a stats socket:
// "unix:/run/haproxy/admin.sock", "unix:///run/haproxy/admin.sock", a bare
// absolute path, "tcp://127.0.0.1:9999" and HAProxy's own "ipv4@127.0.0.1:9999".
func ParseAddress(s string) (Address, error) {
	orig := s
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Address{}, fmt.Errorf("empty HAProxy socket address")
	case strings.HasPrefix(s, "unix://"):
		s = strings.TrimPrefix(s, "unix://")
		return unixAddr(orig, s)
	case strings.HasPrefix(s, "unix:"):
		return unixAddr(orig, strings.TrimPrefix(s, "unix:"))
	case strings.HasPrefix(s, "/"):
		return unixAddr(orig, s)
	case strings.HasPrefix(s, "tcp://"):
		return tcpAddr(orig, strings.TrimPrefix(s, "tcp://"))
	case strings.HasPrefix(s, "ipv4@"), strings.HasPrefix(s, "ipv6@"):
		return tcpAddr(orig, s[5:])
	}
	return Address{}, fmt.Errorf("HAProxy socket address %q: want unix:/path, tcp://host:port or ipv4@host:port", orig)
}

func unixAddr(orig, path string) (Address, error) {
	if !strings.HasPrefix(path, "/") {
		return Address{}, fmt.Errorf("HAProxy socket address %q: unix socket path must be absolute", orig)
	}
	return Address{Network: "unix", Addr: path}, nil
}

func tcpAddr(orig, hostport string) (Address, error) {
	if strings.Contains(hostport, "@") {
		// The runtime socket has no authentication; "user:password@" here
		// would otherwise reach the dialer and echo back in its errors.
		return Address{}, fmt.Errorf("HAProxy socket address %q: credentials (user:password@) are not part of a runtime socket address; protect a TCP socket by binding it to loopback", redact.URL(orig))
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return Address{}, fmt.Errorf("HAProxy socket address %q: %w", redact.URL(orig), redact.Error(err))
	}
	if port == "" || host == "" {
		return Address{}, fmt.Errorf("HAProxy socket address %q: want host:port", orig)
	}
	return Address{Network: "tcp", Addr: net.JoinHostPort(host, port)}, nil
}
