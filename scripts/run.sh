#!/bin/sh
# run.sh BUILD_DIR - what `make run` does: start `cairn serve` on
# 127.0.0.1:8700 (and its S3 front on 127.0.0.1:8701) over ./var (or
# $CAIRN_DATA), print the admin token, a CLI quickstart and an S3 key, and
# serve until Ctrl-C. On the first start the server creates the admin
# token; the S3 key is made once and kept in var/s3-key (mode 0600).
set -eu
BUILD=$1
CAIRN=$BUILD/cairn
DATA=${CAIRN_DATA:-var}
LISTEN=127.0.0.1:8700
S3LISTEN=127.0.0.1:8701
mkdir -p "$DATA"
PORTFILE=$DATA/.port
rm -f "$PORTFILE"
echo "== $("$CAIRN" version)"
"$CAIRN" serve --listen "$LISTEN" --s3-listen "$S3LISTEN" --data "$DATA" --port-file "$PORTFILE" >/dev/null &
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
if [ ! -s "$DATA/s3-key" ]; then
	(umask 077 && "$CAIRN" admin keys create --data "$DATA" >"$DATA/s3-key")
fi
echo "== S3 on http://$S3LISTEN (its access key is kept in $DATA/s3-key), e.g.:"
echo "AWS_ACCESS_KEY_ID=$(sed -n 's/^access key id: *//p' "$DATA/s3-key") AWS_SECRET_ACCESS_KEY=$(sed -n 's/^secret access key: *//p' "$DATA/s3-key") aws --endpoint-url http://$S3LISTEN s3 ls s3://demo --recursive"
echo "== web pages: open $U/ in a browser (log in with the admin token to see private buckets)"
echo "== serving on $U (Ctrl-C to stop)"
wait "$PID"
