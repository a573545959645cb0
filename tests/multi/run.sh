#!/bin/sh
# run.sh BUILD_DIR - two `cairn serve` processes sharing one PostgreSQL
# (metadata) and one S3 store (s3rver: xorbs), as behind a load balancer,
# all on 127.0.0.1: what one writes the other reads; both overwriting one
# key at once leave one whole version; a dedup hit across servers sends
# nothing new; GC on one while the other uploads breaks nothing.
set -u
BUILD=$(cd "$1" && pwd)
C=$BUILD/cairn
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
W=$(mktemp -d)
chmod 755 "$W"
APID= BPID= S3PID=
. "$HERE/../lib/serve.sh"
. "$HERE/../lib/s3rver.sh"
. "$HERE/../pg/pg.sh"
cleanup() {
	for p in $APID $BPID $S3PID; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	pg_stop
	rm -rf "$W"
}
trap cleanup EXIT
unset CAIRN_ENDPOINT CAIRN_TOKEN CAIRN_REGION
export HOME=$W NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi; }
fin() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

pg_start "$W" || { bad "PostgreSQL did not start: $(cat "$W/pg.log")"; fin; }
s3rver_start "$BUILD" "$W" cairn-multi || { bad "s3rver did not start: $(cat "$W/s3rver.log")"; fin; }
S3PID=$S3RVER_PID
printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' >"$W/creds"
export CAIRN_META=$PG_URL/postgres CAIRN_STORE=s3://cairn-multi/x CAIRN_S3_ENDPOINT=$S3RVER_URL \
	CAIRN_S3_CREDENTIALS=$W/creds
mkdir -p "$W/a" "$W/b"
serve_start "$C" "$W/a/data" "$W/a" || { bad "server A: $(cat "$W/a/err")"; fin; }
APID=$SERVE_PID A=$SERVE_URL
# (signed xorb URLs check on every server: they share the URL key through PostgreSQL)
serve_start "$C" "$W/b/data" "$W/b" || { bad "server B: $(cat "$W/b/err")"; fin; }
BPID=$SERVE_PID B=$SERVE_URL
"$C" admin users create alice --data "$W/a/data" >/dev/null
TOKEN=$("$C" admin tokens create --user alice --scope write --data "$W/a/data")
export CAIRN_TOKEN=$TOKEN
CAIRN_ENDPOINT=$A "$C" buckets create data --quiet >/dev/null
check "a bucket made on A is on B" data "$(CAIRN_ENDPOINT=$B "$C" buckets list alice --json | $PY -c 'import json,sys; print(" ".join(b["name"] for b in json.load(sys.stdin)))')"

$PY -c '
import random, sys
r = random.Random(7)
base = r.randbytes(8 << 20)
open(sys.argv[1] + "/one.bin", "wb").write(base)
b = bytearray(base); b[100:200] = r.randbytes(100)
open(sys.argv[1] + "/two.bin", "wb").write(bytes(b))
open(sys.argv[1] + "/x1.bin", "wb").write(r.randbytes(3 << 20))
open(sys.argv[1] + "/x2.bin", "wb").write(r.randbytes(3 << 20))
' "$W"
CAIRN_ENDPOINT=$A "$C" buckets cp "$W/one.bin" cairn://buckets/alice/data/one.bin --quiet >/dev/null
CAIRN_ENDPOINT=$B "$C" buckets cp cairn://buckets/alice/data/one.bin "$W/got-one.bin" --quiet 2>"$W/err"
cmp -s "$W/one.bin" "$W/got-one.bin" && ok "written through A, read through B" || bad "A -> B: $(cat "$W/err")"
curl -sf -H "Authorization: Bearer $TOKEN" "$B/buckets/alice/data/resolve/one.bin" -o "$W/res-one.bin"
cmp -s "$W/one.bin" "$W/res-one.bin" && ok "B's resolve of A's object" || bad "B's resolve"

