package agent

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Dimension is one measured quantity the policy compares with a threshold.
type Dimension uint8

// The dimensions. The first six have the names and meanings of the WCS
// docs' agent script (haproxy-agent-check.sh); the last three are SRS's and
// EMQX's.
const (
	CPU         Dimension = iota // 5-minute load average / online CPUs, in percent
	Publishers                   // WCS: streams_webrtc_in + rtmp_in + rtsp_in + rtsp_push_in
	Subscribers                  // WCS: streams_webrtc_out + rtmp_out + rtmp_client_out + rtsp_out + websocket_out
	HLS                          // WCS: streams_hls
	BandIn                       // incoming bandwidth, Mbit/s
	BandOut                      // outgoing bandwidth, Mbit/s
	Connections                  // EMQX: live client connections of the node
	Clients                      // SRS: clients (length of the client list)
	Streams                      // SRS: streams with an active publisher
	numDimensions
)

var dimensionNames = [numDimensions]string{"cpu", "publishers", "subscribers", "hls", "band-in", "band-out", "connections", "clients", "streams"}

func (d Dimension) String() string {
	if d < numDimensions {
		return dimensionNames[d]
	}
	return "dimension(" + strconv.Itoa(int(d)) + ")"
}

// ParseDimension reads a dimension name as the WCS script and the flags
// spell it (band-in; band_in is accepted too, for YAML habits).
func ParseDimension(s string) (Dimension, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-")
	for i, name := range dimensionNames {
		if n == name {
			return Dimension(i), nil
		}
	}
	return 0, fmt.Errorf("unknown threshold %q (want one of %s)", s, strings.Join(dimensionNames[:], ", "))
}

// Kind is the upstream the agent reads.
type Kind string

// The upstreams.
const (
	WCS  Kind = "wcs"
	SRS  Kind = "srs"
	EMQX Kind = "emqx"
)

// kindDimensions are the dimensions each upstream can measure, in the
// order replies and /health list them. cpu always comes from the host.
var kindDimensions = map[Kind][]Dimension{
	WCS:  {CPU, Publishers, Subscribers, HLS, BandIn, BandOut},
	SRS:  {CPU, Clients, Streams, BandIn, BandOut},
	EMQX: {CPU, Connections},
}

// Dimensions returns the dimensions an upstream kind measures.
func (k Kind) Dimensions() []Dimension { return kindDimensions[k] }

// ParseKind reads wcs, srs or emqx.
func ParseKind(s string) (Kind, error) {
	k := Kind(strings.ToLower(strings.TrimSpace(s)))
	if _, ok := kindDimensions[k]; !ok {
		return "", fmt.Errorf("unknown source %q (want wcs, srs or emqx)", s)
	}
	return k, nil
}

// Default limits, as in the WCS docs' script: CPU_MAX_LOAD=90 and 100 for
// every other check (MAX_PUBLISHERS, MAX_SUBSCRIBERS, MAX_HLS_STREAMS,
// MAX_BANDWIDTH_IN, MAX_BANDWIDTH_OUT, in Mbit/s).
const (
	DefaultCPULimit   = 90
	DefaultOtherLimit = 100
)

// Thresholds maps each checked dimension to its limit. A dimension that is
// absent is not checked.
type Thresholds map[Dimension]float64

// DefaultThresholds returns the default limit of every dimension the kind
// measures.
func DefaultThresholds(k Kind) Thresholds {
	t := Thresholds{}
	for _, d := range k.Dimensions() {
		t[d] = DefaultOtherLimit
	}
	t[CPU] = DefaultCPULimit
	return t
}

// ThresholdOff disables a dimension's check (`--agent.threshold=hls=off`).
const ThresholdOff = "off"

// ParseLimit reads a threshold value: a positive finite number, or "off"
// (ok false).
func ParseLimit(s string) (limit float64, ok bool, err error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, ThresholdOff) {
		return 0, false, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return 0, false, fmt.Errorf("limit %q: want a positive number or %q", s, ThresholdOff)
	}
	return v, true, nil
}

// Apply sets the named limits ("cpu" → "70", "hls" → "off") on a copy of
// t. Every name must be a dimension the kind measures.
func (t Thresholds) Apply(k Kind, set map[string]string) (Thresholds, error) {
	out := Thresholds{}
	for d, v := range t {
		out[d] = v
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		d, err := ParseDimension(name)
		if err != nil {
			return nil, err
		}
		if !k.measures(d) {
			return nil, fmt.Errorf("threshold %s: source %s does not measure it (it measures %s)", d, k, k.dimensionList())
		}
		limit, on, err := ParseLimit(set[name])
		if err != nil {
			return nil, fmt.Errorf("threshold %s: %w", d, err)
		}
		if on {
			out[d] = limit
		} else {
			delete(out, d)
		}
	}
	return out, nil
}

func (k Kind) measures(d Dimension) bool {
	for _, m := range k.Dimensions() {
		if m == d {
			return true
		}
	}
	return false
}

func (k Kind) dimensionList() string {
	var names []string
	for _, d := range k.Dimensions() {
		names = append(names, d.String())
	}
	return strings.Join(names, ", ")
}

// String lists the limits in dimension order ("cpu=90 publishers=100"), for
// the start-up log.
func (t Thresholds) String() string {
	var parts []string
	for d := Dimension(0); d < numDimensions; d++ {
		if v, ok := t[d]; ok {
			parts = append(parts, d.String()+"="+formatNumber(v))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// formatNumber prints a number the short way: 155, 412.77, 95.5.
func formatNumber(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}
