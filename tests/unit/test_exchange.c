// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * stream + exchange + providers, fed recorded provider traffic
 * (../shared/fixtures/llm-traffic) as a client connection would carry it:
 * whole, at every split point, one byte at a time, with gaps, pipelined,
 * and as the roles and protocols that must be ignored.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include <zlib.h>
#include <nghttp2/nghttp2.h>
#include "membudget.h"
#include "stream.h"
#include "fixtures.h"
#include "attribution.h"
#include "tap.h"

#define MAX_RECS 80

struct sink {
	struct tg_record recs[MAX_RECS];
	int nrecs;
	int nignored;
	enum stream_ignore_why why;
	int nended;
	enum stream_end_why end_why;
};

static void on_record(void *ctx, const struct tg_record *r)
{
	struct sink *s = ctx;

	if (s->nrecs < MAX_RECS)
		s->recs[s->nrecs] = *r;
	s->nrecs++;
}

static void on_ignore(void *ctx, const struct tg_meta *m, uint64_t ssl, uint64_t gen,
		      enum stream_ignore_why why)
{
	struct sink *s = ctx;

	s->nignored++;
	s->why = why;
}

static void on_end(void *ctx, uint32_t tgid, uint64_t ssl, uint64_t gen,
		   enum stream_end_why why)
{
	struct sink *s = ctx;

	s->nended++;
	s->end_why = why;
}

static const struct stream_ops ops = { on_record, on_ignore, on_end, NULL };

struct buf {
	uint8_t *p;
	size_t len;
};

static void buf_add(struct buf *b, const void *d, size_t n)
{
	b->p = realloc(b->p, b->len + n + 1);
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	buf_add(b, tmp, n);
}

struct fixture {
	char name[128];
	char method[16];
	char host[256];
	char path[1024];
	char model[128];	/* expected */
	char provider[32];	/* expected */
	int stream;		/* expected */
	int status;
	int sse;
	struct buf req;		/* wire bytes */
	struct buf resp;	/* content-length framing */
	struct buf resp_chunked;
	struct buf req_h2;	/* the same exchange over HTTP/2 (stream 1) */
	struct buf resp_h2;
	size_t req_body_len;
	size_t resp_body_len;	/* decoded */
};

static const char *header_ci(json_object *h, const char *name)
{
	json_object_object_foreach(h, k, v)
		if (!strcasecmp(k, name))
			return json_object_get_string(v);
	return NULL;
}

static const char *expected_provider(const char *host)
{
	if (strstr(host, "api.openai.com")) return "openai";
	if (strstr(host, "openai.azure.com")) return "azure-openai";
	if (strstr(host, "api.anthropic.com")) return "anthropic";
	if (strstr(host, "generativelanguage")) return "gemini";
	if (strstr(host, "aiplatform")) return "vertex-ai";
	if (strstr(host, "deepseek")) return "deepseek";
	if (strstr(host, "groq")) return "groq";
	return "?";
}

static int load_fixture(const char *file, struct fixture *f)
{
	json_object *o = json_object_from_file(file), *v, *rh;
	const char *body, *b64, *ct, *sh, *q;
	uint8_t *raw = NULL;
	size_t i, rawlen = 0, n;
	int err = -1;

	memset(f, 0, sizeof(*f));
	if (!o)
		return -1;
	snprintf(f->name, sizeof(f->name), "%s", strrchr(file, '/') + 1);
	json_object_object_get_ex(o, "method", &v);
	snprintf(f->method, sizeof(f->method), "%s", json_object_get_string(v));
	for (i = 0; f->method[i]; i++)	/* one cassette lower-cases it */
		f->method[i] = (char)toupper((unsigned char)f->method[i]);
	json_object_object_get_ex(o, "scheme_host", &v);
	sh = json_object_get_string(v);
	snprintf(f->host, sizeof(f->host), "%s", strstr(sh, "://") ? strstr(sh, "://") + 3 : sh);
	json_object_object_get_ex(o, "path", &v);
	snprintf(f->path, sizeof(f->path), "%s", json_object_get_string(v));
	json_object_object_get_ex(o, "status", &v);
	f->status = json_object_get_int(v);
	snprintf(f->provider, sizeof(f->provider), "%s", expected_provider(f->host));

	json_object_object_get_ex(o, "request_body", &v);
	body = json_object_get_string(v);
	f->req_body_len = body ? strlen(body) : 0;
	{
		json_object *rb = body ? json_tokener_parse(body) : NULL, *m, *s;

		if (rb && json_object_object_get_ex(rb, "model", &m))
			snprintf(f->model, sizeof(f->model), "%s", json_object_get_string(m));
		if (rb && json_object_object_get_ex(rb, "stream", &s))
			f->stream = json_object_get_boolean(s);
		json_object_put(rb);
	}
	if (!f->model[0]) {	/* Gemini/Vertex: models/NAME:verb; Azure: deployment */
		q = strstr(f->path, "/deployments/");
		if (q) {
			q += strlen("/deployments/");
			n = strcspn(q, "/");
		} else {
			q = strrchr(f->path, '/') + 1;
			n = strcspn(q, ":");
		}
		snprintf(f->model, sizeof(f->model), "%.*s", (int)n, q);
	}
	if (strstr(f->path, ":streamGenerateContent"))
		f->stream = 1;

	buf_printf(&f->req, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer sk-secret\r\n"
		   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
		   f->method, f->path, f->host, f->req_body_len);
	buf_add(&f->req, body ? body : "", f->req_body_len);

	json_object_object_get_ex(o, "response_headers", &rh);
	ct = header_ci(rh, "content-type");
	f->sse = ct && strstr(ct, "text/event-stream");
	json_object_object_get_ex(o, "response_body", &v);
	body = json_object_get_string(v);
	f->resp_body_len = strlen(body);
	if (json_object_object_get_ex(o, "response_body_base64", &v) && json_object_get_string(v)) {
		b64 = json_object_get_string(v);
		n = strlen(b64);
		raw = malloc(n);
		rawlen = base64_decode(b64, raw);
	}
	buf_printf(&f->resp, "HTTP/1.1 %d X\r\nContent-Type: %s\r\n%s", f->status,
		   ct ? ct : "application/json", raw ? "Content-Encoding: gzip\r\n" : "");
	buf_add(&f->resp_chunked, f->resp.p, f->resp.len);
	buf_printf(&f->resp, "Content-Length: %zu\r\n\r\n", raw ? rawlen : f->resp_body_len);
	buf_add(&f->resp, raw ? (const char *)raw : body, raw ? rawlen : f->resp_body_len);
	buf_printf(&f->resp_chunked, "Transfer-Encoding: chunked\r\n\r\n");
	{
		const uint8_t *p = raw ? raw : (const uint8_t *)body;
		size_t left = raw ? rawlen : f->resp_body_len, c;

		while (left) {
			c = left < 777 ? left : 777;
			buf_printf(&f->resp_chunked, "%zx;ext=1\r\n", c);
			buf_add(&f->resp_chunked, p, c);
			buf_printf(&f->resp_chunked, "\r\n");
			p += c;
			left -= c;
		}
		buf_printf(&f->resp_chunked, "0\r\nX-Trailer: t\r\n\r\n");
	}
	err = 0;
	free(raw);
	json_object_put(o);
	return err;
}

static void fixture_free(struct fixture *f)
{
	free(f->req.p);
	free(f->resp.p);
	free(f->resp_chunked.p);
	free(f->req_h2.p);
	free(f->resp_h2.p);
}

/* --- HTTP/2 framing of the same traffic ------------------------------------ */

static void h2_frame(struct buf *b, uint8_t type, uint8_t flags, uint32_t sid,
		     const void *p, size_t n)
{
	uint8_t h[9] = {
		(uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
		(uint8_t)((sid >> 24) & 0x7f), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8),
		(uint8_t)sid,
	};

	buf_add(b, h, 9);
	if (n)
		buf_add(b, p, n);
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), 0 }

/* A header block, split into HEADERS + CONTINUATION when `split` is set. */
static void h2_headers(struct buf *b, nghttp2_hd_deflater *d, uint32_t sid,
		       const nghttp2_nv *nv, size_t n, int end_stream, int split)
{
	uint8_t out[16384];
	ssize_t len = nghttp2_hd_deflate_hd(d, out, sizeof(out), nv, n);
	size_t first = split && len > 4 ? (size_t)len / 2 : (size_t)len;

	h2_frame(b, 1, (end_stream ? 1 : 0) | (first == (size_t)len ? 4 : 0), sid, out, first);
	if (first < (size_t)len)
		h2_frame(b, 9, 4, sid, out + first, len - first);
}

/* Body as DATA frames of at most 700 bytes, the second one padded. */
static void h2_data(struct buf *b, uint32_t sid, const uint8_t *p, size_t n)
{
	uint8_t tmp[1024];
	size_t c;
	int k = 0;

	if (!n) {
		h2_frame(b, 0, 1, sid, NULL, 0);
		return;
	}
	while (n) {
		c = n < 700 ? n : 700;
		if (k++ == 1) {
			tmp[0] = 5;
			memcpy(tmp + 1, p, c);
			memset(tmp + 1 + c, 0, 5);
			h2_frame(b, 0, (c == n ? 1 : 0) | 8, sid, tmp, c + 6);
		} else {
			h2_frame(b, 0, c == n ? 1 : 0, sid, p, c);
		}
		p += c;
		n -= c;
	}
}

