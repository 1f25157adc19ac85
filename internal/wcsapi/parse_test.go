package wcsapi

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lbpilot/lbpilot/internal/testenv"
)

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAgentSums checks the sums against the values the fixtures' README
// derives by hand from the WCS agent script's rules.
func TestAgentSums(t *testing.T) {
	cases := []struct {
		file                     string
		pub, sub, hls, conns     float64
		bwIn, bwOut, cpu         float64
		bytesIn, bytesOut        float64
		viewerStreams, firstView int
	}{
		{"stat_idle.txt", 0, 0, 0, 0, 0, 0, 0.004, 0, 0, 0, 0},
		{"stat_idle.json", 0, 0, 0, 0, 0, 0, 0.004, 0, 0, 0, 0},
		{"stat_moderate.txt", 8, 44, 6, 54, 9.4, 61.25, 0.186, 1175000, 7656250, 3, 22},
		{"stat_moderate.json", 8, 44, 6, 54, 9.4, 61.25, 0.186, 1175000, 7656250, 3, 22},
		{"stat_loaded.txt", 18, 155, 25, 187, 38.52, 412.77, 0.473, 4815000, 51596250, 5, 61},
		{"stat_loaded.json", 18, 155, 25, 187, 38.52, 412.77, 0.473, 4815000, 51596250, 5, 61},
		{"stat_loaded_string_values.json", 18, 155, 25, 187, 38.52, 412.77, 0.473, 4815000, 51596250, 5, 61},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			st, err := Parse(mustRead(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, got, want float64, ok bool) {
				t.Helper()
				if !ok || math.Abs(got-want) > 1e-9*math.Max(1, want) {
					t.Errorf("%s = %v (ok=%v), want %v", what, got, ok, want)
				}
			}
			p, ok := st.Publishers()
			check("publishers", p, tc.pub, ok)
			s, ok := st.Subscribers()
			check("subscribers", s, tc.sub, ok)
			h, ok := st.HLSStreams()
			check("hls", h, tc.hls, ok)
			c, ok := st.Connections()
			check("connections", c, tc.conns, ok)
			in, out, ok := st.Bandwidth()
			check("bandwidth in", in, tc.bwIn, ok)
			check("bandwidth out", out, tc.bwOut, ok)
			bin, bout, ok := st.BandwidthBytes(Mbps)
			check("bytes in", bin, tc.bytesIn, ok)
			check("bytes out", bout, tc.bytesOut, ok)
			cpu, ok := st.CPURatio()
			check("cpu", cpu, tc.cpu, ok)
			if len(st.Viewers) != tc.viewerStreams {
				t.Errorf("viewers %v, want %d streams", st.Viewers, tc.viewerStreams)
			}
			if tc.viewerStreams > 0 && st.Viewers[0].Count != float64(tc.firstView) {
				t.Errorf("first viewers entry %v, want %d", st.Viewers[0], tc.firstView)
			}
		})
	}
}

// TestTextAndJSONAgree: the two forms of one scenario parse to the same
// Stats (groups flattened, strings read as numbers).
func TestTextAndJSONAgree(t *testing.T) {
	for _, pair := range [][]string{
		{"stat_idle.txt", "stat_idle.json"},
		{"stat_moderate.txt", "stat_moderate.json"},
		{"stat_loaded.txt", "stat_loaded.json"},
		{"stat_loaded.txt", "stat_loaded_string_values.json"},
	} {
		a, err := Parse(mustRead(t, pair[0]))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Parse(mustRead(t, pair[1]))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s and %s differ:\n%+v\n%+v", pair[0], pair[1], a, b)
		}
	}
}

