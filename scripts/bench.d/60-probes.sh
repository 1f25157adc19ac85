#!/bin/sh
# 60-probes.sh OUTDIR LBPILOT — the protocol probes through a real haproxy:
# each probe's overhead over the same exchange made directly, and 200
# concurrent MQTT probes to mosquitto (tools/bench/probes). Writes
# OUTDIR/60-probes.md.
set -eu
outdir=$1
bin=$2
go run ./tools/bench/probes -lbpilot "$bin" -out "$outdir/60-probes.md"
echo ">> wrote $outdir/60-probes.md"
