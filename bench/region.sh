#!/bin/sh
# region.sh BUILD_DIR - pre-warming: the first full read of a prefix
# (SIZE, 2 GiB) through a region's cache node whose link to the origin has
# DELAY_MS (50) round trips and RATE_MIB (50) MiB/s per direction, cold
# (the node fills on demand) against pre-warmed (`cairn buckets prewarm
# --wait` first, timed on its own), as a ratio of read times; and, for
# reference, the same read straight from the origin over the slow link.
#
# All on 127.0.0.1: the origin; the node (`cairn serve --region eu`),
# reaching the origin through bench/slowlink.py; the client, beside the
# node (its xorb reads go to the node over loopback) but far from the
# origin too: its endpoint is a second slowlink.py with the same delay
# and cap. The data (FILES (8) random files under shards/, and one
# outside the prefix) is uploaded straight to the origin. Every read
# starts from a fresh node (new data dir, empty cache) and the page cache
# dropped (when allowed), and every downloaded byte is compared with cmp.
# shellcheck disable=SC2154 # a_X, b_X, ...: set by counters() through eval
set -eu
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
C=$BUILD/cairn
PY=/usr/bin/python3
DELAY_MS=${DELAY_MS:-50}
RATE_MIB=${RATE_MIB:-50}
FILES=${FILES:-8}
SIZE=${SIZE:-2G}
case $SIZE in
*[Kk]) SIZE_B=$(( ${SIZE%?} << 10 )) ;;
*[Mm]) SIZE_B=$(( ${SIZE%?} << 20 )) ;;
*[Gg]) SIZE_B=$(( ${SIZE%?} << 30 )) ;;
*) SIZE_B=$SIZE ;;
esac
FILE_B=$((SIZE_B / FILES))
BYTES=$((FILE_B * FILES))
RATE=$((RATE_MIB << 20))
[ "$FILE_B" -gt 0 ] || { echo "region.sh: SIZE $SIZE is too small for $FILES files" >&2; exit 2; }
# a step that takes 4x its time at the capped rate, plus 5 minutes, has failed
LIMIT=$((4 * BYTES / RATE + 300))

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-region-XXXXXX")
OPID="" NPID="" L1="" L2="" L0=""
cleanup() {
	for p in $NPID $L0 $L1 $L2 $OPID; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
unset CAIRN_ENDPOINT CAIRN_TOKEN CAIRN_REGION
export HOME="$WORK" NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

fail() {
	echo "region.sh: FAILED: $*" >&2
	for f in "$WORK"/cmd.err "$WORK"/node.err "$WORK"/o/err; do
		[ -s "$f" ] && { echo "--- $f (last lines)" >&2; tail -20 "$f" >&2; }
	done
	exit 1
}
now() { date +%s.%N; }
secs() { awk "BEGIN{printf \"%.2f\", $2 - $1}"; }
mbps() { awk "BEGIN{printf \"%.1f\", $1 / $2 / 1e6}"; }
ratio() { awk "BEGIN{ if ($2 > 0) printf \"%.2f\", $1 / $2; else print \"-\" }"; }
metric() { v=$(curl -s "$1/metrics" | sed -n "s/^$2 //p"); echo "${v:-0}"; }
jget() { $PY -c 'import json,sys; print(json.load(open(sys.argv[2])).get(sys.argv[1], ""))' "$1" "$2"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null && DROPPED=yes || DROPPED=no; }
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# slowlink DIR TARGET_URL DELAY_MS RATE: starts bench/slowlink.py, sets LINK_PID and LINK_URL
slowlink() {
	mkdir -p "$1"
	rm -f "$1/port"
	$PY "$SRC/bench/slowlink.py" "$1/port" "${2#http://}" "$3" "$4" 2>>"$1/err" &
	LINK_PID=$!
	_i=0
	while [ ! -s "$1/port" ] && [ $_i -lt 200 ]; do sleep 0.05; _i=$((_i + 1)); done
	[ -s "$1/port" ] || fail "slowlink.py did not start: $(cat "$1/err")"
	LINK_URL=http://127.0.0.1:$(cat "$1/port")
}

# ---- the origin and the data
. "$SRC/tests/lib/serve.sh"
mkdir -p "$WORK/o" "$WORK/src/shards"
serve_start "$C" "$WORK/o/data" "$WORK/o" || fail "the origin did not start"
OPID=$SERVE_PID
ORIGIN=$SERVE_URL
TOKEN=$(cat "$WORK/o/data/admin-token")
export CAIRN_TOKEN="$TOKEN"
B=admin/region
"$C" buckets create "$B" --quiet --endpoint "$ORIGIN" >/dev/null 2>"$WORK/cmd.err" || fail "buckets create"
i=0
while [ $i -lt "$FILES" ]; do
	head -c "$FILE_B" /dev/urandom >"$WORK/src/shards/part-$i.bin"
	i=$((i + 1))
done
OTHER_B=$((FILE_B < (64 << 20) ? FILE_B : 64 << 20))
head -c "$OTHER_B" /dev/urandom >"$WORK/src/other.bin"
"$C" buckets sync "$WORK/src/shards" "cairn://buckets/$B/shards" --quiet --endpoint "$ORIGIN" \
	>/dev/null 2>"$WORK/cmd.err" || fail "upload of shards/"
"$C" buckets cp "$WORK/src/other.bin" "cairn://buckets/$B/other.bin" --quiet --endpoint "$ORIGIN" \
	>/dev/null 2>"$WORK/cmd.err" || fail "upload of other.bin"

# ---- the links: node -> origin, client -> origin (each its own delay and cap)
slowlink "$WORK/l1" "$ORIGIN" "$DELAY_MS" "$RATE"
L1=$LINK_PID NODE_LINK=$LINK_URL
slowlink "$WORK/l2" "$ORIGIN" "$DELAY_MS" "$RATE"
L2=$LINK_PID CLIENT_LINK=$LINK_URL

# slowlink.py itself must not be the bottleneck: one file through it uncapped, beside curl direct
slowlink "$WORK/l0" "$ORIGIN" 0 0
L0=$LINK_PID
get_mbps() {
	t0=$(now)
	curl -sS -f -o "$WORK/probe.bin" -H "Authorization: Bearer $TOKEN" \
		"$1/buckets/$B/resolve/shards/part-0.bin" 2>"$WORK/cmd.err" || fail "GET through $1"
	t1=$(now)
	cmp -s "$WORK/probe.bin" "$WORK/src/shards/part-0.bin" || fail "GET through $1: bytes differ"
	rm -f "$WORK/probe.bin"
	mbps "$FILE_B" "$(secs "$t0" "$t1")"
}
DIRECT_MBPS=$(get_mbps "$ORIGIN")
UNCAPPED_MBPS=$(get_mbps "$LINK_URL")
kill "$L0"; wait "$L0" 2>/dev/null || true; L0=""
CAP_MBPS=$(awk "BEGIN{printf \"%.1f\", $RATE / 1e6}")
awk "BEGIN{exit !($UNCAPPED_MBPS >= 4 * $CAP_MBPS)}" ||
	fail "slowlink.py uncapped moves only $UNCAPPED_MBPS MB/s, not 4x the cap ($CAP_MBPS MB/s)"

# ---- the region: registered once on the origin; each run gets a fresh node on the same URL
NPORT=$(free_port)
NODE=http://127.0.0.1:$NPORT
"$C" admin regions add eu "$NODE" --data "$WORK/o/data" >"$WORK/region-out" 2>"$WORK/cmd.err" ||
	fail "admin regions add"
sed -n 's/^region key: //p' "$WORK/region-out" >"$WORK/region-key"
[ "$(tr -d '\n' <"$WORK/region-key" | wc -c)" = 64 ] || fail "no region key: $(cat "$WORK/region-out")"
RUN=0
start_node() {
	RUN=$((RUN + 1))
	ND=$WORK/node$RUN
	mkdir -p "$ND"
	cp "$WORK/region-key" "$ND/region-key"
	"$C" serve --listen "127.0.0.1:$NPORT" --data "$ND" --region eu --origin "$NODE_LINK" \
		--cache-size 8G >"$WORK/node.out" 2>>"$WORK/node.err" &
	NPID=$!
	_i=0
	until curl -s -o /dev/null "$NODE/healthz"; do
		if ! kill -0 "$NPID" 2>/dev/null || [ $_i -ge 200 ]; then fail "the node did not start"; fi
		sleep 0.05
		_i=$((_i + 1))
	done
}
stop_node() {
	kill "$NPID" 2>/dev/null || true
	wait "$NPID" 2>/dev/null || true
	NPID=""
	rm -rf "$ND"
}

# read NAME [cairn options]: the whole prefix into a new folder through the client's
# link, timed; every file compared with its source. Sets READ_S.
read_prefix() {
	dst=$WORK/got-$1
	shift
	rm -rf "$dst"
	drop_caches
	t0=$(now)
	CAIRN_ENDPOINT=$CLIENT_LINK timeout "$LIMIT" "$C" buckets sync "cairn://buckets/$B/shards/" \
		"$dst" --json "$@" >"$WORK/read.json" 2>"$WORK/cmd.err" || fail "read of shards/ ($*)"
	t1=$(now)
	READ_S=$(secs "$t0" "$t1")
	n=$(find "$dst" -type f | wc -l)
	[ "$n" = "$FILES" ] || fail "read $n files of $FILES"
	for f in "$WORK"/src/shards/*; do
		cmp "$f" "$dst/$(basename "$f")" >"$WORK/cmd.err" 2>&1 || fail "bytes differ: $(cat "$WORK/cmd.err")"
	done
	rm -rf "$dst"
}
# counters NAME: the origin's xorb reads, the node's fills and hits, as NAME_X NAME_F NAME_H
counters() {
	eval "$1_X=$(metric "$ORIGIN" cairn_xorb_reads_total)"
	if [ -n "$NPID" ]; then
		eval "$1_F=$(metric "$NODE" cairn_cache_fills_total) $1_H=$(metric "$NODE" cairn_cache_hits_total)"
		eval "$1_FB=$(metric "$NODE" cairn_cache_fill_bytes_total)"
	else
		eval "$1_F=0 $1_H=0 $1_FB=0"
	fi
}

# ---- 1. cold: a fresh node fills on demand
start_node
counters a
read_prefix cold --region eu
counters b
COLD_S=$READ_S
COLD_X=$((b_X - a_X)) COLD_F=$((b_F - a_F)) COLD_H=$((b_H - a_H)) COLD_FB=$((b_FB - a_FB))
COLD_DISTINCT=$(find "$ND/cache/xorbs" -type f ! -name '*.tmp' | wc -l)
[ "$COLD_F" -gt 0 ] || fail "cold read: the node filled nothing (fills $a_F -> $b_F): not read through it"
[ "$COLD_X" = "$COLD_F" ] ||
	fail "cold read: $COLD_X xorb reads at the origin but $COLD_F node fills (the client read the origin?)"
stop_node

# ---- 2. pre-warmed: a fresh node, the prefix staged, then the same read
start_node
counters a
drop_caches
t0=$(now)
CAIRN_ENDPOINT=$CLIENT_LINK timeout "$LIMIT" "$C" buckets prewarm "$B/shards/" --region eu --wait \
	--json >"$WORK/prewarm.json" 2>"$WORK/cmd.err" || fail "prewarm --wait"
t1=$(now)
PREWARM_S=$(secs "$t0" "$t1")
counters b
[ "$(jget state "$WORK/prewarm.json")" = "done" ] || fail "prewarm: $(cat "$WORK/prewarm.json")"
[ "$(jget files "$WORK/prewarm.json")" = "$FILES" ] || fail "prewarm counted files: $(cat "$WORK/prewarm.json")"
[ "$(jget files_done "$WORK/prewarm.json")" = "$FILES" ] || fail "prewarm staged: $(cat "$WORK/prewarm.json")"
JOB_XORBS=$(jget xorbs "$WORK/prewarm.json")
JOB_BYTES=$(jget bytes "$WORK/prewarm.json")
[ "$(jget xorbs_done "$WORK/prewarm.json")" = "$JOB_XORBS" ] || fail "prewarm xorbs: $(cat "$WORK/prewarm.json")"
PRE_X=$((b_X - a_X)) PRE_F=$((b_F - a_F)) PRE_FB=$((b_FB - a_FB))
[ "$PRE_F" = "$JOB_XORBS" ] || fail "prewarm: $PRE_F fills for a job of $JOB_XORBS xorbs"
counters a
read_prefix warm --region eu
counters b
WARM_S=$READ_S
WARM_X=$((b_X - a_X)) WARM_F=$((b_F - a_F)) WARM_H=$((b_H - a_H))
[ "$WARM_X" = 0 ] || fail "pre-warmed read: the origin served $WARM_X xorb reads"
[ "$WARM_F" = 0 ] || fail "pre-warmed read: the node filled $WARM_F xorbs"
[ "$WARM_H" -gt 0 ] || fail "pre-warmed read: no hits at the node"
stop_node

# ---- 3. reference: straight from the origin over the client's slow link, no region
counters a
read_prefix direct
counters b
DIRECT_S=$READ_S
DIRECT_X=$((b_X - a_X))
[ "$DIRECT_X" -gt 0 ] || fail "direct read: no xorb reads at the origin"

{
echo "pre-warming through a region's cache node, $(date -u +%Y-%m-%d), $(nproc) cores"
echo "data: $FILES random files of $FILE_B bytes ($BYTES in all) under $B/shards/," \
	"and $OTHER_B bytes outside the prefix"
echo "links to the origin (the node's, and the client's own): ${DELAY_MS} ms round trip," \
	"${RATE_MIB} MiB/s ($CAP_MBPS MB/s) per direction (bench/slowlink.py)"
echo "  slowlink.py uncapped: $UNCAPPED_MBPS MB/s (curl GET of one file; direct: $DIRECT_MBPS MB/s)"
echo "client -> node: loopback; page cache dropped before each read: $DROPPED;" \
	"every file checked with cmp"
echo
printf '%-40s %9s %9s %12s %7s %7s\n' "" seconds "MB/s" "origin xorbs" fills hits
printf '%-40s %9s %9s %12s %7s %7s\n' "1. cold read through the node" "$COLD_S" \
	"$(mbps "$BYTES" "$COLD_S")" "$COLD_X" "$COLD_F" "$COLD_H"
printf '%-40s %9s %9s %12s %7s %7s\n' "2a. prewarm --wait (staging)" "$PREWARM_S" \
	"$(mbps "$JOB_BYTES" "$PREWARM_S")" "$PRE_X" "$PRE_F" -
printf '%-40s %9s %9s %12s %7s %7s\n' "2b. read after the pre-warm" "$WARM_S" \
	"$(mbps "$BYTES" "$WARM_S")" "$WARM_X" "$WARM_F" "$WARM_H"
printf '%-40s %9s %9s %12s %7s %7s\n' "3. read from the origin (no region)" "$DIRECT_S" \
	"$(mbps "$BYTES" "$DIRECT_S")" "$DIRECT_X" - -
echo
echo "ratio cold / pre-warmed read time: $(ratio "$COLD_S" "$WARM_S")" \
	"(origin direct / pre-warmed: $(ratio "$DIRECT_S" "$WARM_S"))"
echo "pre-warm job: $JOB_XORBS xorbs, $JOB_BYTES bytes staged ($PRE_F fills, $PRE_FB bytes over the link)"
echo "cold read: $COLD_F fills of $COLD_DISTINCT distinct xorbs, $COLD_FB bytes over the link" \
	"($(ratio "$COLD_FB" "$PRE_FB")x the pre-warm's)"
echo "MB/s: the prefix's $BYTES bytes (staging: the job's xorb bytes) over the wall time"
}
