#!/bin/sh
# recompress/run.sh BUILD - recompression at rest end to end: objects of
# text, floats and random bytes uploaded through `cairn serve`, then
# `cairn admin recompress` killed with SIGKILL at random moments, over and
# over, while the server keeps serving; after each kill every object reads
# back byte for byte (native resolve, Range, and the chunk protocol twice:
# as Cairn's client asks, getting recompressed xorbs as stored, and as a
# xet client asks, getting their raw xet layout) and fsck finds no
# fault. Then a full pass, a second pass with nothing left to do, stats
# before and after, and gc reclaiming the replaced forms. Ends with
# "N passed, N failed".
set -u
BUILD=$(cd "${1:?usage: run.sh BUILD}" && pwd)
C=$BUILD/cairn
W=$(mktemp -d)
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

. "$(dirname "$0")/../lib/serve.sh"
serve_start "$C" "$W/data" "$W" || { bad "server did not start"; cat "$W/err"; finish; }
PID=$SERVE_PID
export CAIRN_ENDPOINT=$SERVE_URL CAIRN_TOKEN=$(cat "$W/data/admin-token") HOME=$W
"$C" buckets create admin/rc >/dev/null || bad "create bucket"

# the files: text, fp32 weights, bf16 weights, random bytes, some repeated
/usr/bin/python3 - "$W/src" <<'PY'
import os, random, struct, sys
d = sys.argv[1]
os.makedirs(d)
r = random.Random(11)
words = ["loss", "step", "epoch", "grad_norm", "lr", "checkpoint", "model", "the", "of",
         "attention", "layer", "token", "batch", "eval", "accuracy", "warmup"]
for i in range(3):
    with open(f"{d}/log{i}.jsonl", "w") as f:
        for k in range(30000 + 5000 * i):
            f.write('{"step": %d, "msg": "%s", "loss": %.5f}\n'
                    % (k, " ".join(r.choice(words) for _ in range(r.randint(3, 12))), r.random()))
for i in range(2):
    with open(f"{d}/w{i}.f32", "wb") as f:
        f.write(struct.pack("<%df" % 1500000, *(r.gauss(0, 0.02) for _ in range(1500000))))
with open(f"{d}/w.bf16", "wb") as f:
    f.write(b"".join(struct.pack("<f", r.gauss(0, 0.02))[2:] for _ in range(1200000)))
with open(f"{d}/rand.bin", "wb") as f:
    f.write(os.urandom(3 << 20))
