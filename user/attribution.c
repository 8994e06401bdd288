// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Attribution (DESIGN §7): what a cgroup path says about where a process
 * runs, and the first team of a policy that claims it.  Pure: the caller
 * reads /proc (proc_ident_read) and hands the facts in.
 *
 * Globs are fnmatch(3) without flags, so '*' also crosses '/': the same
 * reading as `trace --cgroup` (cgroup_glob_match), so a glob means one
 * thing wherever it is written.
 */
#include <fnmatch.h>
#include <stddef.h>
#include <string.h>
#include <openssl/sha.h>
#include "attribution.h"
#include "policy.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int has_suffix(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n > k && !memcmp(s + n - k, suffix, k);
}

static int is_slice(const char *s, size_t n)
{
	return has_suffix(s, n, ".slice");
}

/* Unit types that own a cgroup (slices are kept apart). */
static int is_unit(const char *s, size_t n)
{
	static const char *const kinds[] = { ".service", ".scope", ".socket", ".mount", ".swap" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kinds); i++)
		if (has_suffix(s, n, kinds[i]))
			return 1;
	return 0;
}

static int all_of(const char *s, size_t n, const char *set)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!s[i] || !strchr(set, s[i]))
			return 0;
	return 1;
}

#define HEX "0123456789abcdef"

/* Copies s[0..n) to dst[cap] when it fits whole: a cut name would match
 * what it is not. */
static void copy_name(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		return;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/*
 * A container's cgroup: "<64 hex>" (cgroupfs: docker, containerd), or
 * "docker-", "cri-containerd-", "crio-", "libpod-" + id, with ".scope"
 * under systemd.  The conmon scopes of cri-o and podman ("crio-conmon-",
 * "libpod-conmon-") hold the monitor, not the container: their rest is
 * not hex, so they do not match.
 */
static int container_of(const char *s, size_t n, char out[65])
{
	static const char *const prefixes[] = { "docker-", "cri-containerd-", "crio-", "libpod-" };
	size_t i, k;

	if (n == 64 && all_of(s, n, HEX)) {
		copy_name(out, 65, s, n);
		return 1;
	}
	if (has_suffix(s, n, ".scope"))
		n -= strlen(".scope");
	for (i = 0; i < ARRAY_SIZE(prefixes); i++) {
		k = strlen(prefixes[i]);
		if (n == k + 64 && !memcmp(s, prefixes[i], k) && all_of(s + k, 64, HEX)) {
			copy_name(out, 65, s + k, 64);
			return 1;
		}
	}
	return 0;
}

/* "kubepods-burstable-pod<uid with _>.slice" (systemd driver). */
static void pod_of_slice(const char *s, size_t n, char out[64])
{
	const char *p = NULL, *q;
	size_t i, k;

	if (!memmem(s, n, "kubepods", 8))
		return;
	n -= strlen(".slice");
	for (q = s; (q = memmem(q, n - (size_t)(q - s), "-pod", 4)); q++)
		p = q + 4;
	if (!p)
		return;
	k = n - (size_t)(p - s);
	if (!k || k >= 64 || !all_of(p, k, HEX "_"))
		return;
	for (i = 0; i < k; i++)
		out[i] = p[i] == '_' ? '-' : p[i];
	out[k] = '\0';
}

/* "pod<uid>" under a "kubepods" directory (cgroupfs driver). */
static void pod_of_dir(const char *s, size_t n, char out[64])
{
	if (n > 3 && n - 3 < 64 && !memcmp(s, "pod", 3) && all_of(s + 3, n - 3, HEX "-"))
		copy_name(out, 64, s + 3, n - 3);
}

void cg_ident_parse(const char *path, struct cg_ident *out)
{
	const char *c;
	int kubepods = 0;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (!path)
		return;
	for (c = path; *c; c += n) {
		c += strspn(c, "/");
		n = strcspn(c, "/");
		if (!n)
			break;
		if (is_slice(c, n)) {
			copy_name(out->slice, sizeof(out->slice), c, n);
			pod_of_slice(c, n, out->pod);
		} else if (is_unit(c, n)) {
			copy_name(out->unit, sizeof(out->unit), c, n);
		} else if (kubepods) {
			pod_of_dir(c, n, out->pod);
		}
		if (n == 8 && !memcmp(c, "kubepods", 8))
			kubepods = 1;
		container_of(c, n, out->container);
	}
}

/* --- matching ------------------------------------------------------------- */

static int glob_match(const char *glob, const char *s)
{
	return s && !fnmatch(glob, s, 0);
}

/* The path, then each ancestor up to "/". */
static int cgroup_match(const char *glob, const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	char *slash;

	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, path, n + 1);
	for (;;) {
		if (!fnmatch(glob, buf, 0))
			return 1;
		slash = strrchr(buf, '/');
		if (!slash || (slash == buf && !buf[1]))
			return 0;
		slash[slash == buf] = '\0';	/* "/a" -> "/" */
	}
}

/* Any unit or slice named in the path, or those cg knows without one. */
static int unit_match(const char *glob, const char *path, const struct cg_ident *cg)
{
	char name[256];
	const char *c;
	size_t n;

	if (!path)
		return (cg->unit[0] && glob_match(glob, cg->unit)) ||
		       (cg->slice[0] && glob_match(glob, cg->slice));
	for (c = path; *c; c += n) {
		c += strspn(c, "/");
		n = strcspn(c, "/");
		if (!n || n >= sizeof(name) || !(is_unit(c, n) || is_slice(c, n)))
			continue;
		memcpy(name, c, n);
		name[n] = '\0';
		if (glob_match(glob, name))
			return 1;
	}
	return 0;
}

