#!/bin/sh
# run-tests.sh BUILD_DIR - run every test through ctest and end with the
# line "N passed, N failed" (ctest tests; skipped ones are counted apart).
set -u
BUILD=$1
LOG=$BUILD/test-log.txt
JOBS=$(nproc 2>/dev/null || echo 2)

# ctest's own exit status survives the pipe through a file
{ ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" 2>&1; echo $? >"$LOG.status"; } | tee "$LOG"
status=$(cat "$LOG.status")

total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2/p' "$LOG" | tail -1)
failed=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1/p' "$LOG" | tail -1)
# skipped tests (exit 77) are not failures; "Not Run" ones are, and ctest
# already counts them as failed
skipped=$(grep -c '\*\*\*Skipped' "$LOG" || true)
if [ -z "$total" ]; then
	echo "run-tests: ctest printed no summary"
	echo "0 passed, 1 failed" | tee "$BUILD/test-summary.txt"
	exit 1
fi
passed=$((total - failed - skipped))
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi | tee "$BUILD/test-summary.txt"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
	exit 1
fi
exit 0
