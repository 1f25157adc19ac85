#!/bin/sh
# bench.d/30-rebalancer.sh OUTDIR LBPILOT — webhook → state visible in a real
# haproxy, for one server and for a 1,000-server alert storm, each against
# the same change sent straight to the runtime socket in the same run
# (rebalancer/bench_test.go). Writes OUTDIR/30-rebalancer.md.
set -eu
out=$1
cd "$(dirname "$0")/../.."
raw=$(mktemp /tmp/lbpbench-rb.XXXXXX)
shm=$(mktemp /tmp/lbpbench-rb-shm.XXXXXX)
trap 'rm -f "$raw" "$shm"' EXIT
go test -run '^$' -bench '^BenchmarkRebalancerWebhookToHAProxy$' -benchtime=300x ./rebalancer/ >"$raw"
go test -run '^$' -bench '^BenchmarkRebalancerStorm1000$' -benchtime=40x ./rebalancer/ >>"$raw"
go test -run '^$' -bench '^BenchmarkRebalancerManualDrain$' -benchtime=200x ./rebalancer/ >>"$raw"
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	# The same single-alert run with the state file on tmpfs: what the two fsyncs cost.
	LBPILOT_BENCH_STATE_DIR=/dev/shm go test -run '^$' -bench '^BenchmarkRebalancerWebhookToHAProxy$' -benchtime=300x ./rebalancer/ >"$shm"
fi
grep -q '^BenchmarkRebalancer' "$raw" || { cat "$raw"; echo "rebalancer benchmarks did not run (is haproxy installed?)"; exit 1; }
# metric NAME BENCH: the value reported as NAME on the BENCH line.
metric() { awk -v b="$2" -v m="$1" '$1 ~ "^"b"-" { for (i = 3; i < NF; i++) if ($(i+1) == m) print $i }' "${3:-$raw}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f×", a / b }'; }
met() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "met" : "MISSED" }'; }
w50=$(metric p50-ms BenchmarkRebalancerWebhookToHAProxy); w99=$(metric p99-ms BenchmarkRebalancerWebhookToHAProxy)
r50=$(metric restore-p50-ms BenchmarkRebalancerWebhookToHAProxy); r99=$(metric restore-p99-ms BenchmarkRebalancerWebhookToHAProxy)
s50=$(metric socket-p50-ms BenchmarkRebalancerWebhookToHAProxy); s99=$(metric socket-p99-ms BenchmarkRebalancerWebhookToHAProxy)
t50=$(metric storm-p50-ms BenchmarkRebalancerStorm1000); tmax=$(metric storm-max-ms BenchmarkRebalancerStorm1000)
tr50=$(metric restore-p50-ms BenchmarkRebalancerStorm1000)
m50=$(metric p50-ms BenchmarkRebalancerWebhookToHAProxy "$shm"); m99=$(metric p99-ms BenchmarkRebalancerWebhookToHAProxy "$shm")
md50=$(metric manual-p50-ms BenchmarkRebalancerManualDrain); md99=$(metric manual-p99-ms BenchmarkRebalancerManualDrain)
ma50=$(metric alert-p50-ms BenchmarkRebalancerManualDrain); ma99=$(metric alert-p99-ms BenchmarkRebalancerManualDrain)
ts50=$(metric socket-p50-ms BenchmarkRebalancerStorm1000); tsmax=$(metric socket-max-ms BenchmarkRebalancerStorm1000)
cat >"$out/30-rebalancer.md" <<MD
## Rebalancer: Alertmanager webhook → HAProxy state

Real haproxy on a unix socket, the rebalancer in-process with its state file
on local disk (two fsyncs before a change reaches HAProxy: the intent, then
the ownership). Time from the POST until \`show servers state\` (polled in a
tight loop) shows the change; "socket" is the same change sent straight to
the runtime socket and read back the same way, in the same run. 300 rounds
for one server, 40 storms. The machine is shared: p99 follows its load.

| measurement | lbpilot rebalancer | baseline: the same change straight to the socket | ratio | target | |
|---|---|---|---|---|---|
| one alert firing → server DRAIN, p50 | ${w50} ms | ${s50} ms | $(ratio "$w50" "$s50") | | |
| one alert firing → server DRAIN, p99 | ${w99} ms | ${s99} ms | $(ratio "$w99" "$s99") | ≤ 10 ms | $(met "$w99" 10) |
| one alert resolved → server READY, p50 / p99 | ${r50} / ${r99} ms | | | | |
MD
if [ -n "$m50" ]; then
	echo "| one alert firing → DRAIN with the state file on tmpfs (no fsync cost), p50 / p99 | ${m50} / ${m99} ms | | | | |" >>"$out/30-rebalancer.md"
fi
cat >>"$out/30-rebalancer.md" <<MD
| 1,000-alert storm (one notification) → 1,000 servers DRAIN, p50 | ${t50} ms | ${ts50} ms (10 batches of 100) | $(ratio "$t50" "$ts50") | ≤ 100 ms | $(met "$t50" 100) |
| same storm, slowest of 40 | ${tmax} ms | ${tsmax} ms | $(ratio "$tmax" "$tsmax") | | |
| storm resolved → 1,000 servers READY, p50 | ${tr50} ms | | | | |

Operator API: a manual drain, from \`GET /api/v1/csrf\` + \`POST
/api/v1/servers/bk/s0001/drain\` until \`show servers state\` shows DRAIN
(the answer comes once HAProxy took it; the hold is fsynced first),
against the same drain asked by an alert in the same run. 200 rounds.

| measurement | manual drain (API) | baseline: alert-driven drain (webhook) | ratio |
|---|---|---|---|
| request → server DRAIN, p50 | ${md50} ms | ${ma50} ms | $(ratio "$md50" "$ma50") |
| request → server DRAIN, p99 | ${md99} ms | ${ma99} ms | $(ratio "$md99" "$ma99") |
MD
cat "$out/30-rebalancer.md"
