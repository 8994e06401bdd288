#!/usr/bin/node
// LLM API client on node's https.request (node's statically linked OpenSSL:
// uprobes go on /usr/bin/node, not on libssl.so.3).
//
//   node_https.js URL [CA] [--path P] [--model M] [--stream] [--include-usage]
//                 [--events N] [--body-bytes N] [--repeat K] [--header 'K: V']...
//                 [--gzip] [--req-chunked] [--timeout SEC]
//
// URL is the provider's base URL (https://127.0.0.1:PORT), CA the CA file
// (default --ca or $TG_CA; passed as the request's `ca`, so no
// NODE_EXTRA_CA_CERTS needed).  Prints one JSON line:
//   {"status", "response_bytes", "request_bytes", "events", "requests",
//    "connections", "statuses", "pid", "provider": {X-Test-* of the last response}}
// summed over --repeat requests, all on one keep-alive connection.
// response_bytes is the decoded body; events counts SSE events.  Exits 1 if
// a request failed (status >= 400, or a cut-off body: "error" says why).
'use strict';

const https = require('https');
const zlib = require('zlib');
const c = require('./_common.js');

const USAGE = `usage: node_https.js URL [CA] [--path P] [--model M] [--stream] [--include-usage]
       [--events N] [--body-bytes N] [--repeat K] [--header 'K: V']... [--gzip]
       [--req-chunked] [--timeout SEC] [--ca FILE]
`;

const o = c.parseArgs(process.argv.slice(2), {
	path: 'str', model: 'str', stream: 'bool', 'include-usage': 'bool', events: 'int',
	'body-bytes': 'int', repeat: 'int', header: 'list', gzip: 'bool', 'req-chunked': 'bool',
	timeout: 'float', ca: 'str',
}, USAGE);

const apiPath = o.path || '/v1/chat/completions';
const base = new URL(o.url);
const path = base.pathname.replace(/\/+$/, '') + c.streamPath(apiPath, o.stream);
const body = Buffer.from(c.buildBody(apiPath, {
	model: o.model, stream: o.stream, includeUsage: o['include-usage'],
	bodyBytes: o['body-bytes'] || 0,
}));
const headers = Object.assign({
	'content-type': 'application/json', accept: 'application/json',
	'user-agent': 'tollgate-test-node_https/1',
}, c.authHeaders(apiPath));
if (o.events != null) headers['x-test-events'] = String(o.events);
if (o.gzip) {
	headers['x-test-gzip'] = '1';
	headers['accept-encoding'] = 'gzip';
}
Object.assign(headers, c.headerList(o.header));
if (!o['req-chunked']) headers['content-length'] = String(body.length);

const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
let connections = 0;
const ca = c.readCa(o.ca);

function once() {
	return new Promise((resolve) => {
		const req = https.request({
			host: base.hostname, port: base.port || 443, path, method: 'POST', headers,
			ca, agent, servername: base.hostname.match(/^[\d.]+$/) ? undefined : base.hostname,
			timeout: (o.timeout || 60) * 1000,
		}, (res) => {
			const parts = [];
			let error = null;
			res.on('data', (d) => parts.push(d));
			res.on('aborted', () => { error = 'incomplete body'; });
			res.on('error', (e) => { error = error || `read: ${e.message}`; });
			res.on('close', () => {
				if (!res.complete && !error) error = 'incomplete body';
				let data = Buffer.concat(parts);
				if ((res.headers['content-encoding'] || '').toLowerCase() === 'gzip') {
					try {
						data = zlib.gunzipSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
					} catch (e) {
						error = error || `gzip: ${e.message}`;
						data = Buffer.alloc(0);
					}
				}
				resolve({ res, data, error });
			});
		});
		req.on('socket', (s) => {
			if (!s._tgSeen) {
				s._tgSeen = true;
				connections++;
			}
		});
		req.on('timeout', () => req.destroy(new Error('timeout')));
		req.on('error', (e) => resolve({ error: `${e.code || e.name}: ${e.message}` }));
		if (o['req-chunked']) {
			for (let i = 0; i < body.length; i += 16384)
				req.write(body.subarray(i, i + 16384));
			req.end();
		} else {
			req.end(body);
		}
	});
}

(async () => {
	const out = {
		status: null, response_bytes: 0, request_bytes: 0, events: 0, requests: 0,
		connections: 0, statuses: [], pid: process.pid,
	};
	let ok = true;
	for (let i = 0; i < Math.max(1, o.repeat || 1); i++) {
		const r = await once();
		if (r.res) {
			out.request_bytes += body.length;
			out.status = r.res.statusCode;
			out.statuses.push(r.res.statusCode);
			out.response_bytes += r.data.length;
			if ((r.res.headers['content-type'] || '').startsWith('text/event-stream'))
				out.events += c.countSse(r.data.toString('utf8'));
			out.provider = c.providerInfo((h) => r.res.headers[h]);
			out.requests++;
			if (r.res.statusCode >= 400) ok = false;
		}
		if (r.error) {
			out.error = r.error;
			ok = false;
			break;
		}
	}
	out.connections = connections;
	agent.destroy();
	c.emit(out, ok);
})();
