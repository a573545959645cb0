#!/bin/sh
# run.sh BUILD_DIR - the S3 front (`cairn serve --s3-listen`) with the real
# clients from Debian, on free ports of 127.0.0.1: aws-cli v2, boto3
# (boto3_suite.py: every operation and error), rclone and s3cmd, two users
# and anonymous callers, awkward keys, and dedup between the S3 front and
# the native API. Ends with "N passed, N failed"; exits 77 (skipped) when
# a client is missing (`scripts/deps.sh test` installs them).
set -u
BUILD=$(cd "$1" && pwd)
CAIRN=$BUILD/cairn
HERE=$(cd "$(dirname "$0")" && pwd)
# Debian's clients, by path: a pip-installed aws or python3 may come first on PATH
AWS=/usr/bin/aws
PY=/usr/bin/python3
RCLONE=/usr/bin/rclone
S3CMD=/usr/bin/s3cmd
for b in "$AWS" "$PY" "$RCLONE" "$S3CMD"; do
	[ -x "$b" ] || { echo "skip: $b is not installed (scripts/deps.sh test)"; exit 77; }
done
command -v curl >/dev/null 2>&1 || { echo "skip: no curl"; exit 77; }
"$PY" -c 'import boto3' 2>/dev/null || { echo "skip: no boto3 for $PY"; exit 77; }

