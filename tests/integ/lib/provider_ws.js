#!/usr/bin/node
// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * A local "OpenAI Responses API WebSocket mode" provider for tollgate's
 * integration tests.  Node, with the `ws` package of tests/node.
 *
 *   node provider_ws.js --cert server.pem --key server.key --portfile FILE
 *                       [--host 127.0.0.1] [--deflate on|off|no-context-takeover]
 *                       [--fragment] [--verbose]
 *
 * Listens with TLS (HTTP/1.1) on an ephemeral port of HOST and writes the
 * port to FILE once listening.  A WebSocket upgrade (GET, Upgrade:
 * websocket, Authorization: Bearer ...) on a path ending in /responses
 * (any prefix, query ignored) opens a session; other upgrades get 404, one
 * without a bearer key 401.  Each text message
 *     {"type": "response.create", "model": ..., "input": ..., ...}
 * (the POST /v1/responses body's fields; `stream` implicit) is answered with
 * the events provider.py sends for a streaming POST /v1/responses, in the
 * same shapes and field order, each as one WebSocket text message:
 *     response.created, response.in_progress, response.output_item.added,
 *     response.content_part.added, N x response.output_text.delta,
 *     response.output_text.done, response.content_part.done,
 *     response.output_item.done, response.completed (with usage and model).
 * sequence_number counts from 0 within each response.  Messages on one
 * connection are answered in order, one response at a time.  Anything else
 * (bad JSON, another type) gets an `error` event (status 400).
 *
 * Usage numbers are deterministic, as in provider.py:
 *     input_tokens  = max(1, byte length of the response.create message // 4)
 *                     (the decoded payload: after permessage-deflate)
 *     output_tokens = number of output_text.delta events (default 5)
 *     cached_tokens = reasoning_tokens = 0, total = input + output
 *
 * Test knobs, in the message's "metadata" object (string or number values):
 *     test_events: N          output_text.delta events (default 5)
 *     test_abort_after: K     send K events, then drop the connection
 *                             (ws.terminate(): no close frame)
 *     test_event_delay_ms: N  pause between events (default 0)
 *
 * --deflate on (default): permessage-deflate accepted when offered, with
 * context takeover both ways, threshold 0 (every message compressed);
 * no-context-takeover: the same with server_no_context_takeover and
 * client_no_context_takeover; off: the extension is refused.
 * --fragment: each event is sent as 3 frames (a text frame and two
 * continuations; with deflate, one compressed message across the three).
 *
 * Plain HTTPS requests: GET .../__test/stats answers
 *     {"ws_connections": N, "creates": N, "events": N, "requests": N}
 * (WebSocket sessions opened, response.create messages answered or started,
 * events sent, plain HTTP requests); anything else (POST /v1/responses
 * included) answers 404 JSON.  --verbose logs to stderr, with the
 * negotiated extension of each session.  process.title (comm) is
 * "tg-provider-ws" (node's statically linked OpenSSL).  Exits on SIGTERM
 * or SIGINT.
 */
'use strict';

process.title = 'tg-provider-ws';

const fs = require('fs');
const https = require('https');
const path = require('path');
const crypto = require('crypto');
const { parseOptions } = require('../clients/_common.js');

const WS_DIR = path.join(__dirname, '..', '..', 'node', 'node_modules', 'ws');
let WebSocketServer;
try {
	({ WebSocketServer } = require(WS_DIR));
} catch (e) {
	process.stderr.write(`provider_ws: cannot load ws from ${WS_DIR} (npm ci in tests/node): ${e.message}\n`);
	process.exit(2);
}

const USAGE = `usage: provider_ws.js --cert server.pem --key server.key --portfile FILE
       [--host 127.0.0.1] [--deflate on|off|no-context-takeover] [--fragment] [--verbose]
`;

function die(msg) {
	process.stderr.write(`provider_ws: ${msg}\n`);
	process.exit(2);
}

const opts = { host: '127.0.0.1', deflate: 'on', fragment: false, verbose: false };
{
	const spec = {
		cert: 'str', key: 'str', portfile: 'str', host: 'str', deflate: 'str',
		fragment: 'bool', verbose: 'bool',
	};
	const pos = parseOptions(process.argv.slice(2), spec, USAGE, opts);

	if (pos.length) die(`unexpected argument ${pos[0]}\n${USAGE}`);
	for (const k of ['cert', 'key', 'portfile'])
		if (opts[k] === undefined) die(`--${k} is required\n${USAGE}`);
	if (!['on', 'off', 'no-context-takeover'].includes(opts.deflate))
		die(`--deflate must be on, off or no-context-takeover\n${USAGE}`);
}

function log(msg) {
	if (opts.verbose) process.stderr.write(`provider_ws: ${msg}\n`);
}

const STATS = { ws_connections: 0, creates: 0, events: 0, requests: 0 };

// --- event bodies (provider.py's openai_responses, stream) ----------------

const WORDS = ['This', ' is', ' a', ' test', ' from', ' the', ' local', ' provider', '.',
	' It', ' streams', ' one', ' word', ' per', ' event', ',', ' like', ' a',
	' real', ' model', ' would', '.'];

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randId(n, alphabet = ALNUM) {
	const b = crypto.randomBytes(n);
	let s = '';
	for (let i = 0; i < n; i++) s += alphabet[b[i] % alphabet.length];
	return s;
}

const hexId = (n) => randId(n, '0123456789abcdef');

function makeWords(n) {
	const pieces = [];
	for (let i = 0; i < n; i++) pieces.push(WORDS[i % WORDS.length]);
	return pieces;
}

// JSON as python's json.dumps(separators=(",", ":")) writes these bodies:
// the float fields keep their ".0".
function jdump(obj) {
	return JSON.stringify(obj)
		.replace(/"temperature":1,/g, '"temperature":1.0,')
		.replace(/"top_p":1,/g, '"top_p":1.0,');
}

// The events (JSON strings) answering one response.create of nbytes bytes.
function responseEvents(req, nbytes, nEvents) {
	const model = typeof req.model === 'string' && req.model ? req.model : 'gpt-4o-mini';
	const rid = 'resp_' + hexId(50);
	const mid = 'msg_' + hexId(50);
	const created = Math.floor(Date.now() / 1000);
	const pieces = makeWords(nEvents);
	const text = pieces.join('');
	const instructions = req.instructions === undefined ? null : req.instructions;
	const prompt = Math.max(1, Math.floor(nbytes / 4));
	const completion = nEvents;

	const response = (status, output, usage) => ({
		id: rid, object: 'response', created_at: created, status,
		background: false, completed_at: status === 'completed' ? created : null,
		error: null, incomplete_details: null, instructions,
		max_output_tokens: null, max_tool_calls: null, model,
		output, parallel_tool_calls: true, previous_response_id: null,
		prompt_cache_key: null, reasoning: { effort: null, summary: null },
		safety_identifier: null, service_tier: 'default', store: true,
		temperature: 1.0, text: { format: { type: 'text' }, verbosity: 'medium' },
		tool_choice: 'auto', tools: [], top_logprobs: 0, top_p: 1.0,
		truncation: 'disabled', usage, user: null, metadata: {},
	});

	const usage = {
		input_tokens: prompt, input_tokens_details: { cached_tokens: 0 },
		output_tokens: completion,
		output_tokens_details: { reasoning_tokens: 0 },
		total_tokens: prompt + completion,
	};
	const part = { type: 'output_text', annotations: [], logprobs: [], text };
	const msg = { id: mid, type: 'message', status: 'completed', content: [part],
		role: 'assistant' };
	const output = [msg];
	let seq = 0;
	const ev = (obj) => {
		obj.sequence_number = seq++;
		return jdump(obj);
	};
	const oi = output.length - 1;
	const out = [
		ev({ type: 'response.created', response: response('in_progress', [], null) }),
		ev({ type: 'response.in_progress', response: response('in_progress', [], null) }),
		ev({ type: 'response.output_item.added', output_index: oi,
			item: { id: mid, type: 'message', status: 'in_progress', content: [],
				role: 'assistant' } }),
		ev({ type: 'response.content_part.added', content_index: 0, item_id: mid,
			output_index: oi,
			part: { type: 'output_text', annotations: [], logprobs: [], text: '' } }),
	];
	for (const p of pieces)
		out.push(ev({ type: 'response.output_text.delta', content_index: 0, delta: p,
			item_id: mid, logprobs: [], obfuscation: randId(12), output_index: oi }));
	out.push(ev({ type: 'response.output_text.done', content_index: 0, item_id: mid,
		logprobs: [], output_index: oi, text }));
	out.push(ev({ type: 'response.content_part.done', content_index: 0, item_id: mid,
		output_index: oi, part }));
	out.push(ev({ type: 'response.output_item.done', output_index: oi, item: msg }));
	out.push(ev({ type: 'response.completed', response: response('completed', output, usage) }));
	return { events: out, model, prompt, completion };
}

function errorEvent(code, message, param = null) {
	return JSON.stringify({ type: 'error', status: 400,
		error: { type: 'invalid_request_error', code, message, param } });
}

// A metadata knob as a non-negative integer, or def.
function knob(req, name, def, hi = 1000000) {
	const md = req && typeof req.metadata === 'object' && req.metadata ? req.metadata : {};
	const v = md[name];
	if (v === undefined || v === null || String(v).trim() === '') return def;
	const n = parseInt(String(v).trim(), 10);
	return Number.isNaN(n) ? def : Math.max(0, Math.min(hi, n));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Send one text message, whole or in 3 fragments; resolves once written.
function sendText(ws, s) {
	const write = (data, o) => new Promise((resolve, reject) => {
		ws.send(data, o, (err) => (err ? reject(err) : resolve()));
	});
	if (!opts.fragment) return write(s, { binary: false, fin: true });
	const b = Buffer.from(s);
	const a = Math.floor(b.length / 3), c = Math.floor((2 * b.length) / 3);
	return Promise.all([
		write(b.subarray(0, a), { binary: false, fin: false }),
		write(b.subarray(a, c), { binary: false, fin: false }),
		write(b.subarray(c), { binary: false, fin: true }),
	]);
}

// --- sessions ----------------------------------------------------------------

let perMessageDeflate = false;
if (opts.deflate === 'on') perMessageDeflate = { threshold: 0 };
else if (opts.deflate === 'no-context-takeover')
	perMessageDeflate = { threshold: 0, serverNoContextTakeover: true,
		clientNoContextTakeover: true };

const wss = new WebSocketServer({ noServer: true, perMessageDeflate, maxPayload: 256 << 20 });
let nextConn = 0;

wss.on('headers', (headers, req) => {
	headers.push(`x-request-id: req_${hexId(32)}`);
	log(`handshake ${req.url}: offered ${req.headers['sec-websocket-extensions'] || '(none)'}; ` +
		`answer ${headers.filter((h) => /^sec-websocket-extensions:/i.test(h)).join(' ') || '(no extension)'}`);
});

wss.on('connection', (ws, req) => {
	const id = ++nextConn;
	STATS.ws_connections++;
	const pmd = ws._extensions && ws._extensions['permessage-deflate'];
	log(`#${id} open ${req.url}: extensions "${ws.extensions}"` +
		(pmd ? ` params ${JSON.stringify(pmd.params)} threshold ${pmd._threshold}` : '') +
		(opts.fragment ? ', fragmenting' : ''));
	let chain = Promise.resolve();
	let dead = false;
	const io = { in: 0, out: 0 };	// message payload bytes (uncompressed) each way
	const sock = ws._socket;
	const rd0 = sock ? sock.bytesRead : 0, wr0 = sock ? sock.bytesWritten : 0;

	const answer = async (data, isBinary) => {
		if (dead) return;
		const nbytes = data.length;
		let req;
		try {
			if (isBinary) throw new Error('binary message');
			req = JSON.parse(data.toString('utf8'));
		} catch (e) {
			log(`#${id} bad message (${nbytes} bytes): ${e.message}`);
			await sendText(ws, errorEvent('invalid_json', `Invalid message: ${e.message}`));
			return;
		}
		if (!req || typeof req !== 'object' || req.type !== 'response.create') {
			log(`#${id} unsupported message type ${req && req.type}`);
			await sendText(ws, errorEvent('unknown_event_type',
				`Unsupported event type: ${req && req.type}`, 'type'));
			return;
		}
		STATS.creates++;
		const nEvents = knob(req, 'test_events', 5);
		const abortAfter = knob(req, 'test_abort_after', null);
		const delay = knob(req, 'test_event_delay_ms', 0, 600000);
		const r = responseEvents(req, nbytes, nEvents);
		log(`#${id} response.create ${nbytes} bytes model ${r.model}: ${r.events.length} events, ` +
			`usage ${r.prompt}/${r.completion}` +
			(abortAfter !== null ? `, abort after ${abortAfter}` : ''));
		for (let i = 0; i < r.events.length; i++) {
			if (abortAfter !== null && i >= abortAfter) break;
			if (i > 0 && delay > 0) await sleep(delay);
			if (dead) return;
			await sendText(ws, r.events[i]);
			io.out += Buffer.byteLength(r.events[i]);
			STATS.events++;
		}
		if (abortAfter !== null && abortAfter < r.events.length) {
			log(`#${id} aborting the connection after ${abortAfter} events`);
			dead = true;
			ws.terminate();
		}
	};

	ws.on('message', (data, isBinary) => {
		// Messages arrive as Buffers (a fragmented one already joined).
		const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
		io.in += buf.length;
		// ws's receiver still holds the RSV1 bit of this message's first frame.
		if (opts.verbose && ws._receiver)
			log(`#${id} message in: ${buf.length} bytes, compressed ${!!ws._receiver._compressed}`);
		chain = chain.then(() => answer(buf, isBinary)).catch((e) => {
			log(`#${id} send: ${e.message}`);
		});
	});
	ws.on('close', (code, reason) => {
		dead = true;
		// Frame bytes on the TLS socket (TLS plaintext) against the
		// messages' own: fewer with permessage-deflate.
		log(`#${id} closed ${code} ${reason.toString()}: messages in ${io.in} out ${io.out} bytes; ` +
			`frames in ${sock ? sock.bytesRead - rd0 : '?'} out ${sock ? sock.bytesWritten - wr0 : '?'} bytes`);
	});
	ws.on('error', (e) => log(`#${id} error: ${e.message}`));
});

// --- HTTP ----------------------------------------------------------------------

function sendJson(res, status, obj) {
	const body = JSON.stringify(obj);
	res.writeHead(status, { 'content-type': 'application/json',
		'content-length': String(Buffer.byteLength(body)) });
	res.end(body);
}

const server = https.createServer({
	cert: fs.readFileSync(opts.cert),
	key: fs.readFileSync(opts.key),
	ALPNProtocols: ['http/1.1'],
}, (req, res) => {
	const p = req.url.split('?')[0].replace(/\/+$/, '');
	req.resume();
	req.on('end', () => {
		if (req.method === 'GET' && p.endsWith('/__test/stats')) {
			sendJson(res, 200, STATS);
			return;
		}
		STATS.requests++;
		log(`http ${req.method} ${req.url}: 404`);
		sendJson(res, 404, { error: { message: `provider_ws: no HTTP route for ${req.method} ${p} (WebSocket only)`,
			type: 'invalid_request_error', param: null, code: 'not_found' } });
	});
});

function refuse(socket, status, text, body) {
	const b = JSON.stringify({ error: { message: body, type: 'invalid_request_error',
		param: null, code: null } });
	socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\n` +
		`Content-Length: ${Buffer.byteLength(b)}\r\nConnection: close\r\n\r\n${b}`);
}

server.on('upgrade', (req, socket, head) => {
	socket.on('error', (e) => log(`upgrade socket: ${e.message}`));
	const p = req.url.split('?')[0].replace(/\/+$/, '');
	if (!p.endsWith('/responses')) {
		log(`upgrade ${req.url}: 404`);
		refuse(socket, 404, 'Not Found', `no WebSocket route ${p}`);
		return;
	}
	if (!/^Bearer \S+/i.test(req.headers.authorization || '')) {
		log(`upgrade ${req.url}: 401 (no bearer key)`);
		refuse(socket, 401, 'Unauthorized', 'You didn\'t provide an API key.');
		return;
	}
	wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});
server.on('tlsClientError', (e) => log(`TLS: ${e.message}`));
server.on('clientError', (e, sock) => {
	log(`client: ${e.message}`);
	sock.destroy();
});

server.listen(0, opts.host, () => {
	const port = server.address().port;
	const tmp = opts.portfile + '.tmp';
	fs.writeFileSync(tmp, `${port}\n`);
	fs.renameSync(tmp, opts.portfile);
	log(`listening on ${opts.host}:${port}, deflate ${opts.deflate}` +
		(opts.fragment ? ', fragment' : ''));
});

const stop = () => {
	log('stopping');
	for (const ws of wss.clients) ws.terminate();
	process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
