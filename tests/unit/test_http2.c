// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * HTTP/2 decoder tests.  The byte streams are made here: frame headers by
 * hand, header blocks with nghttp2's HPACK deflater, one per direction,
 * so the dynamic table is used as a real peer uses it.  Each script (data
 * of either direction, gaps, eof) runs whole, cut in two at every offset,
 * and one byte at a time: the callback log, which holds the body bytes and
 * the decoder's counters, must come out identical every time.
 *
 * Feeds are capture calls to the decoder: it resynchronises only where one
 * begins.  A script's data op that starts somewhere no frame starts (the
 * middle of a connection) is marked nocut: cutting it would make a feed
 * start where a frame does, which a whole run cannot see.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <nghttp2/nghttp2.h>
#include "tap.h"
#include "strbuf.h"
#include "http2.h"
#include "membudget.h"

/* Printable bytes as they are, others as \xNN. */
static void sb_esc(struct sb *b, const void *s, size_t n)
{
	const uint8_t *p = s;
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			sb_add(b, &p[i], 1);
		else
			sb_printf(b, "\\x%02x", p[i]);
	}
}

/* --- callback recorder -------------------------------------------------- */

struct rec {
	struct sb log;
	const uint8_t *buf;	/* the feed in progress: body bytes must lie in it */
	size_t buf_len;
	int fields;		/* log every header field */
	uint32_t refuse;	/* on_head of this stream answers -ECANCELED */
	uint32_t bsid;		/* the run of body bytes being logged */
	int bdir, in_body;
};

static const char *const why_name[] = {
	[H2_END_STREAM] = "stream", [H2_END_RESET] = "reset", [H2_END_GOAWAY] = "goaway",
	[H2_END_CLOSED] = "closed", [H2_END_LOST] = "lost", [H2_END_EVICTED] = "evicted",
};

/* Closes a run of body bytes before any other event. */
static void rec_event(struct rec *r)
{
	if (r->in_body)
		sb_add(&r->log, "\n", 1);
	r->in_body = 0;
}

static int rec_head(void *ctx, uint32_t sid, int dir, const struct http1_head *h, unsigned flags)
{
	struct rec *r = ctx;
	struct sb *l = &r->log;
	size_t i;

	rec_event(r);
	sb_printf(l, "H %u/%d", sid, dir);
	if (!h) {
		sb_printf(l, " -");
	} else {
		if (h->method)
			sb_printf(l, " %.*s %.*s", (int)h->method_len, h->method,
				  (int)h->target_len, h->target);
		if (h->status)
			sb_printf(l, " %d", h->status);
		if (h->version_minor != 1 || h->chunked || h->conn_close)
			sb_printf(l, " BAD-VERSION-OR-FRAMING");
		if (h->host)
			sb_printf(l, " host=%.*s", (int)h->host_len, h->host);
		if (h->content_type)
			sb_printf(l, " ct=%.*s", (int)h->content_type_len, h->content_type);
		if (h->content_encoding)
			sb_printf(l, " ce=%.*s", (int)h->content_encoding_len, h->content_encoding);
		if (h->content_length >= 0)
			sb_printf(l, " cl=%lld", (long long)h->content_length);
		if (h->expect_continue)
			sb_printf(l, " expect");
		sb_printf(l, " h=%zu", h->nheaders);
		for (i = 0; r->fields && i < h->nheaders; i++) {
			sb_printf(l, i ? "; " : " [");
			sb_esc(l, h->headers[i].name, h->headers[i].name_len);
			sb_printf(l, ": ");
			sb_esc(l, h->headers[i].value, h->headers[i].value_len);
		}
		if (r->fields && h->nheaders)
			sb_printf(l, "]");
	}
	if (flags & H2_HEAD_END_STREAM)
		sb_printf(l, " es");
	if (flags & H2_HEAD_MIDSTREAM)
		sb_printf(l, " mid");
	sb_printf(l, "\n");
	return sid == r->refuse ? -ECANCELED : 0;
}

static int rec_body(void *ctx, uint32_t sid, int dir, const uint8_t *d, size_t n)
{
	struct rec *r = ctx;

	if (!n || d < r->buf || n > (size_t)(r->buf + r->buf_len - d)) {
		rec_event(r);
		sb_printf(&r->log, "BODY NOT IN THE INPUT\n");
		return 0;
	}
	if (!r->in_body || r->bsid != sid || r->bdir != dir) {
		rec_event(r);
		sb_printf(&r->log, "B %u/%d ", sid, dir);
	}
	r->in_body = 1;
	r->bsid = sid;
	r->bdir = dir;
	sb_esc(&r->log, d, n);
	return 0;
}

static int rec_gap(void *ctx, uint32_t sid, int dir, uint64_t n)
{
	struct rec *r = ctx;

	rec_event(r);
	sb_printf(&r->log, "G %u/%d %llu\n", sid, dir, (unsigned long long)n);
	return 0;
}

static int rec_end(void *ctx, uint32_t sid, int dir, enum h2_end why)
{
	struct rec *r = ctx;

	rec_event(r);
	sb_printf(&r->log, "E %u/%d %s\n", sid, dir, why_name[why]);
	return 0;
}

static const struct h2_callbacks rec_cb = { rec_head, rec_body, rec_gap, rec_end, NULL };

static void log_stats(struct sb *l, const struct h2_stats *st)
{
#define ST(f) do { if (st->f) sb_printf(l, " " #f "=%llu", (unsigned long long)st->f); } while (0)
	sb_printf(l, "STATS frames=%llu streams=%llu", (unsigned long long)st->frames,
		  (unsigned long long)st->streams);
	ST(headless);
	ST(hpack_errors);
	ST(hpack_lost);
	ST(resyncs);
	ST(skipped);
	ST(bad_frames);
	ST(resets);
	ST(goaways);
	ST(evicted);
	ST(oversized_heads);
	ST(bad_prefaces);
	ST(late_frames);
	ST(dropped_fields);
	ST(gap_bytes);
	sb_printf(l, "\n");
#undef ST
}

/* --- scripts ------------------------------------------------------------ */

enum { OP_DATA, OP_GAP, OP_EOF };

struct op {
	int kind, dir;
	int nocut;		/* one feed, however the script is cut */
	uint8_t *data;
	size_t len;
	uint64_t gap;
};

#define MAX_OPS 1024

/* A script being written: frames go to out[dir] until sent as one feed. */
struct h2w {
	struct op op[MAX_OPS];
	size_t nops;
	int midstream;
	struct sb out[2];
	nghttp2_hd_deflater *def[2];
	struct membudget *mb;
	uint32_t refuse;
	int fields;
};

#define FR_DATA 0
#define FR_HEADERS 1
#define FR_PRIORITY 2
#define FR_RST 3
#define FR_SETTINGS 4
#define FR_PUSH 5
#define FR_PING 6
#define FR_GOAWAY 7
#define FR_WINDOW 8
#define FR_CONT 9

#define ES 0x01		/* END_STREAM */
#define ACK 0x01
#define EH 0x04		/* END_HEADERS */
#define PADDED 0x08
#define PRIO 0x20

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

static void w_init(struct h2w *w, int midstream)
{
	memset(w, 0, sizeof(*w));
	w->midstream = midstream;
	w->fields = 1;
	if (nghttp2_hd_deflate_new(&w->def[0], 4096) || nghttp2_hd_deflate_new(&w->def[1], 4096))
		abort();
}

static void w_free(struct h2w *w)
{
	size_t i;

	for (i = 0; i < w->nops; i++)
		free(w->op[i].data);
	free(w->out[0].p);
	free(w->out[1].p);
	nghttp2_hd_deflate_del(w->def[0]);
	nghttp2_hd_deflate_del(w->def[1]);
}

static struct op *w_op(struct h2w *w)
{
	if (w->nops == MAX_OPS)
		abort();
	return memset(&w->op[w->nops++], 0, sizeof(struct op));
}

/* What was written for dir becomes one feed. */
static void w_send(struct h2w *w, int dir)
{
	struct op *o;

	if (!w->out[dir].len)
		return;
	o = w_op(w);
	o->kind = OP_DATA;
	o->dir = dir;
	o->data = (uint8_t *)w->out[dir].p;
	o->len = w->out[dir].len;
	w->out[dir] = (struct sb){ 0 };
}

static void w_send_nocut(struct h2w *w, int dir)
{
	w_send(w, dir);
	w->op[w->nops - 1].nocut = 1;
}

static void w_gap(struct h2w *w, int dir, uint64_t n)
{
	struct op *o;

	w_send(w, dir);
	o = w_op(w);
	o->kind = OP_GAP;
	o->dir = dir;
	o->gap = n;
}

/* The last n bytes written for dir are not captured: a gap of glen instead. */
static void w_lose(struct h2w *w, int dir, size_t n, uint64_t glen)
{
	if (n > w->out[dir].len)
		abort();
	w->out[dir].len -= n;
	w_gap(w, dir, glen);
}

static void w_eof(struct h2w *w)
{
	w_send(w, 0);
	w_send(w, 1);
	w_op(w)->kind = OP_EOF;
}

static void w_raw(struct h2w *w, int dir, const void *p, size_t n)
{
	sb_add(&w->out[dir], p, n);
}

static void w_frame_hdr(struct h2w *w, int dir, uint32_t len, uint8_t type, uint8_t flags,
			uint32_t sid)
{
	uint8_t h[9] = { len >> 16, len >> 8, len, type, flags, sid >> 24, sid >> 16, sid >> 8, sid };

	w_raw(w, dir, h, 9);
}

static void w_frame(struct h2w *w, int dir, uint8_t type, uint8_t flags, uint32_t sid,
		    const void *p, size_t n)
{
	w_frame_hdr(w, dir, n, type, flags, sid);
	w_raw(w, dir, p, n);
}

/* DATA; pad >= 0: PADDED with that many bytes of padding */
static void w_data(struct h2w *w, int dir, uint32_t sid, uint8_t flags, const char *s, int pad)
{
	size_t n = strlen(s);
	uint8_t zero[256] = { 0 }, pl = pad;

	if (pad < 0) {
		w_frame(w, dir, FR_DATA, flags, sid, s, n);
		return;
	}
	w_frame_hdr(w, dir, 1 + n + pad, FR_DATA, flags | PADDED, sid);
	w_raw(w, dir, &pl, 1);
	w_raw(w, dir, s, n);
	w_raw(w, dir, zero, pad);
}

