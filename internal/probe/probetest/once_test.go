package probetest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records what a helper reports; Fatalf
// ends the goroutine, as the testing package does.
type recorder struct {
	testing.TB
	errs  []string
	fatal bool
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.fatal = true
	runtime.Goexit()
}

func check(f func(tb testing.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	return r
}

func TestWantHelpers(t *testing.T) {
	ok := Result{Success: true, Phases: map[string]float64{"connect": 0.1, "tls": 0}}
	failed := Result{Reason: "timeout", Message: "deadline", Elapsed: 1500 * time.Millisecond}
	for _, tt := range []struct {
		name  string
		f     func(tb testing.TB)
		errs  int
		fatal bool
		want  string
	}{
		{"success", func(tb testing.TB) { WantSuccess(tb, ok, "connect") }, 0, false, ""},
		{"phase that did not run", func(tb testing.TB) { WantSuccess(tb, ok, "connect", "tls") }, 1, false, "phase tls"},
		{"failure taken for success", func(tb testing.TB) { WantSuccess(tb, failed, "connect") }, 1, true, "probe failed: timeout"},
		{"reason", func(tb testing.TB) { WantFailure(tb, failed, "timeout") }, 0, false, ""},
		{"other reason", func(tb testing.TB) { WantFailure(tb, failed, "tls") }, 1, false, `want "tls"`},
		{"success taken for failure", func(tb testing.TB) { WantFailure(tb, ok, "") }, 1, false, "want"},
		{"within the deadline", func(tb testing.TB) { WantFailureWithin(tb, failed, "timeout", time.Second) }, 0, false, ""},
		{"overran the deadline", func(tb testing.TB) { WantFailureWithin(tb, failed, "timeout", 400*time.Millisecond) }, 1, false, "took 1.5s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := check(tt.f)
			if len(r.errs) != tt.errs || r.fatal != tt.fatal || (tt.want != "" && !strings.Contains(strings.Join(r.errs, "\n"), tt.want)) {
				t.Errorf("errors %q (fatal %v), want %d (fatal %v) with %q", r.errs, r.fatal, tt.errs, tt.fatal, tt.want)
			}
		})
	}
}
