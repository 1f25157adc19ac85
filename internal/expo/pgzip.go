package expo

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// ParallelGzip compresses into one standard gzip member, using several
// goroutines once the output is large: the input is cut into fixed-size
// chunks, each chunk is deflated independently and ends with a sync flush
// (a byte-aligned, non-final block), and the compressed chunks are written
// in order, so the concatenation is one valid deflate stream. A final
// empty block, the CRC-32 and the size close the member. Any gzip reader
// accepts it; the ratio loss from chunk-local dictionaries is well under
// 1% at 512 KiB.
//
// A response smaller than one chunk never starts a goroutine: it is
// compressed on Close by the caller. Parallelism exists for large
// expositions (37 MB for a 10,000-server HAProxy), where single-threaded
// compression would cost more than the scrape.
type ParallelGzip struct {
	w       io.Writer
	level   int
	workers int
	chunk   int
	cur     *pgzJob      // the chunk being filled
	started bool         // goroutines running (the first chunk filled up)
	pending chan *pgzJob // jobs in submission order, for the writer goroutine
	queue   chan *pgzJob
	done    chan error
	err     error
	crc     uint32
	size    uint32
	wg      sync.WaitGroup
	closed  bool
}

type pgzJob struct {
	in    []byte
	out   bytes.Buffer
	ready chan struct{}
}

// gzipHeader: magic, deflate, no flags, no mtime, no extra flags, unknown OS.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

// NewParallelGzip returns a writer compressing to w with the given flate
// level on up to workers goroutines, in chunks of chunk bytes.
func NewParallelGzip(w io.Writer, level, workers, chunk int) (*ParallelGzip, error) {
	if level < flate.HuffmanOnly || level > flate.BestCompression {
		return nil, flate.InternalError("invalid compression level")
	}
	return &ParallelGzip{w: w, level: level, workers: max(1, workers), chunk: chunk}, nil
}

// flateFree keeps deflate state (~400 KB each) between responses. A
// channel, not a sync.Pool: a busy exporter allocates enough to run the
// GC every few requests, which would empty a pool each time.
var flateFree sync.Map // level → chan *flate.Writer

func freeList(level int) chan *flate.Writer {
	if c, ok := flateFree.Load(level); ok {
		return c.(chan *flate.Writer)
	}
	c, _ := flateFree.LoadOrStore(level, make(chan *flate.Writer, 16))
	return c.(chan *flate.Writer)
}

func getFlate(w io.Writer, level int) *flate.Writer {
	select {
	case fw := <-freeList(level):
		fw.Reset(w)
		return fw
	default:
	}
	fw, _ := flate.NewWriter(w, level)
	return fw
}

func putFlate(fw *flate.Writer, level int) {
	select {
	case freeList(level) <- fw:
	default:
	}
}

// jobFree recycles chunk buffers (input and compressed output) between
// responses, for the same reason as flateFree.
var jobFree = make(chan *pgzJob, 32)

func (z *ParallelGzip) newJob(first int) *pgzJob {
	select {
	case j := <-jobFree:
		j.in = j.in[:0]
		j.out.Reset()
		return j
	default:
	}
	// Sized for what arrived; grows by append up to a chunk.
	return &pgzJob{in: make([]byte, 0, min(z.chunk, max(first, 32<<10)))}
}

func recycle(j *pgzJob) {
	if cap(j.in) > 4<<20 {
		return // keep the free list's memory bounded
	}
	select {
	case jobFree <- j:
	default:
	}
}

func (z *ParallelGzip) start() {
	z.started = true
	z.pending = make(chan *pgzJob, 2*z.workers)
	z.queue = make(chan *pgzJob, z.workers)
	z.done = make(chan error, 1)
	for i := 0; i < z.workers; i++ {
		z.wg.Add(1)
		go z.compressor()
	}
	go z.writer()
}

func (z *ParallelGzip) compressor() {
	defer z.wg.Done()
	var fw *flate.Writer
	for j := range z.queue {
		if fw == nil {
			fw = getFlate(&j.out, z.level)
		} else {
			fw.Reset(&j.out)
		}
		_, _ = fw.Write(j.in)
		_ = fw.Flush() // sync flush: byte-aligned, not final
		close(j.ready)
	}
	if fw != nil {
		putFlate(fw, z.level)
	}
}

func (z *ParallelGzip) writer() {
	_, err := z.w.Write(gzipHeader)
	for j := range z.pending {
		<-j.ready
		if err == nil {
			_, err = z.w.Write(j.out.Bytes())
		}
		recycle(j)
	}
	z.done <- err
}

// Write buffers p and, once a chunk is full, hands it to the compressors.
func (z *ParallelGzip) Write(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	n := len(p)
	for len(p) > 0 {
		if z.cur == nil {
			z.cur = z.newJob(len(p))
		}
		j := z.cur
		k := min(z.chunk-len(j.in), len(p))
		j.in = append(j.in, p[:k]...)
		p = p[k:]
		if len(j.in) == z.chunk {
			if !z.started {
				z.start()
			}
			z.submit()
		}
	}
	return n, nil
}

func (z *ParallelGzip) submit() {
	j := z.cur
	if j == nil || len(j.in) == 0 {
		return
	}
	z.cur = nil
	z.crc = crc32.Update(z.crc, crc32.IEEETable, j.in)
	z.size += uint32(len(j.in))
	j.ready = make(chan struct{})
	z.pending <- j // order for the writer
	z.queue <- j   // work for a compressor
}

// Close compresses what is buffered, writes the final block and trailer,
// and returns the first write error.
func (z *ParallelGzip) Close() error {
	if z.closed {
		return z.err
	}
	z.closed = true
	if !z.started {
		z.err = z.closeSmall()
		return z.err
	}
	z.submit()
	close(z.queue)
	close(z.pending)
	z.wg.Wait()
	err := <-z.done
	if err == nil {
		err = z.trailer(true)
	}
	z.err = err
	return err
}

// closeSmall compresses a response of less than one chunk in one go.
func (z *ParallelGzip) closeSmall() error {
	var in []byte
	if z.cur != nil {
		in = z.cur.in
		defer recycle(z.cur)
	}
	z.crc = crc32.Update(0, crc32.IEEETable, in)
	z.size = uint32(len(in))
	var buf bytes.Buffer
	buf.Grow(len(in)/4 + 64)
	buf.Write(gzipHeader)
	fw := getFlate(&buf, z.level)
	_, _ = fw.Write(in)
	err := fw.Close() // final block
	putFlate(fw, z.level)
	if err != nil {
		return err
	}
	if _, err := z.w.Write(buf.Bytes()); err != nil {
		return err
	}
	return z.trailer(false)
}

// trailer writes CRC-32 and ISIZE (little endian), preceded by a final
// empty stored block when the deflate stream is still open.
func (z *ParallelGzip) trailer(finalBlock bool) error {
	var tail [13]byte
	b := tail[:0]
	if finalBlock {
		b = append(b, 1, 0, 0, 0xff, 0xff)
	}
	b = binary.LittleEndian.AppendUint32(b, z.crc)
	b = binary.LittleEndian.AppendUint32(b, z.size)
	_, err := z.w.Write(b)
	return err
}
