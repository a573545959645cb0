#!/bin/sh
# dedup.sh BUILD_DIR - what the chunk protocol saves on the wire, through
# `cairn serve` over loopback. A file of random bytes (DEDUP_MIB, 1024) is
# uploaded with `cairn buckets cp`, then two edited copies: one with 10% of
# it rewritten in scattered 1 MiB regions (evenly spaced), one with 10%
# rewritten as a single region in the middle. Each upload prints the bytes
# the client sent (request bodies: dedup queries, xorbs, the commit; from
# cp --json) against the file's size. Then throughput beside curl moving
# another file of the same size to and from the same server: cp (chunk
# protocol) against curl -T to .../upload/KEY, and cp (reconstruction,
# verified) against curl GET of .../resolve/KEY. Results: bench/out/dedup.txt.
set -eu
BUILD=$1
MIB=${DEDUP_MIB:-1024}
OUT=$(cd "$(dirname "$0")" && pwd)/out
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-dedup-XXXXXX")
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
CAIRN=$BUILD/cairn
"$CAIRN" buckets create admin/bench >/dev/null
BYTES=$((MIB * 1048576))
head -c "$BYTES" /dev/urandom >"$WORK/a.bin"
head -c "$BYTES" /dev/urandom >"$WORK/b.bin"

# 10% in scattered 1 MiB regions: NREG of them, one in the middle of each stride
NREG=$((MIB / 10))
[ "$NREG" -ge 1 ] || NREG=1
STRIDE=$((MIB * 16 / NREG)) # in 64 KiB blocks
cp "$WORK/a.bin" "$WORK/scattered.bin"
i=0
while [ $i -lt $NREG ]; do
	dd if=/dev/urandom of="$WORK/scattered.bin" bs=65536 count=16 \
		seek=$((i * STRIDE + STRIDE / 2)) conv=notrunc iflag=fullblock status=none
	i=$((i + 1))
done
# 10% as one region in the middle
cp "$WORK/a.bin" "$WORK/contiguous.bin"
dd if=/dev/urandom of="$WORK/contiguous.bin" bs=1048576 count="$NREG" seek=$((MIB * 45 / 100)) \
	conv=notrunc iflag=fullblock status=none

# the edits above leave gigabytes of dirty pages: flush them before anything
# is timed, or the server's fsyncs pay for them
sync
now() { date +%s.%N; }
rate() { awk "BEGIN{printf \"%.2f\", $BYTES / ($2 - $1) / 1e9}"; }
ratio() { awk "BEGIN{printf \"%.2f\", ($2 - $1) / ($4 - $3)}"; }
# up FILE KEY: upload with cp --json; sets SENT and NEW
up() {
	"$CAIRN" buckets cp --json "$1" "cairn://buckets/admin/bench/$2" >"$WORK/up.json"
	SENT=$(sed -n 's/.*"bytes_sent":\([0-9]*\).*/\1/p' "$WORK/up.json")
	NEW=$(sed -n 's/.*"new_bytes":\([0-9]*\).*/\1/p' "$WORK/up.json")
}
pct() { awk "BEGIN{printf \"%.2f\", 100 * $1 / $BYTES}"; }

s1=$(now); up "$WORK/a.bin" a.bin; e1=$(now)
SENT1=$SENT NEW1=$NEW
s5=$(now); up "$WORK/scattered.bin" scattered.bin; e5=$(now)
SENT2=$SENT NEW2=$NEW
up "$WORK/contiguous.bin" contiguous.bin
SENT3=$SENT NEW3=$NEW
sync
s2=$(now); curl -sS -o /dev/null -T "$WORK/b.bin" -H "Authorization: Bearer $T" \
	"$U/buckets/admin/bench/upload/b.bin"; e2=$(now)
sync
s3=$(now); "$CAIRN" buckets cp --quiet cairn://buckets/admin/bench/a.bin "$WORK/a.out"; e3=$(now)
sync
s4=$(now); curl -sS -o "$WORK/b.out" -H "Authorization: Bearer $T" \
	"$U/buckets/admin/bench/resolve/b.bin"; e4=$(now)
cmp "$WORK/a.bin" "$WORK/a.out"
cmp "$WORK/b.bin" "$WORK/b.out"
rm -f "$WORK/a.out" "$WORK/b.out"
"$CAIRN" buckets cp --quiet cairn://buckets/admin/bench/scattered.bin "$WORK/s.out"
cmp "$WORK/scattered.bin" "$WORK/s.out"
{
echo "chunk protocol over loopback, $MIB MiB of random bytes, $(date -u +%Y-%m-%d)"
echo "bytes sent by cairn buckets cp (request bodies: dedup queries + xorbs + commit):"
echo "  new file:                                  $SENT1 ($(pct "$SENT1")% of the file; chunks sent $NEW1 bytes)"
echo "  10% changed, $NREG scattered 1 MiB regions:  $SENT2 ($(pct "$SENT2")%; chunks sent $NEW2 bytes)"
echo "  10% changed, one $NREG MiB region:           $SENT3 ($(pct "$SENT3")%; chunks sent $NEW3 bytes)"
echo "upload:   cairn buckets cp $(rate "$s1" "$e1") GB/s, curl -T $(rate "$s2" "$e2") GB/s (cairn/curl time ratio $(ratio "$s1" "$e1" "$s2" "$e2"))"
echo "          (the scattered edit: $(rate "$s5" "$e5") GB/s of file, hashing included)"
echo "download: cairn buckets cp $(rate "$s3" "$e3") GB/s, curl $(rate "$s4" "$e4") GB/s (cairn/curl time ratio $(ratio "$s3" "$e3" "$s4" "$e4"))"
echo "(downloads verified with cmp; cp checks the file hash, the server checks each chunk for curl)"
} >"$OUT/dedup.txt"
cat "$OUT/dedup.txt"
