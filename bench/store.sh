#!/bin/sh
# store.sh BUILD_DIR - the xorb store behind `cairn serve`: upload and
# download throughput with the local-directory store beside the S3 store
# (`--store s3://BUCKET/PREFIX`), side by side on the same data, over
# three S3 servers started here on 127.0.0.1:
#  - s3rver (Node; from the npm registry, installed under BUILD_DIR),
#  - moto's server (Python; when the first python3 on PATH has moto),
#  - Cairn's own S3 front (a second `cairn serve --s3-listen`): a fast
#    native peer, which separates what the S3 protocol costs from the
#    speed of the two test servers.
# Data: SIZE (1G; bytes or K/M/G) of random bytes in FILES (8) files,
# made once. For each backend, in each of ROUNDS (3) rounds, a fresh
# server over an empty store: the folder is uploaded with
# `cairn buckets sync DIR cairn://buckets/admin/bench/a/`, downloaded back
# with `cairn buckets sync cairn://buckets/admin/bench/a/ NEWDIR` (every
# file compared with cmp), and uploaded again under b/ (dedup: nothing to
# send). Prints the last round and the spread over all rounds; the output
# is also written to bench/out/store.txt, with the CPU seconds of the
# client, `cairn serve` and the S3 server in each transfer. Stops with an
# error if Cairn fails a command, a byte differs, an S3 run leaves xorbs in
# the local data directory, or the re-upload is not deduplicated.
set -eu
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
C=$BUILD/cairn
PY=/usr/bin/python3
FILES=${FILES:-8}
ROUNDS=${ROUNDS:-3}
SIZE=${SIZE:-1G}
case $SIZE in
*[Kk]) SIZE_B=$(( ${SIZE%?} << 10 )) ;;
*[Mm]) SIZE_B=$(( ${SIZE%?} << 20 )) ;;
*[Gg]) SIZE_B=$(( ${SIZE%?} << 30 )) ;;
*) SIZE_B=$SIZE ;;
esac
FILE_B=$((SIZE_B / FILES))
BYTES=$((FILE_B * FILES))
[ "$FILE_B" -gt 0 ] || { echo "store.sh: SIZE $SIZE is too small for $FILES files" >&2; exit 2; }
# a step slower than 1 MB/s, plus 5 minutes, has failed
LIMIT=$((BYTES / 1000000 + 300))
OUT=$SRC/bench/out
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-store-XXXXXX")
FPID="" BPID=""
cleanup() {
	for p in $FPID $BPID; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
unset CAIRN_ENDPOINT CAIRN_TOKEN CAIRN_REGION CAIRN_STORE CAIRN_S3_ENDPOINT CAIRN_S3_CREDENTIALS
export HOME="$WORK" NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
. "$SRC/tests/lib/serve.sh"

fail() {
	echo "store.sh: FAILED: $*" >&2
	for f in "$WORK"/cmd.err "$WORK"/b/*/err "$WORK"/b/*/backend.log "$WORK"/b/*/back/err; do
		[ -s "$f" ] && { echo "--- $f (last lines)" >&2; tail -20 "$f" >&2; }
	done
	exit 1
}
now() { date +%s.%N; }
secs() { awk "BEGIN{printf \"%.3f\", $2 - $1}"; }
jnum() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$2"; }
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up() { # URL: wait until something answers there
	_i=0; until curl -s -o /dev/null "$1" || [ $_i -ge 300 ]; do sleep 0.1; _i=$((_i + 1)); done
	curl -s -o /dev/null "$1"
}
HZ=$(getconf CLK_TCK)
cpu() { # PID: its CPU seconds so far (user + system, all threads); 0 for none
	if [ -n "$1" ]; then
		sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$HZ" '{printf "%.2f", ($12 + $13) / hz}'
	else
		echo 0
	fi
}
timed() { # FILE COMMAND...: runs it; its CPU seconds (user + system, waited-for children too) into FILE
	_f=$1
	shift
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f '%U %S' -o "$_f" "$@"
	else
		echo "0 0" >"$_f"
		"$@"
	fi
}
stop() { # PID...
	for p in "$@"; do
		if [ -n "$p" ]; then
			kill "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
	done
}

# ---- the data, made once: every backend gets the same bytes
mkdir -p "$WORK/src"
i=0
while [ $i -lt "$FILES" ]; do
	head -c "$FILE_B" /dev/urandom >"$WORK/src/part-$i.bin"
	i=$((i + 1))
done

# ---- the S3 servers that are not ours
TOOLS=$BUILD/npm-tools
if [ ! -x "$TOOLS/node_modules/.bin/s3rver" ]; then
	mkdir -p "$TOOLS"
	(cd "$TOOLS" && npm install --no-audit --no-fund --silent s3rver@3 >"$WORK/npm.log" 2>&1) || true
fi
S3RVER_V=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$TOOLS/node_modules/s3rver/package.json" 2>/dev/null || true)
MOTO_V=$(python3 -c 'import moto.server, moto; print(moto.__version__)' 2>/dev/null || true)

# ---- one backend, one round: BACKEND ROUND; appends a line to $WORK/results
# (round backend upload_s download_s reupload_s reupload_sent)
run_backend() {
	name=$1 round=$2
	D=$WORK/b/$name
	rm -rf "$D"
	mkdir -p "$D"
	set --
	case $name in
	local) ;;
	s3rver)
		P=$(free_port)
		mkdir -p "$D/s3"
		# s3rver's continuation tokens use DES, which Node's OpenSSL 3 keeps in its legacy provider
		NODE_OPTIONS=--openssl-legacy-provider "$TOOLS/node_modules/.bin/s3rver" -d "$D/s3" \
			-a 127.0.0.1 -p "$P" --silent --configure-bucket cairn-bench >"$D/backend.log" 2>&1 &
		BPID=$!
		up "http://127.0.0.1:$P/" || fail "s3rver did not start"
		EP=http://127.0.0.1:$P KEY=S3RVER SECRET=S3RVER
		;;
	moto)
		P=$(free_port)
		python3 -m moto.server -H 127.0.0.1 -p "$P" >"$D/backend.log" 2>&1 &
		BPID=$!
		up "http://127.0.0.1:$P/" || fail "moto did not start"
		curl -sf -X PUT -o /dev/null "http://127.0.0.1:$P/cairn-bench" || fail "moto: no bucket"
		EP=http://127.0.0.1:$P KEY=testing SECRET=testing
		;;
	cairn-s3)
		mkdir -p "$D/back"
		serve_start "$C" "$D/back/data" "$D/back" --s3-listen 127.0.0.1:0 \
			--s3-port-file "$D/back/s3port" || fail "the S3 front's cairn serve did not start"
		BPID=$SERVE_PID
		_i=0; while [ ! -s "$D/back/s3port" ] && [ $_i -lt 100 ]; do sleep 0.05; _i=$((_i + 1)); done
		"$C" admin keys create --data "$D/back/data" --json >"$D/back/key" 2>"$WORK/cmd.err" ||
			fail "cairn admin keys create"
		curl -sf -X POST -H "Authorization: Bearer $(cat "$D/back/data/admin-token")" \
			-d '{"private":true}' -o /dev/null "$SERVE_URL/api/buckets/admin/cairn-bench" ||
			fail "the S3 front's bucket"
		EP=http://127.0.0.1:$(cat "$D/back/s3port")
		KEY=$($PY -c 'import json,sys; print(json.load(sys.stdin)["access_key_id"])' <"$D/back/key")
		SECRET=$($PY -c 'import json,sys; print(json.load(sys.stdin)["secret_access_key"])' <"$D/back/key")
		;;
	esac
	if [ "$name" != local ]; then
		printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$KEY" "$SECRET" \
			>"$D/creds"
		set -- --store s3://cairn-bench/srv --s3-endpoint "$EP" --s3-credentials "$D/creds"
	fi
	serve_start "$C" "$D/data" "$D" "$@" || fail "cairn serve $* did not start"
	FPID=$SERVE_PID
	export CAIRN_ENDPOINT="$SERVE_URL"
	CAIRN_TOKEN=$(cat "$D/data/admin-token")
	export CAIRN_TOKEN
	"$C" buckets create admin/bench --quiet >/dev/null 2>"$WORK/cmd.err" || fail "$name: buckets create"

	sync
	t0=$(now) f0=$(cpu "$FPID") b0=$(cpu "$BPID")
	timed "$D/up.cpu" timeout "$LIMIT" "$C" buckets sync "$WORK/src" cairn://buckets/admin/bench/a/ --json \
		>"$D/up.json" 2>"$WORK/cmd.err" || fail "$name: upload (buckets sync $WORK/src cairn://buckets/admin/bench/a/)"
	t1=$(now) f1=$(cpu "$FPID") b1=$(cpu "$BPID")
	up_cpu="$(awk '{printf "%.2f", $1 + $2}' "$D/up.cpu") $(secs "$f0" "$f1") $(secs "$b0" "$b1")"
	[ "$(jnum uploaded "$D/up.json")" = "$FILES" ] && [ "$(jnum failed "$D/up.json")" = 0 ] ||
		fail "$name: upload: $(cat "$D/up.json")"

	# the xorbs are where the backend says: in DATA/xorbs for the local store, none there for S3
	nx=$(find "$D/data" -regextype posix-extended -type f -regex '.*/[0-9a-f]{64}' | wc -l)
	if [ "$name" = local ]; then [ "$nx" -gt 0 ] || fail "local: no xorb in $D/data"; else
		[ "$nx" = 0 ] || fail "$name: $nx xorbs written to the local data directory"; fi

	sync
	t2=$(now) f0=$(cpu "$FPID") b0=$(cpu "$BPID")
	timed "$D/down.cpu" timeout "$LIMIT" "$C" buckets sync cairn://buckets/admin/bench/a/ "$D/down" --json \
		>"$D/down.json" 2>"$WORK/cmd.err" || fail "$name: download (buckets sync cairn://buckets/admin/bench/a/ $D/down)"
	t3=$(now) f1=$(cpu "$FPID") b1=$(cpu "$BPID")
	down_cpu="$(awk '{printf "%.2f", $1 + $2}' "$D/down.cpu") $(secs "$f0" "$f1") $(secs "$b0" "$b1")"
	[ "$(jnum downloaded "$D/down.json")" = "$FILES" ] && [ "$(jnum failed "$D/down.json")" = 0 ] ||
		fail "$name: download: $(cat "$D/down.json")"
	[ "$(find "$D/down" -type f | wc -l)" = "$FILES" ] || fail "$name: download: $(find "$D/down" -type f | wc -l) files"
	i=0
	while [ $i -lt "$FILES" ]; do
		cmp "$WORK/src/part-$i.bin" "$D/down/part-$i.bin" >"$WORK/cmd.err" 2>&1 ||
			fail "$name: downloaded part-$i.bin differs: $(cat "$WORK/cmd.err")"
		i=$((i + 1))
	done
	rm -rf "$D/down"

	sync
	t4=$(now)
	timeout "$LIMIT" "$C" buckets sync "$WORK/src" cairn://buckets/admin/bench/b/ --json \
		>"$D/re.json" 2>"$WORK/cmd.err" || fail "$name: re-upload (buckets sync $WORK/src cairn://buckets/admin/bench/b/)"
	t5=$(now)
	[ "$(jnum uploaded "$D/re.json")" = "$FILES" ] && [ "$(jnum failed "$D/re.json")" = 0 ] ||
		fail "$name: re-upload: $(cat "$D/re.json")"
	sent=$(jnum bytes_sent "$D/re.json")
	[ "$(jnum bytes_saved "$D/re.json")" = "$BYTES" ] && [ "$sent" -lt $((BYTES / 100)) ] ||
		fail "$name: the re-upload was not deduplicated: $(cat "$D/re.json")"

	unset CAIRN_ENDPOINT CAIRN_TOKEN
	stop "$FPID"; FPID=""
	stop "$BPID"; BPID=""
	echo "$round $name $(secs "$t0" "$t1") $(secs "$t2" "$t3") $(secs "$t4" "$t5") $sent" \
		"$up_cpu $down_cpu" >>"$WORK/results"
	rm -rf "$D"
}

BACKENDS="local"
NOTES=""
if [ -x "$TOOLS/node_modules/.bin/s3rver" ]; then
	BACKENDS="$BACKENDS s3rver"
else
	NOTES="$NOTES
s3rver: skipped, it could not be installed from the npm registry: $(tail -3 "$WORK/npm.log" 2>/dev/null)"
fi
if [ -n "$MOTO_V" ]; then
	BACKENDS="$BACKENDS moto"
else
	NOTES="$NOTES
moto: skipped, the first python3 on PATH ($(command -v python3)) cannot import moto.server"
fi
BACKENDS="$BACKENDS cairn-s3"

: >"$WORK/results"
r=1
while [ "$r" -le "$ROUNDS" ]; do
	for b in $BACKENDS; do
		echo "store.sh: round $r of $ROUNDS: $b" >&2
		run_backend "$b" "$r"
	done
	r=$((r + 1))
done

{
echo "cairn serve, xorb store: local directory vs S3 (--store s3://cairn-bench/srv), $(date -u +%Y-%m-%d)"
echo "$((BYTES >> 20)) MiB of random bytes in $FILES files; per backend and round a fresh server and an empty store;"
echo "upload: buckets sync DIR -> a/; download: a/ -> new folder, every byte checked with cmp;"
echo "re-upload: DIR -> b/ (deduplicated: sends no xorb). MB/s = 10^6 bytes/s. x local: time / local's time"
echo "S3 servers: s3rver ${S3RVER_V:--} (Node $(node --version 2>/dev/null || echo -)), moto ${MOTO_V:--}, Cairn's S3 front (same build)${NOTES}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
awk -v bytes="$BYTES" -v rounds="$ROUNDS" '
function label(b) {
	if (b == "local") return "local directory"
	if (b == "s3rver") return "S3: s3rver (Node)"
	if (b == "moto") return "S3: moto (Python)"
	return "S3: Cairn S3 front"
}
function mn(a, b) { return a == "" || b < a ? b : a }
function mx(a, b) { return a == "" || b > a ? b : a }
function rng(a, b, f) { return sprintf(f, a) "-" sprintf(f, b) }
{
	r = $1; b = $2
	if (!(b in seen)) { seen[b] = 1; order[++n] = b }
	up[r, b] = $3; down[r, b] = $4; re[r, b] = $5; sent[r, b] = $6
	for (k = 7; k <= 12; k++) cpu[r, b, k] = $k
}
function cpus(r, b, k, wall,   t) {
	t = cpu[r, b, k] + cpu[r, b, k + 1] + cpu[r, b, k + 2]
	return sprintf("%5.1f / %5.1f / %5s = %5.1f (%.2f cores)", cpu[r, b, k], cpu[r, b, k + 1],
		       b == "local" ? "-" : sprintf("%.1f", cpu[r, b, k + 2]), t, t / wall)
}
END {
	printf "\nlast round (%d of %d):\n", rounds, rounds
	printf "%-20s %11s %11s %11s %11s   %s\n", "backend", "upload MB/s", "down MB/s",
	       "re-upload s", "re-up sent", "x local: upload / download / re-upload"
	for (i = 1; i <= n; i++) {
		b = order[i]; r = rounds
		printf "%-20s %11.1f %11.1f %11.2f %11d   %.2f / %.2f / %.2f\n", label(b),
		       bytes / up[r, b] / 1e6, bytes / down[r, b] / 1e6, re[r, b], sent[r, b],
		       up[r, b] / up[r, "local"], down[r, b] / down[r, "local"], re[r, b] / re[r, "local"]
	}
	printf "\nCPU seconds in the last round: client / cairn serve / S3 server = sum (sum / wall time)\n"
	printf "%-20s %-42s %s\n", "backend", "upload", "download"
	for (i = 1; i <= n; i++) {
		b = order[i]; r = rounds
		printf "%-20s %-42s %s\n", label(b), cpus(r, b, 7, up[r, b]), cpus(r, b, 10, down[r, b])
	}
	printf "\nspread over %d rounds (min-max):\n", rounds
	printf "%-20s %13s %13s %11s   %s\n", "backend", "upload MB/s", "down MB/s", "re-upload s",
	       "x local: upload / download / re-upload"
	for (i = 1; i <= n; i++) {
		b = order[i]
		u1 = u2 = d1 = d2 = e1 = e2 = ru1 = ru2 = rd1 = rd2 = re1 = re2 = ""
		for (r = 1; r <= rounds; r++) {
			u = bytes / up[r, b] / 1e6; d = bytes / down[r, b] / 1e6
			u1 = mn(u1, u); u2 = mx(u2, u); d1 = mn(d1, d); d2 = mx(d2, d)
			e1 = mn(e1, re[r, b]); e2 = mx(e2, re[r, b])
			x = up[r, b] / up[r, "local"]; ru1 = mn(ru1, x); ru2 = mx(ru2, x)
			x = down[r, b] / down[r, "local"]; rd1 = mn(rd1, x); rd2 = mx(rd2, x)
			x = re[r, b] / re[r, "local"]; re1 = mn(re1, x); re2 = mx(re2, x)
		}
		printf "%-20s %13s %13s %11s   %s / %s / %s\n", label(b), rng(u1, u2, "%.1f"),
		       rng(d1, d2, "%.1f"), rng(e1, e2, "%.2f"), rng(ru1, ru2, "%.2f"),
		       rng(rd1, rd2, "%.2f"), rng(re1, re2, "%.2f")
	}
}' "$WORK/results"
} >"$OUT/store.txt"
cat "$OUT/store.txt"