W=$(mktemp -d)
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
# nothing of the caller's environment reaches the clients: no profiles, CA
# bundles, proxies or endpoints of their own
for v in $(env | sed -n 's/^\(AWS_[A-Za-z0-9_]*\)=.*/\1/p; s/^\(RCLONE_[A-Za-z0-9_]*\)=.*/\1/p;
		       s/^\(S3CMD_[A-Za-z0-9_]*\)=.*/\1/p; s/^\([A-Za-z_]*_[Pp][Rr][Oo][Xx][Yy]\)=.*/\1/p'); do
	unset "$v"
done
unset XDG_CONFIG_HOME CAIRN_ENDPOINT CAIRN_TOKEN PYTHONPATH
export HOME="$W/home" NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 TMPDIR="$W"
mkdir -p "$HOME" "$W/srv"
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; sed -n 1,5p "$W/err" 2>/dev/null; fi; }
contains() { if grep -q -- "$3" "$2"; then ok "$1"; else bad "$1: no '$3' in: $(head -c 600 "$2")"; fi; }
lacks() { if grep -q -- "$3" "$2"; then bad "$1: '$3' in: $(head -c 600 "$2")"; else ok "$1"; fi; }
same() { if cmp -s "$2" "$3"; then ok "$1"; else bad "$1: $2 and $3 differ"; fi; }
# run CMD...: its exit status; stdout in $W/out, stderr in $W/err
run() { "$@" >"$W/out" 2>"$W/err"; echo $?; }
# jstr KEY FILE: a string member of one-line JSON
jstr() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" "$2" | head -1; }
jnum() { sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p" "$2" | head -1; }
# pyj EXPR FILE: a Python expression over the JSON in FILE (as d), printed
pyj() { "$PY" -c 'import json, sys; d = json.load(open(sys.argv[2])); print(eval(sys.argv[1]))' "$1" "$2"; }

. "$HERE/../lib/serve.sh"
serve_start "$CAIRN" "$W/data" "$W/srv" --s3-listen 127.0.0.1:0 --s3-port-file "$W/srv/s3port" ||
	{ echo "FAIL server did not start"; cat "$W/srv/err"; echo "0 passed, 1 failed"; exit 1; }
PID=$SERVE_PID
i=0
while [ ! -s "$W/srv/s3port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -s "$W/srv/s3port" ] || { echo "FAIL no S3 port"; cat "$W/srv/err"; echo "0 passed, 1 failed"; exit 1; }
S3=http://127.0.0.1:$(cat "$W/srv/s3port")
ADMIN_TOKEN=$(cat "$W/data/admin-token")

# two users, each with an access key; alice also gets a token for the native API
for u in alice bob; do
	"$CAIRN" admin users create $u --data "$W/data" >/dev/null
	"$CAIRN" admin keys create --user $u --data "$W/data" --json >"$W/key-$u"
done
check key-json alice "$(jstr user "$W/key-alice")"
A_KEY=$(jstr access_key_id "$W/key-alice")
A_SECRET=$(jstr secret_access_key "$W/key-alice")
B_KEY=$(jstr access_key_id "$W/key-bob")
B_SECRET=$(jstr secret_access_key "$W/key-bob")
A_TOKEN=$("$CAIRN" admin tokens create --user alice --scope write --data "$W/data")

# ---- files to move around
S=$W/src
mkdir -p "$S/sub/deeper"
head -c 1000 /dev/urandom >"$S/small"
head -c 9437185 /dev/urandom >"$S/big"   # 9 MiB + 1: aws-cli's multipart (8 MiB parts)
head -c 12582912 /dev/urandom >"$S/b12"  # 12 MiB: 5 MiB parts for s3cmd and rclone
for i in 1 2 3; do head -c $((i * 3000)) /dev/urandom >"$S/sub/f$i"; done
printf 'deep\n' >"$S/sub/deeper/leaf"
printf 'odd\n' >"$S/sub/sp ace é&+%.txt"
: >"$S/empty"

# ============================================================================
# aws-cli v2
export AWS_ACCESS_KEY_ID="$A_KEY" AWS_SECRET_ACCESS_KEY="$A_SECRET" AWS_DEFAULT_REGION=us-east-1
export AWS_PAGER='' AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE="$W/aws-config" AWS_SHARED_CREDENTIALS_FILE="$W/aws-credentials"
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
aws() { "$AWS" --endpoint-url "$S3" "$@"; }
D=$W/down
mkdir -p "$D"

check aws-mb 0 "$(run aws s3 mb s3://awsb)"
contains aws-mb-out "$W/out" 'make_bucket: awsb'
check aws-mb-again 1 "$(run aws s3 mb s3://awsb)"
contains aws-mb-again-code "$W/err" 'BucketAlreadyOwnedByYou'
check aws-ls 0 "$(run aws s3 ls)"
contains aws-ls-bucket "$W/out" ' awsb$'
check aws-cp-small 0 "$(run aws s3 cp "$S/small" s3://awsb/small --no-progress)"
check aws-cp-big 0 "$(run aws s3 cp "$S/big" s3://awsb/big --no-progress)"
check aws-head-big 0 "$(run aws s3api head-object --bucket awsb --key big)"
contains aws-big-multipart "$W/out" '"ETag": "\\"[0-9a-f]\{32\}-2\\""'
contains aws-big-length "$W/out" '"ContentLength": 9437185'
check aws-cp-get-big 0 "$(run aws s3 cp s3://awsb/big "$D/big" --no-progress)"
same aws-big-roundtrip "$S/big" "$D/big"
check aws-cp-get-small 0 "$(run aws s3 cp s3://awsb/small "$D/small" --no-progress)"
same aws-small-roundtrip "$S/small" "$D/small"
check aws-cp-empty 0 "$(run aws s3 cp "$S/empty" s3://awsb/empty --no-progress)"
check aws-cp-get-empty 0 "$(run aws s3 cp s3://awsb/empty "$D/empty" --no-progress)"
same aws-empty-roundtrip "$S/empty" "$D/empty"
check aws-cp-meta 0 "$(run aws s3 cp "$S/small" s3://awsb/meta --metadata colour=blue,size=7 \
	--content-type text/x-cairn --no-progress)"
check aws-head-meta 0 "$(run aws s3api head-object --bucket awsb --key meta)"
contains aws-meta-colour "$W/out" '"colour": "blue"'
contains aws-meta-type "$W/out" '"ContentType": "text/x-cairn"'
# stdin and stdout
check aws-cp-stdin 0 "$(head -c 70000 "$S/big" | aws s3 cp - s3://awsb/stdin >"$W/out" 2>"$W/err"; echo $?)"
aws s3 cp s3://awsb/stdin - 2>"$W/err" >"$D/stdin"
head -c 70000 "$S/big" >"$W/stdin.want"
same aws-cp-stdout "$W/stdin.want" "$D/stdin"
# a copy on the server: above 8 MiB aws-cli copies in parts (UploadPartCopy with
# ranges, after HeadObject and GetObjectTagging of the source)
check aws-cp-s3-s3-big 0 "$(run aws s3 cp s3://awsb/big s3://awsb/big-copy --no-progress)"
aws s3 cp s3://awsb/big-copy "$D/big-copy" --no-progress >/dev/null 2>&1
same aws-cp-s3-s3-big-bytes "$S/big" "$D/big-copy"
check aws-cp-s3-s3-small 0 "$(run aws s3 cp s3://awsb/meta s3://awsb/meta-copy --no-progress)"
check aws-head-meta-copy 0 "$(run aws s3api head-object --bucket awsb --key meta-copy)"
contains aws-meta-copy-kept "$W/out" '"colour": "blue"'

# get-object with a range, head-object
check aws-range 0 "$(run aws s3api get-object --bucket awsb --key big --range bytes=100-109 "$D/range")"
contains aws-range-header "$W/out" '"ContentRange": "bytes 100-109/9437185"'
dd if="$S/big" bs=1 skip=100 count=10 2>/dev/null >"$W/range.want"
same aws-range-bytes "$W/range.want" "$D/range"
check aws-range-suffix 0 "$(run aws s3api get-object --bucket awsb --key small --range bytes=-10 "$D/suffix")"
tail -c 10 "$S/small" >"$W/suffix.want"
same aws-range-suffix-bytes "$W/suffix.want" "$D/suffix"
check aws-range-invalid 254 "$(run aws s3api get-object --bucket awsb --key small --range bytes=5000- "$D/x")"
contains aws-range-invalid-code "$W/err" 'InvalidRange'
check aws-head-missing 254 "$(run aws s3api head-object --bucket awsb --key nope)"
contains aws-head-missing-404 "$W/err" '404'

# sync up, again (nothing to do), changed, with --delete, and down
check aws-sync 0 "$(run aws s3 sync "$S/sub" s3://awsb/sync --no-progress)"
check aws-sync-count 5 "$(grep -c '^upload:' "$W/out")"
check aws-sync-again 0 "$(run aws s3 sync "$S/sub" s3://awsb/sync --no-progress)"
check aws-sync-again-nothing "" "$(cat "$W/out")"
head -c 500 /dev/urandom >>"$S/sub/f1"
rm "$S/sub/f2"
check aws-sync-delete 0 "$(run aws s3 sync "$S/sub" s3://awsb/sync --delete --no-progress)"
contains aws-sync-delete-upload "$W/out" '^upload: .*f1 to s3://awsb/sync/f1'
contains aws-sync-delete-delete "$W/out" '^delete: s3://awsb/sync/f2'
check aws-ls-recursive 0 "$(run aws s3 ls s3://awsb/sync/ --recursive)"
check aws-ls-recursive-count 4 "$(wc -l <"$W/out" | tr -d ' ')"
contains aws-ls-odd-name "$W/out" 'sync/sp ace é&+%.txt$'
check aws-ls-folder 0 "$(run aws s3 ls s3://awsb/sync/)"
contains aws-ls-folder-pre "$W/out" 'PRE deeper/'
check aws-sync-down 0 "$(run aws s3 sync s3://awsb/sync "$D/sync" --no-progress)"
if diff -r "$S/sub" "$D/sync" >/dev/null; then ok aws-sync-down-same; else bad aws-sync-down-same; fi

# mv: up, on the server, down
cp "$S/small" "$W/tomove"
check aws-mv-up 0 "$(run aws s3 mv "$W/tomove" s3://awsb/mv/a --no-progress)"
[ ! -e "$W/tomove" ] && ok aws-mv-up-gone || bad aws-mv-up-gone
check aws-mv-server 0 "$(run aws s3 mv s3://awsb/mv/a s3://awsb/mv/b --no-progress)"
check aws-mv-down 0 "$(run aws s3 mv s3://awsb/mv/b "$D/moved" --no-progress)"
same aws-mv-bytes "$S/small" "$D/moved"
check aws-mv-left 1 "$(run aws s3 ls s3://awsb/mv/ --recursive)"
check aws-mv-left-none "" "$(cat "$W/out")"

# list-objects-v2 paginated by aws-cli: --page-size requests, --max-items output
for i in 1 2 3 4 5; do aws s3 cp "$S/sub/f1" s3://awsb/page/k$i --no-progress >/dev/null 2>&1; done
check aws-page 0 "$(run aws s3api list-objects-v2 --bucket awsb --prefix page/ --max-items 2 --page-size 1 --output json)"
check aws-page-keys "page/k1 page/k2" "$(pyj '" ".join(o["Key"] for o in d["Contents"])' "$W/out")"
TOKEN=$(pyj 'd["NextToken"]' "$W/out")
check aws-page-next 0 "$(run aws s3api list-objects-v2 --bucket awsb --prefix page/ --max-items 2 --page-size 1 --starting-token "$TOKEN" --output json)"
check aws-page-next-keys "page/k3 page/k4" "$(pyj '" ".join(o["Key"] for o in d["Contents"])' "$W/out")"
check aws-page-all 0 "$(run aws s3api list-objects-v2 --bucket awsb --prefix page/ --page-size 2 --query 'length(Contents)')"
check aws-page-all-count 5 "$(cat "$W/out")"
check aws-list-v1 0 "$(run aws s3api list-objects --bucket awsb --prefix page/ --page-size 2 --query 'length(Contents)')"
check aws-list-v1-count 5 "$(cat "$W/out")"

# rm --recursive
check aws-rm-recursive 0 "$(run aws s3 rm s3://awsb/page --recursive)"
check aws-rm-recursive-count 5 "$(grep -c '^delete:' "$W/out")"
check aws-rm-left 1 "$(run aws s3 ls s3://awsb/page/)"
check aws-rm-left-none "" "$(cat "$W/out")"

# presign (SigV4 from aws-cli), fetched with curl; a tampered one refused
check aws-presign 0 "$(run aws s3 presign s3://awsb/small --expires-in 300)"
URL=$(cat "$W/out")
case $URL in *X-Amz-Signature=*) ok aws-presign-v4 ;; *) bad "aws-presign-v4: $URL" ;; esac
check aws-presign-curl 200 "$(curl -s -o "$D/presigned" -w '%{http_code}' "$URL")"
same aws-presign-bytes "$S/small" "$D/presigned"
check aws-presign-tampered 403 "$(curl -s -o "$W/out" -w '%{http_code}' "$(echo "$URL" | sed 's/X-Amz-Expires=300/X-Amz-Expires=301/')")"
contains aws-presign-tampered-code "$W/out" 'SignatureDoesNotMatch'
check aws-presign-anon-bare 403 "$(curl -s -o /dev/null -w '%{http_code}' "$S3/awsb/small")"

