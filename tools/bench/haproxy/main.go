// Command haproxy (tools/bench/haproxy) measures, in one run and
// alternating, how long a Prometheus-style scrape of a real HAProxy takes
// through lbpilot (on every core, and pinned to one), HAProxy's built-in
// exporter (promex) and Debian's prometheus-haproxy-exporter, against the
// floor: the raw runtime-socket fetch of the same data, timed the same way.
// Three set-ups: 1 backend × N servers; P processes × M servers read
// through P sockets as one; T stick tables holding E entries. It writes a
// markdown fragment of ratios for BENCHMARKS.md (scripts/bench.d/10-haproxy.sh).
package main

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lbpilot/lbpilot/tools/bench/internal/benchutil"
)

// Prometheus 2.x sends these on every scrape.
const (
	promAccept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)

// contender is one way of getting the data, timed to its last byte.
type contender struct {
	name  string
	fetch func() (wire int, err error)
	url   string // HTTP contenders: for the uncompressed size and series
	pid   int    // process whose VmHWM is its peak RSS (0: none of its own)
	durs  []time.Duration
	// cpu is the CPU time (user + system) the exporter's process and the
	// haproxy workers spent during this contender's scrapes: steadier than
	// wall time on a shared machine, and it counts promex's work inside
	// haproxy.
	cpu  time.Duration
	size int
	wire int
	nser int
}

type options struct {
	servers, scrapes   int
	procs, procServers int
	tables, entries    int
	lbpilot, out       string
	cpu                int
}

func main() {
	var o options
	flag.IntVar(&o.servers, "servers", 10000, "servers in the one backend")
	flag.IntVar(&o.scrapes, "scrapes", 11, "alternating rounds (each contender scraped once per round; medians reported)")
	flag.IntVar(&o.procs, "procs", 4, "haproxy processes of the several-sockets set-up (0: skip)")
	flag.IntVar(&o.procServers, "proc-servers", 2500, "servers per process in the several-sockets set-up")
	flag.IntVar(&o.tables, "tables", 200, "stick tables of the stick-table set-up (0: skip)")
	flag.IntVar(&o.entries, "entries", 100000, "entries across the stick tables")
	flag.IntVar(&o.cpu, "cpu", runtime.NumCPU()-1, "core the pinned lbpilot runs on (taskset -c)")
	flag.StringVar(&o.lbpilot, "lbpilot", "bin/lbpilot", "lbpilot binary")
	flag.StringVar(&o.out, "out", "", "markdown fragment to write (default stdout)")
	flag.Parse()
	if err := run(o); err != nil {
		benchutil.Fail("bench/haproxy", err)
	}
}

// procs starts and finally kills the programs of a run.
type procs struct {
	dir  string
	cmds []*exec.Cmd
}

func (p *procs) start(env []string, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...)
	logf, _ := os.Create(filepath.Join(p.dir, fmt.Sprintf("%s-%d.log", filepath.Base(name), len(p.cmds))))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.cmds = append(p.cmds, cmd)
	return cmd, nil
}

func (p *procs) stop() {
	for _, c := range p.cmds {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		_, _ = c.Process.Wait()
	}
	p.cmds = nil
}

// haproxy writes cfg (global section included) and starts haproxy on it,
// waiting for its socket.
func (p *procs) haproxy(name, cfg, sock string) error {
	path := filepath.Join(p.dir, name+".cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return err
	}
	if _, err := p.start(nil, "haproxy", "-W", "-db", "-f", path); err != nil {
		return err
	}
	if err := waitFor(func() bool { _, err := rawFetch(sock, "show info"); return err == nil }); err != nil {
		return fmt.Errorf("haproxy socket %s: %w", sock, err)
	}
	return nil
}

