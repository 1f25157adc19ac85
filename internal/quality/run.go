package quality

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lbpilot/lbpilot/demo"
	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/traffic"
)

// Options of a run.
type Options struct {
	Scale Scale
	Seed  int64
	// Interval between samples (default 500ms).
	Interval time.Duration
	// NoKill keeps wcs1 alive: its two phases are steady ones (Scale.Plan's
	// noKill).
	NoKill bool
	// Say receives progress lines; nil is quiet.
	Say func(format string, args ...any)
}

// NodeSample is one WCS node at one sample.
type NodeSample struct {
	Name     string `json:"name"`
	Sessions int    `json:"sessions"` // the lab's live sessions on the node
	Capacity int    `json:"capacity"` // its effective capacity (the hog shrinks it)
	State    string `json:"state"`    // HAProxy's parsed status: UP, DOWN, DRAIN, MAINT, NOLB
	Admin    string `json:"admin"`    // its admin state: ready, drain, maint (seen while down too)
	Weight   int    `json:"weight"`
	Alert    bool   `json:"alert"` // a drain alert for it is active in Alertmanager
	// Alerts names the active drain alerts.
	Alerts []string `json:"alerts,omitempty"`
}

// Ratio is the node's sessions over its effective capacity.
func (n NodeSample) Ratio() float64 {
	if n.Capacity <= 0 {
		return 0
	}
	return float64(n.Sessions) / float64(n.Capacity)
}

// Usable reports whether HAProxy would send the node new sessions.
func (n NodeSample) Usable() bool { return n.State == "UP" && n.Weight > 0 && !n.Drained() }

// Drained reports whether the node is in an admin state that keeps new
// sessions away (drain or maintenance), whatever its health.
func (n NodeSample) Drained() bool {
	return n.Admin == "drain" || n.Admin == "maint" || n.State == "DRAIN" || n.State == "MAINT"
}

// Sample is the backend at one moment.
type Sample struct {
	T     float64      `json:"t"` // seconds since the plan started
	Phase string       `json:"phase"`
	Nodes []NodeSample `json:"nodes"` // SmallNode, BigNode
}

// Mark is an event of the run: a phase start, the hog on or off.
type Mark struct {
	T    float64 `json:"t"`
	What string  `json:"what"`
}

// Result is what a run saw.
type Result struct {
	Scale   Scale            `json:"scale"`
	Samples []Sample         `json:"samples"`
	Marks   []Mark           `json:"marks"`
	Phases  []Mark           `json:"phases"` // phase starts, in order
	Summary *traffic.Summary `json:"summary"`
	// SampleErrors counts samples that could not be read (a busy
	// machine); they are left out.
	SampleErrors int `json:"sample_errors"`
}

