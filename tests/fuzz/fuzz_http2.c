// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libFuzzer target for the HTTP/2 decoder.  The script (data of either
 * direction, gaps, eof) runs whole, cut in two where the input says, and
 * one byte at a time.  The callbacks check what a caller relies on: per
 * stream and direction, a head before any body, on_end only for a started
 * message and once, body bytes inside the buffer being fed, head fields
 * readable; after eof nothing is left open.  Differential: when the whole
 * run never lost its framing (resynchronising depends on where feeds
 * begin, by design) and no memory bound is set, the callback trace
 * (hashed, body bytes included) and the counters must agree across cuts.
 *
 * Input: byte 0 = control (bit 0: midstream; bit 1: on_head refuses the
 * streams whose id is 3 mod 8; bit 2: a 4 KiB memory budget), byte 1 =
 * where to cut, then the stream of dir 0.  Markers: "\xff\xfd" switches
 * direction, "\xff\xfe" n is a capture gap of n bytes (254: 1 MiB, 255:
 * unknown length), "\xff\xfc" is eof.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "http2.h"
#include "membudget.h"

#define MAX_OPS  256
#define MAX_KEYS 4096		/* (stream, direction) pairs followed */

enum { OP_DATA, OP_GAP, OP_EOF };

struct op {
	const uint8_t *data;
	size_t len;
	int kind, dir;
	uint64_t gap;
};

enum { M_NONE, M_INTERIM, M_OPEN, M_ENDED };

struct trace {
	uint64_t h;		/* FNV-1a of everything reported */
	int refuse;
	const uint8_t *buf;	/* being fed */
	size_t buf_len;
	uint64_t key[MAX_KEYS];	/* sid << 1 | dir, + 1; 0: free */
	uint8_t state[MAX_KEYS];
	int full;		/* the table ran out: no more state checks */
	int in_body;		/* the last event was body bytes of: */
	uint32_t bsid;
	int bdir;
};

static void mix(struct trace *t, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n--)
		t->h = (t->h ^ *s++) * 0x100000001b3ull;
}

static void tag(struct trace *t, char c, uint32_t sid, int dir)
{
	t->in_body = 0;
	mix(t, &c, 1);
	mix(t, &sid, sizeof(sid));
	mix(t, &dir, sizeof(dir));
}

/* The state of (sid, dir), or NULL when the table is full. */
static uint8_t *state(struct trace *t, uint32_t sid, int dir)
{
	uint64_t k = ((uint64_t)sid << 1 | (dir & 1)) + 1;
	size_t i = (k * 0x9e3779b97f4a7c15ull) >> 52, n;

	if (sid == 0 || (dir != 0 && dir != 1))
		abort();
	for (n = 0; n < MAX_KEYS; n++, i = (i + 1) % MAX_KEYS) {
		if (t->key[i] == k)
			return &t->state[i];
		if (!t->key[i]) {
			t->key[i] = k;
			t->state[i] = M_NONE;
			return &t->state[i];
		}
	}
	t->full = 1;
	return NULL;
}

static int on_head(void *ctx, uint32_t sid, int dir, const struct http1_head *h, unsigned flags)
{
	struct trace *t = ctx;
	uint8_t *s = state(t, sid, dir);
	size_t i;

	if (!(sid & 1) || !h != !!(flags & H2_HEAD_MIDSTREAM))
		abort();
	if (s && *s == M_OPEN)
		abort();	/* a second head: only after interim ones */
	if (s && *s == M_INTERIM && dir != 1)
		abort();
	tag(t, 'H', sid, dir);
	mix(t, &flags, sizeof(flags));
	if (h) {
		if (h->nheaders > HTTP1_MAX_HEADERS || (h->nheaders && !h->headers) ||
		    h->content_length < -1 || h->version_minor != 1 || h->chunked)
			abort();
		mix(t, &h->status, sizeof(h->status));
		mix(t, &h->content_length, sizeof(h->content_length));
		mix(t, &h->expect_continue, sizeof(h->expect_continue));
		if (h->method)
			mix(t, h->method, h->method_len);
		if (h->target)
			mix(t, h->target, h->target_len);
		for (i = 0; i < h->nheaders; i++) {
			mix(t, h->headers[i].name, h->headers[i].name_len);
			mix(t, h->headers[i].value, h->headers[i].value_len);
		}
		if (h->host)
			mix(t, h->host, h->host_len);
		if (h->content_type)
			mix(t, h->content_type, h->content_type_len);
		if (h->content_encoding)
			mix(t, h->content_encoding, h->content_encoding_len);
	}
	if (t->refuse && sid % 8 == 3)
		return -ECANCELED;	/* the direction is not started */
	if (s)
		*s = dir && h && h->status >= 100 && h->status < 200 ? M_INTERIM : M_OPEN;
	return 0;
}

