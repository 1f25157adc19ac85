// Command hostile (tools/bench/hostile) replays the hostile tests of
// issue 17 against lbpilot binaries, side by side, and writes a markdown
// fragment for BENCHMARKS.md (scripts/bench.d/60-hostile.sh):
//
//   - connections: 500 silent connections, 500 idle keep-alive connections
//     and 500 request bodies trickling in, against the exporter's HTTP
//     port; the process's open file descriptors at the peak and after the
//     hold time;
//   - probes: 500 concurrent /probe requests of one real haproxy's runtime
//     socket with Prometheus's 10 s scrape timeout header: latency (p50,
//     max), failed answers, the exporter's peak RSS;
//   - endless: one /probe of a stats page that never ends: how long it
//     runs and the exporter's peak RSS;
//   - agent: 3,000 connections to the agent's check port that take their
//     reply and then neither read nor close, while 31 legitimate checks
//     run: how many of those get their line.
//
// Give -bin NAME=PATH once per binary (e.g. before=/tmp/lbpilot-main
// after=bin/lbpilot). It needs haproxy in PATH.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/tools/bench/internal/benchutil"
)

type binFlag []string

func (b *binFlag) String() string     { return strings.Join(*b, ",") }
func (b *binFlag) Set(s string) error { *b = append(*b, s); return nil }

