package haproxy

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
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
	http   *http.Client       // stats page targets
	csvURL string
	auth   upstream.Auth // stats page basic auth

	info      []infoDesc
	buildInfo *prometheus.Desc
	frontend  []*compiled
	backend   []*compiled
	server    []*compiled

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
	} else {
		cl, err := haproxyapi.New(t.URL)
		if err != nil {
			return nil, err
		}
		c.client = cl
		if size, rows, ok := hints.get(t.URL); ok {
			c.lastSize.Store(int64(size))
			c.lastRows.Store(int64(rows))
		}
	}
	cl := t.Labels
	if opts.hasScope(ScopeProcess) && c.client != nil {
		for _, f := range infoFamilies {
			name := "haproxy_process_" + f.name
			if opts.wanted(name) {
				c.info = append(c.info, infoDesc{key: f.key, typ: f.typ, desc: prometheus.NewDesc(name, f.help, nil, cl)})
			}
		}
		if opts.wanted("haproxy_process_build_info") {
			c.buildInfo = prometheus.NewDesc("haproxy_process_build_info", "HAProxy version, as a label; the value is 1.", []string{"version"}, cl)
		}
	}
	compile := func(scope string, fams []family, vars []string) []*compiled {
		if !opts.hasScope(scope) {
			return nil
		}
		var out []*compiled
		for _, f := range fams {
			fq := "haproxy_" + scope + "_" + f.name
			if !opts.wanted(fq) {
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
			case checkState:
				cf.states = checkStates
				labels = append(append([]string(nil), vars...), "state")
			case adminState:
				cf.states = adminStates
				labels = append(append([]string(nil), vars...), "state")
			case httpCodes:
				labels = append(append([]string(nil), vars...), "code")
			}
			cf.desc = prometheus.NewDesc(fq, f.help, labels, cl)
			out = append(out, cf)
		}
		return out
	}
	c.frontend = compile(ScopeFrontend, frontendFamilies, []string{"proxy"})
	c.backend = compile(ScopeBackend, backendFamilies, []string{"proxy"})
	c.server = compile(ScopeServer, serverFamilies, []string{"proxy", "server"})
	cols := map[string]bool{"status": true, "check_status": true, "mode": true, "iid": true}
	for _, set := range [][]*compiled{c.frontend, c.backend, c.server} {
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
	for _, set := range [][]*compiled{c.frontend, c.backend, c.server} {
		for _, f := range set {
			ch <- f.desc
		}
	}
}

// snapshot is what one scrape fetched.
type snapshot struct {
	info  haproxyapi.Info
	stat  *haproxyapi.Stat
	admin map[haproxyapi.ServerRef]haproxyapi.AdminFlags // nil when not fetched
	agg   map[string]*[5]int                             // backend → servers per state (serverStates order)
	skip  []bool                                         // rows not exported (see screen); nil: none
}

// keep reports whether row r is exported.
func (s *snapshot) keep(r int) bool { return s.skip == nil || !s.skip[r] }

// fetch runs the needed commands concurrently. A failed part leaves its
// field nil; the first error is returned.
func (c *Collector) fetch(ctx context.Context) (*snapshot, error) {
	s := &snapshot{}
	needStat := len(c.frontend)+len(c.backend)+len(c.server) > 0
	needInfo := len(c.info) > 0 || c.buildInfo != nil
	needState := c.client != nil && *c.opts.ServersState && c.hasAdminFamily()
	// No cancellation on the first failure here, unlike the HTTP
	// upstreams: each part feeds its own families, and a failed `show
	// servers state` must not cost the scrape its `show stat` metrics.
	var g errgroup.Group
	if needStat {
		g.Go(func() error {
			st, err := c.fetchStat(ctx)
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
			s.admin = make(map[haproxyapi.ServerRef]haproxyapi.AdminFlags, len(ss.Servers))
			for _, sv := range ss.Servers {
				s.admin[sv.Ref()] = sv.Admin
			}
			return nil
		})
	}
	err := g.Wait()
	if s.info != nil {
		c.screenInfo(s.info)
	}
	if s.stat != nil {
		s.skip = c.screen(s.stat)
		s.agg = aggregate(s)
	}
	return s, err
}

