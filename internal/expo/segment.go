package expo

import (
	"bytes"
	"hash/crc32"
	"sync"

	"github.com/klauspost/compress/flate"
)

// Segment is a piece of an exposition deflated on its own: raw deflate
// blocks ending with a sync flush (byte-aligned, not final), so segments
// written one after another form one deflate stream. The CRC-32 and size
// of its text let a gzip member be closed over segments that were
// compressed in any order (see crc32Combine).
type Segment struct {
	Deflated []byte
	CRC      uint32
	Size     int
	// shift is x^(8·Size) modulo the CRC polynomial (0: not worked out),
	// computed by the worker that compressed the segment, so that the
	// writer combining CRCs pays one multiplication per segment.
	shift uint32
}

// combineCRC returns the CRC-32 of text with CRC crc followed by seg's.
func (seg Segment) combineCRC(crc uint32) uint32 {
	if seg.shift == 0 {
		return crc32Combine(crc, seg.CRC, seg.Size)
	}
	return crcMul(seg.shift, crc) ^ seg.CRC
}

// finished returns a Pending whose segment is seg, already done: its
// channel is one closed once for all.
func finished(seg Segment, reused bool) *Pending {
	return &Pending{seg: seg, ready: closedReady, Reused: reused}
}

var closedReady = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Pending is a piece of text handed to a Deflater; Wait returns its
// segment once a worker has compressed it.
type Pending struct {
	text  []byte
	out   bytes.Buffer
	seg   Segment
	ready chan struct{}
	ours  bool // ParallelGzip's own chunk, released once written
	slot  *SegmentSlot
	sum   uint64     // of the text (cached segments)
	key   SegmentKey // of the input the text was made from (cached segments)
	// Reused reports that the segment came from a SegmentCache (valid
	// after Wait).
	Reused bool
	batch  []Segment // ParallelGzip.WriteSegments: written in its place, in order
}

// Wait blocks until the text is compressed and returns the segment. The
// segment's bytes belong to the Pending.
func (p *Pending) Wait() Segment {
	<-p.ready
	return p.seg
}

// Deflater compresses pieces of text into Segments on worker goroutines,
// so whoever produces the text (a renderer reading HAProxy's dump) does
// not wait for compression. Compression state (~400 KB per worker) comes
// from and goes back to a free list.
type Deflater struct {
	level int // a flate level, or lineLevel

	queue chan *Pending
	wg    sync.WaitGroup
	once  sync.Once
}

// NewDeflater starts workers goroutines compressing at the given flate
// level. Close stops them.
func NewDeflater(level, workers int) *Deflater {
	workers = max(1, workers)
	d := &Deflater{level: level, queue: make(chan *Pending, 4*workers)}
	for range workers {
		d.wg.Add(1)
		go d.work()
	}
	return d
}

// lineLevel marks a Deflater whose workers use a LineEncoder.
const lineLevel = -100

// NewLineDeflater is NewDeflater with the workers compressing by
// LineEncoder: for exposition text only (lines that repeat the line
// before them but for a few bytes), which it compresses faster and
// smaller than flate.BestSpeed; other text it compresses slowly.
func NewLineDeflater(workers int) *Deflater {
	return NewDeflater(lineLevel, workers)
}

// Deflate queues text for compression and takes ownership of it (the
// buffer is recycled once compressed: get texts from Buffer). It blocks
// while every worker is busy and the queue is full, which holds back a
// producer faster than compression instead of piling up text.
func (d *Deflater) Deflate(text []byte) *Pending { return d.deflate(text, false) }

// deflate queues text; a Pending that is ours (ParallelGzip's chunk,
// written at once and released) keeps its output buffer, any other gets
// its segment copied out at its exact size, as the caller may hold many.
func (d *Deflater) deflate(text []byte, ours bool) *Pending {
	p := d.take(text, ours)
	d.queue <- p
	return p
}

// take returns a Pending for text, recycled when possible.
func (d *Deflater) take(text []byte, ours bool) *Pending {
	var p *Pending
	select {
	case p = <-pendingFree:
		p.out.Reset()
	default:
		p = &Pending{}
	}
	p.text, p.ours, p.ready = text, ours, make(chan struct{})
	return p
}

// Release recycles a Pending whose segment is no longer needed (written
// out). Segments a caller keeps are simply not released.
func Release(p *Pending) {
	if p.out.Cap() > 1<<20 {
		return // keep the free list's memory bounded
	}
	p.seg, p.ours, p.slot, p.key, p.Reused, p.batch = Segment{}, false, nil, SegmentKey{}, false, nil
	select {
	case pendingFree <- p:
	default:
	}
}

// pendingFree recycles compressed-output buffers, as textFree does text.
var pendingFree = make(chan *Pending, 64)

