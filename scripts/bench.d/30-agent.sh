#!/bin/sh
# 30-agent.sh OUTDIR LBPILOT — lbpilot agent: agent checks at 1,000/s
# (open loop) against a lab WCS with and without the cache, p50/p99 reply
# latency, the upstream requests each made, the highest rate, and the WCS
# docs' xinetd-style bash + curl + jq + bc script for comparison
# (tools/bench/agent); then the agent's Go benchmarks. Writes
# OUTDIR/30-agent.md.
set -eu
outdir=$1
bin=$2
frag="$outdir/30-agent.md"
go run ./tools/bench/agent -lbpilot "$bin" -out "$frag"

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
go test -run '^$' -bench 'Check|Decide' -benchtime 2s -count 3 ./agent >"$tmp"
{
	echo
	echo "Go benchmarks (\`go test -bench 'Check|Decide' ./agent\`; client, agent and lab WCS in one process; best of 3):"
	echo
	echo "| benchmark | time per check | upstream requests per check |"
	echo "|---|---|---|"
	awk '
		/^Benchmark/ {
			name = $1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
			v = $3 + 0
			up = "–"
			for (i = 4; i < NF; i++) if ($(i + 1) == "upstream-requests/check") up = $i
			if (!(name in best) || v < best[name]) { best[name] = v; ups[name] = up }
		}
		END {
			label["Check"] = "one agent check (connect, line, reset), cache 1 s"
			label["CheckNoCache"] = "one agent check, no cache (reads the lab WCS)"
			label["Decide"] = "policy decision alone (loaded WCS page)"
			for (n in best) printf "| %s | %.1f µs | %s |\n", (n in label ? label[n] : n), best[n] / 1e3, ups[n]
		}' "$tmp" | sort
} >>"$frag"
echo ">> wrote $frag"
