#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The reference price of calls, from @pydantic/genai-prices (tests/node),
 * for a differential check of tollgate's costs.
 *
 * stdin: one JSON object a line, usage in tollgate's buckets (DESIGN §9):
 *   {"model": "...", "provider": "openai", "input_tokens": N,
 *    "cached_input_tokens": N, "cache_write_tokens": N,
 *    "cache_write_1h_tokens": N, "output_tokens": N, "reasoning_tokens": N,
 *    "timestamp": "2026-12-01T12:00:00Z"}         (counts default to 0;
 *    timestamp, optional, picks dated prices; default now)
 * stdout: one line each:
 *   {"model": "...", "nano": <integer nano-USD, rounded> | null,
 *    "matched": "<the package's model id>" | null, "provider": "<its id>" | null,
 *    "usd": <the package's float total>}
 *
 * Conventions, converted here:
 *   - ours: input_tokens, cached_input_tokens and cache_write_tokens do not
 *     overlap; the package's input_tokens is ALL input, with
 *     cache_read_tokens and cache_write_tokens parts of it, and
 *     cache_write_1h_tokens / cache_write_5m_tokens parts of
 *     cache_write_tokens.  output_tokens is all output in both, reasoning
 *     (output_reasoning_tokens) a part.
 *   - provider: ours -> the package's id; for an aggregator or an unknown
 *     host the vendor prefix of the name ("openai/...") decides, else the
 *     package matches the provider by the model's name, else the first of
 *     the table's providers that knows the name (tollgate's last pass).  Vendor prefixes
 *     are taken off the name as tollgate's lookup does; a name that is
 *     the provider's own with its prefix ("openai/gpt-oss-120b" at Groq)
 *     is tried whole first.
 *   - time-of-day prices (DeepSeek): scripts/gen_prices.js takes the
 *     dearest variant, so the same is applied here; dated changes are
 *     the package's own, at `timestamp`.
 * The package sums doubles: "nano" may differ from an exact integer sum
 * by 1 when a cost falls on half a nano-USD.
 */
import { createRequire } from 'node:module';
import readline from 'node:readline';

const require = createRequire(new URL('../../node/package.json', import.meta.url));
const gp = require('@pydantic/genai-prices');

const PROVIDERS = {
	'openai': 'openai',
	'azure-openai': 'openai',
	'anthropic': 'anthropic',
	'gemini': 'google',
	'vertex-ai': 'google',
	'mistral': 'mistral',
	'groq': 'groq',
	'deepseek': 'deepseek',
	'xai': 'x-ai',
};

/* scripts/gen_prices.js PROVIDERS: the order of policies/prices.yaml */
const TABLE_ORDER = ['openai', 'anthropic', 'google', 'mistral', 'deepseek', 'x-ai', 'groq'];

/* user/pricing.c vendor_prefixes: prefix -> the package's provider id */
const VENDOR_PREFIXES = [
	['openai/', 'openai'], ['anthropic/', 'anthropic'], ['google/', 'google'],
	['gemini/', 'google'], ['models/', 'google'], ['vertex_ai/', 'google'],
	['mistral/', 'mistral'], ['mistralai/', 'mistral'], ['deepseek/', 'deepseek'],
	['deepseek-ai/', 'deepseek'], ['x-ai/', 'x-ai'], ['xai/', 'x-ai'], ['groq/', 'groq'],
	['openrouter/', null], ['azure/', null], ['bedrock/', null],
];

function vendorStrip(name) {
	let s = name, hint = null;
	const m = s.indexOf('/models/');

	if (m >= 0 && s.length > m + 8) {
		s = s.slice(m + 8);
		hint = 'google';
	}
	for (let round = 0, changed = true; changed && round < 4; round++) {
		changed = false;
		for (const [p, prov] of VENDOR_PREFIXES) {
			if (s.toLowerCase().startsWith(p) && s.length > p.length) {
				s = s.slice(p.length);
				hint = prov ?? hint;
				changed = true;
				break;
			}
		}
	}
	const b = /^(?:[a-z-]{2,8}\.)?anthropic\.(claude.*)$/i.exec(s);
	if (b) {
		s = b[1];
		hint = 'anthropic';
	}
	return { bare: s, hint };
}

