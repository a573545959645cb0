#!/bin/sh
# engine.sh BUILD_DIR - the storage engine side by side with its peers, in
# one run on this machine: put/get throughput of a large object (random and
# bf16-like), and the space and time a checkpoint series costs in Cairn,
# restic (repository v2, zstd) and borgbackup (lz4), all given the same
# files. Sizes: ENGINE_MIB (io object, default 1024), SERIES_N versions of
# SERIES_MIB each (defaults 5 x 512).
set -eu
BUILD=$1
MIB=${ENGINE_MIB:-1024}
N=${SERIES_N:-5}
SMIB=${SERIES_MIB:-512}
OUT=$(cd "$(dirname "$0")" && pwd)/out
mkdir -p "$OUT"
for tool in restic borg; do
	if ! command -v $tool >/dev/null 2>&1; then
		SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
		$SUDO apt-get update -qq && $SUDO apt-get install -y -qq restic borgbackup >/dev/null
		break
	fi
done
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-engine-XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM

now() { date +%s.%N; }
secs() { awk "BEGIN{printf \"%.2f\", $2 - $1}"; }
size_of() { du -sb "$1" | cut -f1; }

{
echo "Cairn storage engine benchmark, $(date -u +%Y-%m-%d), $(nproc) cores"
echo
echo "-- the disk's own limit: 256 MiB written with dd and fsynced --"
s=$(now); dd if=/dev/zero of="$WORK/dd" bs=1M count=256 conv=fsync status=none; e=$(now)
echo "dd write + fsync: $(awk "BEGIN{printf \"%.2f\", 268435456 / ($e - $s) / 1e9}") GB/s"
rm -f "$WORK/dd"
echo
echo "-- one large object, put then get (get verifies every chunk) --"
"$BUILD/bench/bench_engine" io "$WORK/io" "$MIB"
rm -rf "$WORK/io"
echo
echo "-- checkpoint series: $N versions x $SMIB MiB, 20% of the tensors rewritten each time --"
mkdir -p "$WORK/series"
"$BUILD/bench/bench_engine" gen "$WORK/series" "$N" "$SMIB"
raw=$(size_of "$WORK/series")
printf '%-26s %14s %10s %9s\n' tool "stored bytes" "of raw" seconds
s=$(now); "$BUILD/bench/bench_engine" put "$WORK/cairn" "$WORK/series"/*.safetensors >"$WORK/cairn.txt"; e=$(now)
c=$(size_of "$WORK/cairn")
printf '%-26s %14s %9s%% %9s\n' "cairn (lz4/bg4, xet)" "$c" "$(awk "BEGIN{printf \"%.1f\", 100 * $c / $raw}")" "$(secs "$s" "$e")"
export RESTIC_PASSWORD=bench RESTIC_CACHE_DIR="$WORK/restic-cache"
restic init --repo "$WORK/restic" --repository-version 2 >/dev/null 2>&1
s=$(now)
for f in "$WORK/series"/*.safetensors; do
	restic --repo "$WORK/restic" backup --quiet --compression auto "$f" >/dev/null 2>&1
done
e=$(now); r=$(size_of "$WORK/restic")
printf '%-26s %14s %9s%% %9s\n' "restic 0.14 (zstd)" "$r" "$(awk "BEGIN{printf \"%.1f\", 100 * $r / $raw}")" "$(secs "$s" "$e")"
export BORG_PASSPHRASE="" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_BASE_DIR="$WORK/borg-home"
borg init --encryption=none "$WORK/borg" >/dev/null 2>&1
s=$(now)
i=0
for f in "$WORK/series"/*.safetensors; do
	i=$((i + 1))
	borg create --compression lz4 "$WORK/borg::v$i" "$f" >/dev/null 2>&1
done
e=$(now); b=$(size_of "$WORK/borg")
printf '%-26s %14s %9s%% %9s\n' "borgbackup 1.2 (lz4)" "$b" "$(awk "BEGIN{printf \"%.1f\", 100 * $b / $raw}")" "$(secs "$s" "$e")"
echo "raw bytes of all versions: $raw"
echo
echo "per version (cairn): name, seconds, new stored bytes, size"
cat "$WORK/cairn.txt"
} >"$OUT/engine.txt"
cat "$OUT/engine.txt"
