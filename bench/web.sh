#!/bin/sh
# web.sh BUILD_DIR - how fast the web pages render on a folder of
# WEB_FILES (100,000) files, beside two peers on the same folder:
#  - Cairn's own JSON listing (GET /api/buckets/NS/NAME/tree/FOLDER, 100
#    entries): the same engine call without the HTML;
#  - Python's http.server directory listing of the same files on disk
#    (Debian's python3; it renders the whole folder in one page, as
#    autoindex-style listings do).
# Each figure is the median of RUNS (15) sequential curl requests on
# 127.0.0.1 (time_total), after one warm-up request.
set -eu
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
NFILES=${WEB_FILES:-100000}
RUNS=${RUNS:-15}
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-web-XXXXXX")
PID="" PYPID=""
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	[ -n "$PYPID" ] && kill "$PYPID" 2>/dev/null && wait "$PYPID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
PY=/usr/bin/python3
C=$BUILD/cairn

. "$SRC/tests/lib/serve.sh"
serve_start "$C" "$WORK/data" "$WORK" || { cat "$WORK/err"; exit 1; }
PID=$SERVE_PID
export CAIRN_ENDPOINT=$SERVE_URL HOME=$WORK
CAIRN_TOKEN=$(cat "$WORK/data/admin-token")
export CAIRN_TOKEN
"$C" buckets create admin/big --quiet >/dev/null

echo "making $NFILES files in one folder..."
$PY - "$WORK/files/many" "$NFILES" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
os.makedirs(root)
for i in range(n):
    with open(os.path.join(root, "shard-%06d.jsonl" % i), "w") as f:
        f.write('{"i": %d}\n' % i)
EOF
t0=$(date +%s.%N)
"$C" buckets sync "$WORK/files" cairn://buckets/admin/big --quiet >/dev/null
t1=$(date +%s.%N)
awk "BEGIN{printf \"uploaded by sync in %.1f s\n\", $t1 - $t0}"

# the peer: http.server over the same folder
PYPORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$PY -m http.server "$PYPORT" --bind 127.0.0.1 --directory "$WORK/files" >/dev/null 2>&1 &
PYPID=$!
i=0
until curl -s -o /dev/null "http://127.0.0.1:$PYPORT/" || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done

# median URL [AUTH]: seconds (median of RUNS) and bytes of one answer
median() {
	curl -s -o /dev/null ${2:+-H "$2"} "$1"
	r=0
	: >"$WORK/times"
	while [ $r -lt "$RUNS" ]; do
		curl -s -o "$WORK/body" -w '%{time_total}\n' ${2:+-H "$2"} "$1" >>"$WORK/times"
		r=$((r + 1))
	done
	sort -n "$WORK/times" | awk -v n="$RUNS" 'NR == int((n + 1) / 2) { printf "%.4f", $1 }'
	printf ' %s' "$(wc -c <"$WORK/body")"
}

U=$SERVE_URL
MID=$($PY -c "print(('many/shard-%06d.jsonl' % ($NFILES // 2)).encode().hex())")
printf '\n%-58s %10s %12s\n' "request (folder of $NFILES files)" "median s" "bytes"
row() {
	set -- "$1" $(median "$2" "${3:-}")
	printf '%-58s %10s %12s\n' "$1" "$2" "$3"
	echo "$2" >"$WORK/last"
}
row "page: folder, first 100" "$U/buckets/admin/big/tree/many/"
PAGE=$(cat "$WORK/last")
row "page: folder, 100 from the middle (cursor)" "$U/buckets/admin/big/tree/many/?after=$MID"
row "page: folder, 1000 per page" "$U/buckets/admin/big/tree/many/?limit=1000"
row "page: folder, filtered (prefix shard-0999)" "$U/buckets/admin/big/tree/many/?prefix=shard-0999"
row "page: bucket top (usage + dedup stats, cached 30 s)" "$U/buckets/admin/big/"
TOP=$(cat "$WORK/last")
row "API: bucket info (the stats walk over all files)" "$U/api/buckets/admin/big" \
	"Authorization: Bearer $CAIRN_TOKEN"
INFO=$(cat "$WORK/last")
row "page: file" "$U/buckets/admin/big/blob/many/shard-050000.jsonl"
row "peer: JSON tree API, first 100" "$U/api/buckets/admin/big/tree/many?limit=100" \
	"Authorization: Bearer $CAIRN_TOKEN"
API=$(cat "$WORK/last")
row "peer: python3 http.server, whole folder" "http://127.0.0.1:$PYPORT/many/"
PYS=$(cat "$WORK/last")
echo
awk -v p="$PAGE" -v a="$API" -v y="$PYS" -v t="$TOP" -v i="$INFO" 'BEGIN {
	printf "folder page / JSON API: %.2f; folder page / http.server: %.3f\n", p / a, p / y
	printf "every page under a second: %s (bucket top %.3f s; an uncached stats walk %.3f s)\n",
		(t < 1 && p < 1 && i < 1) ? "yes" : "NO", t, i
}'
