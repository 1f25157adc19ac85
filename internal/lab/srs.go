package lab

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// srsSim answers SRS's http_api with the shapes captured from SRS 3.0.170,
// 4.0.271, 5.0.216 and 6.0.157: envelope fields, id formats, client type
// names and paging rules follow the version.
type srsSim struct {
	name    string
	version string
	major   int
	code    string
	role    string
	auth    [2]string

	serverID string
	vhostID  string
	pid      int
	service  string
	restarts int

	clock     float64 // seconds since the simulated process started
	cpuTicks  float64
	sendBytes float64
	recvBytes float64
	vhostSeen bool
	loadKey   Load
	streams   []*srsStream
	clients   []*srsClient
	byID      map[string]*srsCounters // counters survive load changes
	vhostSend float64
	vhostRecv float64

	// media holds the live sessions on the node's client ports (nil
	// without client ports): they are listed after the background's
	// streams and clients, with their real types, names and bytes.
	media *srsMedia
	// nStreams and nClients are how many of streams and clients the
	// background laid out (the live ones follow).
	nStreams, nClients int
}

type srsCounters struct {
	send, recv, frames float64
	born               float64
}

type srsStream struct {
	id, name string
	// app, url and tcURL are set for live streams ("" means the
	// background's live, /live/<name>, rtmp://127.0.0.1:1935/live).
	app, url, tcURL string
	active          bool
	cid             string
	clients         int
	c               *srsCounters
	players         int
}

type srsClient struct {
	id      string
	stream  *srsStream
	typ     string
	publish bool
	c       *srsCounters
	// name, tcURL and ip are set for live clients.
	name, tcURL, ip string
}

var srsCodes = map[int]string{3: "OuXuli", 4: "Leo", 5: "Bee", 6: "Hang", 7: "Kai"}

func newSRS(cfg Config) (*srsSim, error) {
	v := cfg.SRSVersion
	if v == "" {
		v = "6.0.157"
	}
	major, err := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	if err != nil || major < 3 || major > 7 {
		return nil, fmt.Errorf("lab: SRS version %q: want 3.x to 7.x", v)
	}
	role := cfg.SRSRole
	switch role {
	case "":
		role = "origin"
	case "origin", "edge":
	default:
		return nil, fmt.Errorf("lab: SRS role %q: want origin or edge", role)
	}
	s := &srsSim{name: cfg.Name, version: v, major: major, code: srsCodes[major], role: role, auth: [2]string{cfg.APIKey, cfg.APISecret}}
	s.pid = 20000 + int(ident(cfg.Name, "pid", 3)[0])*37%9000
	if major == 3 {
		s.serverID = fmt.Sprintf("vid-%d-%d", s.pid, 900+s.pid%99)
	} else {
		s.serverID = "vid-" + ident(cfg.Name, "server", 7)
	}
	s.reset()
	return s, nil
}

func (s *srsSim) reset() {
	s.service = ident(s.name, "service"+strconv.Itoa(s.restarts), 8)
	s.restarts++
	s.clock, s.cpuTicks, s.sendBytes, s.recvBytes, s.vhostSend, s.vhostRecv = 0, 0, 0, 0, 0, 0
	s.byID = map[string]*srsCounters{}
	s.streams, s.clients = nil, nil
	s.vhostSeen = false
	s.loadKey = Load{Streams: -1} // force a rebuild
	s.nStreams, s.nClients = 0, 0
	if s.media != nil {
		s.media.restarted()
	}
	if s.major == 3 {
		s.vhostID = fmt.Sprintf("vid-%d-%d", s.pid, s.restarts)
	} else {
		s.vhostID = "vid-" + ident(s.name, "vhost"+s.service, 7)
	}
}

func (s *srsSim) id(kind string, i int) string {
	if s.major == 3 {
		if kind == "c" {
			return strconv.Itoa(400 + i) // SRS 3.0.157+: decimal strings
		}
		return fmt.Sprintf("vid-%d-%d", s.pid, 1000+i)
	}
	if kind == "c" {
		return ident(s.name+s.service, kind+strconv.Itoa(i), 8)
	}
	return "vid-" + ident(s.name+s.service, kind+strconv.Itoa(i), 7)
}

func (s *srsSim) counters(id string) *srsCounters {
	c := s.byID[id]
	if c == nil {
		c = &srsCounters{born: s.clock}
		s.byID[id] = c
	}
	return c
}

