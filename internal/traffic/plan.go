package traffic

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Bounds on a plan: a plan past them is refused, not trimmed.
const (
	MaxConcurrentLimit = 100000
	MaxTotalLimit      = 10000000
	MaxDurationLimit   = 24 * time.Hour
	MaxRate            = 10000 // sessions per second, per protocol, before a phase's factor
	MaxFactor          = 100
)

// Plan is what the generator runs. See the package documentation and
// docs/lab.md for its JSON form.
type Plan struct {
	// Seed makes the run reproducible: the same seed gives the same
	// arrivals, kinds and lifetimes.
	Seed int64 `json:"seed"`
	// Caps are hard limits; all three are required.
	Caps Caps `json:"caps"`
	// Protocols maps a registered protocol name to its traffic.
	Protocols map[string]ProtocolPlan `json:"protocols"`
	// Phases run in order; arrivals stop after the last one.
	Phases []Phase `json:"phases"`
	// OpenTimeout bounds opening one session (default 5s).
	OpenTimeout Duration `json:"open_timeout,omitempty"`
}

// Caps are the hard limits of a run.
type Caps struct {
	// MaxConcurrent sessions open at once; an arrival past it is skipped.
	MaxConcurrent int `json:"max_concurrent"`
	// MaxTotal sessions opened over the run; arrivals stop there.
	MaxTotal int `json:"max_total"`
	// MaxDuration of the whole run; sessions still open then are closed.
	MaxDuration Duration `json:"max_duration"`
}

// ProtocolPlan is one protocol's traffic.
type ProtocolPlan struct {
	// Target is the frontend's URL (loopback only), e.g. ws://127.0.0.1:8080/.
	Target string `json:"target"`
	// Rate is the mean number of sessions opened per second (Poisson
	// arrivals), multiplied by the current phase's factor.
	Rate float64 `json:"rate"`
	// Mix weighs the session kinds the protocol knows (e.g. wcs:
	// publish, play); weights need not sum to 1.
	Mix map[string]float64 `json:"mix"`
	// Lifetime is how long a session stays open when nothing cuts it.
	Lifetime Lifetime `json:"lifetime"`
	// Streams is how many stream names sessions spread over (stream1 ..
	// streamN, by session number; default 1).
	Streams int `json:"streams,omitempty"`
	// Options are passed to the protocol's dialer as they are.
	Options map[string]string `json:"options,omitempty"`
}

// Lifetime distributions.
const (
	LifetimeFixed       = "fixed"
	LifetimeUniform     = "uniform"
	LifetimeExponential = "exponential"
)

// Lifetime is a session lifetime distribution: fixed (Value), uniform
// (Min to Max) or exponential (Mean, never past Max).
type Lifetime struct {
	Dist  string   `json:"dist"`
	Value Duration `json:"value,omitempty"`
	Min   Duration `json:"min,omitempty"`
	Max   Duration `json:"max,omitempty"`
	Mean  Duration `json:"mean,omitempty"`
}

// Phase kinds.
const (
	PhaseSteady     = "steady"
	PhaseFlashCrowd = "flash-crowd"
	PhaseNodeKilled = "node-killed"
	PhaseNodeBack   = "node-back"
)

// Phase is one stretch of the run. Arrivals run at each protocol's rate
// times Factor (1 when absent; 0 stops arrivals; a flash crowd needs
// one). A node-killed or
// node-back phase starts with an event the caller handles (Engine.Hook);
// Request is what the command's hook sends for it.
type Phase struct {
	Name     string   `json:"name,omitempty"`
	Kind     string   `json:"kind"`
	Duration Duration `json:"duration"`
	Factor   *float64 `json:"factor,omitempty"`
	Node     string   `json:"node,omitempty"`
	Request  *Request `json:"request,omitempty"`
}

// Request is an HTTP request to a loopback URL, e.g. a lab node's
// control API: {"method":"POST","url":"http://127.0.0.1:18801/lab/fault","body":{"status":503}}.
type Request struct {
	Method string          `json:"method,omitempty"` // default POST
	URL    string          `json:"url"`
	Body   json.RawMessage `json:"body,omitempty"`
}

