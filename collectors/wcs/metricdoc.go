package wcs

import "github.com/lbpilot/lbpilot/collectors"

// MetricDocs documents every family the collector can describe
// (docs/metrics.md), with the statistics page fields it reads.
func MetricDocs() []collectors.MetricDoc {
	g := func(names []string, labels, help, source string) collectors.MetricDoc {
		return collectors.MetricDoc{Names: names, Type: "gauge", Labels: labels, Help: help, Source: source}
	}
	n := func(s ...string) []string { return s }
	return []collectors.MetricDoc{
		g(n("wcs_connections"), "", "client connections, all transports", "`connections`"),
		g(n("wcs_transport_connections"), "`transport`=`websocket`\\|`rtmfp`\\|`hls`", "connections by transport (HLS over HTTP/2 shares connections)", "`connections_websocket`, `connections_rtmfp`, `connections_hls`"),
		g(n("wcs_streams"), "`direction`=`in`\\|`out`, `protocol`=`webrtc`\\|`rtmp`\\|`rtmp_client`\\|`rtsp`\\|`rtsp_push`\\|`websocket`\\|`rtmfp`\\|`hls`", "streams published to (in) or played from (out) WCS", "`streams_<protocol>_<direction>`; `streams_hls` is out/hls, `streams_rtmp_client_out` WCS re-publishing to RTMP servers"),
		g(n("wcs_publishers"), "", "published streams as the WCS HAProxy agent script sums them", "`streams_webrtc_in + streams_rtmp_in + streams_rtsp_in + streams_rtsp_push_in`"),
		g(n("wcs_subscribers"), "", "played streams as the agent script sums them", "`streams_webrtc_out + streams_rtmp_out + streams_rtmp_client_out + streams_rtsp_out + streams_websocket_out`"),
		g(n("wcs_bandwidth_bytes_per_second"), "`direction`=`in`\\|`out`", "measured channel bandwidth, converted to bytes/s (only with `global_bandwidth_check_enabled=true`)", "`global_bandwidth_in`, `global_bandwidth_out` (× 125000 for the default `Mbps`)"),
		g(n("wcs_degraded_streams"), "", "streams the server cannot keep up with", "`degraded_streams`"),
		g(n("wcs_degraded_streams_ratio"), "", "share of degraded streams, 0..1", "`degraded_streams_percent` / 100"),
		g(n("wcs_cpu_usage_ratio"), "", "CPU usage as the WCS console shows it", "`system_java_cpu_usage` / 100"),
		g(n("wcs_process_cpu_load_ratio"), "", "JVM process CPU load, 0..1 of all CPUs (a negative JMX \"not available\" is left out)", "`core_java_processCpuLoad`"),
		g(n("wcs_host_cpu_load_ratio"), "", "host CPU load seen by the JVM, 0..1", "`core_java_systemCpuLoad`"),
		g(n("wcs_os_threads"), "", "OS threads of the WCS process", "`core_threads`"),
		g(n("wcs_jvm_threads"), "", "live JVM threads", "`core_java_threads`"),
		g(n("wcs_jvm_blocked_threads"), "", "blocked JVM threads", "`core_java_threads_blocked`"),
		g(n("wcs_jvm_committed_virtual_memory_bytes"), "", "virtual memory committed to the JVM", "`core_java_committedMemory`"),
		g(n("wcs_host_memory_total_bytes"), "", "host RAM", "`core_java_totalPhysicalMemorySize`, else `system_memory_total`"),
		g(n("wcs_host_memory_free_bytes"), "", "free host RAM", "`core_java_freePhysicalMemorySize`, else `system_memory_free`"),
		g(n("wcs_host_swap_total_bytes", "wcs_host_swap_free_bytes"), "", "host swap, total and free", "`core_java_totalSwapSpaceSize`, `core_java_freeSwapSpaceSize`"),
		g(n("wcs_ports"), "`pool`=`media`\\|`wcs_agents`\\|`rest_api`, `state`=`free`\\|`busy`\\|`quarantine` (media, agents) or `leased`\\|`available`\\|`pending` (REST hooks)", "ports of WCS's pools; `state=\"busy\"` is the ports in use", "`ports_<pool>_<state>`"),
		g(n("wcs_native_resources"), "`resource`", "native encoder/decoder resources in use", "`native_resources.<resource>`"),
		g(n("wcs_stream_viewers"), "`stream`", "viewers of a stream (`stream_metrics: true`)", "`streams_viewers` (`name/N;…`)"),
		g(n("wcs_stream_transcoding_distributors"), "`stream`", "transcoded outputs of a stream (`stream_metrics: true`)", "`transcoding_stats.transcoding_video_full_info.<stream>.distributors`"),
		g(n("wcs_stream_series_dropped"), "", "per-stream series left out by `max_streams` (`stream_metrics: true`)", "—"),
		g(n("wcs_stat_value"), "`key`", "any other numeric key, as reported (`unknown_keys: true`)", "the key itself"),
	}
}
