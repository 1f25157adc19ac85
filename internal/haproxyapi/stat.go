package haproxyapi

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strconv"
)

// RowType is the `type` column of `show stat`.
type RowType int8

// Row types as HAProxy numbers them.
const (
	TypeFrontend RowType = 0
	TypeBackend  RowType = 1
	TypeServer   RowType = 2
	TypeListener RowType = 3
	TypeUnknown  RowType = -1
)

func (t RowType) String() string {
	switch t {
	case TypeFrontend:
		return "frontend"
	case TypeBackend:
		return "backend"
	case TypeServer:
		return "server"
	case TypeListener:
		return "listener"
	}
	return "unknown"
}

// Stat is a parsed `show stat` CSV. Fields are addressed by column name
// (the header line), never by position: positions past 99 differ between
// HAProxy versions. Field bytes alias the input, and the offsets are kept
// per column: a collector writes one metric family (one column) across
// all rows at a time, and column-major offsets make that a sequential read.
//
// A parsed field costs three bytes: its start within its line (two) and
// its length (one). On 10,000 servers and ~90 kept columns that is 2.7 MB
// instead of the 7 MB two 32-bit offsets took, the largest item a scrape
// holds. The rare field that is quoted, longer than 254 bytes, or starts
// past 64 KiB into a long line keeps both offsets in its column's odd list.
type Stat struct {
	data    []byte
	extra   []byte // unescaped contents of quoted fields containing ""
	header  []string
	index   map[string]int
	slot    []int      // per header column: its index in cols, -1 when not kept
	rowAt   []uint32   // per row: where its line starts in data
	cols    [][]uint16 // per kept column: per row, the field's start from rowAt, or emptyField/oddField
	lens    [][]uint8  // per kept column: per row, the field's length (near fields)
	odd     [][]oddSpan
	wide    [][]uint32 // StatBuilder's tables: (start, end) per row; high bit set: in extra
	rows    int
	padded  int // fields added for short rows (bounded: see parseRow)
	typeCol int
}

// A narrow field value at or below maxNear is an offset into its line;
// the two values above it mark an empty field (missing from a short row)
// and a field held in the column's odd list. A near field is at most
// maxLen bytes long.
const (
	maxNear    = 0xFFFD
	oddField   = 0xFFFE
	emptyField = 0xFFFF
	maxLen     = 0xFF
)

// oddSpan is a field the narrow form cannot hold: its row and its bytes
// (high bit set: in extra).
type oddSpan struct{ row, a, b uint32 }

const inExtra = 1 << 31

// ParseStat parses the output of `show stat` or the HTTP `;csv` page.
// It accepts the trailing comma on every line, quoted fields with doubled
// quotes, rows shorter or longer than the header, CRLF line ends, and stops
// at the empty line that ends the output. The first non-empty line must be
// the "# pxname,svname,…" header; anything else (an error message such as
// "Permission denied") is returned as an error quoting it.
func ParseStat(data []byte) (*Stat, error) { return ParseStatColumns(data, nil) }

// ParseStatColumns is ParseStat keeping only the named columns (all when
// nil), which saves memory on large outputs. Columns the header lacks are
// simply absent. pxname, svname and type are always kept.
func ParseStatColumns(data []byte, keep []string) (*Stat, error) {
	p := &statParser{keep: keep}
	if err := p.advance(data, true); err != nil {
		return nil, err
	}
	return p.stat(data), nil
}

// statParser parses `show stat` incrementally: advance consumes every
// complete line received so far, so the client can parse while HAProxy
// is still dumping. Offsets are positions in the growing input, so the
// buffer may be reallocated between calls.
type statParser struct {
	s        Stat
	keep     []string
	rowsHint int
	pos      int  // first unparsed byte
	ended    bool // the terminating empty line was seen
	err      error
}

