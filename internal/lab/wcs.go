package lab

import (
	"bytes"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// wcsSim answers WCS's /?action=stat in the text and JSON forms of the
// fixtures (stat_*.txt, stat_*.json).
type wcsSim struct {
	name string
}

func newWCS(cfg Config) *wcsSim { return &wcsSim{name: cfg.Name} }

func (w *wcsSim) advance(Load, float64) {} // the stat page has no counters
func (w *wcsSim) reset()                {}

// kv is one key of the page; a value is either a number or a string.
type kv struct {
	key string
	num float64
	str string
	isS bool
}

type group struct {
	id, title string // JSON group name, text section title
	keys      []kv
}

const (
	wcsMediaPorts   = 3000
	wcsHostMemory   = 33564495872
	wcsCommittedMem = 21474836480
)

// page computes every key from the load. The stream splits make the WCS
// agent script's sums give the load's publishers and subscribers back
// exactly.
func (w *wcsSim) page(l Load) []group {
	p, s := l.Publishers, l.Subscribers
	rtmpIn, rtspIn, rtspPush := p/5, p/10, p/20
	webrtcIn := p - rtmpIn - rtspIn - rtspPush
	rtmpOut, rtmpClient, rtspOut, wsOut := s/20, s/50, s/40, s/50
	webrtcOut := s - rtmpOut - rtmpClient - rtspOut - wsOut
	conns := l.Connections
	if conns == 0 {
		conns = p + s + l.HLS
	}
	hlsConns := min(l.HLS, conns)
	busy := min(2*(p+s), wcsMediaPorts)
	degradedPct := 0.0
	if p+s > 0 {
		degradedPct = math.Round(float64(l.Degraded)/float64(p+s)*1000) / 10
	}
	cpu := math.Min(l.CPU, 1)
	freeMem := math.Max(wcsHostMemory-4e9-float64(p+s)*50e6, 1<<30)
	n := func(k string, v float64) kv { return kv{key: k, num: v} }
	i := func(k string, v int) kv { return kv{key: k, num: float64(v)} }
	return []group{
		{"connections_stats", "Connection Stats", []kv{
			i("connections", conns), i("connections_rtmfp", 0), i("connections_websocket", conns-hlsConns), i("connections_hls", hlsConns),
		}},
		{"port_stats", "Port Stats", []kv{
			i("ports_media_free", wcsMediaPorts-busy), i("ports_media_busy", busy), i("ports_media_quarantine", busy/50),
			i("ports_wcs_agents_free", 1000), i("ports_wcs_agents_busy", 0), i("ports_wcs_agents_quarantine", 0),
			i("ports_rest_api_leased", min(p, 2)), i("ports_rest_api_available", 0), i("ports_rest_api_pending", 0),
		}},
		{"streams_stats", "Stream Stats", []kv{
			i("streams_rtsp_in", rtspIn), i("streams_rtsp_push_in", rtspPush), i("streams_rtsp_out", rtspOut),
			i("streams_websocket_out", wsOut), i("streams_rtmp_in", rtmpIn), i("streams_rtmp_out", rtmpOut),
			i("streams_rtmp_client_out", rtmpClient), i("streams_webrtc_in", webrtcIn), i("streams_webrtc_out", webrtcOut),
			i("streams_rtmfp_in", 0), i("streams_rtmfp_out", 0), i("streams_hls", l.HLS),
			{key: "streams_viewers", str: viewers(p, s), isS: true},
			{key: "streams_synchronization", str: syncList(p), isS: true},
			i("degraded_streams", l.Degraded), n("degraded_streams_percent", degradedPct),
		}},
		{"native_resources", "Native Resources", []kv{
			i("native_resources.video_decoders", p/2), i("native_resources.video_encoders", p/2),
			i("native_resources.audio_decoders", p/2), i("native_resources.audio_encoders", p/2),
		}},
		{"core_stats", "Core Stats", []kv{
			i("core_threads", 227+3*(p+s)), i("core_java_threads", 187+3*(p+s)), i("core_java_threads_blocked", l.Degraded/2),
			n("core_java_committedMemory", wcsCommittedMem), n("core_java_freePhysicalMemorySize", freeMem),
			n("core_java_totalPhysicalMemorySize", wcsHostMemory), i("core_java_freeSwapSpaceSize", 0), i("core_java_totalSwapSpaceSize", 0),
			n("core_java_processCpuLoad", round(cpu, 3)), n("core_java_systemCpuLoad", round(math.Min(1, cpu*1.2+l.HogCPU+0.01), 3)),
		}},
		{"system_stats", "System Stats", []kv{
			n("system_java_cpu_usage", round((l.CPU+l.HogCPU)*100, 2)), n("system_memory_total", wcsHostMemory), n("system_memory_free", freeMem),
		}},
		{"network_stats", "Network Stats", []kv{
			n("global_bandwidth_in", round(l.BandwidthInMbps, 2)), n("global_bandwidth_out", round(l.BandwidthOutMbps, 2)),
		}},
	}
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// maxListedStreams bounds the streams_viewers list of a big load.
const maxListedStreams = 1000

// viewers spreads s viewers over p streams, the first streams taking the
// remainder.
func viewers(p, s int) string {
	if p == 0 {
		return ""
	}
	var b strings.Builder
	for i := 0; i < min(p, maxListedStreams); i++ {
		if i > 0 {
			b.WriteByte(';')
		}
		v := s / p
		if i < s%p {
			v++
		}
		b.WriteString("stream-")
		b.WriteString(strconv.Itoa(i + 1))
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(v))
	}
	return b.String()
}

func syncList(p int) string {
	var parts []string
	for i := 0; i < min(p, 3); i++ {
		parts = append(parts, "stream-"+strconv.Itoa(i+1)+"/0")
	}
	return strings.Join(parts, ";")
}

func (w *wcsSim) serve(rw http.ResponseWriter, r *http.Request, l Load, _ time.Duration) {
	q := r.URL.Query()
	if r.URL.Path != "/" || q.Get("action") != "stat" {
		rw.Header().Set("Content-Type", "text/html")
		rw.WriteHeader(http.StatusNotFound)
		_, _ = rw.Write([]byte("<html><head><title>Error 404 Not Found</title></head><body><h2>HTTP ERROR 404</h2></body></html>\n"))
		return
	}
	groups := w.page(l)
	if param := q.Get("params"); param != "" {
		var buf bytes.Buffer
		for _, g := range groups {
			for _, k := range g.keys {
				if k.key == param {
					writeTextKV(&buf, k)
				}
			}
		}
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = rw.Write(buf.Bytes())
		return
	}
	if q.Get("format") == "json" {
		want := map[string]bool{}
		for _, g := range strings.Split(q.Get("groups"), ",") {
			if g != "" {
				want[g] = true
			}
		}
		var buf bytes.Buffer
		buf.WriteString("{\n")
		first := true
		for _, g := range groups {
			if len(want) > 0 && !want[g.id] {
				continue
			}
			if !first {
				buf.WriteString(",\n")
			}
			first = false
			buf.WriteString("  " + strconv.Quote(g.id) + ": {\n")
			for j, k := range g.keys {
				buf.WriteString("    " + strconv.Quote(k.key) + ": ")
				if k.isS {
					buf.WriteString(strconv.Quote(k.str))
				} else {
					buf.WriteString(formatNum(k.num))
				}
				if j < len(g.keys)-1 {
					buf.WriteByte(',')
				}
				buf.WriteByte('\n')
			}
			buf.WriteString("  }")
		}
		buf.WriteString("\n}\n")
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write(buf.Bytes())
		return
	}
	var buf bytes.Buffer
	for _, g := range groups {
		buf.WriteString("-----" + g.title + "-----\n")
		for _, k := range g.keys {
			writeTextKV(&buf, k)
		}
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = rw.Write(buf.Bytes())
}

func writeTextKV(buf *bytes.Buffer, k kv) {
	buf.WriteString(k.key)
	buf.WriteByte('=')
	if k.isS {
		buf.WriteString(k.str)
	} else {
		buf.WriteString(formatNum(k.num))
	}
	buf.WriteByte('\n')
}

// formatNum prints integers without a decimal point and other numbers in
// the shortest form, as the fixtures do.
func formatNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
