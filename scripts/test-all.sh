#!/bin/sh
# test-all.sh BUILD [ASAN_BUILD] - the whole of `make test`: every test on
# the release build, then (when ASAN_BUILD is given) every test again on the
# address + undefined sanitizer build, integration tests included (their
# servers and clients are the sanitized binaries). Both runs happen even when
# the first fails; the last line adds them up as "N passed, N failed".
set -u
sum_passed=0
sum_failed=0
sum_skipped=0
status=0
for b in "$@"; do
	echo "== tests on $b"
	sh "$(dirname "$0")/run-tests.sh" "$b" || status=1
	line=$(tail -n 1 "$b/test-summary.txt" 2>/dev/null)
	p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
	f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
	s=$(echo "$line" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
	[ -n "$p" ] && [ -n "$f" ] || { p=0; f=1; status=1; }
	sum_passed=$((sum_passed + p))
	sum_failed=$((sum_failed + f))
	sum_skipped=$((sum_skipped + ${s:-0}))
done
echo "== all runs ($*)"
if [ "$sum_skipped" -gt 0 ]; then
	echo "$sum_passed passed, $sum_failed failed, $sum_skipped skipped"
else
	echo "$sum_passed passed, $sum_failed failed"
fi
[ "$status" -eq 0 ] && [ "$sum_failed" -eq 0 ]
