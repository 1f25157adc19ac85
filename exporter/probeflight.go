package exporter

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lbpilot/lbpilot/internal/expo"
)

// DefaultMaxProbes bounds the /probe requests scraping at once. One probe
// of a large HAProxy holds its whole stats answer and its rendering in
// memory (hundreds of MB at 10,000 servers); a few at once is what a
// Prometheus server sends, hundreds is an attack or a misconfiguration.
const DefaultMaxProbes = 8

// DefaultMaxProtocolProbes bounds the protocol probes (mqtt, rtmp, flv,
// hls, websocket) running at once. Each holds one connection and a few
// kilobytes for at most its deadline; a Prometheus server probing a few
// hundred streams or brokers spreads them over the scrape interval.
const DefaultMaxProtocolProbes = 128

// acquireProbe takes a slot of the pool, or reports that all are taken.
func acquireProbe(slots chan struct{}) bool {
	select {
	case slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// probeShared answers one /probe. Concurrent requests with the same query
// (module, target and every other parameter) share one scrape and one
// rendering, so 500 Prometheus servers probing one HAProxy open one
// connection to its socket, not 500. Each request answers by its own
// deadline.
func (e *Exporter) probeShared(w http.ResponseWriter, r *http.Request, key string, protocol bool, build func() (*job, error)) {
	slots := e.probeSlots
	if protocol {
		slots = e.protoSlots
	}
	ctx, cancel := e.requestContext(r)
	defer cancel()
	var res struct {
		Val any
		Err error
	}
	// The flight keeps its answer gzipped, compressed on the other cores
	// while it is rendered: requests asking for gzip (as Prometheus does)
	// share that body as it is, and the rare one that does not gets it
	// inflated on the way out. Holding the text instead would cost its
	// whole size (40 MB at 10,000 servers) per scrape in flight.
	res.Val, res.Err = e.joinFlight(ctx, key, func(sctx context.Context) (any, error) {
		if !acquireProbe(slots) {
			return nil, errProbesBusy
		}
		defer func() { <-slots }()
		j, err := build()
		if err != nil {
			return nil, err
		}
		results := e.scrapeAll(sctx, []*job{j}, 1)
		return e.renderGzipped(results)
	})
	switch {
	case res.Err == errProbesBusy:
		e.probeThrottled.Inc()
		http.Error(w, "Too many /probe requests in flight; try again later", http.StatusServiceUnavailable)
		return
	case res.Err != nil:
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		_ = e.render(bw, nil, []*result{{job: &job{upDesc: probeUpDesc, durDesc: probeDurDesc, upValues: []string{r.URL.Query().Get("module")}}, err: res.Err}}, false)
		_ = bw.Flush()
		if _, ok := res.Err.(badTarget); ok {
			http.Error(w, res.Err.Error(), http.StatusBadRequest)
			return
		}
		if err := writeBody(ctx, w, r, buf.Bytes()); err != nil {
			level.Debug(e.logger).Log("msg", "Writing response failed", "err", err)
		}
		return
	}
	if err := writeGzipped(ctx, w, r, res.Val.([]byte)); err != nil {
		level.Debug(e.logger).Log("msg", "Writing response failed", "err", err)
	}
}

// renderGzipped renders results into memory, gzipped (level 1, in
// parallel chunks). The answer is complete before any byte is sent, so a
// failed render is still a clean error response.
func (e *Exporter) renderGzipped(results []*result) ([]byte, error) {
	var buf bytes.Buffer
	// Streams compressed while scraped are most of the answer: size it
	// for them, rather than doubling through a 2 MB answer.
	n := 64 << 10
	for _, res := range results {
		if ss, ok := res.stream.(expo.SegmentStream); ok {
			for _, f := range ss.Families() {
				for _, seg := range ss.Segments(f.Name) {
					n += len(seg.Deflated)
				}
			}
		}
	}
	buf.Grow(n)
	z, _ := expo.NewParallelGzip(&buf, gzip.BestSpeed, runtime.GOMAXPROCS(0), gzipChunk)
	defer z.Close() // stops the compressors on a failed render
	bw := bufio.NewWriterSize(z, 32<<10)
	if err := e.render(bw, z, results, false); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if err := z.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeGzipped writes a body renderGzipped made: as it is when the client
// accepts gzip, else inflated while it is written.
func writeGzipped(ctx context.Context, w http.ResponseWriter, r *http.Request, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", string(contentType))
	h.Add("Vary", "Accept-Encoding")
	if dl, ok := ctx.Deadline(); ok {
		_ = http.NewResponseController(w).SetWriteDeadline(dl.Add(time.Second))
	}
	if expo.AcceptsGzip(r.Header) {
		h.Set("Content-Encoding", "gzip")
		_, err := w.Write(body)
		return err
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("reading the shared answer: %w", err)
	}
	_, err = io.Copy(w, zr)
	return err
}

// flight is one scrape shared by the requests waiting for it.
type flight struct {
	done    chan struct{}
	val     any
	err     error
	waiters int
	cancel  context.CancelFunc
}

// joinFlight runs fn for key, or waits for the run already under way. The
// run belongs to no single request: it stops at the first request's
// deadline, or as soon as every request waiting for it has gone (clients
// gone, or shutdown), never because one of several waiters left.
func (e *Exporter) joinFlight(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	e.flightMu.Lock()
	f := e.flights[key]
	leader := f == nil
	if leader {
		var sctx context.Context
		var cancel context.CancelFunc
		if dl, ok := ctx.Deadline(); ok {
			sctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), dl)
		} else {
			sctx, cancel = context.WithCancel(context.WithoutCancel(ctx))
		}
		f = &flight{done: make(chan struct{}), cancel: cancel}
		e.flights[key] = f
		go func() {
			val, err := fn(sctx)
			cancel()
			e.mem.scraped()
			e.flightMu.Lock()
			delete(e.flights, key)
			f.val, f.err = val, err
			e.flightMu.Unlock()
			close(f.done)
		}()
	}
	f.waiters++
	e.flightMu.Unlock()
	leave := func() {
		e.flightMu.Lock()
		if f.waiters--; f.waiters == 0 {
			f.cancel()
		}
		e.flightMu.Unlock()
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		if !leader || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			leave()
			return nil, ctx.Err()
		}
		// The run has this request's deadline: it ends now and says why
		// in its own answer and log line.
		<-f.done
	}
	leave()
	return f.val, f.err
}

