// Command lab (tools/bench/lab) measures the lab's ceiling: how many
// concurrent mixed sessions the traffic generator and the lab nodes, in
// this one process, sustain with a real haproxy in the path, and what a
// session costs in CPU and memory (this process's and haproxy's).
//
// It starts two WCS nodes, an SRS origin and an SRS edge, and an EMQX
// cluster of two nodes, all with client ports; haproxy in front with the
// seed topologies (fe_wcs → be_wcs_ws roundrobin, fe_rtmp tcp, fe_play
// http, fe_mqtt tcp leastconn with hours-long timeouts); then, step by
// step, opens N sessions (a fresh run of the traffic engine per step),
// holds them, measures, and closes them, until a step fails: more than
// a small share refused or cut, an open latency p99 over a bound, or N
// not reached in time. It writes a markdown fragment for BENCHMARKS.md
// (scripts/bench.d/50-lab.sh).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lbpilot/lbpilot/internal/lab"
)

// Media bitrates, low so that bandwidth is not what limits the lab.
const (
	wcsKbps  = 32 // WCS publishers' and players' media
	rtmpKbps = 64 // RTMP publishers
	edgeKbps = 96 // the SRS edge's HTTP-FLV and HLS
	mqttSize = 64 // bytes per MQTT message, one a second per publisher
)

// share is each protocol's part of the sessions, and its kinds' weights.
var share = []struct {
	proto string
	part  float64
	mix   map[string]float64
}{
	{lab.ProtoWCS, 0.50, map[string]float64{"play": 9, "publish": 1}},
	{lab.ProtoMQTT, 0.40, map[string]float64{"subscribe": 9, "publish": 1}},
	{lab.ProtoFLV, 0.05, map[string]float64{"play": 1}},
	{lab.ProtoHLS, 0.03, map[string]float64{"play": 1}},
	{lab.ProtoRTMP, 0.02, map[string]float64{"publish": 1}},
}

type config struct {
	steps    []int
	hold     time.Duration // sessions held before and while measuring
	rate     float64       // sessions opened per second during a ramp
	maxFail  float64       // refused+cut share a step may have
	p99Bound time.Duration // open latency p99 a step may have
	hardCap  int
	haproxy  string
	out      string
	log      io.Writer
}

func main() {
	steps := flag.String("steps", "500,1000,1500,2000,2500,3000,4000,5000,6000,8000", "concurrent sessions per step, ascending")
	short := flag.Bool("short", false, "a quick check: steps 50,100,200 held 2s")
	hold := flag.Duration("hold", 4*time.Second, "how long each step's sessions are held and measured")
	rate := flag.Float64("rate", 400, "sessions opened per second while a step ramps up")
	maxFail := flag.Float64("max-fail", 0.01, "share of a step's sessions that may be refused or cut")
	p99 := flag.Duration("p99", 2*time.Second, "bound on a step's session open latency p99")
	hardCap := flag.Int("cap", 8000, "hard cap on concurrent sessions (lowered to what the file-descriptor limit allows)")
	hap := flag.String("haproxy", "haproxy", "haproxy binary")
	out := flag.String("out", "", "markdown fragment to write (default stdout)")
	flag.Parse()
	cfg := config{hold: *hold, rate: *rate, maxFail: *maxFail, p99Bound: *p99, hardCap: *hardCap, haproxy: *hap, out: *out, log: os.Stderr}
	var err error
	if *short {
		*steps, cfg.hold = "50,100,200", 2*time.Second
	}
	if cfg.steps, err = parseSteps(*steps); err != nil {
		fmt.Fprintln(os.Stderr, "bench/lab: -steps:", err)
		os.Exit(2)
	}
	res, err := run(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/lab:", err)
		os.Exit(1)
	}
	var args []string
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "out" {
			args = append(args, "-"+f.Name+"="+f.Value.String())
		}
	})
	frag := render(res, strings.Join(args, " "))
	if cfg.out == "" {
		fmt.Print(frag)
		return
	}
	if err := os.WriteFile(cfg.out, []byte(frag), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench/lab:", err)
		os.Exit(1)
	}
}