# the other user and anonymous callers
check aws-create-public 0 "$(run aws s3api create-bucket --bucket awspub --create-bucket-configuration LocationConstraint=eu-west-1)"
"$CAIRN" buckets settings alice/awspub --public --endpoint "$SERVE_URL" --token "$ADMIN_TOKEN" >/dev/null 2>&1
aws s3 cp "$S/small" s3://awspub/shared --no-progress >/dev/null 2>&1
check aws-bob-public 0 "$(AWS_ACCESS_KEY_ID=$B_KEY AWS_SECRET_ACCESS_KEY=$B_SECRET run aws s3 cp s3://alice--awspub/shared "$D/shared" --no-progress)"
same aws-bob-public-bytes "$S/small" "$D/shared"
check aws-bob-private 1 "$(AWS_ACCESS_KEY_ID=$B_KEY AWS_SECRET_ACCESS_KEY=$B_SECRET run aws s3 cp s3://alice--awsb/small "$D/x" --no-progress)"
contains aws-bob-private-denied "$W/err" 'Forbidden\|AccessDenied'
check aws-bob-write-public 1 "$(AWS_ACCESS_KEY_ID=$B_KEY AWS_SECRET_ACCESS_KEY=$B_SECRET run aws s3 cp "$S/small" s3://alice--awspub/x --no-progress)"
contains aws-bob-write-denied "$W/err" 'AccessDenied'
check aws-bob-ls 0 "$(AWS_ACCESS_KEY_ID=$B_KEY AWS_SECRET_ACCESS_KEY=$B_SECRET run aws s3 ls)"
lacks aws-bob-ls-own-only "$W/out" 'awsb'
check aws-anon-public 0 "$(run aws s3 cp s3://alice--awspub/shared "$D/anon" --no-sign-request --no-progress)"
same aws-anon-public-bytes "$S/small" "$D/anon"
check aws-anon-ls 0 "$(run aws s3 ls s3://alice--awspub/ --no-sign-request)"
contains aws-anon-ls-key "$W/out" ' shared$'
check aws-anon-private 1 "$(run aws s3 cp s3://alice--awsb/small "$D/x" --no-sign-request --no-progress)"
check aws-anon-curl-public 200 "$(curl -s -o /dev/null -w '%{http_code}' "$S3/alice--awspub/shared")"
check aws-wrong-secret 254 "$(AWS_SECRET_ACCESS_KEY=wrong run aws s3api list-objects-v2 --bucket awsb)"
contains aws-wrong-secret-code "$W/err" 'SignatureDoesNotMatch'
check aws-unknown-key 254 "$(AWS_ACCESS_KEY_ID=AKIANOTAKEY run aws s3api list-objects-v2 --bucket awsb)"
contains aws-unknown-key-code "$W/err" 'InvalidAccessKeyId'

