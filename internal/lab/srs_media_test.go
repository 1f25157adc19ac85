package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/lbpilot/lbpilot/internal/haproxyapi/haproxytest"
	"github.com/lbpilot/lbpilot/internal/srsapi"
	"github.com/lbpilot/lbpilot/internal/testenv"
)

func startSRSLab(t *testing.T, cfg Config) (*Server, *srsMedia) {
	t.Helper()
	cfg.Kind = SRS
	if cfg.Name == "" {
		cfg.Name = "srs-" + cfg.SRSRole
	}
	cfg.ClientAddrs = []string{"127.0.0.1:0"}
	s, err := Start(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, s.sim.(*srsSim).media
}

func fetchSRS(t *testing.T, s *Server) *srsapi.Stats {
	t.Helper()
	st, err := (&srsapi.API{BaseURL: s.URL, KeepClients: true}).Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// eventually polls cond for up to 5 s.
// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyShow(t, what, func() (bool, string) { return cond(), "not yet" })
}

func streamByURL(st *srsapi.Stats, u string) *srsapi.Stream {
	for i := range st.Streams {
		if st.Streams[i].URL == u {
			return &st.Streams[i]
		}
	}
	return nil
}

func clientTypes(st *srsapi.Stats) map[string]int {
	m := map[string]int{}
	for _, c := range st.Clients {
		m[c.Type]++
	}
	return m
}

func TestSRSRTMPPublishShowsInAPI(t *testing.T) {
	s, _ := startSRSLab(t, Config{SRSRole: "origin", Load: Load{Publishers: 2, Subscribers: 3}})
	if len(s.ClientURLs) != 1 || !strings.HasPrefix(s.ClientURLs[0], "rtmp://127.0.0.1:") || !strings.HasSuffix(s.ClientURLs[0], "/live") {
		t.Fatalf("client URLs %v", s.ClientURLs)
	}
	ctx := context.Background()
	pub, err := PublishRTMP(ctx, s.ClientURLs[0]+"/cam1", 400_000)
	if err != nil {
		t.Fatal(err)
	}
	var first float64
	eventually(t, "the publisher in the API", func() bool {
		st := fetchSRS(t, s)
		str := streamByURL(st, "/live/cam1")
		if str == nil || !str.Publish.Active || str.RecvBytes == 0 || str.Frames == 0 || str.Clients != 1 {
			return false
		}
		first = str.RecvBytes
		return clientTypes(st)["fmle-publish"] == 3 && len(st.Streams) == 3 && len(st.Clients) == 6
	})
	eventually(t, "bytes rising", func() bool {
		st := fetchSRS(t, s)
		str := streamByURL(st, "/live/cam1")
		return str != nil && str.RecvBytes > first && st.Summaries.System.SRSRecvBytes >= str.RecvBytes
	})
	for _, c := range fetchSRS(t, s).Clients {
		if c.URL == "/live/cam1" && (!c.Publish || c.Type != "fmle-publish" || c.IP != "127.0.0.1") {
			t.Errorf("live publisher listed as %+v", c)
		}
	}
	if st := s.Status(); st.Live == nil || st.Live.Sessions != 1 || st.Live.Load.Publishers != 1 || st.Live.BytesIn == 0 {
		t.Errorf("live status %+v", st.Live)
	}

	// A second publisher on the same stream is refused: stream busy.
	if p2, err := PublishRTMP(ctx, s.ClientURLs[0]+"/cam1", 100_000); err == nil || !strings.Contains(err.Error(), "stream busy") {
		if p2 != nil {
			_ = p2.Close()
		}
		t.Errorf("second publisher on cam1: %v, want stream busy", err)
	}

	if err := pub.Close(); err != nil {
		t.Errorf("publisher stopped with %v", err)
	}
	if pub.Bytes() == 0 || pub.Frames() == 0 {
		t.Errorf("publisher sent %d bytes, %d frames", pub.Bytes(), pub.Frames())
	}
	eventually(t, "the publisher gone", func() bool {
		st := fetchSRS(t, s)
		return streamByURL(st, "/live/cam1") == nil && len(st.Clients) == 5 && s.Live().Sessions == 0
	})
	if l := s.Load(); l.Publishers != 2 || l.Subscribers != 3 {
		t.Errorf("the background changed: %+v", l)
	}
}

func TestSRSEdgeFLVAndHLSPlayers(t *testing.T) {
	s, m := startSRSLab(t, Config{SRSRole: "edge"})
	m.setTimeouts(srsTimeouts{hls: 300 * time.Millisecond, handshake: time.Second, idle: time.Second})
	base := s.ClientURLs[0]
	ctx := context.Background()
	flv, err := PlayFLV(ctx, nil, base+"/live/cam1.flv")
	if err != nil {
		t.Fatal(err)
	}
	hls, err := PlayHLS(ctx, nil, base+"/live/cam1.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "flv-play and hls-play clients with bytes", func() bool {
		st := fetchSRS(t, s)
		str := streamByURL(st, "/live/cam1")
		types := clientTypes(st)
		return str != nil && str.Clients == 2 && str.SendBytes > 100_000 && str.Frames == 0 &&
			types["flv-play"] == 1 && types["hls-play"] == 1 && flv.Video() > 2 && flv.Audio() > 2 && hls.Segments() > 0
	})
	resp, err := http.Get(s.URL + "/api/v1/clients/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`"name":"cam1.flv"`, `"name":"cam1.m3u8"`, `"type":"flv-play"`, `"tcUrl":"http://127.0.0.1:`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("clients lack %s: %s", want, body)
		}
	}
	if err := flv.Close(); err != nil {
		t.Errorf("FLV player: %v", err)
	}
	eventually(t, "the FLV player gone", func() bool {
		return clientTypes(fetchSRS(t, s))["flv-play"] == 0
	})
	if err := hls.Close(); err != nil {
		t.Errorf("HLS player: %v", err)
	}
	eventually(t, "the HLS session expired", func() bool {
		st := fetchSRS(t, s)
		return len(st.Clients) == 0 && len(st.Streams) == 0 && s.Live().Sessions == 0
	})
	if lv := s.Live(); lv.BytesOut < flv.Bytes()+hls.Bytes()-1 {
		t.Errorf("node sent %d bytes, players got %d", lv.BytesOut, flv.Bytes()+hls.Bytes())
	}
}