// lbpilots starts lbpilot twice: on every core, and pinned to one core
// with GOMAXPROCS=1 (a busy HAProxy host does not lend it both).
func (p *procs) lbpilots(o options) (all, pinned *exec.Cmd, allPort, pinnedPort int, err error) {
	allPort, pinnedPort = benchutil.MustFreePort(), benchutil.MustFreePort()
	if all, err = p.start(nil, o.lbpilot, "exporter", fmt.Sprintf("--web.listen-address=127.0.0.1:%d", allPort)); err != nil {
		return
	}
	pinned, err = p.start([]string{"GOMAXPROCS=1"}, "taskset", "-c", strconv.Itoa(o.cpu), o.lbpilot, "exporter", fmt.Sprintf("--web.listen-address=127.0.0.1:%d", pinnedPort))
	return
}

// defaultPolicy starts lbpilot on every core under the kernel's default
// scheduling policy (--no-runtime.sched-batch), when the binary has the
// flag (an older one, measured side by side, may not): nil otherwise.
func (p *procs) defaultPolicy(o options) (*exec.Cmd, int, error) {
	help, _ := exec.Command(o.lbpilot, "exporter", "--help").CombinedOutput()
	if !strings.Contains(string(help), "runtime.sched-batch") {
		return nil, 0, nil
	}
	port := benchutil.MustFreePort()
	c, err := p.start(nil, o.lbpilot, "exporter", "--no-runtime.sched-batch", fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	return c, port, err
}

const defaultPolicyName = "lbpilot, default policy"

func globalSection(sock string) string {
	return fmt.Sprintf("global\n    stats socket %s mode 600 level admin\n    stats timeout 30s\n    maxconn 4000\n"+
		"defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n", sock)
}

func run(o options) error {
	dir, err := os.MkdirTemp("/tmp", "lbpbh")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	w := os.Stdout
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	if err := runSingle(o, dir, w); err != nil {
		return err
	}
	if o.procs > 0 {
		if err := runMulti(o, dir, w); err != nil {
			return err
		}
	}
	if o.tables > 0 {
		if err := runTables(o, dir, w); err != nil {
			return err
		}
	}
	return nil
}

// runSingle: 1 backend × N servers; every exporter and the raw fetch.
func runSingle(o options, dir string, w io.Writer) error {
	p := &procs{dir: dir}
	defer p.stop()
	sock := filepath.Join(dir, "admin.sock")
	promexPort, hePort := benchutil.MustFreePort(), benchutil.MustFreePort()
	var cfg strings.Builder
	cfg.WriteString(globalSection(sock))
	fmt.Fprintf(&cfg, "frontend prom\n    bind 127.0.0.1:%d\n    http-request use-service prometheus-exporter if { path /metrics }\n", promexPort)
	cfg.WriteString("backend bk\n")
	for i := 0; i < o.servers; i++ {
		fmt.Fprintf(&cfg, "    server s%d 127.0.0.1:%d\n", i, 20000+i%40000)
	}
	if err := p.haproxy("single", cfg.String(), sock); err != nil {
		return err
	}
	lb, lb1, lbPort, lb1Port, err := p.lbpilots(o)
	if err != nil {
		return err
	}
	lbd, lbdPort, err := p.defaultPolicy(o)
	if err != nil {
		return err
	}
	heBin, err := exec.LookPath("prometheus-haproxy-exporter")
	if err != nil {
		return fmt.Errorf("prometheus-haproxy-exporter not installed (make bench-deps): %w", err)
	}
	he, err := p.start(nil, heBin, "--haproxy.scrape-uri=unix:"+sock, fmt.Sprintf("--web.listen-address=127.0.0.1:%d", hePort), "--haproxy.timeout=60s")
	if err != nil {
		return err
	}
	probe := "/probe?module=haproxy&target=" + url.QueryEscape("unix:"+sock)
	cs := []*contender{
		httpContender("lbpilot", fmt.Sprintf("http://127.0.0.1:%d%s", lbPort, probe), lb.Process.Pid),
		httpContender("lbpilot, 1 core", fmt.Sprintf("http://127.0.0.1:%d%s", lb1Port, probe), lb1.Process.Pid),
	}
	if lbd != nil {
		cs = append(cs, httpContender(defaultPolicyName, fmt.Sprintf("http://127.0.0.1:%d%s", lbdPort, probe), lbd.Process.Pid))
	}
	cs = append(cs,
		httpContender("promex", fmt.Sprintf("http://127.0.0.1:%d/metrics", promexPort), 0),
		httpContender("haproxy_exporter", fmt.Sprintf("http://127.0.0.1:%d/metrics", hePort), he.Process.Pid),
		rawContender("raw `show stat`", []string{sock}, "show stat"),
	)
	if err := measure(cs, o.scrapes, []int{workerPid(sock)}); err != nil {
		return err
	}
	rss := map[string]float64{}
	for _, c := range cs {
		if c.pid != 0 {
			rss[c.name] = benchutil.PeakRSS(c.pid)
		}
	}
	by := index(cs)
	fmt.Fprintf(w, "## HAProxy scrape: 1 backend × %d servers\n\n", o.servers)
	fmt.Fprintf(w, "Real haproxy 2.6 (`show stat` from the runtime socket), %d alternating rounds (each contender once per round, the order rotating),\n", o.scrapes)
	fmt.Fprintf(w, "each scrape made as Prometheus makes them (`Accept-Encoding: gzip`, Prometheus's `Accept` header), timed to the last byte.\n")
	fmt.Fprintf(w, "\"raw\" is the floor: the same `show stat` read from the socket and thrown away. \"1 core\" is lbpilot under `taskset -c %d` with `GOMAXPROCS=1`.\n", o.cpu)
	if lbd != nil {
		fmt.Fprintf(w, "lbpilot runs its threads under SCHED_BATCH (`--runtime.sched-batch`, the default); %q is the same binary with `--no-runtime.sched-batch`.\n", defaultPolicyName)
	}
	fmt.Fprintf(w, "Spread: the fastest and slowest of the rounds; ratios are medians of the per-round ratios, with their range.\n")
	fmt.Fprintf(w, "CPU: user + system time of the haproxy worker and the exporter's process during the contender's scrapes, per scrape (10 ms clock ticks, summed over the rounds): what a scrape costs the host, steadier than wall time on a shared machine.\n\n")
	fmt.Fprintf(w, "| contender | median (min–max) | × raw | × promex | CPU per scrape | CPU × raw | series | body (uncompressed) | on the wire | peak RSS | RSS × haproxy_exporter |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	raw, promex := by["raw `show stat`"], by["promex"]
	for _, c := range cs {
		r, rr := "—", "—"
		if v, ok := rss[c.name]; ok {
			r = fmt.Sprintf("%.0f MB", v/1e6)
			rr = fmt.Sprintf("%.2f", v/rss["haproxy_exporter"])
		} else if c.name == "promex" {
			r = "inside haproxy"
		}
		ser := "—"
		if c.nser > 0 {
			ser = strconv.Itoa(c.nser)
		}
		cpu, cpuR := cpuPerScrape(c, raw)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %.1f MB | %.1f MB | %s | %s |\n", c.name, spread(c.durs),
			ratioSpread(c, raw), ratioSpread(c, promex), cpu, cpuR, ser, float64(c.size)/1e6, float64(c.wire)/1e6, r, rr)
	}
	lbRaw, lb1Promex := ratios(by["lbpilot"], raw), ratios(by["lbpilot, 1 core"], promex)
	fmt.Fprintf(w, "\nTargets: lbpilot ≤ 1.3× the raw fetch: %.2f× (%s); lbpilot on one core ≤ 1.0× promex: %.2f× (%s); lbpilot ≤ 1.0× promex: %.2f× (%s); peak RSS ≤ 0.25× haproxy_exporter: %.2f× (%s).\n",
		median(lbRaw), check(median(lbRaw) <= 1.3), median(lb1Promex), check(median(lb1Promex) <= 1.0),
		median(ratios(by["lbpilot"], promex)), check(median(ratios(by["lbpilot"], promex)) <= 1.0),
		rss["lbpilot"]/rss["haproxy_exporter"], check(rss["lbpilot"] <= 0.25*rss["haproxy_exporter"]))
	fmt.Fprintf(w, "\nlbpilot gzips when the client accepts it (one gzip member, compressed on every core): on a single socket the server families are taken while HAProxy dumps show stat, in parts of a fixed number of servers, each deflated by lbpilot's encoder for exposition text; a part whose servers' lines (but for the fields that move on an idle HAProxy, such as lastchg) or whose own fields did not change since the last scrape is the last scrape's, neither rendered nor compressed again (`reuse_unchanged`). These servers are idle, so nearly every part is reused: the best case (the Go benchmark below has the scrape with every number changed). promex never compresses.\n")
	fmt.Fprintf(w, "haproxy_exporter has about half the series: it exports 27 server families and no per-state series; promex and lbpilot ~50.\n")
	return nil
}

// runMulti: P haproxy processes of M servers each, read by lbpilot as one
// through P sockets; the floor is P concurrent raw `show stat` reads.
func runMulti(o options, dir string, w io.Writer) error {
	p := &procs{dir: dir}
	defer p.stop()
	var socks []string
	for i := 0; i < o.procs; i++ {
		sock := filepath.Join(dir, fmt.Sprintf("proc%d.sock", i+1))
		var cfg strings.Builder
		cfg.WriteString(globalSection(sock))
		cfg.WriteString("backend bk\n")
		for j := 0; j < o.procServers; j++ {
			fmt.Fprintf(&cfg, "    server s%d 127.0.0.1:%d\n", j, 20000+j%40000)
		}
		if err := p.haproxy(fmt.Sprintf("proc%d", i+1), cfg.String(), sock); err != nil {
			return err
		}
		socks = append(socks, sock)
	}
	lb, lb1, lbPort, lb1Port, err := p.lbpilots(o)
	if err != nil {
		return err
	}
	var targets []string
	for _, s := range socks {
		targets = append(targets, "unix:"+s)
	}
	probe := "/probe?module=haproxy&target=" + url.QueryEscape(strings.Join(targets, ","))
	cs := []*contender{
		httpContender("lbpilot", fmt.Sprintf("http://127.0.0.1:%d%s", lbPort, probe), lb.Process.Pid),
		httpContender("lbpilot, 1 core", fmt.Sprintf("http://127.0.0.1:%d%s", lb1Port, probe), lb1.Process.Pid),
		rawContender(fmt.Sprintf("raw `show stat` × %d", o.procs), socks, "show stat"),
	}
	var workers []int
	for _, s := range socks {
		workers = append(workers, workerPid(s))
	}
	if err := measure(cs, o.scrapes, workers); err != nil {
		return err
	}
	by := index(cs)
	raw := cs[2]
	fmt.Fprintf(w, "\n## HAProxy scrape: %d processes × %d servers through %d sockets, merged\n\n", o.procs, o.procServers, o.procs)
	fmt.Fprintf(w, "%d real haproxy 2.6 processes with their own stats sockets, one lbpilot target naming all of them (merged into one view); the floor reads the %d `show stat` dumps concurrently. %d alternating rounds.\n\n", o.procs, o.procs, o.scrapes)
	fmt.Fprintf(w, "| contender | median (min–max) | × raw | CPU per scrape | CPU × raw | series | body (uncompressed) | on the wire | peak RSS |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range cs {
		r, ser := c.rssAndSeries()
		cpu, cpuR := cpuPerScrape(c, raw)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %.1f MB | %.1f MB | %s |\n", c.name, spread(c.durs), ratioSpread(c, raw), cpu, cpuR, ser, float64(c.size)/1e6, float64(c.wire)/1e6, r)
	}
	fmt.Fprintf(w, "\nlbpilot × raw: %.2f× (target ≤ 1.3×: %s).\n", median(ratios(by["lbpilot"], raw)), check(median(ratios(by["lbpilot"], raw)) <= 1.3))
	return nil
}

// runTables: T stick tables with E entries in all; lbpilot's stick-table
// scope (promex's scope=sticktable) against the raw `show table`.
func runTables(o options, dir string, w io.Writer) error {
	p := &procs{dir: dir}
	defer p.stop()
	sock := filepath.Join(dir, "tables.sock")
	var cfg strings.Builder
	cfg.WriteString(globalSection(sock))
	per := o.entries / o.tables
	for i := 0; i < o.tables; i++ {
		fmt.Fprintf(&cfg, "backend st%d\n    stick-table type ip size %d store gpc0,conn_cnt\n", i, 2*per+16)
	}
	if err := p.haproxy("tables", cfg.String(), sock); err != nil {
		return err
	}
	// Fill the tables, 100 commands per line.
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := rawFetch(sock, strings.Join(batch, ";"))
		batch = batch[:0]
		return err
	}
	for i := 0; i < o.tables; i++ {
		for j := 0; j < per; j++ {
			n := i*per + j
			batch = append(batch, fmt.Sprintf("set table st%d key 10.%d.%d.%d data.gpc0 %d", i, n>>16&255, n>>8&255, n&255, j))
			if len(batch) == 100 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	lb, lb1, lbPort, lb1Port, err := p.lbpilots(o)
	if err != nil {
		return err
	}
	probe := "/probe?module=haproxy&scope=sticktable&target=" + url.QueryEscape("unix:"+sock)
	cs := []*contender{
		httpContender("lbpilot", fmt.Sprintf("http://127.0.0.1:%d%s", lbPort, probe), lb.Process.Pid),
		httpContender("lbpilot, 1 core", fmt.Sprintf("http://127.0.0.1:%d%s", lb1Port, probe), lb1.Process.Pid),
		rawContender("raw `show table`", []string{sock}, "show table"),
	}
	if err := measure(cs, o.scrapes, []int{workerPid(sock)}); err != nil {
		return err
	}
	by := index(cs)
	raw := cs[2]
	var used int
	if out, err := rawFetch(sock, "show table"); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if i := strings.Index(l, "used:"); i >= 0 {
				n, _ := strconv.Atoi(strings.Fields(l[i+5:])[0])
				used += n
			}
		}
	}
	fmt.Fprintf(w, "\n## HAProxy scrape: %d stick tables, %d entries\n\n", o.tables, used)
	fmt.Fprintf(w, "One real haproxy 2.6 with %d `stick-table type ip` backends filled through the socket; lbpilot asked for promex's `scope=sticktable` (per-table size and used entries), the floor is the raw `show table`. %d alternating rounds.\n\n", o.tables, o.scrapes)
	fmt.Fprintf(w, "| contender | median (min–max) | × raw | series | body | peak RSS |\n|---|---|---|---|---|---|\n")
	for _, c := range cs {
		r, ser := c.rssAndSeries()
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.0f KB | %s |\n", c.name, spread(c.durs), ratioSpread(c, raw), ser, float64(c.size)/1e3, r)
	}
	fmt.Fprintf(w, "\nlbpilot × raw: %.2f×. Both are a few milliseconds; the difference is HTTP and exposition, not HAProxy.\n", median(ratios(by["lbpilot"], raw)))
	return nil
}

