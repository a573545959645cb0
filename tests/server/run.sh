#!/bin/sh
# run.sh BUILD_DIR - `cairn serve` end to end: start the server on a free
# port of 127.0.0.1 over a scratch data directory, drive the HTTP API with
# curl (and the admin CLI on the same directory), then stop it with
# SIGTERM. Ends with "N passed, N failed". Exit 77 (skip) without curl.
set -u
command -v curl >/dev/null 2>&1 || { echo "curl missing: skipped"; exit 77; }
BUILD=$(cd "$1" && pwd)
CAIRN=$BUILD/cairn
W=$(mktemp -d)
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
DATA=$W/data
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
# check NAME EXPECTED ACTUAL
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; [ -f "$W/body" ] && head -c 300 "$W/body" && echo; fi; }
# contains NAME FILE STRING
contains() { if grep -q -- "$3" "$2"; then ok "$1"; else bad "$1: no '$3' in $(head -c 300 "$2")"; fi; }
# http [curl args...]: prints the status, body in $W/body
http() { curl -s -o "$W/body" -w '%{http_code}' --max-time 20 "$@"; }

. "$(dirname "$0")/../lib/serve.sh"
serve_start "$CAIRN" "$DATA" "$W" --threads 3 ||
	{ echo "FAIL server did not start"; cat "$W/err"; echo "0 passed, 1 failed"; exit 1; }
PID=$SERVE_PID
U=$SERVE_URL

check healthz 200 "$(http "$U/healthz")"
ADMIN=$(cat "$DATA/admin-token")
contains admin-token-printed "$W/out" "admin token: $ADMIN"
check admin-token-mode 600 "$(stat -c %a "$DATA/admin-token")"
# secrets live in these: the URL key, and the metadata (S3 secrets, region keys)
check url-key-mode 600 "$(stat -c %a "$DATA/url-key")"
if [ -z "${CAIRN_META:-}" ]; then
	check metadata-mode 600 "$(stat -c %a "$DATA/cairn.db")"
	check metadata-wal-mode 600 "$(stat -c %a "$DATA/cairn.db-wal")"
fi
check data-dir-mode 700 "$(stat -c %a "$DATA")"
A="Authorization: Bearer $ADMIN"

check whoami-admin 200 "$(http -H "$A" "$U/api/whoami")"
contains whoami-admin-body "$W/body" '"user":"admin"'
check whoami-anonymous 401 "$(http "$U/api/whoami")"
check wrong-token 401 "$(http -H "Authorization: Bearer cairn_$(printf '%064d' 0)" "$U/api/whoami")"
check malformed-token 401 "$(http -H "Authorization: Bearer nope" "$U/api/whoami")"

# users and tokens through the CLI, on the data directory the server uses
"$CAIRN" admin users create alice --data "$DATA" >/dev/null || bad users-create-alice
"$CAIRN" admin users create bob --data "$DATA" >/dev/null || bad users-create-bob
AW=$("$CAIRN" admin tokens create --user alice --scope write --data "$DATA")
AR=$("$CAIRN" admin tokens create --user alice --scope read --data "$DATA")
BW=$("$CAIRN" admin tokens create --user bob --scope write --data "$DATA")
"$CAIRN" admin users create alice --data "$DATA" >/dev/null 2>&1 && bad users-create-twice
AWH="Authorization: Bearer $AW"
ARH="Authorization: Bearer $AR"
BWH="Authorization: Bearer $BW"
check whoami-alice 200 "$(http -H "$AWH" "$U/api/whoami")"
contains whoami-alice-scope "$W/body" '"scope":"write"'

