// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Budget state: calendar windows in a time zone (across DST changes and in
 * a half-hour zone), rolling windows, the hard-limit verdicts (far, near,
 * crossing, over, strict, a process's own calls in flight), the tightest
 * budget governing, thresholds once per window, forecasts, and spend
 * restored from a real ledger.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>
#include "budget.h"
#include "ledger.h"
#include "log.h"
#include "policy.h"
#include "tap.h"

#define SEC	1000000000LL
#define MIN	(60 * SEC)
#define HOUR	(3600 * SEC)
#define DAY	(24 * HOUR)
#define USD	1000000000LL

/* 2024-03-06T12:00:00Z, a Wednesday */
#define NOW	(1709726400LL * SEC)

static int64_t utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = mi };

	return (int64_t)timegm(&tm) * SEC;
}

static struct policy *load(const char *yaml)
{
	struct policy *p = NULL;
	char err[512] = "";
	int rc = policy_load_mem("t.yaml", yaml, strlen(yaml), &p, err, sizeof(err));

	CHECK(rc == 0 && p, "policy: %s", err);
	return p;
}

static void win(enum policy_window w, int64_t t, int64_t want_s, int64_t want_e, int line)
{
	int64_t s, e;

	budget_window(w, 0, t, &s, &e);
	CHECK(s == want_s && e == want_e, "line %d: [%lld, %lld) want [%lld, %lld)", line,
	      (long long)s, (long long)e, (long long)want_s, (long long)want_e);
}

#define WIN(w, t, s, e) win(w, t, s, e, __LINE__)

static void test_windows_utc(void)
{
	CHECK(!budget_tz_set(NULL), "utc");
	WIN(PW_HOUR, NOW + 59 * MIN, NOW, NOW + HOUR);
	WIN(PW_DAY, NOW, NOW - 12 * HOUR, NOW + 12 * HOUR);
	WIN(PW_WEEK, NOW, utc(2024, 3, 4, 0, 0), utc(2024, 3, 11, 0, 0));
	WIN(PW_MONTH, NOW, utc(2024, 3, 1, 0, 0), utc(2024, 4, 1, 0, 0));
	/* a boundary belongs to the window it starts */
	WIN(PW_DAY, utc(2024, 3, 7, 0, 0), utc(2024, 3, 7, 0, 0), utc(2024, 3, 8, 0, 0));
	WIN(PW_MONTH, utc(2024, 2, 29, 23, 59), utc(2024, 2, 1, 0, 0), utc(2024, 3, 1, 0, 0));
	WIN(PW_WEEK, utc(2024, 3, 10, 23, 59), utc(2024, 3, 4, 0, 0), utc(2024, 3, 11, 0, 0));
	WIN(PW_MONTH, utc(2024, 12, 31, 12, 0), utc(2024, 12, 1, 0, 0), utc(2025, 1, 1, 0, 0));
}

/* New York: EST (-5) to EDT (-4) on 2024-03-10 at 02:00, back on 11-03. */
static void test_windows_dst(void)
{
	CHECK(!budget_tz_set("America/New_York"), "tz");
	/* the short day: 23 hours */
	WIN(PW_DAY, utc(2024, 3, 10, 16, 0), utc(2024, 3, 10, 5, 0), utc(2024, 3, 11, 4, 0));
	/* the long day: 25 hours */
	WIN(PW_DAY, utc(2024, 11, 3, 16, 0), utc(2024, 11, 3, 4, 0), utc(2024, 11, 4, 5, 0));
	/* 01:30 comes twice on 11-03: two different hours */
	WIN(PW_HOUR, utc(2024, 11, 3, 5, 30), utc(2024, 11, 3, 5, 0), utc(2024, 11, 3, 6, 0));
	WIN(PW_HOUR, utc(2024, 11, 3, 6, 30), utc(2024, 11, 3, 6, 0), utc(2024, 11, 3, 7, 0));
	/* the week and the month span the change */
	WIN(PW_WEEK, utc(2024, 3, 10, 16, 0), utc(2024, 3, 4, 5, 0), utc(2024, 3, 11, 4, 0));
	WIN(PW_MONTH, utc(2024, 3, 10, 16, 0), utc(2024, 3, 1, 5, 0), utc(2024, 4, 1, 4, 0));
	/* 23:30 local on 03-09 is still the 9th */
	WIN(PW_DAY, utc(2024, 3, 10, 4, 30), utc(2024, 3, 9, 5, 0), utc(2024, 3, 10, 5, 0));

	/* Kolkata, +05:30: hours start at :30 UTC */
	CHECK(!budget_tz_set("Asia/Kolkata"), "tz");
	WIN(PW_HOUR, NOW, NOW - 30 * MIN, NOW + 30 * MIN);
	WIN(PW_DAY, NOW, utc(2024, 3, 5, 18, 30), utc(2024, 3, 6, 18, 30));
	CHECK(budget_tz_set("../etc/passwd") == -EINVAL, "refused");
	budget_tz_set(NULL);
}

