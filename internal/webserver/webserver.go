// Package webserver runs an HTTP handler with exporter-toolkit's web layer
// (TLS and basic auth from --web.config.file, systemd sockets) until the
// context ends, then shuts it down gracefully. All three lbpilot roles
// serve through it.
package webserver

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/lbpilot/lbpilot/internal/logging"
)

// ShutdownTimeout bounds the graceful shutdown.
const ShutdownTimeout = 5 * time.Second

// Run serves h on the listeners named by flags until ctx is done.
func Run(ctx context.Context, h http.Handler, flags *web.FlagConfig, logger log.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- web.ListenAndServe(srv, flags, logging.Slog(logger)) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	level.Info(logger).Log("msg", "Shutting down HTTP server")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
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
