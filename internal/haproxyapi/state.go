package haproxyapi

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// AdminFlags is srv_admin_state from `show servers state`: the admin flags
// the runtime socket and the agent both write.
type AdminFlags uint8

// Admin flag bits (HAProxy include/haproxy/server-t.h).
const (
	AdminForcedMaint   AdminFlags = 0x01 // FMAINT: set server state maint / disable server / agent maint
	AdminInheritMaint  AdminFlags = 0x02 // IMAINT: tracked server is in maint
	AdminConfigMaint   AdminFlags = 0x04 // CMAINT: "disabled" in the config
	AdminForcedDrain   AdminFlags = 0x08 // FDRAIN: set server state drain / agent drain
	AdminInheritDrain  AdminFlags = 0x10 // IDRAIN: tracked server is draining
	AdminResolveMaint  AdminFlags = 0x20 // RMAINT: DNS resolution failed
	AdminHostnameMaint AdminFlags = 0x40 // HMAINT: fqdn changed via the CLI
)

// Maint reports any maintenance flag.
func (f AdminFlags) Maint() bool {
	return f&(AdminForcedMaint|AdminInheritMaint|AdminConfigMaint|AdminResolveMaint|AdminHostnameMaint) != 0
}

// Drain reports any drain flag.
func (f AdminFlags) Drain() bool { return f&(AdminForcedDrain|AdminInheritDrain) != 0 }

// State is the admin state as the runtime API names it: maint wins over
// drain, as in HAProxy.
func (f AdminFlags) State() AdminState {
	switch {
	case f.Maint():
		return StateMaint
	case f.Drain():
		return StateDrain
	}
	return StateReady
}

// OpState is srv_op_state.
type OpState uint8

// Operational states.
const (
	OpStopped  OpState = 0
	OpStarting OpState = 1
	OpRunning  OpState = 2
	OpStopping OpState = 3 // NOLB
)

// Check/agent state bits (srv_check_state, srv_agent_state).
const (
	CheckInProgress = 0x01
	CheckConfigured = 0x02
	CheckEnabled    = 0x04
	CheckPaused     = 0x08
	CheckAgent      = 0x10
)

// ServerState is one line of `show servers state`.
type ServerState struct {
	BackendID       int
	Backend         string
	ID              int
	Name            string
	Addr            string
	Port            int
	OpState         OpState
	Admin           AdminFlags
	UWeight         int
	IWeight         int
	SinceLastChange int64 // seconds
	CheckStatus     int
	CheckResult     int
	CheckHealth     int
	CheckState      int
	AgentState      int
	FQDN            string
	AgentAddr       string
	AgentPort       int
}

// CheckFailed is srv_check_result's value when the last health check
// failed (HAProxy's CHK_RES_FAILED).
const CheckFailed = 2

// Failing reports a server whose last health check failed, with checks
// enabled: HAProxy still counts it up until `fall` failures in a row.
func (s ServerState) Failing() bool {
	return s.CheckState&CheckEnabled != 0 && s.CheckResult == CheckFailed
}

// Ref returns the server's backend/server reference.
func (s ServerState) Ref() ServerRef { return ServerRef{Backend: s.Backend, Server: s.Name} }

// AgentEnabled reports an agent-check that is configured and enabled
// (`disable agent` clears the enabled bit): HAProxy applies its replies.
func (s ServerState) AgentEnabled() bool {
	return s.AgentState&(CheckConfigured|CheckEnabled) == CheckConfigured|CheckEnabled
}

// Usable reports whether the server takes new traffic: running (or
// starting), neither drained nor in maintenance, and with weight > 0.
func (s ServerState) Usable() bool {
	return (s.OpState == OpRunning || s.OpState == OpStarting) && !s.Admin.Maint() && !s.Admin.Drain() && s.UWeight > 0
}

// ServersState is a parsed `show servers state`.
type ServersState struct {
	Version int
	Servers []ServerState
}

// Find returns the server with the given backend and name.
func (ss *ServersState) Find(ref ServerRef) (ServerState, bool) {
	for _, s := range ss.Servers {
		if s.Backend == ref.Backend && s.Name == ref.Server {
			return s, true
		}
	}
	return ServerState{}, false
}

