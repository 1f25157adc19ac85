package exporter

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/lbpilot/lbpilot/internal/expo"
)

// DefaultMaxProbes bounds the /probe requests scraping at once. One probe
// of a large HAProxy holds its whole stats answer and its rendering in
// memory (hundreds of MB at 10,000 servers); a few at once is what a
// Prometheus server sends, hundreds is an attack or a misconfiguration.
const DefaultMaxProbes = 8

// acquireProbe takes a probe slot, or reports that all are taken.
func (e *Exporter) acquireProbe() bool {
	select {
	case e.probeSlots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (e *Exporter) releaseProbe() { <-e.probeSlots }

// probeShared answers one /probe. Concurrent requests with the same query
// (module, target and every other parameter) share one scrape and one
// rendering: the first request's scrape runs under its deadline, the
// others wait for its answer up to their own deadline. So 500 Prometheus
// servers probing one HAProxy open one connection to its socket, not 500.
func (e *Exporter) probeShared(w http.ResponseWriter, r *http.Request, key string, build func() (*job, error)) {
	ctx, cancel := e.requestContext(r)
	defer cancel()
	var leader atomic.Bool // this request's context runs the scrape
	ch := e.flight.DoChan(key, func() (any, error) {
		leader.Store(true)
		if !e.acquireProbe() {
			return nil, errProbesBusy
		}
		defer e.releaseProbe()
		j, err := build()
		if err != nil {
			return nil, err
		}
		results := e.scrapeAll(ctx, []*job{j}, 1)
		var buf bytes.Buffer
		bw := bufio.NewWriterSize(&buf, 32<<10)
		if err := e.render(bw, results, false); err != nil {
			return nil, err
		}
		if err := bw.Flush(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	})
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-ctx.Done():
		if leader.Load() {
			// The scrape runs under this very context: it ends now, and
			// says why in its own answer and log line.
			res = <-ch
			break
		}
		// This request's deadline passed while it waited on another's scrape.
		res.Err = ctx.Err()
	}
	switch {
	case res.Err == errProbesBusy:
		e.probeThrottled.Inc()
		http.Error(w, "Too many /probe requests in flight; try again later", http.StatusServiceUnavailable)
		return
	case res.Err != nil:
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		_ = e.render(bw, []*result{{job: &job{upDesc: probeUpDesc, durDesc: probeDurDesc, upValues: []string{r.URL.Query().Get("module")}}, err: res.Err}}, false)
		_ = bw.Flush()
		res.Val = buf.Bytes()
		if _, ok := res.Err.(badTarget); ok {
			http.Error(w, res.Err.Error(), http.StatusBadRequest)
			return
		}
	}
	if err := writeBody(ctx, w, r, res.Val.([]byte)); err != nil {
		level.Debug(e.logger).Log("msg", "Writing response failed", "err", err)
	}
}

// badTarget is a collector that could not be built for the target (400);
// its text is the answer's.
type badTarget struct{ msg string }

func (b badTarget) Error() string { return b.msg }

type probesBusy struct{}

func (probesBusy) Error() string { return "too many probes in flight" }

var errProbesBusy error = probesBusy{}

// requestContext is the request's context bounded by Prometheus's scrape
// timeout header (minus the offset), with the answer's write bounded by
// the same deadline: a slow reader cannot stretch a scrape past it.
func (e *Exporter) requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	budget, err := e.scrapeTimeout(r)
	if err != nil {
		level.Warn(e.logger).Log("msg", "Ignoring scrape timeout header", "err", err)
	}
	if budget <= 0 {
		return context.WithCancel(r.Context())
	}
	return context.WithTimeout(r.Context(), budget)
}

// render writes gathered results as the text exposition (self metrics
// first when gatherSelf).
func (e *Exporter) render(bw *bufio.Writer, results []*result, gatherSelf bool) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(replay(results))
	gs := prometheus.Gatherers{reg}
	if gatherSelf {
		gs = prometheus.Gatherers{e.self, reg}
	}
	mfs, gerr := gs.Gather()
	if gerr != nil {
		level.Error(e.logger).Log("msg", "Inconsistent metrics while gathering", "err", gerr)
	}
	var streams []expo.Stream
	for _, res := range results {
		if res.stream != nil {
			streams = append(streams, res.stream)
		}
	}
	return writeFamilies(bw, mfs, streams)
}

// writeBody writes a rendered exposition, gzipped when the client accepts it.
func writeBody(ctx context.Context, w http.ResponseWriter, r *http.Request, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", string(contentType))
	var out io.Writer = w
	if expo.AcceptsGzip(r.Header) {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		gz, _ := expo.NewParallelGzip(w, gzip.BestSpeed, runtime.GOMAXPROCS(0), gzipChunk)
		defer gz.Close()
		out = gz
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = http.NewResponseController(w).SetWriteDeadline(dl.Add(time.Second))
	}
	_, err := out.Write(body)
	return err
}
