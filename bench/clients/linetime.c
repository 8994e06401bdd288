// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Runs a test client and times its calls from the outside, for
 * bench/clients/run.sh (the clients print one JSON line per call and
 * cannot be changed):
 *
 *   linetime [--batch K] [--out FILE] -- CMD [ARG]...
 *
 * CMD's stdout is read through a pipe; each line that reports a call
 * (contains "i":) is stamped with CLOCK_MONOTONIC as it arrives, one that
 * also has "error" counts as failed.  Lines go to FILE when given.  Then,
 * on stdout:
 *
 *   RESULT pid=P rc=RC calls=N errors=E wall_s=W cpu_s=C span_s=S
 *          steady_calls=M per_call_us=U calls_per_s=R gap_p50_us=G50 gap_p99_us=G99
 *
 * wall_s: fork to exit; cpu_s: CMD's user + system time (wait4); span_s:
 * first call line to last; steady_calls = N - K, the calls completed in
 * that span when the first K lines come together (K = 1 for a sequential
 * client, its first call sets the connection up; K = the streams of a
 * round for a client that prints a round at a time), so per_call_us =
 * span / M and calls_per_s = M / span leave out the process's start, its
 * TLS handshake and any sleep before the first call.  gap_*: between
 * successive call lines (a sequential client's per-call times).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long batch = 1;
	const char *outpath = NULL;
	FILE *out = NULL, *in;
	int fd[2], status, i;
	pid_t pid;
	struct rusage ru;
	double t0, t1, *ts = NULL, *gaps;
	size_t n = 0, cap = 0, errors = 0, m;
	char *line = NULL;
	size_t lcap = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			outpath = argv[++i];
		else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else
			break;
	}
	if (i >= argc || batch < 1) {
		fprintf(stderr, "usage: linetime [--batch K] [--out FILE] -- CMD [ARG]...\n");
		return 2;
	}
	if (outpath && !(out = fopen(outpath, "we"))) {
		perror(outpath);
		return 2;
	}
	if (pipe2(fd, O_CLOEXEC)) {
		perror("pipe");
		return 2;
	}
	t0 = now();
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (!pid) {
		dup2(fd[1], 1);
		execvp(argv[i], argv + i);
		fprintf(stderr, "linetime: %s: %s\n", argv[i], strerror(errno));
		_exit(127);
	}
	close(fd[1]);
	in = fdopen(fd[0], "r");
	while (getline(&line, &lcap, in) > 0) {
		double t = now();

		if (out)
			fputs(line, out);
		if (!strstr(line, "\"i\":"))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			ts = realloc(ts, cap * sizeof(*ts));
			if (!ts) {
				kill(pid, SIGKILL);
				return 2;
			}
		}
		ts[n++] = t;
		errors += strstr(line, "\"error\"") != NULL;
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("wait4");
		return 2;
	}
	t1 = now();
	if (out)
		fclose(out);
	m = n > (size_t)batch ? n - (size_t)batch : 0;
	gaps = calloc(n ? n : 1, sizeof(*gaps));
	for (size_t k = 1; k < n; k++)
		gaps[k - 1] = ts[k] - ts[k - 1];
	if (n > 1)
		qsort(gaps, n - 1, sizeof(*gaps), cmp_double);
	{
		double span = n ? ts[n - 1] - ts[0] : 0;
		double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
			     ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
		size_t g = n > 1 ? n - 1 : 0;

		printf("RESULT pid=%d rc=%d calls=%zu errors=%zu wall_s=%.4f cpu_s=%.4f span_s=%.4f "
		       "steady_calls=%zu per_call_us=%.1f calls_per_s=%.1f gap_p50_us=%.1f "
		       "gap_p99_us=%.1f\n", (int)pid,
		       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), n, errors,
		       t1 - t0, cpu, span, m, m && span > 0 ? span / m * 1e6 : 0.0,
		       m && span > 0 ? m / span : 0.0, g ? gaps[g / 2] * 1e6 : 0.0,
		       g ? gaps[(size_t)(g * 0.99) < g ? (size_t)(g * 0.99) : g - 1] * 1e6 : 0.0);
	}
	return 0;
}
