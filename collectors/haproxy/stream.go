package haproxy

import (
	"bufio"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lbpilot/lbpilot/internal/expo"
	"github.com/lbpilot/lbpilot/internal/haproxy"
)

// serverStream writes the server families of one snapshot straight into
// the text format. Label sets are rendered once per server and reused for
// every family; integer fields are copied from the CSV as they are.
type serverStream struct {
	c      *Collector
	s      *snapshot
	rows []int // server rows of the CSV
	// Per row, the label set rendered once in client_golang's order
	// (sorted by name), split where a family's extra label (state or
	// code) goes: labels[row][extra] = {before, after}.
	labels [][3][2][]byte
	vars   [][2]string
	cols   map[string]columns
	fams   map[string]*compiled
	buf    []byte
}

func newServerStream(c *Collector, s *snapshot) *serverStream {
	st := s.stat
	ss := &serverStream{c: c, s: s, cols: map[string]columns{}, fams: map[string]*compiled{}}
	resolved := resolveColumns(st, c.server)
	for i, f := range c.server {
		ss.cols[f.fqName] = resolved[i]
		ss.fams[f.fqName] = f
	}
	px, sv := st.Col("pxname"), st.Col("svname")
	for r := 0; r < st.Rows(); r++ {
		if st.Type(r) != haproxy.TypeServer {
			continue
		}
		p, n := st.String(r, px), st.String(r, sv)
		ss.rows = append(ss.rows, r)
		ss.labels = append(ss.labels, renderLabels(c.constNames, c.constValues, p, n))
		ss.vars = append(ss.vars, [2]string{p, n})
	}
	return ss
}

// Extra label slots of renderLabels.
const (
	extraNone = iota
	extraState
	extraCode
)

// renderLabels renders `{a="x",proxy="p",server="s",…` sorted by label
// name, split at the position of "state" and of "code" so a family's
// extra label can be inserted in order without sorting per sample.
func renderLabels(constNames, constValues []string, proxy, server string) [3][2][]byte {
	names := append(append([]string(nil), constNames...), "proxy", "server")
	values := append(append([]string(nil), constValues...), proxy, server)
	sortPairs(names, values)
	var out [3][2][]byte
	for slot, extra := range []string{"", "state", "code"} {
		var before, after []byte
		for i, n := range names {
			pair := append(append([]byte(n), '=', '"'), expo.AppendLabelValue(nil, values[i])...)
			pair = append(pair, '"')
			if extra != "" && n > extra {
				after = append(append(after, ','), pair...)
			} else {
				if len(before) > 0 {
					before = append(before, ',')
				}
				before = append(before, pair...)
			}
		}
		out[slot] = [2][]byte{append([]byte{'{'}, before...), append(after, '}', ' ')}
	}
	return out
}

func sortPairs(names, values []string) {
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && names[j] < names[j-1]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
			values[j], values[j-1] = values[j-1], values[j]
		}
	}
}

func (ss *serverStream) Families() []expo.Family {
	out := make([]expo.Family, 0, len(ss.c.server))
	for _, f := range ss.c.server {
		t := dto.MetricType_GAUGE
		if f.typ == prometheus.CounterValue {
			t = dto.MetricType_COUNTER
		}
		out = append(out, expo.Family{Name: f.fqName, Help: f.help, Type: t})
	}
	return out
}

func (ss *serverStream) WriteSamples(w *bufio.Writer, name string) error {
	f, ok := ss.fams[name]
	if !ok {
		return nil
	}
	col := ss.cols[name]
	st := ss.s.stat
	slot, extraName := extraState, "state"
	switch f.kind {
	case httpCodes:
		slot, extraName = extraCode, "code"
	case plain, nanIfEmpty, checkCode:
		slot = extraNone
	}
	for i, r := range ss.rows {
		if f.kind == plain && f.scale == 1 && col.mode < 0 {
			// Fast path: the CSV already spells the integer.
			raw := st.Bytes(r, col.main)
			if len(raw) == 0 {
				continue
			}
			if isInteger(raw) {
				lb := &ss.labels[i][extraNone]
				b := append(ss.buf[:0], name...)
				b = append(b, lb[0]...)
				b = append(b, lb[1]...)
				b = append(b, raw...)
				b = append(b, '\n')
				ss.buf = b
				if _, err := w.Write(b); err != nil {
					return err
				}
				continue
			}
		}
		var werr error
		vars := ss.vars[i]
		rowSamples(ss.s, r, f, col, vars[:], func(extra string, v float64) {
			lb := &ss.labels[i][slot]
			b := append(ss.buf[:0], name...)
			b = append(b, lb[0]...)
			if extra != "" {
				if len(lb[0]) > 1 { // something before it besides '{'
					b = append(b, ',')
				}
				b = append(b, extraName...)
				b = append(b, '=', '"')
				b = append(b, extra...)
				b = append(b, '"')
			}
			b = append(b, lb[1]...)
			b = expo.AppendFloat(b, v)
			b = append(b, '\n')
			ss.buf = b
			if _, err := w.Write(b); err != nil && werr == nil {
				werr = err
			}
		})
		if werr != nil {
			return werr
		}
	}
	return nil
}

// isInteger reports an optionally negative run of decimal digits.
func isInteger(b []byte) bool {
	i := 0
	if len(b) > 1 && b[0] == '-' {
		i = 1
	}
	if len(b) > 20 {
		return false
	}
	for ; i < len(b); i++ {
		if b[i] < '0' || b[i] > '9' {
			return false
		}
	}
	return len(b) > 0
}
