// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Budget state: spend per team and window, reserves of calls in flight,
 * and the verdict on a request that wants to start (include/budget.h).
 *
 * Everything here runs on the agent's capture thread, which both settles
 * calls and decides on held requests, so a verdict always sees every
 * settle that came before it in the ring: no locks, no races.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>
#include "budget.h"

#define SEC		1000000000LL
#define HOUR_NS		(3600 * SEC)
#define RATE_BUCKETS	60		/* the last hour, by minute */

/* A sum over the last span: buckets of width ns, the newest at head. */
struct roll {
	int64_t width;
	int64_t n;
	int64_t head;			/* absolute bucket number (t / width) */
	int64_t *v;
	int64_t sum;
};

struct bstate {
	const struct policy_budget *pb;
	int tokens;			/* the limit is in tokens */
	int64_t limit;
	int64_t start, end;		/* calendar: the current window */
	int64_t spent;			/* calendar: spent in it */
	struct roll roll;		/* rolling: the last span */
	uint32_t alerted;		/* thresholds fired in this window */
	int forecast_fired;
};

struct tstate {
	struct bstate *b;
	size_t nb;
	struct budget_amount reserved;
	uint64_t inflight;
	struct budget_amount dearest;	/* the dearest call seen */
	struct roll hour_nusd, hour_tokens;
};

struct budget_set {
	const struct policy *p;
	struct tstate *t;
	size_t nt;
};

/* --- time zones and windows --------------------------------------------- */

int budget_tz_set(const char *tz)
{
	char buf[300];

	if (!tz || !strcmp(tz, "UTC")) {
		setenv("TZ", "UTC0", 1);
	} else {
		if (strlen(tz) > 256 || tz[0] == '/' || strstr(tz, ".."))
			return -EINVAL;
		snprintf(buf, sizeof(buf), ":%s", tz);
		setenv("TZ", buf, 1);
	}
	tzset();
	return 0;
}

static int64_t tm_to_ns(struct tm *tm)
{
	tm->tm_isdst = -1;
	return (int64_t)mktime(tm) * SEC;
}

void budget_window(enum policy_window w, uint64_t span_ns, int64_t t,
		   int64_t *start, int64_t *end)
{
	time_t s = (time_t)(t / SEC);
	struct tm tm, e;

	if (w == PW_ROLLING) {
		*start = t - (int64_t)span_ns;
		*end = t;
		return;
	}
	localtime_r(&s, &tm);
	if (w == PW_HOUR) {
		/* local hours are an hour apart in absolute time, across DST
		 * too, and start on a local :00 (half-hour zones included) */
		*start = t - (t % SEC) - (int64_t)(tm.tm_min * 60 + tm.tm_sec) * SEC;
		*end = *start + HOUR_NS;
		return;
	}
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	if (w == PW_WEEK)
		tm.tm_mday -= (tm.tm_wday + 6) % 7;	/* back to Monday */
	else if (w == PW_MONTH)
		tm.tm_mday = 1;
	e = tm;
	*start = tm_to_ns(&tm);
	if (w == PW_DAY)
		e.tm_mday += 1;
	else if (w == PW_WEEK)
		e.tm_mday += 7;
	else
		e.tm_mon += 1;
	*end = tm_to_ns(&e);
}

/* --- rolling sums ------------------------------------------------------- */

static int roll_init(struct roll *r, int64_t span, int64_t nmax, int64_t now)
{
	r->width = span / nmax;
	if (r->width < SEC)
		r->width = SEC;
	r->n = (span + r->width - 1) / r->width;
	r->v = calloc((size_t)r->n, sizeof(*r->v));
	r->head = now / r->width;
	r->sum = 0;
	return r->v ? 0 : -ENOMEM;
}

static void roll_advance(struct roll *r, int64_t now)
{
	int64_t idx = now / r->width, i;

	if (idx <= r->head)
		return;
	if (idx - r->head >= r->n) {
		memset(r->v, 0, (size_t)r->n * sizeof(*r->v));
		r->sum = 0;
	} else {
		for (i = r->head + 1; i <= idx; i++) {
			r->sum -= r->v[i % r->n];
			r->v[i % r->n] = 0;
		}
	}
	r->head = idx;
}

static void roll_add(struct roll *r, int64_t ts, int64_t v, int64_t now)
{
	int64_t idx;

	roll_advance(r, now);
	idx = ts / r->width;
	if (idx > r->head)
		idx = r->head;		/* a clock a little ahead: now */
	if (idx <= r->head - r->n)
		return;			/* already out of the span */
	r->v[idx % r->n] += v;
	r->sum += v;
}

static int64_t roll_sum(struct roll *r, int64_t now)
{
	roll_advance(r, now);
	return r->sum;
}

/* --- the set ------------------------------------------------------------ */

