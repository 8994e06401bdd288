#!/usr/bin/node
// Responses API "WebSocket mode" client on the official `openai` SDK
// (tests/node/node_modules, v6): its ResponsesWS class
// (openai/resources/responses/ws), which opens wss://HOST/v1/responses with
// the `ws` package (Authorization: Bearer KEY) and sends response.create
// events as JSON text messages.
//
//   NODE_EXTRA_CA_CERTS=CA openai_ws.mjs --base-url https://127.0.0.1:PORT/v1
//       [--n N] [--model M] [--delay-ms MS] [--events N] [--body-bytes N]
//       [--abort-after K] [--client-deflate default|always|off] [--timeout SEC]
//       [--ca FILE]
//
// One WebSocket connection, N (default 1) sequential response.create
// requests, each waiting for its response.completed.  The base URL may be
// given as the first argument instead of --base-url; without /v1 at the
// end, /v1 is added.  --ca FILE is handed to ws (tls `ca` option: the only
// CA trusted); otherwise node's roots plus NODE_EXTRA_CA_CERTS apply.
//
// Knobs (sent in the message's metadata, read by provider_ws.js):
//   --events N       output_text.delta events per response (test_events)
//   --abort-after K  the LAST request asks the provider to drop the
//                    connection after K events (test_abort_after)
// --body-bytes N pads the input so the response.create message is about N
// bytes (the SDK sends JSON.stringify of the event: request_bytes is exact).
// --client-deflate: default keeps ws's own permessage-deflate offer
// (client_max_window_bits; threshold 1024, which ws ignores, compressing
// every message, unless client_no_context_takeover is negotiated); always
// offers it with threshold 0; off offers no extension.
//
// Prints one JSON line per completed call:
//   {"i": I, "usage": {"input_tokens": P, "output_tokens": C}, "model": M,
//    "events": E, "request_bytes": B}
// (usage and model from response.completed's response), then
//   {"pid": PID, "calls": N, "ok": K, "extensions": "permessage-deflate"|"",
//    "error": "..."?, "failed_call_events": E?}
// (failed_call_events: the events the call that failed got before it did).
// Exits 0 when all N calls completed, 1 otherwise.
import { createRequire } from 'module';
import OpenAI from '../../node/node_modules/openai/index.mjs';
import { ResponsesWS } from '../../node/node_modules/openai/resources/responses/ws.mjs';

const require = createRequire(import.meta.url);
const c = require('./_common.js');

const USAGE = `usage: NODE_EXTRA_CA_CERTS=CA openai_ws.mjs --base-url https://127.0.0.1:PORT/v1
       [--n N] [--model M] [--delay-ms MS] [--events N] [--body-bytes N] [--abort-after K]
       [--client-deflate default|always|off] [--timeout SEC] [--ca FILE]
`;

// --base-url URL is the positional URL of the shared parser.
const argv = [];
{
	const a = process.argv.slice(2);
	for (let i = 0; i < a.length; i++) {
		if (a[i] === '--base-url') {
			if (i + 1 >= a.length) c.die('--base-url needs a value');
			argv.unshift(a[++i]);
		} else if (a[i].startsWith('--base-url=')) {
			argv.unshift(a[i].slice('--base-url='.length));
		} else {
			argv.push(a[i]);
		}
	}
}
const o = c.parseArgs(argv, {
	n: 'int', model: 'str', 'delay-ms': 'int', events: 'int', 'body-bytes': 'int',
	'abort-after': 'int', 'client-deflate': 'str', timeout: 'float', ca: 'str',
}, USAGE);

const n = Math.max(1, o.n || 1);
const model = o.model || 'gpt-4o-mini';
const baseURL = /\/v1$/.test(o.url) ? o.url : `${o.url}/v1`;
const timeoutMs = (o.timeout || 30) * 1000;
const deflateMode = o['client-deflate'] || 'default';
if (!['default', 'always', 'off'].includes(deflateMode))
	c.die(`--client-deflate must be default, always or off\n${USAGE}`);

const FILLER = ' lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor';