static const char one_team[] =
	"version: 1\n"
	"teams:\n"
	"  - name: a\n"
	"    match: { uid: [1000] }\n"
	"    budgets:\n"
	"      - { window: day, limit_usd: 1, alert_at: [50%, 80%], action: block }\n"
	"  - name: b\n"
	"    match: { any: true }\n";

static struct budget_amount usd(int64_t nusd)
{
	return (struct budget_amount){ .nusd = nusd, .tokens = 0 };
}

static enum budget_verdict decide(struct budget_set *b, int64_t est, int alone,
				  struct budget_decision *d)
{
	struct budget_amount e = usd(est);

	budget_decide(b, 0, &e, &e, alone, NOW, d);
	return d->verdict;
}

/* The test in numbers: $1.00 a day, calls of $0.45, back to back. */
static void test_hard_limit(void)
{
	struct policy *p = load(one_team);
	struct budget_decision d;
	struct budget_amount c = usd(45 * USD / 100), e = usd(USD / 100);
	struct budget_set *b;
	int i, started = 0;

	budget_tz_set(NULL);
	b = p ? budget_new(p, NOW) : NULL;
	CHECK(b != NULL, "new");
	if (!b)
		goto out;
	for (i = 0; i < 6; i++) {
		if (decide(b, e.nusd, 0, &d) != BV_ALLOW)
			continue;
		started++;
		budget_reserve(b, 0, &e);
		budget_unreserve(b, 0, &e);
		budget_charge(b, 0, NOW, &c, NOW);
	}
	CHECK_EQ_INT(started, 3);
	CHECK(d.verdict == BV_DENY && d.action == PA_BLOCK && d.budget == 0, "deny");
	CHECK_EQ_INT(d.spent, 135 * USD / 100);
	CHECK_EQ_INT(d.limit, USD);
	/* team b has no budget: never held */
	budget_decide(b, 1, &e, &e, 0, NOW, &d);
	CHECK(d.verdict == BV_ALLOW && d.budget == -1, "b");
	CHECK(!budget_near(b, 1), "b not near");
	/* the next day starts at zero */
	budget_tick(b, NOW + DAY);
	budget_decide(b, 0, &e, &e, 0, NOW + DAY, &d);
	CHECK(d.verdict == BV_ALLOW, "tomorrow");
out:
	budget_free(b);
	policy_free(p);
}

/* Concurrent requests: far, near (wait for the calls in flight), crossing. */
static void test_near(void)
{
	struct policy *p = load(one_team);
	struct budget_amount c = usd(45 * USD / 100);
	struct budget_decision d;
	struct budget_set *b = p ? budget_new(p, NOW) : NULL;

	if (!b)
		goto out;
	budget_charge(b, 0, NOW, &c, NOW);		/* dearest: $0.45 */
	budget_unreserve(b, 0, &c);			/* (nothing reserved: stays 0) */
	CHECK(!budget_near(b, 0), "0.45 + 0.45 < 1: far");
	CHECK(decide(b, c.nusd, 0, &d) == BV_ALLOW, "far");
	/* a request whose worst case is $0.60 is near: 0.45 + 0.60 >= 1 */
	budget_reserve(b, 0, &c);
	budget_decide(b, 0, &c, &(struct budget_amount){ .nusd = 60 * USD / 100 }, 0, NOW, &d);
	CHECK(d.verdict == BV_WAIT, "worst case near: waits");
	budget_unreserve(b, 0, &c);
	budget_reserve(b, 0, &c);			/* 0.45 settled + 0.45 in flight */
	CHECK(budget_near(b, 0), "near");
	CHECK(decide(b, c.nusd, 0, &d) == BV_WAIT, "another waits");
	CHECK(decide(b, c.nusd, 1, &d) == BV_DENY, "cannot wait: refused while one is in flight");
	/* it settles: 0.90 spent, nothing in flight: the next may cross */
	budget_unreserve(b, 0, &c);
	budget_charge(b, 0, NOW, &c, NOW);
	CHECK(decide(b, c.nusd, 0, &d) == BV_ALLOW, "0.90 < 1: may cross");
	budget_reserve(b, 0, &c);
	CHECK(decide(b, c.nusd, 0, &d) == BV_WAIT, "others wait for it");
	budget_unreserve(b, 0, &c);
	budget_charge(b, 0, NOW, &c, NOW);		/* 1.35 spent */
	CHECK_EQ_INT(budget_inflight(b, 0), 0);
	CHECK(decide(b, c.nusd, 0, &d) == BV_DENY, "over");
out:
	budget_free(b);
	policy_free(p);
}

