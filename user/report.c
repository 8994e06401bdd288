// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * `tollgate report` core: query the ledger, group, sum, format.
 *
 * The calls are read ordered by the group keys, so a group is a run of
 * consecutive rows and only its own values (for the percentiles) are held
 * at once, besides the whole window's for the TOTAL line.  Sums are
 * integers all the way: money stays nano-USD until it is printed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include <json-c/json.h>
#include "escape.h"
#include "ledger.h"
#include "report.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define NS_SEC		((int64_t)1000000000)
#define NS_HOUR		(3600 * NS_SEC)
#define NS_DAY		(86400 * NS_SEC)
#define CELL		1024

static const struct key_spec {
	const char *name;		/* the --by word */
	const char *sql[2];		/* its column expressions */
	const char *col[2];		/* and their output names */
} key_specs[REPORT_KEY__N] = {
	[REPORT_TEAM]     = { "team",     { "COALESCE(team,'')" },     { "team" } },
	[REPORT_MODEL]    = { "model",    { "COALESCE(model,'')" },    { "model" } },
	[REPORT_PROVIDER] = { "provider", { "COALESCE(provider,'')" }, { "provider" } },
	[REPORT_CGROUP]   = { "cgroup",   { "COALESCE(cgroup,'')" },   { "cgroup" } },
	[REPORT_PROCESS]  = { "process",  { "COALESCE(comm,'')", "COALESCE(exe,'')" },
			      { "comm", "exe" } },
	[REPORT_KEY]      = { "key",      { "COALESCE(key_fp,'')" },   { "key_fp" } },
	/* buckets as integers: they sort as time, and are named in C */
	[REPORT_DAY]      = { "day",      { "(ts_ns / 86400000000000)" },  { "day" } },
	[REPORT_HOUR]     = { "hour",     { "(ts_ns / 3600000000000)" },   { "hour" } },
};

/* --- calendar (UTC, proleptic Gregorian; H. Hinnant's algorithms) --------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

const char *report_time(char *buf, size_t cap, int64_t ns)
{
	int64_t days = floor_div(ns, NS_DAY), y;
	int64_t secs = floor_div(ns, NS_SEC) - days * 86400;
	unsigned m, d;

	civil_from_days(days, &y, &m, &d);
	snprintf(buf, cap, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02uZ", y, m, d,
		 (unsigned)(secs / 3600), (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
	return buf;
}

/* --- options --------------------------------------------------------------- */

static int parse_uint(const char **p, unsigned ndigits, unsigned *out)
{
	unsigned v = 0, i;

	for (i = 0; i < ndigits; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)((*p)[i] - '0');
	}
	*p += ndigits;
	*out = v;
	return 0;
}

static int parse_duration(const char *s, int64_t now_ns, int64_t *out)
{
	static const struct { char c; int64_t ns; } units[] = {
		{ 's', NS_SEC }, { 'm', 60 * NS_SEC }, { 'h', NS_HOUR },
		{ 'd', NS_DAY }, { 'w', 7 * NS_DAY },
	};
	char *end;
	unsigned long long n;
	size_t i;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end[0] == '\0' || end[1] != '\0')
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(units); i++) {
		if (units[i].c != *end)
			continue;
		/* no further back than the epoch: keeps the arithmetic in range */
		if (n > (unsigned long long)(now_ns / units[i].ns))
			return -ERANGE;
		*out = now_ns - (int64_t)n * units[i].ns;
		return 0;
	}
	return -EINVAL;
}

static int parse_date(const char *s, int64_t *out)
{
	unsigned y, mo, d, h = 0, mi = 0, sec = 0;
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = s;
	int leap;

	if (parse_uint(&p, 4, &y) || *p++ != '-' || parse_uint(&p, 2, &mo) || *p++ != '-' ||
	    parse_uint(&p, 2, &d))
		return -EINVAL;
	if (*p == 'T' || *p == ' ') {
		p++;
		if (parse_uint(&p, 2, &h) || *p++ != ':' || parse_uint(&p, 2, &mi))
			return -EINVAL;
		if (*p == ':' && (p++, parse_uint(&p, 2, &sec)))
			return -EINVAL;
		if (*p == 'Z')
			p++;
	}
	if (*p)
		return -EINVAL;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 59)
		return -EINVAL;
	*out = ((days_from_civil(y, mo, d) * 86400) + h * 3600 + mi * 60 + sec) * NS_SEC;
	return 0;
}

