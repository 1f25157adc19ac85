package wcs

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/golden"
	"github.com/lbpilot/lbpilot/internal/testenv"
	"github.com/lbpilot/lbpilot/internal/wcsapi"
)

// serveFile answers every request with one fixture and records the
// request URIs it saw.
func newCollector(t *testing.T, opts Options, url string) *Collector {
	t.Helper()
	c, err := New(opts, collectors.Target{Name: "wcs1", URL: url, Labels: prometheus.Labels{"target": "wcs1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGolden scrapes every readable fixture and compares the exposition
// with testdata/golden/<scenario>.prom. The text and JSON forms of one
// scenario share a golden file: both forms must give the same metrics.
func TestGolden(t *testing.T) {
	perStream := Options{StreamMetrics: true}
	cases := []struct {
		file, golden string
		opts         Options
	}{
		{"stat_idle.txt", "idle", perStream},
		{"stat_idle.json", "idle", perStream},
		{"stat_moderate.txt", "moderate", perStream},
		{"stat_moderate.json", "moderate", perStream},
		{"stat_loaded.txt", "loaded", perStream},
		{"stat_loaded.json", "loaded", perStream},
		{"stat_loaded_string_values.json", "loaded", perStream},
		{"stat_loaded.json", "loaded_default_options", Options{}},
		{"stat_params_connections_hls.txt", "params_connections_hls", perStream},
		{"stat_groups_transcoding_stats.json", "groups_transcoding_stats", perStream},
	}
	for _, tc := range cases {
		t.Run(tc.file+"/"+tc.golden, func(t *testing.T) {
			opts := tc.opts
			if strings.HasSuffix(tc.file, ".txt") {
				opts.Format = wcsapi.FormatText
			}
			srv, seen := testenv.ServeFile(t, http.StatusOK, tc.file)
			c := newCollector(t, opts, srv.URL)
			golden.Compare(t, collectors.Prometheus(c), filepath.Join("testdata", "golden", tc.golden+".prom"))
			want := "/?action=stat&format=json"
			if opts.Format == wcsapi.FormatText {
				want = "/?action=stat"
			}
			if len(*seen) == 0 || (*seen)[0] != want {
				t.Errorf("requested %v, want %s", *seen, want)
			}
		})
	}
}

// TestGoldenPassesPromtool pipes every golden file through the real
// promtool; any lint finding fails.
func TestGoldenPassesPromtool(t *testing.T) {
	golden.Promtool(t, filepath.Join("testdata", "golden", "*.prom"))
}

// TestErrorFixtures: each broken page fails the scrape with one message
// that names the problem, and sends no metric at all.
func TestErrorFixtures(t *testing.T) {
	cases := []struct {
		file   string
		status int
		want   []string
	}{
		{"stat_truncated.txt", 200, []string{"line 29", `no '=' in "streams_webrt"`, "truncated"}},
		{"stat_truncated.json", 200, []string{"invalid JSON", "unexpected EOF", "truncated"}},
		{"stat_malformed.txt", 200, []string{"line 3: connections_websocket=\"not-a-number\" is not a number", "more problems"}},
		{"stat_html_error_page.txt", 200, []string{"body is HTML", "Error 404 Not Found"}},
		{"stat_empty.txt", 200, []string{"empty body"}},
		{"stat_wrong_shape.json", 200, []string{"top level is array", "want an object keyed by group"}},
		{"stat_html_error_page.txt", 404, []string{"HTTP 404", "Error 404 Not Found"}},
		{"", 503, []string{"HTTP 503"}},
	}
	for _, tc := range cases {
		t.Run(tc.file+"/"+http.StatusText(tc.status), func(t *testing.T) {
			srv, _ := testenv.ServeFile(t, tc.status, tc.file)
			c := newCollector(t, Options{}, srv.URL)
			ch := make(chan prometheus.Metric, 100)
			err := c.Update(context.Background(), ch)
			close(ch)
			if err == nil {
				t.Fatal("Update succeeded on a broken page")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), srv.URL) {
				t.Errorf("error %q does not name the URL", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
			if n := len(ch); n != 0 {
				t.Errorf("%d metrics sent on a failed scrape", n)
			}
		})
	}
}

// TestMalformedLinesEachFail: every kind of bad line in stat_malformed.txt
// fails a page on its own, and the message names it.
func TestMalformedLinesEachFail(t *testing.T) {
	cases := []struct{ line, want string }{
		{"connections_websocket=not-a-number", `connections_websocket="not-a-number" is not a number`},
		{"this line has no equals sign", `line 2: no '=' in "this line has no equals sign"`},
		{"=orphan_value", "line 2: empty key"},
		{"streams_webrtc_out=-1", "streams_webrtc_out=-1 is negative"},
		{"global_bandwidth_in=1,5", `global_bandwidth_in="1,5" is not a number`},
		{"global_bandwidth_out=NaN", `global_bandwidth_out="NaN" is not a number`},
		{"streams_viewers=a/1;b/x;;c", `streams_viewers: entry "b/x": count is not a non-negative integer`},
		{"streams_viewers=a/1;c", `streams_viewers: entry "c" is not name/count`},
		{"connections=1e999", `connections="1e999" is not a number`},
	}
	for _, tc := range cases {
		t.Run(tc.line, func(t *testing.T) {
			_, err := wcsapi.ParseText([]byte("connections=1\n" + tc.line + "\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestTransportFailures(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		c := newCollector(t, Options{}, "http://"+testenv.ClosedPort(t))
		err := c.Update(context.Background(), make(chan prometheus.Metric, 100))
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("got %v, want connection refused", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}))
		defer srv.Close()
		c := newCollector(t, Options{}, srv.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := c.Update(ctx, make(chan prometheus.Metric, 100))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want a deadline error", err)
		}
	})
}

// TestStreamCap keeps the most-watched streams and reports the rest.
func TestStreamCap(t *testing.T) {
	srv, _ := testenv.ServeFile(t, http.StatusOK, "stat_loaded.json")
	c := newCollector(t, Options{StreamMetrics: true, MaxStreams: 2}, srv.URL)
	want := `
# HELP wcs_stream_series_dropped Per-stream series left out of this scrape by the max_streams cap.
# TYPE wcs_stream_series_dropped gauge
wcs_stream_series_dropped{target="wcs1"} 3
# HELP wcs_stream_viewers Viewers of a stream (streams_viewers); at most max_streams streams, the most watched first.
# TYPE wcs_stream_viewers gauge
wcs_stream_viewers{stream="room1-guest",target="wcs1"} 40
wcs_stream_viewers{stream="room1-host",target="wcs1"} 61
`
	if err := testutil.CollectAndCompare(collectors.Prometheus(c), strings.NewReader(want), "wcs_stream_viewers", "wcs_stream_series_dropped"); err != nil {
		t.Fatal(err)
	}
}

// TestUnknownKeysOption exports unmapped numeric keys only when asked, and
// never mapped or native keys.
func TestUnknownKeysOption(t *testing.T) {
	body := "-----Connection Stats-----\nconnections=3\nfuture_counter=7\nnative_resources.gpu=1\nversion=5.2.1-abc\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(body)) }))
	defer srv.Close()
	for _, on := range []bool{false, true} {
		c := newCollector(t, Options{UnknownKeys: on}, srv.URL)
		want := ""
		if on {
			want = `
# HELP wcs_stat_value A numeric key of the WCS statistics page that lbpilot does not map to a family of its own, as reported.
# TYPE wcs_stat_value gauge
wcs_stat_value{key="future_counter",target="wcs1"} 7
`
		}
		if err := testutil.CollectAndCompare(collectors.Prometheus(c), strings.NewReader(want), "wcs_stat_value"); err != nil {
			t.Errorf("unknown_keys=%v: %v", on, err)
		}
	}
}

func TestBandwidthUnit(t *testing.T) {
	srv, _ := testenv.ServeFile(t, http.StatusOK, "stat_moderate.json")
	for _, tc := range []struct {
		unit    string
		in, out string
	}{
		{"", "1.175e+06", "7.65625e+06"},     // 9.4 and 61.25 Mbit/s
		{"kbps", "1175", "7656.25"},          // the same numbers read as kbit/s
		{"bps", "1.175", "7.65625"},          // as bit/s
		{"MBPS", "1.175e+06", "7.65625e+06"}, // case-insensitive
	} {
		c := newCollector(t, Options{BandwidthUnit: tc.unit}, srv.URL)
		want := `
# HELP wcs_bandwidth_bytes_per_second Measured channel bandwidth in bytes per second (global_bandwidth_in / global_bandwidth_out, converted from bandwidth_unit; reported only with global_bandwidth_check_enabled=true).
# TYPE wcs_bandwidth_bytes_per_second gauge
wcs_bandwidth_bytes_per_second{direction="in",target="wcs1"} ` + tc.in + `
wcs_bandwidth_bytes_per_second{direction="out",target="wcs1"} ` + tc.out + "\n"
		if err := testutil.CollectAndCompare(collectors.Prometheus(c), strings.NewReader(want), "wcs_bandwidth_bytes_per_second"); err != nil {
			t.Errorf("unit %q: %v", tc.unit, err)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		opts Options
		err  string
	}{
		{Options{}, ""},
		{Options{Format: "TEXT"}, ""},
		{Options{Format: "xml"}, `format "xml"`},
		{Options{BandwidthUnit: "MB/s"}, `bandwidth_unit "MB/s"`},
		{Options{MaxStreams: -1}, "max_streams must not be negative"},
	}
	for _, tc := range cases {
		err := tc.opts.Validate()
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v: got %v, want %q", tc.opts, err, tc.err)
		}
	}
	d := DefaultOptions()
	if d.Format != wcsapi.FormatJSON || d.MaxStreams != DefaultMaxStreams || d.BandwidthUnit != "Mbps" {
		t.Errorf("defaults: %+v", d)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "host:8081", "ftp://host", "http://"} {
		if _, err := New(Options{}, collectors.Target{URL: u}, nil); err == nil {
			t.Errorf("New accepted %q", u)
		}
	}
}
