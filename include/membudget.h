/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * One bound on the bytes the agent buffers for all connections together:
 * request bodies kept for parsing, decoder windows and buffers, SSE events
 * being assembled, partial HTTP heads.  Every such allocation is charged
 * here first; when the bound is reached the allocation is refused
 * (-ENOBUFS), counted, and the caller sheds that buffer while the call it
 * belongs to is still metered, flagged as shed.
 *
 * Bulk buffers (bodies, decoders, events) may use the bound less a
 * reserve of one eighth, which is kept for heads: a head lost is a call
 * not seen at all.
 *
 * A NULL budget means no bound: every function accepts one.  Not thread
 * safe: one budget per event loop.
 */
#ifndef TOLLGATE_MEMBUDGET_H
#define TOLLGATE_MEMBUDGET_H

#include <stddef.h>
#include <stdint.h>

#define MEMBUDGET_DEFAULT	(256ull << 20)

enum membudget_class {
	MEMBUDGET_BULK,		/* bodies, decoders, SSE events: shed first */
	MEMBUDGET_HEAD,		/* partial HTTP heads: may use the reserve */
};

struct membudget {
	uint64_t limit;			/* bytes; 0 = no bound */
	uint64_t used;			/* charged now */
	uint64_t peak;
	uint64_t refused;		/* allocations refused */
	uint64_t refused_bytes;
};

void membudget_init(struct membudget *b, uint64_t limit);
/* Charges n bytes: 0, or -ENOBUFS (counted) when they do not fit. */
int membudget_charge(struct membudget *b, size_t n, enum membudget_class cls);
void membudget_release(struct membudget *b, size_t n);

/*
 * malloc, realloc and free that charge the budget for what they hold (a
 * small header keeps the size).  NULL with errno = ENOBUFS when refused,
 * ENOMEM when malloc fails.  Only pointers from these may be passed to
 * membudget_realloc and membudget_free.
 */
void *membudget_malloc(struct membudget *b, size_t n, enum membudget_class cls);
void *membudget_realloc(struct membudget *b, void *p, size_t n, enum membudget_class cls);
void membudget_free(struct membudget *b, void *p);

#endif