/* The value of header `name` in an HTTP/1 head, into out. */
static int head_value(const struct buf *b, const char *name, char *out, size_t cap)
{
	const char *end = memmem(b->p, b->len, "\r\n\r\n", 4), *l = (const char *)b->p;
	size_t n = strlen(name);

	while (l && l < end) {
		if (!strncasecmp(l, name, n) && l[n] == ':') {
			const char *v = l + n + 1, *e = strstr(v, "\r\n");

			while (*v == ' ')
				v++;
			snprintf(out, cap, "%.*s", (int)(e - v), v);
			return 1;
		}
		l = strstr(l, "\r\n");
		if (l)
			l += 2;
	}
	return 0;
}

static const uint8_t *body_of(const struct buf *b, size_t *n)
{
	const uint8_t *e = memmem(b->p, b->len, "\r\n\r\n", 4) + 4;

	*n = b->len - (e - b->p);
	return e;
}

/* The fixture's exchange as an HTTP/2 client connection carries it. */
static void fixture_h2(struct fixture *f)
{
	static const char pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	nghttp2_hd_deflater *dq, *dr;
	char ct[256] = "", ce[64] = "", cl[32], st[8];
	const uint8_t *body;
	size_t n;
	uint8_t settings[6] = { 0, 1, 0, 0, 0x20, 0 };	/* HEADER_TABLE_SIZE 8192 */

	nghttp2_hd_deflate_new(&dq, 4096);
	nghttp2_hd_deflate_new(&dr, 4096);
	buf_add(&f->req_h2, pri, sizeof(pri) - 1);
	h2_frame(&f->req_h2, 4, 0, 0, settings, 6);
	body = body_of(&f->req, &n);
	snprintf(cl, sizeof(cl), "%zu", n);
	{
		nghttp2_nv nv[] = {
			NV(":method", f->method), NV(":scheme", "https"),
			NV(":authority", f->host), NV(":path", f->path),
			NV("content-type", "application/json"),
			NV("authorization", "Bearer sk-secret"), NV("content-length", cl),
		};

		h2_headers(&f->req_h2, dq, 1, nv, 7, 0, 1);
	}
	h2_data(&f->req_h2, 1, body, n);
	h2_frame(&f->req_h2, 4, 1, 0, NULL, 0);		/* SETTINGS ACK */

	h2_frame(&f->resp_h2, 4, 0, 0, NULL, 0);
	h2_frame(&f->resp_h2, 4, 1, 0, NULL, 0);
	head_value(&f->resp, "content-type", ct, sizeof(ct));
	head_value(&f->resp, "content-encoding", ce, sizeof(ce));
	body = body_of(&f->resp, &n);
	snprintf(cl, sizeof(cl), "%zu", n);
	snprintf(st, sizeof(st), "%d", f->status);
	{
		nghttp2_nv nv[] = {
			NV(":status", st), NV("content-type", ct), NV("content-length", cl),
			NV("content-encoding", ce),
		};

		h2_headers(&f->resp_h2, dr, 1, nv, ce[0] ? 4 : 3, 0, 0);
	}
	h2_data(&f->resp_h2, 1, body, n);
	nghttp2_hd_deflate_del(dq);
	nghttp2_hd_deflate_del(dr);
}

static struct tg_meta meta(uint64_t ts)
{
	struct tg_meta m = { .ts_ns = ts, .tgid = 42, .tid = 42, .uid = 1000, .cgroup_id = 7 };

	strcpy(m.comm, "client");
	return m;
}

/* Feeds a buffer as calls of `step` bytes (0: whole), with a split at `split`. */
static void feed(struct stream_table *t, int dir, uint64_t *off, const struct buf *b,
		 size_t split, size_t step, uint64_t *ts)
{
	struct tg_meta m;
	size_t pos = 0, n;

	while (pos < b->len) {
		n = b->len - pos;
		if (step && n > step)
			n = step;
		if (split > pos && split < pos + n)
			n = split - pos;
		m = meta((*ts)++);
		stream__data(t, &m, 0x1000, 1, dir, *off, b->p + pos, n);
		*off += n;
		pos += n;
	}
}

static struct stream_table *table(struct sink *s)
{
	struct stream_cfg cfg;

	stream_cfg_default(&cfg);
	cfg.max_conns = 16;
	memset(s, 0, sizeof(*s));
	return stream__new(&cfg, &ops, s);
}

/* Synthetic traffic, for the tests that need no fixture. */
#define RESP_JSON "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
#define RESP_SSE_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" \
	"Transfer-Encoding: chunked\r\n\r\n"

/* A chat completion request for `model` to `target` (a rotating static
 * buffer: the tests are single-threaded and use it at once). */
static const char *req_to(const char *target, const char *model)
{
	static char b[4][8192];
	static int k;
	char body[4096];

	k = (k + 1) % 4;
	snprintf(body, sizeof(body),
		 "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", model);
	snprintf(b[k], sizeof(b[k]), "POST %s HTTP/1.1\r\nHost: api.openai.com\r\n"
		 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		 target, strlen(body), body);
	return b[k];
}

static const char *req_chat(const char *model)
{
	return req_to("/v1/chat/completions", model);
}

static uint64_t feed_str(struct stream_table *t, int dir, uint64_t off, const char *str)
{
	struct tg_meta m = meta(1);

	stream__data(t, &m, 0x1000, 1, dir, off, (const uint8_t *)str, strlen(str));
	return off + strlen(str);
}

/* One exchange on a fresh connection; returns the sink. */
static void run_exchange_bufs(const struct buf *req, const struct buf *resp,
			      size_t req_split, size_t resp_split, size_t step, struct sink *s)
{
	struct stream_table *t = table(s);
	uint64_t woff = 0, roff = 0, ts = 1000;

	feed(t, 0, &woff, req, req_split, step, &ts);
	feed(t, 1, &roff, resp, resp_split, step, &ts);
	stream__close(t, 42, 0x1000, 1, ts);
	stream__free(t, ts);
}

static void run_exchange(struct fixture *f, const struct buf *resp, size_t req_split,
			 size_t resp_split, size_t step, struct sink *s)
{
	run_exchange_bufs(&f->req, resp, req_split, resp_split, step, s);
}

static int record_ok(struct fixture *f, struct sink *s, char *why, size_t cap)
{
	struct tg_record *r = &s->recs[0];

	if (s->nrecs != 1)
		return snprintf(why, cap, "%d records", s->nrecs), 0;
	if (strcmp(r->call.provider, f->provider))
		return snprintf(why, cap, "provider %s, want %s", r->call.provider, f->provider), 0;
	if (strcmp(r->call.model, f->model))
		return snprintf(why, cap, "model '%s', want '%s'", r->call.model, f->model), 0;
	if (r->call.stream != f->stream)
		return snprintf(why, cap, "stream %d", r->call.stream), 0;
	if (r->status != f->status)
		return snprintf(why, cap, "status %d", r->status), 0;
	if (r->request_bytes != f->req_body_len)
		return snprintf(why, cap, "request_bytes %llu, want %zu",
				(unsigned long long)r->request_bytes, f->req_body_len), 0;
	if (r->response_bytes != f->resp_body_len)
		return snprintf(why, cap, "response_bytes %llu, want %zu",
				(unsigned long long)r->response_bytes, f->resp_body_len), 0;
	/* an error answer is flagged as one, nothing else is */
	if (r->flags & ~(f->status >= 400 ? TG_REC_RESP_ERROR : 0))
		return snprintf(why, cap, "flags %#x", r->flags), 0;
	if (strchr(r->path, '?'))
		return snprintf(why, cap, "query string kept in path"), 0;
	if (f->sse && !r->sse_events)
		return snprintf(why, cap, "no SSE events"), 0;
	if (r->who.tgid != 42 || strcmp(r->who.comm, "client") || r->who.cgroup_id != 7)
		return snprintf(why, cap, "who"), 0;
	if (r->ttft_ns == TG_TIME_UNKNOWN || r->duration_ns == TG_TIME_UNKNOWN ||
	    r->duration_ns < r->ttft_ns)
		return snprintf(why, cap, "timings"), 0;
	return 1;
}

static struct fixture *fx;
static int nfx;

static void load_all(void)
{
	char dir[512], path[2048];
	struct dirent **list;
	int n, i;

	fixture_dir(dir, sizeof(dir));
	n = scandir(dir, &list, json_suffix, alphasort);
	if (n < 0)
		return;
	fx = calloc(n, sizeof(*fx));
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
		if (!load_fixture(path, &fx[nfx])) {
			fixture_h2(&fx[nfx]);
			nfx++;
		}
		free(list[i]);
	}
	free(list);
}

static void test_fixtures_whole(void)
{
	char why[256];
	struct sink s;
	int i;

	CHECK(nfx >= 40, "only %d fixtures", nfx);
	for (i = 0; i < nfx; i++) {
		run_exchange(&fx[i], &fx[i].resp, 0, 0, 0, &s);
		CHECK(record_ok(&fx[i], &s, why, sizeof(why)), "%s (content-length): %s",
		      fx[i].name, why);
		run_exchange(&fx[i], &fx[i].resp_chunked, 0, 0, 0, &s);
		CHECK(record_ok(&fx[i], &s, why, sizeof(why)), "%s (chunked): %s",
		      fx[i].name, why);
	}
}

