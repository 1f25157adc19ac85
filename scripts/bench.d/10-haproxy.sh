#!/bin/sh
# HAProxy at scale (foundation): lbpilot vs promex vs haproxy_exporter on a
# real haproxy, then lbpilot's two exposition paths side by side.
set -eu
out=$1; bin=$2
frag="$out/10-haproxy.md"
go run ./tools/bench/haproxy -servers 10000 -scrapes 11 -lbpilot "$bin" -out "$frag"
res=$(go test -run '^$' -bench 'Exposition10kServers' -benchtime 5x ./collectors/haproxy/ | awk '/const_metrics/{c=$3} /stream/{s=$3} END{printf "%.0f %.0f", c, s}')
c=${res% *}; s=${res#* }
{
	echo
	echo "### Exposition paths, 10,000 servers (Go benchmark: fetch from a fake socket, rendering and gzip)"
	echo
	echo "| path | time per scrape | × streaming |"
	echo "|---|---|---|"
	awk -v c="$c" -v s="$s" 'BEGIN{printf "| client_golang const metrics + text encoder | %.0f ms | %.1f |\n| streaming writer (used) | %.0f ms | 1.0 |\n", c/1e6, c/s, s/1e6}'
} >>"$frag"
