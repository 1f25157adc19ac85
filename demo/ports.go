package demo

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Ports are the loopback TCP ports of a demo stack.
type Ports struct {
	HAProxyStats int    // HAProxy's stats page (/stats)
	WCS          int    // frontend fe_wcs: WCS websockets → be_wcs_ws
	RTMP         int    // frontend fe_rtmp: RTMP publishers → be_srs_origin (tcp)
	Play         int    // frontend fe_play: HTTP-FLV / HLS players → be_srs_edge
	MQTT         int    // frontend fe_mqtt: MQTT clients → be_mqtt (tcp, leastconn)
	Lab          int    // first of eleven lab ports: five API ports (LabPort), then six client ports (ClientPort)
	Exporter     int    // lbpilot exporter
	Rebalancer   int    // lbpilot rebalancer
	AgentCheck   [2]int // lbpilot agent of wcs1, wcs2: HAProxy's agent-check
	AgentHTTP    [2]int // the same agents' /health and /metrics
	Prometheus   int
	Alertmanager int
}

// DefaultPorts are the demo's fixed ports (docs/lab.md, "Demo"): the usual
// port of each service behind a leading 1, clear of the kernel's
// ephemeral range (32768 and up) so an outgoing connection never holds
// one. The lab takes 18801–18811: its five API ports, then its six client
// ports.
func DefaultPorts() Ports {
	return Ports{
		HAProxyStats: 18404, WCS: 18080, RTMP: 11935, Play: 18088, MQTT: 11883,
		Lab:      18801,
		Exporter: 19708, Rebalancer: 19709,
		AgentCheck: [2]int{19707, 19717}, AgentHTTP: [2]int{19710, 19720},
		Prometheus: 19090, Alertmanager: 19093,
	}
}

// PortsFrom lays the ports out consecutively from base (PortCount of them).
func PortsFrom(base int) Ports {
	n := base
	next := func() int { n++; return n - 1 }
	p := Ports{HAProxyStats: next(), WCS: next(), RTMP: next(), Play: next(), MQTT: next()}
	p.Lab = next()
	n += len(labNames) + len(labClients) - 1
	p.Exporter, p.Rebalancer = next(), next()
	p.AgentCheck = [2]int{next(), next()}
	p.AgentHTTP = [2]int{next(), next()}
	p.Prometheus, p.Alertmanager = next(), next()
	return p
}

// PortCount is how many ports a stack uses.
const PortCount = 24

// labNames are the lab's servers, in --base-port order.
var labNames = []string{"wcs1", "wcs2", "srs-origin1", "srs-edge1", "emqx1"}

// labClient is one client port of a lab server.
type labClient struct {
	name   string // as ClientPort takes it
	server string // the lab server (labNames) it belongs to
	what   string // the protocol it serves
	url    string // the URL lbpilot-lab reports for it, %d the port
}

// labClients are the lab servers' client ports in the order lbpilot-lab
// --client-ports opens them after all the API ports: one per server, one
// per node of the two-node EMQX cluster.
var labClients = []labClient{
	{"wcs1", "wcs1", "WCS WebSocket API", "ws://127.0.0.1:%d/"},
	{"wcs2", "wcs2", "WCS WebSocket API", "ws://127.0.0.1:%d/"},
	{"srs-origin1", "srs-origin1", "RTMP publishers", "rtmp://127.0.0.1:%d/live"},
	{"srs-edge1", "srs-edge1", "HTTP-FLV/HLS players", "http://127.0.0.1:%d"},
	{"emqx1-node1", "emqx1", "MQTT, node 1", "mqtt://127.0.0.1:%d"},
	{"emqx1-node2", "emqx1", "MQTT, node 2", "mqtt://127.0.0.1:%d"},
}

// NamedPort is one port and what uses it.
type NamedPort struct {
	Port int
	What string
}

