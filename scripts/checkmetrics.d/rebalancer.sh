# Sourced by checkmetrics.sh: start `lbpilot rebalancer` against the same
# haproxy, send it a few webhooks (one applied or deferred by the guard, one
# refused), and run promtool on its /metrics.
rb_port=$((base + 4))
"$bin" rebalancer --haproxy.socket="unix:$dir/admin.sock" --web.listen-address=127.0.0.1:$rb_port \
	--rebalancer.state-file="$dir/rebalancer.json" --rebalancer.reconcile-interval=1s >"$dir/rebalancer.log" 2>&1 &
pids="$pids $!"
i=0
until curl -fs "http://127.0.0.1:$rb_port/-/ready" >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$dir/rebalancer.log"; echo "rebalancer did not start"; exit 1; }
	sleep 0.1
done
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for srv in web1 web2 'web1;shutdown sessions'; do
	curl -fsS -H 'Content-Type: application/json' "http://127.0.0.1:$rb_port/api/v1/alerts" -d '{"version":"4","status":"firing","alerts":[{"status":"firing","startsAt":"'"$now"'","labels":{"alertname":"CheckMetrics","lbpilot_action":"drain","haproxy_backend":"bk_web","haproxy_server":"'"$srv"'"}}]}' >/dev/null ||
		{ echo "rebalancer webhook failed"; fail=1; }
done
sleep 1.5 # one reconcile
check "rebalancer /metrics" "http://127.0.0.1:$rb_port/metrics"
grep -q '^lbpilot_rebalancer_alerts_ignored_total{reason="invalid_name"} 1$' "$dir/sample.prom" ||
	{ echo "rebalancer did not count the refused alert"; fail=1; }
[ $fail -eq 0 ] || { echo "--- rebalancer log"; cat "$dir/rebalancer.log"; }
