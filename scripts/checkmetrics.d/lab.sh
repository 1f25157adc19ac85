# lab.sh — sourced by checkmetrics.sh: start lbpilot-lab (one WCS, SRS
# origin, SRS edge and EMQX cluster, all under load), then run promtool on
# /probe of every kind through the running exporter, on a failing probe,
# and on /metrics of a second exporter with the lab as static targets.
lab_bin=$(dirname "$bin")/lbpilot-lab
if [ ! -x "$lab_bin" ]; then
	lab_bin="$dir/lbpilot-lab"
	go build -o "$lab_bin" ./cmd/lbpilot-lab
fi
"$lab_bin" --wcs=1 --srs-origin=1 --srs-edge=1 --emqx=1 --log.level=warn \
	--load='wcs={"publishers":12,"subscribers":140,"hls":20,"bandwidth_in_mbps":30,"bandwidth_out_mbps":400,"cpu":0.4}' \
	--load='srs-origin={"publishers":3,"subscribers":30,"bandwidth_in_mbps":3,"bandwidth_out_mbps":30,"cpu":0.2}' \
	--load='srs-edge={"publishers":3,"subscribers":60,"bandwidth_out_mbps":60}' \
	--load='emqx={"connections":500,"subscriptions":900,"topics":80,"messages_in_per_second":200,"messages_out_per_second":800}' \
	>"$dir/lab.out" 2>"$dir/lab.log" &
pids="$pids $!"
i=0
until [ "$(grep -c http "$dir/lab.out" 2>/dev/null)" = 4 ]; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$dir/lab.log"; echo "lbpilot-lab did not start"; fail=1; return 0; }
	sleep 0.1
done
lab_url() { awk -v n="$1" '$1 == n { print $3 }' "$dir/lab.out"; }
wcs_url=$(lab_url wcs1); origin_url=$(lab_url srs-origin1); edge_url=$(lab_url srs-edge1); emqx_url=$(lab_url emqx1)

check "/probe wcs (lab)" "http://127.0.0.1:$exp_port/probe?module=wcs&target=$wcs_url"
check "/probe srs origin (lab)" "http://127.0.0.1:$exp_port/probe?module=srs&target=$origin_url"
check "/probe srs edge (lab)" "http://127.0.0.1:$exp_port/probe?module=srs&target=$edge_url"
check "/probe emqx (lab)" "http://127.0.0.1:$exp_port/probe?module=emqx&target=$emqx_url"
check "/probe srs (nothing listening)" "http://127.0.0.1:$exp_port/probe?module=srs&target=http://127.0.0.1:$dead_port"
for kind in wcs srs emqx; do
	case $kind in wcs) u=$wcs_url ;; srs) u=$origin_url ;; emqx) u=$emqx_url ;; esac
	curl -fsS "http://127.0.0.1:$exp_port/probe?module=$kind&target=$u" >"$dir/probe.prom" || true
	grep -q '^lbpilot_up{module="'$kind'"} 1$' "$dir/probe.prom" || { echo "/probe $kind of the lab is not up"; fail=1; }
done

lab_exp_port=$((base + 5))
cat >"$dir/lab.yml" <<CFG
modules:
  srs_streams:
    kind: srs
    srs: {stream_metrics: true}
  wcs_streams:
    kind: wcs
    wcs: {stream_metrics: true}
targets:
  - {name: wcs1, module: wcs_streams, url: "$wcs_url", labels: {site: lab}}
  - {name: srs-origin1, module: srs_streams, url: "$origin_url", labels: {site: lab, role: origin}}
  - {name: srs-edge1, module: srs_streams, url: "$edge_url", labels: {site: lab, role: edge}}
  - {name: emqx1, module: emqx, url: "$emqx_url", labels: {site: lab}}
  - {name: srs-down, module: srs, url: "http://127.0.0.1:$dead_port", labels: {site: lab, role: origin}}
CFG
"$bin" exporter --web.listen-address=127.0.0.1:$lab_exp_port --config.file="$dir/lab.yml" >"$dir/exporter-lab.log" 2>&1 &
pids="$pids $!"
i=0
until curl -fs "http://127.0.0.1:$lab_exp_port/-/ready" >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$dir/exporter-lab.log"; echo "lab exporter did not start"; fail=1; return 0; }
	sleep 0.1
done
check "/metrics with lab targets" "http://127.0.0.1:$lab_exp_port/metrics"
ups=$(grep -c '^lbpilot_up{.*} 1$' "$dir/sample.prom" || true)
[ "$ups" = 4 ] || { echo "/metrics with lab targets: $ups targets up, want 4"; grep '^lbpilot_up' "$dir/sample.prom"; fail=1; }
