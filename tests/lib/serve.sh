# serve.sh - sourced by the tests and benchmarks that need a live
# `cairn serve`: one way to start it on a free port of 127.0.0.1 and wait
# until it answers.
#
# serve_start CAIRN DATA DIR [serve options...]
#   starts `CAIRN serve` over DATA with --listen 127.0.0.1:0 and the port
#   file DIR/port; stdout goes to DIR/out, stderr is appended to DIR/err.
#   Sets SERVE_PID and SERVE_URL once /healthz answers. Returns 1 if the
#   server did not come up (its log is in DIR/err).
serve_start() {
	_cairn=$1 _data=$2 _dir=$3
	shift 3
	rm -f "$_dir/port"
	"$_cairn" serve --listen 127.0.0.1:0 --port-file "$_dir/port" --data "$_data" "$@" \
		>"$_dir/out" 2>>"$_dir/err" &
	SERVE_PID=$!
	_i=0
	while [ ! -s "$_dir/port" ] && kill -0 "$SERVE_PID" 2>/dev/null && [ $_i -lt 200 ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
	[ -s "$_dir/port" ] || return 1
	SERVE_URL=http://127.0.0.1:$(cat "$_dir/port")
	_i=0
	until curl -s -o /dev/null "$SERVE_URL/healthz" || [ $_i -ge 200 ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
	return 0
}
