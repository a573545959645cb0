#!/bin/sh
# run.sh BUILD_DIR - a region's cache node between a client and the origin,
# all on 127.0.0.1: the node's link to the origin goes through a proxy
# that delays every request (proxy.py) and counts them. A pre-warm stages a
# prefix on the node; reading it then makes no xorb request to the origin
# (the origin's /metrics), and every byte verifies. Also: a cold read fills
# on demand, a corrupted cached xorb is caught and fetched again, a node
# restart keeps its work, a job waits out an unreachable origin and
# resumes, a release unpins, bad signatures are refused.
set -u
BUILD=$(cd "$1" && pwd)
C=$BUILD/cairn
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
W=$(mktemp -d)
OPID= NPID= PPID_=
cleanup() {
	for p in $NPID $OPID $PPID_; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
unset CAIRN_ENDPOINT CAIRN_TOKEN CAIRN_REGION
export HOME=$W NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi; }
metric() { curl -s "$1/metrics" | sed -n "s/^$2 //p"; }
jget() { $PY -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"; }

. "$HERE/../lib/serve.sh"
mkdir -p "$W/o" "$W/n" "$W/p"
serve_start "$C" "$W/o/data" "$W/o" --s3-listen 127.0.0.1:0 --s3-port-file "$W/o/s3port" ||
	{ cat "$W/o/err"; echo "0 passed, 1 failed"; exit 1; }
OPID=$SERVE_PID
ORIGIN=$SERVE_URL
i=0; while [ ! -s "$W/o/s3port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
ORIGIN_S3=http://127.0.0.1:$(cat "$W/o/s3port")
"$C" admin users create alice --data "$W/o/data" >/dev/null
TOKEN=$("$C" admin tokens create --user alice --scope write --data "$W/o/data")
export CAIRN_ENDPOINT=$ORIGIN CAIRN_TOKEN=$TOKEN
"$C" buckets create data --quiet >/dev/null
$PY -c '
import os, random, sys
r = random.Random(3)
for name, mib in (("a.bin", 6), ("b.bin", 5), ("c.bin", 3), ("other.bin", 4)):
    open(os.path.join(sys.argv[1], name), "wb").write(r.randbytes(mib << 20))
' "$W"
for f in a b c; do "$C" buckets cp "$W/$f.bin" cairn://buckets/alice/data/shards/$f.bin --quiet >/dev/null; done
"$C" buckets cp "$W/other.bin" cairn://buckets/alice/data/other.bin --quiet >/dev/null

# the slow link: 50 ms before each request from the node to the origin
start_proxy() {
	rm -f "$W/p/port"
	$PY "$HERE/proxy.py" "$W/p/port" "$ORIGIN" 50 &
	PPID_=$!
	i=0; while [ ! -s "$W/p/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	PROXY=http://127.0.0.1:$(cat "$W/p/port")
}
start_proxy
NPORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NS3PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NODE_S3=http://127.0.0.1:$NS3PORT
NODE=http://127.0.0.1:$NPORT
"$C" admin regions add eu "$NODE" --data "$W/o/data" >"$W/region-out"
sed -n 's/^region key: //p' "$W/region-out" >"$W/n/region-key"
check "region key printed" 64 "$(tr -d '\n' <"$W/n/region-key" | wc -c)"
check "regions list" "eu" "$("$C" admin regions list --data "$W/o/data" | awk '{print $1}')"
check "regions add twice refused" 1 "$("$C" admin regions add eu "$NODE" --data "$W/o/data" >/dev/null 2>&1; echo $?)"
start_node() {
	"$C" serve --listen "127.0.0.1:$NPORT" --data "$W/n" --region eu --origin "$PROXY" \
		--cache-size 64M --s3-listen "127.0.0.1:$NS3PORT" --origin-s3 "$ORIGIN_S3" \
		>>"$W/n/out" 2>>"$W/n/err" &
	NPID=$!
	i=0; until curl -s -o /dev/null "$NODE/healthz" || [ $i -ge 200 ]; do sleep 0.05; i=$((i + 1)); done
}
start_node
check "region list over the API" "eu" "$(curl -s -H "Authorization: Bearer $TOKEN" "$ORIGIN/api/regions" | $PY -c 'import json,sys; print(json.load(sys.stdin)["regions"][0]["name"])')"

# ---- pre-warm shards/ with the CLI and wait
"$C" buckets prewarm alice/data/shards/ --region eu --wait --json >"$W/status" 2>"$W/err" ||
	bad "prewarm --wait: $(cat "$W/err")"
JOB=$(jget job <"$W/status")
check "prewarm job accepted" 32 "$(printf %s "$JOB" | wc -c)"; [ -n "$JOB" ] || cat "$W/status" "$W/err"
check "job counts its files" 3 "$(jget files <"$W/status")"
check "prewarm done" done "$(jget state <"$W/status")"
check "every file staged" 3 "$(jget files_done <"$W/status")"
check "every xorb staged" "$(jget xorbs <"$W/status")" "$(jget xorbs_done <"$W/status")"
[ "$(jget xorbs <"$W/status")" -gt 0 ] 2>/dev/null && ok "the job has xorbs" || bad "the job has no xorbs"
check "bytes staged" "$(jget bytes <"$W/status")" "$(jget bytes_done <"$W/status")"
grep -q "^done: 3/3 files" "$W/err" && ok "--wait reports progress" || bad "no progress lines: $(cat "$W/err")"
"$C" buckets prewarm --status "$JOB" --region eu >"$W/text" 2>&1
grep -q "^files: *3 of 3 staged" "$W/text" && ok "--status in text" || bad "--status: $(cat "$W/text")"
check "--status needs a token" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$ORIGIN/api/prewarm/$JOB?region=eu")"
check "--status without a region" 2 "$(CAIRN_REGION= "$C" buckets prewarm --status "$JOB" >/dev/null 2>&1; echo $?)"
check "prewarm of a missing bucket" 3 "$("$C" buckets prewarm alice/nope --region eu >/dev/null 2>&1; echo $?)"

# ---- the Python mirror (its own job on the same prefix, then released)
LD_PRELOAD=${CAIRN_PY_PRELOAD:-} ASAN_OPTIONS=detect_leaks=0 \
	CAIRN_LIB=$BUILD PYTHONPATH=$HERE/../../python $PY "$HERE/py_prewarm.py" "$ORIGIN" "$TOKEN" \
	"$W/a.bin" "$NODE" >"$W/py" 2>&1
cat "$W/py"
passed=$((passed + $(grep -c '^ok ' "$W/py")))
failed=$((failed + $(grep -c '^FAIL ' "$W/py")))
grep -q '^py: 0 failed' "$W/py" || bad "the Python mirror did not finish: $(tail -3 "$W/py")"

# ---- read the prefix through the node: no xorb request reaches the origin
before=$(metric "$ORIGIN" cairn_xorb_reads_total)
pbefore=$(curl -s "$PROXY/__count")
# the counters compared below exist (empty = empty would prove nothing)
[ -n "$before" ] && [ "$before" -gt 0 ] && ok "the origin counts xorb reads ($before)" || bad "no xorb read counter"
[ -n "$pbefore" ] && [ "$pbefore" -gt 0 ] && ok "the proxy counts requests ($pbefore)" || bad "no proxy counter"
for f in a b c; do
	CAIRN_REGION=eu "$C" buckets cp cairn://buckets/alice/data/shards/$f.bin "$W/got-$f.bin" --quiet >/dev/null 2>"$W/err" ||
		{ bad "download $f through the node: $(cat "$W/err")"; continue; }
	if cmp -s "$W/$f.bin" "$W/got-$f.bin"; then ok "$f.bin verifies through the node"; else bad "$f.bin differs"; fi
done
check "no xorb read at the origin after pre-warming" "$before" "$(metric "$ORIGIN" cairn_xorb_reads_total)"
check "nothing crossed the slow link" "$pbefore" "$(curl -s "$PROXY/__count")"
hits=$(metric "$NODE" cairn_cache_hits_total)
[ "${hits:-0}" -gt 0 ] && ok "node served hits ($hits)" || bad "no hits at the node"

# ---- a cold read fills on demand
fills=$(metric "$NODE" cairn_cache_fills_total)
CAIRN_REGION=eu "$C" buckets cp cairn://buckets/alice/data/other.bin "$W/got-other.bin" --quiet >/dev/null 2>"$W/err"
cmp -s "$W/other.bin" "$W/got-other.bin" && ok "cold read verifies" || bad "cold read: $(cat "$W/err")"
[ "$(metric "$NODE" cairn_cache_fills_total)" -gt "$fills" ] && ok "cold read filled from the origin" || bad "no fill"

# ---- a corrupted cached xorb is caught and fetched again
X=$(ls "$W/n/cache/xorbs" | head -1)
$PY -c '
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 3] ^= 0xFF; open(p, "wb").write(b)' "$W/n/cache/xorbs/$X"
for f in a b c; do
	CAIRN_REGION=eu "$C" buckets cp cairn://buckets/alice/data/shards/$f.bin "$W/again-$f.bin" --quiet >/dev/null 2>&1
	cmp -s "$W/$f.bin" "$W/again-$f.bin" || bad "$f.bin after corruption"
done
[ "$(metric "$NODE" cairn_cache_corrupt_total)" -ge 1 ] && ok "corruption detected and refetched" || bad "corruption not seen"

# ---- a node restart keeps its jobs and its cache
kill "$NPID"; wait "$NPID" 2>/dev/null
# and clears what a crash leaves: a copy renamed into place without its row, a temporary file
Z=$(printf '0%.0s' $(seq 64))
kept=$(ls "$W/n/cache/xorbs" | grep -c '^[0-9a-f]\{64\}$')
head -c 5000 /dev/zero >"$W/n/cache/xorbs/$Z"
head -c 7000 /dev/zero >"$W/n/cache/xorbs/$Z.1234.7f00.tmp"
echo not the node >"$W/n/cache/xorbs/notes.txt"
echo nor this >"$W/n/cache/xorbs/$(printf 'A%.0s' $(seq 64))"
echo nor this >"$W/n/cache/xorbs/$Z.draft.tmp"
start_node
check "a restart removes a copy without a row and a temporary file" "0 0" \
	"$([ -e "$W/n/cache/xorbs/$Z" ] && echo 1 || echo 0) $([ -e "$W/n/cache/xorbs/$Z.1234.7f00.tmp" ] && echo 1 || echo 0)"
check "and keeps the copies it has rows for, and names not its own" "$kept 3" \
	"$(ls "$W/n/cache/xorbs" | grep -c '^[0-9a-f]\{64\}$') $(ls "$W/n/cache/xorbs" | grep -c -e '^notes.txt$' -e '^A\{64\}$' -e "^$Z.draft.tmp$")"
grep -q "removed 2 file(s) of 12000 bytes" "$W/n/err" && ok "and says so" || bad "no word of the removal: $(grep cache: "$W/n/err")"
# one node a folder: a second on the same --data is refused, and the first goes on
timeout 10 "$C" serve --listen 127.0.0.1:0 --data "$W/n" --region eu --origin "$PROXY" >/dev/null 2>"$W/second" &&
	bad "a second node on the same --data started" ||
	{ grep -q "another cache node runs on this --data" "$W/second" && ok "a second node on the same --data is refused" ||
		bad "second node: $(cat "$W/second")"; }
check "the first still answers" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$NODE/healthz")"
st() { "$C" buckets prewarm --status "$1" --region eu --json 2>/dev/null | jget state; }
check "job survives a restart" done "$(st "$JOB")"
before=$(metric "$ORIGIN" cairn_xorb_reads_total)
CAIRN_REGION=eu "$C" buckets cp cairn://buckets/alice/data/shards/a.bin "$W/r-a.bin" --quiet >/dev/null 2>&1
cmp -s "$W/a.bin" "$W/r-a.bin" && ok "read after restart verifies" || bad "read after restart"
check "still no xorb read at the origin" "$before" "$(metric "$ORIGIN" cairn_xorb_reads_total)"

# ---- the origin unreachable mid-job: the job waits, says so, resumes
kill "$PPID_"; wait "$PPID_" 2>/dev/null
# evict nothing: a new upload makes a xorb the node has not seen
$PY -c 'import random,sys; open(sys.argv[1],"wb").write(random.Random(9).randbytes(2 << 20))' "$W/late.bin"
"$C" buckets cp "$W/late.bin" cairn://buckets/alice/data/late/x.bin --quiet >/dev/null
# and a copy of a staged file first in the prefix: that one is staged at once, the other waits
"$C" buckets cp cairn://buckets/alice/data/shards/c.bin cairn://buckets/alice/data/late/a.bin --quiet >/dev/null
"$C" buckets prewarm alice/data/late --region eu --json >"$W/job2"
JOB2=$(jget job <"$W/job2")
check "the path's key is the prefix" "late" "$(jget prefix <"$W/job2")"
i=0
while [ "$(st "$JOB2")" != waiting ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
"$C" buckets prewarm --status "$JOB2" --region eu --json >"$W/s2"
check "job waits for the origin" waiting "$(jget state <"$W/s2")"
check "half a job: the staged file counts, the other does not" "1 of 2" \
	"$(jget files_done <"$W/s2") of $(jget files <"$W/s2")"
grep -q "origin unreachable" "$W/s2" && ok "and says why" || bad "no reason: $(cat "$W/s2")"
start_proxy
# the proxy's port changed: the node keeps its --origin, so restart it on the new one
kill "$NPID"; wait "$NPID" 2>/dev/null
start_node
i=0
while [ "$(st "$JOB2")" != done ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
check "job resumes and finishes" done "$(st "$JOB2")"

# ---- resolve downloads through the node: the origin redirects, the node serves from its cache
R="$ORIGIN/buckets/alice/data/resolve/shards/b.bin?region=eu"
check "resolve ?region= redirects to the node" "307 $NODE/v1/files/" \
	"$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H "Authorization: Bearer $TOKEN" "$R" | cut -c1-$((4 + ${#NODE} + 10)))"
before=$(metric "$ORIGIN" cairn_xorb_reads_total)
curl -sfL -H "Authorization: Bearer $TOKEN" "$R" -o "$W/res-b.bin"
cmp -s "$W/b.bin" "$W/res-b.bin" && ok "resolve through the node verifies" || bad "resolve through the node"
curl -sfL -r 1000000-1999999 -H "Authorization: Bearer $TOKEN" "$R" -o "$W/res-b.part"
dd if="$W/b.bin" bs=1000000 skip=1 count=1 2>/dev/null | cmp -s - "$W/res-b.part" && ok "a Range through the node" || bad "a Range through the node"
check "the node's resolve read no xorb at the origin" "$before" "$(metric "$ORIGIN" cairn_xorb_reads_total)"
L=$(curl -s -o /dev/null -w '%{redirect_url}' -H "Authorization: Bearer $TOKEN" "$R")
check "a download URL with a bad signature" 403 "$(curl -s -o /dev/null -w '%{http_code}' "$(printf %s "$L" | sed "s/sig=[0-9a-f]*/sig=$(printf '0%.0s' $(seq 64))/")")"
"$C" buckets create alice/priv --private --quiet >/dev/null
"$C" buckets cp "$W/c.bin" cairn://buckets/alice/priv/x --quiet >/dev/null
check "a private bucket's resolve: anonymous" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$ORIGIN/buckets/alice/priv/resolve/x?region=eu")"
check "a private bucket's resolve: its owner" 307 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$ORIGIN/buckets/alice/priv/resolve/x?region=eu")"

# ---- S3 reads through the node: the origin checks the signature, the node serves the bytes
"$C" admin keys create --user alice --data "$W/o/data" --json >"$W/key"
AK=$(jget access_key_id <"$W/key") SK=$(jget secret_access_key <"$W/key")
before=$(metric "$ORIGIN" cairn_xorb_reads_total)
hits0=$(metric "$NODE" cairn_cache_hits_total)
AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null \
	AWS_SHARED_CREDENTIALS_FILE=/dev/null /usr/bin/aws --endpoint-url "$NODE_S3" s3 cp \
	s3://data/shards/c.bin "$W/s3-c.bin" --only-show-errors 2>"$W/err"
cmp -s "$W/c.bin" "$W/s3-c.bin" && ok "aws s3 cp through the node verifies" || bad "aws s3 cp through the node: $(cat "$W/err")"
check "the node's S3 GET read no xorb at the origin" "$before" "$(metric "$ORIGIN" cairn_xorb_reads_total)"
# (an S3 GET at the origin would not count there: the node's own hits say it served the bytes)
[ "$(metric "$NODE" cairn_cache_hits_total)" -gt "$hits0" ] && ok "the node served the S3 GET from its cache" ||
	bad "the node's S3 GET did not come from its cache"
AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK $PY "$HERE/s3_node.py" "$NODE_S3" "$W/b.bin" "$ORIGIN_S3" >"$W/s3py" 2>&1
cat "$W/s3py"
passed=$((passed + $(grep -c '^ok ' "$W/s3py")))
failed=$((failed + $(grep -c '^FAIL ' "$W/s3py")))
grep -q '^s3: 0 failed' "$W/s3py" || bad "the boto3 checks did not finish: $(tail -3 "$W/s3py")"

# ---- release, and refusals
# another user: may read the (public) bucket, so may see the job; may not release it
"$C" admin users create bob --data "$W/o/data" >/dev/null
BOB=$("$C" admin tokens create --user bob --scope write --data "$W/o/data")
check "another reader sees the job" done "$(CAIRN_TOKEN=$BOB st "$JOB")"
check "another user cannot release it" 4 "$(CAIRN_TOKEN=$BOB "$C" buckets prewarm --release "$JOB" --region eu >/dev/null 2>&1; echo $?)"
check "the node answers no unsigned status" 403 "$(curl -s -o /dev/null -w '%{http_code}' "$NODE/v1/prewarm/$JOB")"
check "release" released "$("$C" buckets prewarm --release "$JOB" --region eu --json | jget state)"

# ---- keep-warm: new objects of a bucket with regions are staged in the background
check "settings refuse an unknown region" 1 "$("$C" buckets settings alice/data --regions eu,mars >/dev/null 2>&1; echo $?)"
"$C" buckets settings alice/data --regions eu --json >"$W/set"
check "settings keep eu warm" "['eu']" "$(jget regions <"$W/set")"
check "info shows it" "kept warm in:  eu" "$("$C" buckets info alice/data | grep '^kept warm')"
fills0=$(metric "$ORIGIN" cairn_region_fills_total)
mkdir -p "$W/new"
$PY -c '
import random, sys
for i in range(5):
    open("%s/n%d.bin" % (sys.argv[1], i), "wb").write(random.Random(11 + i).randbytes(1 << 20))
' "$W/new"
"$C" buckets sync "$W/new" cairn://buckets/alice/data/new/ --quiet >/dev/null
# wait for the fills to start, then to settle (1 s without a new one)
i=0 last=$fills0 still=0
while [ $i -lt 200 ] && [ $still -lt 10 ]; do
	sleep 0.1; i=$((i + 1))
	now=$(metric "$ORIGIN" cairn_region_fills_total)
	if [ "$now" = "$last" ] && [ "$now" -gt "$fills0" ]; then still=$((still + 1)); else still=0; fi
	last=$now
done
[ "$(metric "$ORIGIN" cairn_keepwarm_jobs_total)" -ge 1 ] && ok "the origin pushed keep-warm jobs" || bad "no keep-warm job"
[ "$last" -gt "$fills0" ] && ok "the node filled them ($((last - fills0)) xorbs)" || bad "no keep-warm fill"
check "none was dropped" 0 "$(metric "$ORIGIN" cairn_keepwarm_dropped_total)"
before=$(metric "$ORIGIN" cairn_xorb_reads_total)
"$C" buckets sync cairn://buckets/alice/data/new/ "$W/got-new" --region eu --quiet >/dev/null 2>"$W/err"
diff -r "$W/new" "$W/got-new" >/dev/null && ok "kept-warm objects verify (--region)" || bad "kept-warm read: $(cat "$W/err")"
check "the kept-warm objects were already on the node" "$before" "$(metric "$ORIGIN" cairn_xorb_reads_total)"
"$C" buckets settings alice/data --regions "" --quiet
check "settings clear the regions" "[]" "$("$C" buckets info alice/data --json | jget regions)"
# ---- a xorb gone from the origin's store: the job fails (it would wait forever), the next runs
$PY -c 'import random,sys; open(sys.argv[1],"wb").write(random.Random(21).randbytes(1 << 20))' "$W/gone.bin"
"$C" buckets cp "$W/gone.bin" cairn://buckets/alice/data/gone/g.bin --quiet >/dev/null
GX=$(curl -s -H "Authorization: Bearer $TOKEN" "$ORIGIN/v1/reconstructions/$("$C" buckets ls alice/data/gone --json | jget hash)" |
	$PY -c 'import json,sys; print(json.load(sys.stdin)["terms"][0]["hash"])')
find "$W/o/data/xorbs" -name "$GX" -exec rm {} \;
"$C" buckets prewarm alice/data/gone/ --region eu --json >"$W/job3"
i=0
while [ "$(st "$(jget job <"$W/job3")")" != failed ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "a job whose xorb the origin lost fails" failed "$(st "$(jget job <"$W/job3")")"
"$C" buckets prewarm alice/data/shards/a.bin --region eu --wait --json >"$W/job4" 2>/dev/null
check "and the next job still runs" done "$(jget state <"$W/job4")"

# ---- recompressed xorbs (Cairn's own schemes at rest) through the region
$PY -c 'import sys
lines = ["{\"step\": %d, \"msg\": \"loss went down, grad norm %d\"}\n" % (i, i % 97) for i in range(40000)]
open(sys.argv[1], "w").write("".join(lines))' "$W/text.jsonl"
"$C" buckets cp "$W/text.jsonl" cairn://buckets/alice/data/rc/text.jsonl --quiet >/dev/null
# a URL to the xorb as it came, and its bytes through the node, before the recompression
RCH=$("$C" buckets ls cairn://buckets/alice/data/rc --json | $PY -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e.get("path", "").endswith("text.jsonl"): print(e["hash"])')
curl -s -H "Authorization: Bearer $TOKEN" "$ORIGIN/v1/reconstructions/$RCH?region=eu&schemes=cairn" |
	$PY -c 'import json, sys
v = json.load(sys.stdin)
f = list(v["fetch_info"].values())[0][0]
print(f["url"], "%d-%d" % (f["url_range"]["start"], f["url_range"]["end"]))' >"$W/old-url"
read -r OLD_URL OLD_RANGE <"$W/old-url"
curl -sf -r "$OLD_RANGE" "$OLD_URL" -o "$W/old-bytes"
check "a range of the xorb as it came, through the node" 206 "$(curl -s -o /dev/null -w '%{http_code}' -r "$OLD_RANGE" "$OLD_URL")"
"$C" admin recompress --data "$W/o/data" --min-age 0 --json >"$W/rc.json"
check "the origin recompressed its xorbs" 1 "$(jget rewritten <"$W/rc.json" | awk '{print ($1 > 0)}')"
CAIRN_XET_SCHEMES_ONLY=1 "$C" buckets cp cairn://buckets/alice/data/rc/text.jsonl "$W/rc-got" --region eu --quiet >/dev/null 2>"$W/err"
cmp -s "$W/text.jsonl" "$W/rc-got" && ok "a recompressed object through --region, as a xet client (raw layout)" ||
	bad "recompressed through --region (xet): $(cat "$W/err")"
# the node holds the xorb as it came (the range above); a pre-warm stages the stored form
# readers are now sent to, not whatever copy is held
f0=$(metric "$NODE" cairn_cache_fills_total)
"$C" buckets prewarm alice/data/rc/ --region eu --wait --json >"$W/job4" 2>/dev/null
check "a pre-warm after the recompression" done "$(jget state <"$W/job4")"
f1=$(metric "$NODE" cairn_cache_fills_total)
check "fetched the new stored form" 1 "$(awk "BEGIN{print ($f1 > $f0)}")"
check "which is held beside the old" 1 "$(ls "$W/n/cache/xorbs" | grep -c "^$(echo "$OLD_URL" | sed -n 's,.*/v1/xorbs/default/\([0-9a-f]\{64\}\).*,\1,p')\.[0-9a-f]\{64\}$")"
rm -f "$W/rc-got"
"$C" buckets cp cairn://buckets/alice/data/rc/text.jsonl "$W/rc-got" --region eu --quiet >/dev/null 2>"$W/err"
cmp -s "$W/text.jsonl" "$W/rc-got" && ok "a recompressed object through --region, as stored" ||
	bad "recompressed through --region: $(cat "$W/err")"
check "from what the pre-warm staged (no fill)" "$f1" "$(metric "$NODE" cairn_cache_fills_total)"
h1=$(metric "$NODE" cairn_cache_hits_total)
rm -f "$W/rc-got"
"$C" buckets cp cairn://buckets/alice/data/rc/text.jsonl "$W/rc-got" --region eu --quiet >/dev/null 2>"$W/err"
cmp -s "$W/text.jsonl" "$W/rc-got" && ok "read again through the node" || bad "read again: $(cat "$W/err")"
check "from the form it holds (no fill, hits)" "$f1 1" "$(metric "$NODE" cairn_cache_fills_total) $(awk "BEGIN{print ($(metric "$NODE" cairn_cache_hits_total) > $h1)}")"
# the URL handed out before the recompression names the old form: the node fetches that one
check "a URL from before the recompression still reads" 206 "$(curl -s -o "$W/old-again" -w '%{http_code}' -r "$OLD_RANGE" "$OLD_URL")"
cmp -s "$W/old-bytes" "$W/old-again" && ok "with the same bytes" || bad "an old URL's bytes changed"
OLD_X=$(echo "$OLD_URL" | sed -n 's,.*/v1/xorbs/default/\([0-9a-f]\{64\}\).*,\1,p')
check "both forms are held, each in its own file" "1 1" "$([ -f "$W/n/cache/xorbs/$OLD_X" ] && echo 1 || echo 0) $(ls "$W/n/cache/xorbs" | grep -c "^$OLD_X\.[0-9a-f]\{64\}$")"
# copies kept by a node older than stored forms: of unknown form, good for reads by chunk only
kill "$NPID"; wait "$NPID" 2>/dev/null
$PY -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE xorbs SET form = ? WHERE length(hash) = 64", ("?",))
db.commit()' "$W/n/cache.db"
start_node
f1=$(metric "$NODE" cairn_cache_fills_total)
curl -sfL -H "Authorization: Bearer $TOKEN" "$ORIGIN/buckets/alice/data/resolve/rc/text.jsonl?region=eu" -o "$W/rc-res2"
cmp -s "$W/text.jsonl" "$W/rc-res2" && ok "a copy of unknown form serves reads by chunk" || bad "node resolve from a copy of unknown form"
f2=$(metric "$NODE" cairn_cache_fills_total)
check "without a fill" "${f1:-0}" "${f2:-0}"
check "a URL for the xorb as it came is not served from it" 206 "$(curl -s -o "$W/old-again2" -w '%{http_code}' -r "$OLD_RANGE" "$OLD_URL")"
cmp -s "$W/old-bytes" "$W/old-again2" && ok "but from the form fetched for it" || bad "an old URL's bytes from a copy of unknown form"
check "which took a fill" 1 "$(awk "BEGIN{print ($(metric "$NODE" cairn_cache_fills_total) > ${f2:-0})}")"
"$C" buckets prewarm alice/data/rc/ --region eu --wait --json >"$W/job5" 2>/dev/null
check "a recompressed object pre-warms" done "$(jget state <"$W/job5")"
curl -sfL -H "Authorization: Bearer $TOKEN" "$ORIGIN/buckets/alice/data/resolve/rc/text.jsonl?region=eu" -o "$W/rc-res"
cmp -s "$W/text.jsonl" "$W/rc-res" && ok "the node serves a recompressed object it staged" || bad "node resolve of a recompressed object"
curl -sfL -H "Authorization: Bearer $TOKEN" "$ORIGIN/buckets/alice/data/resolve/shards/b.bin?region=eu" -o "$W/res-b2.bin"
cmp -s "$W/b.bin" "$W/res-b2.bin" && ok "and one it staged before recompression" || bad "node resolve of an object staged before"

check "forged URL refused" 403 "$(curl -s -o /dev/null -w '%{http_code}' "$NODE/v1/xorbs/default/$X?start=0&end=9&exp=9999999999&sig=$(printf '0%.0s' $(seq 64))")"
check "forged job refused" 403 "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-Cairn-Exp: 9999999999' -H "X-Cairn-Sig: $(printf 'a%.0s' $(seq 64))" -d '{}' "$NODE/v1/prewarm")"
check "other routes are not the node's" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$NODE/api/buckets")"
check "unknown region refused" 400 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$ORIGIN/v1/reconstructions/$X?region=nowhere")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
