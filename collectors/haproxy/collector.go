package haproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/expo"
	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// compiled is a selected family with its descriptor built once.
type compiled struct {
	family
	fqName string
	desc   *prometheus.Desc
	states []string // label values of the one-per-state families
}

// Collector scrapes one HAProxy.
type Collector struct {
	opts   Options
	target collectors.Target
	client *haproxyapi.Client // socket targets
	// Several processes (a list of sockets, a master CLI, or any socket
	// target with process_label): one client per endpoint, read by
	// fetchMulti.
	multi     bool
	endpoints []endpoint
	clients   []*haproxyapi.Client
	http      *http.Client // stats page targets
	csvURL    string
	auth      upstream.Auth // stats page basic auth

	info      []infoDesc
	buildInfo *prometheus.Desc
	frontend  []*compiled
	backend   []*compiled
	server    []*compiled
	listener  []*compiled
	modules   moduleDescs // show table, show resolvers, extra counters

	constNames, constValues []string // target labels, sorted
	columns                 []string // CSV columns the selected families read
	lastSize, lastRows      atomic.Int64

	anomalies *collectors.Anomalies
}

type infoDesc struct {
	key  string
	typ  prometheus.ValueType
	desc *prometheus.Desc
}

var _ collectors.Streamer = (*Collector)(nil)

