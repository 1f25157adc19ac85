package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/golden"
)

var testSpec = NewSpec("test", []string{"connect", "tls", "answer"},
	Value{Name: "bytes", Help: "Bytes the test probe read."},
	Value{Name: "nan", Help: "A value never emitted when NaN."})

// fakeClock advances 250 ms per reading.
func fakeClock() func() time.Time {
	t := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(250 * time.Millisecond); return t }
}

func collector(labels prometheus.Labels, fn Func) *Collector {
	c := NewCollector(testSpec, labels, fn)
	c.now = fakeClock()
	return c
}

// The exposition of a successful and a failed probe, with and without a
// static target's labels (golden files, checked by promtool too).
func TestExposition(t *testing.T) {
	ok := func(_ context.Context, r *Report) error {
		r.Phase("connect") // one clock step
		r.PhaseTook("answer", 40*time.Millisecond)
		r.PhaseTook("answer", 10*time.Millisecond) // phases add up
		r.Set("bytes", 1234)
		r.Set("nan", nanValue())
		return nil
	}
	failed := func(context.Context, *Report) error {
		return Fail("auth_refused", errors.New("broker refused CONNECT:\n  reason 0x86"))
	}
	for _, tt := range []struct {
		name   string
		labels prometheus.Labels
		fn     Func
	}{
		{"success", nil, ok},
		{"failure", nil, failed},
		{"static", prometheus.Labels{"target": "broker-a", "cluster": "emqx"}, ok},
	} {
		t.Run(tt.name, func(t *testing.T) {
			golden.Compare(t, collectors.Prometheus(collector(tt.labels, tt.fn)), "testdata/"+tt.name+".prom")
		})
	}
	golden.Promtool(t, "testdata/*.prom")
}

func nanValue() float64 { var z float64; return z / z }

// A probe that returns nil after its deadline passed still failed.
func TestDeadlineFailsTheProbe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := collector(nil, func(context.Context, *Report) error { return nil })
	ch := make(chan prometheus.Metric, 32)
	if err := c.Update(ctx, ch); err != nil {
		t.Fatal(err)
	}
	close(ch)
	var failed bool
	for m := range ch {
		if strings.Contains(m.Desc().String(), `"probe_failure_info"`) {
			failed = true
		}
	}
	if !failed {
		t.Error("a cancelled probe reported no failure")
	}
}

func TestUnknownPhaseOrValuePanics(t *testing.T) {
	r := &Report{spec: testSpec, now: time.Now, values: map[string]float64{}}
	for name, f := range map[string]func(){
		"phase": func() { r.Phase("nope") },
		"value": func() { r.Set("nope", 1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("unknown %s accepted", name)
				}
			}()
			f()
		}()
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func TestClassify(t *testing.T) {
	tests := []struct {
		err    error
		reason string
	}{
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), "timeout"},
		{&net.OpError{Op: "read", Err: timeoutErr{}}, "timeout"},
		{Fail("stale", errors.New("the media sequence stayed")), "stale"},
		{Fail("stale", fmt.Errorf("x: %w", context.DeadlineExceeded)), "timeout"},
		{&net.DNSError{Err: "no such host", Name: "x.invalid"}, "resolve"},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "connection_refused"},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), "connection_reset"},
		{fmt.Errorf("dial: %w", syscall.EHOSTUNREACH), "unreachable"},
		{&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{Cert: &x509.Certificate{}}}, "tls"},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, "tls"},
		{x509.HostnameError{Certificate: &x509.Certificate{}, Host: "x"}, "tls"},
		{fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), "eof"},
		{errors.New("something else"), "error"},
	}
	for _, tt := range tests {
		reason, msg := Classify(tt.err)
		if reason != tt.reason {
			t.Errorf("%v: reason %q, want %q", tt.err, reason, tt.reason)
		}
		if msg == "" || strings.Contains(msg, "\n") {
			t.Errorf("%v: message %q", tt.err, msg)
		}
	}
	if _, msg := Classify(errors.New(strings.Repeat("long ", 100))); len(msg) > maxMessage+4 {
		t.Errorf("message of %d bytes", len(msg))
	}
	if got := OneLine("a\n\tb  c\xff"); strings.ContainsAny(got, "\n\t") || !strings.HasPrefix(got, "a b c") {
		t.Errorf("OneLine: %q", got)
	}
}

func TestBudget(t *testing.T) {
	if got := Budget(context.Background(), time.Second); got != time.Second {
		t.Errorf("no deadline: %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if got := Budget(ctx, 10*time.Second); got <= time.Second || got > 1800*time.Millisecond {
		t.Errorf("2 s deadline, 10 s wanted: %v (a tenth kept for the rest)", got)
	}
	if got := Budget(ctx, 100*time.Millisecond); got != 100*time.Millisecond {
		t.Errorf("short want: %v", got)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel2()
	if got := Budget(short, time.Second); got != 0 {
		t.Errorf("almost no time left: %v", got)
	}
}

func TestCheckHTTPTargetAndTLSConfig(t *testing.T) {
	for _, bad := range []string{"ftp://h/", "http://", "http://u:p@h/", "%zz"} {
		if _, err := CheckHTTPTarget("x", bad); err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "u:p@") {
			t.Errorf("password shown: %v", err)
		}
	}
	if _, err := CheckHTTPTarget("x", "https://h:8443/live/s.m3u8"); err != nil {
		t.Error(err)
	}
	tc, err := TLSConfig(nil, "broker.example")
	if err != nil || tc.ServerName != "broker.example" {
		t.Errorf("TLSConfig: %+v %v", tc, err)
	}
	// A CA file removed since the module was loaded fails the run as "config".
	gone := &promconfig.TLSConfig{CAFile: filepath.Join(t.TempDir(), "ca.pem")}
	if _, err := TLSConfig(gone, "h"); err == nil {
		t.Error("TLSConfig with a missing CA file passed")
	} else if reason, msg := Classify(err); reason != "config" || !strings.HasPrefix(msg, "tls_config: ") {
		t.Errorf("missing CA file: %s %q", reason, msg)
	}
	if err := CheckTLSConfig("rtmp", nil); err != nil {
		t.Errorf("no tls_config: %v", err)
	}
	if err := CheckTLSConfig("rtmp", gone); err == nil || !strings.HasPrefix(err.Error(), "rtmp: tls_config: ") {
		t.Errorf("CheckTLSConfig with a missing CA file: %v", err)
	}
}

func TestMetricDocsNameEveryFamily(t *testing.T) {
	rows := testSpec.MetricDocs()
	var names []string
	for _, r := range rows {
		names = append(names, r.Names...)
	}
	if strings.Join(names, ",") != strings.Join(testSpec.Families(), ",") {
		t.Errorf("docs %v, families %v", names, testSpec.Families())
	}
}
