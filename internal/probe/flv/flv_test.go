package flv

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/probe/probetest"
	"github.com/lbpilot/lbpilot/internal/testenv"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

func dur(d time.Duration) *time.Duration { return &d }

func probeOnce(t *testing.T, o Options, target string, timeout time.Duration) probetest.Result {
	t.Helper()
	return probetest.Once(t, Spec, New, o, target, timeout)
}

// The lab's SRS edge through a real haproxy, plain and with haproxy
// terminating TLS.
func TestLabEdgeThroughHAProxy(t *testing.T) {
	_, edge := probetest.Lab(t, lab.Config{Kind: lab.SRS, Name: "edge-probe", SRSRole: "edge", ClientAddrs: []string{"127.0.0.1:0"}})
	ca := probetest.NewCA(t)
	plain := probetest.Front(t, "http", edge)
	tls := probetest.FrontTLS(t, "http", ca, edge)
	for _, tt := range []struct {
		name, target string
		o            Options
	}{
		{"http", "http://" + plain + "/live/probe.flv", Options{}},
		{"https", "https://" + tls + "/live/probe.flv", Options{HTTPOptions: upstream.HTTPOptions{HTTPClientConfig: &upstream.ClientConfig{
			Config: promconfig.HTTPClientConfig{TLSConfig: promconfig.TLSConfig{CAFile: ca.CAFile}, FollowRedirects: true}}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := probeOnce(t, tt.o, tt.target, 5*time.Second)
			probetest.WantSuccess(t, r, "connect", "first_byte", "header", "first_media", "window")
			if (r.Phases["tls"] > 0) != (tt.name == "https") {
				t.Errorf("tls phase %v", r.Phases["tls"])
			}
			// The edge sends lab.SRSMediaBitrate; a one-second window
			// sees it within a wide margin (tags arrive every 40 ms).
			if br := r.Values["bitrate_bits_per_second"]; br < lab.SRSMediaBitrate/3 || br > lab.SRSMediaBitrate*3 {
				t.Errorf("bitrate %v, the edge sends %d", br, lab.SRSMediaBitrate)
			}
			if r.Values["video_tags"] < 5 || r.Values["audio_tags"] < 5 || r.Values["http_status_code"] != 200 {
				t.Errorf("values %v", r.Values)
			}
			if r.Phases["window"] < 0.9 {
				t.Errorf("window %v, want about 1s", r.Phases["window"])
			}
		})
	}
	// The deadline shortens the window instead of being overrun.
	r := probeOnce(t, Options{Window: dur(10 * time.Second)}, "http://"+plain+"/live/probe.flv", time.Second)
	if !r.Success || r.Elapsed > 1500*time.Millisecond || r.Phases["window"] <= 0 {
		t.Errorf("window longer than the deadline: %v in %v (%s)", r.Phases, r.Elapsed, r.Message)
	}
	// Without the CA: a TLS failure.
	r = probeOnce(t, Options{}, "https://"+tls+"/live/probe.flv", 5*time.Second)
	if r.Success || r.Reason != "tls" {
		t.Errorf("unknown CA: %+v", r)
	}
}

func TestFailures(t *testing.T) {
	testenv.Binary(t, "haproxy")
	mux := http.NewServeMux()
	mux.HandleFunc("/html.flv", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "<html>nope</html>") })
	mux.HandleFunc("/headeronly.flv", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(flvHeader()) })
	mux.HandleFunc("/badtag.flv", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(append(flvHeader(), tag(7, 10, 0)...))
	})
	mux.HandleFunc("/onetag.flv", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(append(flvHeader(), tag(TagVideo, 100, 0)...))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/silent.flv", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(flvHeader())
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	down := probetest.Front(t, "http", testenv.ClosedPort(t)+" disabled")
	tests := []struct {
		name, target, reason string
	}{
		{"no server up behind haproxy", "http://" + down + "/live/s.flv", "http_status"},
		{"refused", "http://" + testenv.ClosedPort(t) + "/live/s.flv", "connection_refused"},
		{"not FLV", ts.URL + "/html.flv", "protocol"},
		{"ends after the header", ts.URL + "/headeronly.flv", "stream_ended"},
		{"unknown tag", ts.URL + "/badtag.flv", "protocol"},
		{"no media before the deadline", ts.URL + "/silent.flv", "timeout"},
		{"nothing after the first tag", ts.URL + "/onetag.flv", "no_media"},
		{"404", ts.URL + "/nothing.flv", "http_status"},
		{"garbage server", "http://" + probetest.Garbage(t) + "/s.flv", "protocol"},
		{"silent server", "http://" + probetest.Silent(t) + "/s.flv", "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probetest.WantFailureWithin(t, probeOnce(t, Options{}, tt.target, time.Second), tt.reason, time.Second)
		})
	}
}

