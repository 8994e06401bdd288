// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Pairs the requests a client writes with the responses it reads.
 *
 * Requests are queued as their heads arrive (pipelining keeps order);
 * the response parser answers the oldest queued request.  An LLM call is
 * recognised by its path at the request head and confirmed by its body.
 * Records are emitted when the response ends, or when the connection
 * ends first: a call cut off is still a call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "decode.h"
#include "exchange.h"
#include "http1.h"
#include "sse.h"

#define EXCHANGE_MAX_ERRORS 8

struct pending {
	struct tg_record rec;
	int llm;			/* path is an LLM API's */
	int head_method;		/* response carries no body */
	int req_done;
	uint64_t req_end_ns;
	struct decoder *dec;		/* request Content-Encoding */
	uint8_t *body;
	size_t body_len;
	size_t body_cap;
};

struct exchange {
	const struct exchange_cfg *cfg;
	struct exchange_stats *stats;
	exchange_record_fn on_record;
	void *ctx;

	struct http1_parser *req_p;
	struct http1_parser *resp_p;
	const struct tg_meta *m;	/* meta of the event being fed */

	struct pending **q;		/* ring of cfg->max_pending */
	size_t q_head;
	size_t q_len;
	struct pending *writing;	/* request whose body is being parsed */

	/* response in progress, for q[q_head] */
	int resp_active;
	int resp_interim;		/* 1xx */
	int resp_sse;
	int resp_first_byte;
	struct decoder *resp_dec;
	struct sse_parser *sse;
	unsigned errors;		/* parser errors on this connection */
};

static struct pending *q_front(struct exchange *x)
{
	return x->q_len ? x->q[x->q_head] : NULL;
}

static void pending_free(struct pending *p)
{
	if (!p)
		return;
	decoder__free(p->dec);
	free(p->body);
	free(p);
}

static void emit(struct exchange *x, struct pending *p)
{
	if (p->llm) {
		if (p->rec.flags & (TG_REC_REQ_TRUNCATED | TG_REC_RESP_TRUNCATED |
				    TG_REC_NO_RESPONSE))
			x->stats->truncated++;
		x->stats->llm_calls++;
		x->on_record(x->ctx, &p->rec);
	}
	if (x->writing == p)
		x->writing = NULL;
	pending_free(p);
}

static void q_pop_emit(struct exchange *x)
{
	struct pending *p = q_front(x);

	if (!p)
		return;
	x->q[x->q_head] = NULL;
	x->q_head = (x->q_head + 1) % x->cfg->max_pending;
	x->q_len--;
	emit(x, p);
}

/*
 * A body piece through its Content-Encoding decoder (or straight to the
 * sink when there is none).  A body that cannot be decoded marks its
 * record and is not looked at further; the call is still metered.
 */
static int body_decode(struct exchange *x, struct pending *p, struct decoder *dec,
		       const uint8_t *data, size_t len, decode_sink_fn sink, void *ctx)
{
	int err;

	if (p->rec.flags & TG_REC_DECODE_ERROR)
		return 0;
	if (!dec)
		return sink(ctx, data, len);
	err = decoder__feed(dec, data, len, sink, ctx);
	if (err == -ENOMEM)
		return err;
	if (err < 0) {
		p->rec.flags |= TG_REC_DECODE_ERROR;
		x->stats->decode_errors++;
	}
	return 0;
}

/* The body ended: a compressed stream cut short is a decode error. */
static void body_finish(struct exchange *x, struct pending *p, struct decoder *dec,
			decode_sink_fn sink, void *ctx)
{
	if (dec && !(p->rec.flags & TG_REC_DECODE_ERROR) && decoder__finish(dec, sink, ctx) < 0) {
		p->rec.flags |= TG_REC_DECODE_ERROR;
		x->stats->decode_errors++;
	}
}

/* --- request side -------------------------------------------------------- */

static void copy_field(char *dst, size_t cap, const char *src, size_t len)
{
	provider_copy_str(dst, cap, src ? src : "", src ? len : 0);
}