// waiters is how many requests wait for the scrape of key (tests).
func (e *Exporter) waiters(key string) int {
	e.flightMu.Lock()
	defer e.flightMu.Unlock()
	if f := e.flights[key]; f != nil {
		return f.waiters
	}
	return 0
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
// first when gatherSelf), into gz when bw writes into it.
func (e *Exporter) render(bw *bufio.Writer, gz *expo.ParallelGzip, results []*result, gatherSelf bool) error {
	mfs, streams := e.gather(results, gatherSelf)
	return writeFamilies(bw, gz, mfs, streams)
}

// gather turns scrape results into the families to write (self metrics
// first when gatherSelf) and the streams that follow them.
func (e *Exporter) gather(results []*result, gatherSelf bool) ([]*dto.MetricFamily, []expo.Stream) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(replay(results))
	gs := prometheus.Gatherers{reg}
	if gatherSelf {
		gs = prometheus.Gatherers{e.self, reg}
	}
	mfs, gerr := gs.Gather()
	if gerr != nil {
		// Like promhttp.ContinueOnError: serve what is consistent, log the rest.
		level.Error(e.logger).Log("msg", "Inconsistent metrics while gathering", "err", gerr)
	}
	var streams []expo.Stream
	for _, res := range results {
		if res.stream != nil {
			streams = append(streams, res.stream)
		}
	}
	return mfs, streams
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
