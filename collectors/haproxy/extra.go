package haproxy

import "github.com/prometheus/client_golang/prometheus"

// extraCounters are the counters HAProxy 2.6's stats modules append to
// show stat after the "-" column (promex's extra-counters), with the
// module promex puts in the "mod" label. promex names them
// haproxy_<scope>_<column>. Most are counters whose names lack _total,
// which promtool refuses for a counter; lbpilot keeps promex's names, for
// its dashboards, and exports those as untyped.
var extraCounters = []struct {
	col, mod string
	gauge    bool
	help     string
}{
	{"ssl_sess", "ssl", false, "SSL sessions (ssl module)."},
	{"ssl_reused_sess", "ssl", false, "Reused SSL sessions (ssl module)."},
	{"ssl_failed_handshake", "ssl", false, "Failed SSL handshakes (ssl module)."},
	{"h2_headers_rcvd", "h2", false, "HEADERS frames received (h2 module)."},
	{"h2_data_rcvd", "h2", false, "DATA frames received (h2 module)."},
	{"h2_settings_rcvd", "h2", false, "SETTINGS frames received (h2 module)."},
	{"h2_rst_stream_rcvd", "h2", false, "RST_STREAM frames received (h2 module)."},
	{"h2_goaway_rcvd", "h2", false, "GOAWAY frames received (h2 module)."},
	{"h2_detected_conn_protocol_errors", "h2", false, "Connection protocol errors (h2 module)."},
	{"h2_detected_strm_protocol_errors", "h2", false, "Stream protocol errors (h2 module)."},
	{"h2_rst_stream_resp", "h2", false, "RST_STREAM frames sent (h2 module)."},
	{"h2_goaway_resp", "h2", false, "GOAWAY frames sent (h2 module)."},
	{"h2_open_connections", "h2", true, "Open HTTP/2 connections (h2 module)."},
	{"h2_backend_open_streams", "h2", true, "Open HTTP/2 backend streams (h2 module)."},
	{"h2_total_connections", "h2", false, "HTTP/2 connections (h2 module)."},
	{"h2_backend_total_streams", "h2", false, "HTTP/2 backend streams (h2 module)."},
	{"h1_open_connections", "h1", true, "Open HTTP/1 connections (h1 module)."},
	{"h1_open_streams", "h1", true, "Open HTTP/1 streams (h1 module)."},
	{"h1_total_connections", "h1", false, "HTTP/1 connections (h1 module)."},
	{"h1_total_streams", "h1", false, "HTTP/1 streams (h1 module)."},
	{"h1_bytes_in", "h1", false, "Bytes received over HTTP/1 (h1 module)."},
	{"h1_bytes_out", "h1", false, "Bytes sent over HTTP/1 (h1 module)."},
	{"h1_spliced_bytes_in", "h1", false, "Bytes received over HTTP/1 with splicing (h1 module)."},
	{"h1_spliced_bytes_out", "h1", false, "Bytes sent over HTTP/1 with splicing (h1 module)."},
}

// extraFamilies returns the extra counters as families of one scope. The
// module's name rides in the family's states, as its one "mod" value.
func extraFamilies() []family {
	out := make([]family, 0, len(extraCounters))
	for _, e := range extraCounters {
		typ := prometheus.UntypedValue
		if e.gauge {
			typ = prometheus.GaugeValue
		}
		out = append(out, family{name: e.col, help: e.help, typ: typ, col: e.col, scale: 1, kind: extraCounter})
	}
	return out
}

func extraModule(col string) string {
	for _, e := range extraCounters {
		if e.col == col {
			return e.mod
		}
	}
	return ""
}