func TestSRSLiveTypesFollowTheVersion(t *testing.T) {
	for _, tc := range []struct {
		version       string
		flv, hls      string
		clients, objs int
	}{
		{"4.0.271", "rtmp-play", "rtmp-play", 2, 1},
		{"3.0.170", "Play", "", 1, 1},
	} {
		s, _ := startSRSLab(t, Config{SRSRole: "edge", SRSVersion: tc.version, Name: "v" + tc.version})
		ctx := context.Background()
		flv, err := PlayFLV(ctx, nil, s.ClientURLs[0]+"/live/a.flv")
		if err != nil {
			t.Fatal(err)
		}
		hls, err := PlayHLS(ctx, nil, s.ClientURLs[0]+"/live/a.m3u8")
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Clients []struct{ Type string } `json:"clients"`
		}
		eventually(t, tc.version+" clients", func() bool {
			resp, err := http.Get(s.URL + "/api/v1/clients/")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got.Clients = nil
			_ = json.NewDecoder(resp.Body).Decode(&got)
			return len(got.Clients) == tc.clients && s.Live().Sessions == 2
		})
		for _, c := range got.Clients {
			if c.Type != tc.flv && c.Type != tc.hls {
				t.Errorf("%s: client type %q", tc.version, c.Type)
			}
		}
		_ = flv.Close()
		_ = hls.Close()
	}
}

