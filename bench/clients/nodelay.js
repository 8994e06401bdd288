// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
// Preloaded into tests/integ/lib/provider_h2.js by bench/clients/run.sh
// (node -r): TCP_NODELAY on every connection its server accepts, as real
// API front ends set it.  Without it an HTTP/1.1 response (head, then body:
// two TLS writes) waits for the client's delayed ACK, about 40 ms a call on
// loopback, which would hide everything else.
'use strict';
const http2 = require('http2');
const create = http2.createSecureServer;
http2.createSecureServer = function (...args) {
	const server = create.apply(this, args);
	server.on('connection', (sock) => sock.setNoDelay(true));
	return server;
};
