#!/bin/sh
# bench.d/31-rebalancer-page.sh OUTDIR LBPILOT — the rebalancer's operator
# page at 1,000 backends × 10 servers in headless Chromium
# (rebalancer/webui/bench_test.go): first render and refresh as the browser
# measures them, against a plain fetch + JSON.parse of the same state in the
# same page, with quiet backends collapsed (as served) and with every
# backend open, alternating. Writes OUTDIR/31-rebalancer-page.md.
set -eu
out=$1
cd "$(dirname "$0")/../.."
command -v chromium >/dev/null 2>&1 || { echo "chromium is not installed (make deps)"; exit 1; }
raw=$(mktemp /tmp/lbpbench-page.XXXXXX)
trap 'rm -f "$raw"' EXIT
go test -run '^$' -bench '^BenchmarkPageInBrowser$' -benchtime="${PAGE_ROUNDS:-9}x" ./rebalancer/webui/ >"$raw"
go test -run '^$' -bench '^BenchmarkPageRender$' -benchtime=20x ./rebalancer/webui/ >>"$raw"
grep -q '^BenchmarkPageInBrowser' "$raw" || { cat "$raw"; echo "page benchmark did not run"; exit 1; }
# metric NAME BENCH: the value reported as NAME on the BENCH line.
metric() { awk -v b="$2" -v m="$1" '$1 ~ "^"b"-" { for (i = 3; i < NF; i++) if ($(i+1) == m) print $i }' "$raw"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f×", a / b }'; }
ms() { awk -v v="$1" 'BEGIN { printf "%.0f ms", v }'; }
B=BenchmarkPageInBrowser
x() { awk -v v="$1" 'BEGIN { printf "%.1f×", v }'; }
row() { # label metric: median times, and medians of each load's time over its own raw fetch
	c=$(metric "collapsed-$2-ms" $B); e=$(metric "expanded-$2-ms" $B)
	echo "| $1 | $(ms "$c") | $(x "$(metric "collapsed-$2-x" $B)") | $(ms "$e") | $(x "$(metric "expanded-$2-x" $B)") | $(ratio "$e" "$c") |"
}
render=$(metric ns/op BenchmarkPageRender)
cat >"$out/31-rebalancer-page.md" <<MD
## Rebalancer page: 1,000 backends × 10 servers

\`/\` of the rebalancer in headless Chromium (Debian's), served from an API
answer of 10,000 servers ($(metric state-json-KiB $B | awk '{printf "%.0f", $1}') KiB of JSON) in which one backend in 100 has a
drained server and an alert. The browser measures everything: times from
the navigation start, and the baseline is a plain \`fetch\` + \`JSON.parse\`
of the same \`/api/v1/state\` in the same page, just after (median of 3);
each "×" is the median over the loads of that load's time over its own
baseline. "Collapsed" is the page as served (backends that need no
attention closed, their rows built only when opened); "all open" renders
every server row (\`ExpandAll\` above 10,000). Medians of ${PAGE_ROUNDS:-9} alternating loads. The machine is shared:
the ratios hold, the absolute times are context only.

| measurement | collapsed (as served) | × raw JSON fetch | all open | × raw JSON fetch | all open × collapsed |
|---|---|---|---|---|---|
$(row "first contentful paint" fcp)
$(row "load event (page parsed, styled)" loaded)
$(row "live: first poll fetched, parsed and merged" live)
$(row "refresh, nothing changed (fetch, parse, diff, layout)" refresh)
$(row "refresh, one server changed (the history is read again too)" changed)
$(row "rebuild everything shown from the last state" rerender)
| raw JSON fetch + parse (the baseline) | $(ms "$(metric collapsed-rawjson-ms $B)") | 1.0× | $(ms "$(metric expanded-rawjson-ms $B)") | 1.0× | |
| page as served | $(metric collapsed-html-KiB $B | awk '{printf "%.0f", $1}') KiB | | $(metric expanded-html-KiB $B | awk '{printf "%.0f", $1}') KiB | | |

The server renders the collapsed page in $(awk -v v="$render" 'BEGIN { printf "%.0f ms", v / 1e6 }') (\`BenchmarkPageRender\`: the
state read through the API handler, decoded, grouped, rendered). The first
poll finds the state the page was rendered from (a hash in the page) and
rebuilds nothing; a refresh costs about what fetching the JSON costs: the
script compares each backend's data with the last poll's and rebuilds only
the rows that changed.
MD
cat "$out/31-rebalancer-page.md"
