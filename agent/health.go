package agent

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// healthBody is GET /health's JSON answer.
type healthBody struct {
	// Status is ok (200), overloaded (a threshold reached) or unavailable
	// (the upstream could not be read); both of the latter answer 503.
	Status string `json:"status"`
	// Reply is what an agent check gets now.
	Reply string `json:"reply"`
	// WeightPercent is the weight of the reply (0 when down).
	WeightPercent int    `json:"weight_percent"`
	Mode          Mode   `json:"mode"`
	Source        Kind   `json:"source"`
	Reason        string `json:"reason,omitempty"`
	// LoadRatio is the most loaded dimension's value / threshold.
	LoadRatio  float64         `json:"load_ratio"`
	Dimensions []dimensionBody `json:"dimensions"`
	SampledAt  time.Time       `json:"sampled_at"`
}

type dimensionBody struct {
	Name      string  `json:"name"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	Ratio     float64 `json:"ratio"`
}

// Health statuses.
const (
	statusOK          = "ok"
	statusOverloaded  = "overloaded"
	statusUnavailable = "unavailable"
)

// HealthHandler answers GET (and HEAD) /health: 200 with the verdict and
// numbers as JSON while the upstream is readable and every dimension is
// below its threshold, 503 otherwise. It is for load balancers that cannot
// speak agent-check (AWS ELB/ALB target groups, nginx upstream checks),
// which can only take a node out or put it back. The upstream's error
// text is logged, never shown here (it may name internal addresses).
func (a *Agent) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		l := a.cur()
		res, ok := l.cache.get(r.Context())
		if !ok {
			return // the client went away
		}
		d := res.d
		body := healthBody{
			Status: statusOK, Reply: d.Reply, WeightPercent: d.Weight, Mode: l.opts.Policy.Mode,
			Source: l.opts.Kind, Reason: d.Reason, LoadRatio: d.Load, Dimensions: []dimensionBody{},
			SampledAt: res.at.UTC(),
		}
		for _, s := range d.Dims {
			body.Dimensions = append(body.Dimensions, dimensionBody{Name: s.Dimension.String(), Value: s.Value, Threshold: s.Limit, Ratio: s.Ratio})
		}
		code := http.StatusOK
		switch {
		case d.Kind == KindDownUpstream:
			body.Status, code = statusUnavailable, http.StatusServiceUnavailable
		case !d.Healthy:
			body.Status, code = statusOverloaded, http.StatusServiceUnavailable
		}
		a.m.health.WithLabelValues(strconv.Itoa(code)).Inc()
		// Cannot fail: strings, ints and finite floats only (Sample drops
		// non-finite values, ratios are capped).
		b, _ := json.MarshalIndent(body, "", "  ")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		if r.Method == http.MethodGet {
			_, _ = w.Write(append(b, '\n'))
		}
	})
}
