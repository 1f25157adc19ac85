package webui

import "time"

// The page reads the rebalancer only through its HTTP API, so these types
// mirror the JSON of GET /api/v1/state and GET /api/v1/history (the operator
// API contract), not the rebalancer's Go types: the page renders exactly what
// an API client sees, and a field the API leaves out is simply not shown.

// State is the part of GET /api/v1/state the page shows.
type State struct {
	DryRun          bool              `json:"dry_run"`
	LastReconcile   time.Time         `json:"last_reconcile"`
	LastReconcileOK bool              `json:"last_reconcile_success"`
	Sockets         map[string]Socket `json:"sockets"`
	Alerts          []Alert           `json:"alerts"`
	Paused          Paused            `json:"paused"`
	Servers         []Server          `json:"servers"`
	Proposals       []Proposal        `json:"proposals"`
}

// Socket is one HAProxy socket's last cycle.
type Socket struct {
	Up    bool   `json:"up"`
	Error string `json:"error"`
}

// Alert is one alert the rebalancer knows.
type Alert struct {
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	Rule        string            `json:"rule"`
	Status      string            `json:"status"`
	InForce     bool              `json:"in_force"`
}

// Paused is the global pause and the per-backend ones.
type Paused struct {
	Global   *Pause           `json:"global"`
	Backends map[string]Pause `json:"backends"`
}

// Pause is one pause switch that is on.
type Pause struct {
	Reason   string    `json:"reason"`
	Author   string    `json:"author"`
	Since    time.Time `json:"since"`
	Expires  time.Time `json:"expires"`
	Restores bool      `json:"restores"`
}

// Server is one server of one socket as HAProxy shows it and who owns it.
type Server struct {
	Backend       string         `json:"backend"`
	Server        string         `json:"server"`
	Socket        string         `json:"socket"`
	HAProxyState  string         `json:"haproxy_state"`
	Weight        int            `json:"weight"`
	Owner         string         `json:"owner"`
	Hold          *Hold          `json:"hold"`
	Alerts        []string       `json:"alerts"`
	Deferred      string         `json:"deferred"`
	MaintProgress *MaintProgress `json:"maint_progress"`
}

// Hold is an operator's manual action on a server.
type Hold struct {
	Action  string    `json:"action"`
	Weight  *int      `json:"weight"`
	Reason  string    `json:"reason"`
	Author  string    `json:"author"`
	Since   time.Time `json:"since"`
	Expires time.Time `json:"expires"`
	Forced  bool      `json:"forced"`
}

// MaintProgress is a graceful maintenance waiting for sessions to end.
type MaintProgress struct {
	Sessions int       `json:"sessions"`
	Since    time.Time `json:"since"`
	Deadline time.Time `json:"deadline"`
}

// Proposal is an action waiting for an operator's approval.
type Proposal struct {
	ID      string    `json:"id"`
	Backend string    `json:"backend"`
	Server  string    `json:"server"`
	Action  string    `json:"action"`
	Weight  *int      `json:"weight"`
	Rule    string    `json:"rule"`
	Alerts  []string  `json:"alerts"`
	Guard   string    `json:"guard"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// History is the answer of GET /api/v1/history.
type History struct {
	Entries []HistoryEntry `json:"entries"`
}

// HistoryEntry is one decision of the audit log.
type HistoryEntry struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Backend string    `json:"backend"`
	Server  string    `json:"server"`
	Action  string    `json:"action"`
	Actor   Actor     `json:"actor"`
	Reason  string    `json:"reason"`
	Result  string    `json:"result"`
	Detail  string    `json:"detail"`
}

// Actor is who a history entry is attributed to.
type Actor struct {
	Type         string   `json:"type"`
	Name         string   `json:"name"`
	Rule         string   `json:"rule"`
	Fingerprints []string `json:"fingerprints"`
}
