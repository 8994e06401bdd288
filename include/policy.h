/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Policy files (DESIGN §7), read with libyaml through a schema table: each
 * key is a row (name, type, where it goes), so later keys (budgets,
 * rate_limits, models, loop_guard, alerts, mode) are rows added.  Unknown
 * keys and bad values are errors naming FILE:LINE:COL.
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

struct policy_team {
	char *name;
	struct policy_match match;
	unsigned line;			/* where it was defined */
};

struct policy {
	char *path;
	int version;
	struct policy_team *teams;
	size_t nteams;
	int has_default_price;
	struct price_row default_price;	/* provider "default", model "default" */
	char *prices_file;		/* absolute, or NULL for the shipped table */
};

/*
 * 0, or -EBADMSG / -errno with err = "FILE:LINE:COL: message" (or
 * "FILE: why" when the file cannot be read at all).  A `prices` file the
 * policy names must be readable.
 */
int policy_load(const char *path, struct policy **out, char *err, size_t errlen);

/*
 * The same from memory, touching no file: errors are named after `name`,
 * and relative paths in the policy resolve against the directory of
 * `name` (so prices_file is absolute only when name is).
 */
int policy_load_mem(const char *name, const void *buf, size_t len, struct policy **out,
		    char *err, size_t errlen);
void policy_free(struct policy *p);

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
