package agent

import (
	"context"
	"math"
	"time"
)

// Sample is one reading of the dimensions a source measures. A dimension
// the upstream did not report (WCS without global_bandwidth_check_enabled,
// SRS's bandwidth before a second reading) is absent and not checked.
type Sample struct {
	Time time.Time
	vals [numDimensions]float64
	has  [numDimensions]bool
}

// Set records a dimension's value. Non-finite values are dropped: they are
// a parser's artefact, not a load, and /health could not encode them.
func (s *Sample) Set(d Dimension, v float64) {
	if d >= numDimensions || math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	s.vals[d], s.has[d] = v, true
}

// Get returns a dimension's value and whether it was measured.
func (s *Sample) Get(d Dimension) (float64, bool) {
	if d >= numDimensions {
		return 0, false
	}
	return s.vals[d], s.has[d]
}

// Source reads the local upstream. Sample is called by one goroutine at a
// time (the cache's single flight) under a context that carries the
// upstream timeout.
type Source interface {
	Sample(ctx context.Context) (Sample, error)
}

// SourceFunc adapts a function to Source (tests, benchmarks).
type SourceFunc func(ctx context.Context) (Sample, error)

// Sample calls f.
func (f SourceFunc) Sample(ctx context.Context) (Sample, error) { return f(ctx) }

// withCPU adds the host's cpu dimension to another source's samples. A
// failing CPU reading leaves cpu out (it is logged once at start-up by
// the caller); it never fails the sample, whose upstream is fine.
type withCPU struct {
	src Source
	cpu CPUReader
}

func (w withCPU) Sample(ctx context.Context) (Sample, error) {
	s, err := w.src.Sample(ctx)
	if err != nil {
		return s, err
	}
	if pct, err := w.cpu.Percent(); err == nil {
		s.Set(CPU, pct)
	}
	return s, nil
}
