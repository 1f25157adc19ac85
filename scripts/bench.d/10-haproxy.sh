#!/bin/sh
# HAProxy at scale (foundation): lbpilot vs promex vs haproxy_exporter on a
# real haproxy, then lbpilot's two exposition paths side by side.
set -eu
out=$1; bin=$2
frag="$out/10-haproxy.md"
go run ./tools/bench/haproxy -servers 10000 -scrapes 11 -lbpilot "$bin" -out "$frag"
res=$(go test -run '^$' -bench 'Exposition10kServers' -benchtime 5x ./collectors/haproxy/ | awk '$1 ~ /const_metrics/{c=$3} $1 ~ /\/stream(-[0-9]+)?$/{s=$3} $1 ~ /stream_all_changed(-[0-9]+)?$/{a=$3} $1 ~ /reuse_off/{o=$3} END{printf "%.0f %.0f %.0f %.0f", c, s, a, o}')
set -- $res
c=$1; s=$2; a=$3; o=$4
{
	echo
	echo "### Exposition paths, 10,000 servers (Go benchmark: fetch from a fake socket, rendering and gzip)"
	echo
	echo "\"unchanged\" scrapes the same dump again, so every part of the server families is the last scrape's (found by the key"
	echo "of its rows' lines); \"every number changed\" alternates two dumps that differ in every numeric field of every server:"
	echo "the parts of the counters and gauges are rendered and compressed, those of the state families (text fields) are not;"
	echo "\"reuse off\" is that with \`reuse_unchanged: false\` (nothing keyed, nothing kept, everything rendered and compressed)."
	echo
	echo "| path | time per scrape | × streaming, unchanged |"
	echo "|---|---|---|"
	awk -v c="$c" -v s="$s" -v a="$a" -v o="$o" 'BEGIN{printf "| client_golang const metrics + text encoder | %.0f ms | %.1f |\n| streaming writer, every number changed, reuse off | %.0f ms | %.1f |\n| streaming writer (used), every number changed | %.0f ms | %.1f |\n| streaming writer (used), unchanged | %.0f ms | 1.0 |\n", c/1e6, c/s, o/1e6, o/s, a/1e6, a/s, s/1e6}'
} >>"$frag"