static void test_strict_tokens_tightest(void)
{
	struct policy *p = load(
		"version: 1\n"
		"teams:\n"
		"  - name: a\n"
		"    match: { any: true }\n"
		"    budgets:\n"
		"      - { window: month, limit_usd: 10, action: block, strict: true }\n"
		"      - { window: day, limit_tokens: 1000, action: kill }\n"
		"      - { window: hour, limit_usd: 0.5, action: alert }\n");
	struct budget_amount est = { .nusd = USD / 10, .tokens = 100 };
	struct budget_amount big = { .nusd = 6 * USD, .tokens = 100 };
	struct budget_amount spend = { .nusd = 5 * USD, .tokens = 900 };
	struct budget_decision d;
	struct budget_set *b = p ? budget_new(p, NOW) : NULL;

	if (!b)
		goto out;
	budget_decide(b, 0, &est, &est, 0, NOW, &d);
	CHECK(d.verdict == BV_ALLOW, "fits");
	CHECK(budget_near(b, 0), "strict: always decided");
	budget_charge(b, 0, NOW, &spend, NOW);
	/* $5 + a $6 strict reserve > $10: refused though $5 < $10 */
	budget_decide(b, 0, &est, &big, 0, NOW, &d);
	CHECK(d.verdict == BV_DENY && d.budget == 0 && d.action == PA_BLOCK, "strict %d %d",
	      d.verdict, d.budget);
	/* 900 + 100 tokens: the day's token budget is the tightest, and kills */
	budget_charge(b, 0, NOW, &(struct budget_amount){ .nusd = 0, .tokens = 100 }, NOW);
	budget_decide(b, 0, &est, &big, 0, NOW, &d);
	CHECK(d.verdict == BV_DENY && d.budget == 1 && d.action == PA_KILL && d.tokens,
	      "kill %d %d", d.verdict, d.budget);
	CHECK_EQ_INT(d.spent, 1000);
	/* an alert-only budget never holds a request: $5 > $0.50 */
	CHECK(d.budget != 2, "alert");
out:
	budget_free(b);
	policy_free(p);
}

static void test_rolling(void)
{
	struct policy *p = load(
		"version: 1\n"
		"teams:\n"
		"  - name: a\n"
		"    match: { any: true }\n"
		"    budgets:\n"
		"      - { window: \"rolling:15m\", limit_usd: 1, action: block }\n");
	struct budget_amount c = usd(60 * USD / 100), e = usd(1);
	struct budget_decision d;
	struct budget_view v;
	struct budget_set *b = p ? budget_new(p, NOW) : NULL;

	if (!b)
		goto out;
	budget_charge(b, 0, NOW, &c, NOW);
	budget_charge(b, 0, NOW + 5 * MIN, &c, NOW + 5 * MIN);
	budget_decide(b, 0, &e, &e, 0, NOW + 10 * MIN, &d);
	CHECK(d.verdict == BV_DENY, "1.20 in the last 15m");
	/* the first leaves the span 15 minutes after it started */
	budget_decide(b, 0, &e, &e, 0, NOW + 15 * MIN + 2 * SEC, &d);
	CHECK(d.verdict == BV_ALLOW, "0.60 left: %lld", (long long)d.spent);
	CHECK(!budget_view(b, 0, 0, NOW + 15 * MIN + 2 * SEC, &v), "view");
	CHECK_EQ_INT(v.spent, 60 * USD / 100);
	budget_decide(b, 0, &e, &e, 0, NOW + 21 * MIN, &d);
	CHECK_EQ_INT(d.spent, 0);
out:
	budget_free(b);
	policy_free(p);
}

