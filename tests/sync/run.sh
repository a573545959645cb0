#!/bin/sh
# run.sh BUILD_DIR - `cairn buckets sync` end to end against a real server
# on a free port of 127.0.0.1: both directions, every flag, plans written,
# applied, edited by hand and refused when the source changed, awkward
# names and trees, unreadable files, and resuming. Ends with
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
export HOME=$W/home
unset XDG_CONFIG_HOME CAIRN_ENDPOINT CAIRN_TOKEN
mkdir -p "$HOME" "$W/srv"
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; sed -n 1,5p "$W/err" 2>/dev/null; fi; }
contains() { if grep -q -- "$3" "$2"; then ok "$1"; else bad "$1: no '$3' in: $(head -c 600 "$2")"; fi; }
lacks() { if grep -q -- "$3" "$2"; then bad "$1: '$3' in: $(head -c 600 "$2")"; else ok "$1"; fi; }
run() { "$CAIRN" "$@" >"$W/out" 2>"$W/err"; echo $?; }
# jnum KEY: a number from the --json summary in $W/out
jnum() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$W/out"; }
# remote_list: the bucket's keys under x/, one per line, sorted
remote_list() { "$CAIRN" buckets ls cairn://buckets/admin/b/x -R --json 2>/dev/null | sed -n 's/.*"path":"x\/\([^"]*\)".*/\1/p' | sort; }

. "$(dirname "$0")/../lib/serve.sh"
serve_start "$CAIRN" "$W/data" "$W/srv" ||
	{ echo "FAIL server did not start"; cat "$W/srv/err"; echo "0 passed, 1 failed"; exit 1; }
PID=$SERVE_PID
export CAIRN_ENDPOINT=$SERVE_URL CAIRN_TOKEN
CAIRN_TOKEN=$(cat "$W/data/admin-token")
"$CAIRN" buckets create b --quiet >/dev/null

D=cairn://buckets/admin/b/x
S=$W/src
mkdir -p "$S/a/b" "$S/empty-folder"
for i in 1 2 3 4 5 6 7 8; do head -c $((i * 7000)) /dev/urandom >"$S/a/f$i.bin"; done
head -c 3000000 /dev/urandom >"$S/a/b/big.bin"
: >"$S/zero"
printf 'x' >"$S/a/sp ace %+#'\"ü.txt"
DEEP=$S/deep
for i in $(seq 1 20); do DEEP=$DEEP/d$i; done
mkdir -p "$DEEP"
echo leaf >"$DEEP/leaf"
ln -s a/f1.bin "$S/link"
echo tmp >"$S/a/junk.tmp"

# ---- dry run changes nothing
check dry-run 0 "$(run buckets sync "$S" "$D" --dry-run)"
contains dry-run-would "$W/out" '^would upload a/f1.bin (new)'
contains dry-run-summary "$W/out" 'dry run, nothing changed: 14 to upload'
check dry-run-nothing-sent "" "$(remote_list)"

# ---- the first sync, then a no-change one
check first 0 "$(run buckets sync "$S" "$D" --json)"
check first-uploaded 14 "$(jnum uploaded)"
check first-failed 0 "$(jnum failed)"
remote_list >"$W/list"
contains first-odd-name "$W/list" 'a/sp ace %+#'
contains first-deep "$W/list" 'd20/leaf'
contains first-link-followed "$W/list" '^link$'
contains first-empty-file "$W/list" '^zero$'
lacks first-no-empty-folder "$W/list" 'empty-folder'
check again 0 "$(run buckets sync "$S" "$D" --json)"
check again-uploaded 0 "$(jnum uploaded)"
check again-unchanged 14 "$(jnum skipped)"
check again-sent 0 "$(jnum bytes_sent)"

# ---- what counts as changed
head -c 100 /dev/urandom >>"$S/a/f1.bin"
check size-change 0 "$(run buckets sync "$S" "$D" --json --verbose)"
check size-change-two 2 "$(jnum uploaded)" # a/f1.bin and link, which points at it
contains size-change-reason "$W/out" 'upload a/f1.bin (size differs)'
SAVED=$(jnum bytes_saved)
[ "${SAVED:-0}" -gt 0 ] && ok size-change-dedup || bad "size-change-dedup ($SAVED)"
touch -d '2020-01-01' "$S/a/f2.bin"
check mtime-change 0 "$(run buckets sync "$S" "$D" --verbose)"
contains mtime-change-reason "$W/out" 'upload a/f2.bin (modification time differs)'
# same size and mtime, other bytes: only --checksum sees it
cp -p "$S/a/f3.bin" "$W/f3.keep"
head -c 21000 /dev/urandom >"$S/a/f3.bin"
touch -r "$W/f3.keep" "$S/a/f3.bin"
check same-stat 0 "$(run buckets sync "$S" "$D" --json)"
check same-stat-skipped 0 "$(jnum uploaded)"
check checksum 0 "$(run buckets sync "$S" "$D" --checksum --verbose)"
contains checksum-reason "$W/out" 'upload a/f3.bin (checksum differs)'
check checksum-again 0 "$(run buckets sync "$S" "$D" --checksum --json)"
check checksum-again-none 0 "$(jnum uploaded)"
check ignore-times 0 "$(run buckets sync "$S" "$D" --ignore-times --json)"
check ignore-times-all 14 "$(jnum uploaded)"
# every byte is on the server already: all of it deduplicated, none of it sent again
check ignore-times-all-deduped "$(jnum bytes)" "$(jnum bytes_saved)"
# a size change with the same mtime: --ignore-sizes looks at the mtime alone
cp -p "$S/a/f4.bin" "$W/f4.keep"
head -c 5 /dev/urandom >>"$S/a/f4.bin"
touch -r "$W/f4.keep" "$S/a/f4.bin"
check ignore-sizes 0 "$(run buckets sync "$S" "$D" --ignore-sizes --json)"
check ignore-sizes-none 0 "$(jnum uploaded)"
check sizes 0 "$(run buckets sync "$S" "$D" --json)"
check sizes-one 1 "$(jnum uploaded)"

# ---- --existing, --ignore-existing
echo new >"$S/new.txt"
head -c 10 /dev/urandom >>"$S/a/f5.bin"
check existing 0 "$(run buckets sync "$S" "$D" --existing --verbose)"
contains existing-updates "$W/out" 'upload a/f5.bin'
lacks existing-no-new "$W/out" 'upload new.txt'
head -c 10 /dev/urandom >>"$S/a/f5.bin"
check ignore-existing 0 "$(run buckets sync "$S" "$D" --ignore-existing --verbose)"
contains ignore-existing-adds "$W/out" 'upload new.txt'
lacks ignore-existing-no-update "$W/out" 'upload a/f5.bin'
check existing-both 2 "$(run buckets sync "$S" "$D" --existing --ignore-existing)"

# ---- filters
check exclude 0 "$(run buckets sync "$S" "$D" --exclude '*.tmp' --ignore-times --verbose)"
lacks exclude-tmp "$W/out" 'junk.tmp'
contains exclude-others "$W/out" 'upload a/f6.bin'
check include 0 "$(run buckets sync "$S" "$D" --include 'a/*.bin' --ignore-times --verbose)"
contains include-bin "$W/out" 'upload a/f6.bin'
lacks include-not-big "$W/out" 'big.bin'
lacks include-not-zero "$W/out" 'upload zero'
printf '# only these\n+ /a/f7.bin\n- *\n' >"$W/rules"
check filter-from 0 "$(run buckets sync "$S" "$D" --filter-from "$W/rules" --ignore-times --json)"
check filter-from-one 1 "$(jnum uploaded)"
printf '+ ok\nnonsense\n' >"$W/rules-bad"
check filter-from-bad 2 "$(run buckets sync "$S" "$D" --filter-from "$W/rules-bad")"
contains filter-from-bad-line "$W/err" 'line 2'

# ---- --delete: destination files the source lacks; filtered ones are kept
rm "$S/new.txt"
check delete-dry 0 "$(run buckets sync "$S" "$D" --delete --dry-run)"
contains delete-dry-says "$W/out" 'would delete new.txt (not in the source)'
remote_list >"$W/list"
contains delete-dry-kept "$W/list" '^new.txt$'
rm "$S/a/junk.tmp"
check delete 0 "$(run buckets sync "$S" "$D" --delete --exclude '*.tmp' --json)"
check delete-one 1 "$(jnum deleted)"
remote_list >"$W/list"
lacks delete-gone "$W/list" '^new.txt$'
contains delete-filtered-kept "$W/list" '^a/junk.tmp$'

# ---- plans: written, applied, refused after a change, refused when edited badly
head -c 50 /dev/urandom >>"$S/a/f8.bin"
check plan 0 "$(run buckets sync "$S" "$D" --plan "$W/plan.jsonl")"
contains plan-summary "$W/out" '^plan: 1 to upload'
contains plan-header "$W/plan.jsonl" '"cairn_sync_plan":1'
contains plan-item "$W/plan.jsonl" '"op":"upload","path":"a/f8.bin"'
contains plan-skip "$W/plan.jsonl" '"op":"skip"'
check plan-changed-nothing 0 "$(run buckets sync "$S" "$D" --dry-run --json)"
contains plan-not-applied "$W/out" '"op":"upload","path":"a/f8.bin"'
check apply 0 "$(run buckets sync --apply "$W/plan.jsonl" --json)"
check apply-one 1 "$(jnum uploaded)"
head -c 50 /dev/urandom >>"$S/a/f8.bin"
check plan2 0 "$(run buckets sync "$S" "$D" --plan "$W/plan.jsonl")"
head -c 50 /dev/urandom >>"$S/a/f8.bin"
check apply-changed 1 "$(run buckets sync --apply "$W/plan.jsonl")"
contains apply-changed-names "$W/err" 'a/f8.bin: changed since the plan was made'
contains apply-changed-nothing "$W/err" 'nothing was done'
sed 's/"path":"a\/f1.bin"/"path":"..\/..\/etc\/passwd"/' "$W/plan.jsonl" >"$W/evil.jsonl"
check apply-edited 2 "$(run buckets sync --apply "$W/evil.jsonl")"
contains apply-edited-line "$W/err" 'plan line [0-9]*: "path"'
printf '{"cairn_sync_plan":1}\n' >"$W/bad.jsonl"
check apply-bad-header 2 "$(run buckets sync --apply "$W/bad.jsonl")"
check apply-with-paths 2 "$(run buckets sync --apply "$W/plan.jsonl" "$S" "$D")"

# ---- downloads: the bucket folder into a local one, atomically, mtimes kept
L=$W/local
check down 0 "$(run buckets sync "$D" "$L" --json)"
check down-count 14 "$(jnum downloaded)"
check down-failed 0 "$(jnum failed)"
if cmp -s "$S/a/b/big.bin" "$L/a/b/big.bin"; then ok down-big-bytes; else bad down-big-bytes; fi
if cmp -s "$S/a/sp ace %+#'\"ü.txt" "$L/a/sp ace %+#'\"ü.txt"; then ok down-odd-name; else bad down-odd-name; fi
check down-mtime "$(stat -c %Y "$S/a/f2.bin")" "$(stat -c %Y "$L/a/f2.bin")"
check down-deep leaf "$(cat "$L/$(cd "$S" && ls -d deep/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/d13/d14/d15/d16/d17/d18/d19/d20)/leaf")"
check down-again 0 "$(run buckets sync "$D" "$L" --json)"
check down-again-none 0 "$(jnum downloaded)"
echo extra >"$L/extra.txt"
check down-delete 0 "$(run buckets sync "$D" "$L" --delete --json)"
check down-delete-one 1 "$(jnum deleted)"
[ -e "$L/extra.txt" ] && bad down-delete-gone || ok down-delete-gone
ls -a "$L/a" | grep -q 'cairn-' && bad down-no-temp-files || ok down-no-temp-files
check down-missing-bucket 3 "$(run buckets sync cairn://buckets/admin/nope "$L")"

# ---- a file that cannot be read is named; the others still go; exit 1
ln -s nowhere "$S/broken"
echo fresh >"$S/fresh.txt"
check unreadable 1 "$(run buckets sync "$S" "$D" --json)"
contains unreadable-named "$W/err" 'broken: broken symbolic link'
check unreadable-others 2 "$(jnum uploaded)" # fresh.txt and a/f8.bin (changed after the last plan)
rm "$S/broken"

# ---- resuming: chunks already on the server are not sent again
head -c 4000000 /dev/urandom >"$W/resume.bin"
"$CAIRN" buckets cp "$W/resume.bin" cairn://buckets/admin/b/elsewhere.bin --quiet >/dev/null
cp "$W/resume.bin" "$S/resume.bin"
check resume 0 "$(run buckets sync "$S" "$D" --json)"
SENT=$(jnum bytes_sent)
[ "${SENT:-9999999}" -lt 100000 ] && ok "resume-sent-little ($SENT bytes)" || bad "resume-sent-little ($SENT)"

# ---- a file rewritten while it is uploaded is never committed; its set-mates are
head -c 2000000 /dev/urandom >"$W/c1.bin"
head -c 2000000 /dev/urandom >"$W/c2.bin"
"$BUILD/tests/put_change" "$SERVE_URL" "$CAIRN_TOKEN" admin/b "$W/c1.bin" "$W/c2.bin" >"$W/out" 2>"$W/err"
contains change-noticed "$W/out" '^set 0 changed 1$'
contains change-refused "$W/out" '^changing.bin -8 the file changed while it was uploaded'
contains change-others-committed "$W/out" '^steady.bin 0 $'
check change-not-committed 3 "$(run buckets cp cairn://buckets/admin/b/changing.bin "$W/nothing")"
check change-steady-there 0 "$(run buckets cp cairn://buckets/admin/b/steady.bin "$W/steady")"
if cmp -s "$W/c2.bin" "$W/steady"; then ok change-steady-bytes; else bad change-steady-bytes; fi

# ---- killed in the middle, run again: everything arrives, whole
mkdir -p "$W/kill"
for i in 1 2 3 4 5 6; do head -c 8000000 /dev/urandom >"$W/kill/k$i.bin"; done
"$CAIRN" buckets sync "$W/kill" cairn://buckets/admin/b/kill >/dev/null 2>&1 &
KP=$!
sleep 0.3
kill -9 "$KP" 2>/dev/null
wait "$KP" 2>/dev/null
check killed-rerun 0 "$(run buckets sync "$W/kill" cairn://buckets/admin/b/kill --json)"
check killed-rerun-none-failed 0 "$(jnum failed)"
check killed-down 0 "$(run buckets sync cairn://buckets/admin/b/kill "$W/kill-back")"
if diff -r "$W/kill" "$W/kill-back" >/dev/null; then ok killed-whole; else bad killed-whole; fi

# ---- bad command lines
check usage-one-arg 2 "$(run buckets sync "$S")"
check usage-both-local 2 "$(run buckets sync "$S" "$W/other")"
check usage-dry-and-plan 2 "$(run buckets sync "$S" "$D" --dry-run --plan "$W/p")"
check usage-jobs 2 "$(run buckets sync "$S" "$D" --jobs 0)"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
