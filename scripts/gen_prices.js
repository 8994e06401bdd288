#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Regenerate policies/prices.yaml (DESIGN §6) from the data bundled in the
 * npm package @pydantic/genai-prices (tests/node/node_modules; `make deps`
 * installs it).
 *
 *   node scripts/gen_prices.js [--date YYYY-MM-DD] [-o FILE]
 *
 * --date picks which time-dependent prices are "in effect now" (default:
 * today, UTC) and is the date recorded in the header.
 *
 * What is carried over, per model of OpenAI, Anthropic, Google (Gemini
 * API and Vertex), Mistral, DeepSeek, xAI and Groq:
 *   - text-token prices in USD per million tokens, written as the decimal
 *     the package gives (no float arithmetic on them);
 *   - long-context tiers (the package tiers each price separately by total
 *     input tokens; here a tier is the full set of rates above a threshold);
 *   - aliases from the package's match rules: `equals`/`ends_with` give a
 *     name, `starts_with` (and `contains`, since lookup strips vendor
 *     prefixes first) a prefix written "NAME*"; regexes are left out (the
 *     ones in the data only accept dated snapshots, which lookup strips).
 *     A dated alias that lookup reaches by stripping the date is left out.
 * What is not: models the data marks deprecated, models priced only by
 * the second, page or message (audio, OCR), and non-text prices (audio and
 * image tokens, web searches, per-request fees).  A model the package
 * gives no price at all ({}) is free there, and written at 0.
 *
 * Time-dependent prices: a dated change is taken when it is in effect on
 * --date; one still to come is noted in a comment on the row.  Time-of-day
 * prices (DeepSeek's peak/off-peak) are not modelled: the dearest variant
 * is taken, so a call is never priced below what it may cost.
 */
'use strict';
const fs = require('fs');
const path = require('path');

const top = path.resolve(__dirname, '..');
const pkgDir = path.join(top, 'tests/node/node_modules/@pydantic/genai-prices');

/* package provider id -> our provider name, in table order: on equal
 * matches lookup takes the first row, so first-party providers come before
 * Google's Vertex-hosted Claude and Groq's hosted open models. */
const PROVIDERS = [
	['openai', 'openai'],
	['anthropic', 'anthropic'],
	['google', 'google'],
	['mistral', 'mistral'],
	['deepseek', 'deepseek'],
	['x-ai', 'xai'],
	['groq', 'groq'],
];

/* package price key -> our rate; the order is the order written */
const RATE_KEYS = [
	['input_mtok', 'input'],
	['cache_read_mtok', 'cached_input'],
	['cache_write_mtok', 'cache_write'],
	['cache_write_1h_mtok', 'cache_write_1h'],
	['output_mtok', 'output'],
];
/* Keys that would change what our buckets cost if we ignored them. */
const UNSUPPORTED_KEYS = ['cache_write_5m_mtok', 'output_reasoning_mtok', 'input_text_mtok',
	'output_text_mtok', 'cache_text_read_mtok', 'cache_text_write_mtok',
	'output_text_reasoning_mtok', 'input_tool_mtok', 'input_text_tool_mtok'];
const TIERS_MAX = 4;		/* PRICE_TIERS_MAX in include/pricing.h */
const ALIASES_MAX = 64;		/* PRICE_ALIASES_MAX in user/pricing.c */

function usage(code) {
	(code ? process.stderr : process.stdout).write(
		'usage: node scripts/gen_prices.js [--date YYYY-MM-DD] [-o FILE]\n');
	process.exit(code);
}

function parseArgs(argv) {
	const o = { date: new Date().toISOString().slice(0, 10),
		    out: path.join(top, 'policies/prices.yaml') };

	for (let i = 0; i < argv.length; i++) {
		if (argv[i] === '--date' && i + 1 < argv.length)
			o.date = argv[++i];
		else if ((argv[i] === '-o' || argv[i] === '--output') && i + 1 < argv.length)
			o.out = argv[++i];
		else if (argv[i] === '-h' || argv[i] === '--help')
			usage(0);
		else
			usage(2);
	}
	if (!/^\d{4}-\d{2}-\d{2}$/.test(o.date) || isNaN(new Date(o.date + 'T00:00:00Z')))
		throw new Error('--date: want YYYY-MM-DD, got ' + o.date);
	return o;
}

/*
 * A JS number as the plain decimal it stands for: String() gives the
 * shortest text that reads back as the same double (the literal in the
 * package's data), but switches to exponent form below 1e-6.  The point is
 * moved in the text, never by arithmetic.
 */
function decimal(n) {
	if (typeof n !== 'number' || !Number.isFinite(n) || n < 0)
		throw new Error('not a price: ' + n);
	const s = String(n);
	const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(s);
	if (!m)
		throw new Error('cannot write ' + s + ' as a decimal');
	let digits = m[1] + (m[2] || '');
	let point = m[1].length + (m[3] ? Number(m[3]) : 0);
	if (point <= 0) {
		digits = '0'.repeat(1 - point) + digits;
		point = 1;
	}
	if (point > digits.length)
		digits += '0'.repeat(point - digits.length);
	const int = digits.slice(0, point).replace(/^0+(?=\d)/, '');
	const frac = digits.slice(point).replace(/0+$/, '');
	if (frac.length > 9)
		throw new Error(s + ' USD/Mtok: more precision than nano-USD per Mtok');
	return frac ? int + '.' + frac : int;
}

function dearness(p) {
	const v = (k) => {
		const x = p[k];
		return x === undefined ? 0 : typeof x === 'number' ? x : x.base;
	};
	return [v('output_mtok'), v('input_mtok')];
}

/*
 * The prices in effect on `date` (a Date at 00:00 UTC): the last dated
 * entry that has started, else the unconstrained first one; then, of that
 * and the time-of-day variants, the dearest.  Returns { prices, notes }.
 */
function resolvePrices(model, date) {
	if (!Array.isArray(model.prices))
		return { prices: model.prices, notes: [] };
	const notes = [];
	let base = model.prices[0].prices;
	const tod = [];

	for (const e of model.prices) {
		const c = e.constraint;
		if (!c)
			continue;
		if (c.type === 'time_of_date' || (c.start_time && c.end_time)) {
			tod.push(e);
		} else if (c.type === 'start_date' || c.start_date) {
			if (new Date(c.start_date + 'T00:00:00Z') <= date)
				base = e.prices;
			else
				notes.push('changes on ' + c.start_date + ' to ' + summary(e.prices) +
					   ' (regenerate then)');
		} else {
			throw new Error(model.id + ': unknown price constraint ' + JSON.stringify(c));
		}
	}
	const hhmm = (t) => t.replace(/^(\d\d:\d\d)(?::00)?(?:\.0+)?Z$/, '$1');
	const when = (e) => hhmm(e.constraint.start_time) + '-' + hhmm(e.constraint.end_time);
	const dearer = (p, q) => {
		const a = dearness(p), b = dearness(q);
		return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
	};
	let best = base;
	for (const e of tod)
		if (dearer(e.prices, best))
			best = e.prices;
	if (tod.length && best !== base) {
		const at = tod.filter((e) => summary(e.prices) === summary(best)).map(when);
		notes.push('priced by time of day; this is the dearest, ' + at.join(', ') + ' UTC;');
		notes.push('  at other times ' + summary(base));
	} else if (tod.length) {
		notes.push('priced by time of day; this is the dearest; ' +
			   tod.map(when).join(', ') + ' UTC: ' + summary(tod[0].prices));
	}
	return { prices: best, notes };
}

function summary(p) {
	const f = (k) => {
		const x = p[k];
		return x === undefined ? '-' : decimal(typeof x === 'number' ? x : x.base);
	};
	return 'input ' + f('input_mtok') + ', output ' + f('output_mtok');
}

/* The rate of one price key at a tier threshold (null: the base). */
function rateAt(x, threshold) {
	if (typeof x === 'number')
		return x;
	let r = x.base;
	for (const t of [...x.tiers].sort((a, b) => a.start - b.start))
		if (threshold !== null && t.start <= threshold)
			r = t.price;
	return r;
}

function ratesAt(prices, threshold) {
	const r = { input: '0' };	/* replaced when there is a price */
	for (const [pk, ours] of RATE_KEYS)
		if (prices[pk] !== undefined)
			r[ours] = decimal(rateAt(prices[pk], threshold));
	if (r.output === undefined)
		r.output = '0';		/* embeddings: no output price */
	return r;
}

function toRow(provider, model, date) {
	const { prices, notes } = resolvePrices(model, date);

	for (const k of UNSUPPORTED_KEYS)
		if (prices[k] !== undefined)
			throw new Error(model.id + ': price key ' + k + ' is not supported');
	/* {}: the package prices it at nothing (Gemma on the Gemini API,
	 * ":free" variants); priced by the hour or the page only: not here */
	const free = Object.keys(prices).length === 0;
	if (free)
		notes.push('free: the package gives it no price');
	else if (prices.input_mtok === undefined && prices.output_mtok === undefined)
		return null;
	const starts = new Set();
	for (const [pk] of RATE_KEYS) {
		const x = prices[pk];
		if (x !== undefined && typeof x !== 'number')
			for (const t of x.tiers)
				starts.add(t.start);
	}
	const tiers = [...starts].sort((a, b) => a - b).map((s) => ({
		above: s, rates: ratesAt(prices, s),
	}));
	if (tiers.length > TIERS_MAX)
		throw new Error(model.id + ': more than ' + TIERS_MAX + ' tiers');
	return {
		provider, model: model.id, notes,
		rates: ratesAt(prices, null), tiers,
		names: [], prefixes: [],
	};
}

/* Names and prefixes a match rule accepts, as far as they are simple. */
function collectMatch(m, row, skipped) {
	if ('or' in m) {
		for (const x of m.or)
			collectMatch(x, row, skipped);
	} else if ('and' in m) {
		/* "starts_with X and not a TTS model": X, the exclusions being
		 * rows of their own matched earlier by exact name */
		const sw = m.and.filter((x) => 'starts_with' in x);
		if (sw.length === 1)
			row.prefixes.push(sw[0].starts_with);
		else
			skipped.push(row.model + ': ' + JSON.stringify(m));
	} else if ('equals' in m || 'ends_with' in m) {
		row.names.push(m.equals ?? m.ends_with);
	} else if ('starts_with' in m) {
		row.prefixes.push(m.starts_with);
	} else if ('contains' in m) {
		/* "contains claude-opus-4@": a Vertex version, which lookup strips */
		if (m.contains.endsWith('@'))
			row.names.push(m.contains.slice(0, -1));
		else
			row.prefixes.push(m.contains);
	} else if (!('regex' in m)) {
		skipped.push(row.model + ': ' + JSON.stringify(m));
	}
}

/*
 * One step of the snapshot stripping lookup does (user/pricing.c,
 * snapshot_strip; keep the two in step): the name without its last
 * version suffix, or null.
 */
function stripOnce(s) {
	let m;
	const at = s.lastIndexOf('@');
	if (at > 0 && /^[A-Za-z0-9._-]+$/.test(s.slice(at + 1)))
		return s.slice(0, at);
	if ((m = /-v\d+(?::\d+)?$/.exec(s)) || (m = /:\d+$/.exec(s)) || (m = /-latest$/i.exec(s)))
		return s.slice(0, m.index);
	if ((m = /-(\d{4})-(\d{2})-(\d{2})$/.exec(s)) && validDate(m[1], m[2], m[3]))
		return s.slice(0, m.index);
	if ((m = /-(\d{4})(\d{2})(\d{2})$/.exec(s)) && validDate(m[1], m[2], m[3]))
		return s.slice(0, m.index);
	if ((m = /-(\d{2})(\d{2})$/.exec(s))) {
		const a = Number(m[1]), b = Number(m[2]);
		if ((a >= 1 && a <= 12 && b >= 1 && b <= 31) ||	/* MMDD */
		    (a >= 23 && a <= 29 && b >= 1 && b <= 12))	/* YYMM */
			return s.slice(0, m.index);
	}
	if ((m = /-0\d\d$/.exec(s)))
		return s.slice(0, m.index);
	return null;
}

function validDate(y, mo, d) {
	y = Number(y); mo = Number(mo); d = Number(d);
	return y >= 2000 && y <= 2099 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31;
}

/*
 * Drop the aliases lookup does not need: the row's own name, duplicates,
 * and dated names whose stripping reaches this row's name (or one of its
 * undated aliases) before any other row's.
 */
function pruneAliases(rows) {
	const owners = new Map();	/* lower-case name -> Set of rows */
	const own = (n, r) => {
		n = n.toLowerCase();
		if (!owners.has(n))
			owners.set(n, new Set());
		owners.get(n).add(r);
	};
	for (const r of rows) {
		own(r.model, r);
		for (const n of r.names)
			own(n, r);
	}
	for (const r of rows) {
		const base = new Set([r.model.toLowerCase(),
			...r.names.filter((n) => stripOnce(n) === null).map((n) => n.toLowerCase())]);
		const keep = [];
		for (const n of r.names) {
			const ln = n.toLowerCase();
			if (base.has(ln) && ln !== r.model.toLowerCase()) {
				if (!keep.some((k) => k.toLowerCase() === ln))
					keep.push(n);
				continue;
			}
			if (ln === r.model.toLowerCase() || keep.some((k) => k.toLowerCase() === ln))
				continue;
			if (owners.get(ln).size > 1) {
				keep.push(n);
				continue;
			}
			let s = n, reached = null;
			while ((s = stripOnce(s)) !== null) {
				if (owners.has(s.toLowerCase())) {
					reached = s.toLowerCase();
					break;
				}
			}
			const ok = reached !== null && base.has(reached) &&
				   owners.get(reached).size === 1;
			if (!ok)
				keep.push(n);
		}
		r.aliases = keep.concat([...new Set(r.prefixes)].map((p) => p + '*'));
		if (r.aliases.length > ALIASES_MAX)
			throw new Error(r.model + ': more than ' + ALIASES_MAX + ' aliases');
	}
}

/* A flow list, wrapped to lines of at most 100 columns. */
function flowList(lead, items) {
	const lines = [];
	let line = lead + '[';

	items.forEach((it, i) => {
		const text = JSON.stringify(it) + (i + 1 < items.length ? ',' : ']');
		if (line.length + 1 + text.length > 100 && !line.endsWith('[')) {
			lines.push(line);
			line = ' '.repeat(lead.length + 1) + text;
		} else {
			line += (line.endsWith('[') ? '' : ' ') + text;
		}
	});
	lines.push(line);
	return lines;
}

function yamlRates(r, indent) {
	const out = [];
	for (const [, k] of RATE_KEYS)
		if (r[k] !== undefined)
			out.push(indent + k + ': ' + r[k]);
	return out;
}

function header(o, pkg, counts, skippedMatch) {
	const total = Object.values(counts).reduce((a, b) => a + b, 0);
	return `# tollgate prices (DESIGN §6): USD per million tokens, per model.
#
# GENERATED by scripts/gen_prices.js from the npm package
#   ${pkg.name} ${pkg.version} (${pkg.license} license, ${pkg.homepage})
# on ${o.date}: prices in effect on that date.  Do not edit by hand; change the
# script or import another table (tollgate prices import FILE).
# ${total} models: ${Object.entries(counts).map(([p, n]) => p + ' ' + n).join(', ')}.
# Left out: models the package marks deprecated, models priced only by the
# second, page or message (audio, OCR), non-text prices (audio/image tokens,
# web searches, per-request fees).  Models the package prices at nothing
# (Gemma on the Gemini API, ":free" variants) are written at 0.
${skippedMatch.length ? '# Match rules not carried over: ' + skippedMatch.length + '.\n' : ''}#
# Schema (unknown keys are errors; tollgate reports FILE:LINE:COL):
#   source:     provenance, shown by \`tollgate prices\`
#   models:     a list of
#     provider:        openai, anthropic, google, mistral, deepseek, xai, groq, ...
#                      (used to prefer a row when several match a name)
#     model:           the model's name
#     aliases:         other names for it; "NAME*" is a prefix.  Dated
#                      snapshots need no alias: lookup strips -YYYY-MM-DD,
#                      -YYYYMMDD, -MMDD/-YYMM, -latest, -00N, @VERSION, -vN:M
#     input:           USD per Mtok of input read from no cache      (required)
#     cached_input:    ... input read from a cache          (absent: as input)
#     cache_write:     ... input written to a cache, 5 min  (absent: as input)
#     cache_write_1h:  ... written to a cache for 1 hour    (absent: as cache_write)
#     output:          ... output, reasoning included                 (required)
#     tiers:           long context: a list of
#       above_input_tokens: N   when all input (uncached + cached + written)
#                               exceeds N, the whole call is priced at the
#                               rates that follow (the keys above; one left
#                               out is the row's)
# Prices are exact decimals with at most 9 digits after the point (nano-USD
# per Mtok).  Lookup (tollgate prices MODEL shows it): the serving provider's
# rows first, then all; in each, exact name, exact alias, dated snapshot,
# prefix alias (the longest); names compare ignoring case, and vendor
# prefixes (openai/, models/, anthropic., ...) are ignored.
`;
}

function render(o, pkg, rows, counts, skippedMatch) {
	const out = [header(o, pkg, counts, skippedMatch).trimEnd(), '',
		     'source: ' + JSON.stringify(pkg.name + ' ' + pkg.version + ' (' + pkg.license +
						 '), generated ' + o.date),
		     'models:'];
	let last = null;
	for (const r of rows) {
		if (r.provider !== last)
			out.push('', '  # --- ' + r.provider + ' ---');
		last = r.provider;
		r.notes.forEach((n, i) => out.push('  # ' + (i ? '' : r.model + ': ') + n));
		out.push('  - provider: ' + r.provider);
		out.push('    model: ' + JSON.stringify(r.model));
		if (r.aliases.length)
			out.push(...flowList('    aliases: ', r.aliases));
		out.push(...yamlRates(r.rates, '    '));
		if (r.tiers.length) {
			out.push('    tiers:');
			for (const t of r.tiers) {
				out.push('      - above_input_tokens: ' + t.above);
				out.push(...yamlRates(t.rates, '        '));
			}
		}
	}
	return out.join('\n') + '\n';
}

async function main() {
	const o = parseArgs(process.argv.slice(2));
	const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
	const gp = require(path.join(pkgDir, 'dist/index.cjs'));
	const all = await gp.waitForUpdate();
	const date = new Date(o.date + 'T00:00:00Z');
	const rows = [], counts = {}, skippedMatch = [];

	for (const [id, ours] of PROVIDERS) {
		const p = all.find((x) => x.id === id);
		if (!p)
			throw new Error('provider ' + id + ' not in the package data');
		counts[ours] = 0;
		for (const m of p.models) {
			if (m.deprecated)
				continue;
			const row = toRow(ours, m, date);
			if (!row)
				continue;
			collectMatch(m.match, row, skippedMatch);
			rows.push(row);
			counts[ours]++;
		}
	}
	pruneAliases(rows);
	const text = render(o, pkg, rows, counts, skippedMatch);
	const tmp = o.out + '.tmp';
	fs.writeFileSync(tmp, text);
	fs.renameSync(tmp, o.out);
	process.stderr.write('wrote ' + o.out + ': ' + rows.length + ' models (' +
		Object.entries(counts).map(([p, n]) => p + ' ' + n).join(', ') + ')\n');
	for (const s of skippedMatch)
		process.stderr.write('match rule not carried over: ' + s + '\n');
}

main().catch((e) => {
	process.stderr.write('gen_prices: ' + e.message + '\n');
	process.exit(1);
});
