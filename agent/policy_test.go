package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/lbpilot/lbpilot/internal/emqxapi"
	"github.com/lbpilot/lbpilot/internal/srsapi"
	"github.com/lbpilot/lbpilot/internal/upstream"
	"github.com/lbpilot/lbpilot/internal/wcsapi"
)

// replyRE is every line the agent may send: up with a weight (1..100%)
// and an optional maxconn, or down with a printable one-line description.
// Nothing else: no ready, drain, maint, stopped, fail, 0% or bare words.
var replyRE = regexp.MustCompile(`^(up (100|[1-9][0-9]?)%( maxconn:[1-9][0-9]*)?|down #[!-~]( ?[!-~])*)$`)

// forbiddenWordRE finds admin or other health words before the
// description, where HAProxy would act on them.
var forbiddenWordRE = regexp.MustCompile(`(?i)(^|[ \t,])(ready|drain|maint|stopped|fail)([ \t,]|$)`)

func checkReply(t testing.TB, reply string) {
	t.Helper()
	if !replyRE.MatchString(reply) {
		t.Fatalf("reply %q is outside the agent's grammar", reply)
	}
	words, _, _ := strings.Cut(reply, "#")
	if forbiddenWordRE.MatchString(words) {
		t.Fatalf("reply %q carries an admin word", reply)
	}
}

func loadWCS(t testing.TB, name string) *wcsapi.Stats {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	st, err := wcsapi.Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return st
}