// parseSteps reads "500,1000,..." : positive and ascending.
func parseSteps(s string) ([]int, error) {
	var steps []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q: want positive numbers of sessions, e.g. 500,1000,2000", f)
		}
		if len(steps) > 0 && n <= steps[len(steps)-1] {
			return nil, fmt.Errorf("%d after %d: steps must ascend", n, steps[len(steps)-1])
		}
		steps = append(steps, n)
	}
	return steps, nil
}

// planSteps keeps the steps up to the cap; when the cap cuts the list
// and is above the last kept step, the cap itself is the last step.
func planSteps(steps []int, hardCap int) []int {
	var out []int
	for _, n := range steps {
		if n > hardCap {
			if hardCap > 0 && (len(out) == 0 || out[len(out)-1] < hardCap) {
				out = append(out, hardCap)
			}
			break
		}
		out = append(out, n)
	}
	return out
}

// fdCap is how many concurrent sessions a file-descriptor limit allows:
// each session holds two descriptors in this process (the generator's
// end and the lab node's) and two in haproxy; some are kept spare.
func fdCap(nofile uint64) int {
	const spare = 512
	if nofile <= spare {
		return 0
	}
	return int((nofile - spare) / 2)
}

// raiseNOFILE raises the soft file-descriptor limit to the hard one
// (haproxy, a child, inherits it) and returns the limit in force.
func raiseNOFILE() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return rl.Cur, nil
}

// step is one step's measurement.
type step struct {
	Target    int
	Sustained int64         // sessions open during the hold, at its end
	Refused   int64         // refused so far, Late included
	Cut       int64         // cut so far
	Late      int64         // not opened in time by this step's ramp
	P50, P99  time.Duration // session open latency (opened sessions)
	CPU       float64       // this process's cores over the hold
	HapCPU    float64       // haproxy's cores over the hold
	RSS       int64         // this process's resident set, bytes
	Heap      int64         // Go heap in use after a GC, bytes
	HapRSS    int64
	Reasons   map[string]int64 // refusals and cuts by reason
	Failed    string           // why the step failed; "" passed
}

// result is a whole run.
type result struct {
	Steps             []step
	Planned           []int
	IdleRSS, IdleHeap int64 // before the first step
	HapIdleRSS        int64
	NOFILE            uint64
	HapNOFILE         string
	HapMaxconn        int
	Cap               int
	Hold              time.Duration
	Rate              float64
	MaxFail           float64
	P99Bound          time.Duration
	CPUs              int
}

// judge says why a step failed, "" when it passed.
func judge(s step, maxFail float64, p99Bound time.Duration) string {
	bad := s.Refused + s.Cut
	switch {
	case float64(bad) > maxFail*float64(s.Target):
		return fmt.Sprintf("%d sessions refused or cut so far, over %.1f%% of %d%s", bad, maxFail*100, s.Target, reasons(s.Reasons))
	case float64(s.Sustained) < (1-maxFail)*float64(s.Target):
		return fmt.Sprintf("only %d of %d sessions open at the end of the hold", s.Sustained, s.Target)
	case s.P99 > p99Bound:
		return fmt.Sprintf("session open p99 %s over the %s bound", roundDur(s.P99), p99Bound)
	}
	return ""
}

func reasons(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return ": " + strings.Join(parts, ", ")
}

// ceiling is the last passing step's sustained sessions and the first
// failing step (nil when none failed).
func ceiling(steps []step) (int64, *step) {
	var best int64
	for i := range steps {
		if steps[i].Failed != "" {
			return best, &steps[i]
		}
		best = steps[i].Sustained
	}
	return best, nil
}