/* A header block from dir's deflater into *out (malloc'd); its length. */
static size_t w_block(struct h2w *w, int dir, const nghttp2_nv *nv, size_t n, uint8_t **out)
{
	size_t bound = nghttp2_hd_deflate_bound(w->def[dir], nv, n);
	ssize_t rv;

	*out = malloc(bound + 1);
	rv = nghttp2_hd_deflate_hd(w->def[dir], *out, bound, nv, n);
	if (!*out || rv < 0)
		abort();
	return rv;
}

/*
 * A header block as HEADERS (type FR_HEADERS) or PUSH_PROMISE (FR_PUSH,
 * promised stream in prio) then CONTINUATION frames of at most frag bytes
 * each (0: one frame).  pad >= 0: PADDED; prio (HEADERS): PRIORITY fields.
 */
static size_t w_hblock(struct h2w *w, int dir, uint8_t type, uint32_t sid, uint8_t flags,
		       const nghttp2_nv *nv, size_t n, int pad, uint32_t prio, size_t frag)
{
	uint8_t *blk, zero[256] = { 0 }, pre[6];
	size_t len = w_block(w, dir, nv, n, &blk), first = frag && frag < len ? frag : len, off;
	size_t npre = 0;

	if (pad >= 0) {
		flags |= PADDED;
		pre[npre++] = pad;
	}
	if (type == FR_PUSH || prio) {
		if (type == FR_HEADERS)
			flags |= PRIO;
		pre[npre++] = prio >> 24;
		pre[npre++] = prio >> 16;
		pre[npre++] = prio >> 8;
		pre[npre++] = prio;
		if (type == FR_HEADERS)
			pre[npre++] = 15;	/* weight */
	}
	if (first == len)
		flags |= EH;
	w_frame_hdr(w, dir, npre + first + (pad > 0 ? pad : 0), type, flags, sid);
	w_raw(w, dir, pre, npre);
	w_raw(w, dir, blk, first);
	if (pad > 0)
		w_raw(w, dir, zero, pad);
	for (off = first; off < len; off += frag) {
		size_t k = len - off < frag ? len - off : frag;

		w_frame(w, dir, FR_CONT, off + k == len ? EH : 0, sid, blk + off, k);
	}
	free(blk);
	return len;
}

static size_t w_headers(struct h2w *w, int dir, uint32_t sid, uint8_t flags, const nghttp2_nv *nv,
			size_t n)
{
	return w_hblock(w, dir, FR_HEADERS, sid, flags, nv, n, -1, 0, 0);
}

static void w_settings(struct h2w *w, int dir, uint16_t id, uint32_t v)
{
	uint8_t p[6] = { id >> 8, id, v >> 24, v >> 16, v >> 8, v };

	w_frame(w, dir, FR_SETTINGS, 0, 0, p, id ? 6 : 0);
}

static void w_u32(struct h2w *w, int dir, uint8_t type, uint8_t flags, uint32_t sid, uint32_t v)
{
	uint8_t p[4] = { v >> 24, v >> 16, v >> 8, v };

	w_frame(w, dir, type, flags, sid, p, 4);
}

static void w_goaway(struct h2w *w, int dir, uint32_t last)
{
	uint8_t p[8 + 5] = { last >> 24, last >> 16, last >> 8, last, 0, 0, 0, 0,
			     'b', 'y', 'e', '!', '!' };

	w_frame(w, dir, FR_GOAWAY, 0, 0, p, sizeof(p));
}

/* The usual start: preface and SETTINGS both ways, acknowledged. */
static void w_start(struct h2w *w)
{
	w_raw(w, 0, PREFACE, 24);
	w_settings(w, 0, 0, 0);
	w_send(w, 0);
	w_settings(w, 1, 0, 0);
	w_frame(w, 1, FR_SETTINGS, ACK, 0, NULL, 0);
	w_send(w, 1);
	w_frame(w, 0, FR_SETTINGS, ACK, 0, NULL, 0);
}