func TestParseTolerance(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		values map[string]float64 // subset that must be present
		absent []string
		text   map[string]string
	}{
		{
			name:   "singular connection_stats group (the seed doc's spelling)",
			body:   `{"connection_stats":{"connections_websocket":5},"connections_stats":{"connections":6}}`,
			values: map[string]float64{"connections_websocket": 5, "connections": 6},
		},
		{
			name:   "CRLF, blank lines, bare dashes line, spaces around =",
			body:   "-----Connection Stats-----\r\n\r\nconnections = 4\r\n-----\r\nstreams_hls=2\r\n",
			values: map[string]float64{"connections": 4, "streams_hls": 2},
		},
		{
			name:   "duplicate key: the last one wins",
			body:   "streams_webrtc_in=3\nstreams_webrtc_in=4\n",
			values: map[string]float64{"streams_webrtc_in": 4},
		},
		{
			name:   "empty value of a known key is absent, not zero",
			body:   "connections=1\nglobal_bandwidth_in=\n",
			values: map[string]float64{"connections": 1},
			absent: []string{"global_bandwidth_in"},
		},
		{
			name:   "JMX's negative 'not available' load is dropped",
			body:   `{"core_stats":{"core_java_processCpuLoad":-1,"core_java_systemCpuLoad":"0.5","core_threads":10}}`,
			values: map[string]float64{"core_java_systemCpuLoad": 0.5, "core_threads": 10},
			absent: []string{"core_java_processCpuLoad"},
		},
		{
			name:   "unknown keys kept: numbers as values, the rest as text",
			body:   "connections=1\nfuture_thing=12.5\nbuild=5.2.1234\nflag=true\n",
			values: map[string]float64{"future_thing": 12.5},
			text:   map[string]string{"build": "5.2.1234", "flag": "true"},
		},
		{
			name:   "JSON null is absent; a top-level scalar is a key",
			body:   `{"streams_stats":{"streams_hls":null,"streams_rtmp_in":1},"connections":2}`,
			values: map[string]float64{"streams_rtmp_in": 1, "connections": 2},
			absent: []string{"streams_hls"},
		},
		{
			name:   "BOM and a value holding '='",
			body:   "\xef\xbb\xbfconnections=1\nnote=a=b\n",
			values: map[string]float64{"connections": 1},
			text:   map[string]string{"note": "a=b"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Parse([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.values {
				if got, ok := st.Values[k]; !ok || got != v {
					t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
				}
			}
			for _, k := range tc.absent {
				if _, ok := st.Values[k]; ok {
					t.Errorf("%s present, want absent", k)
				}
			}
			for k, v := range tc.text {
				if st.Text[k] != v {
					t.Errorf("text %s = %q, want %q", k, st.Text[k], v)
				}
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"JSON bool for a counter", `{"streams_stats":{"streams_hls":true}}`, "streams_stats.streams_hls: true is not a number"},
		{"JSON object for a counter", `{"streams_stats":{"streams_hls":{}}}`, "is a JSON object, want a number"},
		{"JSON string that is no number", `{"streams_stats":{"streams_hls":"many"}}`, `streams_hls="many" is not a number`},
		{"JSON array for the viewers list", `{"streams_stats":{"streams_viewers":[]}}`, "is a JSON array, want a string"},
		{"trailing data", `{"connections_stats":{"connections":1}} {}`, "trailing data"},
		{"JSON top-level string", `"connections"`, "want an object keyed by group"},
		{"no known key in text", "foo=1\nbar=2\n", "none of the WCS statistics keys"},
		{"no known key in JSON", `{"g":{"foo":1}}`, "none of the WCS statistics keys"},
		{"only headers", "-----Stream Stats-----\n", "no key=value lines"},
		{"whitespace only", " \n\t\n", "empty body"},
		{"HTML after blank lines", "\n\n  <!DOCTYPE html><title>502 Bad Gateway</title>", "body is HTML"},
		{"bad distributors", `{"transcoding_stats":{"transcoding_video_full_info":{"a":{"distributors":"x"}}}}`, `distributors: "x" is not a non-negative number`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestProblemsAreCapped: a page of garbage gives a bounded message with an
// exact count.
func TestProblemsAreCapped(t *testing.T) {
	body := "connections=1\n" + strings.Repeat("garbage\n", 100)
	_, err := Parse([]byte(body))
	pe, ok := err.(*ParseError)
	if !ok {
		t.Fatalf("got %T %v", err, err)
	}
	if len(pe.Problems) != maxProblems || pe.More != 100-maxProblems {
		t.Errorf("kept %d problems, %d more; want %d and %d", len(pe.Problems), pe.More, maxProblems, 100-maxProblems)
	}
	if !strings.Contains(err.Error(), "(and 99 more problems)") {
		t.Errorf("message %q", err)
	}
}

func TestViewersList(t *testing.T) {
	st, err := Parse([]byte("streams_viewers=ROOM1-User1-AUDIO/0;live/cam/7;;dup/1;dup/9;\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []StreamCount{{"ROOM1-User1-AUDIO", 0}, {"live/cam", 7}, {"dup", 1}}
	if !reflect.DeepEqual(st.Viewers, want) {
		t.Errorf("viewers %+v, want %+v", st.Viewers, want)
	}
}

func TestTranscoding(t *testing.T) {
	st, err := Parse(mustRead(t, "stat_groups_transcoding_stats.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []StreamCount{{"lecture", 1}, {"room1-host", 2}}
	if !reflect.DeepEqual(st.Distributors, want) {
		t.Errorf("distributors %+v, want %+v", st.Distributors, want)
	}
}

// checkStats holds for every page the parser accepts: numbers are finite,
// documented counters are non-negative, label material is valid UTF-8.
func checkStats(t *testing.T, st *Stats) {
	for k, v := range st.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("%s = %v", k, v)
		}
		if kind, ok := kindOf(k); ok && kind != list && v < 0 {
			t.Fatalf("known key %s negative: %v", k, v)
		}
	}
	for _, l := range [][]StreamCount{st.Viewers, st.Distributors} {
		seen := map[string]bool{}
		for _, e := range l {
			if !utf8.ValidString(e.Stream) {
				t.Fatalf("invalid UTF-8 stream name %q", e.Stream)
			}
			if seen[e.Stream] || e.Count < 0 {
				t.Fatalf("bad list entry %+v", e)
			}
			seen[e.Stream] = true
		}
	}
	if p, ok := st.Publishers(); ok && p < 0 {
		t.Fatalf("publishers %v", p)
	}
}

func FuzzParseText(f *testing.F) {
	testenv.AddSeeds(f, "stat_*.txt")
	f.Fuzz(func(t *testing.T, body []byte) {
		st, err := ParseText(body)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		checkStats(t, st)
	})
}

func FuzzParseJSON(f *testing.F) {
	testenv.AddSeeds(f, "stat_*.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		st, err := ParseJSON(body)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		checkStats(t, st)
	})
}
