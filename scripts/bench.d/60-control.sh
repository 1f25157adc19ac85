#!/bin/sh
# 60-control.sh OUTDIR [LBPILOT] — control quality on real traffic: the
# same seeded plan (steady, flash crowd, a node killed and back, steady;
# an outside CPU hog on one node mid-run) through the demo's whole stack,
# once per arm, alternated: HAProxy alone, the WCS docs' up/down agent,
# lbpilot's agent alone, lbpilot's agent with the rebalancer and the
# shipped rules (tools/bench/control). Writes OUTDIR/60-control.md and
# docs/images/control-arm*.png. CONTROL_BENCH_FLAGS adds flags, e.g.
# -short for a quick run (under 3 minutes), -rounds 3 for three runs.
set -eu
outdir=$1
frag="$outdir/60-control.md"
lbpilot=${2:-}
set --
if [ -n "$lbpilot" ]; then
	set -- -lbpilot "$lbpilot"
fi
# shellcheck disable=SC2086
go run ./tools/bench/control ${CONTROL_BENCH_FLAGS:-} "$@" -out "$frag"
echo ">> wrote $frag"
