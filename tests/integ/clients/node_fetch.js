#!/usr/bin/node
// LLM API client on node's global fetch (undici, HTTP/1.1 in node 20: undici
// only speaks HTTP/2 when its dispatcher is created with allowH2, which the
// global one is not).
//
//   NODE_EXTRA_CA_CERTS=CA node_fetch.js URL [CA] [--path P] [--model M] [--stream]
//       [--include-usage] [--events N] [--body-bytes N] [--repeat K]
//       [--header 'K: V']... [--gzip] [--timeout SEC]
//
// The CA: fetch takes no per-request CA and node reads NODE_EXTRA_CA_CERTS
// once at start-up, so the caller must set it in the environment (common.sh's
// tg_setup exports it).  If a CA is named (argument, --ca or $TG_CA) and
// NODE_EXTRA_CA_CERTS is unset, the client refuses to run rather than fail
// the handshake later.
//
// Prints one JSON line: {"status", "response_bytes", "request_bytes",
// "events", "requests", "statuses", "pid", "provider": {...}}, summed over
// --repeat requests (undici keeps the connection alive between them).
// response_bytes is the decoded body (fetch removes gzip itself).  Exits 1
// on failure.
'use strict';

const c = require('./_common.js');

const USAGE = `usage: NODE_EXTRA_CA_CERTS=CA node_fetch.js URL [CA] [--path P] [--model M] [--stream]
       [--include-usage] [--events N] [--body-bytes N] [--repeat K]
       [--header 'K: V']... [--gzip] [--timeout SEC] [--ca FILE]
`;

const o = c.parseArgs(process.argv.slice(2), {
	path: 'str', model: 'str', stream: 'bool', 'include-usage': 'bool', events: 'int',
	'body-bytes': 'int', repeat: 'int', header: 'list', gzip: 'bool', timeout: 'float',
	ca: 'str',
}, USAGE);
c.requireExtraCa(o.ca);

const apiPath = o.path || '/v1/chat/completions';
const url = o.url + c.streamPath(apiPath, o.stream);
const body = c.buildBody(apiPath, {
	model: o.model, stream: o.stream, includeUsage: o['include-usage'],
	bodyBytes: o['body-bytes'] || 0,
});
const headers = Object.assign({
	'content-type': 'application/json', accept: 'application/json',
	'user-agent': 'tollgate-test-node_fetch/1',
}, c.authHeaders(apiPath));
if (o.events != null) headers['x-test-events'] = String(o.events);
if (o.gzip) headers['x-test-gzip'] = '1';	// fetch sends accept-encoding: gzip, deflate, br
Object.assign(headers, c.headerList(o.header));

(async () => {
	const out = {
		status: null, response_bytes: 0, request_bytes: 0, events: 0, requests: 0,
		statuses: [], pid: process.pid,
	};
	let ok = true;
	for (let i = 0; i < Math.max(1, o.repeat || 1); i++) {
		let res;
		try {
			res = await fetch(url, {
				method: 'POST', headers, body,
				signal: AbortSignal.timeout((o.timeout || 60) * 1000),
			});
		} catch (e) {
			out.error = `${e.name}: ${e.message}${e.cause ? ` (${e.cause.code || e.cause.message})` : ''}`;
			ok = false;
			break;
		}
		out.request_bytes += Buffer.byteLength(body);
		out.status = res.status;
		out.statuses.push(res.status);
		out.provider = c.providerInfo((h) => res.headers.get(h));
		const parts = [];
		try {
			for await (const chunk of res.body)	// read as it arrives
				parts.push(Buffer.from(chunk));
		} catch (e) {
			out.error = `incomplete body: ${e.message}${e.cause ? ` (${e.cause.code || e.cause.message})` : ''}`;
		}
		const data = Buffer.concat(parts);
		out.response_bytes += data.length;
		if ((res.headers.get('content-type') || '').startsWith('text/event-stream'))
			out.events += c.countSse(data.toString('utf8'));
		out.requests++;
		if (res.status >= 400) ok = false;
		if (out.error) {
			ok = false;
			break;
		}
	}
	c.emit(out, ok);
})();