func (p *statParser) advance(data []byte, final bool) error {
	if p.err != nil || p.ended {
		return p.err
	}
	if len(data) >= math.MaxInt32 {
		p.err = fmt.Errorf("show stat: %d bytes is too large", len(data))
		return p.err
	}
	for p.pos < len(data) || (final && p.s.header == nil) {
		line, next, complete := nextLineAt(data, p.pos)
		if !complete && !final {
			return nil // wait for the rest of the line
		}
		p.pos = next
		if p.s.header == nil {
			if line.start == line.end && (!final || p.pos < len(data)) {
				// Empty lines before the header: some stats pages and
				// proxies in front of them start the CSV with one. An
				// answer that is nothing but empty lines still fails
				// below, as "HAProxy said nothing".
				continue
			}
			if err := p.header(data, line); err != nil {
				p.err = err
				return err
			}
			continue
		}
		if line.start == line.end {
			p.ended = true // the empty line ends the output
			return nil
		}
		s := &p.s
		if s.rows == cap(s.rowAt) {
			// Grow every column by doubling, sized from the rows seen so
			// far (or the caller's hint), so a 10,000-row dump is not
			// copied over and over.
			nl := bytes.Count(data[line.start:], []byte{'\n'}) + 1
			if s.rows == 0 && p.rowsHint > 0 {
				nl = max(nl, p.rowsHint+p.rowsHint/16+1)
			}
			n := max(2*cap(s.rowAt), s.rows+nl)
			s.rowAt = grow(s.rowAt, n)
			// The columns are sized, not appended to: a field is one
			// store, with no slice header written back per field.
			for i := range s.cols {
				s.cols[i] = grow(s.cols[i], n)[:n]
				s.lens[i] = grow(s.lens[i], n)[:n]
			}
		}
		if err := s.parseRow(data, line.start, line.end); err != nil {
			p.err = err
			return err
		}
		s.rows++
		if p.pos >= len(data) {
			break
		}
	}
	return nil
}

func (p *statParser) header(data []byte, line span) error {
	hdr := data[line.start:line.end]
	if !bytes.HasPrefix(hdr, []byte("# ")) {
		return fmt.Errorf("show stat: no CSV header, HAProxy said %s", quoteSnippet(hdr))
	}
	s := &p.s
	s.index = map[string]int{}
	for _, f := range bytes.Split(hdr[2:], []byte{','}) {
		s.header = append(s.header, string(bytes.TrimSpace(f)))
	}
	for len(s.header) > 0 && s.header[len(s.header)-1] == "" {
		s.header = s.header[:len(s.header)-1] // trailing comma
	}
	if len(s.header) == 0 || s.header[0] != "pxname" {
		return fmt.Errorf("show stat: header does not start with pxname: %s", quoteSnippet(hdr))
	}
	if len(s.header) > maxColumns {
		return fmt.Errorf("show stat: %d columns is too many (at most %d)", len(s.header), maxColumns)
	}
	for i, h := range s.header {
		if _, dup := s.index[h]; !dup && h != "" {
			s.index[h] = i
		}
	}
	want := map[string]bool{"pxname": true, "svname": true, "type": true}
	for _, k := range p.keep {
		want[k] = true
	}
	s.slot = make([]int, len(s.header))
	for i, h := range s.header {
		s.slot[i] = -1
		if p.keep == nil || want[h] {
			s.slot[i] = len(s.cols)
			s.cols = append(s.cols, nil)
		}
	}
	s.odd = make([][]oddSpan, len(s.cols))
	s.lens = make([][]uint8, len(s.cols))
	s.typeCol = s.Col("type")
	return nil
}

// maxColumns bounds the header (HAProxy 2.6 prints 128 named columns).
const maxColumns = 4096

// stat returns the parsed table over the final input.
func (p *statParser) stat(data []byte) *Stat {
	s := p.s
	s.data = data
	return &s
}

// grow returns s with at least capacity n.
func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s
	}
	ns := make([]T, len(s), n)
	copy(ns, s)
	return ns
}

type span struct{ start, end int }

// nextLineAt is nextLine that also says whether the line was complete
// (ended by a newline).
func nextLineAt(data []byte, pos int) (span, int, bool) {
	l, next := nextLine(data, pos)
	return l, next, next <= len(data) && next > 0 && data[next-1] == '\n'
}

// nextLine returns the line at pos without its "\n" or "\r\n", and the
// position after it.
func nextLine(data []byte, pos int) (span, int) {
	i := bytes.IndexByte(data[pos:], '\n')
	if i < 0 {
		end := len(data)
		if end > pos && data[end-1] == '\r' {
			end--
		}
		return span{pos, end}, len(data)
	}
	end := pos + i
	if end > pos && data[end-1] == '\r' {
		end--
	}
	return span{pos, end}, pos + i + 1
}

