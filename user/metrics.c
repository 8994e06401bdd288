// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Prometheus metrics: registry (event-loop side) and HTTP server thread.
 *
 * The registry is one flat struct of fixed-size tables, so a snapshot is a
 * couple of memcpy()s under the mutex.  Label values are interned into
 * capped tables; a series is a tuple of small indices, so a hostile model
 * name can neither grow memory nor forge exposition lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include "metrics.h"
#include "utf8.h"
#include "version.h"

#define MAX_GROUPS	1024	/* (team, provider, model) series */
#define MAX_HSERIES	256	/* (provider, model) histogram series */
#define MAX_STATUS	8	/* distinct statuses per group */
#define MAX_BUCKETS	16
#define MAX_ASERIES	512	/* (team, action, reason, mode) series */
#define MAX_BUDGETS	((METRICS_MAX_TEAMS + 1) * (METRICS_MAX_WINDOWS + 1))
#define RENDER_MAX	(32u << 20)

#define HTTP_MAX_CONN	4
#define HTTP_HEAD_MAX	8192
#define HTTP_TIMEOUT_MS	5000	/* whole exchange, head to last byte */

#define STATUS_UNKNOWN	0
#define STATUS_OTHER	(-1)

enum tok { TOK_INPUT, TOK_CACHED, TOK_CACHE_WRITE, TOK_OUTPUT, TOK_REASONING, __TOK_MAX };
static const char *const tok_bucket[__TOK_MAX] = {
	"input", "cached_input", "cache_write", "output", "reasoning",
};

enum fold { FOLD_TEAM, FOLD_PROVIDER, FOLD_MODEL, FOLD_STATUS, FOLD_REASON, FOLD_SERIES,
	    FOLD_ACTION, FOLD_KIND, FOLD_WINDOW, __FOLD_MAX };
static const char *const fold_name[__FOLD_MAX] = {
	"team", "provider", "model", "status", "reason", "series",
	"action", "kind", "window",
};

/*
 * Enforcement vocabularies are closed lists (include/metrics.h); the last
 * entry of each is "other", for a value outside the list.
 */
static const char *const action_name[] = {
	"block", "kill", "throttle", "alert", "release", "other",
};
static const char *const areason_name[] = {
	"budget", "model", "max_tokens", "rate_limit", "loop_guard", "hold_timeout", "other",
};
static const char *const kind_name[] = { "threshold", "forecast", "other" };
/* The actions done to a process, which can fail (block, kill): their
 * failure series are exported at 0 for every team declared. */
static const bool action_can_fail[] = { true, true, false, false, false, false };
#define NACTION		(sizeof(action_name) / sizeof(action_name[0]))
#define NAREASON	(sizeof(areason_name) / sizeof(areason_name[0]))
#define NKIND		(sizeof(kind_name) / sizeof(kind_name[0]))
#define NMODE		2	/* enforce, monitor */
_Static_assert(sizeof(action_can_fail) / sizeof(action_can_fail[0]) == NACTION,
	       "action_can_fail follows action_name");

/*
 * Bucket bounds from the OpenTelemetry GenAI semantic conventions
 * (explicit bucket advice for time_to_first_token, operation.duration and
 * time_per_output_token), kept as integer nanoseconds and as the exact
 * text of "le", so no float ever touches a bound.
 */
struct hist_spec {
	const char *name;
	const char *help;
	unsigned n;
	int64_t le_ns[MAX_BUCKETS];
	const char *le[MAX_BUCKETS];
};

#define MS(x) ((int64_t)(x) * 1000000)
static const struct hist_spec hist_specs[] = {
	{ "tollgate_ttft_seconds", "Time from request sent to first response token.", 16,
	  { MS(1), MS(5), MS(10), MS(20), MS(40), MS(60), MS(80), MS(100), MS(250), MS(500),
	    MS(750), MS(1000), MS(2500), MS(5000), MS(7500), MS(10000) },
	  { "0.001", "0.005", "0.01", "0.02", "0.04", "0.06", "0.08", "0.1", "0.25", "0.5",
	    "0.75", "1", "2.5", "5", "7.5", "10" } },
	{ "tollgate_request_duration_seconds", "Time from request sent to response end.", 14,
	  { MS(10), MS(20), MS(40), MS(80), MS(160), MS(320), MS(640), MS(1280), MS(2560),
	    MS(5120), MS(10240), MS(20480), MS(40960), MS(81920) },
	  { "0.01", "0.02", "0.04", "0.08", "0.16", "0.32", "0.64", "1.28", "2.56", "5.12",
	    "10.24", "20.48", "40.96", "81.92" } },
	{ "tollgate_time_per_output_token_seconds",
	  "Time per output token after the first: (duration - ttft) / (output_tokens - 1).", 13,
	  { MS(10), MS(25), MS(50), MS(75), MS(100), MS(150), MS(200), MS(300), MS(400),
	    MS(500), MS(750), MS(1000), MS(2500) },
	  { "0.01", "0.025", "0.05", "0.075", "0.1", "0.15", "0.2", "0.3", "0.4", "0.5",
	    "0.75", "1", "2.5" } },
};
#define NHIST (sizeof(hist_specs) / sizeof(hist_specs[0]))

struct hist {
	uint64_t bucket[MAX_BUCKETS];	/* per bucket, cumulated when rendered */
	uint64_t count;
	uint64_t sum_ns;
};

struct hseries {
	uint8_t provider, model;
	struct hist h[NHIST];
};

struct status_count {
	int code;
	uint64_t n;
};

struct group {
	uint8_t team, provider, model;
	uint8_t nstatus;
	uint64_t tokens[__TOK_MAX];
	int64_t cost_nusd;
	uint64_t estimated, unpriced, streamed;
	struct status_count status[MAX_STATUS + 1];	/* + the "other" slot */
};

/* Interned label values; slot `cap` is "other" (teams has the largest cap). */
struct labels {
	unsigned n, cap;
	char v[METRICS_MAX_TEAMS + 1][METRICS_LABEL_MAX];
};

_Static_assert(METRICS_MAX_MODELS <= METRICS_MAX_TEAMS &&
	       METRICS_MAX_PROVIDERS <= METRICS_MAX_TEAMS, "labels.v sized by teams");
_Static_assert(METRICS_MAX_TEAMS < 255, "label indices are uint8_t");

struct reason {
	char name[METRICS_LABEL_MAX];
	uint64_t n;
};

struct aseries {
	uint8_t team, action, reason, mode;
	uint64_t n;
};

