#!/bin/sh
# 41-json.sh OUTDIR LBPILOT — our SRS list scanner (internal/srsapi's
# fastjson.go) against github.com/goccy/go-json, with encoding/json as the
# baseline, on the answers of a lab SRS with 10,000 clients and 1,000
# streams (internal/srsapi/json_bench_test.go). The test binary is built
# once and run ROUNDS times, every implementation once per round, so load
# changes on a shared machine hit all of them alike. Writes
# OUTDIR/41-json.md, a part of 40-libraries.md's section.
set -eu
outdir=$1
frag="$outdir/41-json.md"
cd "$(dirname "$0")/../.."
rounds=${ROUNDS:-6}
# benchstat, pinned as in 40-libraries.sh. BENCHSTAT= skips it.
benchstat=${BENCHSTAT-golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da}

tmp=$(mktemp -d /tmp/lbpbench-json.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/srsapi.test" ./internal/srsapi
i=0
while [ "$i" -lt "$rounds" ]; do
	(cd internal/srsapi && "$tmp/srsapi.test" -test.run '^$' -test.bench '^BenchmarkJSON' -test.benchtime 1s -test.count 1) >>"$tmp/raw.txt"
	i=$((i + 1))
done
grep -q '^BenchmarkJSONCount10k/impl=ours' "$tmp/raw.txt" || { cat "$tmp/raw.txt"; echo "JSON benchmarks did not run"; exit 1; }

# table BENCH: one row per implementation, medians over the rounds, as
# ratios to ours where ours takes part, else to encoding/json.
table() {
	awk -v bench="$1" -f scripts/bench.d/impl-medians.awk -f /dev/stdin "$tmp/raw.txt" <<'AWK'
		END {
			base = ("ours" in seen) ? "ours" : "stdlib"
			o["ns"] = median(base SUBSEP "ns"); o["b"] = median(base SUBSEP "B/op"); o["a"] = median(base SUBSEP "allocs/op")
			label["ours"] = "ours (fastjson.go)"
			label["goccy"] = "goccy/go-json, into the same structs"
			label["goccy_nocopy"] = "goccy/go-json, DecodeNoCopyString"
			label["goccy_slim"] = "goccy/go-json, only id, vhost, type, publish (lenient)"
			label["goccy_slim_nocopy"] = "goccy/go-json, only those four, DecodeNoCopyString (lenient)"
			label["stdlib"] = "encoding/json, into the same structs"
			label["stdlib_slim"] = "encoding/json, only those four (lenient)"
			print "| decoder | time × " base " | bytes allocated × " base " | allocations × " base " | allocated per answer |"
			print "|---|---|---|---|---|"
			for (k = 1; k <= n; k++) {
				m = order[k]
				ns = median(m SUBSEP "ns"); b = median(m SUBSEP "B/op"); a = median(m SUBSEP "allocs/op")
				printf "| %s | %s | %s | %s | %.0f B, %.0f allocs |\n", (m in label ? label[m] : m), ratio(ns, o["ns"]), ratio(b, o["b"]), ratio(a, o["a"]), b, a
			}
		}
AWK
}

{
	cat <<'MD'
### SRS list JSON: internal/srsapi's scanner vs github.com/goccy/go-json

Input: the answers of a lab SRS (`internal/lab`) with 1,000 publishers and
9,000 players: `/api/v1/clients/` with all 10,000 clients in one page
(3 MB) and `/api/v1/streams/` with its 1,000 streams (one default page).
Every decoder's result is checked against the first one's before timing.
Medians of the rounds, as ratios (above 1 is slower or hungrier).
`encoding/json/v2` is left out: Go 1.26 builds it only with
`GOEXPERIMENT=jsonv2`, which the project's builds do not set.

MD
	echo "Command (\`make bench\` runs it as \`scripts/bench.d/41-json.sh\`, $rounds rounds):"
	echo
	echo '```'
	echo "go test -c -o srsapi.test ./internal/srsapi && cd internal/srsapi &&"
	echo "for i in \$(seq $rounds); do ../../srsapi.test -test.run '^\$' -test.bench '^BenchmarkJSON' -test.benchtime 1s; done >raw.txt"
	echo "go run ${benchstat:-golang.org/x/perf/cmd/benchstat@latest} -col /impl raw.txt"
	echo '```'
	echo
	echo "Counting the 10,000 clients into per-vhost/type/publish counts (every default scrape; \`BenchmarkJSONCount10k\`):"
	echo
	table JSONCount10k
	echo
	echo "Decoding the 10,000 clients into \`[]Client\` (\`keep_clients\`; \`BenchmarkJSONClients10k\`):"
	echo
	table JSONClients10k
	echo
	echo "Decoding the 1,000 streams into \`[]Stream\` (every scrape, and the agent; \`BenchmarkJSONStreams1k\`):"
	echo
	table JSONStreams1k
	if [ -n "$benchstat" ] && (cd "$tmp" && go run "$benchstat" -col /impl raw.txt) >"$tmp/stat.txt" 2>/dev/null; then
		echo
		echo "<details><summary>benchstat -col /impl</summary>"
		echo
		echo '```'
		cat "$tmp/stat.txt"
		echo '```'
		echo
		echo "</details>"
	fi
	cat <<'MD'

The whole scrape (`BenchmarkScrape10k` in `collectors/srs`: the lab node
above, pages of 1,000, per-type counts, metrics built), 5 alternating
rounds of three test binaries: the scanner on for clients and streams (as
before this comparison), off (encoding/json for both), and as decided
(scanner for clients, goccy/go-json for streams). Medians, as ratios to
"on":

| build | time | bytes allocated | allocations |
|---|---|---|---|
| scanner for clients and streams (before) | 1.00 | 1.00 | 1.00 |
| encoding/json for both | 2.12 | 1.35 | 1.93 |
| scanner for clients, goccy/go-json for streams (now) | 0.94 (within noise) | 1.02 | 1.07 |

Decision (2026-12-02, from these tables; revisit when the numbers move),
per use, against the best goccy/go-json set-up that does the same job:

- **Counting clients: keep ours.** It is not faster: goccy/go-json into
  the same structs is 1.2–1.35× faster over the runs so far, and a lenient
  decode of only the four counted fields up to 1.8×. It is much leaner: the library allocates
  2.5× the bytes and 4.5× the allocations decoding the same structs, and
  even the lenient decode, which no longer refuses a wrongly typed field
  the way the scrape must, allocates 1.26× the bytes and 2.0–2.5× the
  allocations. Ours builds no `Client` and interns the strings that repeat.
- **Decoding clients (`keep_clients`): keep ours.** goccy/go-json is 1.3–1.5×
  faster (up to 1.7× with `DecodeNoCopyString`), but allocates 1.45× the bytes
  (1.29× without copying strings, which would pin every page's body) and
  5–7.5× the allocations; ours interns vhost, stream, address, URL and
  type, so the clients kept between scrapes are smaller as well.
- **Decoding streams: ours deleted, goccy/go-json used.** Before its
  deletion ours measured (6 rounds, same benchmark): the library 1.71×
  faster, allocating 0.83× the bytes and 1.21× the allocations: neither
  faster nor leaner by 1.3×. `decodeStreams` now tries goccy/go-json
  (`libDecode`) on bodies of valid UTF-8 and takes its result only without
  error, with code 0 and the list present (a panic in the library counts
  as a refusal); everything else is decoded again by encoding/json, for
  its exact semantics and error messages. `FuzzFastPathAgrees` checks that
  whenever the library's result is taken, encoding/json reads the same.

encoding/json is 3–5× slower than either and is only the fallback.
`BenchmarkJSON*` keep the library and encoding/json in the comparison (and
ours where it stays), so the decision can be re-run as is.
MD
} >"$frag"
echo ">> wrote $frag"
