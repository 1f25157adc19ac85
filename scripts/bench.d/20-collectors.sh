#!/bin/sh
# 20-collectors.sh OUTDIR LBPILOT — the WCS, SRS and EMQX collectors
# against the lab: end to end through the lbpilot binary (500 targets in
# one /metrics scrape, /probe overhead per kind, a 10,000-client SRS node;
# tools/bench/collectors), then the packages' Go benchmarks (a collector scrape
# against the same requests made raw, in one process). Writes
# OUTDIR/20-collectors.md.
set -eu
outdir=$1
bin=$2
frag="$outdir/20-collectors.md"
go run ./tools/bench/collectors -lbpilot "$bin" -out "$frag"

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
go test -run '^$' -bench 'Scrape|RawFetch' -benchtime 1s -count 3 ./collectors/wcs ./collectors/srs ./collectors/emqx >"$tmp"
{
	echo
	echo "Go benchmarks (\`go test -bench 'Scrape|RawFetch' ./collectors/...\`; the lab runs in the same process; best of 3):"
	echo
	echo "| collector | one scrape (fetch, decode, metrics) | the same requests, bodies only | ratio |"
	echo "|---|---|---|---|"
	awk '
		/^pkg: / { pkg = $2; sub(".*/collectors/", "", pkg) }
		/^Benchmark(RawFetch|Scrape)/ {
			name = $1; sub(/-[0-9]+$/, "", name)
			kind = (name ~ /RawFetch/) ? "raw" : "scrape"
			key = pkg "|" substr(name, index(name, kind == "raw" ? "RawFetch" : "Scrape") + (kind == "raw" ? 8 : 6))
			v = $3 + 0
			if (!(key in best) || v < best[key, kind] || best[key, kind] == "") best[key, kind] = v
			best[key] = 1
		}
		END {
			for (k in best) {
				if (index(k, SUBSEP)) continue
				split(k, p, "|")
				s = best[k, "scrape"]; r = best[k, "raw"]
				if (s == "" || r == "") continue
				label = p[1]; if (p[2] != "") label = label " (" p[2] ")"
				printf "| %s | %.2f ms | %.2f ms | %.2f× |\n", label, s / 1e6, r / 1e6, s / r
			}
		}' "$tmp" | sort
} >>"$frag"
echo ">> wrote $frag"
