package traffic

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"time"
)

// Arrival is one session the plan asks for.
type Arrival struct {
	ID       uint64        `json:"id"`
	At       time.Duration `json:"at"` // from the start of the run
	Phase    int           `json:"phase"`
	Protocol string        `json:"protocol"`
	Kind     string        `json:"kind"`
	Stream   string        `json:"stream"`
	Lifetime time.Duration `json:"lifetime"`
}

// Span is a phase placed on the run's timeline (cut at the run's
// max_duration).
type Span struct {
	Index      int
	Label      string
	Phase      Phase
	Start, End time.Duration
}

// Schedule yields a plan's arrivals in time order. It depends only on
// the plan: the same seed gives the same arrivals, kinds and lifetimes,
// and each protocol draws from a random source of its own, so adding a
// protocol to a plan leaves the others' arrivals as they were.
type Schedule struct {
	spans []Span
	gens  []*protoGen // sorted by protocol name
	id    uint64
}

// NewSchedule lays out a validated plan.
func NewSchedule(p *Plan) *Schedule {
	s := &Schedule{}
	var t time.Duration
	limit := time.Duration(p.Caps.MaxDuration)
	for i, ph := range p.Phases {
		if t >= limit {
			break
		}
		end := min(t+time.Duration(ph.Duration), limit)
		s.spans = append(s.spans, Span{Index: i, Label: ph.label(i), Phase: ph, Start: t, End: end})
		t = end
	}
	for _, name := range sortedKeys(p.Protocols) {
		pp := p.Protocols[name]
		h := fnv.New64a()
		h.Write([]byte(name))
		g := &protoGen{name: name, pp: pp, spans: s.spans, rng: rand.New(rand.NewPCG(uint64(p.Seed), h.Sum64()))}
		for _, k := range sortedKeys(pp.Mix) {
			if w := pp.Mix[k]; w > 0 {
				g.kinds = append(g.kinds, k)
				g.cum = append(g.cum, w)
			}
		}
		for i := 1; i < len(g.cum); i++ {
			g.cum[i] += g.cum[i-1]
		}
		g.streams = max(pp.Streams, 1)
		g.advance()
		s.gens = append(s.gens, g)
	}
	return s
}

// Spans are the phases on the timeline.
func (s *Schedule) Spans() []Span { return s.spans }

// End is when arrivals stop.
func (s *Schedule) End() time.Duration {
	if len(s.spans) == 0 {
		return 0
	}
	return s.spans[len(s.spans)-1].End
}

// Next returns the next arrival, false once the phases are over.
func (s *Schedule) Next() (Arrival, bool) {
	var g *protoGen
	for _, c := range s.gens {
		if c.ok && (g == nil || c.next.At < g.next.At) {
			g = c
		}
	}
	if g == nil {
		return Arrival{}, false
	}
	a := g.next
	s.id++
	a.ID = s.id
	g.advance()
	return a, true
}

// protoGen draws one protocol's arrivals: a Poisson process whose rate is
// the protocol's rate times the phase's factor. At a phase boundary the
// draw restarts from the boundary with the new rate (exact for a
// piecewise constant rate, the exponential having no memory).
type protoGen struct {
	name    string
	pp      ProtocolPlan
	spans   []Span
	rng     *rand.Rand
	kinds   []string
	cum     []float64
	streams int
	seq     int

	phase int
	t     time.Duration
	next  Arrival
	ok    bool
}

func (g *protoGen) advance() {
	g.ok = false
	for g.phase < len(g.spans) {
		sp := g.spans[g.phase]
		if g.t < sp.Start {
			g.t = sp.Start
		}
		rate := g.pp.Rate * sp.Phase.factor()
		if rate <= 0 {
			g.phase++
			continue
		}
		t := g.t + time.Duration(g.rng.ExpFloat64()/rate*float64(time.Second))
		if t >= sp.End {
			g.t = sp.End
			g.phase++
			continue
		}
		g.t = t
		g.seq++
		g.next = Arrival{
			At:       t,
			Phase:    sp.Index,
			Protocol: g.name,
			Kind:     g.pickKind(),
			Stream:   fmt.Sprintf("stream%d", (g.seq-1)%g.streams+1),
			Lifetime: g.lifetime(),
		}
		g.ok = true
		return
	}
}

func (g *protoGen) pickKind() string {
	x := g.rng.Float64() * g.cum[len(g.cum)-1]
	i := sort.SearchFloat64s(g.cum, x)
	if i < len(g.kinds) && g.cum[i] == x {
		i++ // x falls on a boundary: it belongs to the next kind
	}
	return g.kinds[min(i, len(g.kinds)-1)]
}

func (g *protoGen) lifetime() time.Duration {
	l := g.pp.Lifetime
	u := g.rng.Float64()
	switch l.Dist {
	case LifetimeUniform:
		return time.Duration(l.Min) + time.Duration(u*float64(l.Max-l.Min))
	case LifetimeExponential:
		d := time.Duration(g.rng.ExpFloat64() * float64(l.Mean))
		return min(d, time.Duration(l.Max))
	}
	return time.Duration(l.Value)
}
