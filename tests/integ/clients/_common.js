// Helpers shared by the node test clients (node_https.js, node_fetch.js,
// openai_sdk.mjs, anthropic_sdk.mjs; the test providers take their option
// parsing) and by bun_fetch.js, which Bun runs: argument parsing, request
// bodies shaped like each provider's API, SSE event counting, the one-line
// JSON result, and the whole of the fetch clients (fetchMain), so node's
// fetch and Bun's run the same code.
// Request bodies are built the same way as in py_http.py.
'use strict';

const fs = require('fs');

const FILLER = ' lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor';

// Parse --key value / --flag options into opts (defaults already in it).
// spec maps option name to 'str', 'int', 'float', 'bool' or 'list'
// (repeatable).  Returns the arguments that are not options.
function parseOptions(argv, spec, usage, opts) {
	const pos = [];
	for (const [k, t] of Object.entries(spec))
		if (t === 'list') opts[k] = [];
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '-h' || a === '--help') {
			process.stdout.write(usage);
			process.exit(0);
		}
		if (!a.startsWith('--')) {
			pos.push(a);
			continue;
		}
		let name = a.slice(2), val;
		const eq = name.indexOf('=');
		if (eq >= 0) {
			val = name.slice(eq + 1);
			name = name.slice(0, eq);
		}
		const t = spec[name];
		if (!t)
			die(`unknown option --${name}\n${usage}`);
		if (t === 'bool') {
			opts[name] = true;
			continue;
		}
		if (val === undefined) {
			if (i + 1 >= argv.length) die(`--${name} needs a value`);
			val = argv[++i];
		}
		if (t === 'int') opts[name] = parseInt(val, 10);
		else if (t === 'float') opts[name] = parseFloat(val);
		else if (t === 'list') opts[name].push(val);
		else opts[name] = val;
	}
	return pos;
}

// parseOptions, and the first non-option argument is the base URL, a
// second one the CA file.
function parseArgs(argv, spec, usage) {
	const opts = {};
	const pos = parseOptions(argv, spec, usage, opts);

	opts.url = pos[0] || process.env.TG_URL;
	opts.ca = pos[1] || opts.ca || process.env.TG_CA;
	if (!opts.url) die(`no base URL (argument or TG_URL)\n${usage}`);
	opts.url = opts.url.replace(/\/+$/, '');
	return opts;
}

function die(msg) {
	process.stderr.write(`${require('path').basename(process.argv[1])}: ${msg}\n`);
	process.exit(2);
}

// The API a path belongs to, by suffix, as tollgate and the provider see it.
function apiOf(path) {
	const p = path.split('?')[0].replace(/\/+$/, '');
	if (p.endsWith('/chat/completions')) return 'chat';
	if (p.endsWith('/completions')) return 'completions';
	if (p.endsWith('/responses')) return 'responses';
	if (p.endsWith('/embeddings')) return 'embeddings';
	if (p.endsWith('/messages')) return 'anthropic';
	if (/:(stream)?[gG]enerateContent$/.test(p)) return 'gemini';
	if (/:(batch)?[eE]mbedContents?$/.test(p)) return 'gemini-embed';
	return 'other';
}

const DEFAULT_MODEL = {
	chat: 'gpt-4o-mini', completions: 'gpt-3.5-turbo-instruct', responses: 'gpt-4o-mini',
	embeddings: 'text-embedding-3-small', anthropic: 'claude-haiku-4-5-20251001',
};

// For Gemini the stream flag is in the path: :generateContent becomes
// :streamGenerateContent?alt=sse.
function streamPath(path, stream) {
	if (stream && /:generateContent(\?|$)/.test(path))
		return path.replace(':generateContent', ':streamGenerateContent') +
			(path.includes('?') ? '&' : '?') + 'alt=sse';
	return path;
}

