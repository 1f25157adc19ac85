package haproxyapi

import (
	"fmt"
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"bk_web", true}, {"web1", true}, {"be.wcs-01:8443", true}, {"#5", true}, {"#123", true},
		{"", false}, {"#", false}, {"#5a", false}, {"a#5", false},
		{"web1;shutdown sessions", false}, {"web1\nshow info", false}, {"web 1", false},
		{"web1\r", false}, {"bk/web1", false}, {`web\;1`, false}, {"wéb", false}, {"web\t1", false},
		{"'web1'", false}, {`"web1"`, false}, {strings.Repeat("a", MaxNameLen), true}, {strings.Repeat("a", MaxNameLen+1), false},
	}
	for _, tt := range tests {
		if got := ValidName(tt.in); got != tt.want {
			t.Errorf("ValidName(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCommandConstructorsRefuseInjection(t *testing.T) {
	bad := []ServerRef{
		{"bk_web", "web1;shutdown sessions server bk_web/web2"},
		{"bk_web\nset server bk/x state maint", "web1"},
		{"bk_web", "web1 state ready"},
		{"", "web1"},
		{"bk_web", ""},
	}
	for _, ref := range bad {
		if _, err := SetServerState(ref, StateDrain); err == nil {
			t.Errorf("SetServerState(%q) accepted", ref)
		}
		if _, err := SetWeight(ref, Weight{Value: 50, Percent: true}); err == nil {
			t.Errorf("SetWeight(%q) accepted", ref)
		}
		if _, err := GetWeight(ref); err == nil {
			t.Errorf("GetWeight(%q) accepted", ref)
		}
		if _, err := EnableAgent(ref); err == nil {
			t.Errorf("EnableAgent(%q) accepted", ref)
		}
		if _, err := SetMaxConn(ref, 10); err == nil {
			t.Errorf("SetMaxConn(%q) accepted", ref)
		}
	}
	ref := ServerRef{"bk_web", "web1"}
	if _, err := SetServerState(ref, AdminState("DRAIN")); err == nil || !strings.Contains(err.Error(), `"DRAIN"`) {
		t.Errorf("uppercase state accepted or unclear error: %v", err)
	}
	if _, err := SetWeight(ref, Weight{Value: 300}); err == nil {
		t.Error("weight 300 accepted")
	}
	if _, err := SetWeight(ref, Weight{Value: -1, Percent: true}); err == nil {
		t.Error("weight -1% accepted")
	}
	for _, n := range []int{-1, MaxMaxConn + 1} {
		if _, err := SetMaxConn(ref, n); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("maxconn %d", n)) {
			t.Errorf("maxconn %d accepted or unclear error: %v", n, err)
		}
	}
	for n, want := range map[int]string{0: "set maxconn server bk_web/web1 0", 42: "set maxconn server bk_web/web1 42"} {
		if c, err := SetMaxConn(ref, n); err != nil || c.String() != want {
			t.Errorf("SetMaxConn(%d) = %q, %v; want %q", n, c, err, want)
		}
	}
	c, err := SetServerState(ServerRef{"#5", "#2"}, StateDrain)
	if err != nil || c.String() != "set server #5/#2 state drain" {
		t.Errorf("by-id command = %q, %v", c, err)
	}
	c, err = SetWeight(ref, Weight{Value: 50, Percent: true})
	if err != nil || c.String() != "set weight bk_web/web1 50%" {
		t.Errorf("weight command = %q, %v", c, err)
	}
}

func TestCheckNameQuotesControlCharacters(t *testing.T) {
	err := CheckName("server", "web1\nshow info")
	if err == nil || !strings.Contains(err.Error(), `"web1\nshow info"`) {
		t.Fatalf("error does not show the escaped value: %v", err)
	}
}

func TestParseWeight(t *testing.T) {
	tests := []struct {
		in      string
		want    Weight
		wantErr bool
	}{
		{"50", Weight{50, false}, false}, {"50%", Weight{50, true}, false}, {"0", Weight{0, false}, false},
		{"256", Weight{256, false}, false}, {"257", Weight{}, true}, {"-1", Weight{}, true}, {"+5", Weight{}, true},
		{"abc", Weight{}, true}, {"", Weight{}, true}, {"%", Weight{}, true}, {"50x", Weight{}, true},
	}
	for _, tt := range tests {
		got, err := ParseWeight(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseWeight(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in, network, addr string
		wantErr           string
	}{
		{"unix:/run/haproxy/admin.sock", "unix", "/run/haproxy/admin.sock", ""},
		{"unix:///run/haproxy/admin.sock", "unix", "/run/haproxy/admin.sock", ""},
		{"/run/haproxy/admin.sock", "unix", "/run/haproxy/admin.sock", ""},
		{"tcp://127.0.0.1:9999", "tcp", "127.0.0.1:9999", ""},
		{"ipv4@127.0.0.1:9999", "tcp", "127.0.0.1:9999", ""},
		{"tcp://[::1]:9999", "tcp", "[::1]:9999", ""},
		{"", "", "", "empty"},
		{"unix:relative.sock", "", "", "absolute"},
		{"tcp://127.0.0.1", "", "", "missing port"},
		{"http://127.0.0.1:8404/stats", "", "", "want unix:/path"},
	}
	for _, tt := range tests {
		a, err := ParseAddress(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseAddress(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || a.Network != tt.network || a.Addr != tt.addr {
			t.Errorf("ParseAddress(%q) = %+v, %v", tt.in, a, err)
		}
	}
}
