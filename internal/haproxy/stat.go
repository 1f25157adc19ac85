package haproxy

import (
	"bytes"
	"fmt"
	"math"
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
// HAProxy versions. Field bytes alias the input, so parsing allocates only
// offsets, in proportion to the input size.
type Stat struct {
	data    []byte
	extra   []byte // unescaped contents of quoted fields containing ""
	header  []string
	index   map[string]int
	offs    []uint32 // (start, end) per field present; high bit set: in extra
	rowOff  []uint32 // index into offs/2 of each row's first field
	rowLen  []uint16 // number of fields present in each row (capped at header width)
	typeCol int
}

const inExtra = 1 << 31

// ParseStat parses the output of `show stat` or the HTTP `;csv` page.
// It accepts the trailing comma on every line, quoted fields with doubled
// quotes, rows shorter or longer than the header, CRLF line ends, and stops
// at the empty line that ends the output. The first line must be the
// "# pxname,svname,…" header; anything else (an error message such as
// "Permission denied") is returned as an error quoting it.
func ParseStat(data []byte) (*Stat, error) {
	if len(data) >= math.MaxInt32 {
		return nil, fmt.Errorf("show stat: %d bytes is too large", len(data))
	}
	line, rest := nextLine(data, 0)
	hdr := data[line.start:line.end]
	if !bytes.HasPrefix(hdr, []byte("# ")) {
		return nil, fmt.Errorf("show stat: no CSV header, HAProxy said %s", quoteSnippet(hdr))
	}
	s := &Stat{data: data, index: map[string]int{}}
	for _, f := range bytes.Split(hdr[2:], []byte{','}) {
		s.header = append(s.header, string(bytes.TrimSpace(f)))
	}
	for len(s.header) > 0 && s.header[len(s.header)-1] == "" {
		s.header = s.header[:len(s.header)-1] // trailing comma
	}
	if len(s.header) == 0 || s.header[0] != "pxname" {
		return nil, fmt.Errorf("show stat: header does not start with pxname: %s", quoteSnippet(hdr))
	}
	if len(s.header) > math.MaxUint16 {
		return nil, fmt.Errorf("show stat: %d columns is too many", len(s.header))
	}
	for i, h := range s.header {
		if _, dup := s.index[h]; !dup && h != "" {
			s.index[h] = i
		}
	}
	s.typeCol = s.Col("type")

	// Each row has at least one byte per field plus a newline, so these
	// estimates are bounded by the input size.
	nl := bytes.Count(data, []byte{'\n'})
	s.rowOff = make([]uint32, 0, nl)
	s.rowLen = make([]uint16, 0, nl)
	s.offs = make([]uint32, 0, min(2*nl*len(s.header), 2*len(data)+2))

	width := len(s.header)
	for pos := rest; pos < len(data); {
		line, next := nextLine(data, pos)
		pos = next
		if line.start == line.end {
			break // the empty line ends the output
		}
		s.rowOff = append(s.rowOff, uint32(len(s.offs)/2))
		n := s.parseRow(line.start, line.end, width)
		s.rowLen = append(s.rowLen, uint16(n))
	}
	return s, nil
}

type span struct{ start, end int }

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

// parseRow records up to width fields of data[start:end] and returns how
// many it recorded.
func (s *Stat) parseRow(start, end, width int) int {
	n := 0
	p := start
	for n < width {
		if p < end && s.data[p] == '"' {
			fs, fe, next, escaped := scanQuoted(s.data, p, end)
			if escaped {
				from := len(s.extra)
				s.extra = appendUnquoted(s.extra, s.data[fs:fe])
				s.offs = append(s.offs, uint32(from)|inExtra, uint32(len(s.extra))|inExtra)
			} else {
				s.offs = append(s.offs, uint32(fs), uint32(fe))
			}
			n++
			p = next
		} else {
			i := bytes.IndexByte(s.data[p:end], ',')
			if i < 0 {
				s.offs = append(s.offs, uint32(p), uint32(end))
				n++
				return n
			}
			s.offs = append(s.offs, uint32(p), uint32(p+i))
			n++
			p += i
		}
		// p is at ',' or end
		if p >= end {
			return n
		}
		p++ // skip ','
		if p == end {
			return n // trailing comma: no further field
		}
	}
	return n
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
func (s *Stat) Rows() int { return len(s.rowOff) }

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

// Bytes returns a field's raw bytes (unescaped for quoted fields). It is nil
// for an absent column or a field missing from a short row. The slice
// aliases the parsed input: do not modify it.
func (s *Stat) Bytes(row, col int) []byte {
	if col < 0 || row < 0 || row >= len(s.rowOff) || col >= int(s.rowLen[row]) {
		return nil
	}
	i := 2 * (int(s.rowOff[row]) + col)
	a, b := s.offs[i], s.offs[i+1]
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
