package srs

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/srsapi"
	"github.com/lbpilot/lbpilot/internal/upstream"
)

// Collector scrapes one SRS.
type Collector struct {
	opts Options
	api  *srsapi.API

	// Names and meanings of SRS's built-in exporter (5.0.67+).
	buildInfo, sendBytes, recvBytes, streams, clients *prometheus.Desc
	// Conforming replacements of srs_cpu_percent and srs_memory, and
	// what the built-in one lacks.
	cpu, cpuSeconds, memory, memoryPeak, uptime                   *prometheus.Desc
	hostCPU, hostLoad1, hostLoad5, hostLoad15, hostCPUs           *prometheus.Desc
	hostMemory, hostMemoryUsed                                    *prometheus.Desc
	vhostClients, vhostPublishing, vhostSendBytes, vhostRecvBytes *prometheus.Desc
	publishers, players                                           *prometheus.Desc
	// Per stream (stream_metrics).
	streamClients, streamPublishing, streamSend, streamRecv, streamFrames, streamCodec, streamDropped *prometheus.Desc
	streamPlayers, streamPublisherAlive                                                               *prometheus.Desc

	anomalies *collectors.Anomalies
	now       func() time.Time
}

var _ collectors.Collector = (*Collector)(nil)

// New builds a collector for one SRS target. The node's role (origin,
// edge) cannot be read from SRS; give it as a target label.
func New(opts Options, t collectors.Target, logger collectors.Logger) (*Collector, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := CheckURL(t.URL); err != nil {
		return nil, err
	}
	c := &Collector{opts: opts, api: &srsapi.API{
		HTTP:        opts.Client(),
		BaseURL:     t.URL,
		PageSize:    opts.PageSize,
		SkipClients: !*opts.Clients,
		ClientAlive: opts.StreamMetrics && *opts.Clients,
	}, anomalies: collectors.NewAnomalies("srs", t, logger), now: time.Now}
	auth, err := opts.BasicAuth()
	if err != nil {
		return nil, err
	}
	c.api.Auth = auth
	cl := t.Labels
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, cl)
	}
	c.buildInfo = d("srs_build_info", "SRS version, release code name, build date, server id, service (new on every start) and pid, as labels; the value is 1. Same name as SRS's built-in exporter.", "version", "major", "code", "build_date", "server", "service", "pid")
	c.sendBytes = d("srs_send_bytes_total", "Bytes SRS sent to clients since it started (summaries srs_send_bytes, updated every 3 s).")
	c.recvBytes = d("srs_receive_bytes_total", "Bytes SRS received from clients since it started (summaries srs_recv_bytes, updated every 3 s).")
	c.streams = d("srs_streams", "Stream entries, including ones without a publisher that still have clients (length of /api/v1/streams/).")
	c.clients = d("srs_clients", "Clients: publishers, players, edge pulls and HLS sessions (length of the client list; without it, summaries conn_srs on SRS 5+).")
	c.cpu = d("srs_cpu_ratio", "CPU used by the SRS process as a ratio of one core, two decimals (summaries self.cpu_percent; the built-in srs_cpu_percent is this × 100).")
	c.cpuSeconds = d("srs_process_cpu_seconds_total", "User and system CPU time of the SRS process (self_proc_stats utime + stime, in 1/100 s ticks).")
	c.memory = d("srs_memory_bytes", "Resident memory of the SRS process (self_proc_stats rss × 4096; the built-in srs_memory is this in KiB).")
	c.memoryPeak = d("srs_memory_peak_bytes", "Peak resident memory of the SRS process (summaries self.mem_kbyte, ru_maxrss).")
	c.uptime = d("srs_uptime_seconds", "Seconds since the SRS process started (summaries self.srs_uptime); a drop means a restart, as does a new service label on srs_build_info.")
	c.hostCPU = d("srs_host_cpu_ratio", "CPU used on the SRS host, 0..1 (summaries system.cpu_percent).")
	c.hostLoad1 = d("srs_host_load1", "1-minute load average of the SRS host (summaries system.load_1m).")
	c.hostLoad5 = d("srs_host_load5", "5-minute load average of the SRS host (summaries system.load_5m).")
	c.hostLoad15 = d("srs_host_load15", "15-minute load average of the SRS host (summaries system.load_15m).")
	c.hostCPUs = d("srs_host_cpus", "Online CPUs of the SRS host (summaries system.cpus_online).")
	c.hostMemory = d("srs_host_memory_bytes", "Physical memory of the SRS host (summaries system.mem_ram_kbyte).")
	c.hostMemoryUsed = d("srs_host_memory_used_ratio", "Memory in use on the SRS host without buffers and cache, 0..1 (summaries system.mem_ram_percent).")
	c.vhostClients = d("srs_vhost_clients", "Clients of a vhost (vhosts clients).", "vhost")
	c.vhostPublishing = d("srs_vhost_publishing_streams", "Streams of a vhost with an active publisher (vhosts streams).", "vhost")
	c.vhostSendBytes = d("srs_vhost_send_bytes_total", "Bytes a vhost sent to clients since SRS started (vhosts send_bytes).", "vhost")
	c.vhostRecvBytes = d("srs_vhost_receive_bytes_total", "Bytes a vhost received from clients since SRS started (vhosts recv_bytes).", "vhost")
	c.publishers = d("srs_publishers", "Publishing clients by vhost, SRS client type and protocol (an origin's incoming forward is a flash-publish).", "vhost", "type", "protocol")
	c.players = d("srs_players", "Playing clients by vhost, SRS client type and protocol (an edge's pull shows on its origin as an rtmp player; SRS 3 and 4 report FLV and HLS players as rtmp).", "vhost", "type", "protocol")
	if opts.StreamMetrics {
		s := []string{"vhost", "app", "stream"}
		c.streamClients = d("srs_stream_clients", "Clients of a stream, its publisher and an edge's pull included (streams clients).", s...)
		c.streamPublishing = d("srs_stream_publishing", "Whether the stream has an active publisher, 1 or 0; on an edge, an active ingest (streams publish.active).", s...)
		c.streamSend = d("srs_stream_send_bytes_total", "Bytes a stream sent to its clients (streams send_bytes); restarts from 0 when SRS recreates the stream.", s...)
		c.streamRecv = d("srs_stream_receive_bytes_total", "Bytes a stream received from its clients (streams recv_bytes); an edge's ingest from its origin is not counted.", s...)
		c.streamFrames = d("srs_stream_video_frames_total", "Video frames received from an RTMP publisher (streams frames); stays 0 on edges and for SRT/WebRTC publishers.", s...)
		c.streamCodec = d("srs_stream_codec_info", "Codecs of a stream as labels (empty when the track is absent); the value is 1.", append(s, "video_codec", "video_profile", "video_level", "width", "height", "audio_codec", "audio_profile", "sample_rate", "channels")...)
		c.streamDropped = d("srs_stream_series_dropped", "Streams left out of this scrape's per-stream series by the max_streams cap (or as duplicates).")
		if *opts.Clients {
			c.streamPlayers = d("srs_stream_players", "Playing clients of a stream by SRS client type and protocol: its audience, without the publisher (an edge's pull shows on its origin as an rtmp player; SRS 3 and 4 report FLV and HLS players as rtmp).", append(s, "type", "protocol")...)
			c.streamPublisherAlive = d("srs_stream_publisher_alive_seconds", "How long the stream's publisher has been connected (alive of the client whose id is publish.cid; on an edge, the player whose arrival started the pull).", s...)
		}
	}
	return c, nil
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.buildInfo, c.sendBytes, c.recvBytes, c.streams, c.clients,
		c.cpu, c.cpuSeconds, c.memory, c.memoryPeak, c.uptime,
		c.hostCPU, c.hostLoad1, c.hostLoad5, c.hostLoad15, c.hostCPUs, c.hostMemory, c.hostMemoryUsed,
		c.vhostClients, c.vhostPublishing, c.vhostSendBytes, c.vhostRecvBytes, c.publishers, c.players,
		c.streamClients, c.streamPublishing, c.streamSend, c.streamRecv, c.streamFrames, c.streamCodec, c.streamDropped,
		c.streamPlayers, c.streamPublisherAlive,
	} {
		if d != nil {
			ch <- d
		}
	}
	c.anomalies.Describe(ch)
}

