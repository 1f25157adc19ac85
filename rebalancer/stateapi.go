package rebalancer

import (
	"net/http"
	"time"
)

// StateView is what GET /api/v1/state returns: the alerts, what the
// rebalancer owns, what operators took over, and each socket's last cycle.
// It holds no secrets (no tokens, passwords or config files).
type StateView struct {
	DryRun              bool                     `json:"dry_run"`
	StateFile           string                   `json:"state_file"`
	LastReconcile       time.Time                `json:"last_reconcile,omitzero"`
	LastReconcileOK     bool                     `json:"last_reconcile_success"`
	Sockets             map[string]*socketStatus `json:"sockets"`
	Alerts              []AlertView              `json:"alerts"`
	Owned               []*Ownership             `json:"owned"`
	Released            []*Release               `json:"released"`
	Rules               []string                 `json:"rules"`
	AlertmanagerStarted time.Time                `json:"alertmanager_started,omitzero"`
	// Operator control (view.go).
	Paused    PausedView     `json:"paused"`
	Servers   []ServerView   `json:"servers"`
	Proposals []ProposalView `json:"proposals"`
}

// AlertView is one alert of the state view.
type AlertView struct {
	*AlertRecord
	InForce bool `json:"in_force"`
}

// StateSource provides the state view.
type StateSource interface {
	StateView() StateView
}

// StateView returns a consistent copy of the current state.
func (r *Rebalancer) StateView() StateView {
	now := r.now()
	v := StateView{DryRun: r.dryRun, StateFile: r.store.Path(), Sockets: map[string]*socketStatus{}, Alerts: []AlertView{}, Owned: []*Ownership{}, Released: []*Release{}}
	r.store.View(func(st *State) {
		for _, k := range sortedKeys(st.Alerts) {
			a := st.Alerts[k]
			v.Alerts = append(v.Alerts, AlertView{AlertRecord: a.clone(), InForce: a.inForce(now)})
		}
		for _, k := range sortedKeys(st.Owned) {
			v.Owned = append(v.Owned, st.Owned[k].clone())
		}
		for _, k := range sortedKeys(st.Released) {
			v.Released = append(v.Released, st.Released[k].clone())
		}
	})
	r.viewMu.Lock()
	v.LastReconcile, v.LastReconcileOK, v.AlertmanagerStarted = r.lastCycle, r.lastOK, r.amStarted
	for name, s := range r.sockState {
		c := *s
		c.Deferred = append([]Deferral{}, s.Deferred...)
		v.Sockets[name] = &c
	}
	r.viewMu.Unlock()
	_, rules := r.currentConfig()
	for _, rule := range rules {
		v.Rules = append(v.Rules, rule.Describe())
	}
	r.operatorView(&v, now)
	return v
}

// StateHandler serves GET /api/v1/state (same bearer token as the webhook).
func StateHandler(src StateSource, auth *BearerAuth) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !auth.Allow(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lbpilot rebalancer"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"status": "error", "error": "missing or wrong bearer token"})
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"status": "error", "error": "use GET"})
			return
		}
		writeJSON(w, http.StatusOK, src.StateView())
	})
}