struct budget {
	uint8_t team, window;
	bool tokens;
	uint64_t owner;		/* team "other" or window "other": whose figures */
	int64_t spent, reserved, limit, exhaust_ns;
};

_Static_assert(METRICS_MAX_WINDOWS <= METRICS_MAX_TEAMS, "labels.v sized by teams");
_Static_assert(MAX_BUDGETS < UINT16_MAX, "budget_idx is uint16_t");

struct registry {
	struct labels teams, providers, models, windows;
	uint64_t counters[__METRICS_COUNTER_MAX];
	int64_t gauges[__METRICS_GAUGE_MAX];
	uint64_t folded[__FOLD_MAX];
	unsigned nreasons;
	struct reason reasons[METRICS_MAX_REASONS + 1];
	uint64_t alerts[METRICS_MAX_TEAMS + 1][NKIND];
	/* enforcement failures, and the teams whose failure series are shown */
	uint64_t efail[METRICS_MAX_TEAMS + 1][NACTION];
	bool efail_team[METRICS_MAX_TEAMS + 1];
	int64_t start_us;		/* the process's start, Unix microseconds */
	/* (team, window) -> budgets[] slot + 1; 0: none */
	uint16_t budget_idx[METRICS_MAX_TEAMS + 1][METRICS_MAX_WINDOWS + 1];
	unsigned ngroups, nhseries, naseries, nbudgets;
	/* Last, so a snapshot copies only the used prefix of each. */
	struct hseries hseries[MAX_HSERIES];
	struct aseries aseries[MAX_ASERIES];
	struct budget budgets[MAX_BUDGETS];
	struct group groups[MAX_GROUPS];
};

struct conn {
	int fd;
	uint64_t deadline_ms;
	size_t inlen;
	char in[HTTP_HEAD_MAX];
	char *out;
	size_t outlen, outoff;
};

struct metrics {
	pthread_mutex_t lock;
	struct registry reg;		/* under lock */
	int lfd, wakefd, port;
	bool running;
	pthread_t thread;
	struct conn conns[HTTP_MAX_CONN];
};

/* --- registry ------------------------------------------------------------ */

static void labels_init(struct labels *l, unsigned cap)
{
	l->n = 0;
	l->cap = cap;
	strcpy(l->v[cap], "other");
}

/*
 * Label values must be UTF-8 (the text format says so and parsers check):
 * ill-formed bytes become U+FFFD, and the value is cut whole at a
 * character boundary.  Escaping waits for rendering.
 */
static void label_clean(char *dst, const char *s)
{
	const uint8_t *p = (const uint8_t *)(s && *s ? s : "unknown");
	size_t n = strlen((const char *)p), i = 0, o = 0, len, sub;

	while (i < n) {
		len = utf8_seq(p, n, i, &sub);
		if (!len) {
			if (o + 3 >= METRICS_LABEL_MAX)
				break;
			memcpy(dst + o, "\xef\xbf\xbd", 3);
			o += 3;
			i += sub;
			continue;
		}
		if (o + len >= METRICS_LABEL_MAX)
			break;
		memcpy(dst + o, p + i, len);
		o += len;
		i += len;
	}
	dst[o] = '\0';
}

/* s's index, interned if new and there is room; *folded: it had none. */
static unsigned labels_intern(struct labels *l, const char *s, bool *folded)
{
	char v[METRICS_LABEL_MAX];
	unsigned i;

	*folded = false;
	label_clean(v, s);
	for (i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], v))
			return i;
	if (!strcmp(v, "other"))
		return l->cap;
	if (l->n == l->cap) {
		*folded = true;
		return l->cap;
	}
	strcpy(l->v[l->n], v);
	return l->n++;
}

static unsigned labels_get(struct registry *r, struct labels *l, const char *s, enum fold f)
{
	bool folded;
	unsigned i;

	i = labels_intern(l, s, &folded);
	if (folded)
		r->folded[f]++;
	return i;
}

/* The last slot of each series table is kept for the all-"other" key. */
static struct group *group_get(struct registry *r, unsigned t, unsigned p, unsigned mo)
{
	struct group *g;
	unsigned i;

	for (i = 0; i < r->ngroups; i++) {
		g = &r->groups[i];
		if (g->team == t && g->provider == p && g->model == mo)
			return g;
	}
	if (r->ngroups >= MAX_GROUPS - 1 &&
	    (t != r->teams.cap || p != r->providers.cap || mo != r->models.cap)) {
		r->folded[FOLD_SERIES]++;
		return group_get(r, r->teams.cap, r->providers.cap, r->models.cap);
	}
	g = &r->groups[r->ngroups++];
	memset(g, 0, sizeof(*g));
	g->team = t;
	g->provider = p;
	g->model = mo;
	return g;
}

static struct hseries *hseries_get(struct registry *r, unsigned p, unsigned mo)
{
	struct hseries *h;
	unsigned i;

	for (i = 0; i < r->nhseries; i++) {
		h = &r->hseries[i];
		if (h->provider == p && h->model == mo)
			return h;
	}
	if (r->nhseries >= MAX_HSERIES - 1 &&
	    (p != r->providers.cap || mo != r->models.cap)) {
		r->folded[FOLD_SERIES]++;
		return hseries_get(r, r->providers.cap, r->models.cap);
	}
	h = &r->hseries[r->nhseries++];
	memset(h, 0, sizeof(*h));
	h->provider = p;
	h->model = mo;
	return h;
}

static void status_add(struct registry *r, struct group *g, int code)
{
	unsigned i;

	if (code < 100 || code > 599)
		code = STATUS_UNKNOWN;
	for (i = 0; i < g->nstatus; i++) {
		if (g->status[i].code == code) {
			g->status[i].n++;
			return;
		}
	}
	if (g->nstatus < MAX_STATUS) {
		g->status[g->nstatus].code = code;
		g->status[g->nstatus++].n = 1;
		return;
	}
	/* the "other" slot sits right after the capped ones */
	r->folded[FOLD_STATUS]++;
	g->status[MAX_STATUS].code = STATUS_OTHER;
	g->status[MAX_STATUS].n++;
}

static void hist_observe(struct hist *h, const struct hist_spec *s, int64_t ns)
{
	unsigned i;

	h->count++;
	h->sum_ns += (uint64_t)ns;
	for (i = 0; i < s->n; i++) {
		if (ns <= s->le_ns[i]) {
			h->bucket[i]++;
			return;
		}
	}
	/* above the last bound: only +Inf (= count) holds it */
}

static uint64_t clamp0(int64_t v)
{
	return v > 0 ? (uint64_t)v : 0;
}

