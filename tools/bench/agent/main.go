// Command agent (tools/bench/agent) measures `lbpilot agent` for
// `make bench` (scripts/bench.d/30-agent.sh):
//
//   - agent checks at a fixed rate (open loop: each check starts on its
//     schedule whether or not the previous ones finished, and its latency
//     counts from that schedule) against a lab WCS, with the default 1 s
//     cache and without cache, alternating rounds; latency percentiles and
//     the upstream requests each side made;
//   - the highest rate one agent sustains (closed loop, several clients);
//   - the WCS docs' way, an xinetd-style service that runs a bash script
//     with curl, jq and bc per check, when those tools are installed.
//
// A check is what HAProxy does: connect, read the line, reset. It writes a
// markdown fragment (a "## Title" and tables) to -out.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/tools/bench/internal/benchutil"
)

type config struct {
	lbpilot      string
	out          string
	rate         int
	duration     time.Duration
	rounds       int
	scriptChecks int
	closed       time.Duration // length of each closed-loop run
}

func main() {
	var c config
	flag.StringVar(&c.lbpilot, "lbpilot", "bin/lbpilot", "lbpilot binary")
	flag.StringVar(&c.out, "out", "", "markdown fragment to write (default stdout)")
	flag.IntVar(&c.rate, "rate", 1000, "agent checks per second in the open-loop runs")
	flag.DurationVar(&c.duration, "duration", 3*time.Second, "length of one open-loop round")
	flag.IntVar(&c.rounds, "rounds", 2, "alternating rounds per side")
	flag.IntVar(&c.scriptChecks, "script-checks", 100, "checks of the xinetd-style script")
	flag.DurationVar(&c.closed, "closed", 3*time.Second, "length of each closed-loop (highest rate) run")
	flag.Parse()
	if err := benchutil.Finish(os.Stdout, c.out, func() (string, error) { return run(c) }); err != nil {
		benchutil.Fail("bench/agent", err)
	}
}

// upstream is a lab WCS that counts the statistics requests it answers.
type upstream struct {
	url      string
	requests atomic.Int64
}

func startUpstream() (*upstream, error) {
	l, err := lab.New(lab.Config{Kind: lab.WCS, Load: lab.Load{Publishers: 10, Subscribers: 60, HLS: 5, BandwidthInMbps: 20, BandwidthOutMbps: 50, CPU: 0.3}})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{url: "http://" + ln.Addr().String()}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/lab/") {
			u.requests.Add(1)
		}
		l.ServeHTTP(w, r)
	})
	go func() { _ = (&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}).Serve(ln) }()
	return u, nil
}

