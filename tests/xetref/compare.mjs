// compare.mjs REF.json INPUTS.json CLI.json STORED.json
// Checks that `cairn hash --json` printed xet-core's file hash and size for
// every input, and that the stored reference answers equal the live ones
// for every spec they share.
import fs from 'node:fs';

const [refPath, inputsPath, cliPath, storedPath] = process.argv.slice(2);
const ref = JSON.parse(fs.readFileSync(refPath, 'utf8'));
const inputs = JSON.parse(fs.readFileSync(inputsPath, 'utf8'));
const cli = JSON.parse(fs.readFileSync(cliPath, 'utf8'));
const stored = JSON.parse(fs.readFileSync(storedPath, 'utf8'));
let passed = 0, failed = 0;
const check = (ok, what) => { if (ok) passed++; else { failed++; console.log(`FAIL ${what}`); } };

const byFile = new Map(cli.map((e) => [e.path, e]));
inputs.forEach((input, i) => {
	const got = byFile.get(input.file);
	check(got && got.hash === ref[i].file_hash && got.size === ref[i].size,
		`cairn hash ${input.spec}: ${got ? got.hash : 'missing'} vs ${ref[i].file_hash}`);
});
const live = new Map(ref.map((e) => [e.spec, JSON.stringify(e)]));
for (const e of stored) {
	check(live.has(e.spec) && live.get(e.spec) === JSON.stringify(e),
		`stored reference for ${e.spec} matches xet-core live`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