// Run waits for both WCS servers to be usable, then plays the plan
// through s while sampling the backend, and returns what it saw. It puts
// wcs1's client ports back and takes the hog off before returning.
func Run(ctx context.Context, s *demo.Stack, o Options) (*Result, error) {
	if o.Interval <= 0 {
		o.Interval = 500 * time.Millisecond
	}
	say := o.Say
	if say == nil {
		say = func(string, ...any) {}
	}
	plan, err := o.Scale.Plan(o.Seed, s.Ports, s.Files.EMQXKey)
	if err == nil && o.NoKill {
		withoutKill(plan)
	}
	if err != nil {
		return nil, err
	}
	if _, _, err := demo.WaitFor(ctx, "both WCS servers usable", 60*time.Second, func(ctx context.Context) (bool, string, error) {
		n, err := usable(ctx, s)
		return n == 2, fmt.Sprintf("%d usable", n), err
	}); err != nil {
		return nil, err
	}

	r := &Result{Scale: o.Scale}
	var mu sync.Mutex
	phase := ""
	var t0 time.Time
	mark := func(what string) {
		mu.Lock()
		r.Marks = append(r.Marks, Mark{T: time.Since(t0).Seconds(), What: what})
		mu.Unlock()
		say("%6.1fs %s", time.Since(t0).Seconds(), what)
	}
	hc := &http.Client{Timeout: 3 * time.Second}
	hook := traffic.HTTPHook(hc)

	e := traffic.NewEngine(plan, lab.Registry())
	var timers []*time.Timer
	e.Hook = func(ctx context.Context, ev traffic.Event) error {
		mu.Lock()
		if ev.Phase == 0 {
			t0 = time.Now().Add(-ev.At)
		}
		phase = ev.Label
		r.Phases = append(r.Phases, Mark{T: ev.At.Seconds(), What: ev.Label})
		mu.Unlock()
		if ev.Phase == 0 {
			from, to := o.Scale.HogWindow()
			hog := func(v float64, what string) func() {
				return func() {
					hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					if err := s.SetLoad(hctx, BigNode, fmt.Sprintf(`{"hog_cpu":%g}`, v)); err != nil {
						say("setting the hog on %s: %v", BigNode, err)
						return
					}
					mark(what)
				}
			}
			timers = append(timers, time.AfterFunc(from-ev.At, hog(HogCPU, "hog on "+BigNode)), time.AfterFunc(to-ev.At, hog(0, "hog off "+BigNode)))
		}
		say("%6.1fs phase %s", ev.At.Seconds(), ev.Label)
		return hook(ctx, ev)
	}

	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(o.Interval)
		defer tick.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
			}
			mu.Lock()
			started, ph, start := !t0.IsZero(), phase, t0
			mu.Unlock()
			if !started {
				continue
			}
			qctx, cancel := context.WithTimeout(sctx, 2*time.Second)
			nodes, err := sampleNodes(qctx, s, hc)
			cancel()
			mu.Lock()
			if err != nil {
				r.SampleErrors++
			} else {
				r.Samples = append(r.Samples, Sample{T: time.Since(start).Seconds(), Phase: ph, Nodes: nodes})
			}
			mu.Unlock()
		}
	}()
	sum, runErr := e.Run(ctx)
	stop()
	wg.Wait()
	for _, t := range timers {
		t.Stop()
	}
	// Leave the stack as the run found it.
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.SetLoad(cctx, BigNode, `{"hog_cpu":0}`)
	_ = post(cctx, hc, demo.URL(s.Ports.LabPort(SmallNode))+"/lab/clients", `{"open":true}`)
	r.Summary = sum
	sort.SliceStable(r.Marks, func(i, j int) bool { return r.Marks[i].T < r.Marks[j].T })
	if runErr != nil {
		return r, fmt.Errorf("traffic run: %w", runErr)
	}
	return r, nil
}

// usable counts the WCS servers HAProxy would send new sessions to.
func usable(ctx context.Context, s *demo.Stack) (int, error) {
	all, err := s.Servers(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, st := range all {
		if st.Backend == demo.WCSBackend && (st.Server == SmallNode || st.Server == BigNode) && st.State() == "UP" && st.Weight > 0 {
			n++
		}
	}
	return n, nil
}

// sampleNodes reads both nodes from the lab, HAProxy and Alertmanager.
func sampleNodes(ctx context.Context, s *demo.Stack, hc *http.Client) ([]NodeSample, error) {
	all, err := s.Servers(ctx)
	if err != nil {
		return nil, err
	}
	alerts, err := s.Alerts(ctx)
	if err != nil {
		return nil, err
	}
	admin, err := s.AdminStates(ctx, demo.WCSBackend)
	if err != nil {
		return nil, err
	}
	out := make([]NodeSample, 0, 2)
	for _, name := range []string{SmallNode, BigNode} {
		n := NodeSample{Name: name}
		st, err := labStatus(ctx, hc, demo.URL(s.Ports.LabPort(name)))
		if err != nil {
			return nil, err
		}
		if st.Live != nil {
			n.Sessions = st.Live.Sessions
		}
		n.Capacity = st.EffectiveCapacity
		n.Admin = string(admin[name])
		for _, sv := range all {
			if sv.Backend == demo.WCSBackend && sv.Server == name {
				n.State, n.Weight = sv.State(), sv.Weight
			}
		}
		for _, a := range alerts {
			if a.Labels["lbpilot_action"] == "drain" && a.Labels["haproxy_backend"] == demo.WCSBackend && a.Labels["haproxy_server"] == name {
				n.Alert = true
				n.Alerts = append(n.Alerts, a.Labels["alertname"])
			}
		}
		out = append(out, n)
	}
	return out, nil
}

func labStatus(ctx context.Context, hc *http.Client, base string) (lab.Status, error) {
	var st lab.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/lab/load", nil)
	if err != nil {
		return st, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s/lab/load: %s", base, resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func post(ctx context.Context, hc *http.Client, u, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", u, resp.Status)
	}
	return nil
}
