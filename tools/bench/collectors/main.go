// Command collectors (tools/bench/collectors) measures lbpilot's WCS, SRS
// and EMQX collectors end to end against the lab, for `make bench`
// (scripts/bench.d/20-collectors.sh):
//
//   - one /metrics scrape of 500 lab targets of mixed kinds, against the
//     same upstream requests made directly (same concurrency bound);
//   - /probe of each kind against the upstream's own response time;
//   - /probe of an SRS node with 1,000 streams and 10,000 clients against
//     fetching the same pages directly.
//
// Every comparison alternates the two sides in one run and reports
// medians; the ratios are the headline, absolute times are context. It
// writes a markdown fragment (a "## Title" and tables) to -out.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/tools/bench/internal/benchutil"
)

type config struct {
	lbpilot     string
	out         string
	targets     int
	rounds      int
	probeRounds int
	bigStreams  int
	bigClients  int
}

func main() {
	var c config
	flag.StringVar(&c.lbpilot, "lbpilot", "bin/lbpilot", "lbpilot binary")
	flag.StringVar(&c.out, "out", "", "markdown fragment to write (default stdout)")
	flag.IntVar(&c.targets, "targets", 500, "lab targets in the /metrics scrape")
	flag.IntVar(&c.rounds, "rounds", 7, "alternating rounds of the /metrics and big-SRS comparisons")
	flag.IntVar(&c.probeRounds, "probe-rounds", 200, "alternating rounds of each /probe comparison")
	flag.IntVar(&c.bigStreams, "big-streams", 1000, "streams of the big SRS node")
	flag.IntVar(&c.bigClients, "big-clients", 10000, "clients of the big SRS node")
	flag.Parse()
	if err := benchutil.Finish(os.Stdout, c.out, func() (string, error) { return run(c) }); err != nil {
		benchutil.Fail("bench/collectors", err)
	}
}

// target is one lab server with the requests its collector makes.
type target struct {
	name, module, role string
	srv                *lab.Server
	// groups of paths: the paths of a group are fetched one after
	// another, the groups at the same time (SRS pages a list; the rest of
	// its endpoints and EMQX's go in parallel).
	groups [][]string
}

// client is shared by the raw side and the /probe calls, pooled like the
// exporter's own.
var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}}

func fetch(u string) error {
	resp, err := client.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	return err
}