function dearness(p) {
	const v = (k) => {
		const x = p[k];
		return x === undefined ? 0 : typeof x === 'number' ? x : x.base;
	};
	return [v('output_mtok'), v('input_mtok')];
}

/* scripts/gen_prices.js resolvePrices, at a time: the dated price in
 * effect, or the dearest time-of-day variant when there are some. */
function resolveTimeOfDay(model, when) {
	if (!Array.isArray(model.prices) ||
	    !model.prices.some((e) => e.constraint && (e.constraint.type === 'time_of_date' ||
						       e.constraint.start_time)))
		return model;
	let best = model.prices[0].prices;
	const tod = [];
	for (const e of model.prices) {
		const c = e.constraint;
		if (!c)
			continue;
		if (c.type === 'time_of_date' || c.start_time)
			tod.push(e.prices);
		else if (new Date(c.start_date + 'T00:00:00Z') <= when)
			best = e.prices;
	}
	for (const p of tod) {
		const a = dearness(p), b = dearness(best);
		if (a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]))
			best = p;
	}
	return { ...model, prices: best };
}

const adjusted = new Map();

function adjustedProvider(p, when) {
	const key = p.id + '@' + when.toISOString().slice(0, 10);
	if (!adjusted.has(key))
		adjusted.set(key, { ...p, models: p.models.map((m) => resolveTimeOfDay(m, when)) });
	return adjusted.get(key);
}

function count(v) {
	if (v === undefined || v === null)
		return 0;
	if (!Number.isSafeInteger(v) || v < 0)
		throw new Error('token counts are non-negative integers, got ' + v);
	return v;
}

/* Our buckets -> the package's Usage (totals with parts). */
function toUsage(r) {
	const input = count(r.input_tokens), cached = count(r.cached_input_tokens);
	const write = count(r.cache_write_tokens);
	const write1h = Math.min(count(r.cache_write_1h_tokens), write);

	return {
		input_tokens: input + cached + write,
		cache_read_tokens: cached,
		cache_write_tokens: write,
		cache_write_1h_tokens: write1h,
		cache_write_5m_tokens: write - write1h,
		output_tokens: count(r.output_tokens),
		output_reasoning_tokens: Math.min(count(r.reasoning_tokens), count(r.output_tokens)),
	};
}

function priceWith(usage, name, providerId, when) {
	const p = gp.findProvider(providerId ? { providerId } : { modelId: name.toLowerCase() });

	if (!p)
		return null;
	return gp.calcPrice(usage, name, { provider: adjustedProvider(p, when), timestamp: when });
}

function price(r) {
	const when = r.timestamp ? new Date(r.timestamp) : new Date();
	const usage = toUsage(r);
	const model = String(r.model ?? '');
	const { bare, hint } = vendorStrip(model);
	const ours = PROVIDERS[r.provider];
	const tries = [];

	if (ours) {
		tries.push([model, ours]);
		if (bare !== model)
			tries.push([bare, ours]);
	}
	/* not served there, or no provider of ours: as tollgate, the vendor
	 * the prefix names, then the package's own guess, then every provider
	 * of the table in its order (a local server's "llama3-8b-8192") */
	if (hint)
		tries.push([bare, hint]);
	tries.push([bare, null]);
	for (const id of TABLE_ORDER)
		tries.push([bare, id]);
	for (const [name, prov] of tries) {
		const res = priceWith(usage, name, prov, when);
		if (res)
			return {
				model, nano: Math.round(res.total_price * 1e9), matched: res.model.id,
				provider: res.provider.id, usd: res.total_price,
			};
	}
	return { model, nano: null, matched: null, provider: null, usd: null };
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
let status = 0;

for await (const line of rl) {
	if (!line.trim())
		continue;
	try {
		process.stdout.write(JSON.stringify(price(JSON.parse(line))) + '\n');
	} catch (e) {
		process.stderr.write('calc_price: ' + e.message + ': ' + line.slice(0, 200) + '\n');
		process.stdout.write(JSON.stringify({ model: null, nano: null, matched: null,
						      provider: null, usd: null, error: e.message }) + '\n');
		status = 1;
	}
}
process.exitCode = status;