static int req_on_head(void *ctx, const struct http1_head *h)
{
	struct exchange *x = ctx;
	struct pending *p;

	x->stats->requests++;
	if (x->q_len == x->cfg->max_pending) {
		/* A client that never reads its responses: end the oldest. */
		x->stats->pending_overflows++;
		q_front(x)->rec.flags |= TG_REC_NO_RESPONSE;
		q_pop_emit(x);
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->rec.who = *x->m;
	p->rec.start_ns = x->m->ts_ns;
	p->rec.ttft_ns = TG_TIME_UNKNOWN;
	p->rec.duration_ns = TG_TIME_UNKNOWN;
	copy_field(p->rec.method, sizeof(p->rec.method), h->method, h->method_len);
	copy_field(p->rec.host, sizeof(p->rec.host), h->host, h->host_len);
	copy_field(p->rec.path, sizeof(p->rec.path), h->target,
		   provider_path_len(h->target, h->target_len));
	p->head_method = h->method_len == 4 && !memcmp(h->method, "HEAD", 4);
	p->llm = h->method_len == 4 && !memcmp(h->method, "POST", 4) &&
		 provider_match(h->host, h->host_len, h->target, h->target_len,
				&p->rec.call);
	if (p->llm && h->content_encoding) {
		p->dec = decoder__new(h->content_encoding, h->content_encoding_len,
				      x->cfg->max_decoded);
		if (!p->dec)
			p->rec.flags |= TG_REC_DECODE_ERROR;
	}
	x->q[(x->q_head + x->q_len) % x->cfg->max_pending] = p;
	x->q_len++;
	x->writing = p;
	return 0;
}

static int body_append(void *ctx, const uint8_t *data, size_t len)
{
	struct pending *p = ctx;
	size_t cap;
	uint8_t *nb;

	p->rec.request_bytes += len;
	if (p->rec.flags & TG_REC_BODY_OVERFLOW)
		return 0;
	if (p->body_len + len > p->body_cap) {
		cap = p->body_cap ? p->body_cap : 4096;
		while (cap < p->body_len + len)
			cap *= 2;
		nb = realloc(p->body, cap);
		if (!nb)
			return -ENOMEM;
		p->body = nb;
		p->body_cap = cap;
	}
	memcpy(p->body + p->body_len, data, len);
	p->body_len += len;
	return 0;
}

static int req_on_body(void *ctx, const uint8_t *data, size_t len)
{
	struct exchange *x = ctx;
	struct pending *p = x->writing;

	if (!p)
		return 0;
	if (!p->llm) {
		p->rec.request_bytes += len;
		return 0;
	}
	if (p->body_len + len > x->cfg->max_body && !(p->rec.flags & TG_REC_BODY_OVERFLOW)) {
		p->rec.flags |= TG_REC_BODY_OVERFLOW;
		x->stats->body_overflows++;
	}
	return body_decode(x, p, p->dec, data, len, body_append, p);
}

static int req_on_body_gap(void *ctx, uint64_t len)
{
	struct exchange *x = ctx;

	if (x->writing) {
		x->writing->rec.flags |= TG_REC_GAP;
		/* The size is still exact for an identity body. */
		if (!x->writing->dec)
			x->writing->rec.request_bytes += len;
	}
	return 0;
}

/*
 * Last resort for a body we could not parse whole (gap, cap): the first
 * "model": "..." in what we have.
 */
static void scan_model(struct pending *p)
{
	static const char key[] = "\"model\"";
	const char *s = (const char *)p->body, *end = s + p->body_len, *k, *q;

	if (!s || p->rec.call.model[0])
		return;
	k = memmem(s, p->body_len, key, sizeof(key) - 1);
	if (!k)
		return;
	k += sizeof(key) - 1;
	while (k < end && (*k == ' ' || *k == ':' || *k == '\t' || *k == '\n' || *k == '\r'))
		k++;
	if (k >= end || *k != '"')
		return;
	k++;
	q = memchr(k, '"', end - k);
	if (q)
		provider_copy_str(p->rec.call.model, sizeof(p->rec.call.model), k, q - k);
}

static int req_on_end(void *ctx, int truncated)
{
	struct exchange *x = ctx;
	struct pending *p = x->writing;
	int err;

	if (!p)
		return 0;
	x->writing = NULL;
	p->req_done = 1;
	p->req_end_ns = x->m->ts_ns;
	if (truncated)
		p->rec.flags |= TG_REC_REQ_TRUNCATED;
	if (!p->llm)
		return 0;
	body_finish(x, p, p->dec, body_append, p);
	if (p->rec.flags & (TG_REC_GAP | TG_REC_BODY_OVERFLOW | TG_REC_DECODE_ERROR |
			    TG_REC_REQ_TRUNCATED)) {
		/* Incomplete body: the path already says LLM; keep the call. */
		scan_model(p);
	} else {
		err = provider_on_request(&p->rec.call, p->body, p->body_len);
		if (err == -ENOMEM)
			return err;
		if (err < 0) {
			p->llm = 0;
			x->stats->not_llm_body++;
		}
	}
	free(p->body);
	p->body = NULL;
	p->body_len = p->body_cap = 0;
	return 0;
}

/* --- response side ------------------------------------------------------- */

static void resp_reset(struct exchange *x)
{
	decoder__free(x->resp_dec);
	sse_parser__free(x->sse);
	x->resp_dec = NULL;
	x->sse = NULL;
	x->resp_active = 0;
	x->resp_interim = 0;
	x->resp_sse = 0;
	x->resp_first_byte = 0;
}

static int on_sse_event(void *ctx, const struct sse_event *ev)
{
	struct pending *p = ctx;

	p->rec.sse_events++;
	return 0;
}

static int media_is(const char *v, size_t len, const char *type)
{
	size_t n = strlen(type);

	while (len && (*v == ' ' || *v == '\t'))
		v++, len--;
	return len >= n && !strncasecmp(v, type, n) &&
	       (len == n || v[n] == ';' || v[n] == ' ');
}

static int resp_on_head(void *ctx, const struct http1_head *h)
{
	struct exchange *x = ctx;
	struct pending *p = q_front(x);

	resp_reset(x);
	if (!p) {
		x->stats->orphan_responses++;
		return 0;
	}
	x->resp_active = 1;
	if (h->status >= 100 && h->status < 200) {
		x->resp_interim = 1;
		return 0;
	}
	p->rec.status = h->status;
	if (!p->llm)
		return p->head_method ? HTTP1_HEAD_NO_BODY : 0;
	if (h->content_encoding) {
		x->resp_dec = decoder__new(h->content_encoding, h->content_encoding_len,
					   x->cfg->max_decoded);
		if (!x->resp_dec) {
			p->rec.flags |= TG_REC_DECODE_ERROR;
			x->stats->decode_errors++;
		}
	}
	if (h->content_type && media_is(h->content_type, h->content_type_len,
					"text/event-stream")) {
		x->resp_sse = 1;
		x->sse = sse_parser__new(x->cfg->max_sse_event, on_sse_event, p);
		if (!x->sse)
			return -ENOMEM;
	}
	return p->head_method ? HTTP1_HEAD_NO_BODY : 0;
}

static int resp_sink(void *ctx, const uint8_t *data, size_t len)
{
	struct exchange *x = ctx;
	struct pending *p = q_front(x);

	p->rec.response_bytes += len;
	if (x->sse)
		return sse_parser__feed(x->sse, data, len);
	return 0;
}

static int resp_on_body(void *ctx, const uint8_t *data, size_t len)
{
	struct exchange *x = ctx;
	struct pending *p = q_front(x);

	if (!p || !x->resp_active || x->resp_interim)
		return 0;
	if (!x->resp_first_byte) {
		x->resp_first_byte = 1;
		p->rec.ttft_ns = x->m->ts_ns -
				 (p->req_done ? p->req_end_ns : p->rec.start_ns);
	}
	if (!p->llm) {
		p->rec.response_bytes += len;
		return 0;
	}
	return body_decode(x, p, x->resp_dec, data, len, resp_sink, x);
}

static int resp_on_body_gap(void *ctx, uint64_t len)
{
	struct exchange *x = ctx;
	struct pending *p = q_front(x);

	if (p && x->resp_active) {
		p->rec.flags |= TG_REC_GAP;
		if (!x->resp_dec)
			p->rec.response_bytes += len;
	}
	return 0;
}

static int resp_on_end(void *ctx, int truncated)
{
	struct exchange *x = ctx;
	struct pending *p = q_front(x);

	if (!p || !x->resp_active)
		return 0;
	if (x->resp_interim) {
		resp_reset(x);
		return 0;
	}
	if (truncated)
		p->rec.flags |= TG_REC_RESP_TRUNCATED;
	body_finish(x, p, x->resp_dec, resp_sink, x);
	if (x->sse)
		sse_parser__finish(x->sse);
	p->rec.duration_ns = x->m->ts_ns - p->rec.start_ns;
	resp_reset(x);
	q_pop_emit(x);
	return 0;
}

static const struct http1_callbacks req_cb = {
	.on_head = req_on_head,
	.on_body = req_on_body,
	.on_body_gap = req_on_body_gap,
	.on_end = req_on_end,
};

static const struct http1_callbacks resp_cb = {
	.on_head = resp_on_head,
	.on_body = resp_on_body,
	.on_body_gap = resp_on_body_gap,
	.on_end = resp_on_end,
};

struct exchange *exchange__new(const struct exchange_cfg *cfg,
			       struct exchange_stats *stats,
			       exchange_record_fn on_record, void *ctx)
{
	struct exchange *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->cfg = cfg;
	x->stats = stats;
	x->on_record = on_record;
	x->ctx = ctx;
	x->q = calloc(cfg->max_pending, sizeof(*x->q));
	x->req_p = http1_parser__new(HTTP1_REQUEST, &req_cb, x);
	x->resp_p = http1_parser__new(HTTP1_RESPONSE, &resp_cb, x);
	if (!x->q || !x->req_p || !x->resp_p) {
		exchange__free(x);
		errno = ENOMEM;
		return NULL;
	}
	return x;
}

int exchange__feed(struct exchange *x, int dir, const struct tg_meta *m,
		   const uint8_t *data, size_t len)
{
	ssize_t n;

	struct http1_parser *p = dir ? x->resp_p : x->req_p;

	x->m = m;
	n = http1_parser__feed(p, data, len);
	if (n < 0 && n != -ENOMEM) {
		/* Garbage: drop to the next message start, unless this keeps
		 * happening and the stream is not HTTP we can follow. */
		x->stats->http_errors++;
		if (++x->errors < EXCHANGE_MAX_ERRORS) {
			http1_parser__gap(p, 0);
			n = 0;
		}
	}
	x->m = NULL;
	return n < 0 ? (int)n : 0;
}

int exchange__gap(struct exchange *x, int dir, const struct tg_meta *m, uint64_t len)
{
	int err;

	x->m = m;
	err = http1_parser__gap(dir ? x->resp_p : x->req_p, len);
	x->m = NULL;
	return err;
}

void exchange__close(struct exchange *x, uint64_t ts_ns)
{
	struct tg_meta m = { .ts_ns = ts_ns };
	struct pending *p;

	x->m = &m;
	http1_parser__eof(x->req_p);
	http1_parser__eof(x->resp_p);
	/* Requests that never got (all of) their response. */
	while ((p = q_front(x))) {
		if (x->resp_active && !x->resp_interim) {
			p->rec.flags |= TG_REC_RESP_TRUNCATED;
			p->rec.duration_ns = ts_ns - p->rec.start_ns;
		} else {
			p->rec.flags |= TG_REC_NO_RESPONSE;
		}
		resp_reset(x);
		q_pop_emit(x);
	}
	x->m = NULL;
}

void exchange__free(struct exchange *x)
{
	size_t i;

	if (!x)
		return;
	if (x->q)
		for (i = 0; i < x->q_len; i++)
			pending_free(x->q[(x->q_head + i) % x->cfg->max_pending]);
	free(x->q);
	resp_reset(x);
	http1_parser__free(x->req_p);
	http1_parser__free(x->resp_p);
	free(x);
}
