#!/bin/sh
# checkmetrics.sh LBPILOT — start a real haproxy and `lbpilot exporter` on
# loopback, scrape /metrics and /probe, and run `promtool check metrics` on
# every response. Any promtool finding fails the check.
set -eu
bin=$(readlink -f "$1")
command -v haproxy >/dev/null || { echo "haproxy not installed (make deps)"; exit 1; }
command -v promtool >/dev/null || { echo "promtool not installed (make deps)"; exit 1; }
dir=$(mktemp -d /tmp/lbpcm.XXXXXX)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT INT TERM

# Fixed ports below the kernel's ephemeral range, so the lab's and the
# clients' automatically chosen ports can never take one of ours; the
# pieces in checkmetrics.d use base+4 … base+19.
lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
base=$((10000 + ($$ % ((lo - 10000 - 40) / 20)) * 20))
stats_port=$base; fe_port=$((base + 1)); exp_port=$((base + 2)); dead_port=$((base + 3))

cat >"$dir/haproxy.cfg" <<CFG
global
    stats socket $dir/admin.sock mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend stats
    bind 127.0.0.1:$stats_port
    stats enable
    stats uri /stats
frontend fe_http
    bind 127.0.0.1:$fe_port
    default_backend bk_web
backend bk_web
    server web1 127.0.0.1:$stats_port check inter 500ms
    server web2 127.0.0.1:$dead_port check inter 500ms
    server web3 127.0.0.1:$stats_port disabled
CFG
haproxy -W -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
pids="$pids $!"

cat >"$dir/lbpilot.yml" <<CFG
targets:
  - name: lb1
    module: haproxy
    url: unix:$dir/admin.sock
    labels: {site: lab}
  - name: lb1-http
    module: haproxy
    url: http://127.0.0.1:$stats_port/stats
  - name: broken
    module: haproxy
    url: unix:$dir/missing.sock
CFG
"$bin" exporter --web.listen-address=127.0.0.1:$exp_port --config.file="$dir/lbpilot.yml" >"$dir/exporter.log" 2>&1 &
pids="$pids $!"

i=0
until [ -S "$dir/admin.sock" ] && curl -fs "http://127.0.0.1:$exp_port/-/ready" >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$dir"/*.log; echo "services did not start"; exit 1; }
	sleep 0.1
done
sleep 1 # let the health checks settle

fail=0
check() {
	name=$1; url=$2
	curl -fsS "$url" >"$dir/sample.prom" || { echo "scrape $url failed"; fail=1; return; }
	n=$(grep -vc '^#' "$dir/sample.prom" || true)
	if out=$(promtool check metrics <"$dir/sample.prom" 2>&1) && [ -z "$out" ]; then
		echo ">> promtool check metrics: $name clean ($n samples)"
	else
		echo "promtool check metrics found problems in $name:"; echo "$out"; fail=1
	fi
}
check "/metrics" "http://127.0.0.1:$exp_port/metrics"
check "/probe haproxy socket" "http://127.0.0.1:$exp_port/probe?module=haproxy&target=unix:$dir/admin.sock"
check "/probe haproxy socket, promex parameters" "http://127.0.0.1:$exp_port/probe?module=haproxy&target=unix:$dir/admin.sock&extra-counters&desc-labels&no-maint&scope=*"
check "/probe haproxy http" "http://127.0.0.1:$exp_port/probe?module=haproxy&target=http://127.0.0.1:$stats_port/stats"
# Extra samples registered by later parts of lbpilot (lab upstreams).
for extra in scripts/checkmetrics.d/*.sh; do
	[ -e "$extra" ] || continue
	. "$extra"
done
[ $fail -eq 0 ] || { echo "--- exporter log"; cat "$dir/exporter.log"; exit 1; }
