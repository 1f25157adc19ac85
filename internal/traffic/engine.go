package traffic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// UnknownNode is the node of a session whose protocol cannot tell which
// backend serves it.
const UnknownNode = "unknown"

// Session outcomes.
const (
	OutcomeEnded   = "ended"   // its lifetime reached: the plan closed it
	OutcomeCut     = "cut"     // the server or the proxy ended it first
	OutcomeRefused = "refused" // it failed to open
	OutcomeStopped = "stopped" // the run ended (max_duration, interrupted) first
)

// Event is the start of a phase, handed to Engine.Hook. A node-killed or
// node-back phase carries the node's name and the plan's request for it.
type Event struct {
	Phase   int           `json:"phase"`
	Label   string        `json:"label"`
	Kind    string        `json:"kind"`
	Node    string        `json:"node,omitempty"`
	Request *Request      `json:"request,omitempty"`
	At      time.Duration `json:"at"`
}

// Engine runs a plan. Set its fields before Run; it is also a
// prometheus.Collector of the run's counts (register it before Run).
type Engine struct {
	// Report receives a JSON line every Interval and a summary line at
	// the end; nil for none.
	Report io.Writer
	// Interval between report lines (default 1s).
	Interval time.Duration
	// Hook is called at the start of every phase, in order, before the
	// phase's first arrival; an error stops the run. Nil ignores phases
	// (node-killed and node-back are then only labels). HTTPHook sends
	// the phase's request.
	Hook func(ctx context.Context, ev Event) error

	plan *Plan
	reg  *Registry

	mu       sync.Mutex
	phase    Span
	started  bool
	inflight int // opening or open, for max_concurrent
	total    int // sessions started, for max_total
	nodes    map[nodeKey]*NodeCounts
	protos   map[string]*protoTotals
	cuts     map[cutKey]int64
	live     map[uint64]*liveSession
	failures []SessionRecord
	wg       sync.WaitGroup
}

type nodeKey struct{ protocol, node string }
type cutKey struct{ protocol, node, cause string }

type protoTotals struct {
	refused map[string]int64 // by reason
	skipped int64
}

type liveSession struct {
	key nodeKey
	s   Session
}

// NewEngine returns an engine for a plan validated against reg.
func NewEngine(p *Plan, reg *Registry) *Engine {
	e := &Engine{plan: p, reg: reg, nodes: map[nodeKey]*NodeCounts{}, protos: map[string]*protoTotals{},
		cuts: map[cutKey]int64{}, live: map[uint64]*liveSession{}}
	for name := range p.Protocols {
		e.protos[name] = &protoTotals{refused: map[string]int64{}}
	}
	return e
}

// NodeCounts are one node's sessions (or a protocol's, summed).
type NodeCounts struct {
	Active   int64 `json:"active"`
	Opened   int64 `json:"opened"`
	Ended    int64 `json:"ended"`
	Cut      int64 `json:"cut"`
	Stopped  int64 `json:"stopped"`
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
}

func (c *NodeCounts) add(o NodeCounts) {
	c.Active += o.Active
	c.Opened += o.Opened
	c.Ended += o.Ended
	c.Cut += o.Cut
	c.Stopped += o.Stopped
	c.BytesIn += o.BytesIn
	c.BytesOut += o.BytesOut
}

// ProtocolCounts are one protocol's sessions: the sum over its nodes,
// the sessions refused at open and the arrivals skipped at
// max_concurrent, and per node.
type ProtocolCounts struct {
	NodeCounts
	Refused int64                 `json:"refused"`
	Skipped int64                 `json:"skipped"`
	Nodes   map[string]NodeCounts `json:"nodes"`
}

// Snapshot is one report line.
type Snapshot struct {
	Time      time.Time                 `json:"time"`
	Elapsed   float64                   `json:"elapsed_seconds"`
	Phase     string                    `json:"phase"`
	Protocols map[string]ProtocolCounts `json:"protocols"`
}

// SessionRecord is a session that was refused at open or cut.
type SessionRecord struct {
	ID       uint64  `json:"id"`
	Protocol string  `json:"protocol"`
	Kind     string  `json:"kind"`
	Stream   string  `json:"stream"`
	Node     string  `json:"node"`
	Phase    string  `json:"phase"`
	Outcome  string  `json:"outcome"`
	Reason   string  `json:"reason"`
	Error    string  `json:"error"`
	At       float64 `json:"at_seconds"`    // arrival, from the start of the run
	After    float64 `json:"after_seconds"` // how long it was open (cut) or opening (refused)
}