PY
for f in "$W"/src/*; do
	"$C" buckets cp "$f" "cairn://buckets/admin/rc/$(basename "$f")" >/dev/null ||
		bad "upload $(basename "$f")"
done
"$C" admin stats --data "$W/data" --json >"$W/before.json"
cat "$W/before.json"

# every object, three ways; 0 if all match
verify() {
	for f in "$W"/src/*; do
		b=$(basename "$f")
		curl -sf -H "Authorization: Bearer $CAIRN_TOKEN" \
			"$SERVE_URL/buckets/admin/rc/resolve/$b" -o "$W/got" && cmp -s "$W/got" "$f" ||
			{ echo "  resolve $b differs"; return 1; }
		curl -sf -r 70000-400000 -H "Authorization: Bearer $CAIRN_TOKEN" \
			"$SERVE_URL/buckets/admin/rc/resolve/$b" -o "$W/got" &&
			tail -c +70001 "$f" | head -c 330001 | cmp -s - "$W/got" ||
			{ echo "  range of $b differs"; return 1; }
		rm -f "$W/got"
		"$C" buckets cp "cairn://buckets/admin/rc/$b" "$W/got" >/dev/null 2>"$W/cp.err" &&
			cmp -s "$W/got" "$f" || { echo "  cp of $b differs"; cat "$W/cp.err"; return 1; }
		rm -f "$W/got"
		CAIRN_XET_SCHEMES_ONLY=1 "$C" buckets cp "cairn://buckets/admin/rc/$b" "$W/got" \
			>/dev/null 2>"$W/cp.err" && cmp -s "$W/got" "$f" ||
			{ echo "  cp (xet schemes only) of $b differs"; cat "$W/cp.err"; return 1; }
		rm -f "$W/got"
	done
	return 0
}
fsck_clean() {
	"$C" admin fsck --data "$W/data" >"$W/fsck" 2>&1 && grep -q '^fsck: 0 faults$' "$W/fsck"
}

# kill -9 in the middle, again and again: the pass goes on where it stopped
kills=0
i=0
while [ $i -lt 6 ]; do
	# level 19: slow enough that every kill lands mid-pass
	"$C" admin recompress --data "$W/data" --min-age 0 --level 19 >"$W/rc.out" 2>&1 &
	RP=$!
	# from a fraction of a xorb to a few of them
	sleep "$((i * 7 / 10)).$(( (i * 7 + 2) % 10 ))"
	if kill -9 "$RP" 2>/dev/null; then kills=$((kills + 1)); fi
	wait "$RP" 2>/dev/null
	if verify && fsck_clean; then :; else bad "after kill $i: objects or fsck"; cat "$W/fsck"; fi
	i=$((i + 1))
done
ok "recompress killed $kills times mid-pass: every object read back and fsck clean each time"

"$C" admin recompress --data "$W/data" --min-age 0 --level 3 --json >"$W/pass.json" 2>"$W/pass.err"
prc=$?
check "a full pass" '[ $prc = 0 ]'
cat "$W/pass.json"
"$C" admin recompress --data "$W/data" --min-age 0 --json >"$W/pass2.json"
check "a second pass has nothing left" 'grep -q "\"xorbs\": 0," "$W/pass2.json"'
"$C" admin stats --data "$W/data" --json >"$W/after.json"
cat "$W/after.json"
field() { sed -n "s/.*\"$2\": *\([0-9]*\).*/\1/p" "$1"; }
check "stored bytes went down" '[ "$(field "$W/after.json" stored_bytes)" -lt "$(field "$W/before.json" stored_bytes)" ]'
check "logical and deduplicated bytes did not change" \
	'[ "$(field "$W/after.json" logical_bytes)" = "$(field "$W/before.json" logical_bytes)" ] &&
	 [ "$(field "$W/after.json" dedup_bytes)" = "$(field "$W/before.json" dedup_bytes)" ]'
"$C" buckets info admin/rc --json >"$W/info.json"
cat "$W/info.json"; echo
check "bucket info: logical, deduplicated and stored bytes apart" \
	'[ "$(field "$W/info.json" logical_bytes)" -ge "$(field "$W/info.json" dedup_bytes)" ] &&
	 [ "$(field "$W/info.json" dedup_bytes)" -gt "$(field "$W/info.json" stored_bytes)" ] &&
	 [ "$(field "$W/info.json" stored_bytes)" -gt 0 ]'
check "objects read back after the pass" verify

