package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/wcsapi"
)

// The scenario's real traffic: WebSocket players through fe_wcs (the
// flash crowd), and light traffic on the other kinds. Everything is
// driven in-process with the lab's clients, in a fixed order, so a run
// is repeatable: the only choice left to chance is HAProxy's, and the
// scenario reads it back from each session (getUserData's nodeName) and
// from the nodes' own statistics.

// Sizes of the crowd and of the other kinds' traffic.
const (
	CrowdSize      = 80 // players in the flash crowd's burst
	CrowdTopUp     = 40 // at most this many more if wcs1 is short of CrowdTarget
	CrowdTarget    = 82 // wcs1's subscribers the crowd must reach (the alert fires at 80)
	AfterDrain     = 6  // players opened after the drain, one at a time
	CrowdKbps      = 64 // each player's media bitrate
	CrowdStream    = "flash-crowd"
	SideStream     = "demo"
	SideFLVPlayers = 2
	SideMQTT       = 4
)

// Player is one WebSocket player of the scenario.
type Player struct {
	*lab.WCSClient
	Wave   string // "crowd" or "after-drain"
	closed bool   // closed by the scenario (not cut by the node)
}

// Cut reports whether the player's connection ended without the scenario
// closing it.
func (p *Player) Cut() bool {
	if p.closed {
		return false
	}
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// Traffic is the scenario's open clients and what happened to them;
// Stack.LastTraffic returns the last run's.
type Traffic struct {
	mu      sync.Mutex
	Players []*Player
	// After the drain: where the new players landed (nodeName) and how
	// many sessions HAProxy opened on each server meanwhile (stot).
	AfterDrainNodes map[string]int
	AfterDrainStot  map[string]int
	// CutByDrain counts the drained server's players whose connection
	// ended while it was drained without the scenario closing it.
	CutByDrain int
	// DrainedLoad is the drained server's subscribers, as it left its
	// players one batch at a time (from its own stat page).
	DrainedLoad []int

	Publisher  *lab.RTMPPublisher
	FLVPlayers []*lab.FLVPlayer
	MQTT       []*lab.MQTTClient
	mqttStop   context.CancelFunc
}

// On returns the open players HAProxy sent to node.
func (t *Traffic) On(node string) []*Player {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*Player
	for _, p := range t.Players {
		if p.Node() == node && !p.closed {
			out = append(out, p)
		}
	}
	return out
}

// count returns the open players per node, wave "" meaning all.
func (t *Traffic) count(wave string) map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int{}
	for _, p := range t.Players {
		if !p.closed && (wave == "" || p.Wave == wave) {
			out[p.Node()]++
		}
	}
	return out
}

// Close ends every client the scenario opened.
func (t *Traffic) Close() {
	t.mu.Lock()
	var open []*Player
	for _, p := range t.Players {
		if !p.closed {
			p.closed = true
			open = append(open, p)
		}
	}
	t.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range open {
		wg.Add(1)
		go func() { defer wg.Done(); _ = p.Close() }()
	}
	wg.Wait()
	if t.mqttStop != nil {
		t.mqttStop()
	}
	for _, m := range t.MQTT {
		m.Close()
	}
	for _, f := range t.FLVPlayers {
		_ = f.Close()
	}
	if t.Publisher != nil {
		_ = t.Publisher.Close()
	}
}

// closePlayers closes players one after another (an audience leaving).
func (t *Traffic) closePlayers(ps []*Player) {
	for _, p := range ps {
		t.mu.Lock()
		p.closed = true
		t.mu.Unlock()
		_ = p.Close()
	}
}

// openPlayers opens n WebSocket players through fe_wcs, at most par at
// a time, each playing CrowdStream.
func (s *Stack) openPlayers(ctx context.Context, t *Traffic, n, par int, wave string) ([]*Player, error) {
	url := fmt.Sprintf("ws://127.0.0.1:%d/", s.Ports.WCS)
	out := make([]*Player, n)
	errs := make([]error, n)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			cl, err := lab.DialWCS(dctx, url, nil)
			if err != nil {
				errs[i] = err
				return
			}
			if _, err := cl.Play(dctx, CrowdStream, CrowdKbps); err != nil {
				_ = cl.Close()
				errs[i] = err
				return
			}
			out[i] = &Player{WCSClient: cl, Wave: wave}
		}()
	}
	wg.Wait()
	var opened []*Player
	var firstErr error
	for i, p := range out {
		if p != nil {
			opened = append(opened, p)
		} else if firstErr == nil {
			firstErr = errs[i]
		}
	}
	t.mu.Lock()
	t.Players = append(t.Players, opened...)
	t.mu.Unlock()
	if firstErr != nil {
		return opened, fmt.Errorf("%d of %d players through fe_wcs failed: %w", n-len(opened), n, firstErr)
	}
	return opened, nil
}

