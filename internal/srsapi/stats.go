package srsapi

import (
	"strings"
)

// PageBytes is the page size the rss field counts in. SRS's own exporter
// multiplies rss by 4 to get KiB, i.e. it assumes 4 KiB pages; so do we.
const PageBytes = 4096

// UserHZ is the clock-tick rate of utime/stime (Linux's USER_HZ).
const UserHZ = 100

// UnknownVhost labels objects whose vhost id is not in the vhost list
// (one created between the two requests). SRS's random ids never become
// label values.
const UnknownVhost = "__unknown__"

// VhostNames maps vhost ids to names.
func (s *Stats) VhostNames() map[ID]string {
	m := make(map[ID]string, len(s.Vhosts))
	for _, v := range s.Vhosts {
		m[v.ID] = v.Name
	}
	return m
}

// Publishers counts publishing clients (RTMP, WebRTC, SRT publishers and
// an origin's incoming forwards). Without the client list it counts the
// streams with an active publisher instead.
func (s *Stats) Publishers() int {
	if s.ClientCounts == nil {
		return s.ActiveStreams()
	}
	n := 0
	for k, c := range s.ClientCounts {
		if dir, _ := ClientProtocol(k.Type, k.Publish); dir == "publish" {
			n += c
		}
	}
	return n
}

// Players counts playing clients (including an edge's pull connection on
// its origin, which SRS cannot tell from a viewer). ok is false without
// the client list.
func (s *Stats) Players() (n int, ok bool) {
	if s.ClientCounts == nil {
		return 0, false
	}
	for k, c := range s.ClientCounts {
		if dir, _ := ClientProtocol(k.Type, k.Publish); dir == "play" {
			n += c
		}
	}
	return n, true
}

// ClientCount is the number of clients (publishers, players, edge pulls,
// HLS sessions): the length of the client list when it was read. Without
// it, SRS 5+'s summaries conn_srs (the same count, sampled every 3 s);
// ok is false on SRS 3 and 4 without the list, where conn_srs counts
// every connection SRS holds, the API's own (a scraper's or an agent's
// requests in flight) included, so an idle SRS 4 reads 4.
func (s *Stats) ClientCount() (n float64, ok bool) {
	if s.ClientCounts != nil {
		for _, c := range s.ClientCounts {
			n += float64(c)
		}
		return n, true
	}
	if s.Versions.Major >= 5 {
		return s.Summaries.System.ConnSRS, true
	}
	return 0, false
}

// StreamClients counts a stream's clients by type and publish flag
// (nil without the client list).
func (s *Stats) StreamClients(stream ID) map[ClientKey]int {
	if s.ClientCounts == nil {
		return nil
	}
	out := map[ClientKey]int{}
	for k, c := range s.ClientCounts {
		if k.Stream == stream {
			out[ClientKey{Type: k.Type, Publish: k.Publish}] += c
		}
	}
	return out
}

// PublisherAlive returns how long the stream's publisher (the client
// whose id is publish.cid) has been connected, in seconds. On an edge
// the cid is the player whose arrival started the pull, so this is the
// age of the pull while that player stays. ok is false without
// API.ClientAlive, without an active publisher, or when that client is
// gone.
func (s *Stats) PublisherAlive(st *Stream) (float64, bool) {
	if s.Alive == nil || !st.Publish.Active || st.Publish.CID == "" {
		return 0, false
	}
	v, ok := s.Alive[st.Publish.CID]
	return v, ok
}

// ActiveStreams counts streams with an active publisher (on an edge, an
// active ingest from the origin).
func (s *Stats) ActiveStreams() int {
	n := 0
	for i := range s.Streams {
		if s.Streams[i].Publish.Active {
			n++
		}
	}
	return n
}

// CPURatio is the SRS process's CPU use as a ratio of one core.
func (s *Stats) CPURatio() float64 { return s.Summaries.Self.CPUPercent }

// HostCPURatio is the host's CPU use, 0..1.
func (s *Stats) HostCPURatio() float64 { return s.Summaries.System.CPUPercent }

// SendBytes and RecvBytes are SRS's total client bytes since start.
func (s *Stats) SendBytes() float64 { return s.Summaries.System.SRSSendBytes }

// RecvBytes is the total bytes received from clients since start.
func (s *Stats) RecvBytes() float64 { return s.Summaries.System.SRSRecvBytes }

// MemoryBytes is the process's current resident memory, when the process
// stats were read.
func (s *Stats) MemoryBytes() (float64, bool) {
	if s.Proc == nil {
		return 0, false
	}
	return s.Proc.RSS * PageBytes, true
}

// StreamKey returns the labels identifying a stream: vhost name, app and
// stream name. The name comes from url (/app/stream, SRS 5.0.55+) when
// present, else from name without a player's extension (SRS names a
// stream after the client that created it, e.g. "test.flv" on an edge).
func StreamKey(st *Stream, vhosts map[ID]string) (vhost, app, stream string) {
	vhost, ok := vhosts[st.Vhost]
	if !ok {
		vhost = UnknownVhost
	}
	stream = st.Name
	if st.URL != "" {
		if i := strings.LastIndexByte(st.URL, '/'); i >= 0 && i < len(st.URL)-1 {
			stream = st.URL[i+1:]
		}
	}
	for _, ext := range []string{".flv", ".m3u8", ".ts", ".mp4", ".aac", ".mp3", ".webm"} {
		if strings.HasSuffix(stream, ext) && len(stream) > len(ext) {
			stream = strings.TrimSuffix(stream, ext)
			break
		}
	}
	return vhost, st.App, stream
}

// ClientProtocol maps a client type to its direction (publish or play)
// and protocol (rtmp, flv, hls, rtc, srt; unknown for types lbpilot does
// not know, whose direction then follows the publish flag). SRS 3 calls
// every player "Play" and SRS 4 reports HTTP-FLV and HLS players as
// rtmp-play, so on those versions protocol="rtmp" covers them.
func ClientProtocol(typ string, publish bool) (direction, protocol string) {
	if p, ok := clientTypes[typ]; ok {
		return p[0], p[1]
	}
	if publish {
		return "publish", "unknown"
	}
	return "play", "unknown"
}

// KnownClientType tells whether typ is a client type SRS documents.
func KnownClientType(typ string) bool {
	_, ok := clientTypes[typ]
	return ok
}

var clientTypes = map[string][2]string{
	"Play":              {"play", "rtmp"},
	"rtmp-play":         {"play", "rtmp"},
	"flv-play":          {"play", "flv"},
	"hls-play":          {"play", "hls"},
	"rtc-play":          {"play", "rtc"},
	"srt-play":          {"play", "srt"},
	"fmle-publish":      {"publish", "rtmp"},
	"flash-publish":     {"publish", "rtmp"},
	"haivision-publish": {"publish", "rtmp"},
	"rtc-publish":       {"publish", "rtc"},
	"srt-publish":       {"publish", "srt"},
}

// ClientTypesForMajor are the client types an SRS major version reports, so
// each vhost shows a (zero) series for every type even when no such
// client is connected.
func ClientTypesForMajor(major int) []string {
	switch major {
	case 1, 2, 3:
		return []string{"Play", "fmle-publish", "flash-publish", "haivision-publish"}
	case 4:
		return []string{"rtmp-play", "rtc-play", "fmle-publish", "flash-publish", "haivision-publish", "rtc-publish"}
	}
	return []string{"rtmp-play", "flv-play", "hls-play", "rtc-play", "srt-play", "fmle-publish", "flash-publish", "haivision-publish", "rtc-publish", "srt-publish"}
}
