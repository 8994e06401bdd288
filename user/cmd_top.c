// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * `tollgate top`: a live view of the ledger, refreshed every --interval.
 *
 * Each refresh reads one frame -- the agent's state, rates, the top teams
 * and models, the latest calls -- in a single read transaction, so the
 * numbers on one screen agree with each other, then draws it in one
 * write() so the terminal never shows half a frame.  Money stays nano-USD
 * until it is printed, and is printed by integer arithmetic.  Exit 1 on a
 * ledger that cannot be read, 2 on bad options.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include "escape.h"
#include "ledger.h"
#include "report.h"
#include "top.h"

#define NS_SEC		((int64_t)1000000000)
#define NS_MIN		(60 * NS_SEC)
#define NS_HOUR		(3600 * NS_SEC)
#define NS_DAY		(86400 * NS_SEC)

#define TOP_MAX_ROWS	128		/* per section; the rest is counted */
#define TOP_MAX_WIDTH	1000		/* columns drawn, whatever the tty says */
#define TOP_SILENT_NS	(30 * NS_SEC)	/* heartbeat is 1 s: past this, dead */
#define NAME		64

struct top_team {
	char name[NAME];
	int64_t calls_h, cost_h, cost_day, calls_day, est_day;
};

struct top_model {
	char model[NAME], provider[NAME];
	int64_t calls_h, in_h, out_h, cost_h;
};

struct top_call {
	int64_t ts, status, in, out, cost;	/* status -1: none */
	char team[NAME], model[NAME], state[16];
};

/* A budget as the agent's metrics show it (tollgate_budget_*). */
struct top_budget {
	char team[NAME], window[NAME];
	int tokens;				/* amounts are tokens, else nano-USD */
	int64_t spent, limit;
	int64_t exhaust_s;			/* wall clock; 0: not within the window */
};

#define TOP_MAX_ACTIONS	8		/* distinct actions shown; the rest: "other" */

struct top_action {
	char name[16];
	uint64_t n;
};

struct top_frame {
	int64_t now, day;			/* day: 00:00 UTC today */
	char agent[160];
	char health[160];			/* capture health, from the metrics */
	struct top_budget budgets[TOP_MAX_ROWS];
	size_t nbudgets;
	uint64_t budgets_more;			/* budgets past TOP_MAX_ROWS */
	int64_t held, gated;
	struct top_action actions[TOP_MAX_ACTIONS];
	size_t nactions;
	int64_t calls_min, cost_hour, cost_day;
	struct top_team teams[TOP_MAX_ROWS];
	struct top_model models[TOP_MAX_ROWS];
	struct top_call calls[TOP_MAX_ROWS];
	size_t nteams, nmodels, ncalls;
	uint64_t teams_more, models_more;	/* groups past TOP_MAX_ROWS */
};

static volatile sig_atomic_t top_stop, top_winch;
static const char *top_metrics = "127.0.0.1:9464";	/* NULL: none */

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * NS_SEC + ts.tv_nsec;
}

/* --- formatting ------------------------------------------------------------ */

/*
 * nano-USD with dec (0..9) decimals, rounded half away from zero.  The
 * longest, "-9223372036.854775808", fits MONEY_LEN; "?" in a buffer too
 * small for the figure (never one of MONEY_LEN).
 */
#define MONEY_LEN	32
static const char *money(char *buf, size_t cap, int64_t nano, int dec)
{
	uint64_t a = nano < 0 ? -(uint64_t)nano : (uint64_t)nano;
	uint64_t unit = 1, p = 1, q;
	int i, n;

	for (i = dec; i < 9; i++)
		unit *= 10;
	for (i = 0; i < dec; i++)
		p *= 10;
	q = a / unit + (a % unit >= unit / 2 && unit > 1);
	if (dec)
		n = snprintf(buf, cap, "%s%" PRIu64 ".%0*" PRIu64, nano < 0 && q ? "-" : "",
			     q / p, dec, q % p);
	else
		n = snprintf(buf, cap, "%s%" PRIu64, nano < 0 && q ? "-" : "", q);
	if (n < 0 || (size_t)n >= cap)
		snprintf(buf, cap, "?");
	return buf;
}

/* num/den with one decimal, rounded half up: "12.5"; "-" when den is 0. */
static const char *percent(char *buf, size_t cap, int64_t num, int64_t den)
{
	uint64_t q;

	if (den <= 0 || num < 0) {
		snprintf(buf, cap, "-");
		return buf;
	}
	q = (uint64_t)(((unsigned __int128)num * 2000 + (uint64_t)den) / (2 * (uint64_t)den));
	snprintf(buf, cap, "%" PRIu64 ".%" PRIu64, q / 10, q % 10);
	return buf;
}

static size_t utf8_cols(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Byte length of s's first cols characters. */
static size_t utf8_prefix(const char *s, size_t cols)
{
	size_t i = 0;

	for (; s[i]; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80 && cols-- == 0)
			break;
	}
	return i;
}

/* One screen line being built, cell by cell. */
struct line {
	char b[4 * TOP_MAX_WIDTH + 8];
	size_t n;
};

