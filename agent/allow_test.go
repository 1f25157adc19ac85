package agent

import (
	"net"
	"testing"
)

func TestAllowlist(t *testing.T) {
	a, err := ParseAllowlist([]string{"10.0.0.0/8, 192.0.2.7", "2001:db8::/32", "::ffff:198.51.100.0/120"})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.String(); got != "10.0.0.0/8,192.0.2.7/32,2001:db8::/32,198.51.100.0/24" {
		t.Errorf("String: %q", got)
	}
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000} }
	tests := []struct {
		addr net.Addr
		want bool
	}{
		{tcp("10.1.2.3"), true},
		{tcp("::ffff:10.1.2.3"), true}, // IPv4 on a dual-stack socket
		{tcp("192.0.2.7"), true},
		{tcp("192.0.2.8"), false},
		{tcp("2001:db8::1"), true},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Zone: "eth0"}, false},
		{tcp("198.51.100.77"), true},
		{tcp("127.0.0.1"), false},
		{&net.UnixAddr{Name: "/tmp/x", Net: "unix"}, false},
	}
	for _, tt := range tests {
		if got := a.Allows(tt.addr); got != tt.want {
			t.Errorf("%v: %v, want %v", tt.addr, got, tt.want)
		}
	}
	empty, err := ParseAllowlist(nil)
	if err != nil || !empty.Empty() || !empty.Allows(tcp("203.0.113.1")) || !empty.Allows(&net.UnixAddr{}) || empty.String() != "any" {
		t.Errorf("empty list: %v %v", empty, err)
	}
	var nilList *Allowlist
	if !nilList.Allows(tcp("203.0.113.1")) {
		t.Error("nil list refuses")
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/x"} {
		if _, err := ParseAllowlist([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
