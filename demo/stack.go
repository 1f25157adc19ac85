package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// Options describe a demo stack.
type Options struct {
	Dir  string // runtime folder: configs, data, logs/, pids (made absolute)
	Repo string // repository root: alerts/ is read from it
	// Programs; empty ones are looked up in PATH (lbpilot-lab and lbpilot
	// too, but the demo and the e2e test pass the ones they built).
	Lbpilot, Lab, HAProxy, Prometheus, Alertmanager, Promtool, Amtool string
	Ports                                                             Ports
	// Control is what steers be_wcs_ws; the zero value is the product
	// (agents in weight mode and the rebalancer).
	Control Control
	// Say receives progress lines; nil is quiet.
	Say func(format string, args ...any)
}

// Stack is a running demo: lab, agents, haproxy, exporter, rebalancer,
// Alertmanager and Prometheus on loopback.
type Stack struct {
	Files Files
	Ports Ports
	Procs *Procs
	opts  Options
	hap   *haproxyapi.Client
	http  *http.Client
	pass  string // the rebalancer's basic-auth password

	traffic *Traffic // the last scenario's clients
}

// Process names, in start order.
const (
	ProcLab          = "lbpilot-lab"
	ProcAgent1       = "agent-wcs1"
	ProcAgent2       = "agent-wcs2"
	ProcHAProxy      = "haproxy"
	ProcExporter     = "exporter"
	ProcRebalancer   = "rebalancer"
	ProcAlertmanager = "alertmanager"
	ProcPrometheus   = "prometheus"
)

// Backends and servers the scenario uses.
const (
	WCSBackend = "be_wcs_ws"
)

// stopGrace is how long a process gets to stop after SIGTERM.
const stopGrace = 10 * time.Second

func (o *Options) complete() error {
	if err := o.Control.validate(); err != nil {
		return err
	}
	var err error
	if o.Dir, err = filepath.Abs(o.Dir); err != nil {
		return err
	}
	if o.Repo, err = filepath.Abs(o.Repo); err != nil {
		return err
	}
	var missing []string
	for _, b := range []struct {
		p    *string
		name string
	}{
		{&o.Lbpilot, "lbpilot"}, {&o.Lab, "lbpilot-lab"}, {&o.HAProxy, "haproxy"}, {&o.Prometheus, "prometheus"},
		{&o.Alertmanager, "prometheus-alertmanager"}, {&o.Promtool, "promtool"}, {&o.Amtool, "amtool"},
	} {
		if *b.p == "" {
			*b.p = b.name
		}
		p, err := exec.LookPath(*b.p)
		if err != nil {
			missing = append(missing, b.name)
			continue
		}
		if *b.p, err = filepath.Abs(p); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing programs: %s (`make deps` installs haproxy, prometheus and prometheus-alertmanager; `make build` builds lbpilot and lbpilot-lab)", strings.Join(missing, ", "))
	}
	if o.Say == nil {
		o.Say = func(string, ...any) {}
	}
	return nil
}