// Buffer returns an empty text buffer of capacity at least n, recycled
// when possible.
func (d *Deflater) Buffer(n int) []byte { return getText(n) }

// Recycle gives back a text buffer from Buffer that was not handed to
// Deflate.
func (d *Deflater) Recycle(b []byte) { putText(b) }

// Close waits for the queued texts to be compressed and stops the
// workers. Deflate must not be called after Close.
func (d *Deflater) Close() {
	d.once.Do(func() { close(d.queue) })
	d.wg.Wait()
}

func (d *Deflater) work() {
	defer d.wg.Done()
	var fw *flate.Writer
	var le *LineEncoder
	var scratch bytes.Buffer // output of the segments copied out
	for p := range d.queue {
		if p.slot != nil && p.reuse() {
			putText(p.text)
			p.text = nil
			close(p.ready)
			continue
		}
		out := &p.out
		if !p.ours {
			scratch.Reset()
			out = &scratch
		}
		if d.level == lineLevel {
			if le == nil {
				le = lineEncoders.Get().(*LineEncoder)
			}
			le.buf = le.Encode(le.buf[:0], p.text)
			out.Write(le.buf)
		} else {
			if fw == nil {
				fw = getFlate(out, d.level)
			} else {
				fw.Reset(out)
			}
			_, _ = fw.Write(p.text) // bytes.Buffer never fails
			_ = fw.Flush()          // sync flush: byte-aligned, not final
		}
		p.seg = Segment{Deflated: out.Bytes(), CRC: crc32.ChecksumIEEE(p.text), Size: len(p.text), shift: crcShiftBytes(len(p.text))}
		if !p.ours {
			p.seg.Deflated = bytes.Clone(out.Bytes())
		}
		if p.slot != nil {
			p.store()
		}
		putText(p.text)
		p.text = nil
		close(p.ready)
	}
	if fw != nil {
		putFlate(fw, d.level)
	}
	if le != nil {
		lineEncoders.Put(le)
	}
}

// lineEncoders keeps LineEncoders (~20 KB of tables each, and their
// token buffers) between scrapes.
var lineEncoders = sync.Pool{New: func() any { return new(LineEncoder) }}

// textFree keeps text buffers between responses, by capacity (a channel
// per size, for the reason given at flateFree).
var textFree sync.Map // cap → chan []byte

// textClass rounds a capacity to the power of two at or above it (at
// least 32 KiB), so buffers of one class are interchangeable.
func textClass(n int) int {
	c := 32 << 10
	for c < n {
		c <<= 1
	}
	return c
}

func textList(class int) chan []byte {
	if c, ok := textFree.Load(class); ok {
		return c.(chan []byte)
	}
	c, _ := textFree.LoadOrStore(class, make(chan []byte, 128))
	return c.(chan []byte)
}

func getText(n int) []byte {
	class := textClass(n)
	if class > 4<<20 {
		return make([]byte, 0, n)
	}
	select {
	case b := <-textList(class):
		return b[:0]
	default:
	}
	return make([]byte, 0, class)
}

func putText(b []byte) {
	c := cap(b)
	if c < 32<<10 || c > 4<<20 || c != textClass(c) {
		return // not one of ours, or too large to keep
	}
	select {
	case textList(c) <- b:
	default:
	}
}

// crcPoly is CRC-32/IEEE's polynomial, bit-reversed as hash/crc32 uses it.
const crcPoly = 0xedb88320

// crcMul multiplies two polynomials modulo crcPoly, in the reflected bit
// order of the CRC (bit 31 is x^0).
func crcMul(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ crcPoly
		} else {
			b >>= 1
		}
	}
	return p
}

// crcShift[k] is x^(2^k · 8) mod crcPoly: appending 2^k zero bytes.
var crcShift = func() (t [64]uint32) {
	p := uint32(1) << 23 // x^8: one byte
	for k := range t {
		t[k] = p
		p = crcMul(p, p)
	}
	return t
}()

// crc32Combine returns the CRC-32 of A followed by B from crcA, crcB and
// len(B): the CRC is linear, so crc(A‖B) is crc(A) shifted past len(B)
// zero bytes (multiplied by x^(8·len(B))), xor crc(B). The pre- and
// post-conditioning of the CRC cancel out in that form.
func crc32Combine(crcA, crcB uint32, lenB int) uint32 {
	return crcMul(crcShiftBytes(lenB), crcA) ^ crcB
}

// crcShiftBytes returns x^(8·n) modulo the CRC polynomial: appending n
// zero bytes.
func crcShiftBytes(n int) uint32 {
	p := uint32(1) << 31 // x^0
	for k := 0; n > 0; k, n = k+1, n>>1 {
		if n&1 != 0 {
			p = crcMul(crcShift[k], p)
		}
	}
	return p
}
