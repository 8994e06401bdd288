/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Minimal test protocol shared by every test program in tests/:
 *   PASS <name>
 *   FAIL <name>: <where and why>
 *   SKIP <name>: <why>
 * tests/run.sh counts these lines and prints "N passed, N failed, N skipped".
 */
#ifndef TAP_H
#define TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_failed_total;
static int tap_cur_failed;
static const char *tap_cur_name;

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		if (!tap_cur_failed) {					\
			printf("FAIL %s: %s:%d: %s: ", tap_cur_name,	\
			       __FILE__, __LINE__, #cond);		\
			printf(__VA_ARGS__);				\
			printf("\n");					\
		}							\
		tap_cur_failed = 1;					\
	}								\
} while (0)

#define CHECK_EQ_INT(a, b) do {						\
	long long _a = (long long)(a), _b = (long long)(b);		\
	CHECK(_a == _b, "%lld != %lld", _a, _b);			\
} while (0)

static inline void tap_run(const char *name, void (*fn)(void))
{
	tap_cur_name = name;
	tap_cur_failed = 0;
	fn();
	if (tap_cur_failed)
		tap_failed_total++;
	else
		printf("PASS %s\n", name);
	fflush(stdout);
}

static inline void tap_skip(const char *name, const char *why)
{
	printf("SKIP %s: %s\n", name, why);
}

#define RUN(fn) tap_run(#fn, fn)

static inline int tap_done(void)
{
	return tap_failed_total ? 1 : 0;
}

#endif