// Summary is what a run did.
type Summary struct {
	Seed      int64                     `json:"seed"`
	Elapsed   float64                   `json:"elapsed_seconds"`
	StoppedBy string                    `json:"stopped_by"` // plan, max_total (arrivals stopped), max_duration, interrupted, hook
	Sessions  int                       `json:"sessions"`   // sessions started (opened or refused)
	Protocols map[string]ProtocolCounts `json:"protocols"`
	Failures  []SessionRecord           `json:"failures"` // every refused and cut session
	HookError string                    `json:"hook_error,omitempty"`
}

// Run plays the plan until its phases are over and its sessions ended,
// max_duration, or ctx's end. It returns the summary and, when a report
// line could not be written or a hook failed, an error (the summary is
// then still filled in).
func (e *Engine) Run(ctx context.Context) (*Summary, error) {
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return nil, errors.New("traffic: an engine runs once")
	}
	e.started = true
	e.mu.Unlock()
	interval := e.Interval
	if interval <= 0 {
		interval = time.Second
	}
	sched := NewSchedule(e.plan)
	start := time.Now()
	maxDur := time.Duration(e.plan.Caps.MaxDuration)
	runCtx, cancel := context.WithTimeout(ctx, maxDur)
	defer cancel()

	var (
		repErr  error
		repDone = make(chan struct{})
		repStop = make(chan struct{})
	)
	go func() {
		defer close(repDone)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-repStop:
				return
			case <-t.C:
				if err := e.writeLine(e.snapshot(start)); err != nil && repErr == nil {
					repErr = err
				}
			}
		}
	}()

	stoppedBy := "plan"
	var hookErr error
	spans := sched.Spans()
	next := 0
	a, ok := sched.Next()
	sleep := func(at time.Duration) bool {
		d := time.Until(start.Add(at))
		if d <= 0 {
			return runCtx.Err() == nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-runCtx.Done():
			return false
		}
	}
	for {
		if next < len(spans) && (!ok || spans[next].Start <= a.At) {
			sp := spans[next]
			next++
			if !sleep(sp.Start) {
				break
			}
			e.mu.Lock()
			e.phase = sp
			e.mu.Unlock()
			if e.Hook != nil {
				ev := Event{Phase: sp.Index, Label: sp.Label, Kind: sp.Phase.Kind, Node: sp.Phase.Node, Request: sp.Phase.Request, At: sp.Start}
				if err := e.Hook(runCtx, ev); err != nil {
					if runCtx.Err() != nil {
						break
					}
					hookErr = fmt.Errorf("phase %s: %w", sp.Label, err)
					stoppedBy = "hook"
					cancel()
					break
				}
			}
			continue
		}
		if !ok {
			break
		}
		if e.total >= e.plan.Caps.MaxTotal {
			stoppedBy = "max_total"
			break
		}
		if !sleep(a.At) {
			break
		}
		e.mu.Lock()
		if e.inflight >= e.plan.Caps.MaxConcurrent {
			e.protos[a.Protocol].skipped++
			e.mu.Unlock()
		} else {
			e.inflight++
			e.total++
			e.mu.Unlock()
			e.wg.Add(1)
			go e.session(runCtx, start, a)
		}
		a, ok = sched.Next()
	}
	e.wg.Wait()
	switch {
	case hookErr != nil:
	case ctx.Err() != nil:
		stoppedBy = "interrupted"
	case runCtx.Err() != nil:
		stoppedBy = "max_duration"
	}
	close(repStop)
	<-repDone
	if err := e.writeLine(e.snapshot(start)); err != nil && repErr == nil {
		repErr = err
	}
	sum := e.summary(start, stoppedBy)
	if hookErr != nil {
		sum.HookError = hookErr.Error()
	}
	if err := e.writeLine(struct {
		Summary *Summary `json:"summary"`
	}{sum}); err != nil && repErr == nil {
		repErr = err
	}
	if repErr != nil {
		repErr = fmt.Errorf("writing the report: %w", repErr)
	}
	return sum, errors.Join(hookErr, repErr)
}

