#!/usr/bin/env bash
# Runs every Fuzz target of the module briefly (default 10s each). A failure
# prints that run's own output (the failing input is saved under the
# package's testdata/fuzz by go test).
#
# One failure is not a finding: Go 1.26's fuzz coordinator can report a bare
# "context deadline exceeded" when -fuzztime ends while a starved worker is
# mid-call (go.dev/issue/75804, fixed in Go 1.27). Such a run wrote no failing
# input and printed nothing else; it is reported as the toolchain's and the
# target is run once more, which must pass.
set -euo pipefail
t=${1:-10s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# toolchain_race reports whether the failed run in $log is go.dev/issue/75804:
# its only failure text is the coordinator's deadline, and no input was saved.
toolchain_race() {
	grep -q '^    context deadline exceeded$' "$log" &&
		! grep -q 'Failing input written to' "$log" &&
		[ "$(grep -c -e '--- FAIL' "$log")" -eq 1 ]
}

for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/func //' | sort -u); do
		echo "fuzz $pkg $f ($t)"
		for attempt in 1 2; do
			if go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg" >"$log" 2>&1; then
				break
			fi
			if [ "$attempt" = 1 ] && toolchain_race; then
				echo "  $f: the fuzz coordinator's deadline race (go.dev/issue/75804), no input found; once more"
				continue
			fi
			echo "FAIL fuzz $pkg $f"
			cat "$log"
			exit 1
		done
	done
done