# buckets
check create-private 201 "$(http -X POST -H "$AWH" -d '{"private":true}' "$U/api/buckets/alice/secret")"
check create-public 201 "$(http -X POST -H "$AWH" -d '{"private":false}' "$U/api/buckets/alice/pub")"
check create-exists 409 "$(http -X POST -H "$AWH" -d '{"private":false}' "$U/api/buckets/alice/pub")"
check create-other-ns 403 "$(http -X POST -H "$BWH" "$U/api/buckets/alice/bobs")"
check create-read-token 403 "$(http -X POST -H "$ARH" "$U/api/buckets/alice/ro")"
check create-anonymous 401 "$(http -X POST "$U/api/buckets/alice/anon")"
check create-bad-json 400 "$(http -X POST -H "$AWH" -d '{"private":3}' "$U/api/buckets/alice/bad")"
check create-bad-name 400 "$(http -X POST -H "$AWH" "$U/api/buckets/alice/Bad%20Name")"
check create-by-admin 201 "$(http -X POST -H "$A" "$U/api/buckets/bob/made-by-admin")"

check info-owner 200 "$(http -H "$AWH" "$U/api/buckets/alice/secret")"
contains info-fields "$W/body" '"logical_bytes":0'
check private-anonymous 404 "$(http "$U/api/buckets/alice/secret")"
check private-other-user 404 "$(http -H "$BWH" "$U/api/buckets/alice/secret")"
check private-admin 200 "$(http -H "$A" "$U/api/buckets/alice/secret")"
check public-anonymous 200 "$(http "$U/api/buckets/alice/pub")"
check missing-bucket 404 "$(http -H "$AWH" "$U/api/buckets/alice/nothing")"

check list-anonymous 200 "$(http "$U/api/buckets?namespace=alice")"
contains list-anon-public "$W/body" '"name":"pub"'
if grep -q '"name":"secret"' "$W/body"; then bad list-anon-hides-private; else ok list-anon-hides-private; fi
check list-owner 200 "$(http -H "$AWH" "$U/api/buckets?namespace=alice")"
contains list-owner-private "$W/body" '"name":"secret"'

# uploads and downloads
head -c 5242880 /dev/urandom >"$W/five"
: >"$W/empty"
check upload-5mb 200 "$(http -T "$W/five" -H "$AWH" -H "X-Cairn-Mtime: 1234" "$U/buckets/alice/pub/upload/models/v1/five.bin")"
contains upload-size "$W/body" '"size":5242880'
NEW1=$(sed -n 's/.*"new_bytes":\([0-9]*\).*/\1/p' "$W/body")
check upload-new-bytes 5242880 "$NEW1"
check upload-again 200 "$(http -T "$W/five" -H "$AWH" "$U/buckets/alice/pub/upload/models/v2/five-copy.bin")"
contains upload-dedup "$W/body" '"new_bytes":0,'
check upload-empty 200 "$(http -T "$W/empty" -H "$AWH" "$U/buckets/alice/pub/upload/empty.txt")"
contains upload-empty-size "$W/body" '"size":0,'
check upload-private 200 "$(http -T "$W/empty" -H "$AWH" "$U/buckets/alice/secret/upload/s.txt")"