# what each kind of client is sent for a recompressed xorb
fh=$("$C" buckets ls cairn://buckets/admin/rc --json | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e.get("path", "").endswith("log1.jsonl"): print(e["hash"])')
curl -sf -H "Authorization: Bearer $CAIRN_TOKEN" "$SERVE_URL/v1/reconstructions/$fh" >"$W/recon.xet"
curl -sf -H "Authorization: Bearer $CAIRN_TOKEN" \
	"$SERVE_URL/v1/reconstructions/$fh?schemes=cairn" >"$W/recon.cairn"
check "a xet client gets the raw layout of recompressed xorbs" 'grep -q "layout=raw" "$W/recon.xet"'
check "Cairn's client gets them as stored (runs whole, no raw layout)" \
	'! grep -q "layout=raw" "$W/recon.cairn" && ! cmp -s "$W/recon.xet" "$W/recon.cairn"'
check "by URLs that name the stored form" 'grep -q "&form=[0-9a-f]\{64\}" "$W/recon.cairn"'
check "fsck clean after the pass" fsck_clean

# the replaced forms wait for gc's grace, then go; the objects stay whole
n_before=$(find "$W/data/xorbs" -type f -path '*/[0-9a-f][0-9a-f]/*' | wc -l)
"$C" admin gc --data "$W/data" >/dev/null
check "gc within the grace keeps the replaced forms" \
	'[ "$(find "$W/data/xorbs" -type f -path "*/[0-9a-f][0-9a-f]/*" | wc -l)" = "$n_before" ]'
"$C" admin gc --data "$W/data" --grace 0 >"$W/gc.out"
cat "$W/gc.out"
check "gc past the grace removes them" \
	'[ "$(find "$W/data/xorbs" -type f -path "*/[0-9a-f][0-9a-f]/*" | wc -l)" -lt "$n_before" ]'
check "objects read back after gc" verify
check "fsck clean after gc" fsck_clean

# the server's own background pass, seen in /metrics; it yields to writes
kill "$PID"
wait "$PID" 2>/dev/null
PID=
serve_start "$C" "$W/data" "$W" --recompress-every 1 --recompress-after 0 ||
	{ bad "server did not start again"; cat "$W/err"; finish; }
PID=$SERVE_PID
export CAIRN_ENDPOINT=$SERVE_URL
"$C" buckets create admin/bg >/dev/null
sed 's/loss/LOSS/g' "$W/src/log0.jsonl" >"$W/new.jsonl" # chunks not stored yet
# a write held open (a body that has not ended): the pass waits for it
mkfifo "$W/slow"
curl -s -o /dev/null -T - -H "Authorization: Bearer $CAIRN_TOKEN" \
	"$SERVE_URL/buckets/admin/bg/upload/slow.bin" <"$W/slow" &
SLOW=$!
exec 3>"$W/slow"
"$C" buckets cp "$W/new.jsonl" cairn://buckets/admin/bg/new.jsonl >/dev/null
sleep 4
curl -s "$SERVE_URL/metrics" >"$W/metrics"
grep '^cairn_recompress' "$W/metrics"
check "while a write is in progress the pass waits (/metrics)" \
	'grep -q "^cairn_recompress_rewritten_total 0$" "$W/metrics" &&
	 awk "/^cairn_recompress_yielded_seconds_total/ { exit !(\$2 > 0) }" "$W/metrics"'
exec 3>&-
wait "$SLOW"
# refused writes (without a token) keep coming, faster than the pass's
# quiet time: they are not writes, so they do not hold it off. (Without a
# token, so the address is not throttled for failed logins, as a run of
# wrong tokens would have it.)
( while :; do
	curl -s -o /dev/null -w '%{http_code}\n' -X PUT --data-binary x \
		"$SERVE_URL/buckets/admin/bg/upload/refused.bin" >>"$W/refused"
	sleep 0.2
done ) &
REFUSED=$!
n=0
while [ $n -lt 60 ]; do
	curl -s "$SERVE_URL/metrics" >"$W/metrics"
	grep -q '^cairn_recompress_rewritten_total [1-9]' "$W/metrics" && break
	sleep 0.5
	n=$((n + 1))
done
kill "$REFUSED" 2>/dev/null
wait "$REFUSED" 2>/dev/null
grep '^cairn_recompress' "$W/metrics"
check "refused writes were coming all along" \
	'[ "$(grep -c "^4" "$W/refused")" -gt 5 ] && ! grep -qv "^4" "$W/refused"'
check "the background pass rewrote the cold xorb (/metrics), refused writes or not" \
	'grep -q "^cairn_recompress_rewritten_total [1-9]" "$W/metrics"'
check "its savings are in /metrics" \
	'[ "$(sed -n "s/^cairn_recompress_bytes_after_total //p" "$W/metrics")" -lt \
	   "$(sed -n "s/^cairn_recompress_bytes_before_total //p" "$W/metrics")" ]'
"$C" buckets cp cairn://buckets/admin/bg/new.jsonl "$W/got" >/dev/null
check "and the object reads back" 'cmp -s "$W/got" "$W/new.jsonl"'
finish