int report_parse_time(const char *s, int64_t now_ns, int64_t *out)
{
	if (!s || !*s)
		return -EINVAL;
	if (strlen(s) >= 10 && s[4] == '-')
		return parse_date(s, out);
	return parse_duration(s, now_ns, out);
}

int report_parse_by(const char *s, struct report_opts *opts)
{
	const char *p = s, *comma;
	size_t len, k, i;

	opts->nby = 0;
	for (;;) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		for (k = 0; k < REPORT_KEY__N; k++)
			if (strlen(key_specs[k].name) == len && !memcmp(key_specs[k].name, p, len))
				break;
		if (k == REPORT_KEY__N)
			return -EINVAL;
		for (i = 0; i < opts->nby; i++)
			if (opts->by[i] == (enum report_key)k)
				return -EINVAL;
		opts->by[opts->nby++] = (enum report_key)k;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

int report_parse_format(const char *s, enum report_format *out)
{
	static const char *const names[] = { "table", "json", "csv" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcmp(s, names[i])) {
			*out = (enum report_format)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* --- opening the ledger ---------------------------------------------------- */

static int schema_version(sqlite3 *db, long *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return -ENOENT;
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? atol((const char *)sqlite3_column_text(st, 0) ?: "0") : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -ENOENT;
}

struct sqlite3 *report_db_open(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	sqlite3 *db = NULL;
	long v;

	/* read-only open of a missing file fails anyway, but not this clearly */
	if (stat(path, &sb)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		goto close;
	}
	/* the agent's writer holds the lock only for a batch */
	sqlite3_busy_timeout(db, 5000);
	if (schema_version(db, &v)) {
		snprintf(err, errlen, "%s: not a tollgate ledger (%s)", path, sqlite3_errmsg(db));
		goto close;
	}
	if (v != LEDGER_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: ledger schema version %ld, this tollgate reads %d",
			 path, v, LEDGER_SCHEMA_VERSION);
		goto close;
	}
	return db;
close:
	sqlite3_close(db);
	return NULL;
}

/* --- grouping -------------------------------------------------------------- */

struct vec {
	int64_t *v;
	size_t n, cap;
};

static int vec_push(struct vec *a, int64_t x)
{
	int64_t *nv;

	if (a->n == a->cap) {
		if (a->cap >= REPORT_MAX_CALLS)
			return -E2BIG;
		a->cap = a->cap ? a->cap * 2 : 64;
		nv = realloc(a->v, a->cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		a->v = nv;
	}
	a->v[a->n++] = x;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p% of them at or below. */
static int64_t percentile(struct vec *a, unsigned p)
{
	size_t rank;

	if (!a->n)
		return -1;
	qsort(a->v, a->n, sizeof(a->v[0]), cmp_i64);
	rank = (p * a->n + 99) / 100;
	return a->v[rank ? rank - 1 : 0];
}

/* One group being summed, with its values for the percentiles. */
struct acc {
	struct report_group *g;
	struct vec ttft, tpot;
};

enum { C_STATE, C_STATUS, C_IN, C_CACHED, C_WRITE, C_OUT, C_REASON, C_COST, C_TTFT,
	C_DUR, C_SOURCE, C__N };

static const char *const call_cols =
	"state, status, input_tokens, cached_input_tokens, cache_write_tokens, "
	"output_tokens, reasoning_tokens, cost_nano, ttft_ns, duration_ns, usage_source";

static int64_t col_i64(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
	int64_t v = sqlite3_column_int64(st, i);

	return v > 0 ? (uint64_t)v : 0;
}

static int acc_add(struct acc *a, sqlite3_stmt *st, int base)
{
	struct report_group *g = a->g;
	const char *state = (const char *)sqlite3_column_text(st, base + C_STATE) ?: "";
	const char *src = (const char *)sqlite3_column_text(st, base + C_SOURCE) ?: "";
	int64_t status = col_i64(st, base + C_STATUS), ttft = col_i64(st, base + C_TTFT);
	int64_t dur = col_i64(st, base + C_DUR);
	uint64_t out = col_u64(st, base + C_OUT);
	int open = !strcmp(state, "open"), err;

	g->requests++;
	g->open += open;
	/* an open call has no answer yet: not an error until it ends without one */
	g->errors += !open && (status >= 400 || status <= 0);
	g->estimated += !strcmp(src, "estimated") || !strcmp(state, "interrupted");
	g->input += col_u64(st, base + C_IN);
	g->cached_input += col_u64(st, base + C_CACHED);
	g->cache_write += col_u64(st, base + C_WRITE);
	g->output += out;
	g->reasoning += col_u64(st, base + C_REASON);
	g->cost_nano += sqlite3_column_int64(st, base + C_COST);
	if (open)
		return 0;
	if (ttft >= 0 && (err = vec_push(&a->ttft, ttft)))
		return err;
	if (ttft >= 0 && dur >= ttft && out > 0 &&
	    (err = vec_push(&a->tpot, (dur - ttft) / (int64_t)out)))
		return err;
	return 0;
}

static void acc_finish(struct acc *a)
{
	a->g->ttft_p50 = percentile(&a->ttft, 50);
	a->g->ttft_p95 = percentile(&a->ttft, 95);
	a->g->tpot_p50 = percentile(&a->tpot, 50);
	a->ttft.n = a->tpot.n = 0;
}

static void acc_release(struct acc *a)
{
	free(a->ttft.v);
	free(a->tpot.v);
}

static char *bucket_name(int64_t n, int hour)
{
	char buf[32];
	int64_t y;
	unsigned m, d;

	civil_from_days(hour ? floor_div(n, 24) : n, &y, &m, &d);
	if (hour)
		snprintf(buf, sizeof(buf), "%04" PRId64 "-%02u-%02uT%02u", y, m, d,
			 (unsigned)(n - floor_div(n, 24) * 24));
	else
		snprintf(buf, sizeof(buf), "%04" PRId64 "-%02u-%02u", y, m, d);
	return strdup(buf);
}

static char *col_text(const struct report *r, sqlite3_stmt *st, size_t i)
{
	const char *s;

	if (r->col_key[i] == REPORT_DAY || r->col_key[i] == REPORT_HOUR)
		return bucket_name(sqlite3_column_int64(st, (int)i), r->col_key[i] == REPORT_HOUR);
	s = (const char *)sqlite3_column_text(st, (int)i);
	return strdup(s ?: "");
}

/* Does this row start a new group? */
static int row_differs(const struct report *r, sqlite3_stmt *st, const struct report_group *g)
{
	char *s;
	size_t i;
	int diff;

	for (i = 0; i < r->ncols; i++) {
		if (r->col_key[i] != REPORT_DAY && r->col_key[i] != REPORT_HOUR) {
			if (strcmp((const char *)sqlite3_column_text(st, (int)i) ?: "", g->cols[i]))
				return 1;
			continue;
		}
		s = col_text(r, st, i);
		diff = !s || strcmp(s, g->cols[i]);
		free(s);
		if (diff)
			return 1;
	}
	return 0;
}

static int group_new(struct report *r, sqlite3_stmt *st, size_t *cap)
{
	struct report_group *g, *nr;
	size_t i;

	if (r->nrows == REPORT_MAX_GROUPS)
		return -E2BIG;
	if (r->nrows == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		nr = realloc(r->rows, *cap * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		r->rows = nr;
	}
	g = &r->rows[r->nrows++];
	memset(g, 0, sizeof(*g));
	for (i = 0; i < r->ncols; i++)
		if (!(g->cols[i] = col_text(r, st, i)))
			return -ENOMEM;
	return 0;
}

static char *build_query(const struct report *r)
{
	char sel[512] = "", *q;
	size_t i;

	for (i = 0; i < r->ncols; i++) {
		const struct key_spec *k = &key_specs[r->col_key[i]];
		const char *e = k->sql[k->col[1] && !strcmp(r->col_names[i], k->col[1])];

		strncat(sel, e, sizeof(sel) - strlen(sel) - 3);
		strcat(sel, ", ");
	}
	if (asprintf(&q, "SELECT %s%s FROM calls WHERE ts_ns >= ?1 AND ts_ns < ?2 "
		     "ORDER BY %.*s", sel, call_cols, r->ncols ? (int)strlen(sel) - 2 : 5,
		     r->ncols ? sel : "ts_ns") < 0)
		return NULL;
	return q;
}

static void set_cols(struct report *r, const struct report_opts *o)
{
	size_t i, j;

	for (i = 0; i < o->nby; i++) {
		const struct key_spec *k = &key_specs[o->by[i]];

		for (j = 0; j < 2 && k->col[j]; j++) {
			r->col_key[r->ncols] = o->by[i];
			r->col_names[r->ncols++] = k->col[j];
		}
	}
}

static int load_groups(sqlite3 *db, const struct report_opts *o, struct report *r,
		       char *err, size_t errlen)
{
	struct acc cur = { 0 }, all = { .g = &r->total };
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	char *q;
	int rc, ret = 0;

	q = build_query(r);
	if (!q)
		return -ENOMEM;
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "reading calls: %s", sqlite3_errmsg(db));
		ret = -EIO;
		goto free_q;
	}
	sqlite3_bind_int64(st, 1, o->since_ns);
	sqlite3_bind_int64(st, 2, o->until_ns);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!cur.g || row_differs(r, st, cur.g)) {
			if (cur.g)
				acc_finish(&cur);
			if ((ret = group_new(r, st, &cap)))
				goto out;
			cur.g = &r->rows[r->nrows - 1];
		}
		if ((ret = acc_add(&cur, st, (int)r->ncols)) || (ret = acc_add(&all, st, (int)r->ncols)))
			goto out;
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "reading calls: %s", sqlite3_errmsg(db));
		ret = -EIO;
		goto out;
	}
	if (cur.g)
		acc_finish(&cur);
	acc_finish(&all);
out:
	if (ret && !*err)
		snprintf(err, errlen, "reading calls: %s", strerror(-ret));
	acc_release(&cur);
	acc_release(&all);
	sqlite3_finalize(st);
free_q:
	free(q);
	return ret;
}

