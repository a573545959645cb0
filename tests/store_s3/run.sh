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
SPID= SPID2=
cleanup() {
	for p in $SPID $SPID2; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
passed=0 failed=0
. "$(dirname "$0")/../lib/serve.sh"
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

# ---- `cairn serve --store s3://...` over s3rver: uploads, downloads, dedup, GC, fsck
serve_over_s3() { # URL KEY SECRET
	mkdir -p "$W/so"
	printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$2" "$3" >"$W/so/creds"
	if ! serve_start "$BUILD/cairn" "$W/so/data" "$W/so" --store s3://cairn-test/srv \
		--s3-endpoint "$1" --s3-credentials "$W/so/creds"; then
		failed=$((failed + 1)); echo "FAIL cairn serve --store did not start"; cat "$W/so/err"
		return
	fi
	SPID2=$SERVE_PID
	"$BUILD/cairn" admin users create alice --data "$W/so/data" >/dev/null
	TOK=$("$BUILD/cairn" admin tokens create --user alice --scope write --data "$W/so/data")
	/usr/bin/python3 -c 'import random,sys; open(sys.argv[1],"wb").write(random.Random(5).randbytes(9 << 20))' "$W/so/a.bin"
	export CAIRN_ENDPOINT=$SERVE_URL CAIRN_TOKEN=$TOK
	"$BUILD/cairn" buckets create data --quiet >/dev/null
	"$BUILD/cairn" buckets cp "$W/so/a.bin" cairn://buckets/alice/data/a.bin --quiet >/dev/null 2>"$W/so/e1"
	"$BUILD/cairn" buckets cp "$W/so/a.bin" cairn://buckets/alice/data/b.bin --json 2>>"$W/so/e1" >"$W/so/second"
	"$BUILD/cairn" buckets cp cairn://buckets/alice/data/a.bin "$W/so/got.bin" --quiet 2>>"$W/so/e1"
	curl -s "$SERVE_URL/buckets/alice/data/resolve/b.bin" -H "Authorization: Bearer $TOK" -o "$W/so/got2.bin"
	unset CAIRN_ENDPOINT CAIRN_TOKEN
	if cmp -s "$W/so/a.bin" "$W/so/got.bin" && cmp -s "$W/so/a.bin" "$W/so/got2.bin"; then
		passed=$((passed + 1)); echo "ok serve --store s3: uploads and downloads verify"
	else
		failed=$((failed + 1)); echo "FAIL serve --store s3: $(cat "$W/so/e1")"
	fi
	if grep -q '"new_bytes":0' "$W/so/second"; then
		passed=$((passed + 1)); echo "ok serve --store s3: a second copy stores nothing"
	else
		failed=$((failed + 1)); echo "FAIL serve --store s3: dedup: $(cat "$W/so/second")"
	fi
	# (admin commands run without --store leave an empty local store: its .lock only)
	if [ -z "$(find "$W/so/data" -regextype posix-extended -type f -regex '.*/[0-9a-f]{64}' | head -1)" ]; then
		passed=$((passed + 1)); echo "ok serve --store s3: no xorb in the data directory"
	else
		failed=$((failed + 1)); echo "FAIL serve --store s3: xorbs written locally"; find "$W/so/data/xorbs" -type f | head -5
	fi
	n=$(find "$W/s3rver/cairn-test/srv/xorbs" -type f -name '*.md5' 2>/dev/null | wc -l)
	[ "$n" -gt 0 ] || n=$(find "$W/s3rver" -path '*srv/xorbs*' -type f 2>/dev/null | wc -l)
	if [ "$n" -gt 0 ]; then
		passed=$((passed + 1)); echo "ok serve --store s3: the xorbs are in the S3 bucket ($n files)"
	else
		failed=$((failed + 1)); echo "FAIL serve --store s3: nothing in the S3 bucket"; find "$W/s3rver" | head
	fi
	kill "$SPID2" 2>/dev/null; wait "$SPID2" 2>/dev/null
	if CAIRN_STORE=s3://cairn-test/srv CAIRN_S3_ENDPOINT=$1 CAIRN_S3_CREDENTIALS=$W/so/creds \
		"$BUILD/cairn" admin fsck --data "$W/so/data" >"$W/so/fsck" 2>&1; then
		passed=$((passed + 1)); echo "ok admin fsck over the S3 store"
	else
		failed=$((failed + 1)); echo "FAIL admin fsck over the S3 store: $(tail -3 "$W/so/fsck")"
	fi
}

# ---- `cairn admin migrate --to-store`: a local data directory's xorbs into S3, then served from there
migrate_to_s3() { # URL KEY SECRET
	mkdir -p "$W/mg"
	printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$2" "$3" >"$W/mg/creds"
	serve_start "$BUILD/cairn" "$W/mg/data" "$W/mg" || { failed=$((failed + 1)); echo "FAIL local server"; return; }
	SPID2=$SERVE_PID
	"$BUILD/cairn" admin users create alice --data "$W/mg/data" >/dev/null
	TOK=$("$BUILD/cairn" admin tokens create --user alice --scope write --data "$W/mg/data")
	/usr/bin/python3 -c 'import random,sys; [open("%s/m%d.bin" % (sys.argv[1], i), "wb").write(random.Random(40 + i).randbytes(3 << 20)) for i in range(3)]' "$W/mg"
	CAIRN_ENDPOINT=$SERVE_URL CAIRN_TOKEN=$TOK "$BUILD/cairn" buckets create data --quiet >/dev/null
	for i in 0 1 2; do
		CAIRN_ENDPOINT=$SERVE_URL CAIRN_TOKEN=$TOK "$BUILD/cairn" buckets cp "$W/mg/m$i.bin" \
			cairn://buckets/alice/data/m$i.bin --quiet >/dev/null
	done
	kill "$SPID2"; wait "$SPID2" 2>/dev/null; SPID2=
	if "$BUILD/cairn" admin migrate --data "$W/mg/data" --to-store s3://cairn-test/mig \
		--s3-endpoint "$1" --s3-credentials "$W/mg/creds" >"$W/mg/out1" 2>&1 &&
		grep -q " copied" "$W/mg/out1" && ! grep -q ": 0 copied" "$W/mg/out1"; then
		passed=$((passed + 1)); echo "ok migrate --to-store: $(cat "$W/mg/out1")"
	else
		failed=$((failed + 1)); echo "FAIL migrate --to-store: $(cat "$W/mg/out1")"
	fi
	"$BUILD/cairn" admin migrate --data "$W/mg/data" --to-store s3://cairn-test/mig \
		--s3-endpoint "$1" --s3-credentials "$W/mg/creds" >"$W/mg/out2" 2>&1
	if grep -q ": 0 copied" "$W/mg/out2"; then
		passed=$((passed + 1)); echo "ok migrate again: nothing left to copy"
	else
		failed=$((failed + 1)); echo "FAIL migrate again: $(cat "$W/mg/out2")"
	fi
	mv "$W/mg/data/xorbs" "$W/mg/xorbs.old" # served from S3 alone from now on
	serve_start "$BUILD/cairn" "$W/mg/data" "$W/mg" --store s3://cairn-test/mig --s3-endpoint "$1" \
		--s3-credentials "$W/mg/creds" || { failed=$((failed + 1)); echo "FAIL server over S3"; return; }
	SPID2=$SERVE_PID
	ok_all=1
	for i in 0 1 2; do
		CAIRN_ENDPOINT=$SERVE_URL CAIRN_TOKEN=$TOK "$BUILD/cairn" buckets cp \
			cairn://buckets/alice/data/m$i.bin "$W/mg/got$i.bin" --quiet 2>/dev/null
		cmp -s "$W/mg/m$i.bin" "$W/mg/got$i.bin" || ok_all=0
	done
	if [ $ok_all = 1 ]; then
		passed=$((passed + 1)); echo "ok every migrated object reads back from the S3 store"
	else
		failed=$((failed + 1)); echo "FAIL migrated objects"
	fi
	kill "$SPID2"; wait "$SPID2" 2>/dev/null; SPID2=
}

# ---- s3rver (the npm registry's)
. "$(dirname "$0")/../lib/s3rver.sh"
if s3rver_start "$BUILD" "$W" cairn-test; then
	SPID=$S3RVER_PID
	CAIRN_TEST_S3_PUT_NOT_ATOMIC=1 run s3rver "$S3RVER_URL" S3RVER S3RVER
	serve_over_s3 "$S3RVER_URL" S3RVER S3RVER
	migrate_to_s3 "$S3RVER_URL" S3RVER S3RVER
	kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=
else
	failed=$((failed + 1)); echo "FAIL s3rver did not start"; cat "$W/s3rver.log"
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
