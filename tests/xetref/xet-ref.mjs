// xet-ref.mjs VENDOR_DIR INPUTS.json - answers from xet-core itself.
//
// Loads xet-core's wasm build (checking its SHA-256 against the value the
// package records and against the one pinned here), feeds every input file
// listed in INPUTS.json to xet-core's Chunker in odd piece sizes, and prints
// a JSON array: spec, size, chunks [[length, hash]...], xorb_hash,
// file_hash, verification_hash. tests/xetcheck checks Cairn against it.
import fs from 'node:fs';
import crypto from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const PINNED_SHA256 = '596067aba4a866832fc5d5c9f577cb6e82514b8d5b4f11cee1aedacab5aa439e';
const PINNED_COMMIT = '861056a363e4e5e8661a7d8ecb22b923e54355a0';

const [vendor, inputsPath] = process.argv.slice(2);
if (!vendor || !inputsPath) {
	console.error('usage: node xet-ref.mjs VENDOR_DIR INPUTS.json');
	process.exit(2);
}

const src = fs.readFileSync(path.join(vendor, 'chunker_wasm_bg.wasm.base64.ts'), 'utf8');
const b64 = src.match(/`([^`]*)`/)[1].replace(/\s+/g, '');
const recorded = src.match(/XET_CORE_WASM_SHA256 = "([0-9a-f]{64})"/)[1];
const commit = src.match(/XET_CORE_COMMIT = "([0-9a-f]{40})"/)[1];
const wasm = Buffer.from(b64, 'base64');
const sha = crypto.createHash('sha256').update(wasm).digest('hex');
if (sha !== recorded || sha !== PINNED_SHA256 || commit !== PINNED_COMMIT) {
	console.error(`xet-ref: wasm checksum ${sha} (recorded ${recorded}, pinned ${PINNED_SHA256}), commit ${commit}`);
	process.exit(1);
}
console.error(`xet-ref: xet-core ${commit.slice(0, 8)} wasm sha256 ${sha} verified`);

const xc = await import(pathToFileURL(path.join(vendor, 'chunker_wasm_bg.mjs')).href);
xc.initSync({ module: wasm });

const pieces = [1, 4093, 65537, 7, 131071, 100003, 64, 8191];
const out = [];
for (const input of JSON.parse(fs.readFileSync(inputsPath, 'utf8'))) {
	const data = fs.readFileSync(input.file);
	const chunker = new xc.Chunker(65536);
	const chunks = [];
	let pos = 0, k = 0;
	while (pos < data.length) {
		const n = Math.min(pieces[k++ % pieces.length], data.length - pos);
		chunks.push(...chunker.add_data(data.subarray(pos, pos + n)));
		pos += n;
	}
	chunks.push(...chunker.finish());
	chunker.free();
	const list = chunks.map((c) => ({ hash: c.hash, length: c.length }));
	out.push({
		spec: input.spec,
		size: data.length,
		chunks: list.map((c) => [c.length, c.hash]),
		xorb_hash: xc.compute_xorb_hash(list),
		file_hash: xc.compute_file_hash(list),
		verification_hash: xc.compute_verification_hash(list.map((c) => c.hash)),
	});
}
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
