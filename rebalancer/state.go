package rebalancer

import (
	"sort"
	"time"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// State is everything the rebalancer must not forget: the alerts it knows
// (by fingerprint, resolved ones kept as tombstones), the servers it changed
// (ownership), the servers an operator took over (releases), and the last
// HAProxy process seen on each socket (reload detection). It is what the
// state file holds.
type State struct {
	Version  int                     `json:"version"`
	Alerts   map[string]*AlertRecord `json:"alerts"`
	Owned    map[string]*Ownership   `json:"owned"`
	Released map[string]*Release     `json:"released"`
	Sockets  map[string]*SocketMark  `json:"sockets"`
	// Operator holds pauses, holds and proposals (operator.go).
	Operator *OperatorState `json:"operator,omitempty"`
}

// stateVersion is the state file format.
const stateVersion = 1

func newState() *State {
	return &State{
		Version:  stateVersion,
		Alerts:   map[string]*AlertRecord{},
		Owned:    map[string]*Ownership{},
		Released: map[string]*Release{},
		Sockets:  map[string]*SocketMark{},
	}
}

// AlertRecord is the latest word on one alert.
type AlertRecord struct {
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	Rule        string            `json:"rule,omitempty"`
	Status      string            `json:"status"`
	StartsAt    time.Time         `json:"starts_at"`
	// At orders observations of the same incarnation: startsAt for a firing
	// notification, endsAt for a resolved one, Alertmanager's updatedAt (or
	// its clock) for what its API lists.
	At     time.Time `json:"at"`
	EndsAt time.Time `json:"ends_at,omitzero"`
	Source string    `json:"source"`
	// ReceivedAt is the local time of the last change; ResolvedAt the local
	// time it was first seen resolved.
	ReceivedAt time.Time `json:"received_at"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// HoldUntil keeps a resolved alert in force (a mass resolve).
	HoldUntil time.Time `json:"hold_until,omitzero"`

	seq uint64 // state sequence number of the last change (not persisted)
}

// version is the order observations are merged in: by startsAt (a later
// incarnation wins), then At, then resolved over firing. Merging takes the
// maximum, so the result does not depend on delivery order or repeats.
type version struct {
	startsAt time.Time
	at       time.Time
	resolved bool
}

func (v version) compare(o version) int {
	if c := v.startsAt.Compare(o.startsAt); c != 0 {
		return c
	}
	if c := v.at.Compare(o.at); c != 0 {
		return c
	}
	switch {
	case v.resolved == o.resolved:
		return 0
	case v.resolved:
		return 1
	}
	return -1
}

func (r *AlertRecord) version() version {
	return version{startsAt: r.StartsAt, at: r.At, resolved: r.Status == StatusResolved}
}

func (o Observation) version() version {
	return version{startsAt: o.StartsAt, at: o.At, resolved: o.Status == StatusResolved}
}

// incarnation of the record.
func (r *AlertRecord) incarnation() string { return incarnation(r.Fingerprint, r.StartsAt) }

// inForce reports whether the alert counts when planning: firing, or
// resolved but held by a mass resolve.
func (r *AlertRecord) inForce(now time.Time) bool {
	return r.Status == StatusFiring || now.Before(r.HoldUntil)
}

// Ownership is what the rebalancer changed on one server of one socket.
// Admin state and weight are owned separately.
type Ownership struct {
	Socket  string     `json:"socket"`
	Backend string     `json:"backend"`
	Server  string     `json:"server"`
	Admin   *AdminOwn  `json:"admin,omitempty"`
	Weight  *WeightOwn `json:"weight,omitempty"`
	Cap     *CapOwn    `json:"cap,omitempty"`
}

// Ownership phases. "pending" is written before a change is sent and
// "restoring" before a restore is sent, so a crash at any point leaves a
// record that the next cycle can check against HAProxy.
const (
	PhasePending   = "pending"
	PhaseApplied   = "applied"
	PhaseRestoring = "restoring"
)

// AdminOwn records that the rebalancer set the server to State (drain or
// maint); before that it was Prev (ready for a fresh change, drain when
// escalated to maint).
type AdminOwn struct {
	State haproxyapi.AdminState `json:"state"`
	Prev  haproxyapi.AdminState `json:"prev"`
	Phase string                `json:"phase"`
	// Since is when the change was first confirmed (min_hold counts from it).
	Since time.Time `json:"since,omitzero"`
	// Alerts are the incarnations that asked for it; Rules their rules.
	Alerts []string `json:"alerts"`
	Rules  []string `json:"rules"`
}

// WeightOwn records that the rebalancer set the weight to Set (Percent of
// the initial weight); it was Prev before and goes back to Prev.
type WeightOwn struct {
	Percent int `json:"percent"`
	Set     int `json:"set"`
	Prev    int `json:"prev"`
	// Before is, for a pending change of an owned weight, what it was.
	Before *WeightPoint `json:"before,omitempty"`
	Phase  string       `json:"phase"`
	Since  time.Time    `json:"since,omitzero"`
	Alerts []string     `json:"alerts"`
	Rules  []string     `json:"rules"`
}

// CapOwn records that the rebalancer capped the server's sessions at Set
// (`set maxconn server`, cap.go); its limit was Prev (0: none) and goes
// back to Prev.
type CapOwn struct {
	Set    int       `json:"set"`
	Prev   int       `json:"prev"`
	Phase  string    `json:"phase"`
	Since  time.Time `json:"since,omitzero"`
	Alerts []string  `json:"alerts"`
	Rules  []string  `json:"rules"`
}

// Release records that an operator changed a server the rebalancer owned:
// the alerts listed no longer act on that facet of the server.
type Release struct {
	Socket   string    `json:"socket"`
	Backend  string    `json:"backend"`
	Server   string    `json:"server"`
	Facet    string    `json:"facet"` // admin | weight | cap
	Alerts   []string  `json:"alerts"`
	At       time.Time `json:"at"`
	Observed string    `json:"observed"` // what HAProxy showed instead
}

// Facets of a server.
const (
	FacetAdmin  = "admin"
	FacetWeight = "weight"
	FacetCap    = "cap" // the session limit (maxconn)
)

// SocketMark is the HAProxy process last seen on a socket.
type SocketMark struct {
	Pid    int       `json:"pid"`
	Uptime int64     `json:"uptime_sec"`
	SeenAt time.Time `json:"seen_at"`
}

func ownKey(socket string, ref haproxyapi.ServerRef) string {
	return socket + " " + ref.String()
}

func releaseKey(socket string, ref haproxyapi.ServerRef, facet string) string {
	return socket + " " + ref.String() + " " + facet
}

func (o *Ownership) ref() haproxyapi.ServerRef {
	return haproxyapi.ServerRef{Backend: o.Backend, Server: o.Server}
}

func (o *Ownership) empty() bool { return o.Admin == nil && o.Weight == nil && o.Cap == nil }

// clone returns a deep copy (the store hands out copies only).
func (o *Ownership) clone() *Ownership {
	c := *o
	if o.Admin != nil {
		a := *o.Admin
		a.Alerts = append([]string(nil), a.Alerts...)
		a.Rules = append([]string(nil), a.Rules...)
		c.Admin = &a
	}
	if o.Weight != nil {
		w := *o.Weight
		w.Alerts = append([]string(nil), w.Alerts...)
		w.Rules = append([]string(nil), w.Rules...)
		c.Weight = &w
	}
	if o.Cap != nil {
		cp := *o.Cap
		cp.Alerts = append([]string(nil), cp.Alerts...)
		cp.Rules = append([]string(nil), cp.Rules...)
		c.Cap = &cp
	}
	return &c
}

func (r *AlertRecord) clone() *AlertRecord {
	c := *r
	c.Labels = make(map[string]string, len(r.Labels))
	for k, v := range r.Labels {
		c.Labels[k] = v
	}
	return &c
}

func (r *Release) clone() *Release {
	c := *r
	c.Alerts = append([]string(nil), r.Alerts...)
	return &c
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func refOf(backend, server string) haproxyapi.ServerRef {
	return haproxyapi.ServerRef{Backend: backend, Server: server}
}

// WeightPoint is a weight the rebalancer had set.
type WeightPoint struct {
	Percent int `json:"percent"`
	Set     int `json:"set"`
}
