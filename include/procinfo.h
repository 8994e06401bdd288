/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Facts about processes from /proc. */
#ifndef TOLLGATE_PROCINFO_H
#define TOLLGATE_PROCINFO_H

#include <stddef.h>
#include <sys/types.h>

int proc_read_comm(pid_t pid, char *buf, size_t cap);
/* Target of /proc/PID/exe. */
int proc_read_exe(pid_t pid, char *buf, size_t cap);
/* The process's cgroup v2 path ("0::" line of /proc/PID/cgroup). */
int proc_read_cgroup(pid_t pid, char *buf, size_t cap);

enum proc_lib_kind {
	PROC_LIB_SSL,		/* libssl* (OpenSSL) */
	PROC_LIB_LDSO,		/* the dynamic linker, ld-linux* / ld-musl* */
	PROC_LIB_GNUTLS,	/* libgnutls*: TLS tollgate does not see yet */
	PROC_LIB_NSS,		/* NSS's libssl3.so: likewise */
};

/* The kind of a library by its file name, or -1 for other files. */
int proc_lib_kind(const char *path);

/*
 * Calls fn once for every distinct executable mapping of the process that
 * is one of enum proc_lib_kind, with a path that opens that file from this
 * mount namespace (/proc/PID/root/...) and its name as the process sees
 * it.  Returns 0 or -errno.
 */
typedef int (*proc_lib_fn)(void *ctx, pid_t pid, const char *path, const char *name,
			   enum proc_lib_kind kind);
int proc_for_each_lib(pid_t pid, proc_lib_fn fn, void *ctx);

/* Calls fn for every process id in /proc. */
typedef void (*proc_pid_fn)(void *ctx, pid_t pid);
int proc_for_each_pid(proc_pid_fn fn, void *ctx);

/* 1 for a kernel thread (no mm), 0 otherwise. */
int proc_is_kthread(pid_t pid);

#endif
