// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Pairs the requests a client writes with the responses it reads.
 *
 * Requests are queued as their heads arrive (pipelining keeps order);
 * the response parser answers the oldest queued request.  An LLM call is
 * recognised by its path at the request head and confirmed by its body
 * (or, when the body is not the API's shape, by usage in its response);
 * a body that cannot be parsed whole is metered all the same (fail
 * closed).  The response is read for its usage as it streams.  Records
 * are emitted when the response ends, or when the connection ends first:
 * a call cut off is still a call, and its usage is estimated.
 *
 * The queue follows at most cfg->max_pending requests.  A request beyond
 * that is still parsed and metered, flagged untracked, and its place in
 * the response order is kept by a count on the slot before it, so later
 * responses still pair with their requests.  The request whose response
 * is being read stays at the front until that response ends: nothing
 * frees it under the response parser.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include "attribution.h"
#include "decode.h"
#include "exchange.h"
#include "http1.h"
#include "membudget.h"
#include "meter.h"
#include "sse.h"

#define EXCHANGE_MAX_ERRORS 8

struct pending {
	struct tg_record rec;
	int llm;			/* path is an LLM API's */
	int head_method;		/* response carries no body */
	int req_done;
	int queued;			/* in the queue (else: over max_pending) */
	uint64_t req_end_ns;
	struct decoder *dec;		/* request Content-Encoding */
	int undecodable;		/* request body decoding stopped */
	uint8_t *body;			/* decoded body, up to max_body: kept
					   until the call is settled, for an
					   estimate when usage is missing */
	size_t body_len;
	size_t body_cap;
	int body_whole;			/* body holds the entire request */
	size_t gap_at;			/* body_len at the first gap in it, or
					   SIZE_MAX */
	int doubtful;			/* parsed whole, not the API's shape:
					   an LLM call only if its response
					   reports usage */
	int resp_on;			/* resp initialised */
	int resp_done;			/* ... and finished */
	struct llm_resp resp;
	struct meter_text text;		/* generated text, for estimates */
};

/* A place in the response order. */
struct slot {
	struct pending *p;		/* NULL once answered */
	uint64_t skip;			/* then this many responses of requests
					   that were not followed */
};

struct exchange {
	uint64_t conn;			/* the connection's id (its SSL), for records */
	const struct exchange_cfg *cfg;
	struct exchange_stats *stats;
	exchange_record_fn on_record;
	exchange_open_fn on_open;
	void *ctx;

	struct http1_parser *req_p;
	struct http1_parser *resp_p;
	const struct tg_meta *m;	/* meta of the event being fed */

	struct slot *q;			/* ring of cfg->max_pending */
	size_t q_head;
	size_t q_len;
	struct pending *writing;	/* request whose body is being parsed */

	/* response in progress, for the front slot */
	int resp_active;
	int resp_interim;		/* 1xx */
	int resp_first_byte;
	struct decoder *resp_dec;
	int resp_undecodable;
	int resp_sniff;			/* events or JSON: the body will say */
	struct sse_parser *sse;
	unsigned errors;		/* parser errors on this connection */
};

static struct slot *q_front(struct exchange *x)
{
	return x->q_len ? &x->q[x->q_head] : NULL;
}

static struct slot *q_tail(struct exchange *x)
{
	return x->q_len ? &x->q[(x->q_head + x->q_len - 1) % x->cfg->max_pending] : NULL;
}

/* The request the response being read answers, NULL if none or one that
 * was not followed. */
static struct pending *resp_target(struct exchange *x)
{
	struct slot *s = q_front(x);

	return s ? s->p : NULL;
}

static void q_push(struct exchange *x, struct pending *p)
{
	x->q[(x->q_head + x->q_len) % x->cfg->max_pending] = (struct slot){ .p = p };
	x->q_len++;
	p->queued = 1;
}

static void pending_free(struct exchange *x, struct pending *p)
{
	if (!p)
		return;
	decoder__free(p->dec);
	membudget_free(x->cfg->mb, p->body);
	if (p->resp_on)
		llm_resp_free(&p->resp);
	meter_text_free(&p->text, x->cfg->mb);
	free(p);
}

/* The usage the call is billed for, and the model the response names. */
static void settle(struct exchange *x, struct pending *p)
{
	struct llm_resp *r = p->resp_on ? &p->resp : NULL;

	if (r && r->model[0] &&
	    provider_copy_str(p->rec.resp_model, sizeof(p->rec.resp_model), r->model,
			      strlen(r->model)))
		p->rec.flags |= TG_REC_FIELD_CUT;
	if (r && (r->flags & LLM_RESP_ERROR))
		p->rec.flags |= TG_REC_RESP_ERROR;
	meter_settle(&p->rec, r, p->body, p->body_len, p->body_whole, &p->text);
	if (p->rec.usage_source == TG_USAGE_ESTIMATED)
		x->stats->estimated++;
}

static void emit(struct exchange *x, struct pending *p)
{
	if (p->resp_on && !p->resp_done) {
		llm_resp_finish(&p->resp);
		p->resp_done = 1;
	}
	if (p->llm && p->doubtful && !(p->resp_on && (p->resp.flags & LLM_RESP_USAGE))) {
		/* Not the API's shape, and no usage came back: not an LLM call. */
		p->llm = 0;
		x->stats->not_llm_body++;
	}
	if (p->llm) {
		settle(x, p);
		if (p->rec.flags & (TG_REC_REQ_TRUNCATED | TG_REC_RESP_TRUNCATED |
				    TG_REC_NO_RESPONSE))
			x->stats->truncated++;
		if (p->rec.flags & TG_REC_SHED)
			x->stats->shed++;
		if (p->rec.call.model_cut)
			p->rec.flags |= TG_REC_FIELD_CUT;
		if (p->rec.flags & TG_REC_FIELD_CUT)
			x->stats->fields_cut++;
		x->stats->llm_calls++;
		x->on_record(x->ctx, &p->rec);
	}
	if (x->writing == p)
		x->writing = NULL;
	pending_free(x, p);
}

/* The front slot's response is over (emitted or skipped): drop the slot
 * when nothing is left in it; a request waiting for room gets it. */
static void q_answered(struct exchange *x)
{
	struct slot *s = q_front(x);

	if (!s)
		return;
	if (s->p) {
		struct pending *p = s->p;

		s->p = NULL;
		emit(x, p);
	} else if (s->skip) {
		s->skip--;
	}
	if (s->p || s->skip)
		return;
	x->q_head = (x->q_head + 1) % x->cfg->max_pending;
	x->q_len--;
	if (x->writing && !x->writing->queued)
		q_push(x, x->writing);
}

/*
 * A body piece through its Content-Encoding decoder (or straight to the
 * sink when there is none).  A body that cannot be decoded, or whose
 * decoder the memory bound refused, marks its record and is not looked at
 * further; the call is still metered.
 */
static int body_decode(struct exchange *x, struct pending *p, struct decoder **dec,
		       int *undecodable, const uint8_t *data, size_t len,
		       decode_sink_fn sink, void *ctx)
{
	int err;

	if (*undecodable)
		return 0;
	if (!*dec)
		return sink(ctx, data, len);
	err = decoder__feed(*dec, data, len, sink, ctx);
	if (err == -ENOMEM)
		return err;
	if (err == -ENOBUFS) {
		p->rec.flags |= TG_REC_SHED;
	} else if (err < 0) {
		p->rec.flags |= TG_REC_DECODE_ERROR;
		x->stats->decode_errors++;
	} else {
		return 0;
	}
	/* give its memory back now */
	*undecodable = 1;
	decoder__free(*dec);
	*dec = NULL;
	return 0;
}

/* The body ended: a compressed stream cut short is a decode error. */
static void body_finish(struct exchange *x, struct pending *p, struct decoder *dec,
			int undecodable, decode_sink_fn sink, void *ctx)
{
	if (dec && !undecodable && decoder__finish(dec, sink, ctx) < 0) {
		p->rec.flags |= TG_REC_DECODE_ERROR;
		x->stats->decode_errors++;
	}
}

/* A decoder for a body's Content-Encoding; NULL (and the record marked)
 * when there is none to be had. */
static struct decoder *body_decoder(struct exchange *x, struct pending *p,
				    const char *enc, size_t enc_len, int *undecodable)
{
	struct decoder *d;

	if (!enc)
		return NULL;
	d = decoder__new(enc, enc_len, x->cfg->max_decoded, x->cfg->mb);
	if (d)
		return d;
	*undecodable = 1;
	if (errno == ENOBUFS) {
		p->rec.flags |= TG_REC_SHED;
	} else {
		p->rec.flags |= TG_REC_DECODE_ERROR;
		x->stats->decode_errors++;
	}
	return NULL;
}

/* --- request side -------------------------------------------------------- */

static int copy_field(char *dst, size_t cap, const char *src, size_t len)
{
	return provider_copy_str(dst, cap, src ? src : "", src ? len : 0);
}

/* The value of a "key=" query parameter, or NULL. */
static const char *query_key(const char *target, size_t len, size_t *klen)
{
	const char *q = memchr(target, '?', len), *end = target + len, *v, *amp;

	for (; q && q < end; q = amp) {
		q++;
		amp = memchr(q, '&', end - q);
		if (!amp)
			amp = end;
		if (amp - q > 4 && !memcmp(q, "key=", 4)) {
			v = q + 4;
			*klen = amp - v;
			return v;
		}
	}
	return NULL;
}

/*
 * The API key a request carries, as a fingerprint only: the key stays in
 * the parser's buffer and is never copied.
 */
void exchange_key_of(const struct http1_head *h, char fp[TG_KEY_FP_LEN])
{
	static const struct {
		const char *name;
		const char *scheme;	/* prefix of the value to skip */
	} keys[] = {
		{ "authorization",	"Bearer " },
		{ "x-api-key",		"" },
		{ "api-key",		"" },
		{ "x-goog-api-key",	"" },
	};
	const struct http1_header *hd;
	const char *v;
	size_t i, j, n, vlen;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		n = strlen(keys[i].name);
		for (j = 0; j < h->nheaders; j++) {
			hd = &h->headers[j];
			if (hd->name_len != n || strncasecmp(hd->name, keys[i].name, n))
				continue;
			v = hd->value;
			vlen = hd->value_len;
			n = strlen(keys[i].scheme);
			if (n && (vlen < n || strncasecmp(v, keys[i].scheme, n)))
				break;
			v += n;
			vlen -= n;
			if (vlen) {
				key_fingerprint(v, vlen, fp);
				return;
			}
			break;
		}
	}
	v = query_key(h->target, h->target_len, &vlen);
	if (v && vlen)
		key_fingerprint(v, vlen, fp);
}