// parseRow records the kept fields of data[start:end]. Fields past the
// header's width are ignored; kept columns a short row lacks read as
// empty. Padding is bounded by the input size, so a hostile input of many
// one-byte rows under a wide header cannot allocate without limit.
func (s *Stat) parseRow(data []byte, start, end int) error {
	if end-start <= maxNear && bytes.IndexByte(data[start:end], '"') < 0 {
		return s.parseRowFast(data, start, end)
	}
	return s.parseRowQuoted(data, start, end)
}

// parseRowFast is parseRow for a line with no quoted field that is short
// enough for every field to be near (nearly every line HAProxy prints).
// It finds the commas eight bytes at a time first, then records the kept
// fields from their positions: the per-field branch on each byte of a
// few-digit field was most of the parse.
func (s *Stat) parseRowFast(data []byte, start, end int) error {
	line := data[start:end]
	width := len(s.header)
	row := uint32(s.rows)
	s.rowAt = append(s.rowAt, uint32(start))
	slot := s.slot[:width]
	n := 0 // fields recorded
	from := 0
	field := func(e int) {
		if k := slot[n]; k >= 0 {
			if e-from <= maxLen {
				s.cols[k][row] = uint16(from)
				s.lens[k][row] = uint8(e - from)
			} else {
				s.addOdd(k, row, uint32(start+from), uint32(start+e))
			}
		}
		n++
		from = e + 1
	}
	i := 0
	for ; i+8 <= len(line) && n < width; i += 8 {
		// Exact per-byte zero test of x: no borrow crosses bytes, so a
		// '-' after a comma is not taken for one.
		x := binary.LittleEndian.Uint64(line[i:]) ^ commas
		m := ^((x & low7) + low7 | x | low7)
		for m != 0 && n < width {
			field(i + bits.TrailingZeros64(m)>>3)
			m &= m - 1
		}
	}
	for ; i < len(line) && n < width; i++ {
		if line[i] == ',' {
			field(i)
		}
	}
	// The last field runs to the end of the line, unless the line ends
	// with a comma (HAProxy's trailing one): then there is no field after.
	if n < width && (len(line) == 0 || line[len(line)-1] != ',') {
		field(len(line))
	}
	return s.pad(n, row, end)
}

const (
	commas = 0x2C2C2C2C2C2C2C2C
	low7   = 0x7F7F7F7F7F7F7F7F
)

// pad records columns n and later as empty in a short row.
func (s *Stat) pad(n int, row uint32, end int) error {
	width := len(s.header)
	for ; n < width; n++ {
		if k := s.slot[n]; k >= 0 {
			s.cols[k][row] = emptyField
			s.padded++
		}
	}
	if s.padded > end+width { // bytes read so far: the same bound however the input arrives
		return fmt.Errorf("show stat: malformed output, rows are much shorter than the %d-column header", width)
	}
	return nil
}

// parseRowQuoted is parseRow for any line: quoted fields, fields past
// 64 KiB into the line.
func (s *Stat) parseRowQuoted(data []byte, start, end int) error {
	width := len(s.header)
	row := uint32(s.rows)
	s.rowAt = append(s.rowAt, uint32(start))
	n := 0
	p := start
	for n < width {
		k := s.slot[n]
		if p < end && data[p] == '"' {
			fs, fe, next, escaped := scanQuoted(data, p, end)
			if k >= 0 {
				a, b := uint32(fs), uint32(fe)
				if escaped {
					from := len(s.extra)
					s.extra = appendUnquoted(s.extra, data[fs:fe])
					a, b = uint32(from)|inExtra, uint32(len(s.extra))|inExtra
				}
				s.addOdd(k, row, a, b)
			}
			p = next
		} else {
			// Most fields are a few digits: a plain loop beats the call
			// into IndexByte for each of them.
			i := p
			for i < end && data[i] != ',' {
				i++
			}
			if k >= 0 {
				if p-start <= maxNear && i-p <= maxLen {
					s.cols[k][row] = uint16(p - start)
					s.lens[k][row] = uint8(i - p)
				} else {
					s.addOdd(k, row, uint32(p), uint32(i))
				}
			}
			p = i
		}
		n++
		// p is at ',' or end
		if p >= end {
			break
		}
		p++ // skip ','
		if p == end {
			break // trailing comma: no further field
		}
	}
	return s.pad(n, row, end)
}

