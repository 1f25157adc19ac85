#!/bin/sh
# bench.sh — run every benchmark piece in scripts/bench.d/ (in name order)
# and assemble BENCHMARKS.md from the markdown fragments they write.
#
# A piece is a shell script run as `piece.sh OUTDIR LBPILOT`; it measures
# side by side in one run and writes OUTDIR/<piece>.md (a "## Title" and a
# table of ratios). Absolute times go in the fragment only as context.
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp -d /tmp/lbpbench.XXXXXX)
trap 'rm -rf "$out"' EXIT
bin=$(readlink -f bin/lbpilot)
for piece in scripts/bench.d/*.sh; do
	[ -e "$piece" ] || continue
	echo ">> bench: $piece"
	sh "$piece" "$out" "$bin"
done
{
	echo "# Benchmarks"
	echo
	echo "Measured by \`make bench\` on $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%d)."
	echo "Each table compares alternatives measured in the same run, alternating,"
	echo "so the ratios hold even on a noisy machine; absolute times are context only."
	echo
	for f in "$out"/*.md; do
		[ -e "$f" ] || continue
		cat "$f"
		echo
	done
} >BENCHMARKS.md
echo ">> wrote BENCHMARKS.md"