static int req_on_head(void *ctx, const struct http1_head *h)
{
	struct exchange *x = ctx;
	struct pending *p;
	const char *path, *host, *at;
	size_t plen, hlen;
	int cut;

	x->stats->requests++;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->rec.who = *x->m;
	p->rec.conn = x->conn;
	p->gap_at = SIZE_MAX;
	p->rec.start_ns = x->m->ts_ns;
	p->rec.ttft_ns = TG_TIME_UNKNOWN;
	p->rec.duration_ns = TG_TIME_UNKNOWN;
	path = provider_target_path(h->target, h->target_len, &plen);
	host = h->host;
	hlen = h->host_len;
	at = host ? memrchr(host, '@', hlen) : NULL;
	if (at) {
		/* no userinfo in a Host either (it is not valid there, but a
		 * client may send it, and it can hold a key) */
		hlen -= at + 1 - host;
		host = at + 1;
	}
	cut = copy_field(p->rec.method, sizeof(p->rec.method), h->method, h->method_len);
	cut |= copy_field(p->rec.host, sizeof(p->rec.host), host, hlen);
	cut |= copy_field(p->rec.path, sizeof(p->rec.path), path, plen);
	if (cut)
		p->rec.flags |= TG_REC_FIELD_CUT;
	p->head_method = h->method_len == 4 && !memcmp(h->method, "HEAD", 4);
	/* "post" too: a server may take it, and spend must not hide behind case */
	p->llm = h->method_len == 4 && !strncasecmp(h->method, "POST", 4) &&
		 provider_match(host, hlen, h->target, h->target_len, &p->rec.call);
	if (p->llm) {
		p->dec = body_decoder(x, p, h->content_encoding, h->content_encoding_len,
				      &p->undecodable);
		exchange_key_of(h, p->rec.key_fp);
	}
	if (x->q_len < x->cfg->max_pending)
		q_push(x, p);
	else
		x->stats->pending_overflows++;	/* queued when there is room */
	x->writing = p;
	return 0;
}