// rssAndSeries are the peak RSS and series cells of c's row in the
// several-sockets and stick-table tables: "—" where c has no process of
// its own (the raw floor) or counts no series.
func (c *contender) rssAndSeries() (rss, series string) {
	rss, series = "—", "—"
	if c.pid != 0 {
		rss = fmt.Sprintf("%.0f MB", benchutil.PeakRSS(c.pid)/1e6)
	}
	if c.nser > 0 {
		series = strconv.Itoa(c.nser)
	}
	return rss, series
}

func httpContender(name, u string, pid int) *contender {
	return &contender{name: name, url: u, pid: pid, fetch: func() (int, error) { return scrape(u) }}
}

// rawContender reads cmd from every socket concurrently and discards it.
func rawContender(name string, socks []string, cmd string) *contender {
	return &contender{name: name, fetch: func() (int, error) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		var ferr error
		for _, s := range socks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := rawDiscard(s, cmd)
				mu.Lock()
				defer mu.Unlock()
				total += n
				if err != nil && ferr == nil {
					ferr = err
				}
			}()
		}
		wg.Wait()
		return total, ferr
	}}
}

func index(cs []*contender) map[string]*contender {
	m := map[string]*contender{}
	for _, c := range cs {
		m[c.name] = c
	}
	return m
}

