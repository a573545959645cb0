#!/bin/sh
# s3.sh BUILD_DIR - the S3 front (`cairn serve --s3-listen`) over loopback
# with the real clients, beside curl on the native port moving the same
# kind of bytes to and from the same server:
#  (a) PUT and GET of one S3_MIB (1024) MiB object with aws-cli v2
#      (`aws s3 cp`, its default 8 MiB parts, 10 at once) and boto3
#      (upload_file / download_file, their defaults), and curl with a
#      presigned URL on the S3 port (the front without a client's cost);
#      each as a time ratio to curl PUT/GET on the native port. Every
#      object is different random bytes (no dedup between them) and every
#      download is checked with cmp.
#  (b) 4 KiB GETs per second, S3_SECS (10) seconds, S3_PROCS (2) client
#      processes each on one keep-alive connection: boto3 get_object (a
#      signature per request), plain GETs of presigned URLs, and the
#      native port's GET with a token, for the same 100 objects; and the
#      server's CPU time per GET (from /proc), steadier than the rates
#      when clients and server share few cores.
# Writes bench/out/s3.txt.
set -eu
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
MIB=${S3_MIB:-1024}
SECS=${S3_SECS:-10}
PROCS=${S3_PROCS:-2}
OUT=$SRC/bench/out
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cairn-s3-XXXXXX")
PID=""
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
AWS=/usr/bin/aws
PY=/usr/bin/python3
for b in "$AWS" "$PY"; do
	[ -x "$b" ] || { echo "s3.sh: $b is not installed (scripts/deps.sh test)"; exit 1; }
done
for v in $(env | sed -n 's/^\(AWS_[A-Za-z0-9_]*\)=.*/\1/p; s/^\([A-Za-z_]*_[Pp][Rr][Oo][Xx][Yy]\)=.*/\1/p'); do
	unset "$v"
done
export HOME="$WORK" NO_PROXY=127.0.0.1

. "$SRC/tests/lib/serve.sh"
serve_start "$BUILD/cairn" "$WORK/data" "$WORK" --s3-listen 127.0.0.1:0 --s3-port-file "$WORK/s3port" ||
	{ cat "$WORK/err"; exit 1; }
PID=$SERVE_PID
i=0
while [ ! -s "$WORK/s3port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -s "$WORK/s3port" ] || { echo "s3.sh: the S3 front did not start"; cat "$WORK/err"; exit 1; }
S3=http://127.0.0.1:$(cat "$WORK/s3port")
T=$(cat "$WORK/data/admin-token")
"$BUILD/cairn" admin keys create --data "$WORK/data" --json >"$WORK/key"
jstr() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" "$2"; }
AWS_ACCESS_KEY_ID=$(jstr access_key_id "$WORK/key")
AWS_SECRET_ACCESS_KEY=$(jstr secret_access_key "$WORK/key")
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
export AWS_DEFAULT_REGION=us-east-1 AWS_PAGER='' AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE="$WORK/aws-config" AWS_SHARED_CREDENTIALS_FILE="$WORK/aws-credentials"
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
aws() { "$AWS" --endpoint-url "$S3" "$@"; }
aws s3 mb s3://bench >/dev/null

BYTES=$((MIB * 1048576))
for f in aws boto3 presigned native; do head -c "$BYTES" /dev/urandom >"$WORK/$f.bin"; done
now() { date +%s.%N; }
rate() { awk "BEGIN{printf \"%.2f\", $BYTES / ($2 - $1) / 1e9}"; }
ratio() { awk "BEGIN{printf \"%.2f\", ($2 - $1) / ($4 - $3)}"; }
# presign METHOD KEY: a SigV4 URL for the admin's bucket
presign() {
	$PY - "$S3" "$1" "$2" <<'EOF'
import sys, boto3
from botocore.config import Config
c = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                 config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
print(c.generate_presigned_url(sys.argv[2], Params={"Bucket": "bench", "Key": sys.argv[3]},
                               ExpiresIn=3600))
EOF
}
boto3_transfer() {
	$PY - "$S3" "$1" "$2" "$3" <<'EOF'
import sys, boto3
from botocore.config import Config
c = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                 config=Config(s3={"addressing_style": "path"}))
if sys.argv[2] == "up":
    c.upload_file(sys.argv[3], "bench", sys.argv[4])
else:
    c.download_file("bench", sys.argv[4], sys.argv[3])
EOF
}

# ---- (a) one big object each way
PUT_URL=$(presign put_object presigned.bin)
GET_URL=$(presign get_object presigned.bin)
# each transfer starts with no dirty pages left by the one before
sync
a1=$(now); aws s3 cp --no-progress "$WORK/aws.bin" s3://bench/aws.bin >/dev/null; a2=$(now)
sync
b1=$(now); boto3_transfer up "$WORK/boto3.bin" boto3.bin; b2=$(now)
sync
p1=$(now); curl -sS -f -o /dev/null -T "$WORK/presigned.bin" "$PUT_URL"; p2=$(now)
sync
n1=$(now); curl -sS -f -o /dev/null -T "$WORK/native.bin" -H "Authorization: Bearer $T" \
	"$SERVE_URL/buckets/admin/bench/upload/native.bin"; n2=$(now)