static int body_append(void *ctx, const uint8_t *data, size_t len)
{
	struct exchange *x = ctx;
	struct pending *p = x->writing;
	size_t cap, keep = len;
	uint8_t *nb;

	p->rec.request_bytes += len;
	if (p->rec.flags & (TG_REC_BODY_OVERFLOW | TG_REC_SHED))
		return 0;
	if (p->body_len + len > x->cfg->max_body) {
		/* keep what fits: the model may still be found in it */
		p->rec.flags |= TG_REC_BODY_OVERFLOW;
		x->stats->body_overflows++;
		keep = x->cfg->max_body - p->body_len;
	}
	if (p->body_len + keep > p->body_cap) {
		cap = p->body_cap ? p->body_cap : 4096;
		while (cap < p->body_len + keep)
			cap *= 2;
		if (cap > x->cfg->max_body)
			cap = x->cfg->max_body;
		/* The first 4 KiB may use the heads' reserve: where the model
		 * usually is, kept even when bodies are being shed. */
		nb = membudget_realloc(x->cfg->mb, p->body, cap,
				       cap <= 4096 ? MEMBUDGET_HEAD : MEMBUDGET_BULK);
		if (!nb && errno == ENOBUFS) {
			p->rec.flags |= TG_REC_SHED;
			return 0;
		}
		if (!nb)
			return -ENOMEM;
		p->body = nb;
		p->body_cap = cap;
	}
	if (keep)
		memcpy(p->body + p->body_len, data, keep);
	p->body_len += keep;
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
	return body_decode(x, p, &p->dec, &p->undecodable, data, len, body_append, x);
}

