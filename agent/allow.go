package agent

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Allowlist is the set of source networks the agent answers, like
// xinetd's only_from. An empty list allows every source.
type Allowlist struct {
	prefixes []netip.Prefix
}

// ParseAllowlist reads CIDRs ("10.0.0.0/8", "2001:db8::/32") or plain
// addresses ("192.0.2.7", a /32 or /128). IPv4 sources that arrive on an
// IPv6 socket as ::ffff:a.b.c.d match IPv4 entries.
func ParseAllowlist(entries []string) (*Allowlist, error) {
	a := &Allowlist{}
	for _, e := range entries {
		for _, s := range strings.FieldsFunc(e, func(r rune) bool { return r == ',' || r == ' ' }) {
			p, err := parsePrefix(s)
			if err != nil {
				return nil, err
			}
			a.prefixes = append(a.prefixes, p)
		}
	}
	return a, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("allow %q: %w", s, err)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("allow %q: want a CIDR (10.0.0.0/8) or an address: %w", s, err)
	}
	addr = addr.Unmap()
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// Empty reports whether every source is allowed.
func (a *Allowlist) Empty() bool { return a == nil || len(a.prefixes) == 0 }

// String lists the entries, for the start-up log.
func (a *Allowlist) String() string {
	if a.Empty() {
		return "any"
	}
	parts := make([]string, len(a.prefixes))
	for i, p := range a.prefixes {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// Allows reports whether a connection's remote address may be answered.
// Addresses that are not IP (a unix socket in tests) are allowed only by
// an empty list.
func (a *Allowlist) Allows(remote net.Addr) bool {
	if a.Empty() {
		return true
	}
	var addr netip.Addr
	switch r := remote.(type) {
	case *net.TCPAddr:
		ap := r.AddrPort()
		addr = ap.Addr()
	default:
		return false
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range a.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
