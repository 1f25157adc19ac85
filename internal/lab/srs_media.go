package lab

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"
)

// SRS client ports: real media sessions on a lab SRS node.
//
// An origin listens for RTMP (one listener per Config.ClientAddrs entry,
// URL rtmp://host:port/live). It takes publishers only: the handshake,
// connect, createStream and publish go through gortmplib's server side,
// then the media is read and discarded (bytes and video frames counted).
// Each publish is a session on the stream /<app>/<stream> (the tcUrl's
// path is the app, the publish name the stream). SRS names publishers by
// what they send: a client that announces itself with FCPublish (ffmpeg,
// OBS, gortmplib) is an "fmle-publish", one that only sends publish (an
// origin's forward) a "flash-publish". A second publisher on a stream
// that is publishing is refused (NetStream.Publish.BadName, as SRS's
// "stream busy"), and so is a play request (players go to edges) or a
// publish without a stream name. A client must finish the handshake and
// the publish within RTMPHandshakeTimeout, and a publisher that sends
// nothing for RTMPIdleTimeout is dropped.
//
// An edge serves HTTP (URL http://host:port):
//
//	GET /<app>/<stream>.flv      HTTP-FLV: the FLV header, an onMetaData
//	                             script tag, AVC and AAC sequence headers,
//	                             then a dummy video and audio tag every
//	                             40 ms at SRSMediaBitrate, until the client
//	                             leaves (type flv-play)
//	GET /<app>/<stream>.m3u8     HLS live playlist (type hls-play): without
//	                             hls_ctx it redirects to ?hls_ctx=<id>, as
//	                             SRS does; the playlist slides a window of
//	                             HLSWindow segments of HLSFragment each
//	GET /<app>/<stream>-<N>.ts   a dummy MPEG-TS segment: PAT, PMT and
//	                             188-byte packets sized for the bitrate
//	GET /                        a small index page (health checks)
//
// An HLS player is a session while it keeps fetching: like SRS's hls_ctx
// sessions it is dropped HLSTimeout after its last request.
//
// What SRS's API reports for these sessions follows the node's version:
// SRS 5 and later list flv-play and hls-play; SRS 4 lists both as
// rtmp-play; SRS 3 lists HTTP-FLV as Play and does not list HLS players
// at all (they still count towards the capacity). Live streams and
// clients are listed after the control API's background ones, with
// their real stream names (the first client's, with its extension, as
// SRS does), tcUrl, ip and bytes; a stream's bytes are its clients'.
//
// Refusal at capacity (Capacity.Refuse): an RTMP publish gets an error
// onStatus (NetStream.Publish.Rejected) and the connection is closed;
// HTTP-FLV and a new HLS session get 503. Garbage: bytes that are not
// RTMP get the connection closed, and on the HTTP port unknown paths get
// 404, other methods 405, a URL over 2 KiB 414 and headers over 8 KiB
// 431; each is counted with CountGarbage (a connection that closes
// without sending anything, as a TCP health check does, is not garbage).

// Parameters of the SRS client ports.
const (
	// SRSMediaBitrate is the bitrate an edge sends HTTP-FLV and sizes
	// HLS segments for, in bit/s, unless Config.PlayKbps sets one.
	SRSMediaBitrate = 1_000_000
	// HLSFragment is an HLS segment's duration (what the vhost reports
	// as hls.fragment).
	HLSFragment = 2 * time.Second
	// HLSWindow is how many segments the live playlist lists.
	HLSWindow = 3
	// HLSTimeout is how long an HLS session lives after its last
	// request.
	HLSTimeout = 10 * time.Second
	// RTMPHandshakeTimeout bounds the handshake, connect and publish.
	RTMPHandshakeTimeout = 10 * time.Second
	// RTMPIdleTimeout drops a publisher that sends nothing for so long.
	RTMPIdleTimeout = 10 * time.Second

	flvTick       = 40 * time.Millisecond
	maxURLBytes   = 2048
	maxHeadBytes  = 8192
	srsAudioShare = 64_000 // bit/s of the bitrate that is audio
)

func init() { clientStarters[SRS] = startSRSMedia }

// Kinds of live SRS clients; their type string depends on the version.
type srsLiveKind int

const (
	liveFMLE srsLiveKind = iota
	liveFlash
	liveFLV
	liveHLS
)