static void test_fixtures_every_split(void)
{
	char why[256];
	struct sink s;
	size_t k, stride;
	int i;

	for (i = 0; i < nfx; i++) {
		stride = fx[i].req.len > 4096 ? fx[i].req.len / 512 : 1;
		for (k = 1; k < fx[i].req.len; k += stride) {
			run_exchange(&fx[i], &fx[i].resp_chunked, k, 0, 0, &s);
			CHECK(record_ok(&fx[i], &s, why, sizeof(why)),
			      "%s request split at %zu: %s", fx[i].name, k, why);
		}
		stride = fx[i].resp_chunked.len > 4096 ? fx[i].resp_chunked.len / 512 : 1;
		for (k = 1; k < fx[i].resp_chunked.len; k += stride) {
			run_exchange(&fx[i], &fx[i].resp_chunked, 0, k, 0, &s);
			CHECK(record_ok(&fx[i], &s, why, sizeof(why)),
			      "%s response split at %zu: %s", fx[i].name, k, why);
		}
	}
}

static void test_fixtures_byte_at_a_time(void)
{
	char why[256];
	struct sink s;
	int i;

	for (i = 0; i < nfx; i++) {
		run_exchange(&fx[i], &fx[i].resp, 0, 0, 1, &s);
		CHECK(record_ok(&fx[i], &s, why, sizeof(why)), "%s: %s", fx[i].name, why);
		run_exchange(&fx[i], &fx[i].resp_chunked, 0, 0, 1, &s);
		CHECK(record_ok(&fx[i], &s, why, sizeof(why)), "%s chunked: %s", fx[i].name, why);
	}
}

/* One HTTP/2 exchange, the request fed in calls of `step` split at
 * `req_split`, the response likewise. */
static void run_exchange_h2(struct fixture *f, size_t req_split, size_t resp_split,
			    size_t step, struct sink *s)
{
	run_exchange_bufs(&f->req_h2, &f->resp_h2, req_split, resp_split, step, s);
}

/* Every fixture over HTTP/2: the same records as over HTTP/1.1. */
static void test_fixtures_h2(void)
{
	char why[256];
	struct sink s;
	size_t k, stride;
	int i;

	for (i = 0; i < nfx; i++) {
		run_exchange_h2(&fx[i], 0, 0, 0, &s);
		CHECK(record_ok(&fx[i], &s, why, sizeof(why)), "%s over HTTP/2: %s",
		      fx[i].name, why);
		run_exchange_h2(&fx[i], 0, 0, 1, &s);
		CHECK(record_ok(&fx[i], &s, why, sizeof(why)), "%s over HTTP/2 a byte at a time: %s",
		      fx[i].name, why);
		stride = fx[i].req_h2.len > 2048 ? fx[i].req_h2.len / 256 : 1;
		for (k = 1; k < fx[i].req_h2.len; k += stride) {
			run_exchange_h2(&fx[i], k, 0, 0, &s);
			CHECK(record_ok(&fx[i], &s, why, sizeof(why)),
			      "%s HTTP/2 request split at %zu: %s", fx[i].name, k, why);
		}
		stride = fx[i].resp_h2.len > 2048 ? fx[i].resp_h2.len / 256 : 1;
		for (k = 1; k < fx[i].resp_h2.len; k += stride) {
			run_exchange_h2(&fx[i], 0, k, 0, &s);
			CHECK(record_ok(&fx[i], &s, why, sizeof(why)),
			      "%s HTTP/2 response split at %zu: %s", fx[i].name, k, why);
		}
	}
}

/* All fixtures as concurrent streams of one HTTP/2 connection, requests
 * interleaved frame by frame and answered in reverse order. */
static void test_fixtures_h2_concurrent(void)
{
	static const char pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	struct buf req = { 0 }, resp = { 0 };
	nghttp2_hd_deflater *dq, *dr;
	struct sink s;
	int i, j, found, ok = 0;
	char why[256];

	nghttp2_hd_deflate_new(&dq, 4096);
	nghttp2_hd_deflate_new(&dr, 4096);
	buf_add(&req, pri, sizeof(pri) - 1);
	h2_frame(&req, 4, 0, 0, NULL, 0);
	h2_frame(&resp, 4, 0, 0, NULL, 0);
	for (i = 0; i < nfx; i++) {
		char cl[32];
		size_t n;
		nghttp2_nv nv[] = {
			NV(":method", fx[i].method), NV(":scheme", "https"),
			NV(":authority", fx[i].host), NV(":path", fx[i].path),
			NV("content-type", "application/json"), NV("content-length", cl),
		};

		body_of(&fx[i].req, &n);
		snprintf(cl, sizeof(cl), "%zu", n);
		h2_headers(&req, dq, 2 * i + 1, nv, 6, 0, 0);
		if (i) {	/* the previous stream's body after this head */
			const uint8_t *prev = body_of(&fx[i - 1].req, &n);

			h2_data(&req, 2 * i - 1, prev, n);
		}
	}
	{
		size_t n;
		const uint8_t *body = body_of(&fx[nfx - 1].req, &n);

		h2_data(&req, 2 * nfx - 1, body, n);
	}
	for (i = nfx - 1; i >= 0; i--) {
		char ct[256] = "", ce[64] = "", cl[32], st[8];
		size_t n;
		const uint8_t *body = body_of(&fx[i].resp, &n);

		head_value(&fx[i].resp, "content-type", ct, sizeof(ct));
		head_value(&fx[i].resp, "content-encoding", ce, sizeof(ce));
		snprintf(cl, sizeof(cl), "%zu", n);
		snprintf(st, sizeof(st), "%d", fx[i].status);
		{
			nghttp2_nv nv[] = {
				NV(":status", st), NV("content-type", ct), NV("content-length", cl),
				NV("content-encoding", ce),
			};

			h2_headers(&resp, dr, 2 * i + 1, nv, ce[0] ? 4 : 3, 0, 0);
		}
		h2_data(&resp, 2 * i + 1, body, n);
	}
	run_exchange_bufs(&req, &resp, 0, 0, 0, &s);
	CHECK_EQ_INT(s.nrecs, nfx < MAX_RECS ? nfx : MAX_RECS);
	for (i = 0; i < nfx && i < s.nrecs && i < MAX_RECS; i++) {
		/* records come out as responses end: in reverse; each is its
		 * fixture's */
		struct sink one = { .nrecs = 1 };

		found = 0;
		for (j = 0; j < nfx && !found; j++) {
			if (strcmp(s.recs[i].call.model, fx[j].model) ||
			    s.recs[i].request_bytes != fx[j].req_body_len ||
			    s.recs[i].response_bytes != fx[j].resp_body_len)
				continue;
			one.recs[0] = s.recs[i];
			found = record_ok(&fx[j], &one, why, sizeof(why));
		}
		ok += found;
	}
	CHECK_EQ_INT(ok, s.nrecs);
	nghttp2_hd_deflate_del(dq);
	nghttp2_hd_deflate_del(dr);
	free(req.p);
	free(resp.p);
}

/* An HTTP/2 connection first seen mid-way: its calls are told by their
 * bodies, metered with the usage their responses report, flagged. */
static void test_h2_midstream(void)
{
	char why[256];
	struct sink s;
	size_t rq, rs;
	int i, n = 0;

	for (i = 0; i < nfx; i++) {
		struct fixture *f = &fx[i];
		struct buf req = { 0 }, resp = { 0 };
		const uint8_t *pre = f->req_h2.p;

		/* leave out the preface and SETTINGS of both sides */
		rq = 24 + 9 + 6;
		rs = 9 + 9;
		buf_add(&req, pre + rq, f->req_h2.len - rq);
		buf_add(&resp, f->resp_h2.p + rs, f->resp_h2.len - rs);
		run_exchange_bufs(&req, &resp, 0, 0, 0, &s);
		free(req.p);
		free(resp.p);
		if (f->status >= 400 || strstr(f->name, "embed") || strstr(f->path, "gemini") ||
		    strstr(f->path, ":"))
			continue;	/* told by shape only where the shape says */
		n++;
		CHECK(s.nrecs == 1, "%s midstream: %d records", f->name, s.nrecs);
		if (s.nrecs != 1)
			continue;
		CHECK(s.recs[0].flags & TG_REC_MISSED_START, "%s: flags %#x", f->name,
		      s.recs[0].flags);
		CHECK(!strcmp(s.recs[0].call.model, f->model), "%s: model %s", f->name,
		      s.recs[0].call.model);
		(void)why;
	}
	CHECK(n >= 10, "only %d fixtures tried midstream", n);
}

struct peeked {
	int heads;
	char path[128], host[128], method[16];
	uint32_t sid;
	int end_stream;
	char body[512];
	size_t body_len;
};

static int peek_head(void *ctx, uint32_t sid, const struct http1_head *h, int end_stream)
{
	struct peeked *p = ctx;

	if (!p->heads++) {
		snprintf(p->path, sizeof(p->path), "%.*s", (int)h->target_len, h->target);
		snprintf(p->host, sizeof(p->host), "%.*s", (int)h->host_len, h->host);
		snprintf(p->method, sizeof(p->method), "%.*s", (int)h->method_len, h->method);
		p->sid = sid;
		p->end_stream = end_stream;
	}
	return 0;
}

static int peek_data(void *ctx, uint32_t sid, const uint8_t *d, size_t n, int end_stream)
{
	struct peeked *p = ctx;

	if (sid == p->sid && p->body_len + n < sizeof(p->body)) {
		memcpy(p->body + p->body_len, d, n);
		p->body_len += n;
	}
	return 0;
}

/* A held HTTP/2 write read ahead with the connection's HPACK state (its
 * headers indexed by the request before), and the connection left as it
 * was: the same write fed afterwards gives the same calls. */
