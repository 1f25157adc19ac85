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
		go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$dur" "$pkg" >/tmp/lbpilot-fuzz.$$ 2>&1 || {
			cat /tmp/lbpilot-fuzz.$$; rm -f /tmp/lbpilot-fuzz.$$
			echo "fuzz target $fn in $pkg failed (a crasher is saved under $pkg/testdata/fuzz/$fn)"; exit 1; }
	done
done
rm -f /tmp/lbpilot-fuzz.$$
[ "$found" -gt 0 ] || { echo "no fuzz targets found"; exit 1; }
echo ">> fuzz: $found targets passed"
