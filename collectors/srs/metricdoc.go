package srs

import "github.com/lbpilot/lbpilot/collectors"

// MetricDocs documents every family the collector can describe
// (docs/metrics.md), with the http_api fields it reads.
func MetricDocs() []collectors.MetricDoc {
	g := func(names []string, labels, help, source string) collectors.MetricDoc {
		return collectors.MetricDoc{Names: names, Type: "gauge", Labels: labels, Help: help, Source: source}
	}
	c := func(names []string, labels, help, source string) collectors.MetricDoc {
		return collectors.MetricDoc{Names: names, Type: "counter", Labels: labels, Help: help, Source: source}
	}
	n := func(s ...string) []string { return s }
	const stream = "`vhost`, `app`, `stream`"
	return []collectors.MetricDoc{
		g(n("srs_build_info"), "`version`, `major`, `code`, `build_date`, `server`, `service`, `pid`", "1; `service` changes on every restart (SRS 5.0.135+), `code` is the release name from the `Server` header, `build_date` as SRS's own exporter prints it", "versions `data`, features `data.build`, envelope `server`/`service`/`pid`"),
		c(n("srs_send_bytes_total"), "", "bytes sent to clients since start (updated every 3 s)", "summaries `system.srs_send_bytes`"),
		c(n("srs_receive_bytes_total"), "", "bytes received from clients since start", "summaries `system.srs_recv_bytes`"),
		g(n("srs_streams"), "", "stream entries, including ones without a publisher that still have clients", "length of `streams`"),
		g(n("srs_clients"), "", "clients: publishers, players, edge pulls, HLS sessions", "length of `clients` (paged); with `clients: false`, summaries `system.conn_srs` on SRS 5+ (sampled every 3 s) and absent on SRS 3 and 4, whose `conn_srs` counts every connection, the API's own included"),
		g(n("srs_cpu_ratio"), "", "process CPU, ratio of one core (two decimals)", "summaries `self.cpu_percent`"),
		c(n("srs_process_cpu_seconds_total"), "", "process user + system CPU time", "self_proc_stats `(utime + stime) / 100`"),
		g(n("srs_memory_bytes"), "", "resident memory", "self_proc_stats `rss × 4096`"),
		g(n("srs_memory_peak_bytes"), "", "peak resident memory", "summaries `self.mem_kbyte × 1024`"),
		g(n("srs_uptime_seconds"), "", "seconds since SRS started; a drop (`resets(srs_uptime_seconds[1h])`) or a new `service` on `srs_build_info` is a restart", "summaries `self.srs_uptime`"),
		g(n("srs_host_cpu_ratio"), "", "host CPU use, 0..1", "summaries `system.cpu_percent`"),
		g(n("srs_host_load1", "srs_host_load5", "srs_host_load15"), "", "host load averages", "summaries `system.load_1m/5m/15m`"),
		g(n("srs_host_cpus"), "", "online CPUs", "summaries `system.cpus_online`"),
		g(n("srs_host_memory_bytes"), "", "host RAM", "summaries `system.mem_ram_kbyte × 1024`"),
		g(n("srs_host_memory_used_ratio"), "", "host RAM in use without buffers and cache", "summaries `system.mem_ram_percent`"),
		g(n("srs_vhost_clients"), "`vhost`", "clients of a vhost", "vhosts `clients`"),
		g(n("srs_vhost_publishing_streams"), "`vhost`", "streams with an active publisher", "vhosts `streams`"),
		c(n("srs_vhost_send_bytes_total", "srs_vhost_receive_bytes_total"), "`vhost`", "bytes sent to / received from a vhost's clients since start", "vhosts `send_bytes`, `recv_bytes`"),
		g(n("srs_publishers"), "`vhost`, `type`, `protocol`=`rtmp`\\|`rtc`\\|`srt`\\|`unknown`", "publishing clients per SRS type (`fmle-publish`, `flash-publish` (an origin's incoming forward), `haivision-publish`, `rtc-publish`, `srt-publish`); every type of the version has a series, 0 when absent", "clients `type`, `publish`"),
		g(n("srs_players"), "`vhost`, `type`, `protocol`=`rtmp`\\|`flv`\\|`hls`\\|`rtc`\\|`srt`\\|`unknown`", "playing clients per type (`rtmp-play`, `flv-play`, `hls-play`, `rtc-play`, `srt-play`; SRS 3 `Play`; SRS 4 reports FLV and HLS as `rtmp-play`); an edge's pull shows on its origin as an rtmp player", "clients `type`, `publish`"),
		g(n("srs_stream_clients"), stream, "clients of a stream, publisher and edge pulls included", "streams `clients`"),
		g(n("srs_stream_publishing"), stream, "1 while a publisher (on an edge: the ingest) is active", "streams `publish.active`"),
		c(n("srs_stream_send_bytes_total", "srs_stream_receive_bytes_total"), stream, "bytes of a stream; restart from 0 when SRS recreates the stream; an edge's ingest is not counted", "streams `send_bytes`, `recv_bytes`"),
		c(n("srs_stream_video_frames_total"), stream, "video frames from an RTMP publisher (0 on edges, SRT and WebRTC); SRS adds them in batches, so a new stream reads 0 for its first 10–15 s and then jumps", "streams `frames`"),
		g(n("srs_stream_codec_info"), stream+", `video_codec`, `video_profile`, `video_level`, `width`, `height`, `audio_codec`, `audio_profile`, `sample_rate`, `channels`", "1 while the stream has a track (absent fields empty)", "streams `video`, `audio`"),
		g(n("srs_stream_players"), stream+", `type`, `protocol`", "a stream's playing clients per type (its audience; the publisher is not one): every player type of the version has a series, 0 when absent; an edge's pull shows on its origin as an rtmp player (`clients: true`)", "clients `stream`, `type`, `publish`"),
		g(n("srs_stream_publisher_alive_seconds"), stream, "how long the publisher has been connected; on an edge, the player whose arrival started the pull (absent once that player left) (`clients: true`)", "clients `alive` of the client whose `id` is streams `publish.cid`"),
		g(n("srs_stream_series_dropped"), "", "streams left out by `max_streams` (or as duplicates)", "—"),
		collectors.AnomaliesDoc("`counter_decrease`: a byte, frame or CPU counter below its last exported value with no restart (new `server`/`service`/`pid`, or an uptime that grew 30 s less than the clock) and no new stream id; `counter_jump`: a byte counter grown faster than 100 Gbit/s since its last exported value; `counter_negative`: a counter below 0; `duplicate_vhost`: a vhost named like an earlier one (another id); `duplicate_stream`: a stream whose vhost/app/stream an earlier one has (with `stream_metrics`; the one with most clients is kept)"),
	}
}