func run(ctx context.Context, cfg config) (*result, error) {
	logf := func(format string, args ...any) {
		if cfg.log != nil {
			fmt.Fprintf(cfg.log, "bench/lab: "+format+"\n", args...)
		}
	}
	nofile, err := raiseNOFILE()
	if err != nil {
		return nil, fmt.Errorf("RLIMIT_NOFILE: %w", err)
	}
	res := &result{NOFILE: nofile, Hold: cfg.hold, Rate: cfg.rate, MaxFail: cfg.maxFail, P99Bound: cfg.p99Bound, CPUs: runtime.NumCPU()}
	res.Cap = min(cfg.hardCap, fdCap(nofile))
	res.Planned = planSteps(cfg.steps, res.Cap)
	if len(res.Planned) == 0 {
		return nil, fmt.Errorf("no step under the cap of %d sessions", res.Cap)
	}
	res.HapMaxconn = res.Cap + 1000

	l, err := startLab()
	if err != nil {
		return nil, err
	}
	defer l.close()
	dir, err := os.MkdirTemp("", "lbpbenchlab")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	hap, err := startHAProxy(cfg.haproxy, dir, l, res.HapMaxconn)
	if err != nil {
		return nil, err
	}
	defer hap.stop()
	res.HapNOFILE = procLimit(hap.pid(), "Max open files")

	runtime.GC()
	res.IdleRSS, res.IdleHeap, res.HapIdleRSS = rss(os.Getpid()), heapInuse(), rss(hap.pid())
	tm := &timing{}
	reg, err := timedRegistry(tm)
	if err != nil {
		return nil, err
	}
	r := newRunner(ctx, cfg, hap, reg, tm)
	defer func() { _, _ = r.stop() }()
	for i, n := range res.Planned {
		logf("step %d: %d sessions", i+1, n)
		s, err := r.step(n, int64(i+1))
		if err != nil {
			return nil, err
		}
		s.Failed = judge(s, cfg.maxFail, cfg.p99Bound)
		logf("step %d: sustained %d, refused %d, cut %d, open p50 %s p99 %s, cpu %.2f haproxy %.2f %s", i+1, s.Sustained, s.Refused, s.Cut,
			roundDur(s.P50), roundDur(s.P99), s.CPU, s.HapCPU, s.Failed)
		res.Steps = append(res.Steps, s)
		if s.Failed != "" {
			break
		}
	}
	reasons, err := r.stop()
	if err != nil {
		return nil, err
	}
	if n := len(res.Steps); n > 0 && res.Steps[n-1].Failed != "" {
		last := &res.Steps[n-1]
		if last.Late > 0 {
			reasons["not opened in time"] = last.Late
		}
		last.Reasons = reasons
		last.Failed = judge(*last, cfg.maxFail, cfg.p99Bound)
	}
	if err := l.drain(30 * time.Second); err != nil {
		logf("%v", err)
	}
	return res, nil
}

// --- the lab ---

type labNodes struct {
	wcs          []*lab.Server
	origin, edge *lab.Server
	emqx         *lab.Server
}

func startLab() (*labNodes, error) {
	l := &labNodes{}
	one := []string{"127.0.0.1:0"}
	start := func(c lab.Config) (*lab.Server, error) {
		s, err := lab.Start(c, "127.0.0.1:0")
		if err != nil {
			l.close()
			return nil, fmt.Errorf("lab %s: %w", c.Name, err)
		}
		return s, nil
	}
	for _, name := range []string{"wcs1", "wcs2"} {
		s, err := start(lab.Config{Kind: lab.WCS, Name: name, ClientAddrs: one, PlayKbps: wcsKbps})
		if err != nil {
			return nil, err
		}
		l.wcs = append(l.wcs, s)
	}
	var err error
	if l.origin, err = start(lab.Config{Kind: lab.SRS, Name: "origin1", ClientAddrs: one}); err != nil {
		return nil, err
	}
	if l.edge, err = start(lab.Config{Kind: lab.SRS, Name: "edge1", SRSRole: "edge", ClientAddrs: one, PlayKbps: edgeKbps}); err != nil {
		return nil, err
	}
	if l.emqx, err = start(lab.Config{Kind: lab.EMQX, Name: "emqx", EMQXNodes: 2, ClientAddrs: []string{"127.0.0.1:0", "127.0.0.1:0"}}); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *labNodes) all() []*lab.Server {
	var all []*lab.Server
	all = append(all, l.wcs...)
	for _, s := range []*lab.Server{l.origin, l.edge, l.emqx} {
		if s != nil {
			all = append(all, s)
		}
	}
	return all
}

