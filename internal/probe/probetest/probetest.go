// Package probetest runs probes in tests, checks what they report, and
// starts what they probe: a lab node, a real haproxy in front of a
// listener, Debian's mosquitto broker, and a throwaway certificate
// authority for the TLS cases.
package probetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

// Result is what one probe reported.
type Result struct {
	Success  bool
	Duration float64
	Reason   string // probe_failure_info's reason, "" on success
	Message  string
	Phases   map[string]float64
	Values   map[string]float64 // probe_<proto>_<name> by name
	Elapsed  time.Duration      // measured around Update
}

// Run runs the collector once under timeout and reads back its metrics
// through a pedantic registry (so inconsistent metrics fail the test).
func Run(t testing.TB, c collectors.Collector, proto string, timeout time.Duration) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var ms []prometheus.Metric
	ch := make(chan prometheus.Metric, 64)
	done := make(chan struct{})
	go func() {
		for m := range ch {
			ms = append(ms, m)
		}
		close(done)
	}()
	start := time.Now()
	if err := c.Update(ctx, ch); err != nil {
		t.Fatalf("Update returned %v; a probe reports failures as metrics", err)
	}
	res := Result{Elapsed: time.Since(start), Phases: map[string]float64{}, Values: map[string]float64{}}
	close(ch)
	<-done
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(replay{c, ms}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	prefix := "probe_" + proto + "_"
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue()
			switch name := mf.GetName(); {
			case name == "probe_success":
				res.Success = v == 1
			case name == "probe_duration_seconds":
				res.Duration = v
			case name == "probe_failure_info":
				res.Reason, res.Message = label(m, "reason"), label(m, "message")
			case name == prefix+"duration_seconds":
				res.Phases[label(m, "phase")] = v
			case strings.HasPrefix(name, prefix):
				res.Values[strings.TrimPrefix(name, prefix)] = v
			default:
				t.Errorf("unexpected family %s from a %s probe", name, proto)
			}
		}
	}
	if res.Success != (res.Reason == "") {
		t.Errorf("probe_success %v but failure reason %q", res.Success, res.Reason)
	}
	return res
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

type replay struct {
	c  collectors.Collector
	ms []prometheus.Metric
}

func (r replay) Describe(ch chan<- *prometheus.Desc) { r.c.Describe(ch) }
func (r replay) Collect(ch chan<- prometheus.Metric) {
	for _, m := range r.ms {
		ch <- m
	}
}

// Front starts a real haproxy with one frontend in mode ("tcp" or
// "http") balancing over servers, and returns the frontend's address.
func Front(t testing.TB, mode string, servers ...string) string {
	t.Helper()
	return front(t, mode, "", servers)
}

// FrontTLS is Front with haproxy terminating TLS with the CA's server
// certificate.
func FrontTLS(t testing.TB, mode string, ca CA, servers ...string) string {
	t.Helper()
	cert, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(ca.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(bundle, append(cert, key...), 0o600); err != nil {
		t.Fatal(err)
	}
	return front(t, mode, " ssl crt "+bundle, servers)
}

func front(t testing.TB, mode, bindOpts string, servers []string) string {
	port := testenv.FreePort(t)
	var b strings.Builder
	b.WriteString(haproxytest.Global)
	b.WriteString("\nfrontend fe\n    mode " + mode + "\n    bind 127.0.0.1:" + strconv.Itoa(port) + bindOpts + "\n    default_backend be\n")
	b.WriteString("\nbackend be\n    mode " + mode + "\n    balance roundrobin\n")
	if mode == "http" {
		b.WriteString("    timeout tunnel 1h\n")
	}
	for i, s := range servers {
		b.WriteString("    server s" + strconv.Itoa(i) + " " + s + "\n")
	}
	haproxytest.Start(t, b.String())
	addr := "127.0.0.1:" + strconv.Itoa(port)
	WaitPort(t, addr)
	return addr
}

// WaitPort waits until addr accepts connections.
func WaitPort(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not accept connections: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Mosquitto runs Debian's mosquitto on a free loopback port with the
// given extra configuration lines (listener settings, auth) and returns
// its address (as root it keeps root's rights: the test's files are
// private). The config's {{dir}} is replaced by the broker's directory.
func Mosquitto(t testing.TB, extra string) string {
	t.Helper()
	bin := testenv.Binary(t, "mosquitto")
	dir := t.TempDir()
	port := testenv.FreePort(t)
	conf := "listener " + strconv.Itoa(port) + " 127.0.0.1\n" +
		"persistence false\nuser root\nlog_dest stderr\nlog_type error\nlog_type warning\nmax_keepalive 60\n" +
		strings.ReplaceAll(extra, "{{dir}}", dir)
	if !strings.Contains(extra, "allow_anonymous") {
		conf += "allow_anonymous true\n"
	}
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	cmd := exec.Command(bin, "-c", path)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("mosquitto output:\n%s", logs.String())
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return addr
		}
		select {
		case <-exited:
			t.Fatalf("mosquitto exited:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto does not listen on %s:\n%s", addr, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// CA is a throwaway certificate authority and one server certificate for
// 127.0.0.1 and localhost, written as PEM files.
type CA struct {
	CAFile, CertFile, KeyFile string
}

// NewCA writes the files into a temporary directory.
func NewCA(t testing.TB) CA {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lbpilot test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ca := CA{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server.key")}
	write := func(path, typ string, b []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(ca.CAFile, "CERTIFICATE", caDER)
	write(ca.CertFile, "CERTIFICATE", der)
	write(ca.KeyFile, "PRIVATE KEY", keyDER)
	return ca
}

// Garbage serves a TCP listener that answers whatever a connection sends
// first with bytes of another protocol (an SSH banner) and closes, and
// returns its address.
func Garbage(t testing.TB) string {
	t.Helper()
	return testenv.ServeTCP(t, func(c net.Conn) {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 512)
		_, _ = c.Read(buf)
		_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\x00\x00\x01\x14\x07\x14garbage"))
	})
}

// Silent accepts connections and never answers (until the test ends).
func Silent(t testing.TB) string {
	t.Helper()
	return testenv.ServeTCP(t, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 4096)
		for {
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
}
