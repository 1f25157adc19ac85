package agent

import (
	"context"
	"sync"
	"time"

	"github.com/lbpilot/lbpilot/internal/srsapi"
)

// maxRateGap bounds the time between two SRS readings whose byte counters
// give the bandwidth: over a longer gap the average says little about now
// (HAProxy checks every few seconds; a gap this long means nobody asked).
const maxRateGap = time.Minute

// SRSSource reads SRS's http_api through internal/srsapi (summaries,
// versions, vhosts, streams, and the client list counted without being
// kept). clients is the length of the client list, as the exporter's
// srs_clients: SRS 3 and 4's conn_srs also counts the API connections,
// the agent's own included. streams counts streams with an active
// publisher, and band-in/band-out are rates from the srs_recv_bytes and
// srs_send_bytes counters between two readings.
type SRSSource struct {
	API *srsapi.API
	Now func() time.Time // nil: time.Now

	mu   sync.Mutex
	prev *srsCounters
}

type srsCounters struct {
	service    string
	at         time.Time
	recv, send float64
}

// NewSRSSource reads the SRS http_api at api.BaseURL with the fields the
// agent needs only.
func NewSRSSource(api srsapi.API) *SRSSource {
	api.SkipClients, api.SkipProcStats, api.SkipStreams, api.KeepClients = false, true, false, false
	api.SkipFeatures, api.ClientAlive = true, false
	return &SRSSource{API: &api}
}

// Sample implements Source.
func (s *SRSSource) Sample(ctx context.Context) (Sample, error) {
	st, err := s.API.Fetch(ctx)
	if err != nil {
		return Sample{}, err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	at := now()
	if st.Summaries.NowMS > 0 {
		// SRS's own clock brackets its counters more tightly than ours.
		at = time.UnixMilli(int64(st.Summaries.NowMS))
	}
	var out Sample
	if n, ok := st.ClientCount(); ok {
		out.Set(Clients, n)
	}
	out.Set(Streams, float64(st.ActiveStreams()))
	cur := &srsCounters{service: st.Envelope.Service, at: at, recv: st.RecvBytes(), send: st.SendBytes()}
	s.mu.Lock()
	prev := s.prev
	s.prev = cur
	s.mu.Unlock()
	if in, out2, ok := srsRates(prev, cur); ok {
		out.Set(BandIn, in)
		out.Set(BandOut, out2)
	}
	return out, nil
}

// srsRates returns Mbit/s in and out between two readings, unless there is
// no earlier one, SRS restarted (counters fell or the service id changed),
// the clock did not move or the gap is too long.
func srsRates(prev, cur *srsCounters) (in, out float64, ok bool) {
	if prev == nil || prev.service != cur.service || cur.recv < prev.recv || cur.send < prev.send {
		return 0, 0, false
	}
	dt := cur.at.Sub(prev.at)
	if dt <= 0 || dt > maxRateGap {
		return 0, 0, false
	}
	mbit := func(b float64) float64 { return b * 8 / 1e6 / dt.Seconds() }
	return mbit(cur.recv - prev.recv), mbit(cur.send - prev.send), true
}
