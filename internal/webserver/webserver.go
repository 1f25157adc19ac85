// Package webserver runs an HTTP handler with exporter-toolkit's web layer
// (TLS and basic auth from --web.config.file, systemd sockets) until the
// context ends, then shuts it down gracefully. All three lbpilot roles
// serve through it, with the same limits: how long a client may take to
// send a request, how long an idle keep-alive connection is kept, how big
// the headers may be, and how many connections are open at once. Every
// one of these is reachable before authentication, so none is unbounded.
package webserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/coreos/go-systemd/v22/activation"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v3"
	"golang.org/x/net/netutil"

	"github.com/lbpilot/lbpilot/internal/logging"
)

// ShutdownTimeout bounds the graceful shutdown.
const ShutdownTimeout = 5 * time.Second

// Defaults of the limits; docs/reliability.md explains each.
const (
	// DefaultReadHeaderTimeout: a client that has not sent its request
	// headers by then is disconnected (also a new connection that sends
	// nothing).
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds reading a whole request, body included:
	// webhook bodies are small, a body trickling in is an attack.
	DefaultReadTimeout = 30 * time.Second
	// DefaultIdleTimeout keeps a keep-alive connection between requests:
	// longer than the usual scrape interval (so Prometheus reuses it),
	// short enough that abandoned connections go.
	DefaultIdleTimeout = 75 * time.Second
	// DefaultMaxConnections bounds the connections open at once; past it
	// new ones wait in the kernel's accept queue.
	DefaultMaxConnections = 512
	// MaxHeaderBytes bounds a request's headers (net/http's default is 1 MiB;
	// no lbpilot client sends more than a few hundred bytes).
	MaxHeaderBytes = 64 << 10
)

// Limits bound what one client can hold of a server.
type Limits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
	MaxConnections    int
}

// DefaultLimits are the limits of a role whose flags were not given.
func DefaultLimits() Limits {
	return Limits{ReadHeaderTimeout: DefaultReadHeaderTimeout, ReadTimeout: DefaultReadTimeout, IdleTimeout: DefaultIdleTimeout, MaxConnections: DefaultMaxConnections}
}

// AddFlags registers --web.read-timeout, --web.idle-timeout and
// --web.max-connections on a role's command.
func AddFlags(cmd *kingpin.CmdClause, l *Limits) {
	*l = DefaultLimits()
	cmd.Flag("web.read-timeout", "Longest time a client may take to send one whole request (headers and body); slower clients are disconnected.").
		Default(DefaultReadTimeout.String()).DurationVar(&l.ReadTimeout)
	cmd.Flag("web.idle-timeout", "How long an idle keep-alive connection is kept open between requests.").
		Default(DefaultIdleTimeout.String()).DurationVar(&l.IdleTimeout)
	cmd.Flag("web.max-connections", "Most HTTP connections open at once; further ones wait until one closes (0: no limit).").
		Default(fmt.Sprint(DefaultMaxConnections)).IntVar(&l.MaxConnections)
}

// Validate refuses limits that would make the server unusable.
func (l Limits) Validate() error {
	switch {
	case l.ReadTimeout <= 0:
		return fmt.Errorf("--web.read-timeout must be positive")
	case l.IdleTimeout <= 0:
		return fmt.Errorf("--web.idle-timeout must be positive")
	case l.MaxConnections < 0:
		return fmt.Errorf("--web.max-connections must not be negative")
	}
	return nil
}

// Run serves h on the listeners named by flags until ctx is done, with
// the default limits.
func Run(ctx context.Context, h http.Handler, flags *web.FlagConfig, logger log.Logger) error {
	return RunWith(ctx, h, flags, DefaultLimits(), logger)
}

