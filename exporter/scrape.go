package exporter

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/expo"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// job is one target to scrape within a request.
type job struct {
	module    string
	name      string // static target name, "" for /probe
	url       string
	timeout   time.Duration
	collector collectors.Collector
	upDesc    *prometheus.Desc
	upValues  []string
	durDesc   *prometheus.Desc
}

// result is what one scrape produced.
type result struct {
	job      *job
	metrics  []prometheus.Metric
	stream   expo.Stream
	err      error
	duration time.Duration
}

// scrapeAll scrapes the jobs with at most limit at a time.
func (e *Exporter) scrapeAll(ctx context.Context, jobs []*job, limit int) []*result {
	results := make([]*result, len(jobs))
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = &result{job: j, err: fmt.Errorf("not scraped: %w", ctx.Err())}
				return
			}
			defer func() { <-sem }()
			results[i] = e.scrapeOne(ctx, j)
		}()
	}
	wg.Wait()
	return results
}

// scrapeOne runs one collector under its own deadline and keeps what it sent.
func (e *Exporter) scrapeOne(ctx context.Context, j *job) *result {
	ctx, cancel := context.WithTimeout(ctx, j.timeout)
	defer cancel()
	r := &result{job: j}
	ch := make(chan prometheus.Metric, 256)
	done := make(chan struct{})
	go func() {
		for m := range ch {
			r.metrics = append(r.metrics, m)
		}
		close(done)
	}()
	start := time.Now()
	func() {
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("collector panic: %v", p)
			}
		}()
		if s, ok := j.collector.(collectors.Streamer); ok {
			r.stream, r.err = s.UpdateStream(ctx, ch)
		} else {
			r.err = j.collector.Update(ctx, ch)
		}
	}()
	close(ch)
	<-done
	r.duration = time.Since(start)
	if r.err != nil && ctx.Err() != nil && !errors.Is(r.err, context.DeadlineExceeded) && !errors.Is(r.err, context.Canceled) {
		r.err = fmt.Errorf("%w: %v", ctx.Err(), r.err)
	}
	logger := log.With(e.logger, "module", j.module, "url", upstream.RedactURL(j.url), "duration_seconds", r.duration.Seconds())
	if j.name != "" {
		logger = log.With(logger, "target", j.name)
	}
	switch {
	case errors.Is(r.err, collectors.ErrNoData):
		level.Debug(logger).Log("msg", "Target has no data")
		r.err = nil
	case r.err != nil && j.name == "":
		// The same failure repeated: same module, target and cause.
		if ok, held := e.probeFailLog.Allow(j.module + "\x00" + j.url + "\x00" + upstream.Shorten(r.err.Error(), 200)); ok {
			level.Error(logger).Log("msg", "Target scrape failed", "err", r.err, "similar_since_last", held)
		}
	case r.err != nil:
		level.Error(logger).Log("msg", "Target scrape failed", "err", r.err)
	}
	return r
}

// replay exposes stored results to a registry: the collected metrics and,
// per target, lbpilot_up and lbpilot_scrape_duration_seconds. It is an
// unchecked collector; the registry still checks every metric on Gather.
type replay []*result

func (replay) Describe(chan<- *prometheus.Desc) {}

func (rs replay) Collect(ch chan<- prometheus.Metric) {
	for _, r := range rs {
		for _, m := range r.metrics {
			ch <- m
		}
		up := 1.0
		if r.err != nil {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(r.job.upDesc, prometheus.GaugeValue, up, r.job.upValues...)
		ch <- prometheus.MustNewConstMetric(r.job.durDesc, prometheus.GaugeValue, r.duration.Seconds(), r.job.upValues...)
	}
}

const (
	upHelp  = "Whether the last scrape of the target succeeded (1) or failed (0)."
	durHelp = "How long the last scrape of the target took, in seconds."
)

// scrapeTimeout returns the deadline budget for a request: Prometheus's
// X-Prometheus-Scrape-Timeout-Seconds minus the offset, or 0 when absent.
func (e *Exporter) scrapeTimeout(r *http.Request) (time.Duration, error) {
	h := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if h == "" {
		return 0, nil
	}
	secs, err := strconv.ParseFloat(h, 64)
	if err != nil || secs <= 0 {
		return 0, fmt.Errorf("invalid X-Prometheus-Scrape-Timeout-Seconds %q", h)
	}
	d := time.Duration(secs * float64(time.Second))
	if e.opts.TimeoutOffset >= d {
		// An offset as large as the timeout would leave nothing; keep half.
		return d / 2, nil
	}
	return d - e.opts.TimeoutOffset, nil
}

// serve scrapes jobs and writes the exposition: the gathered families
// (self metrics first when gatherSelf), then any streamed families.
func (e *Exporter) serve(w http.ResponseWriter, r *http.Request, jobs []*job, gatherSelf bool) {
	ctx := r.Context()
	budget, err := e.scrapeTimeout(r)
	if err != nil {
		level.Warn(e.logger).Log("msg", "Ignoring scrape timeout header", "err", err)
	}
	if budget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, budget)
		defer cancel()
	}
	results := e.scrapeAll(ctx, jobs, e.opts.Concurrency)
	mfs, streams := e.gather(results, gatherSelf)
	if err := writeExposition(w, r, mfs, streams); err != nil {
		level.Debug(e.logger).Log("msg", "Writing response failed", "err", err)
	}
}

// contentType is the text exposition format, the one every Prometheus
// version accepts; streamed families are written in it directly.
var contentType = expfmt.NewFormat(expfmt.TypeTextPlain)

// gzipChunk is the unit of parallel compression.
const gzipChunk = 512 << 10

// writeExposition writes gathered families then streamed ones, gzipped
// when the client accepts it. Compression uses gzip level 1 (BestSpeed)
// spread over all cores: on a 10,000-server HAProxy the body is ~37 MB,
// and default-level single-threaded gzip would cost more than the scrape
// itself, while level 1 still shrinks it ~20× (see BENCHMARKS.md).
func writeExposition(w http.ResponseWriter, r *http.Request, mfs []*dto.MetricFamily, streams []expo.Stream) error {
	h := w.Header()
	h.Set("Content-Type", string(contentType))
	var out io.Writer = w
	var gz *expo.ParallelGzip
	if expo.AcceptsGzip(r.Header) {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		// Compress on every core while this goroutine renders.
		gz, _ = expo.NewParallelGzip(w, gzip.BestSpeed, runtime.GOMAXPROCS(0), gzipChunk)
		defer gz.Close()
		out = gz
	}
	bw := bufio.NewWriterSize(out, 32<<10)
	if err := writeFamilies(bw, gz, mfs, streams); err != nil {
		return err
	}
	return bw.Flush()
}

// writeFamilies writes gathered families then streamed ones. When bw
// writes into gz, streams compressed while they were scraped go into it
// as they are.
func writeFamilies(bw *bufio.Writer, gz *expo.ParallelGzip, mfs []*dto.MetricFamily, streams []expo.Stream) error {
	gathered := make(map[string]bool, len(mfs))
	for _, mf := range mfs {
		gathered[mf.GetName()] = true
		if _, err := expfmt.MetricFamilyToText(bw, mf); err != nil {
			return err
		}
	}
	return expo.WriteStreamsGzip(bw, gz, streams, gathered)
}