// addOdd records a field of column k the three-byte form cannot hold.
func (s *Stat) addOdd(k int, row, a, b uint32) {
	s.cols[k][row] = oddField
	s.odd[k] = append(s.odd[k], oddSpan{row: row, a: a, b: b})
}

// scanQuoted scans a field starting with '"' at p. It returns the content
// span, the position after the closing quote (at ',' or end), and whether
// the content holds doubled quotes that need unescaping. An unterminated
// quote runs to the end of the line.
func scanQuoted(data []byte, p, end int) (fs, fe, next int, escaped bool) {
	fs = p + 1
	for i := fs; i < end; i++ {
		if data[i] != '"' {
			continue
		}
		if i+1 < end && data[i+1] == '"' {
			escaped = true
			i++
			continue
		}
		// closing quote; skip anything up to the next comma
		next = i + 1
		if j := bytes.IndexByte(data[next:end], ','); j >= 0 {
			next += j
		} else {
			next = end
		}
		return fs, i, next, escaped
	}
	return fs, end, end, escaped
}

func appendUnquoted(dst, src []byte) []byte {
	for i := 0; i < len(src); i++ {
		dst = append(dst, src[i])
		if src[i] == '"' && i+1 < len(src) && src[i+1] == '"' {
			i++
		}
	}
	return dst
}

func quoteSnippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 120 {
		b = b[:120]
	}
	if len(b) == 0 {
		return "nothing"
	}
	return strconv.Quote(string(b))
}

// Rows returns the number of data rows.
func (s *Stat) Rows() int { return s.rows }

// Size returns the number of input bytes parsed.
func (s *Stat) Size() int { return len(s.data) }

// Columns returns the header's column names, without the trailing empty one.
func (s *Stat) Columns() []string { return s.header }

// Col returns the position of a column by name, or -1 when this HAProxy
// version does not print it.
func (s *Stat) Col(name string) int {
	if i, ok := s.index[name]; ok {
		return i
	}
	return -1
}

// Bytes returns a field's raw bytes (unescaped for quoted fields). It is
// empty for an absent or unkept column and for a field missing from a
// short row. The slice aliases the parsed input: do not modify it.
func (s *Stat) Bytes(row, col int) []byte {
	if col < 0 || col >= len(s.slot) || row < 0 || row >= s.rows {
		return nil
	}
	k := s.slot[col]
	if k < 0 {
		return nil
	}
	if s.wide != nil {
		return s.span(s.wide[k][2*row], s.wide[k][2*row+1])
	}
	switch v := s.cols[k][row]; v {
	case emptyField:
		return nil
	case oddField:
		odd := s.odd[k]
		i := sort.Search(len(odd), func(i int) bool { return odd[i].row >= uint32(row) })
		return s.span(odd[i].a, odd[i].b)
	default:
		a := int(s.rowAt[row]) + int(v)
		return s.data[a : a+int(s.lens[k][row])]
	}
}

// AppendFields appends column col's field of each of rows, each as its
// length (uvarint) and bytes: what a caller that only needs to know
// whether fields changed (a cache key) reads, without a call per field.
func (s *Stat) AppendFields(dst []byte, col int, rows []int) []byte {
	k := -1
	if col >= 0 && col < len(s.slot) {
		k = s.slot[col]
	}
	if k < 0 || s.wide != nil {
		for _, r := range rows {
			f := s.Bytes(r, col)
			dst = binary.AppendUvarint(dst, uint64(len(f)))
			dst = append(dst, f...)
		}
		return dst
	}
	offs, lens := s.cols[k], s.lens[k]
	for _, r := range rows {
		if r < 0 || r >= s.rows {
			dst = append(dst, 0)
			continue
		}
		switch v := offs[r]; v {
		case emptyField:
			dst = append(dst, 0)
		case oddField:
			f := s.Bytes(r, col)
			dst = binary.AppendUvarint(dst, uint64(len(f)))
			dst = append(dst, f...)
		default:
			a := int(s.rowAt[r]) + int(v)
			n := int(lens[r])
			dst = binary.AppendUvarint(dst, uint64(n))
			dst = append(dst, s.data[a:a+n]...)
		}
	}
	return dst
}