// Update reads the http_api and sends the metrics; a failed reading sends
// nothing.
func (c *Collector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	st, err := c.api.Fetch(ctx)
	if err != nil {
		c.anomalies.Collect(ch)
		return err
	}
	c.send(st, ch)
	c.anomalies.Collect(ch)
	return nil
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, lv ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
}

// Reasons this collector counts in lbpilot_upstream_anomalies_total
// (besides CounterCheck's).
const (
	// A vhost whose name an earlier vhost of the list has (another id).
	reasonDuplicateVhost = "duplicate_vhost"
	// A stream whose vhost/app/stream labels an earlier one has.
	reasonDuplicateStream = "duplicate_stream"
)

// counters sends one scrape's counters through the target's
// CounterCheck: SRS 3 garbles its byte accounting with HTTP-FLV players
// (ossrs/srs#1751; edges leap by ~10^14 bytes and go back), and a value
// going backwards or leaping would read as a reset or as terabits per
// second. Such values are left out of the scrape and counted.
type counters struct {
	ch    chan<- prometheus.Metric
	check *collectors.CounterScrape
}

// bytes sends a byte counter; object is the SRS object behind the series
// when it can be recreated under the same labels (a stream's id).
func (k counters) bytes(d *prometheus.Desc, name, object string, v float64, lv ...string) {
	if k.check.Bytes(seriesKey(name, lv), object, v) {
		k.ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, lv...)
	}
}