# a xorb URL A signs is good on B (the URL key is shared through PostgreSQL)
HASH=$(CAIRN_ENDPOINT=$A "$C" buckets ls alice/data --json | $PY -c 'import json,sys
for l in sys.stdin:
    e = json.loads(l)
    if e["path"] == "one.bin": print(e["hash"])')
curl -s -H "Authorization: Bearer $TOKEN" "$A/v1/reconstructions/$HASH" >"$W/recon"
U=$($PY -c 'import json,sys; r = json.load(sys.stdin); f = next(iter(r["fetch_info"].values()))[0]
print(f["url"], "%d-%d" % (f["url_range"]["start"], f["url_range"]["end"]))' <"$W/recon")
URL_A=${U% *} RANGE=${U#* }
URL_B=$B${URL_A#$A}
check "A's signed xorb URL, fetched from B" 206 "$(curl -s -o /dev/null -w '%{http_code}' -r "$RANGE" "$URL_B")"

# a dedup hit across servers: B sends only what two.bin changes
CAIRN_ENDPOINT=$B "$C" buckets cp "$W/two.bin" cairn://buckets/alice/data/two.bin --json >"$W/two.json" 2>&1
new=$($PY -c 'import json,sys; print(json.load(sys.stdin)["new_bytes"])' <"$W/two.json")
[ "${new:-99999999}" -lt 1000000 ] && ok "B stores only the change A's upload lacks ($new new bytes)" ||
	bad "cross-server dedup: $(cat "$W/two.json")"
CAIRN_ENDPOINT=$A "$C" buckets cp "$W/one.bin" cairn://buckets/alice/data/one-again.bin --json >"$W/again.json"
check "the same file again through A: nothing new" 0 "$($PY -c 'import json,sys; print(json.load(sys.stdin)["new_bytes"])' <"$W/again.json")"

# both overwrite one key at once, many times: one whole version wins each time
for i in 1 2 3 4 5; do
	CAIRN_ENDPOINT=$A "$C" buckets cp "$W/x1.bin" cairn://buckets/alice/data/race.bin --quiet >/dev/null 2>&1 &
	p1=$!
	CAIRN_ENDPOINT=$B "$C" buckets cp "$W/x2.bin" cairn://buckets/alice/data/race.bin --quiet >/dev/null 2>&1 &
	p2=$!
	wait $p1 $p2
	CAIRN_ENDPOINT=$B "$C" buckets cp cairn://buckets/alice/data/race.bin "$W/race.bin" --quiet 2>/dev/null
	if cmp -s "$W/race.bin" "$W/x1.bin" || cmp -s "$W/race.bin" "$W/x2.bin"; then :; else
		bad "round $i: race.bin is neither version"; fi
done
ok "five rounds of racing overwrites, each left one whole version"

# GC on A while B uploads: nothing either server acknowledged goes missing
CAIRN_ENDPOINT=$A "$C" buckets rm cairn://buckets/alice/data/one-again.bin >/dev/null
mkdir -p "$W/many"
$PY -c '
import random, sys
r = random.Random(3)
for i in range(12):
    open("%s/f%02d.bin" % (sys.argv[1], i), "wb").write(r.randbytes(512 << 10))
' "$W/many"
CAIRN_ENDPOINT=$B "$C" buckets sync "$W/many" cairn://buckets/alice/data/many/ --quiet >/dev/null 2>"$W/sync.err" &
sp=$!
for i in 1 2 3; do "$C" admin gc --data "$W/a/data" --grace 0 >/dev/null 2>>"$W/gc.err"; done
wait $sp; src=$?
# with no grace, GC may take xorbs B stored but had not yet committed: that upload then fails
# cleanly, unacknowledged, and its retry must succeed; what was acknowledged must all be there
if [ "$src" != 0 ]; then
	grep -q 'is not stored' "$W/sync.err" || cat "$W/sync.err"
	CAIRN_ENDPOINT=$B "$C" buckets sync "$W/many" cairn://buckets/alice/data/many/ --quiet >/dev/null 2>"$W/sync.err"
	src=$?
fi
check "B's upload during A's GC (retried once if GC took its uncommitted xorbs)" 0 "$src"
CAIRN_ENDPOINT=$A "$C" buckets sync cairn://buckets/alice/data/many/ "$W/many-back" --quiet 2>"$W/err"
diff -r "$W/many" "$W/many-back" >/dev/null && ok "every object B wrote reads back through A after GC" ||
	bad "after GC: $(cat "$W/err")"
"$C" admin fsck --data "$W/a/data" >"$W/fsck" 2>&1 && ok "fsck finds nothing wrong" || bad "fsck: $(tail -3 "$W/fsck")"
for f in one two; do
	CAIRN_ENDPOINT=$A "$C" buckets cp cairn://buckets/alice/data/$f.bin "$W/after-$f.bin" --quiet 2>/dev/null
	cmp -s "$W/$f.bin" "$W/after-$f.bin" || bad "$f.bin after GC"
done
ok "the earlier objects survive GC"

# ---- PostgreSQL restarts under the servers: they reconnect
$PG_AS "$PG_BIN/pg_ctl" -D "$PG_DIR" -w -t 60 restart -l "$W/pgserver.log" >/dev/null 2>&1
okn=0
for i in 1 2 3 4 5 6; do
	CAIRN_ENDPOINT=$A "$C" buckets ls alice/data >/dev/null 2>&1 && okn=$((okn + 1))
	CAIRN_ENDPOINT=$B "$C" buckets ls alice/data >/dev/null 2>&1 && okn=$((okn + 1))
done
check "every request after a PostgreSQL restart" 12 "$okn"

# ---- a single-node data directory (SQLite + local xorbs) moved to PostgreSQL + S3
kill "$APID" "$BPID"; wait "$APID" "$BPID" 2>/dev/null; APID= BPID=
(
	unset CAIRN_META CAIRN_STORE CAIRN_S3_ENDPOINT CAIRN_S3_CREDENTIALS CAIRN_TOKEN
	mkdir -p "$W/one"
	serve_start "$C" "$W/one/data" "$W/one" || exit 1
	P=$SERVE_PID
	"$C" admin users create dora --data "$W/one/data" >/dev/null
	"$C" admin tokens create --user dora --scope write --data "$W/one/data" >"$W/one/token"
	CAIRN_ENDPOINT=$SERVE_URL CAIRN_TOKEN=$(cat "$W/one/token") "$C" buckets create old --private --quiet
	CAIRN_ENDPOINT=$SERVE_URL CAIRN_TOKEN=$(cat "$W/one/token") "$C" buckets sync "$W/many" \
		cairn://buckets/dora/old/many/ --quiet >/dev/null
	kill "$P"; wait "$P" 2>/dev/null
	# never into a database in use: refused before a row is written
	"$C" admin migrate --data "$W/one/data" --to-meta "$PG_URL/postgres" >"$W/one/inuse" 2>&1 &&
		echo "migrated into a database in use" >"$W/one/inuse-bad"
	psql "$PG_URL/moved" -qc "SELECT 1" >/dev/null 2>&1 && echo "made a database" >>"$W/one/inuse-bad"
	psql "$PG_URL/postgres" -qc "CREATE DATABASE moved" >/dev/null 2>&1
	"$C" admin migrate --data "$W/one/data" --to-store s3://cairn-multi/moved \
		--s3-endpoint "$S3RVER_URL" --s3-credentials "$W/creds" --to-meta "$PG_URL/moved" \
		>"$W/one/migrate" 2>&1
) || bad "the single-node server"
[ -s "$W/one/inuse-bad" ] && bad "$(cat "$W/one/inuse-bad")" ||
	{ grep -q "in use already" "$W/one/inuse" && ok "migrate refuses a database in use" ||
		bad "into a database in use: $(cat "$W/one/inuse")"; }
cat "$W/one/migrate"
grep -q "every table's rows counted" "$W/one/migrate" && ok "migrate --to-meta --to-store" ||
	bad "migrate: $([ -s "$W/one/inuse-bad" ] && bad "$(cat "$W/one/inuse-bad")" ||
	{ grep -q "in use already" "$W/one/inuse" && ok "migrate refuses a database in use" ||
		bad "into a database in use: $(cat "$W/one/inuse")"; }
cat "$W/one/migrate")"
"$C" admin migrate --data "$W/one/data" --to-store s3://cairn-multi/moved --s3-endpoint "$S3RVER_URL" \
	--s3-credentials "$W/creds" --to-meta "$PG_URL/moved" >"$W/one/migrate2" 2>&1
grep -q ": 0 copied" "$W/one/migrate2" && grep -q "rows counted" "$W/one/migrate2" &&
	ok "migrate again: goes on, copies nothing twice" || bad "migrate again: $(cat "$W/one/migrate2")"
mv "$W/one/data/cairn.db" "$W/one/cairn.db.old"
mv "$W/one/data/xorbs" "$W/one/xorbs.old"
mkdir -p "$W/c"
CAIRN_META=$PG_URL/moved CAIRN_STORE=s3://cairn-multi/moved serve_start "$C" "$W/one/data" "$W/c" ||
	bad "the server over the moved data: $(cat "$W/c/err")"
APID=$SERVE_PID
CAIRN_TOKEN=$(cat "$W/one/token") CAIRN_ENDPOINT=$SERVE_URL "$C" buckets sync \
	cairn://buckets/dora/old/many/ "$W/moved-back" --quiet 2>"$W/err"
diff -r "$W/many" "$W/moved-back" >/dev/null && ok "the moved data reads back, with the old token" ||
	bad "after the move: $(cat "$W/err")"
check "the moved bucket is still private" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$SERVE_URL/api/buckets/dora/old")"
fin
