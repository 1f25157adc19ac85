package haproxyapi

import "strings"

// Status is a parsed `show stat` status column. State uses the names of
// HAProxy's built-in Prometheus exporter: UP, DOWN, MAINT, DRAIN, NOLB.
type Status struct {
	State      string // "UP", "DOWN", "MAINT", "DRAIN", "NOLB"; "" when unknown
	Agent      bool   // "(agent)": the agent set it, or the server has an enabled agent
	Via        string // "MAINT (via bk/srv)": the tracked server
	Resolution bool   // "MAINT (resolution)"
	Transition bool   // "UP 1/2": health is moving towards the other state
	NoCheck    bool   // "no check": UP without health checks
}

// PromexStates are the promex state names, in the order HAProxy's exporter
// prints them.
var PromexStates = []string{"DOWN", "UP", "MAINT", "DRAIN", "NOLB"}

// ParseStatus maps every status string HAProxy prints for servers,
// backends and frontends — "UP", "UP 1/2", "DOWN (agent)", "DRAIN (agent)",
// "MAINT (via bk/srv)", "MAINT (resolution)", "NOLB", "no check", "OPEN",
// "UP (3/5)" — to a state. Frontends' OPEN/FULL read as UP and STOP as DOWN,
// as in HAProxy's exporter.
func ParseStatus(s string) Status {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "no check") {
		return Status{State: "UP", NoCheck: true}
	}
	word, rest, _ := strings.Cut(s, " ")
	var st Status
	switch strings.ToUpper(word) {
	case "UP", "OPEN", "FULL":
		st.State = "UP"
	case "DOWN", "STOP":
		st.State = "DOWN"
	case "MAINT":
		st.State = "MAINT"
	case "DRAIN":
		st.State = "DRAIN"
	case "NOLB":
		st.State = "NOLB"
	default:
		return Status{}
	}
	rest = strings.TrimSpace(rest)
	switch {
	case rest == "":
	case strings.EqualFold(rest, "(agent)"):
		st.Agent = true
	case strings.HasPrefix(rest, "(via ") && strings.HasSuffix(rest, ")"):
		st.Via = rest[len("(via ") : len(rest)-1]
	case strings.EqualFold(rest, "(resolution)"):
		st.Resolution = true
	case isTransition(rest):
		st.Transition = true
	case strings.HasPrefix(rest, "(") && isTransition(strings.Trim(rest, "()")):
		// backend "UP (3/5)" with the up / no-maint modifiers: counts, not a transition
	default:
		return Status{}
	}
	return st
}

// isTransition matches "n/m" with decimal n and m.
func isTransition(s string) bool {
	n, m, ok := strings.Cut(s, "/")
	return ok && allDigits(n) && allDigits(m)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