check download-anonymous 200 "$(curl -s -o "$W/got" -w '%{http_code}' "$U/buckets/alice/pub/resolve/models/v1/five.bin")"
if cmp -s "$W/five" "$W/got"; then ok download-bytes; else bad download-bytes; fi
curl -s -D "$W/hdr" -o /dev/null "$U/buckets/alice/pub/resolve/models/v1/five.bin"
contains download-etag "$W/hdr" 'ETag: "[0-9a-f]\{64\}"'
contains download-length "$W/hdr" 'Content-Length: 5242880'
check download-range 206 "$(curl -s -D "$W/hdr" -o "$W/part" -w '%{http_code}' -H 'Range: bytes=1000000-2999999' "$U/buckets/alice/pub/resolve/models/v1/five.bin")"
tail -c +1000001 "$W/five" | head -c 2000000 >"$W/want"
if cmp -s "$W/want" "$W/part"; then ok download-range-bytes; else bad download-range-bytes; fi
contains download-content-range "$W/hdr" 'Content-Range: bytes 1000000-2999999/5242880'
check download-suffix 206 "$(curl -s -o "$W/part" -w '%{http_code}' -H 'Range: bytes=-100' "$U/buckets/alice/pub/resolve/models/v1/five.bin")"
tail -c 100 "$W/five" >"$W/want"
if cmp -s "$W/want" "$W/part"; then ok download-suffix-bytes; else bad download-suffix-bytes; fi
check download-416 416 "$(http -H 'Range: bytes=5242880-' "$U/buckets/alice/pub/resolve/models/v1/five.bin")"
check download-empty 200 "$(curl -s -o "$W/got" -w '%{http_code}' "$U/buckets/alice/pub/resolve/empty.txt")"
if cmp -s "$W/empty" "$W/got"; then ok download-empty-bytes; else bad download-empty-bytes; fi
check download-missing 404 "$(http "$U/buckets/alice/pub/resolve/nope")"
check download-private-anon 404 "$(http "$U/buckets/alice/secret/resolve/s.txt")"
check download-private-owner 200 "$(http -H "$ARH" "$U/buckets/alice/secret/resolve/s.txt")"

# who may write
check put-anonymous 401 "$(http -T "$W/empty" "$U/buckets/alice/pub/upload/x")"
check put-other-user 403 "$(http -T "$W/empty" -H "$BWH" "$U/buckets/alice/pub/upload/x")"
check put-other-user-private 404 "$(http -T "$W/empty" -H "$BWH" "$U/buckets/alice/secret/upload/x")"
check put-read-token 403 "$(http -T "$W/empty" -H "$ARH" "$U/buckets/alice/pub/upload/x")"
check put-read-token-5mb 403 "$(http -T "$W/five" -H "$ARH" "$U/buckets/alice/pub/upload/x")"

# bad paths
check path-dotdot 400 "$(http --path-as-is -T "$W/empty" -H "$AWH" "$U/buckets/alice/pub/upload/a/../b")"
check path-dotdot-escaped 400 "$(http -T "$W/empty" -H "$AWH" "$U/buckets/alice/pub/upload/a/%2e%2e/b")"
check path-nul 400 "$(http -T "$W/empty" -H "$AWH" "$U/buckets/alice/pub/upload/a%00b")"
check path-empty-segment 400 "$(http --path-as-is -T "$W/empty" -H "$AWH" "$U/buckets/alice/pub/upload/a//b")"
LONG=$(head -c 1100 /dev/zero | tr '\0' 'k')
check path-too-long 400 "$(http -T "$W/empty" -H "$AWH" "$U/buckets/alice/pub/upload/$LONG")"
check path-escaped-ok 200 "$(http -T "$W/empty" -H "$AWH" "$U/buckets/alice/pub/upload/sp%20ace.txt")"

# listing
check tree-root 200 "$(http "$U/api/buckets/alice/pub/tree")"
contains tree-root-dir "$W/body" '"type":"directory","path":"models"'
contains tree-root-file "$W/body" '"path":"empty.txt"'
check tree-prefix 200 "$(http "$U/api/buckets/alice/pub/tree/models")"
contains tree-prefix-dirs "$W/body" '"path":"models/v2"'
check tree-recursive 200 "$(http "$U/api/buckets/alice/pub/tree/models?recursive=true")"
contains tree-recursive-file "$W/body" '"path":"models/v2/five-copy.bin"'
check tree-page1 200 "$(http "$U/api/buckets/alice/pub/tree?recursive=true&limit=1")"
CUR=$(sed -n 's/.*"next_cursor":"\([0-9a-f]*\)".*/\1/p' "$W/body")
[ -n "$CUR" ] && ok tree-cursor || bad tree-cursor
check tree-page2 200 "$(http "$U/api/buckets/alice/pub/tree?recursive=true&limit=1&cursor=$CUR")"
contains tree-page2-next "$W/body" '"path":"models/v1/five.bin"'

