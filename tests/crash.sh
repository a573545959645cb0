#!/bin/sh
# crash.sh BUILD_DIR [ROUNDS] - kill -9 a writer doing puts, overwrites,
# deletes and GCs at random moments, ROUNDS times on the same directory;
# after each kill every acknowledged write must read back byte-identical,
# fsck must be clean and no temporary file may survive the reopen.
set -u
BUILD=$1
ROUNDS=${2:-20}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
SEED=${CAIRN_TEST_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "# seed $SEED"
passed=0
failed=0
i=0
while [ $i -lt "$ROUNDS" ]; do
	i=$((i + 1))
	"$BUILD/tests/crash_writer" write "$DIR/data" $((SEED + i)) >>"$DIR/log" 2>"$DIR/err" &
	pid=$!
	# 50..800 ms: sometimes mid-xorb, mid-commit, mid-GC
	ms=$(( (SEED * 7 + i * 131) % 750 + 50 ))
	sleep "$(awk "BEGIN{print $ms / 1000}")"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	if [ -s "$DIR/err" ]; then
		echo "FAIL round $i: the writer failed before the kill:"; cat "$DIR/err"
		failed=$((failed + 1))
		continue
	fi
	if "$BUILD/tests/crash_writer" check "$DIR/data" "$DIR/log" >"$DIR/check" 2>&1; then
		passed=$((passed + 1))
	else
		echo "FAIL round $i (killed after ${ms} ms, $(grep -c ack "$DIR/log") acks):"
		head -20 "$DIR/check"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
