/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* One metered LLM call, as the core hands it to the edges. */
#ifndef TOLLGATE_RECORD_H
#define TOLLGATE_RECORD_H

#include <stdint.h>
#include "provider.h"
#include "usage.h"

#define TG_KEY_FP_LEN	20		/* "sha256:" + 12 hex + NUL */

#define TG_TIME_UNKNOWN	UINT64_MAX

enum tg_record_flags {
	TG_REC_REQ_TRUNCATED	= 1 << 0,	/* request ended before its framing said */
	TG_REC_RESP_TRUNCATED	= 1 << 1,	/* response cut off (client, network, capture) */
	TG_REC_GAP		= 1 << 2,	/* bytes of this exchange were not captured */
	TG_REC_DECODE_ERROR	= 1 << 3,	/* a body could not be decoded */
	TG_REC_BODY_OVERFLOW	= 1 << 4,	/* request body larger than the parse cap */
	TG_REC_NO_RESPONSE	= 1 << 5,	/* connection ended before any response */
	TG_REC_SHED		= 1 << 6,	/* a buffer was shed for the memory bound */
	TG_REC_SSE_DROPPED	= 1 << 7,	/* SSE events dropped (oversized or shed) */
	TG_REC_UNTRACKED	= 1 << 8,	/* too many requests pipelined: its
						   response was not followed */
	TG_REC_FIELD_CUT	= 1 << 9,	/* model, host or path longer than kept */
	TG_REC_UNPARSED		= 1 << 10,	/* request body on an LLM path that could
						   not be parsed whole (too deep, odd
						   JSON): metered all the same */
	TG_REC_RESP_ERROR	= 1 << 11,	/* error response, or a stream that
						   ended in an error event */
	TG_REC_MISSED_START	= 1 << 12,	/* the connection predates the agent:
						   its head was not seen, the call
						   is told by its bodies */
};

enum tg_usage_source {
	TG_USAGE_NONE = 0,		/* nothing to count (error response) */
	TG_USAGE_PROVIDER,		/* the provider's own report */
	TG_USAGE_ESTIMATED,		/* counted or estimated by tollgate */
};

struct tg_meta {			/* who and when, for one captured event */
	uint64_t ts_ns;			/* CLOCK_MONOTONIC */
	uint64_t cgroup_id;
	uint32_t tgid;
	uint32_t tid;
	uint32_t uid;
	char comm[16];
};

struct tg_record {
	struct tg_meta who;		/* of the first request byte */
	uint64_t start_ns;		/* first request byte (monotonic) */
	uint64_t ttft_ns;		/* request sent -> first response body byte */
	uint64_t duration_ns;		/* first request byte -> last response byte */
	char host[256];
	char method[16];
	char path[512];			/* without the query string */
	struct llm_call call;		/* provider, api, model, stream */
	int status;			/* 0: no response */
	uint64_t request_bytes;		/* decoded body sizes */
	uint64_t response_bytes;
	uint32_t sse_events;
	uint32_t flags;			/* enum tg_record_flags */
	struct llm_usage usage;		/* §9 buckets */
	enum tg_usage_source usage_source;
	char key_fp[TG_KEY_FP_LEN];	/* API key fingerprint, "" if none */
	char resp_model[PROVIDER_MODEL_MAX]; /* the model the response names, "" */
	uint64_t seq;			/* the agent's number for the call (ledger),
					   0 if it was never opened */
	uint64_t conn;			/* the connection (its SSL address) */
};

/* The model a call is reported and priced as: the one the response names
 * (the dated snapshot billed, the model behind an Azure deployment), else
 * the request's. */
static inline const char *record_model(const struct tg_record *r)
{
	return r->resp_model[0] ? r->resp_model : r->call.model;
}

#endif
