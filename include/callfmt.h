/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* A metered call as a text line or as a §9 JSON line. */
#ifndef TOLLGATE_CALLFMT_H
#define TOLLGATE_CALLFMT_H

#include <stddef.h>
#include "agent.h"

/* One line, no newline; buf is always terminated.  Returns buf. */
const char *call_text(const struct tg_call *c, char *buf, size_t cap);
/* One JSON object, no newline, with every §9 field; malloc'd (NULL on ENOMEM). */
char *call_json(const struct tg_call *c);

/* A budget alert, as the events file and the alert hook get it. */
struct alert_view {
	int64_t ts_ns;			/* wall clock */
	const char *kind;		/* "threshold" | "forecast" */
	const char *team;
	const char *window;		/* as the policy writes it: "day", "rolling:15m" */
	const char *action;		/* the budget's: what happens at its limit */
	int64_t threshold_bp;		/* threshold: 8000 for 80% */
	int tokens;			/* amounts in tokens, else nano-USD */
	int64_t spent, limit, projected;
	int64_t window_start, window_end;
};

struct enforce_action;

/* {"event":"alert",...} / {"event":"action",...}: one JSON object, no
 * newline, malloc'd (NULL on ENOMEM).  Team names and models are escaped. */
char *alert_json(const struct alert_view *a);
char *action_json(const struct enforce_action *a);
/* The same as one text line (for run's standard output and the log). */
const char *alert_text(const struct alert_view *a, char *buf, size_t cap);
const char *action_text(const struct enforce_action *a, char *buf, size_t cap);

#endif
