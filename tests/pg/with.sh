#!/bin/sh
# with.sh SCRIPT BUILD_DIR - run a server test script with its metadata in
# PostgreSQL: a private server started here (pg.sh), and CAIRN_META
# pointing every `cairn serve` and `cairn admin` the script starts at it.
# with.sh --exec PROGRAM: the same for an engine test program (it opens
# its repository with cairn_repo_open, which follows CAIRN_META).
set -u
SCRIPT=$1
if [ "$SCRIPT" = --exec ]; then BUILD=.; else BUILD=$(cd "$2" && pwd); fi
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
chmod 755 "$W"
. "$HERE/pg.sh"
trap 'pg_stop; rm -rf "$W"' EXIT
if ! pg_start "$W"; then
	echo "FAIL PostgreSQL did not start:"; cat "$W/pg.log" "$W/pgserver.log" 2>/dev/null
	echo "0 passed, 1 failed"
	exit 1
fi
echo "# metadata in PostgreSQL: $PG_URL/postgres"
if [ "$SCRIPT" = --exec ]; then
	CAIRN_META=$PG_URL/postgres "$2"
else
	CAIRN_META=$PG_URL/postgres sh "$SCRIPT" "$BUILD"
fi
