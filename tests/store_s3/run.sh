#!/bin/sh
# run.sh BUILD_DIR - the S3 xorb store (lib/store/store_s3.c) against S3
# implementations, each started here on 127.0.0.1 with a fresh bucket:
# s3rver (from the npm registry) and, where the machine's own python has
# it, moto's server, which are not ours; neither checks SigV4 signatures,
# so the signer is checked against Cairn's own S3 front, whose verifier
# tests/s3 holds to aws-cli, boto3, rclone and s3cmd.
set -u
BUILD=$(cd "$1" && pwd)
T=$BUILD/tests/test_store_s3
W=$(mktemp -d)
SPID=
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
passed=0 failed=0
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up() { # URL: wait until something answers there
	i=0; until curl -s -o /dev/null "$1" || [ $i -ge 200 ]; do sleep 0.1; i=$((i + 1)); done
	curl -s -o /dev/null "$1"
}
run() { # NAME URL KEY SECRET
	if CAIRN_TEST_S3=$2 CAIRN_TEST_S3_BUCKET=cairn-test CAIRN_TEST_S3_KEY=$3 \
		CAIRN_TEST_S3_SECRET=$4 "$T" >"$W/$1.out" 2>&1; then
		passed=$((passed + 1)); echo "ok store_s3 against $1"
	else
		failed=$((failed + 1)); echo "FAIL store_s3 against $1"; cat "$W/$1.out"
	fi
	grep -E '^# |passed' "$W/$1.out" | tail -3
}

# ---- s3rver, installed once per build directory from the npm registry
TOOLS=$BUILD/npm-tools
if [ ! -x "$TOOLS/node_modules/.bin/s3rver" ]; then
	mkdir -p "$TOOLS"
	(cd "$TOOLS" && npm install --no-audit --no-fund --silent s3rver@3 >"$W/npm.log" 2>&1) ||
		{ cat "$W/npm.log"; }
fi
if [ -x "$TOOLS/node_modules/.bin/s3rver" ]; then
	P=$(free_port)
	mkdir -p "$W/s3rver"
	# s3rver's continuation tokens use DES, which Node's OpenSSL 3 keeps in its legacy provider
	NODE_OPTIONS=--openssl-legacy-provider "$TOOLS/node_modules/.bin/s3rver" -d "$W/s3rver" -a 127.0.0.1 -p "$P" --silent \
		--configure-bucket cairn-test >"$W/s3rver.log" 2>&1 &
	SPID=$!
	if up "http://127.0.0.1:$P/"; then
		run s3rver "http://127.0.0.1:$P" S3RVER S3RVER
	else
		failed=$((failed + 1)); echo "FAIL s3rver did not start"; cat "$W/s3rver.log"
	fi
	kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=
else
	failed=$((failed + 1)); echo "FAIL s3rver could not be installed from the npm registry"
fi

# ---- moto, where the machine's python has it (the first python3 on PATH, not Debian's)
if python3 -c 'import moto.server' 2>/dev/null; then
	P=$(free_port)
	python3 -m moto.server -H 127.0.0.1 -p "$P" >"$W/moto.log" 2>&1 &
	SPID=$!
	if up "http://127.0.0.1:$P/" && curl -s -X PUT -o /dev/null "http://127.0.0.1:$P/cairn-test"; then
		run moto "http://127.0.0.1:$P" testing testing
	else
		failed=$((failed + 1)); echo "FAIL moto did not start"; cat "$W/moto.log"
	fi
	kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=
else
	echo "# moto is not on this machine: s3rver alone"
fi

# ---- Cairn's own S3 front: it checks every signature
. "$(dirname "$0")/../lib/serve.sh"
mkdir -p "$W/cairn"
if serve_start "$BUILD/cairn" "$W/cairn/data" "$W/cairn" --s3-listen 127.0.0.1:0 \
	--s3-port-file "$W/cairn/s3port"; then
	SPID=$SERVE_PID
	i=0; while [ ! -s "$W/cairn/s3port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	"$BUILD/cairn" admin keys create --data "$W/cairn/data" --json >"$W/cairn/key"
	"$BUILD/cairn" admin tokens create --user admin --scope admin --data "$W/cairn/data" >"$W/cairn/token"
	curl -s -X POST -H "Authorization: Bearer $(cat "$W/cairn/token")" -d '{"private":true}' \
		"$SERVE_URL/api/buckets/admin/cairn-test" >/dev/null
	K=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["access_key_id"])' <"$W/cairn/key")
	S=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["secret_access_key"])' <"$W/cairn/key")
	CAIRN_TEST_S3_CHECKS_SIGNATURES=1 run cairn "http://127.0.0.1:$(cat "$W/cairn/s3port")" "$K" "$S"
	kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=
else
	failed=$((failed + 1)); echo "FAIL cairn serve did not start"; cat "$W/cairn/err"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
