// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include "membudget.h"

/* Allocations keep their size in front, aligned for anything. */
#define HDR alignof(max_align_t)

void membudget_init(struct membudget *b, uint64_t limit)
{
	*b = (struct membudget){ .limit = limit };
}

int membudget_charge(struct membudget *b, size_t n, enum membudget_class cls)
{
	uint64_t room;

	if (!b)
		return 0;
	room = b->limit;
	if (cls == MEMBUDGET_BULK)
		room -= room / 8;
	if (b->limit && (n > room || b->used > room - n)) {
		b->refused++;
		b->refused_bytes += n;
		return -ENOBUFS;
	}
	b->used += n;
	if (b->used > b->peak)
		b->peak = b->used;
	return 0;
}

void membudget_release(struct membudget *b, size_t n)
{
	if (b)
		b->used = n < b->used ? b->used - n : 0;
}

void *membudget_malloc(struct membudget *b, size_t n, enum membudget_class cls)
{
	return membudget_realloc(b, NULL, n, cls);
}

void *membudget_realloc(struct membudget *b, void *p, size_t n, enum membudget_class cls)
{
	size_t old = 0;
	char *base = NULL, *nb;

	if (p) {
		base = (char *)p - HDR;
		old = *(size_t *)base;
	}
	if (n > SIZE_MAX - HDR) {
		errno = ENOMEM;
		return NULL;
	}
	if (n > old && membudget_charge(b, n - old, cls)) {
		errno = ENOBUFS;
		return NULL;
	}
	nb = realloc(base, n + HDR);
	if (!nb) {
		if (n > old)
			membudget_release(b, n - old);
		errno = ENOMEM;
		return NULL;
	}
	if (n < old)
		membudget_release(b, old - n);
	*(size_t *)nb = n;
	return nb + HDR;
}

void membudget_free(struct membudget *b, void *p)
{
	char *base;

	if (!p)
		return;
	base = (char *)p - HDR;
	membudget_release(b, *(size_t *)base);
	free(base);
}
