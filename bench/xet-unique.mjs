// xet-unique.mjs VENDOR_DIR FILE... - xet-core's own chunker (its wasm
// build under Node) over each FILE in turn; prints, per file, its size and
// the bytes of its chunks that no earlier FILE (nor an earlier place in
// the same file) had: what a perfect chunk-level dedup would have to send
// for it. The yardstick bench/sync.sh holds Cairn's bytes sent against.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [vendor, ...files] = process.argv.slice(2);
const src = fs.readFileSync(path.join(vendor, 'chunker_wasm_bg.wasm.base64.ts'), 'utf8');
const wasm = Buffer.from(src.match(/`([^`]*)`/)[1].replace(/\s+/g, ''), 'base64');
const xc = await import(pathToFileURL(path.join(vendor, 'chunker_wasm_bg.mjs')).href);
xc.initSync({ module: wasm });

const seen = new Set();
const buf = Buffer.alloc(16 << 20);
for (const file of files) {
	const fd = fs.openSync(file, 'r');
	const chunker = new xc.Chunker(65536);
	let size = 0, unique = 0, n;
	const take = (c) => {
		size += c.length;
		if (!seen.has(c.hash)) {
			seen.add(c.hash);
			unique += c.length;
		}
	};
	while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0)
		for (const c of chunker.add_data(buf.subarray(0, n))) take(c);
	for (const c of chunker.finish()) take(c);
	fs.closeSync(fd);
	console.log(`${size} ${unique}`);
}