static int on_body(void *ctx, uint32_t sid, int dir, const uint8_t *d, size_t n)
{
	struct trace *t = ctx;
	uint8_t *s = state(t, sid, dir);

	/* body bytes come straight from the caller's buffer */
	if ((s && *s != M_OPEN) || !n || d < t->buf || n > (size_t)(t->buf + t->buf_len - d))
		abort();
	/* a run of bytes is one event however the feeds cut it */
	if (!t->in_body || t->bsid != sid || t->bdir != dir)
		tag(t, 'B', sid, dir);
	t->in_body = 1;
	t->bsid = sid;
	t->bdir = dir;
	mix(t, d, n);
	return 0;
}

static int on_body_gap(void *ctx, uint32_t sid, int dir, uint64_t n)
{
	struct trace *t = ctx;
	uint8_t *s = state(t, sid, dir);

	if ((s && *s != M_OPEN) || !n)
		abort();
	tag(t, 'G', sid, dir);
	mix(t, &n, sizeof(n));
	return 0;
}

static int on_end(void *ctx, uint32_t sid, int dir, enum h2_end why)
{
	struct trace *t = ctx;
	uint8_t *s = state(t, sid, dir);

	if ((s && *s != M_OPEN && *s != M_INTERIM) || why > H2_END_EVICTED)
		abort();
	if (s)
		*s = M_ENDED;
	tag(t, 'E', sid, dir);
	mix(t, &why, sizeof(why));
	return 0;
}

static const struct h2_callbacks cb = { on_head, on_body, on_body_gap, on_end, NULL };

#define CUT_BYTES SIZE_MAX

static uint64_t run(int ctl, const struct op *ops, size_t nops, size_t cut, int *framing_lost)
{
	static struct trace t;
	struct membudget mb;
	struct h2_conn *c;
	struct h2_stats st;
	size_t i, off = 0, pos, n;
	ssize_t rc;
	int err;

	memset(&t, 0, sizeof(t));
	t.h = 0xcbf29ce484222325ull;
	t.refuse = ctl & 2;
	membudget_init(&mb, 4096);
	c = h2_conn__new(&cb, &t, ctl & 1);
	if (!c)
		abort();
	if (ctl & 4)
		h2_conn__set_budget(c, &mb);
	for (i = 0; i < nops; i++) {
		if (ops[i].kind != OP_DATA) {
			err = ops[i].kind == OP_GAP ? h2_conn__gap(c, ops[i].dir, ops[i].gap)
						    : h2_conn__eof(c);
			tag(&t, 'g', 1, 0);
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
			rc = h2_conn__feed(c, ops[i].dir, t.buf, n);
			if (rc != (ssize_t)n && rc != -ECANCELED)
				abort();
			if (rc < 0) {
				tag(&t, 'X', 1, 0);
				mix(&t, &rc, sizeof(rc));
			}
		}
		off += ops[i].len;
	}
	err = h2_conn__eof(c);
	mix(&t, &err, sizeof(err));
	for (i = 0; i < MAX_KEYS && !t.full; i++)
		if (t.key[i] && (t.state[i] == M_OPEN || t.state[i] == M_INTERIM))
			abort();	/* eof ends every message */
	h2_conn__stats(c, &st);
	mix(&t, &st, sizeof(st));
	*framing_lost = st.resyncs || st.bad_prefaces;
	h2_conn__free(c);
	if (mb.used || mb.peak > mb.limit)
		abort();	/* nothing left charged, the bound kept */
	return t.h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct op ops[MAX_OPS];
	size_t nops = 0, i, start, total;
	int ctl, dir = 0, lost, lost2;
	uint64_t whole;
	uint8_t cut;

	if (size < 2)
		return 0;
	ctl = data[0];
	cut = data[1];
	data += 2;
	size -= 2;

	for (i = start = 0; i <= size && nops < MAX_OPS - 2; i++) {
		int mark = i + 1 < size && data[i] == 0xff && data[i + 1] >= 0xfc &&
			   data[i + 1] <= 0xfe;

		if (i < size && !mark)
			continue;
		if (i > start)
			ops[nops++] = (struct op){ data + start, i - start, OP_DATA, dir, 0 };
		if (i == size)
			break;
		start = i + 2;
		if (data[i + 1] == 0xfd) {
			dir = !dir;
		} else if (data[i + 1] == 0xfc) {
			ops[nops++] = (struct op){ NULL, 0, OP_EOF, dir, 0 };
		} else {
			uint8_t g = i + 2 < size ? data[i + 2] : 0;

			ops[nops++] = (struct op){ NULL, 0, OP_GAP, dir,
						   g == 255 ? UINT64_MAX : g == 254 ? 1 << 20 : g };
			start = i + 3;
		}
		i = start - 1;
	}
	for (i = total = 0; i < nops; i++)
		total += ops[i].len;

	whole = run(ctl, ops, nops, 0, &lost);
	if (total > 1 && run(ctl, ops, nops, 1 + cut * (total - 1) / 256, &lost2) != whole &&
	    !lost && !(ctl & 5))
		abort();	/* cutting in two changed what was reported */
	if (run(ctl, ops, nops, CUT_BYTES, &lost2) != whole && !lost && !(ctl & 5))
		abort();	/* byte by byte changed what was reported */
	return 0;
}
