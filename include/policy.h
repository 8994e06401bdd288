/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Policy files (DESIGN §7), read with libyaml through a schema table: each
 * key is a row (name, type, where it goes, bounds), so a new key is a row
 * added.  Every key of §7 is read: teams with their match rules, budgets,
 * rate limits and model rules, and the loop guard, alert hook, mode and
 * time zone; plus max_tokens_cap and kill_scope of a team and hold_timeout.
 * Unknown keys and bad values are errors naming FILE:LINE:COL.  The loader
 * only reads and checks: what a budget or a rule does is the enforcer's.
 */
#ifndef TOLLGATE_POLICY_H
#define TOLLGATE_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "pricing.h"

/* A policy is small and written by hand: anything bigger is a mistake. */
#define POLICY_FILE_MAX		(1u << 20)
#define POLICY_TEAMS_MAX	1024
#define POLICY_VALUES_MAX	1024	/* values of one list */
#define POLICY_STR_MAX		4096	/* bytes of one string */
#define POLICY_DEPTH_MAX	16	/* nested mappings and lists */
#define POLICY_BUDGETS_MAX	16	/* budgets of one team */
#define POLICY_ALERTS_MAX	8	/* thresholds of one budget */

struct policy_strs {
	char **v;
	size_t n;
};

struct policy_match {
	struct policy_strs cgroup;	/* globs on the cgroup path (or an ancestor) */
	struct policy_strs unit;	/* systemd unit or slice names, globs */
	struct policy_strs container;	/* container ids, globs (full or short id) */
	struct policy_strs pod;		/* Kubernetes pod UIDs, globs */
	struct policy_strs user;	/* user names, globs */
	struct policy_strs exe;		/* executable paths, globs */
	struct policy_strs api_key;	/* key fingerprints "sha256:...", globs */
	uid_t *uid;
	size_t nuid;
	int any;
};

enum policy_window { PW_HOUR, PW_DAY, PW_WEEK, PW_MONTH, PW_ROLLING };
enum policy_action { PA_ALERT = 1, PA_THROTTLE, PA_BLOCK, PA_KILL };
enum policy_mode { PM_ENFORCE, PM_MONITOR };
enum policy_kill_scope { PK_PROCESS, PK_CGROUP };

/* One team has at most one budget per window (rolling spans differ). */
struct policy_budget {
	enum policy_window window;
	uint64_t rolling_ns;		/* PW_ROLLING: the span */
	int64_t limit_nusd;		/* -1: not given */
	int64_t limit_tokens;		/* -1: not given (exactly one of the two is) */
	int64_t alert_at_bp[POLICY_ALERTS_MAX];	/* basis points, ascending, distinct */
	size_t nalert;
	enum policy_action action;	/* default PA_ALERT */
	int strict;			/* default 0 */
	unsigned line;			/* where it was defined (1-based) */
};

struct policy_rate {
	int64_t requests_per_minute;	/* 0: none */
	int64_t tokens_per_minute;	/* 0: none */
};

struct policy_models {
	struct policy_strs allow;	/* globs on the model name; empty: all */
	struct policy_strs deny;	/* globs */
};

struct policy_loop_guard {
	int64_t identical_requests;	/* 0: no loop guard */
	uint64_t within_ns;
	enum policy_action action;	/* default PA_ALERT */
};

struct policy_team {
	char *name;
	struct policy_match match;
	unsigned line;			/* where it was defined */
	struct policy_budget *budgets;
	size_t nbudgets;
	struct policy_rate rate;
	struct policy_models models;
	int64_t max_tokens_cap;		/* 0: none */
	enum policy_kill_scope kill_scope;
};

struct policy {
	char *path;
	int version;
	struct policy_team *teams;
	size_t nteams;
	int has_default_price;
	struct price_row default_price;	/* provider "default", model "default" */
	char *prices_file;		/* absolute, or NULL for the shipped table */
	struct policy_loop_guard loop_guard;
	char *alerts_exec;		/* absolute path or NULL */
	enum policy_mode mode;
	char *timezone;			/* NULL: UTC */
	uint64_t hold_timeout_ns;	/* default 2 s */
};

/*
 * 0, or -EBADMSG / -errno with err = "FILE:LINE:COL: message" (or
 * "FILE: why" when the file cannot be read at all).  The files a policy
 * names must be there: `prices` readable, `alerts: exec` executable, and
 * a `timezone` other than UTC in /usr/share/zoneinfo.
 */
int policy_load(const char *path, struct policy **out, char *err, size_t errlen);

/*
 * The same from memory, touching no file: errors are named after `name`,
 * and relative paths in the policy resolve against the directory of
 * `name` (so prices_file and alerts_exec are absolute only when name is).
 */
int policy_load_mem(const char *name, const void *buf, size_t len, struct policy **out,
		    char *err, size_t errlen);
void policy_free(struct policy *p);

/* A budget's window as a policy writes it: "day", "rolling:15m". */
const char *policy_window_name(const struct policy_budget *b, char *buf, size_t cap);
/* "alert", "throttle", "block", "kill". */
const char *policy_action_name(enum policy_action a);

/* Reads a policy file as YAML only (well-formedness). */
int policy_check_yaml(const char *path, char *err, size_t errlen);

/*
 * The scalar forms of policy values, also for the command line.  0 or
 * -EINVAL (not that form) / -ERANGE (too big).
 *   "0.075"  -> nano-USD 75000000: exact, at most 9 decimals, no sign
 *   "80%", "12.5%" -> basis points (8000, 1250): at most 2 decimals
 *   "500ms", "60s", "15m", "1h", "1d", "1w" -> nanoseconds
 */
int policy_parse_usd(const char *s, int64_t *nano);
int policy_parse_percent(const char *s, int64_t *bp);
int policy_parse_duration(const char *s, uint64_t *ns);

/* `tollgate policy check FILE`. */
int cmd_policy(int argc, char **argv);

#endif
