#!/bin/sh
# compress.sh BUILD_DIR - what ML artifact series cost at rest: Cairn beside
# restic (repository v2, zstd) and casync (zstd), all given the same files in
# the same run (issue 12). bench/mlseries.py writes four series as version
# folders (bf16 safetensors with frozen layers, fp32 weights with Adam state,
# an edited JSONL dataset, append-only agent logs). Per series, each tool
# takes the versions in order into one fresh store:
#  - restic 0.14: `restic init --repository-version 2`, then `restic backup`
#    of each version folder, once with --compression auto and once with
#    --compression max (two repositories); the whole repository's bytes;
#  - casync: `casync make --compression=zstd --store=STORE vNN.caidx DIR` per
#    version, one shared chunk store; the store's bytes plus the index files;
#  - Cairn: `cairn buckets sync DIR cairn://buckets/admin/SERIES/vNN` into a
#    fresh `cairn serve` (ingest MB/s over all versions), stored_bytes of
#    `cairn admin stats --json`, then a full read back with `cairn buckets
#    sync` down (MB/s, median of READ_ROUNDS; every file compared with its
#    source). When this
#    build has `cairn admin recompress`, it then runs once over the data
#    (--min-age 0, server stopped) and the stored bytes and the read are
#    measured again; otherwise that column says "-". Then the ingest is
#    repeated into fresh servers with and without the server's background
#    pass running all the time (INGEST_ROUNDS each, alternating; medians),
#    and how long the pass takes to catch up once an ingest ends.
# Bytes are sums of file sizes (directories not counted); MB/s is 10^6
# bytes per second of raw (uncompressed) data. Overrides: COMPRESS_SCALE
# (1: 290-345 MB per series), COMPRESS_SERIES ("bf16 adam jsonl
# logs"), INGEST_ROUNDS (3), READ_ROUNDS (3), TMPDIR. Results:
# bench/out/compress.txt.
set -eu
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
SCALE=${COMPRESS_SCALE:-1}
SERIES=${COMPRESS_SERIES:-"bf16 adam jsonl logs"}
OUT=$SRC/bench/out
mkdir -p "$OUT"
CAIRN=$BUILD/cairn
PY=/usr/bin/python3

# the peers, from Debian's archive (casync is not installed by anything else)
missing=""
command -v restic >/dev/null 2>&1 || missing="$missing restic"
command -v casync >/dev/null 2>&1 || missing="$missing casync"
if [ -n "$missing" ]; then
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
	echo "compress: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