// playTypes are the player types a version reports, cycled over players.
func (s *srsSim) playTypes() []string {
	switch s.major {
	case 3:
		return []string{"Play"}
	case 4:
		return []string{"rtmp-play"}
	}
	return []string{"rtmp-play", "flv-play", "hls-play"}
}

// rebuild lays out streams and clients for a load: Streams entries (at
// least Publishers), the first Publishers with a publisher, Subscribers
// players spread over the publishing streams (or all streams).
func (s *srsSim) rebuild(l Load) {
	nStreams := max(l.Streams, l.Publishers)
	s.streams = s.streams[:0]
	s.clients = s.clients[:0]
	for i := 0; i < nStreams; i++ {
		st := &srsStream{id: s.id("s", i), name: "s" + strconv.Itoa(i+1), active: i < l.Publishers}
		if i == 0 {
			st.name = "livestream"
		}
		st.c = s.counters(st.id)
		s.streams = append(s.streams, st)
	}
	if nStreams > 0 {
		s.vhostSeen = true
	}
	pubs := 0
	if s.role == "origin" {
		for i := 0; i < l.Publishers; i++ {
			st := s.streams[i]
			cl := &srsClient{id: s.id("c", i), stream: st, typ: "fmle-publish", publish: true}
			cl.c = s.counters(cl.id)
			st.cid = cl.id
			st.clients++
			s.clients = append(s.clients, cl)
			pubs++
		}
	}
	targets := l.Publishers
	if targets == 0 {
		targets = nStreams
	}
	types := s.playTypes()
	for j := 0; j < l.Subscribers && targets > 0; j++ {
		st := s.streams[j%targets]
		cl := &srsClient{id: s.id("c", pubs+j), stream: st, typ: types[j%len(types)]}
		cl.c = s.counters(cl.id)
		if st.cid == "" && s.role == "edge" && st.active {
			st.cid = cl.id // an edge's publish.cid is the player that triggered the pull
		}
		st.clients++
		st.players++
		s.clients = append(s.clients, cl)
	}
	s.loadKey = l
	s.nStreams, s.nClients = len(s.streams), len(s.clients)
}

func (s *srsSim) advance(l Load, dt float64) {
	l = s.background(l)
	if s.structure(l) != s.structure(s.loadKey) {
		s.rebuild(l)
	}
	s.loadKey = l
	s.clock += dt
	s.cpuTicks += l.CPU * dt * 100
	out := l.BandwidthOutMbps * 125000 * dt
	in := l.BandwidthInMbps * 125000 * dt
	// Only the background's clients share its bandwidth: live clients
	// count their real bytes.
	clients := s.clients[:s.nClients]
	players := len(clients)
	pubs := 0
	for _, c := range clients {
		if c.publish {
			pubs++
		}
	}
	players -= pubs
	for _, c := range clients {
		switch {
		case c.publish:
			c.c.recv += in / float64(pubs)
			c.stream.c.recv += in / float64(pubs)
		case players > 0:
			c.c.send += out / float64(players)
			c.c.recv += 0.001 * out / float64(players) // acks
			c.stream.c.send += out / float64(players)
		}
	}
	if s.role == "edge" && players > 0 {
		// An edge does not count its ingest from the origin.
		in = 0.001 * out
	}
	if s.role == "origin" {
		for _, st := range s.streams[:s.nStreams] {
			if st.active {
				st.c.frames += 25 * dt
			}
		}
	}
	s.sendBytes += out
	s.recvBytes += in
	s.vhostSend += out
	s.vhostRecv += in
}

// structure is the part of a load that changes the stream/client layout.
func (s *srsSim) structure(l Load) [3]int {
	return [3]int{l.Publishers, l.Subscribers, l.Streams}
}