// measure warms every contender up, records sizes, then runs the
// alternating rounds. cpuPids are the haproxy workers whose CPU time
// counts for every contender.
func measure(cs []*contender, rounds int, cpuPids []int) error {
	for _, c := range cs {
		if err := waitFor(func() bool { _, err := c.fetch(); return err == nil }); err != nil {
			return fmt.Errorf("%s not ready: %w", c.name, err)
		}
		if c.url != "" {
			body, err := get(c.url)
			if err != nil {
				return err
			}
			c.size, c.nser = len(body), countSeries(body)
		}
	}
	for i := 0; i < rounds; i++ {
		for j := range cs { // rotate the order every round
			c := cs[(i+j)%len(cs)]
			pids := cpuPids
			if c.pid != 0 {
				pids = append(append([]int(nil), cpuPids...), c.pid)
			}
			cpu0 := cpuTime(pids)
			start := time.Now()
			n, err := c.fetch()
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			c.durs = append(c.durs, time.Since(start))
			// Let a process finish the work its response caused (the
			// exporter's deferred cleanup) before reading its clock.
			time.Sleep(20 * time.Millisecond)
			c.cpu += cpuTime(pids) - cpu0
			c.wire = n
			if c.url == "" {
				c.size = n
			}
		}
	}
	return nil
}