static void line_put(struct line *l, const char *s, size_t len)
{
	if (len > sizeof(l->b) - 1 - l->n)
		len = sizeof(l->b) - 1 - l->n;
	memcpy(l->b + l->n, s, len);
	l->n += len;
	l->b[l->n] = '\0';
}

static void line_spaces(struct line *l, size_t k)
{
	while (k-- > 0)
		line_put(l, " ", 1);
}

/* s in width columns, elided with '~' when longer; right-aligned if right. */
static void line_cell(struct line *l, const char *s, size_t width, int right)
{
	size_t cols = utf8_cols(s);

	if (l->n)
		line_put(l, " ", 1);
	if (cols > width) {
		line_put(l, s, utf8_prefix(s, width ? width - 1 : 0));
		line_put(l, "~", width ? 1 : 0);
		return;
	}
	if (right)
		line_spaces(l, width - cols);
	line_put(l, s, strlen(s));
	if (!right)
		line_spaces(l, width - cols);
}

/* --- reading a frame --------------------------------------------------------- */

/* Captured names are hostile: escaped before they reach the terminal. */
static void col_name(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	if (!s || !*s) {
		snprintf(dst, cap, "-");
		return;
	}
	escape_text(dst, cap, s, (size_t)sqlite3_column_bytes(st, i), 0);
}

static int64_t col_i64(sqlite3_stmt *st, int i, int64_t none)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? none : sqlite3_column_int64(st, i);
}

/* Prepares sql with its named times bound: :now :min :hour :day :lo. */
static int frame_prepare(sqlite3 *db, const struct top_frame *f, const char *sql,
			 sqlite3_stmt **st)
{
	const struct { const char *name; int64_t v; } params[] = {
		{ ":now", f->now }, { ":min", f->now - NS_MIN },
		{ ":hour", f->now - NS_HOUR }, { ":day", f->day },
		{ ":lo", f->day < f->now - NS_HOUR ? f->day : f->now - NS_HOUR },
	};
	size_t i;
	int idx;

	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
		return -EIO;
	for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		idx = sqlite3_bind_parameter_index(*st, params[i].name);
		if (idx)
			sqlite3_bind_int64(*st, idx, params[i].v);
	}
	return 0;
}

static int read_agent(sqlite3 *db, struct top_frame *f)
{
	sqlite3_stmt *st;
	char t[32];
	const char *end;
	int64_t pid, start, seen;
	int rc;

	if (frame_prepare(db, f, "SELECT pid, start_ns, last_seen_ns, \"end\" FROM runs"
			  " ORDER BY id DESC LIMIT 1", &st))
		return -EIO;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		snprintf(f->agent, sizeof(f->agent), "no agent running");
		sqlite3_finalize(st);
		return rc == SQLITE_DONE ? 0 : -EIO;
	}
	pid = col_i64(st, 0, 0);
	start = col_i64(st, 1, 0);
	seen = col_i64(st, 2, start);
	end = (const char *)sqlite3_column_text(st, 3);
	if (!end && f->now - seen > TOP_SILENT_NS)
		/* a crash is only marked so by the next start: a stale heartbeat says it first */
		snprintf(f->agent, sizeof(f->agent), "agent pid %" PRId64 " silent since %s",
			 pid, report_time(t, sizeof(t), seen));
	else if (!end)
		snprintf(f->agent, sizeof(f->agent), "agent running since %s (pid %" PRId64 ")",
			 report_time(t, sizeof(t), start), pid);
	else if (!strcmp(end, "crashed"))
		snprintf(f->agent, sizeof(f->agent), "no agent running; last run crashed at %s",
			 report_time(t, sizeof(t), seen));
	else
		snprintf(f->agent, sizeof(f->agent), "no agent running (last stopped %s)",
			 report_time(t, sizeof(t), col_i64(st, 2, start)));
	sqlite3_finalize(st);
	return 0;
}

static int read_totals(sqlite3 *db, struct top_frame *f)
{
	sqlite3_stmt *st;
	int ret = -EIO;

	if (frame_prepare(db, f,
		"SELECT count(*) FILTER (WHERE ts_ns >= :min),"
		" COALESCE(sum(cost_nano) FILTER (WHERE ts_ns >= :hour), 0),"
		" COALESCE(sum(cost_nano) FILTER (WHERE ts_ns >= :day), 0)"
		" FROM calls WHERE ts_ns >= :lo", &st))
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW) {
		f->calls_min = sqlite3_column_int64(st, 0);
		f->cost_hour = sqlite3_column_int64(st, 1);
		f->cost_day = sqlite3_column_int64(st, 2);
		ret = 0;
	}
	sqlite3_finalize(st);
	return ret;
}