// count sends a counter of something else (frames).
func (k counters) count(d *prometheus.Desc, name, object string, v float64, lv ...string) {
	if k.check.Count(seriesKey(name, lv), object, v) {
		k.ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, lv...)
	}
}

func seriesKey(name string, lv []string) string {
	return name + "{" + strings.Join(lv, ",") + "}"
}

func (c *Collector) send(st *srsapi.Stats, ch chan<- prometheus.Metric) {
	sum, sys := &st.Summaries, &st.Summaries.System
	version := st.Versions.Version
	if version == "" {
		version = upstream.ValidUTF8(sum.Self.Version)
	}
	at := c.now()
	if sum.NowMS > 0 {
		at = time.UnixMilli(int64(sum.NowMS)) // SRS's clock brackets its counters
	}
	epoch := string(st.Envelope.Server) + "/" + st.Envelope.Service + "/" + string(st.Envelope.PID)
	k := counters{ch: ch, check: c.anomalies.CounterScrape(epoch, sum.Self.Uptime, at)}
	defer k.check.Done()
	gauge(ch, c.buildInfo, 1, version, strconv.Itoa(st.Versions.Major), st.Code, st.BuildDate, string(st.Envelope.Server), st.Envelope.Service, string(st.Envelope.PID))
	k.bytes(c.sendBytes, "send", "", sys.SRSSendBytes)
	k.bytes(c.recvBytes, "recv", "", sys.SRSRecvBytes)
	gauge(ch, c.streams, float64(len(st.Streams)))
	if n, ok := st.ClientCount(); ok {
		gauge(ch, c.clients, n)
	}
	gauge(ch, c.cpu, sum.Self.CPUPercent)
	gauge(ch, c.memoryPeak, sum.Self.MemKByte*1024)
	gauge(ch, c.uptime, sum.Self.Uptime)
	if st.Proc != nil {
		k.count(c.cpuSeconds, "cpu", "", (st.Proc.UTime+st.Proc.STime)/srsapi.UserHZ)
		gauge(ch, c.memory, st.Proc.RSS*srsapi.PageBytes)
	}
	gauge(ch, c.hostCPU, sys.CPUPercent)
	gauge(ch, c.hostLoad1, sys.Load1m)
	gauge(ch, c.hostLoad5, sys.Load5m)
	gauge(ch, c.hostLoad15, sys.Load15m)
	gauge(ch, c.hostCPUs, sys.CPUsOnline)
	gauge(ch, c.hostMemory, sys.MemRAMKByte*1024)
	gauge(ch, c.hostMemoryUsed, sys.MemRAMPercent)

	names := st.VhostNames()
	seenVhost := map[string]bool{}
	var dupVhosts []string
	for _, v := range st.Vhosts {
		if seenVhost[v.Name] {
			dupVhosts = append(dupVhosts, v.Name) // two ids with one name cannot be two series
			continue
		}
		seenVhost[v.Name] = true
		gauge(ch, c.vhostClients, v.Clients, v.Name)
		gauge(ch, c.vhostPublishing, v.Streams, v.Name)
		k.bytes(c.vhostSendBytes, "vhost_send", "", v.SendBytes, v.Name)
		k.bytes(c.vhostRecvBytes, "vhost_recv", "", v.RecvBytes, v.Name)
	}
	if len(dupVhosts) > 0 {
		c.anomalies.Add(reasonDuplicateVhost, len(dupVhosts), "first_vhost", dupVhosts[0])
	}
	if st.ClientCounts != nil {
		c.sendClientTypes(st, names, ch)
	}
	if c.streamClients != nil {
		c.sendStreams(st, names, k)
	}
}

