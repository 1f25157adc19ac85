package main

import (
	_ "embed"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/lbpilot/lbpilot/demo"
	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/quality"
)

// tuning is what the benchmark made us change in the product, with the
// measurements before and after (kept by hand: each change was measured
// in its own runs).
//
//go:embed tuning.md
var tuning string

// reconcileSeconds is the demo rebalancer's reconcile_interval: the
// target for a drained node's return to ready after its alert ends.
const reconcileSeconds = 1.0

// sampleSlack is the sampling's resolution (two samples a second): a
// measured lag is known to within it.
const sampleSlack = 0.5

// render writes the fragment: the plan, one table of measures with a
// column per arm run, then the product's targets per round.
func render(runs []armRun, pngs map[int]string, cfg config, args string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("## Control quality on real traffic (tools/bench/control)\n\n")
	p("The same seeded plan (seed %d, scale %.2f) played through the whole demo stack once per arm, the arms alternated in one run", cfg.seed, float64(cfg.scale))
	if args != "" {
		p(" (`go run ./tools/bench/control %s`)", args)
	}
	p(": real haproxy, the lab's real WebSocket and MQTT sessions, Prometheus with the shipped rules (their `for`, `keep_firing_for` and range windows divided by %d, as the demo does), Alertmanager, the rebalancer with the demo's timings (docs/lab.md).\n\n", demo.RuleDivisor)
	p("Fleet: wcs1 carries %d sessions, wcs2 %d (wcs1 is the half-size node); both start with no audience and %.0f %% CPU. ", quality.Capacities[0], quality.Capacities[1], quality.BackgroundCPU*100)
	from, to := cfg.scale.HogWindow()
	p("An outside process hogs %.0f %% of wcs2's CPU from %.0fs to %.0fs (the lab's `hog_cpu`: its effective capacity falls to %d sessions, docs/lab.md). ", quality.HogCPU*100, from.Seconds(), to.Seconds(), lab.EffectiveCapacity(quality.Capacities[1], quality.HogCPU))
	p("Phases: steady WebSocket players and MQTT subscribers (about 30 %% of the fleet busy), a flash crowd at 3× the arrival rate with the same long sessions (about 80 %%: even balancing overloads wcs1), wcs1 killed (client ports closed, its sessions reset) and brought back, steady again. ")
	p("The agents' subscribers threshold is each node's capacity (arms 2–4). Sampled twice a second: the lab's live sessions and effective capacity, HAProxy's server state and weight, Alertmanager's drain alerts.\n\n")

	p("| measure |")
	for _, r := range runs {
		if cfg.rounds > 1 {
			p(" arm %d (run %d) |", r.Arm, r.Round)
		} else {
			p(" arm %d |", r.Arm)
		}
	}
	p("\n|---|")
	for range runs {
		p("---:|")
	}
	p("\n")
	row := func(name string, cell func(r armRun) string) {
		p("| %s |", name)
		for _, r := range runs {
			p(" %s |", cell(r))
		}
		p("\n")
	}
	row("setup", func(r armRun) string { return r.Name })
	row("node-seconds over capacity (wcs1 + wcs2)", func(r armRun) string {
		m := r.Measures
		return fmt.Sprintf("**%.1f** (%s)", m.OverSeconds, perNode(m, func(n quality.NodeMeasures) string { return fmt.Sprintf("%.1f", n.OverSeconds) }))
	})
	row("peak load ÷ capacity (wcs1, wcs2)", func(r armRun) string {
		return perNode(r.Measures, func(n quality.NodeMeasures) string { return fmt.Sprintf("%.2f", n.Peak) })
	})
	row("seconds with no usable WCS server", func(r armRun) string { return fmt.Sprintf("**%.1f**", r.Measures.EmptySeconds) })
	row("WCS sessions opened", func(r armRun) string { return fmt.Sprint(r.Measures.Opened[lab.ProtoWCS]) })
	row("WCS refused at open", func(r armRun) string { return counts(r.Measures.Refused[lab.ProtoWCS]) })
	row("WCS cut mid-life, by cause", func(r armRun) string { return counts(r.Measures.Cut[lab.ProtoWCS]) })
	row("WCS cut by lbpilot's actions", func(r armRun) string { return fmt.Sprintf("**%d**", r.Measures.CutByLbpilot) })
	row("MQTT opened / refused / cut", func(r armRun) string {
		m := r.Measures
		return fmt.Sprintf("%d / %d / %d", m.Opened[lab.ProtoMQTT], quality.Total(m.Refused, lab.ProtoMQTT), quality.Total(m.Cut, lab.ProtoMQTT))
	})
	row("drains / readies (wcs1, wcs2)", func(r armRun) string {
		return perNode(r.Measures, func(n quality.NodeMeasures) string { return fmt.Sprintf("%d/%d", n.Drains, n.Readies) })
	})
	row("health changes UP↔DOWN (wcs1, wcs2)", func(r armRun) string {
		return perNode(r.Measures, func(n quality.NodeMeasures) string { return fmt.Sprint(n.Health) })
	})
	row("weight changes (wcs1, wcs2)", func(r armRun) string {
		return perNode(r.Measures, func(n quality.NodeMeasures) string { return fmt.Sprint(n.Weights) })
	})
	row("overload episodes; most drains in one (wcs1, wcs2)", func(r armRun) string {
		return perNode(r.Measures, func(n quality.NodeMeasures) string { return fmt.Sprintf("%d; %d", n.Episodes, n.MaxDrains) })
	})
	row("relief: overloads, longest (s)", func(r armRun) string {
		m := r.Measures
		return fmt.Sprintf("%d, **%.1f**", len(m.Reliefs), m.MaxRelief())
	})
	row("ready after the drain alert ended, longest (s)", func(r armRun) string {
		if len(r.Measures.Nodes) == 0 || r.Measures.Nodes[0].Readies+r.Measures.Nodes[len(r.Measures.Nodes)-1].Readies == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f", r.Measures.MaxReadyLag())
	})
	row("spread max÷min at the end of each phase", func(r armRun) string {
		var parts []string
		for _, s := range r.Measures.Spread {
			parts = append(parts, spread(s.Spread))
		}
		return strings.Join(parts, ", ")
	})
	p("\nPhases in the spread row: %s. ∞: a node had no session while another had some; –: no node UP.\n", strings.Join([]string{quality.PhaseSteady, quality.PhaseCrowd, quality.PhaseKilled, quality.PhaseBack, quality.PhaseSteady2}, ", "))
	p("Cut causes: *node killed* is wcs1's sessions reset by the kill; *while drained* would be a session cut on a node lbpilot had drained; *other* keeps the client's reason.\n\n")

	p("### Targets (arm 4)\n\n")
	p("| run | empty backend 0 s | 0 cut by lbpilot | ≤ 1 drain per node per episode | ready ≤ %.0f s (+%.1f s sampling) after the alert | over capacity ≤ 0.25 × arm 1 | < arms 2 and 3 | relief ≤ arm 3 |\n|---|---|---|---|---|---|---|---|\n", reconcileSeconds, sampleSlack)
	byRound := map[int]map[int]quality.Measures{}
	for _, r := range runs {
		if byRound[r.Round] == nil {
			byRound[r.Round] = map[int]quality.Measures{}
		}
		byRound[r.Round][r.Arm] = r.Measures
	}
	rounds := make([]int, 0, len(byRound))
	for k := range byRound {
		rounds = append(rounds, k)
	}
	sort.Ints(rounds)
	for _, rd := range rounds {
		ms := byRound[rd]
		m4, ok := ms[4]
		if !ok {
			continue
		}
		p("| %d | %s | %s | %s | %s | %s | %s | %s |\n", rd,
			check(m4.EmptySeconds == 0, fmt.Sprintf("%.1f s", m4.EmptySeconds)),
			check(m4.CutByLbpilot == 0, fmt.Sprint(m4.CutByLbpilot)),
			check(m4.MaxDrainsPerEpisode() <= 1, fmt.Sprint(m4.MaxDrainsPerEpisode())),
			readyCell(m4),
			compare(ms, 1, func(m1 quality.Measures) (bool, string) {
				return m4.OverSeconds <= 0.25*m1.OverSeconds, fmt.Sprintf("%.1f vs %.1f (%s)", m4.OverSeconds, m1.OverSeconds, ratio(m4.OverSeconds, m1.OverSeconds))
			}),
			strictlyBetter(ms, m4),
			compare(ms, 3, func(m3 quality.Measures) (bool, string) {
				return atResolution(m4.MaxRelief()) <= atResolution(m3.MaxRelief()), fmt.Sprintf("%.1f s vs %.1f s", m4.MaxRelief(), m3.MaxRelief())
			}))
	}
	if tuning != "" {
		p("\n%s", tuning)
	}
	if len(pngs) > 0 {
		p("\nSessions per node over time (solid), each node's effective capacity (dashed), drains (▼) and returns to ready (▲), phase starts (grey):\n\n")
		for _, r := range runs {
			if path, ok := pngs[r.Arm]; ok && r.Round == runs[len(runs)-1].Round {
				p("![arm %d: %s](%s)\n", r.Arm, r.Name, path)
			}
		}
	}
	return b.String()
}