// typ is the client type SRS of the given major version reports ("" for
// not listed).
func (k srsLiveKind) typ(major int) string {
	switch k {
	case liveFMLE:
		return "fmle-publish"
	case liveFlash:
		return "flash-publish"
	}
	switch {
	case major == 3 && k == liveFLV:
		return "Play"
	case major == 3:
		return "" // SRS 3 does not count HLS players
	case major == 4:
		return "rtmp-play"
	case k == liveFLV:
		return "flv-play"
	}
	return "hls-play"
}

// srsLiveClient is one live session.
type srsLiveClient struct {
	seq         int
	kind        srsLiveKind
	app, stream string // stream without extension
	name        string // as the client asked for it, e.g. test.flv
	tcURL, ip   string
	born        time.Time
	sess        *Session

	send, recv, frames atomic.Int64
	base               [2]int64 // send, recv at the node's last restart

	hlsCtx  string
	hlsLast time.Time // last request (HLS; under srsMedia.mu)
}

func (lc *srsLiveClient) url() string { return "/" + lc.app + "/" + lc.stream }

// srsMedia is an SRS node's client ports and live sessions.
type srsMedia struct {
	srv     *Server
	sim     *srsSim
	bitrate int

	mu         sync.Mutex
	seq        int
	clients    []*srsLiveClient // in arrival order
	counts     Load             // the sessions' Load deltas, summed
	publishing map[string]*srsLiveClient
	hls        map[string]*srsLiveClient // by hls_ctx
	timeouts   srsTimeouts
	conns      map[net.Conn]struct{}
	closed     bool
	done       chan struct{}
	base       [2]int64 // node bytes in, out at the last restart
}

var (
	errStreamBusy = errors.New("stream busy")
	errBadName    = errors.New("bad stream name")
	errHLSOpen    = errors.New("HLS session already open")
)

func startSRSMedia(s *Server, addrs []string) ([]string, error) {
	sim := s.sim.(*srsSim)
	bitrate := SRSMediaBitrate
	if s.cfg.PlayKbps > 0 {
		bitrate = s.cfg.PlayKbps * 1000
	}
	m := &srsMedia{srv: s, sim: sim, bitrate: bitrate, publishing: map[string]*srsLiveClient{},
		hls: map[string]*srsLiveClient{}, timeouts: srsTimeouts{HLSTimeout, RTMPHandshakeTimeout, RTMPIdleTimeout}, conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	s.mu.Lock()
	sim.media = m
	s.mu.Unlock()
	s.closers = append(s.closers, m.close)
	var urls []string
	for _, a := range addrs {
		ln, err := s.listen(a)
		if err != nil {
			return nil, err
		}
		if sim.role == "origin" {
			urls = append(urls, "rtmp://"+ln.Addr().String()+"/live")
			go m.acceptRTMP(ln)
		} else {
			urls = append(urls, "http://"+ln.Addr().String())
			s.serveClientsHTTP(ln, http.HandlerFunc(m.serveHTTP))
		}
	}
	if sim.role == "edge" {
		go m.reapHLS()
		s.gateMu.Lock()
		s.onKill = append(s.onKill, m.endHLS)
		s.gateMu.Unlock()
	}
	return urls, nil
}

// endHLS ends every HLS session (a killed edge forgets them).
func (m *srsMedia) endHLS() {
	m.mu.Lock()
	all := make([]*srsLiveClient, 0, len(m.hls))
	for _, lc := range m.hls {
		all = append(all, lc)
	}
	m.mu.Unlock()
	for _, lc := range all {
		m.end(lc)
	}
}

// close cuts the RTMP connections and stops the HLS reaper.
func (m *srsMedia) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	close(m.done)
	for c := range m.conns {
		_ = c.Close()
	}
	return nil
}

// open admits a session and lists it, atomically with respect to what
// the API reports (under the server's lock, as the simulator answers).
func (m *srsMedia) open(lc *srsLiveClient, d Load) error {
	s := m.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	m.mu.Lock()
	if lc.kind <= liveFlash && m.publishing[lc.url()] != nil {
		m.mu.Unlock()
		return errStreamBusy
	}
	if lc.hlsCtx != "" && m.hls[lc.hlsCtx] != nil {
		m.mu.Unlock()
		return errHLSOpen
	}
	m.mu.Unlock()
	sess, err := s.admit(d, s.currentLocked().HogCPU)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	lc.seq, lc.sess, lc.born = m.seq, sess, s.now()
	m.clients = append(m.clients, lc)
	m.counts = addCounts(m.counts, d, 1)
	if lc.kind <= liveFlash {
		m.publishing[lc.url()] = lc
	}
	if lc.hlsCtx != "" {
		m.hls[lc.hlsCtx] = lc
	}
	return nil
}