[ -x "$BUILD/bench/mltensors" ] || { echo "compress: $BUILD/bench/mltensors missing (make build)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-compress-XXXXXX")
PID=""
stop_server() {
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
		PID=""
	fi
}
cleanup() {
	stop_server
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
. "$SRC/tests/lib/serve.sh"

now() { date +%s.%N; }
secs() { awk "BEGIN{printf \"%.2f\", $2 - $1}"; }
# (%.0f: mawk's %d stops at 2^31)
bytes_of() { find "$@" -type f -printf '%s\n' | awk '{s += $1} END{printf "%.0f", s}'; }
pct() { awk "BEGIN{printf \"%.1f%%\", 100 * $1 / $2}"; }
mbs() { awk "BEGIN{ if ($2 > 0) printf \"%.1f\", $1 / $2 / 1e6; else print \"-\" }"; }
jnum() { sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p" "$2"; }
metric_of() { curl -s "$SERVE_URL/metrics" | sed -n "s/^$1 //p"; }
median() { tr ' ' '\n' | sort -g | awk '{v[NR] = $1} END{print v[int((NR + 1) / 2)]}'; }

HAVE_RECOMPRESS=0
"$CAIRN" admin recompress --help >/dev/null 2>&1 && HAVE_RECOMPRESS=1

echo "compress: generating the series (scale $SCALE) in $WORK/series"
# shellcheck disable=SC2086
$PY "$SRC/bench/mlseries.py" "$WORK/series" --scale "$SCALE" --tensors "$BUILD/bench/mltensors" \
	--series "$(echo $SERIES | tr ' ' ',')"
sync

RES=$WORK/results.tsv
: >"$RES"
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR="$WORK/restic-cache"

# restic_run MODE: every version into a fresh repository; sets RB (bytes), RS (seconds)
restic_run() {
	repo=$WORK/restic-$1
	restic init --repo "$repo" --repository-version 2 >/dev/null
	s=$(now)
	for v in "$DIR"/v*; do
		restic --repo "$repo" --compression "$1" backup --quiet "$v" >/dev/null
	done
	e=$(now)
	RB=$(bytes_of "$repo") RS=$(secs "$s" "$e")
	rm -rf "$repo" "$RESTIC_CACHE_DIR"
}

# cairn_read: the whole bucket down from a fresh server, READ_ROUNDS (3)
# times, each compared with the source; sets RD (median seconds)
cairn_read() {
	serve_start "$CAIRN" "$CD" "$WORK" || { cat "$WORK/err"; exit 1; }
	PID=$SERVE_PID
	export CAIRN_ENDPOINT="$SERVE_URL"
	reads=""
	r=0
	while [ $r -lt "${READ_ROUNDS:-3}" ]; do
		rm -rf "$WORK/read"
		sync
		s=$(now)
		"$CAIRN" buckets sync "cairn://buckets/admin/$NAME/" "$WORK/read" >/dev/null
		e=$(now)
		reads="$reads $(secs "$s" "$e")"
		diff -r "$DIR" "$WORK/read" >/dev/null ||
			{ echo "compress: $NAME: read back differs" >&2; exit 1; }
		r=$((r + 1))
	done
	RD=$(echo $reads | median)
	stop_server
	rm -rf "$WORK/read"
}

# cairn_ingest DATA_DIR [SERVE FLAGS]: a fresh server over DATA_DIR (left
# running: PID), the bucket created, every version uploaded in order; sets
# UP (seconds of the uploads)
cairn_ingest() {
	d=$1
	shift
	serve_start "$CAIRN" "$d" "$WORK" "$@" || { cat "$WORK/err"; exit 1; }
	PID=$SERVE_PID
	export CAIRN_ENDPOINT="$SERVE_URL" HOME="$WORK"
	CAIRN_TOKEN=$(cat "$d/admin-token")
	export CAIRN_TOKEN
	"$CAIRN" buckets create "admin/$NAME" --quiet >/dev/null
	UP=0
	for v in "$DIR"/v*; do
		sync
		s=$(now)
		"$CAIRN" buckets sync "$v" "cairn://buckets/admin/$NAME/$(basename "$v")" >/dev/null
		e=$(now)
		UP=$(awk "BEGIN{print $UP + $e - $s}")
	done
}

# cairn_ingest_with_pass: the ingest again, INGEST_ROUNDS times each way,
# alternating which goes first, each into a fresh server once the disk has
# settled (sync, 3 s): without background recompression,
# then with it running all the time (every second, over anything not used
# this second: the versions uploaded before). The pass yields to writes, so
# after each ingest with it the server is left until the pass has caught up
# (a whole pass begun after the ingest ended). Sets UPN and UPP (median
# seconds of the uploads, without and with), PASSES (xorbs the pass
# rewrote during the ingests), CATCH (median seconds from the end of an
# ingest to the pass having caught up) and CAUGHT (xorbs rewritten then).
cairn_ingest_with_pass() {
	keep=$UP
	without="" with="" catch="" PASSES=0 CAUGHT=0
	r=0
	while [ $r -lt "${INGEST_ROUNDS:-3}" ]; do
		# each way first in every other round, each after the disk has settled
		for way in $(if [ $((r % 2)) = 0 ]; then echo without with; else echo with without; fi); do
			rm -rf "$WORK/cairn-pass"
			sync
			sleep 3
			if [ $way = without ]; then
				cairn_ingest "$WORK/cairn-pass"
				without="$without $UP"
				stop_server
				continue
			fi
			cairn_ingest "$WORK/cairn-pass" --recompress-every 1 --recompress-after 0
			with="$with $UP"
			done_ingest=$(now)
			rw=$(metric_of cairn_recompress_rewritten_total)
			PASSES=$((PASSES + rw))
			p0=$(metric_of cairn_recompress_passes_total)
			i=0
			while [ "$(metric_of cairn_recompress_passes_total)" -lt $((p0 + 2)) ] &&
				[ $i -lt 1500 ]; do
				sleep 0.2
				i=$((i + 1))
			done
			catch="$catch $(secs "$done_ingest" "$(now)")"
			CAUGHT=$((CAUGHT + $(metric_of cairn_recompress_rewritten_total) - rw))
			stop_server
		done
		r=$((r + 1))
	done
	rm -rf "$WORK/cairn-pass"
	UPN_ALL=$(echo $without)
	UPP_ALL=$(echo $with)
	UPN=$(echo $without | median)
	UPP=$(echo $with | median)
	CATCH=$(echo $catch | median)
	UP=$keep
}

for NAME in $SERIES; do
	DIR=$WORK/series/$NAME
	NV=$(find "$DIR" -mindepth 1 -maxdepth 1 -type d | wc -l)
	RAW=$(bytes_of "$DIR")
	echo "compress: $NAME: $NV versions, $RAW bytes"

	restic_run auto
	RA_B=$RB RA_S=$RS
	restic_run max
	RM_B=$RB RM_S=$RS

	mkdir -p "$WORK/casync"
	s=$(now)
	for v in "$DIR"/v*; do
		casync make --compression=zstd --store="$WORK/casync/store" \
			"$WORK/casync/$(basename "$v").caidx" "$v" >/dev/null
	done
	e=$(now)
	CS_B=$(bytes_of "$WORK/casync") CS_S=$(secs "$s" "$e")
	rm -rf "$WORK/casync"

	CD=$WORK/cairn
	rm -rf "$CD"
	cairn_ingest "$CD"
	# stats reads the metadata in one read transaction: fine beside the server
	"$CAIRN" admin stats --data "$CD" --json >"$WORK/stats.json"
	stop_server
	CA_B=$(jnum stored_bytes "$WORK/stats.json")
	CA_X=$(bytes_of "$CD/xorbs")
	CA_DB=$(find "$CD" -maxdepth 1 -name "cairn.db*" -type f -printf '%s\n' | awk '{s += $1} END{printf "%.0f", s}')
	cairn_read
	CA_R=$RD
	CR_B=- CR_S=- CR_R=- CR_DB=- UPP=- UPN=- PASSES=- CATCH=- CAUGHT=- UPN_ALL=- UPP_ALL=-
	if [ $HAVE_RECOMPRESS = 1 ]; then
		s=$(now)
		"$CAIRN" admin recompress --data "$CD" --min-age 0 --json >"$WORK/recompress.json"
		e=$(now)
		CR_S=$(secs "$s" "$e")
		"$CAIRN" admin stats --data "$CD" --json >"$WORK/stats.json"
		CR_B=$(jnum stored_bytes "$WORK/stats.json")
		CR_DB=$(find "$CD" -maxdepth 1 -name "cairn.db*" -type f -printf '%s\n' | awk '{s += $1} END{printf "%.0f", s}')
		cairn_read
		CR_R=$RD
		cairn_ingest_with_pass
	fi
	rm -rf "$CD"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$NAME" "$NV" "$RAW" "$RA_B" "$RA_S" "$RM_B" "$RM_S" "$CS_B" "$CS_S" \
		"$CA_B" "$UP" "$CA_R" "$CR_B" "$CR_S" "$CR_R" "$CA_X" "$CA_DB" "$HAVE_RECOMPRESS" \
		"$CR_DB" "$UPP" "$PASSES" "$UPN" "$CATCH" "$CAUGHT" "$UPN_ALL" "$UPP_ALL" >>"$RES"
	rm -rf "$DIR"
done

# ---- the tables
awk -F '\t' -v date="$(date -u +%Y-%m-%d)" -v cores="$(nproc)" -v scale="$SCALE" -v rounds="${INGEST_ROUNDS:-3}" \
	-v restic="$(restic version | cut -d' ' -f2)" -v casync="$(casync --version | cut -d' ' -f2)" '
function pct(b, raw) { return b == "-" ? "-" : sprintf("%.1f%%", 100 * b / raw) }
function mbs(b, s) { return (s == "-" || s <= 0) ? "-" : sprintf("%.1f", b / s / 1e6) }
BEGIN {
	desc["bf16"] = "bf16 safetensors, frozen embeddings + first half of the layers"
	desc["adam"] = "fp32 full fine-tune: weights + Adam exp_avg, exp_avg_sq"
	desc["jsonl"] = "JSONL dataset: edits, deletions, insertions, appended batches"
	desc["logs"] = "agent trace, JSON lines, append-only"
	printf "Cairn at rest beside restic %s (repository v2, zstd) and casync %s (zstd), %s, %s cores, scale %s\n", restic, casync, date, cores, scale
	print "(stored: whole repository / chunk store + indexes / Cairn xorbs; share of the raw bytes of all versions)"
}
{
	n++; name[n] = $1; raw[n] = $3
	tool[1] = "restic auto"; b[n,1] = $4; s[n,1] = $5
	tool[2] = "restic max";  b[n,2] = $6; s[n,2] = $7
	tool[3] = "casync";      b[n,3] = $8; s[n,3] = $9
	ca[n] = $10; up[n] = $11; rd[n] = $12; cr[n] = $13; crs[n] = $14; rd2[n] = $15
	pr[n] = ($20 != "-" && $20 > 0) ? sprintf("%.2f", $22 / $20) : "-"
	# what Cairn is judged on after the pass: its xorbs and its metadata, as restic is on its
	# whole repository (packs, index, snapshots)
	crt[n] = ($18 == 1) ? cr[n] + $19 : "-"
	best = 1
	for (t = 2; t <= 3; t++) if (b[n,t] < b[n,best]) best = t
	bp[n] = best
	print ""
	printf "== %s: %s; %d versions, %.0f raw bytes ==\n", $1, desc[$1], $2, $3
	printf "%-26s %14s %8s %9s  %s\n", "tool", "stored bytes", "of raw", "seconds", "note"
	for (t = 1; t <= 3; t++)
		printf "%-26s %14.0f %8s %9.2f  %s\n", (t == 1 ? "restic --compression auto" : t == 2 ? "restic --compression max" : "casync make (zstd)"), b[n,t], pct(b[n,t], $3), s[n,t], (t == best ? "best peer" : "")
	printf "%-26s %14.0f %8s %9.2f  ingest %s MB/s, read %s MB/s (xorb files %.0f bytes; metadata db %.0f)\n", "cairn, as uploaded", ca[n], pct(ca[n], $3), up[n], mbs($3, up[n]), mbs($3, rd[n]), $16, $17
	if ($18 == 1)
		printf "%-26s %14.0f %8s %9.2f  read %s MB/s (seconds: the recompress pass)\n", "cairn, after recompress", cr[n], pct(cr[n], $3), crs[n], mbs($3, rd2[n])
	if ($18 == 1) {
		printf "%-26s %14.0f %8s %9s  xorbs + metadata db (%.0f bytes)\n", "  + its metadata", crt[n], pct(crt[n], $3), "", $19
		printf "%-26s %14s %8s %9.2f  ingest %s MB/s, median of %s fresh ingests without the pass (s: %s)\n", "cairn, ingest (again)", "", "", $22, mbs($3, $22), rounds, $25
		printf "%-26s %14s %8s %9.2f  ingest %s MB/s, median of %s with the pass running (s: %s; %s xorbs rewritten during them): %.2f of the ingest without\n", "cairn, ingest + pass", "", "", $20, mbs($3, $20), rounds, $26, $21, ($20 > 0 ? $22 / $20 : 0)
		printf "%-26s %14s %8s %9.2f  after each ingest with it, the pass caught up (median seconds; %s xorbs rewritten then)\n", "  pass after the ingest", "", "", $23, $24
	}
	else
		printf "%-26s %14s %8s %9s  skipped: this build has no `cairn admin recompress`\n", "cairn, after recompress", "-", "-", "-"
	printf "best peer: %s, %s; cairn as uploaded, %s: %s", tool[best], pct(b[n,best], $3), pct(ca[n], $3), (ca[n] < b[n,best] ? "beats it" : "does not beat it")
	if ($18 == 1) printf "; after recompress, with its metadata, %s: %s", pct(crt[n], $3), (crt[n] < b[n,best] ? "beats it" : "does not beat it")
	print ""
}
END {
	print ""
	print "== summary: stored share of raw (lower is better) =="
	printf "%-6s %13s %11s %10s %7s %7s %13s %-12s %-6s %-6s %7s %6s %s\n", "series", "raw bytes", "restic auto", "restic max", "casync", "cairn", "cairn recomp.", "best peer", "beats?", "recomp", "ingest", "w/pass", "read MB/s before/after"
	for (i = 1; i <= n; i++)
		printf "%-6s %13.0f %11s %10s %7s %7s %13s %-12s %-6s %-6s %7s %6s %s / %s\n", name[i], raw[i], pct(b[i,1], raw[i]), pct(b[i,2], raw[i]), pct(b[i,3], raw[i]), pct(ca[i], raw[i]), pct(crt[i], raw[i]), tool[bp[i]], (ca[i] < b[i,bp[i]] ? "yes" : "no"), (crt[i] == "-" ? "-" : crt[i] < b[i,bp[i]] ? "yes" : "no"), mbs(raw[i], up[i]), pr[i], mbs(raw[i], rd[i]), mbs(raw[i], rd2[i])
	print "(beats?: Cairn as uploaded stores fewer bytes than the best peer; recomp: the same after `cairn admin recompress`, xorbs and metadata db counted; ingest and read in MB/s of raw bytes; w/pass: ingest speed with the background pass running over that without, medians)"
}' "$RES" >"$OUT/compress.txt"
cat "$OUT/compress.txt"
