/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* The BPF side: load, ring buffers, counters, the ignore map. */
#ifndef TOLLGATE_CAPTURE_H
#define TOLLGATE_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "tollgate_abi.h"

/*
 * uprobe_multi links (Linux 6.6): many offsets of one file in one link,
 * optionally for one process.  libbpf 1.1 and Debian 12's UAPI headers
 * predate them; these are the kernel's stable values.
 */
#define TG_BPF_TRACE_UPROBE_MULTI	48
#define TG_BPF_F_UPROBE_MULTI_RETURN	1

struct capture_cfg {
	uint64_t call_cap;		/* bytes copied per SSL call */
	size_t ringbuf_bytes;		/* data ring size (power of two) */
	int scoped;			/* per-process attach: want fork/cgroup events */
};

struct capture_handlers {
	void (*on_data)(void *ctx, const struct tg_ev_data *e);
	void (*on_gap)(void *ctx, const struct tg_ev_gap *e);
	void (*on_close)(void *ctx, const struct tg_ev_close *e);
	void (*on_proc)(void *ctx, const struct tg_ev_proc *e);
	/* A gated process is stopped at a write (NULL: it is resumed). */
	void (*on_hold)(void *ctx, const struct tg_ev_hold *e);
};

struct capture;
struct capture_bpf;

/* Why this machine cannot capture (not root, no BTF), or NULL if it can. */
const char *capture_unsupported(void);

struct capture *capture__new(const struct capture_cfg *cfg,
			     const struct capture_handlers *h, void *ctx);
struct capture_bpf *capture__skel(struct capture *c);
/* Waits up to timeout_ms for events and handles them.  Returns the number
 * handled or -errno (-EINTR on a signal). */
int capture__poll(struct capture *c, int timeout_ms);
/* Handles every event already in the rings, without waiting. */
int capture__drain(struct capture *c);
/* Handles what is in the data ring only: safe from inside on_proc, which
 * runs while the process ring is being read. */
int capture__drain_data(struct capture *c);
/* Stop copying generation `gen` of a connection in the kernel. */
int capture__ignore(struct capture *c, uint32_t tgid, uint64_t ssl, uint64_t gen);
/* Gate a process (its requests are held at their first write), or not. */
int capture__gate(struct capture *c, uint32_t tgid, int on);
/* Hold the next write on this connection too (a request's body). */
int capture__gate_next(struct capture *c, uint32_t tgid, uint64_t ssl, uint64_t gen);
/* Gate nobody (the agent is leaving). */
int capture__gate_clear(struct capture *c);
/* The connection is gone with its process: drop the kernel's entries.
 * Returns 1 when an entry was there. */
int capture__forget(struct capture *c, uint32_t tgid, uint64_t ssl);
/* Sums of the per-CPU counters (enum tg_counter). */
int capture__counters(struct capture *c, uint64_t out[TG_CNT__MAX]);
/* Entries in the kernel's connection table now (walks it: not for a hot
 * path). */
uint64_t capture__conns_live(struct capture *c);
/* Counter names, for logs and metrics. */
extern const char *const capture_counter_names[TG_CNT__MAX];
void capture__free(struct capture *c);

#endif