# ============================================================================
# boto3: every operation and error, in Python
check boto3 0 "$(S3_URL=$S3 NATIVE_URL=$SERVE_URL ADMIN_TOKEN=$ADMIN_TOKEN \
	A_USER=alice A_KEY=$A_KEY A_SECRET=$A_SECRET B_USER=bob B_KEY=$B_KEY B_SECRET=$B_SECRET \
	AWS_ACCESS_KEY_ID='' AWS_SECRET_ACCESS_KEY='' run "$PY" "$HERE/boto3_suite.py")"
grep -v '^ok ' "$W/out" | head -40
sed -n 1,20p "$W/err"
bpassed=$(grep -c '^ok ' "$W/out")
bfailed=$(grep -c '^FAIL ' "$W/out")
passed=$((passed + bpassed))
failed=$((failed + bfailed))
echo "boto3: $bpassed passed, $bfailed failed"

# ============================================================================
# rclone, provider Other, path style, configured from the environment
export RCLONE_CONFIG="$W/rclone.conf"
: >"$RCLONE_CONFIG"
export RCLONE_CONFIG_CS_TYPE=s3 RCLONE_CONFIG_CS_PROVIDER=Other RCLONE_CONFIG_CS_ENV_AUTH=false
export RCLONE_CONFIG_CS_ACCESS_KEY_ID="$A_KEY" RCLONE_CONFIG_CS_SECRET_ACCESS_KEY="$A_SECRET"
export RCLONE_CONFIG_CS_ENDPOINT="$S3" RCLONE_CONFIG_CS_FORCE_PATH_STYLE=true RCLONE_CONFIG_CS_REGION=us-east-1
# multipart above 5 MiB, so rclone's md5 comes from its own metadata for b12
rc() { "$RCLONE" --s3-upload-cutoff 5M --s3-chunk-size 5M --retries 1 --low-level-retries 1 "$@"; }
RS=$W/rsrc
mkdir -p "$RS/dir"
cp "$S/small" "$S/b12" "$RS/"
cp "$S/sub/f1" "$S/sub/sp ace é&+%.txt" "$RS/dir/"