// end removes a session (once).
func (m *srsMedia) end(lc *srsLiveClient) {
	s := m.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, c := range m.clients {
		if c == lc {
			m.clients = append(m.clients[:i], m.clients[i+1:]...)
			m.counts = addCounts(m.counts, lc.sess.d, -1)
			lc.sess.End()
			break
		}
	}
	if m.publishing[lc.url()] == lc {
		delete(m.publishing, lc.url())
	}
	if lc.hlsCtx != "" && m.hls[lc.hlsCtx] == lc {
		delete(m.hls, lc.hlsCtx)
	}
}

// countOut and countIn add bytes to a session and to the node.
func (m *srsMedia) countOut(lc *srsLiveClient, n int) {
	if lc != nil {
		lc.send.Add(int64(n))
	}
	m.srv.CountBytes(0, n)
}

func (m *srsMedia) countIn(lc *srsLiveClient, n int) {
	if lc != nil {
		lc.recv.Add(int64(n))
	}
	m.srv.CountBytes(n, 0)
}

// restarted is called by the simulator's reset (server lock held): byte
// counters start over.
func (m *srsMedia) restarted() {
	m.base = [2]int64{m.srv.live.bytesIn.Load(), m.srv.live.bytesOut.Load()}
	m.mu.Lock()
	for _, lc := range m.clients {
		lc.base = [2]int64{lc.send.Load(), lc.recv.Load()}
	}
	m.mu.Unlock()
}

// background returns the load without the live sessions' counts and
// measured bandwidth (server lock held): the simulator lays out the
// background from it and lists the live sessions themselves.
func (s *srsSim) background(l Load) Load {
	m := s.media
	if m == nil {
		return l
	}
	m.mu.Lock()
	c := m.counts
	m.mu.Unlock()
	l = addCounts(l, c, -1)
	l.Publishers, l.Subscribers, l.Streams, l.HLS = max(l.Publishers, 0), max(l.Subscribers, 0), max(l.Streams, 0), max(l.HLS, 0)
	lv := &m.srv.live
	lv.mu.Lock()
	in, out := lv.rates(m.srv.now())
	lv.mu.Unlock()
	l.BandwidthInMbps = max(l.BandwidthInMbps-in, 0)
	l.BandwidthOutMbps = max(l.BandwidthOutMbps-out, 0)
	return l
}

// liveBytes is what the live sessions received and sent since the last
// restart.
func (s *srsSim) liveBytes() (in, out float64) {
	m := s.media
	if m == nil {
		return 0, 0
	}
	return float64(m.srv.live.bytesIn.Load() - m.base[0]), float64(m.srv.live.bytesOut.Load() - m.base[1])
}

// layoutLive lists the live sessions after the background's streams and
// clients (server lock held).
func (s *srsSim) layoutLive() {
	s.streams, s.clients = s.streams[:s.nStreams], s.clients[:s.nClients]
	m := s.media
	if m == nil {
		return
	}
	now := m.srv.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	byURL := map[string]*srsStream{}
	for _, lc := range m.clients {
		typ := lc.kind.typ(s.major)
		if typ == "" {
			continue
		}
		st := byURL[lc.url()]
		if st == nil {
			st = &srsStream{id: s.id("s", 100000+lc.seq), name: lc.name, app: lc.app, url: lc.url(), tcURL: lc.tcURL,
				active: true, c: &srsCounters{}}
			byURL[lc.url()] = st
			s.streams = append(s.streams, st)
			s.vhostSeen = true
		}
		publish := lc.kind <= liveFlash
		send, recv := float64(lc.send.Load()-lc.base[0]), float64(lc.recv.Load()-lc.base[1])
		cl := &srsClient{id: s.id("c", 100000+lc.seq), stream: st, typ: typ, publish: publish,
			c:    &srsCounters{send: send, recv: recv, born: s.clock - now.Sub(lc.born).Seconds()},
			name: lc.name, tcURL: lc.tcURL, ip: lc.ip}
		if publish || (st.cid == "" && s.role == "edge") {
			st.cid = cl.id
		}
		st.clients++
		if !publish {
			st.players++
		}
		st.c.send += send
		st.c.recv += recv
		if s.role == "origin" {
			st.c.frames += float64(lc.frames.Load())
		}
		s.clients = append(s.clients, cl)
	}
}

