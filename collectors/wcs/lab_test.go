package wcs

import (
	"context"
	"math"
	"testing"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/wcsapi"
)

// TestLabFollowsLoad reads the lab's WCS in both forms while its load
// moves: the numbers the agent will decide on follow the load exactly.
func TestLabFollowsLoad(t *testing.T) {
	s, err := lab.Start(lab.Config{Kind: lab.WCS, Name: "wcs1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, l := range []lab.Load{
		{},
		{Publishers: 8, Subscribers: 44, HLS: 6, BandwidthInMbps: 9.4, BandwidthOutMbps: 61.25, CPU: 0.186},
		{Publishers: 120, Subscribers: 2400, HLS: 300, Connections: 2600, BandwidthInMbps: 250, BandwidthOutMbps: 940.5, CPU: 0.93},
	} {
		if err := s.SetLoad(l); err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{wcsapi.FormatJSON, wcsapi.FormatText} {
			st, err := wcsapi.FetchURL(context.Background(), nil, wcsapi.StatURL(s.URL, format))
			if err != nil {
				t.Fatal(err)
			}
			p, _ := st.Publishers()
			sub, _ := st.Subscribers()
			hls, _ := st.HLSStreams()
			in, out, _ := st.BandwidthBytes(wcsapi.Mbps)
			cpu, _ := st.CPURatio()
			if int(p) != l.Publishers || int(sub) != l.Subscribers || int(hls) != l.HLS ||
				math.Abs(in-l.BandwidthInMbps*125000) > 1e-6 || math.Abs(out-l.BandwidthOutMbps*125000) > 1e-6 || math.Abs(cpu-l.CPU) > 1e-9 {
				t.Errorf("%s, load %+v: publishers %v subscribers %v hls %v in %v out %v cpu %v", format, l, p, sub, hls, in, out, cpu)
			}
			if len(st.Viewers) != min(l.Publishers, 1000) {
				t.Errorf("%d viewer entries for %d publishers", len(st.Viewers), l.Publishers)
			}
		}
	}
}
