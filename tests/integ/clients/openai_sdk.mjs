#!/usr/bin/node
// LLM API client on the official `openai` SDK (tests/node/node_modules, v6),
// which sends its requests with node's global fetch (undici).
//
//   NODE_EXTRA_CA_CERTS=CA openai_sdk.mjs URL [CA] [--api chat|responses|embeddings|completions]
//       [--model M] [--stream] [--include-usage] [--events N] [--body-bytes N]
//       [--repeat K] [--header 'K: V']... [--gzip] [--max-retries N] [--timeout SEC]
//
// URL is the provider's base URL (https://127.0.0.1:PORT); the SDK gets
// baseURL URL/v1 (pass a URL that already ends in /v1 to keep it as is).
// The CA must be in NODE_EXTRA_CA_CERTS (read by node at start; the SDK's
// fetch has no per-request CA): the client refuses to run otherwise.
// --max-retries defaults to 0 (the SDK's default, 2, would repeat 429/5xx
// calls and make extra records).  --body-bytes pads the prompt so the JSON
// body is about N bytes (the SDK serializes it; request_bytes is exact).
//
// Prints one JSON line: {"status", "response_bytes", "request_bytes",
// "events", "requests", "statuses", "pid", "provider": {...}}.  The byte
// counts are measured by a fetch wrapper handed to the SDK: request_bytes is
// the body the SDK sent, response_bytes the decoded body it read.  events is
// the number of items the SDK's stream yielded (for chat, the [DONE]
// sentinel is not one: events = SSE events - 1).  Exits 1 on failure.
import { createRequire } from 'module';
import OpenAI from '../../node/node_modules/openai/index.mjs';

const require = createRequire(import.meta.url);
const c = require('./_common.js');

const USAGE = `usage: NODE_EXTRA_CA_CERTS=CA openai_sdk.mjs URL [CA] [--api chat|responses|embeddings|completions]
       [--model M] [--stream] [--include-usage] [--events N] [--body-bytes N] [--repeat K]
       [--header 'K: V']... [--gzip] [--max-retries N] [--timeout SEC] [--ca FILE]
`;

const o = c.parseArgs(process.argv.slice(2), {
	api: 'str', model: 'str', stream: 'bool', 'include-usage': 'bool', events: 'int',
	'body-bytes': 'int', repeat: 'int', header: 'list', gzip: 'bool', 'max-retries': 'int',
	timeout: 'float', ca: 'str',
}, USAGE);
c.requireExtraCa(o.ca);

const api = o.api || 'chat';
const PATHS = { chat: '/chat/completions', responses: '/responses', embeddings: '/embeddings',
	completions: '/completions' };
if (!PATHS[api]) c.die(`unknown --api ${api}`);
const baseURL = /\/v1$/.test(o.url) ? o.url : `${o.url}/v1`;
const model = o.model || c.DEFAULT_MODEL[api];

// The prompt: padded like buildBody pads it, so the body is about --body-bytes.
let prompt = 'Say this is a test' + (process.env.TG_TEST_PROMPT || '');
if (o['body-bytes']) {
	const full = JSON.parse(c.buildBody(`/v1${PATHS[api]}`, {
		model, stream: o.stream, includeUsage: o['include-usage'], bodyBytes: o['body-bytes'],
	}));
	prompt = full.messages ? full.messages[0].content : (full.input || full.prompt);
}

const headers = c.headerList(o.header);
if (o.events != null) headers['X-Test-Events'] = String(o.events);
if (o.gzip) headers['X-Test-Gzip'] = '1';

const m = { request_bytes: 0, response_bytes: 0, status: null, provider: null };

const countingFetch = c.countingFetch(m);

const client = new OpenAI({
	apiKey: process.env.TG_TEST_KEY || 'sk-test-0000000000000000', baseURL, fetch: countingFetch,
	maxRetries: o['max-retries'] || 0, timeout: (o.timeout || 60) * 1000,
	defaultHeaders: headers,
});

async function once() {
	let events = 0;
	if (api === 'embeddings') {
		await client.embeddings.create({ model, input: prompt });
	} else if (api === 'responses') {
		const r = await client.responses.create({
			model, input: prompt, instructions: 'You are a helpful assistant.',
			...(o.stream ? { stream: true } : {}),
		});
		if (o.stream) for await (const ev of r) events++;	// eslint-disable-line no-unused-vars
	} else if (api === 'completions') {
		const r = await client.completions.create({
			model, prompt, max_tokens: 64,
			...(o.stream ? { stream: true } : {}),
			...(o.stream && o['include-usage'] ? { stream_options: { include_usage: true } } : {}),
		});
		if (o.stream) for await (const ev of r) events++;	// eslint-disable-line no-unused-vars
	} else {
		const r = await client.chat.completions.create({
			model, messages: [{ role: 'user', content: prompt }],
			...(o.stream ? { stream: true } : {}),
			...(o.stream && o['include-usage'] ? { stream_options: { include_usage: true } } : {}),
		});
		if (o.stream) for await (const ev of r) events++;	// eslint-disable-line no-unused-vars
	}
	return events;
}

(async () => {
	const out = {
		status: null, response_bytes: 0, request_bytes: 0, events: 0, requests: 0,
		statuses: [], pid: process.pid,
	};
	let ok = true;
	for (let i = 0; i < Math.max(1, o.repeat || 1); i++) {
		m.status = null;
		try {
			out.events += await once();
		} catch (e) {
			out.error = `${e.constructor.name}: ${e.message}${e.cause ? ` (${e.cause.code || e.cause.message})` : ''}`;
			ok = false;
		}
		if (m.status != null) {
			out.status = m.status;
			out.statuses.push(m.status);
			out.requests++;
			if (m.status >= 400) ok = false;
		}
		if (!ok) break;
	}
	out.request_bytes = m.request_bytes;
	out.response_bytes = m.response_bytes;
	if (m.provider) out.provider = m.provider;
	c.emit(out, ok);
})();