# the chunk protocol (docs/api.md): the dedup query, reconstruction, signed xorb reads, batches
PY=/usr/bin/python3
# fixed random bytes (not /dev/urandom): whether the second half of one
# shares whole chunks with it, below, depends on where the chunker cuts
$PY -c 'import random, sys; sys.stdout.buffer.write(random.Random(157).randbytes(1 << 20))' >"$W/one"
check xet-upload-secret 200 "$(http -T "$W/one" -H "$AWH" "$U/buckets/alice/secret/upload/one.bin")"
"$CAIRN" chunks --json "$W/one" >"$W/one.json"
FH=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["hash"])' "$W/one.json")
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps({"chunks":[c["hash"] for c in d["chunks"]]}))' "$W/one.json" >"$W/q.json"
NCH=$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["chunks"]))' "$W/one.json")
ALL1=$(printf "%${NCH}s" | tr ' ' 1)
ALL0=$(printf "%${NCH}s" | tr ' ' 0)
CH0=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["chunks"][0]["hash"])' "$W/one.json")
check xet-query-anonymous 401 "$(http -X POST --data-binary @"$W/q.json" "$U/v1/chunks/default")"
check xet-query-owner 200 "$(http -X POST -H "$ARH" --data-binary @"$W/q.json" "$U/v1/chunks/default")"
contains xet-query-owner-all "$W/body" "\"present\":\"$ALL1\""
check xet-query-other 200 "$(http -X POST -H "$BWH" --data-binary @"$W/q.json" "$U/v1/chunks/default")"
contains xet-query-other-none "$W/body" "\"present\":\"$ALL0\""
check xet-query-bad 400 "$(http -X POST -H "$BWH" -d '{"chunks":["zz"]}' "$U/v1/chunks/default")"
check xet-chunk-owner 200 "$(http -H "$AWH" "$U/v1/chunks/default/$CH0")"
check xet-chunk-other 404 "$(http -H "$BWH" "$U/v1/chunks/default/$CH0")"
check xet-recon-anonymous 404 "$(http "$U/v1/reconstructions/$FH")"
check xet-recon-other 404 "$(http -H "$BWH" "$U/v1/reconstructions/$FH")"
check xet-recon-owner 200 "$(http -H "$ARH" "$U/v1/reconstructions/$FH")"
contains xet-recon-size "$W/body" '"size":1048576'
set -- $($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); e=list(d["fetch_info"].values())[0][0]; print(e["url"], e["url_range"]["start"], e["url_range"]["end"])' "$W/body")
XURL=$1 XS=$2 XE=$3
tail -c +524289 "$W/one" >"$W/two" # the second half of one: a term starting mid-xorb
$PY -c 'import random, sys; sys.stdout.buffer.write(random.Random(181).randbytes(1 << 20))' >>"$W/two"
http -T "$W/two" -H "$AWH" "$U/buckets/alice/secret/upload/two.bin" >/dev/null
FH2=$(sed -n 's/.*"hash":"\([0-9a-f]*\)".*/\1/p' "$W/body")
curl -s -H "$AWH" -o "$W/recon2.json" "$U/v1/reconstructions/$FH2"
check xet-xorb-range 206 "$(curl -s -o "$W/xr" -w '%{http_code}' -H "Range: bytes=$XS-$XE" "$U$XURL")"
check xet-xorb-range-length $((XE - XS + 1)) "$(stat -c %s "$W/xr")"
check xet-xorb-sub-range 206 "$(curl -s -o "$W/xr" -w '%{http_code}' -H "Range: bytes=$XS-$((XS + 99))" "$U$XURL")"
check xet-xorb-sub-range-length 100 "$(stat -c %s "$W/xr")"
check xet-xorb-bad-sig 403 "$(http "$(echo "$U$XURL" | sed 's/sig=\(.\)/sig=0\1/; s/sig=\(.\{64\}\).*/sig=\1/')")"
check xet-xorb-longer-range 403 "$(http "$(echo "$U$XURL" | sed "s/end=$XE/end=$((XE + 1))/")")"
check xet-xorb-unsigned 403 "$(http "$(echo "$U$XURL" | sed 's/?.*//')")"
# the second xorb range of a file (if any) starts past 0: asking before it is refused
set -- $($PY -c 'import json,sys
d=json.load(open(sys.argv[1]))
for v in d["fetch_info"].values():
    for e in v:
        if e["url_range"]["start"] > 0:
            print(e["url"], e["url_range"]["start"], e["url_range"]["end"]); sys.exit(0)
' "$W/recon2.json" 2>/dev/null) x 0 0
if [ "$1" != x ]; then
	check xet-xorb-before-signed 416 "$(http -H "Range: bytes=$(($2 - 1))-$3" "$U$1")"
else
	bad "xet-xorb-before-signed: no range past 0 to try"
fi
head -c 1000 /dev/urandom >"$W/junk"
XH=$(printf '%064d' 0)
check xet-xorb-put-anonymous 401 "$(http -X POST --data-binary @"$W/junk" "$U/v1/xorbs/default/$XH")"
check xet-xorb-put-read-token 403 "$(http -X POST -H "$ARH" --data-binary @"$W/junk" "$U/v1/xorbs/default/$XH")"
check xet-xorb-put-junk 400 "$(http -X POST -H "$AWH" --data-binary @"$W/junk" "$U/v1/xorbs/default/$XH")"
check xet-xorb-put-no-length 411 "$(http -X POST -H "$AWH" -H "Transfer-Encoding: chunked" --data-binary @"$W/junk" "$U/v1/xorbs/default/$XH")"
check xet-chunk-repeated 200 "$(http -X POST -H "$ARH" -d "{\"chunks\":[\"$CH0\",\"$CH0\",\"$(printf '%064d' 0)\",\"$CH0\"]}" "$U/v1/chunks/default")"
contains xet-chunk-repeated-bits "$W/body" '"present":"1101"'
check xet-xorb-put-bad-name 400 "$(http -X POST -H "$AWH" --data-binary @"$W/junk" "$U/v1/xorbs/default/nothex")"
# a commit naming alice's chunks: bob knows the hashes, not the bytes
$PY -c '
import base64, json, struct, sys
d = json.load(open(sys.argv[1]))
raw = b"".join(bytes.fromhex("".join(h[i:i+16][j:j+2] for i in range(0, 64, 16) for j in range(14, -2, -2))) + struct.pack("<Q", c["length"]) for c in d["chunks"] for h in [c["hash"]])
print(json.dumps({"op": "add", "path": sys.argv[2], "hash": d["hash"], "size": d["size"], "chunks": base64.b64encode(raw).decode()}))
' "$W/one.json" stolen.bin >"$W/add.ndjson"
check xet-batch-bob-steals 400 "$(http -X POST -H "$BWH" --data-binary @"$W/add.ndjson" "$U/api/buckets/bob/made-by-admin/batch")"
contains xet-batch-bob-steals-why "$W/body" 'line 1: chunk [0-9a-f]* is not stored or not visible to you'
check xet-batch-owner-chunks 200 "$(http -X POST -H "$AWH" --data-binary @"$W/add.ndjson" "$U/api/buckets/alice/secret/batch")"
check xet-batch-owner-reads 200 "$(curl -s -o "$W/got" -w '%{http_code}' -H "$AWH" "$U/buckets/alice/secret/resolve/stolen.bin")"
if cmp -s "$W/one" "$W/got"; then ok xet-batch-bytes; else bad xet-batch-bytes; fi
printf '{"op":"add","path":"byhash.bin","hash":"%s","size":1048576}\n\n{"op":"copy","path":"copied.bin","src_path":"one.bin"}\n{"op":"delete","path":"stolen.bin"}\n{"op":"delete","path":"never"}\n' "$FH" >"$W/b.ndjson"
check xet-batch-ops 200 "$(http -X POST -H "$AWH" --data-binary @"$W/b.ndjson" "$U/api/buckets/alice/secret/batch")"
contains xet-batch-missing "$W/body" '"path":"never","missing":true'
check xet-batch-copied 200 "$(http -H "$AWH" "$U/buckets/alice/secret/resolve/copied.bin")"
check xet-batch-deleted 404 "$(http -H "$AWH" "$U/buckets/alice/secret/resolve/stolen.bin")"
printf '{"op":"delete","path":"copied.bin"}\n{"op":"fly"}\n' >"$W/b.ndjson"
check xet-batch-bad-line 400 "$(http -X POST -H "$AWH" --data-binary @"$W/b.ndjson" "$U/api/buckets/alice/secret/batch")"
contains xet-batch-bad-line-no "$W/body" '"message":"line 2: '
check xet-batch-all-or-nothing 200 "$(http -H "$AWH" "$U/buckets/alice/secret/resolve/copied.bin")"
printf '{"op":"add","path":"x","hash":"%s","size":1048576}\n' "$FH" >"$W/b.ndjson"
for P in '' 'a//b' '../x' 'a/./b' '/abs' 'dir/'; do
	check "xet-batch-bad-path '$P'" 400 "$(http -X POST -H "$AWH" --data-binary "{\"op\":\"delete\",\"path\":\"$P\"}" "$U/api/buckets/alice/secret/batch")"
done
check xet-batch-nested 400 "$(http -X POST -H "$AWH" --data-binary '{"op":"delete","path":"a","x":[0,0,0]}' "$U/api/buckets/alice/secret/batch")"
contains xet-batch-nested-why "$W/body" 'one flat JSON object'
check xet-batch-nested-object 400 "$(http -X POST -H "$AWH" --data-binary '{"op":"delete","path":"a","x":{"y":1}}' "$U/api/buckets/alice/secret/batch")"
check xet-batch-brackets-in-strings 200 "$(http -X POST -H "$AWH" --data-binary '{"op":"delete","path":"[x]{y}\"z"}' "$U/api/buckets/alice/secret/batch")"
# a NUL in a path: JSON text with \u0000 is refused by the parser already
check xet-batch-bad-path-nul 400 "$(http -X POST -H "$AWH" --data-binary '{"op":"delete","path":"a\u0000b"}' "$U/api/buckets/alice/secret/batch")"
check xet-batch-bob-by-hash 400 "$(http -X POST -H "$BWH" --data-binary @"$W/b.ndjson" "$U/api/buckets/bob/made-by-admin/batch")"
check xet-batch-read-token 403 "$(http -X POST -H "$ARH" --data-binary @"$W/b.ndjson" "$U/api/buckets/alice/secret/batch")"
check xet-batch-anonymous-private 404 "$(http -X POST --data-binary @"$W/b.ndjson" "$U/api/buckets/alice/secret/batch")"
check xet-batch-anonymous 401 "$(http -X POST --data-binary @"$W/b.ndjson" "$U/api/buckets/alice/pub/batch")"
check xet-batch-other-private 404 "$(http -X POST -H "$BWH" --data-binary @"$W/b.ndjson" "$U/api/buckets/alice/secret/batch")"
check xet-batch-copy-from-hidden 404 "$(http -X POST -H "$BWH" --data-binary '{"op":"copy","path":"c","src_bucket":"alice/secret","src_path":"one.bin"}' "$U/api/buckets/bob/made-by-admin/batch")"
# a plain upload's dedup figures speak only of chunks the writer can see
check xet-put-other-tenant 200 "$(http -T "$W/one" -H "$BWH" "$U/buckets/bob/made-by-admin/upload/one.bin")"
contains xet-put-other-tenant-new "$W/body" '"new_bytes":1048576,'
check xet-put-owner-again 200 "$(http -T "$W/one" -H "$AWH" "$U/buckets/alice/secret/upload/again.bin")"
contains xet-put-owner-dedup "$W/body" '"new_bytes":0,'
check xet-put-other-cleanup 200 "$(http -X DELETE -H "$BWH" "$U/buckets/bob/made-by-admin/resolve/one.bin")"

