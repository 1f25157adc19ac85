package srs

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/srsapi"
)

// TestLabVersionsAndRoles reads lab SRS nodes of every version and role:
// counts follow the load, paging collects every object.
func TestLabVersionsAndRoles(t *testing.T) {
	load := lab.Load{Publishers: 40, Streams: 45, Subscribers: 2500, BandwidthOutMbps: 100, CPU: 0.3}
	for _, v := range []string{"3.0.170", "4.0.271", "5.0.216", "6.0.157"} {
		for _, role := range []string{"origin", "edge"} {
			s, err := lab.Start(lab.Config{Kind: lab.SRS, Name: "srs-" + role, SRSVersion: v, SRSRole: role, Load: load}, "")
			if err != nil {
				t.Fatal(err)
			}
			st, err := (&srsapi.API{BaseURL: s.URL, PageSize: 100}).Fetch(context.Background())
			s.Close()
			if err != nil {
				t.Fatalf("%s %s: %v", v, role, err)
			}
			wantPubs := 40
			if role == "edge" {
				wantPubs = 0
			}
			players, _ := st.Players()
			if len(st.Streams) != 45 || st.Publishers() != wantPubs || players != 2500 || st.ActiveStreams() != 40 || st.Versions.Version != v {
				t.Errorf("%s %s: %d streams, %d publishers, %d players, %d active, version %s", v, role, len(st.Streams), st.Publishers(), players, st.ActiveStreams(), st.Versions.Version)
			}
		}
	}
}

// TestLabRestartIsVisible: after a restart the uptime drops and
// srs_build_info carries a new service id.
func TestLabRestartIsVisible(t *testing.T) {
	s, err := lab.Start(lab.Config{Kind: lab.SRS, Name: "srs1", Load: lab.Load{Publishers: 1}}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := New(Options{}, collectors.Target{URL: s.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	service := func() string {
		st, err := c.api.Fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return st.Envelope.Service
	}
	before := service()
	s.Restart()
	if after := service(); after == before || after == "" {
		t.Errorf("service %q → %q", before, after)
	}
	if n := testutil.CollectAndCount(collectors.Prometheus(c), "srs_build_info"); n != 1 {
		t.Errorf("%d build info series", n)
	}
}
