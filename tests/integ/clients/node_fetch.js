#!/usr/bin/node
// LLM API client on node's global fetch (undici, HTTP/1.1 in node 20: undici
// only speaks HTTP/2 when its dispatcher is created with allowH2, which the
// global one is not).
//
//   NODE_EXTRA_CA_CERTS=CA node_fetch.js URL [CA] [--path P] [--model M] [--stream]
//       [--include-usage] [--events N] [--body-bytes N] [--repeat K]
//       [--header 'K: V']... [--gzip] [--timeout SEC] [--delay-ms N]
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
// response_bytes is the decoded body (fetch removes gzip itself).
// --delay-ms sleeps before the first request.  Exits 1 on failure.
// The code is _common.js's fetchMain, which bun_fetch.js runs too.
'use strict';

const c = require('./_common.js');

const USAGE = `usage: NODE_EXTRA_CA_CERTS=CA node_fetch.js URL [CA] [--path P] [--model M] [--stream]
       [--include-usage] [--events N] [--body-bytes N] [--repeat K]
       [--header 'K: V']... [--gzip] [--timeout SEC] [--delay-ms N] [--ca FILE]
`;

c.fetchMain(process.argv.slice(2), USAGE, 'node_fetch');
