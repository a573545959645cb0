#!/bin/sh
# serve.sh BUILD_DIR - upload and download through `cairn serve` over
# loopback: the `cairn buckets cp` CLI beside curl moving the same kind of
# bytes to and from the same server, as a ratio. Size: SERVE_MIB (1024).
set -eu
BUILD=$1
MIB=${SERVE_MIB:-1024}
OUT=$(cd "$(dirname "$0")" && pwd)/out
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-serve-XXXXXX")
PID=""
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
. "$(dirname "$0")/../tests/lib/serve.sh"
serve_start "$BUILD/cairn" "$WORK/data" "$WORK" || { cat "$WORK/err"; exit 1; }
PID=$SERVE_PID
U=$SERVE_URL
T=$(cat "$WORK/data/admin-token")
export CAIRN_ENDPOINT=$U CAIRN_TOKEN=$T HOME=$WORK
"$BUILD/cairn" buckets create admin/bench >/dev/null
# two different random files: neither upload can dedup against the other
head -c $((MIB * 1048576)) /dev/urandom >"$WORK/a.bin"
head -c $((MIB * 1048576)) /dev/urandom >"$WORK/b.bin"
BYTES=$((MIB * 1048576))
now() { date +%s.%N; }
rate() { awk "BEGIN{printf \"%.2f\", $BYTES / ($2 - $1) / 1e9}"; }
ratio() { awk "BEGIN{printf \"%.2f\", ($2 - $1) / ($4 - $3)}"; }

s1=$(now); "$BUILD/cairn" buckets cp --quiet "$WORK/a.bin" cairn://buckets/admin/bench/a.bin; e1=$(now)
s2=$(now); curl -sS -o /dev/null -T "$WORK/b.bin" -H "Authorization: Bearer $T" \
	"$U/buckets/admin/bench/upload/b.bin"; e2=$(now)
s3=$(now); "$BUILD/cairn" buckets cp --quiet cairn://buckets/admin/bench/a.bin "$WORK/a.out"; e3=$(now)
s4=$(now); curl -sS -o "$WORK/b.out" -H "Authorization: Bearer $T" "$U/buckets/admin/bench/resolve/b.bin"; e4=$(now)
cmp "$WORK/a.bin" "$WORK/a.out"
cmp "$WORK/b.bin" "$WORK/b.out"
{
echo "cairn serve over loopback, $MIB MiB of random bytes, $(date -u +%Y-%m-%d)"
echo "upload:   cairn buckets cp $(rate "$s1" "$e1") GB/s, curl -T $(rate "$s2" "$e2") GB/s (cairn/curl time ratio $(ratio "$s1" "$e1" "$s2" "$e2"))"
echo "download: cairn buckets cp $(rate "$s3" "$e3") GB/s, curl $(rate "$s4" "$e4") GB/s (cairn/curl time ratio $(ratio "$s3" "$e3" "$s4" "$e4"))"
echo "(both verified with cmp; downloads are checked chunk by chunk on the server)"
} >"$OUT/serve.txt"
cat "$OUT/serve.txt"
