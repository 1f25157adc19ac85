//go:build unix

package exporter

import (
	"bytes"
	stdflate "compress/flate"
	stdgzip "compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"
	kpflate "github.com/klauspost/compress/flate"
	kpgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"

	"github.com/lbpilot/lbpilot/internal/expo"
)

// probeBody10k is the uncompressed body of one /probe of a 10,000-server
// HAProxy (big10k), the response the gzip benchmarks compress.
func probeBody10k(b *testing.B) []byte {
	b.Helper()
	e, err := New(Options{Logger: log.NewNopLogger()})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/probe?module=haproxy&target="+big10k(b), nil)
	req.Header.Set("Accept-Encoding", "identity")
	rec := httptest.NewRecorder()
	e.ProbeHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != "" || rec.Body.Len() < 10<<20 {
		b.Fatalf("probe: code %d, encoding %q, %d bytes", rec.Code, rec.Header().Get("Content-Encoding"), rec.Body.Len())
	}
	return rec.Body.Bytes()
}

// gzipImpls are the gzip writers compared, each set up the way a response
// would use it: level 1 (BestSpeed), every core.
var gzipImpls = []struct {
	name string
	open func(w io.Writer) io.WriteCloser
}{
	// Our chunked parallel writer, as writeExposition uses it.
	{"ours", func(w io.Writer) io.WriteCloser {
		z, _ := expo.NewParallelGzip(w, stdgzip.BestSpeed, runtime.GOMAXPROCS(0), gzipChunk)
		return z
	}},
	// github.com/klauspost/pgzip with its defaults (1 MiB blocks, as many
	// in flight as GOMAXPROCS), a new writer per response.
	{"pgzip", func(w io.Writer) io.WriteCloser {
		z, _ := pgzip.NewWriterLevel(w, pgzip.BestSpeed)
		return z
	}},
	// pgzip writers kept between responses (Reset), so its block buffers
	// and deflate state are reused as ours are: the library at its best.
	{"pgzip_reused", func(w io.Writer) io.WriteCloser {
		var z *pgzip.Writer
		select {
		case z = <-pgzipFree:
			z.Reset(w)
		default:
			z, _ = pgzip.NewWriterLevel(w, pgzip.BestSpeed)
		}
		return &freeOnClose{z}
	}},
	// klauspost/compress's gzip, one goroutine.
	{"compress_gzip", func(w io.Writer) io.WriteCloser {
		z, _ := kpgzip.NewWriterLevel(w, kpgzip.BestSpeed)
		return z
	}},
	// The standard library, one goroutine: the baseline all improve on.
	{"stdlib", func(w io.Writer) io.WriteCloser {
		z, _ := stdgzip.NewWriterLevel(w, stdgzip.BestSpeed)
		return z
	}},
}

var pgzipFree = make(chan *pgzip.Writer, 4)

type freeOnClose struct{ *pgzip.Writer }

func (f *freeOnClose) Close() error {
	err := f.Writer.Close()
	select {
	case pgzipFree <- f.Writer:
	default:
	}
	return err
}

// BenchmarkGzip10kServers compresses the /probe body of a 10,000-server
// HAProxy with each writer, written in the 32 KiB pieces writeExposition's
// bufio.Writer hands on. Besides time and allocations it reports the
// compressed size (gz-bytes) and the CPU time of the whole process per
// response (cpu-ms/op: the compressors' goroutines included, so a writer
// that is faster only by burning more cores shows it).
//
// Compare with benchstat's -col /impl (make bench does).
func BenchmarkGzip10kServers(b *testing.B) {
	body := probeBody10k(b)
	for _, impl := range gzipImpls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			benchGzip(b, body, impl.open)
		})
	}
}

// BenchmarkGzipSmallBody is the same comparison for a body of a few
// kilobytes, a /probe of one WCS, SRS or EMQX node.
func BenchmarkGzipSmallBody(b *testing.B) {
	body := probeBody10k(b)[:6<<10]
	for _, impl := range gzipImpls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			benchGzip(b, body, impl.open)
		})
	}
}

