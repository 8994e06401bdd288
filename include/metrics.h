/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Prometheus metrics: a registry the agent's event loop updates, and an
 * HTTP thread that serves it in the text exposition format 0.0.4.
 *
 * The event loop only ever takes a mutex for a few hundred nanoseconds
 * (an update) or a snapshot copy; parsing requests, rendering and writing
 * to scrapers all happen on the server thread, so a slow or hostile
 * client can cost a scrape, never a metered call.
 */
#ifndef TOLLGATE_METRICS_H
#define TOLLGATE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_DEFAULT_ADDR	"127.0.0.1:9464"

/* Label caps: values past them are folded into "other" and counted. */
#define METRICS_MAX_TEAMS	64
#define METRICS_MAX_MODELS	64
#define METRICS_MAX_PROVIDERS	16
#define METRICS_MAX_REASONS	16
#define METRICS_MAX_WINDOWS	16	/* budget windows ("day", "rolling:15m") */
#define METRICS_LABEL_MAX	128	/* bytes kept of a label value */

struct metrics;

/* One settled call.  Strings may be NULL or empty ("unknown"). */
struct metrics_call {
	const char *team;
	const char *provider;
	const char *model;
	int status;			/* HTTP status, 0 when none came */
	bool stream;
	bool estimated;			/* usage_source = estimated */
	bool unpriced;
	/* Non-overlapping buckets, as in the record (DESIGN §9). */
	int64_t input_tokens;
	int64_t cached_input_tokens;	/* cache_read */
	int64_t cache_write_tokens;
	int64_t output_tokens;		/* all output, reasoning included */
	int64_t reasoning_tokens;
	int64_t cost_nusd;
	int64_t ttft_ns;		/* -1: unknown */
	int64_t duration_ns;		/* -1: unknown */
};

/* Agent health, set from the agent's own cumulative counters (exported
 * from the start, at 0 until set). */
enum metrics_counter {
	METRICS_CAPTURE_GAPS,		/* bytes not captured: gap events */
	METRICS_CAPTURE_GAP_BYTES,
	METRICS_RINGBUF_DROPS,		/* events the ring buffer lost */
	/* the attacher's (struct attach_stats) */
	METRICS_PROBE_DISCOVERED,	/* built-in TLS located */
	METRICS_PROBE_DISCOVER_FAILURES,/* ... named but not located */
	METRICS_PROBE_DISABLED,		/* discovered probes disabled: not TLS */
	METRICS_PROBE_ATTACH_FAILURES,	/* uprobe attach attempts that failed */
	METRICS_PROBE_EXEC_HOLDS,	/* processes held at exec for analysis */
	__METRICS_COUNTER_MAX,
};

enum metrics_gauge {
	METRICS_CONNECTIONS_OPEN,	/* TLS connections being followed */
	METRICS_REQUESTS_HELD,		/* requests held at the gate now */
	METRICS_PROCESSES_GATED,	/* processes whose requests are gated */
	METRICS_PROBE_TARGETS,		/* files probed (libraries, executables) */
	METRICS_PROBE_LINKS,		/* uprobes attached now */
	__METRICS_GAUGE_MAX,
};

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/*
 * Serve GET /metrics on addr, "HOST:PORT" or "[V6]:PORT" (an empty host
 * is loopback; PORT may be 0), or "off" to serve nothing.  Starts the
 * server thread.  0 on success, -errno with a message in err otherwise.
 */
int metrics_listen(struct metrics *m, const char *addr, char *err, size_t errlen);
/* The bound port, 0 when not listening. */
int metrics_port(const struct metrics *m);

void metrics_call(struct metrics *m, const struct metrics_call *c);
void metrics_set_counter(struct metrics *m, enum metrics_counter c, uint64_t value);
void metrics_set_gauge(struct metrics *m, enum metrics_gauge g, int64_t value);
/* Connections not metered, by reason (cumulative; at most 16 reasons). */
void metrics_set_unmetered(struct metrics *m, const char *reason, uint64_t value);

/*
 * Enforcement.  Actions, reasons and alert kinds outside the lists below
 * are counted as "other" (and in tollgate_metrics_labels_folded_total).
 */
/* An enforcement action: taken, or in monitor mode (dry_run) only reported.
 * action: "block", "kill", "throttle", "alert", "release"; reason: "budget",
 * "model", "max_tokens", "rate_limit", "loop_guard", "hold_timeout".
 * ok 0 outside dry_run: the agent could not carry it out (a block or kill
 * that failed), also counted in tollgate_enforcement_failures_total. */
void metrics_action(struct metrics *m, const char *team, const char *action,
		    const char *reason, int dry_run, int ok);
/* A team the policy names: its enforcement failure series for the actions
 * that can fail (block, kill) are exported from now on, at 0 until one
 * fails, so a first failure is an increase a rate() sees.  Idempotent and
 * cheap (once a second is fine); a team past METRICS_MAX_TEAMS declares
 * team "other", and is not counted as folded. */
void metrics_declare_team(struct metrics *m, const char *team);
/* A budget alert: kind "threshold" or "forecast". */
void metrics_alert(struct metrics *m, const char *team, const char *kind);
/* One budget's state now (set about once a second): window as the policy
 * writes it ("day", "month", "rolling:15m"); tokens: the amounts are tokens,
 * else nano-USD; exhaust_at_ns: wall-clock ns when the last hour's rate runs
 * it out, 0 if not within the window.
 * Budgets past METRICS_MAX_TEAMS teams or METRICS_MAX_WINDOWS windows share
 * a series with team or window "other", which shows the one of them nearest
 * its limit ((spent + reserved) / limit). */
void metrics_set_budget(struct metrics *m, const char *team, const char *window,
			int tokens, int64_t spent, int64_t reserved, int64_t limit,
			int64_t exhaust_at_ns);
/* Forgets every budget series (a policy reload): call before setting the
 * new ones. */
void metrics_clear_budgets(struct metrics *m);

/*
 * The exposition as the server would send it, in a malloc'd string (the
 * caller frees it), or NULL with errno set.  For tests and tools.
 */
char *metrics_render(struct metrics *m, size_t *len);

#endif