static void observe_times(struct hseries *hs, const struct metrics_call *c)
{
	int64_t tpot;

	if (c->ttft_ns >= 0)
		hist_observe(&hs->h[0], &hist_specs[0], c->ttft_ns);
	if (c->duration_ns >= 0)
		hist_observe(&hs->h[1], &hist_specs[1], c->duration_ns);
	/* TPOT needs the first token's time and at least two tokens */
	if (c->ttft_ns >= 0 && c->duration_ns >= c->ttft_ns && c->output_tokens > 1) {
		tpot = (c->duration_ns - c->ttft_ns) / (c->output_tokens - 1);
		hist_observe(&hs->h[2], &hist_specs[2], tpot);
	}
}

void metrics_call(struct metrics *m, const struct metrics_call *c)
{
	struct registry *r;
	unsigned t, p, mo;
	struct group *g;

	if (!m)
		return;
	r = &m->reg;
	pthread_mutex_lock(&m->lock);
	t = labels_get(r, &r->teams, c->team, FOLD_TEAM);
	p = labels_get(r, &r->providers, c->provider, FOLD_PROVIDER);
	mo = labels_get(r, &r->models, c->model, FOLD_MODEL);
	g = group_get(r, t, p, mo);
	g->tokens[TOK_INPUT] += clamp0(c->input_tokens);
	g->tokens[TOK_CACHED] += clamp0(c->cached_input_tokens);
	g->tokens[TOK_CACHE_WRITE] += clamp0(c->cache_write_tokens);
	g->tokens[TOK_OUTPUT] += clamp0(c->output_tokens);
	g->tokens[TOK_REASONING] += clamp0(c->reasoning_tokens);
	g->cost_nusd += c->cost_nusd;
	g->estimated += c->estimated;
	g->unpriced += c->unpriced;
	g->streamed += c->stream;
	status_add(r, g, c->status);
	observe_times(hseries_get(r, p, mo), c);
	pthread_mutex_unlock(&m->lock);
}

void metrics_set_counter(struct metrics *m, enum metrics_counter c, uint64_t value)
{
	if (!m || (unsigned)c >= __METRICS_COUNTER_MAX)
		return;
	pthread_mutex_lock(&m->lock);
	m->reg.counters[c] = value;
	pthread_mutex_unlock(&m->lock);
}

void metrics_set_gauge(struct metrics *m, enum metrics_gauge g, int64_t value)
{
	if (!m || (unsigned)g >= __METRICS_GAUGE_MAX)
		return;
	pthread_mutex_lock(&m->lock);
	m->reg.gauges[g] = value;
	pthread_mutex_unlock(&m->lock);
}

/*
 * Reasons are cumulative totals from the agent.  Reasons past the cap
 * share "other"; summing their totals would need a memory of each, which
 * is what the cap refuses, so "other" keeps the largest it was given.
 */
void metrics_set_unmetered(struct metrics *m, const char *reason, uint64_t value)
{
	struct registry *r;
	char v[METRICS_LABEL_MAX];
	struct reason *rs;
	unsigned i;

	if (!m)
		return;
	r = &m->reg;
	label_clean(v, reason);
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < r->nreasons; i++) {
		if (!strcmp(r->reasons[i].name, v)) {
			r->reasons[i].n = value;
			goto out;
		}
	}
	if (r->nreasons < METRICS_MAX_REASONS) {
		rs = &r->reasons[r->nreasons++];
		strcpy(rs->name, v);
		rs->n = value;
		goto out;
	}
	rs = &r->reasons[METRICS_MAX_REASONS];
	if (!rs->name[0])
		r->folded[FOLD_REASON]++;
	strcpy(rs->name, "other");
	if (value > rs->n)
		rs->n = value;
out:
	pthread_mutex_unlock(&m->lock);
}

/* --- enforcement and budgets ------------------------------------------------ */

/* s's index in a closed list whose last entry is "other". */
static unsigned vocab_get(struct registry *r, const char *const *names, unsigned n,
			  const char *s, enum fold f)
{
	unsigned i;

	for (i = 0; s && i < n - 1; i++)
		if (!strcmp(names[i], s))
			return i;
	if (!s || strcmp(s, "other"))
		r->folded[f]++;
	return n - 1;
}

/*
 * The last NACTION * NAREASON * NMODE slots are kept for team "other", so
 * a folded team always finds its series.
 */
static struct aseries *aseries_get(struct registry *r, unsigned t, unsigned a, unsigned re,
				   unsigned mode)
{
	struct aseries *as;
	unsigned i;

	for (i = 0; i < r->naseries; i++) {
		as = &r->aseries[i];
		if (as->team == t && as->action == a && as->reason == re && as->mode == mode)
			return as;
	}
	if (r->naseries >= MAX_ASERIES - NACTION * NAREASON * NMODE && t != r->teams.cap) {
		r->folded[FOLD_SERIES]++;
		return aseries_get(r, r->teams.cap, a, re, mode);
	}
	as = &r->aseries[r->naseries++];
	memset(as, 0, sizeof(*as));
	as->team = t;
	as->action = a;
	as->reason = re;
	as->mode = mode;
	return as;
}

_Static_assert(MAX_ASERIES > 2 * NACTION * NAREASON * NMODE, "room for teams");

