#!/bin/sh
# run.sh BUILD_DIR - what `make run` does until the server exists: generate
# a sample file and show `cairn hash` and `cairn chunks` on it.
set -eu
BUILD=$1
CAIRN=$BUILD/cairn
DIR=${CAIRN_DEMO_DIR:-$BUILD/demo}
mkdir -p "$DIR"
F=$DIR/sample.bin
if [ ! -f "$F" ]; then
	# 64 MiB of pseudo-random bytes, then a copy with one 4 KiB edit
	head -c 67108864 /dev/urandom >"$F"
	cp "$F" "$DIR/sample-edited.bin"
	printf '%4096s' edited | dd of="$DIR/sample-edited.bin" bs=1 seek=33554432 conv=notrunc status=none
fi
echo "== $("$CAIRN" version)"
echo "== cairn hash $F $DIR/sample-edited.bin"
"$CAIRN" hash "$F" "$DIR/sample-edited.bin"
echo "== chunks shared by the two files (the rest is all that a sync would send):"
"$CAIRN" chunks "$F" | cut -f3 | sort >"$DIR/a.txt"
"$CAIRN" chunks "$DIR/sample-edited.bin" | cut -f3 | sort >"$DIR/b.txt"
echo "   $(comm -12 "$DIR/a.txt" "$DIR/b.txt" | wc -l) of $(wc -l <"$DIR/b.txt") chunks unchanged"
echo
echo "Try: $CAIRN hash --json FILE...   $CAIRN chunks FILE"