#define NV(n, v) \
	{ (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE }
#define NNV(a) (sizeof(a) / sizeof((a)[0]))

/* --- running ------------------------------------------------------------ */

#define CUT_BYTES SIZE_MAX	/* one byte at a time */

static const char *note = "";	/* which script, in failure messages */

/* Runs a script, cutting its data at global offset cut (0: whole). */
static void run(struct rec *r, const struct h2w *w, size_t cut)
{
	struct h2_conn *c = h2_conn__new(&rec_cb, r, w->midstream);
	struct h2_stats st;
	size_t i, off = 0, pos, n;
	ssize_t rc;

	if (!c)
		abort();
	if (w->mb)
		h2_conn__set_budget(c, w->mb);
	for (i = 0; i < w->nops; i++) {
		const struct op *o = &w->op[i];

		if (o->kind != OP_DATA) {
			rc = o->kind == OP_GAP ? h2_conn__gap(c, o->dir, o->gap) : h2_conn__eof(c);
			if (rc) {
				rec_event(r);
				sb_printf(&r->log, "ERR %zd\n", rc);
			}
			continue;
		}
		for (pos = 0; pos < o->len; pos += n) {
			n = o->len - pos;
			if (o->nocut)
				;
			else if (cut == CUT_BYTES)
				n = 1;
			else if (cut > off + pos && cut < off + o->len)
				n = cut - (off + pos);
			r->buf = o->data + pos;
			r->buf_len = n;
			rc = h2_conn__feed(c, o->dir, o->data + pos, n);
			if (rc != (ssize_t)n) {
				rec_event(r);
				sb_printf(&r->log, "ERR %zd\n", rc);
			}
		}
		off += o->len;
	}
	rec_event(r);
	h2_conn__stats(c, &st);
	log_stats(&r->log, &st);
	h2_conn__free(c);
}

static size_t script_len(const struct h2w *w)
{
	size_t i, total = 0;

	for (i = 0; i < w->nops; i++)
		total += w->op[i].len;
	return total;
}

/*
 * Runs the script whole, cut in two at every stride-th offset and byte by
 * byte; checks they agree, and match want.  want NULL: print the log.
 */
static void check_stride(struct h2w *w, const char *want, size_t stride)
{
	struct rec whole = { .fields = w->fields, .refuse = w->refuse };
	struct rec r = { .fields = w->fields, .refuse = w->refuse };
	size_t cut, total = script_len(w);

	w_send(w, 0);
	w_send(w, 1);
	run(&whole, w, 0);
	if (want)
		CHECK(!strcmp(whole.log.p, want), "%s\n--- got\n%s--- want\n%s", note, whole.log.p,
		      want);
	else
		printf("--- log\n%s", whole.log.p);
	for (cut = 1; cut < total && !tap_cur_failed; cut += stride) {
		r.log.len = 0;
		run(&r, w, cut);
		CHECK(r.log.len == whole.log.len && !memcmp(r.log.p, whole.log.p, r.log.len),
		      "%s: cut at %zu:\n--- got\n%s--- whole\n%s", note, cut, r.log.p, whole.log.p);
	}
	r.log.len = 0;
	run(&r, w, CUT_BYTES);
	CHECK(r.log.len == whole.log.len && !memcmp(r.log.p, whole.log.p, r.log.len),
	      "%s: byte by byte:\n--- got\n%s--- whole\n%s", note, r.log.p, whole.log.p);
	free(whole.log.p);
	free(r.log.p);
}

static void check(struct h2w *w, const char *want)
{
	check_stride(w, want, 1);
}

/* --- messages ----------------------------------------------------------- */

static const nghttp2_nv req_openai[] = {
	NV(":method", "POST"), NV(":scheme", "https"), NV(":authority", "api.openai.com"),
	NV(":path", "/v1/chat/completions"), NV("content-type", "application/json"),
	NV("authorization", "Bearer sk-test-1"), NV("content-length", "32"),
};

static const nghttp2_nv req_openai_gzip[] = {
	NV(":method", "POST"), NV(":scheme", "https"), NV(":authority", "api.openai.com"),
	NV(":path", "/v1/chat/completions"), NV("content-type", "application/json"),
	NV("content-encoding", "gzip"), NV("authorization", "Bearer sk-test-1"),
};

static const nghttp2_nv req_anthropic[] = {
	NV(":method", "POST"), NV(":scheme", "https"), NV(":authority", "api.anthropic.com"),
	NV(":path", "/v1/messages"), NV("content-type", "application/json"),
	NV("x-api-key", "sk-ant-test"), NV("anthropic-version", "2023-06-01"),
};

static const nghttp2_nv resp_sse[] = {
	NV(":status", "200"), NV("content-type", "text/event-stream"), NV("x-request-id", "req_1"),
};

static const nghttp2_nv resp_json[] = {
	NV(":status", "200"), NV("content-type", "application/json"), NV("content-length", "11"),
};

/*
 * Three requests at once, bodies over several DATA frames (some padded)
 * and interleaved; SSE and JSON answers; control frames between; the
 * second request's fields come from the dynamic table.
 */
static void test_concurrent_calls(void)
{
	static const uint8_t ping[8] = "12345678", prio[5] = { 0, 0, 0, 0, 15 };
	struct h2w w;
	size_t b1, b7;

	w_init(&w, 0);
	w_start(&w);
	b1 = w_headers(&w, 0, 1, 0, req_openai, NNV(req_openai));
	w_data(&w, 0, 1, 0, "{\"model\":\"gpt-4o\",", 5);
	w_headers(&w, 0, 3, 0, req_openai_gzip, NNV(req_openai_gzip));
	w_headers(&w, 0, 5, 0, req_anthropic, NNV(req_anthropic));
	w_frame(&w, 0, FR_PRIORITY, 0, 5, prio, 5);
	w_data(&w, 0, 3, 0, "\x1f\x8b", -1);
	w_data(&w, 0, 1, 0, "\"stream\":true}", 0);
	w_data(&w, 0, 1, ES, "", -1);
	w_data(&w, 0, 5, ES, "{\"model\":\"claude\"}", 200);
	w_u32(&w, 0, FR_WINDOW, 0, 0, 65535);
	w_send(&w, 0);
	w_headers(&w, 1, 1, 0, resp_sse, NNV(resp_sse));
	w_data(&w, 1, 1, 0, "data: {\"choices\":[]}\n\n", -1);
	w_frame(&w, 1, FR_PING, 0, 0, ping, 8);
	w_frame(&w, 1, 0x10, 0, 0, "\0\0\0\1x", 5);	/* PRIORITY_UPDATE: skipped */
	w_headers(&w, 1, 5, 0, resp_json, NNV(resp_json));
	w_data(&w, 1, 5, ES, "{\"id\":\"m\"}\n", 3);
	w_send(&w, 1);
	w_frame(&w, 0, FR_PING, ACK, 0, ping, 8);
	w_data(&w, 0, 3, ES, "\x03\x01", -1);
	b7 = w_headers(&w, 0, 7, 0, req_openai, NNV(req_openai));
	w_data(&w, 0, 7, ES, "{}", -1);
	w_send(&w, 0);
	w_data(&w, 1, 1, 0, "data: {\"usage\":{}}\n\n", 1);
	w_data(&w, 1, 1, ES, "data: [DONE]\n\n", -1);
	w_headers(&w, 1, 3, ES, resp_json, NNV(resp_json));
	w_send(&w, 1);
	w_eof(&w);
	/* :path, content-length and authorization are never indexed by nghttp2 */
	CHECK(b7 + 20 < b1, "blocks of %zu then %zu bytes: fields not indexed", b1, b7);
	check(&w,
	      "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32 h=3"
	      " [content-type: application/json; authorization: Bearer sk-test-1;"
	      " content-length: 32]\n"
	      "B 1/0 {\"model\":\"gpt-4o\",\n"
	      "H 3/0 POST /v1/chat/completions host=api.openai.com ct=application/json ce=gzip h=3"
	      " [content-type: application/json; content-encoding: gzip; authorization: Bearer"
	      " sk-test-1]\n"
	      "H 5/0 POST /v1/messages host=api.anthropic.com ct=application/json h=3"
	      " [content-type: application/json; x-api-key: sk-ant-test; anthropic-version:"
	      " 2023-06-01]\n"
	      "B 3/0 \\x1f\\x8b\n"
	      "B 1/0 \"stream\":true}\n"
	      "E 1/0 stream\n"
	      "B 5/0 {\"model\":\"claude\"}\n"
	      "E 5/0 stream\n"
	      "H 1/1 200 ct=text/event-stream h=2 [content-type: text/event-stream;"
	      " x-request-id: req_1]\n"
	      "B 1/1 data: {\"choices\":[]}\\x0a\\x0a\n"
	      "H 5/1 200 ct=application/json cl=11 h=2 [content-type: application/json;"
	      " content-length: 11]\n"
	      "B 5/1 {\"id\":\"m\"}\\x0a\n"
	      "E 5/1 stream\n"
	      "B 3/0 \\x03\\x01\n"
	      "E 3/0 stream\n"
	      "H 7/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32 h=3"
	      " [content-type: application/json; authorization: Bearer sk-test-1;"
	      " content-length: 32]\n"
	      "B 7/0 {}\n"
	      "E 7/0 stream\n"
	      "B 1/1 data: {\"usage\":{}}\\x0a\\x0adata: [DONE]\\x0a\\x0a\n"
	      "E 1/1 stream\n"
	      "H 3/1 200 ct=application/json cl=11 h=2 [content-type: application/json;"
	      " content-length: 11] es\n"
	      "E 3/1 stream\n"
	      "STATS frames=27 streams=4\n");
	w_free(&w);
}

/*
 * Interim answers come as heads of their own before the final one, one
 * on_end for all; trailers (either way) end the message and are not
 * reported.
 */
static void test_interim_trailers(void)
{
	static const nghttp2_nv req[] = {
		NV(":method", "POST"), NV(":scheme", "https"), NV(":authority", "api.openai.com"),
		NV(":path", "/v1/files"), NV("expect", "100-continue"), NV("content-length", "4"),
	};
	static const nghttp2_nv get[] = {
		NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/v1/models"),
		NV("host", "api.openai.com"), NV("Host", "second.example"),
	};
	static const nghttp2_nv r100[] = { NV(":status", "100") };
	static const nghttp2_nv r103[] = { NV(":status", "103"), NV("link", "</a>; rel=preload") };
	static const nghttp2_nv r204[] = { NV(":status", "204"), NV("x-done", "1") };
	static const nghttp2_nv trailers[] = { NV("x-checksum", "abc") };
	static const nghttp2_nv resp_trailers[] = { NV("grpc-status", "0"), NV("x-usage", "42") };
	struct h2w w;

	w_init(&w, 0);
	w_start(&w);
	w_headers(&w, 0, 1, 0, req, NNV(req));
	w_send(&w, 0);
	w_headers(&w, 1, 1, 0, r100, NNV(r100));
	w_send(&w, 1);
	w_data(&w, 0, 1, 0, "data", -1);
	w_headers(&w, 0, 1, ES, trailers, NNV(trailers));
	w_headers(&w, 0, 3, ES, get, NNV(get));
	w_send(&w, 0);
	w_headers(&w, 1, 1, 0, r103, NNV(r103));
	w_headers(&w, 1, 1, 0, resp_sse, NNV(resp_sse));
	w_data(&w, 1, 1, 0, "data: x\n\n", -1);
	w_headers(&w, 1, 1, ES, resp_trailers, NNV(resp_trailers));
	w_headers(&w, 1, 3, 0, r100, NNV(r100));
	w_headers(&w, 1, 3, ES, r204, NNV(r204));
	w_send(&w, 1);
	check(&w,
	      "H 1/0 POST /v1/files host=api.openai.com cl=4 expect h=2"
	      " [expect: 100-continue; content-length: 4]\n"
	      "H 1/1 100 h=0\n"
	      "B 1/0 data\n"
	      "E 1/0 stream\n"
	      "H 3/0 GET /v1/models host=api.openai.com h=2 [host: api.openai.com; Host:"
	      " second.example] es\n"
	      "E 3/0 stream\n"
	      "H 1/1 103 h=1 [link: </a>; rel=preload]\n"
	      "H 1/1 200 ct=text/event-stream h=2 [content-type: text/event-stream;"
	      " x-request-id: req_1]\n"
	      "B 1/1 data: x\\x0a\\x0a\n"
	      "E 1/1 stream\n"
	      "H 3/1 100 h=0\n"
	      "H 3/1 204 h=1 [x-done: 1] es\n"
	      "E 3/1 stream\n"
	      "STATS frames=15 streams=2\n");
	w_free(&w);
}

/*
 * Header blocks over HEADERS and CONTINUATION frames, with padding and
 * priority fields; an empty HEADERS fragment; END_STREAM on the HEADERS.
 */
static void test_continuation(void)
{
	static const nghttp2_nv get[] = {
		NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "api.openai.com"),
		NV(":path", "/v1/models?limit=100&order=desc"), NV("authorization", "Bearer sk-test-2"),
		NV("user-agent", "OpenAI/Python 1.40.0"), NV("accept", "application/json"),
	};
	uint8_t *blk;
	size_t n;
	struct h2w w;

	w_init(&w, 0);
	w_start(&w);
	w_hblock(&w, 0, FR_HEADERS, 1, ES, get, NNV(get), 6, 0, 7);
	w_hblock(&w, 0, FR_HEADERS, 3, 0, req_anthropic, NNV(req_anthropic), -1, 1, 5);
	w_hblock(&w, 0, FR_HEADERS, 5, ES, get, NNV(get), 0, 0, 3);
	w_data(&w, 0, 3, ES, "{}", -1);
	w_send(&w, 0);
	n = w_block(&w, 1, resp_json, NNV(resp_json), &blk);
	w_frame(&w, 1, FR_HEADERS, 0, 1, NULL, 0);
	w_frame(&w, 1, FR_CONT, 0, 1, NULL, 0);
	w_frame(&w, 1, FR_CONT, EH, 1, blk, n);
	free(blk);
	w_data(&w, 1, 1, ES, "{\"data\":[]}", -1);
	w_hblock(&w, 1, FR_HEADERS, 3, ES, resp_json, NNV(resp_json), 1, 0, 1);
	w_send(&w, 1);
	check(&w,
	      "H 1/0 GET /v1/models?limit=100&order=desc host=api.openai.com h=3 [authorization:"
	      " Bearer sk-test-2; user-agent: OpenAI/Python 1.40.0; accept: application/json]"
	      " es\n"
	      "E 1/0 stream\n"
	      "H 3/0 POST /v1/messages host=api.anthropic.com ct=application/json h=3"
	      " [content-type: application/json; x-api-key: sk-ant-test; anthropic-version:"
	      " 2023-06-01]\n"
	      "H 5/0 GET /v1/models?limit=100&order=desc host=api.openai.com h=3 [authorization:"
	      " Bearer sk-test-2; user-agent: OpenAI/Python 1.40.0; accept: application/json]"
	      " es\n"
	      "E 5/0 stream\n"
	      "B 3/0 {}\n"
	      "E 3/0 stream\n"
	      "H 1/1 200 ct=application/json cl=11 h=2 [content-type: application/json;"
	      " content-length: 11]\n"
	      "B 1/1 {\"data\":[]}\n"
	      "E 1/1 stream\n"
	      "H 3/1 200 ct=application/json cl=11 h=2 [content-type: application/json;"
	      " content-length: 11] es\n"
	      "E 3/1 stream\n"
	      "STATS frames=59 streams=3\n");
	w_free(&w);
}

/*
 * RST_STREAM either way ends what is open of its stream; frames still in
 * flight for it are late.  The server's GOAWAY ends the streams above its
 * last stream id; the client's names pushed streams and ends none.
 */
static void test_reset_goaway(void)
{
	static const nghttp2_nv get[] = {
		NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "a"), NV(":path", "/"),
	};
	struct h2w w;

	w_init(&w, 0);
	w.fields = 0;
	w_start(&w);
	w_headers(&w, 0, 1, 0, req_openai, NNV(req_openai));
	w_data(&w, 0, 1, 0, "a", -1);
	w_headers(&w, 0, 3, ES, get, NNV(get));
	w_headers(&w, 0, 5, 0, req_openai, NNV(req_openai));
	w_headers(&w, 0, 7, ES, get, NNV(get));
	w_headers(&w, 0, 9, 0, req_openai, NNV(req_openai));
	w_send(&w, 0);
	w_headers(&w, 1, 1, 0, resp_sse, NNV(resp_sse));
	w_data(&w, 1, 1, 0, "data: 1\n\n", -1);
	w_headers(&w, 1, 3, 0, resp_sse, NNV(resp_sse));
	w_data(&w, 1, 3, 0, "data: 3\n\n", -1);
	w_send(&w, 1);
	w_u32(&w, 0, FR_RST, 0, 3, 8);		/* CANCEL */
	w_data(&w, 0, 1, ES, "b", -1);
	w_send(&w, 0);
	w_data(&w, 1, 3, 0, "late", -1);
	w_u32(&w, 1, FR_RST, 0, 5, 7);		/* REFUSED_STREAM */
	w_goaway(&w, 1, 7);
	w_data(&w, 1, 1, ES, "data: 2\n\n", -1);
	w_send(&w, 1);
	w_data(&w, 0, 9, 0, "late too", -1);
	w_headers(&w, 0, 11, 0, req_openai, NNV(req_openai));
	w_goaway(&w, 0, 0);
	w_eof(&w);
	check(&w,
	      "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32 h=3\n"
	      "B 1/0 a\n"
	      "H 3/0 GET / host=a h=0 es\n"
	      "E 3/0 stream\n"
	      "H 5/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32 h=3\n"
	      "H 7/0 GET / host=a h=0 es\n"
	      "E 7/0 stream\n"
	      "H 9/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32 h=3\n"
	      "H 1/1 200 ct=text/event-stream h=2\n"
	      "B 1/1 data: 1\\x0a\\x0a\n"
	      "H 3/1 200 ct=text/event-stream h=2\n"
	      "B 3/1 data: 3\\x0a\\x0a\n"
	      "E 3/1 reset\n"
	      "B 1/0 b\n"
	      "E 1/0 stream\n"
	      "E 5/0 reset\n"
	      "E 9/0 goaway\n"
	      "B 1/1 data: 2\\x0a\\x0a\n"
	      "E 1/1 stream\n"
	      "H 11/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32 h=3\n"
	      "E 11/0 closed\n"
	      "STATS frames=23 streams=6 resets=2 goaways=2 late_frames=2\n");
	w_free(&w);
}

