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
	addrs map[haproxyapi.ServerRef]*haproxyapi.ServerState
	mods  moduleData
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
func (c *Collector) fetchMulti(ctx context.Context, needStat, needInfo, needState, needAddrs bool) (*snapshot, error) {
	procs, err := c.processes(ctx)
	if err != nil {
		return &snapshot{procCol: -1}, err
	}
	parts := make([]part, len(procs))
	var (
		mu       sync.Mutex
		firstErr error
		failed   [4]bool // stat, info, state, modules
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
				pt.addrs = make(map[haproxyapi.ServerRef]*haproxyapi.ServerState, len(ss.Servers))
				for i, sv := range ss.Servers {
					pt.admin[sv.Ref()] = sv.Admin
					pt.addrs[sv.Ref()] = &ss.Servers[i]
				}
				return nil
			})
		}
		var mg errgroup.Group
		c.fetchModules(ctx, &mg, p.client, &pt.mods)
		g.Go(func() error {
			if err := mg.Wait(); err != nil {
				fail(3, p, err)
			}
			return nil
		})
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
		s.info = mergeInfo(infos) // also for the labels taken from it (desc, node)
		if c.opts.ProcessLabel {
			s.infos = infos
		}
	}
	if !failed[3] {
		mods := make([]moduleData, len(parts))
		for i := range parts {
			mods[i] = parts[i].mods
		}
		s.mods = mergeModules(mods)
	}
	if needState && needAddrs && !failed[2] {
		// Addresses are configuration: the first process that has the
		// server says it.
		s.addrs = map[haproxyapi.ServerRef]*haproxyapi.ServerState{}
		for i := range parts {
			for ref, sv := range parts[i].addrs {
				if _, ok := s.addrs[ref]; !ok {
					s.addrs[ref] = sv
				}
			}
		}
	}
	if needState && *c.opts.ServersState && c.hasKind(adminState) && !failed[2] {
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
	c.aggregate(s, nil)
	return s, firstErr
}

// mergeModules sums the processes' stick tables (each process has its
// own: size and used entries add up) by name and type, and their
// resolvers' counters by resolvers section, nameserver and counter.
func mergeModules(mods []moduleData) moduleData {
	var out moduleData
	tables := map[[2]string]int{}
	for _, m := range mods {
		for _, t := range m.tables {
			k := [2]string{t.Name, t.Type}
			i, ok := tables[k]
			if !ok {
				tables[k] = len(out.tables)
				out.tables = append(out.tables, haproxyapi.StickTable{Name: t.Name, Type: t.Type})
				i = len(out.tables) - 1
			}
			out.tables[i].Size += t.Size
			out.tables[i].Used += t.Used
		}
	}
	out.entries = mergeEntries(mods)
	ns := map[[2]string]int{}
	for _, m := range mods {
		for _, n := range m.resolvers {
			k := [2]string{n.Resolvers, n.Name}
			i, ok := ns[k]
			if !ok {
				ns[k] = len(out.resolvers)
				out.resolvers = append(out.resolvers, haproxyapi.Nameserver{Resolvers: n.Resolvers, Name: n.Name})
				i = len(out.resolvers) - 1
			}
			dst := &out.resolvers[i]
		counters:
			for _, ctr := range n.Counters {
				for j := range dst.Counters {
					if dst.Counters[j].Name == ctr.Name {
						dst.Counters[j].Value += ctr.Value
						continue counters
					}
				}
				dst.Counters = append(dst.Counters, ctr)
			}
		}
	}
	return out
}