func fixtureReply(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

func defaultPolicy(m Mode) Policy {
	return Policy{Mode: m, Thresholds: DefaultThresholds(WCS), Knee: DefaultKnee, Floor: DefaultFloor}
}

// TestWCSFixtures: the fixtures' documented verdicts under the WCS docs'
// default thresholds (fixtures/wcs/README.md), in both modes, from the
// text and the JSON form. The host's cpu is set to 20% (below the knee) so
// the page alone decides.
func TestWCSFixtures(t *testing.T) {
	up, down := fixtureReply(t, "haproxy_agent_up.txt"), fixtureReply(t, "haproxy_agent_down.txt")
	tests := []struct {
		fixture    string
		updown     string
		weight     string
		healthy    bool
		dimensions int
	}{
		{"stat_idle", up, "up 100%", true, 6},
		// moderate: band-out 61.25/100 is the most loaded: 100 - 99*(0.6125-0.5)/0.5 = 77.7.
		{"stat_moderate", up, "up 78%", true, 6},
		{"stat_loaded", down + " #band-out 412.77/100, subscribers 155/100", "up 1%", false, 6},
	}
	for _, tt := range tests {
		for _, ext := range []string{".txt", ".json"} {
			t.Run(tt.fixture+ext, func(t *testing.T) {
				s := wcsSample(loadWCS(t, tt.fixture+ext), "")
				s.Set(CPU, 20)
				d := defaultPolicy(ModeUpDown).Decide(s, nil)
				if d.Reply != tt.updown || d.Healthy != tt.healthy || len(d.Dims) != tt.dimensions {
					t.Errorf("updown: %q healthy=%v dims=%d, want %q healthy=%v dims=%d", d.Reply, d.Healthy, len(d.Dims), tt.updown, tt.healthy, tt.dimensions)
				}
				w := defaultPolicy(ModeWeight).Decide(s, nil)
				if w.Reply != tt.weight || w.Healthy != tt.healthy {
					t.Errorf("weight: %q healthy=%v, want %q healthy=%v", w.Reply, w.Healthy, tt.weight, tt.healthy)
				}
				checkReply(t, d.Reply)
				checkReply(t, w.Reply)
			})
		}
	}
	// WCS may quote its numbers; the verdict must not change.
	s := wcsSample(loadWCS(t, "stat_loaded_string_values.json"), "")
	if d := defaultPolicy(ModeUpDown).Decide(s, nil); d.Kind != KindDownLoad || !strings.Contains(d.Reason, "subscribers 155/100") {
		t.Errorf("string values: %+v", d)
	}
}

// TestWCSSums checks the sums behind the verdicts (the WCS script's).
func TestWCSSums(t *testing.T) {
	want := map[string][6]float64{ // publishers, subscribers, hls, band-in, band-out, has-bandwidth
		"stat_idle.txt":     {0, 0, 0, 0, 0, 1},
		"stat_moderate.txt": {8, 44, 6, 9.4, 61.25, 1},
		"stat_loaded.txt":   {18, 155, 25, 38.52, 412.77, 1},
	}
	for name, w := range want {
		s := wcsSample(loadWCS(t, name), "")
		for i, d := range []Dimension{Publishers, Subscribers, HLS, BandIn, BandOut} {
			if v, ok := s.Get(d); !ok || math.Abs(v-w[i]) > 1e-9 {
				t.Errorf("%s %s = %v %v, want %v", name, d, v, ok, w[i])
			}
		}
		if _, ok := s.Get(CPU); ok {
			t.Errorf("%s: cpu comes from the host, not the page", name)
		}
	}
}

func TestWCSBandwidthUnitsAndAbsentKeys(t *testing.T) {
	st, err := wcsapi.Parse([]byte("streams_webrtc_in=3\nglobal_bandwidth_out=2500\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := wcsSample(st, wcsapi.Kbps)
	if v, ok := s.Get(BandOut); !ok || math.Abs(v-2.5) > 1e-9 {
		t.Errorf("2500 kbps = %v Mbit/s, want 2.5", v)
	}
	// Keys the page does not have are not measured (WCS without
	// global_bandwidth_check_enabled has no bandwidth), so not checked.
	for _, d := range []Dimension{BandIn, HLS, Subscribers} {
		if _, ok := s.Get(d); ok {
			t.Errorf("%s measured without its keys", d)
		}
	}
	d := defaultPolicy(ModeUpDown).Decide(s, nil)
	if len(d.Dims) != 2 || d.Reply != "up 100%" {
		t.Errorf("decision on a partial page: %+v", d)
	}
}

// TestUpDownThresholdEquality: a value equal to its limit is over it (the
// script passes only "value < limit").
func TestUpDownThresholdEquality(t *testing.T) {
	p := Policy{Mode: ModeUpDown, Thresholds: Thresholds{CPU: 70, Publishers: 100}, Knee: 50, Floor: 1}
	for _, tt := range []struct {
		cpu, pubs float64
		want      string
	}{
		{69.99, 99, "up 100%"},
		{70, 10, "down #cpu 70/70"},
		{95.456, 100, "down #cpu 95.46/70, publishers 100/100"},
		{10, 250, "down #publishers 250/100"},
	} {
		var s Sample
		s.Set(CPU, tt.cpu)
		s.Set(Publishers, tt.pubs)
		if got := p.Decide(s, nil).Reply; got != tt.want {
			t.Errorf("cpu %v publishers %v: %q, want %q", tt.cpu, tt.pubs, got, tt.want)
		}
	}
}

// TestWeightCurve pins the documented curve: 100% up to the knee, a line
// to the floor at the threshold, the floor beyond.
func TestWeightCurve(t *testing.T) {
	tests := []struct {
		knee  float64
		floor int
		u     float64
		want  int
	}{
		{50, 1, 0, 100}, {50, 1, 0.5, 100}, {50, 1, 0.75, 51}, {50, 1, 0.9, 21}, {50, 1, 0.999, 1},
		{50, 1, 1, 1}, {50, 1, 7, 1},
		{0, 1, 0.5, 51}, {0, 10, 0.5, 55}, {0, 1, 0.01, 99},
		{100, 5, 0.99, 100}, {100, 5, 1, 5},
		{80, 20, 0.9, 60}, {80, 100, 3, 100},
	}
	for _, tt := range tests {
		p := Policy{Mode: ModeWeight, Knee: tt.knee, Floor: tt.floor}
		if got := p.weight(tt.u); got != tt.want {
			t.Errorf("knee %v floor %d load %v: %d%%, want %d%%", tt.knee, tt.floor, tt.u, got, tt.want)
		}
	}
}

// TestWeightMonotonicClamped: over the whole range of loads and many
// curves the weight never rises with load, stays within [floor, 100] and
// is never 0.
func TestWeightMonotonicClamped(t *testing.T) {
	for _, knee := range []float64{0, 10, 50, 75, 99, 100} {
		for _, floor := range []int{1, 2, 25, 50, 99, 100} {
			p := Policy{Mode: ModeWeight, Knee: knee, Floor: floor}
			prev := 101
			for i := 0; i <= 30000; i++ {
				u := float64(i) / 10000 // 0 .. 3 times the threshold
				w := p.weight(u)
				if w > prev {
					t.Fatalf("knee %v floor %d: weight rose from %d to %d at load %v", knee, floor, prev, w, u)
				}
				if w < floor || w > 100 || w == 0 {
					t.Fatalf("knee %v floor %d: weight %d at load %v", knee, floor, w, u)
				}
				prev = w
			}
			if prev != floor {
				t.Fatalf("knee %v floor %d: weight at 3x the threshold is %d, want the floor", knee, floor, prev)
			}
		}
	}
}

// TestDecideMonotonic: raising any one dimension of a random sample
// never raises the weight, and the reply never reaches 0%.
func TestDecideMonotonic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := defaultPolicy(ModeWeight)
	for i := 0; i < 5000; i++ {
		var s Sample
		for _, d := range WCS.Dimensions() {
			s.Set(d, rng.Float64()*150)
		}
		before := p.Decide(s, nil)
		d := WCS.Dimensions()[rng.IntN(len(WCS.Dimensions()))]
		v, _ := s.Get(d)
		s.Set(d, v+rng.Float64()*100)
		after := p.Decide(s, nil)
		if after.Weight > before.Weight || after.Weight < 1 {
			t.Fatalf("raising %s: weight %d → %d", d, before.Weight, after.Weight)
		}
		checkReply(t, after.Reply)
	}
}

// TestWeightModeDownOnlyForUpstream: in weight mode load never gives
// down, whatever its size; an upstream error always does.
func TestWeightModeDownOnlyForUpstream(t *testing.T) {
	p := defaultPolicy(ModeWeight)
	var s Sample
	for _, d := range WCS.Dimensions() {
		s.Set(d, 1e12)
	}
	if d := p.Decide(s, nil); d.Kind != KindUp || d.Weight != 1 || d.Healthy {
		t.Errorf("huge load: %+v", d)
	}
	d := p.Decide(s, &upstream.HTTPError{URL: "http://x", Status: 500})
	if d.Kind != KindDownUpstream || d.Reply != "down #upstream HTTP 500" || d.Weight != 0 || d.Healthy {
		t.Errorf("upstream error: %+v", d)
	}
}

func TestMaxConn(t *testing.T) {
	p := defaultPolicy(ModeWeight)
	p.MaxConn = 500
	if got := p.Decide(Sample{}, nil).Reply; got != "up 100% maxconn:500" {
		t.Errorf("got %q", got)
	}
	p.Mode = ModeUpDown
	var s Sample
	s.Set(HLS, 100)
	if got := p.Decide(s, nil).Reply; got != "down #hls 100/100" {
		t.Errorf("down carries no maxconn: %q", got)
	}
}

// timeoutErr is a net.Error that timed out (as a read deadline gives).
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestUpstreamReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("GET x: %w", context.DeadlineExceeded), "upstream timeout"},
		{&net.OpError{Op: "read", Err: timeoutErr{}}, "upstream timeout"},
		{&upstream.HTTPError{URL: "http://x", Status: 503}, "upstream HTTP 503"},
		{fmt.Errorf("wrapped: %w", &emqxapi.APIError{Status: 401, Code: "BAD_API_KEY_OR_SECRET"}), "upstream HTTP 401"},
		{&srsapi.APIError{URL: "http://x", Code: 1061}, "upstream SRS error 1061"},
		{fmt.Errorf("EMQX node a: %w", errNodeNotRunning), "upstream node not running"},
		{fmt.Errorf("GET x: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), "upstream unreachable"},
		{&net.DNSError{Err: "no such host", Name: "wcs.invalid"}, "upstream unreachable"},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, "upstream connection failed"},
		{fmt.Errorf("GET x: %w", io.ErrUnexpectedEOF), "upstream connection failed"},
		{errors.New("wcs: not a statistics page"), "upstream bad answer"},
	}
	for _, tt := range tests {
		if got := upstreamReason(tt.err); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.err, got, tt.want)
		}
		checkReply(t, downReply(upstreamReason(tt.err)))
	}
}

