#!/bin/sh
# run.sh BUILD_DIR - the client library and `cairn login / whoami / buckets`
# end to end: a real `cairn serve` on a free port of 127.0.0.1 over a
# scratch data directory, HOME pointed at a scratch directory, and the CLI
# driven as a user would. The chunk protocol: a file re-uploaded with 10%
# changed must send under 30% of its size, downloads rebuilt from xorb
# ranges must match byte for byte (repeated ranges, several xorbs, empty
# files), bucket-to-bucket copies, refusals, and a xorb damaged on the
# server's disk must fail the download and leave no file. Ends with killing
# the server (SIGKILL, by its PID) in the middle of a 200 MB upload and
# checking the object is absent or whole after a restart. Ends with
# "N passed, N failed".
set -u
BUILD=$(cd "$1" && pwd)
CAIRN=$BUILD/cairn
W=$(mktemp -d)
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
DATA=$W/data
export HOME=$W/home
unset XDG_CONFIG_HOME CAIRN_ENDPOINT CAIRN_TOKEN
mkdir -p "$HOME"
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
# check NAME EXPECTED ACTUAL
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; sed -n 1,5p "$W/err" 2>/dev/null; fi; }
# contains NAME FILE STRING
contains() { if grep -q -- "$3" "$2"; then ok "$1"; else bad "$1: no '$3' in: $(head -c 400 "$2")"; fi; }
# run ARGS...: the CLI with stdout in $W/out, stderr in $W/err; prints the status
run() { "$CAIRN" "$@" >"$W/out" 2>"$W/err"; echo $?; }
# one_line NAME: stderr is exactly one line starting "cairn: "
one_line() {
	if [ "$(wc -l <"$W/err")" -eq 1 ] && grep -q '^cairn: ' "$W/err"; then ok "$1"
	else bad "$1: stderr was: $(head -c 400 "$W/err")"; fi
}