static int req_on_body_gap(void *ctx, uint64_t len)
{
	struct exchange *x = ctx;

	if (x->writing) {
		if (!(x->writing->rec.flags & TG_REC_GAP))
			x->writing->gap_at = x->writing->body_len;
		x->writing->rec.flags |= TG_REC_GAP;
		/* The size is still exact for an identity body. */
		if (!x->writing->dec && len != HTTP1_GAP_UNKNOWN)
			x->writing->rec.request_bytes += len;
	}
	return 0;
}

/* The body is JSON that json-c reads whole (else it is too deep, odd or
 * not JSON at all). */
static int json_whole(const uint8_t *body, size_t len)
{
	struct json_tokener *tok;
	json_object *obj;
	int ok;

	if (len > INT32_MAX)
		return 0;
	tok = json_tokener_new();
	if (!tok)
		return 0;
	obj = json_tokener_parse_ex(tok, (const char *)body, (int)len);
	ok = obj && json_tokener_get_error(tok) == json_tokener_success;
	json_object_put(obj);
	json_tokener_free(tok);
	return ok;
}

/*
 * The model of a body we could not parse whole.  Up to a gap the scan
 * knows where it is in the JSON; past one it does not, and takes the
 * first "model": "..." it finds (a nested one may be taken: better than
 * none, which would price the call at the default).
 */
static void scan_cut_body(struct pending *p)
{
	static const char key[] = "\"model\"";
	size_t upto = p->gap_at < p->body_len ? p->gap_at : p->body_len;
	const char *s, *end, *k, *q;

	if (provider_scan_request(&p->rec.call, p->body, upto) || upto == p->body_len)
		return;
	s = (const char *)p->body + upto;
	end = (const char *)p->body + p->body_len;
	k = memmem(s, end - s, key, sizeof(key) - 1);
	if (!k)
		return;
	k += sizeof(key) - 1;
	while (k < end && (*k == ' ' || *k == ':' || *k == '\t' || *k == '\n' || *k == '\r'))
		k++;
	if (k >= end || *k != '"')
		return;
	k++;
	q = memchr(k, '"', end - k);
	if (q && !p->rec.call.model[0])
		provider_set_model(&p->rec.call, k, q - k);
}

