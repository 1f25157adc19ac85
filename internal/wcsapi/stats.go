package wcsapi

import "strings"

// Stats is one reading of WCS's statistics page (`/?action=stat`), with
// every group flattened into one key space. It is what the collector
// exports and what other packages (the agent) read without Prometheus.
type Stats struct {
	// Values holds every numeric key of the page by its WCS name
	// (connections, streams_webrtc_in, global_bandwidth_in, ...), in WCS's
	// own units. Keys the page did not report are absent.
	Values map[string]float64
	// Text holds the keys whose value is not a number (lists, names,
	// flags), as WCS printed them.
	Text map[string]string
	// Viewers is streams_viewers decoded: viewers per stream, in page
	// order, one entry per stream name.
	Viewers []StreamCount
	// Distributors is transcoding_stats.transcoding_video_full_info
	// decoded: transcoded outputs per stream (JSON form only).
	Distributors []StreamCount
}

// StreamCount is one entry of a per-stream list.
type StreamCount struct {
	Stream string
	Count  float64
}

// Value returns a numeric key.
func (s *Stats) Value(key string) (float64, bool) {
	v, ok := s.Values[key]
	return v, ok
}

// The sums below are those of the HAProxy agent-check script in WCS's
// load-balancing docs, so the exporter's numbers match what that script
// (and lbpilot's agent) decides on.
var (
	publisherKeys  = []string{"streams_webrtc_in", "streams_rtmp_in", "streams_rtsp_in", "streams_rtsp_push_in"}
	subscriberKeys = []string{"streams_webrtc_out", "streams_rtmp_out", "streams_rtmp_client_out", "streams_rtsp_out", "streams_websocket_out"}
)

// Publishers is streams_webrtc_in + streams_rtmp_in + streams_rtsp_in +
// streams_rtsp_push_in; ok is false when the page has none of them.
func (s *Stats) Publishers() (float64, bool) { return s.sum(publisherKeys) }

// Subscribers is streams_webrtc_out + streams_rtmp_out +
// streams_rtmp_client_out + streams_rtsp_out + streams_websocket_out; ok
// is false when the page has none of them.
func (s *Stats) Subscribers() (float64, bool) { return s.sum(subscriberKeys) }

func (s *Stats) sum(keys []string) (float64, bool) {
	var total float64
	found := false
	for _, k := range keys {
		if v, ok := s.Values[k]; ok {
			total += v
			found = true
		}
	}
	return total, found
}

// HLSStreams is streams_hls.
func (s *Stats) HLSStreams() (float64, bool) { return s.Value("streams_hls") }

// Connections is the connections key: every client connection.
func (s *Stats) Connections() (float64, bool) { return s.Value("connections") }

// Bandwidth returns global_bandwidth_in and global_bandwidth_out as WCS
// reports them (megabits per second with WCS's defaults; filled only when
// global_bandwidth_check_enabled=true).
func (s *Stats) Bandwidth() (in, out float64, ok bool) {
	in, okIn := s.Values["global_bandwidth_in"]
	out, okOut := s.Values["global_bandwidth_out"]
	return in, out, okIn || okOut
}

// BandwidthBytes returns the bandwidth in bytes per second, given the unit
// WCS reports it in.
func (s *Stats) BandwidthBytes(u Unit) (in, out float64, ok bool) {
	in, out, ok = s.Bandwidth()
	return in * u.BytesPerSecond(), out * u.BytesPerSecond(), ok
}

// CPURatio is the WCS process's CPU usage as a ratio (1 = one full CPU of
// the JVM's view): system_java_cpu_usage / 100 (a percentage, as the WCS
// console shows it), else core_java_processCpuLoad (already 0..1).
func (s *Stats) CPURatio() (float64, bool) {
	if v, ok := s.Values["system_java_cpu_usage"]; ok {
		return v / 100, true
	}
	return s.Value("core_java_processCpuLoad")
}

// Unit is the unit WCS reports global bandwidth in.
type Unit string

// Bandwidth units accepted by the bandwidth_unit option.
const (
	Mbps Unit = "Mbps" // megabits per second (the default; 1e6 bits)
	Kbps Unit = "kbps" // kilobits per second (1e3 bits)
	Bps  Unit = "bps"  // bits per second
)

// ParseUnit reads a unit name, case-insensitively; "" is Mbps, WCS's
// default. ok is false for anything else.
func ParseUnit(s string) (u Unit, ok bool) {
	switch strings.ToLower(s) {
	case "", "mbps":
		return Mbps, true
	case "kbps":
		return Kbps, true
	case "bps":
		return Bps, true
	}
	return "", false
}

// BytesPerSecond is the factor from one unit to bytes per second.
func (u Unit) BytesPerSecond() float64 {
	switch Unit(strings.ToLower(string(u))) {
	case "kbps":
		return 1e3 / 8
	case "bps":
		return 1.0 / 8
	}
	return 1e6 / 8
}

// valueKind says how a known key's value is checked.
type valueKind uint8

const (
	count   valueKind = iota // a non-negative number; a negative one is an error
	jmxLoad                  // a JMX load ratio: negative means "not available" and is dropped
	list                     // name/N;name/N;...
)

// knownKeys are the keys WCS documents (or its public client code and the
// agent script read); values of these are checked, anything else on the
// page is kept as it is. native_resources.* keys are counts too.
var knownKeys = map[string]valueKind{
	"connections": count, "connections_rtmfp": count, "connections_websocket": count, "connections_hls": count,
	"ports_media_free": count, "ports_media_busy": count, "ports_media_quarantine": count,
	"ports_wcs_agents_free": count, "ports_wcs_agents_busy": count, "ports_wcs_agents_quarantine": count,
	"ports_rest_api_leased": count, "ports_rest_api_available": count, "ports_rest_api_pending": count,
	"streams_webrtc_in": count, "streams_webrtc_out": count, "streams_rtmp_in": count, "streams_rtmp_out": count,
	"streams_rtmp_client_out": count, "streams_rtsp_in": count, "streams_rtsp_push_in": count, "streams_rtsp_out": count,
	"streams_websocket_out": count, "streams_rtmfp_in": count, "streams_rtmfp_out": count, "streams_hls": count,
	"degraded_streams": count, "degraded_streams_percent": count,
	"core_threads": count, "core_java_threads": count, "core_java_threads_blocked": count,
	"core_java_committedMemory": count, "core_java_freePhysicalMemorySize": count, "core_java_totalPhysicalMemorySize": count,
	"core_java_freeSwapSpaceSize": count, "core_java_totalSwapSpaceSize": count,
	"core_java_processCpuLoad": jmxLoad, "core_java_systemCpuLoad": jmxLoad,
	"system_java_cpu_usage": count, "system_memory_total": count, "system_memory_free": count,
	"global_bandwidth_in": count, "global_bandwidth_out": count,
	"streams_viewers": list, "streams_synchronization": list,
}

// NativePrefix marks the native resource counters (several keys).
const NativePrefix = "native_resources"

// kindOf returns how a key is checked and whether it is known.
func kindOf(key string) (valueKind, bool) {
	if k, ok := knownKeys[key]; ok {
		return k, true
	}
	if strings.HasPrefix(key, NativePrefix+".") || strings.HasPrefix(key, NativePrefix+"_") {
		return count, true
	}
	return 0, false
}