// List names every port of the stack.
func (p Ports) List() []NamedPort {
	l := []NamedPort{
		{p.HAProxyStats, "HAProxy stats page"},
		{p.WCS, "HAProxy frontend fe_wcs (WCS websockets)"},
		{p.RTMP, "HAProxy frontend fe_rtmp (RTMP to SRS origins)"},
		{p.Play, "HAProxy frontend fe_play (HTTP-FLV/HLS from SRS edges)"},
		{p.MQTT, "HAProxy frontend fe_mqtt (MQTT to EMQX)"},
	}
	for i, name := range labNames {
		l = append(l, NamedPort{p.Lab + i, "lbpilot-lab " + name + " API"})
	}
	for _, c := range labClients {
		l = append(l, NamedPort{p.ClientPort(c.name), "lbpilot-lab " + c.server + " " + c.what})
	}
	l = append(l,
		NamedPort{p.Exporter, "lbpilot exporter"},
		NamedPort{p.Rebalancer, "lbpilot rebalancer"},
		NamedPort{p.AgentCheck[0], "lbpilot agent (wcs1) agent-check"},
		NamedPort{p.AgentCheck[1], "lbpilot agent (wcs2) agent-check"},
		NamedPort{p.AgentHTTP[0], "lbpilot agent (wcs1) HTTP"},
		NamedPort{p.AgentHTTP[1], "lbpilot agent (wcs2) HTTP"},
		NamedPort{p.Prometheus, "Prometheus"},
		NamedPort{p.Alertmanager, "Alertmanager"},
	)
	return l
}

// LabPort returns the API port of a lab server (wcs1, wcs2, srs-origin1,
// srs-edge1, emqx1): its upstream API and the lab's control API.
func (p Ports) LabPort(name string) int {
	for i, n := range labNames {
		if n == name {
			return p.Lab + i
		}
	}
	panic("demo: no lab server " + name)
}

// ClientPort returns a lab client port, where real sessions go: wcs1,
// wcs2 (WebSocket), srs-origin1 (RTMP), srs-edge1 (HTTP-FLV/HLS),
// emqx1-node1, emqx1-node2 (MQTT).
func (p Ports) ClientPort(name string) int {
	for i, c := range labClients {
		if c.name == name {
			return p.Lab + len(labNames) + i
		}
	}
	panic("demo: no lab client port " + name)
}

// CheckFree makes sure every port of the stack can be bound on 127.0.0.1
// (and that no two uses share one). The error names each taken port, what
// the demo wanted it for and, when /proc tells, the process holding it.
func (p Ports) CheckFree() error {
	seen := map[int]string{}
	var problems []string
	for _, np := range p.List() {
		if np.Port <= 0 || np.Port > 65535 {
			problems = append(problems, fmt.Sprintf("port %d (%s) is not a TCP port", np.Port, np.What))
			continue
		}
		if other, dup := seen[np.Port]; dup {
			problems = append(problems, fmt.Sprintf("port %d is given to both %s and %s", np.Port, other, np.What))
			continue
		}
		seen[np.Port] = np.What
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(np.Port)))
		if err != nil {
			msg := fmt.Sprintf("port %d (%s) is taken", np.Port, np.What)
			if owner := PortOwner(np.Port); owner != "" {
				msg += " by " + owner
			}
			problems = append(problems, msg)
			continue
		}
		l.Close()
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// PortOwner names the process listening on a local TCP port ("pid 123
// (prometheus --config.file=…)"), from /proc; "" when it cannot tell.
func PortOwner(port int) string {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		for _, ino := range listeningInodes(f, port) {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range procs {
		fds, err := os.ReadDir(filepath.Join(dir, "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
				pid := filepath.Base(dir)
				return fmt.Sprintf("pid %s (%s)", pid, cmdline(pid))
			}
		}
	}
	return ""
}

// listeningInodes returns the socket inodes of listeners on port in a
// /proc/net/tcp-format file.
func listeningInodes(file string, port int) []string {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	var out []string
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
			continue
		}
		if strings.HasSuffix(fields[1], want) {
			out = append(out, fields[9])
		}
	}
	return out
}

// cmdline returns a process's command line, shortened for messages.
func cmdline(pid string) string {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
	if err != nil {
		return "?"
	}
	s := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// FreePorts returns a block of PortCount free ports below the kernel's
// ephemeral range (so no outgoing connection of a parallel run holds
// one), at a random place so that parallel runs (tests, a recording) do
// not meet.
func FreePorts() (Ports, error) {
	var err error
	for range 50 {
		// Blocks of PortCount ports from 20000, all below 32768.
		p := PortsFrom(20000 + rand.IntN((32768-20000)/PortCount)*PortCount)
		if err = p.CheckFree(); err == nil {
			return p, nil
		}
	}
	return Ports{}, fmt.Errorf("no free block of %d ports: %w", PortCount, err)
}