// RunWith serves h until ctx is done. When ctx ends, requests in flight
// see their context cancelled (a probe stops, its client gets what was
// gathered so far), then the server shuts down; connections still open
// after ShutdownTimeout are closed. Stopping is not an error.
func RunWith(ctx context.Context, h http.Handler, flags *web.FlagConfig, lim Limits, logger log.Logger) error {
	if lim.ReadHeaderTimeout <= 0 {
		lim.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if lim.ReadTimeout > 0 && lim.ReadHeaderTimeout > lim.ReadTimeout {
		lim.ReadHeaderTimeout = lim.ReadTimeout
	}
	reqCtx, cancelReqs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReqs()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
	}
	slogger := logging.Slog(logger)
	errc := make(chan error, 1)
	go func() {
		ls, err := listen(flags, lim.MaxConnections)
		switch {
		case err != nil:
			errc <- err
		case ls == nil: // vsock: exporter-toolkit listens itself
			errc <- web.ListenAndServe(srv, flags, slogger)
		default:
			defer func() {
				for _, l := range ls {
					l.Close()
				}
			}()
			errc <- web.ServeMultiple(ls, srv, flags, slogger)
		}
	}()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	level.Info(logger).Log("msg", "Shutting down HTTP server")
	cancelReqs()
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		level.Warn(logger).Log("msg", "Requests still running after the shutdown timeout; closing their connections", "timeout", ShutdownTimeout)
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listen opens the listeners the flags name, each bounded to max
// connections. It returns nil, nil when an address is a vsock one, which
// exporter-toolkit opens itself (unbounded).
func listen(flags *web.FlagConfig, max int) ([]net.Listener, error) {
	if flags == nil || flags.WebConfigFile == nil {
		return nil, web.ErrMissingFlag
	}
	var ls []net.Listener
	if flags.WebSystemdSocket != nil && *flags.WebSystemdSocket {
		var err error
		if ls, err = activation.Listeners(); err != nil {
			return nil, err
		}
		if len(ls) == 0 {
			return nil, errors.New("no socket activation file descriptors found")
		}
	} else {
		if flags.WebListenAddresses == nil || len(*flags.WebListenAddresses) == 0 {
			return nil, web.ErrNoListeners
		}
		for _, a := range *flags.WebListenAddresses {
			if strings.HasPrefix(a, "vsock://") {
				for _, l := range ls {
					l.Close()
				}
				return nil, nil
			}
		}
		for _, a := range *flags.WebListenAddresses {
			l, err := net.Listen("tcp", a)
			if err != nil {
				for _, l := range ls {
					l.Close()
				}
				return nil, err
			}
			ls = append(ls, l)
		}
	}
	if max > 0 {
		for i, l := range ls {
			ls[i] = netutil.LimitListener(l, max)
		}
	}
	return ls, nil
}

// Unauthenticated returns the listen addresses that are reachable beyond
// loopback while the web configuration file asks no credentials of
// clients (no basic_auth_users, no required client certificate). Systemd
// sockets are not judged (their addresses are systemd's business).
func Unauthenticated(flags *web.FlagConfig) []string {
	if flags == nil || flags.WebListenAddresses == nil || (flags.WebSystemdSocket != nil && *flags.WebSystemdSocket) {
		return nil
	}
	if flags.WebConfigFile != nil && *flags.WebConfigFile != "" && asksCredentials(*flags.WebConfigFile) {
		return nil
	}
	var open []string
	for _, a := range *flags.WebListenAddresses {
		if !Loopback(a) {
			open = append(open, a)
		}
	}
	return open
}

// asksCredentials reads the parts of a web configuration file that make
// clients authenticate. An unreadable file counts as asking (the server
// refuses to start on it anyway).
func asksCredentials(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return true
	}
	var c struct {
		TLS struct {
			ClientAuth string `yaml:"client_auth_type"`
		} `yaml:"tls_server_config"`
		Users map[string]string `yaml:"basic_auth_users"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return true
	}
	return len(c.Users) > 0 || c.TLS.ClientAuth == "RequireAndVerifyClientCert" || c.TLS.ClientAuth == "RequireAnyClientCert"
}

// Loopback reports whether a listen address (host:port) only accepts
// connections from this host. An empty host listens on every interface.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Healthy answers 200 "OK" to GET and HEAD, for /-/healthy and /-/ready.
func Healthy() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("OK\n"))
	})
}