// ParseServersState parses `show servers state` output by header name. The
// first line is the format version ("1"), the second the "# be_id …" header;
// "-" stands for an empty value. HAProxy 1.8 prints fewer columns; missing
// ones read as zero.
func ParseServersState(data []byte) (*ServersState, error) {
	line, pos := nextLine(data, 0)
	first := strings.TrimSpace(string(data[line.start:line.end]))
	ver, err := strconv.Atoi(first)
	if err != nil {
		return nil, fmt.Errorf("show servers state: no format version, HAProxy said %s", quoteSnippet(data[line.start:line.end]))
	}
	if ver != 1 {
		return nil, fmt.Errorf("show servers state: unsupported format version %d", ver)
	}
	line, pos = nextLine(data, pos)
	hdr := data[line.start:line.end]
	if !bytes.HasPrefix(hdr, []byte("# ")) {
		return nil, fmt.Errorf("show servers state: missing header line, got %s", quoteSnippet(hdr))
	}
	cols := map[string]int{}
	for i, f := range strings.Fields(string(hdr[2:])) {
		cols[f] = i
	}
	for _, need := range []string{"be_name", "srv_name", "srv_op_state", "srv_admin_state", "srv_uweight"} {
		if _, ok := cols[need]; !ok {
			return nil, fmt.Errorf("show servers state: header lacks %s", need)
		}
	}
	ss := &ServersState{Version: ver}
	col := func(name string) int {
		if i, ok := cols[name]; ok {
			return i
		}
		return -1
	}
	ix := struct {
		beID, be, id, name, addr, port, op, admin, uw, iw, since, chkStatus, chkResult, chkHealth, chkState, agentState, fqdn, agentAddr, agentPort int
	}{col("be_id"), col("be_name"), col("srv_id"), col("srv_name"), col("srv_addr"), col("srv_port"), col("srv_op_state"),
		col("srv_admin_state"), col("srv_uweight"), col("srv_iweight"), col("srv_time_since_last_change"), col("srv_check_status"),
		col("srv_check_result"), col("srv_check_health"), col("srv_check_state"), col("srv_agent_state"), col("srv_fqdn"),
		col("srv_agent_addr"), col("srv_agent_port")}
	if n := bytes.Count(data[pos:], []byte{'\n'}); n > 0 {
		ss.Servers = make([]ServerState, 0, n)
	}
	var fields [][]byte
	var lastBackend string
	for lineNo := 3; pos < len(data); lineNo++ {
		line, pos = nextLine(data, pos)
		raw := data[line.start:line.end]
		fields = splitSpaces(fields[:0], raw)
		if len(fields) == 0 {
			break
		}
		var perr error
		field := func(i int) []byte {
			if i < 0 || i >= len(fields) || (len(fields[i]) == 1 && fields[i][0] == '-') {
				return nil
			}
			return fields[i]
		}
		str := func(i int) string { return string(field(i)) }
		num := func(i int, name string) int64 {
			b := field(i)
			if b == nil {
				return 0
			}
			v, ok := parseInt(b)
			if !ok && perr == nil {
				perr = fmt.Errorf("show servers state line %d: %s=%q is not a number", lineNo, name, b)
			}
			return v
		}
		be := field(ix.be)
		if string(be) != lastBackend { // servers of a backend are consecutive: share the string
			lastBackend = string(be)
		}
		s := ServerState{
			BackendID:       int(num(ix.beID, "be_id")),
			Backend:         lastBackend,
			ID:              int(num(ix.id, "srv_id")),
			Name:            str(ix.name),
			Addr:            str(ix.addr),
			Port:            int(num(ix.port, "srv_port")),
			OpState:         OpState(num(ix.op, "srv_op_state")),
			Admin:           AdminFlags(num(ix.admin, "srv_admin_state")),
			UWeight:         int(num(ix.uw, "srv_uweight")),
			IWeight:         int(num(ix.iw, "srv_iweight")),
			SinceLastChange: num(ix.since, "srv_time_since_last_change"),
			CheckStatus:     int(num(ix.chkStatus, "srv_check_status")),
			CheckResult:     int(num(ix.chkResult, "srv_check_result")),
			CheckHealth:     int(num(ix.chkHealth, "srv_check_health")),
			CheckState:      int(num(ix.chkState, "srv_check_state")),
			AgentState:      int(num(ix.agentState, "srv_agent_state")),
			FQDN:            str(ix.fqdn),
			AgentAddr:       str(ix.agentAddr),
			AgentPort:       int(num(ix.agentPort, "srv_agent_port")),
		}
		if perr != nil {
			return nil, perr
		}
		if s.Backend == "" || s.Name == "" {
			return nil, fmt.Errorf("show servers state line %d: too few fields (%d)", lineNo, len(fields))
		}
		ss.Servers = append(ss.Servers, s)
	}
	return ss, nil
}

// splitSpaces appends the space-separated fields of b to dst.
func splitSpaces(dst [][]byte, b []byte) [][]byte {
	for i := 0; i < len(b); {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
			i++
		}
		j := i
		for j < len(b) && b[j] != ' ' && b[j] != '\t' {
			j++
		}
		if j > i {
			dst = append(dst, b[i:j])
		}
		i = j
	}
	return dst
}

// parseInt parses a decimal integer without allocating.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// Info is the parsed `show info`: "Name: value" per line.
type Info map[string]string

// ParseInfo parses `show info`. An output without any "Key: value" line
// (an error message) is an error quoting it.
func ParseInfo(data []byte) (Info, error) {
	info := Info{}
	for pos := 0; pos < len(data); {
		var line span
		line, pos = nextLine(data, pos)
		l := data[line.start:line.end]
		i := bytes.Index(l, []byte(": "))
		if i <= 0 {
			continue
		}
		info[string(l[:i])] = string(bytes.TrimSpace(l[i+2:]))
	}
	if _, ok := info["Name"]; !ok && info["Version"] == "" {
		return nil, fmt.Errorf("show info: unexpected output %s", quoteSnippet(data))
	}
	return info, nil
}

// Float returns a numeric field.
func (i Info) Float(key string) (float64, bool) { return ParseNumber([]byte(i[key])) }