/*
 * Pushed streams are not reported, but their header blocks go through
 * the inflater: the answer on stream 1 uses table entries they added.
 */
static void test_push_promise(void)
{
	static const nghttp2_nv get[] = {
		NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "a"), NV(":path", "/"),
	};
	static const nghttp2_nv promise[] = {
		NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "a"),
		NV(":path", "/style.css"), NV("x-pushed", "a-value-worth-indexing"),
	};
	static const nghttp2_nv pushed[] = {
		NV(":status", "200"), NV("content-type", "text/css"), NV("x-pushed-too", "another-value"),
	};
	static const nghttp2_nv resp[] = {
		NV(":status", "200"), NV("content-type", "text/css"),
		NV("x-pushed", "a-value-worth-indexing"), NV("x-pushed-too", "another-value"),
	};
	struct h2w w;
	size_t n;

	w_init(&w, 0);
	w_start(&w);
	w_headers(&w, 0, 1, ES, get, NNV(get));
	w_send(&w, 0);
	w_hblock(&w, 1, FR_PUSH, 1, 0, promise, NNV(promise), 3, 2, 5);
	w_headers(&w, 1, 2, 0, pushed, NNV(pushed));
	w_data(&w, 1, 2, ES, "body{}", -1);
	w_send(&w, 1);
	w_u32(&w, 0, FR_WINDOW, 0, 2, 100);
	w_u32(&w, 0, FR_RST, 0, 2, 8);
	w_send(&w, 0);
	n = w_headers(&w, 1, 1, ES, resp, NNV(resp));
	CHECK(n < 6, "the answer's block is %zu bytes: the pushed fields were not reused", n);
	check(&w,
	      "H 1/0 GET / host=a h=0 es\n"
	      "E 1/0 stream\n"
	      "H 1/1 200 ct=text/css h=3 [content-type: text/css; x-pushed:"
	      " a-value-worth-indexing; x-pushed-too: another-value] es\n"
	      "E 1/1 stream\n"
	      "STATS frames=18 streams=1 resets=1\n");
	w_free(&w);
}

/* Replaces dir's deflater with one whose table can grow to max bytes, set to size. */
static void w_table(struct h2w *w, int dir, size_t max, size_t size)
{
	nghttp2_hd_deflate_del(w->def[dir]);
	if (nghttp2_hd_deflate_new(&w->def[dir], max) ||
	    nghttp2_hd_deflate_change_table_size(w->def[dir], size))
		abort();
}

/* Three 3000-byte fields: more than the default 4096-byte table holds. */
static void big_fields(nghttp2_nv *nv, char *big)
{
	static const char *const names[] = { ":status", "x-a", "x-b", "x-c" };
	int i;

	memset(big, 'v', 3000);
	for (i = 0; i < 4; i++)
		nv[i] = (nghttp2_nv){ (uint8_t *)names[i], (uint8_t *)(i ? big : "200"),
				      strlen(names[i]), i ? 3000 : 3, NGHTTP2_NV_FLAG_NONE };
}

/*
 * SETTINGS_HEADER_TABLE_SIZE from the client sizes the inflater of the
 * answers: with 65536 announced, a server table of 9 KB decodes, and the
 * second answer comes from its entries alone.
 */
static void test_table_grow(void)
{
	static const nghttp2_nv get[] = {
		NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "a"), NV(":path", "/"),
	};
	static char big[3000];
	nghttp2_nv nv[4];
	struct h2w w;
	size_t n;

	big_fields(nv, big);
	w_init(&w, 0);
	w.fields = 0;
	w_raw(&w, 0, PREFACE, 24);
	w_settings(&w, 0, 1, 65536);
	w_headers(&w, 0, 1, ES, get, NNV(get));
	w_headers(&w, 0, 3, ES, get, NNV(get));
	w_send(&w, 0);
	w_settings(&w, 1, 0, 0);
	w_frame(&w, 1, FR_SETTINGS, ACK, 0, NULL, 0);
	w_table(&w, 1, 65536, 65536);
	w_headers(&w, 1, 1, ES, nv, 4);
	n = w_headers(&w, 1, 3, ES, nv, 4);
	CHECK(n < 10, "second answer %zu bytes", n);
	check(&w,
	      "H 1/0 GET / host=a h=0 es\n"
	      "E 1/0 stream\n"
	      "H 3/0 GET / host=a h=0 es\n"
	      "E 3/0 stream\n"
	      "H 1/1 200 h=3 es\n"
	      "E 1/1 stream\n"
	      "H 3/1 200 h=3 es\n"
	      "E 3/1 stream\n"
	      "STATS frames=7 streams=2\n");

	/* without the SETTINGS, the table size update is refused */
	w_free(&w);
	w_init(&w, 0);
	w.fields = 0;
	w_raw(&w, 0, PREFACE, 24);
	w_settings(&w, 0, 0, 0);
	w_headers(&w, 0, 1, ES, get, NNV(get));
	w_headers(&w, 0, 3, ES, get, NNV(get));
	w_send(&w, 0);
	w_settings(&w, 1, 0, 0);
	w_frame(&w, 1, FR_SETTINGS, ACK, 0, NULL, 0);
	w_table(&w, 1, 65536, 65536);
	w_headers(&w, 1, 1, ES, nv, 4);
	w_headers(&w, 1, 3, ES, nv, 4);
	check(&w,
	      "H 1/0 GET / host=a h=0 es\n"
	      "E 1/0 stream\n"
	      "H 3/0 GET / host=a h=0 es\n"
	      "E 3/0 stream\n"
	      "H 1/1 - es mid\n"
	      "E 1/1 stream\n"
	      "H 3/1 - es mid\n"
	      "E 3/1 stream\n"
	      "STATS frames=7 streams=2 headless=2 hpack_errors=1 hpack_lost=1\n");

	/* over H2_MAX_HPACK_TABLE: the same */
	w_free(&w);
	w_init(&w, 0);
	w.fields = 0;
	w_raw(&w, 0, PREFACE, 24);
	w_settings(&w, 0, 1, 1 << 20);
	w_headers(&w, 0, 1, ES, get, NNV(get));
	w_send(&w, 0);
	w_frame(&w, 1, FR_SETTINGS, ACK, 0, NULL, 0);
	w_table(&w, 1, 1 << 20, 1 << 20);
	w_headers(&w, 1, 1, ES, nv, 4);
	check(&w,
	      "H 1/0 GET / host=a h=0 es\n"
	      "E 1/0 stream\n"
	      "H 1/1 - es mid\n"
	      "E 1/1 stream\n"
	      "STATS frames=4 streams=1 headless=1 hpack_errors=1 hpack_lost=1\n");
	w_free(&w);
}

/*
 * A smaller table size takes effect at the ACK: an answer encoded before
 * it (with the old table) decodes, and the encoder announces the new size
 * in the first block after.
 */
static void test_table_shrink(void)
{
	static const nghttp2_nv get[] = {
		NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "a"), NV(":path", "/"),
	};
	static const nghttp2_nv resp[] = {
		NV(":status", "200"), NV("content-type", "application/json"), NV("x-id", "abcdef"),
	};
	struct h2w w;
	size_t n;

	w_init(&w, 0);
	w_start(&w);
	w_headers(&w, 0, 1, ES, get, NNV(get));
	w_send(&w, 0);
	w_headers(&w, 1, 1, ES, resp, NNV(resp));
	w_send(&w, 1);
	w_settings(&w, 0, 1, 0);
	w_headers(&w, 0, 3, ES, get, NNV(get));
	w_headers(&w, 0, 5, ES, get, NNV(get));
	w_send(&w, 0);
	n = w_headers(&w, 1, 3, ES, resp, NNV(resp));	/* before the server read the SETTINGS */
	CHECK(n < 6, "%zu bytes: not from the table", n);
	w_frame(&w, 1, FR_SETTINGS, ACK, 0, NULL, 0);
	if (nghttp2_hd_deflate_change_table_size(w.def[1], 0))
		abort();
	w_headers(&w, 1, 5, ES, resp, NNV(resp));
	w_send(&w, 1);
	check(&w,
	      "H 1/0 GET / host=a h=0 es\n"
	      "E 1/0 stream\n"
	      "H 1/1 200 ct=application/json h=2 [content-type: application/json; x-id: abcdef]"
	      " es\n"
	      "E 1/1 stream\n"
	      "H 3/0 GET / host=a h=0 es\n"
	      "E 3/0 stream\n"
	      "H 5/0 GET / host=a h=0 es\n"
	      "E 5/0 stream\n"
	      "H 3/1 200 ct=application/json h=2 [content-type: application/json; x-id: abcdef]"
	      " es\n"
	      "E 3/1 stream\n"
	      "H 5/1 200 ct=application/json h=2 [content-type: application/json; x-id: abcdef]"
	      " es\n"
	      "E 5/1 stream\n"
	      "STATS frames=12 streams=3\n");
	w_free(&w);
}

/*
 * A gap inside a DATA payload keeps the framing: the body bytes it covers
 * are reported, the padding it covers is not.  A gap that runs past the
 * frame loses the framing: the stream cut ends H2_END_LOST, HPACK of that
 * direction is lost, the next feed resumes it.
 */
