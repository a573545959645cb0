#!/bin/sh
# b3sum.sh BUILD_DIR - Debian's b3sum as a second opinion: random files of
# many sizes, all three modes, every tier this machine runs, must hash the
# same with Cairn's BLAKE3 (tests/b3tool) as with b3sum. Skips without b3sum.
set -u
BUILD=$1
command -v b3sum >/dev/null 2>&1 || { echo "b3sum not installed"; exit 77; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SEED=${CAIRN_TEST_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "# seed $SEED"
i=0
for size in 0 1 63 64 65 1023 1024 1025 2048 3071 4097 65536 65537 131071 1048577 \
	$((SEED % 5000000)) $((SEED % 70000)) $((SEED % 1500)); do
	"$BUILD/tests/xetcheck" gen "$WORK" "splitmix:$((SEED + i)):$size" >/dev/null
	mv "$WORK/0.bin" "$WORK/f$i.bin"
	i=$((i + 1))
done
rm -f "$WORK/inputs.json"
head -c 32 /dev/urandom >"$WORK/key"
passed=0
failed=0
for tier in portable sse41 avx2 avx512; do
	# skip tiers this CPU cannot run (b3tool exits 77 if asked for one)
	if ! CAIRN_BLAKE3_TIER=$tier "$BUILD/tests/b3tool" "$WORK/f0.bin" >/dev/null 2>&1; then
		echo "# tier $tier not available here"
		continue
	fi
	for mode in plain keyed derive; do
		case $mode in
		plain) opt_b="" ; opt_c="" ;;
		keyed) opt_b="--keyed" ; opt_c="--keyed $WORK/key" ;;
		derive) opt_b="--derive-key cairn-b3sum-test" ; opt_c="--derive-key cairn-b3sum-test" ;;
		esac
		for f in "$WORK"/f*.bin; do
			if [ $mode = keyed ]; then
				want=$(b3sum --no-names --length 77 --keyed "$f" <"$WORK/key")
			else
				# shellcheck disable=SC2086
				want=$(b3sum --no-names --length 77 $opt_b "$f")
			fi
			# shellcheck disable=SC2086
			got=$(CAIRN_BLAKE3_TIER=$tier "$BUILD/tests/b3tool" $opt_c --length 77 "$f" | cut -d' ' -f1)
			if [ "$want" = "$got" ]; then
				passed=$((passed + 1))
			else
				failed=$((failed + 1))
				echo "FAIL tier=$tier mode=$mode $(wc -c <"$f") bytes: $got != $want"
			fi
		done
	done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
