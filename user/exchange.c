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
#include "http2.h"
#include "membudget.h"
#include "meter.h"
#include "sse.h"
#include "websocket.h"

#define EXCHANGE_MAX_ERRORS 8

struct pending {
	struct exchange *x;
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

	/* the response being read */
	int resp_first_byte;
	struct decoder *resp_dec;
	int resp_undecodable;
	int resp_sniff;			/* events or JSON: the body will say */
	struct sse_parser *sse;

	/* HTTP/2 */
	uint32_t sid;			/* its stream */
	struct pending *snext;		/* the connection's streams */
	int h2_req_open;		/* request message started, not ended */
	int h2_resp_open;		/* final response started, not ended */
	int h2_resp_done;		/* ... and ended */
	int headless;			/* request head not decoded */
	int resp_guess;			/* the response's start names the API */
	int64_t resp_clen;		/* its Content-Length, -1 if none */
	int times_unknown;		/* its start was not seen */
	int ws_upgrade;			/* a WebSocket upgrade on an LLM path */
	struct pending *wsnext;		/* WebSocket calls in flight, in order */
	uint64_t resp_wire;		/* its body bytes as sent (before decoding) */
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
	unsigned errors;		/* parser errors on this connection */

	/* HTTP/2: the connection's decoder and its streams */
	struct h2_conn *h2;
	struct pending *streams;
	int midstream;			/* its start was not seen */

	/* A WebSocket on an LLM path (after a 101): a decoder per direction,
	 * the upgrade's record as the model of each call's, the calls in
	 * flight (each response.create is answered in order). */
	struct ws_parser *ws[2];
	struct tg_record ws_tmpl;
	struct pending *ws_head, *ws_tail;
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

static void resp_clear(struct exchange *x, struct pending *p);

static void pending_free(struct exchange *x, struct pending *p)
{
	if (!p)
		return;
	resp_clear(x, p);
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
	if (x->h2) {
		struct pending **pp = &x->streams;

		while (*pp && *pp != p)
			pp = &(*pp)->snext;
		if (*pp)
			*pp = p->snext;
	}
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

/* The first header named `name` (its value, or NULL). */
static const struct http1_header *header_of(const struct http1_head *h, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < h->nheaders; i++)
		if (h->headers[i].name_len == n && !strncasecmp(h->headers[i].name, name, n))
			return &h->headers[i];
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
	size_t i, n, vlen;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		hd = header_of(h, keys[i].name);
		if (!hd)
			continue;
		n = strlen(keys[i].scheme);
		if (n && (hd->value_len < n || strncasecmp(hd->value, keys[i].scheme, n)))
			continue;
		if (hd->value_len > n) {
			key_fingerprint(hd->value + n, hd->value_len - n, fp);
			return;
		}
	}
	v = query_key(h->target, h->target_len, &vlen);
	if (v && vlen)
		key_fingerprint(v, vlen, fp);
}

/* A call's record as a request starts (its head known or not). */
static struct pending *pending_new(struct exchange *x)
{
	struct pending *p;

	x->stats->requests++;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->x = x;
	p->rec.who = *x->m;
	p->rec.conn = x->conn;
	p->gap_at = SIZE_MAX;
	p->rec.start_ns = x->m->ts_ns;
	p->rec.ttft_ns = TG_TIME_UNKNOWN;
	p->rec.duration_ns = TG_TIME_UNKNOWN;
	return p;
}

/* Header `name` lists `token` (case-insensitive, comma-separated). */
static int header_has(const struct http1_head *h, const char *name, const char *token)
{
	const struct http1_header *hd = header_of(h, name);
	size_t n = strlen(token), i = 0, j;

	if (!hd)
		return 0;
	while (i < hd->value_len) {
		while (i < hd->value_len && (hd->value[i] == ' ' || hd->value[i] == ',' ||
					     hd->value[i] == '\t'))
			i++;
		j = i;
		while (j < hd->value_len && hd->value[j] != ',')
			j++;
		while (j > i && (hd->value[j - 1] == ' ' || hd->value[j - 1] == '\t'))
			j--;
		if (j - i == n && !strncasecmp(hd->value + i, token, n))
			return 1;
		i = j;
	}
	return 0;
}