// New builds a collector for one HAProxy target.
func New(opts Options, t collectors.Target, logger collectors.Logger) (*Collector, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := CheckURL(t.URL); err != nil {
		return nil, err
	}
	c := &Collector{opts: opts, target: t, anomalies: collectors.NewAnomalies("haproxy", t, logger)}
	c.constNames, c.constValues = expo.SortedLabels(t.Labels)
	if strings.HasPrefix(t.URL, "http://") || strings.HasPrefix(t.URL, "https://") {
		c.csvURL = csvURL(t.URL)
		c.http = opts.Client()
		auth, err := opts.BasicAuth()
		if err != nil {
			return nil, err
		}
		c.auth = auth
		if opts.ProcessLabel {
			return nil, fmt.Errorf("haproxy: process_label needs stats socket targets, not the stats page %s", upstream.RedactURL(t.URL))
		}
	} else {
		eps, err := parseEndpoints(t.URL)
		if err != nil {
			return nil, err
		}
		for _, e := range eps {
			cl, err := haproxyapi.New(e.addr, haproxyapi.WithMaxResponse(opts.MaxResponseBytes))
			if err != nil {
				return nil, err
			}
			c.clients = append(c.clients, cl)
		}
		c.endpoints = eps
		c.client = c.clients[0]
		c.multi = len(eps) > 1 || eps[0].master || opts.ProcessLabel
		if size, rows, ok := hints.get(t.URL); ok {
			c.lastSize.Store(int64(size))
			c.lastRows.Store(int64(rows))
		}
	}
	cl := t.Labels
	var procVar []string // the process label, when asked for
	if opts.ProcessLabel {
		procVar = []string{"process"}
	}
	if opts.hasScope(ScopeProcess) && c.client != nil {
		// desc-labels: the global description as a "desc" label (empty,
		// so absent, when HAProxy has none).
		var desc []string
		if opts.DescLabels {
			desc = []string{"desc"}
		}
		desc = append(desc, procVar...)
		for _, f := range infoFamilies {
			name := "haproxy_process_" + f.name
			if opts.wanted(name) {
				c.info = append(c.info, infoDesc{key: f.key, typ: f.typ, desc: prometheus.NewDesc(name, f.help, desc, cl)})
			}
		}
		if opts.wanted("haproxy_process_build_info") {
			c.buildInfo = prometheus.NewDesc("haproxy_process_build_info", "HAProxy version, as a label; the value is 1.", append([]string{"version"}, desc...), cl)
		}
	}
	compile := func(scope string, fams []family, vars []string) []*compiled {
		if !opts.hasScope(scope) {
			return nil
		}
		var out []*compiled
		if opts.ExtraCounters {
			fams = append(fams[:len(fams):len(fams)], extraFamilies()...)
		}
		for _, f := range fams {
			fq := "haproxy_" + scope + "_" + f.name
			if !opts.wanted(fq) {
				continue
			}
			if scope == ScopeServer && extraServerFamilies[f.name] && !opts.ExtraServerFamilies {
				continue
			}
			if f.kind == adminState && c.client == nil {
				continue // only the socket has show servers state
			}
			labels := vars
			cf := &compiled{family: f, fqName: fq}
			switch f.kind {
			case statusState:
				cf.states = serverStates
				if scope != ScopeServer {
					cf.states = frontendStates
				}
				labels = append(append([]string(nil), vars...), "state")
			case aggState:
				cf.states = serverStates
				labels = append(append([]string(nil), vars...), "state")
			case aggCheck:
				cf.states = checkStates
				labels = append(append([]string(nil), vars...), "state")
			case checkState:
				cf.states = checkStates
				labels = append(append([]string(nil), vars...), "state")
			case adminState:
				cf.states = adminStates
				labels = append(append([]string(nil), vars...), "state")
			case listenerState:
				cf.states = listenerStates
				labels = append(append([]string(nil), vars...), "state")
			case modeInfo:
				labels = append(append([]string(nil), vars...), "mode")
			case extraCounter:
				cf.states = []string{extraModule(f.col)}
				labels = append(append([]string(nil), vars...), "mod")
			case serverInfo:
				if c.client == nil {
					continue // only the socket has show servers state
				}
				// One per server even with the process label: every
				// process has the same address.
				labels = append(append([]string(nil), vars[:2]...), serverInfoLabels...)
			case httpCodes:
				labels = append(append([]string(nil), vars...), "code")
			}
			cf.desc = prometheus.NewDesc(fq, f.help, labels, cl)
			out = append(out, cf)
		}
		return out
	}
	c.frontend = compile(ScopeFrontend, frontendFamilies, append([]string{"proxy"}, procVar...))
	c.backend = compile(ScopeBackend, backendFamilies, append([]string{"proxy"}, procVar...))
	c.server = compile(ScopeServer, serverFamilies, append([]string{"proxy", "server"}, procVar...))
	c.listener = compile(ScopeListener, listenerFamilies, append([]string{"proxy", "listener"}, procVar...))
	c.compileModules()
	cols := map[string]bool{"status": true, "check_status": true, "mode": true, "iid": true}
	for _, set := range [][]*compiled{c.frontend, c.backend, c.server, c.listener} {
		for _, f := range set {
			cols[f.col] = f.col != ""
			if f.kind == httpCodes {
				for _, hc := range httpClasses {
					cols[hc.col] = true
				}
			}
		}
	}
	for col, ok := range cols {
		if ok {
			c.columns = append(c.columns, col)
		}
	}
	return c, nil
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.anomalies.Describe(ch)
	for _, d := range c.info {
		ch <- d.desc
	}
	if c.buildInfo != nil {
		ch <- c.buildInfo
	}
	for _, set := range [][]*compiled{c.frontend, c.backend, c.server, c.listener} {
		for _, f := range set {
			ch <- f.desc
		}
	}
	c.modules.describe(ch)
}

// snapshot is what one scrape fetched.
type snapshot struct {
	info  haproxyapi.Info
	stat  *haproxyapi.Stat
	admin map[adminKey]haproxyapi.AdminFlags               // nil when not fetched
	addrs map[haproxyapi.ServerRef]*haproxyapi.ServerState // for haproxy_server_info; nil when not fetched
	mods  moduleData                                       // show table, show resolvers
	agg   map[string]*[5]int                               // aggKey → servers per state (serverStates order)
	skip  []bool                                           // rows not exported (see screen); nil: none
	chk   map[string][]int                                 // aggKey → checked servers per check result (checkStates order)
	// others lists the rows that are not servers' (frontends, backends,
	// listeners), found while counting: sendRows need not look at every
	// server row for each of them. nil: not listed.
	others []int
	// With the process label: the stat's column holding each row's
	// process (-1 without), and every process's show info (info is
	// then their merge, for the labels taken from it).
	procCol    int
	procLabels []string
	infos      []haproxyapi.Info
}

// adminKey is a server in one process ("" for a merged or single view).
type adminKey struct {
	ref  haproxyapi.ServerRef
	proc string
}