static int read_teams(sqlite3 *db, struct top_frame *f)
{
	sqlite3_stmt *st;
	struct top_team *t;
	int rc;

	if (frame_prepare(db, f,
		"SELECT team, count(*) FILTER (WHERE ts_ns >= :hour),"
		" COALESCE(sum(cost_nano) FILTER (WHERE ts_ns >= :hour), 0),"
		" COALESCE(sum(cost_nano) FILTER (WHERE ts_ns >= :day), 0) AS today,"
		" count(*) FILTER (WHERE ts_ns >= :day),"
		" count(*) FILTER (WHERE ts_ns >= :day AND (usage_source = 'estimated'"
		"                  OR state = 'interrupted'))"
		" FROM calls WHERE ts_ns >= :lo GROUP BY team"
		" ORDER BY today DESC, 3 DESC, team", &st))
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (f->nteams == TOP_MAX_ROWS) {
			f->teams_more++;
			continue;
		}
		t = &f->teams[f->nteams++];
		col_name(st, 0, t->name, sizeof(t->name));
		t->calls_h = sqlite3_column_int64(st, 1);
		t->cost_h = sqlite3_column_int64(st, 2);
		t->cost_day = sqlite3_column_int64(st, 3);
		t->calls_day = sqlite3_column_int64(st, 4);
		t->est_day = sqlite3_column_int64(st, 5);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int read_models(sqlite3 *db, struct top_frame *f)
{
	sqlite3_stmt *st;
	struct top_model *m;
	int rc;

	if (frame_prepare(db, f,
		"SELECT model, provider, count(*), COALESCE(sum(input_tokens), 0),"
		" COALESCE(sum(output_tokens), 0), COALESCE(sum(cost_nano), 0) AS cost"
		" FROM calls WHERE ts_ns >= :hour GROUP BY model, provider"
		" ORDER BY cost DESC, 3 DESC, model, provider", &st))
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (f->nmodels == TOP_MAX_ROWS) {
			f->models_more++;
			continue;
		}
		m = &f->models[f->nmodels++];
		col_name(st, 0, m->model, sizeof(m->model));
		col_name(st, 1, m->provider, sizeof(m->provider));
		m->calls_h = sqlite3_column_int64(st, 2);
		m->in_h = sqlite3_column_int64(st, 3);
		m->out_h = sqlite3_column_int64(st, 4);
		m->cost_h = sqlite3_column_int64(st, 5);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int read_calls(sqlite3 *db, struct top_frame *f)
{
	sqlite3_stmt *st;
	struct top_call *c;
	int rc;

	if (frame_prepare(db, f,
		"SELECT ts_ns, team, model, status, input_tokens, output_tokens,"
		" cost_nano, state FROM calls ORDER BY ts_ns DESC, id DESC LIMIT 128", &st))
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && f->ncalls < TOP_MAX_ROWS) {
		c = &f->calls[f->ncalls++];
		c->ts = col_i64(st, 0, 0);
		col_name(st, 1, c->team, sizeof(c->team));
		col_name(st, 2, c->model, sizeof(c->model));
		c->status = col_i64(st, 3, -1);
		c->in = col_i64(st, 4, 0);
		c->out = col_i64(st, 5, 0);
		c->cost = col_i64(st, 6, 0);
		col_name(st, 7, c->state, sizeof(c->state));
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

/* One consistent frame: every query in one read transaction. */
/* --- capture health, from the agent's metrics endpoint -------------------- */

#define METRICS_MAX	(8 << 20)
#define TOP_LABEL	128		/* bytes kept of a label value */

/* GET /metrics from HOST:PORT (IPv4), at most METRICS_MAX; malloc'd or NULL. */
static char *metrics_get(const char *addr)
{
	struct timeval tv = { .tv_usec = 300000 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64], *buf = NULL, *nb;
	const char *colon = strrchr(addr, ':');
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return NULL;
	memcpy(host, addr, colon - addr);
	host[colon - addr] = '\0';
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host[0] ? host : "127.0.0.1", &sa.sin_addr) != 1)
		return NULL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    write(fd, "GET /metrics HTTP/1.0\r\n\r\n", 26) != 26)
		goto out;
	for (;;) {
		if (len + 65536 + 1 > cap) {
			if (cap >= METRICS_MAX)
				break;
			cap = cap ? 2 * cap : 65536 * 2;
			nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		n = read(fd, buf + len, 65536);
		if (n <= 0)
			break;
		len += n;
	}
	if (buf)
		buf[len] = '\0';
out:
	close(fd);
	return buf;
}

/* The sum of a metric's samples (every label set). */
static uint64_t metric_sum(const char *text, const char *name)
{
	size_t n = strlen(name);
	uint64_t sum = 0;
	const char *p;

	for (p = text; (p = strstr(p, name)); p += n)
		if ((p == text || p[-1] == '\n') && (p[n] == ' ' || p[n] == '{')) {
			const char *v = strchr(p, ' ');

			if (v)
				sum += strtoull(v + 1, NULL, 10);
		}
	return sum;
}

/*
 * One sample line of the text exposition: the name, the team, window and
 * action labels (unescaped: \\, \" and \n), and the value's text.  0 when
 * it is a sample, -EBADMSG when it is not one or is malformed.
 */
struct sample {
	char name[NAME];
	char team[TOP_LABEL], window[TOP_LABEL], action[TOP_LABEL];
	char value[40];
};

static int parse_sample(const char *p, const char *end, struct sample *sm)
{
	char key[NAME], *dst, c;
	size_t n, k;

	memset(sm, 0, sizeof(*sm));
	n = strcspn(p, "{ \r\n");
	if (!n || p[0] == '#' || n >= sizeof(sm->name) || p + n > end)
		return -EBADMSG;
	memcpy(sm->name, p, n);
	p += n;
	if (*p == '{') {
		for (p++; *p != '}'; ) {
			n = strcspn(p, "=}\n");
			if (p[n] != '=' || p[n + 1] != '"')
				return -EBADMSG;
			snprintf(key, sizeof(key), "%.*s", (int)(n < sizeof(key) ? n : 0), p);
			dst = !strcmp(key, "team") ? sm->team : !strcmp(key, "window") ?
			      sm->window : !strcmp(key, "action") ? sm->action : NULL;
			for (p += n + 2, k = 0; *p != '"'; p++) {
				if (!*p || *p == '\n' || p >= end)
					return -EBADMSG;
				c = *p;
				if (c == '\\') {
					c = *++p;
					if (c == 'n')
						c = '\n';
					else if (c != '\\' && c != '"')
						return -EBADMSG;
				}
				if (dst && k + 1 < TOP_LABEL)
					dst[k++] = c;
			}
			p++;
			if (*p == ',')
				p++;
			else if (*p != '}')
				return -EBADMSG;
		}
		p++;
	}
	if (*p != ' ')
		return -EBADMSG;
	p++;
	n = strcspn(p, " \r\n");
	if (!n || n >= sizeof(sm->value))
		return -EBADMSG;
	memcpy(sm->value, p, n);
	return 0;
}

/* "12.345" (at most 9 decimals kept, the rest cut) as an integer * 10^9. */
static int parse_nano(const char *s, int64_t *nano)
{
	int64_t v = 0, frac = 0, scale = NS_SEC;
	int neg = *s == '-';

	s += neg;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (INT64_MAX / NS_SEC - 9) / 10)
			return -ERANGE;
		v = v * 10 + (*s - '0');
	}
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			if (scale /= 10)
				frac += scale * (*s - '0');
	if (*s)
		return -EINVAL;
	*nano = (v * NS_SEC + frac) * (neg ? -1 : 1);
	return 0;
}