/* A request head: its record, and whether it is an LLM call. */
static struct pending *req_start(struct exchange *x, const struct http1_head *h)
{
	struct pending *p = pending_new(x);
	const char *path, *host, *at;
	size_t plen, hlen;
	int cut;

	if (!p)
		return NULL;
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
	} else if (h->method_len == 3 && !strncasecmp(h->method, "GET", 3) &&
		   header_has(h, "upgrade", "websocket") &&
		   provider_match(host, hlen, h->target, h->target_len, &p->rec.call)) {
		/* its messages will be the calls */
		p->ws_upgrade = 1;
		exchange_key_of(h, p->rec.key_fp);
	}
	return p;
}

static int req_on_head(void *ctx, const struct http1_head *h)
{
	struct exchange *x = ctx;
	struct pending *p = req_start(x, h);

	if (!p)
		return -ENOMEM;
	if (x->q_len < x->cfg->max_pending)
		q_push(x, p);
	else
		x->stats->pending_overflows++;	/* queued when there is room */
	x->writing = p;
	return 0;
}

static int body_append(void *ctx, const uint8_t *data, size_t len)
{
	struct pending *p = ctx;
	struct exchange *x = p->x;
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

static int req_body(struct exchange *x, struct pending *p, const uint8_t *data, size_t len)
{
	if (!p->llm) {
		p->rec.request_bytes += len;
		return 0;
	}
	return body_decode(x, p, &p->dec, &p->undecodable, data, len, body_append, p);
}

static int req_on_body(void *ctx, const uint8_t *data, size_t len)
{
	struct exchange *x = ctx;

	return x->writing ? req_body(x, x->writing, data, len) : 0;
}

static void req_gap(struct pending *p, uint64_t len)
{
	if (!(p->rec.flags & TG_REC_GAP))
		p->gap_at = p->body_len;
	p->rec.flags |= TG_REC_GAP;
	/* The size is still exact for an identity body. */
	if (!p->dec && len != HTTP1_GAP_UNKNOWN)
		p->rec.request_bytes += len;
}

static int req_on_body_gap(void *ctx, uint64_t len)
{
	struct exchange *x = ctx;

	if (x->writing)
		req_gap(x->writing, len);
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

/* The request is over: its body says what the call is. */
static int req_finish(struct exchange *x, struct pending *p, int truncated)
{
	int err;

	p->req_done = 1;
	p->req_end_ns = x->m->ts_ns;
	if (truncated)
		p->rec.flags |= TG_REC_REQ_TRUNCATED;
	if (p->llm && p->headless &&
	    !provider_guess(&p->rec.call, p->body, p->body_len, 1)) {
		/* nothing in the body names an API: its response may */
		p->doubtful = 1;
		return 0;
	}
	if (p->llm) {
		body_finish(x, p, p->dec, p->undecodable, body_append, p);
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
	if (p->llm && !p->doubtful && x->on_open)
		x->on_open(x->ctx, &p->rec);
	return 0;
}

static int req_on_end(void *ctx, int truncated)
{
	struct exchange *x = ctx;
	struct pending *p = x->writing;
	int err;

	if (!p)
		return 0;
	err = req_finish(x, p, truncated);
	if (err)
		return err;
	x->writing = NULL;
	if (!p->queued) {
		/* Still no room: meter it now; its response will be let pass. */
		p->rec.flags |= TG_REC_NO_RESPONSE | TG_REC_UNTRACKED;
		q_tail(x)->skip++;
		emit(x, p);
	}
	return 0;
}

/* --- response side ------------------------------------------------------- */

/* A response's decoding state goes (its SSE counts to the stats). */
static void resp_clear(struct exchange *x, struct pending *p)
{
	struct sse_stats ss;

	if (!p)
		return;
	if (p->sse) {
		sse_parser__stats(p->sse, &ss);
		x->stats->sse_events += ss.events;
		x->stats->sse_oversized += ss.oversized;
		x->stats->sse_shed += ss.shed;
		x->stats->sse_partial += ss.partial;
	}
	decoder__free(p->resp_dec);
	sse_parser__free(p->sse);
	p->resp_dec = NULL;
	p->resp_undecodable = 0;
	p->resp_sniff = 0;
	p->sse = NULL;
	p->resp_first_byte = 0;
}

/* HTTP/1: the front slot's response is over, or another begins. */
static void resp_reset(struct exchange *x)
{
	resp_clear(x, resp_target(x));
	x->resp_active = 0;
	x->resp_interim = 0;
}

static int on_sse_event(void *ctx, const struct sse_event *ev)
{
	struct pending *p = ctx;

	p->rec.sse_events++;
	return p->resp_on ? llm_resp_event(&p->resp, ev) : 0;
}

static void on_text(void *ctx, const char *s, size_t len)
{
	struct pending *p = ctx;

	meter_text_add(&p->text, p->x->cfg->mb, &p->rec.call, s, len);
}

/* An SSE parser for a response that turns out to be events. */
static int sse_start(struct exchange *x, struct pending *p)
{
	p->sse = sse_parser__new(x->cfg->max_sse_event, on_sse_event, p);
	if (!p->sse)
		return -ENOMEM;
	sse_parser__set_budget(p->sse, x->cfg->mb);
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

static int ws_start(struct exchange *x, struct pending *up, const struct http1_head *h);

/* The call's response is read for its usage (and text, for estimates). */
static int resp_read(struct exchange *x, struct pending *p, int status, int sse)
{
	if (llm_resp_init(&p->resp, &p->rec.call, status, sse, x->cfg->max_member))
		return -ENOMEM;
	p->resp_on = 1;
	p->resp_done = 0;
	p->resp.on_text = on_text;
	p->resp.text_ctx = p;
	return 0;
}

/* A final response head for call p: how its body is to be read.  h NULL:
 * a head that could not be decoded (HTTP/2), the body will say. */
static int resp_start(struct exchange *x, struct pending *p, const struct http1_head *h)
{
	int sse;

	resp_clear(x, p);
	if (h)
		p->rec.status = h->status;
	if (!p->llm)
		return 0;
	if (!p->rec.call.prov) {
		/* headless both ways: the body's start names the API */
		p->resp_guess = 1;
		return 0;
	}
	if (h)
		p->resp_dec = body_decoder(x, p, h->content_encoding, h->content_encoding_len,
					   &p->resp_undecodable);
	sse = h && h->content_type && media_is(h->content_type, h->content_type_len,
					       "text/event-stream");
	/* A stream answered without a Content-Type (as some recorders and
	 * proxies leave it) is told by its first byte; so is a response
	 * whose head was lost. */
	p->resp_sniff = h ? !h->content_type && p->rec.call.stream : 1;
	if (p->resp_on)		/* a final answer after an interim one */
		llm_resp_free(&p->resp);
	if (resp_read(x, p, h ? h->status : 200, sse))
		return -ENOMEM;
	if (sse && sse_start(x, p))
		return -ENOMEM;
	return 0;
}

static int resp_on_head(void *ctx, const struct http1_head *h)
{
	struct exchange *x = ctx;
	struct pending *p = resp_target(x);
	int err;

	resp_reset(x);
	if (!x->q_len) {
		x->stats->orphan_responses++;
		return 0;
	}
	x->resp_active = 1;
	if (h->status == 101 && p && p->ws_upgrade)
		return ws_start(x, p, h);
	if (h->status >= 100 && h->status < 200) {
		x->resp_interim = 1;
		return 0;
	}
	if (!p)		/* a request that was not followed */
		return 0;
	err = resp_start(x, p, h);
	if (err)
		return err;
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
	p->resp_sniff = 0;
	if (data[i] == '{' || data[i] == '[')
		return 0;
	p->resp.sse = 1;
	return sse_start(x, p);
}

static int resp_sink(void *ctx, const uint8_t *data, size_t len)
{
	struct pending *p = ctx;
	struct exchange *x = p->x;

	p->rec.response_bytes += len;
	if (p->resp_sniff && sniff_events(x, p, data, len) < 0)
		return -ENOMEM;
	if (p->sse)
		return sse_parser__feed(p->sse, data, len);
	return p->resp_on ? llm_resp_body(&p->resp, data, len) : 0;
}

/* A response whose call is known by nothing else: its first bytes say
 * which API answered, or that it is no LLM call. */
static int resp_guess(struct exchange *x, struct pending *p, const uint8_t *data, size_t len)
{
	p->resp_guess = 0;
	if (!provider_guess(&p->rec.call, data, len, 0)) {
		p->llm = 0;
		return 0;
	}
	p->doubtful = 0;
	p->resp_sniff = 1;
	return resp_read(x, p, p->rec.status ? p->rec.status : 200, 0);
}

static int resp_body(struct exchange *x, struct pending *p, const uint8_t *data, size_t len)
{
	int err;

	if (!p->resp_first_byte && !p->times_unknown) {
		p->resp_first_byte = 1;
		p->rec.ttft_ns = x->m->ts_ns -
				 (p->req_done ? p->req_end_ns : p->rec.start_ns);
	}
	if (p->resp_guess && (err = resp_guess(x, p, data, len)))
		return err;
	if (!p->llm) {
		p->rec.response_bytes += len;
		return 0;
	}
	return body_decode(x, p, &p->resp_dec, &p->resp_undecodable, data, len, resp_sink, p);
}

static int resp_on_body(void *ctx, const uint8_t *data, size_t len)
{
	struct exchange *x = ctx;
	struct pending *p = resp_target(x);

	if (!p || !x->resp_active || x->resp_interim)
		return 0;
	return resp_body(x, p, data, len);
}

static void resp_gap(struct pending *p, uint64_t len)
{
	p->rec.flags |= TG_REC_GAP;
	if (!p->resp_dec && !p->resp_undecodable && len != HTTP1_GAP_UNKNOWN)
		p->rec.response_bytes += len;
}

static int resp_on_body_gap(void *ctx, uint64_t len)
{
	struct exchange *x = ctx;
	struct pending *p = resp_target(x);

	if (p && x->resp_active)
		resp_gap(p, len);
	return 0;
}

/* The SSE counts of the response go on its record. */
static void resp_flag_sse(struct pending *p)
{
	struct sse_stats ss;

	if (!p->sse)
		return;
	sse_parser__stats(p->sse, &ss);
	if (ss.oversized || ss.shed)
		p->rec.flags |= TG_REC_SSE_DROPPED;
	if (ss.shed)
		p->rec.flags |= TG_REC_SHED;
}

/* The response is over (truncated: cut off before its framing said). */
static void resp_finish(struct exchange *x, struct pending *p, int truncated)
{
	if (truncated)
		p->rec.flags |= TG_REC_RESP_TRUNCATED;
	body_finish(x, p, p->resp_dec, p->resp_undecodable, resp_sink, p);
	if (p->sse)
		sse_parser__finish(p->sse);
	resp_flag_sse(p);
	if (p->resp_on && !p->resp_done) {
		llm_resp_finish(&p->resp);
		p->resp_done = 1;
	}
	if (!p->times_unknown)
		p->rec.duration_ns = x->m->ts_ns - p->rec.start_ns;
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
	if (p)
		resp_finish(x, p, truncated);
	resp_reset(x);
	q_answered(x);
	return 0;
}


/* --- WebSocket ------------------------------------------------------------- */

/*
 * The Responses API's WebSocket mode: after `GET .../responses` with
 * Upgrade: websocket is answered 101, each `response.create` message the
 * client sends is a call, answered by the server's events for it, in order,
 * up to response.completed (or .failed, .incomplete, error).  Each call is
 * metered like its HTTP form: its message is the request body, the events
 * are the stream's.
 */

static int ws_on_message(void *ctx, int opcode, const uint8_t *data, size_t len,
			 unsigned flags);

static int ws_on_message_resp(void *ctx, int opcode, const uint8_t *data, size_t len,
			      unsigned flags);

/* The 101 answer to an upgrade on an LLM path: both directions become
 * WebSocket decoders, with the compression the answer agreed to. */
static int ws_start(struct exchange *x, struct pending *up, const struct http1_head *h)
{
	static const struct ws_callbacks req_cb = { .on_message = ws_on_message };
	static const struct ws_callbacks resp_cb = { .on_message = ws_on_message_resp };
	struct ws_deflate c2s = { 0 }, s2c = { 0 };
	const struct http1_header *ext = header_of(h, "sec-websocket-extensions");
	struct ws_cfg cfg = { .max_message = x->cfg->max_sse_event,
			      .max_inflate = x->cfg->max_decoded };

	if (ext)
		ws_extensions_parse(ext->value, ext->value_len, &c2s, &s2c);
	x->ws[0] = ws_parser__new(&cfg, &c2s, 1, &req_cb, x);
	x->ws[1] = ws_parser__new(&cfg, &s2c, 0, &resp_cb, x);
	if (!x->ws[0] || !x->ws[1])
		return -ENOMEM;
	ws_parser__set_budget(x->ws[0], x->cfg->mb);
	ws_parser__set_budget(x->ws[1], x->cfg->mb);
	x->ws_tmpl = up->rec;
	x->stats->ws_conns++;
	return HTTP1_HEAD_TUNNEL;
}

/* The "type" of a JSON message: 1 if it is `want`. */
static int ws_type_is(const uint8_t *data, size_t len, const char *want)
{
	struct json_tokener *tok;
	json_object *obj, *v;
	int is = 0;

	if (len > INT32_MAX || !(tok = json_tokener_new()))
		return 0;
	obj = json_tokener_parse_ex(tok, (const char *)data, (int)len);
	if (obj && json_object_object_get_ex(obj, "type", &v) &&
	    json_object_is_type(v, json_type_string))
		is = !strcmp(json_object_get_string(v), want);
	json_object_put(obj);
	json_tokener_free(tok);
	return is;
}

/* A client message: a response.create is a call. */
static int ws_on_message(void *ctx, int opcode, const uint8_t *data, size_t len,
			 unsigned flags)
{
	unsigned cut = flags & (WS_MSG_TRUNCATED | WS_MSG_OVERSIZED | WS_MSG_INFLATE_ERROR |
				WS_MSG_SHED);
	struct exchange *x = ctx;
	struct pending *p;
	int err;

	if (opcode != WS_MSG_TEXT)
		return 0;
	/* a message read whole says its type; of a cut one, the name will do */
	if (cut ? !memmem(data, len, "response.create", 15) :
		  !ws_type_is(data, len, "response.create"))
		return 0;
	p = pending_new(x);
	if (!p)
		return -ENOMEM;
	p->rec.conn = x->ws_tmpl.conn;
	memcpy(p->rec.host, x->ws_tmpl.host, sizeof(p->rec.host));
	memcpy(p->rec.path, x->ws_tmpl.path, sizeof(p->rec.path));
	memcpy(p->rec.key_fp, x->ws_tmpl.key_fp, sizeof(p->rec.key_fp));
	provider_copy_str(p->rec.method, sizeof(p->rec.method), "WS", 2);
	p->rec.call = x->ws_tmpl.call;
	p->llm = 1;
	if (flags & (WS_MSG_TRUNCATED | WS_MSG_INFLATE_ERROR))
		req_gap(p, HTTP1_GAP_UNKNOWN);
	if (flags & WS_MSG_SHED)
		p->rec.flags |= TG_REC_SHED;
	if (flags & WS_MSG_OVERSIZED)
		p->rec.flags |= TG_REC_BODY_OVERFLOW;
	err = body_append(p, data, len);
	if (!err)
		err = req_finish(x, p, 0);
	if (err) {
		pending_free(x, p);
		return err;
	}
	p->rec.call.stream = 1;		/* events, always */
	p->doubtful = 0;
	if (resp_read(x, p, 200, 1)) {
		pending_free(x, p);
		return -ENOMEM;
	}
	if (x->ws_tail)
		x->ws_tail->wsnext = p;
	else
		x->ws_head = p;
	x->ws_tail = p;
	return 0;
}

static void ws_pop(struct exchange *x)
{
	struct pending *p = x->ws_head;

	x->ws_head = p->wsnext;
	if (!x->ws_head)
		x->ws_tail = NULL;
	emit(x, p);
}

/* A server message: an event of the oldest call in flight. */
static int ws_on_message_resp(void *ctx, int opcode, const uint8_t *data, size_t len,
			      unsigned flags)
{
	struct exchange *x = ctx;
	struct pending *p = x->ws_head;
	struct sse_event ev = { .event = "", .data = (const char *)data, .data_len = len,
				.id = "" };

	if (!p || opcode != WS_MSG_TEXT)
		return 0;
	if (!p->resp_first_byte) {
		p->resp_first_byte = 1;
		p->rec.status = 200;
		p->rec.ttft_ns = x->m->ts_ns - p->req_end_ns;
	}
	p->rec.response_bytes += len;
	p->rec.sse_events++;
	if (flags & (WS_MSG_TRUNCATED | WS_MSG_OVERSIZED | WS_MSG_INFLATE_ERROR))
		p->rec.flags |= TG_REC_SSE_DROPPED;
	if (flags & WS_MSG_SHED)
		p->rec.flags |= TG_REC_SHED;
	if (!(flags & WS_MSG_SHED))
		llm_resp_event(&p->resp, &ev);
	if (!(p->resp.flags & (LLM_RESP_DONE | LLM_RESP_ERROR)))
		return 0;
	/* its last event */
	llm_resp_finish(&p->resp);
	p->resp_done = 1;
	p->rec.duration_ns = x->m->ts_ns - p->rec.start_ns;
	ws_pop(x);
	return 0;
}

/* The WebSocket ended: calls still waiting are cut off. */
static void ws_end(struct exchange *x)
{
	struct ws_stats st;
	int i;

	if (x->ws[0])
		ws_parser__eof(x->ws[0]);
	if (x->ws[1])
		ws_parser__eof(x->ws[1]);
	while (x->ws_head) {
		struct pending *p = x->ws_head;

		if (p->resp_first_byte) {
			p->rec.flags |= TG_REC_RESP_TRUNCATED;
			p->rec.duration_ns = x->m->ts_ns - p->rec.start_ns;
		} else {
			p->rec.flags |= TG_REC_NO_RESPONSE;
		}
		ws_pop(x);
	}
	for (i = 0; i < 2; i++) {
		if (!x->ws[i])
			continue;
		ws_parser__stats(x->ws[i], &st);
		x->stats->ws_messages += st.messages;
		x->stats->ws_errors += st.errors + st.stops;
		ws_parser__free(x->ws[i]);
		x->ws[i] = NULL;
	}
}

static int resp_on_tunnel(void *ctx, const uint8_t *data, size_t len)
{
	struct exchange *x = ctx;
	ssize_t n = x->ws[1] ? ws_parser__feed(x->ws[1], data, len) : 0;

	return n < 0 ? (int)n : 0;
}

/* --- HTTP/2 -------------------------------------------------------------- */

/*
 * Each stream is a call of its own: its request and response are matched
 * by stream id, any number in flight at once.  A call is emitted when both
 * of its messages have ended (a reset or the connection's end ends both).
 * A stream whose head could not be decoded (the connection predates the
 * agent, or a gap cost the header compression state) is told by its bodies.
 */
static struct pending *h2_find(struct exchange *x, uint32_t sid)
{
	struct pending *p = x->streams;

	while (p && p->sid != sid)
		p = p->snext;
	return p;
}

/* The call is stream sid's. */
static void h2_link(struct exchange *x, struct pending *p, uint32_t sid)
{
	p->sid = sid;
	p->snext = x->streams;
	x->streams = p;
}

/* The call of a stream first seen through a head that was not decoded. */
static struct pending *h2_headless(struct exchange *x, uint32_t sid)
{
	struct pending *p = pending_new(x);

	if (!p)
		return NULL;
	p->headless = 1;
	p->llm = 1;		/* its bodies will say */
	p->rec.flags |= x->midstream ? TG_REC_MISSED_START : TG_REC_GAP;
	provider_copy_str(p->rec.method, sizeof(p->rec.method), "POST", 4);
	h2_link(x, p, sid);
	x->stats->h2_headless++;
	return p;
}

/* Both messages over: the call is done. */
static void h2_maybe_emit(struct exchange *x, struct pending *p)
{
	if (p->h2_req_open || p->h2_resp_open)
		return;
	if (!p->h2_resp_done)
		p->rec.flags |= TG_REC_NO_RESPONSE;
	emit(x, p);
}

static int h2_on_head(void *ctx, uint32_t sid, int dir, const struct http1_head *h,
		      unsigned flags)
{
	struct exchange *x = ctx;
	struct pending *p = h2_find(x, sid);
	int err;

	if (!dir) {
		if (p)		/* a second request head: not HTTP/2 */
			return 0;
		if (h) {
			p = req_start(x, h);
			if (!p)
				return -ENOMEM;
			h2_link(x, p, sid);
		} else if (!(p = h2_headless(x, sid))) {
			return -ENOMEM;
		}
		p->h2_req_open = 1;
		return 0;
	}
	if (h && h->status >= 100 && h->status < 200)
		return 0;	/* interim */
	if (!p) {
		/* the request went before we saw the connection: when the
		 * call began is not known, nor how long it took */
		p = h2_headless(x, sid);
		if (!p)
			return -ENOMEM;
		p->req_done = 1;
		p->doubtful = 1;
		p->times_unknown = 1;
	}
	if (!h && !p->headless)
		p->rec.flags |= x->midstream ? TG_REC_MISSED_START : TG_REC_GAP;
	err = resp_start(x, p, h);
	if (err)
		return err;
	p->h2_resp_open = 1;
	p->resp_clen = h ? h->content_length : -1;
	return 0;
}

static int h2_on_body(void *ctx, uint32_t sid, int dir, const uint8_t *data, size_t len)
{
	struct exchange *x = ctx;
	struct pending *p = h2_find(x, sid);

	if (!p)
		return 0;
	if (!dir)
		return p->h2_req_open ? req_body(x, p, data, len) : 0;
	if (!p->h2_resp_open)
		return 0;
	p->resp_wire += len;
	return resp_body(x, p, data, len);
}

static int h2_on_body_gap(void *ctx, uint32_t sid, int dir, uint64_t len)
{
	struct exchange *x = ctx;
	struct pending *p = h2_find(x, sid);

	if (p && !dir && p->h2_req_open)
		req_gap(p, len);
	else if (p && dir && p->h2_resp_open)
		resp_gap(p, len);
	return 0;
}

static int h2_on_end(void *ctx, uint32_t sid, int dir, enum h2_end why)
{
	struct exchange *x = ctx;
	struct pending *p = h2_find(x, sid);
	int err, cut = why != H2_END_STREAM;

	if (!p)
		return 0;
	if (why == H2_END_LOST)
		p->rec.flags |= TG_REC_GAP;
	if (!dir && p->h2_req_open) {
		p->h2_req_open = 0;
		err = req_finish(x, p, cut);
		if (err)
			return err;
		if (!cut)
			return 0;	/* the response is to come */
	} else if (dir && p->h2_resp_open) {
		p->h2_resp_open = 0;
		p->h2_resp_done = 1;
		/* A client that has read all the Content-Length said may close
		 * before the frame that ends the stream: the response is whole. */
		if (cut && why == H2_END_CLOSED && p->resp_clen >= 0 &&
		    p->resp_wire == (uint64_t)p->resp_clen)
			cut = 0;
		/* Nor is a stream the client resets once it has read the
		 * final event (Codex cancels its streams then). */
		if (cut && why != H2_END_LOST && (p->resp.flags & LLM_RESP_DONE))
			cut = 0;
		resp_finish(x, p, cut);
	} else {
		return 0;
	}
	h2_maybe_emit(x, p);
	return 0;
}

/* A stream closed early: a request still waiting for its answer gets none. */
static int h2_on_close(void *ctx, uint32_t sid, enum h2_end why)
{
	struct exchange *x = ctx;
	struct pending *p = h2_find(x, sid);

	if (p && !p->h2_req_open && !p->h2_resp_open)
		h2_maybe_emit(x, p);
	return 0;
}

static const struct h2_callbacks h2_cb = {
	.on_head = h2_on_head,
	.on_body = h2_on_body,
	.on_body_gap = h2_on_body_gap,
	.on_end = h2_on_end,
	.on_close = h2_on_close,
};

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
	.on_tunnel = resp_on_tunnel,
};

static struct exchange *exchange_alloc(const struct exchange_cfg *cfg,
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
	return x;
}

struct exchange *exchange__new(const struct exchange_cfg *cfg,
			       struct exchange_stats *stats,
			       exchange_record_fn on_record, void *ctx)
{
	struct exchange *x = exchange_alloc(cfg, stats, on_record, ctx);

	if (!x)
		return NULL;
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

struct exchange *exchange__new_h2(const struct exchange_cfg *cfg,
				  struct exchange_stats *stats,
				  exchange_record_fn on_record, void *ctx, int midstream)
{
	struct exchange *x = exchange_alloc(cfg, stats, on_record, ctx);

	if (!x)
		return NULL;
	x->midstream = midstream;
	x->h2 = h2_conn__new(&h2_cb, x, midstream);
	if (!x->h2) {
		free(x);
		errno = ENOMEM;
		return NULL;
	}
	h2_conn__set_budget(x->h2, cfg->mb);
	stats->h2_conns++;
	return x;
}

int exchange__peek(struct exchange *x, const uint8_t *data, size_t len,
		   const struct h2_peek_callbacks *cb, void *ctx)
{
	return x->h2 ? h2_conn__peek(x->h2, data, len, cb, ctx) : -ENOTSUP;
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
	if (x->h2) {
		n = h2_conn__feed(x->h2, dir, data, len);
		x->m = NULL;
		return n < 0 ? (int)n : 0;
	}
	if (!dir && x->ws[0]) {
		/* what the client sends after the upgrade (what it reads
		 * reaches the decoder through the parser's tunnel) */
		n = ws_parser__feed(x->ws[0], data, len);
		x->m = NULL;
		return n < 0 ? (int)n : 0;
	}
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
	if (x->h2) {
		err = h2_conn__gap(x->h2, dir, len);
		x->m = NULL;
		return err;
	}
	if (x->ws[dir]) {
		err = ws_parser__gap(x->ws[dir], len == EXCHANGE_GAP_UNKNOWN ? WS_GAP_UNKNOWN : len);
		x->m = NULL;
		return err;
	}
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
	if (x->h2) {
		/* every open message ends (cut off) and its call goes out;
		 * a call still waiting for its response, without it */
		h2_conn__eof(x->h2);
		while (x->streams) {
			x->streams->h2_req_open = x->streams->h2_resp_open = 0;
			h2_maybe_emit(x, x->streams);
		}
		x->m = NULL;
		return;
	}
	ws_end(x);
	http1_parser__eof(x->req_p);
	http1_parser__eof(x->resp_p);
	/* Requests that never got (all of) their response. */
	while ((s = q_front(x))) {
		p = s->p;
		if (p && x->resp_active && !x->resp_interim) {
			p->rec.flags |= TG_REC_RESP_TRUNCATED;
			p->rec.duration_ns = ts_ns - p->rec.start_ns;
			resp_flag_sse(p);
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

static void add_h2_stats(struct h2_stats *to, const struct h2_conn *c)
{
	struct h2_stats s;

	h2_conn__stats(c, &s);
	to->frames += s.frames;
	to->streams += s.streams;
	to->headless += s.headless;
	to->hpack_errors += s.hpack_errors;
	to->hpack_lost += s.hpack_lost;
	to->resyncs += s.resyncs;
	to->skipped += s.skipped;
	to->bad_frames += s.bad_frames;
	to->resets += s.resets;
	to->goaways += s.goaways;
	to->evicted += s.evicted;
	to->oversized_heads += s.oversized_heads;
}

void exchange__free(struct exchange *x)
{
	struct pending *p;
	size_t i;

	if (!x)
		return;
	if (x->q)
		for (i = 0; i < x->q_len; i++)
			pending_free(x, x->q[(x->q_head + i) % x->cfg->max_pending].p);
	if (x->writing && !x->writing->queued)
		pending_free(x, x->writing);
	free(x->q);
	while ((p = x->streams)) {
		x->streams = p->snext;
		pending_free(x, p);
	}
	while ((p = x->ws_head)) {
		x->ws_head = p->wsnext;
		pending_free(x, p);
	}
	ws_parser__free(x->ws[0]);
	ws_parser__free(x->ws[1]);
	if (x->h2) {
		add_h2_stats(&x->stats->h2, x->h2);
		h2_conn__free(x->h2);
	}
	if (x->req_p)
		add_http1_stats(&x->stats->http, x->req_p);
	if (x->resp_p)
		add_http1_stats(&x->stats->http, x->resp_p);
	http1_parser__free(x->req_p);
	http1_parser__free(x->resp_p);
	free(x);
}
