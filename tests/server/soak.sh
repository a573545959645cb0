#!/bin/sh
# soak.sh BUILD_DIR - a short soak of `cairn serve` through bench/soak.sh:
# 64 clients for 20 seconds over the native API and the S3 front, the
# server killed with SIGKILL once in the middle and restarted on the same
# data and ports; no acknowledged write lost, every object read back through
# both fronts, no 5xx, RSS bounded, fsck 0 faults. Under a sanitizer build
# the RSS bound is 2 GiB (ASan's shadow memory and quarantine).
# Ends with "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
if grep -q '^CAIRN_SANITIZE:BOOL=ON' "$1/CMakeCache.txt" 2>/dev/null; then
	export SOAK_RSS_MAX_MIB="${SOAK_RSS_MAX_MIB:-2048}"
fi
exec sh "$HERE/../../bench/soak.sh" "$1" 20 64 1
