package srs

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/srsapi"
	"github.com/prometheus/client_golang/prometheus"
)

// TestHugeAndNegativeNumbers: SRS 3's HTTP-FLV accounting bug gives 4.7e14
// bytes and negative kbps; numbers decode as float64, and a negative
// counter is dropped from the output (and counted) rather than read as a
// reset.
func TestHugeAndNegativeNumbers(t *testing.T) {
	_, v, err := srsapi.DecodeVhosts([]byte(`{"code":0,"vhosts":[{"id":"a","name":"v","send_bytes":472662274946262,"recv_bytes":-5,"kbps":{"recv_30s":-1205506797}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if v[0].SendBytes != 472662274946262 || v[0].RecvBytes != -5 {
		t.Fatalf("%+v", v[0])
	}
	c, err := New(Options{}, collectors.Target{URL: "http://srs:1985"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	negative0 := c.anomalies.Count(collectors.ReasonCounterNegative) // counts outlive a -count run
	ch := make(chan prometheus.Metric, 100)
	c.send(&srsapi.Stats{Vhosts: v}, ch)
	close(ch)
	for m := range ch {
		if strings.Contains(m.Desc().String(), "srs_vhost_receive_bytes_total") {
			t.Error("negative receive bytes were exported")
		}
	}
	if n := c.anomalies.Count(collectors.ReasonCounterNegative) - negative0; n != 1 {
		t.Errorf("counter_negative = %v, want the dropped value counted", n)
	}
}

// endpointOf guesses which decoder a fixture file belongs to.
func endpointOf(name string) uint8 {
	for i, p := range []string{"summaries", "versions", "self_proc_stats", "vhosts", "streams", "clients", "features"} {
		if strings.HasPrefix(filepath.Base(name), p) {
			return uint8(i)
		}
	}
	return 0
}

// FuzzDecode feeds every decoder arbitrary bodies (seeded with every JSON
// capture and the error answers): no panic, and whatever is accepted turns
// into a valid exposition with every option on.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*/*/*.json")
	more, _ := filepath.Glob("testdata/community/*.json")
	shapes, _ := filepath.Glob("testdata/anomalies/*/*.json") // hand-made shapes real servers showed
	files = append(append(files, more...), shapes...)
	if len(files) < 100 {
		f.Fatalf("only %d seed files", len(files))
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, endpointOf(file))
	}
	for _, e := range []string{`{"code":2048}`, `{"code":0,"urls":{}}`, `cb({"code":0})`} {
		f.Add([]byte(e), uint8(0))
	}
	c, err := New(Options{StreamMetrics: true, MaxStreams: 3}, collectors.Target{URL: "http://srs:1985"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, endpoint uint8) {
		st := &srsapi.Stats{ClientCounts: map[srsapi.ClientKey]int{}, Streams: []srsapi.Stream{}}
		var err error
		switch endpoint % 7 {
		case 0:
			var s *srsapi.Summaries
			if _, s, err = srsapi.DecodeSummaries(body); err == nil {
				st.Summaries = *s
			}
		case 1:
			var v *srsapi.Versions
			if _, v, err = srsapi.DecodeVersions(body); err == nil {
				st.Versions = *v
			}
		case 2:
			_, st.Proc, err = srsapi.DecodeProcStats(body)
		case 3:
			_, st.Vhosts, err = srsapi.DecodeVhosts(body)
		case 4:
			_, st.Streams, err = srsapi.DecodeStreams(body)
		case 5:
			var list []srsapi.Client
			if _, list, err = srsapi.DecodeClients(body); err == nil {
				srsapi.CountClients(list, st.ClientCounts)
				st.Alive = map[srsapi.ID]float64{}
				for _, cl := range list {
					st.Alive[cl.ID] = cl.Alive
				}
			}
		case 6:
			var ft *srsapi.Features
			if _, ft, err = srsapi.DecodeFeatures(body); err == nil {
				st.BuildDate = ft.Build
			}
		}
		if err != nil {
			if err.Error() == "" || !utf8.ValidString(err.Error()) {
				t.Fatalf("bad error message %q", err)
			}
			return
		}
		if math.IsNaN(st.Summaries.System.ConnSRS) {
			t.Fatal("NaN from JSON")
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(sendOnly{c, st})
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("accepted body gives an invalid exposition: %v", err)
		}
	})
}

type sendOnly struct {
	c  *Collector
	st *srsapi.Stats
}

func (s sendOnly) Describe(ch chan<- *prometheus.Desc) { s.c.Describe(ch) }
func (s sendOnly) Collect(ch chan<- prometheus.Metric) { s.c.send(s.st, ch) }
