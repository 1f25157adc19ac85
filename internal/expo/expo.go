// Package expo writes the Prometheus text exposition format (version 0.0.4)
// directly, for the few collectors whose output is too large to build as
// const metrics, and merges those streamed families into a response.
package expo

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/klauspost/compress/flate"
)

// Family describes one streamed metric family.
type Family struct {
	Name string
	Help string
	Type dto.MetricType // COUNTER, GAUGE or UNTYPED
}

// Stream is a scraped snapshot that can write the samples of its families.
// The exporter writes each family's HELP and TYPE lines once and then asks
// every stream holding that family for its sample lines, so several targets
// of the same kind share one family block.
type Stream interface {
	Families() []Family
	// WriteSamples writes the sample lines (no HELP/TYPE) of family name.
	WriteSamples(w *bufio.Writer, name string) error
}

// WriteHeader writes the HELP and TYPE lines of a family.
func WriteHeader(w *bufio.Writer, f Family) {
	w.WriteString("# HELP ")
	w.WriteString(f.Name)
	w.WriteByte(' ')
	w.WriteString(escapeHelp(f.Help))
	w.WriteString("\n# TYPE ")
	w.WriteString(f.Name)
	w.WriteByte(' ')
	w.WriteString(typeName(f.Type))
	w.WriteByte('\n')
}

// headerSegment returns a family's HELP and TYPE lines as a segment,
// compressed once per process and kept (a bounded number of them: the
// families of the collectors, a few hundred).
func headerSegment(f Family) Segment {
	var b bytes.Buffer
	bw := bufio.NewWriterSize(&b, 256)
	WriteHeader(bw, f)
	_ = bw.Flush() // bytes.Buffer never fails
	key := b.String()
	if seg, ok := headers.Load(key); ok {
		return seg.(Segment)
	}
	seg := deflateNow(b.Bytes(), flate.BestSpeed)
	if headerCount.Add(1) <= maxHeaders {
		headers.Store(key, seg)
	}
	return seg
}

var (
	headers     sync.Map // header text → Segment
	headerCount atomic.Int64
)

const maxHeaders = 4096

// deflateNow compresses text into a segment on the calling goroutine.
func deflateNow(text []byte, level int) Segment {
	var out bytes.Buffer
	fw := getFlate(&out, level)
	_, _ = fw.Write(text) // bytes.Buffer never fails
	_ = fw.Flush()        // sync flush: byte-aligned, not final
	putFlate(fw, level)
	return Segment{Deflated: out.Bytes(), CRC: crc32.ChecksumIEEE(text), Size: len(text), shift: crcShiftBytes(len(text))}
}

func typeName(t dto.MetricType) string {
	switch t {
	case dto.MetricType_COUNTER:
		return "counter"
	case dto.MetricType_GAUGE:
		return "gauge"
	}
	return "untyped"
}

var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

func escapeHelp(s string) string { return helpEscaper.Replace(s) }

// AppendLabelValue appends a label value escaped for the text format.
func AppendLabelValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

// AppendLabels appends `name="value",…` for the given pairs (no braces).
func AppendLabels(b []byte, names, values []string) []byte {
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, n...)
		b = append(b, '=', '"')
		b = AppendLabelValue(b, values[i])
		b = append(b, '"')
	}
	return b
}

// SortedLabels returns const labels as parallel name/value slices sorted by
// name, the order client_golang prints them in.
func SortedLabels(l prometheus.Labels) (names, values []string) {
	for n := range l {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		values = append(values, l[n])
	}
	return names, values
}

// AppendFloat appends a sample value the way the text format spells it.
func AppendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// WriteStreams writes every streamed family once: its HELP/TYPE header,
// then the samples of each stream that has it, families sorted by name. A
// family named in skip (already written from a registry) is left out: the
// text format forbids a family twice.
func WriteStreams(w *bufio.Writer, streams []Stream, skip map[string]bool) error {
	return WriteStreamsGzip(w, nil, streams, skip)
}

// SegmentStream is a Stream that compressed its samples while it was
// scraped: Segments returns a family's samples as deflated segments, in
// order. Its WriteSamples inflates them (InflateSegments).
type SegmentStream interface {
	Stream
	Segments(name string) []Segment
}

// WriteStreamsGzip is WriteStreams for a w that writes into z: the
// samples of a SegmentStream go into z as they are, never inflated. With
// z nil it is WriteStreams.
func WriteStreamsGzip(w *bufio.Writer, z *ParallelGzip, streams []Stream, skip map[string]bool) error {
	if len(streams) == 0 {
		return nil
	}
	fams := map[string]Family{}
	for _, s := range streams {
		for _, f := range s.Families() {
			if _, ok := fams[f.Name]; !ok {
				fams[f.Name] = f
			}
		}
	}
	names := make([]string, 0, len(fams))
	for n := range fams {
		if !skip[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	allSegments := z != nil
	for _, s := range streams {
		if _, ok := s.(SegmentStream); !ok {
			allSegments = false
		}
	}
	if allSegments {
		// A family's HELP and TYPE lines go in compressed ahead of its
		// segments, and the whole family to the writer as one piece:
		// written as text, each header was a compression job of its own
		// between two batches of segments (a hand-off to a compressor and
		// back per family, after HAProxy's last byte).
		if err := w.Flush(); err != nil {
			return err
		}
		for _, n := range names {
			// A batch of its own: the writer goroutine holds it.
			batch := []Segment{headerSegment(fams[n])}
			for _, s := range streams {
				batch = append(batch, s.(SegmentStream).Segments(n)...)
			}
			if err := z.WriteSegments(batch...); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range names {
		WriteHeader(w, fams[n])
		for _, s := range streams {
			if ss, ok := s.(SegmentStream); ok && z != nil {
				if err := w.Flush(); err != nil {
					return err
				}
				if err := z.WriteSegments(ss.Segments(n)...); err != nil {
					return err
				}
				continue
			}
			if err := s.WriteSamples(w, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// InflateSegments writes the text of consecutive segments to w.
func InflateSegments(w *bufio.Writer, segs []Segment) error {
	if len(segs) == 0 {
		return nil
	}
	rs := make([]io.Reader, 0, len(segs)+1)
	want := 0
	for _, seg := range segs {
		rs = append(rs, bytes.NewReader(seg.Deflated))
		want += seg.Size
	}
	rs = append(rs, bytes.NewReader(finalBlock)) // a complete deflate stream
	fr := flate.NewReader(io.MultiReader(rs...))
	defer fr.Close()
	n, err := io.Copy(w, fr)
	if err == nil && n != int64(want) {
		err = fmt.Errorf("segments inflate to %d bytes, not %d", n, want)
	}
	return err
}

// finalBlock is an empty final stored block: it ends a deflate stream of
// sync-flushed segments.
var finalBlock = []byte{1, 0, 0, 0xff, 0xff}