static void test_gap_data(void)
{
	struct h2w w;

	w_init(&w, 0);
	w.fields = 0;
	w_start(&w);
	w_headers(&w, 0, 1, 0, req_openai, NNV(req_openai));
	w_headers(&w, 0, 3, 0, req_openai, NNV(req_openai));
	w_data(&w, 0, 1, 0, "0123456789", 4);
	w_lose(&w, 0, 11, 11);			/* 7 body bytes, the padding */
	w_data(&w, 0, 1, 0, "abc", -1);
	w_data(&w, 0, 3, 0, "xyz", 6);
	w_lose(&w, 0, 4, 4);			/* padding only */
	w_data(&w, 0, 3, 0, "hello", -1);
	w_lose(&w, 0, 3, 3);			/* to the frame's end */
	w_data(&w, 0, 1, ES, "def", 2);
	w_data(&w, 0, 3, 0, "uvw", -1);
	w_send(&w, 0);
	w_headers(&w, 1, 1, 0, resp_sse, NNV(resp_sse));
	w_data(&w, 1, 1, 0, "data: 1\n\n", -1);
	w_data(&w, 1, 1, 0, "data: 2\n\n", -1);
	w_lose(&w, 1, 5, 5 + 18);		/* past the frame: the next one lost too */
	w_data(&w, 1, 1, ES, "data: 4\n\n", -1);
	w_send(&w, 1);
	w_data(&w, 0, 3, ES, "!", -1);
	w_send(&w, 0);
	w_headers(&w, 1, 3, ES, resp_json, NNV(resp_json));
	w_send(&w, 1);
	check(&w,
	      "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32 h=3\n"
	      "H 3/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32 h=3\n"
	      "B 1/0 012\n"
	      "G 1/0 7\n"
	      "B 1/0 abc\n"
	      "B 3/0 xyzhe\n"
	      "G 3/0 3\n"
	      "B 1/0 def\n"
	      "E 1/0 stream\n"
	      "B 3/0 uvw\n"
	      "H 1/1 200 ct=text/event-stream h=2\n"
	      "B 1/1 data: 1\\x0a\\x0adata\n"
	      "E 1/1 lost\n"
	      "B 3/0 !\n"
	      "E 3/0 stream\n"
	      "H 3/1 - es mid\n"
	      "E 3/1 stream\n"
	      "STATS frames=18 streams=2 headless=1 hpack_lost=1 resyncs=1 late_frames=1"
	      " gap_bytes=41\n");
	w_free(&w);
}

/*
 * A gap inside a header block: it is lost, and with it the HPACK state of
 * that direction.  The next feed resumes the framing; later heads of that
 * direction are headless, their END_STREAM still ends them, their bodies
 * still come.  The other direction decodes on.
 */
static void test_gap_headers(void)
{
	struct h2w w;

	w_init(&w, 0);
	w.fields = 0;
	w_start(&w);
	w_headers(&w, 0, 1, 0, req_openai, NNV(req_openai));
	w_data(&w, 0, 1, 0, "a", -1);
	w_headers(&w, 0, 3, 0, req_anthropic, NNV(req_anthropic));
	w_lose(&w, 0, 10, 10);
	w_data(&w, 0, 3, ES, "body3", -1);
	w_headers(&w, 0, 5, ES, req_openai, NNV(req_openai));
	w_data(&w, 0, 1, 0, "b", -1);
	w_send(&w, 0);
	w_headers(&w, 1, 1, 0, resp_sse, NNV(resp_sse));
	w_headers(&w, 1, 3, 0, resp_sse, NNV(resp_sse));
	w_headers(&w, 1, 5, 0, resp_json, NNV(resp_json));
	w_data(&w, 1, 5, ES, "{}", -1);
	w_send(&w, 1);
	/* trailers cut: the message they would end ends lost */
	w_hblock(&w, 0, FR_HEADERS, 1, ES, resp_json, NNV(resp_json), -1, 0, 4);
	w_lose(&w, 0, 6, 6);
	w_data(&w, 1, 1, ES, "data: 1\n\n", -1);
	w_data(&w, 1, 3, ES, "data: 3\n\n", -1);
	w_send(&w, 1);
	check(&w,
	      "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32 h=3\n"
	      "B 1/0 a\n"
	      "H 3/0 - mid\n"
	      "B 3/0 body3\n"
	      "E 3/0 stream\n"
	      "H 5/0 - es mid\n"
	      "E 5/0 stream\n"
	      "B 1/0 b\n"
	      "H 1/1 200 ct=text/event-stream h=2\n"
	      "H 3/1 200 ct=text/event-stream h=2\n"
	      "H 5/1 200 ct=application/json cl=11 h=2\n"
	      "B 5/1 {}\n"
	      "E 5/1 stream\n"
	      "E 1/0 lost\n"
	      "B 1/1 data: 1\\x0a\\x0a\n"
	      "E 1/1 stream\n"
	      "B 3/1 data: 3\\x0a\\x0a\n"
	      "E 3/1 stream\n"
	      "STATS frames=17 streams=3 headless=2 hpack_lost=1 resyncs=2 gap_bytes=16\n");
	w_free(&w);
}

/*
 * Gaps of unknown length lose the framing wherever they fall.  A feed that
 * does not start with a frame is skipped whole; the next that does resumes.
 */
static void test_gap_unknown(void)
{
	struct h2w w;

	w_init(&w, 0);
	w.fields = 0;
	w_start(&w);
	w_headers(&w, 0, 1, 0, req_openai, NNV(req_openai));
	w_data(&w, 0, 1, 0, "abcdef", -1);
	w_lose(&w, 0, 2, UINT64_MAX);
	w_raw(&w, 0, "lo world\x00\x00\x00\x00", 12);	/* the middle of a frame */
	w_send_nocut(&w, 0);
	w_raw(&w, 0, "POST /v1/chat/completions HTTP/1.1\r\n", 36);
	w_send_nocut(&w, 0);
	w_data(&w, 0, 1, 0, "late", -1);
	w_headers(&w, 0, 3, 0, req_openai, NNV(req_openai));
	w_data(&w, 0, 3, ES, "x", -1);
	w_send(&w, 0);
	w_headers(&w, 1, 1, 0, resp_sse, NNV(resp_sse));
	w_data(&w, 1, 1, ES, "data: 1\n\n", -1);
	w_gap(&w, 1, UINT64_MAX);		/* between frames */
	w_headers(&w, 1, 3, ES, resp_json, NNV(resp_json));
	w_eof(&w);
	check(&w,
	      "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32 h=3\n"
	      "B 1/0 abcd\n"
	      "E 1/0 lost\n"
	      "H 3/0 - mid\n"
	      "B 3/0 x\n"
	      "E 3/0 stream\n"
	      "H 1/1 200 ct=text/event-stream h=2\n"
	      "B 1/1 data: 1\\x0a\\x0a\n"
	      "E 1/1 stream\n"
	      "H 3/1 - es mid\n"
	      "E 3/1 stream\n"
	      "STATS frames=12 streams=2 headless=2 hpack_lost=2 resyncs=2 skipped=48"
	      " late_frames=1\n");
	w_free(&w);
}

/*
 * A connection seen from its middle: both directions look for a frame,
 * every stream is headless, bodies and ends come through.
 */
static void test_midstream(void)
{
	static const uint8_t tls[] = { 0x17, 0x03, 0x03, 0x01, 0x02, 0x00, 0x00, 0x00, 0x01, 0x55 };
	struct h2w w;

	w_init(&w, 1);
	/* the deflaters' state would be unknown to a decoder anyway */
	w_raw(&w, 0, "ues\":[1,2]}", 11);
	w_send_nocut(&w, 0);
	w_data(&w, 0, 5, 0, "more", -1);
	w_headers(&w, 0, 7, ES, req_openai, NNV(req_openai));
	w_send(&w, 0);
	w_raw(&w, 1, tls, sizeof(tls));
	w_send_nocut(&w, 1);
	w_raw(&w, 1, "HTTP/1.1 200 OK\r\n\r\n", 19);
	w_send_nocut(&w, 1);
	w_data(&w, 1, 5, 0, "data: x\n\n", -1);
	w_headers(&w, 1, 5, ES, resp_json, NNV(resp_json));	/* trailers */
	w_send(&w, 1);
	w_headers(&w, 1, 7, ES, resp_json, NNV(resp_json));
	w_frame(&w, 1, FR_SETTINGS, ACK, 0, NULL, 0);
	w_send(&w, 1);
	w_data(&w, 0, 5, 0, "!", 3);
	w_eof(&w);
	check(&w,
	      "H 5/0 - mid\n"
	      "B 5/0 more\n"
	      "H 7/0 - es mid\n"
	      "E 7/0 stream\n"
	      "H 5/1 - mid\n"
	      "B 5/1 data: x\\x0a\\x0a\n"
	      "E 5/1 stream\n"
	      "H 7/1 - es mid\n"
	      "E 7/1 stream\n"
	      "B 5/0 !\n"
	      "E 5/0 closed\n"
	      "STATS frames=7 streams=2 headless=4 skipped=40\n");
	w_free(&w);
}

/*
 * No preface on a connection said to be seen from its start: it is taken
 * for a midstream one, from that very feed.  A garbled preface likewise.
 */
static void test_bad_preface(void)
{
	struct h2w w;

	w_init(&w, 0);
	w.fields = 0;
	w_settings(&w, 0, 0, 0);
	w_headers(&w, 0, 1, 0, req_openai, NNV(req_openai));
	w_data(&w, 0, 1, ES, "{}", -1);
	w_send(&w, 0);
	w_headers(&w, 1, 1, ES, resp_json, NNV(resp_json));
	w_send(&w, 1);
	check(&w,
	      "H 1/0 - mid\n"
	      "B 1/0 {}\n"
	      "E 1/0 stream\n"
	      "H 1/1 - es mid\n"
	      "E 1/1 stream\n"
	      "STATS frames=4 streams=1 headless=2 bad_prefaces=1\n");
	w_free(&w);

	w_init(&w, 0);
	w_raw(&w, 0, "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", 24);
	w_send_nocut(&w, 0);
	w_data(&w, 0, 1, ES, "{}", -1);
	w_send(&w, 0);
	check(&w,
	      "H 1/0 - mid\n"
	      "B 1/0 {}\n"
	      "E 1/0 stream\n"
	      "STATS frames=1 streams=1 headless=1 skipped=24 bad_prefaces=1\n");
	w_free(&w);
}

/* --- limits ------------------------------------------------------------ */

/*
 * Past H2_MAX_STREAMS, a stream that is over gives its slot up silently;
 * else the oldest open one is pushed out (H2_END_EVICTED).  A stream id
 * seen again after that starts afresh, headless.
 */