/* --- blind spells ---------------------------------------------------------- */

static void spell_add(struct report *r, int64_t from, int64_t to, const char *why)
{
	if (to <= from)
		return;
	if (r->nspells == REPORT_MAX_SPELLS) {
		r->spells_dropped++;
		return;
	}
	r->spells[r->nspells++] = (struct report_spell){ from, to, why };
}

/*
 * Runs sorted by start; `reach` is how far the union of the runs so far
 * goes, and how the run that went furthest ended tells why the next gap
 * was unwatched (a run that crashed before the window still explains it).
 */
static int load_spells(sqlite3 *db, const struct report_opts *o, int64_t now_ns,
		       struct report *r, char *err, size_t errlen)
{
	static const char q[] =
		"SELECT start_ns, stop_ns, last_seen_ns, COALESCE(\"end\",'') FROM runs "
		"WHERE start_ns < ?1 ORDER BY start_ns";
	const char *why = "no agent", *end;
	int64_t reach = INT64_MIN, start, stop, from;
	sqlite3_stmt *st;
	int rc;

	r->spells = calloc(REPORT_MAX_SPELLS, sizeof(*r->spells));
	if (!r->spells)
		return -ENOMEM;
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "reading runs: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	sqlite3_bind_int64(st, 1, o->until_ns);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		start = sqlite3_column_int64(st, 0);
		end = (const char *)sqlite3_column_text(st, 3);
		/* a crashed run watched until its last heartbeat; a live one, until now */
		if (!strcmp(end, "crashed"))
			stop = col_i64(st, 2);
		else if (!*end)
			stop = now_ns;
		else
			stop = col_i64(st, 1) >= 0 ? col_i64(st, 1) : col_i64(st, 2);
		from = reach > o->since_ns ? reach : o->since_ns;
		if (start > from)
			spell_add(r, from, start, why);
		if (stop > reach) {
			reach = stop;
			why = !strcmp(end, "crashed") ? "crashed run" : "no agent";
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "reading runs: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	spell_add(r, reach > o->since_ns ? reach : o->since_ns, o->until_ns, why);
	return 0;
}

int report_build(struct sqlite3 *db, const struct report_opts *opts, int64_t now_ns,
		 struct report **out, char *err, size_t errlen)
{
	struct report *r;
	int ret;

