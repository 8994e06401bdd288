#!/usr/bin/node
// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * An HTTP/2 (and HTTP/1.1) TLS front for provider.py, for tollgate's
 * integration tests.  Node, no npm packages.
 *
 *   node provider_h2.js --cert server.pem --key server.key --upstream-port PLAINPORT
 *                       --portfile FILE [--host 127.0.0.1] [--verbose]
 *
 * Listens with TLS on an ephemeral port of HOST (ALPN h2 and http/1.1),
 * writes the port to FILE once listening, and relays every request, h2 or
 * h1 (any method and path, /__test/stats included), to provider.py's plain
 * HTTP listener on 127.0.0.1:PLAINPORT (provider.py --plain-portfile):
 * same method, path and headers (less the HTTP/2 pseudo-headers and the
 * hop-by-hop ones; host set to the request's authority), the body streamed.
 * The answer is streamed back as it comes: status, headers (less the
 * hop-by-hop ones, transfer-encoding included), body bytes as received (not
 * decoded: gzip stays gzip), each upstream chunk written at once, so SSE
 * events with a pause between them reach the client as separate DATA
 * frames.  The relay is plain HTTP, which tollgate does not capture: what a
 * tracer sees is the client's exchange with this process (comm
 * "tg-provider-h2", node's statically linked OpenSSL).
 *
 * When the upstream answer is cut off mid-body (X-Test-Abort-After-Events),
 * the h2 stream is reset (RST_STREAM INTERNAL_ERROR) after the bytes that
 * did arrive, or an h1 client's connection is dropped.
 *
 * Knob of its own (request header, not relayed):
 *     x-test-h2-goaway: 1    once this stream's response has ended, send GOAWAY
 *                            (NO_ERROR) on the session and close the connection
 *                            when its open streams are done (h2 only)
 * An upstream "Connection: close" (X-Test-Close) closes an h1 client's
 * connection; on h2 it only ends the upstream connection.
 *
 * Exits on SIGTERM or SIGINT.
 */
'use strict';

process.title = 'tg-provider-h2';

const fs = require('fs');
const http = require('http');
const http2 = require('http2');
const { parseOptions } = require('../clients/_common.js');

const USAGE = `usage: provider_h2.js --cert server.pem --key server.key --upstream-port PORT
       --portfile FILE [--host 127.0.0.1] [--verbose]
`;

function die(msg) {
	process.stderr.write(`provider_h2: ${msg}\n`);
	process.exit(2);
}

const opts = { host: '127.0.0.1', verbose: false };
{
	const spec = {
		cert: 'str', key: 'str', 'upstream-port': 'int', portfile: 'str', host: 'str',
		verbose: 'bool',
	};
	const pos = parseOptions(process.argv.slice(2), spec, USAGE, opts);

	if (pos.length) die(`unexpected argument ${pos[0]}\n${USAGE}`);
	for (const k of ['cert', 'key', 'upstream-port', 'portfile'])
		if (opts[k] === undefined || Number.isNaN(opts[k])) die(`--${k} is required\n${USAGE}`);
}

function log(msg) {
	if (opts.verbose) process.stderr.write(`provider_h2: ${msg}\n`);
}

const UPSTREAM_PORT = opts['upstream-port'];
// Below provider.py's 120 s idle timeout, so an idle keep-alive socket is
// dropped here before the provider closes it under a new request.
const agent = new http.Agent({ keepAlive: true, timeout: 100000 });

// Connection-specific headers: not relayed either way (HTTP/2 forbids
// them; node's http sets its own framing).
const HOP = new Set([
	'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te',
	'trailer', 'http2-settings', 'expect', 'host',
]);

function flag(v) {
	return v != null && ['1', 'true', 'yes', 'on'].includes(String(v).trim().toLowerCase());
}

// rawHeaders ([name, value, ...]) to an object for writeHead, without the
// hop-by-hop ones; repeated set-cookie kept as a list, others joined.
function responseHeaders(raw) {
	const h = {};
	for (let i = 0; i + 1 < raw.length; i += 2) {
		const k = raw[i].toLowerCase(), v = raw[i + 1];
		if (HOP.has(k)) continue;
		if (h[k] === undefined) h[k] = k === 'set-cookie' ? [v] : v;
		else if (k === 'set-cookie') h[k].push(v);
		else h[k] += ', ' + v;
	}
	return h;
}

function relay(req, res) {
	const h2 = req.httpVersionMajor === 2;
	const stream = h2 ? req.stream : null;
	const headers = {};
	for (const [k, v] of Object.entries(req.headers)) {
		if (k.startsWith(':') || HOP.has(k) || k === 'x-test-h2-goaway') continue;
		headers[k] = v;
	}
	headers.host = req.headers[':authority'] || req.headers.host || `127.0.0.1:${UPSTREAM_PORT}`;
	const goaway = h2 && flag(req.headers['x-test-h2-goaway']);
	log(`${h2 ? 'h2' : 'h1'} ${req.method} ${req.url}`);

	if (goaway) {
		// session.close() sends GOAWAY (NO_ERROR, last stream processed),
		// lets the open streams end and then closes the connection; a bare
		// goaway() would leave it half-open (node stops reading it).
		const s = stream.session;	// a closed stream no longer has it
		const bye = () => {
			if (s && !s.destroyed && !s.closed) {
				log('GOAWAY');
				s.close();
			}
		};
		res.once('finish', bye);	// the response's end handed to nghttp2
		stream.once('close', bye);	// or reset
	}

	let done = false;		// the client's response is over, one way or the other
	let pending = 0;		// writes not yet flushed to the client
	let resetting = false;

	// Cut the client's response off: RST_STREAM on h2, a dropped connection
	// on h1, once what did arrive has been passed on.
	const cut = () => {
		if (done) return;
		resetting = true;
		if (pending > 0) return;	// the last write's callback comes back here
		done = true;
		log('upstream cut off: resetting the client stream');
		if (h2) {
			if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
		} else {
			res.socket && res.socket.destroy();
		}
	};

	const up = http.request({
		host: '127.0.0.1', port: UPSTREAM_PORT, method: req.method, path: req.url, headers, agent,
	}, (ur) => {
		const rh = responseHeaders(ur.rawHeaders);
		if (!h2 && (ur.headers.connection || '').toLowerCase().split(/\s*,\s*/).includes('close'))
			rh.connection = 'close';
		try {
			if (h2) res.writeHead(ur.statusCode, rh);
			else res.writeHead(ur.statusCode, ur.statusMessage, rh);
		} catch (e) {
			log(`writeHead: ${e.message}`);
			ur.destroy();
			cut();
			return;
		}
		if (typeof res.flushHeaders === 'function') res.flushHeaders();
		ur.on('data', (d) => {
			if (done) return;
			pending++;
			const more = res.write(d, () => {
				pending--;
				if (resetting && pending === 0) cut();
			});
			if (!more) {
				ur.pause();
				res.once('drain', () => ur.resume());
			}
		});
		ur.on('end', () => {
			if (!done) {
				done = true;
				res.end();
			}
		});
		ur.on('error', (e) => log(`upstream response: ${e.message}`));
		ur.on('close', () => {
			if (!ur.complete) cut();
		});
	});
	up.on('error', (e) => {
		log(`upstream: ${e.code || ''} ${e.message}`);
		if (done) return;
		if (!res.headersSent) {
			done = true;
			const body = JSON.stringify({ error: `provider_h2: upstream: ${e.message}` });
			res.writeHead(502, { 'content-type': 'application/json',
				'content-length': String(Buffer.byteLength(body)) });
			res.end(body);
		} else {
			cut();
		}
	});

	// The client went away (or reset its stream): drop the upstream request.
	res.on('close', () => {
		if (!res.writableFinished && !up.destroyed) up.destroy();
	});
	req.on('error', (e) => log(`client request: ${e.message}`));
	res.on('error', (e) => log(`client response: ${e.message}`));
	if (stream) stream.on('error', (e) => log(`client stream: ${e.message}`));
	req.pipe(up);
}

const server = http2.createSecureServer({
	cert: fs.readFileSync(opts.cert),
	key: fs.readFileSync(opts.key),
	allowHTTP1: true,
	ALPNProtocols: ['h2', 'http/1.1'],
});
server.on('request', relay);
server.on('session', (s) => s.on('error', (e) => log(`session: ${e.message}`)));
server.on('sessionError', (e) => log(`session error: ${e.message}`));
server.on('tlsClientError', (e) => log(`TLS: ${e.message}`));
server.on('clientError', (e, sock) => {
	log(`h1 client: ${e.message}`);
	sock.destroy();
});

server.listen(0, opts.host, () => {
	const port = server.address().port;
	const tmp = opts.portfile + '.tmp';
	fs.writeFileSync(tmp, `${port}\n`);
	fs.renameSync(tmp, opts.portfile);
	log(`listening on ${opts.host}:${port}, upstream 127.0.0.1:${UPSTREAM_PORT}`);
});

const stop = () => {
	log('stopping');
	process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
