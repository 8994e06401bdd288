/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * `tollgate report` (DESIGN §8, §9): the ledger's calls grouped by any
 * combination of keys, summed exactly (tokens as integers, money as nano-USD),
 * with per-group percentiles computed exactly (nearest rank) in C, the
 * periods no agent watched, and a per-team spend forecast.
 *
 * This file reads an open ledger and formats; it takes "now" as an argument
 * so every number it prints can be checked against a fixed clock.  Options
 * and the exit code live in user/cmd_report.c.
 */
#ifndef TOLLGATE_REPORT_H
#define TOLLGATE_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct sqlite3;

enum report_key {
	REPORT_TEAM, REPORT_MODEL, REPORT_PROVIDER, REPORT_CGROUP,
	REPORT_PROCESS,			/* two columns: comm, exe */
	REPORT_KEY,			/* key_fp */
	REPORT_DAY, REPORT_HOUR,	/* UTC buckets */
	REPORT_KEY__N,
};

enum report_format { REPORT_TABLE, REPORT_JSON, REPORT_CSV };

#define REPORT_MAX_COLS		(REPORT_KEY__N + 1)	/* process is two */
#define REPORT_MAX_GROUPS	1000000		/* past it: -E2BIG */
#define REPORT_MAX_CALLS	50000000	/* values loaded for percentiles */
#define REPORT_MAX_SPELLS	10000		/* blind spells kept; more counted */

struct report_opts {
	int64_t since_ns, until_ns;	/* calls with since <= ts_ns < until */
	enum report_key by[REPORT_KEY__N];
	size_t nby;
};

struct report_group {
	char *cols[REPORT_MAX_COLS];	/* the key columns' text ("" for none) */
	uint64_t requests, errors, open, estimated;
	uint64_t input, cached_input, cache_write, output, reasoning;
	int64_t cost_nano;
	int64_t ttft_p50, ttft_p95, tpot_p50;	/* ns; -1: no value */
};

/* A period inside [since, until) when no run of the agent was watching. */
struct report_spell {
	int64_t from_ns, to_ns;
	const char *why;		/* "no agent", "crashed run" */
};

struct report {
	size_t ncols;
	const char *col_names[REPORT_MAX_COLS];
	enum report_key col_key[REPORT_MAX_COLS];
	struct report_group *rows;
	size_t nrows;
	struct report_group total;	/* over every call, not over the rows */
	struct report_spell *spells;
	size_t nspells;
	uint64_t spells_dropped;
};

struct report_forecast_row {
	char *team;
	int64_t day_nano, week_nano, month_nano;	/* spent so far */
	int64_t last_hour_nano, last_day_nano;		/* spent in the window */
	int64_t rate_hour_nano, rate_day_nano;		/* nano-USD per hour */
	int64_t proj_day_nano, proj_week_nano, proj_month_nano;
};

struct report_forecast {
	int64_t now_ns, day_start, week_start, month_start;
	int64_t day_end, week_end, month_end;
	struct report_forecast_row *rows;
	size_t nrows;
};

/* --- options --------------------------------------------------------------- */

/*
 * A time: a duration ago ("15m", "24h", "7d", "2w", "30s") from now, or a UTC
 * date "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM[:SS][Z]".  0 or -EINVAL.
 */
int report_parse_time(const char *s, int64_t now_ns, int64_t *out);

/* "team,model,day" into opts->by; -EINVAL on an unknown or repeated key. */
int report_parse_by(const char *s, struct report_opts *opts);

int report_parse_format(const char *s, enum report_format *out);

/* --- the ledger ------------------------------------------------------------ */

/*
 * Opens the ledger at path read-only (a WAL reader: it does not block the
 * agent's writer) and checks its schema version.  NULL with err filled:
 * missing file, not a ledger, or a schema this build does not know.
 */
struct sqlite3 *report_db_open(const char *path, char *err, size_t errlen);

/* Groups and sums the calls of opts' window, and the blind spells in it
 * (a run still going is counted up to now_ns).  0 or -errno, err filled. */
int report_build(struct sqlite3 *db, const struct report_opts *opts, int64_t now_ns,
		 struct report **out, char *err, size_t errlen);
void report_free(struct report *r);

int report_forecast_build(struct sqlite3 *db, int64_t now_ns, struct report_forecast **out,
			  char *err, size_t errlen);
void report_forecast_free(struct report_forecast *f);

/* --- output ---------------------------------------------------------------- */

/* The groups in fmt; table output ends with a TOTAL line and the blind
 * spells.  JSON and CSV carry the groups only (the spells: report_print_spells). */
int report_print(FILE *f, const struct report *r, enum report_format fmt);
void report_print_spells(FILE *f, const struct report *r);
int report_forecast_print(FILE *f, const struct report_forecast *fc, enum report_format fmt);

/* Exact decimal of a nano-USD amount: 9 fraction digits, or (trim) trailing
 * zeros dropped down to 2. */
const char *report_money(char *buf, size_t cap, int64_t nano, int trim);

/* UTC "YYYY-MM-DDTHH:MM:SSZ". */
const char *report_time(char *buf, size_t cap, int64_t ns);

/* The command (user/cmd_report.c). */
int cmd_report(int argc, char **argv);

#endif
