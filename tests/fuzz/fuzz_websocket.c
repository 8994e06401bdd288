// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libFuzzer target for the WebSocket decoder, differential: the script
 * runs whole, cut in two where the input says, and one byte at a time; the
 * messages (hashed, bytes included), closes and counters must agree.  The
 * callbacks check what a caller relies on: a known opcode, known flags, no
 * more than max_message bytes.  A last run under a small memory budget
 * (not compared: what a budget refuses depends on the cuts) must give back
 * every byte it charged.
 *
 * Input: byte 0 = control (bit 0: client-to-server, masked; bit 1:
 * permessage-deflate; bit 2: no_context_takeover; bit 3: builder mode;
 * bits 4-6: window bits, 0 default, else 8 + n), byte 1 = caps (low nibble
 * max_message, high nibble max_inflate, indexes into the tables below),
 * byte 2 = where to cut, then the script.
 *
 * Raw mode: the script is the stream, except that "\xff\xfe" n is a
 * capture gap of n bytes (n = 255: of unknown length) and "\xff\xfd" is
 * eof.  Builder mode, to reach the inflater with whole frames: records
 * b0 n payload[n], each made into a frame with first byte b0, a 7- or
 * 16-bit length and, in the masked direction, a masking key; b0 = 0xff
 * is a gap of n bytes instead (255: unknown), b0 = 0xfe eof.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "membudget.h"
#include "websocket.h"

#define MAX_OPS 512

static const size_t max_messages[16] = {
	1 << 20, 1, 16, 100, 1000, 4096, 65536, 5, 64, 256, 2048, 8192, 32768, 300, 10, 3,
};
static const uint64_t max_inflates[16] = {
	4 << 20, 1, 64, 1000, 4096, 65536, 1 << 20, 100, 200, 512, 8192, 20000, 3, 30, 2 << 20, 1 << 16,
};

struct op {
	size_t off, len;	/* data: bytes [off, off + len) of the stream */
	int kind;		/* 0 data, 1 gap, 2 eof */
	uint64_t gap;
};

struct setup {
	struct ws_cfg cfg;
	struct ws_deflate df;
	int masked;
	const uint8_t *stream;
	struct op ops[MAX_OPS];
	size_t nops, total;
};

struct trace {
	uint64_t h;
	size_t max_message;
	uint64_t messages, closes;
};

static void mix(struct trace *t, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n--)
		t->h = (t->h ^ *s++) * 0x100000001b3ull;
}

static int on_message(void *ctx, int op, const uint8_t *d, size_t len, unsigned flags)
{
	struct trace *t = ctx;

	if ((op != WS_MSG_TEXT && op != WS_MSG_BINARY) || flags > 15 || len > t->max_message || !d)
		abort();
	if ((flags & WS_MSG_SHED) && len)
		abort();
	t->messages++;
	mix(t, "M", 1);
	mix(t, &op, sizeof(op));
	mix(t, &flags, sizeof(flags));
	mix(t, &len, sizeof(len));
	mix(t, d, len);
	return 0;
}

static int on_close(void *ctx, uint16_t code)
{
	struct trace *t = ctx;

	t->closes++;
	mix(t, "C", 1);
	mix(t, &code, sizeof(code));
	return 0;
}

static const struct ws_callbacks cb = { on_message, on_close };

#define CUT_BYTES SIZE_MAX

static uint64_t run(const struct setup *s, size_t cut, struct membudget *mb)
{
	struct trace t = { .h = 0xcbf29ce484222325ull };
	struct ws_parser *p = ws_parser__new(&s->cfg, &s->df, s->masked, &cb, &t);
	struct ws_stats st;
	size_t i, off = 0, pos, n;
	ssize_t rc;
	int err;

	if (!p)
		abort();
	ws_parser__set_budget(p, mb);
	t.max_message = s->cfg.max_message;
	for (i = 0; i < s->nops; i++) {
		if (s->ops[i].kind) {
			err = s->ops[i].kind == 1 ? ws_parser__gap(p, s->ops[i].gap) : ws_parser__eof(p);
			mix(&t, "g", 1);
			mix(&t, &err, sizeof(err));
			continue;
		}
		for (pos = 0; pos < s->ops[i].len; pos += n) {
			n = s->ops[i].len - pos;
			if (cut == CUT_BYTES)
				n = 1;
			else if (cut > off + pos && cut < off + s->ops[i].len)
				n = cut - (off + pos);
			rc = ws_parser__feed(p, s->stream + s->ops[i].off + pos, n);
			if (rc == -EPIPE) {
				mix(&t, "P", 1);
				break;
			}
			if (rc != (ssize_t)n)
				abort();	/* the callbacks never fail: all is consumed */
		}
		off += s->ops[i].len;
	}
	err = ws_parser__eof(p);
	mix(&t, &err, sizeof(err));
	ws_parser__stats(p, &st);
	if (st.messages != t.messages || st.closes != t.closes || st.closes > 1 ||
	    st.truncated > st.messages || st.oversized > st.messages || st.bombs > st.inflate_errors ||
	    st.stops > 1)
		abort();
	mix(&t, &st, sizeof(st));
	ws_parser__free(p);
	return t.h;
}

