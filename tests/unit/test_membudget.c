// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The memory bound shared by all connections. */
#include <errno.h>
#include <string.h>
#include "membudget.h"
#include "tap.h"

static void test_classes(void)
{
	struct membudget b;

	membudget_init(&b, 800);
	/* bulk may use the bound less an eighth */
	CHECK_EQ_INT(membudget_charge(&b, 700, MEMBUDGET_BULK), 0);
	CHECK_EQ_INT(membudget_charge(&b, 1, MEMBUDGET_BULK), -ENOBUFS);
	/* heads may use the reserve, not more */
	CHECK_EQ_INT(membudget_charge(&b, 100, MEMBUDGET_HEAD), 0);
	CHECK_EQ_INT(membudget_charge(&b, 1, MEMBUDGET_HEAD), -ENOBUFS);
	CHECK_EQ_INT(b.refused, 2);
	CHECK_EQ_INT(b.refused_bytes, 2);
	CHECK_EQ_INT(b.peak, 800);
	membudget_release(&b, 800);
	CHECK_EQ_INT(b.used, 0);
	/* a huge request does not wrap around */
	CHECK_EQ_INT(membudget_charge(&b, SIZE_MAX, MEMBUDGET_HEAD), -ENOBUFS);
	/* no budget, no bound */
	CHECK_EQ_INT(membudget_charge(NULL, SIZE_MAX, MEMBUDGET_BULK), 0);
	membudget_init(&b, 0);
	CHECK_EQ_INT(membudget_charge(&b, 1 << 30, MEMBUDGET_BULK), 0);
}

static void test_alloc(void)
{
	struct membudget b;
	char *p, *q;

	membudget_init(&b, 8000);
	p = membudget_malloc(&b, 1000, MEMBUDGET_BULK);
	CHECK(p != NULL, "malloc");
	CHECK_EQ_INT(b.used, 1000);
	memset(p, 'x', 1000);
	q = membudget_realloc(&b, p, 3000, MEMBUDGET_BULK);
	CHECK(q != NULL && q[999] == 'x', "grown");
	CHECK_EQ_INT(b.used, 3000);
	p = membudget_realloc(&b, q, 100, MEMBUDGET_BULK);
	CHECK(p != NULL, "shrunk");
	CHECK_EQ_INT(b.used, 100);
	/* refused: the old block is untouched and still charged */
	errno = 0;
	q = membudget_realloc(&b, p, 7500, MEMBUDGET_BULK);
	CHECK(!q && errno == ENOBUFS, "refused");
	CHECK_EQ_INT(b.used, 100);
	membudget_free(&b, p);
	membudget_free(&b, NULL);
	CHECK_EQ_INT(b.used, 0);
	CHECK_EQ_INT(b.peak, 3000);
}

int main(void)
{
	RUN(test_classes);
	RUN(test_alloc);
	return tap_done();
}