func TestSRSRefusesAtCapacity(t *testing.T) {
	ctx := context.Background()
	o, _ := startSRSLab(t, Config{SRSRole: "origin", Capacity: Capacity{Sessions: 1, Refuse: true}})
	pub, err := PublishRTMP(ctx, o.ClientURLs[0]+"/a", 100_000)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if _, err := PublishRTMP(ctx, o.ClientURLs[0]+"/b", 100_000); err == nil || !strings.Contains(err.Error(), "NetStream.Publish.Rejected") {
		t.Errorf("publish past capacity: %v", err)
	}
	if lv := o.Live(); lv.Refused != 1 || lv.Sessions != 1 {
		t.Errorf("origin live %+v", lv)
	}

	e, _ := startSRSLab(t, Config{SRSRole: "edge", Capacity: Capacity{Sessions: 1, Refuse: true}})
	flv, err := PlayFLV(ctx, nil, e.ClientURLs[0]+"/live/a.flv")
	if err != nil {
		t.Fatal(err)
	}
	defer flv.Close()
	var se *StatusError
	if _, err := PlayFLV(ctx, nil, e.ClientURLs[0]+"/live/a.flv"); !errors.As(err, &se) || se.Status != 503 {
		t.Errorf("FLV past capacity: %v", err)
	}
	if _, err := PlayHLS(ctx, nil, e.ClientURLs[0]+"/live/a.m3u8"); !errors.As(err, &se) || se.Status != 503 {
		t.Errorf("HLS past capacity: %v", err)
	}
	if lv := e.Live(); lv.Refused != 2 || lv.Sessions != 1 {
		t.Errorf("edge live %+v", lv)
	}
}

