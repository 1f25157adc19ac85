package lab

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Live sessions: a lab node can listen on client ports of its own (the
// protocols its real counterpart serves: WCS's WebSocket API, SRS's RTMP
// and HTTP-FLV/HLS, EMQX's MQTT) and carry real clients there. What its
// API reports is then the control API's load (the background) plus what
// those sessions add, so the exporter, the agent and the alerts see real
// traffic, and tests that pin numbers through the control API still work
// with no client connected.

// Capacity is what a node carries comfortably. Past it the node suffers
// visibly in what it reports (CPU rises steeply, WCS reports degraded
// streams), and with Refuse it turns new sessions away.
type Capacity struct {
	// Sessions is the number of concurrent client sessions (publishers,
	// players, MQTT connections) at which the node reports a CPU of
	// BusyCPU; 0 means no limit (sessions cost CPU at 1% of a core each
	// up to 100, then no more). On EMQX it applies to each node of the
	// cluster (emqx_mqtt.go).
	Sessions int `json:"sessions"`
	// Refuse makes the node turn away new sessions while it carries
	// Sessions or more.
	Refuse bool `json:"refuse"`
}

// BusyCPU is the CPU ratio a node at exactly its session capacity
// reports on top of its background load.
const BusyCPU = 0.75

// Validate rejects a negative capacity.
func (c Capacity) Validate() error {
	if c.Sessions < 0 {
		return fmt.Errorf("capacity.sessions must not be negative, got %d", c.Sessions)
	}
	if c.Refuse && c.Sessions == 0 {
		return errors.New("capacity.refuse needs capacity.sessions")
	}
	return nil
}

// ErrRefused is what Admit returns when a node at capacity refuses a
// session.
var ErrRefused = errors.New("lab node at capacity: session refused")

// live holds a node's live sessions.
type live struct {
	mu       sync.Mutex
	counts   Load  // session counts only (Publishers, Subscribers, HLS, Connections, Sessions, Subscriptions, Topics, Retained)
	sessions int   // sessions in counts, for the capacity
	refused  int64 // sessions refused at capacity
	garbage  int64 // clients disconnected for speaking garbage

	bytesIn, bytesOut atomic.Int64

	// Bandwidth: bytes counted over the last window, as Mbit/s.
	rateT           time.Time
	rateIn, rateOut int64
	inMbps, outMbps float64
}

// Session is one live client session on a node; End removes it.
type Session struct {
	s    *Server
	d    Load
	once sync.Once
}

// Admit opens a session that adds d to the node's counts (one session
// towards the capacity), or refuses it with ErrRefused when the node is
// at capacity and refuses. The caller calls End when the client leaves.
func (s *Server) Admit(d Load) (*Session, error) {
	s.mu.Lock()
	hog := s.currentLocked().HogCPU
	s.mu.Unlock()
	return s.admit(d, hog)
}

// admit is Admit for a caller that holds s.mu and read the hog itself.
func (s *Server) admit(d Load, hog float64) (*Session, error) {
	lv := &s.live
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if c := s.cfg.Capacity; c.Refuse && lv.sessions >= EffectiveCapacity(c.Sessions, hog) {
		lv.refused++
		return nil, ErrRefused
	}
	lv.counts = addCounts(lv.counts, d, 1)
	lv.sessions++
	return &Session{s: s, d: d}, nil
}

// End removes the session from the node's counts; calling it again does
// nothing.
func (ss *Session) End() {
	ss.once.Do(func() {
		lv := &ss.s.live
		lv.mu.Lock()
		lv.counts = addCounts(lv.counts, ss.d, -1)
		lv.sessions--
		lv.mu.Unlock()
	})
}

// add changes an open session's counts by sign×d without counting another
// session: a WCS connection is the session, its streams ride on it (wcsws.go). End
// removes what was added too. Only the connection's own goroutine calls
// it, before End.
func (ss *Session) add(d Load, sign int) {
	lv := &ss.s.live
	lv.mu.Lock()
	lv.counts = addCounts(lv.counts, d, sign)
	ss.d = addCounts(ss.d, d, sign)
	lv.mu.Unlock()
}

// CountBytes adds bytes received from and sent to clients (they drive
// the reported bandwidth and byte counters).
func (s *Server) CountBytes(in, out int) {
	s.live.bytesIn.Add(int64(in))
	s.live.bytesOut.Add(int64(out))
}

// CountGarbage records a client that was disconnected for speaking
// something the node does not understand.
func (s *Server) CountGarbage() {
	s.live.mu.Lock()
	s.live.garbage++
	s.live.mu.Unlock()
}

// LiveStatus is what the node's clients add, for GET /lab/load.
type LiveStatus struct {
	Sessions int   `json:"sessions"`
	Refused  int64 `json:"refused"`
	Garbage  int64 `json:"garbage"`
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
	Load     Load  `json:"load"` // counts and measured bandwidth only
}

// Live reports the node's live sessions.
func (s *Server) Live() LiveStatus {
	lv := &s.live
	lv.mu.Lock()
	defer lv.mu.Unlock()
	l := lv.counts
	l.BandwidthInMbps, l.BandwidthOutMbps = lv.rates(s.now())
	return LiveStatus{Sessions: lv.sessions, Refused: lv.refused, Garbage: lv.garbage,
		BytesIn: lv.bytesIn.Load(), BytesOut: lv.bytesOut.Load(), Load: l}
}

// rateWindow is how often the measured bandwidth is recomputed.
const rateWindow = time.Second

// rates returns the bandwidth measured over the last window (lv.mu held).
func (lv *live) rates(now time.Time) (in, out float64) {
	if lv.rateT.IsZero() {
		lv.rateT = now
		lv.rateIn, lv.rateOut = lv.bytesIn.Load(), lv.bytesOut.Load()
		return 0, 0
	}
	if dt := now.Sub(lv.rateT); dt >= rateWindow {
		bi, bo := lv.bytesIn.Load(), lv.bytesOut.Load()
		lv.inMbps = float64(bi-lv.rateIn) * 8 / 1e6 / dt.Seconds()
		lv.outMbps = float64(bo-lv.rateOut) * 8 / 1e6 / dt.Seconds()
		lv.rateT, lv.rateIn, lv.rateOut = now, bi, bo
	}
	return lv.inMbps, lv.outMbps
}

// withLive adds the live sessions, their bandwidth and the CPU they cost
// to the background load bg.
func (s *Server) withLive(bg Load) Load {
	if s.cfg.Kind == EMQX {
		// The EMQX simulator adds each broker's sessions, bytes and CPU
		// to the node that carries them (emqx_mqtt.go).
		return bg
	}
	lv := &s.live
	lv.mu.Lock()
	defer lv.mu.Unlock()
	if lv.sessions == 0 && lv.bytesIn.Load() == 0 && lv.bytesOut.Load() == 0 {
		return bg
	}
	if s.cfg.Kind == WCS && bg.Connections == 0 {
		// The page derives connections from the streams when the
		// background sets none; keep that part when sessions add theirs.
		bg.Connections = bg.Publishers + bg.Subscribers + bg.HLS
	}
	l := addCounts(bg, lv.counts, 1)
	in, out := lv.rates(s.now())
	l.BandwidthInMbps += in
	l.BandwidthOutMbps += out
	c := s.cfg.Capacity.Sessions
	eff := EffectiveCapacity(c, bg.HogCPU)
	l.CPU += hoggedCPU(lv.sessions, c, eff)
	if c > 0 && lv.sessions > eff && s.cfg.Kind == WCS {
		// WCS marks streams degraded when it cannot keep up.
		l.Degraded += lv.sessions - eff
	}
	return l
}

// EffectiveCapacity is the session capacity left to a node whose host
// loses hog (a ratio of one CPU) to an outside process: the sessions
// that, with the hog, bring the host to the CPU the full capacity brings
// it to without one. The node's sessions cost what they cost, only the
// room shrinks; it never goes below one session. 0 (no capacity) stays 0.
func EffectiveCapacity(capacity int, hog float64) int {
	if capacity <= 0 || hog <= 0 {
		return capacity
	}
	return max(1, int(math.Floor(float64(capacity)*math.Max(0, 1-hog/BusyCPU))))
}

// sessionCPU is the CPU n live sessions cost on a node of the given
// capacity: linear up to BusyCPU at capacity, then twice as steep (a node
// past its capacity is visibly struggling).
func sessionCPU(n, capacity int) float64 { return hoggedCPU(n, capacity, capacity) }

// hoggedCPU is sessionCPU on a node whose effective capacity is below
// its capacity (EffectiveCapacity): each session costs the same, and the
// cost doubles past the effective capacity instead.
func hoggedCPU(n, capacity, effective int) float64 {
	if capacity <= 0 {
		return float64(min(n, 100)) * 0.01
	}
	cpu := BusyCPU * float64(n) / float64(capacity)
	if n > effective {
		cpu += BusyCPU * float64(n-effective) / float64(capacity)
	}
	return cpu
}

// addCounts returns a + sign*b over the session counts.
func addCounts(a, b Load, sign int) Load {
	a.Publishers += sign * b.Publishers
	a.Subscribers += sign * b.Subscribers
	a.HLS += sign * b.HLS
	a.Streams += sign * b.Streams
	a.Connections += sign * b.Connections
	a.Sessions += sign * b.Sessions
	a.Subscriptions += sign * b.Subscriptions
	a.Topics += sign * b.Topics
	a.Retained += sign * b.Retained
	return a
}

// clientStarters start a kind's client listeners on the addresses given
// (each kind's protocol file registers its own); they return the clients'
// URLs, one per address used.
var clientStarters = map[Kind]func(s *Server, addrs []string) ([]string, error){}

// listen binds addr for a client protocol; the listener is closed with
// the node, and closed and reopened by SetClientPorts (gate.go).
func (s *Server) listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("lab %s: client port: %w", s.cfg.Name, err)
	}
	g := newClientGate(ln)
	s.gateMu.Lock()
	s.gates = append(s.gates, g)
	s.gateMu.Unlock()
	s.closers = append(s.closers, g.Close)
	return g, nil
}

// serveClientsHTTP serves an HTTP client protocol (WebSocket, HTTP-FLV,
// HLS) on ln until the node closes.
func (s *Server) serveClientsHTTP(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.closers = append(s.closers, srv.Close)
	go func() { _ = srv.Serve(ln) }()
}