static int container_match(const char *glob, const char *id)
{
	char short_id[13];

	if (!id[0])
		return 0;
	memcpy(short_id, id, 12);
	short_id[12] = '\0';
	return glob_match(glob, id) || glob_match(glob, short_id);
}

typedef int (*glob_fn)(const char *glob, const struct proc_ident *id,
		       const struct cg_ident *cg);

static int by_cgroup(const char *g, const struct proc_ident *id, const struct cg_ident *cg)
{
	return id->cgroup && cgroup_match(g, id->cgroup);
}

static int by_unit(const char *g, const struct proc_ident *id, const struct cg_ident *cg)
{
	return unit_match(g, id->cgroup, cg);
}

static int by_container(const char *g, const struct proc_ident *id, const struct cg_ident *cg)
{
	return container_match(g, cg->container);
}

static int by_pod(const char *g, const struct proc_ident *id, const struct cg_ident *cg)
{
	return cg->pod[0] && glob_match(g, cg->pod);
}

static int by_user(const char *g, const struct proc_ident *id, const struct cg_ident *cg)
{
	return glob_match(g, id->user);
}

static int by_exe(const char *g, const struct proc_ident *id, const struct cg_ident *cg)
{
	return glob_match(g, id->exe);
}

/* A key rule claims calls that carry a key, never a process as such. */
static int by_api_key(const char *g, const struct proc_ident *id, const struct cg_ident *cg)
{
	return glob_match(g, id->key_fp);
}

/* The keys in the order they are tried: the first that matches is why. */
static const struct {
	enum attr_key key;
	size_t off;		/* of the struct policy_strs; uid has none */
	glob_fn fn;
} match_keys[] = {
	{ ATTR_CGROUP, offsetof(struct policy_match, cgroup), by_cgroup },
	{ ATTR_UNIT, offsetof(struct policy_match, unit), by_unit },
	{ ATTR_CONTAINER, offsetof(struct policy_match, container), by_container },
	{ ATTR_POD, offsetof(struct policy_match, pod), by_pod },
	{ ATTR_UID, 0, NULL },
	{ ATTR_USER, offsetof(struct policy_match, user), by_user },
	{ ATTR_EXE, offsetof(struct policy_match, exe), by_exe },
	{ ATTR_API_KEY, offsetof(struct policy_match, api_key), by_api_key },
};

static int uid_test(const struct policy_match *m, uid_t uid)
{
	size_t i;

	for (i = 0; i < m->nuid && uid != PROC_UID_UNKNOWN; i++)
		if (m->uid[i] == uid)
			return 1;
	return 0;
}

static int strs_test(const struct policy_strs *s, glob_fn fn, const struct proc_ident *id,
		     const struct cg_ident *cg, const char **glob)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		if (fn(s->v[i], id, cg)) {
			*glob = s->v[i];
			return 1;
		}
	}
	return 0;
}

static enum attr_key match_test(const struct policy_match *m, const struct proc_ident *id,
				const struct cg_ident *cg, struct attr_why *why)
{
	const char *glob = NULL;
	enum attr_key k = m->any ? ATTR_ANY : ATTR_NONE;
	const struct policy_strs *strs;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(match_keys); i++) {
		strs = (const void *)((const char *)m + match_keys[i].off);
		if (match_keys[i].fn ? strs_test(strs, match_keys[i].fn, id, cg, &glob) :
				       uid_test(m, id->uid)) {
			k = match_keys[i].key;
			break;
		}
	}
	if (why) {
		why->key = k;
		why->glob = glob;
		why->uid = k == ATTR_UID ? id->uid : 0;
	}
	return k;
}

/* The parsed cgroup: the caller's, else parsed into *local. */
static const struct cg_ident *cg_of(const struct proc_ident *id, struct cg_ident *local)
{
	if (id->cg)
		return id->cg;
	cg_ident_parse(id->cgroup, local);
	return local;
}

enum attr_key policy_match_test(const struct policy_match *m, const struct proc_ident *id,
				struct attr_why *why)
{
	struct cg_ident local;

	return match_test(m, id, cg_of(id, &local), why);
}

int policy_team_match(const struct policy *p, const struct proc_ident *id,
		      struct attr_why *why)
{
	const struct cg_ident *cg;
	struct cg_ident local;
	size_t i;

	if (why)
		why->key = ATTR_NONE;
	if (!p)
		return -1;
	cg = cg_of(id, &local);
	for (i = 0; i < p->nteams; i++)
		if (match_test(&p->teams[i].match, id, cg, why) != ATTR_NONE)
			return (int)i;
	return -1;
}

int policy_team_for(const struct policy *p, const struct proc_ident *id)
{
	return policy_team_match(p, id, NULL);
}

const char *attr_key_name(enum attr_key k)
{
	static const char *const names[] = {
		[ATTR_NONE] = "none",		[ATTR_CGROUP] = "cgroup",
		[ATTR_UNIT] = "unit",		[ATTR_CONTAINER] = "container",
		[ATTR_POD] = "pod",		[ATTR_UID] = "uid",
		[ATTR_USER] = "user",		[ATTR_EXE] = "exe",
		[ATTR_API_KEY] = "api_key",	[ATTR_ANY] = "any",
	};

	return (unsigned)k < ARRAY_SIZE(names) ? names[k] : "?";
}

void key_fingerprint(const void *key, size_t len, char out[KEY_FP_LEN])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	size_t i;

	SHA256(key, len, md);
	memcpy(out, "sha256:", 7);
	for (i = 0; i < 6; i++) {
		out[7 + 2 * i] = HEX[md[i] >> 4];
		out[8 + 2 * i] = HEX[md[i] & 15];
	}
	out[19] = '\0';
}
