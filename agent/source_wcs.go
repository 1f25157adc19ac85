package agent

import (
	"context"
	"net/http"

	"github.com/lbpilot/lbpilot/internal/upstream"
	"github.com/lbpilot/lbpilot/internal/wcsapi"
)

// DefaultWCSTarget is the statistics page the WCS docs' script reads.
const DefaultWCSTarget = "http://localhost:8081/?action=stat"

// WCSSource reads WCS's /?action=stat through the collector's parser and
// sums publishers and subscribers exactly as the WCS script does.
type WCSSource struct {
	HTTP *http.Client  // nil: the shared pooled client
	Auth upstream.Auth // HTTP basic auth, if any
	URL  string        // a base URL or the stat page itself
	// Unit is the unit of global_bandwidth_in/out on the page (default
	// Mbit/s, which the band-in/band-out limits are in).
	Unit wcsapi.Unit
}

// Sample implements Source.
func (w *WCSSource) Sample(ctx context.Context) (Sample, error) {
	st, err := wcsapi.FetchURLAuth(ctx, w.HTTP, wcsapi.StatURL(w.URL, wcsapi.FormatJSON), w.Auth)
	if err != nil {
		return Sample{}, err
	}
	return wcsSample(st, w.Unit), nil
}

// wcsSample maps a stats page onto the dimensions.
func wcsSample(st *wcsapi.Stats, unit wcsapi.Unit) Sample {
	var s Sample
	if v, ok := st.Publishers(); ok {
		s.Set(Publishers, v)
	}
	if v, ok := st.Subscribers(); ok {
		s.Set(Subscribers, v)
	}
	if v, ok := st.HLSStreams(); ok {
		s.Set(HLS, v)
	}
	if unit == "" {
		unit = wcsapi.Mbps
	}
	// Convert the page's unit to Mbit/s through bytes per second.
	perMbit := wcsapi.Mbps.BytesPerSecond()
	if in, out, ok := st.BandwidthBytes(unit); ok {
		if _, okIn := st.Value("global_bandwidth_in"); okIn {
			s.Set(BandIn, in/perMbit)
		}
		if _, okOut := st.Value("global_bandwidth_out"); okOut {
			s.Set(BandOut, out/perMbit)
		}
	}
	return s
}