check rclone-mkdir 0 "$(run rc mkdir cs:rcb)"
check rclone-copy 0 "$(run rc copy "$RS" cs:rcb/c)"
check rclone-lsf 0 "$(run rc lsf -R --files-only cs:rcb/c)"
check rclone-lsf-list "b12
dir/f1
dir/sp ace é&+%.txt
small" "$(sort "$W/out")"
check rclone-check 0 "$(run rc check "$RS" cs:rcb/c)"
contains rclone-check-none "$W/err" '0 differences found'
contains rclone-check-matching "$W/err" '4 matching files'
lacks rclone-check-no-hash "$W/err" 'hash'
check rclone-md5 0 "$(run rc md5sum cs:rcb/c)"
check rclone-md5-b12 "$(md5sum <"$RS/b12" | cut -d' ' -f1)" "$(sed -n 's/^\([0-9a-f]*\)  b12$/\1/p' "$W/out")"
check rclone-md5-small "$(md5sum <"$RS/small" | cut -d' ' -f1)" "$(sed -n 's/^\([0-9a-f]*\)  small$/\1/p' "$W/out")"
check rclone-cat 0 "$(run rc cat "cs:rcb/c/dir/sp ace é&+%.txt")"
check rclone-cat-bytes "odd" "$(cat "$W/out")"
check rclone-copy-down 0 "$(run rc copy cs:rcb/c "$D/rc")"
if diff -r "$RS" "$D/rc" >/dev/null; then ok rclone-copy-down-same; else bad rclone-copy-down-same; fi
rm "$RS/small"
printf 'new\n' >"$RS/dir/new"
check rclone-sync 0 "$(run rc sync "$RS" cs:rcb/c)"
check rclone-sync-list "b12
dir/f1
dir/new
dir/sp ace é&+%.txt" "$(rc lsf -R --files-only cs:rcb/c | sort)"
check rclone-check-after-sync 0 "$(run rc check "$RS" cs:rcb/c)"
check rclone-server-copy 0 "$(run rc copyto cs:rcb/c/b12 cs:rcb/c2/b12-copy)"
check rclone-server-move 0 "$(run rc moveto cs:rcb/c2/b12-copy cs:rcb/c2/b12-moved)"
check rclone-server-move-list "b12-moved" "$(rc lsf cs:rcb/c2)"
check rclone-server-copy-md5 "$(md5sum <"$RS/b12" | cut -d' ' -f1)" "$(rc md5sum cs:rcb/c2 | cut -d' ' -f1)"
check rclone-delete 0 "$(run rc delete cs:rcb/c/dir)"
check rclone-delete-list "b12" "$(rc lsf -R --files-only cs:rcb/c)"
check rclone-purge 0 "$(run rc purge cs:rcb)"
check rclone-purge-gone 254 "$(run aws s3api head-bucket --bucket rcb)"

