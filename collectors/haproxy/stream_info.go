package haproxy

import (
	"bufio"
	"sort"

	"github.com/lbpilot/lbpilot/internal/expo"
)

// writeServerInfo writes haproxy_server_info, whose three extra labels do
// not fit the one-slot layout of the other server families: each line's
// labels are sorted by name, as client_golang writes them.
func (ss *serverStream) writeServerInfo(w *bufio.Writer, f *compiled) error {
	type pair struct{ name, value string }
	pairs := make([]pair, 0, 5+len(ss.c.constNames))
	for i := range ss.rows {
		vars := ss.vars[i]
		info, ok := ss.s.serverInfo(vars[:])
		if !ok {
			continue
		}
		pairs = append(pairs[:0], pair{"proxy", vars[0]}, pair{"server", vars[1]})
		for j, n := range serverInfoLabels {
			pairs = append(pairs, pair{n, info[j]})
		}
		for j, n := range ss.c.constNames {
			pairs = append(pairs, pair{n, ss.c.constValues[j]})
		}
		sort.Slice(pairs, func(a, b int) bool { return pairs[a].name < pairs[b].name })
		b := append(ss.buf[:0], f.fqName...)
		b = append(b, '{')
		for j, p := range pairs {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, p.name...)
			b = append(b, '=', '"')
			b = expo.AppendLabelValue(b, p.value)
			b = append(b, '"')
		}
		b = append(b, "} 1\n"...)
		ss.buf = b
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
