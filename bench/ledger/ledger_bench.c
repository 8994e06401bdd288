// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Ledger throughput: how many calls a second (an open and a settle each,
 * rows as the agent fills them) the writer sustains, producer and writer
 * sharing one core (run.sh pins it).  Usage: ledger_bench DB [CALLS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "ledger.h"
#include "log.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long i, n = argc > 2 ? atol(argv[2]) : 1000000;
	struct ledger_stats st;
	struct ledger *l;
	char err[256];
	double t0, t1;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DB [CALLS]\n", argv[0]);
		return 2;
	}
	log_set_level(LOG_WARN);
	l = ledger_open(argv[1], err, sizeof(err));
	if (!l) {
		fprintf(stderr, "ledger_open: %s\n", err);
		return 1;
	}
	t0 = now_s();
	for (i = 0; i < n; i++) {
		struct ledger_call c = {
			.seq = i, .ts_ns = 1700000000000000000LL + i * 1000,
			.pid = 4242, .uid = 1000, .comm = "python3",
			.exe = "/usr/bin/python3.11", .user = "ada",
			.cgroup = "/user.slice/user-1000.slice/session-3.scope",
			.team = "ml-research", .provider = "openai",
			.host = "api.openai.com", .path = "/v1/chat/completions",
			.model = "gpt-4o-mini", .request_bytes = 4096,
			.usage = { .input_tokens = 1000 },
			.usage_source = "estimated", .cost_nano = 150000,
			.ttft_ns = -1, .duration_ns = -1,
			.key_fp = "sk-proj-...ab12",
		};

		ledger_call_open(l, &c);
		c.end_ns = c.ts_ns + 900000000;
		c.status = 200;
		c.response_bytes = 1024;
		c.usage.output_tokens = 250;
		c.usage_source = "provider";
		c.cost_nano = 300000;
		c.ttft_ns = 200000000;
		c.duration_ns = 900000000;
		c.capture = "complete";
		c.action = "allow";
		ledger_call_settle(l, &c);
	}
	ledger_flush(l);
	t1 = now_s();
	ledger_stats(l, &st);
	ledger_close(l);
	printf("calls %ld in %.2f s: %.0f calls/s (%.0f row writes/s), "
	       "%llu batches, %llu producer waits, %llu errors\n",
	       n, t1 - t0, n / (t1 - t0), 2 * n / (t1 - t0),
	       (unsigned long long)st.batches, (unsigned long long)st.waits,
	       (unsigned long long)st.errors);
	return st.errors || st.written != (uint64_t)(2 * n);
}