# ============================================================================
# s3cmd, path style (host_bucket without %(bucket)s), SigV4 and --signature-v2
P=$(cat "$W/srv/s3port")
cat >"$W/s3cfg" <<EOF
[default]
access_key = $A_KEY
secret_key = $A_SECRET
host_base = 127.0.0.1:$P
host_bucket = 127.0.0.1:$P
use_https = False
signature_v2 = False
bucket_location = us-east-1
check_ssl_certificate = False
progress_meter = False
EOF
s3c() { "$S3CMD" -c "$W/s3cfg" "$@"; }
check s3cmd-mb 0 "$(run s3c mb s3://s3cb)"
check s3cmd-put 0 "$(run s3c put "$S/small" s3://s3cb/small)"
check s3cmd-get 0 "$(run s3c get --force s3://s3cb/small "$D/s3c-small")"
same s3cmd-get-bytes "$S/small" "$D/s3c-small"
check s3cmd-multipart 0 "$(run s3c put --multipart-chunk-size-mb=5 "$S/b12" s3://s3cb/b12)"
check s3cmd-multipart-etag 0 "$(run aws s3api head-object --bucket s3cb --key b12)"
contains s3cmd-multipart-parts "$W/out" '-3\\""'
check s3cmd-get-multipart 0 "$(run s3c get --force s3://s3cb/b12 "$D/s3c-b12")"
same s3cmd-multipart-bytes "$S/b12" "$D/s3c-b12"
check s3cmd-info 0 "$(run s3c info s3://s3cb/small)"
contains s3cmd-info-md5 "$W/out" "MD5 sum: *$(md5sum <"$S/small" | cut -d' ' -f1)"
check s3cmd-sync 0 "$(run s3c sync "$S/sub/" s3://s3cb/sync/)"
check s3cmd-ls 0 "$(run s3c ls -r s3://s3cb/sync/)"
check s3cmd-ls-count 4 "$(wc -l <"$W/out" | tr -d ' ')"
contains s3cmd-ls-odd "$W/out" 's3://s3cb/sync/sp ace é&+%.txt$'
check s3cmd-sync-again 0 "$(run s3c sync "$S/sub/" s3://s3cb/sync/)"
lacks s3cmd-sync-again-nothing "$W/out" '^upload:'
check s3cmd-sync-down 0 "$(run s3c sync s3://s3cb/sync/ "$D/s3c-sync/")"
if diff -r "$S/sub" "$D/s3c-sync" >/dev/null; then ok s3cmd-sync-down-same; else bad s3cmd-sync-down-same; fi
check s3cmd-signurl 0 "$(run s3c signurl s3://s3cb/small +300)"
URL=$(cat "$W/out")
case $URL in "$S3/s3cb/small?"*Signature=*) ok s3cmd-signurl-path-style ;; *) bad "s3cmd-signurl-path-style: $URL" ;; esac
check s3cmd-signurl-curl 200 "$(curl -s -o "$D/s3c-signed" -w '%{http_code}' "$URL")"
same s3cmd-signurl-bytes "$S/small" "$D/s3c-signed"
check s3cmd-v2-put 0 "$(run s3c --signature-v2 put "$S/sub/f1" "s3://s3cb/v2/sp ace é")"
check s3cmd-v2-get 0 "$(run s3c --signature-v2 get --force "s3://s3cb/v2/sp ace é" "$D/s3c-v2")"
same s3cmd-v2-bytes "$S/sub/f1" "$D/s3c-v2"
check s3cmd-signurl-odd 0 "$(run s3c signurl "s3://s3cb/v2/sp ace é" +300)"
check s3cmd-signurl-odd-curl 200 "$(curl -s -o "$D/s3c-signed-odd" -w '%{http_code}' "$(cat "$W/out")")"
same s3cmd-signurl-odd-bytes "$S/sub/f1" "$D/s3c-signed-odd"
check s3cmd-v2-ls 0 "$(run s3c --signature-v2 ls s3://s3cb/v2/)"
contains s3cmd-v2-ls-key "$W/out" 's3://s3cb/v2/sp ace é$'
check s3cmd-cp 0 "$(run s3c cp s3://s3cb/small s3://s3cb/small-copy)"
check s3cmd-mv 0 "$(run s3c mv s3://s3cb/small-copy s3://s3cb/small-moved)"
check s3cmd-mv-bytes 0 "$(run s3c get --force s3://s3cb/small-moved "$D/s3c-moved")"
same s3cmd-mv-same "$S/small" "$D/s3c-moved"
check s3cmd-info-bucket 0 "$(run s3c info s3://s3cb)"
# setacl on a bucket is its public/private setting
check s3cmd-anon-private 403 "$(curl -s -o /dev/null -w '%{http_code}' "$S3/alice--s3cb/small")"
check s3cmd-setacl-public 0 "$(run s3c setacl --acl-public s3://s3cb)"
check s3cmd-anon-public 200 "$(curl -s -o /dev/null -w '%{http_code}' "$S3/alice--s3cb/small")"
check s3cmd-setacl-private 0 "$(run s3c setacl --acl-private s3://s3cb)"
check s3cmd-anon-private-again 403 "$(curl -s -o /dev/null -w '%{http_code}' "$S3/alice--s3cb/small")"
check s3cmd-del-recursive 0 "$(run s3c del --recursive --force s3://s3cb/)"
check s3cmd-del-left 0 "$(run s3c ls -r s3://s3cb/)"
check s3cmd-del-left-none "" "$(cat "$W/out")"
check s3cmd-rb 0 "$(run s3c rb s3://s3cb)"