/* The row of sm's budget; a new one if add, else NULL when there is none. */
static struct top_budget *budget_row(struct top_frame *f, const struct sample *sm, int tokens,
				     int add)
{
	char team[NAME], window[NAME];
	struct top_budget *b;
	size_t i;

	escape_text(team, sizeof(team), sm->team, strlen(sm->team), 0);
	escape_text(window, sizeof(window), sm->window, strlen(sm->window), 0);
	for (i = 0; i < f->nbudgets; i++) {
		b = &f->budgets[i];
		if (b->tokens == tokens && !strcmp(b->team, team) && !strcmp(b->window, window))
			return b;
	}
	if (!add)
		return NULL;
	if (f->nbudgets == TOP_MAX_ROWS) {
		f->budgets_more++;
		return NULL;
	}
	b = &f->budgets[f->nbudgets++];
	memcpy(b->team, team, sizeof(team));
	memcpy(b->window, window, sizeof(window));
	b->tokens = tokens;
	return b;
}

static void count_action(struct top_frame *f, const char *action, uint64_t n)
{
	char name[16];
	size_t i;

	escape_text(name, sizeof(name), action[0] ? action : "-", strlen(action[0] ? action : "-"),
		    ESCAPE_SPACE);
	for (i = 0; i < f->nactions; i++)
		if (!strcmp(f->actions[i].name, name))
			break;
	if (i == f->nactions) {
		if (f->nactions == TOP_MAX_ACTIONS)
			i = TOP_MAX_ACTIONS - 1;
		else
			f->nactions++;
		if (i == TOP_MAX_ACTIONS - 1)
			strcpy(name, "other");
		snprintf(f->actions[i].name, sizeof(f->actions[i].name), "%s", name);
	}
	f->actions[i].n += n;
}

/* The one nearest its limit first; a budget with no limit before all. */
static int budget_cmp(const void *pa, const void *pb)
{
	const struct top_budget *a = pa, *b = pb;
	__int128 x = (__int128)a->spent * (b->limit > 0 ? b->limit : 1);
	__int128 y = (__int128)b->spent * (a->limit > 0 ? a->limit : 1);
	int c;

	if ((a->limit <= 0) != (b->limit <= 0))
		return a->limit <= 0 ? -1 : 1;
	if (x != y)
		return x > y ? -1 : 1;
	c = strcmp(a->team, b->team);
	return c ? c : strcmp(a->window, b->window);
}

