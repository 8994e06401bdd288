// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * `tollgate report`: options, the clock and the exit code; the grouping
 * and the formats are in report.c.  Exit 1 on a ledger that cannot be
 * read, 2 on bad options.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>
#include "ledger.h"
#include "report.h"

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
"usage: %s [--db FILE] [--since DUR|DATE] [--until DUR|DATE] [--by KEYS]\n"
"       %*s [--format table|json|csv] [--forecast]\n"
"\n"
"Spend and usage from the ledger, one row per group, with a TOTAL line\n"
"(table) and the periods no agent was watching.\n"
"\n"
"  -d, --db FILE         the ledger (default " LEDGER_DEFAULT_PATH ")\n"
"  -s, --since DUR|DATE  from DUR ago (15m, 24h, 7d, 2w) or a UTC date\n"
"                        YYYY-MM-DD[THH:MM[:SS][Z]] (default 24h)\n"
"  -u, --until DUR|DATE  up to, exclusive (default now)\n"
"  -b, --by KEYS         comma-separated: team, model, provider, cgroup,\n"
"                        process (comm + exe), key (key_fp), day, hour\n"
"                        (UTC buckets) (default team)\n"
"  -f, --format FMT      table, json (an array of rows) or csv; with json\n"
"                        and csv the unwatched periods go to stderr\n"
"  -F, --forecast        per team: spent this UTC day, week (from Monday) and\n"
"                        month, the last hour's and last day's rate (USD/h),\n"
"                        and each period's projected spend\n"
"  -h, --help            this text\n", prog, (int)strlen(prog), "");
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct args {
	const char *db, *since, *until;
	struct report_opts opts;
	enum report_format fmt;
	int forecast;
};

static int parse_args(int argc, char **argv, struct args *a, int64_t now)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "by", required_argument, NULL, 'b' },
		{ "format", required_argument, NULL, 'f' },
		{ "forecast", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *prog = argv[0];
	int c;

	while ((c = getopt_long(argc, argv, "d:s:u:b:f:Fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': a->db = optarg; break;
		case 's': a->since = optarg; break;
		case 'u': a->until = optarg; break;
		case 'F': a->forecast = 1; break;
		case 'h': usage(stdout, prog); return 1;
		case 'b':
			if (report_parse_by(optarg, &a->opts)) {
				fprintf(stderr, "%s: --by: '%s': keys are team, model, provider, "
					"cgroup, process, key, day, hour, each once\n", prog, optarg);
				return -EINVAL;
			}
			break;
		case 'f':
			if (report_parse_format(optarg, &a->fmt)) {
				fprintf(stderr, "%s: --format: table, json or csv\n", prog);
				return -EINVAL;
			}
			break;
		default:
			usage(stderr, prog);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		return -EINVAL;
	}
	if (report_parse_time(a->since, now, &a->opts.since_ns)) {
		fprintf(stderr, "%s: --since: '%s' is not a duration (24h) or a date\n",
			prog, a->since);
		return -EINVAL;
	}
	if (a->until && report_parse_time(a->until, now, &a->opts.until_ns)) {
		fprintf(stderr, "%s: --until: '%s' is not a duration (1h) or a date\n",
			prog, a->until);
		return -EINVAL;
	}
	if (a->opts.until_ns <= a->opts.since_ns) {
		fprintf(stderr, "%s: --until is not after --since\n", prog);
		return -EINVAL;
	}
	return 0;
}

static int run(sqlite3 *db, const struct args *a, int64_t now, const char *prog)
{
	struct report_forecast *fc;
	struct report *r;
	char err[512];
	int ret;

	if (a->forecast) {
		if (report_forecast_build(db, now, &fc, err, sizeof(err))) {
			fprintf(stderr, "%s: %s\n", prog, err);
			return 1;
		}
		ret = report_forecast_print(stdout, fc, a->fmt);
		report_forecast_free(fc);
		return ret ? 1 : 0;
	}
	if (report_build(db, &a->opts, now, &r, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	ret = report_print(stdout, r, a->fmt);
	/* json and csv stay machine-readable on stdout */
	if (a->fmt != REPORT_TABLE)
		report_print_spells(stderr, r);
	report_free(r);
	return ret ? 1 : 0;
}

int cmd_report(int argc, char **argv)
{
	struct args a = {
		.db = LEDGER_DEFAULT_PATH, .since = "24h",
		.opts = { .by = { REPORT_TEAM }, .nby = 1 },
		.fmt = REPORT_TABLE,
	};
	int64_t now = now_ns();
	char err[512];
	sqlite3 *db;
	int ret;

	a.opts.until_ns = now;
	ret = parse_args(argc, argv, &a, now);
	if (ret)
		return ret > 0 ? 0 : 2;
	db = report_db_open(a.db, err, sizeof(err));
	if (!db) {
		fprintf(stderr, "%s: %s\n", argv[0], err);
		return 1;
	}
	ret = run(db, &a, now, argv[0]);
	sqlite3_close(db);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "%s: writing the report: %s\n", argv[0], strerror(errno));
		return 1;
	}
	return ret;
}
