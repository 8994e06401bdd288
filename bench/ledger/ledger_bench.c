// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Ledger throughput: how many calls a second (an open and a settle each,
 * rows as the agent fills them) the writer sustains, producer and writer
 * sharing one core (run.sh pins it).  Usage: ledger_bench DB [CALLS [RATE]]
 *
 * With RATE (calls a second), the calls are paced as an agent sees them,
 * and what is measured is the CPU the ledger costs at that rate (its
 * writer thread and the producer's queueing, from getrusage).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "ledger.h"
#include "log.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* The run time of the ledger's writer thread ("tg-ledger"), in seconds. */
static double writer_s(void)
{
	char path[300], buf[64];
	unsigned long long ns = 0;
	struct dirent *d;
	DIR *dir = opendir("/proc/self/task");
	FILE *f;

	while (dir && (d = readdir(dir))) {
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && !strncmp(buf, "tg-ledger", 9)) {
			fclose(f);
			snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat", d->d_name);
			f = fopen(path, "r");
			if (f && fscanf(f, "%llu", &ns) != 1)
				ns = 0;
		}
		if (f)
			fclose(f);
	}
	if (dir)
		closedir(dir);
	return ns / 1e9;
}

/* Sleep until call i is due at rate calls a second from t0. */
static void pace(double t0, long i, double rate)
{
	double due = t0 + i / rate, now = now_s();
	struct timespec ts;

	if (due <= now)
		return;
	ts.tv_sec = (time_t)(due - now);
	ts.tv_nsec = (long)((due - now - ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	long i, n = argc > 2 ? atol(argv[2]) : 1000000;
	double rate = argc > 3 ? atof(argv[3]) : 0, c0, c1, w0, w1;
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
	c0 = cpu_s();
	w0 = writer_s();
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

		if (rate > 0 && !(i % 10))	/* 100 wake-ups a second */
			pace(t0, i, rate);
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
	c1 = cpu_s();
	w1 = writer_s();
	ledger_stats(l, &st);
	ledger_close(l);
	printf("calls %ld in %.2f s: %.0f calls/s (%.0f row writes/s), "
	       "%llu batches, %llu producer waits, %llu errors\n",
	       n, t1 - t0, n / (t1 - t0), 2 * n / (t1 - t0),
	       (unsigned long long)st.batches, (unsigned long long)st.waits,
	       (unsigned long long)st.errors);
	if (rate > 0)
		printf("at %.0f calls/s, per 1000 calls: writer thread %.2f ms;"
		       " the process %.2f ms (with queueing and the pacing)\n",
		       rate, (w1 - w0) * 1000 / (n / 1000.0),
		       (c1 - c0) * 1000 / (n / 1000.0));
	return st.errors || st.written != (uint64_t)(2 * n);
}
