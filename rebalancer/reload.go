package rebalancer

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-kit/log/level"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// Reload re-reads the configuration (Options.Load), validates it and
// swaps it in between two reconcile cycles. A configuration that does not
// load, or that changes what cannot change safely while running, is
// refused as a whole: the running one stays, and
// lbpilot_config_last_reload_successful reads 0.
//
// What a reload may change: rules, guard, mass_resolve, the loop's
// timings, min_hold, approve, proposal_ttl, the Alertmanager settings
// (not whether it is used), and the socket list while the rebalancer owns
// and holds no server. What it may not: the state file, the history file,
// dry_run, the bearer token file (its content is re-read by itself), and
// the sockets while servers are owned or held.
func (r *Rebalancer) Reload() error {
	start := time.Now()
	err := r.reload()
	if err != nil {
		r.m.reload.Record(err)
		level.Error(r.logger).Log("msg", "Configuration reload refused; the running configuration stays", "err", err)
		r.history(HistoryEntry{Kind: HistReload, Actor: Actor{Type: ActorSystem}, Result: ResultError, Detail: err.Error()})
		return err
	}
	r.m.reload.Record(nil)
	level.Info(r.logger).Log("msg", "Configuration reloaded", "duration_seconds", time.Since(start).Seconds())
	r.history(HistoryEntry{Kind: HistReload, Actor: Actor{Type: ActorSystem}, Result: ResultSuccess, Detail: "configuration reloaded"})
	r.Kick()
	return nil
}

func (r *Rebalancer) reload() error {
	if r.load == nil {
		return fmt.Errorf("no configuration file to reload")
	}
	cfg, err := r.load()
	if err != nil {
		return err
	}
	r.cycleMu.Lock()
	defer r.cycleMu.Unlock()
	old := r.cfg
	orb, nrb := &old.Rebalancer, &cfg.Rebalancer
	restart := func(key string) error {
		return fmt.Errorf("%s cannot change on reload (restart the rebalancer to change it)", key)
	}
	switch {
	case orb.StateFile != nrb.StateFile:
		return restart("rebalancer.state_file")
	case orb.HistoryPath() != nrb.HistoryPath():
		return restart("rebalancer.history_file")
	case orb.DryRun != nrb.DryRun:
		return restart("rebalancer.dry_run")
	case orb.BearerTokenFile != nrb.BearerTokenFile:
		return restart("rebalancer.bearer_token_file")
	case (old.Alertmanager.URL == "") != (cfg.Alertmanager.URL == ""):
		return restart("whether alertmanager.url is set")
	}
	var sockets []Socket
	if !sameSockets(old.HAProxy.Sockets, cfg.HAProxy.Sockets) || old.HAProxy.Timeout != cfg.HAProxy.Timeout {
		if r.socketsGiven {
			return fmt.Errorf("haproxy.sockets: this rebalancer was started with sockets of its caller; they cannot change on reload")
		}
		if n, which := r.ownedOrHeld(); n > 0 {
			return fmt.Errorf("haproxy.sockets (or haproxy.timeout) cannot change while the rebalancer owns or holds %d server(s) (%s): release or restore them first, or restart", n, which)
		}
		for _, addr := range cfg.HAProxy.Sockets {
			s, err := NewSocket(addr, haproxyapi.WithTimeout(cfg.HAProxy.Timeout))
			if err != nil {
				return err
			}
			sockets = append(sockets, s)
		}
		if len(sockets) == 0 {
			return fmt.Errorf("haproxy.sockets: no socket left")
		}
	}
	var am AlertSource
	if cfg.Alertmanager.URL != "" && !r.amGiven {
		c, err := NewAlertmanagerClient(cfg.Alertmanager)
		if err != nil {
			return err
		}
		am = c
	}

	// Everything checked: swap.
	r.cfgMu.Lock()
	r.cfg, r.rules = cfg, cfg.CompiledRules()
	r.store.SetMaxAlerts(cfg.Rebalancer.MaxAlerts)
	if am != nil {
		r.am = am
	}
	r.cfgMu.Unlock()
	if sockets != nil {
		r.viewMu.Lock()
		r.sockets = r.sockets[:0:0]
		r.sockState = map[string]*socketStatus{}
		for _, s := range sockets {
			r.sockets = append(r.sockets, s)
			r.sockState[s.Name()] = &socketStatus{}
		}
		r.viewMu.Unlock()
	}
	for _, rule := range r.rules {
		level.Info(r.logger).Log("msg", "Rule", "rule", rule.Describe())
	}
	return nil
}

func sameSockets(a, b []string) bool {
	norm := func(xs []string) []string {
		out := make([]string, 0, len(xs))
		for _, x := range xs {
			if ad, err := haproxyapi.ParseAddress(x); err == nil {
				x = ad.String()
			}
			out = append(out, x)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(norm(a), norm(b))
}

// ownedOrHeld counts the servers the rebalancer owns or an operator holds.
func (r *Rebalancer) ownedOrHeld() (int, string) {
	var names []string
	r.store.View(func(st *State) {
		for _, o := range st.Owned {
			names = append(names, o.ref().String()+" on "+o.Socket)
		}
		if st.Operator != nil {
			for k := range st.Operator.Holds {
				names = append(names, k+" (held)")
			}
		}
	})
	slices.Sort(names)
	n := len(names)
	if len(names) > 5 {
		names = append(names[:5], "…")
	}
	return n, strings.Join(names, ", ")
}

// serveReload is POST /-/reload.
func (r *Rebalancer) serveReload(*http.Request) (any, error) {
	if err := r.Reload(); err != nil {
		return nil, &apiError{Code: http.StatusInternalServerError, Msg: "failed to reload config: " + err.Error()}
	}
	return map[string]string{"result": "reloaded"}, nil
}

// currentConfig returns the configuration and rules in force (a reload
// may swap them between two calls).
func (r *Rebalancer) currentConfig() (*Config, []*Rule) {
	r.cfgMu.RLock()
	defer r.cfgMu.RUnlock()
	return r.cfg, r.rules
}