func TestSanitizeDescription(t *testing.T) {
	tests := []struct{ in, want string }{
		{"cpu 95/90", "cpu 95/90"},
		{"line\r\nbreak", "line break"},
		{"  tabs\tand   spaces  ", "tabs and spaces"},
		{"naïve ünïcode", "na ve n code"},
		{"\x00\x7f", ""},
		{strings.Repeat("x", 300), strings.Repeat("x", maxDescription)},
	}
	for _, tt := range tests {
		if got := sanitizeDescription(tt.in); got != tt.want {
			t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := downReply("\r\n"); got != "down #unknown" {
		t.Errorf("empty reason: %q", got)
	}
}

// TestEveryReplyInGrammar runs the policy over every mode, fixture,
// maxconn and upstream failure, plus random samples, and holds every
// reply to the strict grammar.
func TestEveryReplyInGrammar(t *testing.T) {
	var samples []Sample
	for _, f := range []string{"stat_idle.txt", "stat_moderate.txt", "stat_loaded.txt", "stat_loaded_string_values.json"} {
		samples = append(samples, wcsSample(loadWCS(t, f), ""))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 300; i++ {
		var s Sample
		for d := Dimension(0); d < numDimensions; d++ {
			if rng.IntN(4) > 0 {
				s.Set(d, rng.ExpFloat64()*80)
			}
		}
		samples = append(samples, s)
	}
	errs := []error{nil, context.DeadlineExceeded, &upstream.HTTPError{Status: 404}, errors.New("bad\nline"), &srsapi.APIError{Code: 2048}}
	n := 0
	for _, k := range []Kind{WCS, SRS, EMQX} {
		for _, m := range []Mode{ModeWeight, ModeUpDown} {
			for _, mc := range []int{0, 1, 20000} {
				p := Policy{Mode: m, Thresholds: DefaultThresholds(k), Knee: DefaultKnee, Floor: DefaultFloor, MaxConn: mc}
				for _, s := range samples {
					for _, err := range errs {
						checkReply(t, p.Decide(s, err).Reply)
						n++
					}
				}
			}
		}
	}
	if n < 25000 {
		t.Fatalf("only %d replies checked", n)
	}
}

func TestPolicyValidate(t *testing.T) {
	ok := defaultPolicy(ModeWeight)
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mut  func(*Policy)
		want string
	}{
		{func(p *Policy) { p.Mode = "drain" }, `unknown mode "drain"`},
		{func(p *Policy) { p.Knee = -1 }, "weight knee -1"},
		{func(p *Policy) { p.Knee = 101 }, "weight knee 101"},
		{func(p *Policy) { p.Floor = 0 }, "weight floor 0"},
		{func(p *Policy) { p.Floor = 101 }, "weight floor 101"},
		{func(p *Policy) { p.MaxConn = -1 }, "maxconn -1"},
		{func(p *Policy) { p.Thresholds = Thresholds{CPU: 0} }, "threshold cpu: 0"},
		{func(p *Policy) { p.Thresholds = Thresholds{HLS: math.Inf(1)} }, "threshold hls: +Inf"},
	}
	for _, tt := range tests {
		p := defaultPolicy(ModeWeight)
		tt.mut(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got %v, want %q", err, tt.want)
		}
	}
}

// FuzzDecide: whatever the values, limits and curve, the reply stays in
// the grammar and the weight within [floor, 100].
func FuzzDecide(f *testing.F) {
	f.Add(50.0, 1, 90.0, 95.0, 100.0, 155.0, false)
	f.Add(0.0, 100, 1e-300, 1e300, 1.0, -5.0, true)
	f.Fuzz(func(t *testing.T, knee float64, floor int, limit, v1, v2, v3 float64, updown bool) {
		p := Policy{Mode: ModeWeight, Knee: knee, Floor: floor, Thresholds: Thresholds{CPU: limit, Publishers: 100, HLS: limit}}
		if updown {
			p.Mode = ModeUpDown
		}
		if p.Validate() != nil {
			return
		}
		var s Sample
		s.Set(CPU, v1)
		s.Set(Publishers, v2)
		s.Set(HLS, v3)
		d := p.Decide(s, nil)
		checkReply(t, d.Reply)
		if d.Kind == KindUp && (d.Weight < p.Floor || d.Weight > 100) {
			t.Fatalf("weight %d outside [%d, 100]", d.Weight, p.Floor)
		}
		for _, st := range d.Dims {
			if math.IsNaN(st.Ratio) || math.IsInf(st.Ratio, 0) || st.Ratio < 0 {
				t.Fatalf("ratio %v", st.Ratio)
			}
		}
	})
}