// session opens one session, holds it for its lifetime and records how
// it ended.
func (e *Engine) session(ctx context.Context, start time.Time, a Arrival) {
	defer e.wg.Done()
	pp := e.plan.Protocols[a.Protocol]
	openTimeout := time.Duration(e.plan.OpenTimeout)
	if openTimeout <= 0 {
		openTimeout = 5 * time.Second
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t0 := time.Now()
	s, err := e.reg.dialer(a.Protocol).Open(sctx, pp.Target, a.Kind,
		SessionParams{ID: a.ID, Stream: a.Stream, Lifetime: a.Lifetime, OpenTimeout: openTimeout, Options: pp.Options})
	if err != nil {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.inflight--
		if ctx.Err() != nil {
			return // the run ended while it was opening: not the server's doing
		}
		reason := Reason(err)
		e.protos[a.Protocol].refused[reason]++
		e.failures = append(e.failures, e.record(a, UnknownNode, OutcomeRefused, reason, err, time.Since(t0)))
		return
	}
	node := s.Node()
	if node == "" {
		node = UnknownNode
	}
	k := nodeKey{a.Protocol, node}
	e.mu.Lock()
	c := e.counts(k)
	c.Active++
	c.Opened++
	e.live[a.ID] = &liveSession{key: k, s: s}
	e.mu.Unlock()

	opened := time.Now()
	waitc := make(chan error, 1)
	go func() { waitc <- s.Wait() }()
	timer := time.NewTimer(a.Lifetime)
	defer timer.Stop()
	outcome, reason := OutcomeEnded, ""
	var werr error
	select {
	case <-timer.C:
		_ = s.Close()
		<-waitc
	case werr = <-waitc:
		if ctx.Err() != nil {
			outcome = OutcomeStopped
		} else {
			outcome, reason = OutcomeCut, Reason(werr)
		}
		_ = s.Close()
	case <-ctx.Done():
		outcome = OutcomeStopped
		_ = s.Close()
		<-waitc
	}
	in, out := s.Bytes()
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.live, a.ID)
	e.inflight--
	c.Active--
	c.BytesIn += in
	c.BytesOut += out
	switch outcome {
	case OutcomeEnded:
		c.Ended++
	case OutcomeStopped:
		c.Stopped++
	case OutcomeCut:
		c.Cut++
		e.cuts[cutKey{a.Protocol, node, reason}]++
		e.failures = append(e.failures, e.record(a, node, OutcomeCut, reason, werr, time.Since(opened)))
	}
}

// counts returns a node's counts (e.mu held).
func (e *Engine) counts(k nodeKey) *NodeCounts {
	c := e.nodes[k]
	if c == nil {
		c = &NodeCounts{}
		e.nodes[k] = c
	}
	return c
}

// record describes a refused or cut session (e.mu held).
func (e *Engine) record(a Arrival, node, outcome, reason string, err error, after time.Duration) SessionRecord {
	msg := ""
	if err != nil {
		msg = err.Error()
	} else if outcome == OutcomeCut {
		msg = "closed by the server"
	}
	label := ""
	if a.Phase < len(e.plan.Phases) {
		label = e.plan.Phases[a.Phase].label(a.Phase)
	}
	return SessionRecord{ID: a.ID, Protocol: a.Protocol, Kind: a.Kind, Stream: a.Stream, Node: node, Phase: label,
		Outcome: outcome, Reason: reason, Error: msg, At: a.At.Seconds(), After: after.Seconds()}
}

// protocolCounts sums the counts per protocol and node, live sessions'
// bytes included (e.mu held).
func (e *Engine) protocolCounts() map[string]ProtocolCounts {
	live := map[nodeKey]NodeCounts{}
	for _, l := range e.live {
		in, out := l.s.Bytes()
		c := live[l.key]
		c.BytesIn += in
		c.BytesOut += out
		live[l.key] = c
	}
	m := map[string]ProtocolCounts{}
	for name, t := range e.protos {
		pc := ProtocolCounts{Skipped: t.skipped, Nodes: map[string]NodeCounts{}}
		for _, n := range t.refused {
			pc.Refused += n
		}
		m[name] = pc
	}
	for k, c := range e.nodes {
		nc := *c
		nc.add(live[k])
		pc := m[k.protocol]
		pc.Nodes[k.node] = nc
		pc.NodeCounts.add(nc)
		m[k.protocol] = pc
	}
	return m
}

func (e *Engine) snapshot(start time.Time) Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	return Snapshot{Time: now.UTC(), Elapsed: now.Sub(start).Seconds(), Phase: e.phase.Label, Protocols: e.protocolCounts()}
}

func (e *Engine) summary(start time.Time, stoppedBy string) *Summary {
	e.mu.Lock()
	defer e.mu.Unlock()
	f := append([]SessionRecord{}, e.failures...)
	sort.Slice(f, func(i, j int) bool { return f[i].ID < f[j].ID })
	return &Summary{Seed: e.plan.Seed, Elapsed: time.Since(start).Seconds(), StoppedBy: stoppedBy, Sessions: e.total,
		Protocols: e.protocolCounts(), Failures: f}
}

func (e *Engine) writeLine(v any) error {
	if e.Report == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = e.Report.Write(append(b, '\n'))
	return err
}
