/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * HTTP/1.1 exchanges of one client connection: requests (written) paired
 * with responses (read), bodies decoded, SSE framed, LLM calls recognised
 * and handed out as records when they end.
 */
#ifndef TOLLGATE_EXCHANGE_H
#define TOLLGATE_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>
#include "record.h"

struct exchange_cfg {
	uint64_t max_body;		/* request body kept for parsing */
	uint64_t max_decoded;		/* decoded bytes allowed per body (bomb cap) */
	size_t max_pending;		/* pipelined requests awaiting a response */
	size_t max_sse_event;		/* one SSE event's buffered size */
};

/* Shared counters, owned by the caller, bumped by every exchange. */
struct exchange_stats {
	uint64_t requests;		/* request heads seen */
	uint64_t llm_calls;		/* records emitted */
	uint64_t not_llm_body;		/* LLM path, body not the API's shape */
	uint64_t http_errors;		/* parser errors (garbage) */
	uint64_t decode_errors;
	uint64_t body_overflows;
	uint64_t pending_overflows;
	uint64_t orphan_responses;	/* response with no request */
	uint64_t truncated;
};

typedef void (*exchange_record_fn)(void *ctx, const struct tg_record *rec);

struct exchange;

struct exchange *exchange__new(const struct exchange_cfg *cfg,
			       struct exchange_stats *stats,
			       exchange_record_fn on_record, void *ctx);
/* dir: 0 = written by the process (requests), 1 = read (responses). */
int exchange__feed(struct exchange *x, int dir, const struct tg_meta *m,
		   const uint8_t *data, size_t len);
int exchange__gap(struct exchange *x, int dir, const struct tg_meta *m, uint64_t len);
/* The connection ended: finish what is in flight and emit it. */
void exchange__close(struct exchange *x, uint64_t ts_ns);
void exchange__free(struct exchange *x);

#endif
