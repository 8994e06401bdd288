/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Token usage of one call, in the buckets it is billed by (DESIGN §9).
 * The input buckets do not overlap: their sum is all input.
 */
#ifndef TOLLGATE_USAGE_H
#define TOLLGATE_USAGE_H

#include <stdint.h>

struct llm_usage {
	int64_t input_tokens;		/* input neither read from nor written to a cache */
	int64_t cached_input_tokens;	/* input read from a cache */
	int64_t cache_write_tokens;	/* input written to a cache (all TTLs) */
	int64_t cache_write_1h_tokens;	/* the part of cache_write_tokens at the
					   1-hour rate (Anthropic); the rest is 5-minute */
	int64_t output_tokens;		/* all output, reasoning included */
	int64_t reasoning_tokens;	/* the part of output spent on reasoning */
};

/* All input tokens: what long-context price tiers are chosen by. */
static inline int64_t usage_input_total(const struct llm_usage *u)
{
	return u->input_tokens + u->cached_input_tokens + u->cache_write_tokens;
}

#endif