func benchGzip(b *testing.B, body []byte, open func(io.Writer) io.WriteCloser) {
	var out countWriter
	// The output must decode to the body, or the numbers mean nothing.
	var check bytes.Buffer
	z := open(&check)
	writePieces(b, z, body)
	zr, err := stdgzip.NewReader(&check)
	if err != nil {
		b.Fatal(err)
	}
	if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, body) {
		b.Fatalf("round trip: %v, %d bytes, want %d", err, len(got), len(body))
	}

	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		out.n = 0
		writePieces(b, open(&out), body)
	}
	b.ReportMetric(float64(out.n), "gz-bytes")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

func writePieces(b *testing.B, z io.WriteCloser, body []byte) {
	for p := body; len(p) > 0; {
		k := min(len(p), 32<<10)
		if _, err := z.Write(p[:k]); err != nil {
			b.Fatal(err)
		}
		p = p[k:]
	}
	if err := z.Close(); err != nil {
		b.Fatal(err)
	}
}

type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += len(p)
	return len(p), nil
}

// cpuTime is the user plus system time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// segmentImpls are the deflate encoders compared on the server families'
// text, each making sync-flushed segments as a Deflater worker does:
// lbpilot's encoder for exposition text, and general-purpose deflate at
// level 1 from klauspost/compress (what the other responses use) and the
// standard library.
var segmentImpls = []struct {
	name string
	new  func() func(dst, text []byte) []byte
}{
	{"lines", func() func(dst, text []byte) []byte {
		var e expo.LineEncoder
		return e.Encode
	}},
	{"flate_bestspeed", func() func(dst, text []byte) []byte {
		fw, _ := kpflate.NewWriter(nil, kpflate.BestSpeed)
		return flushedSegments(fw)
	}},
	{"stdlib_bestspeed", func() func(dst, text []byte) []byte {
		fw, _ := stdflate.NewWriter(nil, stdflate.BestSpeed)
		return flushedSegments(fw)
	}},
}

// flushedSegments makes segments with a flate writer: reset, write, sync
// flush, as a Deflater worker does.
func flushedSegments(fw interface {
	io.Writer
	Reset(io.Writer)
	Flush() error
}) func(dst, text []byte) []byte {
	var buf bytes.Buffer
	return func(dst, text []byte) []byte {
		buf.Reset()
		fw.Reset(&buf)
		_, _ = fw.Write(text)
		_ = fw.Flush()
		return append(dst, buf.Bytes()...)
	}
}

// BenchmarkDeflateSegments10kServers compresses the /probe body of a
// 10,000-server HAProxy in the pieces a scrape's server families are cut
// into (about 48 KiB, at line ends), each on its own, on one goroutine.
// Every encoder's segments must inflate to the body first.
func BenchmarkDeflateSegments10kServers(b *testing.B) {
	body := probeBody10k(b)
	var pieces [][]byte
	for p := body; len(p) > 0; {
		n := min(len(p), 48<<10)
		if k := bytes.LastIndexByte(p[:n], '\n'); k >= 0 && n < len(p) {
			n = k + 1
		}
		pieces, p = append(pieces, p[:n]), p[n:]
	}
	for _, impl := range segmentImpls {
		b.Run("impl="+impl.name, func(b *testing.B) {
			enc := impl.new()
			var stream []byte
			for _, p := range pieces {
				stream = enc(stream, p)
			}
			fr := stdflate.NewReader(io.MultiReader(bytes.NewReader(stream), bytes.NewReader([]byte{1, 0, 0, 0xff, 0xff})))
			if got, err := io.ReadAll(fr); err != nil || !bytes.Equal(got, body) {
				b.Fatalf("round trip: %v, %d bytes, want %d", err, len(got), len(body))
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			cpu0 := cpuTime()
			var out []byte
			n := 0
			for b.Loop() {
				n = 0
				for _, p := range pieces {
					out = enc(out[:0], p)
					n += len(out)
				}
			}
			b.ReportMetric(float64(n), "gz-bytes")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
	}
}
