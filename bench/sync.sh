#!/bin/sh
# sync.sh BUILD_DIR - `cairn buckets sync` against its peers, side by side
# in one run on the same data:
#  (a) SYNC_FILES (10,000) small files (1-16 KiB): the first sync and a
#      no-change re-sync, beside `aws s3 sync` (Debian's aws-cli v2) and
#      `rclone sync` (Debian's) writing to Cairn's own S3 port on the same
#      server, and beside rsync and rclone between two local folders (no
#      network, no server: the floor).
#  (b) a series of 6 checkpoints (CKPT_MIB, 256 MiB, of bf16-like
#      tensors), 20% of the tensors rewritten per step, each synced after
#      it is written: bytes sent and seconds per step, beside the whole
#      file (what aws s3 sync sends for a changed file) and the bytes of
#      chunks new to the series by xet-core's own chunker (its wasm build,
#      fetched from npm; skipped when npm is unreachable).
set -eu
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
NFILES=${SYNC_FILES:-10000}
CKPT_MIB=${CKPT_MIB:-256}
OUT=$SRC/bench/out
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-sync-XXXXXX")
PID=""
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
PY=/usr/bin/python3

# the peers, from Debian's archive when this machine may install
for p in rsync rclone; do
	if ! command -v "$p" >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null 2>&1 || true
	fi
done

. "$SRC/tests/lib/serve.sh"
serve_start "$BUILD/cairn" "$WORK/data" "$WORK" --s3-listen 127.0.0.1:0 \
	--s3-port-file "$WORK/s3port" || { cat "$WORK/err"; exit 1; }
PID=$SERVE_PID
export CAIRN_ENDPOINT=$SERVE_URL HOME=$WORK
CAIRN_TOKEN=$(cat "$WORK/data/admin-token")
export CAIRN_TOKEN
C=$BUILD/cairn
"$C" buckets create admin/bench --quiet >/dev/null

now() { date +%s.%N; }
secs() { awk "BEGIN{printf \"%.3f\", $2 - $1}"; }
ratio() { awk "BEGIN{ if ($2 > 0) printf \"%.2f\", $1 / $2; else print \"-\" }"; }
jnum() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$2"; }