# ============================================================================
# awkward keys, through each client (a bucket each: the keys are exactly these)
KEYS=$W/keys
LONG=long/$(head -c 1019 /dev/zero | tr '\0' 'x')  # 1024 bytes
{
	printf '%s\n' 'sp ace' 'a&b+c-d"e/f' 'é' '100%' '%41%2F' 'uni/日本語/ü.txt' "q'uote" \
		'a?b#c' '~t=i;l:d,e@$!*()[]' 'emoji 🦆' 'tail space ' "$LONG"
} >"$KEYS"
for b in kaws krclone ks3cmd; do aws s3 mb s3://$b >/dev/null 2>&1; done
n=0
while IFS= read -r k; do
	n=$((n + 1))
	printf 'key %d\n' $n >"$W/kb"
	label=$(printf '%s' "$k" | cut -c1-24)
	if aws s3 cp "$W/kb" "s3://kaws/$k" --no-progress >/dev/null 2>"$W/err" &&
		aws s3 cp "s3://kaws/$k" "$W/kg" --no-progress >/dev/null 2>>"$W/err" && cmp -s "$W/kb" "$W/kg"; then
		ok "aws-key $label"
	else
		bad "aws-key $label: $(head -c 300 "$W/err")"
	fi
	if rc copyto "$W/kb" "cs:krclone/$k" >/dev/null 2>"$W/err" &&
		[ "$(rc cat "cs:krclone/$k" 2>>"$W/err")" = "key $n" ]; then
		ok "rclone-key $label"
	else
		bad "rclone-key $label: $(head -c 300 "$W/err")"
	fi
	if s3c put "$W/kb" "s3://ks3cmd/$k" >/dev/null 2>"$W/err" &&
		s3c get --force "s3://ks3cmd/$k" "$W/kg" >/dev/null 2>>"$W/err" && cmp -s "$W/kb" "$W/kg"; then
		ok "s3cmd-key $label"
	else
		bad "s3cmd-key $label: $(head -c 300 "$W/err")"
	fi
done <"$KEYS"
# every key listed back exactly (through ListObjectsV2, and rclone's own listing)
LC_ALL=C sort "$KEYS" >"$W/keys.want"
for b in kaws krclone ks3cmd; do
	aws s3api list-objects-v2 --bucket $b --output json >"$W/keys.json" 2>"$W/err"
	pyj '"\n".join(o["Key"] for o in d["Contents"])' "$W/keys.json" | LC_ALL=C sort >"$W/keys.got"
	if cmp -s "$W/keys.want" "$W/keys.got"; then ok "keys-listed $b"; else bad "keys-listed $b: $(diff "$W/keys.want" "$W/keys.got" | cut -c1-80 | head -5)"; fi