static int64_t amount_of(const struct bstate *s, const struct budget_amount *a)
{
	return s->tokens ? a->tokens : a->nusd;
}

static void bstate_roll(struct bstate *s, int64_t now)
{
	if (s->pb->window == PW_ROLLING) {
		roll_advance(&s->roll, now);
		return;
	}
	if (now >= s->start && now < s->end)
		return;
	budget_window(s->pb->window, 0, now, &s->start, &s->end);
	s->spent = 0;
	s->alerted = 0;
	s->forecast_fired = 0;
}

static int64_t bstate_spent(struct bstate *s, int64_t now)
{
	bstate_roll(s, now);
	return s->pb->window == PW_ROLLING ? roll_sum(&s->roll, now) : s->spent;
}

void budget_free(struct budget_set *b)
{
	size_t i, j;

	if (!b)
		return;
	for (i = 0; i < b->nt; i++) {
		for (j = 0; j < b->t[i].nb; j++)
			free(b->t[i].b[j].roll.v);
		free(b->t[i].b);
		free(b->t[i].hour_nusd.v);
		free(b->t[i].hour_tokens.v);
	}
	free(b->t);
	free(b);
}

static int team_init(struct tstate *t, const struct policy_team *pt, int64_t now)
{
	size_t j;

	if (roll_init(&t->hour_nusd, HOUR_NS, RATE_BUCKETS, now) ||
	    roll_init(&t->hour_tokens, HOUR_NS, RATE_BUCKETS, now))
		return -ENOMEM;
	if (!pt->nbudgets)
		return 0;
	t->b = calloc(pt->nbudgets, sizeof(*t->b));
	if (!t->b)
		return -ENOMEM;
	t->nb = pt->nbudgets;
	for (j = 0; j < t->nb; j++) {
		struct bstate *s = &t->b[j];

		s->pb = &pt->budgets[j];
		s->tokens = s->pb->limit_tokens >= 0;
		s->limit = s->tokens ? s->pb->limit_tokens : s->pb->limit_nusd;
		if (s->pb->window == PW_ROLLING) {
			if (roll_init(&s->roll, (int64_t)s->pb->rolling_ns,
				      BUDGET_ROLL_BUCKETS, now))
				return -ENOMEM;
		} else {
			budget_window(s->pb->window, 0, now, &s->start, &s->end);
		}
	}
	return 0;
}

struct budget_set *budget_new(const struct policy *p, int64_t now_ns)
{
	struct budget_set *b = calloc(1, sizeof(*b));
	size_t i;

	if (!b)
		return NULL;
	b->p = p;
	b->t = calloc(p->nteams ? p->nteams : 1, sizeof(*b->t));
	if (!b->t) {
		free(b);
		return NULL;
	}
	b->nt = p->nteams;
	for (i = 0; i < b->nt; i++) {
		if (team_init(&b->t[i], &p->teams[i], now_ns)) {
			budget_free(b);
			return NULL;
		}
	}
	return b;
}

void budget_tick(struct budget_set *b, int64_t now_ns)
{
	size_t i, j;

	for (i = 0; i < b->nt; i++)
		for (j = 0; j < b->t[i].nb; j++)
			bstate_roll(&b->t[i].b[j], now_ns);
}

static struct tstate *team_of(const struct budget_set *b, int team)
{
	return team >= 0 && (size_t)team < b->nt ? &b->t[team] : NULL;
}

void budget_charge(struct budget_set *b, int team, int64_t ts_ns,
		   const struct budget_amount *a, int64_t now_ns)
{
	struct tstate *t = team_of(b, team);
	size_t j;

	if (!t)
		return;
	if (a->nusd > t->dearest.nusd)
		t->dearest.nusd = a->nusd;
	if (a->tokens > t->dearest.tokens)
		t->dearest.tokens = a->tokens;
	roll_add(&t->hour_nusd, ts_ns, a->nusd, now_ns);
	roll_add(&t->hour_tokens, ts_ns, a->tokens, now_ns);
	for (j = 0; j < t->nb; j++) {
		struct bstate *s = &t->b[j];

		bstate_roll(s, now_ns);
		if (s->pb->window == PW_ROLLING)
			roll_add(&s->roll, ts_ns, amount_of(s, a), now_ns);
		else if (ts_ns >= s->start && ts_ns < s->end)
			s->spent += amount_of(s, a);
		else if (ts_ns >= s->end)
			s->spent += amount_of(s, a);	/* a clock a little ahead */
		/* else: it started in a window already closed */
	}
}

void budget_reserve(struct budget_set *b, int team, const struct budget_amount *a)
{
	struct tstate *t = team_of(b, team);

	if (!t)
		return;
	t->reserved.nusd += a->nusd;
	t->reserved.tokens += a->tokens;
	t->inflight++;
}

