package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/traffic"
)

// timing records how long each opened session took to open.
type timing struct {
	mu   sync.Mutex
	durs []time.Duration
}

func (t *timing) reset() {
	t.mu.Lock()
	t.durs = t.durs[:0]
	t.mu.Unlock()
}

func (t *timing) add(d time.Duration) {
	t.mu.Lock()
	t.durs = append(t.durs, d)
	t.mu.Unlock()
}

// quantiles returns the p50 and p99 of the recorded durations.
func (t *timing) quantiles() (p50, p99 time.Duration) {
	t.mu.Lock()
	d := append([]time.Duration(nil), t.durs...)
	t.mu.Unlock()
	return quantile(d, 0.50), quantile(d, 0.99)
}

// quantile is the nearest-rank q-quantile of d (0 for none); d is sorted.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(float64(len(d))*q+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)]
}

// timedRegistry is the lab's protocols, each open timed into tm.
func timedRegistry(tm *timing) (*traffic.Registry, error) {
	reg := traffic.NewRegistry()
	for _, sh := range share {
		d, kinds, ok := lab.Dialer(sh.proto)
		if !ok {
			return nil, fmt.Errorf("no lab protocol %s", sh.proto)
		}
		timed := traffic.DialerFunc(func(ctx context.Context, target, kind string, p traffic.SessionParams) (traffic.Session, error) {
			t0 := time.Now()
			s, err := d.Open(ctx, target, kind, p)
			if err == nil {
				tm.add(time.Since(t0))
			}
			return s, err
		})
		if err := reg.Register(sh.proto, timed, kinds...); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// stepPlan opens n sessions of the mix at rate per second, each kept
// for an hour (the step closes them when it is done).
func stepPlan(n int, rate float64, h *haproxy, seed int64) *traffic.Plan {
	ramp := time.Duration(float64(n)/rate*1.5*float64(time.Second)) + 2*time.Second
	hour := traffic.Duration(time.Hour)
	p := &traffic.Plan{Seed: seed, Caps: traffic.Caps{MaxConcurrent: n, MaxTotal: n, MaxDuration: hour},
		Protocols: map[string]traffic.ProtocolPlan{}, Phases: []traffic.Phase{{Name: "ramp", Kind: traffic.PhaseSteady, Duration: traffic.Duration(ramp)}}}
	url := func(scheme string, port int, path string) string {
		return fmt.Sprintf("%s://127.0.0.1:%d%s", scheme, port, path)
	}
	for _, sh := range share {
		pp := traffic.ProtocolPlan{Rate: rate * sh.part, Mix: sh.mix, Lifetime: traffic.Lifetime{Dist: traffic.LifetimeFixed, Value: hour}}
		switch sh.proto {
		case lab.ProtoWCS:
			pp.Target, pp.Streams, pp.Options = url("ws", h.wcs, "/"), 50, map[string]string{"bitrate": strconv.Itoa(wcsKbps)}
		case lab.ProtoMQTT:
			pp.Target, pp.Streams, pp.Options = url("mqtt", h.mqtt, ""), 100, map[string]string{"rate": "1", "size": strconv.Itoa(mqttSize)}
		case lab.ProtoFLV:
			pp.Target, pp.Streams = url("http", h.play, "/live"), 20
		case lab.ProtoHLS:
			pp.Target, pp.Streams = url("http", h.play, "/live"), 20
		case lab.ProtoRTMP:
			// One publisher per stream: a second one would be refused,
			// so each step publishes under an app of its own.
			pp.Target, pp.Streams, pp.Options = url("rtmp", h.rtmp, fmt.Sprintf("/live%d", seed)), traffic.MaxConcurrentLimit, map[string]string{"bitrate": strconv.Itoa(rtmpKbps)}
		}
		p.Protocols[sh.proto] = pp
	}
	return p
}

// snapshots keeps the engine's latest report line.
type snapshots struct {
	mu   sync.Mutex
	last traffic.Snapshot
	buf  []byte
}

func (s *snapshots) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, b...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		var snap traffic.Snapshot
		if json.Unmarshal(s.buf[:i], &snap) == nil && snap.Protocols != nil {
			s.last = snap
		}
		s.buf = s.buf[i+1:]
	}
	return len(b), nil
}

// totals sums the latest snapshot over the protocols.
func (s *snapshots) totals() (active, opened, refused, cut int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pc := range s.last.Protocols {
		active += pc.Active
		opened += pc.Opened
		refused += pc.Refused
		cut += pc.Cut
	}
	return
}

