package mqtt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/probe/probetest"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

func probeOnce(t *testing.T, o Options, target string, timeout time.Duration) probetest.Result {
	t.Helper()
	return probetest.Once(t, Spec, New, o, target, timeout)
}

func qos(n int) *int { return &n }

func wantSuccess(t *testing.T, r probetest.Result, tls bool) {
	t.Helper()
	probetest.WantSuccess(t, r, "connect", "connack", "subscribe", "publish", "deliver")
	if (r.Phases["tls"] > 0) != tls {
		t.Errorf("tls phase %v, TLS %v", r.Phases["tls"], tls)
	}
	if rt := r.Values["round_trip_seconds"]; rt <= 0 || rt > r.Duration {
		t.Errorf("round trip %v outside (0, %v]", rt, r.Duration)
	}
	if r.Values["connack_reason_code"] != 0 {
		t.Errorf("connack reason %v", r.Values["connack_reason_code"])
	}
}

// Debian's mosquitto, directly and through a real haproxy, at each QoS.
func TestMosquittoThroughHAProxy(t *testing.T) {
	broker := probetest.Mosquitto(t, "")
	front := probetest.Front(t, "tcp", broker)
	for _, tt := range []struct {
		name, target string
		qos          int
	}{
		{"direct qos0", "mqtt://" + broker, 0},
		{"haproxy qos0", "mqtt://" + front, 0},
		{"haproxy qos1", "tcp://" + front, 1},
		{"haproxy qos2", front, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := probeOnce(t, Options{QoS: qos(tt.qos)}, tt.target, 5*time.Second)
			wantSuccess(t, r, false)
			if r.Values["qos"] != float64(tt.qos) {
				t.Errorf("qos %v, want %d", r.Values["qos"], tt.qos)
			}
		})
	}
}

// mosquitto's TLS listener behind haproxy in mode tcp (TLS end to end),
// and the failures a wrong CA or a plain listener give.
func TestMosquittoTLS(t *testing.T) {
	ca := probetest.NewCA(t)
	broker := probetest.Mosquitto(t, "cafile "+ca.CAFile+"\ncertfile "+ca.CertFile+"\nkeyfile "+ca.KeyFile+"\n")
	front := probetest.Front(t, "tcp", broker)
	good := &promconfig.TLSConfig{CAFile: ca.CAFile}
	r := probeOnce(t, Options{TLSConfig: good}, "mqtts://"+front, 5*time.Second)
	wantSuccess(t, r, true)

	// The system roots do not know the test CA.
	r = probeOnce(t, Options{}, "mqtts://"+front, 5*time.Second)
	if r.Success || r.Reason != "tls" || !strings.Contains(r.Message, "certificate") {
		t.Errorf("unknown CA: %+v", r)
	}
	// TLS to a plain MQTT listener.
	plain := probetest.Mosquitto(t, "")
	r = probeOnce(t, Options{TLSConfig: good}, "mqtts://"+plain, 5*time.Second)
	if r.Success || (r.Reason != "tls" && r.Reason != "timeout") {
		t.Errorf("TLS to a plain listener: %+v", r)
	}
	// A name the certificate does not carry.
	r = probeOnce(t, Options{TLSConfig: &promconfig.TLSConfig{CAFile: ca.CAFile, ServerName: "broker.example"}}, "mqtts://"+front, 5*time.Second)
	if r.Success || r.Reason != "tls" {
		t.Errorf("wrong server name: %+v", r)
	}
}

// The lab's EMQX broker (with credentials) through haproxy: the right
// password passes, a wrong one is refused as auth_refused.
func TestLabEMQXThroughHAProxy(t *testing.T) {
	testenv.Binary(t, "haproxy")
	_, broker := probetest.Lab(t, lab.Config{Kind: lab.EMQX, Name: "emqx-probe", EMQXNodes: 1, APIKey: "probe", APISecret: "s3cret",
		ClientAddrs: []string{"127.0.0.1:0"}})
	front := probetest.Front(t, "tcp", broker)
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	_ = os.WriteFile(good, []byte("s3cret\n"), 0o600)
	_ = os.WriteFile(bad, []byte("wrong\n"), 0o600)

	r := probeOnce(t, Options{Username: "probe", PasswordFile: good}, "mqtt://"+front, 5*time.Second)
	wantSuccess(t, r, false)
	r = probeOnce(t, Options{Username: "probe", PasswordFile: bad}, "mqtt://"+front, 5*time.Second)
	if r.Success || r.Reason != "auth_refused" || r.Values["connack_reason_code"] != 0x86 {
		t.Errorf("bad password: %+v", r)
	}
	if strings.Contains(r.Message, "wrong") {
		t.Errorf("the message shows the password: %q", r.Message)
	}
	r = probeOnce(t, Options{}, "mqtt://"+front, 5*time.Second)
	if r.Success || r.Reason != "auth_refused" {
		t.Errorf("no credentials: %+v", r)
	}
}

