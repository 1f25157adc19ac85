package wcs

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbpilot/lbpilot/collectors"
	"github.com/lbpilot/lbpilot/internal/upstream"
	"github.com/lbpilot/lbpilot/internal/wcsapi"
)

// series is one labelled series of a family: its label values and the WCS
// keys it reads, the first present one winning.
type series struct {
	labels []string
	keys   []string
}

// family maps WCS keys onto one metric family.
type family struct {
	name   string
	help   string
	labels []string
	scale  float64 // 0 means 1
	series []series
}

func one(keys ...string) []series { return []series{{keys: keys}} }

// families is the fixed part of the catalog: every documented key of the
// stat page lands in exactly one family (MetricDocs lists them for docs/metrics.md).
var families = []family{
	{name: "wcs_connections", help: "Client connections of all transports (connections).", series: one("connections")},
	{name: "wcs_transport_connections", help: "Client connections by transport (connections_websocket, connections_rtmfp, connections_hls); HLS over HTTP/2 shares connections, so it can be lower than the HLS viewers.",
		labels: []string{"transport"}, series: []series{
			{[]string{"websocket"}, []string{"connections_websocket"}},
			{[]string{"rtmfp"}, []string{"connections_rtmfp"}},
			{[]string{"hls"}, []string{"connections_hls"}},
		}},
	{name: "wcs_streams", help: "Streams by direction (in: published to WCS, out: played from it) and protocol (streams_<protocol>_<direction>; streams_hls is out/hls).",
		labels: []string{"direction", "protocol"}, series: []series{
			{[]string{"in", "webrtc"}, []string{"streams_webrtc_in"}},
			{[]string{"out", "webrtc"}, []string{"streams_webrtc_out"}},
			{[]string{"in", "rtmp"}, []string{"streams_rtmp_in"}},
			{[]string{"out", "rtmp"}, []string{"streams_rtmp_out"}},
			{[]string{"out", "rtmp_client"}, []string{"streams_rtmp_client_out"}},
			{[]string{"in", "rtsp"}, []string{"streams_rtsp_in"}},
			{[]string{"in", "rtsp_push"}, []string{"streams_rtsp_push_in"}},
			{[]string{"out", "rtsp"}, []string{"streams_rtsp_out"}},
			{[]string{"out", "websocket"}, []string{"streams_websocket_out"}},
			{[]string{"in", "rtmfp"}, []string{"streams_rtmfp_in"}},
			{[]string{"out", "rtmfp"}, []string{"streams_rtmfp_out"}},
			{[]string{"out", "hls"}, []string{"streams_hls"}},
		}},
	{name: "wcs_degraded_streams", help: "Streams whose processing the server cannot keep up with (degraded_streams).", series: one("degraded_streams")},
	{name: "wcs_degraded_streams_ratio", help: "Share of streams that are degraded, 0..1 (degraded_streams_percent / 100).", scale: 0.01, series: one("degraded_streams_percent")},
	{name: "wcs_cpu_usage_ratio", help: "CPU usage of WCS as its console shows it, as a ratio (system_java_cpu_usage / 100).", scale: 0.01, series: one("system_java_cpu_usage")},
	{name: "wcs_process_cpu_load_ratio", help: "JVM process CPU load, 0..1 over all host CPUs (core_java_processCpuLoad).", series: one("core_java_processCpuLoad")},
	{name: "wcs_host_cpu_load_ratio", help: "Host CPU load as the JVM sees it, 0..1 (core_java_systemCpuLoad).", series: one("core_java_systemCpuLoad")},
	{name: "wcs_os_threads", help: "Operating system threads of the WCS process (core_threads).", series: one("core_threads")},
	{name: "wcs_jvm_threads", help: "Live JVM threads (core_java_threads).", series: one("core_java_threads")},
	{name: "wcs_jvm_blocked_threads", help: "Blocked JVM threads (core_java_threads_blocked).", series: one("core_java_threads_blocked")},
	{name: "wcs_jvm_committed_virtual_memory_bytes", help: "Virtual memory committed to the JVM process (core_java_committedMemory).", series: one("core_java_committedMemory")},
	{name: "wcs_host_memory_total_bytes", help: "Host physical memory (core_java_totalPhysicalMemorySize, else system_memory_total).", series: one("core_java_totalPhysicalMemorySize", "system_memory_total")},
	{name: "wcs_host_memory_free_bytes", help: "Free host physical memory (core_java_freePhysicalMemorySize, else system_memory_free).", series: one("core_java_freePhysicalMemorySize", "system_memory_free")},
	{name: "wcs_host_swap_total_bytes", help: "Host swap space (core_java_totalSwapSpaceSize).", series: one("core_java_totalSwapSpaceSize")},
	{name: "wcs_host_swap_free_bytes", help: "Free host swap space (core_java_freeSwapSpaceSize).", series: one("core_java_freeSwapSpaceSize")},
	{name: "wcs_ports", help: "Ports of WCS's pools by state: media (RTP) and wcs_agents ports free, busy or in quarantine; rest_api outgoing connections leased, available or pending (ports_<pool>_<state>).",
		labels: []string{"pool", "state"}, series: []series{
			{[]string{"media", "free"}, []string{"ports_media_free"}},
			{[]string{"media", "busy"}, []string{"ports_media_busy"}},
			{[]string{"media", "quarantine"}, []string{"ports_media_quarantine"}},
			{[]string{"wcs_agents", "free"}, []string{"ports_wcs_agents_free"}},
			{[]string{"wcs_agents", "busy"}, []string{"ports_wcs_agents_busy"}},
			{[]string{"wcs_agents", "quarantine"}, []string{"ports_wcs_agents_quarantine"}},
			{[]string{"rest_api", "leased"}, []string{"ports_rest_api_leased"}},
			{[]string{"rest_api", "available"}, []string{"ports_rest_api_available"}},
			{[]string{"rest_api", "pending"}, []string{"ports_rest_api_pending"}},
		}},
}