static void test_h2_peek(void)
{
	static const char pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	static const struct h2_peek_callbacks pcb = { peek_head, peek_data };
	struct buf w1 = { 0 }, w2 = { 0 }, r = { 0 };
	nghttp2_hd_deflater *dq, *dr;
	struct peeked pk = { 0 }, pk0 = { 0 };
	struct sink s;
	struct stream_table *t = table(&s);
	struct tg_meta m = meta(5);
	const char *body = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
	const char *use = "{\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}";
	char cl[16];
	uint32_t sid;
	int rc;

	nghttp2_hd_deflate_new(&dq, 4096);
	nghttp2_hd_deflate_new(&dr, 4096);
	snprintf(cl, sizeof(cl), "%zu", strlen(body));
	buf_add(&w1, pri, sizeof(pri) - 1);
	h2_frame(&w1, 4, 0, 0, NULL, 0);
	for (sid = 1; sid <= 3; sid += 2) {
		struct buf *w = sid == 1 ? &w1 : &w2;
		nghttp2_nv nv[] = {
			NV(":method", "POST"), NV(":scheme", "https"),
			NV(":authority", "api.openai.com"), NV(":path", "/v1/chat/completions"),
			NV("content-type", "application/json"), NV("content-length", cl),
		};

		h2_headers(w, dq, sid, nv, 6, 0, 0);
		h2_data(w, sid, (const uint8_t *)body, strlen(body));
	}
	/* the first write of a new connection (preface and all) */
	rc = stream__peek_write(t, 42, 0x2000, 1, 0, w1.p, w1.len, &pcb, &pk0);
	CHECK_EQ_INT(rc, 1);
	CHECK(!strcmp(pk0.path, "/v1/chat/completions") && pk0.sid == 1, "%s %u", pk0.path,
	      pk0.sid);
	stream__data(t, &m, 0x1000, 1, 0, 0, w1.p, w1.len);
	/* not where the connection is: no look ahead */
	CHECK_EQ_INT(stream__peek_write(t, 42, 0x1000, 1, w1.len + 1, w2.p, w2.len, &pcb, &pk),
		     -EAGAIN);
	rc = stream__peek_write(t, 42, 0x1000, 1, w1.len, w2.p, w2.len, &pcb, &pk);
	CHECK_EQ_INT(rc, 1);
	CHECK(!strcmp(pk.path, "/v1/chat/completions") && !strcmp(pk.host, "api.openai.com") &&
	      !strcmp(pk.method, "POST") && pk.sid == 3 && !pk.end_stream,
	      "peeked %s %s %s sid %u", pk.method, pk.host, pk.path, pk.sid);
	CHECK(pk.body_len == strlen(body) && !memcmp(pk.body, body, pk.body_len), "body %zu",
	      pk.body_len);
	/* the same write, sent: both calls metered as if nothing looked */
	stream__data(t, &m, 0x1000, 1, 0, w1.len, w2.p, w2.len);
	h2_frame(&r, 4, 0, 0, NULL, 0);
	for (sid = 1; sid <= 3; sid += 2) {
		nghttp2_nv nv[] = { NV(":status", "200"), NV("content-type", "application/json") };

		h2_headers(&r, dr, sid, nv, 2, 0, 0);
		h2_data(&r, sid, (const uint8_t *)use, strlen(use));
	}
	stream__data(t, &m, 0x1000, 1, 1, 0, r.p, r.len);
	stream__free(t, 9);
	CHECK_EQ_INT(s.nrecs, 2);
	for (sid = 0; sid < 2 && (int)sid < s.nrecs; sid++) {
		CHECK(!strcmp(s.recs[sid].path, "/v1/chat/completions") &&
		      !strcmp(s.recs[sid].call.model, "gpt-4o") &&
		      s.recs[sid].usage.output_tokens == 3, "record %u: %s %s out %lld", sid,
		      s.recs[sid].path, s.recs[sid].call.model,
		      (long long)s.recs[sid].usage.output_tokens);
	}
	nghttp2_hd_deflate_del(dq);
	nghttp2_hd_deflate_del(dr);
	free(w1.p);
	free(w2.p);
	free(r.p);
}

/* A stream reset in the middle of its response (RST_STREAM), and one cut by
 * GOAWAY before any answer: each a call, metered cut off, with the text so
 * far estimated; the other streams of the connection go on. */
static void test_h2_reset_goaway(void)
{
	static const char pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	struct buf w = { 0 }, r = { 0 };
	nghttp2_hd_deflater *dq, *dr;
	struct sink s;
	struct stream_table *t = table(&s);
	struct tg_meta m = meta(5);
	const char *body = "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
	const char *ev = "data: {\"choices\":[{\"delta\":{\"content\":\"Hello there\"}}]}\n\n";
	const char *done = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
	uint8_t rst[4] = { 0, 0, 0, 2 }, goaway[8] = { 0, 0, 0, 3, 0, 0, 0, 0 };
	uint32_t sid;
	int i, cut = 0, whole = 0, none = 0;

	nghttp2_hd_deflate_new(&dq, 4096);
	nghttp2_hd_deflate_new(&dr, 4096);
	buf_add(&w, pri, sizeof(pri) - 1);
	h2_frame(&w, 4, 0, 0, NULL, 0);
	for (sid = 1; sid <= 5; sid += 2) {
		nghttp2_nv nv[] = {
			NV(":method", "POST"), NV(":scheme", "https"),
			NV(":authority", "api.openai.com"), NV(":path", "/v1/chat/completions"),
			NV("content-type", "application/json"),
		};

		h2_headers(&w, dq, sid, nv, 5, 0, 0);
		h2_data(&w, sid, (const uint8_t *)body, strlen(body));
	}
	h2_frame(&r, 4, 0, 0, NULL, 0);
	for (sid = 1; sid <= 3; sid += 2) {
		nghttp2_nv nv[] = { NV(":status", "200"), NV("content-type", "text/event-stream") };

		h2_headers(&r, dr, sid, nv, 2, 0, 0);
		h2_frame(&r, 0, 0, sid, ev, strlen(ev));
	}
	h2_frame(&r, 3, 0, 1, rst, 4);			/* stream 1 reset */
	h2_frame(&r, 0, 1, 3, done, strlen(done));	/* stream 3 whole */
	h2_frame(&r, 7, 0, 0, goaway, 8);		/* last stream 3: 5 is cut */
	stream__data(t, &m, 0x1000, 1, 0, 0, w.p, w.len);
	stream__data(t, &m, 0x1000, 1, 1, 0, r.p, r.len);
	CHECK_EQ_INT(s.nrecs, 3);	/* all three out before the connection ends */
	stream__free(t, 9);
	for (i = 0; i < s.nrecs && i < 3; i++) {
		const struct tg_record *rec = &s.recs[i];

		if (rec->flags & TG_REC_RESP_TRUNCATED) {
			cut += rec->usage_source == TG_USAGE_ESTIMATED &&
			       rec->usage.output_tokens == 2;	/* "Hello there" */
		} else if (rec->flags & TG_REC_NO_RESPONSE) {
			none += rec->usage_source == TG_USAGE_ESTIMATED;
		} else {
			whole += rec->usage_source == TG_USAGE_PROVIDER &&
				 rec->usage.input_tokens == 9;
		}
	}
	CHECK(cut == 1 && whole == 1 && none == 1, "cut %d whole %d unanswered %d", cut, whole,
	      none);
	nghttp2_hd_deflate_del(dq);
	nghttp2_hd_deflate_del(dr);
	free(w.p);
	free(r.p);
}

/* Several exchanges on one keep-alive connection, requests pipelined. */
static void test_keep_alive_pipelined(void)
{
	struct sink s;
	struct stream_table *t = table(&s);
	uint64_t woff = 0, roff = 0, ts = 1;
	int i, j;

	for (i = 0; i < 3; i++)			/* three requests first */
		feed(t, 0, &woff, &fx[i].req, 0, 0, &ts);
	for (i = 0; i < 3; i++)
		feed(t, 1, &roff, &fx[i].resp, 0, 0, &ts);
	CHECK_EQ_INT(s.nrecs, 3);
	for (j = 0; j < 3 && j < s.nrecs; j++)
		CHECK(!strcmp(s.recs[j].call.model, fx[j].model), "record %d model %s", j,
		      s.recs[j].call.model);
	stream__free(t, ts);
	CHECK_EQ_INT(s.nrecs, 3);
}

static struct fixture *find(const char *name)
{
	int i;

	for (i = 0; i < nfx; i++)
		if (!strcmp(fx[i].name, name))
			return &fx[i];
	return NULL;
}

/* A fixture the test needs: missing is a failure, not a pass. */
#define NEED(f, name) do {						\
	(f) = find(name);						\
	CHECK((f) != NULL, "fixture %s missing", name);			\
	if (!(f))							\
		return;							\
} while (0)

/* A gap inside the request body: framing holds, the call is still metered. */
static void test_gap_in_request_body(void)
{
	struct tg_meta m = meta(1);
	struct stream_table *t;
	struct fixture *f;
	struct sink s;
	size_t head, cut;
	uint64_t roff = 0, ts = 10;

	NEED(f, "openai-chat-03.json");
	t = table(&s);
	head = f->req.len - f->req_body_len;
	cut = head + 200;
	stream__data(t, &m, 0x1000, 1, 0, 0, f->req.p, cut);
	/* 1000 bytes lost, then the rest at its true offset */
	stream__data(t, &m, 0x1000, 1, 0, cut + 1000, f->req.p + cut + 1000,
		     f->req.len - cut - 1000);
	feed(t, 1, &roff, &f->resp, 0, 0, &ts);
	CHECK_EQ_INT(s.nrecs, 1);
	if (s.nrecs == 1) {
		CHECK(s.recs[0].flags & TG_REC_GAP, "gap not flagged");
		CHECK_EQ_INT(s.recs[0].request_bytes, f->req_body_len);
		CHECK_EQ_INT(s.recs[0].status, 200);
		CHECK(!strcmp(s.recs[0].call.model, f->model), "model '%s'", s.recs[0].call.model);
	}
	stream__free(t, ts);
}

