package rebalancer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lbpilot/lbpilot/internal/haproxyapi"
)

// ActionKind is what an alert asks for.
type ActionKind string

// The actions a rule can take.
const (
	ActionDrain  ActionKind = "drain"
	ActionMaint  ActionKind = "maint"
	ActionWeight ActionKind = "weight"
)

// Action is a parsed action: drain, maint, or weight N% (N of the server's
// configured weight, 0..100).
type Action struct {
	Kind    ActionKind
	Percent int // weight only
}

func (a Action) String() string {
	if a.Kind == ActionWeight {
		return "weight " + strconv.Itoa(a.Percent) + "%"
	}
	return string(a.Kind)
}

// adminState is the HAProxy admin state of a drain or maint action.
func (a Action) adminState() haproxyapi.AdminState {
	switch a.Kind {
	case ActionDrain:
		return haproxyapi.StateDrain
	case ActionMaint:
		return haproxyapi.StateMaint
	}
	return ""
}

// ParseAction accepts "drain", "maint" and "weight N%" (also "weight N %"
// and "weight:N%"), N an integer 0..100.
func ParseAction(s string) (Action, error) {
	t := strings.TrimSpace(s)
	switch t {
	case "drain":
		return Action{Kind: ActionDrain}, nil
	case "maint":
		return Action{Kind: ActionMaint}, nil
	}
	rest, ok := strings.CutPrefix(t, "weight")
	if !ok {
		return Action{}, fmt.Errorf("action %s: want drain, maint or weight N%%", strconv.Quote(clip(s, 40)))
	}
	rest = strings.TrimPrefix(rest, ":")
	rest = strings.ReplaceAll(strings.TrimSpace(rest), " ", "")
	num, pct := strings.CutSuffix(rest, "%")
	n, err := strconv.Atoi(num)
	if !pct || err != nil || num == "" || num[0] == '+' || num[0] == '-' || n < 0 || n > 100 {
		return Action{}, fmt.Errorf("action %s: weight wants a percentage 0%%..100%% of the configured weight", strconv.Quote(clip(s, 40)))
	}
	return Action{Kind: ActionWeight, Percent: n}, nil
}

// clip shortens s for error messages.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// strength orders admin actions: maint > drain > nothing.
func strength(s haproxyapi.AdminState) int {
	switch s {
	case haproxyapi.StateMaint:
		return 2
	case haproxyapi.StateDrain:
		return 1
	}
	return 0
}

// forcedState is the admin state the runtime socket (or an agent) last wrote:
// only the forced maint and drain flags. Config-disabled, inherited (track)
// and DNS maintenance are not something `set server state` sets, so they
// never count as the rebalancer's own state.
func forcedState(f haproxyapi.AdminFlags) haproxyapi.AdminState {
	switch {
	case f&haproxyapi.AdminForcedMaint != 0:
		return haproxyapi.StateMaint
	case f&haproxyapi.AdminForcedDrain != 0:
		return haproxyapi.StateDrain
	}
	return haproxyapi.StateReady
}

// weightOf is HAProxy's own arithmetic for "set weight N%": a percentage of
// the initial weight, integer division, capped at 256.
func weightOf(iweight, percent int) int {
	return min(iweight*percent/100, 256)
}
