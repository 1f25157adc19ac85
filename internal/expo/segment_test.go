package expo

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCRC32Combine(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range [][2]int{{0, 0}, {0, 5}, {5, 0}, {1, 1}, {100, 3}, {3, 100000}, {70000, 65536}, {1 << 20, 12345}} {
		a, b := make([]byte, n[0]), make([]byte, n[1])
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		want := crc32.ChecksumIEEE(append(append([]byte(nil), a...), b...))
		if got := crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), len(b)); got != want {
			t.Errorf("lengths %v: combined %08x, want %08x", n, got, want)
		}
		// A segment carrying its shift (as the compressors make them)
		// and one without it combine alike.
		seg := Segment{CRC: crc32.ChecksumIEEE(b), Size: len(b)}
		withShift := seg
		withShift.shift = crcShiftBytes(len(b))
		if got, got2 := seg.combineCRC(crc32.ChecksumIEEE(a)), withShift.combineCRC(crc32.ChecksumIEEE(a)); got != want || got2 != want {
			t.Errorf("lengths %v: segment combined %08x (shift computed) and %08x (carried), want %08x", n, got, got2, want)
		}
	}
}

// TestSegmentsIntoOneGzipMember compresses pieces on a Deflater in one
// order and writes them, between plain text, in another: the response is
// one gzip member holding the text in the written order.
func TestSegmentsIntoOneGzipMember(t *testing.T) {
	var pieces [][]byte
	for p := 0; p < 6; p++ {
		var b bytes.Buffer
		for i := 0; b.Len() < 50000*(p+1); i++ {
			fmt.Fprintf(&b, "fam%d{server=\"s%d\"} %d\n", p, i, i*p)
		}
		pieces = append(pieces, b.Bytes())
	}
	for _, c := range []struct {
		name    string
		workers int
		lines   bool
	}{{"flate, 1 worker", 1, false}, {"flate, 3 workers", 3, false}, {"line encoder, 1 worker", 1, true}, {"line encoder, 3 workers", 3, true}} {
		workers := c.workers
		t.Run(c.name, func(t *testing.T) {
			d := NewDeflater(1, workers)
			if c.lines {
				d = NewLineDeflater(workers)
			}
			var pend []*Pending
			for i := len(pieces) - 1; i >= 0; i-- { // compressed last first
				text := d.Buffer(len(pieces[i]))
				pend = append([]*Pending{d.Deflate(append(text, pieces[i]...))}, pend...)
			}
			d.Close()
			var out, want bytes.Buffer
			z, err := NewParallelGzip(&out, 1, workers, 64<<10)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range pend {
				head := fmt.Sprintf("# family %d\n", i)
				want.WriteString(head)
				want.Write(pieces[i])
				if _, err := z.Write([]byte(head)); err != nil {
					t.Fatal(err)
				}
				if err := z.WriteSegment(p.Wait()); err != nil {
					t.Fatal(err)
				}
			}
			tail := strings.Repeat("tail line\n", 20000) // more than a chunk after the segments
			want.WriteString(tail)
			_, _ = z.Write([]byte(tail))
			if err := z.Close(); err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(&out)
			if err != nil {
				t.Fatal(err)
			}
			zr.Multistream(false)
			got, err := io.ReadAll(zr) // checks the CRC-32 and size too
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("got %d bytes, want %d", len(got), want.Len())
			}

			var text bytes.Buffer
			bw := bufio.NewWriter(&text)
			var segs []Segment
			for _, p := range pend[2:4] {
				segs = append(segs, p.Wait())
			}
			if err := InflateSegments(bw, segs); err != nil {
				t.Fatal(err)
			}
			_ = bw.Flush()
			if want := append(append([]byte(nil), pieces[2]...), pieces[3]...); !bytes.Equal(text.Bytes(), want) {
				t.Fatalf("inflated %d bytes, want %d", text.Len(), len(want))
			}
		})
	}
}

