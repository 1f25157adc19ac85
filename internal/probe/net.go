package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	promconfig "github.com/prometheus/common/config"
)

// NetReason names a network failure: resolve, connection_refused,
// connection_reset, unreachable, tls, eof; def for anything else.
func NetReason(err error, def string) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var alert tls.AlertError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &dnsErr):
		return "resolve"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection_reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable"
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &alert),
		errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &invalid):
		return "tls"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return def
}

// Budget returns how long a probe may spend waiting (a media window, a
// playlist refresh): want, but no more than what the deadline leaves
// after keeping a tenth of it (at least 50 ms) for the rest of the probe.
// It is 0 when nothing is left.
func Budget(ctx context.Context, want time.Duration) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return want
	}
	left := time.Until(dl)
	left -= max(left/10, 50*time.Millisecond)
	if left <= 0 {
		return 0
	}
	return min(want, left)
}

// DeadlineConn sets conn's deadline to ctx's, so that a server that
// stops answering cannot hold a read past the probe's deadline, and
// closes conn when ctx ends first (a cancelled scrape).
func DeadlineConn(ctx context.Context, conn net.Conn) (stop func()) {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stopClose := context.AfterFunc(ctx, func() { _ = conn.Close() })
	return func() { stopClose() }
}

// Dial opens a TCP connection to hostport and, with tlsCfg set, the TLS
// session on it, recording the phases "connect" and "tls". The returned
// connection's deadline is ctx's.
func Dial(ctx context.Context, r *Report, hostport string, tlsCfg *tls.Config) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, Fail(NetReason(err, "connect"), fmt.Errorf("connect %s: %w", hostport, err))
	}
	r.Phase("connect")
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if tlsCfg == nil {
		return conn, nil
	}
	tc := tls.Client(conn, tlsCfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, Fail("tls", fmt.Errorf("TLS handshake with %s: %w", hostport, err))
	}
	r.Phase("tls")
	return tc, nil
}

// TLSConfig builds a probe run's client TLS configuration from
// tls_config (CA, client certificate, server_name, insecure_skip_verify,
// min_version), for serverName when tls_config names none. Its files are
// read on every run, so one removed since the module was loaded fails
// the probe with the reason "config".
func TLSConfig(cfg *promconfig.TLSConfig, serverName string) (*tls.Config, error) {
	c := promconfig.TLSConfig{}
	if cfg != nil {
		c = *cfg
	}
	tc, err := promconfig.NewTLSConfig(&c)
	if err != nil {
		return nil, Fail("config", fmt.Errorf("tls_config: %w", err))
	}
	if tc.ServerName == "" {
		tc.ServerName = serverName
	}
	return tc, nil
}

// CheckTLSConfig validates a proto module's tls_config at load time: its
// files exist and the certificate pair loads.
func CheckTLSConfig(proto string, cfg *promconfig.TLSConfig) error {
	if cfg == nil {
		return nil
	}
	err := cfg.Validate()
	if err == nil {
		_, err = promconfig.NewTLSConfig(cfg)
	}
	if err != nil {
		return fmt.Errorf("%s: tls_config: %w", proto, err)
	}
	return nil
}