static int action_cmp(const void *pa, const void *pb)
{
	const struct top_action *a = pa, *b = pb;

	if (a->n != b->n)
		return a->n > b->n ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* One sample; pass 0 takes the amounts and actions, pass 1 the exhaustion
 * times, for the rows pass 0 made (the unit is known from the amounts). */
static void budget_sample(struct top_frame *f, const struct sample *sm, int pass)
{
	static const struct { const char *name; int tokens; size_t off; } fam[] = {
		{ "tollgate_budget_spent_usd", 0, offsetof(struct top_budget, spent) },
		{ "tollgate_budget_limit_usd", 0, offsetof(struct top_budget, limit) },
		{ "tollgate_budget_spent_tokens", 1, offsetof(struct top_budget, spent) },
		{ "tollgate_budget_limit_tokens", 1, offsetof(struct top_budget, limit) },
	};
	struct top_budget *b;
	char *e;
	int64_t v;
	size_t k;

	if (pass) {
		if (strcmp(sm->name, "tollgate_budget_exhaustion_timestamp_seconds") ||
		    parse_nano(sm->value, &v))
			return;
		b = budget_row(f, sm, 0, 0);
		if (!b)
			b = budget_row(f, sm, 1, 0);
		if (b)
			b->exhaust_s = v / NS_SEC;
		return;
	}
	if (!strcmp(sm->name, "tollgate_enforcement_actions_total")) {
		count_action(f, sm->action, strtoull(sm->value, NULL, 10));
		return;
	}
	for (k = 0; k < sizeof(fam) / sizeof(fam[0]); k++) {
		if (strcmp(sm->name, fam[k].name))
			continue;
		if (fam[k].tokens) {
			errno = 0;
			v = strtoll(sm->value, &e, 10);
			if (*e || errno)
				return;
		} else if (parse_nano(sm->value, &v)) {
			return;
		}
		b = budget_row(f, sm, fam[k].tokens, 1);
		if (b)
			memcpy((char *)b + fam[k].off, &v, sizeof(v));
		return;
	}
}

/* Budgets, the gate and enforcement actions, from the agent's metrics. */
static void read_budgets(const char *text, struct top_frame *f)
{
	const char *p, *end = text + strlen(text), *nl;
	struct sample sm;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		for (p = text; p < end; p = nl + 1) {
			nl = strchr(p, '\n');
			if (!nl)
				nl = end;
			if (!strncmp(p, "tollgate_", 9) && !parse_sample(p, nl, &sm))
				budget_sample(f, &sm, pass);
		}
	}
	qsort(f->budgets, f->nbudgets, sizeof(f->budgets[0]), budget_cmp);
	qsort(f->actions, f->nactions, sizeof(f->actions[0]), action_cmp);
	f->held = (int64_t)metric_sum(text, "tollgate_requests_held");
	f->gated = (int64_t)metric_sum(text, "tollgate_processes_gated");
}

static void read_health(const char *addr, struct top_frame *f)
{
	char *m;

	if (!addr) {
		f->health[0] = '\0';
		return;
	}
	m = metrics_get(addr);
	if (!m || !strstr(m, "tollgate_")) {
		snprintf(f->health, sizeof(f->health), "capture: no metrics at %s", addr);
		free(m);
		return;
	}
	snprintf(f->health, sizeof(f->health),
		 "capture: %" PRIu64 " conns, gaps %" PRIu64 " (%" PRIu64 " B), ring drops %"
		 PRIu64 ", unmetered procs %" PRIu64,
		 metric_sum(m, "tollgate_connections_open"),
		 metric_sum(m, "tollgate_capture_gaps_total"),
		 metric_sum(m, "tollgate_capture_gap_bytes_total"),
		 metric_sum(m, "tollgate_ringbuf_drops_total"),
		 metric_sum(m, "tollgate_connections_unmetered_total"));
	read_budgets(m, f);
	free(m);
}

static int frame_read(sqlite3 *db, struct top_frame *f, char *err, size_t errlen)
{
	int ret;

	memset(f, 0, sizeof(*f));
	f->now = clock_ns(CLOCK_REALTIME);
	f->day = f->now - f->now % NS_DAY;
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return -EIO;
	}
	ret = read_agent(db, f);
	if (!ret)
		ret = read_totals(db, f);
	if (!ret)
		ret = read_teams(db, f);
	if (!ret)
		ret = read_models(db, f);
	if (!ret)
		ret = read_calls(db, f);
	if (ret)
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	read_health(top_metrics, f);
	return ret;
}

/* --- drawing ------------------------------------------------------------------ */

struct screen {
	FILE *f;
	size_t w, h, row;
	int tty;		/* escape sequences allowed */
};

/* A line cut to the screen's width; nothing past its last row. */
static void emit(struct screen *s, const char *text)
{
	if (s->row >= s->h)
		return;
	fwrite(text, 1, utf8_prefix(text, s->w), s->f);
	/* on a tty: clear what the last frame left, and never scroll */
	if (s->tty)
		fputs("\033[K", s->f);
	if (!s->tty || s->row + 1 < s->h)
		fputs(s->tty ? "\r\n" : "\n", s->f);
	s->row++;
}

