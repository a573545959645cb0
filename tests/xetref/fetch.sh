#!/bin/sh
# fetch.sh DEST - put xet-core's own wasm chunker (as shipped inside the npm
# package @huggingface/hub@2.17.5, built from xet-core commit 861056a3) in
# DEST/xet-chunk/. Exits 77 ("skip") when the npm registry is unreachable.
set -eu
DEST=$1
PKG=@huggingface/hub@2.17.5
OUT=$DEST/xet-chunk
if [ -f "$OUT/chunker_wasm_bg.mjs" ] && [ -f "$OUT/chunker_wasm_bg.wasm.base64.ts" ]; then
	exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "fetch: npm not installed" >&2; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# npm checks the tarball against the registry's integrity hash.
if ! (cd "$TMP" && timeout 180 npm pack "$PKG" --silent >/dev/null 2>"$TMP/err"); then
	echo "fetch: npm pack $PKG failed (registry unreachable?):" >&2
	cat "$TMP/err" >&2
	exit 77
fi
tar -xzf "$TMP"/huggingface-hub-2.17.5.tgz -C "$TMP" package/src/vendor/xet-chunk
mkdir -p "$OUT"
V=$TMP/package/src/vendor/xet-chunk
cp "$V/chunker_wasm_bg.js" "$OUT/chunker_wasm_bg.mjs"
cp "$V/chunker_wasm_bg.wasm.base64.ts" "$OUT/"
cp "$V/README.md" "$OUT/"
echo "fetch: xet-core reference in $OUT"