rm -f "$WORK"/*.out
sync
A1=$(now); aws s3 cp --no-progress s3://bench/aws.bin "$WORK/aws.out" >/dev/null; A2=$(now)
sync
B1=$(now); boto3_transfer down "$WORK/boto3.out" boto3.bin; B2=$(now)
sync
P1=$(now); curl -sS -f -o "$WORK/presigned.out" "$GET_URL"; P2=$(now)
sync
N1=$(now); curl -sS -f -o "$WORK/native.out" -H "Authorization: Bearer $T" \
	"$SERVE_URL/buckets/admin/bench/resolve/native.bin"; N2=$(now)
for f in aws boto3 presigned native; do cmp "$WORK/$f.bin" "$WORK/$f.out"; done

# ---- (b) small GETs per second
rm -f "$WORK"/*.bin "$WORK"/*.out
sync
$PY - "$S3" "$SERVE_URL" "$T" "$SECS" "$PROCS" "$PID" >"$WORK/small.txt" <<'EOF'
import http.client, multiprocessing, os, sys, time, urllib.parse
import boto3
from botocore.config import Config
s3_url, native_url, token, secs, procs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
server_pid = sys.argv[6]
N = 100
cfg = Config(s3={"addressing_style": "path"}, max_pool_connections=1)

def client():
    return boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", config=cfg)

def boto3_loop(q):
    c, n, t0 = client(), 0, time.monotonic()
    while time.monotonic() - t0 < secs:
        assert len(c.get_object(Bucket="bench", Key="small/%d" % (n % N))["Body"].read()) == 4096
        n += 1
    q.put(n)

def url_loop(q, base, paths, headers):
    u = urllib.parse.urlsplit(base)
    conn, n, t0 = http.client.HTTPConnection(u.hostname, u.port), 0, time.monotonic()
    while time.monotonic() - t0 < secs:
        conn.request("GET", paths[n % N], headers=headers)
        r = conn.getresponse()
        assert r.status == 200 and len(r.read()) == 4096
        n += 1
    q.put(n)

def server_cpu():
    f = open("/proc/%s/stat" % server_pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

def rate(target, *args):
    """GETs per second, and the server's CPU time per GET in microseconds."""
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=target, args=(q,) + args) for _ in range(procs)]
    c0 = server_cpu()
    for p in ps:
        p.start()
    total = sum(q.get() for _ in ps)
    for p in ps:
        p.join()
    return "%.0f %.0f" % (total / secs, (server_cpu() - c0) / total * 1e6)

c = client()
for i in range(N):
    c.put_object(Bucket="bench", Key="small/%d" % i, Body=os.urandom(4096))
presigned = []
for i in range(N):
    u = urllib.parse.urlsplit(c.generate_presigned_url(
        "get_object", Params={"Bucket": "bench", "Key": "small/%d" % i}, ExpiresIn=3600))
    presigned.append(u.path + "?" + u.query)
# the same bytes through the native API, to read them there too
for i in range(N):
    body = c.get_object(Bucket="bench", Key="small/%d" % i)["Body"].read()
    u = urllib.parse.urlsplit(native_url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    conn.request("PUT", "/buckets/admin/bench/upload/native-small/%d" % i, body=body,
                 headers={"Authorization": "Bearer " + token})
    assert conn.getresponse().status == 200
native = ["/buckets/admin/bench/resolve/native-small/%d" % i for i in range(N)]
print("boto3", rate(boto3_loop))
print("presigned", rate(url_loop, s3_url, presigned, {}))
print("native", rate(url_loop, native_url, native, {"Authorization": "Bearer " + token}))
EOF
small() { sed -n "s/^$1 \([0-9]*\) .*/\1/p" "$WORK/small.txt"; }
small_cpu() { sed -n "s/^$1 [0-9]* \([0-9]*\)/\1/p" "$WORK/small.txt"; }

{
echo "S3 front over loopback, $MIB MiB of random bytes per object, $(date -u +%Y-%m-%d), $(nproc) cores"
echo "PUT: aws s3 cp $(rate "$a1" "$a2") GB/s, boto3 upload_file $(rate "$b1" "$b2") GB/s, curl presigned $(rate "$p1" "$p2") GB/s; native curl -T $(rate "$n1" "$n2") GB/s"
echo "     time ratio to native curl: aws $(ratio "$a1" "$a2" "$n1" "$n2"), boto3 $(ratio "$b1" "$b2" "$n1" "$n2"), curl presigned $(ratio "$p1" "$p2" "$n1" "$n2")"
echo "GET: aws s3 cp $(rate "$A1" "$A2") GB/s, boto3 download_file $(rate "$B1" "$B2") GB/s, curl presigned $(rate "$P1" "$P2") GB/s; native curl $(rate "$N1" "$N2") GB/s"
echo "     time ratio to native curl: aws $(ratio "$A1" "$A2" "$N1" "$N2"), boto3 $(ratio "$B1" "$B2" "$N1" "$N2"), curl presigned $(ratio "$P1" "$P2" "$N1" "$N2")"
echo "4 KiB GETs/s ($PROCS client processes, keep-alive, ${SECS} s each): boto3 get_object $(small boto3), presigned URLs $(small presigned), native GET $(small native)"
echo "     server CPU per GET: boto3 $(small_cpu boto3) us, presigned $(small_cpu presigned) us, native $(small_cpu native) us"
echo "(every download checked with cmp; the server checks every chunk it reads)"
} >"$OUT/s3.txt"
cat "$OUT/s3.txt"
