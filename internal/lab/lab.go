// Package lab simulates the HTTP APIs lbpilot reads — Flashphoner WCS's
// statistics page, SRS's http_api (3, 4, 5, 6; origin or edge) and
// EMQX's management API (5, 4, emqttd 2) — with the shapes of the
// captured fixtures, and a load that a control API (or Go code) sets and
// a scripted profile can move. The collectors' tests, the demo
// (cmd/lbpilot-lab) and the benchmarks run against it.
//
// Control API, on every simulated server:
//
//	GET  /lab/load      the current load (JSON)
//	POST /lab/load      set the load: a JSON Load; fields left out keep their value
//	POST /lab/profile   follow a scripted profile: {"steps":[{"at":"30s","ramp":true,"load":{...}}],"loop":false}
//	DELETE /lab/profile stop the profile, keeping its current load
//	POST /lab/fault     answer every API request with a fault: {"status":503,"body":"...","delay":"2s","truncate":true}
//	DELETE /lab/fault   answer normally again
//	POST /lab/restart   restart the simulated process (counters and uptime from zero, new SRS service id)
//	GET  /lab/clients   the client ports' state
//	POST /lab/clients   {"open": false} kills the node (client ports closed, sessions reset); {"open": true} brings it back
package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Kind is a simulated upstream.
type Kind string

// The simulated upstreams.
const (
	WCS  Kind = "wcs"
	SRS  Kind = "srs"
	EMQX Kind = "emqx"
)

// Config describes one simulated upstream.
type Config struct {
	Kind Kind
	// Name identifies the instance; ids, node names and the server id
	// are derived from it, so they are stable across runs.
	Name string
	// SRSVersion is 6.0.157 (default), 5.0.216, 4.0.271 or 3.0.170: the
	// captured versions whose answer shapes the lab reproduces.
	SRSVersion string
	// SRSRole is origin (default) or edge; an edge has no publisher
	// clients and reports no frames, as SRS edges do.
	SRSRole string
	// EMQXVersion is v5 (default), v4 or v2.
	EMQXVersion string
	// EMQXNodes is the cluster size (default 2).
	EMQXNodes int
	// APIKey and APISecret, when set, are required as HTTP basic auth
	// (EMQX's API key, AppID or dashboard user; SRS's http_api auth).
	APIKey, APISecret string
	// Load is the initial load: the background that live sessions on the
	// client ports add to.
	Load Load
	// Capacity is what the node carries comfortably (live.go).
	Capacity Capacity
	// ClientAddrs are the addresses of the client ports Start opens for
	// real sessions (WCS: its WebSocket API; SRS: RTMP on an origin,
	// HTTP-FLV/HLS on an edge; EMQX: MQTT, one per node). "127.0.0.1:0"
	// picks a free port; none opens no client port.
	ClientAddrs []string
	// PlayKbps is the bitrate of the dummy media a node sends each player
	// on its client ports when the play request sets none (default 500;
	// an SRS edge's HTTP-FLV and HLS, default 1000).
	PlayKbps int
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Fault makes the API answer badly, for tests of failing scrapes.
type Fault struct {
	Status   int      `json:"status"`   // HTTP status (default 200)
	Body     string   `json:"body"`     // body instead of the real answer
	Delay    Duration `json:"delay"`    // wait before answering
	Truncate bool     `json:"truncate"` // send half of the real answer
}

// Server is one simulated upstream.
type Server struct {
	cfg Config
	now func() time.Time

	mu      sync.Mutex
	load    Load
	profile *Profile
	profT0  time.Time
	fault   *Fault
	started time.Time // simulated process start
	last    time.Time // last time the counters were advanced
	restart int       // restarts so far
	sim     simulator

	live live // sessions on the client ports

	// URL is the base URL once Start has bound a listener.
	URL string
	// ClientURLs are the client ports' URLs (ws://, rtmp://, http://,
	// mqtt://), in the order of Config.ClientAddrs.
	ClientURLs []string
	closers    []func() error
	http       *http.Server
	ln         net.Listener

	// Client ports that SetClientPorts closes and reopens (gate.go).
	gateMu sync.Mutex
	gates  []*clientGate
	onKill []func() // what else a kill ends (SRS's HLS sessions)
	kills  int
	reset  int64
}

// simulator is one upstream kind's state and answers.
type simulator interface {
	// advance moves counters forward by dt seconds at load l.
	advance(l Load, dt float64)
	// reset starts the simulated process over (restart).
	reset()
	// serve answers an API request (not /lab/).
	serve(w http.ResponseWriter, r *http.Request, l Load, uptime time.Duration)
}

// New returns a simulated upstream as an http.Handler (see Start to
// serve it on a port).
func New(cfg Config) (*Server, error) {
	if cfg.Name == "" {
		cfg.Name = string(cfg.Kind)
	}
	if err := cfg.Load.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Capacity.Validate(); err != nil {
		return nil, fmt.Errorf("lab %s: %w", cfg.Name, err)
	}
	s := &Server{cfg: cfg, now: cfg.Now, load: cfg.Load}
	if s.now == nil {
		s.now = time.Now
	}
	s.started = s.now()
	s.last = s.started
	switch cfg.Kind {
	case WCS:
		s.sim = newWCS(cfg)
	case SRS:
		sim, err := newSRS(cfg)
		if err != nil {
			return nil, err
		}
		s.sim = sim
	case EMQX:
		sim, err := newEMQX(cfg)
		if err != nil {
			return nil, err
		}
		s.sim = sim
	default:
		return nil, fmt.Errorf("lab: unknown kind %q (want wcs, srs or emqx)", cfg.Kind)
	}
	return s, nil
}

// Start serves a new simulated upstream on addr ("127.0.0.1:0" for any
// free loopback port).
func Start(cfg Config, addr string) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", cfg.Name, err)
	}
	s.ln = ln
	s.URL = "http://" + ln.Addr().String()
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(ln) }()
	if len(cfg.ClientAddrs) > 0 {
		start, ok := clientStarters[cfg.Kind]
		if !ok {
			_ = s.Close()
			return nil, fmt.Errorf("lab %s: %s nodes have no client ports", cfg.Name, cfg.Kind)
		}
		urls, err := start(s, cfg.ClientAddrs)
		if err != nil {
			_ = s.Close()
			return nil, err
		}
		s.ClientURLs = urls
	}
	return s, nil
}