func TestInflateSegmentsErrors(t *testing.T) {
	d := NewDeflater(1, 1)
	seg := d.Deflate(append(d.Buffer(10), "abc abc abc\n"...)).Wait()
	d.Close()
	bad := seg
	bad.Size++
	broken := Segment{Deflated: []byte{0xff, 0xff, 0xff}, Size: 3}
	for name, segs := range map[string][]Segment{"size mismatch": {bad}, "not deflate": {broken}} {
		t.Run(name, func(t *testing.T) {
			if err := InflateSegments(bufio.NewWriter(io.Discard), segs); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestWriteSegmentAfterFailedWrite(t *testing.T) {
	z, _ := NewParallelGzip(&failWriter{after: 0}, 1, 2, 1024)
	d := NewDeflater(1, 1)
	seg := d.Deflate(append(d.Buffer(10), "x\n"...)).Wait()
	d.Close()
	_, _ = z.Write(bytes.Repeat([]byte("y"), 4096))
	if err := z.WriteSegment(seg); err != nil {
		t.Fatalf("the error shows at Close, got it early: %v", err)
	}
	if err := z.Close(); err == nil {
		t.Fatal("Close did not report the failed write")
	}
	if err := z.WriteSegment(seg); err == nil {
		t.Fatal("WriteSegment after a failed Close succeeded")
	}
}

// Segments handed over together (a family's) land in order, between the
// text written around them, in one gzip member with the right CRC.
func TestWriteSegmentsTogether(t *testing.T) {
	d := NewLineDeflater(2)
	var pend []*Pending
	var texts []string
	for i := range 5 {
		var b bytes.Buffer
		for k := 0; b.Len() < 30000; k++ {
			fmt.Fprintf(&b, "m{i=\"%d\",k=\"%d\"} %d\n", i, k, k*i)
		}
		texts = append(texts, b.String())
		pend = append(pend, d.Deflate(append(d.Buffer(b.Len()), b.Bytes()...)))
	}
	d.Close()
	segs := make([]Segment, len(pend))
	for i, p := range pend {
		segs[i] = p.Wait()
	}
	var out bytes.Buffer
	z, err := NewParallelGzip(&out, 1, 2, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = z.Write([]byte("# head\n"))
	if err := z.WriteSegments(segs[:3]...); err != nil {
		t.Fatal(err)
	}
	if err := z.WriteSegments(); err != nil { // nothing: a family with no segment
		t.Fatal(err)
	}
	_, _ = z.Write([]byte("# middle\n"))
	if err := z.WriteSegments(segs[3:]...); err != nil {
		t.Fatal(err)
	}
	_, _ = z.Write([]byte("# tail\n"))
	got := closeAndGunzip(t, z, &out)
	want := "# head\n" + strings.Join(texts[:3], "") + "# middle\n" + strings.Join(texts[3:], "") + "# tail\n"
	if string(got) != want {
		t.Fatalf("%d bytes back, want %d", len(got), len(want))
	}
}

// segStream is a SegmentStream of fixed families.
type segStream struct {
	fams []Family
	segs map[string][]Segment
}

func (s *segStream) Families() []Family { return s.fams }

func (s *segStream) Segments(name string) []Segment { return s.segs[name] }

func (s *segStream) WriteSamples(w *bufio.Writer, name string) error {
	return InflateSegments(w, s.segs[name])
}

// textStream is a Stream that has no segments.
type textStream map[string]string

func (s textStream) Families() []Family {
	var out []Family
	for n := range s {
		out = append(out, Family{Name: n, Help: "text " + n})
	}
	return out
}

func (s textStream) WriteSamples(w *bufio.Writer, name string) error {
	_, err := w.WriteString(s[name])
	return err
}

// WriteStreamsGzip says, gzipped, exactly what WriteStreams says: the
// families' HELP and TYPE lines (compressed once and kept) and samples in
// name order, text written before them, skipped families left out; the
// same with a stream that has no segments among them.
func TestWriteStreamsGzipEqualsText(t *testing.T) {
	d := NewLineDeflater(2)
	seg := func(lines ...string) []Segment {
		var out []Segment
		for _, l := range lines {
			out = append(out, d.Deflate(append(d.Buffer(len(l)), l...)).Wait())
		}
		return out
	}
	a := &segStream{
		fams: []Family{{Name: "b_total", Help: `help with \ and` + "\nnewline"}, {Name: "a", Help: "gauge a"}, {Name: "skipped", Help: "x"}},
		segs: map[string][]Segment{"a": seg("a{s=\"1\"} 1\n", "a{s=\"2\"} 2\n"), "b_total": seg("b_total{s=\"1\"} 5\n"), "skipped": seg("skipped 1\n")},
	}
	b := &segStream{
		fams: []Family{{Name: "a", Help: "gauge a"}, {Name: "c", Help: "c"}},
		segs: map[string][]Segment{"a": seg("a{s=\"3\"} 3\n"), "c": {}}, // c: no sample at all
	}
	d.Close()
	skip := map[string]bool{"skipped": true}
	for name, streams := range map[string][]Stream{
		"segments":                    {a, b},
		"one stream without segments": {a, textStream{"a": "a{s=\"9\"} 9\n", "d": "d 1\n"}},
	} {
		t.Run(name, func(t *testing.T) {
			var want bytes.Buffer
			tw := bufio.NewWriter(&want)
			tw.WriteString("# before\n")
			if err := WriteStreams(tw, streams, skip); err != nil {
				t.Fatal(err)
			}
			_ = tw.Flush()
			for round := range 2 { // the second finds the headers kept
				var out bytes.Buffer
				z, _ := NewParallelGzip(&out, 1, 2, 64<<10)
				w := bufio.NewWriter(z)
				w.WriteString("# before\n")
				if err := WriteStreamsGzip(w, z, streams, skip); err != nil {
					t.Fatal(err)
				}
				_ = w.Flush()
				got := closeAndGunzip(t, z, &out)
				if string(got) != want.String() {
					t.Fatalf("round %d: gzipped says\n%s\nthe text path\n%s", round, got, want.String())
				}
			}
		})
	}
}

// Before any chunk fills up, segments are written on the caller's
// goroutine: a failed write shows at once, and at Close.
func TestWriteSegmentsNowFails(t *testing.T) {
	d := NewDeflater(1, 1)
	seg := d.Deflate(append(d.Buffer(10), "x\n"...)).Wait()
	d.Close()
	z, _ := NewParallelGzip(&failWriter{after: 12}, 1, 2, 64<<10) // the header, then nothing
	_, _ = z.Write([]byte("# head\n"))
	if err := z.WriteSegments(seg); err == nil || !strings.Contains(err.Error(), "peer went away") {
		t.Fatalf("WriteSegments = %v", err)
	}
	if _, err := z.Write([]byte("more\n")); err == nil {
		t.Error("Write after the failed write succeeded")
	}
	if err := z.Close(); err == nil || !strings.Contains(err.Error(), "peer went away") {
		t.Fatalf("Close = %v", err)
	}
}

// closeAndGunzip closes z, which wrote out, and returns the text of the
// gzip member (its CRC and size checked by the reader).
func closeAndGunzip(t *testing.T, z *ParallelGzip, out *bytes.Buffer) []byte {
	t.Helper()
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