void metrics_action(struct metrics *m, const char *team, const char *action,
		    const char *reason, int dry_run, int ok)
{
	struct registry *r;
	unsigned t, a, re;

	if (!m)
		return;
	r = &m->reg;
	pthread_mutex_lock(&m->lock);
	t = labels_get(r, &r->teams, team, FOLD_TEAM);
	a = vocab_get(r, action_name, NACTION, action, FOLD_ACTION);
	re = vocab_get(r, areason_name, NAREASON, reason, FOLD_REASON);
	aseries_get(r, t, a, re, !!dry_run)->n++;
	r->efail_team[t] = true;
	if (!dry_run && !ok)
		r->efail[t][a]++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_declare_team(struct metrics *m, const char *team)
{
	struct registry *r;
	bool folded;

	if (!m)
		return;
	r = &m->reg;
	pthread_mutex_lock(&m->lock);
	/* a fold is counted when the team is used, not each time it is declared */
	r->efail_team[labels_intern(&r->teams, team, &folded)] = true;
	pthread_mutex_unlock(&m->lock);
}

void metrics_alert(struct metrics *m, const char *team, const char *kind)
{
	struct registry *r;
	unsigned t, k;

	if (!m)
		return;
	r = &m->reg;
	pthread_mutex_lock(&m->lock);
	t = labels_get(r, &r->teams, team, FOLD_TEAM);
	k = vocab_get(r, kind_name, NKIND, kind, FOLD_KIND);
	r->alerts[t][k]++;
	pthread_mutex_unlock(&m->lock);
}

/* FNV-1a of "team\0window": which folded budget a shared series shows. */
static uint64_t budget_key(const char *team, const char *window)
{
	uint64_t h = 14695981039346656037ull;
	const char *s;
	int k;

	for (k = 0; k < 2; k++) {
		for (s = k ? window : team; s && *s; s++)
			h = (h ^ (uint8_t)*s) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull;	/* separator */
	}
	return h;
}

/* 1 when (used, limit) is at least as near its limit as b's, else 0. */
static int budget_nearer(int64_t used, int64_t limit, const struct budget *b)
{
	int64_t bused = b->spent + b->reserved;

	if (limit <= 0)
		return 1;
	if (b->limit <= 0)
		return 0;
	return (__int128)used * b->limit >= (__int128)bused * limit;
}

void metrics_set_budget(struct metrics *m, const char *team, const char *window,
			int tokens, int64_t spent, int64_t reserved, int64_t limit,
			int64_t exhaust_at_ns)
{
	struct registry *r;
	unsigned t, w, fresh;
	struct budget *b;
	uint64_t key;

	if (!m)
		return;
	r = &m->reg;
	key = budget_key(team, window);
	pthread_mutex_lock(&m->lock);
	t = labels_get(r, &r->teams, team, FOLD_TEAM);
	w = labels_get(r, &r->windows, window, FOLD_WINDOW);
	/* every (team, window) pair has a slot: the table cannot fill */
	fresh = !r->budget_idx[t][w];
	if (fresh) {
		b = &r->budgets[r->nbudgets];
		r->budget_idx[t][w] = ++r->nbudgets;
		memset(b, 0, sizeof(*b));
		b->team = t;
		b->window = w;
	}
	b = &r->budgets[r->budget_idx[t][w] - 1];
	/* a shared series follows the budget nearest its limit */
	if ((t == r->teams.cap || w == r->windows.cap) && !fresh && b->owner != key &&
	    !budget_nearer(spent + reserved, limit, b))
		goto out;
	b->owner = key;
	b->tokens = !!tokens;
	b->spent = spent;
	b->reserved = reserved;
	b->limit = limit;
	b->exhaust_ns = exhaust_at_ns;
out:
	pthread_mutex_unlock(&m->lock);
}

void metrics_clear_budgets(struct metrics *m)
{
	struct registry *r;

	if (!m)
		return;
	r = &m->reg;
	pthread_mutex_lock(&m->lock);
	r->nbudgets = 0;
	memset(r->budget_idx, 0, sizeof(r->budget_idx));
	labels_init(&r->windows, METRICS_MAX_WINDOWS);
	pthread_mutex_unlock(&m->lock);
}

static void snapshot(struct metrics *m, struct registry *s)
{
	const struct registry *r = &m->reg;

	pthread_mutex_lock(&m->lock);
	memcpy(s, r, offsetof(struct registry, hseries));
	memcpy(s->hseries, r->hseries, r->nhseries * sizeof(r->hseries[0]));
	memcpy(s->aseries, r->aseries, r->naseries * sizeof(r->aseries[0]));
	memcpy(s->budgets, r->budgets, r->nbudgets * sizeof(r->budgets[0]));
	memcpy(s->groups, r->groups, r->ngroups * sizeof(r->groups[0]));
	pthread_mutex_unlock(&m->lock);
}

/* --- rendering ----------------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
	int err;
};

static void put(struct buf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (b->err)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 16384;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > RENDER_MAX) {
			b->err = -EFBIG;
			return;
		}
		p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void putf(struct buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->err = b->err ? b->err : -EOVERFLOW;
		return;
	}
	put(b, tmp, n);
}

/* Exposition format escapes in label values: \\, \" and \n. */
static void put_label(struct buf *b, const char *name, const char *v, bool first)
{
	const char *s;

	putf(b, "%s%s=\"", first ? "" : ",", name);
	for (s = v; *s; s++) {
		if (*s == '\\')
			puts_(b, "\\\\");
		else if (*s == '"')
			puts_(b, "\\\"");
		else if (*s == '\n')
			puts_(b, "\\n");
		else
			put(b, s, 1);
	}
	puts_(b, "\"");
}

/* v / 10^scale as an exact decimal, trailing zeros dropped: no float. */
static void put_fixed(struct buf *b, int64_t v, unsigned scale, uint64_t unit)
{
	uint64_t a = v < 0 ? -(uint64_t)v : (uint64_t)v, frac = a % unit;
	char f[24];
	int n;

	putf(b, "%s%llu", v < 0 ? "-" : "", (unsigned long long)(a / unit));
	if (!frac)
		return;
	n = snprintf(f, sizeof(f), "%0*llu", (int)scale, (unsigned long long)frac);
	while (n > 0 && f[n - 1] == '0')
		n--;
	puts_(b, ".");
	put(b, f, n);
}

static void put_u64(struct buf *b, uint64_t v)
{
	putf(b, " %llu\n", (unsigned long long)v);
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
	putf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void group_labels(struct buf *b, const struct registry *r, const struct group *g)
{
	put_label(b, "team", r->teams.v[g->team], true);
	put_label(b, "provider", r->providers.v[g->provider], false);
	put_label(b, "model", r->models.v[g->model], false);
}

/* name{team=..,provider=..,model=..[,extra=".."]} */
static void group_series(struct buf *b, const struct registry *r, const struct group *g,
			 const char *name, const char *extra, const char *val)
{
	puts_(b, name);
	puts_(b, "{");
	group_labels(b, r, g);
	if (extra)
		put_label(b, extra, val, false);
	puts_(b, "}");
}

static void genai_series(struct buf *b, const struct registry *r, const struct group *g,
			 const char *name, const char *type)
{
	puts_(b, name);
	puts_(b, "{");
	put_label(b, "gen_ai_provider_name", r->providers.v[g->provider], true);
	put_label(b, "gen_ai_request_model", r->models.v[g->model], false);
	if (type)
		put_label(b, "gen_ai_token_type", type, false);
	put_label(b, "team", r->teams.v[g->team], false);
	puts_(b, "}");
}

static void render_genai(struct buf *b, const struct registry *r)
{
	static const struct {
		const char *name, *help;
		unsigned tok;
	} usage[] = {
		{ "gen_ai_client_inference_usage_input_tokens_total",
		  "Input tokens, all of them (cache reads and writes included).", __TOK_MAX },
		{ "gen_ai_client_inference_usage_output_tokens_total",
		  "Output tokens, reasoning included.", TOK_OUTPUT },
		{ "gen_ai_client_inference_usage_cache_read_tokens_total",
		  "Input tokens read from the provider's prompt cache.", TOK_CACHED },
		{ "gen_ai_client_inference_usage_cache_write_tokens_total",
		  "Input tokens written to the provider's prompt cache.", TOK_CACHE_WRITE },
		{ "gen_ai_client_inference_usage_reasoning_tokens_total",
		  "Output tokens spent on reasoning.", TOK_REASONING },
	};
	const struct group *g;
	unsigned i, k;
	uint64_t in;

	family(b, "gen_ai_client_token_usage_total", "counter",
	       "Tokens used, by gen_ai.token.type (input includes cached input).");
	for (i = 0; i < r->ngroups; i++) {
		g = &r->groups[i];
		in = g->tokens[TOK_INPUT] + g->tokens[TOK_CACHED] + g->tokens[TOK_CACHE_WRITE];
		genai_series(b, r, g, "gen_ai_client_token_usage_total", "input");
		put_u64(b, in);
		genai_series(b, r, g, "gen_ai_client_token_usage_total", "output");
		put_u64(b, g->tokens[TOK_OUTPUT]);
	}
	for (k = 0; k < sizeof(usage) / sizeof(usage[0]); k++) {
		family(b, usage[k].name, "counter", usage[k].help);
		for (i = 0; i < r->ngroups; i++) {
			g = &r->groups[i];
			in = g->tokens[TOK_INPUT] + g->tokens[TOK_CACHED] +
			     g->tokens[TOK_CACHE_WRITE];
			genai_series(b, r, g, usage[k].name, NULL);
			put_u64(b, usage[k].tok == __TOK_MAX ? in : g->tokens[usage[k].tok]);
		}
	}
}

static void render_status(struct buf *b, const struct registry *r, const struct group *g)
{
	const struct status_count *s;
	char code[16];
	unsigned i;

	for (i = 0; i <= MAX_STATUS; i++) {
		s = &g->status[i];
		if (i >= g->nstatus && s->code != STATUS_OTHER)
			continue;
		if (s->code == STATUS_OTHER)
			strcpy(code, "other");
		else if (s->code == STATUS_UNKNOWN)
			strcpy(code, "unknown");
		else
			snprintf(code, sizeof(code), "%d", s->code);
		group_series(b, r, g, "tollgate_requests_total", "status", code);
		put_u64(b, s->n);
	}
}

static void render_calls(struct buf *b, const struct registry *r)
{
	const struct group *g;
	unsigned i, k;

	family(b, "tollgate_tokens_total", "counter",
	       "Tokens by billing bucket; input, cached_input and cache_write do not overlap.");
	for (i = 0; i < r->ngroups; i++) {
		for (k = 0; k < __TOK_MAX; k++) {
			group_series(b, r, &r->groups[i], "tollgate_tokens_total", "bucket",
				     tok_bucket[k]);
			put_u64(b, r->groups[i].tokens[k]);
		}
	}
	family(b, "tollgate_cost_usd_total", "counter", "Cost of metered calls in US dollars.");
	for (i = 0; i < r->ngroups; i++) {
		group_series(b, r, &r->groups[i], "tollgate_cost_usd_total", NULL, NULL);
		puts_(b, " ");
		put_fixed(b, r->groups[i].cost_nusd, 9, 1000000000);
		puts_(b, "\n");
	}
	family(b, "tollgate_requests_total", "counter", "Metered calls by HTTP status.");
	for (i = 0; i < r->ngroups; i++)
		render_status(b, r, &r->groups[i]);
	family(b, "tollgate_requests_streamed_total", "counter", "Metered calls that streamed.");
	for (i = 0; i < r->ngroups; i++) {
		g = &r->groups[i];
		group_series(b, r, g, "tollgate_requests_streamed_total", NULL, NULL);
		put_u64(b, g->streamed);
	}
	family(b, "tollgate_calls_estimated_total", "counter",
	       "Calls whose usage was estimated by the tokenizer, not reported by the provider.");
	for (i = 0; i < r->ngroups; i++) {
		g = &r->groups[i];
		group_series(b, r, g, "tollgate_calls_estimated_total", NULL, NULL);
		put_u64(b, g->estimated);
	}
	family(b, "tollgate_calls_unpriced_total", "counter",
	       "Calls to a model with no price: their cost is counted as zero.");
	for (i = 0; i < r->ngroups; i++) {
		g = &r->groups[i];
		group_series(b, r, g, "tollgate_calls_unpriced_total", NULL, NULL);
		put_u64(b, g->unpriced);
	}
}

static void hist_labels(struct buf *b, const struct registry *r, const struct hseries *hs)
{
	put_label(b, "provider", r->providers.v[hs->provider], true);
	put_label(b, "model", r->models.v[hs->model], false);
}

static void render_hist(struct buf *b, const struct registry *r, unsigned k)
{
	const struct hist_spec *s = &hist_specs[k];
	const struct hseries *hs;
	const struct hist *h;
	uint64_t cum;
	unsigned i, j;

	family(b, s->name, "histogram", s->help);
	for (i = 0; i < r->nhseries; i++) {
		hs = &r->hseries[i];
		h = &hs->h[k];
		cum = 0;
		for (j = 0; j <= s->n; j++) {
			cum += j < s->n ? h->bucket[j] : 0;
			putf(b, "%s_bucket{", s->name);
			hist_labels(b, r, hs);
			put_label(b, "le", j < s->n ? s->le[j] : "+Inf", false);
			puts_(b, "}");
			put_u64(b, j < s->n ? cum : h->count);
		}
		putf(b, "%s_sum{", s->name);
		hist_labels(b, r, hs);
		puts_(b, "} ");
		put_fixed(b, (int64_t)h->sum_ns, 9, 1000000000);
		putf(b, "\n%s_count{", s->name);
		hist_labels(b, r, hs);
		puts_(b, "}");
		put_u64(b, h->count);
	}
}

static void render_enforcement(struct buf *b, const struct registry *r)
{
	const struct aseries *as;
	unsigned i, k;

	family(b, "tollgate_enforcement_actions_total", "counter",
	       "Enforcement actions, taken (mode enforce) or only reported (mode monitor).");
	for (i = 0; i < r->naseries; i++) {
		as = &r->aseries[i];
		puts_(b, "tollgate_enforcement_actions_total{");
		put_label(b, "team", r->teams.v[as->team], true);
		put_label(b, "action", action_name[as->action], false);
		put_label(b, "reason", areason_name[as->reason], false);
		put_label(b, "mode", as->mode ? "monitor" : "enforce", false);
		puts_(b, "}");
		put_u64(b, as->n);
	}
	family(b, "tollgate_enforcement_failures_total", "counter",
	       "Enforcement actions the agent could not carry out (a block or kill that failed).");
	for (i = 0; i <= METRICS_MAX_TEAMS; i++) {
		if (!r->efail_team[i])
			continue;
		for (k = 0; k < NACTION; k++) {
			if (!action_can_fail[k] && !r->efail[i][k])
				continue;
			puts_(b, "tollgate_enforcement_failures_total{");
			put_label(b, "team", r->teams.v[i], true);
			put_label(b, "action", action_name[k], false);
			puts_(b, "}");
			put_u64(b, r->efail[i][k]);
		}
	}
	family(b, "tollgate_budget_alerts_total", "counter",
	       "Budget alerts: a threshold crossed, or a forecast to run out.");
	for (i = 0; i <= METRICS_MAX_TEAMS; i++) {
		for (k = 0; k < NKIND; k++) {
			if (!r->alerts[i][k])
				continue;
			puts_(b, "tollgate_budget_alerts_total{");
			put_label(b, "team", r->teams.v[i], true);
			put_label(b, "kind", kind_name[k], false);
			puts_(b, "}");
			put_u64(b, r->alerts[i][k]);
		}
	}
}

static void budget_series(struct buf *b, const struct registry *r, const struct budget *bu,
			  const char *name)
{
	puts_(b, name);
	puts_(b, "{");
	put_label(b, "team", r->teams.v[bu->team], true);
	put_label(b, "window", r->windows.v[bu->window], false);
	puts_(b, "} ");
}

static void render_budgets(struct buf *b, const struct registry *r)
{
	static const struct {
		const char *name, *help;
		size_t off;
		bool tokens;
	} fam[] = {
		{ "tollgate_budget_spent_usd", "Settled spend in the budget's window, US dollars.",
		  offsetof(struct budget, spent), false },
		{ "tollgate_budget_reserved_usd",
		  "Spend reserved by requests in flight, US dollars.",
		  offsetof(struct budget, reserved), false },
		{ "tollgate_budget_limit_usd", "The budget's limit, US dollars.",
		  offsetof(struct budget, limit), false },
		{ "tollgate_budget_spent_tokens", "Settled tokens in the budget's window.",
		  offsetof(struct budget, spent), true },
		{ "tollgate_budget_reserved_tokens", "Tokens reserved by requests in flight.",
		  offsetof(struct budget, reserved), true },
		{ "tollgate_budget_limit_tokens", "The budget's limit, tokens.",
		  offsetof(struct budget, limit), true },
	};
	const struct budget *bu;
	unsigned i, k;
	int64_t v;

	for (k = 0; k < sizeof(fam) / sizeof(fam[0]); k++) {
		family(b, fam[k].name, "gauge", fam[k].help);
		for (i = 0; i < r->nbudgets; i++) {
			bu = &r->budgets[i];
			if (bu->tokens != fam[k].tokens)
				continue;
			memcpy(&v, (const char *)bu + fam[k].off, sizeof(v));
			budget_series(b, r, bu, fam[k].name);
			if (bu->tokens)
				putf(b, "%lld", (long long)v);
			else
				put_fixed(b, v, 9, 1000000000);
			puts_(b, "\n");
		}
	}
	family(b, "tollgate_budget_exhaustion_timestamp_seconds", "gauge",
	       "When the last hour's rate runs the budget out, within its window.");
	for (i = 0; i < r->nbudgets; i++) {
		bu = &r->budgets[i];
		if (!bu->exhaust_ns)
			continue;
		budget_series(b, r, bu, "tollgate_budget_exhaustion_timestamp_seconds");
		put_fixed(b, bu->exhaust_ns, 9, 1000000000);
		puts_(b, "\n");
	}
}

static void render_health(struct buf *b, const struct registry *r)
{
	static const char *const cname[__METRICS_COUNTER_MAX][2] = {
		{ "tollgate_capture_gaps_total", "Stretches of TLS plaintext not captured." },
		{ "tollgate_capture_gap_bytes_total", "Bytes of TLS plaintext not captured." },
		{ "tollgate_ringbuf_drops_total", "Capture events lost to a full ring buffer." },
		{ "tollgate_probe_discovered_total",
		  "Executables whose built-in TLS (BoringSSL, aws-lc, rustls) was located." },
		{ "tollgate_probe_discover_failures_total",
		  "Executables that carry built-in TLS which could not be located: not metered." },
		{ "tollgate_probe_disabled_total",
		  "Located TLS probes disabled since: what they saw was not TLS plaintext." },
		{ "tollgate_probe_attach_failures_total", "Uprobe attach attempts that failed." },
		{ "tollgate_probe_exec_holds_total",
		  "Processes held at exec while their executable was analysed." },
	};
	static const char *const gname[__METRICS_GAUGE_MAX][2] = {
		{ "tollgate_connections_open", "TLS connections being followed." },
		{ "tollgate_requests_held", "LLM requests held at the gate now." },
		{ "tollgate_processes_gated", "Processes whose LLM requests are gated now." },
		{ "tollgate_probe_targets", "Files probed for TLS (libraries and executables)." },
		{ "tollgate_probe_links", "Uprobes attached now." },
	};
	unsigned i;

	family(b, "tollgate_build_info", "gauge", "The agent's version (the value is 1).");
	puts_(b, "tollgate_build_info{");
	put_label(b, "version", TOLLGATE_VERSION, true);
	puts_(b, "} 1\n");
	for (i = 0; i < __METRICS_COUNTER_MAX; i++) {
		family(b, cname[i][0], "counter", cname[i][1]);
		putf(b, "%s %llu\n", cname[i][0], (unsigned long long)r->counters[i]);
	}
	for (i = 0; i < __METRICS_GAUGE_MAX; i++) {
		family(b, gname[i][0], "gauge", gname[i][1]);
		putf(b, "%s %lld\n", gname[i][0], (long long)r->gauges[i]);
	}
	family(b, "tollgate_connections_unmetered_total", "counter",
	       "Connections or processes not metered, by reason.");
	for (i = 0; i <= METRICS_MAX_REASONS; i++) {
		if (i >= r->nreasons && !r->reasons[i].name[0])
			continue;
		puts_(b, "tollgate_connections_unmetered_total{");
		put_label(b, "reason", r->reasons[i].name, true);
		puts_(b, "}");
		put_u64(b, r->reasons[i].n);
	}
	family(b, "tollgate_metrics_labels_folded_total", "counter",
	       "Label values or series past a cap, folded into \"other\".");
	for (i = 0; i < __FOLD_MAX; i++) {
		puts_(b, "tollgate_metrics_labels_folded_total{");
		put_label(b, "label", fold_name[i], true);
		puts_(b, "}");
		put_u64(b, r->folded[i]);
	}
}

/* Read at scrape time, on the server thread: the agent pays nothing. */
static void render_process(struct buf *b, const struct registry *r)
{
	unsigned long size, resident;
	struct rusage ru;
	int64_t us;
	FILE *f;

	f = fopen("/proc/self/statm", "re");
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &resident) == 2) {
			family(b, "process_resident_memory_bytes", "gauge",
			       "Resident memory size in bytes.");
			putf(b, "process_resident_memory_bytes %llu\n",
			     (unsigned long long)resident * (unsigned long long)getpagesize());
		}
		fclose(f);
	}
	if (!getrusage(RUSAGE_SELF, &ru)) {
		us = (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
		     ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
		family(b, "process_cpu_seconds_total", "counter",
		       "Total user and system CPU time spent in seconds.");
		puts_(b, "process_cpu_seconds_total ");
		put_fixed(b, us, 6, 1000000);
		puts_(b, "\n");
	}
	family(b, "process_start_time_seconds", "gauge",
	       "Start time of the process since unix epoch in seconds.");
	puts_(b, "process_start_time_seconds ");
	put_fixed(b, r->start_us, 6, 1000000);
	puts_(b, "\n");
}