// factor is the phase's rate multiplier.
func (ph Phase) factor() float64 {
	if ph.Factor == nil {
		return 1
	}
	return *ph.Factor
}

// label is the phase's name, or its kind and number.
func (ph Phase) label(i int) string {
	if ph.Name != "" {
		return ph.Name
	}
	return fmt.Sprintf("%d-%s", i+1, ph.Kind)
}

// Duration is a time.Duration that reads "90s" or a number of seconds.
type Duration time.Duration

// UnmarshalJSON accepts a Go duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil || math.IsInf(secs, 0) || math.Abs(secs) > MaxDurationLimit.Seconds()*1000 {
		return fmt.Errorf("duration %s: want \"90s\" or a number of seconds", b)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// DecodePlan reads a plan strictly (unknown fields and trailing data are
// errors) and validates it against the protocols reg knows.
func DecodePlan(r io.Reader, reg *Registry) (*Plan, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("plan: data after the plan object")
	}
	if err := p.Validate(reg); err != nil {
		return nil, err
	}
	return &p, nil
}

// FieldError is a validation error naming the field at fault, as a path
// into the plan's JSON (e.g. protocols.wcs.rate).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks the plan against the protocols reg knows; the first
// problem found is returned as a *FieldError.
func (p *Plan) Validate(reg *Registry) error {
	c := p.Caps
	switch {
	case c.MaxConcurrent <= 0 || c.MaxConcurrent > MaxConcurrentLimit:
		return fieldErr("caps.max_concurrent", "must be 1 to %d, got %d", MaxConcurrentLimit, c.MaxConcurrent)
	case c.MaxTotal <= 0 || c.MaxTotal > MaxTotalLimit:
		return fieldErr("caps.max_total", "must be 1 to %d, got %d", MaxTotalLimit, c.MaxTotal)
	case c.MaxDuration <= 0 || time.Duration(c.MaxDuration) > MaxDurationLimit:
		return fieldErr("caps.max_duration", "must be more than 0 and at most %s, got %s", MaxDurationLimit, time.Duration(c.MaxDuration))
	case p.OpenTimeout < 0:
		return fieldErr("open_timeout", "must not be negative, got %s", time.Duration(p.OpenTimeout))
	}
	if len(p.Protocols) == 0 {
		return fieldErr("protocols", "no protocol: want one or more of %s", strings.Join(reg.Names(), ", "))
	}
	anyRate := false
	for _, name := range sortedKeys(p.Protocols) {
		pp := p.Protocols[name]
		f := "protocols." + name
		kinds, ok := reg.Kinds(name)
		if !ok {
			return fieldErr(f, "unknown protocol (known: %s)", strings.Join(reg.Names(), ", "))
		}
		if err := checkLoopbackURL(pp.Target); err != nil {
			return fieldErr(f+".target", "%v", err)
		}
		if math.IsNaN(pp.Rate) || pp.Rate < 0 || pp.Rate > MaxRate {
			return fieldErr(f+".rate", "must be 0 to %d sessions per second, got %g", MaxRate, pp.Rate)
		}
		anyRate = anyRate || pp.Rate > 0
		if pp.Streams < 0 {
			return fieldErr(f+".streams", "must not be negative, got %d", pp.Streams)
		}
		if len(pp.Mix) == 0 {
			return fieldErr(f+".mix", "empty: weigh one or more of %s", strings.Join(kinds, ", "))
		}
		sum := 0.0
		for _, k := range sortedKeys(pp.Mix) {
			w := pp.Mix[k]
			if !contains(kinds, k) {
				return fieldErr(f+".mix."+k, "unknown kind for %s (known: %s)", name, strings.Join(kinds, ", "))
			}
			if math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
				return fieldErr(f+".mix."+k, "weight must not be negative, got %g", w)
			}
			sum += w
		}
		if sum <= 0 {
			return fieldErr(f+".mix", "weights sum to 0")
		}
		if err := pp.Lifetime.validate(f + ".lifetime"); err != nil {
			return err
		}
	}
	if !anyRate {
		return fieldErr("protocols", "every rate is 0: nothing would run")
	}
	if len(p.Phases) == 0 {
		return fieldErr("phases", "no phase: want one or more")
	}
	for i, ph := range p.Phases {
		f := fmt.Sprintf("phases[%d]", i)
		if ph.Duration <= 0 || time.Duration(ph.Duration) > MaxDurationLimit {
			return fieldErr(f+".duration", "must be more than 0 and at most %s, got %s", MaxDurationLimit, time.Duration(ph.Duration))
		}
		if x := ph.Factor; x != nil && (math.IsNaN(*x) || *x < 0 || *x > MaxFactor) {
			return fieldErr(f+".factor", "must be 0 to %d, got %g", MaxFactor, *x)
		}
		switch ph.Kind {
		case PhaseSteady:
		case PhaseFlashCrowd:
			if ph.Factor == nil {
				return fieldErr(f+".factor", "a flash crowd needs a factor (e.g. 3 for three times the arrival rate)")
			}
		case PhaseNodeKilled, PhaseNodeBack:
			if ph.Node == "" {
				return fieldErr(f+".node", "a %s phase names the node", ph.Kind)
			}
		default:
			return fieldErr(f+".kind", "unknown phase kind %q (known: %s, %s, %s, %s)", ph.Kind, PhaseSteady, PhaseFlashCrowd, PhaseNodeKilled, PhaseNodeBack)
		}
		if ph.Request != nil {
			if ph.Kind != PhaseNodeKilled && ph.Kind != PhaseNodeBack {
				return fieldErr(f+".request", "only node-killed and node-back phases send a request")
			}
			if err := checkLoopbackURL(ph.Request.URL); err != nil {
				return fieldErr(f+".request.url", "%v", err)
			}
			switch strings.ToUpper(ph.Request.Method) {
			case "", "POST", "PUT", "DELETE", "GET":
			default:
				return fieldErr(f+".request.method", "want POST, PUT, DELETE or GET, got %q", ph.Request.Method)
			}
			if len(ph.Request.Body) > 0 && !json.Valid(ph.Request.Body) {
				return fieldErr(f+".request.body", "not JSON")
			}
		}
	}
	return nil
}