static void draw_header(struct screen *s, const struct top_frame *f, const char *err)
{
	struct line l = { .n = 0 };
	char t[32], a[MONEY_LEN], b[40];
	int64_t q = (f->calls_min * 100 + 30) / 60;	/* calls/s, 2 decimals */

	snprintf(l.b, sizeof(l.b), "%s  %s", report_time(t, sizeof(t), f->now),
		 err ? err : f->agent);
	emit(s, l.b);
	snprintf(l.b, sizeof(l.b), "calls/s %" PRId64 ".%02" PRId64 " (1m)  spend $%s/h (1h)"
		 "  today $%s", q / 100, q % 100, money(a, sizeof(a), f->cost_hour, 4),
		 report_money(b, sizeof(b), f->cost_day, 1));
	emit(s, l.b);
	if (f->health[0])
		emit(s, f->health);
}

static void section_title(struct screen *s, const char *first, uint64_t hidden,
			  const char *rest)
{
	char name[32];
	struct line l = { .n = 0 };

	emit(s, "");
	if (hidden)
		snprintf(name, sizeof(name), "%s (+%" PRIu64 ")", first, hidden);
	else
		snprintf(name, sizeof(name), "%s", first);
	line_cell(&l, name, 20, 0);
	line_put(&l, rest, strlen(rest));
	emit(s, l.b);
}

static void draw_teams(struct screen *s, const struct top_frame *f, size_t n)
{
	struct line l;
	char c[32], h[MONEY_LEN], d[MONEY_LEN], e[32];
	size_t i;

	section_title(s, "TEAM", f->nteams - n + f->teams_more,
		      " CALLS/1H          $/H      $ TODAY   EST%");
	if (!f->nteams)
		emit(s, "(no calls today)");
	for (i = 0; i < n; i++) {
		const struct top_team *t = &f->teams[i];

		l.n = 0;
		snprintf(c, sizeof(c), "%" PRId64, t->calls_h);
		line_cell(&l, t->name, 20, 0);
		line_cell(&l, c, 8, 1);
		line_cell(&l, money(h, sizeof(h), t->cost_h, 4), 12, 1);
		line_cell(&l, money(d, sizeof(d), t->cost_day, 4), 12, 1);
		line_cell(&l, percent(e, sizeof(e), t->est_day, t->calls_day), 6, 1);
		emit(s, l.b);
	}
}

static void draw_models(struct screen *s, const struct top_frame *f, size_t n)
{
	struct line l;
	char c[32], in[32], out[32], h[MONEY_LEN];
	size_t i;

	section_title(s, "MODEL", f->nmodels - n + f->models_more,
		      " PROVIDER   CALLS/1H    IN/1H   OUT/1H          $/H");
	if (!f->nmodels)
		emit(s, "(no calls in the last hour)");
	for (i = 0; i < n; i++) {
		const struct top_model *m = &f->models[i];

		l.n = 0;
		snprintf(c, sizeof(c), "%" PRId64, m->calls_h);
		snprintf(in, sizeof(in), "%" PRId64, m->in_h);
		snprintf(out, sizeof(out), "%" PRId64, m->out_h);
		line_cell(&l, m->model, 20, 0);
		line_cell(&l, m->provider, 10, 0);
		line_cell(&l, c, 8, 1);
		line_cell(&l, in, 8, 1);
		line_cell(&l, out, 8, 1);
		line_cell(&l, money(h, sizeof(h), m->cost_h, 4), 12, 1);
		emit(s, l.b);
	}
}

static void draw_calls(struct screen *s, const struct top_frame *f)
{
	struct line l = { .n = 0 };
	char t[32], st[32], in[32], out[32], cost[MONEY_LEN];
	size_t i;

	emit(s, "");
	emit(s, "TIME     TEAM       MODEL            CODE      IN     OUT       COST STATE");
	if (!f->ncalls)
		emit(s, "(no calls)");
	for (i = 0; i < f->ncalls && s->row < s->h; i++) {
		const struct top_call *c = &f->calls[i];

		l.n = 0;
		report_time(t, sizeof(t), c->ts);
		t[19] = '\0';			/* HH:MM:SS of ...THH:MM:SSZ */
		if (c->status >= 0)
			snprintf(st, sizeof(st), "%" PRId64, c->status);
		else
			snprintf(st, sizeof(st), "-");
		snprintf(in, sizeof(in), "%" PRId64, c->in);
		snprintf(out, sizeof(out), "%" PRId64, c->out);
		line_cell(&l, t + 11, 8, 0);
		line_cell(&l, c->team, 10, 0);
		line_cell(&l, c->model, 16, 0);
		line_cell(&l, st, 4, 1);
		line_cell(&l, in, 7, 1);
		line_cell(&l, out, 7, 1);
		line_cell(&l, money(cost, sizeof(cost), c->cost, 6), 10, 1);
		line_cell(&l, c->state, 11, 0);
		while (l.n && l.b[l.n - 1] == ' ')
			l.b[--l.n] = '\0';
		emit(s, l.b);
	}
}

/* Wall-clock seconds as "HH:MM" (UTC) within a day from now, else "MM-DD HH:MM". */
static const char *exhaust_time(char *buf, size_t cap, int64_t s, int64_t now)
{
	char t[32];

	if (!s) {
		snprintf(buf, cap, "-");
		return buf;
	}
	report_time(t, sizeof(t), s * NS_SEC);
	if (s * NS_SEC - now < NS_DAY)
		snprintf(buf, cap, "%.5s", t + 11);
	else
		snprintf(buf, cap, "%.5s %.5s", t + 5, t + 11);
	return buf;
}

