// Command haproxy (tools/bench/haproxy) measures, in one run and
// alternating, how long a Prometheus-style scrape of one HAProxy with many
// servers takes through lbpilot, HAProxy's built-in exporter (promex) and
// Debian's prometheus-haproxy-exporter, and each exporter's peak RSS. It
// writes a markdown fragment of ratios for BENCHMARKS.md
// (scripts/bench.d/10-haproxy.sh).
package main

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Prometheus 2.x sends these on every scrape.
const (
	promAccept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)

type exporter struct {
	name string
	url  string
	pid  int // process whose VmHWM is its peak RSS (0: inside haproxy)
	durs []time.Duration
	size int
	wire int
}

func main() {
	servers := flag.Int("servers", 10000, "servers in the one backend")
	scrapes := flag.Int("scrapes", 11, "scrapes per exporter (median reported)")
	lbpilot := flag.String("lbpilot", "bin/lbpilot", "lbpilot binary")
	out := flag.String("out", "", "markdown fragment to write (default stdout)")
	flag.Parse()
	if err := run(*servers, *scrapes, *lbpilot, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench/haproxy:", err)
		os.Exit(1)
	}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func run(servers, scrapes int, lbpilot, out string) error {
	dir, err := os.MkdirTemp("/tmp", "lbpbh")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "admin.sock")
	promexPort, lbPort, hePort := freePort(), freePort(), freePort()

	// 1 backend × N servers on closed loopback ports, no health checks.
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global\n    stats socket %s mode 600 level admin\n    stats timeout 30s\n    maxconn 4000\n", sock)
	fmt.Fprintf(&cfg, "defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n")
	fmt.Fprintf(&cfg, "frontend prom\n    bind 127.0.0.1:%d\n    http-request use-service prometheus-exporter if { path /metrics }\n", promexPort)
	cfg.WriteString("backend bk\n")
	for i := 0; i < servers; i++ {
		fmt.Fprintf(&cfg, "    server s%d 127.0.0.1:%d\n", i, 20000+i%40000)
	}
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		return err
	}
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			_, _ = p.Process.Wait()
		}
	}()
	start := func(name string, args ...string) (*exec.Cmd, error) {
		cmd := exec.Command(name, args...)
		logf, _ := os.Create(filepath.Join(dir, filepath.Base(name)+".log"))
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		procs = append(procs, cmd)
		return cmd, nil
	}
	if _, err := start("haproxy", "-W", "-db", "-f", cfgPath); err != nil {
		return err
	}
	if err := waitFor(func() bool { _, err := os.Stat(sock); return err == nil }); err != nil {
		return fmt.Errorf("haproxy socket: %w", err)
	}
	lb, err := start(lbpilot, "exporter", fmt.Sprintf("--web.listen-address=127.0.0.1:%d", lbPort))
	if err != nil {
		return err
	}
	heBin, err := exec.LookPath("prometheus-haproxy-exporter")
	if err != nil {
		return fmt.Errorf("prometheus-haproxy-exporter not installed (make bench-deps): %w", err)
	}
	he, err := start(heBin, "--haproxy.scrape-uri=unix:"+sock, fmt.Sprintf("--web.listen-address=127.0.0.1:%d", hePort), "--haproxy.timeout=60s")
	if err != nil {
		return err
	}
	exps := []*exporter{
		{name: "lbpilot", url: fmt.Sprintf("http://127.0.0.1:%d/probe?module=haproxy&target=unix:%s", lbPort, sock), pid: lb.Process.Pid},
		{name: "promex", url: fmt.Sprintf("http://127.0.0.1:%d/metrics", promexPort)},
		{name: "haproxy_exporter", url: fmt.Sprintf("http://127.0.0.1:%d/metrics", hePort), pid: he.Process.Pid},
	}
	for _, e := range exps {
		if err := waitFor(func() bool { _, _, err := scrape(e.url); return err == nil }); err != nil {
			return fmt.Errorf("%s not ready: %w", e.name, err)
		}
		// Warm up, and count what one uncompressed response holds.
		body, err := get(e.url, false)
		if err != nil {
			return err
		}
		e.size = len(body)
	}
	series := map[string]int{}
	for _, e := range exps {
		body, _ := get(e.url, false)
		series[e.name] = countSeries(body)
	}
	for i := 0; i < scrapes; i++ {
		for j := range exps { // rotate the order every round
			e := exps[(i+j)%len(exps)]
			d, n, err := scrape(e.url)
			if err != nil {
				return fmt.Errorf("%s: %w", e.name, err)
			}
			e.durs = append(e.durs, d)
			e.wire = n
		}
	}
	rss := map[string]float64{}
	for _, e := range exps {
		if e.pid != 0 {
			rss[e.name] = vmHWM(e.pid)
		}
	}

	med := map[string]float64{}
	for _, e := range exps {
		med[e.name] = median(e.durs).Seconds()
	}
	w := os.Stdout
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	fmt.Fprintf(w, "## HAProxy scrape: 1 backend × %d servers\n\n", servers)
	fmt.Fprintf(w, "Real haproxy 2.6 (`show stat` from the runtime socket), %d scrapes per exporter, alternating,\n", scrapes)
	fmt.Fprintf(w, "each made as Prometheus makes them (`Accept-Encoding: gzip`, Prometheus's `Accept` header), timed to the last byte.\n\n")
	fmt.Fprintf(w, "| exporter | median scrape | × promex | × haproxy_exporter | series | body (uncompressed) | on the wire | peak RSS | RSS × haproxy_exporter |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, e := range exps {
		r := "inside haproxy"
		rr := "—"
		if v, ok := rss[e.name]; ok {
			r = fmt.Sprintf("%.0f MB", v/1e6)
			rr = fmt.Sprintf("%.2f", v/rss["haproxy_exporter"])
		}
		fmt.Fprintf(w, "| %s | %.0f ms | %.2f | %.3f | %d | %.1f MB | %.1f MB | %s | %s |\n", e.name, med[e.name]*1000,
			med[e.name]/med["promex"], med[e.name]/med["haproxy_exporter"], series[e.name], float64(e.size)/1e6, float64(e.wire)/1e6, r, rr)
	}
	check := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	fmt.Fprintf(w, "\nTargets: lbpilot ≤ 1.0× promex time: %.2f× (%s); ≤ 0.1× haproxy_exporter time: %.3f× (%s); peak RSS ≤ 0.25× haproxy_exporter: %.2f× (%s).\n",
		med["lbpilot"]/med["promex"], check(med["lbpilot"] <= med["promex"]),
		med["lbpilot"]/med["haproxy_exporter"], check(med["lbpilot"] <= 0.1*med["haproxy_exporter"]),
		rss["lbpilot"]/rss["haproxy_exporter"], check(rss["lbpilot"] <= 0.25*rss["haproxy_exporter"]))
	fmt.Fprintf(w, "\nlbpilot gzips (level 1, 512 KiB chunks compressed on every core into one gzip member) when the client accepts it,\n")
	fmt.Fprintf(w, "turning %.0f MB into %.1f MB while the next chunk is rendered, so compression adds no latency here. promex never compresses.\n",
		float64(exps[0].size)/1e6, float64(exps[0].wire)/1e6)
	fmt.Fprintf(w, "haproxy_exporter has about half the series: it exports 27 server families and no per-state series; promex and lbpilot ~50.\n")
	return nil
}

func waitFor(cond func() bool) error {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return nil
		}
	}
	return fmt.Errorf("timed out")
}

// scrape does one Prometheus-style request and returns the time to the last byte.
func scrape(url string) (time.Duration, int, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", promAccept)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "60")
	tr := &http.Transport{DisableCompression: true}
	start := time.Now()
	resp, err := (&http.Client{Transport: tr, Timeout: 120 * time.Second}).Do(req)
	if err != nil {
		return 0, 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != 200 {
		return 0, 0, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return d, int(n), nil
}

func get(url string, gz bool) ([]byte, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 120 * time.Second}).Do(req)
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

func vmHWM(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(v)
			kb, _ := strconv.ParseFloat(f[0], 64)
			return kb * 1024
		}
	}
	return 0
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
