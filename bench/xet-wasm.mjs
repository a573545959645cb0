// xet-wasm.mjs VENDOR_DIR FILE - xet-core's own chunk + hash (its wasm
// build under Node) over FILE, fed in 16 MiB pieces; prints seconds and
// the file hash. The peer that bench/run.sh compares Cairn against.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [vendor, file] = process.argv.slice(2);
const src = fs.readFileSync(path.join(vendor, 'chunker_wasm_bg.wasm.base64.ts'), 'utf8');
const wasm = Buffer.from(src.match(/`([^`]*)`/)[1].replace(/\s+/g, ''), 'base64');
const xc = await import(pathToFileURL(path.join(vendor, 'chunker_wasm_bg.mjs')).href);
xc.initSync({ module: wasm });

const fd = fs.openSync(file, 'r');
const buf = Buffer.alloc(16 << 20);
const t0 = process.hrtime.bigint();
const chunker = new xc.Chunker(65536);
const chunks = [];
let n;
while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) {
	for (const c of chunker.add_data(buf.subarray(0, n))) chunks.push({ hash: c.hash, length: c.length });
}
for (const c of chunker.finish()) chunks.push({ hash: c.hash, length: c.length });
const hash = xc.compute_file_hash(chunks);
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`${secs.toFixed(4)} ${hash}`);
