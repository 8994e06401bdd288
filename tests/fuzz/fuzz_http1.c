// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libFuzzer target for the HTTP/1 parser, differential: the script runs
 * whole, cut in two where the input says, and one byte at a time; the
 * callback trace (hashed, body bytes included) and the counters must agree.
 * The callbacks check what a caller relies on: heads and ends alternate,
 * body bytes lie in the buffer being fed, head fields point at something.
 *
 * Input: byte 0 = control (bit 0: response parser; bits 1-2: what on_head
 * answers for every other message: 1 NO_BODY, 2 TUNNEL, 3 abort; bit 3:
 * markers on), byte 1 = where to cut, then the stream.  With markers on,
 * "\xff\xfe" n is a capture gap of n bytes (n = 255: 1 MiB) and
 * "\xff\xfd" is eof.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "http1.h"

#define MAX_OPS 256

struct op {
	const uint8_t *data;
	size_t len;
	int kind;		/* 0 data, 1 gap, 2 eof */
	uint64_t gap;
};

struct trace {
	uint64_t h;		/* FNV-1a of everything reported */
	int answer;		/* on_head answer for odd messages */
	unsigned msgs;
	int in_msg, in_body;
	const uint8_t *buf;	/* being fed */
	size_t buf_len;
};

static void mix(struct trace *t, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n--)
		t->h = (t->h ^ *s++) * 0x100000001b3ull;
}

static void tag(struct trace *t, char c)
{
	t->in_body = 0;
	mix(t, &c, 1);
}

static int on_head(void *ctx, const struct http1_head *h)
{
	struct trace *t = ctx;
	size_t i;
	int answer;

	if (t->in_msg || h->content_length < -1 || (h->nheaders && !h->headers))
		abort();
	tag(t, 'H');
	mix(t, &h->status, sizeof(h->status));
	mix(t, &h->version_minor, sizeof(h->version_minor));
	mix(t, &h->content_length, sizeof(h->content_length));
	mix(t, &h->chunked, sizeof(h->chunked));
	mix(t, &h->conn_close, sizeof(h->conn_close));
	mix(t, &h->expect_continue, sizeof(h->expect_continue));
	if (h->method)
		mix(t, h->method, h->method_len);
	if (h->target)
		mix(t, h->target, h->target_len);
	for (i = 0; i < h->nheaders; i++) {
		if (!h->headers[i].name_len)
			abort();
		mix(t, h->headers[i].name, h->headers[i].name_len);
		mix(t, h->headers[i].value, h->headers[i].value_len);
	}
	if (h->content_encoding)
		mix(t, h->content_encoding, h->content_encoding_len);
	if (h->content_type)
		mix(t, h->content_type, h->content_type_len);
	if (h->host)
		mix(t, h->host, h->host_len);
	answer = t->msgs++ & 1 ? t->answer : 0;
	if (answer == 3)
		return -ECANCELED;	/* the parser does not start this message */
	t->in_msg = 1;
	return answer == 1 ? HTTP1_HEAD_NO_BODY : answer == 2 ? HTTP1_HEAD_TUNNEL : 0;
}

static int on_body(void *ctx, const uint8_t *d, size_t n)
{
	struct trace *t = ctx;

	/* body bytes come straight from the caller's buffer */
	if (!t->in_msg || !n || d < t->buf || n > (size_t)(t->buf + t->buf_len - d))
		abort();
	if (!t->in_body)
		tag(t, 'B');
	t->in_body = 1;
	mix(t, d, n);
	return 0;
}

static int on_body_gap(void *ctx, uint64_t n)
{
	struct trace *t = ctx;

	if (!t->in_msg || !n)
		abort();
	tag(t, 'G');
	mix(t, &n, sizeof(n));
	return 0;
}

static int on_end(void *ctx, int truncated)
{
	struct trace *t = ctx;

	if (!t->in_msg)
		abort();
	t->in_msg = 0;
	tag(t, truncated ? 'T' : 'E');
	return 0;
}

static const struct http1_callbacks cb = { on_head, on_body, on_body_gap, on_end, NULL };

#define CUT_BYTES SIZE_MAX

static uint64_t run(enum http1_kind kind, int answer, const struct op *ops, size_t nops, size_t cut)
{
	struct trace t = { .h = 0xcbf29ce484222325ull, .answer = answer };
	struct http1_parser *p = http1_parser__new(kind, &cb, &t);
	struct http1_stats st;
	size_t i, off = 0, pos, n;
	ssize_t rc;
	int err;

	if (!p)
		abort();
	for (i = 0; i < nops; i++) {
		if (ops[i].kind) {
			err = ops[i].kind == 1 ? http1_parser__gap(p, ops[i].gap) : http1_parser__eof(p);
			tag(&t, 'g');
			mix(&t, &err, sizeof(err));
			continue;
		}
		for (pos = 0; pos < ops[i].len; pos += n) {
			n = ops[i].len - pos;
			if (cut == CUT_BYTES)
				n = 1;
			else if (cut > off + pos && cut < off + ops[i].len)
				n = cut - (off + pos);
			t.buf = ops[i].data + pos;
			t.buf_len = n;
			rc = http1_parser__feed(p, t.buf, n);
			if (rc != (ssize_t)n && rc >= 0)
				abort();
			if (rc < 0) {
				tag(&t, 'X');
				mix(&t, &rc, sizeof(rc));
				break;
			}
		}
		off += ops[i].len;
	}
	err = http1_parser__eof(p);
	mix(&t, &err, sizeof(err));
	if (t.in_msg)
		abort();	/* eof ends every message */
	http1_parser__stats(p, &st);
	mix(&t, &st, sizeof(st));
	http1_parser__free(p);
	return t.h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct op ops[MAX_OPS];
	size_t nops = 0, i, start, total;
	enum http1_kind kind;
	int answer, markers;
	uint64_t whole;
	uint8_t cut;

	if (size < 2)
		return 0;
	kind = data[0] & 1 ? HTTP1_RESPONSE : HTTP1_REQUEST;
	answer = data[0] >> 1 & 3;
	markers = data[0] & 8;
	cut = data[1];
	data += 2;
	size -= 2;

	for (i = start = 0; i <= size && nops < MAX_OPS - 2; i++) {
		int mark = markers && i + 1 < size && data[i] == 0xff &&
			   (data[i + 1] == 0xfe || data[i + 1] == 0xfd);

		if (i < size && !mark)
			continue;
		ops[nops++] = (struct op){ data + start, i - start, 0, 0 };
		if (i == size)
			break;
		if (data[i + 1] == 0xfd) {
			ops[nops++] = (struct op){ NULL, 0, 2, 0 };
			start = i + 2;
		} else {
			uint8_t g = i + 2 < size ? data[i + 2] : 0;

			ops[nops++] = (struct op){ NULL, 0, 1, g == 255 ? 1 << 20 : g };
			start = i + 3;
		}
		i = start - 1;
	}
	for (i = total = 0; i < nops; i++)
		total += ops[i].len;

	whole = run(kind, answer, ops, nops, 0);
	if (total > 1 && run(kind, answer, ops, nops, 1 + cut * (total - 1) / 256) != whole)
		abort();	/* cutting in two changed what was reported */
	if (run(kind, answer, ops, nops, CUT_BYTES) != whole)
		abort();	/* byte by byte changed what was reported */
	return 0;
}
