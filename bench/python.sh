#!/bin/sh
# python.sh BUILD_DIR - an upload of a 1 GiB file (PY_BENCH_MIB) of random
# bytes through the Python package (cairn.Client().upload_file) and through
# the CLI (cairn buckets cp), in the same run: ROUNDS (3) rounds, the two
# tools in alternating order, each upload into a fresh server over an empty
# data directory (so nothing deduplicates against an earlier run). Whole
# commands are timed, interpreter start and import included; the Python
# side also reports Client() + upload_file alone. Goal: Python within 5% of
# the CLI. TMPDIR chooses where the file and the server's data live.
set -eu
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
MIB=${PY_BENCH_MIB:-1024}
ROUNDS=${PY_BENCH_ROUNDS:-3}
OUT=$SRC/bench/out
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-py-XXXXXX")
PID=""
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
PY=/usr/bin/python3
C=$BUILD/cairn
export CAIRN_LIB=$BUILD/libcairn.so PYTHONPATH=$SRC/python HOME=$WORK
unset XDG_CONFIG_HOME

. "$SRC/tests/lib/serve.sh"
now() { date +%s.%N; }
secs() { awk "BEGIN{printf \"%.3f\", $2 - $1}"; }

head -c "${MIB}M" /dev/urandom >"$WORK/file.bin"
BYTES=$(stat -c %s "$WORK/file.bin")
cat "$WORK/file.bin" >/dev/null # in the page cache for every run alike

# fresh: a server over an empty data directory, with a bucket admin/bench
fresh() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$WORK/data"
	serve_start "$C" "$WORK/data" "$WORK" || { cat "$WORK/err"; exit 1; }
	PID=$SERVE_PID
	export CAIRN_ENDPOINT=$SERVE_URL
	CAIRN_TOKEN=$(cat "$WORK/data/admin-token")
	export CAIRN_TOKEN
	"$C" buckets create admin/bench --quiet
	sync
}

run_cli() {
	fresh
	t0=$(now)
	"$C" buckets cp "$WORK/file.bin" cairn://buckets/admin/bench/file.bin --json >"$WORK/cli.json"
	t1=$(now)
	CLI_T="$CLI_T $(secs "$t0" "$t1")"
	CLI_HASH=$(sed -n 's/.*"hash":"\([0-9a-f]*\)".*/\1/p' "$WORK/cli.json")
}

run_py() {
	fresh
	t0=$(now)
	"$PY" - "$WORK/file.bin" >"$WORK/py.txt" <<'EOF'
import sys, time
import cairn
t = time.monotonic()
r = cairn.Client().upload_file(sys.argv[1], "cairn://buckets/admin/bench/file.bin")
print(r.hash, "%.3f" % (time.monotonic() - t))
EOF
	t1=$(now)
	PY_T="$PY_T $(secs "$t0" "$t1")"
	PY_CALL="$PY_CALL $(cut -d' ' -f2 "$WORK/py.txt")"
	PY_HASH=$(cut -d' ' -f1 "$WORK/py.txt")
}

CLI_T="" PY_T="" PY_CALL=""
i=1
while [ "$i" -le "$ROUNDS" ]; do
	if [ $((i % 2)) -eq 1 ]; then run_cli; run_py; else run_py; run_cli; fi
	[ "$CLI_HASH" = "$PY_HASH" ] || { echo "python.sh: the two uploads differ ($CLI_HASH / $PY_HASH)"; exit 1; }
	i=$((i + 1))
done

# stats LIST: mean median min (seconds)
stats() {
	echo "$1" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{v[NR]=$1; s+=$1}
		END{m = NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2;
		    printf "%.3f %.3f %.3f", s/NR, m, v[1]}'
}
set -- $(stats "$CLI_T")
CM=$1 CMED=$2 CMIN=$3
set -- $(stats "$PY_T")
PM=$1 PMED=$2 PMIN=$3
set -- $(stats "$PY_CALL")
KM=$1 KMED=$2
gbps() { awk "BEGIN{printf \"%.2f\", $BYTES / $1 / 1e9}"; }
ratio() { awk "BEGIN{printf \"%.3f\", $1 / $2}"; }
# paired A B: A[i] / B[i] for each round, then their median
paired() {
	echo "$1|$2" | awk -F'|' '{na = split($1, a, " "); split($2, b, " ");
		for (i = 1; i <= na; i++) { r[i] = a[i] / b[i]; printf "%.3f ", r[i] }
		for (i = 1; i <= na; i++) for (j = i + 1; j <= na; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
		printf "-> median %.3f", na % 2 ? r[(na + 1) / 2] : (r[na / 2] + r[na / 2 + 1]) / 2 }'
}

W=$((ROUNDS * 6 + 2))
{
echo "upload of $BYTES random bytes into a fresh cairn serve, $(date -u +%Y-%m-%d), $(nproc) cores, $ROUNDS rounds"
printf "%-44s %-${W}s %8s %8s %8s %7s\n" "" "runs (s)" mean median best GB/s
printf "%-44s %-${W}s %8s %8s %8s %7s\n" "cairn buckets cp (whole command)" "$(echo $CLI_T)" "$CM" "$CMED" "$CMIN" "$(gbps "$CMED")"
printf "%-44s %-${W}s %8s %8s %8s %7s\n" "python3: import cairn + upload_file (whole)" "$(echo $PY_T)" "$PM" "$PMED" "$PMIN" "$(gbps "$PMED")"
printf "%-44s %-${W}s %8s %8s %8s %7s\n" "  of which Client() + upload_file" "$(echo $PY_CALL)" "$KM" "$KMED" "-" "$(gbps "$KMED")"
echo "time ratio python / cli: mean $(ratio "$PM" "$CM"), median $(ratio "$PMED" "$CMED"); per round" \
	"(the two run back to back): $(paired "$PY_T" "$CLI_T") (goal <= 1.05)"
} | tee "$OUT/python.txt"