// Everything that is not a working broker: a failed probe with a reason,
// within the deadline.
func TestFailures(t *testing.T) {
	gone := filepath.Join(t.TempDir(), "gone")
	tests := []struct {
		name, target string
		o            Options
		reason       string
	}{
		{"refused", testenv.ClosedPort(t), Options{}, "connection_refused"},
		{"garbage", probetest.Garbage(t), Options{}, "protocol"},
		{"silent", probetest.Silent(t), Options{}, "timeout"},
		{"password file removed", testenv.ClosedPort(t), Options{Username: "u", PasswordFile: gone}, "config"},
		{"unresolvable", "mqtt://no-such-host.invalid:1883", Options{}, "resolve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			// Valid at load, removed before the probe.
			_ = os.WriteFile(gone, []byte("x\n"), 0o600)
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			_ = os.Remove(gone)
			c, err := New(o, tt.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := probetest.Run(t, c, "mqtt", time.Second)
			probetest.WantFailureWithin(t, r, tt.reason, time.Second)
			if strings.Contains(r.Message, "\n") || r.Message == "" {
				t.Errorf("message %q is not one line", r.Message)
			}
		})
	}
}

func TestBadConfigAndTargets(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		o    Options
		want string
	}{
		{"qos", Options{QoS: qos(3)}, "qos must be 0, 1 or 2"},
		{"wildcard topic", Options{Topic: "a/#"}, "no wildcards"},
		{"password without user", Options{PasswordFile: filepath.Join(dir, "p")}, "password_file needs username"},
		{"missing password file", Options{Username: "u", PasswordFile: filepath.Join(dir, "p")}, "password_file"},
		{"missing CA", Options{TLSConfig: &promconfig.TLSConfig{CAFile: filepath.Join(dir, "ca")}}, "tls_config"},
		{"long prefix", Options{ClientIDPrefix: strings.Repeat("x", 41)}, "client_id_prefix"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate: %v, want %q", err, tt.want)
			}
		})
	}
	for _, tg := range []string{"", "host", "http://h:1", "mqtt://user:pw@h:1", "mqtt://h:1/path", "mqtt://:1", "mqtt://h", "%zz://"} {
		err := CheckTarget(tg)
		if err == nil {
			t.Errorf("CheckTarget(%q) passed", tg)
		} else if strings.Contains(err.Error(), "pw@") {
			t.Errorf("CheckTarget(%q) shows the password: %v", tg, err)
		}
	}
	for _, tg := range []string{"h:1", "mqtt://h:1", "mqtts://h:1", "ssl://[::1]:8883", "tcp://h:1/"} {
		if err := CheckTarget(tg); err != nil {
			t.Errorf("CheckTarget(%q): %v", tg, err)
		}
	}
}

// A broker whose ACL lets the probe connect and subscribe (mosquitto 2.0
// grants the subscription) but not publish: the PUBACK's refusal is the
// failure.
func TestPublishRefused(t *testing.T) {
	acl := filepath.Join(t.TempDir(), "acl")
	if err := os.WriteFile(acl, []byte("topic read nothing/here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	broker := probetest.Mosquitto(t, "acl_file "+acl+"\n")
	r := probeOnce(t, Options{}, "mqtt://"+broker, 3*time.Second)
	if r.Success || r.Reason != "publish" || r.Phases["subscribe"] <= 0 || !strings.Contains(r.Message, "not authorized") {
		t.Errorf("publish denied: %+v", r)
	}
}
