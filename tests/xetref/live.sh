#!/bin/sh
# live.sh BUILD_DIR SRC_DIR - compare Cairn with xet-core's own build, live:
# the standard inputs plus fresh random ones (seed printed), every code path
# (tests/xetcheck) and the `cairn hash` command; and check that the stored
# reference answers in tests/data/xet_reference.json are still what xet-core
# says. Skips (77) when the reference cannot be fetched.
set -eu
BUILD=$1
SRC=$2
CACHE=$BUILD/xetref
set +e
sh "$SRC/tests/xetref/fetch.sh" "$CACHE"
rc=$?
set -e
[ $rc -eq 0 ] || exit $rc

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SEED=${CAIRN_TEST_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "# fresh inputs use seed $SEED (CAIRN_TEST_SEED=$SEED to repeat)"
S1=$((SEED % 100000 + 1000)); S2=$((SEED % 77777 + 3)); L=$((SEED % 3000000 + 500000))

# shellcheck disable=SC2046
"$BUILD/tests/xetcheck" gen "$WORK" $("$BUILD/tests/xetcheck" list) \
	"splitmix:$SEED:$L" "lowent:$S1:$L" "repeat:$S2:$((S2 % 50000 + 1)):$L" \
	"edits:$S1:$L" "text:$S2:$((L / 3))"
node "$SRC/tests/xetref/xet-ref.mjs" "$CACHE/xet-chunk" "$WORK/inputs.json" >"$WORK/ref.json"
"$BUILD/tests/xetcheck" check "$WORK/ref.json"

# the CLI gives the same file hashes
"$BUILD/cairn" hash --json "$WORK"/*.bin >"$WORK/cli.json"
node "$SRC/tests/xetref/compare.mjs" "$WORK/ref.json" "$WORK/inputs.json" "$WORK/cli.json" \
	"$SRC/tests/data/xet_reference.json"