func TestSRSOriginGarbage(t *testing.T) {
	o, m := startSRSLab(t, Config{SRSRole: "origin"})
	m.setTimeouts(srsTimeouts{hls: time.Second, handshake: 300 * time.Millisecond, idle: 300 * time.Millisecond})
	addr := strings.TrimSuffix(strings.TrimPrefix(o.ClientURLs[0], "rtmp://"), "/live")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		return c
	}
	// Not RTMP at all: closed, counted.
	c := dial()
	_, _ = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	if n, _ := c.Read(make([]byte, 10)); n != 0 {
		t.Errorf("got %d bytes back for garbage", n)
	}
	c.Close()
	eventually(t, "garbage counted", func() bool { return o.Live().Garbage == 1 })
	// A valid handshake followed by junk chunks.
	c = dial()
	_, _ = c.Write(append([]byte{3}, make([]byte, 1536)...))
	_, _ = io.ReadFull(c, make([]byte, 1+1536+1536))
	_, _ = c.Write(make([]byte, 1536))
	_, _ = c.Write(bytes.Repeat([]byte{0xff}, 4096))
	_, _ = io.Copy(io.Discard, c)
	c.Close()
	eventually(t, "junk after the handshake counted", func() bool { return o.Live().Garbage == 2 })
	// Connect and close (a TCP health check), and a client that stalls
	// mid-handshake: not garbage.
	dial().Close()
	c = dial()
	_, _ = c.Write([]byte{3, 1, 2})
	_, _ = io.Copy(io.Discard, c) // the handshake timeout closes it
	c.Close()

	// A play request and a publish without a stream name are refused.
	u, _ := url.Parse(o.ClientURLs[0] + "#cam")
	pl := &gortmplib.Client{URL: u}
	if err := pl.Initialize(context.Background()); err == nil || !strings.Contains(err.Error(), "NetStream.Play.Failed") {
		t.Errorf("RTMP play on the origin: %v", err)
		if err == nil {
			pl.Close()
		}
	}
	if _, err := PublishRTMP(context.Background(), "rtmp://"+addr+"/live", 100_000); err == nil || !strings.Contains(err.Error(), "BadName") {
		t.Errorf("publish without a stream: %v", err)
	}
	// A publisher that stops sending is dropped after the idle timeout.
	pc := &gortmplib.Client{URL: mustURL(t, o.ClientURLs[0]+"#idle"), Publish: true}
	if err := pc.Initialize(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	eventually(t, "the idle publisher listed", func() bool { return o.Live().Sessions == 1 })
	eventually(t, "the idle publisher dropped", func() bool { return o.Live().Sessions == 0 })
	if g := o.Live().Garbage; g != 2 {
		t.Errorf("garbage = %d, want 2", g)
	}
	if _, err := PublishRTMP(context.Background(), "http://"+addr+"/live/x", 1); err == nil {
		t.Error("PublishRTMP took an http URL")
	}
	if _, err := PublishRTMP(context.Background(), "rtmp://"+addr+"/live/%zz", 1); err == nil {
		t.Error("PublishRTMP took a bad URL")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSRSEdgeGarbage(t *testing.T) {
	e, _ := startSRSLab(t, Config{SRSRole: "edge"})
	base := e.ClientURLs[0]
	old := hlsSeq(time.Now()) - 100
	for _, tc := range []struct {
		method, path string
		header       string
		status       int
		garbage      bool
	}{
		{"GET", "/", "", 200, false},
		{"GET", "/nosuch", "", 404, true},
		{"GET", "/cam.flv", "", 404, true},
		{"GET", "/live/a%20b.flv", "", 404, true},
		{"GET", "/live/.m3u8", "", 404, true},
		{"GET", "/live/cam-x.ts", "", 404, true},
		{"GET", "/live/cam.ts", "", 404, true},
		{"GET", "/live/cam-" + strconv.FormatInt(old, 10) + ".ts", "", 404, false},
		{"GET", "/live/cam-" + strconv.FormatInt(old+200, 10) + ".ts", "", 404, false},
		{"POST", "/live/cam.flv", "", 405, true},
		{"GET", "/live/" + strings.Repeat("a", 3000) + ".flv", "", 414, true},
		{"GET", "/live/cam.flv", strings.Repeat("b", 9000), 431, true},
	} {
		before := e.Live().Garbage
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		if tc.header != "" {
			req.Header.Set("X-Big", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || (e.Live().Garbage > before) != tc.garbage {
			t.Errorf("%s %.40s: %d (garbage %d→%d), want %d garbage %v", tc.method, tc.path, resp.StatusCode, before, e.Live().Garbage, tc.status, tc.garbage)
		}
	}
	// HEAD of a stream answers the headers and ends the session.
	resp, err := http.Head(base + "/live/cam.flv")
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/x-flv" {
		t.Errorf("HEAD flv: %v %v", err, resp)
	}
	// A segment in the window, without a session: served, bytes counted.
	seg := hlsSeq(time.Now()) - 1
	resp, err = http.Get(base + "/live/cam-" + strconv.FormatInt(seg, 10) + ".ts")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(b)%188 != 0 || b[0] != 0x47 || b[188] != 0x47 {
		t.Errorf("segment: %d, %d bytes", resp.StatusCode, len(b))
	}
	if e.Live().Sessions != 0 {
		t.Errorf("sessions left: %+v", e.Live())
	}
}

// The players reject what is not FLV, M3U8 or TS.
func TestSRSPlayersValidate(t *testing.T) {
	ctx := context.Background()
	var seg []byte
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/notflv.flv":
			_, _ = io.WriteString(w, "hello, not an FLV file")
		case "/short.flv":
			_, _ = io.WriteString(w, "FLV")
		case "/badtag.flv":
			_, _ = w.Write([]byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
		case "/badsize.flv":
			b := flvTag([]byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0}, 9, 0, []byte{1, 2, 3})
			b[len(b)-1]++
			_, _ = w.Write(b)
		case "/notm3u8.m3u8":
			_, _ = io.WriteString(w, "nope")
		case "/badseg.m3u8":
			_, _ = io.WriteString(w, "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nseg.ts\n")
		case "/seg.ts":
			_, _ = w.Write(seg)
		default:
			http.NotFound(w, r)
		}
	}))
	defer ts.Close()
	for _, p := range []string{"/notflv.flv", "/short.flv", "/missing.flv"} {
		if _, err := PlayFLV(ctx, nil, ts.URL+p); err == nil {
			t.Errorf("PlayFLV %s: no error", p)
		}
	}
	if _, err := PlayFLV(ctx, nil, "://bad"); err == nil {
		t.Error("PlayFLV took a bad URL")
	}
	if _, err := PlayFLV(ctx, nil, "http://"+testenv.ClosedPort(t)+"/a.flv"); err == nil {
		t.Error("PlayFLV reached a closed port")
	}
	for _, p := range []string{"/badtag.flv", "/badsize.flv"} {
		pl, err := PlayFLV(ctx, nil, ts.URL+p)
		if err != nil {
			t.Fatal(err)
		}
		<-pl.Done()
		if pl.Err() == nil || !strings.Contains(pl.Err().Error(), "FLV") {
			t.Errorf("%s: %v", p, pl.Err())
		}
	}
	if _, err := PlayHLS(ctx, nil, ts.URL+"/notm3u8.m3u8"); err == nil {
		t.Error("PlayHLS took a non-playlist")
	}
	for _, s := range [][]byte{bytes.Repeat([]byte{0x47}, 100), bytes.Repeat([]byte{0x46}, 188)} {
		seg = s
		pl, err := PlayHLS(ctx, nil, ts.URL+"/badseg.m3u8")
		if err != nil {
			t.Fatal(err)
		}
		<-pl.Done()
		if !errors.Is(pl.Err(), errNotTS) {
			t.Errorf("bad segment: %v", pl.Err())
		}
	}
}

