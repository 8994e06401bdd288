/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What this kernel and host offer the agent (DESIGN §3), found by trying
 * each feature at start, not by the kernel's version: said once in the log
 * and answered by `tollgate status`.
 */
#ifndef TOLLGATE_KFEATURES_H
#define TOLLGATE_KFEATURES_H

struct json_object;

enum feature {
	FEAT_BTF,		/* /sys/kernel/btf/vmlinux: CO-RE */
	FEAT_UPROBE_MULTI,	/* uprobe_multi links: every probe */
	FEAT_RINGBUF,		/* the events' ring buffer */
	FEAT_TASK_STORAGE,	/* per-thread call state */
	FEAT_TRACEPOINTS,	/* exec, fork, exit, the socket syscalls */
	FEAT_SEND_SIGNAL,	/* bpf_send_signal: the gate's SIGSTOP */
	FEAT_PTRACE,		/* block (a held call made to fail), the hold at exec */
	FEAT_CGROUP2,		/* teams by cgroup, scoped attach */
	FEAT_CGROUP_KILL,	/* kill_scope: cgroup */
	FEAT__MAX
};

struct features {
	char kernel[65];		/* uname -r */
	int have[FEAT__MAX];
	int yama;			/* kernel.yama.ptrace_scope, -1: none */
};

/* Tries every feature; cgroup2_mount may be NULL (none found). */
void features_probe(struct features *f, const char *cgroup2_mount);
const char *features_name(enum feature i);
/* One log line: what is found and used, what is missing and what that
 * costs, and what the agent does not use. */
void features_log(const struct features *f);
/* {"kernel": ..., "found": [...], "missing": [...]} */
struct json_object *features_json(const struct features *f);

#endif