func perNode(m quality.Measures, f func(quality.NodeMeasures) string) string {
	var parts []string
	for _, n := range m.Nodes {
		parts = append(parts, f(n))
	}
	return strings.Join(parts, ", ")
}

func counts(m map[string]int64) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(m))
	var total int64
	for k, v := range m {
		keys = append(keys, k)
		total += v
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

func spread(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case math.IsInf(v, 1):
		return "∞"
	}
	return fmt.Sprintf("%.2f", v)
}

func check(ok bool, detail string) string {
	if ok {
		return "✓ " + detail
	}
	return "✗ " + detail
}

func ratio(a, b float64) string {
	if b == 0 {
		if a == 0 {
			return "both 0"
		}
		return "∞"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func compare(ms map[int]quality.Measures, arm int, f func(quality.Measures) (bool, string)) string {
	m, ok := ms[arm]
	if !ok {
		return fmt.Sprintf("(arm %d not run)", arm)
	}
	good, detail := f(m)
	return check(good, detail)
}

func strictlyBetter(ms map[int]quality.Measures, m4 quality.Measures) string {
	var parts []string
	good := true
	for _, arm := range []int{2, 3} {
		m, ok := ms[arm]
		if !ok {
			parts = append(parts, fmt.Sprintf("arm %d not run", arm))
			continue
		}
		good = good && m4.OverSeconds < m.OverSeconds
		parts = append(parts, fmt.Sprintf("%.1f", m.OverSeconds))
	}
	return check(good, fmt.Sprintf("%.1f vs %s", m4.OverSeconds, strings.Join(parts, ", ")))
}

func readyCell(m quality.Measures) string {
	drained := 0
	for _, n := range m.Nodes {
		drained += n.Readies
	}
	if drained == 0 {
		return "– (no return to ready)"
	}
	lag := m.MaxReadyLag()
	return check(lag <= reconcileSeconds+sampleSlack, fmt.Sprintf("%.1f s", lag))
}

// atResolution rounds seconds measured between samples to the sampling's
// resolution: a relief of 1.02 s and one of 0.98 s are the same two
// samples apart, and the table shows both as 1.0 s.
func atResolution(sec float64) float64 {
	return math.Round(sec/sampleSlack) * sampleSlack
}
