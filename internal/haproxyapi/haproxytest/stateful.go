package haproxytest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server is one server of the stateful fake.
type Server struct {
	Backend   string
	Name      string
	Addr      string
	Port      int
	Up        bool // operational state: running or stopped
	Failing   bool // its last health check failed (still up until fall)
	Admin     int  // srv_admin_state bits
	UWeight   int
	IWeight   int
	Agent     bool // agent-check configured and enabled
	Tracking  bool
	StaticLB  bool
	Sessions  int
	MaxConn   int // session limit (slim of show stat; 0: none)
	BackendID int
	ID        int
}

// HAProxy is a small in-memory HAProxy for unit tests. It understands the
// commands lbpilot sends — set severity-output, set server … state,
// set weight, set maxconn server, get weight, enable/disable agent, show servers state,
// show stat, show info — with HAProxy 2.6's exact outputs, and keeps the
// admin state and weights, so rebalancer logic can be tested without a
// process. Reload() drops runtime changes the way a real reload does.
type HAProxy struct {
	Socket *Socket

	mu       sync.Mutex
	servers  []*Server
	initial  []Server
	pid      int
	legacy   bool // behave like HAProxy 1.8: no severity-output
	down     bool // refuse connections (simulated outage)
	commands []string
}

// NewHAProxy starts a stateful fake with the given servers.
func NewHAProxy(t testing.TB, servers []Server) *HAProxy {
	h := &HAProxy{pid: 1000}
	bids := map[string]int{}
	for _, s := range servers {
		s := s
		if s.IWeight == 0 && s.UWeight == 0 {
			s.IWeight, s.UWeight = 100, 100
		}
		if _, ok := bids[s.Backend]; !ok {
			bids[s.Backend] = len(bids) + 3
		}
		s.BackendID = bids[s.Backend]
		if s.Addr == "" {
			s.Addr = "127.0.0.1"
		}
		h.initial = append(h.initial, s)
	}
	h.reset()
	h.Socket = NewSocket(t, h.handle)
	return h
}

func (h *HAProxy) reset() {
	h.servers = h.servers[:0]
	ids := map[string]int{}
	for _, s := range h.initial {
		s := s
		ids[s.Backend]++
		s.ID = ids[s.Backend]
		h.servers = append(h.servers, &s)
	}
}

// Legacy makes the fake behave like HAProxy 1.8 (no `set severity-output`).
func (h *HAProxy) Legacy(on bool) { h.mu.Lock(); h.legacy = on; h.mu.Unlock() }

// Reload simulates a HAProxy reload: runtime changes are lost, the pid changes.
func (h *HAProxy) Reload() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reset()
	h.pid++
}

// SetDown makes every command fail as if HAProxy were unreachable (the
// connection is closed without output).
func (h *HAProxy) SetDown(down bool) { h.mu.Lock(); h.down = down; h.mu.Unlock() }

// Operator applies a command as an operator would, outside lbpilot.
func (h *HAProxy) Operator(line string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.run(line, false)
}

// Server returns a copy of one server's current state.
func (h *HAProxy) Server(backend, name string) (Server, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.find(backend, name); s != nil {
		return *s, true
	}
	return Server{}, false
}

// SetUp sets a server's operational state (health).
func (h *HAProxy) SetUp(backend, name string, up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.find(backend, name); s != nil {
		s.Up = up
	}
}

// SetSessions sets a server's current sessions (scur of show stat).
func (h *HAProxy) SetSessions(backend, name string, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.find(backend, name); s != nil {
		s.Sessions = n
	}
}

// SetFailing marks a server's last health check failed (or passed again).
func (h *HAProxy) SetFailing(backend, name string, failing bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.find(backend, name); s != nil {
		s.Failing = failing
	}
}

// Commands returns every command (split on ';') received over the socket.
func (h *HAProxy) Commands() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.commands...)
}

func (h *HAProxy) find(backend, name string) *Server {
	for _, s := range h.servers {
		if s.Backend == backend && s.Name == name {
			return s
		}
	}
	return nil
}

