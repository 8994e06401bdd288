#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The JavaScript side of bench/tokenizer/run.sh.
 *
 *   node_bench.js whole  LIB ENC FILE      load, encode FILE once, print
 *                                           {"tokens", "sha256"} of the ids
 *   node_bench.js inproc LIB ENC FILE SECS  encode FILE repeatedly in one
 *                                           process; first and best times
 * LIB: tiktoken (npm tiktoken, Rust/WASM) or gpt-tokenizer (pure JS).
 * Both are used as their READMEs show: tiktoken.get_encoding(ENC).encode(),
 * gpt-tokenizer's encoding/ENC module's encode(); special tokens are
 * ordinary text in both (as in tollgate tokenize).
 */
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const [mode, lib, enc, file, secs] = process.argv.slice(2);
const nm = path.resolve(__dirname, '../../tests/node/node_modules');

function loader() {
	if (lib === 'tiktoken') {
		const tk = require(path.join(nm, 'tiktoken'));
		const e = tk.get_encoding(enc);
		return (text) => e.encode(text, [], []);
	}
	if (lib === 'gpt-tokenizer') {
		const g = require(path.join(nm, 'gpt-tokenizer/cjs/encoding', enc + '.js'));
		return (text) => g.encode(text, { disallowedSpecial: new Set() });
	}
	throw new Error('unknown library ' + lib);
}

const t0 = process.hrtime.bigint();
const encode = loader();
const tLoad = Number(process.hrtime.bigint() - t0) / 1e9;
const text = fs.readFileSync(file, 'utf8');
const bytes = Buffer.byteLength(text);

if (mode === 'whole') {
	const ids = encode(text);
	const h = crypto.createHash('sha256').update(Array.from(ids).join(' ')).digest('hex');
	console.log(JSON.stringify({ lib, enc, bytes, tokens: ids.length, sha256: h, load_s: tLoad }));
} else {
	const min = Number(secs || 10);
	let first = 0, best = Infinity, reps = 0, tokens = 0;
	const start = Date.now();
	do {
		const t = process.hrtime.bigint();
		tokens = encode(text).length;
		const dt = Number(process.hrtime.bigint() - t) / 1e9;
		if (!reps) first = dt;
		if (dt < best) best = dt;
		reps++;
	} while ((Date.now() - start) / 1e3 < min || reps < 3);
	console.log(JSON.stringify({
		lib, enc, bytes, tokens, load_s: tLoad, first_s: first, best_s: best, reps,
		mb_per_s: bytes / best / 1e6, first_mb_per_s: bytes / first / 1e6,
	}));
}
