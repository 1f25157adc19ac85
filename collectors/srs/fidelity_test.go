package srs

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/srsapi"
	"github.com/lbpilot/lbpilot/internal/srsapi/srstest"
)

// gather scrapes c once and returns its families by name.
func gather(t *testing.T, c *Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.Prometheus(c))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// only returns the value of a family with a single series.
func only(t *testing.T, mfs map[string]*dto.MetricFamily, name string) (float64, bool) {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
	if len(mf.GetMetric()) != 1 {
		t.Fatalf("%s has %d series", name, len(mf.GetMetric()))
	}
	m := mf.GetMetric()[0]
	if m.GetCounter() != nil {
		return m.GetCounter().GetValue(), true
	}
	return m.GetGauge().GetValue(), true
}

// TestClientsOverManyScrapes scrapes SRS 3 and 4 nodes the way Prometheus
// does, again and again, against a replay whose conn_srs counts open
// connections as those versions do: srs_clients must stay the number of
// clients in the list, not drift with the exporter's own requests.
func TestClientsOverManyScrapes(t *testing.T) {
	for _, dir := range []string{"testdata/v4.0.271/load/master", "testdata/v4.0.271/idle/master", "testdata/v3.0.170/load/master"} {
		t.Run(dir, func(t *testing.T) {
			r, srv := srstest.NewConnCountingReplay(t, dir, "")
			want := float64(r.ListLen("clients"))
			c := newCollector(t, Options{}, srv.URL, nil)
			for i := 0; i < 25; i++ {
				got, ok := only(t, gather(t, c), "srs_clients")
				if !ok || got != want {
					t.Fatalf("scrape %d: srs_clients = %v (%v), want the %v clients of the list", i, got, ok, want)
				}
			}
			// The replay does reproduce the drift the old source showed:
			// conn_srs counts at least the request asking for it.
			st, err := srsapi.Fetch(context.Background(), nil, srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			if st.Summaries.System.ConnSRS <= want {
				t.Errorf("conn_srs %v during a scrape, want more than the %v clients", st.Summaries.System.ConnSRS, want)
			}
		})
	}
}

// TestSRS3GarbledCounters replays an SRS 3 edge whose byte counters leap
// by ~10^14 and go back (testdata/anomalies/srs3_edge_garbled, six
// scrapes 10 s apart, the last after a restart): the leaping and the
// backward values are left out of their scrape and counted; the others
// are exported as they are.
func TestSRS3GarbledCounters(t *testing.T) {
	var step atomic.Int32
	replays := make([]*srstest.Replay, 6)
	for i := range replays {
		replays[i] = &srstest.Replay{Dir: fmt.Sprintf("testdata/anomalies/srs3_edge_garbled/step%d", i+1), Fallback: "testdata/v3.0.170/load/edge", Override: map[string]srstest.Capture{}}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		replays[step.Load()].ServeHTTP(w, r)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	c, err := New(Options{StreamMetrics: true}, collectors.Target{URL: srv.URL, Labels: prometheus.Labels{"target": "edge"}},
		level.NewFilter(log.NewLogfmtLogger(log.NewSyncWriter(&logs)), level.AllowDebug()))
	if err != nil {
		t.Fatal(err)
	}
	// Per scrape: the value every byte family should export, or -1 for none.
	want := []float64{1200000, -1, 1900000, -1, 2600000, 40000}
	families := []string{"srs_send_bytes_total", "srs_vhost_send_bytes_total", "srs_stream_send_bytes_total"}
	for i, w := range want {
		step.Store(int32(i))
		mfs := gather(t, c)
		for _, f := range families {
			got, ok := only(t, mfs, f)
			switch {
			case w < 0 && ok:
				t.Errorf("scrape %d: %s = %v exported, want it left out", i+1, f, got)
			case w >= 0 && (!ok || got != w):
				t.Errorf("scrape %d: %s = %v (%v), want %v", i+1, f, got, ok, w)
			}
		}
		if _, ok := mfs["srs_uptime_seconds"]; !ok {
			t.Errorf("scrape %d lost its other families", i+1)
		}
	}
	// Send and receive of the server, the vhost and the stream: six
	// counters leapt in scrape 2 and went back in scrape 4.
	mfs := gather(t, c)
	reasons := map[string]float64{}
	for _, m := range mfs[collectors.AnomaliesName].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "reason" {
				reasons[l.GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if reasons[collectors.ReasonCounterJump] != 6 || reasons[collectors.ReasonCounterDecrease] != 6 || len(reasons) != 2 {
		t.Errorf("anomalies %v, want 6 counter_jump and 6 counter_decrease", reasons)
	}
	for _, w := range []string{"reason=counter_jump count=6", "value=4.72662274946262e+14", "reason=counter_decrease count=6", "last=1.9e+06 value=1.7e+06"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logs.String())
		}
	}
}

// TestCodecWithoutSize: older SRS leave width/height (and an AAC track's
// rate and channels) out; those labels are empty, not "0".
func TestCodecWithoutSize(t *testing.T) {
	_, srv := srstest.NewReplay(t, "testdata/anomalies/codec_without_size", "testdata/v4.0.271/load/master")
	mfs := gather(t, newCollector(t, Options{StreamMetrics: true}, srv.URL, nil))
	mf := mfs["srs_stream_codec_info"]
	if mf == nil || len(mf.GetMetric()) != 1 {
		t.Fatalf("codec info: %v", mf)
	}
	labels := map[string]string{}
	for _, l := range mf.GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	want := map[string]string{"video_codec": "H264", "video_profile": "Main", "video_level": "3.1", "width": "", "height": "",
		"audio_codec": "AAC", "audio_profile": "LC", "sample_rate": "", "channels": ""}
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("%s = %q, want %q", k, labels[k], v)
		}
	}
}