static void test_eviction(void)
{
	static const nghttp2_nv get[] = {
		NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "a"), NV(":path", "/"),
	};
	static const nghttp2_nv st[] = { NV(":status", "200") };
	struct sb want = { 0 };
	struct h2w w;
	uint32_t sid;

	w_init(&w, 0);
	w_start(&w);
	w_headers(&w, 0, 1, ES, get, NNV(get));
	w_send(&w, 0);
	w_headers(&w, 1, 1, ES, st, NNV(st));
	w_send(&w, 1);
	sb_printf(&want, "H 1/0 GET / host=a h=0 es\nE 1/0 stream\nH 1/1 200 h=0 es\nE 1/1 stream\n");
	for (sid = 3; sid <= 3 + 2 * H2_MAX_STREAMS; sid += 2) {
		w_headers(&w, 0, sid, 0, get, NNV(get));
		if (sid == 3 + 2 * H2_MAX_STREAMS)
			sb_printf(&want, "E 3/0 evicted\n");
		sb_printf(&want, "H %u/0 GET / host=a h=0\n", sid);
	}
	w_send(&w, 0);
	w_data(&w, 1, 1, ES, "late", -1);
	w_data(&w, 1, 7, ES, "ok", -1);
	w_send(&w, 1);
	sb_printf(&want, "E 5/0 evicted\nH 1/1 - mid\nB 1/1 late\nE 1/1 stream\n"
		  "H 7/1 - mid\nB 7/1 ok\nE 7/1 stream\n");
	sb_printf(&want, "STATS frames=%d streams=%d headless=2 evicted=2\n",
		  4 + 2 + H2_MAX_STREAMS + 1 + 2, 1 + H2_MAX_STREAMS + 1 + 1);
	check_stride(&w, want.p, 7);
	free(want.p);
	w_free(&w);
}

/* nv[0..n) with values of len bytes, each its own ('a' + i) */
static void big_values(nghttp2_nv *nv, char (*names)[8], char *vals, size_t n, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(names[i], 8, "x-%02u", (unsigned)(i % 100));
		memset(vals + i * len, 'a' + i % 26, len);
		vals[i * len] = '0' + i % 10;
		nv[i] = (nghttp2_nv){ (uint8_t *)names[i], (uint8_t *)vals + i * len, 4, len,
				      NGHTTP2_NV_FLAG_NONE };
	}
}

/*
 * A header block over H2_MAX_HEADER_BLOCK is not gathered: its stream goes
 * on headless, and so do later heads of that direction.  A block within
 * it whose fields pass H2_MAX_HEAD_FIELDS is reported with the fields
 * that fit.
 */
static void test_oversized(void)
{
	static nghttp2_nv nv[40];
	static char names[40][8], vals[40 * 10000];
	struct h2w w;
	size_t n;

	big_values(nv, names, vals, 40, 10000);
	w_init(&w, 0);
	w.fields = 0;
	w_start(&w);
	nv[0] = (nghttp2_nv)NV(":method", "POST");
	n = w_hblock(&w, 0, FR_HEADERS, 1, 0, nv, 40, -1, 0, 16384);
	CHECK(n > H2_MAX_HEADER_BLOCK, "block of %zu bytes", n);
	w_data(&w, 0, 1, ES, "x", -1);
	w_headers(&w, 0, 3, ES, req_openai, NNV(req_openai));
	w_send(&w, 0);
	w_headers(&w, 1, 1, ES, resp_json, NNV(resp_json));
	w_send(&w, 1);
	check_stride(&w,
		     "H 1/0 - mid\n"
		     "B 1/0 x\n"
		     "E 1/0 stream\n"
		     "H 3/0 - es mid\n"
		     "E 3/0 stream\n"
		     "H 1/1 200 ct=application/json cl=11 h=2 es\n"
		     "E 1/1 stream\n"
		     "STATS frames=25 streams=2 headless=2 hpack_lost=1 oversized_heads=1\n", 4099);
	w_free(&w);

	/* 10 fields of 10000 bytes: 6 fit in H2_MAX_HEAD_FIELDS */
	w_init(&w, 0);
	w.fields = 0;
	w_start(&w);
	nv[0] = (nghttp2_nv)NV(":status", "200");
	w_hblock(&w, 1, FR_HEADERS, 1, ES, nv, 10, -1, 0, 16384);
	w_send(&w, 1);
	check_stride(&w,
		     "H 1/1 200 h=6 es\n"
		     "E 1/1 stream\n"
		     "STATS frames=8 streams=1 dropped_fields=3\n", 997);
	w_free(&w);
}

/* More than HTTP1_MAX_HEADERS fields; fields the head is made of. */
static void test_fields(void)
{
	static const nghttp2_nv odd[] = {
		NV(":method", "POST"), NV(":scheme", "https"), NV(":path", "/v1/embeddings"),
		NV("host", "api.openai.com"), NV("content-length", "12a"), NV(":method", "GET"),
		NV("content-type", "application/json"), NV("content-type", "text/plain"),
		NV("cookie", "a=b"), NV("expect", "100-Continue"), NV("x-empty", ""),
	};
	static const nghttp2_nv cl2[] = {
		NV(":status", "200"), NV("content-length", "5"), NV("content-length", "7"),
	};
	static const nghttp2_nv badstatus[] = { NV(":status", "2x0"), NV("x", "y") };
	static nghttp2_nv many[HTTP1_MAX_HEADERS + 5];
	static char names[HTTP1_MAX_HEADERS + 5][8];
	struct h2w w;
	size_t i;

	for (i = 0; i < NNV(many); i++) {
		snprintf(names[i], 8, "x-%u", (unsigned)(i % 1000));
		many[i] = (nghttp2_nv){ (uint8_t *)names[i], (uint8_t *)"v", strlen(names[i]), 1,
					NGHTTP2_NV_FLAG_NONE };
	}
	many[0] = (nghttp2_nv)NV(":status", "200");
	w_init(&w, 0);
	w_start(&w);
	w_headers(&w, 0, 1, ES, odd, NNV(odd));
	w_headers(&w, 0, 3, ES, odd, 1);	/* :method only */
	w_send(&w, 0);
	w_headers(&w, 1, 1, 0, cl2, NNV(cl2));
	w_headers(&w, 1, 1, ES, badstatus, NNV(badstatus));	/* trailers */
	w_headers(&w, 1, 3, ES, badstatus, NNV(badstatus));
	w_send(&w, 1);
	check(&w,
	      "H 1/0 POST /v1/embeddings host=api.openai.com ct=application/json expect h=7"
	      " [host: api.openai.com; content-length: 12a; content-type: application/json;"
	      " content-type: text/plain; cookie: a=b; expect: 100-Continue; x-empty: ] es\n"
	      "E 1/0 stream\n"
	      "H 3/0 POST  h=0 es\n"
	      "E 3/0 stream\n"
	      "H 1/1 200 cl=5 h=2 [content-length: 5; content-length: 7]\n"
	      "E 1/1 stream\n"
	      "H 3/1 h=1 [x: y] es\n"
	      "E 3/1 stream\n"
	      "STATS frames=9 streams=2\n");
	w_free(&w);

	w_init(&w, 0);
	w.fields = 0;
	w_start(&w);
	w_headers(&w, 1, 1, ES, many, NNV(many));
	w_send(&w, 1);
	check(&w,
	      "H 1/1 200 h=128 es\n"
	      "E 1/1 stream\n"
	      "STATS frames=5 streams=1 dropped_fields=4\n");
	w_free(&w);
}

/* --- protocol errors ------------------------------------------------------- */

/* Runs the script whole only: for what depends on where feeds begin. */
static void check_whole(struct h2w *w, const char *want)
{
	struct rec r = { .fields = w->fields, .refuse = w->refuse };

	w_send(w, 0);
	w_send(w, 1);
	run(&r, w, 0);
	CHECK(!strcmp(r.log.p, want), "%s\n--- got\n%s--- want\n%s", note, r.log.p, want);
	free(r.log.p);
}

/*
 * A script that breaks the protocol in dir 0 after a request head, then
 * goes on in the next feed: the framing is lost at the bad frame (what
 * follows it in its feed is skipped: see test_bad_frame_skips) and found
 * again at the next feed.
 */
static void check_bad(const char *what, void (*bad)(struct h2w *), const char *want)
{
	struct h2w w;

	w_init(&w, 0);
	w.fields = 0;
	w_start(&w);
	w_headers(&w, 0, 1, 0, req_openai, NNV(req_openai));
	bad(&w);
	w_send(&w, 0);
	w_data(&w, 0, 1, ES, "{}", -1);
	w_headers(&w, 0, 3, ES, req_openai, NNV(req_openai));
	w_send(&w, 0);
	w_headers(&w, 1, 1, ES, resp_json, NNV(resp_json));
	w_send(&w, 1);
	note = what;
	check(&w, want);
	note = "";
	w_free(&w);
}

static void bad_continuation(struct h2w *w)
{
	w_frame(w, 0, FR_CONT, EH, 1, "\x82", 1);
}

static void bad_ping(struct h2w *w)
{
	w_frame(w, 0, FR_PING, 0, 0, "1234567", 7);
}

static void bad_data_sid0(struct h2w *w)
{
	w_data(w, 0, 0, 0, "x", -1);
}

static void bad_settings(struct h2w *w)
{
	w_frame(w, 0, FR_SETTINGS, 0, 0, "#####", 5);
}

static void bad_interleaved(struct h2w *w)
{
	static const nghttp2_nv get[] = { NV(":method", "GET"), NV(":path", "/") };

	w_hblock(w, 0, FR_HEADERS, 5, 0, get, NNV(get), -1, 0, 1);
	w->out[0].len -= 10;	/* drop the last CONTINUATION */
	w_data(w, 0, 1, 0, "x", -1);
}

static void bad_unknown_in_block(struct h2w *w)
{
	static const nghttp2_nv get[] = { NV(":method", "GET"), NV(":path", "/") };

	w_hblock(w, 0, FR_HEADERS, 5, 0, get, NNV(get), -1, 0, 1);
	w->out[0].len -= 10;
	w_frame(w, 0, 0x10, 0, 0, "abcde", 5);
}

static void bad_padding(struct h2w *w)
{
	w_frame(w, 0, FR_DATA, PADDED, 1, "\x05" "abc", 4);
}

static void bad_push(struct h2w *w)
{
	w_frame(w, 0, FR_PUSH, EH, 1, "\x20\x20\x20\x22\x82", 5);
}