// rowProcess returns the row's process label, "" without one.
func (s *snapshot) rowProcess(r int) string {
	if s.procCol < 0 {
		return ""
	}
	return s.stat.String(r, s.procCol)
}

// aggKey is a backend in one process.
func aggKey(backend, proc string) string {
	if proc == "" {
		return backend
	}
	return backend + "\x00" + proc
}

// keep reports whether row r is exported.
func (s *snapshot) keep(r int) bool { return s.skip == nil || !s.skip[r] }

// fetch runs the needed commands concurrently. A failed part leaves its
// field nil; the first error is returned.
func (c *Collector) fetch(ctx context.Context) (*snapshot, error) { return c.fetchLive(ctx, nil) }

// fetchLive is fetch rendering the server families that need nothing but
// their row into live as the rows of show stat arrive (live nil: none).
func (c *Collector) fetchLive(ctx context.Context, live *serverStream) (*snapshot, error) {
	s := &snapshot{procCol: -1}
	needStat := len(c.frontend)+len(c.backend)+len(c.server)+len(c.listener) > 0
	needInfo := len(c.info) > 0 || c.buildInfo != nil || c.modules.node != nil || c.modules.description != nil
	needAddrs := c.client != nil && c.hasKind(serverInfo)
	needState := c.client != nil && (*c.opts.ServersState && c.hasKind(adminState) || needAddrs)
	if c.multi {
		return c.fetchMulti(ctx, needStat, needInfo, needState, needAddrs)
	}
	// No cancellation on the first failure here, unlike the HTTP
	// upstreams: each part feeds its own families, and a failed `show
	// servers state` must not cost the scrape its `show stat` metrics.
	var g errgroup.Group
	if needStat {
		g.Go(func() error {
			st, err := c.fetchStat(ctx, live)
			if err != nil {
				return err
			}
			s.stat = st
			return nil
		})
	}
	if needInfo {
		g.Go(func() error {
			info, err := c.client.ShowInfo(ctx)
			if err != nil {
				return err
			}
			s.info = info
			return nil
		})
	}
	if needState {
		g.Go(func() error {
			ss, err := c.client.ShowServersState(ctx, "")
			if err != nil {
				return err
			}
			if *c.opts.ServersState && c.hasKind(adminState) {
				s.admin = make(map[adminKey]haproxyapi.AdminFlags, len(ss.Servers))
				for _, sv := range ss.Servers {
					s.admin[adminKey{ref: sv.Ref()}] = sv.Admin
				}
			}
			if needAddrs {
				s.addrs = make(map[haproxyapi.ServerRef]*haproxyapi.ServerState, len(ss.Servers))
				for i := range ss.Servers {
					s.addrs[ss.Servers[i].Ref()] = &ss.Servers[i]
				}
			}
			return nil
		})
	}
	c.fetchModules(ctx, &g, c.client, &s.mods)
	err := g.Wait()
	var counted *counts
	if live != nil {
		counted = live.counts
	}
	c.aggregate(s, counted)
	if c.client != nil && errors.Is(err, haproxyapi.ErrResponseTooLarge) {
		err = fmt.Errorf("%w (the module's haproxy.max_response_bytes; raise it if this HAProxy is really that large)", err)
	}
	return s, err
}

// aggregate computes the backends' per-state server counts (taking them
// from live, counted as the rows arrived, when it counted them all and
// screen drops no row).
func (c *Collector) aggregate(s *snapshot, live *counts) {
	if s.info != nil {
		c.screenInfo(s.info)
	}
	if s.stat != nil {
		s.skip = c.screen(s.stat, s.procCol)
		if live != nil && live.rows == s.stat.Rows() && s.skip == nil {
			s.agg, s.chk, s.others = live.agg, live.chk, live.others // counted as the rows came
			return
		}
		g := newCounts(s.stat, s.procCol, c.hasBackendKind(aggCheck))
		g.add(s, s.stat.Rows())
		s.agg, s.chk, s.others = g.agg, g.chk, g.others
	}
}

func (c *Collector) hasKind(k valueKind) bool {
	for _, f := range c.server {
		if f.kind == k {
			return true
		}
	}
	return false
}