# ---- (a) many small files
$PY - "$WORK/small" "$NFILES" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
r = random.Random(7)
for i in range(n):
    d = os.path.join(root, "shard%03d" % (i // 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "part%05d.json" % i), "wb") as f:
        f.write(r.randbytes(r.randint(1024, 16384)))
EOF
SMALL_BYTES=$(du -sb "$WORK/small" | cut -f1)
sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
t0=$(now); "$C" buckets sync "$WORK/small" cairn://buckets/admin/bench/small --json >"$WORK/a1.json"; t1=$(now)
t2=$(now); "$C" buckets sync "$WORK/small" cairn://buckets/admin/bench/small --json >"$WORK/a2.json"; t3=$(now)
CF=$(secs "$t0" "$t1") CN=$(secs "$t2" "$t3")
[ "$(jnum uploaded "$WORK/a1.json")" = "$NFILES" ] || { echo "cairn sync uploaded $(jnum uploaded "$WORK/a1.json") of $NFILES"; exit 1; }
[ "$(jnum uploaded "$WORK/a2.json")" = 0 ] || { echo "cairn re-sync uploaded files"; exit 1; }
# the same files through Cairn's S3 port, with the S3 peers
S3U=http://127.0.0.1:$(cat "$WORK/s3port")
"$C" admin keys create --data "$WORK/data" --json >"$WORK/key.json"
KEY=$(sed -n 's/.*"access_key_id":"\([^"]*\)".*/\1/p' "$WORK/key.json")
SECRET=$(sed -n 's/.*"secret_access_key":"\([^"]*\)".*/\1/p' "$WORK/key.json")
AF=- AN=- SF=- SN=-
# a CA bundle from the environment makes rclone's S3 backend fail on plain http
unset AWS_CA_BUNDLE AWS_PROFILE AWS_ENDPOINT_URL 2>/dev/null || true
if [ -x /usr/bin/aws ]; then
	export AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET AWS_DEFAULT_REGION=us-east-1
	export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=
	AWSC="/usr/bin/aws --endpoint-url $S3U"
	$AWSC s3 mb s3://awsbench >/dev/null
	t0=$(now); $AWSC s3 sync --no-progress --only-show-errors "$WORK/small" s3://awsbench/small; t1=$(now)
	t2=$(now); $AWSC s3 sync --no-progress --only-show-errors "$WORK/small" s3://awsbench/small; t3=$(now)
	AF=$(secs "$t0" "$t1") AN=$(secs "$t2" "$t3")
fi
if command -v rclone >/dev/null 2>&1; then
	export RCLONE_CONFIG_CS_TYPE=s3 RCLONE_CONFIG_CS_PROVIDER=Other RCLONE_CONFIG_CS_ENV_AUTH=false
	export RCLONE_CONFIG_CS_ACCESS_KEY_ID=$KEY RCLONE_CONFIG_CS_SECRET_ACCESS_KEY=$SECRET
	export RCLONE_CONFIG_CS_ENDPOINT=$S3U RCLONE_CONFIG_CS_FORCE_PATH_STYLE=true RCLONE_CONFIG_CS_REGION=us-east-1
	if rclone mkdir cs:rclonebench 2>"$WORK/rclone.err"; then
		t0=$(now); rclone sync "$WORK/small" cs:rclonebench/small 2>>"$WORK/rclone.err"; t1=$(now)
		t2=$(now); rclone sync "$WORK/small" cs:rclonebench/small 2>>"$WORK/rclone.err"; t3=$(now)
		SF=$(secs "$t0" "$t1") SN=$(secs "$t2" "$t3")
	else
		echo "rclone to the S3 port failed: $(tail -1 "$WORK/rclone.err")" >&2
	fi
fi
RF=- RN=- LF=- LN=-
if command -v rsync >/dev/null 2>&1; then
	t0=$(now); rsync -a "$WORK/small/" "$WORK/rsync-dst/"; t1=$(now)
	t2=$(now); rsync -a "$WORK/small/" "$WORK/rsync-dst/"; t3=$(now)
	RF=$(secs "$t0" "$t1") RN=$(secs "$t2" "$t3")
fi
if command -v rclone >/dev/null 2>&1; then
	t0=$(now); rclone sync "$WORK/small" "$WORK/rclone-dst" 2>/dev/null; t1=$(now)
	t2=$(now); rclone sync "$WORK/small" "$WORK/rclone-dst" 2>/dev/null; t3=$(now)
	LF=$(secs "$t0" "$t1") LN=$(secs "$t2" "$t3")
fi

# ---- (b) a checkpoint series
gen() { # gen STEP FILE: 64 tensors of CKPT_MIB/64 MiB; tensor t last rewritten at step gen(t)
	$PY - "$1" "$2" "$CKPT_MIB" <<'EOF'
import random, struct, sys
step, path, mib = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
nt = 64
ts = mib * 1048576 // nt
with open(path, "wb") as f:
    f.write(struct.pack("<Q", 0) + b"{}")  # a tiny safetensors-like header
    for t in range(nt):
        gen = 0
        for k in range(1, step + 1):
            # 20% of the tensors (13 of 64) are rewritten at each step
            if random.Random(k * 1000 + t).random() < 0.2:
                gen = k
        r = random.Random(t * 7919 + gen)
        raw = bytearray(r.randbytes(ts))
        raw[1::2] = bytes(0x3c + (b & 3) for b in raw[1::2])  # bf16-like exponents
        f.write(raw)
EOF
}
XREF=""
if sh "$SRC/tests/xetref/fetch.sh" "$BUILD/xetref" >/dev/null 2>&1; then XREF=$BUILD/xetref/xet-chunk; fi
mkdir -p "$WORK/ckpt" "$WORK/series"
ROWS=""
for step in 0 1 2 3 4 5; do
	gen "$step" "$WORK/series/step$step.safetensors"
	cp "$WORK/series/step$step.safetensors" "$WORK/ckpt/model.safetensors"
	t0=$(now); "$C" buckets sync "$WORK/ckpt" cairn://buckets/admin/bench/ckpt --json >"$WORK/b$step.json"; t1=$(now)
	NEWRAW=$(( $(jnum bytes "$WORK/b$step.json") - $(jnum bytes_saved "$WORK/b$step.json") ))
	ROWS="$ROWS$step $(jnum bytes_sent "$WORK/b$step.json") $NEWRAW $(secs "$t0" "$t1")
"
done
SIZE=$(stat -c %s "$WORK/series/step0.safetensors")
UNIQ=""
if [ -n "$XREF" ]; then
	UNIQ=$(node "$SRC/bench/xet-unique.mjs" "$XREF" "$WORK"/series/step0.safetensors \
		"$WORK"/series/step1.safetensors "$WORK"/series/step2.safetensors \
		"$WORK"/series/step3.safetensors "$WORK"/series/step4.safetensors \
		"$WORK"/series/step5.safetensors | cut -d' ' -f2 | tr '\n' ' ')
fi

{
echo "cairn buckets sync, $(date -u +%Y-%m-%d), $(nproc) cores"
echo
echo "(a) $NFILES small files, $SMALL_BYTES bytes (1-16 KiB each)"
printf '%-44s %10s %14s\n' "" "first" "no change"
printf '%-44s %9ss %13ss\n' "cairn buckets sync (to a bucket, over HTTP)" "$CF" "$CN"
printf '%-44s %9ss %13ss\n' "aws s3 sync (to Cairn's S3 port)" "$AF" "$AN"
printf '%-44s %9ss %13ss\n' "rclone sync (to Cairn's S3 port)" "$SF" "$SN"
printf '%-44s %9ss %13ss\n' "rsync -a (local folder to local folder)" "$RF" "$RN"
printf '%-44s %9ss %13ss\n' "rclone sync (local folder to local folder)" "$LF" "$LN"
echo "ratios cairn/aws s3 sync: first $(ratio "$CF" "$AF"), no change $(ratio "$CN" "$AN");" \
	"cairn/rclone (S3): first $(ratio "$CF" "$SF"), no change $(ratio "$CN" "$SN")"
echo "ratios cairn/rsync: first $(ratio "$CF" "$RF"), no change $(ratio "$CN" "$RN");" \
	"cairn/rclone (local): first $(ratio "$CF" "$LF"), no change $(ratio "$CN" "$LN")"
echo
echo "(b) checkpoint series: $SIZE bytes per step, 20% of 64 tensors rewritten per step"
printf '%-5s %12s %12s %12s %16s %9s %9s %8s\n' step "cairn sent" "cairn new" "whole file" \
	"xet-core unique" "new/uniq" "sent/uniq" seconds
i=1
echo "$ROWS" | while read -r step sent newraw t; do
	[ -n "$step" ] || continue
	u=$(echo "$UNIQ" | cut -d' ' -f$i)
	printf '%-5s %12s %12s %12s %16s %9s %9s %8s\n' "$step" "$sent" "$newraw" "$SIZE" "${u:--}" \
		"$( [ -n "$u" ] && ratio "$newraw" "$u" || echo -)" \
		"$( [ -n "$u" ] && ratio "$sent" "$u" || echo -)" "$t"
	i=$((i + 1))
done
echo "'cairn sent': every request body (dedup queries, xorbs after LZ4 / byte grouping, the"
echo "commit); 'cairn new': raw bytes of the chunks Cairn found missing on the server; 'xet-core"
echo "unique': raw bytes of chunks new to the series by xet-core's chunker. aws s3 sync sends"
echo "the whole file at every step."
} | tee "$OUT/sync.txt"