// startAgent runs `lbpilot agent` against the upstream and waits until it
// answers.
func startAgent(bin, target string, extra ...string) (addr string, stop func(), err error) {
	port, err := benchutil.FreePort()
	if err != nil {
		return "", nil, err
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	args := append([]string{"agent", "--agent.listen-address=" + addr, "--agent.http-listen-address=", "--agent.target=" + target, "--log.level=warn",
		// The benchmark machine's own load must not decide the replies.
		"--agent.threshold=cpu=off"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if line, err := check(addr); err == nil && strings.HasPrefix(line, "up ") {
			return addr, stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("lbpilot agent on %s never answered up", addr)
}

// check is one agent check as HAProxy makes it.
func check(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // HAProxy resets after the line
	}
	return line, err
}

// result is one round of checks.
type result struct {
	lat      []time.Duration // sorted
	lag      []time.Duration // sorted; open loop: start behind schedule
	errors   int
	elapsed  time.Duration
	upstream int64
}

func (r result) pct(p float64) time.Duration { return pctOf(r.lat, p) }

func pctOf(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(p/100*float64(len(sorted)-1))]
}

func (r result) rate() float64 { return float64(len(r.lat)) / r.elapsed.Seconds() }

func merge(rs []result) result {
	var m result
	for _, r := range rs {
		m.lat = append(m.lat, r.lat...)
		m.lag = append(m.lag, r.lag...)
		m.errors += r.errors
		m.elapsed += r.elapsed
		m.upstream += r.upstream
	}
	m.lat, m.lag = sortD(m.lat), sortD(m.lag)
	return m
}

// openLoop starts one check every 1/rate for d, each on its own, so a
// slow reply never delays the next check (no coordinated omission). A
// check's latency runs from its connect to its line, as HAProxy sees it;
// how late the generator started it (the machine's scheduling, not the
// agent) is kept apart as lag.
func openLoop(addr string, rate int, d time.Duration, up *upstream) result {
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	lat := make([]time.Duration, n)
	lag := make([]time.Duration, n)
	var errs atomic.Int64
	var wg sync.WaitGroup
	before := up.requests.Load()
	start := time.Now()
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		wg.Add(1)
		go func(i int, at time.Time) {
			defer wg.Done()
			t0 := time.Now()
			lag[i] = t0.Sub(at)
			line, err := check(addr)
			lat[i] = time.Since(t0)
			if err != nil || !strings.HasPrefix(line, "up ") {
				errs.Add(1)
			}
		}(i, at)
	}
	wg.Wait()
	r := result{lat: sortD(lat), lag: sortD(lag), errors: int(errs.Load()), elapsed: time.Since(start), upstream: up.requests.Load() - before}
	return r
}

// closedLoop runs workers that each check back to back for d.
func closedLoop(addr string, workers int, d time.Duration, valid func(string) bool) result {
	var mu sync.Mutex
	var all []time.Duration
	errs := 0
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(end) {
				t0 := time.Now()
				line, err := check(addr)
				mine = append(mine, time.Since(t0))
				if err != nil || !valid(line) {
					bad++
				}
			}
			mu.Lock()
			all = append(all, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := result{lat: all, errors: errs, elapsed: time.Since(start)}
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	return r
}

// The baseline: what the WCS docs install, rewritten here for the
// benchmark with the same per-check work — one curl of the JSON page, one
// jq per field read, bc for the arithmetic, uptime-style load average and
// the CPU count from /proc/cpuinfo.
const xinetdScript = `#!/bin/bash
url=$1 cpu_max=$2
stats=$(curl -s "$url")
[ -z "$stats" ] && { echo down; exit 0; }
field() { echo "$stats" | jq ".$1" | bc -l; }
l5=$(cut -d' ' -f2 /proc/loadavg)
cpus=$(grep -c processor /proc/cpuinfo)
cpu=$(echo "$l5/$cpus*100" | bc -l | cut -d. -f1)
[ "${cpu:-0}" -lt "$cpu_max" ] || { echo down; exit 0; }
pub=$(( $(field streams_stats.streams_webrtc_in) + $(field streams_stats.streams_rtmp_in) + $(field streams_stats.streams_rtsp_in) + $(field streams_stats.streams_rtsp_push_in) ))
[ "$pub" -lt 100 ] || { echo down; exit 0; }
sub=$(( $(field streams_stats.streams_webrtc_out) + $(field streams_stats.streams_rtmp_out) + $(field streams_stats.streams_rtmp_client_out) + $(field streams_stats.streams_rtsp_out) + $(field streams_stats.streams_websocket_out) ))
[ "$sub" -lt 100 ] || { echo down; exit 0; }
[ "$(field streams_stats.streams_hls)" -lt 100 ] || { echo down; exit 0; }
[ "$(echo "$(field network_stats.global_bandwidth_in) < 100" | bc -l)" -ne 0 ] || { echo down; exit 0; }
[ "$(echo "$(field network_stats.global_bandwidth_out) < 100" | bc -l)" -ne 0 ] || { echo down; exit 0; }
echo "up 100%"
`

// startScriptService emulates xinetd: every connection runs the script
// with its output going to the connection.
func startScriptService(dir, statURL string) (string, func(), error) {
	for _, tool := range []string{"bash", "curl", "jq", "bc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", nil, fmt.Errorf("%s not installed", tool)
		}
	}
	script := filepath.Join(dir, "haproxy-agent-check.sh")
	if err := os.WriteFile(script, []byte(xinetdScript), 0o755); err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// The machine's own load must not decide (the agent runs
				// with cpu=off too); the script still does the work.
				cmd := exec.Command("bash", script, statURL, "1000000")
				cmd.Stdout = c
				_ = cmd.Run()
			}()
		}
	}()
	return ln.Addr().String(), func() { _ = ln.Close() }, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func run(c config) (string, error) {
	up, err := startUpstream()
	if err != nil {
		return "", err
	}
	target := up.url + "/?action=stat"
	cached, stopCached, err := startAgent(c.lbpilot, target)
	if err != nil {
		return "", err
	}
	defer stopCached()
	uncached, stopUncached, err := startAgent(c.lbpilot, target, "--agent.cache-ttl=0s")
	if err != nil {
		return "", err
	}
	defer stopUncached()

	// Warm both (connections to the upstream, page faults), then
	// alternate rounds so drift on a shared machine hits both sides.
	openLoop(cached, c.rate, 300*time.Millisecond, up)
	openLoop(uncached, c.rate, 300*time.Millisecond, up)
	var rc, ru []result
	for i := 0; i < c.rounds; i++ {
		rc = append(rc, openLoop(cached, c.rate, c.duration, up))
		ru = append(ru, openLoop(uncached, c.rate, c.duration, up))
	}
	mc, mu := merge(rc), merge(ru)
	upOK := func(s string) bool { return strings.HasPrefix(s, "up ") }
	maxRate := closedLoop(cached, 8, c.closed, upOK)

	var b strings.Builder
	fmt.Fprintf(&b, "## Agent: HAProxy agent-check against a lab WCS\n\n")
	fmt.Fprintf(&b, "`scripts/bench.d/30-agent.sh` → `tools/bench/agent`. The real `lbpilot agent` binary reads a lab WCS (`internal/lab`, in the benchmark's process, counting the statistics requests it answers). A check is what HAProxy does: connect, read the line, reset. ")
	fmt.Fprintf(&b, "Open loop: a check starts every %v whether or not earlier ones finished, and its latency runs from its connect to its line, as HAProxy sees it. %d alternating rounds of %v per side; the load generator shares the machine's %s with the agent.\n\n", time.Second/time.Duration(c.rate), c.rounds, c.duration, cores())
	target2ms := "met"
	if mc.pct(99) >= 2*time.Millisecond {
		target2ms = "not met"
	}
	fmt.Fprintf(&b, "| %s checks/s, open loop | cache 1 s (default) | no cache (`--agent.cache-ttl=0s`) | ratio | target | |\n|---|---|---|---|---|---|\n", thousands(c.rate))
	fmt.Fprintf(&b, "| checks answered per second | %.0f | %.0f | %.2f× | %s/s | |\n", mc.rate(), mu.rate(), mc.rate()/mu.rate(), thousands(c.rate))
	fmt.Fprintf(&b, "| p50 reply latency | %s | %s | %.2f× | | |\n", ms(mc.pct(50)), ms(mu.pct(50)), ratio(mc.pct(50), mu.pct(50)))
	fmt.Fprintf(&b, "| p99 reply latency | %s | %s | %.2f× | < 2 ms | %s |\n", ms(mc.pct(99)), ms(mu.pct(99)), ratio(mc.pct(99), mu.pct(99)), target2ms)
	fmt.Fprintf(&b, "| p99.9 reply latency | %s | %s | %.2f× | | |\n", ms(mc.pct(99.9)), ms(mu.pct(99.9)), ratio(mc.pct(99.9), mu.pct(99.9)))
	fmt.Fprintf(&b, "| upstream requests for %d checks | %d | %d | %.4f× | one per cache period | %s |\n", len(mc.lat), mc.upstream, mu.upstream, float64(mc.upstream)/float64(max(mu.upstream, 1)), cacheVerdict(mc, c))
	fmt.Fprintf(&b, "| failed or non-up replies | %d | %d | | 0 | %s |\n\n", mc.errors, mu.errors, zeroVerdict(mc.errors+mu.errors))

	fmt.Fprintf(&b, "Without the cache every check reads the upstream, except that checks arriving while a reading is under way share it (single flight), hence fewer upstream requests than checks. ")
	fmt.Fprintf(&b, "The generator started its checks late by p50 %s, p99 %s (the shared machine's scheduling, outside the latencies above; load average %s at the end).\n\n", ms(pctOf(mc.lag, 50)), ms(pctOf(mc.lag, 99)), loadavg())
	fmt.Fprintf(&b, "Highest rate (closed loop, 8 clients back to back, cache 1 s): **%.0f checks/s**, p50 %s, p99 %s, %d failed.\n\n", maxRate.rate(), ms(maxRate.pct(50)), ms(maxRate.pct(99)), maxRate.errors)

	dir, err := os.MkdirTemp("", "lbpbench-agent")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	scriptAddr, stopScript, err := startScriptService(dir, up.url+"/?action=stat&format=json")
	if err != nil {
		fmt.Fprintf(&b, "The xinetd-style comparison was skipped: %v.\n", err)
		return b.String(), nil
	}
	defer stopScript()
	scriptOK := func(s string) bool { return s == "up 100%\n" }
	if line, err := check(scriptAddr); err != nil || !scriptOK(line) {
		return "", fmt.Errorf("the xinetd-style script answered %q (%v)", line, err)
	}
	// Sequential checks, alternating sides, then the script's highest
	// rate with as many clients as cores.
	var seqAgent, seqScript []time.Duration
	for i := 0; i < c.scriptChecks; i++ {
		for _, side := range []struct {
			addr string
			into *[]time.Duration
		}{{cached, &seqAgent}, {scriptAddr, &seqScript}} {
			t0 := time.Now()
			if _, err := check(side.addr); err != nil {
				return "", err
			}
			*side.into = append(*side.into, time.Since(t0))
		}
	}
	sa, ss := result{lat: sortD(seqAgent)}, result{lat: sortD(seqScript)}
	scriptMax := closedLoop(scriptAddr, 2, c.closed, scriptOK)
	fmt.Fprintf(&b, "Against the WCS docs' way: an xinetd-style service (emulated in Go: accept, run the script, its output to the connection) running a bash script with the docs' per-check work — curl of the JSON page, one jq and bc per field, the load average and CPU count — rewritten for this benchmark.\n\n")
	fmt.Fprintf(&b, "| measurement | lbpilot agent | xinetd-style script | ratio |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| p50 latency, %d sequential checks (alternating; each script run outlasts the agent's cache, so every agent check here reads the upstream) | %s | %s | %.0f× |\n", c.scriptChecks, ms(sa.pct(50)), ms(ss.pct(50)), ratio(ss.pct(50), sa.pct(50)))
	fmt.Fprintf(&b, "| p99 latency, same | %s | %s | %.0f× |\n", ms(sa.pct(99)), ms(ss.pct(99)), ratio(ss.pct(99), sa.pct(99)))
	fmt.Fprintf(&b, "| highest rate (closed loop; agent 8 clients, script 2) | %.0f checks/s | %.0f checks/s | %.0f× |\n", maxRate.rate(), scriptMax.rate(), maxRate.rate()/scriptMax.rate())
	fmt.Fprintf(&b, "| upstream requests per check | %.4f (at %s/s) | 1 | |\n", float64(mc.upstream)/float64(len(mc.lat)), thousands(c.rate))
	return b.String(), nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func sortD(d []time.Duration) []time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func cacheVerdict(r result, c config) string {
	// One reading per second of the run, plus one per round boundary.
	limit := int64(r.elapsed.Seconds()) + int64(c.rounds) + 1
	if r.upstream <= limit {
		return "met"
	}
	return "not met"
}

func zeroVerdict(n int) string {
	if n == 0 {
		return "met"
	}
	return "not met"
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	if len(s) > 3 {
		return s[:len(s)-3] + "," + s[len(s)-3:]
	}
	return s
}

func cores() string {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return "cores"
	}
	s := strings.TrimSpace(string(b))
	if lo, hi, ok := strings.Cut(s, "-"); ok && lo == "0" {
		var n int
		if _, err := fmt.Sscan(hi, &n); err == nil {
			return fmt.Sprintf("%d cores", n+1)
		}
	}
	return "cores (" + s + ")"
}
