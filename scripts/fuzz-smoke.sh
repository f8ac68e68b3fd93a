#!/usr/bin/env bash
# Runs every Fuzz target of the module briefly (default 10s each). A failure
# prints that run's own output (the failing input is saved under the
# package's testdata/fuzz by go test).
set -euo pipefail
t=${1:-10s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/func //' | sort -u); do
		echo "fuzz $pkg $f ($t)"
		if ! go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg" >"$log" 2>&1; then
			echo "FAIL fuzz $pkg $f"
			cat "$log"
			exit 1
		fi
	done
done