func TestBadConfigAndTargets(t *testing.T) {
	if err := (&Options{Window: dur(-time.Second)}).Validate(); err == nil || !strings.Contains(err.Error(), "window") {
		t.Errorf("negative window: %v", err)
	}
	for _, tg := range []string{"", "rtmp://h/live/s", "http:///x.flv", "http://u:pw@h/x.flv", "%zz"} {
		if err := CheckTarget(tg); err == nil {
			t.Errorf("CheckTarget(%q) passed", tg)
		} else if strings.Contains(err.Error(), "pw@") {
			t.Errorf("shows the password: %v", err)
		}
	}
}

func flvHeader() []byte {
	return []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0}
}

func tag(typ byte, size int, ts uint32) []byte {
	b := []byte{typ, byte(size >> 16), byte(size >> 8), byte(size), byte(ts >> 16), byte(ts >> 8), byte(ts), byte(ts >> 24), 0, 0, 0}
	b = append(b, make([]byte, size)...)
	return binary.BigEndian.AppendUint32(b, uint32(11+size))
}

func TestTagReader(t *testing.T) {
	good := append(flvHeader(), tag(TagScript, 30, 0)...)
	good = append(good, tag(TagVideo, 500, 0x01020304)...)
	good = append(good, tag(TagAudio, 20, 40)...)
	br := bufio.NewReader(bytes.NewReader(good))
	h, err := ReadHeader(br)
	if err != nil || !h.Audio || !h.Video || h.Version != 1 {
		t.Fatalf("header %+v %v", h, err)
	}
	var got []Tag
	for {
		tg, err := NextTag(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tg)
	}
	want := []Tag{{TagScript, 30, 0}, {TagVideo, 500, 0x01020304}, {TagAudio, 20, 40}}
	if len(got) != len(want) {
		t.Fatalf("tags %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("tag %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	bad := []struct {
		name string
		b    []byte
		want error
	}{
		{"short header", []byte("FLV"), io.ErrUnexpectedEOF},
		{"not FLV", []byte("HTTP/1.1 200 OK\r\n\r\n"), ErrNotFLV},
		{"bad offset", []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 3, 0, 0, 0, 0}, ErrNotFLV},
		{"bad prev0", []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 1}, ErrNotFLV},
	}
	for _, tt := range bad {
		if _, err := ReadHeader(bufio.NewReader(bytes.NewReader(tt.b))); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	truncated := tag(TagVideo, 100, 0)[:50]
	if _, err := NextTag(bufio.NewReader(bytes.NewReader(truncated))); err != io.ErrUnexpectedEOF {
		t.Errorf("truncated tag: %v", err)
	}
	wrongPrev := tag(TagVideo, 10, 0)
	wrongPrev[len(wrongPrev)-1]++
	if _, err := NextTag(bufio.NewReader(bytes.NewReader(wrongPrev))); err == nil || !strings.Contains(err.Error(), "PreviousTagSize") {
		t.Errorf("wrong PreviousTagSize: %v", err)
	}
	huge := []byte{TagVideo, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0}
	if _, err := NextTag(bufio.NewReader(bytes.NewReader(huge))); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("huge tag: %v", err)
	}
}

// FuzzTagReader: any byte stream gives a header error, or tags whose
// wire sizes add up to no more than the input, and never a panic.
func FuzzTagReader(f *testing.F) {
	f.Add(append(flvHeader(), tag(TagVideo, 10, 1)...))
	f.Add(append(append(flvHeader(), tag(TagScript, 3, 0)...), tag(TagAudio, 0, 0)...))
	f.Add([]byte("FLV\x01\x05\x00\x00\x00\x0a\x00\x00\x00\x00\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReader(bytes.NewReader(b))
		if _, err := ReadHeader(br); err != nil {
			return
		}
		used := 13
		for i := 0; ; i++ {
			tg, err := NextTag(br)
			if err != nil {
				break
			}
			used += tg.Wire()
			if used > len(b) {
				t.Fatalf("tags of %d bytes from %d bytes of input", used, len(b))
			}
			if tg.Type != TagAudio && tg.Type != TagVideo && tg.Type != TagScript {
				t.Fatalf("tag type %d accepted", tg.Type)
			}
		}
	})
}