# info after writes, settings, deletes
check info-stats 200 "$(http "$U/api/buckets/alice/pub")"
contains info-objects "$W/body" '"objects":4'
check settings-other 403 "$(http -X PUT -H "$BWH" -d '{"private":true}' "$U/api/buckets/alice/pub/settings")"
check settings-private 200 "$(http -X PUT -H "$AWH" -d '{"private":true}' "$U/api/buckets/alice/pub/settings")"
check settings-now-hidden 404 "$(http "$U/buckets/alice/pub/resolve/empty.txt")"
check settings-public 200 "$(http -X PUT -H "$AWH" -d '{"private":false}' "$U/api/buckets/alice/pub/settings")"
check object-delete-read-token 403 "$(http -X DELETE -H "$ARH" "$U/buckets/alice/pub/resolve/empty.txt")"
check object-delete 200 "$(http -X DELETE -H "$AWH" "$U/buckets/alice/pub/resolve/empty.txt")"
check object-deleted 404 "$(http "$U/buckets/alice/pub/resolve/empty.txt")"
check bucket-delete-nonempty 409 "$(http -X DELETE -H "$AWH" "$U/api/buckets/alice/pub")"
contains bucket-delete-code "$W/body" 'BucketNotEmpty'
check bucket-delete-other 404 "$(http -X DELETE -H "$BWH" "$U/api/buckets/alice/secret")"
check bucket-delete-force 200 "$(http -X DELETE -H "$AWH" "$U/api/buckets/alice/pub?force=true")"
check bucket-deleted 404 "$(http "$U/api/buckets/alice/pub")"
check bucket-delete-empty 200 "$(http -X DELETE -H "$A" "$U/api/buckets/bob/made-by-admin")"

