#!/bin/sh
# run.sh BUILD_DIR - Cairn's data path side by side with its peers, on this
# machine, in one run. Prints a table (GB/s = 1e9 bytes/s) and ratios, and
# keeps it in bench/out/results.txt (printed when done). Sizes: BENCH_MIB (default 1024).
set -eu
BUILD=$1
# hyperfine times whole commands; install it if it is missing (bench only)
if ! command -v hyperfine >/dev/null 2>&1; then
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq && $SUDO apt-get install -y -qq hyperfine >/dev/null
fi
SRC=$(cd "$(dirname "$0")/.." && pwd)
MIB=${BENCH_MIB:-1024}
RUNS=${BENCH_RUNS:-3}
OUT=$SRC/bench/out
mkdir -p "$OUT"
DIR=/dev/shm
[ -w "$DIR" ] || DIR=${TMPDIR:-/tmp}
FILE=$DIR/cairn-bench-$MIB.bin
BYTES=$((MIB * 1048576))
trap 'rm -f "$FILE"' EXIT INT TERM
head -c "$BYTES" /dev/urandom >"$FILE"

HF_RUNS=${BENCH_HF_RUNS:-10}
# hf CMD... - mean and minimum seconds of each command, one line each
hf() {
	hyperfine -N -w 1 -r "$HF_RUNS" --export-json "$OUT/hf.json" "$@" >/dev/null ||
		{ echo "bench: hyperfine failed on: $*" >&2; exit 1; }
	node -e 'for (const r of JSON.parse(require("fs").readFileSync(process.argv[1])).results) console.log(r.mean + " " + r.min)' "$OUT/hf.json"
}
gbps() { awk "BEGIN{printf \"%.2f\", $BYTES / $1 / 1e9}"; }
ratio() { awk "BEGIN{printf \"%.2f\", $1 / $2}"; }

{
echo "Cairn data path benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "input: $MIB MiB of random bytes in $DIR (page cache); in-memory figures are the best of $RUNS runs"
echo
echo "-- in memory (bench_hash) --"
"$BUILD/bench/bench_hash" "$MIB" "$RUNS" 2>/dev/null | tail -n +2
echo
echo "-- end to end on a file (hyperfine, $HF_RUNS runs each; mean and best) --"
hf "$BUILD/cairn hash --threads 1 $FILE" "$BUILD/cairn hash $FILE" >"$OUT/hf.txt"
t1=$(sed -n 1p "$OUT/hf.txt" | cut -d' ' -f1); t1b=$(sed -n 1p "$OUT/hf.txt" | cut -d' ' -f2)
t2=$(sed -n 2p "$OUT/hf.txt" | cut -d' ' -f1); t2b=$(sed -n 2p "$OUT/hf.txt" | cut -d' ' -f2)
printf '%-44s %7s GB/s  (best %s)\n' "cairn hash, 1 thread" "$(gbps "$t1")" "$(gbps "$t1b")"
printf '%-44s %7s GB/s  (best %s; %sx the 1-thread rate, best/best %sx)\n' "cairn hash, all cores" \
	"$(gbps "$t2")" "$(gbps "$t2b")" "$(ratio "$t1" "$t2")" "$(ratio "$t1b" "$t2b")"
if command -v b3sum >/dev/null 2>&1; then
	tb=$(hf "b3sum --num-threads 1 --no-names $FILE" | cut -d' ' -f1)
	printf '%-44s %7s GB/s  (mean)\n' "b3sum --num-threads 1 (plain BLAKE3, peer)" "$(gbps "$tb")"
fi
if sh "$SRC/tests/xetref/fetch.sh" "$BUILD/xetref" >/dev/null 2>&1; then
	# mean of RUNS runs, timed inside Node (startup and wasm load excluded)
	tw=0
	for _ in $(seq "$RUNS"); do
		r=$(node "$SRC/bench/xet-wasm.mjs" "$BUILD/xetref/xet-chunk" "$FILE")
		wh=${r#* }
		tw=$(awk "BEGIN{print $tw + ${r%% *} / $RUNS}")
	done
	ch=$("$BUILD/cairn" hash "$FILE" | cut -d' ' -f1)
	printf '%-44s %7s GB/s  (mean; same file hash as cairn: %s)\n' "xet-core wasm chunk + hash (Node, peer)" \
		"$(gbps "$tw")" "$([ "$wh" = "$ch" ] && echo yes || echo NO)"
	echo
	echo "ratios (means): cairn 1 thread / xet-core wasm = $(ratio "$tw" "$t1")x;" \
		"cairn all cores / xet-core wasm = $(ratio "$tw" "$t2")x"
fi
if [ -n "${tb:-}" ]; then
	echo "        cairn 1 thread / b3sum 1 thread = $(ratio "$tb" "$t1")x (cairn also chunks)"
fi
} >"$OUT/results.txt"
cat "$OUT/results.txt"
