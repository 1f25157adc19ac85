package haproxy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// A target names one HAProxy process, or several that are one HAProxy to
// the operator: a comma-separated list of stats sockets (one per nbproc
// process, or several instances behind one address), where an entry
// "master:<socket>" is the master CLI of a master-worker HAProxy and
// stands for its current workers.
const masterPrefix = "master:"

// endpoint is one entry of a target's address list.
type endpoint struct {
	addr   string // socket address as ParseAddress reads it
	master bool   // a master CLI socket: its current workers
}

// maxEndpoints bounds a target's list (the address may come from a /probe
// request).
const maxEndpoints = 64

// parseEndpoints splits a socket target into its entries; a single plain
// socket gives one endpoint.
func parseEndpoints(u string) ([]endpoint, error) {
	parts := strings.Split(u, ",")
	if len(parts) > maxEndpoints {
		return nil, fmt.Errorf("haproxy target: %d sockets is too many (at most %d)", len(parts), maxEndpoints)
	}
	out := make([]endpoint, 0, len(parts))
	seen := map[endpoint]bool{}
	for _, p := range parts {
		p = strings.TrimSpace(p)
		e := endpoint{addr: p}
		if rest, ok := strings.CutPrefix(p, masterPrefix); ok {
			e = endpoint{addr: rest, master: true}
		}
		if strings.HasPrefix(e.addr, "http://") || strings.HasPrefix(e.addr, "https://") {
			if len(parts) > 1 || e.master {
				return nil, fmt.Errorf("haproxy target %q: a list of processes takes stats sockets only, not the stats page %q", u, e.addr)
			}
		}
		a, err := haproxyapi.ParseAddress(e.addr)
		if err != nil {
			return nil, fmt.Errorf("haproxy target %q: %w", u, err)
		}
		e.addr = a.String()
		if seen[e] {
			return nil, fmt.Errorf("haproxy target %q: %s is listed twice", u, e.addr)
		}
		seen[e] = true
		out = append(out, e)
	}
	return out, nil
}

// process is one HAProxy process a scrape reads.
type process struct {
	label  string // value of the process label: 1, 2, … in target order
	client *haproxyapi.Client
}

// part is what one process answered.
type part struct {
	stat  *haproxyapi.Stat
	info  haproxyapi.Info
	admin map[haproxyapi.ServerRef]haproxyapi.AdminFlags
}

// processes lists the processes behind the target for this scrape:
// sockets as listed, each master socket expanded to its current workers
// (asked every scrape: a reload replaces them).
func (c *Collector) processes(ctx context.Context) ([]process, error) {
	var out []process
	for i, e := range c.endpoints {
		if !e.master {
			out = append(out, process{client: c.clients[i]})
			continue
		}
		procs, err := c.clients[i].ShowProc(ctx)
		if err != nil {
			return nil, fmt.Errorf("master CLI %s: %w", e.addr, err)
		}
		workers := haproxyapi.CurrentWorkers(procs)
		if len(workers) == 0 {
			return nil, fmt.Errorf("master CLI %s: show proc lists no current worker", e.addr)
		}
		for _, w := range workers {
			cl, err := haproxyapi.New(e.addr, haproxyapi.WithProcess(haproxyapi.WorkerPID(w.PID)))
			if err != nil {
				return nil, err
			}
			out = append(out, process{client: cl})
		}
	}
	for i := range out {
		out[i].label = strconv.Itoa(i + 1)
	}
	return out, nil
}

// fetchMulti reads every process concurrently and combines their answers:
// merged (see merge.go), or side by side with a process label. A part
// (stat, info, servers state) any process failed to give is left out
// altogether, since a sum missing a process would look right and be
// wrong; the first error is returned.
func (c *Collector) fetchMulti(ctx context.Context, needStat, needInfo, needState bool) (*snapshot, error) {
	procs, err := c.processes(ctx)
	if err != nil {
		return &snapshot{procCol: -1}, err
	}
	parts := make([]part, len(procs))
	var (
		mu       sync.Mutex
		firstErr error
		failed   [3]bool // stat, info, state
	)
	fail := func(kind int, p process, err error) {
		mu.Lock()
		defer mu.Unlock()
		failed[kind] = true
		if firstErr == nil {
			firstErr = fmt.Errorf("process %s (%s): %w", p.label, p.client.Address(), err)
		}
	}
	var g errgroup.Group
	for i, p := range procs {
		pt := &parts[i]
		if needStat {
			g.Go(func() error {
				key := c.target.URL + "\x00" + p.label
				size, rows, _ := hints.get(key)
				st, err := p.client.ShowStatColumns(ctx, haproxyapi.StatFilter{}, haproxyapi.StatOptions{Columns: c.columns, SizeHint: size, RowsHint: rows})
				if err != nil {
					fail(0, p, err)
					return nil
				}
				hints.put(key, st.Size(), st.Rows())
				pt.stat = st
				return nil
			})
		}
		if needInfo {
			g.Go(func() error {
				info, err := p.client.ShowInfo(ctx)
				if err != nil {
					fail(1, p, err)
					return nil
				}
				pt.info = info
				return nil
			})
		}
		if needState {
			g.Go(func() error {
				ss, err := p.client.ShowServersState(ctx, "")
				if err != nil {
					fail(2, p, err)
					return nil
				}
				pt.admin = make(map[haproxyapi.ServerRef]haproxyapi.AdminFlags, len(ss.Servers))
				for _, sv := range ss.Servers {
					pt.admin[sv.Ref()] = sv.Admin
				}
				return nil
			})
		}
	}
	_ = g.Wait()

	s := &snapshot{procCol: -1}
	labels := make([]string, len(procs))
	for i, p := range procs {
		labels[i] = p.label
	}
	if c.opts.ProcessLabel {
		s.procLabels = labels
	}
	if needStat && !failed[0] {
		stats := make([]*haproxyapi.Stat, len(parts))
		for i := range parts {
			stats[i] = parts[i].stat
		}
		var st *haproxyapi.Stat
		var err error
		if c.opts.ProcessLabel {
			st, err = concatStats(stats, labels)
		} else {
			st, err = mergeStats(stats)
		}
		if err != nil {
			return s, err
		}
		s.stat = st
		s.procCol = st.Col(processColumn)
	}
	if needInfo && !failed[1] {
		infos := make([]haproxyapi.Info, len(parts))
		for i := range parts {
			infos[i] = parts[i].info
		}
		if c.opts.ProcessLabel {
			s.infos = infos
		} else {
			s.info = mergeInfo(infos)
		}
	}
	if needState && !failed[2] {
		s.admin = map[adminKey]haproxyapi.AdminFlags{}
		for i := range parts {
			for ref, f := range parts[i].admin {
				k := adminKey{ref: ref}
				if c.opts.ProcessLabel {
					k.proc = labels[i]
				}
				if old, ok := s.admin[k]; !ok || adminRank(f) > adminRank(old) {
					s.admin[k] = f
				}
			}
		}
	}
	if s.stat != nil {
		s.agg = aggregate(s.stat, s.procCol)
	}
	return s, firstErr
}