func check(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func waitFor(cond func() bool) error {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return nil
		}
	}
	return fmt.Errorf("timed out")
}

// scrape does one Prometheus-style request, reading to the last byte.
func scrape(url string) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", promAccept)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "60")
	tr := &http.Transport{DisableCompression: true}
	resp, err := (&http.Client{Transport: tr, Timeout: 120 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return int(n), nil
}

// rawDiscard sends one line to a stats socket and reads the answer to EOF.
func rawDiscard(sock, line string) (int, error) {
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return 0, err
	}
	n, err := io.CopyBuffer(io.Discard, c, make([]byte, 64<<10))
	return int(n), err
}

func rawFetch(sock, line string) ([]byte, error) {
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return nil, err
	}
	return io.ReadAll(c)
}

func get(url string) ([]byte, error) {
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 120 * time.Second}).Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, err
		}
		r = zr
	}
	return io.ReadAll(r)
}

func countSeries(b []byte) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" && l[0] != '#' {
			n++
		}
	}
	return n
}

// cpuTime sums utime and stime of the processes (clock ticks of 10 ms).
func cpuTime(pids []int) time.Duration {
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += u + s
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// workerPid asks a stats socket for its haproxy worker's pid.
func workerPid(sock string) int {
	out, err := rawFetch(sock, "show info")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "Pid: "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// cpuPerScrape is the mean CPU time of one scrape, with its ratio to base's.
func cpuPerScrape(c, base *contender) (string, string) {
	if len(c.durs) == 0 {
		return "—", "—"
	}
	per := float64(c.cpu) / float64(len(c.durs)) / 1e6
	r := "—"
	if base != nil && base.cpu > 0 {
		r = fmt.Sprintf("%.1f", float64(c.cpu)/float64(len(c.durs))/(float64(base.cpu)/float64(len(base.durs))))
	}
	return fmt.Sprintf("%.0f ms", per), r
}

// ratios are c's per-round times over base's (rounds hold one of each).
func ratios(c, base *contender) []float64 {
	out := make([]float64, 0, len(c.durs))
	for i := range c.durs {
		if i < len(base.durs) && base.durs[i] > 0 {
			out = append(out, float64(c.durs[i])/float64(base.durs[i]))
		}
	}
	return out
}

func ratioSpread(c, base *contender) string {
	if base == nil {
		return "—"
	}
	r := ratios(c, base)
	if len(r) == 0 {
		return "—"
	}
	s := append([]float64(nil), r...)
	sort.Float64s(s)
	return fmt.Sprintf("%.2f (%.2f–%.2f)", median(r), s[0], s[len(s)-1])
}

func spread(ds []time.Duration) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return fmt.Sprintf("%.1f ms (%.1f–%.1f)", ms(s[len(s)/2]), ms(s[0]), ms(s[len(s)-1]))
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