void budget_unreserve(struct budget_set *b, int team, const struct budget_amount *a)
{
	struct tstate *t = team_of(b, team);

	if (!t)
		return;
	t->reserved.nusd -= a->nusd;
	t->reserved.tokens -= a->tokens;
	if (t->reserved.nusd < 0)
		t->reserved.nusd = 0;
	if (t->reserved.tokens < 0)
		t->reserved.tokens = 0;
	if (t->inflight)
		t->inflight--;
}

uint64_t budget_inflight(const struct budget_set *b, int team)
{
	const struct tstate *t = team_of(b, team);

	return t ? t->inflight : 0;
}

static int severity(enum policy_action a)
{
	return a == PA_KILL ? 3 : a == PA_BLOCK ? 2 : a == PA_THROTTLE ? 1 : 0;
}

/*
 * One hard budget's verdict on a request reserving a (strict: sa).  Near
 * the limit means the request, or any of those in flight, could cross it:
 * m is what one request could add (the dearest call seen, or this one's
 * worst case: its input and its output limit).  Near it, a request goes
 * only when nothing else is in flight; it waits for those that are, or,
 * when it cannot wait (they are its own process's, or its hold timed
 * out), is refused.
 */
static enum budget_verdict one_verdict(struct bstate *s, int64_t spent, int64_t reserved,
				       int64_t a, int64_t sa, int64_t dearest, int cannot_wait)
{
	int64_t m = a > dearest ? a : dearest;

	if (sa > m)
		m = sa;
	if (spent >= s->limit)
		return BV_DENY;
	if (spent + reserved + m < s->limit)
		return BV_ALLOW;
	if (reserved > 0)
		return cannot_wait ? BV_DENY : BV_WAIT;
	if (s->pb->strict && spent + sa > s->limit)
		return BV_DENY;
	return BV_ALLOW;		/* alone: it may cross, by itself at most */
}

void budget_decide(struct budget_set *b, int team, const struct budget_amount *est,
		   const struct budget_amount *strict_est, int cannot_wait,
		   int64_t now_ns, struct budget_decision *d)
{
	struct tstate *t = team_of(b, team);
	enum budget_verdict v;
	int64_t spent, reserved;
	size_t j;

	memset(d, 0, sizeof(*d));
	d->verdict = BV_ALLOW;
	d->budget = -1;
	if (!t)
		return;
	for (j = 0; j < t->nb; j++) {
		struct bstate *s = &t->b[j];

		if (s->pb->action == PA_ALERT)
			continue;
		spent = bstate_spent(s, now_ns);
		reserved = amount_of(s, &t->reserved);
		v = one_verdict(s, spent, reserved, amount_of(s, est), amount_of(s, strict_est),
				amount_of(s, &t->dearest), cannot_wait);
		if (v < d->verdict || (v == d->verdict &&
		    (v == BV_ALLOW || severity(s->pb->action) <= severity(d->action))))
			continue;
		d->verdict = v;
		d->budget = (int)j;
		d->action = s->pb->action;
		d->spent = spent;
		d->reserved = reserved;
		d->limit = s->limit;
		d->tokens = s->tokens;
	}
}

int budget_near(const struct budget_set *b, int team)
{
	const struct tstate *t = team_of(b, team);
	int64_t spent, m;
	size_t j;

	if (!t)
		return 0;
	for (j = 0; j < t->nb; j++) {
		struct bstate *s = &t->b[j];

		if (s->pb->action == PA_ALERT)
			continue;
		if (s->pb->strict)
			return 1;	/* every request's reserve must be checked */
		spent = s->pb->window == PW_ROLLING ? s->roll.sum : s->spent;
		m = amount_of(s, &t->dearest);
		if (spent + amount_of(s, &t->reserved) + m >= s->limit)
			return 1;
	}
	return 0;
}

/* --- alerts and views --------------------------------------------------- */

static int64_t rate_of(struct tstate *t, const struct bstate *s, int64_t now)
{
	return s->tokens ? roll_sum(&t->hour_tokens, now) : roll_sum(&t->hour_nusd, now);
}

/* (a * b) / c without overflowing for the sizes money and time reach. */
static int64_t muldiv(int64_t a, int64_t b, int64_t c)
{
	return c ? (int64_t)((__int128)a * b / c) : 0;
}