// TestStreamAudience: a stream's players by type plus its publishers are
// its clients, on every captured node with a stream; the publisher's age
// is its client's alive.
func TestStreamAudience(t *testing.T) {
	cases := []struct {
		dir       string
		players   float64 // sum of srs_stream_players
		publisher float64 // srs_stream_publisher_alive_seconds, -1 absent
	}{
		{"testdata/v6.0.157/load/master", 4, 49.71},
		{"testdata/v6.0.157/load/slave", 0, 51.06},          // the master's forward publishes here
		{"testdata/v6.0.157/load/edge", 2, 46.58},           // the first player, whose arrival started the pull
		{"testdata/v4.0.271/load/master", 4, 48.7},          // fmle-publish w0541041
		{"testdata/v3.0.170/load/edge", 2, 45},              // SRS 3: a decimal client id
		{"testdata/v6.0.157/after_unpublish/master", 1, -1}, // no publisher: no age
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			_, srv := srstest.NewReplay(t, tc.dir, "")
			mfs := gather(t, newCollector(t, Options{StreamMetrics: true}, srv.URL, nil))
			sum := 0.0
			for _, m := range mfs["srs_stream_players"].GetMetric() {
				sum += m.GetGauge().GetValue()
			}
			if sum != tc.players {
				t.Errorf("players %v, want %v", sum, tc.players)
			}
			clients, _ := only(t, mfs, "srs_stream_clients")
			if pubs := clients - sum; pubs < 0 || pubs > 1 {
				t.Errorf("stream has %v clients and %v players", clients, sum)
			}
			alive, ok := only(t, mfs, "srs_stream_publisher_alive_seconds")
			if (tc.publisher < 0) == ok || (ok && alive != tc.publisher) {
				t.Errorf("publisher alive %v (%v), want %v", alive, ok, tc.publisher)
			}
		})
	}
}

// TestDuplicateNames: two vhosts of one name, and two streams whose
// labels coincide ("test" and "test.flv" on SRS 4, which has no url), are
// one series each; the others are counted, not silently lost.
func TestDuplicateNames(t *testing.T) {
	_, srv := srstest.NewReplay(t, "testdata/anomalies/duplicate_names", "testdata/v4.0.271/load/master")
	c := newCollector(t, Options{StreamMetrics: true}, srv.URL, prometheus.Labels{"target": "master"})
	mfs := gather(t, c)
	if v, _ := only(t, mfs, "srs_vhost_clients"); v != 5 {
		t.Errorf("srs_vhost_clients = %v, want the first vhost's 5", v)
	}
	if v, _ := only(t, mfs, "srs_stream_clients"); v != 5 {
		t.Errorf("srs_stream_clients = %v, want the stream with most clients (5)", v)
	}
	if v, _ := only(t, mfs, "srs_stream_series_dropped"); v != 1 {
		t.Errorf("srs_stream_series_dropped = %v, want 1", v)
	}
	for reason, want := range map[string]float64{"duplicate_vhost": 1, "duplicate_stream": 1} {
		if got := c.anomalies.Count(reason); got != want {
			t.Errorf("%s = %v, want %v", reason, got, want)
		}
	}
}
