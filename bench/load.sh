#!/bin/sh
# load.sh BUILD [SECONDS] [CLIENTS] - bench/load against a fresh `cairn
# serve`, through the native API only and with no kill: bench/soak.sh with
# SOAK_FRONTS=native and KILLS 0 (users, buckets, RSS sampled once a second,
# no 5xx in the access log, SIGTERM exits 0, fsck 0 faults). SOAK_FRONTS=both
# adds the S3 front; the other SOAK_* settings of soak.sh apply. Ends with
# "N passed, N failed"; exits non-zero on any failure.
HERE=$(cd "$(dirname "$0")" && pwd)
SOAK_FRONTS=${SOAK_FRONTS:-native} exec sh "$HERE/soak.sh" "${1:?usage: load.sh BUILD [SECONDS] [CLIENTS]}" \
	"${2:-20}" "${3:-64}" 0
