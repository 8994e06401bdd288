/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Budget state (DESIGN §7): each team's spend in each of its budgets'
 * windows, what its requests in flight have reserved, and whether a new
 * request may start.  Pure bookkeeping: no clock of its own (every call
 * takes now), no I/O but the ledger restore, no signals; the enforcer
 * (user/enforce.c) turns verdicts into actions.
 *
 * Windows: hour, day, week (from Monday) and month are calendar windows in
 * the policy's time zone (budget_tz_set), aligned to local midnight and
 * rolling over at the exact local boundary, DST included; rolling:DUR is
 * the last DUR, kept in at most BUDGET_ROLL_BUCKETS buckets (so a charge
 * leaves it within DUR / BUDGET_ROLL_BUCKETS, at least 1 s, of exact).
 * A call counts in the window its request started in, as in the ledger,
 * so a restart restores exactly what was counted.
 *
 * Hard limits (block, kill, throttle): a request may start only while
 * settled spend plus what requests in flight reserve is below the limit.
 * Far from it (further than one request could add: the dearest call seen,
 * or this request's worst case, its input and its output limit at the
 * output price), requests start at once.  Near it, a request waits until
 * the team's calls in flight have settled, then is decided on settled
 * spend: concurrent requests cannot jointly overshoot, and the overshoot
 * is at most the one request that crosses.  A request that cannot wait
 * (the calls in flight are its own process's, or its hold timed out) is
 * refused while others are in flight.  A strict budget also requires the
 * request's worst case to fit.  Money is nano-USD, time is ns since the
 * epoch.
 */
#ifndef TOLLGATE_BUDGET_H
#define TOLLGATE_BUDGET_H

#include <stddef.h>
#include <stdint.h>
#include "policy.h"

#define BUDGET_ROLL_BUCKETS	512

struct sqlite3;
struct budget_set;

/* The time zone calendar windows follow: NULL or "UTC", or an IANA name.
 * Process-wide (TZ), as a policy has one.  0 or -EINVAL. */
int budget_tz_set(const char *tz);

/* [start, end) of the calendar window holding t (PW_HOUR..PW_MONTH), in the
 * zone budget_tz_set() chose; for PW_ROLLING, (t - span, t]. */
void budget_window(enum policy_window w, uint64_t span_ns, int64_t t,
		   int64_t *start, int64_t *end);

/* The policy's budgets, all at zero, windows holding now.  NULL: ENOMEM. */
struct budget_set *budget_new(const struct policy *p, int64_t now_ns);
void budget_free(struct budget_set *b);

/*
 * Spend of every budget from the ledger's calls (settled, interrupted and
 * open rows alike: an open row's estimate is spend too) whose start is in
 * the budget's current window.  0 or -EIO with err.
 */
int budget_restore(struct budget_set *b, struct sqlite3 *db, int64_t now_ns,
		   char *err, size_t errlen);

/* Move every window to now: a new calendar window starts at zero. */
void budget_tick(struct budget_set *b, int64_t now_ns);

/* What a call costs a budget: money, or all its tokens. */
struct budget_amount {
	int64_t nusd;
	int64_t tokens;
};

/* A settled call of team (its start ts_ns). */
void budget_charge(struct budget_set *b, int team, int64_t ts_ns,
		   const struct budget_amount *a, int64_t now_ns);

/* Requests in flight: reserve when one starts, release when it settles
 * (with what was reserved), before or after charging what it cost. */
void budget_reserve(struct budget_set *b, int team, const struct budget_amount *a);
void budget_unreserve(struct budget_set *b, int team, const struct budget_amount *a);

enum budget_verdict {
	BV_ALLOW,		/* may start */
	BV_WAIT,		/* near a limit: wait for the calls in flight */
	BV_DENY,		/* at or over a hard limit (or a strict one would be) */
};

struct budget_decision {
	enum budget_verdict verdict;
	int budget;			/* the governing budget, -1: none */
	enum policy_action action;	/* its action (BV_DENY) */
	int64_t spent, reserved, limit;	/* its figures, in its unit */
	int tokens;			/* 1: the figures are tokens */
};

/*
 * May team's request start now?  est is the request's own reserve (strict
 * budgets: input and max_tokens at the output price; else its input),
 * strict_est its worst case, cannot_wait: the team's calls in flight cannot
 * settle while this request is held (they are the held process's own), or
 * it has waited as long as it may.
 */
void budget_decide(struct budget_set *b, int team, const struct budget_amount *est,
		   const struct budget_amount *strict_est, int cannot_wait,
		   int64_t now_ns, struct budget_decision *d);

/* 1 when a request of team could be near or past a hard limit: the team's
 * processes must be held at each request start to be decided. */
int budget_near(const struct budget_set *b, int team);

/* An alert threshold (or a forecast) a budget crossed, once per window. */
struct budget_alert {
	int team, budget;
	int64_t threshold_bp;		/* 0: a forecast alert */
	int64_t spent, limit;		/* in the budget's unit */
	int tokens;
	int64_t window_start, window_end;
	int64_t projected;		/* forecast: spend projected at window_end */
};

/* Thresholds crossed since the last call (and forecast exhaustions), each
 * once per window; returns how many were written (at most cap; the rest
 * come next time). */
size_t budget_alerts(struct budget_set *b, int64_t now_ns, struct budget_alert *out, size_t cap);

/* A budget's figures now, for `policy check`, top and metrics. */
struct budget_view {
	const struct policy_budget *pb;
	int64_t spent, reserved, limit;
	int tokens;
	int64_t window_start, window_end;
	int64_t rate_per_hour;		/* the last hour's spend (its unit) */
	int64_t exhaust_at;		/* when the last hour's rate runs it out;
					   0: not within the window */
};
int budget_view(const struct budget_set *b, int team, int budget, int64_t now_ns,
		struct budget_view *v);

/* The team's calls in flight, and the dearest call it has made. */
uint64_t budget_inflight(const struct budget_set *b, int team);

#endif
