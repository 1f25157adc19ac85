package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/traffic"
)

type trafficFlags struct {
	plan, metricsAddr, report string
	interval                  time.Duration
}

// protocols is the registry the command runs plans with: the built-in
// tcp and the lab's clients (wcs, rtmp, flv, hls, mqtt).
var protocols = lab.Registry

// runTraffic runs a plan: 0 done, 1 runtime failure, 2 bad plan or flags.
func runTraffic(ctx context.Context, f trafficFlags, stdout, stderr io.Writer, logger log.Logger) int {
	reg := protocols()
	pf, err := os.Open(f.plan)
	if err != nil {
		fmt.Fprintf(stderr, "--plan: %v\n", err)
		return 2
	}
	plan, err := traffic.DecodePlan(pf, reg)
	pf.Close()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", f.plan, err)
		return 2
	}
	if f.interval <= 0 {
		fmt.Fprintf(stderr, "--report-interval: must be positive, got %s\n", f.interval)
		return 2
	}
	var ln net.Listener
	if f.metricsAddr != "" {
		host, _, err := net.SplitHostPort(f.metricsAddr)
		if ip := net.ParseIP(host); err != nil || host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			fmt.Fprintf(stderr, "--metrics-address %q: want a loopback host:port, e.g. 127.0.0.1:9799\n", f.metricsAddr)
			return 2
		}
		if ln, err = net.Listen("tcp", f.metricsAddr); err != nil {
			level.Error(logger).Log("msg", "Listening for metrics", "err", err)
			return 1
		}
	}
	var report io.Writer = stdout
	if f.report != "-" {
		rf, err := os.Create(f.report)
		if err != nil {
			if ln != nil {
				ln.Close()
			}
			level.Error(logger).Log("msg", "Opening the report", "err", err)
			return 1
		}
		defer rf.Close()
		report = rf
	}

	e := traffic.NewEngine(plan, reg)
	e.Report = report
	e.Interval = f.interval
	e.Hook = func(ctx context.Context, ev traffic.Event) error {
		level.Info(logger).Log("msg", "Phase", "phase", ev.Label, "kind", ev.Kind, "node", ev.Node, "at", ev.At)
		return traffic.HTTPHook(nil)(ctx, ev)
	}
	if ln != nil {
		pr := prometheus.NewRegistry()
		pr.MustRegister(e)
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(pr, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		level.Info(logger).Log("msg", "Serving metrics", "address", ln.Addr().String())
	}
	sum, err := e.Run(ctx)
	for _, fl := range sum.Failures {
		level.Warn(logger).Log("msg", "Session "+fl.Outcome, "id", fl.ID, "protocol", fl.Protocol, "kind", fl.Kind, "node", fl.Node,
			"phase", fl.Phase, "reason", fl.Reason, "err", fl.Error)
	}
	for _, name := range sortedNames(sum.Protocols) {
		c := sum.Protocols[name]
		level.Info(logger).Log("msg", "Summary", "protocol", name, "opened", c.Opened, "ended", c.Ended, "cut", c.Cut,
			"refused", c.Refused, "stopped", c.Stopped, "skipped", c.Skipped, "bytes_in", c.BytesIn, "bytes_out", c.BytesOut)
	}
	level.Info(logger).Log("msg", "Traffic done", "stopped_by", sum.StoppedBy, "sessions", sum.Sessions, "failures", len(sum.Failures))
	if err != nil {
		level.Error(logger).Log("msg", "Traffic run failed", "err", err)
		return 1
	}
	return 0
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
