#!/usr/bin/env bun
// LLM API client on Bun's global fetch (Bun's own HTTP client in Zig over
// BoringSSL, HTTP/1.1), the twin of node_fetch.js: same options, same
// request (but for the user-agent), same one JSON line, so a test can
// compare a Bun call with node's field by field.
//
//   NODE_EXTRA_CA_CERTS=CA bun bun_fetch.js URL [CA] [--path P] [--model M] [--stream]
//       [--include-usage] [--events N] [--body-bytes N] [--repeat K]
//       [--header 'K: V']... [--gzip] [--timeout SEC] [--delay-ms N]
//
// The CA: Bun 1.3 and 1.4 read NODE_EXTRA_CA_CERTS at start-up as node
// does, and SSL_CERT_FILE as well (either one is enough; tg_setup exports
// both); as in node_fetch.js, a named CA ($TG_CA included) that
// NODE_EXTRA_CA_CERTS does not hold makes the client refuse to run.
// --delay-ms sleeps before the first request: a tracer attaches its probes
// a moment after the exec.  tests/integ/lib/agents.sh's tg_bun runs it with
// the Bun of tests/node.
//
// Prints {"status", "response_bytes", "request_bytes", "events", "requests",
// "statuses", "pid", "provider": {...}}, summed over --repeat requests (Bun
// keeps the connection alive between them); exits 1 on failure.  The code
// is _common.js's fetchMain, which node_fetch.js runs too, and the lines
// match node's but for "error" texts and a response cut short
// (X-Test-Abort-After-Events): when the connection drops, Bun may discard
// body bytes it has received but the JS has not read yet, so how many
// events it counts varies from run to run (with 10 events cut after 4:
// 4, 3 or 0, and Bun 1.3 at times fails the fetch itself, status null)
// where node counts 4 every time.
'use strict';

const c = require('./_common.js');

const USAGE = `usage: NODE_EXTRA_CA_CERTS=CA bun bun_fetch.js URL [CA] [--path P] [--model M] [--stream]
       [--include-usage] [--events N] [--body-bytes N] [--repeat K]
       [--header 'K: V']... [--gzip] [--timeout SEC] [--delay-ms N] [--ca FILE]
`;

c.fetchMain(process.argv.slice(2), USAGE, 'bun_fetch');
