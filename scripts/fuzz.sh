#!/bin/sh
# fuzz.sh DURATION — run every Go fuzz target in the module for DURATION each.
set -eu
dur=${1:-3s}
cd "$(dirname "$0")/.."
found=0
for file in $(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go'); do
	pkg="./$(dirname "$file")"
	for fn in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(f \*testing\.F).*/\1/p' "$file"); do
		found=$((found + 1))
		echo ">> fuzz $pkg $fn ($dur)"
		tries=0
		until go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$dur" "$pkg" >/tmp/lbpilot-fuzz.$$ 2>&1; do
			tries=$((tries + 1))
			# Go's fuzzing engine sometimes ends a short run with a bare
			# "context deadline exceeded" while it is still minimising a new
			# input: no failing input is written. Retry that once; a real
			# crash writes its input and fails at once.
			if [ $tries -eq 1 ] && grep -q 'context deadline exceeded' /tmp/lbpilot-fuzz.$$ &&
				! grep -q 'Failing input written' /tmp/lbpilot-fuzz.$$; then
				echo "   (fuzzing engine timed out while minimising, no crasher; retrying once)"
				continue
			fi
			cat /tmp/lbpilot-fuzz.$$; rm -f /tmp/lbpilot-fuzz.$$
			echo "fuzz target $fn in $pkg failed (a crasher is saved under $pkg/testdata/fuzz/$fn)"; exit 1
		done
	done
done
rm -f /tmp/lbpilot-fuzz.$$
[ "$found" -gt 0 ] || { echo "no fuzz targets found"; exit 1; }
echo ">> fuzz: $found targets passed"