func (l Lifetime) validate(f string) error {
	bad := func(field string, d Duration) error {
		return fieldErr(f+"."+field, "must be more than 0 and at most %s, got %s", MaxDurationLimit, time.Duration(d))
	}
	ok := func(d Duration) bool { return d > 0 && time.Duration(d) <= MaxDurationLimit }
	switch l.Dist {
	case LifetimeFixed:
		if !ok(l.Value) {
			return bad("value", l.Value)
		}
	case LifetimeUniform:
		if l.Min < 0 {
			return fieldErr(f+".min", "must not be negative, got %s", time.Duration(l.Min))
		}
		if !ok(l.Max) {
			return bad("max", l.Max)
		}
		if l.Min > l.Max {
			return fieldErr(f+".min", "%s is more than max %s", time.Duration(l.Min), time.Duration(l.Max))
		}
	case LifetimeExponential:
		if !ok(l.Mean) {
			return bad("mean", l.Mean)
		}
		if !ok(l.Max) {
			return fieldErr(f+".max", "an exponential lifetime needs a cap (max), more than 0 and at most %s, got %s", MaxDurationLimit, time.Duration(l.Max))
		}
	default:
		return fieldErr(f+".dist", "unknown distribution %q (known: %s, %s, %s)", l.Dist, LifetimeFixed, LifetimeUniform, LifetimeExponential)
	}
	return nil
}

// checkLoopbackURL accepts an absolute URL whose host is localhost or a
// loopback address (127.0.0.0/8, ::1): the generator never sends traffic
// off the machine.
func checkLoopbackURL(s string) error {
	if s == "" {
		return errors.New("missing")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("%q: want scheme://host:port (a path may follow)", s)
	}
	h := u.Hostname()
	if strings.EqualFold(h, "localhost") {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q: host %q is not loopback (want 127.0.0.0/8, ::1 or localhost)", s, h)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