func (c *Collector) fetchStat(ctx context.Context, live *serverStream) (*haproxyapi.Stat, error) {
	if c.client != nil {
		o := haproxyapi.StatOptions{Columns: c.columns, SizeHint: int(c.lastSize.Load()), RowsHint: int(c.lastRows.Load())}
		if live != nil {
			o.OnRows = func(st *haproxyapi.Stat, from, to int) {
				s := &snapshot{stat: st, procCol: -1}
				live.render(s, from, to, func(f *compiled) bool { return !deferred(f) })
				if live.counts == nil {
					live.counts = newCounts(st, -1, c.hasBackendKind(aggCheck))
				}
				live.counts.add(s, to)
			}
		}
		st, err := c.client.ShowStatColumns(ctx, haproxyapi.StatFilter{}, o)
		if err == nil {
			c.lastSize.Store(int64(st.Size()))
			c.lastRows.Store(int64(st.Rows()))
			hints.put(c.target.URL, st.Size(), st.Rows())
		}
		return st, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.csvURL, nil)
	if err != nil {
		return nil, err
	}
	if c.auth.Username != "" || c.auth.Password != "" {
		req.SetBasicAuth(c.auth.Username, c.auth.Password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", upstream.RedactURL(c.csvURL), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", upstream.RedactURL(c.csvURL), err)
	}
	if int64(len(body)) > c.opts.MaxResponseBytes {
		return nil, fmt.Errorf("GET %s: %w: more than %d bytes (the module's haproxy.max_response_bytes)", upstream.RedactURL(c.csvURL), haproxyapi.ErrResponseTooLarge, c.opts.MaxResponseBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &upstream.HTTPError{URL: c.csvURL, Status: resp.StatusCode, Body: upstream.Excerpt(body, 120)}
	}
	return haproxyapi.ParseStatColumns(body, c.columns)
}

// aggregate counts each backend's servers per state (per process when
// the snapshot has a process column), leaving out the rows screen dropped.
func aggregate(s *snapshot) map[string]*[5]int {
	g := newCounts(s.stat, s.procCol, false)
	g.add(s, s.stat.Rows())
	return g.agg
}

// counts works out the backends' per-state server counts, and with
// checks their checked servers per check result, row by row: on a single
// socket as the rows of show stat arrive, so that HAProxy's last byte
// leaves nothing to count.
type counts struct {
	agg  map[string]*[5]int
	chk  map[string][]int // nil: not wanted
	rows int              // rows counted so far
	// Per kind: the key of the rows counted last and their counts, the
	// last status (check status) seen and its index.
	keys, ckeys   *rowKeys
	a             *[5]int
	status, check []byte
	idx, cidx     int
	checkCounts   []int
	stc, chkc     int
	others        []int // the rows that are not servers' (a few among thousands)
}

func newCounts(st *haproxyapi.Stat, procCol int, checks bool) *counts {
	g := &counts{agg: map[string]*[5]int{}, keys: newRowKeys(st, procCol), idx: -1, cidx: -1, stc: st.Col("status")}
	if checks {
		g.chk = map[string][]int{}
		g.ckeys = newRowKeys(st, procCol)
		g.chkc = st.Col("check_status")
	}
	return g
}

// add counts the rows of s.stat from the last one counted up to to. The
// Stat may be a later view of the same growing dump.
func (g *counts) add(s *snapshot, to int) {
	st := s.stat
	g.keys.st = st
	if g.ckeys != nil {
		g.ckeys.st = st
	}
	for r := g.rows; r < to; r++ {
		if st.Type(r) != haproxyapi.TypeServer {
			g.others = append(g.others, r)
			continue
		}
		if g.chk != nil {
			g.countCheck(st, r)
		}
		if !s.keep(r) {
			continue
		}
		if name, changed := g.keys.at(r); changed || g.a == nil {
			if g.a = g.agg[name]; g.a == nil {
				g.a = &[5]int{}
				g.agg[name] = g.a
			}
		}
		// Servers of a backend mostly share a status: parse it once.
		if b := st.Bytes(r, g.stc); g.status == nil || !bytes.Equal(b, g.status) {
			g.status, g.idx = b, stateIndex(haproxyapi.ParseStatus(string(b)).State)
			if g.status == nil {
				g.status = []byte{}
			}
		}
		if g.idx >= 0 {
			g.a[g.idx]++
		}
	}
	g.rows = max(g.rows, to)
}

// countCheck counts server row r by its check result (rows screen drops
// included, as aggregateChecks always has).
func (g *counts) countCheck(st *haproxyapi.Stat, r int) {
	if name, changed := g.ckeys.at(r); changed || g.checkCounts == nil {
		if g.checkCounts = g.chk[name]; g.checkCounts == nil {
			g.checkCounts = make([]int, len(checkStates))
			g.chk[name] = g.checkCounts
		}
	}
	// Servers of a backend mostly share a check status: look it up once.
	if b := st.Bytes(r, g.chkc); g.check == nil || !bytes.Equal(b, g.check) {
		g.check, g.cidx = b, slices.Index(checkStates, strings.TrimPrefix(string(b), "* "))
		if g.check == nil {
			g.check = []byte{}
		}
	}
	if g.cidx >= 0 {
		g.checkCounts[g.cidx]++
	}
}

// rowKeys gives each row's aggregation key: its proxy's name, with its
// process under the process label (see aggKey). A backend's servers come
// one after another, so the key is a new string only where it changes.
type rowKeys struct {
	st             *haproxyapi.Stat
	px, proc       int
	lastPx, lastPr []byte
	key            string
	started        bool
}

func newRowKeys(st *haproxyapi.Stat, procCol int) *rowKeys {
	return &rowKeys{st: st, px: st.Col("pxname"), proc: procCol}
}

// at returns row r's key, and whether it differs from the row asked
// before.
func (k *rowKeys) at(r int) (key string, changed bool) {
	p := k.st.Bytes(r, k.px)
	var q []byte
	if k.proc >= 0 {
		q = k.st.Bytes(r, k.proc)
	}
	if k.started && bytes.Equal(p, k.lastPx) && bytes.Equal(q, k.lastPr) {
		return k.key, false
	}
	k.started, k.lastPx, k.lastPr = true, p, q
	k.key = string(p)
	if k.proc >= 0 {
		k.key = aggKey(k.key, string(q))
	}
	return k.key, true
}

func stateIndex(s string) int {
	for i, x := range serverStates {
		if x == s {
			return i
		}
	}
	return -1
}

// Update scrapes HAProxy and sends every family as const metrics.
func (c *Collector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	s, err := c.fetch(ctx)
	c.sendInfo(s, ch)
	c.sendModules(s, ch)
	c.anomalies.Collect(ch)
	if s.stat != nil {
		c.sendRows(s, haproxyapi.TypeFrontend, c.frontend, ch)
		c.sendRows(s, haproxyapi.TypeBackend, c.backend, ch)
		c.sendRows(s, haproxyapi.TypeServer, c.server, ch)
		c.sendRows(s, haproxyapi.TypeListener, c.listener, ch)
	}
	return err
}

// UpdateStream is Update with the server families returned as a stream,
// already compressed (see serverStream). On a single socket the server
// families are rendered while HAProxy dumps show stat, except those that
// need another part of the scrape (show servers state), rendered after.
// A scrape that fails keeps nothing of what was rendered: no server
// family is half there.
func (c *Collector) UpdateStream(ctx context.Context, ch chan<- prometheus.Metric) (expo.Stream, error) {
	var live *serverStream
	if !c.multi && c.client != nil && len(c.server) > 0 {
		live = newServerStream(c, false)
	}
	s, err := c.fetchLive(ctx, live)
	c.sendInfo(s, ch)
	c.sendModules(s, ch)
	c.anomalies.Collect(ch)
	if s.stat == nil {
		live.discard()
		return nil, err
	}
	c.sendRows(s, haproxyapi.TypeFrontend, c.frontend, ch)
	c.sendRows(s, haproxyapi.TypeBackend, c.backend, ch)
	c.sendRows(s, haproxyapi.TypeListener, c.listener, ch)
	if len(c.server) == 0 {
		return nil, err
	}
	ss, pick := live, deferred
	if live == nil || s.skip != nil {
		// Not rendered live, or rows to leave out that only the whole
		// dump shows (duplicate proxies): render every family now.
		live.discard()
		ss, pick = newServerStream(c, s.procCol >= 0), func(*compiled) bool { return true }
	}
	ss.render(s, 0, s.stat.Rows(), pick)
	ss.finish(s)
	return ss, err
}

func (c *Collector) sendInfo(s *snapshot, ch chan<- prometheus.Metric) {
	if s.info == nil {
		return
	}
	if s.infos != nil {
		for i, info := range s.infos {
			c.sendOneInfo(info, s.procLabels[i], ch)
		}
	} else {
		c.sendOneInfo(s.info, "", ch)
	}
	c.sendNode(s, ch)
}

// sendOneInfo sends the process families of one show info (proc: the
// process label's value, "" without the label).
func (c *Collector) sendOneInfo(info haproxyapi.Info, proc string, ch chan<- prometheus.Metric) {
	var lv []string
	if c.opts.DescLabels {
		lv = []string{info["description"]}
	}
	if proc != "" {
		lv = append(lv, proc)
	}
	for _, d := range c.info {
		if v, ok := infoValue(info, d.key); ok {
			ch <- prometheus.MustNewConstMetric(d.desc, d.typ, v, lv...)
		} else if nanIfAbsent[d.key] {
			ch <- prometheus.MustNewConstMetric(d.desc, d.typ, math.NaN(), lv...)
		}
	}
	if c.buildInfo != nil && info["Version"] != "" {
		ch <- prometheus.MustNewConstMetric(c.buildInfo, prometheus.GaugeValue, 1, append([]string{info["Version"]}, lv...)...)
	}
}

// sendRows sends the families of one row type as const metrics.
func (c *Collector) sendRows(s *snapshot, typ haproxyapi.RowType, fams []*compiled, ch chan<- prometheus.Metric) {
	if len(fams) == 0 {
		return
	}
	st := s.stat
	cols := resolveColumns(st, fams)
	px, sv := st.Col("pxname"), st.Col("svname")
	skip := c.serverFilter(st)
	var infoSeen map[haproxyapi.ServerRef]bool // haproxy_server_info once per server
	if s.procCol >= 0 {
		infoSeen = map[haproxyapi.ServerRef]bool{}
	}
	// The proxy rows are listed (a few among thousands); servers are
	// every other row.
	listed := typ != haproxyapi.TypeServer && s.others != nil
	n := st.Rows()
	if listed {
		n = len(s.others)
	}
	for k := 0; k < n; k++ {
		r := k
		if listed {
			r = s.others[k]
		}
		if st.Type(r) != typ || !s.keep(r) || (typ == haproxyapi.TypeServer && skip(r)) {
			continue
		}
		vars := []string{st.String(r, px)}
		if typ == haproxyapi.TypeServer || typ == haproxyapi.TypeListener {
			vars = append(vars, st.String(r, sv))
		}
		if s.procCol >= 0 {
			vars = append(vars, s.rowProcess(r))
		}
		for i, f := range fams {
			if f.kind == serverInfo {
				if infoSeen != nil {
					ref := haproxyapi.ServerRef{Backend: vars[0], Server: vars[1]}
					if infoSeen[ref] {
						continue
					}
					infoSeen[ref] = true
				}
				if sv, ok := s.serverInfo(vars); ok {
					ch <- prometheus.MustNewConstMetric(f.desc, f.typ, 1, vars[0], vars[1], sv.Addr, infoPort(sv), sv.FQDN)
				}
				continue
			}
			rowSamples(s, r, f, cols[i], vars, func(extra string, v float64) {
				lv := vars
				if extra != "" {
					lv = append(append(make([]string, 0, len(vars)+1), vars...), extra)
				}
				ch <- prometheus.MustNewConstMetric(f.desc, f.typ, v, lv...)
			})
		}
	}
}

// columns holds a family's resolved CSV positions.
type columns struct {
	main int
	http [6]int
	mode int // "mode" column for http_* families (HTTP-only in promex), else -1
}

func resolveColumns(st *haproxyapi.Stat, fams []*compiled) []columns {
	out := make([]columns, len(fams))
	for i, f := range fams {
		out[i].main, out[i].mode, out[i].http = -1, -1, [6]int{-1, -1, -1, -1, -1, -1}
		if strings.HasPrefix(f.name, "http_") {
			out[i].mode = st.Col("mode")
		}
		if f.col != "" {
			out[i].main = st.Col(f.col)
		}
		if f.kind == httpCodes {
			for j, hc := range httpClasses {
				out[i].http[j] = st.Col(hc.col)
			}
		}
		if f.kind == checkCode || f.kind == checkState {
			out[i].http[0] = st.Col("check_status")
		}
	}
	return out
}

// rowSamples computes one family's samples for one row. extra is the value
// of the family's extra label (state or code), "" for plain families.
// Both exposition paths go through here (the stream only short-cuts plain
// integer fields), so they agree by construction.
func rowSamples(s *snapshot, r int, f *compiled, col columns, vars []string, emit func(extra string, v float64)) {
	st := s.stat
	if col.mode >= 0 {
		// Like HAProxy's exporter: HTTP families only for HTTP proxies
		// (tcp-mode rows print zeros for the compression counters).
		if m := st.Bytes(r, col.mode); len(m) > 0 && string(m) != "http" {
			return
		}
	}
	switch f.kind {
	case plain, nanIfEmpty:
		v, ok := st.Float(r, col.main)
		if !ok {
			if f.kind == nanIfEmpty && col.main >= 0 {
				emit("", math.NaN())
			}
			return
		}
		emit("", v*f.scale)
	case statusState:
		if col.main < 0 {
			return
		}
		cur := haproxyapi.ParseStatus(string(st.Bytes(r, col.main))).State
		for _, state := range f.states {
			emit(state, b2f(state == cur))
		}
	case checkState:
		raw := bytes.TrimPrefix(st.Bytes(r, col.main), []byte("* "))
		if len(raw) == 0 {
			return
		}
		for _, state := range f.states {
			emit(state, b2f(state == string(raw)))
		}
	case checkCode:
		if len(st.Bytes(r, col.http[0])) == 0 {
			return // no health check configured (or paused)
		}
		v, _ := st.Float(r, col.main)
		emit("", v)
	case httpCodes:
		for j, hc := range httpClasses {
			if v, ok := st.Float(r, col.http[j]); ok {
				emit(hc.code, v)
			}
		}
	case aggState:
		a := s.agg[aggKey(vars[0], s.rowProcess(r))]
		if a == nil {
			return // promex: only backends with servers
		}
		for i, state := range f.states {
			emit(state, float64(a[i]))
		}
	case aggCheck:
		counts := s.chk[aggKey(vars[0], s.rowProcess(r))]
		if counts == nil {
			return // promex: only backends with servers
		}
		for i, state := range f.states {
			emit(state, float64(counts[i]))
		}
	case listenerState:
		raw := string(st.Bytes(r, col.main))
		if raw == "" {
			return
		}
		for _, state := range f.states {
			emit(state, b2f(state == raw))
		}
	case modeInfo:
		if m := st.String(r, col.main); m != "" {
			emit(m, 1)
		}
	case extraCounter:
		if v, ok := st.Float(r, col.main); ok {
			emit(f.states[0], v)
		}
	case adminState:
		if s.admin == nil {
			return
		}
		flags, ok := s.admin[adminKey{ref: haproxyapi.ServerRef{Backend: vars[0], Server: vars[1]}, proc: s.rowProcess(r)}]
		if !ok {
			return
		}
		cur := string(flags.State())
		for _, state := range f.states {
			emit(state, b2f(state == cur))
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// hints remembers each socket's last dump size across collectors: /probe
// builds a new collector per request, and knowing the size up front saves
// growing (and copying) buffers for a large HAProxy.
var hints = &sizeHints{m: map[string][2]int{}}

type sizeHints struct {
	mu sync.Mutex
	m  map[string][2]int
}

// maxHints bounds the cache; /probe targets come from requests.
const maxHints = 4096

func (h *sizeHints) get(url string) (size, rows int, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[url]
	return v[0], v[1], ok
}

func (h *sizeHints) put(url string, size, rows int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.m[url]; !ok && len(h.m) >= maxHints {
		clear(h.m)
	}
	h.m[url] = [2]int{size, rows}
}
