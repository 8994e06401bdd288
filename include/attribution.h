/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Who made a call, and which team it belongs to (DESIGN §7): the first
 * team of the policy any of whose match keys matches.
 */
#ifndef TOLLGATE_ATTRIBUTION_H
#define TOLLGATE_ATTRIBUTION_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

struct policy;
struct policy_match;

#define KEY_FP_LEN 20			/* "sha256:" + 12 hex + NUL */

/* What the cgroup path says about where a process runs. */
struct cg_ident {
	char unit[256];			/* innermost systemd unit ("x.service", "x.scope"), "" */
	char slice[256];		/* innermost slice ("x.slice"), "" */
	char container[65];		/* container id (docker, containerd, cri-o, podman), "" */
	char pod[64];			/* Kubernetes pod UID, dashes, "" */
};

/* Parse a cgroup v2 path ("/system.slice/docker-<id>.scope", ...). */
void cg_ident_parse(const char *cgroup_path, struct cg_ident *out);

#define PROC_UID_UNKNOWN ((uid_t)-1)

struct proc_ident {
	pid_t pid;
	uid_t uid;			/* real uid, PROC_UID_UNKNOWN if unknown */
	const char *user;		/* NULL if unknown */
	const char *exe;		/* NULL if unknown */
	const char *cgroup;		/* v2 path relative to the mount; NULL if unknown */
	const struct cg_ident *cg;	/* parsed from cgroup; NULL to parse here */
	const char *key_fp;		/* "sha256:..." or NULL */
};

/* The match keys, in the order a team's keys are tried. */
enum attr_key {
	ATTR_NONE,
	ATTR_CGROUP,
	ATTR_UNIT,
	ATTR_CONTAINER,
	ATTR_POD,
	ATTR_UID,
	ATTR_USER,
	ATTR_EXE,
	ATTR_API_KEY,
	ATTR_ANY,
};
const char *attr_key_name(enum attr_key k);

/* Why a team matched: the key, and the glob that did (NULL for uid, any). */
struct attr_why {
	enum attr_key key;
	const char *glob;
	uid_t uid;
};

/* Index of the first matching team, -1 if none. */
int policy_team_for(const struct policy *p, const struct proc_ident *id);
/* The same, saying why (why may be NULL). */
int policy_team_match(const struct policy *p, const struct proc_ident *id,
		      struct attr_why *why);
/* The first key of one match that matches id: ATTR_NONE if none. */
enum attr_key policy_match_test(const struct policy_match *m, const struct proc_ident *id,
				struct attr_why *why);

/* "sha256:" + first 12 hex digits of SHA-256(key).  out has KEY_FP_LEN. */
void key_fingerprint(const void *key, size_t len, char out[KEY_FP_LEN]);

/*
 * A process's identity read from /proc (an edge, in user/cmd_policy.c).  The
 * strings live in the struct and id points at them: do not copy it.
 */
struct proc_ident_buf {
	struct proc_ident id;
	struct cg_ident cg;
	char comm[16];
	char user[256];
	char exe[PATH_MAX];
	char cgroup[PATH_MAX];
};

/* 0, or -errno when the process is gone.  What cannot be read (another
 * user's exe without privilege) is left NULL in out->id. */
int proc_ident_read(pid_t pid, struct proc_ident_buf *out);

#endif
