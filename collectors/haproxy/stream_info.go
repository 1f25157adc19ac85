package haproxy

import (
	"bufio"
	"sort"
	"strconv"

	"github.com/lbpilot/lbpilot/internal/expo"
)

// writeServerInfo writes haproxy_server_info, whose three extra labels do
// not fit the one-slot layout of the other server families. The label
// names are the same on every line, so their sorted order (client_golang
// writes labels sorted by name) is worked out once.
func (ss *serverStream) writeServerInfo(w *bufio.Writer, f *compiled) error {
	// Sources: 0 proxy, 1 server, 2..4 address, port, fqdn, 5.. const labels.
	names := append([]string{"proxy", "server"}, serverInfoLabels...)
	names = append(names, ss.c.constNames...)
	order := make([]int, len(names))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return names[order[a]] < names[order[b]] })
	values := make([]string, len(names))
	copy(values[5:], ss.c.constValues)
	var seen map[[2]string]bool // with the process label, servers repeat
	if ss.s.procCol >= 0 {
		seen = map[[2]string]bool{}
	}
	for i := range ss.rows {
		vars := ss.vars[i]
		if seen != nil {
			k := [2]string{vars[0], vars[1]}
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		sv, ok := ss.s.serverInfo(vars[:])
		if !ok {
			continue
		}
		values[0], values[1], values[2], values[4] = vars[0], vars[1], sv.Addr, sv.FQDN
		b := append(w.AvailableBuffer(), f.fqName...)
		b = append(b, '{')
		for j, k := range order {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, names[k]...)
			b = append(b, '=', '"')
			if k == 3 { // port: digits, no escaping needed
				if sv.Port > 0 {
					b = strconv.AppendInt(b, int64(sv.Port), 10)
				}
			} else {
				b = expo.AppendLabelValue(b, values[k])
			}
			b = append(b, '"')
		}
		b = append(b, "} 1\n"...)
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
