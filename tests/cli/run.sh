#!/bin/sh
# run.sh BUILD_DIR - CLI tests as files (zstd's tests/cli-tests style):
# cases/NAME.sh is run with $CAIRN set, in a scratch directory holding the
# standard inputs 0.bin..3.bin; its stdout, stderr and exit status must
# equal cases/NAME.out, cases/NAME.err (if present) and cases/NAME.status
# (0 if absent). CAIRN_UPDATE=1 rewrites the expectations instead.
set -u
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
CAIRN=$BUILD/cairn
export CAIRN
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$BUILD/tests/xetcheck" gen "$WORK" splitmix:0:1000000 const:59:1000000 const:0:0 \
	splitmix:1:1 splitmix:2:6000000 >/dev/null || exit 1
rm -f "$WORK/inputs.json"

passed=0
failed=0
for t in "$HERE"/cases/*.sh; do
	name=$(basename "$t" .sh)
	(cd "$WORK" && sh "$t" >"$WORK/.out" 2>"$WORK/.err")
	status=$?
	exp_status=0
	[ -f "$HERE/cases/$name.status" ] && exp_status=$(cat "$HERE/cases/$name.status")
	if [ "${CAIRN_UPDATE:-}" = 1 ]; then
		cp "$WORK/.out" "$HERE/cases/$name.out"
		if [ -s "$WORK/.err" ]; then cp "$WORK/.err" "$HERE/cases/$name.err"; else rm -f "$HERE/cases/$name.err"; fi
		if [ "$status" -ne 0 ]; then echo "$status" >"$HERE/cases/$name.status"; else rm -f "$HERE/cases/$name.status"; fi
		continue
	fi
	ok=1
	if ! cmp -s "$WORK/.out" "$HERE/cases/$name.out"; then
		echo "FAIL $name: stdout differs"; diff "$HERE/cases/$name.out" "$WORK/.out" | head -20; ok=0
	fi
	if [ -f "$HERE/cases/$name.err" ]; then
		if ! cmp -s "$WORK/.err" "$HERE/cases/$name.err"; then
			echo "FAIL $name: stderr differs"; diff "$HERE/cases/$name.err" "$WORK/.err" | head -20; ok=0
		fi
	elif [ -s "$WORK/.err" ]; then
		echo "FAIL $name: unexpected stderr:"; head -5 "$WORK/.err"; ok=0
	fi
	if [ "$status" != "$exp_status" ]; then
		echo "FAIL $name: exit status $status, expected $exp_status"; ok=0
	fi
	if [ $ok = 1 ]; then passed=$((passed + 1)); echo "ok $name"; else failed=$((failed + 1)); fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