// Close stops a started server: its API and its client ports (live
// sessions are cut).
func (s *Server) Close() error {
	for i := len(s.closers) - 1; i >= 0; i-- {
		_ = s.closers[i]()
	}
	s.closers = nil
	if s.http == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.http.Shutdown(ctx)
}

// Config returns the server's configuration.
func (s *Server) Config() Config { return s.cfg }

// SetLoad sets the load (stopping any profile).
func (s *Server) SetLoad(l Load) error {
	if err := l.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	s.profile = nil
	s.load = l
	return nil
}

// Load returns the current load.
func (s *Server) Load() Load {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.currentLocked()
}

// SetProfile makes the load follow p from now on.
func (s *Server) SetProfile(p Profile) error {
	if err := p.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	s.profile = &p
	s.profT0 = s.now()
	return nil
}

// StopProfile keeps the profile's current load and stops following it.
func (s *Server) StopProfile() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	s.load = s.currentLocked()
	s.profile = nil
}

// SetFault makes API answers fail (nil answers normally again).
func (s *Server) SetFault(f *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Restart simulates a process restart.
func (s *Server) Restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	s.started = s.now()
	s.restart++
	s.sim.reset()
}

func (s *Server) currentLocked() Load {
	if s.profile != nil {
		return s.profile.At(s.now().Sub(s.profT0))
	}
	return s.load
}

// advanceLocked integrates the counters up to now at the current load
// (a profile's ramp is integrated in steps of at most one second).
func (s *Server) advanceLocked() {
	now := s.now()
	for s.last.Before(now) {
		step := now.Sub(s.last)
		if s.profile != nil && step > time.Second {
			step = time.Second
		}
		var l Load
		if s.profile != nil {
			l = s.profile.At(s.last.Add(step).Sub(s.profT0))
		} else {
			l = s.load
		}
		s.sim.advance(s.withLive(l), step.Seconds())
		s.last = s.last.Add(step)
	}
}

// ServeHTTP answers the control API under /lab/ and the simulated API
// everywhere else.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Path) >= 5 && r.URL.Path[:5] == "/lab/" {
		s.control(w, r)
		return
	}
	s.mu.Lock()
	s.advanceLocked()
	l := s.withLive(s.currentLocked())
	uptime := s.now().Sub(s.started)
	fault := s.fault
	if fault == nil {
		// Answer under the lock: the simulator's state is not shared,
		// and a real SRS answers one request at a time too.
		s.sim.serve(w, r, l, uptime)
		s.mu.Unlock()
		return
	}
	var rec *recorder
	if fault.Truncate {
		rec = &recorder{header: http.Header{}}
		s.sim.serve(rec, r, l, uptime)
	}
	s.mu.Unlock()
	if fault.Delay > 0 {
		select {
		case <-time.After(time.Duration(fault.Delay)):
		case <-r.Context().Done():
			return
		}
	}
	if rec != nil {
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.statusOr200())
		_, _ = w.Write(rec.body.Bytes()[:rec.body.Len()/2])
		return
	}
	status := fault.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, fault.Body)
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(s int)           { r.status = s }
func (r *recorder) statusOr200() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// Status is what GET /lab/load and the lab's address file report.
type Status struct {
	Name    string `json:"name"`
	Kind    Kind   `json:"kind"`
	URL     string `json:"url,omitempty"`
	Version string `json:"version,omitempty"`
	Role    string `json:"role,omitempty"`
	Load    Load   `json:"load"` // the background the control API set
	Profile bool   `json:"profile"`
	// Clients are the client ports' URLs and Live what their sessions
	// add to Load (absent without client ports).
	Clients []string    `json:"clients,omitempty"`
	Live    *LiveStatus `json:"live,omitempty"`
	Fault   *Fault      `json:"fault,omitempty"`
	// Capacity is the node's session capacity (absent when unlimited).
	Capacity *Capacity `json:"capacity,omitempty"`
	// EffectiveCapacity is what is left of Capacity.Sessions while an
	// outside process hogs the host's CPU (load.hog_cpu); absent when
	// unlimited.
	EffectiveCapacity int `json:"effective_capacity,omitempty"`
}

