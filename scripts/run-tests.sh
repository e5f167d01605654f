#!/bin/bash
# Runs every test of a build directory and ends with one line:
#   N passed, N failed
# counting test cases (each TAP line of each test program), not programs.
# Extra arguments go to `meson test` (a suite or test name, say).
set -u
build=${1:-build}
shift
out="$build/test-output.txt"
meson test -C "$build" --print-errorlogs --num-processes 2 "$@" >"$out" 2>&1
status=$?
if [ $status -eq 0 ]; then
	grep -E '^ *[0-9]+/[0-9]+ ' "$out"
else
	tail -n 300 "$out"
fi
python3 "$(dirname "$0")/count-tests.py" "$build/meson-logs/testlog.json" || status=1
exit $status