done
rc lsf -R --files-only cs:krclone 2>/dev/null | LC_ALL=C sort >"$W/keys.got"
if cmp -s "$W/keys.want" "$W/keys.got"; then ok keys-rclone-lsf; else bad "keys-rclone-lsf: $(diff "$W/keys.want" "$W/keys.got" | cut -c1-80 | head -5)"; fi
check keys-1025 1 "$(run aws s3 cp "$W/kb" "s3://kaws/${LONG}x" --no-progress)"
contains keys-1025-code "$W/err" 'KeyTooLongError'
check keys-aws-rm 0 "$(run aws s3 rm s3://kaws --recursive)"
check keys-aws-rm-count "$n" "$(grep -c '^delete:' "$W/out")"
check keys-rclone-purge 0 "$(run rc purge cs:krclone)"
check keys-s3cmd-del 0 "$(run s3c del --recursive --force s3://ks3cmd)"
for b in kaws ks3cmd; do
	check "keys-empty $b" 0 "$(run aws s3api list-objects-v2 --bucket $b --no-paginate --query KeyCount)"
	check "keys-empty-count $b" 0 "$(cat "$W/out")"
done

# ============================================================================
# the same bytes through both fronts are stored once
native() { CAIRN_ENDPOINT=$SERVE_URL CAIRN_TOKEN=$A_TOKEN "$CAIRN" "$@"; }
stored() { "$CAIRN" admin stats --data "$W/data" --json | sed -n 's/.*"stored_bytes": *\([0-9]*\).*/\1/p'; }
head -c 3000000 /dev/urandom >"$W/d1"
head -c 3000000 /dev/urandom >"$W/d2"
aws s3 mb s3://dedup >/dev/null 2>&1
check dedup-s3-first 0 "$(run aws s3 cp "$W/d1" s3://dedup/via-s3 --no-progress)"
before=$(stored)
check dedup-native-second 0 "$(run native buckets cp "$W/d1" cairn://buckets/alice/dedup/via-native --json)"
check dedup-native-nothing-new 0 "$(jnum new_bytes "$W/out")"
check dedup-native-store-same "$before" "$(stored)"
check dedup-native-first 0 "$(run native buckets cp "$W/d2" cairn://buckets/alice/dedup/native-first --json)"
HASH2=$(jstr hash "$W/out")
before=$(stored)
check dedup-s3-second 0 "$(run aws s3 cp "$W/d2" s3://dedup/s3-second --no-progress)"
check dedup-s3-store-same "$before" "$(stored)"
# a multipart object hashes as the whole content: dedup holds across part boundaries
check dedup-s3-multipart 0 "$(run aws s3 cp "$S/big" s3://dedup/big --no-progress)"
before=$(stored)
check dedup-native-after-mpu 0 "$(run native buckets cp "$S/big" cairn://buckets/alice/dedup/big-native --json)"
check dedup-native-after-mpu-new 0 "$(jnum new_bytes "$W/out")"
check dedup-mpu-hash "$("$CAIRN" hash "$S/big" | cut -d' ' -f1)" "$(jstr hash "$W/out")"
check dedup-mpu-store-same "$before" "$(stored)"
# ETags: an S3 write shows its MD5, a native one its xet hash
check dedup-etag-native 0 "$(run aws s3api head-object --bucket dedup --key native-first)"
contains dedup-etag-native-hash "$W/out" "\"ETag\": \"\\\\\"$HASH2\\\\\"\""
check dedup-etag-s3 0 "$(run aws s3api head-object --bucket dedup --key s3-second)"
contains dedup-etag-s3-md5 "$W/out" "\"ETag\": \"\\\\\"$(md5sum <"$W/d2" | cut -d' ' -f1)\\\\\"\""
check dedup-native-reads-s3 0 "$(run native buckets cp cairn://buckets/alice/dedup/via-s3 "$D/via-s3")"
same dedup-native-reads-s3-bytes "$W/d1" "$D/via-s3"

# the server is still well, and stops cleanly (a sanitizer build reports here)
check server-alive 0 "$(kill -0 "$PID" 2>/dev/null; echo $?)"
kill "$PID" 2>/dev/null
wait "$PID" 2>/dev/null
PID=
if grep -q 'Sanitizer\|runtime error' "$W/srv/err"; then
	bad "sanitizer: $(grep -m3 'Sanitizer\|runtime error' "$W/srv/err")"
else
	ok server-clean
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
