#!/bin/sh
# 50-lab.sh OUTDIR [LBPILOT] — the lab's ceiling: concurrent mixed real
# sessions (WCS, MQTT, HTTP-FLV, HLS, RTMP) that the traffic generator and
# the lab nodes sustain in one process with a real haproxy in the path,
# stepped up until a step fails, and their CPU and memory per session
# (tools/bench/lab). Writes OUTDIR/50-lab.md. LAB_BENCH_FLAGS adds flags,
# e.g. -short for a quick check.
set -eu
outdir=$1
frag="$outdir/50-lab.md"
# shellcheck disable=SC2086
go run ./tools/bench/lab ${LAB_BENCH_FLAGS:-} -out "$frag"
echo ">> wrote $frag"