size_t budget_alerts(struct budget_set *b, int64_t now_ns, struct budget_alert *out, size_t cap)
{
	size_t i, j, k, n = 0;

	for (i = 0; i < b->nt; i++) {
		struct tstate *t = &b->t[i];

		for (j = 0; j < t->nb; j++) {
			struct bstate *s = &t->b[j];
			int64_t spent = bstate_spent(s, now_ns), rate, proj;
			struct budget_alert a = {
				.team = (int)i, .budget = (int)j, .spent = spent,
				.limit = s->limit, .tokens = s->tokens,
				.window_start = s->pb->window == PW_ROLLING ?
						now_ns - (int64_t)s->pb->rolling_ns : s->start,
				.window_end = s->pb->window == PW_ROLLING ? now_ns : s->end,
			};

			for (k = 0; k < s->pb->nalert && n < cap; k++) {
				int64_t bp = s->pb->alert_at_bp[k];

				if (s->alerted & (1u << k) ||
				    (__int128)spent * 10000 < (__int128)s->limit * bp)
					continue;
				s->alerted |= 1u << k;
				a.threshold_bp = bp;
				out[n++] = a;
			}
			if (s->pb->window == PW_ROLLING || s->forecast_fired || n >= cap ||
			    spent >= s->limit)
				continue;
			rate = rate_of(t, s, now_ns);
			proj = spent + muldiv(rate, s->end - now_ns, HOUR_NS);
			if (proj <= s->limit)
				continue;
			s->forecast_fired = 1;
			a.threshold_bp = 0;
			a.projected = proj;
			out[n++] = a;
		}
	}
	return n;
}

int budget_view(const struct budget_set *b, int team, int budget, int64_t now_ns,
		struct budget_view *v)
{
	struct tstate *t = team_of(b, team);
	struct bstate *s;
	int64_t rate, at;

	if (!t || budget < 0 || (size_t)budget >= t->nb)
		return -ENOENT;
	s = &t->b[budget];
	memset(v, 0, sizeof(*v));
	v->pb = s->pb;
	v->spent = bstate_spent(s, now_ns);
	v->reserved = amount_of(s, &t->reserved);
	v->limit = s->limit;
	v->tokens = s->tokens;
	v->window_start = s->pb->window == PW_ROLLING ? now_ns - (int64_t)s->pb->rolling_ns
						       : s->start;
	v->window_end = s->pb->window == PW_ROLLING ? now_ns : s->end;
	rate = rate_of(t, s, now_ns);
	v->rate_per_hour = rate;
	if (rate > 0 && v->spent < v->limit) {
		at = now_ns + muldiv(v->limit - v->spent, HOUR_NS, rate);
		if (s->pb->window == PW_ROLLING || at < s->end)
			v->exhaust_at = at;
	}
	return 0;
}

/* --- restoring from the ledger ------------------------------------------ */

#define TOKENS_SQL "input_tokens + cached_input_tokens + cache_write_tokens + output_tokens"

static int restore_team(struct budget_set *b, sqlite3_stmt *st, int team, int64_t since,
			int64_t now)
{
	struct budget_amount a;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, b->p->teams[team].name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		a.nusd = sqlite3_column_int64(st, 1);
		a.tokens = sqlite3_column_int64(st, 2);
		budget_charge(b, team, sqlite3_column_int64(st, 0), &a, now);
	}
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Thresholds already crossed when the agent starts were alerted by the run
 * that crossed them: once per window, across restarts too. */
static void mark_alerted(struct tstate *t, int64_t now)
{
	size_t j, k;

	for (j = 0; j < t->nb; j++) {
		struct bstate *s = &t->b[j];
		int64_t spent = bstate_spent(s, now);

		for (k = 0; k < s->pb->nalert; k++)
			if ((__int128)spent * 10000 >= (__int128)s->limit * s->pb->alert_at_bp[k])
				s->alerted |= 1u << k;
	}
}

/* The earliest moment any of team's windows (and the last hour) reaches. */
static int64_t team_since(struct tstate *t, int64_t now)
{
	int64_t since = now - HOUR_NS, s;
	size_t j;

	for (j = 0; j < t->nb; j++) {
		bstate_roll(&t->b[j], now);
		s = t->b[j].pb->window == PW_ROLLING ? now - (int64_t)t->b[j].pb->rolling_ns
						      : t->b[j].start;
		if (s < since)
			since = s;
	}
	return since;
}

int budget_restore(struct budget_set *b, struct sqlite3 *db, int64_t now_ns,
		   char *err, size_t errlen)
{
	sqlite3_stmt *st;
	size_t i;
	int rc = 0;

	if (sqlite3_prepare_v2(db, "SELECT ts_ns, coalesce(cost_nano, 0),"
			       " coalesce(" TOKENS_SQL ", 0) FROM calls"
			       " WHERE team = ?1 AND ts_ns >= ?2", -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "ledger: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	for (i = 0; i < b->nt && !rc; i++) {
		if (!b->t[i].nb)
			continue;
		rc = restore_team(b, st, (int)i, team_since(&b->t[i], now_ns), now_ns);
		if (rc)
			snprintf(err, errlen, "ledger: %s", sqlite3_errmsg(db));
		else
			mark_alerted(&b->t[i], now_ns);
	}
	sqlite3_finalize(st);
	return rc;
}
