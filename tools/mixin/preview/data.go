package preview

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Data is what a demo run's Prometheus answered to every panel's queries
// (dashboards/preview/data.json, written by cmd/dashrecord). Times are
// seconds from Start; the previews draw every time axis over 0..End.
type Data struct {
	Version    int                       `json:"version"`
	Start      int64                     `json:"start"` // Unix seconds of the run's start
	End        int64                     `json:"end"`   // seconds from Start to the last point
	Step       int                       `json:"step"`  // seconds between recorded points
	Dashboards map[string]map[string]Rec `json:"dashboards"`
}

// DataVersion is the fixture format this package reads and writes.
const DataVersion = 1

// Rec is one panel's recorded series.
type Rec struct {
	Series []Series `json:"series"`
}

// Series is one legend entry's points, [t, v] pairs in time order.
type Series struct {
	Legend string       `json:"legend"`
	Points [][2]float64 `json:"points"`
}

// Panel returns the recorded data of a dashboard's panel and whether any
// was recorded.
func (d *Data) Panel(uid string, id int) (Rec, bool) {
	if d == nil {
		return Rec{}, false
	}
	r, ok := d.Dashboards[uid][strconv.Itoa(id)]
	return r, ok && len(r.Series) > 0
}

// ParseData decodes and checks a fixture: a problem names the dashboard,
// the panel and the series.
func ParseData(b []byte) (*Data, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d Data
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("preview data: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("preview data: trailing data after the object")
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

// LoadData reads a fixture file.
func LoadData(path string) (*Data, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d, err := ParseData(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Validate checks the fixture's shape.
func (d *Data) Validate() error {
	if d.Version != DataVersion {
		return fmt.Errorf("preview data: version %d, want %d", d.Version, DataVersion)
	}
	if d.End <= 0 || d.Step <= 0 || d.Start <= 0 {
		return fmt.Errorf("preview data: start %d, end %d, step %d: all must be positive", d.Start, d.End, d.Step)
	}
	if len(d.Dashboards) == 0 {
		return fmt.Errorf("preview data: no dashboards")
	}
	for _, uid := range sortedKeys(d.Dashboards) {
		panels := d.Dashboards[uid]
		for _, id := range sortedKeys(panels) {
			where := fmt.Sprintf("preview data: dashboard %q panel %s", uid, id)
			if n, err := strconv.Atoi(id); err != nil || n < 0 {
				return fmt.Errorf("%s: the panel key is not a panel id", where)
			}
			for i, s := range panels[id].Series {
				last := math.Inf(-1)
				if len(s.Points) == 0 {
					return fmt.Errorf("%s: series %d (%q) has no points", where, i, s.Legend)
				}
				for j, p := range s.Points {
					t, v := p[0], p[1]
					if t < 0 || t > float64(d.End) || t <= last {
						return fmt.Errorf("%s: series %d (%q) point %d: time %g is out of order or outside 0..%d", where, i, s.Legend, j, t, d.End)
					}
					if math.IsNaN(v) || math.IsInf(v, 0) {
						return fmt.Errorf("%s: series %d (%q) point %d: value %g", where, i, s.Legend, j, v)
					}
					last = t
				}
			}
		}
	}
	return nil
}

// Encode writes the fixture as compact JSON, one panel a line, so that a
// re-recording gives a readable diff.
func (d *Data) Encode() ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\"version\": %d, \"start\": %d, \"end\": %d, \"step\": %d, \"dashboards\": {", d.Version, d.Start, d.End, d.Step)
	for i, uid := range sortedKeys(d.Dashboards) {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n %s: {", strconv.Quote(uid))
		panels := d.Dashboards[uid]
		ids := sortedKeys(panels)
		sort.SliceStable(ids, func(a, c int) bool { x, _ := strconv.Atoi(ids[a]); y, _ := strconv.Atoi(ids[c]); return x < y })
		for j, id := range ids {
			if j > 0 {
				b.WriteString(",")
			}
			rec, err := json.Marshal(panels[id])
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&b, "\n  %s: %s", strconv.Quote(id), rec)
		}
		b.WriteString("\n }")
	}
	b.WriteString("\n}}\n")
	return b.Bytes(), nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Round keeps 3 significant digits (integers up to 999 stay exact).
func Round(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	mag := math.Floor(math.Log10(math.Abs(v)))
	scale := math.Pow(10, 2-mag)
	r := math.Round(v*scale) / scale
	// Print-and-parse removes the binary noise of the division.
	r, _ = strconv.ParseFloat(strconv.FormatFloat(r, 'g', 3, 64), 64)
	return r
}

// Downsample keeps at most n points of a series, in time order. Points
// are grouped into n buckets of consecutive points; each bucket keeps
// its point furthest from the bucket's mean, so spikes survive; the first
// and last points are always kept.
func Downsample(pts [][2]float64, n int) [][2]float64 {
	if n <= 0 || len(pts) <= n {
		return pts
	}
	if n < 3 {
		return [][2]float64{pts[0], pts[len(pts)-1]}
	}
	out := [][2]float64{pts[0]}
	inner := pts[1 : len(pts)-1]
	buckets := n - 2
	for b := 0; b < buckets; b++ {
		lo, hi := b*len(inner)/buckets, (b+1)*len(inner)/buckets
		if lo >= hi {
			continue
		}
		mean := 0.0
		for _, p := range inner[lo:hi] {
			mean += p[1]
		}
		mean /= float64(hi - lo)
		best := lo
		for k := lo; k < hi; k++ {
			if math.Abs(inner[k][1]-mean) > math.Abs(inner[best][1]-mean) {
				best = k
			}
		}
		out = append(out, inner[best])
	}
	return append(out, pts[len(pts)-1])
}

// TopSeries keeps the n series with the largest maximum (ties by legend),
// in legend order.
func TopSeries(ss []Series, n int) []Series {
	out := append([]Series(nil), ss...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Legend < out[j].Legend })
	if n > 0 && len(out) > n {
		peak := func(s Series) float64 {
			m := math.Inf(-1)
			for _, p := range s.Points {
				m = math.Max(m, p[1])
			}
			return m
		}
		sort.SliceStable(out, func(i, j int) bool { return peak(out[i]) > peak(out[j]) })
		out = out[:n]
		sort.SliceStable(out, func(i, j int) bool { return out[i].Legend < out[j].Legend })
	}
	return out
}

var legendVarRE = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

// Legend names a series as Grafana does: the legend format with its
// {{label}} references filled in, or, without a format, the series'
// labels.
func Legend(format string, labels map[string]string) string {
	if format != "" && format != "__auto" {
		return legendVarRE.ReplaceAllStringFunc(format, func(m string) string {
			return labels[legendVarRE.FindStringSubmatch(m)[1]]
		})
	}
	var parts []string
	for _, k := range sortedKeys(labels) {
		if k != "__name__" {
			parts = append(parts, k+"="+strconv.Quote(labels[k]))
		}
	}
	name := labels["__name__"]
	if len(parts) == 0 {
		if name == "" {
			return "value"
		}
		return name
	}
	return name + "{" + strings.Join(parts, ", ") + "}"
}

// Compact keeps a panel's series small: at most maxSeries (those with the
// highest peaks), each with at most maxPoints points (Downsample), times
// whole seconds and values rounded (Round).
func Compact(ss []Series, maxSeries, maxPoints int) []Series {
	out := TopSeries(ss, maxSeries)
	for i, s := range out {
		pts := Downsample(s.Points, maxPoints)
		c := make([][2]float64, len(pts))
		for j, p := range pts {
			c[j] = [2]float64{math.Round(p[0]), Round(p[1])}
		}
		out[i] = Series{Legend: s.Legend, Points: c}
	}
	return out
}