static int req_on_end(void *ctx, int truncated)
{
	struct exchange *x = ctx;
	struct pending *p = x->writing;
	int err;

	if (!p)
		return 0;
	p->req_done = 1;
	p->req_end_ns = x->m->ts_ns;
	if (truncated)
		p->rec.flags |= TG_REC_REQ_TRUNCATED;
	if (p->llm) {
		body_finish(x, p, p->dec, p->undecodable, body_append, x);
		if (p->rec.flags & (TG_REC_GAP | TG_REC_BODY_OVERFLOW | TG_REC_DECODE_ERROR |
				    TG_REC_REQ_TRUNCATED | TG_REC_SHED)) {
			/* Incomplete body: the path already says LLM; keep the call. */
			scan_cut_body(p);
		} else {
			p->body_whole = 1;
			err = provider_on_request(&p->rec.call, p->body, p->body_len);
			if (err == -ENOMEM)
				return err;
			if (err == -EBADMSG && json_whole(p->body, p->body_len)) {
				/* Read whole and not the API's shape: its
				 * response decides. */
				p->doubtful = 1;
			} else if (err < 0) {
				/* Not parsed whole (too deep, odd JSON, not
				 * JSON): fail closed, meter it. */
				p->rec.flags |= TG_REC_UNPARSED;
				x->stats->unparsed++;
				provider_scan_request(&p->rec.call, p->body, p->body_len);
			}
		}
		decoder__free(p->dec);
		p->dec = NULL;
	}
	x->writing = NULL;
	if (p->llm && !p->doubtful && x->on_open)
		x->on_open(x->ctx, &p->rec);
	if (!p->queued) {
		/* Still no room: meter it now; its response will be let pass. */
		p->rec.flags |= TG_REC_NO_RESPONSE | TG_REC_UNTRACKED;
		q_tail(x)->skip++;
		emit(x, p);
	}
	return 0;
}

/* --- response side ------------------------------------------------------- */

static void resp_reset(struct exchange *x)
{
	struct sse_stats ss;

	if (x->sse) {
		sse_parser__stats(x->sse, &ss);
		x->stats->sse_events += ss.events;
		x->stats->sse_oversized += ss.oversized;
		x->stats->sse_shed += ss.shed;
		x->stats->sse_partial += ss.partial;
	}
	decoder__free(x->resp_dec);
	sse_parser__free(x->sse);
	x->resp_dec = NULL;
	x->resp_undecodable = 0;
	x->resp_sniff = 0;
	x->sse = NULL;
	x->resp_active = 0;
	x->resp_interim = 0;
	x->resp_first_byte = 0;
}

static int on_sse_event(void *ctx, const struct sse_event *ev)
{
	struct exchange *x = ctx;
	struct pending *p = resp_target(x);

	if (!p)
		return 0;
	p->rec.sse_events++;
	return p->resp_on ? llm_resp_event(&p->resp, ev) : 0;
}

static void on_text(void *ctx, const char *s, size_t len)
{
	struct exchange *x = ctx;
	struct pending *p = resp_target(x);

	if (p)
		meter_text_add(&p->text, x->cfg->mb, &p->rec.call, s, len);
}

/* An SSE parser for a response that turns out to be events. */
static int sse_start(struct exchange *x)
{
	x->sse = sse_parser__new(x->cfg->max_sse_event, on_sse_event, x);
	if (!x->sse)
		return -ENOMEM;
	sse_parser__set_budget(x->sse, x->cfg->mb);
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
	struct pending *p = resp_target(x);
	int sse;

	resp_reset(x);
	if (!x->q_len) {
		x->stats->orphan_responses++;
		return 0;
	}
	x->resp_active = 1;
	if (h->status >= 100 && h->status < 200) {
		x->resp_interim = 1;
		return 0;
	}
	if (!p)		/* a request that was not followed */
		return 0;
	p->rec.status = h->status;
	if (!p->llm)
		return p->head_method ? HTTP1_HEAD_NO_BODY : 0;
	x->resp_dec = body_decoder(x, p, h->content_encoding, h->content_encoding_len,
				   &x->resp_undecodable);
	sse = h->content_type && media_is(h->content_type, h->content_type_len,
					  "text/event-stream");
	/* A stream answered without a Content-Type (as some recorders and
	 * proxies leave it) is told by its first byte. */
	x->resp_sniff = !h->content_type && p->rec.call.stream;
	if (p->resp_on)		/* a final answer after an interim one */
		llm_resp_free(&p->resp);
	if (llm_resp_init(&p->resp, &p->rec.call, h->status, sse, x->cfg->max_member))
		return -ENOMEM;
	p->resp_on = 1;
	p->resp_done = 0;
	p->resp.on_text = on_text;
	p->resp.text_ctx = x;
	if (sse && sse_start(x))
		return -ENOMEM;
	return p->head_method ? HTTP1_HEAD_NO_BODY : 0;
}