// --- RTMP (origin) ---

func (m *srsMedia) acceptRTMP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // the node closed
		}
		go m.serveRTMP(c)
	}
}

// track registers a connection to cut on close; false once closed.
func (m *srsMedia) track(c net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.conns[c] = struct{}{}
	return true
}

func (m *srsMedia) untrack(c net.Conn) {
	m.mu.Lock()
	delete(m.conns, c)
	m.mu.Unlock()
}

// sniffer counts what a connection reads and notices FCPublish (which
// makes SRS call a publisher fmle-publish) before the publish.
type sniffer struct {
	net.Conn
	n         atomic.Int64
	watch     bool
	fcPublish bool
	tail      []byte
	// connectData is added to the connect _result (rtmpnode.go); nil
	// once it was.
	connectData amf0.Object
}

// Write adds connectData to the connect _result on its way out.
func (sn *sniffer) Write(p []byte) (int, error) {
	if sn.connectData != nil {
		if q, ok := withConnectData(p, sn.connectData); ok {
			sn.connectData = nil
			if _, err := sn.Conn.Write(q); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return sn.Conn.Write(p)
}

var fcPublishAMF = append([]byte{0x02, 0x00, 0x09}, "FCPublish"...)

func (sn *sniffer) Read(p []byte) (int, error) {
	n, err := sn.Conn.Read(p)
	sn.n.Add(int64(n))
	if sn.watch && n > 0 && !sn.fcPublish {
		buf := append(sn.tail, p[:n]...)
		sn.fcPublish = bytes.Contains(buf, fcPublishAMF)
		sn.tail = append(sn.tail[:0], buf[max(0, len(buf)-len(fcPublishAMF)):]...)
	}
	return n, err
}

// rtmpGarbage tells an error caused by bytes that are not RTMP from a
// client that just left or stalled.
func rtmpGarbage(read int64, err error) bool {
	if read == 0 || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return false
	}
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func (m *srsMedia) serveRTMP(c net.Conn) {
	defer c.Close()
	if !m.track(c) {
		return
	}
	defer m.untrack(c)
	sn := &sniffer{Conn: c, watch: true, connectData: amf0.Object{
		{Key: "srs_server", Value: "SRS/" + m.sim.version + "(lab)"},
		{Key: "srs_version", Value: m.sim.version},
		{Key: rtmpNodeKey, Value: m.srv.cfg.Name},
	}}
	var counted int64 // bytes in already counted
	flush := func(lc *srsLiveClient) {
		n := sn.n.Load()
		m.countIn(lc, int(n-counted))
		counted = n
	}
	defer func() { flush(nil) }()
	to := m.timeoutsNow()
	_ = c.SetDeadline(time.Now().Add(to.handshake))
	sc := &gortmplib.ServerConn{RW: sn}
	if err := sc.Initialize(); err != nil {
		if rtmpGarbage(sn.n.Load(), err) {
			m.srv.CountGarbage()
		}
		return
	}
	if err := sc.AcceptConn(); err != nil {
		if rtmpGarbage(sn.n.Load(), err) {
			m.srv.CountGarbage()
		}
		return
	}
	sn.watch, sn.connectData = false, nil
	reject := func(code, desc string) {
		_ = sc.Write(&message.CommandAMF0{ChunkStreamID: 5, MessageStreamID: 0x1000000, Name: "onStatus",
			Arguments: []any{nil, amf0.Object{{Key: "level", Value: "error"}, {Key: "code", Value: code}, {Key: "description", Value: desc}}}})
	}
	if !sc.Publish {
		reject("NetStream.Play.Failed", "this lab origin takes publishers only; play from an edge")
		return
	}
	app, stream, ok := splitStreamPath(sc.URL.Path)
	if !ok {
		reject("NetStream.Publish.BadName", errBadName.Error()+": "+sc.URL.Path)
		return
	}
	tc := *sc.URL
	tc.Path, tc.RawPath, tc.RawQuery, tc.Fragment = "/"+app, "", "", ""
	lc := &srsLiveClient{kind: liveFlash, app: app, stream: stream, name: stream, tcURL: tc.String(), ip: remoteIP(c)}
	if sn.fcPublish {
		lc.kind = liveFMLE
	}
	switch err := m.open(lc, Load{Publishers: 1}); {
	case errors.Is(err, ErrRefused):
		reject("NetStream.Publish.Rejected", err.Error())
		return
	case errors.Is(err, errStreamBusy):
		reject("NetStream.Publish.BadName", "stream busy: "+lc.url())
		return
	case err != nil:
		return
	}
	defer m.end(lc)
	flush(lc)
	if err := sc.AcceptAction(); err != nil {
		return
	}
	var sent uint64
	for {
		_ = c.SetReadDeadline(time.Now().Add(to.idle))
		msg, err := sc.Read()
		flush(lc)
		if out := sc.BytesSent(); out > sent {
			m.countOut(lc, int(out-sent))
			sent = out
		}
		if err != nil {
			if rtmpGarbage(1, err) {
				m.srv.CountGarbage()
			}
			return
		}
		if v, ok := msg.(*message.Video); ok && v.Type == message.VideoTypeAU {
			lc.frames.Add(1)
		}
	}
}

// splitStreamPath splits /<app>/<stream> (the app may have slashes).
func splitStreamPath(p string) (app, stream string, ok bool) {
	p = strings.TrimPrefix(p, "/")
	i := strings.LastIndexByte(p, '/')
	if i <= 0 || i == len(p)-1 {
		return "", "", false
	}
	app, stream = p[:i], p[i+1:]
	return app, stream, validName(app, true) && validName(stream, false)
}

// validName accepts the characters SRS apps and streams commonly use.
func validName(s string, slash bool) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.' || slash && r == '/'
		if !ok {
			return false
		}
	}
	return true
}