/* An explicit gap event (per-call copy cap) inside the request body. */
static void test_gap_event(void)
{
	struct tg_meta m = meta(1);
	struct stream_table *t;
	struct fixture *f;
	struct sink s;
	size_t cut;
	uint64_t roff = 0, ts = 10;

	NEED(f, "anthropic-messages-07.json");
	t = table(&s);
	/* 3000 bytes of the body not copied (this body names its model last) */
	cut = f->req.len - f->req_body_len + 100;
	CHECK(cut + 3000 < f->req.len, "fixture too short");
	if (cut + 3000 >= f->req.len)
		return;
	stream__data(t, &m, 0x1000, 1, 0, 0, f->req.p, cut);
	stream__gap(t, &m, 0x1000, 1, 0, cut, 3000, 0);
	stream__data(t, &m, 0x1000, 1, 0, cut + 3000, f->req.p + cut + 3000, f->req.len - cut - 3000);
	feed(t, 1, &roff, &f->resp, 0, 0, &ts);
	CHECK_EQ_INT(s.nrecs, 1);
	if (s.nrecs == 1) {
		CHECK_EQ_INT(s.recs[0].request_bytes, f->req_body_len);
		CHECK(!strcmp(s.recs[0].call.model, f->model), "model '%s'", s.recs[0].call.model);
	}
	stream__free(t, ts);
}

/* The client goes away mid-response: the call is still metered, cut off. */
static void test_cut_off_response(void)
{
	struct stream_table *t;
	struct fixture *f;
	struct tg_meta m;
	struct sink s;
	uint64_t woff = 0, ts = 10;

	NEED(f, "openai-chat-stream-01.json");
	t = table(&s);
	feed(t, 0, &woff, &f->req, 0, 0, &ts);
	m = meta(ts++);
	stream__data(t, &m, 0x1000, 1, 1, 0, f->resp_chunked.p, f->resp_chunked.len / 2);
	CHECK_EQ_INT(s.nrecs, 0);
	stream__exit(t, 42, ts);
	CHECK_EQ_INT(s.nrecs, 1);
	if (s.nrecs == 1) {
		CHECK(s.recs[0].flags & TG_REC_RESP_TRUNCATED, "flags %#x", s.recs[0].flags);
		CHECK_EQ_INT(s.recs[0].status, 200);
		CHECK(s.recs[0].sse_events > 0, "no events");
	}
	stream__free(t, ts);
}

/* A request that never gets an answer is still a call. */
static void test_no_response(void)
{
	struct sink s;
	struct stream_table *t = table(&s);

	feed_str(t, 0, 0, req_chat("gpt-4o"));
	stream__free(t, 2);
	CHECK_EQ_INT(s.nrecs, 1);
	if (s.nrecs == 1)
		CHECK(s.recs[0].flags & TG_REC_NO_RESPONSE, "flags %#x", s.recs[0].flags);
}