func (h *HAProxy) handle(line string) Reply {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		return Reply{}
	}
	sev := false
	var out strings.Builder
	for _, cmd := range strings.Split(line, ";") {
		cmd = strings.TrimSpace(cmd)
		h.commands = append(h.commands, cmd)
		if cmd == "set severity-output number" && !h.legacy {
			sev = true
			out.WriteString("\n")
			continue
		}
		out.WriteString(h.run(cmd, sev))
	}
	return Reply{Data: []byte(out.String())}
}

// run executes one command and returns its exact output with terminator.
func (h *HAProxy) run(cmd string, sev bool) string {
	errf := func(msg string) string {
		if sev {
			return "[3]: " + msg + "\n\n"
		}
		return msg + "\n\n"
	}
	f := strings.Fields(cmd)
	lookup := func(ref string) (*Server, string) {
		b, s, ok := strings.Cut(ref, "/")
		if !ok || b == "" || s == "" {
			return nil, "Require 'backend/server'."
		}
		found := false
		for _, sv := range h.servers {
			if sv.Backend == b {
				found = true
			}
		}
		if !found {
			return nil, "No such backend."
		}
		if sv := h.find(b, s); sv != nil {
			return sv, ""
		}
		return nil, "No such server."
	}
	switch {
	case len(f) == 0:
		return "Unknown command. Please enter one of the following commands only:\n  help : this message\n\n"
	case len(f) >= 3 && f[0] == "set" && f[1] == "server":
		sv, msg := lookup(f[2])
		if sv == nil {
			return errf(msg)
		}
		if len(f) >= 4 && f[3] == "state" {
			st := ""
			if len(f) >= 5 {
				st = f[4]
			}
			switch st {
			case "ready":
				sv.Admin &^= 0x01 | 0x08 | 0x04
			case "drain":
				sv.Admin = (sv.Admin &^ 0x01) | 0x08
			case "maint":
				sv.Admin = (sv.Admin &^ 0x08) | 0x01
			default:
				return errf("'set server <srv> state' expects 'ready', 'drain' and 'maint'.")
			}
			return "\n"
		}
		if len(f) >= 5 && f[3] == "weight" {
			return h.setWeight(sv, f[4], errf)
		}
		return errf("usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight")
	case len(f) >= 4 && f[0] == "set" && f[1] == "weight":
		sv, msg := lookup(f[2])
		if sv == nil {
			return errf(msg)
		}
		return h.setWeight(sv, f[3], errf)
	case len(f) >= 3 && f[0] == "set" && f[1] == "maxconn" && f[2] == "server":
		if len(f) < 4 {
			return errf("'set maxconn server' expects <backend>/<server> and an integer value.")
		}
		sv, msg := lookup(f[3])
		if sv == nil {
			return errf(msg)
		}
		// HAProxy 2.6's parse errors here end with one newline only.
		v := ""
		if len(f) >= 5 {
			v = f[4]
		}
		n, err := strconv.Atoi(v)
		if v == "" || err != nil || n < 0 {
			return "maxconn string empty or preceded by garbage\n"
		}
		sv.MaxConn = n
		return "\n"
	case len(f) == 3 && f[0] == "get" && f[1] == "weight":
		sv, msg := lookup(f[2])
		if sv == nil {
			return errf(msg)
		}
		return fmt.Sprintf("%d (initial %d)\n\n", sv.UWeight, sv.IWeight)
	case len(f) == 3 && (f[0] == "enable" || f[0] == "disable") && f[1] == "agent":
		sv, msg := lookup(f[2])
		if sv == nil {
			return errf(msg)
		}
		sv.Agent = f[0] == "enable"
		return "\n"
	case len(f) >= 3 && f[0] == "show" && f[1] == "servers" && f[2] == "state":
		return h.serversState(f[3:])
	case len(f) >= 2 && f[0] == "show" && f[1] == "info":
		return fmt.Sprintf("Name: HAProxy\nVersion: 2.6.12-fake\nRelease_date: 2026/10/17\nPid: %d\nUptime_sec: 1\n\n", h.pid)
	case len(f) >= 2 && f[0] == "show" && f[1] == "stat":
		return h.stat()
	}
	return "Unknown command, but maybe one of the following ones is a better match:\n  help : this message\n\n"
}