# revoked tokens stop working
"$CAIRN" admin tokens revoke "$BW" --data "$DATA" >/dev/null || bad tokens-revoke
check revoked-token 401 "$(http -H "$BWH" "$U/api/whoami")"
check unknown-endpoint 404 "$(http "$U/nope")"
check method-not-allowed 405 "$(http -X PATCH "$U/api/buckets/alice/secret")"
curl -s -D "$W/hdr" -o /dev/null -X PATCH "$U/api/buckets/alice/secret"
contains method-not-allowed-allow "$W/hdr" 'Allow: GET, HEAD, POST, DELETE'

# keep-alive: the second request reuses the connection, nothing says close
curl -sv -o /dev/null -o /dev/null "$U/healthz" "$U/api/buckets/alice/secret" >"$W/ka" 2>&1
contains keepalive-reused "$W/ka" 'Re-using existing connection'
if grep -qi '^< Connection: close' "$W/ka"; then bad keepalive-no-close; else ok keepalive-no-close; fi
curl -sv -o /dev/null -o /dev/null -H "$AWH" -X POST -d '{"private":true}' "$U/api/buckets/alice/ka1" \
	--next -sv -o /dev/null -H "$AWH" "$U/api/whoami" >"$W/ka" 2>&1
contains keepalive-after-body "$W/ka" 'Re-using existing connection'
if grep -qi '^< Connection: close' "$W/ka"; then bad keepalive-body-no-close; else ok keepalive-body-no-close; fi

