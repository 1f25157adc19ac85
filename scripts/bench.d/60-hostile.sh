#!/bin/sh
# bench.d/60-hostile.sh OUTDIR LBPILOT — the hostile tests of issue 17
# (held connections, 500 concurrent probes of one haproxy, an endless stats
# page) against the exporter: tools/bench/hostile. Set
# LBPILOT_BENCH_BEFORE=PATH to another lbpilot binary to compare it in
# the same run. Writes OUTDIR/60-hostile.md.
set -eu
out=$1; bin=$2
cd "$(dirname "$0")/../.."
set -- -bin "lbpilot=$bin"
if [ -n "${LBPILOT_BENCH_BEFORE:-}" ]; then
	set -- -bin "before=$LBPILOT_BENCH_BEFORE" -bin "after=$bin"
fi
go run ./tools/bench/hostile "$@" -out "$out/60-hostile.md"
cat "$out/60-hostile.md"
