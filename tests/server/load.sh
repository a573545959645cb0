#!/bin/sh
# load.sh BUILD_DIR - a short load run against `cairn serve`: 16 clients for
# 5 seconds through bench/load.sh (uploads, ranged downloads checked byte for
# byte, listings, deletes; then no 5xx, SIGTERM exits 0, fsck 0 faults).
# Ends with "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
exec sh "$HERE/../../bench/load.sh" "$1" 5 16