. "$(dirname "$0")/../lib/serve.sh"
start_server() {
	serve_start "$CAIRN" "$DATA" "$W/srv" --threads 3 ||
		{ echo "FAIL server did not start"; cat "$W/srv/err"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
	PID=$SERVE_PID
	U=$SERVE_URL
}

mkdir -p "$W/srv"
start_server
ADMIN=$(cat "$DATA/admin-token")

# ---- login, config, whoami
check login 0 "$(run login --endpoint "$U" --token "$ADMIN")"
contains login-says "$W/out" "as admin"
CFG=$HOME/.config/cairn/config
check config-mode 600 "$(stat -c %a "$CFG" 2>/dev/null)"
check config-dir-mode 700 "$(stat -c %a "$HOME/.config/cairn" 2>/dev/null)"
contains config-endpoint "$CFG" "^endpoint = $U\$"
contains config-token "$CFG" "^token = $ADMIN\$"
check whoami-config 0 "$(run whoami)"
contains whoami-admin "$W/out" "^admin (admin token)"
check login-bad-token 4 "$(run login --endpoint "$U" --token cairn_nope)"
one_line login-bad-token-one-line
contains login-bad-token-config-kept "$CFG" "^token = $ADMIN\$"
XDG_CONFIG_HOME=$W/xdg "$CAIRN" login --endpoint "$U" --token "$ADMIN" --quiet >"$W/out" 2>"$W/err"
check xdg-config-mode 600 "$(stat -c %a "$W/xdg/cairn/config" 2>/dev/null)"

# users and tokens on the data directory the server uses
"$CAIRN" admin users create alice --data "$DATA" >/dev/null || bad users-create-alice
AW=$("$CAIRN" admin tokens create --user alice --scope write --data "$DATA")
AR=$("$CAIRN" admin tokens create --user alice --scope read --data "$DATA")
check whoami-env 0 "$(CAIRN_TOKEN=$AW run whoami --json)"
contains whoami-env-alice "$W/out" '"user":"alice","scope":"write"'
check whoami-flag-over-env 0 "$(CAIRN_TOKEN=$AW run whoami --token "$AR")"
contains whoami-flag-read "$W/out" "^alice (read token)"
check whoami-wrong-token 4 "$(run whoami --token "cairn_$(printf '%064d' 0)")"
one_line whoami-wrong-token-one-line
contains whoami-wrong-token-message "$W/err" "unknown or revoked token"
check unreachable 1 "$(run whoami --endpoint http://127.0.0.1:1)"
one_line unreachable-one-line
contains unreachable-message "$W/err" "cannot reach"

export CAIRN_TOKEN=$AW
# ---- buckets
check create-private-own-ns 0 "$(run buckets create secret --private)"
contains create-private-says "$W/out" "cairn://buckets/alice/secret (private)"
check create-public 0 "$(run buckets create alice/pub)"
check create-exists 1 "$(run buckets create alice/pub)"
one_line create-exists-one-line
check create-exist-ok 0 "$(run buckets create alice/pub --exist-ok)"
contains create-exist-ok-says "$W/out" "exists already"
check create-other-ns 4 "$(run buckets create bob/x)"
check create-read-token 4 "$(run buckets create alice/ro --token "$AR")"
check create-bad-name 1 "$(run buckets create "alice/Bad Name")"
check create-usage 2 "$(run buckets create)"
check create-unknown-option 2 "$(run buckets create alice/z --frob)"

check list 0 "$(run buckets list alice)"
contains list-private "$W/out" "^alice/secret	private"
contains list-public "$W/out" "^alice/pub	public"
check list-json 0 "$(run buckets list --json)"
contains list-json-body "$W/out" '^\[{"namespace":"alice","name":"'
check list-anonymous 0 "$(CAIRN_TOKEN= XDG_CONFIG_HOME=$W/none run buckets list alice --endpoint "$U")"
if grep -q secret "$W/out"; then bad list-anonymous-hides-private; else ok list-anonymous-hides-private; fi

check info-empty 0 "$(run buckets info alice/pub)"
contains info-objects-0 "$W/out" "^objects: *0"
contains info-public "$W/out" "^visibility: *public"
check info-missing 3 "$(run buckets info alice/nothing)"
one_line info-missing-one-line
contains info-missing-message "$W/err" "no bucket alice/nothing"
check info-bad-arg 2 "$(run buckets info justaname)"

check settings-private 0 "$(run buckets settings alice/pub --private)"
run buckets info alice/pub --json >/dev/null
contains settings-took "$W/out" '"private":true'
check settings-public 0 "$(run buckets settings alice/pub --public)"
check settings-needs-flag 2 "$(run buckets settings alice/pub)"
check settings-read-token 4 "$(run buckets settings alice/pub --private --token "$AR")"

# ---- cp up and down
head -c 5242880 /dev/urandom >"$W/five"
check cp-up 0 "$(run buckets cp "$W/five" cairn://buckets/alice/pub/models/v1/five.bin)"
contains cp-up-says "$W/out" "5242880 bytes"
check cp-down 0 "$(run buckets cp cairn://buckets/alice/pub/models/v1/five.bin "$W/got")"
if cmp -s "$W/five" "$W/got"; then ok cp-down-bytes; else bad cp-down-bytes; fi
if ls -a "$W" | grep -q 'cairn-'; then bad cp-down-no-temp-left; else ok cp-down-no-temp-left; fi
mkdir "$W/dl"
check cp-down-into-dir 0 "$(run buckets cp cairn://buckets/alice/pub/models/v1/five.bin "$W/dl")"
if cmp -s "$W/five" "$W/dl/five.bin"; then ok cp-down-into-dir-bytes; else bad cp-down-into-dir-bytes; fi
check cp-up-into-folder 0 "$(run buckets cp "$W/five" cairn://buckets/alice/pub/models/v2/ --json)"
contains cp-up-dedup "$W/out" '"path":"models/v2/five","hash":"[0-9a-f]\{64\}","size":5242880,"new_bytes":0,'
printf 'from stdin\n' | "$CAIRN" buckets cp - cairn://buckets/alice/pub/notes/a.txt >"$W/out" 2>"$W/err"
check cp-stdin 0 "$?"
check cp-stdout 0 "$(run buckets cp cairn://buckets/alice/pub/notes/a.txt -)"
check cp-stdout-bytes "from stdin" "$(cat "$W/out")"
"$CAIRN" buckets cp - cairn://buckets/alice/pub/notes/big.bin <"$W/five" >/dev/null 2>"$W/err"
check cp-stdin-5mb 0 "$?"
"$CAIRN" buckets cp cairn://buckets/alice/pub/notes/big.bin - >"$W/got2" 2>"$W/err"
if cmp -s "$W/five" "$W/got2"; then ok cp-stdout-5mb; else bad cp-stdout-5mb; fi
check cp-down-missing 3 "$(run buckets cp cairn://buckets/alice/pub/nope "$W/nope")"
one_line cp-down-missing-one-line
if [ -e "$W/nope" ] || ls -a "$W" | grep -q 'cairn-'; then bad cp-down-missing-leaves-nothing; else ok cp-down-missing-leaves-nothing; fi
check cp-up-missing-local 3 "$(run buckets cp "$W/absent" cairn://buckets/alice/pub/x)"
check cp-both-local 2 "$(run buckets cp "$W/five" "$W/six")"
check cp-read-token 4 "$(run buckets cp "$W/five" cairn://buckets/alice/pub/ro.bin --token "$AR")"
one_line cp-read-token-one-line
contains cp-read-token-message "$W/err" "read-only"
check cp-missing-bucket 3 "$(run buckets cp "$W/five" cairn://buckets/alice/nothing/x)"
check cp-wrong-token 4 "$(run buckets cp "$W/five" cairn://buckets/alice/pub/x --token "cairn_$(printf '%064d' 0)")"

check info-stats 0 "$(run buckets info alice/pub)"
contains info-objects-4 "$W/out" "^objects: *4"
contains info-logical "$W/out" "^logical bytes: *$((3 * 5242880 + 11))"

# ---- ls
check ls-root 0 "$(run buckets ls cairn://buckets/alice/pub)"
contains ls-root-dir "$W/out" " models/\$"
contains ls-root-notes "$W/out" " notes/\$"
if grep -q five.bin "$W/out"; then bad ls-root-not-recursive; else ok ls-root-not-recursive; fi
check ls-prefix 0 "$(run buckets ls cairn://buckets/alice/pub/models)"
contains ls-prefix-v1 "$W/out" " models/v1/\$"
check ls-recursive 0 "$(run buckets ls alice/pub -R)"
check ls-recursive-count 4 "$(wc -l <"$W/out")"
contains ls-recursive-file "$W/out" "^     5242880  [0-9-]* [0-9:]*  models/v1/five.bin\$"
check ls-human 0 "$(run buckets ls cairn://buckets/alice/pub/models/v1 -h)"
contains ls-human-size "$W/out" "5.0M"
check ls-json 0 "$(run buckets ls cairn://buckets/alice/pub/notes --json)"
contains ls-json-line "$W/out" '^{"type":"file","path":"notes/a.txt","size":11,'
check ls-missing-bucket 3 "$(run buckets ls cairn://buckets/alice/nothing)"
check ls-private-anonymous 3 "$(CAIRN_TOKEN= XDG_CONFIG_HOME=$W/none run buckets ls cairn://buckets/alice/secret --endpoint "$U")"

# ---- rm
check rm-one 0 "$(run buckets rm cairn://buckets/alice/pub/notes/a.txt)"
check rm-one-again 3 "$(run buckets rm cairn://buckets/alice/pub/notes/a.txt)"
one_line rm-one-again-one-line
check rm-folder-needs-R 2 "$(run buckets rm cairn://buckets/alice/pub/models)"
check rm-dry-run 0 "$(run buckets rm -R --dry-run cairn://buckets/alice/pub/models)"
check rm-dry-run-count 2 "$(grep -c '^would delete' "$W/out")"
check rm-dry-run-kept 0 "$(run buckets cp cairn://buckets/alice/pub/models/v1/five.bin "$W/got")"
check rm-include 0 "$(run buckets rm -R --dry-run --include 'v1/**' cairn://buckets/alice/pub/models)"
check rm-include-count 1 "$(grep -c '^would delete' "$W/out")"
contains rm-include-which "$W/out" 'models/v1/five.bin'
check rm-exclude 0 "$(run buckets rm -R --dry-run --exclude '*.bin' cairn://buckets/alice/pub/models)"
check rm-exclude-none 3 "$(run buckets rm -R --exclude '*' cairn://buckets/alice/pub/models)"
contains rm-exclude-none-says "$W/err" 'that the filters select'
check rm-filter-needs-R 2 "$(run buckets rm --include x cairn://buckets/alice/pub/notes/a.txt)"
check rm-recursive 0 "$(run buckets rm -R cairn://buckets/alice/pub/models --quiet)"
run buckets ls -R cairn://buckets/alice/pub >/dev/null
check rm-recursive-left 1 "$(wc -l <"$W/out")"
check rm-recursive-nothing 3 "$(run buckets rm -R cairn://buckets/alice/pub/models)"
check rm-read-token 4 "$(run buckets rm cairn://buckets/alice/pub/notes/big.bin --token "$AR")"

# ---- the chunk protocol: cp of a regular file sends only the chunks the server lacks
check xet-create 0 "$(run buckets create alice/xet)"
check xet-create-2 0 "$(run buckets create alice/xet2 --private)"
# size of a --json answer's field: jfield FIELD
jfield() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$W/out"; }
MB4=4194304
head -c $MB4 /dev/urandom >"$W/base"
check xet-up 0 "$(run buckets cp "$W/base" cairn://buckets/alice/xet/base.bin --json)"
check xet-up-all-new "$MB4" "$(jfield new_bytes)"
SENT1=$(jfield bytes_sent)
if [ -n "$SENT1" ] && [ "$SENT1" -ge $MB4 ]; then ok xet-up-sent-all; else bad "xet-up-sent-all: bytes_sent '$SENT1'"; fi
if [ -s "$W/err" ]; then bad "xet-up-no-progress-off-terminal: $(head -c 200 "$W/err")"; else ok xet-up-no-progress-off-terminal; fi
# 10% of it rewritten in the middle (400 KiB at 1.6 MiB): only the chunks around it travel
cp "$W/base" "$W/changed"
dd if=/dev/urandom of="$W/changed" bs=4096 seek=400 count=100 conv=notrunc 2>/dev/null
check xet-up-changed 0 "$(run buckets cp "$W/changed" cairn://buckets/alice/xet/changed.bin --json)"
SENT2=$(jfield bytes_sent)
echo "  (bytes sent: $SENT1 for the file, $SENT2 after a 10% change, of $MB4)"
if [ -n "$SENT2" ] && [ $((SENT2 * 100)) -lt $((MB4 * 30)) ]; then ok xet-up-changed-sends-little
else bad "xet-up-changed-sends-little: bytes_sent '$SENT2' of $MB4"; fi
contains xet-up-changed-size "$W/out" "\"size\":$MB4,"
check xet-up-again 0 "$(run buckets cp "$W/changed" cairn://buckets/alice/xet/again.bin --json)"
check xet-up-again-nothing-new 0 "$(jfield new_bytes)"
SENT3=$(jfield bytes_sent)
if [ -n "$SENT3" ] && [ "$SENT3" -lt 65536 ]; then ok xet-up-again-sends-query-and-commit
else bad "xet-up-again-sends-query-and-commit: bytes_sent '$SENT3'"; fi
check xet-up-text 0 "$(run buckets cp "$W/changed" cairn://buckets/alice/xet/text.bin)"
contains xet-up-text-says "$W/out" "($MB4 bytes, 0 new, [0-9]* sent)\$"

# downloads are rebuilt from xorb ranges and checked against the file hash
check xet-down-base 0 "$(run buckets cp cairn://buckets/alice/xet/base.bin "$W/got-base" --json)"
if cmp -s "$W/base" "$W/got-base"; then ok xet-down-base-bytes; else bad xet-down-base-bytes; fi
contains xet-down-json "$W/out" "\"size\":$MB4,\"hash\":\"[0-9a-f]\{64\}\",\"bytes_received\":"
check xet-down-changed 0 "$(run buckets cp cairn://buckets/alice/xet/changed.bin "$W/got-changed")"
if cmp -s "$W/changed" "$W/got-changed"; then ok xet-down-changed-bytes; else bad xet-down-changed-bytes; fi
contains xet-down-says "$W/out" "^downloaded cairn://buckets/alice/xet/changed.bin -> $W/got-changed ($MB4 bytes)\$"
echo stale >"$W/got-over"
check xet-down-over-existing 0 "$(run buckets cp cairn://buckets/alice/xet/base.bin "$W/got-over")"
if cmp -s "$W/base" "$W/got-over"; then ok xet-down-over-existing-bytes; else bad xet-down-over-existing-bytes; fi
check xet-down-no-dir 1 "$(run buckets cp cairn://buckets/alice/xet/base.bin "$W/no/such/dir/f")"
one_line xet-down-no-dir-one-line
check xet-down-read-token 0 "$(run buckets cp cairn://buckets/alice/xet/base.bin "$W/got-ro" --token "$AR")"
if cmp -s "$W/base" "$W/got-ro"; then ok xet-down-read-token-bytes; else bad xet-down-read-token-bytes; fi
check xet-down-missing 3 "$(run buckets cp cairn://buckets/alice/xet/nope "$W/nope")"
one_line xet-down-missing-one-line
if [ -e "$W/nope" ]; then bad xet-down-missing-leaves-nothing; else ok xet-down-missing-leaves-nothing; fi

# several xorbs (at most 32 MiB each), sent and fetched by several workers at once
head -c 75497472 /dev/urandom >"$W/multi"
check xet-up-multi 0 "$(run buckets cp "$W/multi" cairn://buckets/alice/xet/multi.bin --quiet)"
check xet-up-multi-quiet "" "$(cat "$W/out" "$W/err")"
check xet-down-multi 0 "$(run buckets cp cairn://buckets/alice/xet/multi.bin "$W/got-multi" --json)"
if cmp -s "$W/multi" "$W/got-multi"; then ok xet-down-multi-bytes; else bad xet-down-multi-bytes; fi
rm -f "$W/multi" "$W/got-multi"

# a file repeating one block: its repeats are sent once, and its terms reuse one xorb range
head -c 1048576 /dev/urandom >"$W/blk"
cat "$W/blk" "$W/blk" "$W/blk" "$W/blk" "$W/blk" >"$W/rep"
check xet-up-repeats 0 "$(run buckets cp "$W/rep" cairn://buckets/alice/xet/rep.bin --json)"
NEW=$(jfield new_bytes)
if [ -n "$NEW" ] && [ "$NEW" -lt 2097152 ]; then ok xet-up-repeats-sent-once; else bad "xet-up-repeats-sent-once: new_bytes '$NEW'"; fi
check xet-down-repeats 0 "$(run buckets cp cairn://buckets/alice/xet/rep.bin "$W/got-rep")"
if cmp -s "$W/rep" "$W/got-rep"; then ok xet-down-repeats-bytes; else bad xet-down-repeats-bytes; fi

# empty and one-byte files
: >"$W/empty"
check xet-up-empty 0 "$(run buckets cp "$W/empty" cairn://buckets/alice/xet/empty --json)"
contains xet-up-empty-hash "$W/out" '"hash":"0\{64\}","size":0,'
echo stale >"$W/got-empty"
check xet-down-empty 0 "$(run buckets cp cairn://buckets/alice/xet/empty "$W/got-empty")"
check xet-down-empty-size 0 "$(wc -c <"$W/got-empty")"
printf x >"$W/one"
check xet-up-one-byte 0 "$(run buckets cp "$W/one" cairn://buckets/alice/xet/one)"
check xet-down-one-byte 0 "$(run buckets cp cairn://buckets/alice/xet/one "$W/got-one")"
check xet-down-one-byte-bytes x "$(cat "$W/got-one")"

# refusals
check xet-up-read-token 4 "$(run buckets cp "$W/blk" cairn://buckets/alice/xet/ro.bin --token "$AR")"
one_line xet-up-read-token-one-line
contains xet-up-read-token-message "$W/err" "read-only"
check xet-up-missing-bucket 3 "$(run buckets cp "$W/blk" cairn://buckets/alice/nothing/x)"
one_line xet-up-missing-bucket-one-line
check xet-up-no-token 4 "$(CAIRN_TOKEN= XDG_CONFIG_HOME=$W/none run buckets cp "$W/blk" cairn://buckets/alice/xet/x --endpoint "$U")"
one_line xet-up-no-token-one-line

# bucket to bucket: the server copies, no data moves
check xet-copy 0 "$(run buckets cp cairn://buckets/alice/xet/changed.bin cairn://buckets/alice/xet/copies/ --json)"
contains xet-copy-json "$W/out" "^{\"path\":\"copies/changed.bin\",\"hash\":\"[0-9a-f]\{64\}\",\"size\":$MB4,\"src_bucket\":\"alice/xet\",\"src_path\":\"changed.bin\""
check xet-copy-other-bucket 0 "$(run buckets cp cairn://buckets/alice/xet/base.bin cairn://buckets/alice/xet2/base-copy.bin)"
contains xet-copy-says "$W/out" "^copied cairn://buckets/alice/xet/base.bin -> cairn://buckets/alice/xet2/base-copy.bin ($MB4 bytes"
check xet-copy-down 0 "$(run buckets cp cairn://buckets/alice/xet2/base-copy.bin "$W/got-copy")"
if cmp -s "$W/base" "$W/got-copy"; then ok xet-copy-bytes; else bad xet-copy-bytes; fi
check xet-copy-missing 3 "$(run buckets cp cairn://buckets/alice/xet/nope cairn://buckets/alice/xet/nope2)"
one_line xet-copy-missing-one-line
check xet-copy-read-token 4 "$(run buckets cp cairn://buckets/alice/xet/base.bin cairn://buckets/alice/xet/c2 --token "$AR")"
check xet-copy-folder-source 2 "$(run buckets cp cairn://buckets/alice/xet/copies/ cairn://buckets/alice/xet/c3)"

# a xorb damaged on the server's disk: the download fails and leaves nothing behind
head -c 1048576 /dev/urandom >"$W/victim"
check xet-up-victim 0 "$(run buckets cp "$W/victim" cairn://buckets/alice/xet/victim.bin)"
X=$(ls -t "$DATA"/xorbs/*/* | head -n 1)
chmod u+w "$X"
printf 'XXXXXXXX' | dd of="$X" bs=1 seek=524288 conv=notrunc 2>/dev/null
check xet-down-corrupt 1 "$(run buckets cp cairn://buckets/alice/xet/victim.bin "$W/got-victim")"
one_line xet-down-corrupt-one-line
contains xet-down-corrupt-message "$W/err" "corrupt\|xorb chunk"
if [ -e "$W/got-victim" ] || ls -a "$W" | grep -q 'cairn-'; then bad xet-down-corrupt-leaves-nothing
else ok xet-down-corrupt-leaves-nothing; fi

# ---- delete buckets
check delete-needs-yes 2 "$(run buckets delete alice/pub </dev/null)"
check delete-not-empty 1 "$(run buckets delete alice/pub --yes)"
one_line delete-not-empty-one-line
contains delete-not-empty-message "$W/err" "not empty"
check delete-force 0 "$(run buckets delete alice/pub --yes --force)"
check delete-gone 3 "$(run buckets info alice/pub)"
check delete-missing 3 "$(run buckets delete alice/pub --yes)"
check delete-missing-ok 0 "$(run buckets delete alice/pub --yes --missing-ok)"
check delete-empty 0 "$(run buckets delete alice/secret --yes)"

# ---- kill -9 of the server in the middle of a 200 MB upload
check create-crash-bucket 0 "$(run buckets create alice/crash)"
head -c 209715200 /dev/urandom >"$W/big"
# the first half goes at once, then the feeder pauses: the kill lands mid-body
{ head -c 104857600 "$W/big"; sleep 3; tail -c +104857601 "$W/big"; } |
	"$CAIRN" buckets cp - cairn://buckets/alice/crash/big.bin >"$W/cp.out" 2>"$W/cp.err" &
CP=$!
sleep 1.5
kill -9 "$PID"
wait "$PID" 2>/dev/null
PID=
wait "$CP"
st=$?
if [ "$st" -ne 0 ]; then ok crash-cli-fails; else bad "crash-cli-fails: exit 0"; fi
cp "$W/cp.err" "$W/err"
one_line crash-cli-one-line
echo "  (the CLI said: $(cat "$W/cp.err"))"
start_server
"$CAIRN" buckets ls -R cairn://buckets/alice/crash --endpoint "$U" >"$W/out" 2>"$W/err"
check crash-ls-after-restart 0 "$?"
if [ ! -s "$W/out" ]; then
	ok crash-object-absent
else
	"$CAIRN" buckets cp cairn://buckets/alice/crash/big.bin "$W/got3" --endpoint "$U" >/dev/null 2>&1
	if cmp -s "$W/big" "$W/got3"; then ok crash-object-complete; else bad crash-object-partial; fi
fi
# the same upload from a file, with the server gone: retries, then one clear line
kill "$PID"
wait "$PID" 2>/dev/null
PID=
check upload-server-gone 1 "$(run buckets cp "$W/five" cairn://buckets/alice/crash/x --endpoint "$U")"
one_line upload-server-gone-one-line
start_server
check upload-after-restart 0 "$(run buckets cp "$W/five" cairn://buckets/alice/crash/five --endpoint "$U")"

kill "$PID"
wait "$PID" 2>/dev/null
PID=
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
