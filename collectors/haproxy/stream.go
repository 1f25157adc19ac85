package haproxy

import (
	"bufio"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lbpilot/lbpilot/internal/expo"
	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// Extra label slots: families with no extra label, with "state", with
// "code", with "mod" (extra counters).
const (
	extraNone = iota
	extraState
	extraCode
	extraMod
	numSlots
)

var slotNames = [numSlots]string{"", "state", "code", "mod"}

// serverStream writes the server families of one snapshot straight into
// the text format. Each server's label pairs are rendered once, in
// client_golang's order (sorted by name), and reused for every family;
// integer fields are copied from the CSV as they are.
type serverStream struct {
	c    *Collector
	s    *snapshot
	rows []int      // server rows of the CSV
	vars [][]string // proxy, server (and process) per row
	// labels[i] is row i's pairs without braces; split[slot][i] is the
	// byte offset where the slot's extra label sorts in.
	labels [][]byte
	split  [numSlots][]int
	cols   map[string]columns
	fams   map[string]*compiled
}

// labelSource is a label in sorted order: a const label, proxy or server.
type labelSource struct {
	name  string
	value string // const labels only
	kind  int    // 0 const, 1 proxy, 2 server, 3 process
}

func newServerStream(c *Collector, s *snapshot) *serverStream {
	st := s.stat
	ss := &serverStream{c: c, s: s, cols: map[string]columns{}, fams: map[string]*compiled{}}
	resolved := resolveColumns(st, c.server)
	for i, f := range c.server {
		ss.cols[f.fqName] = resolved[i]
		ss.fams[f.fqName] = f
	}

	order := []labelSource{{name: "proxy", kind: 1}, {name: "server", kind: 2}}
	if s.procCol >= 0 {
		order = append(order, labelSource{name: "process", kind: 3})
	}
	for i, n := range c.constNames {
		order = append(order, labelSource{name: n, value: c.constValues[i]})
	}
	sort.Slice(order, func(i, j int) bool { return order[i].name < order[j].name })
	var insertAt [numSlots]int // index in order before which the slot's label goes
	for slot := extraState; slot < numSlots; slot++ {
		insertAt[slot] = sort.Search(len(order), func(i int) bool { return order[i].name > slotNames[slot] })
	}

	px, sv := st.Col("pxname"), st.Col("svname")
	skip := c.serverFilter(st)
	for r := 0; r < st.Rows(); r++ {
		if st.Type(r) != haproxyapi.TypeServer || !s.keep(r) || skip(r) {
			continue
		}
		p, n, proc := st.String(r, px), st.String(r, sv), s.rowProcess(r)
		b := make([]byte, 0, 24+len(p)+len(n)+16*len(order))
		var at [numSlots]int
		for k, l := range order {
			for slot := extraState; slot < numSlots; slot++ {
				if insertAt[slot] == k {
					at[slot] = len(b)
				}
			}
			if k > 0 {
				b = append(b, ',')
			}
			v := l.value
			switch l.kind {
			case 1:
				v = p
			case 2:
				v = n
			case 3:
				v = proc
			}
			b = append(b, l.name...)
			b = append(b, '=', '"')
			b = expo.AppendLabelValue(b, v)
			b = append(b, '"')
		}
		for slot := extraState; slot < numSlots; slot++ {
			if insertAt[slot] == len(order) {
				at[slot] = len(b)
			}
			ss.split[slot] = append(ss.split[slot], at[slot])
		}
		ss.rows = append(ss.rows, r)
		ss.labels = append(ss.labels, b)
		vars := []string{p, n}
		if s.procCol >= 0 {
			vars = append(vars, proc)
		}
		ss.vars = append(ss.vars, vars)
	}

	return ss
}

func (ss *serverStream) Families() []expo.Family {
	out := make([]expo.Family, 0, len(ss.c.server))
	for _, f := range ss.c.server {
		t := dto.MetricType_GAUGE
		switch f.typ {
		case prometheus.CounterValue:
			t = dto.MetricType_COUNTER
		case prometheus.UntypedValue:
			t = dto.MetricType_UNTYPED
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
	if f.kind == serverInfo {
		return ss.writeServerInfo(w, f)
	}
	col := ss.cols[name]
	slot := extraState
	switch f.kind {
	case httpCodes:
		slot = extraCode
	case extraCounter:
		slot = extraMod
	case plain, nanIfEmpty, checkCode:
		slot = extraNone
	}
	st := ss.s.stat
	fast := (f.kind == plain || f.kind == nanIfEmpty) && f.scale == 1 && col.mode < 0 && col.main >= 0
	for i, r := range ss.rows {
		if fast {
			// Fast path: the CSV already spells the integer.
			raw := st.Bytes(r, col.main)
			if len(raw) == 0 && f.kind == plain {
				continue
			}
			if isInteger(raw) {
				// Appending into the writer's own free space makes
				// its Write a no-copy commit when the line fits.
				b := append(w.AvailableBuffer(), name...)
				b = append(b, '{')
				b = append(b, ss.labels[i]...)
				b = append(b, '}', ' ')
				b = append(b, raw...)
				b = append(b, '\n')
				if _, err := w.Write(b); err != nil {
					return err
				}
				continue
			}
		}
		var werr error
		vars := ss.vars[i]
		rowSamples(ss.s, r, f, col, vars, func(extra string, v float64) {
			b := append(w.AvailableBuffer(), name...)
			b = append(b, '{')
			labels := ss.labels[i]
			if extra == "" || slot == extraNone {
				b = append(b, labels...)
			} else {
				at := ss.split[slot][i]
				b = append(b, labels[:at]...)
				if at > 0 {
					b = append(b, ',')
				}
				b = append(b, slotNames[slot]...)
				b = append(b, '=', '"')
				b = append(b, extra...)
				b = append(b, '"')
				if at == 0 && len(labels) > 0 {
					b = append(b, ',')
				}
				b = append(b, labels[at:]...)
			}
			b = append(b, '}', ' ')
			b = expo.AppendFloat(b, v)
			b = append(b, '\n')
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

// isInteger reports an optionally negative run of at most 18 decimal digits.
func isInteger(b []byte) bool {
	i := 0
	if len(b) > 1 && b[0] == '-' {
		i = 1
	}
	if len(b) > 18 || len(b) == 0 {
		return false
	}
	for ; i < len(b); i++ {
		if b[i] < '0' || b[i] > '9' {
			return false
		}
	}
	return true
}
