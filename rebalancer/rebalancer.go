package rebalancer

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
	"github.com/lbpilot/lbpilot/internal/lograte"
)

// Options configure a Rebalancer.
type Options struct {
	// Config is a completed configuration (Default, Parse or LoadFile).
	Config *Config
	// Sockets overrides the sockets built from Config.HAProxy.Sockets (tests).
	Sockets []Socket
	// Alertmanager overrides the API client built from Config.Alertmanager (tests).
	Alertmanager AlertSource
	// Registry receives the rebalancer's metrics; nil creates one.
	Registry *prometheus.Registry
	// DisableExporterMetrics leaves out go_* and process_* metrics.
	DisableExporterMetrics bool
	Logger                 log.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// Load reads the configuration again for Reload (SIGHUP, POST
	// /-/reload): the file with the command line's flags laid over it.
	// Nil: reloading is refused.
	Load func() (*Config, error)
}

// Rebalancer receives alerts and keeps HAProxy in line with them.
type Rebalancer struct {
	cfg     *Config
	rules   []*Rule
	store   *Store
	sockets []Socket
	am      AlertSource
	auth    *BearerAuth
	logger  log.Logger
	reg     *prometheus.Registry
	m       *metrics
	now     func() time.Time
	dryRun  bool
	hist    *History
	csrf    *csrfToken

	load         func() (*Config, error)
	cfgMu        sync.RWMutex // cfg, rules and am: swapped by Reload; readers outside a cycle lock it
	socketsGiven bool
	amGiven      bool

	rejectLog *lograte.Limiter // alert rejections: a line per reason and minute
	refuseLog *lograte.Limiter // webhook requests refused: a line per answer code and minute

	cycleMu sync.Mutex // one reconcile cycle at a time
	kick    chan struct{}

	viewMu    sync.Mutex
	sockState map[string]*socketStatus
	servers   map[string]*serverIndex    // per socket: its servers at the last cycle that read them
	reported  map[string]map[string]bool // per socket: log-once keys seen in the last cycle
	lastCycle time.Time
	lastOK    bool
	nextWake  time.Time
	amStarted time.Time
	progress  map[string]*MaintProgress // graceful maintenances under way, by ownKey
}

type socketStatus struct {
	Up       bool       `json:"up"`
	Error    string     `json:"error,omitempty"`
	Pid      int        `json:"pid,omitempty"`
	SeenAt   time.Time  `json:"seen_at,omitzero"`
	Deferred []Deferral `json:"deferred"`

	// servers is the last `show servers state` (read-back when there was
	// one), alerts the fingerprints acting on each server: the server view.
	servers *haproxyapi.ServersState
	alerts  map[haproxyapi.ServerRef][]string
}

