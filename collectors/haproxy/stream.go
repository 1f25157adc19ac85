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
	rows   []int    // server rows of the CSV
	labels [][]byte // per row: `name{const…,proxy="…",server="…"`, without the closing brace
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
		var b []byte
		b = append(b, '{')
		if len(c.constNames) > 0 {
			b = expo.AppendLabels(b, c.constNames, c.constValues)
			b = append(b, ',')
		}
		b = append(b, `proxy="`...)
		b = expo.AppendLabelValue(b, p)
		b = append(b, `",server="`...)
		b = expo.AppendLabelValue(b, n)
		b = append(b, '"')
		ss.rows = append(ss.rows, r)
		ss.labels = append(ss.labels, b)
		ss.vars = append(ss.vars, [2]string{p, n})
	}
	return ss
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
	extraName := "state"
	if f.kind == httpCodes {
		extraName = "code"
	}
	for i, r := range ss.rows {
		if f.kind == plain && f.scale == 1 {
			// Fast path: the CSV already spells the integer.
			raw := st.Bytes(r, col.main)
			if len(raw) == 0 {
				continue
			}
			if isInteger(raw) {
				b := append(ss.buf[:0], name...)
				b = append(b, ss.labels[i]...)
				b = append(b, '}', ' ')
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
			b := append(ss.buf[:0], name...)
			b = append(b, ss.labels[i]...)
			if extra != "" {
				b = append(b, ',')
				b = append(b, extraName...)
				b = append(b, '=', '"')
				b = append(b, extra...)
				b = append(b, '"')
			}
			b = append(b, '}', ' ')
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