// startSide opens the other kinds' light traffic: an RTMP publish
// through fe_rtmp, HTTP-FLV players of it through fe_play, and MQTT
// clients through fe_mqtt that subscribe and publish.
func (s *Stack) startSide(ctx context.Context, t *Traffic) error {
	pub, err := lab.PublishRTMP(ctx, fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", s.Ports.RTMP, SideStream), 300_000)
	if err != nil {
		return fmt.Errorf("RTMP publish through fe_rtmp: %w", err)
	}
	t.Publisher = pub
	for range SideFLVPlayers {
		p, err := lab.PlayFLV(ctx, nil, fmt.Sprintf("http://127.0.0.1:%d/live/%s.flv", s.Ports.Play, SideStream))
		if err != nil {
			return fmt.Errorf("HTTP-FLV play through fe_play: %w", err)
		}
		t.FLVPlayers = append(t.FLVPlayers, p)
	}
	key, err := os.ReadFile(s.Files.EMQXKey)
	if err != nil {
		return err
	}
	user, secret, _ := strings.Cut(strings.TrimSpace(string(key)), ":")
	mctx, stop := context.WithCancel(context.Background())
	t.mqttStop = stop
	for i := range SideMQTT {
		m, err := lab.DialMQTT(ctx, "127.0.0.1:"+strconv.Itoa(s.Ports.MQTT), lab.MQTTOptions{ClientID: "demo-" + strconv.Itoa(i+1), Username: user, Password: secret})
		if err != nil {
			return fmt.Errorf("MQTT client through fe_mqtt: %w", err)
		}
		t.MQTT = append(t.MQTT, m)
		if err := m.Subscribe(ctx, 0, "demo/#"); err != nil {
			return fmt.Errorf("MQTT subscribe: %w", err)
		}
		go func() { _ = m.PublishAt(mctx, "demo/sensor"+strconv.Itoa(i+1), 0, 2, []byte(`{"t":21.5}`)) }()
	}
	return nil
}

// sideCarrying says whether every side client carries bytes, and what
// it saw.
func (t *Traffic) sideCarrying() (bool, []string) {
	ok := t.Publisher != nil && t.Publisher.Bytes() > 0
	var flv []string
	for _, p := range t.FLVPlayers {
		ok = ok && p.Video() > 0
		flv = append(flv, fmt.Sprintf("%d B", p.Bytes()))
	}
	nodes := map[string]int{}
	var in, out int64
	for _, m := range t.MQTT {
		nodes[m.Node()]++
		i, o := m.WireBytes()
		in, out = in+i, out+o
		ok = ok && m.Received() > 0
	}
	var pub int64
	if t.Publisher != nil {
		pub = t.Publisher.Bytes()
	}
	return ok, []string{
		fmt.Sprintf("RTMP publish via fe_rtmp: %d B sent; HTTP-FLV players via fe_play read %s", pub, strings.Join(flv, ", ")),
		fmt.Sprintf("MQTT via fe_mqtt (leastconn): %s; %d B in, %d B out on the wire", describeCounts(nodes, "client"), in, out),
	}
}

// NodeLoad is what a WCS node's own statistics page says.
type NodeLoad struct {
	Subscribers, Connections int
}

// WCSLoad reads a WCS node's statistics page (what its agent and the
// exporter read).
func (s *Stack) WCSLoad(ctx context.Context, node string) (NodeLoad, error) {
	st, err := wcsapi.Fetch(ctx, s.http, URL(s.Ports.LabPort(node)))
	if err != nil {
		return NodeLoad{}, err
	}
	sub, _ := st.Subscribers()
	conn, _ := st.Connections()
	return NodeLoad{Subscribers: int(sub), Connections: int(conn)}, nil
}

// Capacity reads a lab node's session capacity (0: unlimited).
func (s *Stack) Capacity(ctx context.Context, node string) (int, error) {
	b, err := s.get(ctx, URL(s.Ports.LabPort(node))+"/lab/load")
	if err != nil {
		return 0, err
	}
	var st lab.Status
	if err := json.Unmarshal(b, &st); err != nil {
		return 0, err
	}
	if st.Capacity == nil {
		return 0, nil
	}
	return st.Capacity.Sessions, nil
}

// wcsNodes are the WCS nodes, in order.
var wcsNodes = []string{"wcs1", "wcs2"}

// describeWCS reads both nodes' stat pages and HAProxy's session counts:
// "wcs1 85 subscribers (limit 100), wcs2 50; HAProxy sessions wcs1 40, wcs2 40".
func (s *Stack) describeWCS(ctx context.Context) (map[string]NodeLoad, string, error) {
	loads := map[string]NodeLoad{}
	var parts, sess []string
	for i, n := range wcsNodes {
		l, err := s.WCSLoad(ctx, n)
		if err != nil {
			return nil, "", err
		}
		loads[n] = l
		p := fmt.Sprintf("%s %d subscribers", n, l.Subscribers)
		if i > 0 {
			p = fmt.Sprintf("%s %d", n, l.Subscribers)
		}
		if i == 0 {
			p += fmt.Sprintf(" (limit %d)", AgentSubscriberLimit)
		}
		parts = append(parts, p)
		st, err := s.Stat(ctx, WCSBackend, n)
		if err != nil {
			return nil, "", err
		}
		sess = append(sess, fmt.Sprintf("%s %d", n, st.Sessions))
	}
	return loads, "stat pages: " + strings.Join(parts, ", ") + "; HAProxy sessions " + strings.Join(sess, ", "), nil
}

// AgentSubscriberLimit is the agent's subscribers threshold (the WCS
// docs' MAX_SUBSCRIBERS): the weight is 100 % up to half of it and
// reaches its floor at it.
const AgentSubscriberLimit = 100

// describeCounts prints {"wcs1": 3, "wcs2": 1} as "3 on wcs1, 1 on wcs2".
func describeCounts(m map[string]int, what string) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		name := k
		if name == "" {
			name = "an unnamed node"
		}
		out = append(out, fmt.Sprintf("%d on %s", m[k], name))
	}
	if len(out) == 0 {
		return "no " + what
	}
	return strings.Join(out, ", ")
}

// statTotals reads HAProxy's cumulated sessions (stot) of the WCS servers.
func (s *Stack) statTotals(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	for _, n := range wcsNodes {
		st, err := s.Stat(ctx, WCSBackend, n)
		if err != nil {
			return nil, err
		}
		out[n] = st.Total
	}
	return out, nil
}