// Build the JSON request body (a string) for the path's API.  With
// bodyBytes > 0 the prompt is padded so the body is exactly that many bytes
// (when it is at least the unpadded size).
function buildBody(path, { model, stream = false, includeUsage = false, bodyBytes = 0,
	prompt = 'Say this is a test' } = {}) {
	const api = apiOf(path);
	model = model || DEFAULT_MODEL[api] || 'gpt-4o-mini';
	prompt += PROMPT_EXTRA;
	const make = (text) => {
		let o;
		switch (api) {
		case 'completions':
			o = { model, prompt: text, max_tokens: 64 };
			break;
		case 'responses':
			o = { model, input: text, instructions: 'You are a helpful assistant.' };
			break;
		case 'embeddings':
			return { model, input: text };
		case 'anthropic':
			o = { model, max_tokens: 1024, messages: [{ role: 'user', content: text }] };
			break;
		case 'gemini':
			return { contents: [{ role: 'user', parts: [{ text }] }] };
		case 'gemini-embed':
			return { content: { parts: [{ text }] } };
		default:
			o = { model, messages: [{ role: 'user', content: text }] };
		}
		if (stream) {
			o.stream = true;
			if (includeUsage && (api === 'chat' || api === 'completions'))
				o.stream_options = { include_usage: true };
		}
		return o;
	};
	let body = JSON.stringify(make(prompt));
	const base = Buffer.byteLength(body);
	if (bodyBytes > base) {
		const need = bodyBytes - base;
		let pad = FILLER.repeat(Math.ceil(need / FILLER.length)).slice(0, need);
		body = JSON.stringify(make(prompt + pad));
	}
	return body;
}

// $TG_TEST_KEY replaces the API key, $TG_TEST_PROMPT is added to the
// prompt (planted secrets for the tests that check nothing leaks).
const KEY = process.env.TG_TEST_KEY;
const PROMPT_EXTRA = process.env.TG_TEST_PROMPT || '';

function authHeaders(path) {
	const api = apiOf(path);
	if (api === 'anthropic')
		return { 'x-api-key': KEY || 'sk-ant-test-0000000000', 'anthropic-version': '2023-06-01' };
	if (api.startsWith('gemini'))
		return { 'x-goog-api-key': KEY || 'AIzaTest000000000000' };
	return { authorization: 'Bearer ' + (KEY || 'sk-test-0000000000000000') };
}

// "K: V" strings from --header into an object.
function headerList(list) {
	const h = {};
	for (const s of list || []) {
		const i = s.indexOf(':');
		if (i <= 0) die(`bad --header ${s} (want "Name: value")`);
		h[s.slice(0, i).trim()] = s.slice(i + 1).trim();
	}
	return h;
}

// Number of SSE events (blocks with a data: line) in decoded body text.
function countSse(text) {
	let n = 0;
	for (const block of text.split(/\r?\n\r?\n/))
		if (/^data:/m.test(block)) n++;
	return n;
}

// What the provider says about the exchange (X-Test-* response headers).
function providerInfo(get) {
	const o = {};
	const rb = get('x-test-request-bytes');
	if (rb != null) o.request_bytes = parseInt(rb, 10);
	const u = get('x-test-usage');
	if (u) { try { o.usage = JSON.parse(u); } catch (e) { /* ignore */ } }
	const ev = get('x-test-sse-events');
	if (ev != null) o.sse_events = parseInt(ev, 10);
	const api = get('x-test-api');
	if (api) o.api = api;
	return o;
}

function emit(obj, ok) {
	process.stdout.write(JSON.stringify(obj) + '\n');
	process.exitCode = ok ? 0 : 1;
}

function readCa(file) {
	if (!file) return undefined;
	return fs.readFileSync(file);
}

// fetch-based clients (undici) take the CA only from NODE_EXTRA_CA_CERTS,
// which node reads once at start-up: it cannot be set from inside.  Refuse
// to run when it does not hold the CA (it may be set to the system bundle).
function requireExtraCa(ca) {
	if (!ca) return;
	const extra = process.env.NODE_EXTRA_CA_CERTS;
	let ok = false;
	try {
		const want = fs.readFileSync(ca, 'utf8').trim();
		ok = !!extra && fs.readFileSync(extra, 'utf8').includes(want);
	} catch (e) { /* ok stays false */ }
	if (!ok)
		die(`NODE_EXTRA_CA_CERTS (${extra || 'unset'}) does not hold ${ca}: start node with NODE_EXTRA_CA_CERTS=${ca} (node reads it at start; fetch has no per-request CA)`);
}

function byteLength(b) {
	if (b == null) return 0;
	if (typeof b === 'string') return Buffer.byteLength(b);
	if (b.byteLength != null) return b.byteLength;
	return 0;
}

