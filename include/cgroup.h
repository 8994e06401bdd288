/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* cgroup v2 ids (as BPF sees them) to paths relative to the cgroup2 mount. */
#ifndef TOLLGATE_CGROUP_H
#define TOLLGATE_CGROUP_H

#include <stdint.h>
#include <sys/types.h>

struct cgroup_resolver;

/* Finds the cgroup2 mount in /proc/mounts (/sys/fs/cgroup, or a hybrid
 * mount such as /sys/fs/cgroup/unified).  NULL with errno=ENOENT if none. */
struct cgroup_resolver *cgroup_resolver__new(void);
const char *cgroup_resolver__mount(const struct cgroup_resolver *r);
/* Path of cgroup `id` relative to the mount ("/" for the root), or NULL.
 * `pid` (0 if none) is a process believed to be in it: the fast path. */
const char *cgroup_resolver__path(struct cgroup_resolver *r, uint64_t id, pid_t pid);
void cgroup_resolver__free(struct cgroup_resolver *r);

/* The id of the cgroup at an absolute path, 0 on error. */
uint64_t cgroup_id_of(const char *abs_path);

/* 1 if `path` or one of its ancestors matches the glob. */
int cgroup_glob_match(const char *glob, const char *path);

#endif
