package hls

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/probe/probetest"
	"github.com/lbpilot/lbpilot/internal/testenv"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

func probeOnce(t *testing.T, o Options, target string, timeout time.Duration) probetest.Result {
	t.Helper()
	return probetest.Once(t, Spec, New, o, target, timeout)
}

func no() *bool { f := false; return &f }

// The lab's SRS edge (hls_ctx redirect, a sliding window of segments)
// through a real haproxy, plain and with haproxy terminating TLS.
func TestLabEdgeThroughHAProxy(t *testing.T) {
	_, edge := probetest.Lab(t, lab.Config{Kind: lab.SRS, Name: "edge-hls", SRSRole: "edge", ClientAddrs: []string{"127.0.0.1:0"}})
	ca := probetest.NewCA(t)
	plain := probetest.Front(t, "http", edge)
	tls := probetest.FrontTLS(t, "http", ca, edge)
	withCA := Options{HTTPOptions: upstream.HTTPOptions{HTTPClientConfig: &upstream.ClientConfig{
		Config: promconfig.HTTPClientConfig{TLSConfig: promconfig.TLSConfig{CAFile: ca.CAFile}, FollowRedirects: true}}}}
	segBytes := float64(lab.SRSMediaBitrate/8*int(lab.HLSFragment/time.Second)) / 188 * 188
	for _, tt := range []struct {
		name, target string
		o            Options
	}{
		{"http", "http://" + plain + "/live/probe.m3u8", Options{}},
		{"https", "https://" + tls + "/live/probe.m3u8", withCA},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := probeOnce(t, tt.o, tt.target, 6*time.Second)
			probetest.WantSuccess(t, r, "connect", "first_byte", "playlist", "segment", "refresh")
			if (r.Phases["tls"] > 0) != (tt.name == "https") {
				t.Errorf("tls phase %v", r.Phases["tls"])
			}
			v := r.Values
			if v["media_sequence_advanced"] != 1 || v["target_duration_seconds"] != lab.HLSFragment.Seconds() ||
				v["playlist_segments"] != lab.HLSWindow || v["http_status_code"] != 200 {
				t.Errorf("values %v", v)
			}
			if d := v["segment_bytes"] - segBytes; d < -188 || d > 188 {
				t.Errorf("segment of %v bytes, the edge makes %v", v["segment_bytes"], segBytes)
			}
			if _, ok := v["newest_segment_age_seconds"]; ok {
				t.Errorf("an age without PROGRAM-DATE-TIME or Last-Modified: %v", v)
			}
		})
	}
	// A deadline too short to wait a target duration: no freshness verdict.
	r := probeOnce(t, Options{}, "http://"+plain+"/live/probe.m3u8", time.Second)
	if _, ok := r.Values["media_sequence_advanced"]; !r.Success || ok || r.Elapsed > 1500*time.Millisecond {
		t.Errorf("short deadline: %+v", r)
	}
	r = probeOnce(t, Options{Freshness: no()}, "http://"+plain+"/live/probe.m3u8", 6*time.Second)
	if _, ok := r.Values["media_sequence_advanced"]; !r.Success || ok || r.Phases["refresh"] != 0 {
		t.Errorf("freshness off: %+v", r)
	}
	r = probeOnce(t, Options{}, "https://"+tls+"/live/probe.m3u8", 6*time.Second)
	if r.Success || r.Reason != "tls" {
		t.Errorf("unknown CA: %+v", r)
	}
}

func media(seq int64, segs int, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:%d\n%s", seq, extra)
	for i := range segs {
		fmt.Fprintf(&b, "#EXTINF:1.0,\nseg-%d.ts\n", seq+int64(i))
	}
	return b.String()
}