// raw makes a target's requests directly, as its collector would.
func (t *target) raw() error {
	var wg sync.WaitGroup
	errs := make(chan error, len(t.groups))
	for _, g := range t.groups {
		wg.Go(func() {
			for _, p := range g {
				if err := fetch(t.srv.URL + p); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func srsGroups(streams, clients, page int) [][]string {
	list := func(path string, n int) []string {
		var out []string
		for start := 0; ; start += page {
			out = append(out, path+"?start="+strconv.Itoa(start)+"&count="+strconv.Itoa(page))
			if n-start < page {
				return out
			}
		}
	}
	return [][]string{
		{"/api/v1/summaries"}, {"/api/v1/versions"}, {"/api/v1/self_proc_stats"},
		list("/api/v1/vhosts/", 1), list("/api/v1/streams/", streams), list("/api/v1/clients/", clients),
	}
}

var emqxGroups = [][]string{{"/api/v5/nodes"}, {"/api/v5/stats"}, {"/api/v5/metrics"}}

var (
	wcsLoad    = lab.Load{Publishers: 10, Subscribers: 120, HLS: 10, BandwidthInMbps: 20, BandwidthOutMbps: 200, CPU: 0.3}
	originLoad = lab.Load{Publishers: 5, Subscribers: 50, BandwidthInMbps: 5, BandwidthOutMbps: 50, CPU: 0.2}
	edgeLoad   = lab.Load{Publishers: 5, Subscribers: 80, BandwidthOutMbps: 80, CPU: 0.2}
	emqxLoad   = lab.Load{Connections: 2000, Subscriptions: 5000, Topics: 300, MessagesInRate: 500, MessagesOutRate: 2000}
)

// startTargets starts n lab servers: a third WCS, a third SRS (half
// origins, half edges), a third two-node EMQX clusters.
func startTargets(n int) ([]*target, error) {
	var out []*target
	nWCS, nSRS := (n+2)/3, (n+1)/3
	nEMQX := n - nWCS - nSRS
	add := func(name, module, role string, cfg lab.Config, groups [][]string) error {
		cfg.Name = name
		s, err := lab.Start(cfg, "")
		if err != nil {
			return err
		}
		out = append(out, &target{name: name, module: module, role: role, srv: s, groups: groups})
		return nil
	}
	for i := 0; i < nWCS; i++ {
		if err := add(fmt.Sprintf("wcs%d", i+1), "wcs", "", lab.Config{Kind: lab.WCS, Load: wcsLoad}, [][]string{{"/?action=stat&format=json"}}); err != nil {
			return out, err
		}
	}
	for i := 0; i < nSRS; i++ {
		role, l := "origin", originLoad
		if i%2 == 1 {
			role, l = "edge", edgeLoad
		}
		if err := add(fmt.Sprintf("srs-%s%d", role, i+1), "srs", role, lab.Config{Kind: lab.SRS, SRSRole: role, Load: l}, srsGroups(l.Publishers, l.Publishers+l.Subscribers, 1000)); err != nil {
			return out, err
		}
	}
	for i := 0; i < nEMQX; i++ {
		if err := add(fmt.Sprintf("emqx%d", i+1), "emqx", "", lab.Config{Kind: lab.EMQX, Load: emqxLoad}, emqxGroups); err != nil {
			return out, err
		}
	}
	return out, nil
}

func configFor(ts []*target) string {
	var b strings.Builder
	b.WriteString("targets:\n")
	for _, t := range ts {
		fmt.Fprintf(&b, "  - {name: %s, module: %s, url: %q", t.name, t.module, t.srv.URL)
		if t.role != "" {
			fmt.Fprintf(&b, ", labels: {role: %s}", t.role)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// exporter is a running `lbpilot exporter`.
type exporter struct {
	cmd  *exec.Cmd
	base string
}

func startExporter(bin, cfgFile string, concurrency int) (*exporter, error) {
	port, err := benchutil.FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{"exporter", "--web.listen-address=127.0.0.1:" + strconv.Itoa(port), "--log.level=error",
		"--scrape.concurrency=" + strconv.Itoa(concurrency), "--web.disable-exporter-metrics"}
	if cfgFile != "" {
		args = append(args, "--config.file="+cfgFile)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	e := &exporter{cmd: cmd, base: "http://127.0.0.1:" + strconv.Itoa(port)}
	for i := 0; i < 200; i++ {
		if resp, err := client.Get(e.base + "/-/ready"); err == nil {
			resp.Body.Close()
			return e, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.stop()
	return nil, errors.New("the exporter did not become ready")
}

func (e *exporter) stop() {
	_ = e.cmd.Process.Kill()
	_ = e.cmd.Wait()
}

// scrape GETs path and checks every lbpilot_up sample is 1.
func (e *exporter) scrape(path string, wantUp int) error {
	resp, err := client.Get(e.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	up := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "lbpilot_up{") {
			if !strings.HasSuffix(line, " 1") {
				return fmt.Errorf("%s: a target is down: %s", path, line)
			}
			up++
		}
	}
	if up != wantUp {
		return fmt.Errorf("%s: %d targets up, want %d", path, up, wantUp)
	}
	return nil
}

// timeIt runs f and returns its duration.
func timeIt(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

// alternate runs a then b, rounds times, and returns both medians.
func alternate(rounds int, a, b func() error) (ma, mb time.Duration, err error) {
	var da, db []time.Duration
	for i := 0; i < rounds; i++ {
		x, err := timeIt(a)
		if err != nil {
			return 0, 0, err
		}
		y, err := timeIt(b)
		if err != nil {
			return 0, 0, err
		}
		da, db = append(da, x), append(db, y)
	}
	return median(da), median(db), nil
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// rawAll makes every target's requests with at most limit targets at once
// (the exporter's --scrape.concurrency).
func rawAll(ts []*target, limit int) error {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, t := range ts {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := t.raw(); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

func ms(d time.Duration) string { return strconv.FormatFloat(d.Seconds()*1000, 'f', 2, 64) + " ms" }
func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + " s"
}
func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "n/a"
	}
	return strconv.FormatFloat(float64(a)/float64(b), 'f', 2, 64) + "×"
}
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func run(c config) (string, error) {
	bin, err := filepath.Abs(c.lbpilot)
	if err != nil {
		return "", err
	}
	var md strings.Builder
	md.WriteString("## Collectors: WCS, SRS and EMQX against the lab\n\n")
	md.WriteString("`scripts/bench.d/20-collectors.sh` → `tools/bench/collectors`. The upstreams are `internal/lab` servers in the benchmark's process; the exporter is the real `lbpilot` binary. The baseline makes the very requests the collectors make (same pages, same concurrency) and only reads the bodies, so each ratio is lbpilot's whole cost (decoding, metrics, exposition, HTTP) over the upstream's own. Medians of alternating rounds.\n\n")
	md.WriteString("| measurement | lbpilot | baseline: the same upstream requests | ratio | target | |\n|---|---|---|---|---|---|\n")

	ts, err := startTargets(c.targets)
	defer func() {
		for _, t := range ts {
			_ = t.srv.Close()
		}
	}()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "lbpbench")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	cfgFile := filepath.Join(dir, "lbpilot.yml")
	if err := os.WriteFile(cfgFile, []byte(configFor(ts)), 0o644); err != nil {
		return "", err
	}
	kinds := map[string]int{}
	for _, t := range ts {
		kinds[t.module+t.role]++
	}
	desc := fmt.Sprintf("%d lab targets (%d WCS, %d SRS origins, %d SRS edges, %d two-node EMQX), one `/metrics` scrape", len(ts), kinds["wcs"], kinds["srsorigin"], kinds["srsedge"], kinds["emqx"])
	for _, conc := range []int{16, 64} {
		e, err := startExporter(bin, cfgFile, conc)
		if err != nil {
			return "", err
		}
		scrape := func() error { return e.scrape("/metrics", len(ts)) }
		if err := scrape(); err != nil { // warm up: connections, EMQX detection
			e.stop()
			return "", err
		}
		m, r, err := alternate(c.rounds, func() error { return rawAll(ts, conc) }, scrape)
		e.stop()
		if err != nil {
			return "", err
		}
		note := ""
		if conc == 16 {
			note = " (default)"
		}
		fmt.Fprintf(&md, "| %s, `--scrape.concurrency=%d`%s | %s | %s | %s | ≤ 1 s | %s |\n", desc, conc, note, secs(r), secs(m), ratio(r, m), verdict(r <= time.Second))
	}

	e, err := startExporter(bin, "", 16)
	if err != nil {
		return "", err
	}
	defer e.stop()
	first := map[string]*target{}
	for _, t := range ts {
		if _, ok := first[t.module]; !ok {
			first[t.module] = t
		}
	}
	for _, module := range []string{"wcs", "srs", "emqx"} {
		t := first[module]
		if t == nil {
			continue
		}
		path := "/probe?module=" + module + "&target=" + url.QueryEscape(t.srv.URL)
		if err := e.scrape(path, 1); err != nil {
			return "", err
		}
		raw, probe, err := alternate(c.probeRounds, t.raw, func() error { return e.scrape(path, 1) })
		if err != nil {
			return "", err
		}
		overhead := probe - raw
		fmt.Fprintf(&md, "| `/probe?module=%s` of one lab %s: overhead %s | %s | %s | %s | overhead ≤ 2 ms | %s |\n",
			module, strings.ToUpper(module), ms(overhead), ms(probe), ms(raw), ratio(probe, raw), verdict(overhead <= 2*time.Millisecond))
	}

	big, err := lab.Start(lab.Config{Kind: lab.SRS, Name: "big", Load: lab.Load{Publishers: c.bigStreams, Subscribers: c.bigClients - c.bigStreams, BandwidthOutMbps: 900, CPU: 0.7}}, "")
	if err != nil {
		return "", err
	}
	defer big.Close()
	bt := &target{srv: big, groups: srsGroups(c.bigStreams, c.bigClients, 1000)}
	path := "/probe?module=srs&target=" + url.QueryEscape(big.URL)
	if err := e.scrape(path, 1); err != nil {
		return "", err
	}
	raw, probe, err := alternate(c.rounds, bt.raw, func() error { return e.scrape(path, 1) })
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&md, "| `/probe?module=srs` of an SRS node with %d streams and %d clients (default options: per-type counts, pages of 1000) | %s | %s | %s | ≤ 3× | %s |\n",
		c.bigStreams, c.bigClients, ms(probe), ms(raw), ratio(probe, raw), verdict(float64(probe) <= 3*float64(raw)))
	return md.String(), nil
}