static void bad_hpack(struct h2w *w)
{
	/* index 1000: in no table */
	w_frame(w, 0, FR_HEADERS, EH, 5, "\xff\xc9\x07", 3);
	w_data(w, 0, 5, ES, "five", -1);
}

static void late_frames(struct h2w *w)
{
	w_data(w, 0, 1, ES, "end", -1);
	w_data(w, 0, 1, 0, "after", -1);
	w_headers(w, 0, 1, ES, resp_json, NNV(resp_json));
	w_u32(w, 0, FR_RST, 0, 1, 0);
}

static void test_protocol_errors(void)
{
	check_bad("CONTINUATION with no HEADERS", bad_continuation,
		  "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32"
		  " h=3\n"
		  "B 1/0 {}\n"
		  "E 1/0 stream\n"
		  "H 3/0 - es mid\n"
		  "E 3/0 stream\n"
		  "H 1/1 200 ct=application/json cl=11 h=2 es\n"
		  "E 1/1 stream\n"
		  "STATS frames=9 streams=2 headless=1 hpack_lost=1 resyncs=1 skipped=1"
		  " bad_frames=1\n");
	check_bad("PING of 7 bytes", bad_ping,
		  "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32"
		  " h=3\n"
		  "B 1/0 {}\n"
		  "E 1/0 stream\n"
		  "H 3/0 - es mid\n"
		  "E 3/0 stream\n"
		  "H 1/1 200 ct=application/json cl=11 h=2 es\n"
		  "E 1/1 stream\n"
		  "STATS frames=9 streams=2 headless=1 hpack_lost=1 resyncs=1 skipped=7"
		  " bad_frames=1\n");
	check_bad("DATA on stream 0", bad_data_sid0,
		  "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32"
		  " h=3\n"
		  "B 1/0 {}\n"
		  "E 1/0 stream\n"
		  "H 3/0 - es mid\n"
		  "E 3/0 stream\n"
		  "H 1/1 200 ct=application/json cl=11 h=2 es\n"
		  "E 1/1 stream\n"
		  "STATS frames=9 streams=2 headless=1 hpack_lost=1 resyncs=1 skipped=1"
		  " bad_frames=1\n");
	check_bad("SETTINGS of 5 bytes", bad_settings,
		  "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32"
		  " h=3\n"
		  "B 1/0 {}\n"
		  "E 1/0 stream\n"
		  "H 3/0 - es mid\n"
		  "E 3/0 stream\n"
		  "H 1/1 200 ct=application/json cl=11 h=2 es\n"
		  "E 1/1 stream\n"
		  "STATS frames=9 streams=2 headless=1 hpack_lost=1 resyncs=1 skipped=5"
		  " bad_frames=1\n");
	check_bad("DATA inside a header block", bad_interleaved,
		  "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32"
		  " h=3\n"
		  "B 1/0 {}\n"
		  "E 1/0 stream\n"
		  "H 3/0 - es mid\n"
		  "E 3/0 stream\n"
		  "H 1/1 200 ct=application/json cl=11 h=2 es\n"
		  "E 1/1 stream\n"
		  "STATS frames=10 streams=2 headless=1 hpack_lost=1 resyncs=1 skipped=1"
		  " bad_frames=1\n");
	check_bad("extension frame inside a header block", bad_unknown_in_block,
		  "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32"
		  " h=3\n"
		  "B 1/0 {}\n"
		  "E 1/0 stream\n"
		  "H 3/0 - es mid\n"
		  "E 3/0 stream\n"
		  "H 1/1 200 ct=application/json cl=11 h=2 es\n"
		  "E 1/1 stream\n"
		  "STATS frames=10 streams=2 headless=1 hpack_lost=1 resyncs=1 skipped=5"
		  " bad_frames=1\n");
	check_bad("padding longer than the payload", bad_padding,
		  "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32"
		  " h=3\n"
		  "E 1/0 lost\n"
		  "H 3/0 - es mid\n"
		  "E 3/0 stream\n"
		  "H 1/1 200 ct=application/json cl=11 h=2 es\n"
		  "E 1/1 stream\n"
		  "STATS frames=9 streams=2 headless=1 hpack_lost=1 resyncs=1 skipped=3"
		  " bad_frames=1 late_frames=1\n");
	check_bad("PUSH_PROMISE from the client", bad_push,
		  "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32"
		  " h=3\n"
		  "B 1/0 {}\n"
		  "E 1/0 stream\n"
		  "H 3/0 - es mid\n"
		  "E 3/0 stream\n"
		  "H 1/1 200 ct=application/json cl=11 h=2 es\n"
		  "E 1/1 stream\n"
		  "STATS frames=9 streams=2 headless=1 hpack_lost=1 resyncs=1 skipped=5"
		  " bad_frames=1\n");
	check_bad("header block the inflater refuses", bad_hpack,
		  "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32"
		  " h=3\n"
		  "H 5/0 - mid\n"
		  "B 5/0 five\n"
		  "E 5/0 stream\n"
		  "B 1/0 {}\n"
		  "E 1/0 stream\n"
		  "H 3/0 - es mid\n"
		  "E 3/0 stream\n"
		  "H 1/1 200 ct=application/json cl=11 h=2 es\n"
		  "E 1/1 stream\n"
		  "STATS frames=10 streams=3 headless=2 hpack_errors=1 hpack_lost=1\n");
	check_bad("frames after END_STREAM and RST_STREAM", late_frames,
		  "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32"
		  " h=3\n"
		  "B 1/0 end\n"
		  "E 1/0 stream\n"
		  "H 3/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32"
		  " h=3 es\n"
		  "E 3/0 stream\n"
		  "STATS frames=12 streams=2 resets=1 late_frames=4\n");
}

/* After a bad frame, the rest of its feed is skipped; the next feed resumes. */
static void test_bad_frame_skips(void)
{
	struct h2w w;

	w_init(&w, 0);
	w.fields = 0;
	w_start(&w);
	w_headers(&w, 0, 1, 0, req_openai, NNV(req_openai));
	w_frame(&w, 0, FR_CONT, EH, 1, "\x82", 1);
	w_data(&w, 0, 1, 0, "skipped", -1);
	w_send(&w, 0);
	w_data(&w, 0, 1, ES, "{}", -1);
	check_whole(&w,
	      "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32 h=3\n"
	      "B 1/0 {}\n"
	      "E 1/0 stream\n"
	      "STATS frames=7 streams=1 hpack_lost=1 resyncs=1 skipped=17 bad_frames=1\n");
	w_free(&w);
}

/* --- h2_plausible ------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

struct pcase {
	const char *what;
	const char *p;
	size_t n;
	int want;
};

#define PC(what, s, want) { what, s, sizeof(s) - 1, want }

static void test_plausible(void)
{
	static const struct pcase cases[] = {
		PC("SETTINGS", "\0\0\x0c\x04\0\0\0\0\0" "\0\x03\0\0\0\x64" "\0\x04\0\x01\0\0", 1),
		PC("SETTINGS ACK", "\0\0\0\x04\x01\0\0\0\0", 1),
		PC("DATA", "\0\0\x05\0\x01\0\0\0\x01hello", 1),
		PC("DATA, WINDOW_UPDATE", "\0\0\x02\0\0\0\0\0\x03hi\0\0\x04\x08\0\0\0\0\0\0\0\0\x02", 1),
		PC("DATA padded", "\0\0\x04\0\x08\0\0\0\x01\x02x\0\0", 1),
		PC("HEADERS", "\0\0\x03\x01\x05\0\0\0\x07\x82\x86\x84", 1),
		PC("DATA longer than the buffer", "\0\x40\0\0\0\0\0\0\x05{\"choices\"", 1),
		PC("DATA of 1 MiB", "\x10\0\0\0\0\0\0\0\x05", 1),
		PC("CONTINUATION", "\0\0\x01\x09\x04\0\0\0\x03\x82", 1),
		PC("GOAWAY", "\0\0\x08\x07\0\0\0\0\0\0\0\0\x03\0\0\0\0", 1),
		PC("RST_STREAM", "\0\0\x04\x03\0\0\0\0\x03\0\0\0\x08", 1),
		PC("PING", "\0\0\x08\x06\0\0\0\0\0" "12345678", 1),
		PC("PRIORITY", "\0\0\x05\x02\0\0\0\0\x05\0\0\0\0\x10", 1),
		PC("frame header, then part of the next", "\0\0\0\x04\x01\0\0\0\0\0\0", 1),
		PC("8 bytes of a header", "\0\0\x05\0\x01\0\0\0", -1),
		PC("nothing", "", -1),
		PC("HTTP/1 request", "POST /v1/chat/completions HTTP/1.1\r\n", 0),
		PC("HTTP/1 response", "HTTP/1.1 200 OK\r\n", 0),
		PC("GET", "GET / HTTP/1.1\r\n", 0),
		PC("the preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0),
		PC("TLS application data", "\x17\x03\x03\x01\x02\0\0\0\x01\x55", 0),
		PC("TLS alert", "\x15\x03\x03\0\x02\x02\x28", 0),
		PC("TLS handshake", "\x16\x03\x01\x02\0\x01\0\x01\xfc\x03\x03", 0),
		PC("SSE", "data: {\"id\":\"chatcmpl-1\"}\n\n", 0),
		PC("JSON", "{\"model\":\"gpt-4o\"}", 0),
		PC("one byte, already wrong", "P", 0),
		PC("a length of 2 MiB", "\x20\0\0", 0),
		PC("a length just over 1 MiB", "\x10\0\x01", 0),
		PC("extension type", "\0\0\x05\x10\0\0\0\0\0\0\0\0\x01x", 0),
		PC("SETTINGS on a stream", "\0\0\0\x04\0\0\0\0\x01", 0),
		PC("SETTINGS of 5 bytes", "\0\0\x05\x04\0\0\0\0\0", 0),
		PC("SETTINGS ACK with a payload", "\0\0\x06\x04\x01\0\0\0\0", 0),
		PC("SETTINGS over 16384", "\0\x40\x02\x04\0\0\0\0\0", 0),
		PC("PING of 7 bytes", "\0\0\x07\x06\0\0\0\0\0", 0),
		PC("PING on a stream, seen early", "\0\0\x08\x06\0\0\x01", 0),
		PC("GOAWAY of 7 bytes", "\0\0\x07\x07\0\0\0\0\0", 0),
		PC("DATA on stream 0", "\0\0\x01\0\0\0\0\0\0x", 0),
		PC("RST_STREAM of 5 bytes", "\0\0\x05\x03\0\0\0\0\x01", 0),
		PC("WINDOW_UPDATE of 0", "\0\0\x04\x08\0\0\0\0\x01\0\0\0\0", 0),
		PC("undefined flag", "\0\0\x01\0\x02\0\0\0\x01x", 0),
		PC("reserved bit", "\0\0\x01\0\0\x80\0\0\x01x", 0),
		PC("HEADERS too short for its priority", "\0\0\x04\x01\x24\0\0\0\x01", 0),
		PC("padding over the payload", "\0\0\x03\0\x08\0\0\0\x01\x03xy", 0),
		PC("DATA, then HTTP/1", "\0\0\x02\0\0\0\0\0\x01hiHTTP/1.1 200 OK\r\n", 0),
		PC("DATA, then a bad header begun", "\0\0\x02\0\0\0\0\0\x01hi\0\0\x01\x04", 0),
	};
	static const char *const methods[] = { "GET ", "POST ", "PUT ", "DELETE ", "HEAD ",
					       "OPTIONS ", "PATCH ", "CONNECT " };
	uint8_t buf[64], tls[16];
	size_t i, j, hits = 0, tries = 200000;
	int r;

	for (i = 0; i < NNV(cases); i++) {
		r = h2_plausible((const uint8_t *)cases[i].p, cases[i].n);
		CHECK(r == cases[i].want, "%s: %d, want %d", cases[i].what, r, cases[i].want);
	}
	for (i = 0; i < NNV(methods); i++)
		CHECK(h2_plausible((const uint8_t *)methods[i], strlen(methods[i])) == 0, "%s", methods[i]);
	/* TLS records of any type and length */
	for (i = 0x14; i <= 0x18; i++) {
		for (j = 0; j < 0x10000; j += 7) {
			uint8_t t[] = { i, 3, 3, j >> 8, j, 0, 0, 0, 1, 0x55, 0x55, 0x55 };

			memcpy(tls, t, sizeof(t));
			r = h2_plausible(tls, sizeof(t));
			CHECK(r == 0, "TLS record %02zx of %zu bytes: %d", i, j, r);
		}
	}
	/* random 64-byte buffers: false positives well under 1% */
	for (i = 0; i < tries; i++) {
		for (j = 0; j < sizeof(buf); j += 8) {
			uint64_t x = rng();

			memcpy(buf + j, &x, 8);
		}
		hits += h2_plausible(buf, sizeof(buf)) == 1;
	}
	CHECK(hits * 1000 < tries, "%zu of %zu random buffers plausible", hits, tries);
	/* and random buffers of every length up to 64 */
	for (i = hits = 0; i < tries; i++) {
		size_t n = 9 + rng() % 56;

		for (j = 0; j < n; j++)
			buf[j] = rng();
		hits += h2_plausible(buf, n) == 1;
	}
	CHECK(hits * 1000 < tries, "%zu of %zu random buffers plausible", hits, tries);
}