func TestFailuresAndVariants(t *testing.T) {
	testenv.Binary(t, "haproxy")
	var moving atomic.Int64
	now := time.Now().UTC()
	mux := http.NewServeMux()
	mux.HandleFunc("/stale.m3u8", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, media(7, 3, "")) })
	mux.HandleFunc("/moving.m3u8", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, media(moving.Add(1), 3, ""))
	})
	mux.HandleFunc("/master.m3u8", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nvariant/moving.m3u8\n")
	})
	mux.HandleFunc("/variant/moving.m3u8", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, media(moving.Add(1), 2, ""))
	})
	mux.HandleFunc("/dated.m3u8", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, media(1, 1, "#EXT-X-PROGRAM-DATE-TIME:"+now.Add(-31*time.Second).Format(time.RFC3339Nano)+"\n"))
	})
	mux.HandleFunc("/empty.m3u8", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, media(1, 0, "")) })
	mux.HandleFunc("/noseg.m3u8", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nmissing.ts\n")
	})
	mux.HandleFunc("/html.m3u8", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "<html></html>") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/seg-") || strings.HasPrefix(r.URL.Path, "/variant/seg-") {
			_, _ = w.Write(make([]byte, 1880))
			return
		}
		http.NotFound(w, r)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)

	for _, tt := range []struct{ name, path string }{{"moving", "/moving.m3u8"}, {"master", "/master.m3u8"}} {
		r := probeOnce(t, Options{}, ts.URL+tt.path, 3*time.Second)
		if !r.Success || r.Values["media_sequence_advanced"] != 1 || r.Values["segment_bytes"] != 1880 {
			t.Errorf("%s: %+v", tt.name, r)
		}
	}
	r := probeOnce(t, Options{}, ts.URL+"/dated.m3u8", 3*time.Second)
	if age := r.Values["newest_segment_age_seconds"]; age < 29 || age > 40 {
		t.Errorf("dated: age %v, want about 30 (%+v)", age, r)
	}

	down := probetest.Front(t, "http", testenv.ClosedPort(t)+" disabled")
	for _, tt := range []struct {
		name, target, reason string
	}{
		{"stale", ts.URL + "/stale.m3u8", "stale"},
		{"no segments", ts.URL + "/empty.m3u8", "no_segments"},
		{"segment missing", ts.URL + "/noseg.m3u8", "segment_status"},
		{"not a playlist", ts.URL + "/html.m3u8", "protocol"},
		{"playlist 404", ts.URL + "/nothing.m3u8", "playlist_status"},
		{"no server behind haproxy", "http://" + down + "/live/s.m3u8", "playlist_status"},
		{"refused", "http://" + testenv.ClosedPort(t) + "/s.m3u8", "connection_refused"},
		{"garbage", "http://" + probetest.Garbage(t) + "/s.m3u8", "protocol"},
		{"silent", "http://" + probetest.Silent(t) + "/s.m3u8", "timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			probetest.WantFailureWithin(t, probeOnce(t, Options{}, tt.target, 2*time.Second), tt.reason, 2*time.Second)
		})
	}
	if r := probeOnce(t, Options{}, ts.URL+"/stale.m3u8", 2*time.Second); r.Values["media_sequence_advanced"] != 0 {
		t.Errorf("stale: advanced %v", r.Values)
	}
}

func TestBadConfigAndTargets(t *testing.T) {
	if err := (&Options{MaxSegmentBytes: -1}).Validate(); err == nil {
		t.Error("negative max_segment_bytes accepted")
	}
	for _, tg := range []string{"", "ftp://h/x.m3u8", "https://", "http://u:pw@h/x.m3u8"} {
		if err := CheckTarget(tg); err == nil {
			t.Errorf("CheckTarget(%q) passed", tg)
		}
	}
}

// Credentials from http_client_config.basic_auth reach the server; a
// wrong password is the server's 401, and the password never shows.
func TestBasicAuth(t *testing.T) {
	var seq atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "probe" || p != "s3cret" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		if strings.HasSuffix(r.URL.Path, ".ts") {
			_, _ = w.Write(make([]byte, 376))
			return
		}
		_, _ = io.WriteString(w, media(seq.Add(1), 2, ""))
	}))
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	for _, tt := range []struct {
		password, reason string
	}{{"s3cret", ""}, {"wrong", "playlist_status"}} {
		pw := dir + "/pw-" + tt.password
		if err := os.WriteFile(pw, []byte(tt.password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		o := Options{Freshness: no(), HTTPOptions: upstream.HTTPOptions{HTTPClientConfig: &upstream.ClientConfig{
			Config: promconfig.HTTPClientConfig{BasicAuth: &promconfig.BasicAuth{Username: "probe", PasswordFile: pw}, FollowRedirects: true}}}}
		r := probeOnce(t, o, ts.URL+"/live/s.m3u8", 2*time.Second)
		if r.Reason != tt.reason || (tt.reason != "" && r.Values["http_status_code"] != 401) {
			t.Errorf("password %s: %+v", tt.password, r)
		}
		if strings.Contains(r.Message, tt.password) {
			t.Errorf("the message shows the password: %q", r.Message)
		}
	}
}

// The rest of the HLS failure paths, on a server written for each.
func TestMoreFailures(t *testing.T) {
	var back atomic.Int64
	back.Store(10)
	mux := http.NewServeMux()
	mux.HandleFunc("/empty-seg.m3u8", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, media(1, 1, "")) })
	mux.HandleFunc("/seg-1.ts", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/big.m3u8", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nbig.ts\n")
	})
	mux.HandleFunc("/big.ts", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(make([]byte, 4096)) })
	mux.HandleFunc("/back.m3u8", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, media(back.Add(-1), 1, ""))
	})
	mux.HandleFunc("/seg-9.ts", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(make([]byte, 188)) })
	mux.HandleFunc("/nested.m3u8", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nnested.m3u8\n")
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	for _, tt := range []struct {
		name, path, reason string
		o                  Options
	}{
		{"empty segment", "/empty-seg.m3u8", "segment_empty", Options{}},
		{"segment over max_segment_bytes", "/big.m3u8", "protocol", Options{MaxSegmentBytes: 1024}},
		{"media sequence going back", "/back.m3u8", "stale", Options{}},
		{"master playlist pointing at itself", "/nested.m3u8", "protocol", Options{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			probetest.WantFailure(t, probeOnce(t, tt.o, ts.URL+tt.path, 3*time.Second), tt.reason)
		})
	}
}