// sendClientTypes counts clients per vhost and type. Every type the SRS
// version knows gets a series on every vhost, zero when none is
// connected, so dashboards do not see series come and go.
func (c *Collector) sendClientTypes(st *srsapi.Stats, names map[srsapi.ID]string, ch chan<- prometheus.Metric) {
	type key struct{ vhost, typ string }
	counts := map[key]float64{}
	pub := map[key]bool{}
	for _, v := range st.Vhosts {
		for _, t := range srsapi.ClientTypesForMajor(st.Versions.Major) {
			k := key{v.Name, t}
			counts[k] += 0
			pub[k] = strings.HasSuffix(t, "-publish")
		}
	}
	for ck, n := range st.ClientCounts {
		vh, ok := names[ck.Vhost]
		if !ok {
			vh = srsapi.UnknownVhost
		}
		k := key{vh, ck.Type}
		counts[k] += float64(n)
		if !srsapi.KnownClientType(ck.Type) && (ck.Publish || counts[k] == float64(n)) {
			// An unknown type's direction follows its publish flag; if
			// clients of one unknown type disagree, publish wins.
			pub[k] = ck.Publish
		}
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].vhost != keys[j].vhost {
			return keys[i].vhost < keys[j].vhost
		}
		return keys[i].typ < keys[j].typ
	})
	for _, k := range keys {
		dir, proto := srsapi.ClientProtocol(k.typ, pub[k])
		d := c.players
		if dir == "publish" {
			d = c.publishers
		}
		gauge(ch, d, counts[k], k.vhost, k.typ, proto)
	}
}