// Start renders the configuration, checks it with the real tools, and
// starts every process, waiting for each to answer. It stops what an
// earlier run left behind in the same folder first. On error, whatever it
// started is stopped again.
func Start(ctx context.Context, opts Options) (s *Stack, err error) {
	if err := opts.complete(); err != nil {
		return nil, err
	}
	files := NewFiles(opts.Dir)
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	pidFile := filepath.Join(opts.Dir, "pids")
	left, err := StopLeftovers(pidFile, opts.Dir, stopGrace)
	if err != nil {
		return nil, err
	}
	for _, l := range left {
		opts.Say("stopped %s (pid %d) left running by an earlier demo", l.Name, l.Pid)
	}
	if err := opts.Ports.CheckFree(); err != nil {
		return nil, err
	}
	if err := Render(files, opts.Repo, opts.Ports, opts.Control); err != nil {
		return nil, fmt.Errorf("rendering the configuration: %w", err)
	}
	if err := check(opts, files); err != nil {
		return nil, err
	}
	pass, err := os.ReadFile(files.Password)
	if err != nil {
		return nil, err
	}
	hc, err := haproxyapi.New("unix:"+files.HAProxySocket, haproxyapi.WithTimeout(2*time.Second))
	if err != nil {
		return nil, err
	}
	s = &Stack{
		Files: files, Ports: opts.Ports, opts: opts, hap: hc,
		Procs: &Procs{PidFile: pidFile, LogDir: files.Logs},
		http:  &http.Client{Timeout: 3 * time.Second},
		pass:  strings.TrimSpace(string(pass)),
	}
	defer func() {
		if err != nil {
			s.Stop()
			s = nil
		}
	}()
	for _, step := range s.startSteps() {
		if err := ctx.Err(); err != nil {
			return s, err
		}
		if err := s.start(ctx, step); err != nil {
			return s, err
		}
	}
	return s, nil
}