// A fetch for the SDKs' `fetch` option that counts what goes through it
// into m: request_bytes, response_bytes (as decoded by fetch), status and
// the provider's X-Test-* headers.
function countingFetch(m) {
	return async (url, init) => {
		m.request_bytes += byteLength(init && init.body);
		const res = await fetch(url, init);
		m.status = res.status;
		m.provider = providerInfo((h) => res.headers.get(h));
		if (!res.body) return res;
		const counter = new TransformStream({
			transform(chunk, ctl) {
				m.response_bytes += chunk.byteLength;
				ctl.enqueue(chunk);
			},
		});
		return new Response(res.body.pipeThrough(counter), {
			status: res.status, statusText: res.statusText, headers: res.headers,
		});
	};
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A fetch error's message and the system error's code: node's undici puts
// the system error in e.cause, Bun's fetch its code ("ECONNRESET") on the
// error itself (a DOMException's code is a number: not that).
function fetchErrorText(e) {
	if (e.cause) return `${e.message} (${e.cause.code || e.cause.message})`;
	return `${e.message}${typeof e.code === 'string' ? ` (${e.code})` : ''}`;
}

// The fetch client (node_fetch.js, bun_fetch.js): parse argv, send --repeat
// requests with the runtime's global fetch, read each body as it arrives,
// print the one JSON line; name goes into the user-agent.  --delay-ms
// sleeps before the first request (a tracer attaches its probes a moment
// after exec).  Exit code 1 on failure (emit).
const FETCH_SPEC = {
	path: 'str', model: 'str', stream: 'bool', 'include-usage': 'bool', events: 'int',
	'body-bytes': 'int', repeat: 'int', header: 'list', gzip: 'bool', timeout: 'float',
	ca: 'str', 'delay-ms': 'int',
};

async function fetchMain(argv, usage, name) {
	const o = parseArgs(argv, FETCH_SPEC, usage);
	requireExtraCa(o.ca);

	const apiPath = o.path || '/v1/chat/completions';
	const url = o.url + streamPath(apiPath, o.stream);
	const body = buildBody(apiPath, {
		model: o.model, stream: o.stream, includeUsage: o['include-usage'],
		bodyBytes: o['body-bytes'] || 0,
	});
	const headers = Object.assign({
		'content-type': 'application/json', accept: 'application/json',
		'user-agent': `tollgate-test-${name}/1`,
	}, authHeaders(apiPath));
	if (o.events != null) headers['x-test-events'] = String(o.events);
	if (o.gzip) headers['x-test-gzip'] = '1';	// fetch sends accept-encoding: gzip, deflate, br
	Object.assign(headers, headerList(o.header));

	const out = {
		status: null, response_bytes: 0, request_bytes: 0, events: 0, requests: 0,
		statuses: [], pid: process.pid,
	};
	let ok = true;
	if (o['delay-ms'] > 0) await sleep(o['delay-ms']);
	for (let i = 0; i < Math.max(1, o.repeat || 1); i++) {
		let res;
		try {
			res = await fetch(url, {
				method: 'POST', headers, body,
				signal: AbortSignal.timeout((o.timeout || 60) * 1000),
			});
		} catch (e) {
			out.error = `${e.name}: ${fetchErrorText(e)}`;
			ok = false;
			break;
		}
		out.request_bytes += Buffer.byteLength(body);
		out.status = res.status;
		out.statuses.push(res.status);
		out.provider = providerInfo((h) => res.headers.get(h));
		const parts = [];
		try {
			for await (const chunk of res.body)	// read as it arrives
				parts.push(Buffer.from(chunk));
		} catch (e) {
			out.error = `incomplete body: ${fetchErrorText(e)}`;
		}
		const data = Buffer.concat(parts);
		out.response_bytes += data.length;
		if ((res.headers.get('content-type') || '').startsWith('text/event-stream'))
			out.events += countSse(data.toString('utf8'));
		out.requests++;
		if (res.status >= 400) ok = false;
		if (out.error) {
			ok = false;
			break;
		}
	}
	emit(out, ok);
}

module.exports = {
	parseOptions,
	parseArgs, apiOf, streamPath, buildBody, authHeaders, headerList, countSse,
	providerInfo, countingFetch, emit, readCa, requireExtraCa, die, sleep, fetchMain,
	DEFAULT_MODEL,
};