// The response.create event for call i.
function createEvent(i) {
	const metadata = {};
	if (o.events != null) metadata.test_events = String(o.events);
	if (o['abort-after'] != null && i === n - 1) metadata.test_abort_after = String(o['abort-after']);
	const make = (input) => ({
		type: 'response.create', model, input,
		instructions: 'You are a helpful assistant.',
		...(Object.keys(metadata).length ? { metadata } : {}),
	});
	const prompt = 'Say this is a test' + (process.env.TG_TEST_PROMPT || '');
	let ev = make(prompt);
	const want = o['body-bytes'] || 0;
	const have = Buffer.byteLength(JSON.stringify(ev));
	if (want > have) {
		const need = want - have;
		ev = make(prompt + FILLER.repeat(Math.ceil(need / FILLER.length)).slice(0, need));
	}
	return ev;
}

const client = new OpenAI({
	apiKey: process.env.TG_TEST_KEY || 'sk-test-ws', baseURL, maxRetries: 0,
});

const wsOptions = {};
if (o.ca) wsOptions.ca = c.readCa(o.ca);
if (deflateMode === 'always') wsOptions.perMessageDeflate = { threshold: 0 };
else if (deflateMode === 'off') wsOptions.perMessageDeflate = false;
wsOptions.handshakeTimeout = timeoutMs;

const rws = new ResponsesWS(client, wsOptions);

// The call in flight: its event count and settle functions.
let cur = null;
let closed = null;		// "code reason" once the connection is gone
let firstError = null;

const fail = (msg) => {
	if (!firstError) firstError = msg;
	if (cur) {
		const k = cur;
		cur = null;
		const e = new Error(msg);
		e.events = k.events;
		k.reject(e);
	}
};

rws.on('event', (ev) => {
	if (!cur) return;
	cur.events++;
	if (ev.type === 'response.completed') {
		const k = cur;
		cur = null;
		k.resolve(ev);
	} else if (ev.type === 'response.failed' || ev.type === 'response.incomplete') {
		fail(`${ev.type}: ${JSON.stringify(ev.response && (ev.response.error || ev.response.incomplete_details))}`);
	}
});
// API error events and socket errors both come here.
rws.on('error', (err) => {
	const cause = err.cause ? ` (${err.cause.code || err.cause.message})` : '';
	fail(`${err.constructor.name}: ${err.message}${cause}`);
});
rws.on('close', (code, reason) => {
	closed = `${code} ${reason || ''}`.trim();
	fail(`connection closed: ${closed}`);
});

function call(i) {
	return new Promise((resolve, reject) => {
		if (closed) {
			reject(new Error(`connection closed: ${closed}`));
			return;
		}
		const ev = createEvent(i);
		const k = { events: 0, request_bytes: Buffer.byteLength(JSON.stringify(ev)) };
		const timer = setTimeout(() => fail(`call ${i}: no response.completed in ${timeoutMs} ms`),
			timeoutMs);
		k.resolve = (done) => {
			clearTimeout(timer);
			resolve({ done, events: k.events, request_bytes: k.request_bytes });
		};
		k.reject = (e) => {
			clearTimeout(timer);
			reject(e);
		};
		cur = k;
		// The SDK queues it until the socket is open; it sends JSON.stringify(ev).
		rws.send(ev);
	});
}

function extensions() {
	try {
		return rws.socket.platformSocket.extensions || '';
	} catch (e) {
		return '';
	}
}

(async () => {
	let ok = 0;
	let failedEvents = null;	// events the failed call got before it failed
	for (let i = 0; i < n; i++) {
		if (i > 0 && o['delay-ms'] > 0) await c.sleep(o['delay-ms']);
		try {
			const { done, events, request_bytes } = await call(i);
			const r = done.response || {};
			const u = r.usage || {};
			process.stdout.write(JSON.stringify({
				i, usage: { input_tokens: u.input_tokens, output_tokens: u.output_tokens },
				model: r.model, events, request_bytes,
			}) + '\n');
			ok++;
		} catch (e) {
			if (!firstError) firstError = e.message;
			if (e.events != null) failedEvents = e.events;
			break;
		}
	}
	const out = { pid: process.pid, calls: n, ok, extensions: extensions() };
	if (firstError) out.error = firstError;
	if (failedEvents != null) out.failed_call_events = failedEvents;
	if (!closed) {
		const gone = new Promise((r) => rws.on('close', r));
		rws.close({ code: 1000, reason: 'done' });
		await Promise.race([gone, c.sleep(2000)]);
	}
	c.emit(out, ok === n);
	// The socket is closed (or given up on): do not wait for ws timers.
	setImmediate(() => process.exit(process.exitCode));
})();
