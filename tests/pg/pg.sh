# pg.sh - sourced by tests that need PostgreSQL: a private server on a free
# port of 127.0.0.1, in a fresh cluster under DIR, stopped by pg_stop.
#
# pg_start DIR   sets PG_CONNINFO ("host=127.0.0.1 port=P user=postgres") and
#                PG_URL (postgres://postgres@127.0.0.1:P), or returns 1 with
#                the reason in DIR/pg.log. As root, the server runs as the
#                postgres user (PostgreSQL refuses to run as root).
# pg_stop        stops it (fast shutdown).
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
PG_DIR= PG_AS=
pg_start() {
	PG_DIR=$1/pgdata
	_log=$1/pg.log
	_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
		echo "no PostgreSQL server (Debian's postgresql package)" >"$_log"
		return 1
	fi
	mkdir -p "$PG_DIR" "$1/pgsock"
	_as=""
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$PG_DIR" "$1/pgsock" "$1"
		_as="runuser -u postgres --"
	fi
	$_as "$PG_BIN/initdb" -D "$PG_DIR" -U postgres -A trust --no-sync >"$_log" 2>&1 || return 1
	$_as "$PG_BIN/pg_ctl" -D "$PG_DIR" -l "$1/pgserver.log" -w -t 60 start \
		-o "-p $_port -k $1/pgsock -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
		>>"$_log" 2>&1 || return 1
	PG_AS=$_as
	PG_CONNINFO="host=127.0.0.1 port=$_port user=postgres"
	PG_URL="postgres://postgres@127.0.0.1:$_port"
	return 0
}
pg_stop() {
	[ -n "$PG_DIR" ] && [ -d "$PG_DIR" ] && $PG_AS "$PG_BIN/pg_ctl" -D "$PG_DIR" -m fast stop >/dev/null 2>&1
	PG_DIR=
}