// New builds a rebalancer and loads its state file.
func New(o Options) (*Rebalancer, error) {
	if o.Config == nil {
		return nil, fmt.Errorf("rebalancer: no configuration")
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg := o.Config
	r := &Rebalancer{
		cfg: cfg, rules: cfg.CompiledRules(), logger: o.Logger, now: o.Now, dryRun: cfg.Rebalancer.DryRun,
		rejectLog: lograte.New(lograte.DefaultPeriod), refuseLog: lograte.New(lograte.DefaultPeriod),
		kick: make(chan struct{}, 1), sockState: map[string]*socketStatus{}, reported: map[string]map[string]bool{}, servers: map[string]*serverIndex{},
		load: o.Load, socketsGiven: o.Sockets != nil, amGiven: o.Alertmanager != nil,
	}
	sockets := o.Sockets
	if sockets == nil {
		for _, addr := range cfg.HAProxy.Sockets {
			s, err := NewSocket(addr, haproxyapi.WithTimeout(cfg.HAProxy.Timeout))
			if err != nil {
				return nil, err
			}
			sockets = append(sockets, s)
		}
	}
	if len(sockets) == 0 {
		return nil, fmt.Errorf("no HAProxy socket configured (--haproxy.socket or haproxy.sockets)")
	}
	for _, s := range sockets {
		if r.dryRun {
			s = newDryRunSocket(s)
		}
		r.sockets = append(r.sockets, s)
		r.sockState[s.Name()] = &socketStatus{}
	}
	r.am = o.Alertmanager
	if r.am == nil && cfg.Alertmanager.URL != "" {
		am, err := NewAlertmanagerClient(cfg.Alertmanager)
		if err != nil {
			return nil, err
		}
		r.am = am
	}
	if cfg.Rebalancer.BearerTokenFile != "" {
		a, err := NewBearerAuth(cfg.Rebalancer.BearerTokenFile, o.Logger)
		if err != nil {
			return nil, err
		}
		r.auth = a
	}
	if r.dryRun {
		// A dry run reads the state file (to plan like the real thing) but
		// never writes it.
		st, err := OpenStore(cfg.Rebalancer.StateFile)
		if err != nil {
			return nil, err
		}
		r.store = NewMemoryStore(st.st)
	} else {
		st, err := OpenStore(cfg.Rebalancer.StateFile)
		if err != nil {
			return nil, err
		}
		r.store = st
	}
	histPath := cfg.Rebalancer.HistoryPath()
	if r.dryRun {
		histPath = "" // a dry run writes no file
	}
	hist, err := OpenHistory(histPath, cfg.Rebalancer.HistoryMaxBytes, cfg.Rebalancer.HistoryMaxAge, o.Now)
	if err != nil {
		return nil, err
	}
	r.hist = hist
	if r.csrf, err = newCSRFToken(); err != nil {
		return nil, err
	}
	r.store.SetMaxAlerts(cfg.Rebalancer.MaxAlerts)
	r.reg = o.Registry
	if r.reg == nil {
		r.reg = prometheus.NewRegistry()
	}
	r.m = newMetrics(r.reg, r)
	r.reg.MustRegister(versioncollector.NewCollector("lbpilot"))
	if !o.DisableExporterMetrics {
		r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	r.logStartup()
	return r, nil
}

func (r *Rebalancer) logStartup() {
	var names []string
	for _, s := range r.sockets {
		names = append(names, s.Name())
	}
	var nAlerts, nOwned, nReleased int
	var orphans []string
	r.store.View(func(st *State) {
		nAlerts, nOwned, nReleased = len(st.Alerts), len(st.Owned), len(st.Released)
		for _, o := range st.Owned {
			if _, ok := r.sockState[o.Socket]; !ok {
				orphans = append(orphans, o.Socket+" "+o.ref().String())
			}
		}
	})
	level.Info(r.logger).Log("msg", "Rebalancer ready", "sockets", strings.Join(names, ","), "state_file", r.store.Path(), "dry_run", r.dryRun,
		"alerts", nAlerts, "owned", nOwned, "released", nReleased, "alertmanager", r.cfg.Alertmanager.URL != "")
	for _, rule := range r.rules {
		level.Info(r.logger).Log("msg", "Rule", "rule", rule.Describe())
	}
	for _, o := range orphans {
		level.Warn(r.logger).Log("msg", "State file owns a server on a socket that is no longer configured; it will not be restored until that socket is configured again", "server", o)
	}
}

// Registry is the rebalancer's metrics registry.
func (r *Rebalancer) Registry() *prometheus.Registry { return r.reg }

// Kick asks the loop for a cycle soon (coalesced).
func (r *Rebalancer) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Record implements Intake: classify every alert by its own status,
// merge, and make the result durable before returning.
func (r *Rebalancer) Record(_ context.Context, msg *Message) (Summary, error) {
	now := r.now()
	sum := Summary{Alerts: len(msg.Alerts)}
	cfg, rules := r.currentConfig()
	if msg.TruncatedAlerts > 0 {
		r.m.truncated.Add(float64(msg.TruncatedAlerts))
		level.Warn(r.logger).Log("msg", "Alertmanager truncated this notification (max_alerts); the missing alerts are never delivered. Set max_alerts: 0 on the rebalancer receiver", "group_key", msg.GroupKey, "truncated", msg.TruncatedAlerts)
	}
	obs := make([]Observation, 0, len(msg.Alerts))
	var tooLarge []*Rejection
	for _, a := range msg.Alerts {
		r.m.alertsReceived.WithLabelValues(statusLabel(a.Status)).Inc()
		o, rej := classify(rules, a, SourceWebhook)
		if rej == nil && o.Status == StatusFiring && !r.resolvesToServer(o) {
			rej = &Rejection{Fingerprint: o.Fingerprint, Status: o.Status, Rule: o.Rule, Reason: ReasonNoServer,
				Err: fmt.Errorf("no HAProxy socket has the server it names; not stored (a later notification is taken once the server exists)")}
		}
		if rej != nil {
			sum.Ignored++
			if rej.Reason == ReasonLabelsTooLarge {
				r.m.alertsIgnored.WithLabelValues(rej.Reason).Inc()
				tooLarge = append(tooLarge, rej)
				continue
			}
			r.reject(rej, msg.GroupKey)
			continue
		}
		obs = append(obs, o)
	}
	if len(tooLarge) > 0 {
		// One line per notification: the count says how many, the first
		// says why.
		level.Warn(r.logger).Log("msg", "Alerts with oversized labels refused", "refused", len(tooLarge), "first_fingerprint", tooLarge[0].Fingerprint, "err", tooLarge[0].Err,
			"max_labels", MaxAlertLabels, "max_label_bytes", MaxAlertLabelBytes, "group_key", clip(msg.GroupKey, 256))
	}
	res := r.store.Observe(obs, now, cfg.MassResolve)
	sum.Recorded, sum.Unchanged, sum.Stale = res.Changed, res.Unchanged, res.Stale
	sum.Ignored += res.NotTracked + res.OverCap
	r.m.alertsIgnored.WithLabelValues(ReasonStale).Add(float64(res.Stale))
	r.m.alertsIgnored.WithLabelValues(ReasonNotTracked).Add(float64(res.NotTracked))
	if res.OverCap > 0 {
		r.m.alertsIgnored.WithLabelValues(ReasonTooManyAlerts).Add(float64(res.OverCap))
		level.Warn(r.logger).Log("msg", "Tracking the maximum number of alerts; new ones refused", "refused", res.OverCap, "max_alerts", cfg.Rebalancer.MaxAlerts, "group_key", clip(msg.GroupKey, 256))
	}
	r.logTransitions(res, cfg)
	if err := r.store.Sync(res.Seq); err != nil {
		r.m.stateWriteFails.Inc()
		return sum, fmt.Errorf("%w: %v", errPersist, err)
	}
	if res.Changed > 0 {
		r.Kick()
	}
	return sum, nil
}

// resolvesToServer reports whether a firing observation names a server
// some socket has. It only says no when every socket has been read and
// none has it: an alert that can never act is not stored (nor written to
// the state file); before the first read, or with a socket down, it is.
func (r *Rebalancer) resolvesToServer(o Observation) bool {
	r.viewMu.Lock()
	ixs := make([]*serverIndex, 0, len(r.servers))
	for _, ix := range r.servers {
		ixs = append(ixs, ix)
	}
	r.viewMu.Unlock()
	if len(ixs) < len(r.sockets) {
		return true
	}
	rec := []*AlertRecord{{Fingerprint: o.Fingerprint, Labels: o.Labels, Status: o.Status, StartsAt: o.StartsAt}}
	for _, ix := range ixs {
		if desires, _ := Plan(r.rules, rec, ix); len(desires) > 0 {
			return true
		}
	}
	return false
}

func statusLabel(s string) string {
	if s == StatusFiring || s == StatusResolved {
		return s
	}
	return "invalid"
}

// reject counts a refused alert and logs it, at most one line per reason
// and minute (a notification of 1,000 bad alerts is one line, its count
// in the metric and the next line's similar_since_last).
func (r *Rebalancer) reject(rej *Rejection, groupKey string) {
	r.m.alertsIgnored.WithLabelValues(rej.Reason).Inc()
	ok, held := r.rejectLog.Allow(rej.Reason)
	if !ok {
		return
	}
	kv := []any{"fingerprint", rej.Fingerprint, "status", rej.Status, "rule", rej.Rule, "reason", rej.Reason, "group_key", clip(groupKey, 256), "similar_since_last", held}
	if rej.Err != nil {
		kv = append(kv, "err", rej.Err)
	}
	switch {
	case rej.Reason == ReasonNoRule:
		level.Info(r.logger).Log(append([]any{"msg", "Alert matches no rule; ignored"}, kv...)...)
	default:
		level.Warn(r.logger).Log(append([]any{"msg", "Alert rejected"}, kv...)...)
	}
}

func (r *Rebalancer) logTransitions(res ObserveResult, cfg *Config) {
	hist := make([]HistoryEntry, 0, len(res.Transitions))
	for _, t := range res.Transitions {
		level.Info(r.logger).Log("msg", "Alert "+t.To, "fingerprint", t.Fingerprint, "rule", t.Rule, "from", orNone(t.From), "to", t.To, "source", t.Source)
		hist = append(hist, HistoryEntry{Kind: HistAlertReceived, Actor: Actor{Type: ActorAlert, Rule: t.Rule, Fingerprints: []string{t.Fingerprint}},
			Result: t.To, Detail: "from " + orNone(t.From) + " via " + t.Source})
	}
	r.history(hist...)
	if res.MassHeld > 0 {
		r.m.massResolves.Add(float64(res.MassHeld))
		level.Warn(r.logger).Log("msg", "Many alerts resolved at once (Prometheus stopped sending?); holding their restores", "resolved", res.MassHeld,
			"min_alerts", *cfg.MassResolve.MinAlerts, "window", cfg.MassResolve.Window, "grace", cfg.MassResolve.Grace)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// flushDelay is how long the loop waits, after a cycle, before writing
// what the cycle left unwritten (see reconcile): long enough that a burst
// of webhooks does not queue behind it, short enough to keep the file fresh.
const flushDelay = 200 * time.Millisecond

// Run reconciles at once, then every reconcile interval, after every
// webhook that changed something, and when a hold expires, until ctx ends.
// The final state is written on the way out.
func (r *Rebalancer) Run(ctx context.Context) error {
	cfg, _ := r.currentConfig()
	interval := cfg.Rebalancer.ReconcileInterval
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	flush := time.NewTimer(time.Hour)
	defer flush.Stop()
	refresh := true
	for {
		_ = r.reconcile(ctx, refresh, false)
		if cfg, _ := r.currentConfig(); cfg.Rebalancer.ReconcileInterval != interval {
			interval = cfg.Rebalancer.ReconcileInterval // reloaded
			ticker.Reset(interval)
		}
		flush.Reset(flushDelay)
		r.viewMu.Lock()
		next := r.nextWake
		r.viewMu.Unlock()
		if !next.IsZero() {
			wake.Reset(max(time.Until(next), 0) + 10*time.Millisecond)
		}
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				_ = r.flush()
				return nil
			case <-flush.C:
				_ = r.flush()
			case <-ticker.C:
				refresh, waiting = true, false
			case <-r.kick:
				refresh, waiting = false, false
			case <-wake.C:
				refresh, waiting = false, false
			}
		}
	}
}

// Mux serves the rebalancer's HTTP API: POST /api/v1/alerts, GET
// /api/v1/state, the operator endpoints (csrf, history, pause, resume,
// servers/…/drain|maint|ready|weight|release, proposals/…/approve|reject),
// the metrics, /-/healthy, /-/ready, and the operator page at "/".
func (r *Rebalancer) Mux(telemetryPath string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/api/v1/alerts", WebhookHandler(r, r.auth, r.m, r.logger, r.refuseLog))
	mux.Handle("/api/v1/state", StateHandler(r, r.auth))
	mux.Handle("/api/v1/csrf", r.opHandler(http.MethodGet, r.serveCSRF))
	mux.Handle("/api/v1/history", r.opHandler(http.MethodGet, r.serveHistory))
	mux.Handle("/api/v1/pause", r.opHandler(http.MethodPost, r.servePause))
	mux.Handle("/api/v1/resume", r.opHandler(http.MethodPost, r.serveResume))
	mux.Handle("/api/v1/servers/{backend}/{server}/{action}", r.opHandler(http.MethodPost, r.serveManual))
	mux.Handle("/api/v1/proposals/{id}/{verb}", r.opHandler(http.MethodPost, r.serveDecision))
	mux.Handle("/-/reload", r.opHandler(http.MethodPost, r.serveReload))
	mux.Handle("/api/v1/", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// Every other API path: a JSON 404 like the endpoints' own.
		if !r.auth.Allow(req) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lbpilot rebalancer"`)
			writeJSON(w, http.StatusUnauthorized, &apiError{Msg: "missing or wrong bearer token"})
			return
		}
		writeJSON(w, http.StatusNotFound, &apiError{Msg: "no such endpoint: " + clip(req.URL.Path, 80)})
	}))
	mux.Handle(telemetryPath, promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	ok := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("OK\n"))
	})
	mux.Handle("/-/healthy", ok)
	mux.Handle("/-/ready", ok)
	r.mountPage(mux, telemetryPath)
	return mux
}

func (r *Rebalancer) deferredCount() int {
	r.viewMu.Lock()
	defer r.viewMu.Unlock()
	n := 0
	for _, s := range r.sockState {
		n += len(s.Deferred)
	}
	return n
}