static void test_server_ignored(void)
{
	struct sink s;
	struct stream_table *t = table(&s);

	feed_str(t, 1, 0, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
	CHECK_EQ_INT(s.nignored, 1);
	CHECK_EQ_INT(s.why, STREAM_IGNORE_SERVER);
	feed_str(t, 0, 0, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	stream__free(t, 2);
	CHECK_EQ_INT(s.nrecs, 0);
}

/* An HTTP/2 client is followed, not ignored (its calls: test_http2_*). */
static void test_http2_followed(void)
{
	struct sink s;
	struct stream_table *t = table(&s);
	struct stream_stats st;

	feed_str(t, 0, 0, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
	CHECK_EQ_INT(s.nignored, 0);
	stream__stats(t, &st);
	CHECK_EQ_INT(st.ex.h2_conns, 1);
	stream__free(t, 2);
}

static void test_not_http_ignored(void)
{
	struct sink s;
	struct stream_table *t = table(&s);
	uint8_t junk[4096];
	uint64_t off = 0;
	struct tg_meta m = meta(1);
	int i;

	for (i = 0; i < (int)sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 7 + 3);
	for (i = 0; i < 64 && !s.nignored; i++) {
		stream__data(t, &m, 0x1000, 1, 0, off, junk, sizeof(junk));
		off += sizeof(junk);
	}
	CHECK_EQ_INT(s.nignored, 1);
	CHECK_EQ_INT(s.why, STREAM_IGNORE_NOT_HTTP);
	stream__free(t, 2);
}

/* Joined mid-stream (the agent started during a body): the next request is found. */
static void test_join_mid_stream(void)
{
	struct sink s;
	struct stream_table *t = table(&s);
	struct tg_meta m = meta(1);

	stream__data(t, &m, 0x1000, 1, 0, 0, (const uint8_t *)"\"tail of a body\"}", 17);
	feed_str(t, 0, 17, req_chat("gpt-4o"));
	feed_str(t, 1, 0, RESP_JSON);
	CHECK_EQ_INT(s.nrecs, 1);
	if (s.nrecs == 1)
		CHECK(!strcmp(s.recs[0].call.model, "gpt-4o"), "model %s", s.recs[0].call.model);
	stream__free(t, 2);
}

static void test_non_llm_not_recorded(void)
{
	struct sink s;
	struct stream_table *t = table(&s);

	uint64_t w, r;

	w = feed_str(t, 0, 0, "GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n\r\n");
	r = feed_str(t, 1, 0, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
	/* path of an LLM API, but the body is not the API's */
	feed_str(t, 0, w, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{\"a\": 1}\n");
	feed_str(t, 1, r, "HTTP/1.1 400 Bad\r\nContent-Length: 2\r\n\r\n{}");
	stream__free(t, 2);
	CHECK_EQ_INT(s.nrecs, 0);
	CHECK_EQ_INT(s.nignored, 0);
}

static void test_garbage_never_crashes(void)
{
	struct sink s;
	struct stream_table *t = table(&s);
	uint8_t junk[512];
	uint64_t off = 0, roff = 0;
	struct tg_meta m = meta(1);
	unsigned seed = 1;
	int i, j;

	struct stream_stats st;

	off = feed_str(t, 0, 0, "POST /v1/chat/completions HTTP/1.1\r\n");
	for (i = 0; i < 200; i++) {
		for (j = 0; j < (int)sizeof(junk); j++)
			junk[j] = (uint8_t)(rand_r(&seed) >> 7);
		stream__data(t, &m, 0x1000, 1, i & 1, i & 1 ? roff : off, junk, sizeof(junk));
		if (i & 1)
			roff += sizeof(junk);
		else
			off += sizeof(junk);
	}
	/* The garbage was seen as such: errors counted, bytes skipped. */
	stream__stats(t, &st);
	CHECK(st.ex.http_errors > 0, "no parse errors counted");
	CHECK_EQ_INT(s.nrecs, 0);
	/* A new connection of the same process is followed as ever. */
	off = 0;
	stream__data(t, &m, 0x2000, 1, 0, 0, (const uint8_t *)req_chat("gpt-4o"),
		     strlen(req_chat("gpt-4o")));
	stream__data(t, &m, 0x2000, 1, 1, 0, (const uint8_t *)RESP_JSON, strlen(RESP_JSON));
	CHECK_EQ_INT(s.nrecs, 1);
	if (s.nrecs == 1)
		CHECK(!strcmp(s.recs[0].call.model, "gpt-4o") && s.recs[0].status == 200,
		      "model '%s' status %d", s.recs[0].call.model, s.recs[0].status);
	stream__free(t, 2);
	CHECK_EQ_INT(s.nrecs, 1);
}

static void test_provider_paths(void)
{
	static const struct {
		const char *host, *target, *provider, *model;
		int api;
	} cases[] = {
		{ "api.openai.com", "/v1/chat/completions", "openai", "", LLM_API_CHAT },
		{ "gw.internal:8443", "/openai/v1/chat/completions?x=1", "openai-compatible", "", LLM_API_CHAT },
		{ "openrouter.ai", "/api/v1/chat/completions", "openrouter", "", LLM_API_CHAT },
		{ "api.deepseek.com", "/beta/chat/completions", "deepseek", "", LLM_API_CHAT },
		{ "r.openai.azure.com", "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21",
		  "azure-openai", "gpt4o-prod", LLM_API_CHAT },
		{ "localhost:8000", "/v1/completions", "openai-compatible", "", LLM_API_COMPLETIONS },
		{ "api.openai.com", "/v1/responses", "openai", "", LLM_API_RESPONSES },
		{ "api.openai.com", "/v1/embeddings", "openai", "", LLM_API_EMBEDDINGS },
		{ "api.anthropic.com", "/v1/messages?beta=true", "anthropic", "", LLM_API_MESSAGES },
		{ "127.0.0.1", "/v1/messages", "anthropic", "", LLM_API_MESSAGES },
		{ "generativelanguage.googleapis.com", "/v1beta/models/gemini-2.0-flash:generateContent",
		  "gemini", "gemini-2.0-flash", LLM_API_GENERATE },
		{ "generativelanguage.googleapis.com",
		  "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", "gemini",
		  "gemini-2.5-flash", LLM_API_STREAM_GENERATE },
		{ "us-central1-aiplatform.googleapis.com",
		  "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-1.5-pro:generateContent",
		  "vertex-ai", "gemini-1.5-pro", LLM_API_GENERATE },
		{ "x", "/v1beta/models/text-embedding-004:embedContent", "gemini", "text-embedding-004", LLM_API_EMBED },
		{ "x", "/v1beta/models/e:batchEmbedContents", "gemini", "e", LLM_API_EMBED },
		{ "api.openai.com", "/v1/models", NULL, NULL, 0 },
		{ "api.anthropic.com", "/v1/messages/count_tokens", NULL, NULL, 0 },
		{ "api.openai.com", "/v1/chat/completions/chatcmpl-1", NULL, NULL, 0 },
		{ "x", "/v1beta/models/m:countTokens", NULL, NULL, 0 },
		{ "notapi.openai.com.evil", "/v1/chat/completions", "openai-compatible", "", LLM_API_CHAT },
	};
	struct llm_call call;
	size_t i;
	int hit;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hit = provider_match(cases[i].host, strlen(cases[i].host), cases[i].target,
				     strlen(cases[i].target), &call);
		if (!cases[i].provider) {
			CHECK(!hit, "%s matched", cases[i].target);
			continue;
		}
		CHECK(hit && (int)call.api == cases[i].api, "%s: api %d", cases[i].target, call.api);
		CHECK(!strcmp(call.provider, cases[i].provider), "%s: provider %s",
		      cases[i].target, call.provider);
		CHECK(!strcmp(call.model, cases[i].model), "%s: model %s", cases[i].target, call.model);
	}
}

/* --- defects the review found ------------------------------------------- */

static const struct tg_record *rec_of(const struct sink *s, const char *model)
{
	int i;

	for (i = 0; i < s->nrecs && i < MAX_RECS; i++)
		if (!strcmp(s->recs[i].call.model, model))
			return &s->recs[i];
	return NULL;
}

/*
 * One LLM call whose SSE response is being read, then 64 more requests
 * pipelined (one more than are followed), then an event of the first
 * response: it belongs to the first request, which must still be there
 * (it was freed under the SSE parser once); the later responses pair
 * with their own requests.
 */
static void test_pipeline_overflow(void)
{
	static struct sink s;
	struct stream_table *t = table(&s);
	struct stream_stats st;
	const struct tg_record *r;
	char model[32], resp[128];
	uint64_t w = 0, rd = 0;
	int i;

	w = feed_str(t, 0, w, req_chat("m-0"));
	rd = feed_str(t, 1, rd, RESP_SSE_HEAD);
	for (i = 1; i <= 64; i++) {
		snprintf(model, sizeof(model), "m-%d", i);
		w = feed_str(t, 0, w, req_chat(model));
	}
	rd = feed_str(t, 1, rd, "9\r\ndata: x\n\n\r\n0\r\n\r\n");
	for (i = 1; i <= 64; i++) {
		snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: 2\r\n\r\n{}", 200 + i);
		rd = feed_str(t, 1, rd, resp);
	}
	stream__stats(t, &st);
	stream__free(t, 2);
	CHECK_EQ_INT(s.nrecs, 65);
	r = rec_of(&s, "m-0");
	CHECK(r && r->status == 200 && r->sse_events == 1 && !r->flags, "first call: %d %u %#x",
	      r ? r->status : -1, r ? r->sse_events : 0, r ? r->flags : 0);
	for (i = 1; i < 64; i++) {
		snprintf(model, sizeof(model), "m-%d", i);
		r = rec_of(&s, model);
		CHECK(r && r->status == 200 + i && !r->flags, "%s: status %d flags %#x", model,
		      r ? r->status : -1, r ? r->flags : 0);
	}
	r = rec_of(&s, "m-64");
	CHECK(r && (r->flags & TG_REC_UNTRACKED) && !r->status, "the request not followed: %#x",
	      r ? r->flags : 0);
	CHECK_EQ_INT(st.ex.pending_overflows, 1);
	CHECK_EQ_INT(st.ex.orphan_responses, 0);
}

/* A gzip request body of `mib` MiB once decoded, model first. */
static uint8_t *gzip_body(size_t mib, size_t *len)
{
	static const char head[] = "{\"model\":\"gpt-bomb\",\"messages\":[{\"role\":\"user\",\"content\":\"";
	size_t cap = 1 << 20, i;
	uint8_t *out = malloc(cap), *chunk = malloc(1 << 20);
	z_stream z = { 0 };

	memset(chunk, 'a', 1 << 20);
	deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 9, Z_DEFAULT_STRATEGY);
	z.next_out = out;
	z.avail_out = cap;
	z.next_in = (Bytef *)head;
	z.avail_in = sizeof(head) - 1;
	deflate(&z, Z_NO_FLUSH);
	for (i = 0; i < mib; i++) {
		z.next_in = chunk;
		z.avail_in = 1 << 20;
		deflate(&z, Z_NO_FLUSH);
	}
	deflate(&z, Z_FINISH);
	*len = cap - z.avail_out;
	deflateEnd(&z);
	free(chunk);
	return out;
}

/*
 * 16 connections each in the middle of a gzip POST that decodes to far
 * more than the body cap: what they buffer together stays under the
 * memory bound, what is refused is counted, and every call is still
 * metered, flagged.
 */
static void test_memory_bound(void)
{
	static struct sink s;
	struct stream_table *t;
	struct stream_cfg cfg;
	struct membudget mb;
	struct tg_meta m = meta(1);
	char head[512];
	uint8_t *body;
	size_t blen, hlen;
	int i, shed = 0;

	body = gzip_body(200, &blen);
	CHECK(blen > 100000 && blen < 400000, "gzip body %zu bytes", blen);
	membudget_init(&mb, 64 << 20);
	stream_cfg_default(&cfg);
	cfg.exchange.mb = &mb;
	memset(&s, 0, sizeof(s));
	t = stream__new(&cfg, &ops, &s);
	for (i = 0; i < 16; i++) {
		hlen = snprintf(head, sizeof(head), "POST /v1/chat/completions HTTP/1.1\r\n"
				"Host: api.openai.com\r\nContent-Encoding: gzip\r\n"
				"Content-Length: %zu\r\n\r\n", blen);
		stream__data(t, &m, 0x1000 + i, 1, 0, 0, (const uint8_t *)head, hlen);
		/* all but the end: the body is never finished */
		stream__data(t, &m, 0x1000 + i, 1, 0, hlen, body, blen - 100);
		CHECK(mb.used <= mb.limit, "connection %d: %llu buffered", i,
		      (unsigned long long)mb.used);
	}
	CHECK(mb.peak <= mb.limit, "peak %llu over %llu", (unsigned long long)mb.peak,
	      (unsigned long long)mb.limit);
	CHECK(mb.refused > 0, "nothing refused");
	stream__free(t, 2);
	CHECK_EQ_INT(mb.used, 0);
	CHECK_EQ_INT(s.nrecs, 16);
	for (i = 0; i < s.nrecs && i < MAX_RECS; i++) {
		CHECK(s.recs[i].flags & TG_REC_REQ_TRUNCATED, "record %d flags %#x", i,
		      s.recs[i].flags);
		/* a call shed before its body could be read has no model: it is
		 * still metered, at the default price */
		CHECK(!strcmp(s.recs[i].call.model, "gpt-bomb") ||
		      (!s.recs[i].call.model[0] && (s.recs[i].flags & TG_REC_SHED)),
		      "record %d model '%s' flags %#x", i, s.recs[i].call.model, s.recs[i].flags);
		shed += !!(s.recs[i].flags & TG_REC_SHED);
	}
	CHECK(shed > 0, "no record says it was shed");

	/* The body cap counts decoded bytes: with room to spare, a body is
	 * kept up to the cap, no further. */
	membudget_init(&mb, 1ull << 30);
	stream_cfg_default(&cfg);
	cfg.exchange.mb = &mb;
	cfg.exchange.max_body = 1 << 20;
	memset(&s, 0, sizeof(s));
	t = stream__new(&cfg, &ops, &s);
	hlen = snprintf(head, sizeof(head), "POST /v1/chat/completions HTTP/1.1\r\n"
			"Host: x\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", blen);
	stream__data(t, &m, 0x1000, 1, 0, 0, (const uint8_t *)head, hlen);
	stream__data(t, &m, 0x1000, 1, 0, hlen, body, blen);
	CHECK(mb.peak < (2 << 20), "peak %llu for a 1 MiB cap", (unsigned long long)mb.peak);
	stream__data(t, &m, 0x1000, 1, 1, 0, (const uint8_t *)RESP_JSON, strlen(RESP_JSON));
	stream__free(t, 2);
	CHECK_EQ_INT(s.nrecs, 1);
	if (s.nrecs == 1) {
		CHECK(s.recs[0].flags & TG_REC_BODY_OVERFLOW, "flags %#x", s.recs[0].flags);
		CHECK_EQ_INT(s.recs[0].request_bytes, (200ull << 20) + 58);	/* + the JSON head */
		CHECK(!strcmp(s.recs[0].call.model, "gpt-bomb"), "model '%s'", s.recs[0].call.model);
	}
	free(body);
}

/*
 * The kernel lost a connection's entry (eviction, a dropped close) and the
 * address is reused: a new generation is a new stream, never spliced onto
 * the old one; an event of the old generation after that is stale.
 */
static void test_generations(void)
{
	struct sink s;
	struct stream_table *t = table(&s);
	struct tg_meta m = meta(1);
	struct stream_stats st;
	const char *req = req_chat("gen-1");

	/* generation 1: a head and half a body */
	stream__data(t, &m, 0x1000, 1, 0, 0, (const uint8_t *)req, strlen(req) - 10);
	/* generation 2 on the same address, from its first byte */
	req = req_chat("gen-2");
	stream__data(t, &m, 0x1000, 2, 0, 0, (const uint8_t *)req, strlen(req));
	CHECK_EQ_INT(s.nended, 1);
	CHECK_EQ_INT(s.end_why, STREAM_END_REPLACED);
	/* a late event of generation 1 changes nothing */
	stream__data(t, &m, 0x1000, 1, 0, strlen(req) - 10, (const uint8_t *)"0123456789", 10);
	stream__data(t, &m, 0x1000, 2, 1, 0, (const uint8_t *)RESP_JSON, strlen(RESP_JSON));
	/* a close of generation 1 does not end generation 2 */
	stream__close(t, 42, 0x1000, 1, 3);
	stream__stats(t, &st);
	CHECK_EQ_INT(st.conns, 1);
	CHECK_EQ_INT(st.conns_replaced, 1);
	CHECK_EQ_INT(st.stale_events, 1);
	CHECK_EQ_INT(st.gaps_inferred, 0);
	stream__free(t, 4);
	CHECK_EQ_INT(s.nrecs, 2);
	if (s.nrecs == 2) {
		CHECK(!strcmp(s.recs[0].call.model, "gen-1") &&
		      (s.recs[0].flags & TG_REC_REQ_TRUNCATED), "gen-1: %s %#x",
		      s.recs[0].call.model, s.recs[0].flags);
		CHECK(!strcmp(s.recs[1].call.model, "gen-2") && s.recs[1].status == 200 &&
		      !s.recs[1].flags, "gen-2: %s %d %#x", s.recs[1].call.model,
		      s.recs[1].status, s.recs[1].flags);
	}
}

/*
 * A call whose bytes were lost without a count (TG_GAP_LOST) in the middle
 * of a request body: the request ends cut, flagged, and the next request
 * at the same offset is found, not spliced onto the first.
 */
static void test_lost_call(void)
{
	struct sink s;
	struct stream_table *t = table(&s);
	struct tg_meta m = meta(1);
	struct stream_stats st;
	const char *req = req_chat("lost-1");
	uint64_t w = strlen(req) - 20, r;

	stream__data(t, &m, 0x1000, 1, 0, 0, (const uint8_t *)req, w);
	stream__gap(t, &m, 0x1000, 1, 0, w, 0, 1);
	w = feed_str(t, 0, w, req_chat("lost-2"));
	r = feed_str(t, 1, 0, RESP_JSON);
	feed_str(t, 1, r, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}");
	stream__stats(t, &st);
	CHECK_EQ_INT(st.gaps_lost, 1);
	stream__free(t, 2);
	CHECK_EQ_INT(s.nrecs, 2);
	if (s.nrecs == 2) {
		CHECK(s.recs[0].flags & TG_REC_GAP, "first: flags %#x", s.recs[0].flags);
		CHECK(!strcmp(s.recs[1].call.model, "lost-2") && s.recs[1].status == 201 &&
		      !s.recs[1].flags, "second: %s %d %#x", s.recs[1].call.model,
		      s.recs[1].status, s.recs[1].flags);
	}
}

/*
 * A lost call between messages: a lost response answers the oldest
 * request, which is metered without it; a lost request keeps its place,
 * so the responses after it still pair with their own requests.
 */
static void test_lost_between_messages(void)
{
	struct sink s;
	struct stream_table *t = table(&s);
	struct tg_meta m = meta(1);
	uint64_t w, r;

	w = feed_str(t, 0, 0, req_chat("one"));
	stream__gap(t, &m, 0x1000, 1, 1, 0, 0, 1);		/* its response, lost */
	w = feed_str(t, 0, w, req_chat("two"));
	r = feed_str(t, 1, 0, "HTTP/1.1 202 OK\r\nContent-Length: 2\r\n\r\n{}");
	stream__gap(t, &m, 0x1000, 1, 0, w, 0, 1);		/* a request, lost */
	w = feed_str(t, 0, w, req_chat("four"));
	r = feed_str(t, 1, r, "HTTP/1.1 203 OK\r\nContent-Length: 2\r\n\r\n{}");
	r = feed_str(t, 1, r, "HTTP/1.1 204 OK\r\n\r\n");
	stream__free(t, 2);
	CHECK_EQ_INT(s.nrecs, 3);
	CHECK(rec_of(&s, "one") && !rec_of(&s, "one")->status &&
	      (rec_of(&s, "one")->flags & TG_REC_GAP), "one");
	CHECK(rec_of(&s, "two") && rec_of(&s, "two")->status == 202, "two: %d",
	      rec_of(&s, "two") ? rec_of(&s, "two")->status : -1);
	CHECK(rec_of(&s, "four") && rec_of(&s, "four")->status == 204, "four: %d",
	      rec_of(&s, "four") ? rec_of(&s, "four")->status : -1);
}

/* After an idle expiry the kernel's entry is dropped too: the connection
 * used again is a new generation from offset 0, and no gap is counted. */
static void test_expired_reuse(void)
{
	struct sink s;
	struct stream_table *t = table(&s);
	struct tg_meta m = meta(1);
	struct stream_stats st;
	uint64_t w, r;

	w = feed_str(t, 0, 0, req_chat("a"));
	r = feed_str(t, 1, 0, RESP_JSON);
	stream__expire(t, 1 + 301ull * 1000000000ull);
	CHECK_EQ_INT(s.nended, 1);
	CHECK_EQ_INT(s.end_why, STREAM_END_EXPIRED);
	stream__data(t, &m, 0x1000, 2, 0, 0, (const uint8_t *)req_chat("b"), strlen(req_chat("b")));
	stream__data(t, &m, 0x1000, 2, 1, 0, (const uint8_t *)RESP_JSON, strlen(RESP_JSON));
	stream__stats(t, &st);
	CHECK_EQ_INT(st.gaps_inferred + st.gaps, 0);
	CHECK_EQ_INT(st.expired, 1);
	stream__free(t, 2);
	CHECK_EQ_INT(s.nrecs, 2);
	CHECK(w && r, "fed");
}

/* An absolute-form target loses its userinfo, query and authority. */
static void test_userinfo_stripped(void)
{
	struct sink s;
	struct stream_table *t = table(&s);

	char req[8192];
	uint64_t w;

	w = feed_str(t, 0, 0, req_to("https://user:sk-SECRET@api.openai.com/v1/chat/completions"
				     "?key=AIzaSECRET", "gpt-4o"));
	snprintf(req, sizeof(req), "POST /v1/chat/completions HTTP/1.1\r\n"
		 "Host: k:sk-SECRET@api.openai.com\r\n%s", strstr(req_chat("gpt-4o"), "Content-Type"));
	feed_str(t, 0, w, req);
	feed_str(t, 1, 0, RESP_JSON);
	stream__free(t, 2);
	CHECK_EQ_INT(s.nrecs, 2);
	if (s.nrecs == 2) {
		CHECK(!strcmp(s.recs[0].path, "/v1/chat/completions"), "path '%s'", s.recs[0].path);
		CHECK(!strcmp(s.recs[0].call.model, "gpt-4o"), "model '%s'", s.recs[0].call.model);
		CHECK(!strcmp(s.recs[1].host, "api.openai.com"), "host '%s'", s.recs[1].host);
		CHECK(!strcmp(s.recs[1].call.provider, "openai"), "provider '%s'",
		      s.recs[1].call.provider);
	}
}

/* A model name longer than kept is cut, and the record says so. */
static void test_model_cut(void)
{
	struct sink s;
	struct stream_table *t = table(&s);
	struct stream_stats st;
	char model[400];

	memset(model, 'm', 300);
	model[300] = '\0';
	feed_str(t, 0, 0, req_chat(model));
	feed_str(t, 1, 0, RESP_JSON);
	stream__stats(t, &st);
	stream__free(t, 2);
	CHECK_EQ_INT(s.nrecs, 1);
	if (s.nrecs == 1) {
		CHECK(s.recs[0].flags & TG_REC_FIELD_CUT, "flags %#x", s.recs[0].flags);
		CHECK_EQ_INT(strlen(s.recs[0].call.model), PROVIDER_MODEL_MAX - 1);
	}
	CHECK_EQ_INT(st.ex.fields_cut, 1);
}

/* A request body in a coding we cannot read is a decode error, counted;
 * the call is still metered. */
static void test_unknown_request_encoding(void)
{
	struct sink s;
	struct stream_table *t = table(&s);
	struct stream_stats st;

	feed_str(t, 0, 0, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
		 "Content-Encoding: snappy\r\nContent-Length: 4\r\n\r\nabcd");
	feed_str(t, 1, 0, RESP_JSON);
	stream__stats(t, &st);
	stream__free(t, 2);
	CHECK_EQ_INT(st.ex.decode_errors, 1);
	CHECK_EQ_INT(s.nrecs, 1);
	if (s.nrecs == 1)
		CHECK(s.recs[0].flags & TG_REC_DECODE_ERROR, "flags %#x", s.recs[0].flags);
}

/* An HTTP/2 preface read, not written: we are an h2 server. */
static void test_server_http2_ignored(void)
{
	struct sink s;
	struct stream_table *t = table(&s);

	feed_str(t, 1, 0, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
	CHECK_EQ_INT(s.nignored, 1);
	CHECK_EQ_INT(s.why, STREAM_IGNORE_SERVER_HTTP2);
	stream__free(t, 2);
}

/* An SSE event over the cap is dropped, counted, and the record says so. */
static void test_sse_oversized_flagged(void)
{
	struct sink s;
	struct stream_table *t;
	struct stream_cfg cfg;
	struct stream_stats st;
	char ev[512];
	uint64_t r;

	stream_cfg_default(&cfg);
	cfg.exchange.max_sse_event = 64;
	memset(&s, 0, sizeof(s));
	t = stream__new(&cfg, &ops, &s);
	feed_str(t, 0, 0, req_chat("sse"));
	r = feed_str(t, 1, 0, RESP_SSE_HEAD);
	snprintf(ev, sizeof(ev), "%x\r\ndata: %0200d\n\ndata: small\n\n\r\n0\r\n\r\n", 222, 0);
	feed_str(t, 1, r, ev);
	stream__stats(t, &st);
	stream__free(t, 2);
	CHECK_EQ_INT(st.ex.sse_oversized, 1);
	CHECK_EQ_INT(st.ex.sse_events, 1);
	CHECK_EQ_INT(s.nrecs, 1);
	if (s.nrecs == 1) {
		CHECK(s.recs[0].flags & TG_REC_SSE_DROPPED, "flags %#x", s.recs[0].flags);
		CHECK_EQ_INT(s.recs[0].sse_events, 1);
	}
}

/* The API key is kept as a fingerprint, from any of the headers it may
 * come in, and nowhere else in the record. */
static void test_key_fingerprint(void)
{
	static const char *const heads[] = {
		"Authorization: Bearer sk-SECRET-1\r\n", "x-api-key: sk-SECRET-1\r\n",
		"api-key: sk-SECRET-1\r\n", "X-Goog-Api-Key: sk-SECRET-1\r\n",
	};
	char req[8192], want[TG_KEY_FP_LEN];
	struct sink s;
	struct stream_table *t;
	uint64_t w = 0, r = 0;
	size_t i;

	key_fingerprint("sk-SECRET-1", 11, want);
	t = table(&s);
	for (i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		snprintf(req, sizeof(req), "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n%s%s",
			 heads[i], strstr(req_chat("gpt-4o"), "Content-Type"));
		w = feed_str(t, 0, w, req);
		r = feed_str(t, 1, r, RESP_JSON);
	}
	w = feed_str(t, 0, w, "POST /v1beta/models/gemini-2.0-flash:generateContent"
		     "?alt=json&key=sk-SECRET-1 HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\n\r\n"
		     "{\"contents\":[]}");
	feed_str(t, 1, r, RESP_JSON);
	stream__free(t, 2);
	CHECK_EQ_INT(s.nrecs, 5);
	for (i = 0; i < (size_t)s.nrecs; i++) {
		CHECK(!strcmp(s.recs[i].key_fp, want), "record %zu: key_fp '%s'", i,
		      s.recs[i].key_fp);
		CHECK(!memmem(&s.recs[i], sizeof(s.recs[i]), "SECRET", 6), "record %zu: key kept", i);
	}
}

/* Fail closed: a body nested deeper than the JSON parser goes is metered,
 * its model found by the scan; so is one that is not JSON at all. */
static void test_unparsed_body_metered(void)
{
	char req[65536], body[32768];
	struct sink s;
	struct stream_table *t;
	size_t n, i, d = 5000;
	uint64_t w = 0, r = 0;

	n = snprintf(body, sizeof(body), "{\"messages\":[{\"role\":\"user\",\"x\":");
	for (i = 0; i < d; i++)
		body[n++] = '[';
	for (i = 0; i < d; i++)
		body[n++] = ']';
	n += snprintf(body + n, sizeof(body) - n, "}],\"model\":\"gpt-4o\"}");
	t = table(&s);
	snprintf(req, sizeof(req), "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
		 "Content-Length: %zu\r\n\r\n%s", n, body);
	w = feed_str(t, 0, w, req);
	r = feed_str(t, 1, r, RESP_JSON);
	snprintf(req, sizeof(req), "post /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
		 "Content-Length: 9\r\n\r\nnot json!");
	feed_str(t, 0, w, req);
	feed_str(t, 1, r, RESP_JSON);
	stream__free(t, 2);
	CHECK_EQ_INT(s.nrecs, 2);
	if (s.nrecs != 2)
		return;
	CHECK(s.recs[0].flags & TG_REC_UNPARSED, "flags %#x", s.recs[0].flags);
	CHECK(!strcmp(s.recs[0].call.model, "gpt-4o"), "model '%s'", s.recs[0].call.model);
	CHECK(s.recs[0].usage.input_tokens > (int64_t)d / 4, "input %lld",
	      (long long)s.recs[0].usage.input_tokens);
	CHECK_EQ_INT(s.recs[0].usage_source, TG_USAGE_ESTIMATED);
	CHECK(s.recs[1].flags & TG_REC_UNPARSED, "flags %#x", s.recs[1].flags);
	CHECK(s.recs[1].usage.input_tokens > 0, "not json metered as nothing");
}

/* A body not of the API's shape is an LLM call when its response reports
 * usage: the provider billed it. */
static void test_odd_body_with_usage(void)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		"Content-Length: 74\r\n\r\n"
		"{\"model\":\"gpt-4o\",\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3}}      ";
	struct sink s;
	struct stream_table *t = table(&s);

	feed_str(t, 0, 0, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n"
		 "\r\n{\"model\":\"gpt-4o\"}");
	feed_str(t, 1, 0, resp);
	stream__free(t, 2);
	CHECK_EQ_INT(s.nrecs, 1);
	if (s.nrecs == 1) {
		CHECK_EQ_INT(s.recs[0].usage.input_tokens, 9);
		CHECK_EQ_INT(s.recs[0].usage.output_tokens, 3);
		CHECK_EQ_INT(s.recs[0].usage_source, TG_USAGE_PROVIDER);
	}
}

/* Usage through the exchange: an OpenAI stream without include_usage is
 * estimated from the request and the deltas; with it, the provider's. */
static void test_stream_usage(void)
{
	static const char ev[] = "data: {\"choices\":[{\"delta\":{\"content\":\"Hello there\"}}]}\n\n";
	static const char use[] = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,"
				  "\"completion_tokens\":2}}\n\n";
	char chunk[1024], req[8192];
	struct sink s;
	struct stream_table *t = table(&s);
	uint64_t w, r;

	snprintf(req, sizeof(req), "%s", req_chat("gpt-4o"));
	w = feed_str(t, 0, 0, req);
	r = feed_str(t, 1, 0, RESP_SSE_HEAD);
	snprintf(chunk, sizeof(chunk), "%zx\r\n%s\r\n0\r\n\r\n", strlen(ev), ev);
	r = feed_str(t, 1, r, chunk);
	feed_str(t, 0, w, req);
	r = feed_str(t, 1, r, RESP_SSE_HEAD);
	snprintf(chunk, sizeof(chunk), "%zx\r\n%s\r\n%zx\r\n%s\r\n0\r\n\r\n", strlen(ev), ev,
		 strlen(use), use);
	feed_str(t, 1, r, chunk);
	stream__free(t, 2);
	CHECK_EQ_INT(s.nrecs, 2);
	if (s.nrecs != 2)
		return;
	CHECK_EQ_INT(s.recs[0].usage_source, TG_USAGE_ESTIMATED);
	CHECK_EQ_INT(s.recs[0].usage.output_tokens, 2);	/* "Hello there" */
	CHECK(s.recs[0].usage.input_tokens > 5, "input %lld",
	      (long long)s.recs[0].usage.input_tokens);
	CHECK_EQ_INT(s.recs[1].usage_source, TG_USAGE_PROVIDER);
	CHECK_EQ_INT(s.recs[1].usage.input_tokens, 11);
}

int main(void)
{
	int i;

	/* Synthetic traffic: no fixture needed. */
	RUN(test_provider_paths);
	RUN(test_no_response);
	RUN(test_server_ignored);
	RUN(test_http2_followed);
	RUN(test_not_http_ignored);
	RUN(test_join_mid_stream);
	RUN(test_non_llm_not_recorded);
	RUN(test_garbage_never_crashes);
	RUN(test_pipeline_overflow);
	RUN(test_memory_bound);
	RUN(test_generations);
	RUN(test_lost_call);
	RUN(test_lost_between_messages);
	RUN(test_expired_reuse);
	RUN(test_userinfo_stripped);
	RUN(test_model_cut);
	RUN(test_unknown_request_encoding);
	RUN(test_server_http2_ignored);
	RUN(test_sse_oversized_flagged);
	RUN(test_key_fingerprint);
	RUN(test_unparsed_body_metered);
	RUN(test_odd_body_with_usage);
	RUN(test_stream_usage);
	RUN(test_h2_peek);
	RUN(test_h2_reset_goaway);

	/* Recorded provider traffic. */
	load_all();
	if (!have_fixtures()) {
		tap_skip("exchange_fixtures", "no recorded traffic (set FIXTURES to shared/fixtures)");
		return tap_done();
	}
	RUN(test_fixtures_whole);
	RUN(test_fixtures_every_split);
	RUN(test_fixtures_byte_at_a_time);
	RUN(test_fixtures_h2);
	RUN(test_fixtures_h2_concurrent);
	RUN(test_h2_midstream);
	RUN(test_keep_alive_pipelined);
	RUN(test_gap_in_request_body);
	RUN(test_gap_event);
	RUN(test_cut_off_response);
	for (i = 0; i < nfx; i++)
		fixture_free(&fx[i]);
	free(fx);
	return tap_done();
}
