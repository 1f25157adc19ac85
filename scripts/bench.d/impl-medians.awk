# impl-medians.awk — shared by the library comparisons (40-libraries.sh,
# 41-json.sh): collects the go test -bench lines of sub-benchmarks named
# <bench>/impl=<name> (set -v bench=...), every round of each, and gives
# their medians and ratios to the END block of the calling script.
# vals[impl, unit] holds the values of one unit ("ns", "B/op", ...);
# order[1..n] the implementations in the order they first ran.

function median(key,   n, i, j, t, a) {
	n = split(vals[key], a, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}

function ratio(a, b) { return b > 0 ? sprintf(a / b >= 10 ? "%.0f" : "%.2f", a / b) : "–" }

$1 ~ "^Benchmark" bench "/impl=" {
	impl = $1; sub(/^.*impl=/, "", impl); sub(/-[0-9]+$/, "", impl)
	if (!(impl in seen)) { seen[impl] = 1; order[++n] = impl }
	vals[impl, "ns"] = vals[impl, "ns"] " " $3
	for (i = 4; i < NF; i++) if ($(i + 1) ~ /^(cpu-ms\/op|gz-bytes|B\/op|allocs\/op)$/) vals[impl, $(i + 1)] = vals[impl, $(i + 1)] " " $i
}
