package probetest

import (
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/probe"
)

// Once validates a module's options o as the exporter does at load,
// builds the probe of target with newProbe (a protocol package's New)
// and runs it once under timeout. Invalid options or a rejected target
// fail the test: the cases that want them call Validate or New directly.
func Once[O any, P interface {
	*O
	Validate() error
}](t testing.TB, spec *probe.Spec, newProbe func(O, string, prometheus.Labels) (*probe.Collector, error), o O, target string, timeout time.Duration) Result {
	t.Helper()
	if err := P(&o).Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := newProbe(o, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	return Run(t, c, spec.Proto(), timeout)
}

// WantSuccess fails the test at once when the probe failed, and checks
// that each of phases took some time.
func WantSuccess(t testing.TB, r Result, phases ...string) {
	t.Helper()
	if !r.Success {
		t.Fatalf("probe failed: %s: %s", r.Reason, r.Message)
	}
	for _, p := range phases {
		if r.Phases[p] <= 0 {
			t.Errorf("phase %s = %v, want > 0", p, r.Phases[p])
		}
	}
}

// WantFailure checks that the probe failed with reason.
func WantFailure(t testing.TB, r Result, reason string) {
	t.Helper()
	if r.Success || r.Reason != reason {
		t.Errorf("reason %q (%s), want %q", r.Reason, r.Message, reason)
	}
}

// WantFailureWithin is WantFailure for a probe run under deadline, which
// must also have ended within a second of it: a probe that overruns its
// deadline holds the scrape past Prometheus's timeout.
func WantFailureWithin(t testing.TB, r Result, reason string, deadline time.Duration) {
	t.Helper()
	WantFailure(t, r, reason)
	if r.Elapsed > deadline+time.Second {
		t.Errorf("took %v with a %v deadline", r.Elapsed, deadline)
	}
}

// Lab starts a lab node (stopped when the test ends) and returns it with
// the host:port of its first client address, for a haproxy in front.
func Lab(t testing.TB, cfg lab.Config) (*lab.Server, string) {
	t.Helper()
	srv, err := lab.Start(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	if len(srv.ClientURLs) == 0 {
		t.Fatalf("lab node %s has no client address", cfg.Name)
	}
	u, err := url.Parse(srv.ClientURLs[0])
	if err != nil || u.Host == "" {
		t.Fatalf("lab node %s: client address %q: %v", cfg.Name, srv.ClientURLs[0], err)
	}
	return srv, u.Host
}
