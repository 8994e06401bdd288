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
#include <json-c/json.h>
#include "budget.h"
#include "escape.h"
#include "ledger.h"
#include "policy.h"
#include "pricing.h"
#include "report.h"

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
"usage: %s [--db FILE] [--since DUR|DATE] [--until DUR|DATE] [--by KEYS]\n"
"       %*s [--format table|json|csv] [--forecast [--policy FILE]]\n"
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
"  -p, --policy FILE     with --forecast: each budget of the policy, its spend\n"
"                        in its window now and when the last hour's rate\n"
"                        runs it out (table, and json as {\"teams\",\"budgets\"})\n"
"  -h, --help            this text\n", prog, (int)strlen(prog), "");
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct args {
	const char *db, *since, *until, *policy;
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
		{ "policy", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *prog = argv[0];
	int c;

	while ((c = getopt_long(argc, argv, "d:s:u:b:f:Fp:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': a->db = optarg; break;
		case 'p': a->policy = optarg; break;
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
	if (a->policy && !a->forecast) {
		fprintf(stderr, "%s: --policy goes with --forecast\n", prog);
		return -EINVAL;
	}
	if (a->opts.until_ns <= a->opts.since_ns) {
		fprintf(stderr, "%s: --until is not after --since\n", prog);
		return -EINVAL;
	}
	return 0;
}

/* --- budgets of a policy, for --forecast ----------------------------------- */

static const char *amount(char *buf, size_t cap, int tokens, int64_t v)
{
	char usd[32];

	if (tokens) {
		snprintf(buf, cap, "%lld tok", (long long)v);
	} else {
		usd_format(v, usd, sizeof(usd));
		snprintf(buf, cap, "%s", usd);
	}
	return buf;
}

static const char *utc_time(char *buf, size_t cap, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000LL);
	struct tm tm;

	if (!ns)
		return "-";
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static void budgets_table(const struct policy *p, struct budget_set *b, int64_t now)
{
	char team[200], win[48], lim[48], sp[48], rate[48], at[32];
	struct budget_view v;
	size_t i, j;

	printf("\nbudgets (policy %s, time zone %s; runs out: at the last hour's rate)\n",
	       p->path, p->timezone ? p->timezone : "UTC");
	printf("%-20s %-12s %16s %16s %16s  %s\n", "team", "window", "limit", "spent",
	       "rate_per_hour", "runs_out");
	for (i = 0; i < p->nteams; i++) {
		for (j = 0; j < p->teams[i].nbudgets; j++) {
			if (budget_view(b, (int)i, (int)j, now, &v))
				continue;
			escape_text(team, sizeof(team), p->teams[i].name, strlen(p->teams[i].name),
				    ESCAPE_SPACE);
			printf("%-20s %-12s %16s %16s %16s  %s\n", team,
			       policy_window_name(v.pb, win, sizeof(win)),
			       amount(lim, sizeof(lim), v.tokens, v.limit),
			       amount(sp, sizeof(sp), v.tokens, v.spent),
			       amount(rate, sizeof(rate), v.tokens, v.rate_per_hour),
			       v.spent >= v.limit ? "spent" : utc_time(at, sizeof(at), v.exhaust_at));
		}
	}
}

static json_object *budgets_json(const struct policy *p, struct budget_set *b, int64_t now)
{
	json_object *a = json_object_new_array(), *o;
	char win[48], usd[32];
	struct budget_view v;
	size_t i, j;

	for (i = 0; i < p->nteams; i++) {
		for (j = 0; j < p->teams[i].nbudgets; j++) {
			if (budget_view(b, (int)i, (int)j, now, &v))
				continue;
			o = json_object_new_object();
			json_object_object_add(o, "team", json_object_new_string(p->teams[i].name));
			json_object_object_add(o, "window", json_object_new_string(
				policy_window_name(v.pb, win, sizeof(win))));
			json_object_object_add(o, "action", json_object_new_string(
				policy_action_name(v.pb->action)));
#define AMT(k, x) do {								\
	if (v.tokens) {								\
		json_object_object_add(o, k "_tokens", json_object_new_int64(x));	\
	} else {								\
		usd_format(x, usd, sizeof(usd));				\
		json_object_object_add(o, k "_usd",				\
			json_object_new_double_s((double)(x) / 1e9, usd));	\
	}									\
} while (0)
			AMT("limit", v.limit);
			AMT("spent", v.spent);
			AMT("rate_per_hour", v.rate_per_hour);
#undef AMT
			json_object_object_add(o, "window_start", json_object_new_int64(v.window_start));
			json_object_object_add(o, "window_end", json_object_new_int64(v.window_end));
			json_object_object_add(o, "runs_out", v.exhaust_at ?
					       json_object_new_int64(v.exhaust_at) : NULL);
			json_object_array_add(a, o);
		}
	}
	return a;
}

/* The forecast, with the policy's budgets when one is given. */
static int forecast(sqlite3 *db, const struct args *a, int64_t now, const char *prog)
{
	struct budget_set *b = NULL;
	struct report_forecast *fc;
	struct policy *p = NULL;
	json_object *o, *teams;
	char err[1024], *buf = NULL;
	size_t n = 0;
	FILE *mem;
	int ret;

	if (a->policy) {
		if (policy_load(a->policy, &p, err, sizeof(err))) {
			fprintf(stderr, "%s: %s\n", prog, err);
			return 1;
		}
		if (budget_tz_set(p->timezone) || !(b = budget_new(p, now)) ||
		    budget_restore(b, db, now, err, sizeof(err))) {
			fprintf(stderr, "%s: budgets: %s\n", prog, b ? err : "cannot be kept");
			budget_free(b);
			policy_free(p);
			return 1;
		}
	}
	if (report_forecast_build(db, now, &fc, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", prog, err);
		budget_free(b);
		policy_free(p);
		return 1;
	}
	if (b && a->fmt == REPORT_JSON) {
		mem = open_memstream(&buf, &n);
		ret = mem ? report_forecast_print(mem, fc, REPORT_JSON) : -ENOMEM;
		if (mem)
			fclose(mem);
		teams = ret ? NULL : json_tokener_parse(buf);
		o = json_object_new_object();
		json_object_object_add(o, "teams", teams);
		json_object_object_add(o, "budgets", budgets_json(p, b, now));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		free(buf);
	} else {
		ret = report_forecast_print(stdout, fc, a->fmt);
		if (b && a->fmt == REPORT_TABLE)
			budgets_table(p, b, now);
	}
	report_forecast_free(fc);
	budget_free(b);
	policy_free(p);
	return ret ? 1 : 0;
}

static int run(sqlite3 *db, const struct args *a, int64_t now, const char *prog)
{
	struct report *r;
	char err[512];
	int ret;

	if (a->forecast)
		return forecast(db, a, now, prog);
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
