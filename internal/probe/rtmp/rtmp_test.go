package rtmp

import (
	"net"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	promconfig "github.com/prometheus/common/config"

	"github.com/lbpilot/lbpilot/internal/lab"
	"github.com/lbpilot/lbpilot/internal/probe/probetest"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

func dur(d time.Duration) *time.Duration { return &d }

func probeOnce(t *testing.T, o Options, target string, timeout time.Duration) probetest.Result {
	t.Helper()
	return probetest.Once(t, Spec, New, o, target, timeout)
}

// playServer is an RTMP server (gortmplib's server side) that lets
// anyone play and sends H.264 frames until the client leaves.
func playServer(t *testing.T) string {
	t.Helper()
	return testenv.ServeTCP(t, func(nc net.Conn) {
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		sc := &gortmplib.ServerConn{RW: nc}
		if sc.Initialize() != nil || sc.AcceptConn() != nil || sc.Publish {
			return
		}
		video := &gortmplib.Track{Codec: &codecs.H264{
			SPS: []byte{0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20},
			PPS: []byte{0x68, 0xcb, 0x8c, 0xb2}}}
		w := &gortmplib.Writer{Conn: sc, Tracks: []*gortmplib.Track{video}}
		if w.Initialize() != nil {
			return
		}
		frame := make([]byte, 2000)
		frame[0] = 0x65
		for i := 0; ; i++ {
			pts := time.Duration(i) * 40 * time.Millisecond
			if w.WriteH264(video, pts, pts, [][]byte{frame}) != nil {
				return
			}
			time.Sleep(40 * time.Millisecond)
		}
	})
}

func TestThroughHAProxy(t *testing.T) {
	_, origin := probetest.Lab(t, lab.Config{Kind: lab.SRS, Name: "origin-probe", ClientAddrs: []string{"127.0.0.1:0"}})
	ca := probetest.NewCA(t)
	plain := probetest.Front(t, "tcp", origin)
	tls := probetest.FrontTLS(t, "tcp", ca, origin)
	player := probetest.Front(t, "tcp", playServer(t))

	for _, tt := range []struct {
		name, target string
		o            Options
		phases       []string
	}{
		{"publish", "rtmp://" + plain + "/live/probe", Options{Publish: true}, []string{"connect", "handshake", "rtmp_connect", "window"}},
		{"publish rtmps", "rtmps://" + tls + "/live/probe-tls", Options{Publish: true, TLSConfig: &promconfig.TLSConfig{CAFile: ca.CAFile}},
			[]string{"connect", "tls", "handshake", "rtmp_connect", "window"}},
		{"play", "rtmp://" + player + "/live/probe", Options{}, []string{"connect", "handshake", "rtmp_connect", "first_media", "window"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := probeOnce(t, tt.o, tt.target, 5*time.Second)
			probetest.WantSuccess(t, r, tt.phases...)
			bytes := r.Values["sent_bytes"] + r.Values["received_bytes"]
			if bytes < 10_000 || r.Values["bitrate_bits_per_second"] <= 0 {
				t.Errorf("values %v", r.Values)
			}
		})
	}
	// The lab origin takes publishers only: a play is refused.
	r := probeOnce(t, Options{}, "rtmp://"+plain+"/live/probe", 5*time.Second)
	if r.Success || r.Reason != "refused" || r.Phases["handshake"] <= 0 {
		t.Errorf("play on an origin: %+v", r)
	}
	r = probeOnce(t, Options{Publish: true}, "rtmps://"+tls+"/live/x", 5*time.Second)
	if r.Success || r.Reason != "tls" {
		t.Errorf("unknown CA: %+v", r)
	}
}

func TestFailures(t *testing.T) {
	for _, tt := range []struct{ name, target, reason string }{
		{"refused", "rtmp://" + testenv.ClosedPort(t) + "/live/s", "connection_refused"},
		{"garbage", "rtmp://" + probetest.Garbage(t) + "/live/s", "protocol"},
		{"silent", "rtmp://" + probetest.Silent(t) + "/live/s", "timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			probetest.WantFailureWithin(t, probeOnce(t, Options{}, tt.target, time.Second), tt.reason, time.Second)
		})
	}
}

func TestBadConfigAndTargets(t *testing.T) {
	for _, o := range []Options{{Window: dur(-1)}, {PublishKbps: -1}, {TLSConfig: &promconfig.TLSConfig{CAFile: "/nonexistent"}}} {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	for _, tg := range []string{"", "http://h/live/s", "rtmp://h", "rtmp://h/live/", "rtmp://u:pw@h/live/s", "rtmp:///live/s"} {
		if err := CheckTarget(tg); err == nil {
			t.Errorf("CheckTarget(%q) passed", tg)
		}
	}
	u, err := parseTarget("rtmp://h/live/app/s")
	if err != nil || u.Host != "h:1935" || u.Path != "/live/app" || u.Fragment != "s" {
		t.Errorf("parseTarget: %v %v", u, err)
	}
}