/* --- budget, callbacks, API -------------------------------------------------- */

static int count_cb(void *ctx, uint32_t sid, int dir, const struct http1_head *h, unsigned flags)
{
	int *n = ctx;

	n[h ? 0 : 1]++;
	if (h)
		n[2] += h->nheaders;
	return 0;
}

/*
 * The header block buffer and the field buffer are charged to the memory
 * budget: a block it has no room for is lost like an oversized one, fields
 * it has no room for are left out.  Nothing stays charged.
 */
static void test_budget(void)
{
	static const struct h2_callbacks cb = { .on_head = count_cb };
	static nghttp2_nv nv[8];
	static char names[8][8], vals[8 * 1500];
	struct membudget mb;
	struct h2_conn *c;
	struct h2_stats st;
	struct h2w w;
	size_t i, n;
	int cnt[3];

	big_values(nv, names, vals, 8, 1500);
	nv[0] = (nghttp2_nv)NV(":method", "POST");
	w_init(&w, 0);
	w_start(&w);
	w_hblock(&w, 0, FR_HEADERS, 1, ES, nv, 8, -1, 0, 1000);	/* gathered */
	w_send(&w, 0);
	w_headers(&w, 0, 3, ES, nv, 4);			/* whole in its feed */
	w_send(&w, 0);

	/* room for neither: the first block is lost, the second is headless */
	membudget_init(&mb, 2048);
	memset(cnt, 0, sizeof(cnt));
	c = h2_conn__new(&cb, cnt, 0);
	h2_conn__set_budget(c, &mb);
	for (i = 0; i < w.nops; i++)
		CHECK_EQ_INT(h2_conn__feed(c, w.op[i].dir, w.op[i].data, w.op[i].len), w.op[i].len);
	h2_conn__stats(c, &st);
	CHECK(cnt[0] == 0 && cnt[1] == 2, "heads %d, headless %d", cnt[0], cnt[1]);
	CHECK_EQ_INT(st.oversized_heads, 1);
	CHECK_EQ_INT(st.hpack_lost, 1);
	CHECK(mb.refused >= 1 && mb.peak <= mb.limit, "refused %llu peak %llu",
	      (unsigned long long)mb.refused, (unsigned long long)mb.peak);
	h2_conn__free(c);
	CHECK_EQ_INT(mb.used, 0);

	/* room for the block, not for all its fields */
	membudget_init(&mb, 16384);
	memset(cnt, 0, sizeof(cnt));
	c = h2_conn__new(&cb, cnt, 0);
	h2_conn__set_budget(c, &mb);
	for (i = 0; i < w.nops; i++)
		CHECK_EQ_INT(h2_conn__feed(c, w.op[i].dir, w.op[i].data, w.op[i].len), w.op[i].len);
	h2_conn__stats(c, &st);
	CHECK(cnt[0] == 2 && cnt[1] == 0, "heads %d, headless %d", cnt[0], cnt[1]);
	CHECK(st.dropped_fields > 0 && cnt[2] == (int)(7 + 3 - st.dropped_fields),
	      "fields %d, dropped %llu", cnt[2], (unsigned long long)st.dropped_fields);
	CHECK(mb.peak <= mb.limit, "peak %llu", (unsigned long long)mb.peak);
	CHECK_EQ_INT(mb.used, 0);	/* large buffers are given back after each head */
	h2_conn__free(c);
	CHECK_EQ_INT(mb.used, 0);

	/* with room, byte by byte: all fields, nothing kept charged at the end */
	membudget_init(&mb, 1 << 20);
	memset(cnt, 0, sizeof(cnt));
	c = h2_conn__new(&cb, cnt, 0);
	h2_conn__set_budget(c, &mb);
	for (i = 0; i < w.nops; i++)
		for (n = 0; n < w.op[i].len; n++)
			CHECK_EQ_INT(h2_conn__feed(c, w.op[i].dir, w.op[i].data + n, 1), 1);
	CHECK(cnt[0] == 2 && cnt[2] == 10, "heads %d, fields %d", cnt[0], cnt[2]);
	h2_conn__free(c);
	CHECK_EQ_INT(mb.used, 0);
	w_free(&w);
}

/*
 * A callback's error aborts the feed; the direction resynchronises at its
 * next feed.  A refused head starts nothing: no on_end for it, later
 * frames of it are late.
 */
static void test_callback_abort(void)
{
	struct h2w w;

	w_init(&w, 0);
	w.fields = 0;
	w.refuse = 3;
	w_start(&w);
	w_headers(&w, 0, 1, 0, req_openai, NNV(req_openai));
	w_headers(&w, 0, 3, 0, req_openai, NNV(req_openai));
	w_send(&w, 0);
	w_data(&w, 0, 3, ES, "refused", -1);
	w_data(&w, 0, 1, ES, "{}", -1);
	w_send(&w, 0);
	w_headers(&w, 1, 1, ES, resp_json, NNV(resp_json));
	w_send(&w, 1);
	check(&w,
	      "H 1/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32 h=3\n"
	      "H 3/0 POST /v1/chat/completions host=api.openai.com ct=application/json cl=32 h=3\n"
	      "ERR -125\n"
	      "B 1/0 {}\n"
	      "E 1/0 stream\n"
	      "H 1/1 200 ct=application/json cl=11 h=2 es\n"
	      "E 1/1 stream\n"
	      "STATS frames=9 streams=2 hpack_lost=1 resyncs=1 late_frames=1\n");
	w_free(&w);
}

static void test_api_edges(void)
{
	static const uint8_t settings[] = { 0, 0, 0, 4, 0, 0, 0, 0, 0 };
	struct h2_conn *c;
	struct h2_stats st;

	h2_conn__free(NULL);
	c = h2_conn__new(NULL, NULL, 0);
	CHECK(c != NULL, "new");
	CHECK_EQ_INT(h2_conn__feed(c, 2, settings, 9), -EINVAL);
	CHECK_EQ_INT(h2_conn__gap(c, -1, 1), -EINVAL);
	CHECK_EQ_INT(h2_conn__feed(c, 0, settings, 0), 0);
	CHECK_EQ_INT(h2_conn__gap(c, 0, 0), 0);
	CHECK_EQ_INT(h2_conn__feed(c, 0, (const uint8_t *)PREFACE, 24), 24);
	CHECK_EQ_INT(h2_conn__feed(c, 0, settings, 9), 9);
	CHECK_EQ_INT(h2_conn__feed(c, 1, settings, 9), 9);
	CHECK_EQ_INT(h2_conn__eof(c), 0);
	CHECK_EQ_INT(h2_conn__eof(c), 0);
	CHECK_EQ_INT(h2_conn__feed(c, 1, settings, 9), 9);
	CHECK_EQ_INT(h2_conn__gap(c, 1, 5), 0);
	h2_conn__stats(c, &st);
	CHECK(st.frames == 2 && st.skipped == 9 && st.gap_bytes == 0, "frames %llu skipped %llu",
	      (unsigned long long)st.frames, (unsigned long long)st.skipped);
	h2_conn__free(c);
}

int main(void)
{
	RUN(test_concurrent_calls);
	RUN(test_interim_trailers);
	RUN(test_continuation);
	RUN(test_reset_goaway);
	RUN(test_push_promise);
	RUN(test_table_grow);
	RUN(test_table_shrink);
	RUN(test_gap_data);
	RUN(test_gap_headers);
	RUN(test_gap_unknown);
	RUN(test_midstream);
	RUN(test_bad_preface);
	RUN(test_eviction);
	RUN(test_oversized);
	RUN(test_fields);
	RUN(test_protocol_errors);
	RUN(test_bad_frame_skips);
	RUN(test_plausible);
	RUN(test_budget);
	RUN(test_callback_abort);
	RUN(test_api_edges);
	return tap_done();
}