func main() {
	var bins binFlag
	flag.Var(&bins, "bin", "NAME=PATH of an lbpilot binary (repeatable)")
	conns := flag.Int("conns", 500, "connections of each kind")
	probes := flag.Int("probes", 500, "concurrent probes")
	servers := flag.Int("servers", 200, "servers of the probed haproxy (each probe answer is ~250 bytes per server)")
	only := flag.String("only", "connections,probes,endless,agent", "the scenarios to run")
	idlers := flag.Int("idlers", 3000, "agent connections that never read or close")
	hold := flag.Duration("hold", 90*time.Second, "how long the connections are held before counting")
	out := flag.String("out", "", "markdown fragment to write (default stdout)")
	flag.Parse()
	if len(bins) == 0 {
		bins = binFlag{"lbpilot=bin/lbpilot"}
	}
	var rows [4][]string
	for _, nb := range bins {
		name, path, ok := strings.Cut(nb, "=")
		if !ok {
			fmt.Fprintln(os.Stderr, "bench/hostile: -bin wants NAME=PATH")
			os.Exit(2)
		}
		if strings.Contains(*only, "connections") {
			c, err := connections(path, *conns, *hold)
			if err != nil {
				fail(err)
			}
			rows[0] = append(rows[0], fmt.Sprintf("| %s | %d | %d | %d |", name, c.peak, c.after, c.open))
		}
		if strings.Contains(*only, "probes") {
			p, err := probeBurst(path, *probes, *servers)
			if err != nil {
				fail(err)
			}
			rows[1] = append(rows[1], fmt.Sprintf("| %s | %.2f s | %.2f s | %d | %.0f MB |", name, p.p50.Seconds(), p.max.Seconds(), p.failed, p.rss))
		}
		if strings.Contains(*only, "endless") {
			e, err := endless(path)
			if err != nil {
				fail(err)
			}
			rows[2] = append(rows[2], fmt.Sprintf("| %s | %.1f s | %.0f MB | %s |", name, e.took.Seconds(), e.rss, e.answer))
		}
		if strings.Contains(*only, "agent") {
			ok, total, err := agentIdlers(path, *idlers, 31)
			if err != nil {
				fail(err)
			}
			rows[3] = append(rows[3], fmt.Sprintf("| %s | %d of %d |", name, ok, total))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Hostile clients (tools/bench/hostile)\n\n")
	if len(rows[0]) > 0 {
		fmt.Fprintf(&b, "%d silent + %d idle keep-alive + %d trickling-body connections to the exporter; its open file descriptors:\n\n", *conns, *conns, *conns)
		fmt.Fprintf(&b, "| binary | fds at the peak | fds after %s | connections the clients still see open |\n|---|---|---|---|\n", *hold)
		b.WriteString(strings.Join(rows[0], "\n") + "\n\n")
	}
	if len(rows[1]) > 0 {
		fmt.Fprintf(&b, "%d concurrent /probe of one haproxy socket (%d servers), X-Prometheus-Scrape-Timeout-Seconds: 10:\n\n", *probes, *servers)
		b.WriteString("| binary | p50 | max | failed answers | exporter peak RSS |\n|---|---|---|---|---|\n")
		b.WriteString(strings.Join(rows[1], "\n") + "\n\n")
	}
	if len(rows[2]) > 0 {
		b.WriteString("One /probe of a stats page that never ends, timeout header 10 s:\n\n")
		b.WriteString("| binary | answered after | exporter peak RSS | answer |\n|---|---|---|---|\n")
		b.WriteString(strings.Join(rows[2], "\n") + "\n\n")
	}
	if len(rows[3]) > 0 {
		fmt.Fprintf(&b, "%d connections to the agent's check port that never read or close, during 31 legitimate checks:\n\n", *idlers)
		b.WriteString("| binary | legitimate checks answered |\n|---|---|\n")
		b.WriteString(strings.Join(rows[3], "\n") + "\n\n")
	}
	if err := benchutil.WriteOutput(os.Stdout, *out, b.String()); err != nil {
		fail(err)
	}
}

func fail(err error) { benchutil.Fail("bench/hostile", err) }

// exporterProc runs `lbpilot exporter` on a free port until stop.
type exporterProc struct {
	cmd  *exec.Cmd
	base string
}

func startExporter(bin string, args ...string) (*exporterProc, error) {
	port := benchutil.MustFreePort()
	cmd := exec.Command(bin, append([]string{"exporter", fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=error"}, args...)...)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &exporterProc{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(p.base + "/-/healthy"); err == nil {
			resp.Body.Close()
			return p, nil
		}
	}
	p.stop()
	return nil, fmt.Errorf("%s never answered", bin)
}

func (p *exporterProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func (p *exporterProc) fds() int {
	es, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	return len(es)
}

// vmHWM is a process's peak resident set, in MiB (the tables say MB).
func vmHWM(pid int) float64 { return benchutil.PeakRSS(pid) / (1 << 20) }

type connResult struct{ peak, after, open int }

func connections(bin string, n int, hold time.Duration) (connResult, error) {
	p, err := startExporter(bin)
	if err != nil {
		return connResult{}, err
	}
	defer p.stop()
	addr := strings.TrimPrefix(p.base, "http://")
	var cs []net.Conn
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	dial := func() (net.Conn, error) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			cs = append(cs, c)
		}
		return c, err
	}
	for i := 0; i < n; i++ {
		if _, err := dial(); err != nil { // silent
			return connResult{}, err
		}
		c, err := dial() // idle keep-alive after one request
		if err != nil {
			return connResult{}, err
		}
		fmt.Fprintf(c, "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
		t, err := dial() // a body trickling in
		if err != nil {
			return connResult{}, err
		}
		fmt.Fprintf(t, "POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx")
	}
	stopTrickle := make(chan struct{})
	go func() {
		tk := time.NewTicker(5 * time.Second)
		defer tk.Stop()
		for {
			select {
			case <-stopTrickle:
				return
			case <-tk.C:
				for i := 2; i < len(cs); i += 3 {
					_, _ = cs[i].Write([]byte("x"))
				}
			}
		}
	}()
	time.Sleep(3 * time.Second)
	r := connResult{peak: p.fds()}
	time.Sleep(hold)
	close(stopTrickle)
	r.after = p.fds()
	for _, c := range cs {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		buf := make([]byte, 4096)
		for {
			_, err := c.Read(buf)
			if err == nil {
				continue
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				r.open++
			}
			break
		}
	}
	return r, nil
}

type probeResult struct {
	p50, max time.Duration
	failed   int
	rss      float64
}

func probeBurst(bin string, n, servers int) (probeResult, error) {
	dir, err := os.MkdirTemp("/tmp", "lbpho")
	if err != nil {
		return probeResult{}, err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "admin.sock")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global\n    stats socket %s mode 600 level admin\n    stats timeout 30s\n    maxconn 4000\n", sock)
	cfg.WriteString("defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\nbackend bk\n")
	for i := 0; i < servers; i++ {
		fmt.Fprintf(&cfg, "    server s%d 127.0.0.1:%d\n", i, 20000+i%40000)
	}
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		return probeResult{}, err
	}
	hap := exec.Command("haproxy", "-f", cfgPath, "-db")
	hap.Stderr = io.Discard
	if err := hap.Start(); err != nil {
		return probeResult{}, err
	}
	defer func() { _ = hap.Process.Kill(); _ = hap.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return probeResult{}, fmt.Errorf("haproxy socket never appeared")
		}
	}
	// The after binary would refuse most of a burst past its default
	// limit of distinct scrapes; these probes are all of one target, so
	// they share one scrape and none is refused.
	p, err := startExporter(bin)
	if err != nil {
		return probeResult{}, err
	}
	defer p.stop()
	url := p.base + "/probe?module=haproxy&target=unix:" + sock
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}, Timeout: time.Minute}
	durs := make([]time.Duration, n)
	var mu sync.Mutex
	failed := 0
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
			resp, err := client.Do(req)
			ok := err == nil && resp.StatusCode == 200
			if err == nil {
				b, rerr := io.ReadAll(resp.Body)
				ok = ok && rerr == nil && bytes.Contains(b, []byte(`lbpilot_up{module="haproxy"} 1`))
				resp.Body.Close()
			}
			durs[i] = time.Since(t0)
			if !ok {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
	return probeResult{p50: durs[n/2], max: durs[n-1], failed: failed, rss: vmHWM(p.cmd.Process.Pid)}, nil
}