check metrics 200 "$(http "$U/metrics")"
for m in 'cairn_http_requests_total{code="200"}' cairn_http_bytes_in_total cairn_http_bytes_out_total \
	cairn_http_errors_total cairn_http_aborted_total 'cairn_http_requests_total{code="411"} 1' \
	'cairn_http_request_seconds_bucket{le="+Inf"}' \
	cairn_http_request_seconds_count cairn_dedup_chunks_total; do
	contains "metrics $m" "$W/body" "$m"
done
DEDUP=$(sed -n 's/^cairn_dedup_chunks_total \([0-9]*\)$/\1/p' "$W/body")
[ "${DEDUP:-0}" -gt 0 ] && ok metrics-dedup-counted || bad "metrics-dedup-counted ($DEDUP)"
contains access-log "$W/err" 'PUT /buckets/alice/pub/upload/models/v1/five.bin 200'

# uploads in flight hold bounded memory together: past --upload-memory, 503 SlowDown
. "$(dirname "$0")/../lib/serve.sh"
# a second data directory is a second metadata store: with PostgreSQL
# (tests/pg/with.sh), a database of its own
if [ -n "${CAIRN_META:-}" ]; then
	psql "${CAIRN_META%/*}/postgres" -qc "CREATE DATABASE second" >/dev/null 2>&1
	CAIRN_META=${CAIRN_META%/*}/second
	export CAIRN_META
fi
if serve_start "$CAIRN" "$W/data2" "$W" --upload-memory 128; then
	U2=$SERVE_URL PID2=$SERVE_PID
	A2="Authorization: Bearer $(cat "$W/data2/admin-token")"
	http -X POST -H "$A2" "$U2/api/buckets/admin/b" >/dev/null
	mkfifo "$W/fifo"
	# a streamed upload of unknown length reserves the most (68 MiB) and stays open
	curl -s -o "$W/slow" -w '%{http_code}' -T - -H "$A2" "$U2/buckets/admin/b/upload/slow" <"$W/fifo" >"$W/slow.code" &
	CURL=$!
	exec 3>"$W/fifo"
	printf 'first bytes' >&3
	i=0
	until grep -q '^cairn_upload_memory_bytes 7[0-9]\{7\}$' "$W/m" 2>/dev/null || [ $i -gt 200 ]; do
		curl -s -o "$W/m" "$U2/metrics"; sleep 0.05; i=$((i + 1))
	done
	contains budget-gauge "$W/m" '^cairn_upload_memory_bytes 71303168$'
	contains budget-limit "$W/m" '^cairn_upload_memory_limit_bytes 134217728$'
	# one namespace may hold a quarter of the budget (its first request always fits)
	check budget-ns-share 503 "$(http -T "$W/one" -H "$A2" "$U2/buckets/admin/b/upload/small")"
	contains budget-full-code "$W/body" '"code":"SlowDown"'
	"$CAIRN" admin users create carl --data "$W/data2" >/dev/null
	C2="Authorization: Bearer $("$CAIRN" admin tokens create --user carl --scope write --data "$W/data2")"
	http -X POST -H "$C2" "$U2/api/buckets/carl/b" >/dev/null
	check budget-other-ns-fits 200 "$(http -T "$W/one" -H "$C2" "$U2/buckets/carl/b/upload/small")"
	check budget-full 503 "$(http -T - -H "$C2" "$U2/buckets/carl/b/upload/more" </dev/null)"
	exec 3>&-
	wait "$CURL"
	check budget-first-completes 200 "$(cat "$W/slow.code")"
	check budget-freed 200 "$(http -T - -H "$C2" "$U2/buckets/carl/b/upload/more" </dev/null)"
	check budget-freed-ns 200 "$(http -T "$W/one" -H "$A2" "$U2/buckets/admin/b/upload/small")"
	kill "$PID2"
	wait "$PID2" 2>/dev/null
else
	bad budget-server-start
fi

kill -TERM "$PID"
wait "$PID"
check sigterm-exit 0 "$?"
PID=
contains stopped-log "$W/err" 'cairn serve: stopped'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
