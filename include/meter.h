/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The meter: the usage a call is billed for.  The provider's own report
 * when there is one; otherwise (a stream without include_usage, a response
 * cut off by the client or the network, a provider that omits it) a count
 * of the request and of the generated text, marked estimated.
 *
 * Generated text is kept in a bounded buffer and counted only when a call
 * turns out to need it; past METER_TEXT_FLUSH it is counted as it streams
 * and dropped, so a long stream holds little.
 */
#ifndef TOLLGATE_METER_H
#define TOLLGATE_METER_H

#include <stddef.h>
#include <stdint.h>
#include "provider.h"
#include "record.h"

struct membudget;

#define METER_TEXT_FLUSH	(64u << 10)

struct meter_text {
	char *buf;			/* not yet counted */
	size_t len, cap;
	int64_t tokens;			/* of what was counted and dropped */
	uint64_t bytes;			/* all text seen */
	int shed;			/* the memory bound refused the buffer:
					   what it would have held is estimated
					   from its size */
	uint64_t shed_bytes;
};

/* Generated text of `call`; never fails (a refused buffer is estimated). */
void meter_text_add(struct meter_text *t, struct membudget *mb,
		    const struct llm_call *call, const char *s, size_t n);
void meter_text_free(struct meter_text *t, struct membudget *mb);

/*
 * Settle rec->usage and rec->usage_source from the response (NULL when
 * there was none), the request body as kept (NULL if it was not; whole:
 * it is the entire decoded body) and the generated text.
 */
void meter_settle(struct tg_record *rec, const struct llm_resp *resp,
		  const uint8_t *body, size_t len, int whole, struct meter_text *text);

/* The input tokens of a request body, exact for OpenAI models, else an
 * estimate; a body that cannot be read is counted as raw text, never as 0. */
int64_t meter_input_tokens(const struct llm_call *call, const uint8_t *body, size_t len);

#endif