static const char *budget_amount(char *buf, size_t cap, const struct top_budget *b, int64_t v)
{
	char m[MONEY_LEN];

	if (b->tokens)
		snprintf(buf, cap, "%" PRId64 " tok", v);
	else
		snprintf(buf, cap, "$%s", money(m, sizeof(m), v, 4));
	return buf;
}

/* "held N  gated M", then the actions so far by kind, most first. */
static void draw_gate(struct screen *s, const struct top_frame *f)
{
	struct line l = { .n = 0 };
	char part[64];
	int first = 1;
	size_t i;

	snprintf(part, sizeof(part), "held %" PRId64 "  gated %" PRId64, f->held, f->gated);
	line_put(&l, part, strlen(part));
	for (i = 0; i < f->nactions; i++) {
		if (!f->actions[i].n)
			continue;
		snprintf(part, sizeof(part), "  %s%s %" PRIu64, first ? "actions: " : "",
			 f->actions[i].name, f->actions[i].n);
		line_put(&l, part, strlen(part));
		first = 0;
	}
	emit(s, l.b);
}

static void draw_budgets(struct screen *s, const struct top_frame *f, size_t n)
{
	struct line l;
	char head[80], sp[40], lim[40], pc[32], t[32];
	size_t i;

	if (!f->nbudgets)
		return;
	snprintf(head, sizeof(head), " %-11s %13s %13s %6s %s", "WINDOW", "SPENT", "LIMIT",
		 "USED%", "EXHAUSTS");
	section_title(s, "BUDGETS", f->nbudgets - n + f->budgets_more, head);
	for (i = 0; i < n; i++) {
		const struct top_budget *b = &f->budgets[i];

		l.n = 0;
		line_cell(&l, b->team, 20, 0);
		line_cell(&l, b->window, 11, 0);
		line_cell(&l, budget_amount(sp, sizeof(sp), b, b->spent), 13, 1);
		line_cell(&l, budget_amount(lim, sizeof(lim), b, b->limit), 13, 1);
		line_cell(&l, percent(pc, sizeof(pc), b->spent, b->limit), 6, 1);
		line_cell(&l, exhaust_time(t, sizeof(t), b->exhaust_s, f->now), 11, 0);
		while (l.n && l.b[l.n - 1] == ' ')
			l.b[--l.n] = '\0';
		emit(s, l.b);
	}
	draw_gate(s, f);
}

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

/*
 * Rows: 2 header (3 with capture health), then three sections of a blank
 * and a title each (8 in all), and with budgets a fourth with a line for
 * the gate (3 more); teams, models and budgets get up to a third (a
 * quarter) of the rest each, calls the remainder, so a short screen still
 * shows some of each.
 */
static void draw(struct screen *s, const struct top_frame *f, const char *err)
{
	size_t fixed = 8 + !!f->health[0] + (f->nbudgets ? 3 : 0);
	size_t rest = s->h > fixed ? s->h - fixed : 0;
	size_t parts = f->nbudgets ? 4 : 3;
	size_t share = rest / parts ? rest / parts : 1;

	s->row = 0;
	if (s->tty)
		fputs("\033[H", s->f);
	draw_header(s, f, err);
	draw_budgets(s, f, min_sz(f->nbudgets, share));
	draw_teams(s, f, min_sz(f->nteams, share));
	draw_models(s, f, min_sz(f->nmodels, share));
	draw_calls(s, f);
	if (s->tty)
		fputs("\033[J", s->f);
}

static void screen_size(int fd, size_t *w, size_t *h)
{
	struct winsize ws;

	*w = 80;
	*h = 24;
	if (ioctl(fd, TIOCGWINSZ, &ws) || !ws.ws_col || !ws.ws_row)
		return;
	*w = ws.ws_col < TOP_MAX_WIDTH ? ws.ws_col : TOP_MAX_WIDTH;
	*h = ws.ws_row;
}

/* --- the terminal ----------------------------------------------------------------- */

static struct termios tty_saved;
static int tty_raw, tty_alt;

static void tty_restore(void)
{
	if (tty_alt) {
		/* cursor back, alternate screen off: the shell's screen returns */
		fputs("\033[?25h\033[?1049l", stdout);
		fflush(stdout);
		tty_alt = 0;
	}
	if (tty_raw) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &tty_saved);
		tty_raw = 0;
	}
}

static void on_signal(int sig)
{
	if (sig == SIGWINCH)
		top_winch = 1;
	else
		top_stop = 1;
}

/* Keys without Enter and without echo; ISIG stays, so Ctrl-C is SIGINT. */
static void tty_enter(void)
{
	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART: poll wakes */
	struct termios raw;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGWINCH, &sa, NULL);
	atexit(tty_restore);
	if (isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &tty_saved)) {
		raw = tty_saved;
		raw.c_lflag &= ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tty_raw = !tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
	}
	if (isatty(STDOUT_FILENO)) {
		fputs("\033[?1049h\033[?25l\033[2J", stdout);
		fflush(stdout);
		tty_alt = 1;
	}
}