static char *render(const struct registry *r, size_t *len)
{
	struct buf b = {};
	unsigned k;

	render_genai(&b, r);
	render_calls(&b, r);
	for (k = 0; k < NHIST; k++)
		render_hist(&b, r, k);
	render_enforcement(&b, r);
	render_budgets(&b, r);
	render_health(&b, r);
	render_process(&b, r);
	if (b.err) {
		free(b.p);
		errno = -b.err;
		return NULL;
	}
	*len = b.len;
	return b.p;
}

char *metrics_render(struct metrics *m, size_t *len)
{
	struct registry *snap;
	char *out;

	snap = malloc(sizeof(*snap));
	if (!snap)
		return NULL;
	snapshot(m, snap);
	out = render(snap, len);
	free(snap);
	return out;
}

/* --- lifecycle ----------------------------------------------------------- */

/*
 * When this process started, in Unix microseconds, as Prometheus client
 * libraries compute process_start_time_seconds: the boot time (btime of
 * /proc/stat) plus the process's start in clock ticks after boot (field 22
 * of /proc/self/stat).  Read once: btime moves by a second now and then
 * with clock adjustments, and a start time must not.  Now, if /proc
 * cannot say.
 */
static int64_t start_time_us(void)
{
	unsigned long long ticks = 0, btime = 0;
	char line[256], self[1024], *p;
	long hz = sysconf(_SC_CLK_TCK);
	struct timespec ts;
	bool have = false;
	size_t n;
	FILE *f;
	int i;

	f = fopen("/proc/self/stat", "re");
	if (f) {
		n = fread(self, 1, sizeof(self) - 1, f);
		self[n] = '\0';
		fclose(f);
		/* after the comm, which may hold anything: state is field 3 */
		p = strrchr(self, ')');
		for (i = 3; p && i <= 22; i++)
			p = strchr(p + 1, ' ');
		have = p && sscanf(p, "%llu", &ticks) == 1;
	}
	f = have ? fopen("/proc/stat", "re") : NULL;
	have = false;
	if (f) {
		/* lines longer than line[] come in pieces, none of them "btime" */
		while (!have && fgets(line, sizeof(line), f))
			have = sscanf(line, "btime %llu", &btime) == 1;
		fclose(f);
	}
	if (have && hz > 0)
		return (int64_t)btime * 1000000 + (int64_t)(ticks * 1000000 / (unsigned long)hz);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct metrics *metrics_new(void)
{
	struct metrics *m;
	unsigned i;

	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	labels_init(&m->reg.teams, METRICS_MAX_TEAMS);
	labels_init(&m->reg.providers, METRICS_MAX_PROVIDERS);
	labels_init(&m->reg.models, METRICS_MAX_MODELS);
	labels_init(&m->reg.windows, METRICS_MAX_WINDOWS);
	m->reg.start_us = start_time_us();
	m->lfd = -1;
	m->wakefd = -1;
	for (i = 0; i < HTTP_MAX_CONN; i++)
		m->conns[i].fd = -1;
	return m;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
	c->inlen = c->outlen = c->outoff = 0;
}

void metrics_free(struct metrics *m)
{
	uint64_t one = 1;
	unsigned i;
	ssize_t wr;

	if (!m)
		return;
	if (m->running) {
		/* an eventfd write fails only on overflow, which still wakes */
		wr = write(m->wakefd, &one, sizeof(one));
		(void)wr;
		pthread_join(m->thread, NULL);
	}
	for (i = 0; i < HTTP_MAX_CONN; i++)
		conn_close(&m->conns[i]);
	if (m->lfd >= 0)
		close(m->lfd);
	if (m->wakefd >= 0)
		close(m->wakefd);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* --- HTTP server --------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void respond(struct conn *c, const char *status, const char *type, char *body,
		    size_t blen, bool head_only)
{
	struct buf b = {};

	putf(&b, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	     "Connection: close\r\n\r\n", status, type, blen);
	if (!head_only)
		put(&b, body, blen);
	free(body);
	if (b.err) {
		free(b.p);
		b.p = NULL;
		b.len = 0;
	}
	c->out = b.p;
	c->outlen = b.len;
	c->outoff = 0;
}

static void respond_text(struct conn *c, const char *status, const char *msg)
{
	respond(c, status, "text/plain; charset=utf-8", strdup(msg), strlen(msg), false);
}

static bool is_metrics(const char *target)
{
	size_t n = strcspn(target, "? \r\n");

	return n == strlen("/metrics") && !memcmp(target, "/metrics", n);
}

/* The request head is complete: answer it.  Only the request line counts. */
static void handle(struct metrics *m, struct conn *c)
{
	bool get, head;
	size_t len;
	char *body;

	c->in[c->inlen] = '\0';
	get = !strncmp(c->in, "GET ", 4);
	head = !strncmp(c->in, "HEAD ", 5);
	if (!get && !head) {
		respond_text(c, "405 Method Not Allowed", "method not allowed\n");
	} else if (!is_metrics(c->in + (get ? 4 : 5))) {
		respond_text(c, "404 Not Found", "not found\n");
	} else {
		body = metrics_render(m, &len);
		if (body)
			respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8",
				body, len, head);
		else
			respond_text(c, "500 Internal Server Error", "render failed\n");
	}
}

static bool head_done(const struct conn *c)
{
	return memmem(c->in, c->inlen, "\r\n\r\n", 4) || memmem(c->in, c->inlen, "\n\n", 2);
}

static void conn_read(struct metrics *m, struct conn *c)
{
	ssize_t n;

	/* one byte kept for the terminating NUL */
	n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->inlen += n;
	if (head_done(c))
		handle(m, c);
	else if (c->inlen == sizeof(c->in) - 1)
		respond_text(c, "431 Request Header Fields Too Large", "request head too large\n");
	else
		return;
	if (!c->out)		/* no memory for an answer */
		conn_close(c);
}

static void conn_write(struct conn *c)
{
	ssize_t n;

	n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n >= 0)
		c->outoff += n;
	if (n < 0 || c->outoff == c->outlen)
		conn_close(c);
}