	*err = '\0';
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	set_cols(r, opts);
	ret = load_groups(db, opts, r, err, errlen);
	if (!ret)
		ret = load_spells(db, opts, now_ns, r, err, errlen);
	if (ret) {
		report_free(r);
		return ret;
	}
	*out = r;
	return 0;
}

void report_free(struct report *r)
{
	size_t i, j;

	if (!r)
		return;
	for (i = 0; i < r->nrows; i++)
		for (j = 0; j < r->ncols; j++)
			free(r->rows[i].cols[j]);
	free(r->rows);
	free(r->spells);
	free(r);
}

/* --- cells ------------------------------------------------------------------ */

const char *report_money(char *buf, size_t cap, int64_t nano, int trim)
{
	uint64_t a = nano < 0 ? -(uint64_t)nano : (uint64_t)nano;
	size_t n;

	snprintf(buf, cap, "%s%" PRIu64 ".%09" PRIu64, nano < 0 ? "-" : "", a / (uint64_t)NS_SEC,
		 a % (uint64_t)NS_SEC);
	if (!trim)
		return buf;
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0' && buf[n - 3] != '.')
		buf[--n] = '\0';
	return buf;
}

/* num/den with 4 decimals, rounded half up; NULL when den is 0. */
static const char *ratio(char *buf, size_t cap, uint64_t num, uint64_t den)
{
	unsigned __int128 q;

	if (!den)
		return NULL;
	q = ((unsigned __int128)num * 20000 + den) / (2 * (unsigned __int128)den);
	snprintf(buf, cap, "%u.%04u", (unsigned)(q / 10000), (unsigned)(q % 10000));
	return buf;
}

static const char *ms(char *buf, size_t cap, int64_t ns)
{
	if (ns < 0)
		return NULL;
	/* microsecond resolution is all a millisecond column needs */
	ns = (ns + 500) / 1000;
	snprintf(buf, cap, "%" PRId64 ".%03" PRId64, ns / 1000, ns % 1000);
	return buf;
}

enum cell_kind { CELL_KEY, CELL_INT, CELL_NUM };

static const char *const stat_names[] = {
	"requests", "errors", "open", "input_tokens", "cached_input_tokens",
	"cache_write_tokens", "output_tokens", "reasoning_tokens", "cost_usd",
	"cache_hit_rate", "input_share", "cost_per_call", "ttft_p50_ms", "ttft_p95_ms",
	"tpot_ms", "estimated_share",
};

#define NSTATS ARRAY_SIZE(stat_names)

static size_t ncells(const struct report *r)
{
	return r->ncols + NSTATS;
}

static const char *cell_name(const struct report *r, size_t c)
{
	return c < r->ncols ? r->col_names[c] : stat_names[c - r->ncols];
}

/*
 * Cell c of group g as text, or NULL for "no value".  Key cells are the raw
 * text: each format escapes them its own way.
 */
static const char *cell(char *buf, size_t cap, const struct report *r,
			const struct report_group *g, size_t c, int trim, enum cell_kind *kind)
{
	uint64_t all_in = g->input + g->cached_input + g->cache_write;
	const uint64_t ints[] = { g->requests, g->errors, g->open, g->input, g->cached_input,
				  g->cache_write, g->output, g->reasoning };

	*kind = CELL_NUM;
	if (c < r->ncols) {
		*kind = CELL_KEY;
		return g->cols[c];
	}
	c -= r->ncols;
	if (c < ARRAY_SIZE(ints)) {
		*kind = CELL_INT;
		snprintf(buf, cap, "%" PRIu64, ints[c]);
		return buf;
	}
	switch (c - ARRAY_SIZE(ints)) {
	case 0: return report_money(buf, cap, g->cost_nano, trim);
	case 1: return ratio(buf, cap, g->cached_input, all_in);
	case 2: return ratio(buf, cap, all_in, all_in + g->output);
	case 3: return g->requests ? report_money(buf, cap, g->cost_nano / (int64_t)g->requests,
						  trim) : NULL;
	case 4: return ms(buf, cap, g->ttft_p50);
	case 5: return ms(buf, cap, g->ttft_p95);
	case 6: return ms(buf, cap, g->tpot_p50);
	default: return ratio(buf, cap, g->estimated, g->requests);
	}
}

/* --- table ------------------------------------------------------------------ */

static const char *table_cell(char *buf, size_t cap, const struct report *r,
			      const struct report_group *g, size_t c, int is_total)
{
	char raw[64];
	enum cell_kind kind;
	const char *s = cell(raw, sizeof(raw), r, g, c, 0, &kind);

	if (is_total && kind == CELL_KEY)
		s = c == 0 ? "TOTAL" : "";
	else if (!s || (kind == CELL_KEY && !*s))
		s = "-";
	escape_text(buf, cap, s, strlen(s), ESCAPE_SPACE);
	return buf;
}

static void table_line(FILE *f, const struct report *r, const struct report_group *g,
		       const int *w, int is_total)
{
	char buf[CELL];
	size_t c;

	for (c = 0; c < ncells(r); c++) {
		const char *s = g ? table_cell(buf, sizeof(buf), r, g, c, is_total) : cell_name(r, c);

		/* keys left-aligned, numbers right-aligned */
		fprintf(f, "%s%*s", c ? "  " : "", c < r->ncols ? -w[c] : w[c], s);
	}
	fputc('\n', f);
}

static void widen(const struct report *r, const struct report_group *g, int *w, int is_total)
{
	char buf[CELL];
	size_t c;
	int n;

	for (c = 0; c < ncells(r); c++) {
		n = (int)strlen(table_cell(buf, sizeof(buf), r, g, c, is_total));
		if (n > w[c])
			w[c] = n;
	}
}

static void print_table(FILE *f, const struct report *r)
{
	int w[REPORT_MAX_COLS + NSTATS];
	size_t c, i;

	for (c = 0; c < ncells(r); c++)
		w[c] = (int)strlen(cell_name(r, c));
	if (!r->ncols)
		w[0] = w[0] < 5 ? 5 : w[0];
	for (i = 0; i < r->nrows; i++)
		widen(r, &r->rows[i], w, 0);
	widen(r, &r->total, w, 1);
	table_line(f, r, NULL, w, 0);
	for (i = 0; i < r->nrows; i++)
		table_line(f, r, &r->rows[i], w, 0);
	table_line(f, r, &r->total, w, 1);
}

/* --- csv, json --------------------------------------------------------------- */

static void csv_field(FILE *f, const char *s)
{
	char buf[CELL];

	escape_utf8(buf, sizeof(buf), s, strlen(s));
	if (!strpbrk(buf, ",\"\r\n")) {
		fputs(buf, f);
		return;
	}
	fputc('"', f);
	for (s = buf; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void print_csv(FILE *f, const struct report *r)
{
	char buf[64];
	enum cell_kind kind;
	const char *s;
	size_t c, i;

	for (c = 0; c < ncells(r); c++)
		fprintf(f, "%s%s", c ? "," : "", cell_name(r, c));
	fputc('\n', f);
	for (i = 0; i < r->nrows; i++) {
		for (c = 0; c < ncells(r); c++) {
			if (c)
				fputc(',', f);
			s = cell(buf, sizeof(buf), r, &r->rows[i], c, 0, &kind);
			if (s)
				csv_field(f, s);
		}
		fputc('\n', f);
	}
}

static struct json_object *json_cell(const char *s, enum cell_kind kind)
{
	char buf[CELL];

	if (!s)
		return NULL;
	if (kind == CELL_KEY) {
		escape_utf8(buf, sizeof(buf), s, strlen(s));
		return json_object_new_string(buf);
	}
	if (kind == CELL_INT)
		return json_object_new_int64((int64_t)strtoull(s, NULL, 10));
	/* the decimal text is what is printed: no binary rounding on the way */
	return json_object_new_double_s(strtod(s, NULL), s);
}

static int print_json(FILE *f, const struct report *r)
{
	struct json_object *arr = json_object_new_array(), *o;
	char buf[64];
	enum cell_kind kind;
	const char *s;
	size_t c, i;

	if (!arr)
		return -ENOMEM;
	for (i = 0; i < r->nrows; i++) {
		o = json_object_new_object();
		if (!o || json_object_array_add(arr, o)) {
			json_object_put(o);
			json_object_put(arr);
			return -ENOMEM;
		}
		for (c = 0; c < ncells(r); c++) {
			s = cell(buf, sizeof(buf), r, &r->rows[i], c, 0, &kind);
			json_object_object_add(o, cell_name(r, c), json_cell(s, kind));
		}
	}
	fprintf(f, "%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
	return 0;
}

void report_print_spells(FILE *f, const struct report *r)
{
	char a[40], b[40];
	size_t i;

	for (i = 0; i < r->nspells; i++)
		fprintf(f, "not watched: %s \xe2\x80\x93 %s (%s)\n",
			report_time(a, sizeof(a), r->spells[i].from_ns),
			report_time(b, sizeof(b), r->spells[i].to_ns), r->spells[i].why);
	if (r->spells_dropped)
		fprintf(f, "not watched: %" PRIu64 " more periods\n", r->spells_dropped);
}

int report_print(FILE *f, const struct report *r, enum report_format fmt)
{
	switch (fmt) {
	case REPORT_JSON:
		return print_json(f, r);
	case REPORT_CSV:
		print_csv(f, r);
		return 0;
	default:
		print_table(f, r);
		if (r->nspells)
			fputc('\n', f);
		report_print_spells(f, r);
		return 0;
	}
}

/* --- forecast ---------------------------------------------------------------- */

/* spent + rate × remaining, rate being last_day per 24 h; rounded down to a nano */
static int64_t project(int64_t spent, int64_t last_day, int64_t now, int64_t end)
{
	return spent + (int64_t)((__int128)last_day * (end - now) / NS_DAY);
}

static void forecast_periods(struct report_forecast *f, int64_t now)
{
	int64_t days = floor_div(now, NS_DAY), y;
	unsigned m, d;

	f->now_ns = now;
	f->day_start = days * NS_DAY;
	f->day_end = f->day_start + NS_DAY;
	/* 1970-01-01 was a Thursday: Monday is 3 days before it */
	f->week_start = (days - (days + 3) % 7) * NS_DAY;
	f->week_end = f->week_start + 7 * NS_DAY;
	civil_from_days(days, &y, &m, &d);
	f->month_start = days_from_civil(y, m, 1) * NS_DAY;
	f->month_end = (m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1)) *
		       NS_DAY;
}

static int forecast_row(struct report_forecast *f, sqlite3_stmt *st, size_t *cap)
{
	struct report_forecast_row *r, *nr;
	int64_t hour_ns = NS_HOUR;

	if (f->nrows == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		nr = realloc(f->rows, *cap * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		f->rows = nr;
	}
	r = &f->rows[f->nrows];
	memset(r, 0, sizeof(*r));
	r->team = strdup((const char *)sqlite3_column_text(st, 0) ?: "");
	if (!r->team)
		return -ENOMEM;
	f->nrows++;
	r->day_nano = sqlite3_column_int64(st, 1);
	r->week_nano = sqlite3_column_int64(st, 2);
	r->month_nano = sqlite3_column_int64(st, 3);
	r->last_hour_nano = sqlite3_column_int64(st, 4);
	r->last_day_nano = sqlite3_column_int64(st, 5);
	r->rate_hour_nano = r->last_hour_nano;
	r->rate_day_nano = (int64_t)((__int128)r->last_day_nano * hour_ns / NS_DAY);
	r->proj_day_nano = project(r->day_nano, r->last_day_nano, f->now_ns, f->day_end);
	r->proj_week_nano = project(r->week_nano, r->last_day_nano, f->now_ns, f->week_end);
	r->proj_month_nano = project(r->month_nano, r->last_day_nano, f->now_ns, f->month_end);
	return 0;
}

int report_forecast_build(struct sqlite3 *db, int64_t now_ns, struct report_forecast **out,
			  char *err, size_t errlen)
{
	static const char q[] =
		"SELECT COALESCE(team,''),"
		" SUM(CASE WHEN ts_ns >= ?1 THEN COALESCE(cost_nano,0) ELSE 0 END),"
		" SUM(CASE WHEN ts_ns >= ?2 THEN COALESCE(cost_nano,0) ELSE 0 END),"
		" SUM(CASE WHEN ts_ns >= ?3 THEN COALESCE(cost_nano,0) ELSE 0 END),"
		" SUM(CASE WHEN ts_ns >= ?4 THEN COALESCE(cost_nano,0) ELSE 0 END),"
		" SUM(CASE WHEN ts_ns >= ?5 THEN COALESCE(cost_nano,0) ELSE 0 END)"
		" FROM calls WHERE ts_ns >= ?6 AND ts_ns < ?7 GROUP BY 1 ORDER BY 1";
	struct report_forecast *f;
	sqlite3_stmt *st = NULL;
	int64_t from;
	size_t cap = 0;
	int rc, ret = 0;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	forecast_periods(f, now_ns);
	from = f->week_start < f->month_start ? f->week_start : f->month_start;
	if (now_ns - NS_DAY < from)
		from = now_ns - NS_DAY;
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK) {
		ret = -EIO;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, f->day_start);
	sqlite3_bind_int64(st, 2, f->week_start);
	sqlite3_bind_int64(st, 3, f->month_start);
	sqlite3_bind_int64(st, 4, now_ns - NS_HOUR);
	sqlite3_bind_int64(st, 5, now_ns - NS_DAY);
	sqlite3_bind_int64(st, 6, from);
	sqlite3_bind_int64(st, 7, now_ns);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((ret = forecast_row(f, st, &cap)))
			goto fail;
	if (rc != SQLITE_DONE)
		ret = -EIO;
	if (ret)
		goto fail;
	sqlite3_finalize(st);
	*out = f;
	return 0;
fail:
	snprintf(err, errlen, "forecast: %s", ret == -EIO ? sqlite3_errmsg(db) : strerror(-ret));
	sqlite3_finalize(st);
	report_forecast_free(f);
	return ret;
}

void report_forecast_free(struct report_forecast *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < f->nrows; i++)
		free(f->rows[i].team);
	free(f->rows);
	free(f);
}

static const char *const fc_names[] = {
	"team", "spent_day_usd", "spent_week_usd", "spent_month_usd",
	"rate_1h_usd_per_hour", "rate_24h_usd_per_hour",
	"projected_day_usd", "projected_week_usd", "projected_month_usd",
};

static int64_t fc_value(const struct report_forecast_row *r, size_t c)
{
	const int64_t v[] = { 0, r->day_nano, r->week_nano, r->month_nano, r->rate_hour_nano,
			      r->rate_day_nano, r->proj_day_nano, r->proj_week_nano,
			      r->proj_month_nano };

	return v[c];
}

static int forecast_json(FILE *f, const struct report_forecast *fc)
{
	struct json_object *arr = json_object_new_array(), *o;
	char buf[CELL];
	size_t i, c;

	if (!arr)
		return -ENOMEM;
	for (i = 0; i < fc->nrows; i++) {
		o = json_object_new_object();
		if (!o || json_object_array_add(arr, o)) {
			json_object_put(o);
			json_object_put(arr);
			return -ENOMEM;
		}
		json_object_object_add(o, "team", json_cell(fc->rows[i].team, CELL_KEY));
		for (c = 1; c < ARRAY_SIZE(fc_names); c++)
			json_object_object_add(o, fc_names[c], json_cell(
				report_money(buf, sizeof(buf), fc_value(&fc->rows[i], c), 0), CELL_NUM));
	}
	fprintf(f, "%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
	return 0;
}

static const char *fc_cell(char *buf, size_t cap, const struct report_forecast_row *r, size_t c)
{
	if (!r)
		return fc_names[c];
	if (c == 0) {
		escape_text(buf, cap, r->team, strlen(r->team), ESCAPE_SPACE);
		return *r->team ? buf : "-";
	}
	return report_money(buf, cap, fc_value(r, c), 0);
}

static void forecast_table(FILE *f, const struct report_forecast *fc)
{
	int w[ARRAY_SIZE(fc_names)];
	char buf[CELL], t[40];
	size_t i, c;
	int n;

	for (c = 0; c < ARRAY_SIZE(fc_names); c++) {
		w[c] = (int)strlen(fc_names[c]);
		for (i = 0; i < fc->nrows; i++)
			if ((n = (int)strlen(fc_cell(buf, sizeof(buf), &fc->rows[i], c))) > w[c])
				w[c] = n;
	}
	fprintf(f, "forecast at %s (rate: USD/hour; projection: spent + 24h rate x time left)\n",
		report_time(t, sizeof(t), fc->now_ns));
	for (i = 0; i <= fc->nrows; i++) {
		for (c = 0; c < ARRAY_SIZE(fc_names); c++)
			fprintf(f, "%s%*s", c ? "  " : "", c ? w[c] : -w[c],
				fc_cell(buf, sizeof(buf), i ? &fc->rows[i - 1] : NULL, c));
		fputc('\n', f);
	}
}

/* CSV: the table's columns and exact values, the team quoted as needed. */
static void forecast_csv(FILE *f, const struct report_forecast *fc)
{
	char buf[CELL];
	size_t i, c;

	for (c = 0; c < ARRAY_SIZE(fc_names); c++)
		fprintf(f, "%s%s", c ? "," : "", fc_names[c]);
	fputc('\n', f);
	for (i = 0; i < fc->nrows; i++) {
		csv_field(f, fc->rows[i].team);
		for (c = 1; c < ARRAY_SIZE(fc_names); c++)
			fprintf(f, ",%s", report_money(buf, sizeof(buf),
						      fc_value(&fc->rows[i], c), 0));
		fputc('\n', f);
	}
}

int report_forecast_print(FILE *f, const struct report_forecast *fc, enum report_format fmt)
{
	if (fmt == REPORT_JSON)
		return forecast_json(f, fc);
	if (fmt == REPORT_CSV)
		forecast_csv(f, fc);
	else
		forecast_table(f, fc);
	return 0;
}