static void test_alerts(void)
{
	struct policy *p = load(one_team);
	struct budget_alert a[8];
	struct budget_set *b = p ? budget_new(p, NOW) : NULL;
	struct budget_view v;
	size_t n;

	if (!b)
		goto out;
	CHECK_EQ_INT(budget_alerts(b, NOW, a, 8), 0);
	budget_charge(b, 0, NOW - 2 * HOUR, &(struct budget_amount){ .nusd = 60 * USD / 100 }, NOW);
	n = budget_alerts(b, NOW, a, 8);
	CHECK(n == 1 && a[0].threshold_bp == 5000 && a[0].spent == 60 * USD / 100 &&
	      a[0].team == 0 && a[0].window_start == NOW - 12 * HOUR, "50%%: %zu", n);
	CHECK_EQ_INT(budget_alerts(b, NOW, a, 8), 0);
	/* $0.10 in the last hour: 12 hours left project $0.60 + 1.20 > $1 */
	budget_charge(b, 0, NOW - 10 * MIN, &(struct budget_amount){ .nusd = 10 * USD / 100 },
		      NOW);
	n = budget_alerts(b, NOW, a, 8);
	CHECK(n == 1 && a[0].threshold_bp == 0 && a[0].projected == 190 * USD / 100,
	      "forecast: %zu %lld", n, n ? (long long)a[0].projected : 0LL);
	CHECK(!budget_view(b, 0, 0, NOW, &v), "view");
	CHECK_EQ_INT(v.rate_per_hour, 10 * USD / 100);
	CHECK_EQ_INT(v.exhaust_at, NOW + 3 * HOUR);	/* $0.30 left at $0.10/h */
	budget_charge(b, 0, NOW, &(struct budget_amount){ .nusd = 20 * USD / 100 }, NOW);
	n = budget_alerts(b, NOW, a, 8);
	CHECK(n == 1 && a[0].threshold_bp == 8000, "80%%: %zu", n);
	/* a new day: thresholds again */
	budget_charge(b, 0, NOW + DAY, &(struct budget_amount){ .nusd = 90 * USD / 100 },
		      NOW + DAY);
	n = budget_alerts(b, NOW + DAY, a, 8);
	CHECK(n == 3 && a[0].threshold_bp == 5000 && a[1].threshold_bp == 8000 &&
	      a[2].threshold_bp == 0, "day 2: 50%%, 80%% and a forecast: %zu", n);
out:
	budget_free(b);
	policy_free(p);
}

/* Spend comes back from the ledger: the window's rows only, alerts not
 * repeated, the dearest call known. */
static void test_restore(void)
{
	char dir[] = "/tmp/tollgate-budget.XXXXXX", path[128] = "", err[256] = "";
	struct policy *p = load(one_team);
	struct budget_decision d;
	struct budget_alert a[4];
	struct budget_set *b = NULL;
	struct budget_view v;
	struct ledger *l;
	sqlite3 *db;
	int i;

	if (!p || !mkdtemp(dir))
		goto out;
	snprintf(path, sizeof(path), "%s/ledger.db", dir);
	l = ledger_open(path, err, sizeof(err));
	CHECK(l != NULL, "ledger: %s", err);
	if (!l)
		goto out;
	for (i = 0; i < 4; i++) {
		struct ledger_call c = {
			.seq = (uint64_t)i + 1, .team = i == 3 ? "b" : "a",
			.ts_ns = i == 0 ? NOW - DAY : NOW - HOUR + i,
			.cost_nano = 45 * USD / 100, .usage = { .input_tokens = 10 },
			.usage_source = "provider", .ttft_ns = -1, .duration_ns = -1,
			.end_ns = NOW,
		};
		ledger_call_settle(l, &c);
	}
	ledger_close(l);
	db = ledger_open_readonly(path, err, sizeof(err));
	CHECK(db != NULL, "ro: %s", err);
	if (!db)
		goto out;
	b = budget_new(p, NOW);
	CHECK(b && !budget_restore(b, db, NOW, err, sizeof(err)), "restore: %s", err);
	sqlite3_close(db);
	if (!b)
		goto out;
	/* yesterday's call is not today's, b's is not a's: $0.90 */
	budget_decide(b, 0, &(struct budget_amount){ .nusd = 1 }, &(struct budget_amount){ .nusd = 1 },
		      0, NOW, &d);
	CHECK(d.verdict == BV_ALLOW, "allow");
	CHECK(!budget_view(b, 0, 0, NOW, &v) && v.spent == 90 * USD / 100,
	      "spent %lld", (long long)v.spent);
	CHECK(budget_near(b, 0), "dearest $0.45 known");
	CHECK_EQ_INT(budget_alerts(b, NOW, a, 4) > 0 ? a[0].threshold_bp : 0, 0);
out:
	budget_free(b);
	policy_free(p);
	if (path[0]) {
		char cmd[160];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			fprintf(stderr, "cannot remove %s\n", dir);
	}
}

int main(void)
{
	log_set_level(LOG_ERROR);
	RUN(test_windows_utc);
	RUN(test_windows_dst);
	RUN(test_hard_limit);
	RUN(test_near);
	RUN(test_strict_tokens_tightest);
	RUN(test_rolling);
	RUN(test_alerts);
	RUN(test_restore);
	return tap_done();
}
