// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
// Bun's fetch in a loop, for bench/clients/run.sh: N sequential chat
// completions on one keep-alive HTTP/1.1 connection (Bun's fetch has no
// HTTP/2), one output line per call (linetime times them), after a delay
// that lets a tracer probe the binary it has just seen exec.
//
//   NODE_EXTRA_CA_CERTS=CA bun bun_loop.js URL N [DELAY-MS]
'use strict';

const [url, n, delay] = [process.argv[2], Number(process.argv[3] || 100),
	Number(process.argv[4] || 300)];
const body = JSON.stringify({ model: 'gpt-4o-mini',
	messages: [{ role: 'user', content: 'hello from the bench' }] });

async function main() {
	await new Promise((r) => setTimeout(r, delay));
	for (let i = 0; i < n; i++) {
		const res = await fetch(url + '/v1/chat/completions', {
			method: 'POST', body,
			headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
		});
		const text = await res.text();
		process.stdout.write(`{"i":${i},"status":${res.status},"bytes":${text.length}}\n`);
	}
}
main().catch((e) => { console.error(e.message); process.exit(1); });