func (l *labNodes) close() {
	for _, s := range l.all() {
		_ = s.Close()
	}
}

// drain waits until the lab nodes carry no session (HLS sessions linger
// until their timeout and are not waited for).
func (l *labNodes) drain(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		n := 0
		for _, s := range l.all() {
			if s == l.edge {
				continue
			}
			n += s.Live().Sessions
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d lab sessions still open %s after the step", n, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hostPort is a client URL's host:port.
func hostPort(u string) string {
	u = u[strings.Index(u, "://")+3:]
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[:i]
	}
	return u
}

// --- haproxy ---

type haproxy struct {
	cmd                   *exec.Cmd
	wcs, rtmp, play, mqtt int // frontend ports
}

func (h *haproxy) pid() int { return h.cmd.Process.Pid }

func (h *haproxy) stop() {
	_ = h.cmd.Process.Kill()
	_ = h.cmd.Wait()
}

// freePort returns a loopback port that was free a moment ago, below the
// ephemeral range so that the run's own outgoing connections cannot
// take it first.
func freePort() (int, error) {
	for i := 0; i < 200; i++ {
		p := 10000 + rand.IntN(20000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			ln.Close()
			return p, nil
		}
	}
	return 0, errors.New("no free port")
}

// haproxyConfig is the seed topologies with the lab's nodes as servers.
func haproxyConfig(h *haproxy, l *labNodes, maxconn int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn %d

defaults
    maxconn %d
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend fe_wcs
    mode http
    bind 127.0.0.1:%d
    acl is_websocket hdr(Upgrade) -i WebSocket
    acl is_websocket hdr(Sec-WebSocket-Key) -m found
    use_backend be_wcs_ws if is_websocket

backend be_wcs_ws
    mode http
    balance roundrobin
    timeout tunnel 1h
    http-request add-header X-Client-IP %%ci:%%cp
`, maxconn, maxconn, h.wcs)
	for i, s := range l.wcs {
		fmt.Fprintf(&b, "    server wcs%d %s\n", i+1, hostPort(s.ClientURLs[0]))
	}
	fmt.Fprintf(&b, `
frontend fe_rtmp
    mode tcp
    bind 127.0.0.1:%d
    default_backend be_srs_origin

backend be_srs_origin
    mode tcp
    balance roundrobin
    server origin1 %s

frontend fe_play
    mode http
    bind 127.0.0.1:%d
    default_backend be_srs_edge

backend be_srs_edge
    mode http
    balance roundrobin
    server edge1 %s

frontend fe_mqtt
    mode tcp
    bind 127.0.0.1:%d
    option clitcpka
    timeout client 3h
    default_backend be_mqtt

backend be_mqtt
    mode tcp
    balance leastconn
    timeout server 3h
`, h.rtmp, hostPort(l.origin.ClientURLs[0]), h.play, hostPort(l.edge.ClientURLs[0]), h.mqtt)
	for i, u := range l.emqx.ClientURLs {
		fmt.Fprintf(&b, "    server emqx%d %s\n", i+1, hostPort(u))
	}
	return b.String()
}

func startHAProxy(bin, dir string, l *labNodes, maxconn int) (*haproxy, error) {
	h := &haproxy{}
	for _, p := range []*int{&h.wcs, &h.rtmp, &h.play, &h.mqtt} {
		var err error
		if *p, err = freePort(); err != nil {
			return nil, err
		}
	}
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(haproxyConfig(h, l, maxconn)), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "haproxy.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	h.cmd = exec.Command(bin, "-db", "-f", cfgPath)
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	if err := h.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start haproxy: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range []int{h.wcs, h.rtmp, h.play, h.mqtt} {
		for {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p), time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				h.stop()
				log, _ := os.ReadFile(logf.Name())
				return nil, fmt.Errorf("haproxy not listening on %d: %v\n%s", p, err, log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return h, nil
}