func (h *HAProxy) setWeight(sv *Server, arg string, errf func(string) string) string {
	pct := strings.HasSuffix(arg, "%")
	v, err := strconv.Atoi(strings.TrimSuffix(arg, "%"))
	if err != nil {
		return "Trailing garbage in weight string\n"
	}
	if pct {
		if v < 0 {
			return errf("Relative weight must be positive.")
		}
		v = min(sv.IWeight*v/100, 256)
	} else if v < 0 || v > 256 {
		return errf("Absolute weight can only be between 0 and 256 inclusive.")
	}
	if sv.StaticLB && v != 0 && v != sv.IWeight {
		return errf("Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.")
	}
	sv.UWeight = v
	return "\n"
}

func (h *HAProxy) serversState(args []string) string {
	var b strings.Builder
	b.WriteString("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n")
	found := len(args) == 0
	for _, s := range h.servers {
		if len(args) > 0 && s.Backend != args[0] {
			continue
		}
		found = true
		op, agent, result, health := 0, 0, 3, 4
		if s.Up {
			op = 2
		}
		if s.Failing {
			result, health = 2, 3 // CHK_RES_FAILED, one failure into fall 3
		}
		if s.Agent {
			agent = 22
		}
		fmt.Fprintf(&b, "%d %s %d %s %s %d %d %d %d 10 15 %d %d 6 %d 0 0 - %d - 0 0 - - 0\n",
			s.BackendID, s.Backend, s.ID, s.Name, s.Addr, op, s.Admin, s.UWeight, s.IWeight, result, health, agent, s.Port)
	}
	if !found {
		return "Can't find backend.\n\n"
	}
	b.WriteString("\n")
	return b.String()
}

// stat renders a minimal `show stat` with the columns lbpilot reads.
func (h *HAProxy) stat() string {
	var b strings.Builder
	b.WriteString("# pxname,svname,qcur,scur,slim,stot,status,weight,act,bck,iid,sid,type,addr,uweight,\n")
	backends := map[string]bool{}
	var order []string
	for _, s := range h.servers {
		if !backends[s.Backend] {
			backends[s.Backend] = true
			order = append(order, s.Backend)
		}
	}
	sort.Strings(order)
	for _, bk := range order {
		act, wsum := 0, 0
		for _, s := range h.servers {
			if s.Backend != bk {
				continue
			}
			status := "UP"
			switch {
			case s.Admin&0x05 != 0:
				status = "MAINT"
			case !s.Up && s.Agent:
				status = "DOWN (agent)"
			case !s.Up:
				status = "DOWN"
			case s.Admin&0x08 != 0 && s.Agent:
				status = "DRAIN (agent)"
			case s.Admin&0x08 != 0:
				status = "DRAIN"
			}
			if status == "UP" && s.UWeight > 0 {
				act++
				wsum += s.UWeight
			}
			slim := ""
			if s.MaxConn > 0 {
				slim = strconv.Itoa(s.MaxConn)
			}
			fmt.Fprintf(&b, "%s,%s,0,%d,%s,%d,%s,%d,1,0,%d,%d,2,%s:%d,%d,\n", bk, s.Name, s.Sessions, slim, s.Sessions, status, s.UWeight, s.BackendID, s.ID, s.Addr, s.Port, s.UWeight)
		}
		st := "UP"
		if act == 0 {
			st = "DOWN"
		}
		fmt.Fprintf(&b, "%s,BACKEND,0,0,,0,%s,%d,%d,0,%d,0,1,,%d,\n", bk, st, wsum, act, backends2id(h, bk), wsum)
	}
	b.WriteString("\n")
	return b.String()
}

func backends2id(h *HAProxy, bk string) int {
	for _, s := range h.servers {
		if s.Backend == bk {
			return s.BackendID
		}
	}
	return 0
}
