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
	cur     []byte    // the chunk being filled
	d       *Deflater // running once the first chunk filled up
	pending chan *Pending
	done    chan error
	err     error
	crc     uint32 // of what the writer goroutine wrote (read after done)
	size    uint32
	closed  bool
	// header: the gzip header is written. Before any chunk has filled up
	// (z.d nil), segments and the text before them are written on the
	// caller's goroutine (see WriteSegments); the writer goroutine, once
	// started, carries on from there.
	header bool
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

func (z *ParallelGzip) start() {
	z.d = NewDeflater(z.level, z.workers)
	z.pending = make(chan *Pending, 2*z.workers)
	z.done = make(chan error, 1)
	go z.writer()
}

// writer writes the segments in order and keeps the member's CRC-32 and
// size: each segment brings its own, computed by the worker that
// compressed it.
func (z *ParallelGzip) writer() {
	var err error
	if !z.header {
		_, err = z.w.Write(gzipHeader)
	}
	var one [1]Segment
	for p := range z.pending {
		segs := p.batch
		if segs == nil {
			one[0] = p.Wait()
			segs = one[:]
		}
		for _, seg := range segs {
			if err == nil {
				_, err = z.w.Write(seg.Deflated)
			}
			z.crc = seg.combineCRC(z.crc)
			z.size += uint32(seg.Size)
		}
		if p.ours {
			Release(p) // compressed here, not a caller's segment
		}
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
			z.cur = getText(min(z.chunk, max(len(p), 32<<10)))
		}
		k := min(z.chunk-len(z.cur), len(p))
		if len(z.cur)+k > cap(z.cur) {
			z.grow(len(z.cur) + k)
		}
		z.cur = append(z.cur, p[:k]...)
		p = p[k:]
		if len(z.cur) == z.chunk {
			z.submit()
		}
	}
	return n, nil
}

// grow moves the chunk being filled into a free-list buffer of at least n
// bytes. Growing by append would leave buffers of no size class, which
// the free lists refuse: every chunk of a large response was allocated
// anew (about 250 MB per 40 MB response).
func (z *ParallelGzip) grow(n int) {
	bigger := getText(min(z.chunk, max(n, 2*cap(z.cur))))
	bigger = append(bigger, z.cur...)
	putText(z.cur)
	z.cur = bigger
}

// WriteSegment writes a segment compressed elsewhere (by a Deflater at
// any level) after what was written so far.
func (z *ParallelGzip) WriteSegment(seg Segment) error { return z.WriteSegments(seg) }

// WriteSegments writes segments compressed elsewhere, in order, after what
// was written so far. Before any chunk has filled up they are written at
// once, on the caller's goroutine; after, they go to the writer goroutine
// as one piece (a family's hundreds of segments would otherwise cost a
// channel hand-off each), which holds segs until written: the caller must
// not change it.
func (z *ParallelGzip) WriteSegments(segs ...Segment) error {
	if z.err != nil {
		return z.err
	}
	if len(segs) == 0 {
		return nil
	}
	if z.d == nil {
		// Nothing is being compressed elsewhere: write here. A /probe
		// answer is nearly all segments, with little text between them;
		// handing each family to a writer goroutine cost more than the
		// copying, after HAProxy's last byte.
		z.err = z.writeNow(segs)
		return z.err
	}
	z.submit()
	p := finished(Segment{}, false)
	p.batch = segs
	z.pending <- p
	return nil
}

// writeNow writes the header (once), the text buffered so far
// (compressed here) and segs to z.w, on the caller's goroutine.
func (z *ParallelGzip) writeNow(segs []Segment) error {
	if !z.header {
		z.header = true
		if _, err := z.w.Write(gzipHeader); err != nil {
			return err
		}
	}
	if len(z.cur) > 0 {
		text := deflateNow(z.cur, z.level)
		putText(z.cur)
		z.cur = nil
		if err := z.writeSegment(text); err != nil {
			return err
		}
	}
	for _, seg := range segs {
		if err := z.writeSegment(seg); err != nil {
			return err
		}
	}
	return nil
}

func (z *ParallelGzip) writeSegment(seg Segment) error {
	z.crc = seg.combineCRC(z.crc)
	z.size += uint32(seg.Size)
	_, err := z.w.Write(seg.Deflated)
	return err
}

func (z *ParallelGzip) submit() {
	if len(z.cur) == 0 {
		return
	}
	if z.d == nil {
		z.start()
	}
	z.pending <- z.d.deflate(z.cur, true) // work for a compressor, order for the writer
	z.cur = nil
}

// Close compresses what is buffered, writes the final block and trailer,
// and returns the first write error.
func (z *ParallelGzip) Close() error {
	if z.closed {
		return z.err
	}
	z.closed = true
	if z.d == nil && z.header {
		// Written here so far: the rest too.
		if z.err != nil {
			putText(z.cur)
			z.cur = nil
			return z.err
		}
		if z.err = z.writeNow(nil); z.err == nil {
			z.err = z.trailer(true)
		}
		return z.err
	}
	if z.d == nil {
		z.err = z.closeSmall()
		return z.err
	}
	z.submit()
	close(z.pending)
	err := <-z.done
	z.d.Close()
	if err == nil {
		err = z.trailer(true)
	}
	z.err = err
	return err
}

// closeSmall compresses a response of less than one chunk in one go.
func (z *ParallelGzip) closeSmall() error {
	in := z.cur
	defer putText(in)
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
func (z *ParallelGzip) trailer(final bool) error {
	var tail [13]byte
	b := tail[:0]
	if final {
		b = append(b, finalBlock...)
	}
	b = binary.LittleEndian.AppendUint32(b, z.crc)
	b = binary.LittleEndian.AppendUint32(b, z.size)
	_, err := z.w.Write(b)
	return err
}
