# agent.sh — sourced by checkmetrics.sh: start a lab WCS (its own
# lbpilot-lab) and `lbpilot agent` in front of it, answer a few agent checks
# (one below the thresholds, one over, one with the upstream failing; cpu off
# so the build machine's own load does not decide), then
# run promtool on the agent's /metrics.
agent_lab_bin=$(dirname "$bin")/lbpilot-lab
if [ ! -x "$agent_lab_bin" ]; then
	agent_lab_bin="$dir/lbpilot-lab"
	[ -x "$agent_lab_bin" ] || go build -o "$agent_lab_bin" ./cmd/lbpilot-lab
fi
agent_lab_port=$((base + 10)); agent_port=$((base + 11)); agent_http=$((base + 12))
"$agent_lab_bin" --wcs=1 --srs-origin=0 --srs-edge=0 --emqx=0 --base-port=$agent_lab_port --log.level=warn \
	--load='wcs={"publishers":8,"subscribers":60,"bandwidth_out_mbps":40}' >"$dir/agent-lab.out" 2>"$dir/agent-lab.log" &
pids="$pids $!"
"$bin" agent --agent.listen-address=127.0.0.1:$agent_port --agent.http-listen-address=127.0.0.1:$agent_http \
	--agent.target="http://127.0.0.1:$agent_lab_port/?action=stat" --agent.cache-ttl=0s --agent.threshold=cpu=off >"$dir/agent.log" 2>&1 &
pids="$pids $!"
i=0
until curl -fs "http://127.0.0.1:$agent_http/-/ready" >/dev/null 2>&1 && grep -q http "$dir/agent-lab.out" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$dir/agent.log" "$dir/agent-lab.log"; echo "agent did not start"; fail=1; return 0; }
	sleep 0.1
done
agent_reply() { curl -sS "http://127.0.0.1:$agent_http/health" 2>/dev/null | sed -n 's/.*"reply": "\(.*\)".*/\1/p'; }
r1=$(agent_reply)
curl -fsS -XPOST "http://127.0.0.1:$agent_lab_port/lab/load" -d '{"subscribers":150}' >/dev/null
r2=$(agent_reply)
curl -fsS -XPOST "http://127.0.0.1:$agent_lab_port/lab/fault" -d '{"status":503}' >/dev/null
r3=$(agent_reply)
# and a real agent-check over TCP
r4=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$agent_port; cat <&3" 2>/dev/null || true)
case "$r1|$r2|$r3|$r4" in
	"up "*"%|up 1%|down #upstream HTTP 503|down #upstream HTTP 503") echo ">> agent replies: '$r1', '$r2', '$r3'" ;;
	*) echo "agent replies unexpected: '$r1' '$r2' '$r3' '$r4'"; fail=1 ;;
esac
curl -fsS -XDELETE "http://127.0.0.1:$agent_lab_port/lab/fault" >/dev/null
agent_reply >/dev/null # a readable upstream again, so the ratios are exposed
check "agent /metrics" "http://127.0.0.1:$agent_http/metrics"
for fam in lbpilot_agent_weight_ratio lbpilot_agent_utilization_ratio lbpilot_agent_replies_total lbpilot_agent_check_duration_seconds_bucket lbpilot_build_info; do
	grep -q "^$fam" "$dir/sample.prom" || { echo "agent /metrics lacks $fam"; fail=1; }
done
