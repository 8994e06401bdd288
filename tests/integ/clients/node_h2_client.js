#!/usr/bin/node
// LLM API calls over HTTP/2 with node's http2 module (node's statically
// linked OpenSSL: uprobes go on /usr/bin/node), several streams at once on
// one connection.
//
//   node_h2_client.js --url https://127.0.0.1:PORT --ca CA [--streams N] [--stream]
//                     [--path /v1/chat/completions] [--delay-ms MS] [--rounds R]
//                     [--header 'K: V']... [--timeout SEC]
//
// (URL and CA may also be given as arguments, or $TG_URL / $TG_CA.)  One
// http2.connect session; per round, N (default 3) concurrent POST streams
// with an OpenAI chat body ("hello h2 #i"; --stream adds "stream": true and
// stream_options.include_usage; other --path APIs get their own shape, as
// _common.js builds them), all read to the end.  --delay-ms sleeps once the
// connection is up (http2.connect's "connect": TLS done, preface sent)
// before the first round and between rounds, so a test can start a tracer
// on an open connection.  If
// the server sent GOAWAY (or the connection ended), the next round opens a
// new connection.  Prints one JSON line per call, in order:
//   {"i", "round", "status", "bytes", "usage"}
// (+ "error" when it failed, "retried": true when it was made again on a new
// connection because the server refused the stream unprocessed, e.g. after
// its GOAWAY.)
// bytes: response body bytes as received (not decoded); usage: the
// X-Test-Usage response header, parsed, or null.  Then
//   {"pid", "calls", "ok", "connections"}
// Exits 1 if a call failed (status >= 400, reset stream, error).
'use strict';

const http2 = require('http2');
const c = require('./_common.js');

const USAGE = `usage: node_h2_client.js --url URL --ca CA [--streams N] [--stream] [--path P]
       [--delay-ms MS] [--rounds R] [--header 'K: V']... [--timeout SEC]
`;

// --url as well as the positional URL _common.parseArgs takes
const argv = [];
const rest = process.argv.slice(2);
for (let i = 0; i < rest.length; i++) {
	if (rest[i] === '--url') {
		if (i + 1 >= rest.length) c.die('--url needs a value');
		argv.unshift(rest[++i]);
	} else if (rest[i].startsWith('--url=')) {
		argv.unshift(rest[i].slice(6));
	} else {
		argv.push(rest[i]);
	}
}
const o = c.parseArgs(argv, {
	ca: 'str', streams: 'int', stream: 'bool', path: 'str', 'delay-ms': 'int', rounds: 'int',
	header: 'list', timeout: 'float',
}, USAGE);

const apiPath = o.path || '/v1/chat/completions';
const base = new URL(o.url);
const path = base.pathname.replace(/\/+$/, '') + c.streamPath(apiPath, o.stream);
const nStreams = Math.max(1, o.streams || 3);
const rounds = Math.max(1, o.rounds || 1);
const delayMs = Math.max(0, o['delay-ms'] || 0);
const timeoutMs = (o.timeout || 60) * 1000;
const ca = c.readCa(o.ca);
const extra = {};
for (const [k, v] of Object.entries(c.headerList(o.header))) extra[k.toLowerCase()] = v;
// OpenAI's Bearer key is sk-test-h2 here; Anthropic and Gemini get theirs
const auth = c.authHeaders(apiPath);
if (auth.authorization) auth.authorization = 'Bearer ' + (process.env.TG_TEST_KEY || 'sk-test-h2');

let session = null;
let connections = 0;

// Open a session and wait for it to be usable.
function connect() {
	return new Promise((resolve, reject) => {
		const s = http2.connect(base.origin, {
			ca, servername: /^[\d.]+$|:/.test(base.hostname) ? undefined : base.hostname,
		});
		s._tgGone = false;
		const fail = (e) => reject(e);
		s.once('error', fail);
		s.once('connect', () => {
			s.removeListener('error', fail);
			s.on('error', () => { s._tgGone = true; });
			connections++;
			resolve(s);
		});
		s.on('goaway', () => { s._tgGone = true; });
		s.on('close', () => { s._tgGone = true; });
	});
}