type endlessResult struct {
	took   time.Duration
	rss    float64
	answer string
}

func endless(bin string) (endlessResult, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return endlessResult{}, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		row := []byte(strings.Repeat("x,", 60) + "\n")
		_, _ = w.Write([]byte("# pxname,svname\n"))
		for r.Context().Err() == nil {
			if _, err := w.Write(row); err != nil {
				return
			}
		}
	})}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	p, err := startExporter(bin)
	if err != nil {
		return endlessResult{}, err
	}
	defer p.stop()
	req, _ := http.NewRequest(http.MethodGet, p.base+"/probe?module=haproxy&target=http://"+l.Addr().String()+"/stats", nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
	t0 := time.Now()
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return endlessResult{took: time.Since(t0), rss: vmHWM(p.cmd.Process.Pid), answer: err.Error()}, nil
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ans := fmt.Sprintf("%d", resp.StatusCode)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "lbpilot_up{") {
			ans += ", " + line
		}
	}
	return endlessResult{took: time.Since(t0), rss: vmHWM(p.cmd.Process.Pid), answer: "`" + ans + "`"}, nil
}

// agentIdlers runs the agent against a lab WCS, opens idlers connections
// that never read nor close, and meanwhile runs checks legitimate checks
// (connect, read the line, close), counting those answered.
func agentIdlers(bin string, idlers, checks int) (int, int, error) {
	l, err := lab.New(lab.Config{Kind: lab.WCS, Load: lab.Load{Subscribers: 10}})
	if err != nil {
		return 0, 0, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	srv := &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	addr := fmt.Sprintf("127.0.0.1:%d", benchutil.MustFreePort())
	cmd := exec.Command(bin, "agent", "--agent.listen-address="+addr, "--agent.http-listen-address=",
		"--agent.target=http://"+ln.Addr().String()+"/?action=stat", "--agent.threshold=cpu=off", "--log.level=error")
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	check := func() bool {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		return err == nil && strings.HasPrefix(line, "up")
	}
	for deadline := time.Now().Add(10 * time.Second); !check(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("the agent never answered")
		}
	}
	var mu sync.Mutex
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < idlers/8; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.Dial("tcp", addr)
				if err != nil {
					continue
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}()
	}
	answered := 0
	for i := 0; i < checks; i++ {
		if check() {
			answered++
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	return answered, checks, nil
}