/* A JSON body starts with '{' or '[' (Gemini's array stream); anything
 * else a stream answers with is read as events. */
static int sniff_events(struct exchange *x, struct pending *p, const uint8_t *data,
			size_t len)
{
	size_t i = 0;

	while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' ||
			   data[i] == '\n'))
		i++;
	if (i == len)
		return 0;
	x->resp_sniff = 0;
	if (data[i] == '{' || data[i] == '[')
		return 0;
	p->resp.sse = 1;
	return sse_start(x);
}

static int resp_sink(void *ctx, const uint8_t *data, size_t len)
{
	struct exchange *x = ctx;
	struct pending *p = resp_target(x);

	p->rec.response_bytes += len;
	if (x->resp_sniff && sniff_events(x, p, data, len) < 0)
		return -ENOMEM;
	if (x->sse)
		return sse_parser__feed(x->sse, data, len);
	return p->resp_on ? llm_resp_body(&p->resp, data, len) : 0;
}

static int resp_on_body(void *ctx, const uint8_t *data, size_t len)
{
	struct exchange *x = ctx;
	struct pending *p = resp_target(x);

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
	return body_decode(x, p, &x->resp_dec, &x->resp_undecodable, data, len, resp_sink, x);
}

static int resp_on_body_gap(void *ctx, uint64_t len)
{
	struct exchange *x = ctx;
	struct pending *p = resp_target(x);

	if (p && x->resp_active) {
		p->rec.flags |= TG_REC_GAP;
		if (!x->resp_dec && !x->resp_undecodable && len != HTTP1_GAP_UNKNOWN)
			p->rec.response_bytes += len;
	}
	return 0;
}

/* The SSE counts of the response go on its record. */
static void resp_flag_sse(struct exchange *x, struct pending *p)
{
	struct sse_stats ss;

	if (!x->sse)
		return;
	sse_parser__stats(x->sse, &ss);
	if (ss.oversized || ss.shed)
		p->rec.flags |= TG_REC_SSE_DROPPED;
	if (ss.shed)
		p->rec.flags |= TG_REC_SHED;
}

static int resp_on_end(void *ctx, int truncated)
{
	struct exchange *x = ctx;
	struct pending *p = resp_target(x);

	if (!x->q_len || !x->resp_active)
		return 0;
	if (x->resp_interim) {
		resp_reset(x);
		return 0;
	}
	if (p) {
		if (truncated)
			p->rec.flags |= TG_REC_RESP_TRUNCATED;
		body_finish(x, p, x->resp_dec, x->resp_undecodable, resp_sink, x);
		if (x->sse)
			sse_parser__finish(x->sse);
		resp_flag_sse(x, p);
		if (p->resp_on && !p->resp_done) {
			llm_resp_finish(&p->resp);
			p->resp_done = 1;
		}
		p->rec.duration_ns = x->m->ts_ns - p->rec.start_ns;
	}
	resp_reset(x);
	q_answered(x);
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
	x->q = calloc(cfg->max_pending ? cfg->max_pending : 1, sizeof(*x->q));
	x->req_p = http1_parser__new(HTTP1_REQUEST, &req_cb, x);
	x->resp_p = http1_parser__new(HTTP1_RESPONSE, &resp_cb, x);
	if (!x->q || !x->req_p || !x->resp_p || !cfg->max_pending) {
		exchange__free(x);
		errno = ENOMEM;
		return NULL;
	}
	http1_parser__set_budget(x->req_p, cfg->mb);
	http1_parser__set_budget(x->resp_p, cfg->mb);
	return x;
}

void exchange__set_open(struct exchange *x, exchange_open_fn fn)
{
	x->on_open = fn;
}

void exchange__set_conn(struct exchange *x, uint64_t conn)
{
	x->conn = conn;
}