// AppendLine appends row's line as HAProxy printed it (without its line
// end), leaving out the bytes of the fields of except, columns in header
// order; the commas around them stay, so what is left still says where
// every other field starts. ok is false for a built table, which has no
// lines. A field that cannot be located in the line (quoted with doubled
// quotes) stays in: a caller comparing lines (a cache key) then sees a
// change more often, never less.
func (s *Stat) AppendLine(dst []byte, row int, except []int) (_ []byte, ok bool) {
	if s.wide != nil || row < 0 || row >= s.rows {
		return dst, false
	}
	start := int(s.rowAt[row])
	end := len(s.data)
	if row+1 < s.rows {
		end = int(s.rowAt[row+1])
	}
	if i := bytes.IndexByte(s.data[start:end], '\n'); i >= 0 {
		end = start + i
	}
	if end > start && s.data[end-1] == '\r' {
		end--
	}
	p := start
	for _, col := range except {
		a, b, ok := s.fieldAt(row, col)
		if !ok || a < p || b > end {
			continue
		}
		dst = append(dst, s.data[p:a]...)
		p = b
	}
	return append(dst, s.data[p:end]...), true
}

// fieldAt returns where a field of a parsed (not built) table lies in the
// input; ok is false when it is not there as it is (absent, not kept,
// empty, or unescaped into extra).
func (s *Stat) fieldAt(row, col int) (a, b int, ok bool) {
	if col < 0 || col >= len(s.slot) || s.slot[col] < 0 {
		return 0, 0, false
	}
	k := s.slot[col]
	switch v := s.cols[k][row]; v {
	case emptyField:
		return 0, 0, false
	case oddField:
		odd := s.odd[k]
		i := sort.Search(len(odd), func(i int) bool { return odd[i].row >= uint32(row) })
		if i == len(odd) || odd[i].a&inExtra != 0 {
			return 0, 0, false
		}
		return int(odd[i].a), int(odd[i].b), true
	default:
		a := int(s.rowAt[row]) + int(v)
		return a, a + int(s.lens[k][row]), true
	}
}

// span returns the bytes of a wide or odd field.
func (s *Stat) span(a, b uint32) []byte {
	if a&inExtra != 0 {
		return s.extra[a&^inExtra : b&^inExtra]
	}
	return s.data[a:b]
}

// String returns a field as a string ("" when absent).
func (s *Stat) String(row, col int) string { return string(s.Bytes(row, col)) }

// Get returns a field by column name.
func (s *Stat) Get(row int, name string) string { return s.String(row, s.Col(name)) }

// Float returns a numeric field; ok is false for an empty or non-numeric field.
func (s *Stat) Float(row, col int) (float64, bool) { return ParseNumber(s.Bytes(row, col)) }

// Type returns the row's type from the `type` column.
func (s *Stat) Type(row int) RowType {
	b := s.Bytes(row, s.typeCol)
	if len(b) == 1 && b[0] >= '0' && b[0] <= '3' {
		return RowType(b[0] - '0')
	}
	return TypeUnknown
}

// ParseNumber parses an integer or decimal field without allocating. It
// returns ok=false for an empty field, which HAProxy prints for "never
// measured" values.
func ParseNumber(b []byte) (float64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	i := 0
	if b[0] == '-' {
		neg, i = true, 1
	}
	if i == len(b) {
		return 0, false
	}
	var u uint64
	for ; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' || u > (math.MaxUint64-9)/10 {
			f, err := strconv.ParseFloat(string(b), 64)
			return f, err == nil
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		return -float64(u), true
	}
	return float64(u), true
}

// Kept reports whether column col was kept by ParseStatColumns (and is
// in the header).
func (s *Stat) Kept(col int) bool { return col >= 0 && col < len(s.slot) && s.slot[col] >= 0 }