/* Waits up to ms for a key; 1 when the user asked to quit. */
static int wait_keys(int *in_fd, int64_t ms)
{
	struct pollfd p = { .fd = *in_fd, .events = POLLIN };
	char buf[64];
	ssize_t n, i;

	if (poll(&p, *in_fd >= 0, (int)ms) <= 0)
		return 0;
	n = read(*in_fd, buf, sizeof(buf));
	if (n <= 0) {
		/* end of input (not a terminal): keep refreshing, stop reading */
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			*in_fd = -1;
		return 0;
	}
	for (i = 0; i < n; i++)
		if (buf[i] == 'q' || buf[i] == 'Q' || buf[i] == 3)
			return 1;
	return 0;
}

static void frame_write(const struct top_frame *f, const char *err, int tty)
{
	struct screen s = { .tty = tty };
	char *buf = NULL;
	size_t len = 0, off = 0;
	ssize_t n;

	screen_size(STDOUT_FILENO, &s.w, &s.h);
	s.f = open_memstream(&buf, &len);
	if (!s.f)
		return;
	draw(&s, f, err);
	fclose(s.f);
	/* one write: the terminal never shows half a frame */
	while (off < len && (n = write(STDOUT_FILENO, buf + off, len - off)) != 0) {
		if (n < 0 && errno != EINTR)
			break;
		off += n > 0 ? (size_t)n : 0;
	}
	free(buf);
}

static int run_live(sqlite3 *db, struct top_frame *f, int64_t interval_ms)
{
	char err[256];
	int in_fd = STDIN_FILENO;
	int64_t next, left;

	tty_enter();
	while (!top_stop) {
		err[0] = '\0';
		/* a failed read is shown, not fatal: the agent may be migrating */
		frame_read(db, f, err, sizeof(err));
		frame_write(f, err[0] ? err : NULL, tty_alt);
		next = clock_ns(CLOCK_MONOTONIC) + interval_ms * 1000000;
		while (!top_stop && !top_winch) {
			left = (next - clock_ns(CLOCK_MONOTONIC)) / 1000000;
			if (left <= 0)
				break;
			if (wait_keys(&in_fd, left))
				top_stop = 1;
		}
		top_winch = 0;
	}
	tty_restore();
	return 0;
}

/* --- options ------------------------------------------------------------------------ */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
"usage: %s [--db FILE] [--metrics ADDR|off] [--interval SECS] [--once]\n"
"\n"
"A live view of the ledger: the agent's state, calls/s over the last minute,\n"
"spend per hour (the last hour) and today (UTC), the teams and models that\n"
"spend most, and the latest calls.  q or Ctrl-C quits.\n"
"\n"
"  -d, --db FILE         the ledger (default " LEDGER_DEFAULT_PATH ")\n"
"  -m, --metrics ADDR    the agent's metrics endpoint, for capture health,\n"
"                        budgets and the gate\n"
"                        (default 127.0.0.1:9464; off: none)\n"
"  -i, --interval SECS   seconds between refreshes, 0.1 to 3600 (default 1)\n"
"  -1, --once            print one frame, plain text, and exit\n"
"  -h, --help            this text\n", prog);
}

/* "2", "0.5": milliseconds, no floating point. */
static int parse_interval(const char *s, int64_t *ms)
{
	int64_t v = 0, scale = 1000;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9' && v <= 3600000; p++)
		v = v * 10 + (*p - '0') * 1000;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			v += (scale /= 10) * (*p - '0');
	if (*p || v < 100 || v > 3600000)
		return -EINVAL;
	*ms = v;
	return 0;
}

int cmd_top(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "interval", required_argument, NULL, 'i' },
		{ "once", no_argument, NULL, '1' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct top_frame f;	/* big: not on the stack */
	const char *prog = argv[0], *path = LEDGER_DEFAULT_PATH;
	int64_t interval_ms = 1000;
	char err[512];
	int c, once = 0, ret;
	sqlite3 *db;

	while ((c = getopt_long(argc, argv, "d:m:i:1h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': path = optarg; break;
		case 'm': top_metrics = strcmp(optarg, "off") ? optarg : NULL; break;
		case '1': once = 1; break;
		case 'h': usage(stdout, prog); return 0;
		case 'i':
			if (parse_interval(optarg, &interval_ms)) {
				fprintf(stderr, "%s: --interval: '%s': seconds, 0.1 to 3600\n",
					prog, optarg);
				return 2;
			}
			break;
		default:
			usage(stderr, prog);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		return 2;
	}
	db = ledger_open_readonly(path, err, sizeof(err));
	if (!db) {
		/* some of its messages name the file, some do not */
		if (strncmp(err, path, strlen(path)))
			fprintf(stderr, "%s: %s: %s\n", prog, path, err);
		else
			fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	if (!once) {
		ret = run_live(db, &f, interval_ms);
	} else if (frame_read(db, &f, err, sizeof(err))) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, err);
		ret = 1;
	} else {
		frame_write(&f, NULL, 0);
		ret = 0;
	}
	sqlite3_close(db);
	return ret;
}