// The seed topology: RTMP publishers through HAProxy in mode tcp to the
// origins, HTTP-FLV players through HAProxy in mode http to the edges.
func TestSRSThroughRealHAProxy(t *testing.T) {
	testenv.Binary(t, "haproxy")
	o, _ := startSRSLab(t, Config{SRSRole: "origin"})
	e, _ := startSRSLab(t, Config{SRSRole: "edge"})
	rtmpPort, httpPort := testenv.FreePort(t), testenv.FreePort(t)
	originAddr := strings.TrimSuffix(strings.TrimPrefix(o.ClientURLs[0], "rtmp://"), "/live")
	edgeAddr := strings.TrimPrefix(e.ClientURLs[0], "http://")
	cfg := haproxytest.Global + `
frontend rtmp_in
    mode tcp
    bind 127.0.0.1:` + strconv.Itoa(rtmpPort) + `
    default_backend srs_origins

backend srs_origins
    mode tcp
    balance leastconn
    server origin1 ` + originAddr + ` check

frontend flv_in
    mode http
    bind 127.0.0.1:` + strconv.Itoa(httpPort) + `
    default_backend srs_edges

backend srs_edges
    mode http
    balance roundrobin
    server edge1 ` + edgeAddr + ` check
`
	haproxytest.Start(t, cfg)
	ctx := context.Background()
	pub, err := PublishRTMP(ctx, "rtmp://127.0.0.1:"+strconv.Itoa(rtmpPort)+"/live/seed", 500_000)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	flv, err := PlayFLV(ctx, nil, "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/live/seed.flv")
	if err != nil {
		t.Fatal(err)
	}
	defer flv.Close()
	eventually(t, "bytes end to end through haproxy", func() bool {
		os, es := fetchSRS(t, o), fetchSRS(t, e)
		ost, est := streamByURL(os, "/live/seed"), streamByURL(es, "/live/seed")
		return ost != nil && ost.RecvBytes > 20_000 && clientTypes(os)["fmle-publish"] == 1 &&
			est != nil && est.SendBytes > 100_000 && clientTypes(es)["flv-play"] == 1 &&
			flv.Bytes() > 100_000 && flv.Video() > 5
	})
	if err := flv.Err(); err != nil {
		t.Errorf("FLV through haproxy: %v", err)
	}
}

// flvTag framing: a reader over what flvWriter produces sees valid tags.
func TestFLVWriterFraming(t *testing.T) {
	fw := &flvWriter{bitrate: 1_000_000}
	b := fw.start()
	for i := 0; i < 60; i++ {
		b = append(b, fw.frame()...)
	}
	p := &FLVPlayer{}
	err := p.read(bufio.NewReader(bytes.NewReader(b[13:])))
	if err != io.EOF || p.Tags() != 3+120 || p.Video() != 61 || p.Audio() != 61 {
		t.Errorf("read: %v, %d tags (%d video, %d audio)", err, p.Tags(), p.Video(), p.Audio())
	}
	if per := (len(b) - len(fw.start())) / 60; per < 4500 || per > 5100 {
		t.Errorf("%d bytes per 40 ms frame at 1 Mbit/s, want about 5000", per)
	}
	if seg := tsSegment(1_000_000, 7); len(seg) != 250_000/188*188 || crc32MPEG([]byte("123456789")) != 0x0376e6e7 {
		t.Errorf("segment of %d bytes, CRC %#x", len(seg), crc32MPEG([]byte("123456789")))
	}
}
