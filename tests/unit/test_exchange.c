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
#include "stream.h"
#include "fixtures.h"
#include "tap.h"

#define MAX_RECS 16

struct sink {
	struct tg_record recs[MAX_RECS];
	int nrecs;
	int nignored;
	enum stream_ignore_why why;
};

static void on_record(void *ctx, const struct tg_record *r)
{
	struct sink *s = ctx;

	if (s->nrecs < MAX_RECS)
		s->recs[s->nrecs] = *r;
	s->nrecs++;
}

static void on_ignore(void *ctx, uint32_t tgid, uint64_t ssl, enum stream_ignore_why why)
{
	struct sink *s = ctx;

	s->nignored++;
	s->why = why;
}

static const struct stream_ops ops = { on_record, on_ignore };

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
		stream__data(t, &m, 0x1000, dir, *off, b->p + pos, n);
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

/* One exchange on a fresh connection; returns the sink. */
static void run_exchange(struct fixture *f, const struct buf *resp, size_t req_split,
			 size_t resp_split, size_t step, struct sink *s)
{
	struct stream_table *t = table(s);
	uint64_t woff = 0, roff = 0, ts = 1000;

	feed(t, 0, &woff, &f->req, req_split, step, &ts);
	feed(t, 1, &roff, resp, resp_split, step, &ts);
	stream__close(t, 42, 0x1000, ts);
	stream__free(t, ts);
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
	if (r->flags)
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
		if (!load_fixture(path, &fx[nfx]))
			nfx++;
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

/* A gap inside the request body: framing holds, the call is still metered. */
static void test_gap_in_request_body(void)
{
	struct fixture *f = find("openai-chat-03.json");
	struct tg_meta m = meta(1);
	struct stream_table *t;
	struct sink s;
	size_t head, cut;
	uint64_t roff = 0, ts = 10;

	CHECK(f != NULL, "fixture missing");
	if (!f)
		return;
	t = table(&s);
	head = f->req.len - f->req_body_len;
	cut = head + 200;
	stream__data(t, &m, 0x1000, 0, 0, f->req.p, cut);
	/* 1000 bytes lost, then the rest at its true offset */
	stream__data(t, &m, 0x1000, 0, cut + 1000, f->req.p + cut + 1000,
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
	struct fixture *f = find("anthropic-messages-07.json");
	struct tg_meta m = meta(1);
	struct stream_table *t;
	struct sink s;
	size_t cut;
	uint64_t roff = 0, ts = 10;

	if (!f)
		return;
	t = table(&s);
	/* 3000 bytes of the body not copied (this body names its model last) */
	cut = f->req.len - f->req_body_len + 100;
	CHECK(cut + 3000 < f->req.len, "fixture too short");
	if (cut + 3000 >= f->req.len)
		return;
	stream__data(t, &m, 0x1000, 0, 0, f->req.p, cut);
	stream__gap(t, &m, 0x1000, 0, cut, 3000);
	stream__data(t, &m, 0x1000, 0, cut + 3000, f->req.p + cut + 3000, f->req.len - cut - 3000);
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
	struct fixture *f = find("openai-chat-stream-01.json");
	struct stream_table *t;
	struct tg_meta m;
	struct sink s;
	uint64_t woff = 0, ts = 10;

	if (!f)
		return;
	t = table(&s);
	feed(t, 0, &woff, &f->req, 0, 0, &ts);
	m = meta(ts++);
	stream__data(t, &m, 0x1000, 1, 0, f->resp_chunked.p, f->resp_chunked.len / 2);
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
	uint64_t woff = 0, ts = 1;

	feed(t, 0, &woff, &fx[0].req, 0, 0, &ts);
	stream__free(t, ts);
	CHECK_EQ_INT(s.nrecs, 1);
	if (s.nrecs == 1)
		CHECK(s.recs[0].flags & TG_REC_NO_RESPONSE, "flags %#x", s.recs[0].flags);
}

static uint64_t feed_str(struct stream_table *t, int dir, uint64_t off, const char *str)
{
	struct tg_meta m = meta(1);

	stream__data(t, &m, 0x1000, dir, off, (const uint8_t *)str, strlen(str));
	return off + strlen(str);
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

static void test_http2_ignored(void)
{
	struct sink s;
	struct stream_table *t = table(&s);

	feed_str(t, 0, 0, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
	CHECK_EQ_INT(s.nignored, 1);
	CHECK_EQ_INT(s.why, STREAM_IGNORE_HTTP2);
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
		stream__data(t, &m, 0x1000, 0, off, junk, sizeof(junk));
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
	uint64_t woff = 0, roff = 0, ts = 1;
	struct tg_meta m = meta(1);

	stream__data(t, &m, 0x1000, 0, 0, (const uint8_t *)"\"tail of a body\"}", 17);
	woff = 17;
	feed(t, 0, &woff, &fx[0].req, 0, 0, &ts);
	feed(t, 1, &roff, &fx[0].resp, 0, 0, &ts);
	CHECK_EQ_INT(s.nrecs, 1);
	stream__free(t, ts);
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

	off = feed_str(t, 0, 0, "POST /v1/chat/completions HTTP/1.1\r\n");
	for (i = 0; i < 200; i++) {
		for (j = 0; j < (int)sizeof(junk); j++)
			junk[j] = (uint8_t)(rand_r(&seed) >> 7);
		stream__data(t, &m, 0x1000, i & 1, i & 1 ? roff : off, junk, sizeof(junk));
		if (i & 1)
			roff += sizeof(junk);
		else
			off += sizeof(junk);
	}
	stream__free(t, 2);
	CHECK(1, "survived");
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

int main(void)
{
	int i;

	load_all();
	if (!nfx) {
		tap_skip("exchange_fixtures", "no fixtures found (set FIXTURES)");
		return 0;
	}
	RUN(test_provider_paths);
	RUN(test_fixtures_whole);
	RUN(test_fixtures_every_split);
	RUN(test_fixtures_byte_at_a_time);
	RUN(test_keep_alive_pipelined);
	RUN(test_gap_in_request_body);
	RUN(test_gap_event);
	RUN(test_cut_off_response);
	RUN(test_no_response);
	RUN(test_server_ignored);
	RUN(test_http2_ignored);
	RUN(test_not_http_ignored);
	RUN(test_join_mid_stream);
	RUN(test_non_llm_not_recorded);
	RUN(test_garbage_never_crashes);
	for (i = 0; i < nfx; i++)
		fixture_free(&fx[i]);
	free(fx);
	return tap_done();
}