/*
 * All slots busy: the newest scraper wins over the oldest connection,
 * which is the one most likely to be a client holding a slot idle.
 */
static struct conn *conn_slot(struct metrics *m)
{
	struct conn *c, *oldest = NULL;
	unsigned i;

	for (i = 0; i < HTTP_MAX_CONN; i++) {
		c = &m->conns[i];
		if (c->fd < 0)
			return c;
		if (!oldest || c->deadline_ms < oldest->deadline_ms)
			oldest = c;
	}
	conn_close(oldest);
	return oldest;
}

static void accept_all(struct metrics *m)
{
	struct conn *c;
	int fd;

	for (;;) {
		fd = accept4(m->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		c = conn_slot(m);
		c->fd = fd;
		c->deadline_ms = now_ms() + HTTP_TIMEOUT_MS;
	}
}

static int poll_timeout(struct metrics *m, uint64_t now)
{
	uint64_t first = UINT64_MAX;
	unsigned i;

	for (i = 0; i < HTTP_MAX_CONN; i++)
		if (m->conns[i].fd >= 0 && m->conns[i].deadline_ms < first)
			first = m->conns[i].deadline_ms;
	if (first == UINT64_MAX)
		return -1;
	return first > now ? (int)(first - now) : 0;
}

static void *serve(void *arg)
{
	struct pollfd pfd[2 + HTTP_MAX_CONN];
	struct metrics *m = arg;
	struct conn *c;
	unsigned i;
	uint64_t now;

	for (;;) {
		pfd[0] = (struct pollfd){ .fd = m->wakefd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = m->lfd, .events = POLLIN };
		for (i = 0; i < HTTP_MAX_CONN; i++) {
			c = &m->conns[i];
			pfd[2 + i] = (struct pollfd){ .fd = c->fd,
						      .events = c->out ? POLLOUT : POLLIN };
		}
		if (poll(pfd, 2 + HTTP_MAX_CONN, poll_timeout(m, now_ms())) < 0 &&
		    errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		now = now_ms();
		for (i = 0; i < HTTP_MAX_CONN; i++) {
			c = &m->conns[i];
			if (c->fd < 0 || pfd[2 + i].fd != c->fd)
				continue;
			if (c->deadline_ms <= now)
				conn_close(c);
			else if (pfd[2 + i].revents & (POLLERR | POLLNVAL))
				conn_close(c);
			else if (c->out && (pfd[2 + i].revents & (POLLOUT | POLLHUP)))
				conn_write(c);
			else if (!c->out && (pfd[2 + i].revents & (POLLIN | POLLHUP)))
				conn_read(m, c);
		}
		if (pfd[1].revents & POLLIN)
			accept_all(m);
	}
	return NULL;
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (loopback) into host and port. */
static int split_addr(const char *addr, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon, *h = addr;
	size_t n;

	if (addr[0] == '[') {
		colon = strstr(addr, "]:");
		if (!colon)
			return -EINVAL;
		h = addr + 1;
		n = colon - h;
		colon++;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return -EINVAL;
		n = colon - addr;
	}
	if (n >= hlen || strlen(colon + 1) >= plen || !colon[1])
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	if (!n)
		strcpy(host, "127.0.0.1");
	strcpy(port, colon + 1);
	return 0;
}

static int bind_addr(struct metrics *m, const char *host, const char *port, char *err,
		     size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_PASSIVE };
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addrinfo *ai;
	int fd, rc, one = 1;

	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "metrics: %s:%s: %s", host, port, gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto err_free;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		rc = -errno;
		goto err_close;
	}
	m->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						 : ((struct sockaddr_in *)&ss)->sin_port);
	m->lfd = fd;
	freeaddrinfo(ai);
	return 0;

err_close:
	close(fd);
err_free:
	freeaddrinfo(ai);
	snprintf(err, errlen, "metrics: %s:%s: %s", host, port, strerror(-rc));
	return rc;
}

int metrics_listen(struct metrics *m, const char *addr, char *err, size_t errlen)
{
	char host[256], port[16];
	int rc;

	if (!addr)
		addr = METRICS_DEFAULT_ADDR;
	if (!strcmp(addr, "off"))
		return 0;
	if (m->running) {
		snprintf(err, errlen, "metrics: already listening");
		return -EBUSY;
	}
	if (split_addr(addr, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen, "metrics: '%.64s': expected HOST:PORT or off", addr);
		return -EINVAL;
	}
	rc = bind_addr(m, host, port, err, errlen);
	if (rc)
		return rc;
	m->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->wakefd < 0) {
		rc = -errno;
		goto err_lfd;
	}
	rc = -pthread_create(&m->thread, NULL, serve, m);
	if (rc)
		goto err_wake;
	pthread_setname_np(m->thread, "tg-metrics");
	m->running = true;
	return 0;

err_wake:
	close(m->wakefd);
	m->wakefd = -1;
err_lfd:
	close(m->lfd);
	m->lfd = -1;
	m->port = 0;
	snprintf(err, errlen, "metrics: %s", strerror(-rc));
	return rc;
}

int metrics_port(const struct metrics *m)
{
	return m && m->lfd >= 0 ? m->port : 0;
}