// sendStreams sends the per-stream series of at most max_streams streams,
// those with most clients first (ties by labels, so the choice is stable).
func (c *Collector) sendStreams(st *srsapi.Stats, names map[srsapi.ID]string, k counters) {
	ch := k.ch
	players := c.streamPlayerCounts(st)
	type entry struct {
		s     *srsapi.Stream
		label [3]string
	}
	list := make([]entry, 0, len(st.Streams))
	for i := range st.Streams {
		v, a, s := srsapi.StreamKey(&st.Streams[i], names)
		list = append(list, entry{&st.Streams[i], [3]string{v, a, s}})
	}
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].s.Clients != list[j].s.Clients {
			return list[i].s.Clients > list[j].s.Clients
		}
		return strings.Join(list[i].label[:], "\x00") < strings.Join(list[j].label[:], "\x00")
	})
	seen := map[[3]string]bool{}
	sent, dropped, dups := 0, 0, 0
	var firstDup entry
	for _, e := range list {
		if seen[e.label] {
			// Two SRS entries with one vhost/app/stream (a name with and
			// without a player's extension): the one with most clients
			// was kept.
			if dups == 0 {
				firstDup = e
			}
			dups++
			dropped++
			continue
		}
		if sent >= c.opts.MaxStreams {
			dropped++
			continue
		}
		seen[e.label] = true
		sent++
		lv := e.label[:]
		s := e.s
		gauge(ch, c.streamClients, s.Clients, lv...)
		gauge(ch, c.streamPublishing, b2f(s.Publish.Active), lv...)
		k.bytes(c.streamSend, "stream_send", string(s.ID), s.SendBytes, lv...)
		k.bytes(c.streamRecv, "stream_recv", string(s.ID), s.RecvBytes, lv...)
		k.count(c.streamFrames, "stream_frames", string(s.ID), s.Frames, lv...)
		if players != nil {
			for _, p := range players.forStream(s.ID) {
				gauge(ch, c.streamPlayers, float64(p.n), append(append(make([]string, 0, 5), lv...), p.typ, p.protocol)...)
			}
			if alive, ok := st.PublisherAlive(s); ok {
				gauge(ch, c.streamPublisherAlive, alive, lv...)
			}
		}
		if s.Video != nil || s.Audio != nil {
			var codec [9]string
			if v := s.Video; v != nil {
				codec[0], codec[1], codec[2], codec[3], codec[4] = v.Codec, v.Profile, v.Level, num(v.Width), num(v.Height)
			}
			if a := s.Audio; a != nil {
				codec[5], codec[6], codec[7], codec[8] = a.Codec, a.Profile, num(a.SampleRate), num(a.Channel)
			}
			gauge(ch, c.streamCodec, 1, append(append([]string(nil), lv...), codec[:]...)...)
		}
	}
	gauge(ch, c.streamDropped, float64(dropped))
	if dups > 0 {
		c.anomalies.Add(reasonDuplicateStream, dups, "first_stream", strings.Join(firstDup.label[:], "/"), "name", firstDup.s.Name, "clients", firstDup.s.Clients)
	}
}

// num formats a codec number; 0 is a field SRS did not send (older SRS
// leave out width and height; no track has 0 pixels, 0 Hz or 0 channels)
// and gives an empty label, as for an absent track.
func num(v float64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// streamPlayers indexes the client counts by stream, players only.
type streamPlayers struct {
	byStream map[srsapi.ID]map[string]int
	types    []string // the SRS version's player types, each a series even at 0
}

type playerCount struct {
	typ, protocol string
	n             int
}

func (c *Collector) streamPlayerCounts(st *srsapi.Stats) *streamPlayers {
	if c.streamPlayers == nil || st.ClientCounts == nil {
		return nil
	}
	sp := &streamPlayers{byStream: map[srsapi.ID]map[string]int{}}
	for _, t := range srsapi.ClientTypesForMajor(st.Versions.Major) {
		if dir, _ := srsapi.ClientProtocol(t, false); dir == "play" {
			sp.types = append(sp.types, t)
		}
	}
	for ck, n := range st.ClientCounts {
		if dir, _ := srsapi.ClientProtocol(ck.Type, ck.Publish); dir != "play" {
			continue
		}
		m := sp.byStream[ck.Stream]
		if m == nil {
			m = map[string]int{}
			sp.byStream[ck.Stream] = m
		}
		m[ck.Type] += n
	}
	return sp
}

// forStream returns a stream's players per type, in type order: every
// type of the version, and any other type SRS reported.
func (sp *streamPlayers) forStream(id srsapi.ID) []playerCount {
	m := sp.byStream[id]
	out := make([]playerCount, 0, len(sp.types)+len(m))
	seen := map[string]bool{}
	for _, t := range sp.types {
		_, proto := srsapi.ClientProtocol(t, false)
		out = append(out, playerCount{t, proto, m[t]})
		seen[t] = true
	}
	for t, n := range m {
		if !seen[t] {
			_, proto := srsapi.ClientProtocol(t, false)
			out = append(out, playerCount{t, proto, n})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].typ < out[j].typ })
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