func (s *srsSim) serve(w http.ResponseWriter, r *http.Request, l Load, uptime time.Duration) {
	l = s.background(l)
	if s.structure(l) != s.structure(s.loadKey) {
		s.rebuild(l)
	}
	s.layoutLive()
	w.Header().Set("Server", "SRS/"+s.version+"("+s.code+")")
	w.Header().Set("Connection", "Close")
	if s.auth[0] != "" && strings.Contains(r.URL.Path, "/api/") {
		if u, p, ok := r.BasicAuth(); !ok || u != s.auth[0] || p != s.auth[1] {
			w.Header().Set("WWW-Authenticate", "Basic")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = w.Write([]byte("Method Not Allowed"))
		return
	}
	q := r.URL.Query()
	b := make([]byte, 0, 512)
	switch r.URL.Path {
	case "/api/v1/versions":
		b = s.envelope(b)
		b = fmt.Appendf(b, `,"data":{"major":%d,"minor":%s,"revision":%s,"version":%q}}`, s.major, part(s.version, 1), part(s.version, 2), s.version)
	case "/api/v1/summaries":
		b = s.summaries(s.envelope(b), l)
	case "/api/v1/features":
		// SRS prints the build time in local time; the lab's is fixed.
		b = s.envelope(b)
		b = append(b, `,"data":{"options":"","options2":"","build":"2026-11-21 19:04:43","build2":"1795287883","features":{"api":true,"stat":true,"hls":true,"httpd":true}}}`...)
	case "/api/v1/self_proc_stats":
		b = s.procStats(s.envelope(b), l)
	case "/api/v1/vhosts/":
		b = s.envelope(b)
		b = append(b, `,"vhosts":[`...)
		if s.vhostSeen {
			b = s.vhost(b)
		}
		b = append(b, "]}"...)
	case "/api/v1/streams/":
		start, count := paging(q)
		if s.major == 3 {
			start, count = 0, len(s.streams) // SRS 3 does not page streams
		}
		b = s.envelope(b)
		b = append(b, `,"streams":[`...)
		for i := start; i < min(start+count, len(s.streams)); i++ {
			if i > start {
				b = append(b, ',')
			}
			b = s.stream(b, s.streams[i])
		}
		b = append(b, "]}"...)
	case "/api/v1/clients/":
		start, count := paging(q)
		b = make([]byte, 0, 64+400*min(count, len(s.clients)))
		b = s.envelope(b)
		b = append(b, `,"clients":[`...)
		for i := start; i < min(start+count, len(s.clients)); i++ {
			if i > start {
				b = append(b, ',')
			}
			b = s.client(b, s.clients[i])
		}
		b = append(b, "]}"...)
	case "/api/v1/vhosts", "/api/v1/streams", "/api/v1/clients":
		loc := r.URL.Path + "/"
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", loc)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusFound)
		_, _ = w.Write([]byte("Redirect to " + loc))
		return
	default:
		// SRS's mux matches prefixes: an unknown path gets an index.
		b = s.envelope(b)
		b = append(b, `,"urls":{"api":"the api root"}}`...)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
	_ = uptime
}

// paging applies SRS's rules: start ≥ 0, count ≥ 10, default 10.
func paging(q map[string][]string) (start, count int) {
	get := func(k string) int {
		if v, ok := q[k]; ok && len(v) > 0 {
			n, _ := strconv.Atoi(v[0])
			return n
		}
		return 0
	}
	return max(get("start"), 0), max(get("count"), 10)
}

func part(version string, i int) string {
	p := strings.Split(version, ".")
	if i < len(p) {
		return p[i]
	}
	return "0"
}

func (s *srsSim) envelope(b []byte) []byte {
	b = append(b, `{"code":0,"server":`...)
	b = strconv.AppendQuote(b, s.serverID)
	if s.major >= 5 {
		b = append(b, `,"service":`...)
		b = strconv.AppendQuote(b, s.service)
		b = append(b, `,"pid":`...)
		b = strconv.AppendQuote(b, strconv.Itoa(s.pid))
	}
	return b
}

func f2(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'f', 2, 64) }
func i64(b []byte, v float64) []byte {
	return strconv.AppendInt(b, int64(math.Floor(v)), 10)
}

const srsHostMemKB = 24684096

func (s *srsSim) summaries(b []byte, l Load) []byte {
	cpu := math.Min(l.CPU, 8)
	memKB := 14000 + float64(len(s.clients))*2 + float64(len(s.streams))*20
	now := 1795288528210 + s.clock*1000
	b = append(b, `,"data":{"ok":true,"now_ms":`...)
	b = i64(b, now)
	b = fmt.Appendf(b, `,"self":{"version":%q,"pid":%d,"ppid":1,"argv":"/usr/local/srs/objs/srs -c conf/%s.conf","cwd":"/usr/local/srs","mem_kbyte":`, s.version, s.pid, s.role)
	b = i64(b, memKB)
	b = append(b, `,"mem_percent":`...)
	b = f2(b, memKB/srsHostMemKB)
	b = append(b, `,"cpu_percent":`...)
	b = f2(b, cpu)
	b = append(b, `,"srs_uptime":`...)
	b = i64(b, s.clock)
	b = append(b, `},"system":{"cpu_percent":`...)
	b = f2(b, math.Min(1, cpu/2+0.01))
	b = append(b, `,"disk_read_KBps":0,"disk_write_KBps":0,"disk_busy_percent":0.00,"mem_ram_kbyte":`...)
	b = strconv.AppendInt(b, srsHostMemKB, 10)
	b = append(b, `,"mem_ram_percent":`...)
	b = f2(b, 0.05+memKB/srsHostMemKB)
	b = append(b, `,"mem_swap_kbyte":0,"mem_swap_percent":0.00,"cpus":2,"cpus_online":2,"uptime":`...)
	b = f2(b, 1000+s.clock)
	b = append(b, `,"ilde_time":`...)
	b = f2(b, 500+s.clock*(2-cpu))
	b = append(b, `,"load_1m":`...)
	b = f2(b, cpu*2)
	b = append(b, `,"load_5m":`...)
	b = f2(b, cpu*1.8)
	b = append(b, `,"load_15m":`...)
	b = f2(b, cpu*1.5)
	b = append(b, `,"net_sample_time":`...)
	b = i64(b, now)
	liveIn, liveOut := s.liveBytes()
	b = append(b, `,"net_recv_bytes":0,"net_send_bytes":0,"net_recvi_bytes":`...)
	b = i64(b, s.recvBytes+liveIn)
	b = append(b, `,"net_sendi_bytes":`...)
	b = i64(b, s.sendBytes+liveOut)
	b = append(b, `,"srs_sample_time":`...)
	b = i64(b, now)
	b = append(b, `,"srs_recv_bytes":`...)
	b = i64(b, s.recvBytes+liveIn)
	b = append(b, `,"srs_send_bytes":`...)
	b = i64(b, s.sendBytes+liveOut)
	b = append(b, `,"conn_sys":`...)
	b = strconv.AppendInt(b, int64(len(s.clients)+40), 10)
	b = append(b, `,"conn_sys_et":`...)
	b = strconv.AppendInt(b, int64(len(s.clients)+10), 10)
	b = append(b, `,"conn_sys_tw":30,"conn_sys_udp":0,"conn_srs":`...)
	b = strconv.AppendInt(b, int64(len(s.clients)), 10)
	return append(b, "}}}"...)
}

func (s *srsSim) procStats(b []byte, l Load) []byte {
	rss := 3500 + len(s.clients)/2 + len(s.streams)*5
	b = append(b, `,"data":{"ok":true,"sample_time":`...)
	b = i64(b, 1795288528000+s.clock*1000)
	b = append(b, `,"percent":`...)
	b = f2(b, math.Min(l.CPU, 8))
	b = fmt.Appendf(b, `,"pid":%d,"comm":"(srs)","state":"R","ppid":1,"pgrp":%d,"session":%d,"tty_nr":0,"tpgid":-1,"flags":4194304,"minflt":2215,"cminflt":0,"majflt":1,"cmajflt":0,"utime":`, s.pid, s.pid, s.pid)
	b = i64(b, s.cpuTicks*0.6)
	b = append(b, `,"stime":`...)
	b = i64(b, s.cpuTicks*0.4)
	b = fmt.Appendf(b, `,"cutime":0,"cstime":0,"priority":20,"nice":0,"num_threads":1,"itrealvalue":0,"starttime":86128,"vsize":%d,"rss":%d,"rsslim":-1,"startcode":94232446083072,"endcode":94232448178937,"startstack":140721432784320,"kstkesp":0,"kstkeip":0,"signal":0,"blocked":0,"sigignore":4096,"sigcatch":16935,"wchan":0,"nswap":0,"cnswap":0,"exit_signal":17,"processor":1,"rt_priority":0,"policy":0,"delayacct_blkio_ticks":0,"guest_time":0,"cguest_time":0}}`, rss*8192, rss)
	return b
}

func (s *srsSim) vhost(b []byte) []byte {
	pub := 0
	for _, st := range s.streams {
		if st.active {
			pub++
		}
	}
	b = append(b, `{"id":`...)
	b = strconv.AppendQuote(b, s.vhostID)
	b = append(b, `,"name":"__defaultVhost__","enabled":true,"clients":`...)
	b = strconv.AppendInt(b, int64(len(s.clients)), 10)
	b = append(b, `,"streams":`...)
	b = strconv.AppendInt(b, int64(pub), 10)
	liveIn, liveOut := s.liveBytes()
	b = append(b, `,"send_bytes":`...)
	b = i64(b, s.vhostSend+liveOut)
	b = append(b, `,"recv_bytes":`...)
	b = i64(b, s.vhostRecv+liveIn)
	if s.role == "edge" {
		// The captured edges serve no HLS of their own.
		return append(b, `,"kbps":{"recv_30s":0,"send_30s":0},"hls":{"enabled":false}}`...)
	}
	return append(b, `,"kbps":{"recv_30s":0,"send_30s":0},"hls":{"enabled":true,"fragment":2.00}}`...)
}

func (s *srsSim) stream(b []byte, st *srsStream) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendQuote(b, st.id)
	b = append(b, `,"name":`...)
	b = strconv.AppendQuote(b, st.name)
	b = append(b, `,"vhost":`...)
	b = strconv.AppendQuote(b, s.vhostID)
	app, url, tcURL := st.app, st.url, st.tcURL
	if st.url == "" {
		app, url, tcURL = "live", "/live/"+st.name, "rtmp://127.0.0.1:1935/live"
	}
	b = append(b, `,"app":`...)
	b = strconv.AppendQuote(b, app)
	if s.major >= 5 {
		b = append(b, `,"tcUrl":`...)
		b = strconv.AppendQuote(b, tcURL)
		b = append(b, `,"url":`...)
		b = strconv.AppendQuote(b, url)
	}
	b = append(b, `,"live_ms":`...)
	b = i64(b, 1795288528403+s.clock*1000)
	b = append(b, `,"clients":`...)
	b = strconv.AppendInt(b, int64(st.clients), 10)
	b = append(b, `,"frames":`...)
	b = i64(b, st.c.frames)
	b = append(b, `,"send_bytes":`...)
	b = i64(b, st.c.send)
	b = append(b, `,"recv_bytes":`...)
	b = i64(b, st.c.recv)
	b = append(b, `,"kbps":{"recv_30s":0,"send_30s":0},"publish":{"active":`...)
	b = strconv.AppendBool(b, st.active)
	if st.cid != "" || s.major <= 4 {
		b = append(b, `,"cid":`...)
		b = strconv.AppendQuote(b, st.cid)
	}
	b = append(b, '}')
	if st.active {
		b = append(b, `,"video":{"codec":"H264","profile":"High","level":"1.3","width":320,"height":240},"audio":{"codec":"AAC","sample_rate":44100,"channel":2,"profile":"LC"}}`...)
	} else {
		b = append(b, `,"video":null,"audio":null}`...)
	}
	return b
}

