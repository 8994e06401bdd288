#!/usr/bin/node
// LLM API client on the official `@anthropic-ai/sdk` (tests/node/node_modules),
// messages.create, which sends its requests with node's global fetch (undici).
//
//   NODE_EXTRA_CA_CERTS=CA anthropic_sdk.mjs URL [CA] [--model M] [--stream]
//       [--events N] [--body-bytes N] [--max-tokens N] [--repeat K]
//       [--header 'K: V']... [--gzip] [--max-retries N] [--timeout SEC]
//
// URL is the provider's base URL (https://127.0.0.1:PORT); the SDK appends
// /v1/messages itself.  The CA must be in NODE_EXTRA_CA_CERTS (read by node
// at start): the client refuses to run otherwise.  --max-retries defaults
// to 0.  --body-bytes pads the prompt so the JSON body is about N bytes.
//
// Prints one JSON line: {"status", "response_bytes", "request_bytes",
// "events", "requests", "statuses", "pid", "provider": {...}}; byte counts
// come from a fetch wrapper handed to the SDK (request body sent, decoded
// response body read); events is the number of stream events the SDK
// yielded (it drops `ping`: events = SSE events - 1).  Exits 1 on failure.
import { createRequire } from 'module';
import Anthropic from '../../node/node_modules/@anthropic-ai/sdk/index.mjs';

const require = createRequire(import.meta.url);
const c = require('./_common.js');

const USAGE = `usage: NODE_EXTRA_CA_CERTS=CA anthropic_sdk.mjs URL [CA] [--model M] [--stream]
       [--events N] [--body-bytes N] [--max-tokens N] [--repeat K] [--header 'K: V']...
       [--gzip] [--max-retries N] [--timeout SEC] [--ca FILE]
`;

const o = c.parseArgs(process.argv.slice(2), {
	model: 'str', stream: 'bool', events: 'int', 'body-bytes': 'int', 'max-tokens': 'int',
	repeat: 'int', header: 'list', gzip: 'bool', 'max-retries': 'int', timeout: 'float',
	ca: 'str',
}, USAGE);
c.requireExtraCa(o.ca);

const model = o.model || c.DEFAULT_MODEL.anthropic;
let prompt = 'Say this is a test' + (process.env.TG_TEST_PROMPT || '');
if (o['body-bytes']) {
	const full = JSON.parse(c.buildBody('/v1/messages', {
		model, stream: o.stream, bodyBytes: o['body-bytes'],
	}));
	prompt = full.messages[0].content;
}

const headers = c.headerList(o.header);
if (o.events != null) headers['X-Test-Events'] = String(o.events);
if (o.gzip) headers['X-Test-Gzip'] = '1';

const m = { request_bytes: 0, response_bytes: 0, status: null, provider: null };

const countingFetch = c.countingFetch(m);

const client = new Anthropic({
	apiKey: process.env.TG_TEST_KEY || 'sk-ant-test-0000000000', baseURL: o.url, fetch: countingFetch,
	maxRetries: o['max-retries'] || 0, timeout: (o.timeout || 60) * 1000,
	defaultHeaders: headers,
});

async function once() {
	let events = 0;
	const r = await client.messages.create({
		model, max_tokens: o['max-tokens'] || 1024,
		messages: [{ role: 'user', content: prompt }],
		...(o.stream ? { stream: true } : {}),
	});
	if (o.stream) for await (const ev of r) events++;	// eslint-disable-line no-unused-vars
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
