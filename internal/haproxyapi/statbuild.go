package haproxyapi

import (
	"fmt"
	"math"
)

// StatBuilder assembles a Stat column by column, without a CSV text: the
// HAProxy collector builds the merged view of several processes with it.
// Values are stored as given (no quoting), so any bytes are kept exactly,
// with both offsets of every value (the wide form: a value may hold commas).
type StatBuilder struct {
	s Stat
}

// NewStatBuilder starts a table of the given columns and number of rows.
// Every column must then receive exactly rows values through Append, in
// row order. sizeHint is the expected total size of the values.
func NewStatBuilder(columns []string, rows, sizeHint int) *StatBuilder {
	s := Stat{
		header: columns,
		index:  make(map[string]int, len(columns)),
		slot:   make([]int, len(columns)),
		wide:   make([][]uint32, len(columns)),
		rows:   rows,
		data:   make([]byte, 0, max(sizeHint, 0)),
	}
	for i, h := range columns {
		if _, dup := s.index[h]; !dup && h != "" {
			s.index[h] = i
		}
		s.slot[i] = i
		s.wide[i] = make([]uint32, 0, 2*rows)
	}
	s.typeCol = s.Col("type")
	return &StatBuilder{s: s}
}

// Append adds the next row's value of column col.
func (b *StatBuilder) Append(col int, v []byte) {
	start := len(b.s.data)
	b.s.data = append(b.s.data, v...)
	b.s.wide[col] = append(b.s.wide[col], uint32(start), uint32(len(b.s.data)))
}

// Stat returns the table. It fails when a column did not receive one
// value per row, or when the values outgrow the offsets (2 GiB).
func (b *StatBuilder) Stat() (*Stat, error) {
	if len(b.s.data) >= math.MaxInt32 {
		return nil, fmt.Errorf("show stat: %d bytes is too large", len(b.s.data))
	}
	for i, c := range b.s.wide {
		if len(c) != 2*b.s.rows {
			return nil, fmt.Errorf("show stat: column %q has %d values for %d rows", b.s.header[i], len(c)/2, b.s.rows)
		}
	}
	s := b.s
	return &s, nil
}
