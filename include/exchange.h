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
#include "http1.h"
#include "http2.h"
#include "record.h"

struct membudget;

/* exchange__gap's length when it is not known. */
#define EXCHANGE_GAP_UNKNOWN	UINT64_MAX

struct exchange_cfg {
	uint64_t max_body;		/* decoded request body kept for parsing */
	uint64_t max_decoded;		/* decoded bytes allowed per body (bomb cap) */
	size_t max_pending;		/* pipelined requests followed at once */
	size_t max_sse_event;		/* one SSE event's buffered size */
	size_t max_member;		/* a response member usage is read from */
	struct membudget *mb;		/* bound on all buffers (NULL: none) */
};

/* Shared counters, owned by the caller, bumped by every exchange. */
struct exchange_stats {
	uint64_t requests;		/* request heads seen */
	uint64_t llm_calls;		/* records emitted */
	uint64_t not_llm_body;		/* LLM path, body not the API's shape,
					   and no usage in the response */
	uint64_t unparsed;		/* LLM path, body not parsed whole:
					   metered all the same */
	uint64_t estimated;		/* records whose usage is tollgate's count */
	uint64_t http_errors;		/* parser errors (garbage) */
	uint64_t decode_errors;		/* bodies that could not be decoded, or
					   an unknown Content-Encoding */
	uint64_t body_overflows;	/* request bodies over max_body */
	uint64_t pending_overflows;	/* requests beyond max_pending: metered,
					   their response not followed */
	uint64_t orphan_responses;	/* response with no request */
	uint64_t truncated;		/* records cut off */
	uint64_t shed;			/* records with a buffer shed (memory bound) */
	uint64_t heads_shed;		/* heads the memory bound had no room for */
	uint64_t fields_cut;		/* records with model, host or path cut */
	uint64_t sse_events;		/* SSE events of LLM responses */
	uint64_t sse_oversized;		/* ... dropped for their size */
	uint64_t sse_shed;		/* ... dropped for the memory bound */
	uint64_t sse_partial;		/* ... unterminated at the end */
	struct http1_stats http;	/* both parsers of ended exchanges */
	uint64_t h2_conns;		/* HTTP/2 connections followed */
	uint64_t h2_headless;		/* HTTP/2 calls whose head was not decoded:
					   told by their bodies */
	struct h2_stats h2;		/* decoders of ended HTTP/2 connections */
	uint64_t ws_conns;		/* WebSockets on LLM paths followed */
	uint64_t ws_messages;		/* their messages, both ways */
	uint64_t ws_errors;		/* their protocol errors and lost framings */
};

typedef void (*exchange_record_fn)(void *ctx, const struct tg_record *rec);
/* An LLM call's request is complete; rec is the call's, and may be marked
 * (rec->seq) for its record. */
typedef void (*exchange_open_fn)(void *ctx, struct tg_record *rec);

struct exchange;

struct exchange *exchange__new(const struct exchange_cfg *cfg,
			       struct exchange_stats *stats,
			       exchange_record_fn on_record, void *ctx);
/* The same for an HTTP/2 connection; midstream: its start was not seen
 * (it predates the agent), its heads cannot be decoded. */
struct exchange *exchange__new_h2(const struct exchange_cfg *cfg,
				  struct exchange_stats *stats,
				  exchange_record_fn on_record, void *ctx, int midstream);
/* dir: 0 = written by the process (requests), 1 = read (responses). */
int exchange__feed(struct exchange *x, int dir, const struct tg_meta *m,
		   const uint8_t *data, size_t len);
/* len bytes were not captured (EXCHANGE_GAP_UNKNOWN: some, how many is
 * not known; the message in progress cannot be followed past it). */
int exchange__gap(struct exchange *x, int dir, const struct tg_meta *m, uint64_t len);
/* The connection ended: finish what is in flight and emit it. */
void exchange__close(struct exchange *x, uint64_t ts_ns);
/* HTTP/2: looks ahead at a write not fed yet (h2_conn__peek); -ENOTSUP
 * for an HTTP/1 connection. */
int exchange__peek(struct exchange *x, const uint8_t *data, size_t len,
		   const struct h2_peek_callbacks *cb, void *ctx);
/* Calls fn (with the exchange's ctx) for every LLM request as it ends. */
void exchange__set_open(struct exchange *x, exchange_open_fn fn);
/* The connection's id (its SSL address), copied into every record. */
void exchange__set_conn(struct exchange *x, uint64_t conn);
/* Frees the exchange; its parsers' counters go to the shared stats. */
void exchange__free(struct exchange *x);

/* The API key a request head carries (Authorization: Bearer, x-api-key,
 * api-key, x-goog-api-key, ?key=), as its fingerprint; fp untouched when
 * there is none.  The key itself is never copied. */
void exchange_key_of(const struct http1_head *h, char fp[TG_KEY_FP_LEN]);

#endif