// runner holds the engines of the steps so far: each step's sessions
// stay open through the later steps, and a step opens only the
// difference.
type runner struct {
	cfg    config
	h      *haproxy
	reg    *traffic.Registry
	tm     *timing
	ctx    context.Context
	cancel context.CancelFunc
	runs   []*engineRun
}

type engineRun struct {
	snaps *snapshots
	done  chan struct{}
	sum   *traffic.Summary
	err   error
}

func newRunner(ctx context.Context, cfg config, h *haproxy, reg *traffic.Registry, tm *timing) *runner {
	rctx, cancel := context.WithCancel(ctx)
	return &runner{cfg: cfg, h: h, reg: reg, tm: tm, ctx: rctx, cancel: cancel}
}

// totals sums the engines' latest counts.
func (r *runner) totals() (active, refused, cut int64) {
	for _, er := range r.runs {
		a, _, rf, c := er.snaps.totals()
		active, refused, cut = active+a, refused+rf, cut+c
	}
	return
}

// stop closes every session and returns the refusals and cuts by
// protocol, outcome and reason.
func (r *runner) stop() (map[string]int64, error) {
	r.cancel()
	reasons := map[string]int64{}
	var errs []error
	for _, er := range r.runs {
		<-er.done
		if er.err != nil {
			errs = append(errs, er.err)
		}
		if er.sum == nil {
			continue
		}
		for _, f := range er.sum.Failures {
			reasons[f.Protocol+" "+f.Outcome+" "+f.Reason]++
		}
	}
	r.runs = nil
	return reasons, errors.Join(errs...)
}

// step brings the open sessions up to n, holds them and measures.
func (r *runner) step(n int, seed int64) (step, error) {
	s := step{Target: n}
	active, _, _ := r.totals()
	delta := n - int(active)
	r.tm.reset()
	if delta > 0 {
		plan := stepPlan(delta, r.cfg.rate, r.h, seed)
		if err := plan.Validate(r.reg); err != nil {
			return s, err
		}
		er := &engineRun{snaps: &snapshots{}, done: make(chan struct{})}
		e := traffic.NewEngine(plan, r.reg)
		e.Report, e.Interval = er.snaps, 100*time.Millisecond
		go func() {
			defer close(er.done)
			er.sum, er.err = e.Run(r.ctx)
		}()
		r.runs = append(r.runs, er)
		// Ramp: until every session opened or was refused, or time is up.
		deadline := time.Now().Add(time.Duration(plan.Phases[0].Duration) + 5*time.Second)
		for {
			_, opened, refused, _ := er.snaps.totals()
			if opened+refused >= int64(delta) {
				break
			}
			if time.Now().After(deadline) {
				// Arrivals not opened in time count as refused.
				s.Late = int64(delta) - opened - refused
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Hold: let the sessions settle a moment, then measure over the rest.
	settle := r.cfg.hold / 4
	time.Sleep(settle)
	cpu0, hap0, t0 := selfCPU(), procCPU(r.h.pid()), time.Now()
	time.Sleep(r.cfg.hold - settle)
	cpu1, hap1, t1 := selfCPU(), procCPU(r.h.pid()), time.Now()
	wall := t1.Sub(t0).Seconds()
	s.CPU, s.HapCPU = (cpu1-cpu0)/wall, (hap1-hap0)/wall
	s.Sustained, s.Refused, s.Cut = r.totals()
	s.Refused += s.Late
	s.P50, s.P99 = r.tm.quantiles()
	s.RSS, s.HapRSS = rss(os.Getpid()), rss(r.h.pid())
	runtime.GC()
	s.Heap = heapInuse()
	return s, nil
}

// --- process figures ---

// selfCPU is this process's user+system CPU seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's times (100 on
// every Linux this runs on).
const clockTick = 100

// procCPU is a process's user+system CPU seconds, from /proc/<pid>/stat.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/<pid>/stat line; the command name may hold spaces and parens.
func parseStatCPU(stat string) float64 {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTick
}

// rss is a process's resident set in bytes (VmRSS).
func rss(pid int) int64 {
	v := procStatus(pid, "VmRSS:")
	n, _ := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	return n * 1024
}

func procStatus(pid int, key string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, key) {
			return strings.TrimSpace(strings.TrimPrefix(l, key))
		}
	}
	return ""
}

// procLimit is a soft limit from /proc/<pid>/limits, e.g. "Max open files".
func procLimit(pid int, name string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name) {
			if f := strings.Fields(strings.TrimPrefix(l, name)); len(f) > 0 {
				return f[0]
			}
		}
	}
	return "?"
}

func heapInuse() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
