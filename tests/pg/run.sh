#!/bin/sh
# run.sh BUILD_DIR - the metadata tests against the PostgreSQL backend, on a
# private server this script starts on 127.0.0.1 (tests/pg/pg.sh).
set -u
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
. "$HERE/pg.sh"
trap 'pg_stop; rm -rf "$W"' EXIT
chmod 755 "$W"
if ! pg_start "$W"; then
	echo "FAIL PostgreSQL did not start:"; cat "$W/pg.log" "$W/pgserver.log" 2>/dev/null
	echo "0 passed, 1 failed"
	exit 1
fi
CAIRN_TEST_PG=$PG_CONNINFO "$BUILD/tests/test_meta"