func remoteIP(c net.Conn) string {
	h, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return h
}

// --- HTTP-FLV and HLS (edge) ---

func (m *srsMedia) serveHTTP(w http.ResponseWriter, r *http.Request) {
	garbage := func(status int) {
		m.srv.CountGarbage()
		http.Error(w, http.StatusText(status), status)
	}
	if len(r.RequestURI) > maxURLBytes {
		garbage(http.StatusRequestURITooLong)
		return
	}
	head := 0
	for k, vs := range r.Header {
		for _, v := range vs {
			head += len(k) + len(v) + 4
		}
	}
	if head > maxHeadBytes {
		garbage(http.StatusRequestHeaderFieldsTooLarge)
		return
	}
	// Which edge answered, for players behind HAProxy (the lab's
	// addition; SRS itself sends only Server: SRS/x.y.z(Code)).
	w.Header().Set("X-Lab-Node", m.srv.cfg.Name)
	w.Header().Set("Server", "SRS/"+m.sim.version+"(lab)")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		garbage(http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "SRS lab edge: GET /<app>/<stream>.flv or .m3u8\n")
		return
	}
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, ".flv"):
		app, stream, ok := splitStreamPath(strings.TrimSuffix(p, ".flv"))
		if !ok {
			garbage(http.StatusNotFound)
			return
		}
		m.serveFLV(w, r, app, stream)
	case strings.HasSuffix(p, ".m3u8"):
		app, stream, ok := splitStreamPath(strings.TrimSuffix(p, ".m3u8"))
		if !ok {
			garbage(http.StatusNotFound)
			return
		}
		m.servePlaylist(w, r, app, stream)
	case strings.HasSuffix(p, ".ts"):
		app, seg, ok := splitStreamPath(strings.TrimSuffix(p, ".ts"))
		i := strings.LastIndexByte(seg, '-')
		if !ok || i <= 0 {
			garbage(http.StatusNotFound)
			return
		}
		n, err := strconv.ParseInt(seg[i+1:], 10, 64)
		if err != nil || n < 0 {
			garbage(http.StatusNotFound)
			return
		}
		m.serveSegment(w, r, app, seg[:i], n)
	default:
		garbage(http.StatusNotFound)
	}
}

// requestBytes estimates what a request carried (its upstream bytes).
func requestBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + 12
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

func (m *srsMedia) serveFLV(w http.ResponseWriter, r *http.Request, app, stream string) {
	lc := &srsLiveClient{kind: liveFLV, app: app, stream: stream, name: stream + ".flv",
		tcURL: "http://" + r.Host + "/" + app, ip: remoteHost(r)}
	if err := m.open(lc, Load{Subscribers: 1}); err != nil {
		http.Error(w, "SRS lab edge: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer m.end(lc)
	m.countIn(lc, requestBytes(r))
	w.Header().Set("Content-Type", "video/x-flv")
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	fw := &flvWriter{bitrate: m.bitrate}
	write := func(b []byte) bool {
		n, err := w.Write(b)
		m.countOut(lc, n)
		return err == nil && rc.Flush() == nil
	}
	if !write(fw.start()) {
		return
	}
	t := time.NewTicker(flvTick)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-m.done:
			return
		case <-t.C:
			if !write(fw.frame()) {
				return
			}
		}
	}
}

