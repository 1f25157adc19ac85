package rebalancer

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/go-kit/log"
)

// TestMain lets the test binary double as a rebalancer process for the
// tests that kill one with SIGKILL (LBPILOT_REBALANCER_HELPER=config.yml,
// LBPILOT_REBALANCER_ADDR=127.0.0.1:port).
func TestMain(m *testing.M) {
	if cfg := os.Getenv("LBPILOT_REBALANCER_HELPER"); cfg != "" {
		os.Exit(helperMain(cfg, os.Getenv("LBPILOT_REBALANCER_ADDR")))
	}
	os.Exit(m.Run())
}

func helperMain(cfgFile, addr string) int {
	logger := log.NewLogfmtLogger(log.NewSyncWriter(os.Stderr))
	cfg, err := LoadFile(cfgFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	r, err := New(Options{Config: cfg, Logger: logger, DisableExporterMetrics: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { _ = http.Serve(l, r.Mux("/metrics")) }()
	_ = r.Run(ctx)
	return 0
}