static void add_op(struct setup *s, struct op op)
{
	if (s->nops < MAX_OPS)
		s->ops[s->nops++] = op;
	if (!op.kind)
		s->total += op.len;
}

/* Raw mode: the stream with gap and eof markers. */
static void parse_raw(struct setup *s, const uint8_t *d, size_t size)
{
	size_t i, start = 0;

	s->stream = d;
	for (i = 0; i < size && s->nops < MAX_OPS - 2; i++) {
		if (!(i + 1 < size && d[i] == 0xff && (d[i + 1] == 0xfe || d[i + 1] == 0xfd)))
			continue;
		add_op(s, (struct op){ .off = start, .len = i - start });
		if (d[i + 1] == 0xfd) {
			add_op(s, (struct op){ .kind = 2 });
			start = i + 2;
		} else {
			uint8_t g = i + 2 < size ? d[i + 2] : 0;

			add_op(s, (struct op){ .kind = 1, .gap = g == 255 ? WS_GAP_UNKNOWN : g });
			start = i + 3;
		}
		i = start - 1;
	}
	if (start < size)
		add_op(s, (struct op){ .off = start, .len = size - start });
}

/* Builder mode: frames made from records into buf (big enough: a record of
 * n + 2 bytes makes at most n + 8). */
static void build(struct setup *s, const uint8_t *d, size_t size, uint8_t *buf)
{
	size_t i = 0, o = 0, start = 0, n, k;
	uint8_t key[4];

	s->stream = buf;
	while (i + 1 < size && s->nops < MAX_OPS - 2) {
		uint8_t b0 = d[i], len = d[i + 1];

		i += 2;
		if (b0 == 0xff || b0 == 0xfe) {
			add_op(s, (struct op){ .off = start, .len = o - start });
			add_op(s, b0 == 0xfe ? (struct op){ .kind = 2 } :
			       (struct op){ .kind = 1, .gap = len == 255 ? WS_GAP_UNKNOWN : len });
			start = o;
			continue;
		}
		n = len < size - i ? len : size - i;
		buf[o++] = b0;
		buf[o++] = (s->masked ? 0x80 : 0) | (n < 126 ? n : 126);
		if (n >= 126) {
			buf[o++] = 0;
			buf[o++] = n;
		}
		if (s->masked) {
			for (k = 0; k < 4; k++, o++)
				key[k] = buf[o] = (uint8_t)(0x5a + 77 * o);
		}
		for (k = 0; k < n; k++)
			buf[o++] = d[i + k] ^ (s->masked ? key[k & 3] : 0);
		i += n;
	}
	if (o > start)
		add_op(s, (struct op){ .off = start, .len = o - start });
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct setup s;
	struct membudget mb;
	uint8_t *buf = NULL;
	uint64_t whole;
	uint8_t ctl, cut;

	if (size < 3)
		return 0;
	ctl = data[0];
	memset(&s, 0, sizeof(s));
	s.masked = ctl & 1;
	s.df.on = !!(ctl & 2);
	s.df.no_context_takeover = !!(ctl & 4);
	s.df.max_window_bits = ctl >> 4 & 7 ? 8 + (ctl >> 4 & 7) : 0;
	s.cfg.max_message = max_messages[data[1] & 15];
	s.cfg.max_inflate = max_inflates[data[1] >> 4];
	if (s.cfg.max_inflate < s.cfg.max_message)
		s.cfg.max_inflate = s.cfg.max_message;	/* what the parser does */
	cut = data[2];
	data += 3;
	size -= 3;
	if (ctl & 8) {
		buf = malloc(size * 4 + 16);
		if (!buf)
			abort();
		build(&s, data, size, buf);
	} else {
		parse_raw(&s, data, size);
	}

	whole = run(&s, 0, NULL);
	if (s.total > 1 && run(&s, 1 + cut * (s.total - 1) / 256, NULL) != whole)
		abort();	/* cutting in two changed what was reported */
	if (run(&s, CUT_BYTES, NULL) != whole)
		abort();	/* byte by byte changed what was reported */
	membudget_init(&mb, 16384);
	run(&s, cut & 1 ? CUT_BYTES : 0, &mb);
	if (mb.used || mb.peak > mb.limit)
		abort();	/* a byte charged was not given back */
	free(buf);
	return 0;
}