// check validates the rendered files with the programs that will load
// them, so a bad file is reported before anything starts.
func check(o Options, f Files) error {
	checks := [][]string{
		{o.HAProxy, "-c", "-q", "-f", f.HAProxy},
		{o.Promtool, "check", "config", f.Prometheus},
		{o.Amtool, "check-config", f.Alertmanager},
		{o.Lbpilot, "exporter", "--config.check", "--config.file=" + f.Exporter},
		{o.Lbpilot, "rebalancer", "--config.check", "--config.file=" + f.Rebalancer, "--web.config.file=" + f.RebalancerWeb},
		{o.Lbpilot, "agent", "--config.check", "--config.file=" + f.Agents[0]},
		{o.Lbpilot, "agent", "--config.check", "--config.file=" + f.Agents[1]},
	}
	for _, c := range checks {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s rejected the demo's configuration: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	return nil
}

// startStep is one process and how to tell it is ready.
type startStep struct {
	name  string
	args  []string
	ready func(ctx context.Context) error
	what  string // for the progress line
}

func (s *Stack) startSteps() []startStep {
	o, f, p := s.opts, s.Files, s.Ports
	local := func(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
	labLoad := func(group, js string) string { return "--load=" + group + "=" + js }
	steps := []startStep{{
		name: ProcLab,
		args: []string{o.Lab, "--wcs=2", "--srs-origin=1", "--srs-edge=1", "--emqx=1", "--emqx-nodes=2",
			"--listen-host=127.0.0.1", "--base-port=" + strconv.Itoa(p.Lab), "--client-ports", "--addresses-file=" + f.LabAddresses,
			"--emqx-api-key-file=" + f.EMQXKey,
			labLoad("wcs", BaselineLoad), labLoad("wcs1", or(o.Control.WCSLoad[0], WCS1Load)), labLoad("wcs2", or(o.Control.WCSLoad[1], WCS2Load)),
			"--capacity=wcs1=" + or(o.Control.WCSCapacity[0], WCS1Capacity), "--capacity=wcs2=" + or(o.Control.WCSCapacity[1], WCS2Capacity),
			labLoad("srs-origin", `{"publishers":4,"subscribers":40,"bandwidth_in_mbps":12,"bandwidth_out_mbps":30,"cpu":0.15}`),
			labLoad("srs-edge", `{"publishers":4,"subscribers":160,"bandwidth_in_mbps":12,"bandwidth_out_mbps":120,"cpu":0.2}`),
			labLoad("emqx", `{"connections":1200,"subscriptions":2400,"topics":300,"messages_in_per_second":150,"messages_out_per_second":600,"cpu":0.1}`)},
		ready: func(context.Context) error { return checkLabAddresses(f.LabAddresses, p) },
		what: fmt.Sprintf("APIs wcs1 :%d, wcs2 :%d, srs-origin1 :%d, srs-edge1 :%d, emqx1 :%d (a 2-node EMQX cluster); clients ws :%d :%d, rtmp :%d, http-flv/hls :%d, mqtt :%d :%d",
			p.LabPort("wcs1"), p.LabPort("wcs2"), p.LabPort("srs-origin1"), p.LabPort("srs-edge1"), p.LabPort("emqx1"),
			p.ClientPort("wcs1"), p.ClientPort("wcs2"), p.ClientPort("srs-origin1"), p.ClientPort("srs-edge1"), p.ClientPort("emqx1-node1"), p.ClientPort("emqx1-node2")),
	}}
	for i, name := range []string{ProcAgent1, ProcAgent2} {
		if !o.Control.agents() {
			break
		}
		steps = append(steps, startStep{
			name:  name,
			args:  []string{o.Lbpilot, "agent", "--config.file=" + f.Agents[i]},
			ready: s.httpReady("http://" + local(p.AgentHTTP[i]) + "/metrics"),
			what:  fmt.Sprintf("agent-check :%d, HTTP :%d, reading wcs%d", p.AgentCheck[i], p.AgentHTTP[i], i+1),
		})
	}
	rebalancer := startStep{
		name:  ProcRebalancer,
		args:  []string{o.Lbpilot, "rebalancer", "--web.listen-address=" + local(p.Rebalancer), "--config.file=" + f.Rebalancer, "--web.config.file=" + f.RebalancerWeb},
		ready: s.httpReady("http://" + local(p.Rebalancer) + "/-/ready"),
		what:  fmt.Sprintf("http://127.0.0.1:%d/api/v1/state (basic auth)", p.Rebalancer),
	}
	steps = append(steps,
		startStep{
			name:  ProcHAProxy,
			args:  []string{o.HAProxy, "-W", "-db", "-S", f.HAProxyMaster, "-f", f.HAProxy},
			ready: s.haproxyReady(0),
			what:  fmt.Sprintf("stats http://127.0.0.1:%d/stats; fe_wcs :%d, fe_rtmp :%d, fe_play :%d, fe_mqtt :%d", p.HAProxyStats, p.WCS, p.RTMP, p.Play, p.MQTT),
		},
		startStep{
			name:  ProcExporter,
			args:  []string{o.Lbpilot, "exporter", "--web.listen-address=" + local(p.Exporter), "--config.file=" + f.Exporter, "--collector.emqx.api-key-file=" + f.EMQXKey},
			ready: s.httpReady("http://" + local(p.Exporter) + "/-/ready"),
			what:  fmt.Sprintf("http://127.0.0.1:%d/metrics", p.Exporter),
		},
		rebalancer,
		startStep{
			name: ProcAlertmanager,
			args: []string{o.Alertmanager, "--config.file=" + f.Alertmanager, "--storage.path=" + f.AlertmanagerData,
				"--web.listen-address=" + local(p.Alertmanager), "--cluster.listen-address="},
			ready: s.httpReady("http://" + local(p.Alertmanager) + "/-/ready"),
			what:  fmt.Sprintf("http://127.0.0.1:%d", p.Alertmanager),
		},
		startStep{
			name: ProcPrometheus,
			args: []string{o.Prometheus, "--config.file=" + f.Prometheus, "--storage.tsdb.path=" + f.PrometheusData,
				"--web.listen-address=" + local(p.Prometheus), "--rules.alert.resend-delay=1s", "--web.enable-lifecycle"},
			ready: s.httpReady("http://" + local(p.Prometheus) + "/-/ready"),
			what:  fmt.Sprintf("http://127.0.0.1:%d", p.Prometheus),
		},
	)
	if o.Control.NoRebalancer {
		for i, st := range steps {
			if st.name == ProcRebalancer {
				steps = append(steps[:i], steps[i+1:]...)
				break
			}
		}
	}
	return steps
}

// BaselineLoad is the lab's background load of a WCS node: well under
// every threshold. The scenario's nodes differ in their audience before
// the crowd (WCS1Load, WCS2Load: wcs1 already has a larger one, so the
// crowd's even split takes it over the alert's 80 and not wcs2) and in
// their capacity (wcs1 the smaller node).
const (
	BaselineLoad = `{"publishers":6,"subscribers":20,"bandwidth_in_mbps":8,"bandwidth_out_mbps":25,"cpu":0.2}`
	WCS1Load     = `{"publishers":6,"subscribers":45,"bandwidth_in_mbps":8,"bandwidth_out_mbps":25,"cpu":0.2}`
	WCS2Load     = `{"publishers":6,"subscribers":10,"bandwidth_in_mbps":8,"bandwidth_out_mbps":25,"cpu":0.2}`
	WCS1Capacity = `{"sessions":100}`
	WCS2Capacity = `{"sessions":200}`
)

// LastTraffic returns the last scenario's clients and what happened to
// them (nil before a scenario).
func (s *Stack) LastTraffic() *Traffic { return s.traffic }

func (s *Stack) start(ctx context.Context, st startStep) error {
	t0 := time.Now()
	p, err := s.Procs.Start(st.name, st.args...)
	if err != nil {
		return err
	}
	if err := s.waitReady(ctx, p, st.ready, 30*time.Second); err != nil {
		return err
	}
	s.opts.Say("started %-12s pid %-7d %s (%.1fs)", st.name, p.Pid(), st.what, time.Since(t0).Seconds())
	return nil
}

// waitReady polls ready until it succeeds, the process exits, or within
// passes.
func (s *Stack) waitReady(ctx context.Context, p *Proc, ready func(context.Context) error, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if ended, werr := p.Exited(); ended {
			return fmt.Errorf("%s exited during start-up (%v); its log: %s\n%s", p.Name, werr, p.Log, tailFile(p.Log, 20))
		}
		err := ready(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v; its log: %s\n%s", p.Name, within, err, p.Log, tailFile(p.Log, 20))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkLabAddresses reads the lab's addresses file (written once every
// server listens) and checks that each server's API and client URLs are
// the ones the configuration was rendered with: HAProxy's server lines
// must reach the lab's listeners, the exporter and the agents its APIs.
func checkLabAddresses(path string, p Ports) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var servers []struct {
		Name    string   `json:"name"`
		URL     string   `json:"url"`
		Clients []string `json:"clients"`
	}
	if err := json.Unmarshal(b, &servers); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	got := map[string]string{}
	for _, s := range servers {
		got[s.Name] = strings.Join(append([]string{s.URL}, s.Clients...), " ")
	}
	var bad []string
	for _, name := range labNames {
		want := URL(p.LabPort(name))
		for _, c := range labClients {
			if c.server == name {
				want += " " + fmt.Sprintf(c.url, p.ClientPort(c.name))
			}
		}
		if got[name] != want {
			bad = append(bad, fmt.Sprintf("%s at %q, want %q", name, got[name], want))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("the lab does not listen where the configuration points: %s", strings.Join(bad, "; "))
	}
	return nil
}

// httpReady answers nil once url answers 200 (with the rebalancer's
// credentials, which only the rebalancer asks for).
func (s *Stack) httpReady(u string) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := s.get(ctx, u)
		return err
	}
}

// haproxyReady answers nil once the admin socket answers with a worker
// other than notPid.
func (s *Stack) haproxyReady(notPid int) func(context.Context) error {
	return func(ctx context.Context) error {
		pid, err := s.HAProxyPid(ctx)
		if err != nil {
			return err
		}
		if pid == notPid {
			return fmt.Errorf("worker %d has not been replaced yet", pid)
		}
		return nil
	}
}

// Stop stops every process of the stack, the last started first.
func (s *Stack) Stop() {
	s.Procs.StopAll(stopGrace)
}

// URL returns http://127.0.0.1:port.
func URL(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }

// get fetches u and returns the body of a 200 answer.
func (s *Stack) get(ctx context.Context, u string) ([]byte, error) {
	return s.do(ctx, http.MethodGet, u, "")
}

func (s *Stack) do(ctx context.Context, method, u, body string) ([]byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if strings.HasPrefix(u, URL(s.Ports.Rebalancer)+"/") {
		req.SetBasicAuth(WebhookUser, s.pass)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return b, fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// ServerStat is one server's line of `show stat`.
type ServerStat struct {
	Backend, Server string
	Status          string // "UP", "DRAIN (agent)", …
	Weight          int
	CheckStatus     string // check_status: L4OK, L7OK, …
	LastAgent       string // last_agt: the agent's last reply as HAProxy read it
	Sessions        int    // scur: the server's current sessions
	Total           int    // stot: sessions the server has had since HAProxy started
}

// State is the parsed status ("UP", "DRAIN", …).
func (st ServerStat) State() string { return haproxyapi.ParseStatus(st.Status).State }

func (st ServerStat) String() string {
	return fmt.Sprintf("%s/%s %s, weight %d", st.Backend, st.Server, st.Status, st.Weight)
}

// Stat reads one server's `show stat` line from HAProxy's admin socket.
func (s *Stack) Stat(ctx context.Context, backend, server string) (ServerStat, error) {
	st, err := s.hap.ShowStat(ctx, haproxyapi.StatFilter{Proxy: backend, Types: 4})
	if err != nil {
		return ServerStat{}, err
	}
	for r := 0; r < st.Rows(); r++ {
		if st.Get(r, "pxname") != backend || st.Get(r, "svname") != server {
			continue
		}
		w, _ := strconv.Atoi(st.Get(r, "weight"))
		cur, _ := strconv.Atoi(st.Get(r, "scur"))
		tot, _ := strconv.Atoi(st.Get(r, "stot"))
		return ServerStat{Backend: backend, Server: server, Status: st.Get(r, "status"), Weight: w,
			CheckStatus: st.Get(r, "check_status"), LastAgent: st.Get(r, "last_agt"), Sessions: cur, Total: tot}, nil
	}
	return ServerStat{}, fmt.Errorf("show stat has no %s/%s", backend, server)
}

// Servers reads every server line of `show stat`.
func (s *Stack) Servers(ctx context.Context) ([]ServerStat, error) {
	st, err := s.hap.ShowStat(ctx, haproxyapi.StatFilter{Types: 4})
	if err != nil {
		return nil, err
	}
	var out []ServerStat
	for r := 0; r < st.Rows(); r++ {
		w, _ := strconv.Atoi(st.Get(r, "weight"))
		cur, _ := strconv.Atoi(st.Get(r, "scur"))
		tot, _ := strconv.Atoi(st.Get(r, "stot"))
		out = append(out, ServerStat{Backend: st.Get(r, "pxname"), Server: st.Get(r, "svname"), Status: st.Get(r, "status"),
			Weight: w, CheckStatus: st.Get(r, "check_status"), LastAgent: st.Get(r, "last_agt"), Sessions: cur, Total: tot})
	}
	return out, nil
}

// AdminStates reads a backend's servers' admin states (ready, drain,
// maint) from `show servers state`: unlike `show stat`'s status, they
// stay visible while a server is down.
func (s *Stack) AdminStates(ctx context.Context, backend string) (map[string]haproxyapi.AdminState, error) {
	ss, err := s.hap.ShowServersState(ctx, backend)
	if err != nil {
		return nil, err
	}
	out := map[string]haproxyapi.AdminState{}
	for _, sv := range ss.Servers {
		out[sv.Name] = sv.Admin.State()
	}
	return out, nil
}

// HAProxyPid returns the pid of HAProxy's current worker (show info).
func (s *Stack) HAProxyPid(ctx context.Context) (int, error) {
	info, err := s.hap.ShowInfo(ctx)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(info["Pid"]))
	if err != nil || pid == 0 {
		return 0, fmt.Errorf("show info: no Pid (%q)", info["Pid"])
	}
	return pid, nil
}

// ReloadHAProxy reloads HAProxy through its master CLI (as `systemctl
// reload haproxy` does) and waits for the new worker. HAProxy forgets
// runtime changes (drain, weights) unless it loads a server-state file.
func (s *Stack) ReloadHAProxy(ctx context.Context) (oldPid, newPid int, err error) {
	if oldPid, err = s.HAProxyPid(ctx); err != nil {
		return 0, 0, err
	}
	c, err := net.DialTimeout("unix", s.Files.HAProxyMaster, 2*time.Second)
	if err != nil {
		return oldPid, 0, fmt.Errorf("haproxy master CLI: %w", err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Write([]byte("reload\n"))
	if err == nil {
		_, _ = io.Copy(io.Discard, c)
	}
	c.Close()
	if err != nil {
		return oldPid, 0, fmt.Errorf("haproxy master CLI: %w", err)
	}
	if err := s.waitReady(ctx, s.Procs.Get(ProcHAProxy), s.haproxyReady(oldPid), 15*time.Second); err != nil {
		return oldPid, 0, err
	}
	newPid, err = s.HAProxyPid(ctx)
	return oldPid, newPid, err
}

// AgentReply asks agent i (0: wcs1, 1: wcs2) what HAProxy's agent-check
// would hear.
func (s *Stack) AgentReply(ctx context.Context, i int) (string, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(s.Ports.AgentCheck[i]))
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(io.LimitReader(c, 512))
	if err != nil && len(b) == 0 {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// SetLoad posts a load (JSON; fields left out keep their value) to a lab
// server's control API and returns its answer.
func (s *Stack) SetLoad(ctx context.Context, server, load string) error {
	_, err := s.do(ctx, http.MethodPost, URL(s.Ports.LabPort(server))+"/lab/load", load)
	return err
}

// Alert is one alert of Alertmanager's API.
type Alert struct {
	Labels   map[string]string `json:"labels"`
	StartsAt time.Time         `json:"startsAt"`
	Status   struct {
		State string `json:"state"` // active, suppressed, unprocessed
	} `json:"status"`
	Receivers []struct {
		Name string `json:"name"`
	} `json:"receivers"`
}

// Alerts returns Alertmanager's active alerts (GET /api/v2/alerts).
func (s *Stack) Alerts(ctx context.Context) ([]Alert, error) {
	b, err := s.get(ctx, URL(s.Ports.Alertmanager)+"/api/v2/alerts?active=true&silenced=false&inhibited=false")
	if err != nil {
		return nil, err
	}
	var out []Alert
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("alertmanager /api/v2/alerts: %w", err)
	}
	return out, nil
}

// RebalancerState is the part of GET /api/v1/state the demo shows.
type RebalancerState struct {
	Owned []struct {
		Backend string `json:"backend"`
		Server  string `json:"server"`
		Admin   *struct {
			State  string    `json:"state"`
			Phase  string    `json:"phase"`
			Since  time.Time `json:"since"`
			Alerts []string  `json:"alerts"`
		} `json:"admin"`
	} `json:"owned"`
	Alerts []struct {
		Labels  map[string]string `json:"labels"`
		Status  string            `json:"status"`
		InForce bool              `json:"in_force"`
	} `json:"alerts"`
	LastReconcileOK bool `json:"last_reconcile_success"`
}

// Rebalancer reads the rebalancer's GET /api/v1/state.
func (s *Stack) Rebalancer(ctx context.Context) (RebalancerState, error) {
	var st RebalancerState
	b, err := s.get(ctx, URL(s.Ports.Rebalancer)+"/api/v1/state")
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(b, &st)
	return st, err
}

// OwnedAdmin returns the admin state the rebalancer owns on a server
// ("drain", "maint") and its phase; "" when it owns none.
func (st RebalancerState) OwnedAdmin(backend, server string) (state, phase string) {
	for _, o := range st.Owned {
		if o.Backend == backend && o.Server == server && o.Admin != nil {
			return o.Admin.State, o.Admin.Phase
		}
	}
	return "", ""
}

// RebalancerMetric returns the sum of a rebalancer counter or gauge's
// samples whose labels include every pair of match ("action", "ready").
func (s *Stack) RebalancerMetric(ctx context.Context, name string, match ...string) (float64, error) {
	b, err := s.get(ctx, URL(s.Ports.Rebalancer)+"/metrics")
	if err != nil {
		return 0, err
	}
	return sumSamples(string(b), name, match...)
}

// sumSamples adds the samples of one counter, gauge or untyped metric in
// the text exposition format whose labels contain every name="value" pair
// of match.
func sumSamples(text, name string, match ...string) (float64, error) {
	if len(match)%2 != 0 {
		return 0, errors.New("match wants name, value pairs")
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return 0, err
	}
	var sum float64
	found := false
	for _, m := range families[name].GetMetric() {
		if !hasLabels(m, match) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		default:
			return 0, fmt.Errorf("%s is a %s, not a counter or gauge", name, families[name].GetType())
		}
		found = true
	}
	if !found {
		return 0, fmt.Errorf("no %s sample with %v", name, match)
	}
	return sum, nil
}

// hasLabels reports whether m has every name, value pair of match.
func hasLabels(m *dto.Metric, match []string) bool {
	for i := 0; i < len(match); i += 2 {
		ok := false
		for _, l := range m.GetLabel() {
			if l.GetName() == match[i] && l.GetValue() == match[i+1] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Query runs an instant PromQL query and returns the number of series in
// the answer.
func (s *Stack) Query(ctx context.Context, q string) (int, error) {
	b, err := s.get(ctx, URL(s.Ports.Prometheus)+"/api/v1/query?query="+url.QueryEscape(q))
	if err != nil {
		return 0, err
	}
	var r struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, err
	}
	return len(r.Data.Result), nil
}

// Kill sends SIGKILL to a process of the stack and waits for it to die.
func (s *Stack) Kill(name string) error {
	p := s.Procs.Get(name)
	if p == nil {
		return fmt.Errorf("no process %s", name)
	}
	return s.Procs.Signal(p, syscall.SIGKILL, 5*time.Second)
}

// Pause stops a process of the stack with SIGSTOP (Resume continues it):
// it keeps its sockets and state but does nothing meanwhile.
func (s *Stack) Pause(name string) error { return s.signal(name, syscall.SIGSTOP) }

// Resume continues a paused process (SIGCONT).
func (s *Stack) Resume(name string) error { return s.signal(name, syscall.SIGCONT) }

func (s *Stack) signal(name string, sig syscall.Signal) error {
	p := s.Procs.Get(name)
	if p == nil {
		return fmt.Errorf("no process %s", name)
	}
	return s.Procs.Signal(p, sig, 0)
}

// Restart starts a process again after Kill or StopProcess, and waits
// until it answers as at start-up.
func (s *Stack) Restart(ctx context.Context, name string) error {
	for _, st := range s.startSteps() {
		if st.name != name {
			continue
		}
		p := s.Procs.Get(name)
		if err := s.Procs.Restart(p); err != nil {
			return err
		}
		return s.waitReady(ctx, p, st.ready, 30*time.Second)
	}
	return fmt.Errorf("no process %s", name)
}

// StopProcess stops one process of the stack (SIGTERM).
func (s *Stack) StopProcess(name string) error {
	p := s.Procs.Get(name)
	if p == nil {
		return fmt.Errorf("no process %s", name)
	}
	s.Procs.Stop(p, stopGrace)
	return nil
}

// tailFile returns the last n lines of a file, indented.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
