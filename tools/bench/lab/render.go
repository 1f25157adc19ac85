package main

import (
	"fmt"
	"strings"
)

// target is the requirement: concurrent mixed sessions the
// 2-core machine sustains with HAProxy in the path.
const target = 2000

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func kib(b float64) string { return fmt.Sprintf("%.0f KiB", b/1024) }

// render writes the BENCHMARKS.md fragment.
func render(r *result, args string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("## Lab ceiling: real sessions through HAProxy\n\n")
	w("The traffic generator and the lab nodes (2 WCS, an SRS origin and an edge, an EMQX cluster of 2 nodes) in one process,\n")
	w("a real haproxy in front with the seed frontends (fe_wcs, fe_rtmp, fe_play, fe_mqtt); `tools/bench/lab`.\n")
	w("The mix: 50%% WCS (9 players to 1 publisher, %d kbit/s), 40%% MQTT (9 subscribers to 1 publisher of a %d-byte message a second),\n", wcsKbps, mqttSize)
	w("5%% HTTP-FLV and 3%% HLS players (%d kbit/s), 2%% RTMP publishers (%d kbit/s): bitrates low so bandwidth is not the limit.\n", edgeKbps, rtmpKbps)
	w("Each step opens the sessions it adds (%.0f a second; the earlier steps' stay open), holds them all %s and measures over\n", r.Rate, r.Hold)
	w("the last three quarters of the hold; open latencies are the added sessions' (TCP, HAProxy, the protocol's handshake).\n")
	w("Refused and cut count from the first step on;")
	w(" a step fails when over %.1f%% of its sessions are refused or cut, fewer stay open, or the open p99 exceeds %s.\n", r.MaxFail*100, r.P99Bound)
	w("CPU is in cores (user+system over the hold); \"per session\" divides by the sessions held. This process's memory per session is\n")
	w("its growth over the idle lab (RSS; Go heap in use after a GC). Measured on %d cores shared with other work, so the absolute\n", r.CPUs)
	w("figures are noisy: read the per-session costs and the ceiling as an order of magnitude.\n\n")
	w("Limits: RLIMIT_NOFILE %d (raised to the hard limit; haproxy inherits it: %s), haproxy maxconn %d, session cap %d.\n\n", r.NOFILE, r.HapNOFILE, r.HapMaxconn, r.Cap)

	w("| sessions | sustained | refused | cut | open p50 | open p99 | CPU (lab + generator) | per 1,000 sessions | haproxy CPU | per 1,000 sessions | RSS | RSS per session | heap per session | haproxy RSS | step |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.Steps {
		n := float64(max(s.Sustained, 1))
		verdict := "ok"
		if s.Failed != "" {
			verdict = "**failed**"
		}
		w("| %d | %d | %d | %d | %s | %s | %.2f | %.3f | %.2f | %.3f | %s | %s | %s | %s | %s |\n",
			s.Target, s.Sustained, s.Refused, s.Cut, roundDur(s.P50), roundDur(s.P99),
			s.CPU, s.CPU/n*1000, s.HapCPU, s.HapCPU/n*1000,
			mib(s.RSS), kib(float64(s.RSS-r.IdleRSS)/n), kib(float64(s.Heap-r.IdleHeap)/n), mib(s.HapRSS), verdict)
	}
	w("\nIdle lab: RSS %s, Go heap %s; haproxy %s.\n\n", mib(r.IdleRSS), mib(r.IdleHeap), mib(r.HapIdleRSS))

	best, fail := ceiling(r.Steps)
	w("**Ceiling: sustained %d concurrent mixed sessions", best)
	switch {
	case fail != nil:
		w("; the first failing step, %d, failed: %s.**\n", fail.Target, fail.Failed)
	case len(r.Steps) > 0 && r.Steps[len(r.Steps)-1].Target >= r.Cap:
		w("; no step failed up to the cap of %d (a floor, not the limit).**\n", r.Cap)
	default:
		w("; no step failed (the steps stopped below the cap).**\n")
	}
	if last := lastPassed(r.Steps); last != nil {
		n := float64(last.Sustained)
		w("At %d sessions one session costs %.2f ms of CPU a second in the lab and generator and %.2f ms in haproxy,\n",
			last.Sustained, last.CPU/n*1000, last.HapCPU/n*1000)
		w("%s of this process's RSS (%s of Go heap) and %s of haproxy's.\n",
			kib(float64(last.RSS-r.IdleRSS)/n), kib(float64(last.Heap-r.IdleHeap)/n), kib(float64(last.HapRSS-r.HapIdleRSS)/n))
	}
	if best >= target {
		w("Target (at least %d concurrent mixed sessions with HAProxy in the path): **met**, %d more (%.1f×).\n\n", target, best-target, float64(best)/target)
	} else {
		w("Target (at least %d concurrent mixed sessions with HAProxy in the path): **not met** (%d short).\n\n", target, target-best)
	}
	if args != "" {
		args = " " + args
	}
	w("Alone: `go run ./tools/bench/lab%s` (`-short` for a quick check: 50, 100, 200 sessions; `-steps`, `-hold`, `-rate`, `-cap`, `-p99`, `-max-fail`).\n", args)
	return b.String()
}

func lastPassed(steps []step) *step {
	var last *step
	for i := range steps {
		if steps[i].Failed != "" {
			break
		}
		last = &steps[i]
	}
	return last
}