// bandwidthFamily's scale depends on the bandwidth_unit option.
var bandwidthFamily = family{name: "wcs_bandwidth_bytes_per_second", help: "Measured channel bandwidth in bytes per second (global_bandwidth_in / global_bandwidth_out, converted from bandwidth_unit; reported only with global_bandwidth_check_enabled=true).",
	labels: []string{"direction"}, series: []series{
		{[]string{"in"}, []string{"global_bandwidth_in"}},
		{[]string{"out"}, []string{"global_bandwidth_out"}},
	}}

// mappedKeys are the keys the catalog exports; wcs_stat_value skips them.
var mappedKeys = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range append(append([]family(nil), families...), bandwidthFamily) {
		for _, s := range f.series {
			for _, k := range s.keys {
				m[k] = true
			}
		}
	}
	return m
}()

type compiledFamily struct {
	family
	desc *prometheus.Desc
}

// Collector scrapes one WCS.
type Collector struct {
	opts    Options
	statURL string
	http    *http.Client
	auth    upstream.Auth

	families    []compiledFamily
	publishers  *prometheus.Desc
	subscribers *prometheus.Desc
	native      *prometheus.Desc
	viewers     *prometheus.Desc
	distrib     *prometheus.Desc
	dropped     *prometheus.Desc
	unknown     *prometheus.Desc
}

var _ collectors.Collector = (*Collector)(nil)

// New builds a collector for one WCS target.
func New(opts Options, t collectors.Target, _ collectors.Logger) (*Collector, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := CheckURL(t.URL); err != nil {
		return nil, err
	}
	auth, err := opts.BasicAuth()
	if err != nil {
		return nil, err
	}
	c := &Collector{opts: opts, statURL: wcsapi.StatURL(t.URL, opts.Format), http: opts.Client(), auth: auth}
	cl := t.Labels
	bw := bandwidthFamily
	bw.scale = opts.unit.BytesPerSecond()
	for _, f := range append(append([]family(nil), families...), bw) {
		c.families = append(c.families, compiledFamily{family: f, desc: prometheus.NewDesc(f.name, f.help, f.labels, cl)})
	}
	c.publishers = prometheus.NewDesc("wcs_publishers", "Published streams as the WCS HAProxy agent script counts them: streams_webrtc_in + streams_rtmp_in + streams_rtsp_in + streams_rtsp_push_in.", nil, cl)
	c.subscribers = prometheus.NewDesc("wcs_subscribers", "Played streams as the WCS HAProxy agent script counts them: streams_webrtc_out + streams_rtmp_out + streams_rtmp_client_out + streams_rtsp_out + streams_websocket_out.", nil, cl)
	c.native = prometheus.NewDesc("wcs_native_resources", "Native encoder/decoder resources in use (native_resources.<resource>).", []string{"resource"}, cl)
	if opts.StreamMetrics {
		c.viewers = prometheus.NewDesc("wcs_stream_viewers", "Viewers of a stream (streams_viewers); at most max_streams streams, the most watched first.", []string{"stream"}, cl)
		c.distrib = prometheus.NewDesc("wcs_stream_transcoding_distributors", "Transcoded outputs of a stream (transcoding_video_full_info.<stream>.distributors); at most max_streams streams.", []string{"stream"}, cl)
		c.dropped = prometheus.NewDesc("wcs_stream_series_dropped", "Per-stream series left out of this scrape by the max_streams cap.", nil, cl)
	}
	if opts.UnknownKeys {
		c.unknown = prometheus.NewDesc("wcs_stat_value", "A numeric key of the WCS statistics page that lbpilot does not map to a family of its own, as reported.", []string{"key"}, cl)
	}
	return c, nil
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.families {
		ch <- f.desc
	}
	for _, d := range []*prometheus.Desc{c.publishers, c.subscribers, c.native, c.viewers, c.distrib, c.dropped, c.unknown} {
		if d != nil {
			ch <- d
		}
	}
}