// Status reports the server's identity and state.
func (s *Server) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Name: s.cfg.Name, Kind: s.cfg.Kind, URL: s.URL, Load: s.currentLocked(), Profile: s.profile != nil, Fault: s.fault}
	if c := s.cfg.Capacity; c.Sessions > 0 {
		st.Capacity = &c
		st.EffectiveCapacity = EffectiveCapacity(c.Sessions, st.Load.HogCPU)
	}
	if len(s.ClientURLs) > 0 {
		lv := s.Live()
		st.Clients, st.Live = s.ClientURLs, &lv
	}
	switch s.cfg.Kind {
	case SRS:
		sim := s.sim.(*srsSim)
		st.Version, st.Role = sim.version, sim.role
	case EMQX:
		st.Version = string(s.sim.(*emqxSim).version)
	}
	return st
}

func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, err error) {
		http.Error(w, err.Error(), status)
	}
	switch r.URL.Path {
	case "/lab/load":
		switch r.Method {
		case http.MethodGet:
		case http.MethodPost, http.MethodPut:
			// Fields left out keep their value: decode over the current load.
			l := s.Load()
			if err := decodeStrict(r.Body, &l); err != nil {
				fail(http.StatusBadRequest, err)
				return
			}
			if err := s.SetLoad(l); err != nil {
				fail(http.StatusBadRequest, err)
				return
			}
		default:
			fail(http.StatusMethodNotAllowed, errors.New("GET or POST"))
			return
		}
		writeJSON(w, s.Status())
	case "/lab/profile":
		switch r.Method {
		case http.MethodPost, http.MethodPut:
			var p Profile
			if err := decodeStrict(r.Body, &p); err != nil {
				fail(http.StatusBadRequest, err)
				return
			}
			if err := s.SetProfile(p); err != nil {
				fail(http.StatusBadRequest, err)
				return
			}
		case http.MethodDelete:
			s.StopProfile()
		default:
			fail(http.StatusMethodNotAllowed, errors.New("POST or DELETE"))
			return
		}
		writeJSON(w, s.Status())
	case "/lab/fault":
		switch r.Method {
		case http.MethodPost, http.MethodPut:
			var f Fault
			if err := decodeStrict(r.Body, &f); err != nil {
				fail(http.StatusBadRequest, err)
				return
			}
			s.SetFault(&f)
		case http.MethodDelete:
			s.SetFault(nil)
		default:
			fail(http.StatusMethodNotAllowed, errors.New("POST or DELETE"))
			return
		}
		writeJSON(w, s.Status())
	case "/lab/clients":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, s.ClientPorts())
		case http.MethodPost, http.MethodPut:
			var req struct {
				Open *bool `json:"open"`
			}
			if err := decodeStrict(r.Body, &req); err != nil {
				fail(http.StatusBadRequest, err)
				return
			}
			if req.Open == nil {
				fail(http.StatusBadRequest, errors.New(`want {"open": false} to kill the node or {"open": true} to bring it back`))
				return
			}
			st, err := s.SetClientPorts(*req.Open)
			switch {
			case errors.Is(err, errNoClientPorts):
				fail(http.StatusConflict, err)
			case err != nil:
				fail(http.StatusInternalServerError, err)
			default:
				writeJSON(w, st)
			}
		default:
			fail(http.StatusMethodNotAllowed, errors.New("GET or POST"))
		}
	case "/lab/restart":
		if r.Method != http.MethodPost {
			fail(http.StatusMethodNotAllowed, errors.New("POST"))
			return
		}
		s.Restart()
		writeJSON(w, s.Status())
	default:
		http.NotFound(w, r)
	}
}

func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ident derives a stable identifier of n characters from the instance
// name and a salt, in SRS's id alphabet.
func ident(name, salt string, n int) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	h := fnv.New64a()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(salt))
	x := h.Sum64()
	out := make([]byte, n)
	for i := range out {
		out[i] = alphabet[x%36]
		x /= 36
		if x == 0 {
			h.Write([]byte{byte(i)})
			x = h.Sum64()
		}
	}
	return string(out)
}
