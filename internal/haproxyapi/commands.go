package haproxyapi

import (
	"fmt"
	"strconv"
)

// AdminState is a value accepted by `set server <b>/<s> state`.
type AdminState string

// The admin states the runtime API accepts (case-sensitive on the wire).
const (
	StateReady AdminState = "ready"
	StateDrain AdminState = "drain"
	StateMaint AdminState = "maint"
)

// Valid reports whether s is one of ready, drain, maint.
func (s AdminState) Valid() bool {
	return s == StateReady || s == StateDrain || s == StateMaint
}

// Weight is a server weight: absolute 0..256, or a percentage of the
// server's initial (configured) weight.
type Weight struct {
	Value   int
	Percent bool
}

func (w Weight) String() string {
	if w.Percent {
		return strconv.Itoa(w.Value) + "%"
	}
	return strconv.Itoa(w.Value)
}

// Validate applies HAProxy's own bounds so that its parse errors, which are
// the few messages printed without the empty-line terminator, never occur.
func (w Weight) Validate() error {
	if w.Value < 0 {
		return fmt.Errorf("weight %s: must not be negative", w)
	}
	if !w.Percent && w.Value > 256 {
		return fmt.Errorf("weight %s: absolute weight must be 0..256", w)
	}
	if w.Percent && w.Value > 100000 {
		return fmt.Errorf("weight %s: percentage too large", w)
	}
	return nil
}

// ParseWeight parses "50" or "50%".
func ParseWeight(s string) (Weight, error) {
	w := Weight{}
	if n := len(s); n > 0 && s[n-1] == '%' {
		w.Percent = true
		s = s[:n-1]
	}
	v, err := strconv.Atoi(s)
	if err != nil || s == "" || s[0] == '+' || s[0] == '-' {
		return Weight{}, fmt.Errorf("weight %q: want an integer 0..256 or N%%", s)
	}
	w.Value = v
	return w, w.Validate()
}

// Command is one validated runtime command. The zero value is not usable;
// build commands with the constructors below, which validate every name.
type Command struct {
	line string
}

// String returns the command text as sent to HAProxy.
func (c Command) String() string { return c.line }

// SetServerState builds `set server <b>/<s> state <ready|drain|maint>`.
func SetServerState(ref ServerRef, st AdminState) (Command, error) {
	if err := ref.Validate(); err != nil {
		return Command{}, err
	}
	if !st.Valid() {
		return Command{}, fmt.Errorf("invalid admin state %q: want ready, drain or maint", string(st))
	}
	return Command{line: "set server " + ref.String() + " state " + string(st)}, nil
}

// SetWeight builds `set weight <b>/<s> <w>[%]` (works on HAProxy 1.8+).
func SetWeight(ref ServerRef, w Weight) (Command, error) {
	if err := ref.Validate(); err != nil {
		return Command{}, err
	}
	if err := w.Validate(); err != nil {
		return Command{}, err
	}
	return Command{line: "set weight " + ref.String() + " " + w.String()}, nil
}

// MaxMaxConn bounds the session limits SetMaxConn sends: HAProxy parses
// the value as an int, and no server holds a million sessions.
const MaxMaxConn = 1000000

// SetMaxConn builds `set maxconn server <b>/<s> <n>`: the server takes at
// most n sessions at once (more wait in the backend's queue until one
// ends or `timeout queue` refuses them). 0 lifts the limit, as `maxconn 0`
// (the default) does in the configuration.
func SetMaxConn(ref ServerRef, n int) (Command, error) {
	if err := ref.Validate(); err != nil {
		return Command{}, err
	}
	if n < 0 || n > MaxMaxConn {
		return Command{}, fmt.Errorf("maxconn %d: want 0 (no limit) .. %d", n, MaxMaxConn)
	}
	return Command{line: "set maxconn server " + ref.String() + " " + strconv.Itoa(n)}, nil
}

// GetWeight builds `get weight <b>/<s>`.
func GetWeight(ref ServerRef) (Command, error) {
	if err := ref.Validate(); err != nil {
		return Command{}, err
	}
	return Command{line: "get weight " + ref.String()}, nil
}

// EnableAgent and DisableAgent build `enable|disable agent <b>/<s>`.
func EnableAgent(ref ServerRef) (Command, error)  { return agentCmd("enable", ref) }
func DisableAgent(ref ServerRef) (Command, error) { return agentCmd("disable", ref) }

func agentCmd(verb string, ref ServerRef) (Command, error) {
	if err := ref.Validate(); err != nil {
		return Command{}, err
	}
	return Command{line: verb + " agent " + ref.String()}, nil
}

// showCommand is for the fixed read-only commands this package sends.
func showCommand(line string) Command { return Command{line: line} }