func (s *srsSim) client(b []byte, c *srsClient) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendQuote(b, c.id)
	b = append(b, `,"vhost":`...)
	b = strconv.AppendQuote(b, s.vhostID)
	b = append(b, `,"stream":`...)
	b = strconv.AppendQuote(b, c.stream.id)
	ip, tcURL, url, name := c.ip, c.tcURL, c.stream.url, c.name
	if c.name == "" {
		ip, tcURL, url, name = "127.0.0.1", "rtmp://127.0.0.1:1935/live", "/live/"+c.stream.name, c.stream.name
		switch c.typ {
		case "flv-play":
			name += ".flv"
		case "hls-play":
			name += ".m3u8"
		}
	}
	b = append(b, `,"ip":`...)
	b = strconv.AppendQuote(b, ip)
	b = append(b, `,"pageUrl":"","swfUrl":"","tcUrl":`...)
	b = strconv.AppendQuote(b, tcURL)
	b = append(b, `,"url":`...)
	b = strconv.AppendQuote(b, url)
	if s.major >= 5 {
		b = append(b, `,"name":`...)
		b = strconv.AppendQuote(b, name)
	}
	b = append(b, `,"type":"`...)
	b = append(b, c.typ...)
	b = append(b, `","publish":`...)
	b = strconv.AppendBool(b, c.publish)
	b = append(b, `,"alive":`...)
	b = f2(b, s.clock-c.c.born)
	if s.major >= 5 {
		b = append(b, `,"send_bytes":`...)
		b = i64(b, c.c.send)
		b = append(b, `,"recv_bytes":`...)
		b = i64(b, c.c.recv)
	}
	if s.major >= 4 {
		b = append(b, `,"kbps":{"recv_30s":0,"send_30s":0}`...)
	}
	return append(b, '}')
}
