#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * An HTTP/2 server and client over TLS in one process, on 127.0.0.1: one
 * POST /v1/chat/completions, answered with no usage (tollgate counts the
 * tokens itself); the server side of the connection is not metered.
 *
 *   node_h2.js CERT KEY CA   ->  {"pid", "status"}
 */
'use strict';
const fs = require('fs');
const http2 = require('http2');

const [cert, key, ca] = process.argv.slice(2).map((f) => fs.readFileSync(f));
const server = http2.createSecureServer({ cert, key });
server.on('stream', (stream) => {
	stream.on('data', () => {});
	stream.on('end', () => {
		stream.respond({ ':status': 200, 'content-type': 'application/json' });
		stream.end('{"ok":true}');
	});
});
server.listen(0, '127.0.0.1', () => {
	const port = server.address().port;
	const client = http2.connect(`https://127.0.0.1:${port}`, { ca });
	const req = client.request({ ':method': 'POST', ':path': '/v1/chat/completions',
		'content-type': 'application/json' });
	let status = null;
	req.on('response', (h) => { status = h[':status']; });
	req.on('data', () => {});
	req.on('end', () => {
		console.log(JSON.stringify({ pid: process.pid, status }));
		client.close();
		server.close();
	});
	req.end(JSON.stringify({ model: 'gpt-h2', messages: [{ role: 'user', content: 'hi' }] }));
});
