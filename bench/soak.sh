#!/bin/sh
# soak.sh BUILD [SECONDS] [CLIENTS] [KILLS] - bench/load against a fresh
# `cairn serve` (native API and S3 front), killed with SIGKILL KILLS times
# in the middle of the run and restarted on the same data directory and the
# same ports each time.
#
# Users u0..u(SOAK_USERS-1) each get a write token, an S3 access key and
# SOAK_BUCKETS private buckets; the CLIENTS threads of bench/load are spread
# over them and pick the native or the S3 front per request (SOAK_FRONTS=
# native: native only, no S3 port). The kills fall at SECONDS*i/(KILLS+1);
# before each, the outage file bench/load reads is made odd (connection
# failures from then on are excused), and even again once the restarted
# server answers on both ports. With SOAK_FSCK_AT_KILL=1 (the default)
# `cairn admin fsck` runs over the data directory while the server is down.
#
# Checks: bench/load's own (no error, no 5xx, no wrong byte, every
# acknowledged write read back through both fronts, every deleted key 404);
# no 5xx in the server's access log over all its lives; the server's RSS,
# sampled once a second in every life, under SOAK_RSS_MAX_MIB (1024); a
# clean exit on SIGTERM; no sanitizer report in its log; fsck 0 faults.
# SOAK_SERVER_THREADS sets the server's --threads, SOAK_MAX_SIZE the largest
# object (bytes; 4 MiB), SOAK_SEED the load's seed.
# Ends with "N passed, N failed"; exits non-zero on any failure. Set
# SOAK_KEEP=1 to keep the scratch directory.
set -u
BUILD=$(cd "${1:?usage: soak.sh BUILD [SECONDS] [CLIENTS] [KILLS]}" && pwd)
SECS=${2:-120}
CLIENTS=${3:-64}
KILLS=${4:-3}
USERS=${SOAK_USERS:-4}
BUCKETS=${SOAK_BUCKETS:-2}
FRONTS=${SOAK_FRONTS:-both}
RSS_MAX_MIB=${SOAK_RSS_MAX_MIB:-1024}
FSCK_AT_KILL=${SOAK_FSCK_AT_KILL:-1}
CAIRN=$BUILD/cairn
LOAD=$BUILD/bench/load
W=$(mktemp -d)
PID=
LPID=
SAMPLER=
cleanup() {
	rm -f "$W/sampling"
	[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	[ -n "${SOAK_KEEP:-}" ] && { echo "kept $W"; return; }
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
DATA=$W/data
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }
# put VALUE FILE: replace FILE's contents at once (readers never see it half written)
put() { printf '%s\n' "$1" >"$2.tmp" && mv "$2.tmp" "$2"; }

[ -x "$LOAD" ] || { bad "$LOAD not built"; finish; }
[ -x "$CAIRN" ] || { bad "$CAIRN not built"; finish; }

# The ports stay the same over restarts, so they are picked below the
# kernel's ephemeral range: no client connection can hold one (or connect to
# itself on it) while the server is down.
LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$LOW" -gt 11000 ] 2>/dev/null || LOW=32768
pick_port() { echo $((10000 + $(od -An -N2 -tu2 /dev/urandom) % (LOW - 10000))); }

LIFE=0
# start_server: cairn serve on $PORT (and $S3PORT) over $DATA; 0 once it answers
start_server() {
	rm -f "$W/port" "$W/s3port"
	echo "---- life $LIFE" >>"$W/err"
	if [ "$FRONTS" = native ]; then
		"$CAIRN" serve --listen "127.0.0.1:$PORT" --port-file "$W/port" --data "$DATA" \
			${SOAK_SERVER_THREADS:+--threads $SOAK_SERVER_THREADS} >>"$W/out" 2>>"$W/err" &
	else
		"$CAIRN" serve --listen "127.0.0.1:$PORT" --port-file "$W/port" --data "$DATA" \
			${SOAK_SERVER_THREADS:+--threads $SOAK_SERVER_THREADS} --s3-listen "127.0.0.1:$S3PORT" \
			--s3-port-file "$W/s3port" >>"$W/out" 2>>"$W/err" &
	fi
	PID=$!
	put "$LIFE $PID" "$W/server"
	_i=0
	until [ -s "$W/port" ] && { [ "$FRONTS" = native ] || [ -s "$W/s3port" ]; }; do
		kill -0 "$PID" 2>/dev/null || { wait "$PID" 2>/dev/null; PID=; return 1; }
		_i=$((_i + 1))
		[ $_i -lt 1200 ] || return 1
		sleep 0.05
	done
	_i=0
	until curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" &&
		{ [ "$FRONTS" = native ] || curl -s -o /dev/null "http://127.0.0.1:$S3PORT/"; }; do
		_i=$((_i + 1))
		[ $_i -lt 1200 ] || return 1
		sleep 0.05
	done
	return 0
}

# first start: free ports below the ephemeral range
tries=0
while :; do
	PORT=$(pick_port)
	S3PORT=
	[ "$FRONTS" = native ] || S3PORT=$(pick_port)
	[ "$PORT" != "$S3PORT" ] && start_server && break
	[ -n "$PID" ] && { kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=; }
	tries=$((tries + 1))
	[ $tries -lt 20 ] || { bad "server did not start"; tail -20 "$W/err"; finish; }
done
U=http://127.0.0.1:$PORT
S3=${S3PORT:+http://127.0.0.1:$S3PORT}

# users, their tokens, keys and buckets
: >"$W/creds"
u=0
while [ $u -lt "$USERS" ]; do
	"$CAIRN" admin users create "u$u" --data "$DATA" >/dev/null 2>>"$W/admin.err" || bad "user u$u"
	tok=$("$CAIRN" admin tokens create --user "u$u" --scope write --data "$DATA" 2>>"$W/admin.err")
	line="u$u $tok"
	if [ "$FRONTS" != native ]; then
		"$CAIRN" admin keys create --user "u$u" --data "$DATA" --json >"$W/key" 2>>"$W/admin.err"
		ak=$(sed -n 's/.*"access_key_id": *"\([^"]*\)".*/\1/p' "$W/key")
		sk=$(sed -n 's/.*"secret_access_key": *"\([^"]*\)".*/\1/p' "$W/key")
		if [ -z "$ak" ] || [ -z "$sk" ]; then bad "S3 key for u$u"; fi
		line="$line $ak $sk"
	fi
	echo "$line" >>"$W/creds"
	b=0
	while [ $b -lt "$BUCKETS" ]; do
		code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $tok" \
			-d '{"private":true}' "$U/api/buckets/u$u/load$b")
		[ "$code" = 201 ] || bad "create bucket u$u/load$b: $code"
		b=$((b + 1))
	done
	u=$((u + 1))
done
rm -f "$W/key"
[ "$failed" -eq 0 ] || finish
echo "soak: $CLIENTS clients, $USERS users x $BUCKETS buckets, $SECS s, $KILLS kill -9, fronts: $FRONTS;" \
	"server on $U${S3:+ and $S3}"

# RSS sampler: "LIFE KB" once a second, whichever server is alive
touch "$W/sampling"
(
	while [ -e "$W/sampling" ]; do
		read -r life pid <"$W/server"
		r=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null)
		[ -n "$r" ] && echo "$life $r" >>"$W/rss"
		sleep 1
	done
) &
SAMPLER=$!

put 0 "$W/outage"
S3ARGS=
[ "$FRONTS" = native ] || S3ARGS="--s3-url $S3"
# shellcheck disable=SC2086
"$LOAD" --url "$U" $S3ARGS --creds "$W/creds" --outage-file "$W/outage" --bucket-prefix load \
	--buckets "$BUCKETS" --threads "$CLIENTS" --seconds "$SECS" ${SOAK_MAX_SIZE:+--max-size $SOAK_MAX_SIZE} \
	${SOAK_SEED:+--seed $SOAK_SEED} >"$W/load.out" 2>"$W/load.err" &
LPID=$!
T0=$(date +%s)

k=1
while [ $k -le "$KILLS" ]; do
	at=$((SECS * k / (KILLS + 1)))
	while [ $(($(date +%s) - T0)) -lt "$at" ] && kill -0 "$LPID" 2>/dev/null; do sleep 0.2; done
	kill -0 "$LPID" 2>/dev/null || { bad "load exited before kill $k"; break; }
	put $((2 * k - 1)) "$W/outage"
	kill -9 "$PID"
	wait "$PID" 2>/dev/null
	PID=
	d0=$(date +%s.%N)
	echo "kill -9 $k at $(($(date +%s) - T0)) s"
	if [ "$FSCK_AT_KILL" = 1 ]; then
		"$CAIRN" admin fsck --data "$DATA" >"$W/fsck.$k" 2>&1
		frc=$?
		if [ "$frc" = 0 ] && grep -q '^fsck: 0 faults$' "$W/fsck.$k"; then
			ok "fsck after kill $k: 0 faults ($(grep -c '^note:' "$W/fsck.$k") notes)"
		else
			bad "fsck after kill $k (exit $frc)"
			grep -v '^note:' "$W/fsck.$k" | tail -5
		fi
	fi
	LIFE=$k
	tries=0
	until start_server; do
		# the port may still be held for a moment: try again
		[ -n "$PID" ] && { kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=; }
		tries=$((tries + 1))
		[ $tries -lt 20 ] || break
		sleep 0.5
	done
	if [ -n "$PID" ]; then
		ok "restart $k on ports $PORT${S3PORT:+/$S3PORT} (down $(echo "$(date +%s.%N) $d0" | awk '{printf "%.1f", $1 - $2}') s)"
	else
		bad "restart $k: server did not come back"
		tail -20 "$W/err"
		break
	fi
	put $((2 * k)) "$W/outage"
	k=$((k + 1))
done
if [ -z "$PID" ]; then
	# no server: the load cannot finish its checks
	kill "$LPID" 2>/dev/null
	wait "$LPID" 2>/dev/null
	LPID=
	finish
fi

wait "$LPID"
lrc=$?
LPID=
cat "$W/load.out"
[ -s "$W/load.err" ] && { echo "load's errors (first 30):"; head -30 "$W/load.err"; }
LINE=$(tail -n 1 "$W/load.out")
lfail=$(echo "$LINE" | sed -n 's/^[0-9]* passed, \([0-9]*\) failed$/\1/p')
if [ "${lfail:-x}" = 0 ] && [ "$lrc" = 0 ]; then ok "load ($LINE)"; else bad "load, exit $lrc (${LINE:-no summary})"; fi

sleep 1
rm -f "$W/sampling"
kill "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null
SAMPLER=
# max RSS per life of the server
awk -v max="$RSS_MAX_MIB" '
	{ if ($2 > m[$1]) m[$1] = $2; n[$1]++; if ($1 > last) last = $1 }
	END {
		for (l = 0; l <= last; l++) {
			printf "server RSS, life %d: max %.0f MiB (%d samples)\n", l, m[l] / 1024, n[l]
			if (m[l] > all) all = m[l]
		}
		printf "max server RSS: %.0f MiB (bound %d MiB)\n", all / 1024, max
		exit all / 1024 > max
	}' "$W/rss"
if [ $? = 0 ]; then ok "server RSS within ${RSS_MAX_MIB} MiB"; else bad "server RSS over ${RSS_MAX_MIB} MiB"; fi

curl -s "$U/metrics" >"$W/metrics" || bad "GET /metrics"
echo "last life's /metrics:"
grep -E '^cairn_http_requests_total\{code=|^cairn_(http_errors|http_aborted|dedup_chunks|upload_chunks)_total' "$W/metrics"
# the access log over all lives: "[s3 ]METHOD URL STATUS ..."
awk '$1 == "s3" { $0 = substr($0, 4) } $1 ~ /^[A-Z]+$/ && $2 ~ /^\// && $3 ~ /^[0-9][0-9][0-9]$/ {
	n++; if ($3 >= 500) f++ } END { printf "access log: %d requests, %d answered 5xx\n", n, f; exit f > 0 }' "$W/err"
if [ $? = 0 ]; then ok "no 5xx in the access log"; else bad "5xx answers in the access log"; grep -E ' 5[0-9][0-9] [0-9]+ ' "$W/err" | head -10; fi

kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
if [ "$rc" = 0 ]; then ok "server exit 0 on SIGTERM"; else bad "server exit $rc on SIGTERM"; tail -20 "$W/err"; fi
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$W/err"; then
	bad "sanitizer report in the server's log"
	grep -E -A5 'AddressSanitizer|LeakSanitizer|runtime error:' "$W/err" | head -40
else
	ok "no sanitizer report in the server's log"
fi

"$CAIRN" admin fsck --data "$DATA" >"$W/fsck" 2>&1
frc=$?
tail -1 "$W/fsck"
if [ "$frc" = 0 ] && grep -q '^fsck: 0 faults$' "$W/fsck"; then ok "fsck 0 faults"; else bad "fsck (exit $frc)"; grep -v '^note:' "$W/fsck" | tail -5; fi
finish