func (c *Collector) hasAdminFamily() bool {
	for _, f := range c.server {
		if f.kind == adminState {
			return true
		}
	}
	return false
}

func (c *Collector) fetchStat(ctx context.Context) (*haproxyapi.Stat, error) {
	if c.client != nil {
		st, err := c.client.ShowStatColumns(ctx, haproxyapi.StatFilter{}, haproxyapi.StatOptions{
			Columns: c.columns, SizeHint: int(c.lastSize.Load()), RowsHint: int(c.lastRows.Load()),
		})
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
	body, err := io.ReadAll(io.LimitReader(resp.Body, haproxyapi.DefaultMaxResponse))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", upstream.RedactURL(c.csvURL), err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &upstream.HTTPError{URL: c.csvURL, Status: resp.StatusCode, Body: upstream.Excerpt(body, 120)}
	}
	return haproxyapi.ParseStatColumns(body, c.columns)
}

// aggregate counts each backend's servers per state.
func aggregate(s *snapshot) map[string]*[5]int {
	st := s.stat
	agg := map[string]*[5]int{}
	px, stc := st.Col("pxname"), st.Col("status")
	for r := 0; r < st.Rows(); r++ {
		if st.Type(r) != haproxyapi.TypeServer || !s.keep(r) {
			continue
		}
		name := st.String(r, px)
		a := agg[name]
		if a == nil {
			a = &[5]int{}
			agg[name] = a
		}
		if i := stateIndex(haproxyapi.ParseStatus(string(st.Bytes(r, stc))).State); i >= 0 {
			a[i]++
		}
	}
	return agg
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
	c.anomalies.Collect(ch)
	if s.stat != nil {
		c.sendRows(s, haproxyapi.TypeFrontend, c.frontend, ch)
		c.sendRows(s, haproxyapi.TypeBackend, c.backend, ch)
		c.sendRows(s, haproxyapi.TypeServer, c.server, ch)
	}
	return err
}

// UpdateStream is Update with the server families returned as a stream.
func (c *Collector) UpdateStream(ctx context.Context, ch chan<- prometheus.Metric) (expo.Stream, error) {
	s, err := c.fetch(ctx)
	c.sendInfo(s, ch)
	c.anomalies.Collect(ch)
	if s.stat == nil {
		return nil, err
	}
	c.sendRows(s, haproxyapi.TypeFrontend, c.frontend, ch)
	c.sendRows(s, haproxyapi.TypeBackend, c.backend, ch)
	if len(c.server) == 0 {
		return nil, err
	}
	return newServerStream(c, s), err
}

func (c *Collector) sendInfo(s *snapshot, ch chan<- prometheus.Metric) {
	if s.info == nil {
		return
	}
	for _, d := range c.info {
		if v, ok := infoValue(s.info, d.key); ok {
			ch <- prometheus.MustNewConstMetric(d.desc, d.typ, v)
		}
	}
	if c.buildInfo != nil && s.info["Version"] != "" {
		ch <- prometheus.MustNewConstMetric(c.buildInfo, prometheus.GaugeValue, 1, s.info["Version"])
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
	for r := 0; r < st.Rows(); r++ {
		if st.Type(r) != typ || !s.keep(r) {
			continue
		}
		vars := []string{st.String(r, px)}
		if typ == haproxyapi.TypeServer {
			vars = append(vars, st.String(r, sv))
		}
		for i, f := range fams {
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
		out[i].main, out[i].mode = -1, -1
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
		raw := strings.TrimPrefix(string(st.Bytes(r, col.main)), "* ")
		if raw == "" {
			return
		}
		for _, state := range f.states {
			emit(state, b2f(state == raw))
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
		a := s.agg[vars[0]]
		if a == nil {
			a = &[5]int{}
		}
		for i, state := range f.states {
			emit(state, float64(a[i]))
		}
	case adminState:
		if s.admin == nil {
			return
		}
		flags, ok := s.admin[haproxyapi.ServerRef{Backend: vars[0], Server: vars[1]}]
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