int exchange__feed(struct exchange *x, int dir, const struct tg_meta *m,
		   const uint8_t *data, size_t len)
{
	struct http1_parser *p = dir ? x->resp_p : x->req_p;
	ssize_t n;

	x->m = m;
	n = http1_parser__feed(p, data, len);
	if (n == -ENOBUFS) {
		/* A head the memory bound had no room for: lost, counted;
		 * look for the next message. */
		x->stats->heads_shed++;
		http1_parser__gap(p, 0);
		n = 0;
	} else if (n < 0 && n != -ENOMEM) {
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

/*
 * A call's bytes were lost, how many unknown, between messages: what was
 * lost is most likely a whole message (a call blocked in SSL_read when
 * its probe went away returns the response it waited for).  Keep the
 * pairing right: a lost request takes its place in the response order
 * (its response is let pass); a lost response answers the oldest request,
 * which is metered without it.
 */
static void lost_between(struct exchange *x, int dir)
{
	struct slot *s;
	struct pending *p;

	if (!dir) {
		if (x->writing)
			return;		/* the gap cuts the request in progress */
		s = q_tail(x);
		if (s) {
			s->skip++;
		} else {
			/* an empty queue: a slot for the lost request alone */
			x->q[x->q_head] = (struct slot){ .skip = 1 };
			x->q_len = 1;
		}
		return;
	}
	if (x->resp_active || !x->q_len)
		return;			/* the gap cuts the response in progress */
	p = resp_target(x);
	if (p && !p->req_done)
		return;			/* not asked for yet */
	if (p)
		p->rec.flags |= TG_REC_GAP | TG_REC_RESP_TRUNCATED;
	q_answered(x);
}

int exchange__gap(struct exchange *x, int dir, const struct tg_meta *m, uint64_t len)
{
	int err;

	x->m = m;
	if (len == EXCHANGE_GAP_UNKNOWN)
		lost_between(x, dir);
	err = http1_parser__gap(dir ? x->resp_p : x->req_p,
				len == EXCHANGE_GAP_UNKNOWN ? HTTP1_GAP_UNKNOWN : len);
	x->m = NULL;
	return err;
}

void exchange__close(struct exchange *x, uint64_t ts_ns)
{
	struct tg_meta m = { .ts_ns = ts_ns };
	struct pending *p;
	struct slot *s;

	x->m = &m;
	http1_parser__eof(x->req_p);
	http1_parser__eof(x->resp_p);
	/* Requests that never got (all of) their response. */
	while ((s = q_front(x))) {
		p = s->p;
		if (p && x->resp_active && !x->resp_interim) {
			p->rec.flags |= TG_REC_RESP_TRUNCATED;
			p->rec.duration_ns = ts_ns - p->rec.start_ns;
			resp_flag_sse(x, p);
		} else if (p) {
			p->rec.flags |= TG_REC_NO_RESPONSE;
		}
		resp_reset(x);
		s->skip = 0;
		q_answered(x);
	}
	/* One that never found room: the eof above ended its body. */
	if (x->writing) {
		x->writing->rec.flags |= TG_REC_NO_RESPONSE;
		emit(x, x->writing);
	}
	x->m = NULL;
}

static void add_http1_stats(struct http1_stats *to, const struct http1_parser *p)
{
	struct http1_stats s;

	http1_parser__stats(p, &s);
	to->messages += s.messages;
	to->bad += s.bad;
	to->resyncs += s.resyncs;
	to->truncated += s.truncated;
	to->gap_bytes += s.gap_bytes;
	to->skipped += s.skipped;
}

void exchange__free(struct exchange *x)
{
	size_t i;

	if (!x)
		return;
	if (x->q)
		for (i = 0; i < x->q_len; i++)
			pending_free(x, x->q[(x->q_head + i) % x->cfg->max_pending].p);
	if (x->writing && !x->writing->queued)
		pending_free(x, x->writing);
	free(x->q);
	resp_reset(x);
	if (x->req_p)
		add_http1_stats(&x->stats->http, x->req_p);
	if (x->resp_p)
		add_http1_stats(&x->stats->http, x->resp_p);
	http1_parser__free(x->req_p);
	http1_parser__free(x->resp_p);
	free(x);
}
