#!/bin/sh
# run.sh BUILD_DIR - what `make run` does: start `cairn serve` on
# 127.0.0.1:8700 over ./var (or $CAIRN_DATA), print the admin token and a
# CLI quickstart, and serve until Ctrl-C. On the first start the server
# creates the admin token; later starts read it from var/admin-token.
set -eu
BUILD=$1
CAIRN=$BUILD/cairn
DATA=${CAIRN_DATA:-var}
LISTEN=127.0.0.1:8700
mkdir -p "$DATA"
PORTFILE=$DATA/.port
rm -f "$PORTFILE"
echo "== $("$CAIRN" version)"
"$CAIRN" serve --listen "$LISTEN" --data "$DATA" --port-file "$PORTFILE" >/dev/null &
PID=$!
trap 'kill -INT $PID 2>/dev/null; wait $PID; exit 0' INT TERM
i=0
while [ ! -s "$PORTFILE" ] && kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
if [ ! -s "$PORTFILE" ]; then
	echo "run: the server did not start (is $LISTEN in use?)" >&2
	wait "$PID" || true
	exit 1
fi
TOKEN=$(cat "$DATA/admin-token")
U=http://$LISTEN
echo "== admin token: $TOKEN (kept in $DATA/admin-token)"
echo "== quickstart (paste into another shell, in this folder):"
echo "$CAIRN login --endpoint $U --token $TOKEN"
echo "$CAIRN buckets create demo --private --exist-ok"
echo "$CAIRN buckets sync docs cairn://buckets/admin/demo/docs && $CAIRN buckets ls -R cairn://buckets/admin/demo"
echo "== serving on $U (Ctrl-C to stop)"
wait "$PID"
