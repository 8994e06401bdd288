// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tollgate report over a ledger built here by hand: every grouping key
 * against sums recomputed from the seed, exact money, nearest-rank
 * percentiles, TOTAL = sum of rows, CSV quoting, JSON fields (§9), blind
 * spells between runs, and the forecast on a fixed clock.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include <json-c/json.h>
#include "decimal.h"
#include "report.h"
#include "tap.h"

#define SEC	((int64_t)1000000000)
#define MIN	(60 * SEC)
#define HOUR	(3600 * SEC)
#define DAY	(86400 * SEC)
#define NOW	((int64_t)1709726400 * SEC)	/* Wed 2024-03-06T12:00:00Z */
#define NSEED	50

static const char schema[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
	"CREATE TABLE runs(id INTEGER PRIMARY KEY, pid INTEGER, start_ns INTEGER,"
	" stop_ns INTEGER, last_seen_ns INTEGER, \"end\" TEXT);"
	"CREATE TABLE calls(id INTEGER PRIMARY KEY, run INTEGER, seq INTEGER, state TEXT,"
	" ts_ns INTEGER, end_ns INTEGER, pid INTEGER, comm TEXT, exe TEXT, uid INTEGER,"
	" user TEXT, cgroup TEXT, unit TEXT, container TEXT, team TEXT, provider TEXT,"
	" host TEXT, path TEXT, model TEXT, stream INTEGER, status INTEGER,"
	" request_bytes INTEGER, response_bytes INTEGER, input_tokens INTEGER,"
	" cached_input_tokens INTEGER, cache_write_tokens INTEGER, output_tokens INTEGER,"
	" reasoning_tokens INTEGER, usage_source TEXT, cost_nano INTEGER, unpriced INTEGER,"
	" ttft_ns INTEGER, duration_ns INTEGER, key_fp TEXT, capture TEXT, action TEXT);"
	"CREATE INDEX calls_ts ON calls(ts_ns);"
	"INSERT INTO meta VALUES('schema_version','2');";

struct seed {
	const char *team, *model, *provider, *cgroup, *comm, *exe, *key_fp, *state, *source;
	int64_t ts, cost, ttft, dur;
	int status;			/* 0: NULL */
	int64_t in, cached, write, out, reason;
};

static struct seed seeds[NSEED];
static char dbpath[64];

static const char *const teams[] = { "alpha", "be,ta \"q\"", "gamma" };
static const char *const models[] = { "gpt-4o", "claude-sonnet-4", "gemini-2.5-pro", "o3" };
static const char *const providers[] = { "openai", "anthropic" };

static void make_seeds(void)
{
	int i;

	for (i = 0; i < NSEED; i++) {
		struct seed *s = &seeds[i];

		s->team = teams[i % 3];
		s->model = models[i % 4];
		s->provider = providers[i % 2];
		s->cgroup = i % 5 ? "/system.slice/app.service" : NULL;
		s->comm = i % 2 ? "python3" : "node";
		s->exe = i % 2 ? "/usr/bin/python3" : "/usr/bin/node";
		s->key_fp = i % 3 ? "fp:aaaa" : "fp:bbbb";
		s->state = i % 10 == 7 ? "open" : i % 10 == 3 ? "interrupted" : "settled";
		s->source = i % 6 == 0 ? "estimated" : "provider";
		s->status = i % 7 == 0 ? 500 : i % 11 == 0 ? 0 : 200;
		/* four days back and some minutes: several day and hour buckets */
		s->ts = NOW - (i % 4) * DAY - i * 7 * MIN - 1;
		s->cost = 1234567 * (i + 1) + i;	/* odd nanos: exactness shows */
		s->in = 100 * i + 1;
		s->cached = i % 3 ? 50 * i : 0;
		s->write = i % 4 ? 0 : 7;
		s->out = i % 9 ? 10 * i + 3 : 0;
		s->reason = s->out / 3;
		s->ttft = i % 8 == 5 ? -1 : (i + 1) * 1000000 + 123;
		s->dur = s->ttft < 0 ? 5 * SEC : s->ttft + (int64_t)s->out * 20000 + i;
	}
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_opt(sqlite3_stmt *st, int i, int64_t v)
{
	if (v < 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

static void insert(sqlite3 *db, const struct seed *s, int seq)
{
	static const char q[] =
		"INSERT INTO calls(run, seq, state, ts_ns, team, model, provider, cgroup, comm,"
		" exe, key_fp, usage_source, status, input_tokens, cached_input_tokens,"
		" cache_write_tokens, output_tokens, reasoning_tokens, cost_nano, ttft_ns,"
		" duration_ns) VALUES(1,?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,"
		"?17,?18,?19,?20)";
	sqlite3_stmt *st;

	sqlite3_prepare_v2(db, q, -1, &st, NULL);
	sqlite3_bind_int(st, 1, seq);
	bind_text(st, 2, s->state);
	sqlite3_bind_int64(st, 3, s->ts);
	bind_text(st, 4, s->team);
	bind_text(st, 5, s->model);
	bind_text(st, 6, s->provider);
	bind_text(st, 7, s->cgroup);
	bind_text(st, 8, s->comm);
	bind_text(st, 9, s->exe);
	bind_text(st, 10, s->key_fp);
	bind_text(st, 11, s->source);
	bind_opt(st, 12, s->status ? s->status : -1);
	sqlite3_bind_int64(st, 13, s->in);
	sqlite3_bind_int64(st, 14, s->cached);
	sqlite3_bind_int64(st, 15, s->write);
	sqlite3_bind_int64(st, 16, s->out);
	sqlite3_bind_int64(st, 17, s->reason);
	sqlite3_bind_int64(st, 18, s->cost);
	bind_opt(st, 19, s->ttft);
	bind_opt(st, 20, s->dur);
	if (sqlite3_step(st) != SQLITE_DONE)
		printf("# insert: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

static sqlite3 *new_db(const char *extra)
{
	sqlite3 *db;

	snprintf(dbpath, sizeof(dbpath), "/tmp/tollgate-report-XXXXXX");
	close(mkstemp(dbpath));
	unlink(dbpath);
	if (sqlite3_open(dbpath, &db) != SQLITE_OK)
		return NULL;
	sqlite3_exec(db, schema, NULL, NULL, NULL);
	if (extra)
		sqlite3_exec(db, extra, NULL, NULL, NULL);
	return db;
}

/* The seeded ledger: the 50 calls, 2 from before the window, and two runs
 * with a gap after a crash. */
static sqlite3 *seeded_db(void)
{
	struct seed old = seeds[0];
	char runs[512];
	sqlite3 *db;
	int i;

	db = new_db(NULL);
	for (i = 0; i < NSEED; i++)
		insert(db, &seeds[i], i);
	old.ts = NOW - 30 * DAY;
	insert(db, &old, 1000);
	old.ts = NOW + HOUR;
	insert(db, &old, 1001);
	snprintf(runs, sizeof(runs),
		 "INSERT INTO runs VALUES(1, 10, %" PRId64 ", NULL, %" PRId64 ", 'crashed');"
		 "INSERT INTO runs VALUES(2, 11, %" PRId64 ", %" PRId64 ", %" PRId64 ", 'stopped');",
		 NOW - 10 * DAY, NOW - 2 * DAY, NOW - DAY, NOW - HOUR, NOW - HOUR);
	sqlite3_exec(db, runs, NULL, NULL, NULL);
	sqlite3_close(db);
	return report_db_open(dbpath, (char[256]){ 0 }, 256);
}

static const char *seed_col(const struct seed *s, const char *col, char *buf, size_t cap)
{
	time_t t = (time_t)(s->ts / SEC);
	struct tm tm;

	gmtime_r(&t, &tm);
	if (!strcmp(col, "team")) return s->team;
	if (!strcmp(col, "model")) return s->model;
	if (!strcmp(col, "provider")) return s->provider;
	if (!strcmp(col, "cgroup")) return s->cgroup ?: "";
	if (!strcmp(col, "comm")) return s->comm;
	if (!strcmp(col, "exe")) return s->exe;
	if (!strcmp(col, "key_fp")) return s->key_fp;
	strftime(buf, cap, !strcmp(col, "day") ? "%Y-%m-%d" : "%Y-%m-%dT%H", &tm);
	return buf;
}

static int seed_in_group(const struct report *r, const struct report_group *g,
			 const struct seed *s)
{
	char buf[64];
	size_t c;

	for (c = 0; c < r->ncols; c++)
		if (strcmp(seed_col(s, r->col_names[c], buf, sizeof(buf)), g->cols[c]))
			return 0;
	return 1;
}

static struct report *build(sqlite3 *db, const char *by, int64_t since, int64_t until)
{
	struct report_opts o = { .since_ns = since, .until_ns = until };
	struct report *r = NULL;
	char err[256];

	if (report_parse_by(by, &o) || report_build(db, &o, NOW, &r, err, sizeof(err)))
		return NULL;
	return r;
}

/* Each group's sums against the seeds that fall in it, and the TOTAL. */
static void check_sums(const struct report *r)
{
	struct report_group sum = { 0 };
	uint64_t req, err, open, est, in, cached, out;
	int64_t cost;
	size_t i;
	int k;

	for (i = 0; i < r->nrows; i++) {
		const struct report_group *g = &r->rows[i];

		req = err = open = est = in = cached = out = 0;
		cost = 0;
		for (k = 0; k < NSEED; k++) {
			const struct seed *s = &seeds[k];
			int is_open = !strcmp(s->state, "open");

			if (!seed_in_group(r, g, s))
				continue;
			req++;
			open += is_open;
			err += !is_open && (s->status >= 400 || !s->status);
			est += !strcmp(s->source, "estimated") || !strcmp(s->state, "interrupted");
			in += s->in;
			cached += s->cached;
			out += s->out;
			cost += s->cost;
		}
		CHECK_EQ_INT(g->requests, req);
		CHECK_EQ_INT(g->errors, err);
		CHECK_EQ_INT(g->open, open);
		CHECK_EQ_INT(g->estimated, est);
		CHECK_EQ_INT(g->input, in);
		CHECK_EQ_INT(g->cached_input, cached);
		CHECK_EQ_INT(g->output, out);
		CHECK_EQ_INT(g->cost_nano, cost);
		sum.requests += g->requests;
		sum.errors += g->errors;
		sum.open += g->open;
		sum.input += g->input;
		sum.cache_write += g->cache_write;
		sum.reasoning += g->reasoning;
		sum.cost_nano += g->cost_nano;
	}
	CHECK_EQ_INT(sum.requests, NSEED);
	CHECK_EQ_INT(r->total.requests, sum.requests);
	CHECK_EQ_INT(r->total.errors, sum.errors);
	CHECK_EQ_INT(r->total.open, sum.open);
	CHECK_EQ_INT(r->total.input, sum.input);
	CHECK_EQ_INT(r->total.cache_write, sum.cache_write);
	CHECK_EQ_INT(r->total.reasoning, sum.reasoning);
	CHECK_EQ_INT(r->total.cost_nano, sum.cost_nano);
}

static void test_every_key(void)
{
	static const char *const bys[] = {
		"team", "model", "provider", "cgroup", "process", "key", "day", "hour",
		"team,model", "day,team,provider", "process,key,hour",
	};
	static const size_t expect_rows[] = { 3, 4, 2, 2, 2, 2, 4, 0, 12, 0, 0 };
	sqlite3 *db = seeded_db();
	struct report *r;
	size_t i;

	CHECK(db != NULL, "open");
	for (i = 0; db && i < sizeof(bys) / sizeof(bys[0]); i++) {
		r = build(db, bys[i], NOW - 7 * DAY, NOW);
		CHECK(r != NULL, "--by %s", bys[i]);
		if (!r)
			continue;
		if (expect_rows[i])
			CHECK(r->nrows == expect_rows[i], "--by %s: %zu rows", bys[i], r->nrows);
		check_sums(r);
		report_free(r);
	}
	sqlite3_close(db);
	unlink(dbpath);
}

static void test_percentiles(void)
{
	sqlite3 *db = new_db(NULL);
	struct seed s = seeds[1];
	struct report *r;
	int i;

	/* ttft 10..100 ms; output 10 tokens in (duration - ttft) = 10*(i+1) ms */
	for (i = 0; i < 10; i++) {
		s.state = "settled";
		s.ts = NOW - HOUR + i;
		s.ttft = (i + 1) * 10 * 1000000LL;
		s.out = 10;
		s.dur = s.ttft + (i + 1) * 10 * 1000000LL;
		insert(db, &s, i);
	}
	s.state = "open";		/* in flight: no latency yet */
	s.ttft = 1;
	insert(db, &s, 99);
	sqlite3_close(db);
	db = report_db_open(dbpath, (char[256]){ 0 }, 256);
	r = build(db, "team", NOW - DAY, NOW);
	CHECK(r && r->nrows == 1, "rows");
	if (r && r->nrows == 1) {
		CHECK_EQ_INT(r->rows[0].ttft_p50, 50 * 1000000LL);
		CHECK_EQ_INT(r->rows[0].ttft_p95, 100 * 1000000LL);
		CHECK_EQ_INT(r->rows[0].tpot_p50, 5 * 1000000LL);
		CHECK_EQ_INT(r->rows[0].open, 1);
		CHECK_EQ_INT(r->rows[0].requests, 11);
	}
	report_free(r);
	sqlite3_close(db);
	unlink(dbpath);
}

static char *print(const struct report *r, enum report_format fmt)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	report_print(f, r, fmt);
	fclose(f);
	return buf;
}

static void test_csv(void)
{
	sqlite3 *db = seeded_db();
	struct report *r = build(db, "team", NOW - 7 * DAY, NOW);
	char *out;

	CHECK(r != NULL, "build");
	if (!r)
		goto close;
	out = print(r, REPORT_CSV);
	CHECK(!strncmp(out, "team,requests,errors,open,input_tokens,cached_input_tokens,"
		       "cache_write_tokens,output_tokens,reasoning_tokens,cost_usd,cache_hit_rate,"
		       "input_share,cost_per_call,ttft_p50_ms,ttft_p95_ms,tpot_ms,estimated_share\n",
		       strlen("team,requests")), "%s", out);
	CHECK(strstr(out, "\n\"be,ta \"\"q\"\"\",17,") != NULL, "%s", out);
	CHECK(strstr(out, "\nalpha,17,") != NULL, "%s", out);
	free(out);
	report_free(r);
close:
	sqlite3_close(db);
	unlink(dbpath);
}

static void test_json(void)
{
	static const char *const fields[] = {
		"team", "model", "requests", "input_tokens", "cached_input_tokens",
		"cache_write_tokens", "output_tokens", "reasoning_tokens", "cost_usd", "errors",
		"open", "ttft_p50_ms", "estimated_share",
	};
	sqlite3 *db = seeded_db();
	struct report *r = build(db, "team,model", NOW - 7 * DAY, NOW);
	struct json_object *arr, *o, *v;
	int64_t cost = 0, c;
	const char *end;
	char *out;
	size_t i, k;

	CHECK(r != NULL, "build");
	if (!r)
		goto close;
	out = print(r, REPORT_JSON);
	arr = json_tokener_parse(out);
	CHECK(arr && json_object_is_type(arr, json_type_array), "%s", out);
	for (i = 0; arr && i < json_object_array_length(arr); i++) {
		o = json_object_array_get_idx(arr, i);
		for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
			CHECK(json_object_object_get_ex(o, fields[k], NULL), "no %s", fields[k]);
		json_object_object_get_ex(o, "cost_usd", &v);
		CHECK(!decimal_parse(json_object_get_string(v), &end, 9, INT64_MAX, &c),
		      "%s", json_object_get_string(v));
		cost += c;
	}
	CHECK_EQ_INT(json_object_array_length(arr), r->nrows);
	CHECK_EQ_INT(cost, r->total.cost_nano);
	json_object_put(arr);
	free(out);
	report_free(r);
close:
	sqlite3_close(db);
	unlink(dbpath);
}

static void test_table(void)
{
	sqlite3 *db = seeded_db();
	struct report *r = build(db, "team", NOW - 7 * DAY, NOW);
	char money[40], *out, *line;

	CHECK(r != NULL, "build");
	if (!r)
		goto close;
	out = print(r, REPORT_TABLE);
	line = strstr(out, "\nTOTAL ");
	CHECK(line != NULL, "%s", out);
	/* the total's cost, exact, on the TOTAL line */
	report_money(money, sizeof(money), r->total.cost_nano, 0);
	CHECK(line && strstr(line, money), "%s not in %s", money, out);
	CHECK(strstr(out, "be,ta\\x20\"q\"") != NULL, "%s", out);
	CHECK(strstr(out, "not watched: 2024-03-04T12:00:00Z \xe2\x80\x93 "
		      "2024-03-05T12:00:00Z (crashed run)") != NULL, "%s", out);
	CHECK(strstr(out, "not watched: 2024-03-06T11:00:00Z \xe2\x80\x93 "
		      "2024-03-06T12:00:00Z (no agent)") != NULL, "%s", out);
	free(out);
	report_free(r);
close:
	sqlite3_close(db);
	unlink(dbpath);
}

static void test_spells(void)
{
	sqlite3 *db = seeded_db();
	struct report *r = build(db, "team", NOW - 12 * DAY, NOW);

	CHECK(r && r->nspells == 3, "%zu", r ? r->nspells : 0);
	if (r && r->nspells == 3) {
		CHECK_EQ_INT(r->spells[0].from_ns, NOW - 12 * DAY);
		CHECK_EQ_INT(r->spells[0].to_ns, NOW - 10 * DAY);
		CHECK(!strcmp(r->spells[0].why, "no agent"), "%s", r->spells[0].why);
		CHECK_EQ_INT(r->spells[1].from_ns, NOW - 2 * DAY);
		CHECK_EQ_INT(r->spells[1].to_ns, NOW - DAY);
		CHECK(!strcmp(r->spells[1].why, "crashed run"), "%s", r->spells[1].why);
		CHECK_EQ_INT(r->spells[2].from_ns, NOW - HOUR);
	}
	report_free(r);
	/* a window that opens inside the gap a crash left: still the crash's */
	r = build(db, "team", NOW - DAY - 12 * HOUR, NOW - 2 * HOUR);
	CHECK(r && r->nspells == 1, "%zu", r ? r->nspells : 0);
	if (r && r->nspells == 1) {
		CHECK_EQ_INT(r->spells[0].from_ns, NOW - DAY - 12 * HOUR);
		CHECK_EQ_INT(r->spells[0].to_ns, NOW - DAY);
		CHECK(!strcmp(r->spells[0].why, "crashed run"), "%s", r->spells[0].why);
	}
	report_free(r);
	/* a window inside a run: nothing unwatched */
	r = build(db, "team", NOW - 5 * DAY, NOW - 3 * DAY);
	CHECK(r && r->nspells == 0, "%zu", r ? r->nspells : 0);
	report_free(r);
	sqlite3_close(db);
	unlink(dbpath);
}

static void test_forecast(void)
{
	static const struct { int64_t ts, cost; } rows[] = {
		{ NOW - 30 * MIN, 1000000000 },		/* today, last hour */
		{ NOW - 5 * HOUR, 2000000000 },		/* today */
		{ NOW - 30 * HOUR, 4000000000 },	/* Tue: this week, not the last day */
		{ NOW - 5 * DAY, 8000000000 },		/* Fri 03-01: this month only */
		{ NOW - 6 * DAY - HOUR, 16000000000 },	/* Thu 02-29: neither */
	};
	struct report_forecast *fc = NULL;
	struct seed s = seeds[0];
	char err[256], *out = NULL;
	size_t i, n = 0;
	sqlite3 *db = new_db(NULL);
	FILE *f;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		s.team = "alpha";
		s.ts = rows[i].ts;
		s.cost = rows[i].cost;
		insert(db, &s, (int)i);
	}
	sqlite3_close(db);
	db = report_db_open(dbpath, err, sizeof(err));
	CHECK(!report_forecast_build(db, NOW, &fc, err, sizeof(err)), "%s", err);
	CHECK(fc && fc->nrows == 1, "rows");
	if (fc && fc->nrows == 1) {
		const struct report_forecast_row *r = &fc->rows[0];

		CHECK_EQ_INT(fc->week_start, NOW - 2 * DAY - 12 * HOUR);
		CHECK_EQ_INT(r->day_nano, 3000000000);
		CHECK_EQ_INT(r->week_nano, 7000000000);
		CHECK_EQ_INT(r->month_nano, 15000000000);
		CHECK_EQ_INT(r->rate_hour_nano, 1000000000);
		CHECK_EQ_INT(r->rate_day_nano, 125000000);
		CHECK_EQ_INT(r->proj_day_nano, 4500000000);
		CHECK_EQ_INT(r->proj_week_nano, 20500000000);
		CHECK_EQ_INT(r->proj_month_nano, 91500000000);
		f = open_memstream(&out, &n);
		report_forecast_print(f, fc, REPORT_JSON);
		fclose(f);
		CHECK(strstr(out, "\"projected_month_usd\":91.500000000") != NULL, "%s", out);
		free(out);
	}
	report_forecast_free(fc);
	sqlite3_close(db);
	unlink(dbpath);
}

/*
 * Goldens: every --by key (and a pair) in every format, over the seeded
 * ledger, against tests/unit/golden/report/.  The sums are checked above
 * against the seeds; these pin the layout, the rounding and the columns a
 * user's scripts read.  TG_UPDATE_GOLDEN=1 rewrites them (then read the
 * diff before committing it).
 */
#define GOLDEN_DIR "tests/unit/golden/report"

static void golden(const char *name, const char *got)
{
	char path[256], *want = NULL;
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), GOLDEN_DIR "/%s", name);
	if (getenv("TG_UPDATE_GOLDEN")) {
		f = fopen(path, "w");
		CHECK(f && fputs(got, f) >= 0, "write %s", path);
		if (f)
			fclose(f);
		return;
	}
	f = fopen(path, "r");
	CHECK(f != NULL, "%s: missing (TG_UPDATE_GOLDEN=1 writes it)", path);
	if (!f)
		return;
	if (getdelim(&want, &n, '\0', f) < 0) {
		free(want);
		want = strdup("");
	}
	fclose(f);
	CHECK(!strcmp(want, got), "%s differs:\n--- want\n%s--- got\n%s", path, want, got);
	free(want);
}

static void test_goldens(void)
{
	static const char *const bys[] = {
		"team", "model", "provider", "cgroup", "process", "key", "day", "hour",
		"team,model",
	};
	static const struct { enum report_format fmt; const char *ext; } fmts[] = {
		{ REPORT_TABLE, "txt" }, { REPORT_JSON, "json" }, { REPORT_CSV, "csv" },
	};
	struct report_forecast *fc = NULL;
	char name[64], err[256], *out;
	struct report *r;
	size_t i, j;
	sqlite3 *db = seeded_db();

	for (i = 0; i < sizeof(bys) / sizeof(bys[0]); i++) {
		r = build(db, bys[i], NOW - 7 * DAY, NOW);
		CHECK(r != NULL, "%s", bys[i]);
		for (j = 0; r && j < sizeof(fmts) / sizeof(fmts[0]); j++) {
			snprintf(name, sizeof(name), "by-%s.%s", bys[i], fmts[j].ext);
			for (char *c = name; *c; c++)
				if (*c == ',')
					*c = '+';
			out = print(r, fmts[j].fmt);
			golden(name, out);
			free(out);
		}
		report_free(r);
	}
	CHECK(!report_forecast_build(db, NOW, &fc, err, sizeof(err)), "%s", err);
	for (j = 0; fc && j < sizeof(fmts) / sizeof(fmts[0]); j++) {
		char *buf = NULL;
		size_t n = 0;
		FILE *f = open_memstream(&buf, &n);

		report_forecast_print(f, fc, fmts[j].fmt);
		fclose(f);
		snprintf(name, sizeof(name), "forecast.%s", fmts[j].ext);
		golden(name, buf);
		free(buf);
	}
	report_forecast_free(fc);
	sqlite3_close(db);
	unlink(dbpath);
}

static void test_parse(void)
{
	struct report_opts o = { 0 };
	enum report_format fmt;
	int64_t t;

	CHECK(!report_parse_time("15m", NOW, &t) && t == NOW - 15 * MIN, "15m");
	CHECK(!report_parse_time("7d", NOW, &t) && t == NOW - 7 * DAY, "7d");
	CHECK(!report_parse_time("2024-03-01", NOW, &t) && t == NOW - 5 * DAY - 12 * HOUR, "date");
	CHECK(!report_parse_time("2024-03-06T11:30Z", NOW, &t) && t == NOW - 30 * MIN, "time");
	CHECK(!report_parse_time("2024-03-06T11:30:15", NOW, &t) && t == NOW - 30 * MIN + 15 * SEC,
	      "secs");
	CHECK(report_parse_time("2023-02-29", NOW, &t) == -EINVAL, "not leap");
	CHECK(report_parse_time("24", NOW, &t) == -EINVAL, "no unit");
	CHECK(report_parse_time("5y", NOW, &t) == -EINVAL, "unit");
	CHECK(report_parse_time("-5m", NOW, &t) == -EINVAL, "sign");
	CHECK(!report_parse_by("day,team,process", &o) && o.nby == 3 && o.by[2] == REPORT_PROCESS,
	      "by");
	CHECK(report_parse_by("team,team", &o) == -EINVAL, "twice");
	CHECK(report_parse_by("team,", &o) == -EINVAL, "empty");
	CHECK(report_parse_by("colour", &o) == -EINVAL, "unknown");
	CHECK(!report_parse_format("csv", &fmt) && fmt == REPORT_CSV, "csv");
	CHECK(report_parse_format("xml", &fmt) == -EINVAL, "xml");
}

static void test_open_errors(void)
{
	char err[256];
	sqlite3 *db;

	CHECK(!report_db_open("/nonexistent/ledger.db", err, sizeof(err)), "missing");
	CHECK(strstr(err, "No such file") != NULL, "%s", err);
	db = new_db("UPDATE meta SET value = '99' WHERE key = 'schema_version'");
	sqlite3_close(db);
	CHECK(!report_db_open(dbpath, err, sizeof(err)), "v99");
	CHECK(strstr(err, "schema version 99") != NULL, "%s", err);
	unlink(dbpath);
}

static void test_money(void)
{
	char b[40];

	CHECK(!strcmp(report_money(b, sizeof(b), 1234567890, 0), "1.234567890"), "%s", b);
	CHECK(!strcmp(report_money(b, sizeof(b), 1234567890, 1), "1.23456789"), "%s", b);
	CHECK(!strcmp(report_money(b, sizeof(b), 5, 1), "0.000000005"), "%s", b);
	CHECK(!strcmp(report_money(b, sizeof(b), 3000000000, 1), "3.00"), "%s", b);
	CHECK(!strcmp(report_money(b, sizeof(b), -1500000000, 1), "-1.50"), "%s", b);
}

int main(void)
{
	make_seeds();
	RUN(test_parse);
	RUN(test_money);
	RUN(test_every_key);
	RUN(test_percentiles);
	RUN(test_csv);
	RUN(test_json);
	RUN(test_table);
	RUN(test_spells);
	RUN(test_forecast);
	RUN(test_goldens);
	RUN(test_open_errors);
	return tap_done();
}