func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

// hlsSeq is the number of the segment being "recorded" now.
func hlsSeq(now time.Time) int64 { return now.UnixNano() / int64(HLSFragment) }

func (m *srsMedia) servePlaylist(w http.ResponseWriter, r *http.Request, app, stream string) {
	ctx := r.URL.Query().Get("hls_ctx")
	if ctx == "" || !validName(ctx, false) || len(ctx) > 64 {
		m.mu.Lock()
		m.seq++
		ctx = ident(m.srv.cfg.Name, "hls"+strconv.Itoa(m.seq)+m.srv.now().String(), 8)
		m.mu.Unlock()
		u := url.URL{Path: r.URL.Path, RawQuery: "hls_ctx=" + ctx}
		http.Redirect(w, r, u.String(), http.StatusFound)
		return
	}
	lc := m.touchHLS(ctx)
	if lc == nil {
		lc = &srsLiveClient{kind: liveHLS, app: app, stream: stream, name: stream + ".m3u8",
			tcURL: "http://" + r.Host + "/" + app, ip: remoteHost(r), hlsCtx: ctx, hlsLast: m.srv.now()}
		switch err := m.open(lc, Load{Subscribers: 1, HLS: 1}); {
		case errors.Is(err, errHLSOpen):
			lc = m.touchHLS(ctx) // a concurrent request opened it
		case err != nil:
			http.Error(w, "SRS lab edge: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	m.countIn(lc, requestBytes(r))
	seq := hlsSeq(m.srv.now())
	first := max(seq-HLSWindow, 0)
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:%d\n#EXT-X-TARGETDURATION:%d\n", first, int(HLSFragment/time.Second))
	for n := first; n < seq; n++ {
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s-%d.ts?hls_ctx=%s\n", HLSFragment.Seconds(), stream, n, ctx)
	}
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	w.Header().Set("Cache-Control", "no-cache")
	n, _ := io.WriteString(w, b.String())
	m.countOut(lc, n)
}

// touchHLS returns the HLS session of ctx (nil if none) and marks it
// alive.
func (m *srsMedia) touchHLS(ctx string) *srsLiveClient {
	m.mu.Lock()
	defer m.mu.Unlock()
	lc := m.hls[ctx]
	if lc != nil {
		lc.hlsLast = m.srv.now()
	}
	return lc
}

func (m *srsMedia) serveSegment(w http.ResponseWriter, r *http.Request, app, stream string, n int64) {
	seq := hlsSeq(m.srv.now())
	if n >= seq || n < seq-2*HLSWindow {
		http.Error(w, "segment not in the window", http.StatusNotFound)
		return
	}
	var lc *srsLiveClient
	if ctx := r.URL.Query().Get("hls_ctx"); ctx != "" {
		lc = m.touchHLS(ctx)
	}
	m.countIn(lc, requestBytes(r))
	seg := tsSegment(m.bitrate, n)
	w.Header().Set("Content-Type", "video/mp2t")
	w.Header().Set("Content-Length", strconv.Itoa(len(seg)))
	if r.Method == http.MethodHead {
		return
	}
	k, _ := w.Write(seg)
	m.countOut(lc, k)
	_ = app
}

// srsTimeouts are the client ports' timeouts (tests shorten them).
type srsTimeouts struct{ hls, handshake, idle time.Duration }

func (m *srsMedia) setTimeouts(t srsTimeouts) {
	m.mu.Lock()
	m.timeouts = t
	m.mu.Unlock()
}

func (m *srsMedia) timeoutsNow() srsTimeouts {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.timeouts
}

// reapHLS ends the HLS sessions that stopped fetching.
func (m *srsMedia) reapHLS() {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-t.C:
		}
		now := m.srv.now()
		var expired []*srsLiveClient
		m.mu.Lock()
		for _, lc := range m.hls {
			if now.Sub(lc.hlsLast) > m.timeouts.hls {
				expired = append(expired, lc)
			}
		}
		m.mu.Unlock()
		for _, lc := range expired {
			m.end(lc)
		}
	}
}
