# s3rver.sh - sourced by tests that need an S3 service that is not Cairn's:
# s3rver from the npm registry (installed once per build directory), on a
# free port of 127.0.0.1, with one bucket. It takes any SigV4 signature.
#
# s3rver_start BUILD DIR BUCKET   sets S3RVER_URL and S3RVER_PID (key and
#                                 secret: S3RVER), or returns 1 (why: DIR/s3rver.log)
s3rver_start() {
	_tools=$1/npm-tools
	if [ ! -x "$_tools/node_modules/.bin/s3rver" ]; then
		mkdir -p "$_tools"
		(cd "$_tools" && npm install --no-audit --no-fund --silent s3rver@3) >"$2/s3rver.log" 2>&1 ||
			return 1
	fi
	_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	mkdir -p "$2/s3rver"
	# its continuation tokens use DES, which Node's OpenSSL 3 keeps in the legacy provider
	NODE_OPTIONS=--openssl-legacy-provider "$_tools/node_modules/.bin/s3rver" -d "$2/s3rver" \
		-a 127.0.0.1 -p "$_port" --silent --configure-bucket "$3" >>"$2/s3rver.log" 2>&1 &
	S3RVER_PID=$!
	S3RVER_URL=http://127.0.0.1:$_port
	_i=0
	until curl -s -o /dev/null "$S3RVER_URL/" || [ $_i -ge 200 ]; do sleep 0.1; _i=$((_i + 1)); done
	curl -s -o /dev/null "$S3RVER_URL/"
}
