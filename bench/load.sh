#!/bin/sh
# load.sh BUILD [SECONDS] [CLIENTS] - run bench/load against a fresh
# `cairn serve` on 127.0.0.1 (port 0 + --port-file) over a scratch data
# directory: create the public buckets with the admin token, run the load,
# sample the server's RSS once a second (prints the max), check /metrics for
# 5xx answers, stop the server with SIGTERM (must exit 0), then run
# `cairn admin fsck` (must report 0 faults). Ends with "N passed, N failed";
# exits non-zero on any failure.
set -u
BUILD=$(cd "${1:?usage: load.sh BUILD [SECONDS] [CLIENTS]}" && pwd)
SECS=${2:-20}
CLIENTS=${3:-64}
BUCKETS=${LOAD_BUCKETS:-4}
CAIRN=$BUILD/cairn
LOAD=$BUILD/bench/load
W=$(mktemp -d)
PID=
SAMPLER=
cleanup() {
	[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	[ -n "${LOAD_KEEP:-}" ] && { echo "kept $W"; return; }
	rm -rf "$W"
}
trap cleanup EXIT
DATA=$W/data
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

[ -x "$LOAD" ] || { echo "FAIL $LOAD not built"; echo "0 passed, 1 failed"; exit 1; }
. "$(dirname "$0")/../tests/lib/serve.sh"
serve_start "$CAIRN" "$DATA" "$W" ${LOAD_SERVER_THREADS:+--threads $LOAD_SERVER_THREADS} ||
	{ bad "server did not start"; cat "$W/err"; finish; }
PID=$SERVE_PID
U=$SERVE_URL
ADMIN=$(cat "$DATA/admin-token")

b=0
while [ $b -lt "$BUCKETS" ]; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $ADMIN" \
		-d '{"private":false}' "$U/api/buckets/admin/load$b")
	[ "$code" = 201 ] || bad "create bucket admin/load$b: $code"
	b=$((b + 1))
done

# RSS sampler: the max VmRSS (kB) of the server, once a second
(
	max=0
	while kill -0 "$PID" 2>/dev/null; do
		r=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PID/status" 2>/dev/null)
		[ -n "$r" ] && [ "$r" -gt "$max" ] && { max=$r; echo "$max" >"$W/rss"; }
		sleep 1
	done
) &
SAMPLER=$!

"$LOAD" --url "$U" --token "$ADMIN" --ns admin --bucket-prefix load --buckets "$BUCKETS" \
	--threads "$CLIENTS" --seconds "$SECS" | tee "$W/load.out"
lrc=$?
# `tee` hides load's exit status under plain sh: read it from its last line
LINE=$(tail -n 1 "$W/load.out")
lfail=$(echo "$LINE" | sed -n 's/^[0-9]* passed, \([0-9]*\) failed$/\1/p')
if [ "${lfail:-x}" = 0 ]; then ok "load ($LINE)"; else bad "load (${LINE:-no summary})"; fi
: "$lrc"

sleep 1
echo "max server RSS: $(( $(cat "$W/rss" 2>/dev/null || echo 0) / 1024 )) MiB"

curl -s "$U/metrics" >"$W/metrics" || bad "GET /metrics"
grep '^cairn_http_requests_total{code=' "$W/metrics"
n5=$(sed -n 's/^cairn_http_requests_total{code="5[0-9][0-9]"} \([0-9]*\)$/\1/p' "$W/metrics" | awk '{s += $1} END {print s + 0}')
if [ "$n5" = 0 ]; then ok "no 5xx in /metrics"; else bad "$n5 5xx answers in /metrics"; grep ' 5[0-9][0-9] ' "$W/err" | head -20; fi
grep -E '^cairn_(http_errors|http_aborted|dedup_chunks|upload_chunks)_total' "$W/metrics"

kill "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null
SAMPLER=
kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
if [ "$rc" = 0 ]; then ok "server exit 0 on SIGTERM"; else bad "server exit $rc on SIGTERM"; tail -20 "$W/err"; fi

"$CAIRN" admin fsck --data "$DATA" >"$W/fsck" 2>&1
frc=$?
cat "$W/fsck" | tail -3
if [ "$frc" = 0 ] && grep -q '^fsck: 0 faults$' "$W/fsck"; then ok "fsck 0 faults"; else bad "fsck (exit $frc)"; fi
if grep -qiE 'error|assert|abort' "$W/err"; then echo "server log lines with error:"; grep -iE 'error|assert|abort' "$W/err" | head -10; fi
finish