// Update fetches the statistics page once and sends its metrics; a page
// that cannot be read sends nothing.
func (c *Collector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	st, err := wcsapi.FetchURLAuth(ctx, c.http, c.statURL, c.auth)
	if err != nil {
		return err
	}
	c.send(st, ch)
	return nil
}

func (c *Collector) send(st *wcsapi.Stats, ch chan<- prometheus.Metric) {
	for _, f := range c.families {
		scale := f.scale
		if scale == 0 {
			scale = 1
		}
		for _, s := range f.series {
			for _, k := range s.keys {
				if v, ok := st.Values[k]; ok {
					ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, v*scale, s.labels...)
					break
				}
			}
		}
	}
	if v, ok := st.Publishers(); ok {
		ch <- prometheus.MustNewConstMetric(c.publishers, prometheus.GaugeValue, v)
	}
	if v, ok := st.Subscribers(); ok {
		ch <- prometheus.MustNewConstMetric(c.subscribers, prometheus.GaugeValue, v)
	}
	keys := sortedValueKeys(st.Values)
	// native_resources.x and native_resources_x (or two keys that differ
	// only in invalid UTF-8) would give one label value twice; the first
	// in key order is kept so the exposition stays valid.
	seen := map[string]bool{}
	for _, k := range keys {
		if res, ok := nativeResource(k); ok && !seen[res] {
			seen[res] = true
			ch <- prometheus.MustNewConstMetric(c.native, prometheus.GaugeValue, st.Values[k], res)
		}
	}
	if c.viewers != nil {
		dropped := c.sendStreams(c.viewers, st.Viewers, ch)
		dropped += c.sendStreams(c.distrib, st.Distributors, ch)
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.GaugeValue, float64(dropped))
	}
	if c.unknown != nil {
		seen := map[string]bool{}
		for _, k := range keys {
			if _, ok := nativeResource(k); ok || mappedKeys[k] {
				continue
			}
			if lv := upstream.ValidUTF8(k); !seen[lv] {
				seen[lv] = true
				ch <- prometheus.MustNewConstMetric(c.unknown, prometheus.GaugeValue, st.Values[k], lv)
			}
		}
	}
}

// sendStreams sends at most max_streams entries, the largest counts first
// (ties by name, so the choice is stable), and returns how many it left out.
func (c *Collector) sendStreams(d *prometheus.Desc, list []wcsapi.StreamCount, ch chan<- prometheus.Metric) int {
	sorted := append([]wcsapi.StreamCount(nil), list...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Count != sorted[j].Count {
			return sorted[i].Count > sorted[j].Count
		}
		return sorted[i].Stream < sorted[j].Stream
	})
	n := min(len(sorted), c.opts.MaxStreams)
	for _, e := range sorted[:n] {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, e.Count, e.Stream)
	}
	return len(sorted) - n
}

// nativeResource returns the resource name of a native_resources.<name> key.
func nativeResource(key string) (string, bool) {
	if !strings.HasPrefix(key, wcsapi.NativePrefix) || len(key) <= len(wcsapi.NativePrefix)+1 {
		return "", false
	}
	sep := key[len(wcsapi.NativePrefix)]
	if sep != '.' && sep != '_' {
		return "", false
	}
	return upstream.ValidUTF8(key[len(wcsapi.NativePrefix)+1:]), true
}

func sortedValueKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