// Close a session, gracefully if the server lets us.
function drop(s) {
	if (!s || s.destroyed) return;
	s.close();
	setTimeout(() => s.destroy(), 2000).unref();
}

// The session, or a new one if the server sent GOAWAY or the connection ended.
async function live() {
	if (session._tgGone || session.closed || session.destroyed) {
		drop(session);
		session = await connect();
	}
	return session;
}

function call(s, i, round) {
	return new Promise((resolve) => {
		const body = Buffer.from(c.buildBody(apiPath, {
			model: 'gpt-4o-mini', stream: !!o.stream, includeUsage: true,
			prompt: `hello h2 #${i}`,
		}));
		const out = { i, round, status: null, bytes: 0, usage: null };
		let ended = false, settled = false;
		let refused = false;	// not processed by the server: worth retrying
		const finish = (err) => {
			if (settled) return;
			settled = true;
			if (err) out.error = err;
			resolve({ out, refused: refused && out.status == null });
		};
		let req;
		try {
			req = s.request(Object.assign({
				':method': 'POST', ':path': path,
				'content-type': 'application/json', accept: 'application/json',
				'user-agent': 'tollgate-test-node_h2_client/1',
				'content-length': String(body.length),
			}, auth, extra));
		} catch (e) {
			refused = e.code === 'ERR_HTTP2_GOAWAY_SESSION' ||
				e.code === 'ERR_HTTP2_INVALID_SESSION';
			finish(`${e.code || e.name}: ${e.message}`);
			return;
		}
		req.setTimeout(timeoutMs, () => req.close(http2.constants.NGHTTP2_CANCEL));
		req.on('response', (h) => {
			out.status = h[':status'];
			const u = h['x-test-usage'];
			if (u) { try { out.usage = JSON.parse(u); } catch (e) { /* stays null */ } }
		});
		req.on('data', (d) => { out.bytes += d.length; });
		req.on('end', () => { ended = true; });
		req.on('error', (e) => {
			refused = req.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM;
			finish(`${e.code || e.name}: ${e.message}`);
		});
		req.on('close', () => {
			refused = req.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM;
			if (!ended || req.rstCode)
				finish(`stream closed before its end (rst code ${req.rstCode})`);
			else
				finish(null);
		});
		req.end(body);
	});
}

(async () => {
	let ok = 0, calls = 0;
	const fin = () => {
		process.stdout.write(JSON.stringify({ pid: process.pid, calls, ok, connections }) + '\n');
		process.exitCode = ok === calls ? 0 : 1;
		drop(session);
	};
	try {
		session = await connect();
	} catch (e) {
		process.stderr.write(`node_h2_client.js: connect: ${e.code || e.name}: ${e.message}\n`);
		fin();
		process.exitCode = 1;
		return;
	}
	for (let r = 0; r < rounds; r++) {
		if (delayMs) await c.sleep(delayMs);
		let rs;
		try {
			const s = await live();
			const ps = [];
			for (let j = 0; j < nStreams; j++) ps.push(call(s, r * nStreams + j, r));
			rs = await Promise.all(ps);
			// Streams the server refused (REFUSED_STREAM, or a GOAWAY that
			// came in between: it did not process them) go again, once, on
			// a new connection, as clients do.
			const again = rs.filter((x) => x.refused);
			if (again.length) {
				const s2 = await live();
				const retried = await Promise.all(again.map((x) =>
					call(s2, x.out.i, r).then((y) => {
						y.out.retried = true;
						return y;
					})));
				rs = rs.map((x) => (x.refused ? retried.shift() : x));
			}
		} catch (e) {
			process.stderr.write(`node_h2_client.js: reconnect: ${e.code || e.name}: ${e.message}\n`);
			break;
		}
		for (const { out: res } of rs) {
			calls++;
			const good = !res.error && res.status != null && res.status < 400;
			if (good) ok++;
			process.stdout.write(JSON.stringify(res) + '\n');
		}
	}
	if (calls < rounds * nStreams) calls = rounds * nStreams;	// a failed reconnect
	fin();
})();
