# probes.sh — sourced by checkmetrics.sh: promtool on the protocol probes'
# answers: an MQTT probe that succeeds (Debian's mosquitto on base+6) and
# a failing probe of every probe kind (nothing listening).
mq_port=$((base + 6))
if command -v mosquitto >/dev/null; then
	printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n' "$mq_port" >"$dir/mosquitto.conf"
	mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
	pids="$pids $!"
	# The probe itself says when the broker is up.
	i=0
	until curl -fsS "http://127.0.0.1:$exp_port/probe?module=mqtt&target=mqtt://127.0.0.1:$mq_port" 2>/dev/null | grep -q '^probe_success 1$'; do
		i=$((i + 1)); [ $i -lt 50 ] || break
		sleep 0.2
	done
	check "/probe mqtt (mosquitto)" "http://127.0.0.1:$exp_port/probe?module=mqtt&target=mqtt://127.0.0.1:$mq_port"
	grep -q '^probe_success 1$' "$dir/sample.prom" || { echo "/probe mqtt of mosquitto did not succeed"; cat "$dir/sample.prom"; fail=1; }
else
	echo "mosquitto not installed (make deps)"; fail=1
fi
for p in "mqtt mqtt://127.0.0.1:$dead_port" "rtmp rtmp://127.0.0.1:$dead_port/live/s" \
	"flv http://127.0.0.1:$dead_port/live/s.flv" "hls http://127.0.0.1:$dead_port/live/s.m3u8" "websocket ws://127.0.0.1:$dead_port/"; do
	kind=${p%% *}; target=${p#* }
	check "/probe $kind (nothing listening)" "http://127.0.0.1:$exp_port/probe?module=$kind&target=$target"
	grep -q '^probe_failure_info{.*reason="connection_refused".*} 1$' "$dir/sample.prom" || { echo "/probe $kind: no connection_refused"; cat "$dir/sample.prom"; fail=1; }
done
