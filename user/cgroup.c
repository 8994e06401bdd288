// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cgroup.h"
#include "procinfo.h"

#define CG_CACHE	4096	/* entries; the cache is emptied when full */
#define CG_WALK_MAX	100000	/* directories one walk visits at most */

struct cg_entry {
	uint64_t id;
	char *path;
};

struct cgroup_resolver {
	char mount[PATH_MAX];
	struct cg_entry cache[CG_CACHE];	/* open addressing by id */
	size_t used;
	time_t last_walk;
};

struct cgroup_resolver *cgroup_resolver__new(void)
{
	struct cgroup_resolver *r;
	char dev[256], dir[PATH_MAX], type[64];
	FILE *f = fopen("/proc/mounts", "re");
	int found = 0;

	if (!f)
		return NULL;
	while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			found = 1;
			break;
		}
	}
	fclose(f);
	if (!found) {
		errno = ENOENT;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	snprintf(r->mount, sizeof(r->mount), "%s", dir);
	return r;
}

const char *cgroup_resolver__mount(const struct cgroup_resolver *r)
{
	return r->mount;
}

uint64_t cgroup_id_of(const char *abs_path)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h;
	int mount_id;

	h.fh.handle_bytes = sizeof(h.id);
	if (name_to_handle_at(AT_FDCWD, abs_path, &h.fh, &mount_id, 0))
		return 0;
	return h.id;
}

static struct cg_entry *slot(struct cgroup_resolver *r, uint64_t id)
{
	size_t i = (id * 0x9e3779b97f4a7c15ull >> 40) % CG_CACHE;

	while (r->cache[i].id && r->cache[i].id != id)
		i = (i + 1) % CG_CACHE;
	return &r->cache[i];
}

static void cache_clear(struct cgroup_resolver *r)
{
	size_t i;

	for (i = 0; i < CG_CACHE; i++) {
		free(r->cache[i].path);
		r->cache[i].path = NULL;
		r->cache[i].id = 0;
	}
	r->used = 0;
}

static const char *cache_put(struct cgroup_resolver *r, uint64_t id, const char *path)
{
	struct cg_entry *e;

	if (r->used >= CG_CACHE * 3 / 4)
		cache_clear(r);
	e = slot(r, id);
	if (e->id)
		return e->path;
	e->path = strdup(path[0] ? path : "/");
	if (!e->path)
		return NULL;
	e->id = id;
	r->used++;
	return e->path;
}

static struct cgroup_resolver *walk_r;
static size_t walk_n;

static int walk_fn(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	uint64_t id;

	if (flag != FTW_D)
		return 0;
	if (++walk_n > CG_WALK_MAX)
		return 1;
	id = cgroup_id_of(p);
	if (id)
		cache_put(walk_r, id, p + strlen(walk_r->mount));
	return 0;
}

const char *cgroup_resolver__path(struct cgroup_resolver *r, uint64_t id, pid_t pid)
{
	char rel[PATH_MAX], abs[PATH_MAX * 2];
	struct cg_entry *e;
	time_t now;

	if (!id)
		return NULL;
	e = slot(r, id);
	if (e->id == id)
		return e->path;
	if (pid > 0 && !proc_read_cgroup(pid, rel, sizeof(rel))) {
		snprintf(abs, sizeof(abs), "%s%s", r->mount, rel);
		if (cgroup_id_of(abs) == id)
			return cache_put(r, id, rel);
	}
	/* Walk the hierarchy, at most once a second. */
	now = time(NULL);
	if (now == r->last_walk)
		return NULL;
	r->last_walk = now;
	walk_r = r;
	walk_n = 0;
	nftw(r->mount, walk_fn, 16, FTW_PHYS | FTW_MOUNT);
	e = slot(r, id);
	return e->id == id ? e->path : NULL;
}

void cgroup_resolver__free(struct cgroup_resolver *r)
{
	if (!r)
		return;
	cache_clear(r);
	free(r);
}

int cgroup_glob_match(const char *glob, const char *path)
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
		if (!slash || slash == buf)
			return 0;
		*slash = '\0';
	}
}
