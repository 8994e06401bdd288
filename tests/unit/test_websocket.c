// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * WebSocket decoder tests.  Frames are built here (masked with fixed keys;
 * compressed as RFC 7692 does: raw deflate, Z_SYNC_FLUSH, the 00 00 ff ff
 * tail stripped), plus the literal examples of RFC 6455 5.7 and RFC 7692
 * 7.2.3.  Each stream runs whole, cut in two at every offset (or at an
 * even spread of them when long), and one byte at a time, capture gaps
 * kept where they lie: the log of messages, closes and counters must not
 * change.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <zlib.h>
#include "tap.h"
#include "membudget.h"
#include "websocket.h"

struct sb {
	uint8_t *p;
	size_t len, cap;
};

static void sb_add(struct sb *b, const void *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_str(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	sb_add(b, tmp, n < (int)sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* --- frames --------------------------------------------------------------- */

#define FIN  0x80
#define RSV1 0x40
#define RSV2 0x20
#define RSV3 0x10
enum { CONT = 0, TEXT = 1, BIN = 2, CLOSE = 8, PING = 9, PONG = 10 };

static const uint8_t K1[4] = { 0x37, 0xfa, 0x21, 0x3d };	/* RFC 6455 5.7 */
static const uint8_t K2[4] = { 0x00, 0xff, 0x5a, 0xa5 };

/* A frame: b0 = FIN | RSV | opcode, key NULL for unmasked; lenform 0
 * minimal, else 2 or 8 length bytes whatever the length. */
static void frame_form(struct sb *o, uint8_t b0, const uint8_t *key, const void *pl, size_t n,
		       int lenform)
{
	uint8_t h[14], m = key ? 0x80 : 0;
	size_t hl = 0, i;

	if (!lenform)
		lenform = n < 126 ? 1 : n < 65536 ? 2 : 8;
	h[hl++] = b0;
	if (lenform == 1) {
		h[hl++] = m | n;
	} else if (lenform == 2) {
		h[hl++] = m | 126;
		h[hl++] = n >> 8;
		h[hl++] = n;
	} else {
		h[hl++] = m | 127;
		for (i = 0; i < 8; i++)
			h[hl++] = (uint64_t)n >> (56 - 8 * i);
	}
	if (key) {
		memcpy(h + hl, key, 4);
		hl += 4;
	}
	sb_add(o, h, hl);
	for (i = 0; i < n; i++) {
		uint8_t c = ((const uint8_t *)pl)[i] ^ (key ? key[i & 3] : 0);

		sb_add(o, &c, 1);
	}
}

static void frame(struct sb *o, uint8_t b0, const uint8_t *key, const void *pl, size_t n)
{
	frame_form(o, b0, key, pl, n, 0);
}

static void frame_str(struct sb *o, uint8_t b0, const uint8_t *key, const char *s)
{
	frame(o, b0, key, s, strlen(s));
}

static void close_frame(struct sb *o, const uint8_t *key, uint16_t code, const char *reason)
{
	uint8_t pl[125] = { code >> 8, code & 0xff };
	size_t n = strlen(reason);

	memcpy(pl + 2, reason, n);
	frame(o, FIN | CLOSE, key, pl, 2 + n);
}

/* The sender's compressor (RFC 7692 7.2.1). */
struct zc {
	z_stream z;
};

static void zc_init(struct zc *c, int bits)
{
	memset(c, 0, sizeof(*c));
	if (deflateInit2(&c->z, 9, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
}

static void zc_end(struct zc *c)
{
	deflateEnd(&c->z);
}

/* in (reps times) compressed, flushed, the 00 00 ff ff tail stripped */
static void zc_msg_reps(struct zc *c, const void *in, size_t n, uint64_t reps, struct sb *out)
{
	uint8_t buf[1 << 16];
	int flush;

	do {
		flush = reps > 1 ? Z_NO_FLUSH : Z_SYNC_FLUSH;
		c->z.next_in = (uint8_t *)in;
		c->z.avail_in = n;
		do {
			c->z.next_out = buf;
			c->z.avail_out = sizeof(buf);
			if (deflate(&c->z, flush) == Z_STREAM_ERROR)
				abort();
			sb_add(out, buf, sizeof(buf) - c->z.avail_out);
		} while (c->z.avail_in || !c->z.avail_out);
	} while (--reps);
	if (out->len < 4 || memcmp(out->p + out->len - 4, "\0\0\xff\xff", 4))
		abort();
	out->len -= 4;
}

static void zc_msg(struct zc *c, const void *in, size_t n, struct sb *out)
{
	zc_msg_reps(c, in, n, 1, out);
}

/* One compressed message in one frame. */
static void zframe_n(struct sb *o, struct zc *c, uint8_t op, const uint8_t *key, const void *s,
		     size_t n)
{
	struct sb z = { 0 };

	zc_msg(c, s, n, &z);
	frame(o, FIN | RSV1 | op, key, z.p, z.len);
	free(z.p);
}

static void zframe(struct sb *o, struct zc *c, uint8_t op, const uint8_t *key, const char *s)
{
	zframe_n(o, c, op, key, s, strlen(s));
}

/* --- recorder and runner ---------------------------------------------------- */

#define MAX_GAPS 8

struct script {
	struct sb in;
	size_t gap_at[MAX_GAPS];	/* a gap after this many bytes */
	uint64_t gap_len[MAX_GAPS];
	int ngaps;
	int no_eof;
	struct ws_cfg cfg;
	struct ws_deflate df;
	int masked;			/* the client-to-server direction */
	int stop_at;			/* on_message returns -ECANCELED from this one (1-based) */
	struct membudget *mb;
	struct ws_stats st;		/* of the whole run */
};

static void gap(struct script *s, uint64_t len)
{
	s->gap_at[s->ngaps] = s->in.len;
	s->gap_len[s->ngaps++] = len;
}

struct rec {
	struct sb log;
	const struct script *s;
	unsigned n;
};

static uint64_t fnv(const uint8_t *d, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *d++) * 0x100000001b3ull;
	return h;
}

static void escaped(struct sb *b, const uint8_t *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (d[i] >= 0x20 && d[i] < 0x7f && d[i] != '\\')
			sb_add(b, d + i, 1);
		else
			sb_printf(b, "\\x%02x", d[i]);
	}
}

static int on_message(void *ctx, int op, const uint8_t *d, size_t len, unsigned flags)
{
	struct rec *r = ctx;
	const struct script *s = r->s;

	CHECK(d != NULL, "NULL data");
	CHECK(len <= s->cfg.max_message || !s->cfg.max_message, "len %zu", len);
	CHECK(op == WS_MSG_TEXT || op == WS_MSG_BINARY, "opcode %d", op);
	sb_str(&r->log, op == WS_MSG_TEXT ? "TEXT" : "BIN");
	if (flags & WS_MSG_TRUNCATED)
		sb_str(&r->log, " trunc");
	if (flags & WS_MSG_OVERSIZED)
		sb_str(&r->log, " over");
	if (flags & WS_MSG_INFLATE_ERROR)
		sb_str(&r->log, " inflate");
	if (flags & WS_MSG_SHED)
		sb_str(&r->log, " shed");
	sb_str(&r->log, " [");
	if (len <= 120) {
		escaped(&r->log, d, len);
		sb_str(&r->log, "]\n");
	} else {
		escaped(&r->log, d, 24);
		sb_printf(&r->log, "...] len=%zu hash=%016llx\n", len,
			  (unsigned long long)fnv(d, len));
	}
	return ++r->n == (unsigned)s->stop_at ? -ECANCELED : 0;
}

static int on_close(void *ctx, uint16_t code)
{
	struct rec *r = ctx;

	sb_printf(&r->log, "CLOSE %u\n", code);
	return 0;
}

static const struct ws_callbacks cbs = { on_message, on_close };

/* The log line on_message writes for a message (kind: "TEXT", "BIN over"...). */
static void want_msg(struct sb *w, const char *kind, const void *d, size_t len)
{
	struct rec r = { 0 };

	sb_printf(&r.log, "%s [", kind);
	if (len <= 120) {
		escaped(&r.log, d, len);
		sb_str(&r.log, "]\n");
	} else {
		escaped(&r.log, d, 24);
		sb_printf(&r.log, "...] len=%zu hash=%016llx\n", len,
			  (unsigned long long)fnv(d, len));
	}
	sb_add(w, r.log.p, r.log.len);
	free(r.log.p);
}

#define CUT_BYTES SIZE_MAX

static void log_stats(struct sb *b, const struct ws_stats *st)
{
	sb_printf(b, "STATS frames=%llu ctl=%llu msgs=%llu closes=%llu bytes=%llu inflated=%llu "
		  "errors=%llu mask=%llu trunc=%llu over=%llu ierr=%llu bombs=%llu shed=%llu "
		  "gaps=%llu gap_bytes=%llu stops=%llu skipped=%llu\n",
		  (unsigned long long)st->frames, (unsigned long long)st->control_frames,
		  (unsigned long long)st->messages, (unsigned long long)st->closes,
		  (unsigned long long)st->bytes, (unsigned long long)st->inflated_bytes,
		  (unsigned long long)st->errors, (unsigned long long)st->mask_mismatch,
		  (unsigned long long)st->truncated, (unsigned long long)st->oversized,
		  (unsigned long long)st->inflate_errors, (unsigned long long)st->bombs,
		  (unsigned long long)st->shed, (unsigned long long)st->gaps,
		  (unsigned long long)st->gap_bytes, (unsigned long long)st->stops,
		  (unsigned long long)st->skipped);
}

/* Feeds the script, cut at cut (0 whole, CUT_BYTES byte by byte). */
static void run(struct script *s, struct rec *r, size_t cut)
{
	struct ws_parser *p = ws_parser__new(&s->cfg, &s->df, s->masked, &cbs, r);
	size_t pos = 0, end, n;
	ssize_t rc = 0;
	int g = 0, e;

	r->s = s;
	CHECK(p != NULL, "new");
	if (!p)
		return;
	ws_parser__set_budget(p, s->mb);
	for (;;) {
		end = g < s->ngaps ? s->gap_at[g] : s->in.len;
		for (; pos < end && rc >= 0; pos += n) {
			n = cut == CUT_BYTES ? 1 : cut > pos && cut < end ? cut - pos : end - pos;
			rc = ws_parser__feed(p, s->in.p + pos, n);
			if (rc >= 0)
				CHECK(rc == (ssize_t)n, "feed %zd of %zu", rc, n);
			else
				sb_printf(&r->log, "ERR %zd\n", rc);
		}
		if (g == s->ngaps)
			break;
		e = ws_parser__gap(p, s->gap_len[g++]);
		if (e)
			sb_printf(&r->log, "GAP ERR %d\n", e);
		pos = end;
	}
	if (!s->no_eof) {
		e = ws_parser__eof(p);
		if (e)
			sb_printf(&r->log, "EOF ERR %d\n", e);
	}
	ws_parser__stats(p, &s->st);
	log_stats(&r->log, &s->st);
	ws_parser__free(p);
}

/*
 * Whole, cut at every stride-th offset (every offset when short), byte by
 * byte: all the same.  want: the messages and closes of the whole run (the
 * log up to its STATS line), if given.
 */
static void check_script(struct script *s, const char *want)
{
	struct rec whole = { 0 }, r;
	struct ws_stats st;
	size_t cut, stride = s->in.len <= 4096 ? 1 : s->in.len / 1500 + 1;
	char *stats;

	run(s, &whole, 0);
	st = s->st;
	stats = strstr((char *)whole.log.p, "STATS ");
	if (want && stats) {
		CHECK(strlen(want) == (size_t)(stats - (char *)whole.log.p) &&
		      !memcmp(whole.log.p, want, strlen(want)),
		      "\n--- got\n%s--- want\n%s", whole.log.p, want);
	}
	for (cut = 1; cut <= s->in.len && !tap_cur_failed; cut += cut < s->in.len ? stride : 1) {
		r = (struct rec){ 0 };
		run(s, &r, cut == s->in.len ? CUT_BYTES : cut);
		CHECK(r.log.len == whole.log.len && !memcmp(r.log.p, whole.log.p, r.log.len),
		      "cut at %zd of %zu:\n--- got\n%s--- whole\n%s",
		      cut == s->in.len ? (ssize_t)-1 : (ssize_t)cut, s->in.len, r.log.p, whole.log.p);
		free(r.log.p);
	}
	s->st = st;
	free(whole.log.p);
}

static void script_free(struct script *s)
{
	free(s->in.p);
	s->in = (struct sb){ 0 };
	s->ngaps = 0;
}

/* --- framing ------------------------------------------------------------- */

static void test_rfc6455_examples(void)
{
	static const uint8_t hello[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
	static const uint8_t hello_masked[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
						0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	static const uint8_t frag[] = { 0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f };
	static const uint8_t ping[] = { 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
	static const uint8_t pong_masked[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
					       0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	static const uint8_t bin256[] = { 0x82, 0x7e, 0x01, 0x00 };
	static const uint8_t bin64k[] = { 0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0 };
	static uint8_t zeros[65536];
	struct script s = { 0 };
	struct sb want = { 0 };

	sb_add(&s.in, hello, sizeof(hello));
	sb_add(&s.in, frag, sizeof(frag));
	sb_add(&s.in, ping, sizeof(ping));
	sb_add(&s.in, bin256, sizeof(bin256));
	sb_add(&s.in, zeros, 256);
	sb_str(&want, "TEXT [Hello]\nTEXT [Hello]\n");
	want_msg(&want, "BIN", zeros, 256);
	check_script(&s, (char *)want.p);
	CHECK_EQ_INT(s.st.frames, 5);
	CHECK_EQ_INT(s.st.control_frames, 1);
	CHECK_EQ_INT(s.st.errors + s.st.mask_mismatch, 0);
	script_free(&s);

	/* the client's frames are masked */
	s.masked = 1;
	sb_add(&s.in, hello_masked, sizeof(hello_masked));
	sb_add(&s.in, pong_masked, sizeof(pong_masked));
	sb_add(&s.in, bin64k, sizeof(bin64k));
	sb_add(&s.in, zeros, sizeof(zeros));
	want.len = 0;
	sb_str(&want, "TEXT [Hello]\n");
	want_msg(&want, "BIN", zeros, sizeof(zeros));
	check_script(&s, (char *)want.p);
	/* the 64 KiB frame is not masked: decoded anyway, counted */
	CHECK_EQ_INT(s.st.mask_mismatch, 1);
	CHECK_EQ_INT(s.st.errors, 0);
	script_free(&s);
	free(want.p);
}

static void test_lengths(void)
{
	static char big[70000];
	struct script s = { .masked = 1 };
	struct sb want = { 0 };
	size_t i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = 'a' + i % 26;
	frame(&s.in, FIN | TEXT, K1, "", 0);			/* empty */
	frame(&s.in, FIN | TEXT, K2, big, 125);			/* 7-bit maximum */
	frame(&s.in, FIN | TEXT, K1, big, 126);			/* 16-bit minimum */
	frame(&s.in, FIN | TEXT, K2, big, 65535);
	frame(&s.in, FIN | TEXT, K1, big, 65536);		/* 64-bit */
	frame(&s.in, FIN | TEXT, K2, big, sizeof(big));
	frame_form(&s.in, FIN | TEXT, K1, "short", 5, 2);	/* not minimal: accepted */
	frame_form(&s.in, FIN | TEXT, K2, "short", 5, 8);
	sb_str(&want, "TEXT []\n");
	want_msg(&want, "TEXT", big, 125);
	want_msg(&want, "TEXT", big, 126);
	want_msg(&want, "TEXT", big, 65535);
	want_msg(&want, "TEXT", big, 65536);
	want_msg(&want, "TEXT", big, sizeof(big));
	sb_str(&want, "TEXT [short]\nTEXT [short]\n");
	check_script(&s, (char *)want.p);
	CHECK_EQ_INT(s.st.messages, 8);
	CHECK_EQ_INT(s.st.bytes, 125 + 126 + 65535 + 65536 + 70000 + 10);
	script_free(&s);
	free(want.p);
}

/* Fragments, with control frames between them. */
static void test_fragmented(void)
{
	struct script s = { .masked = 1 };

	frame_str(&s.in, TEXT, K1, "{\"type\":");
	frame_str(&s.in, FIN | PING, K2, "are you there");
	frame_str(&s.in, CONT, K2, "\"response");
	frame_str(&s.in, FIN | PONG, K1, "");
	frame_str(&s.in, CONT, K1, "");				/* empty fragment */
	frame_str(&s.in, FIN | CONT, K2, ".create\"}");
	frame(&s.in, BIN, K1, "\x00\x01", 2);
	frame(&s.in, FIN | CONT, K2, "\xfe\xff", 2);
	frame(&s.in, TEXT, K1, "", 0);				/* all empty */
	frame(&s.in, FIN | CONT, K2, "", 0);
	check_script(&s, "TEXT [{\"type\":\"response.create\"}]\n"
		     "BIN [\\x00\\x01\\xfe\\xff]\n"
		     "TEXT []\n");
	CHECK_EQ_INT(s.st.frames, 10);
	CHECK_EQ_INT(s.st.control_frames, 2);
	CHECK_EQ_INT(s.st.errors, 0);
	script_free(&s);
}

static void test_close(void)
{
	struct script s = { 0 };

	frame_str(&s.in, FIN | TEXT, NULL, "bye");
	close_frame(&s.in, NULL, 1000, "normal");
	frame_str(&s.in, FIN | TEXT, NULL, "after the close");	/* not decoded */
	check_script(&s, "TEXT [bye]\nCLOSE 1000\n");
	CHECK_EQ_INT(s.st.closes, 1);
	CHECK_EQ_INT(s.st.skipped, 17);
	script_free(&s);

	/* no status code: 1005; a close between fragments cuts the message */
	frame_str(&s.in, TEXT, NULL, "half");
	frame(&s.in, FIN | CLOSE, NULL, "", 0);
	check_script(&s, "TEXT trunc [half]\nCLOSE 1005\n");
	script_free(&s);

	/* a one-byte close payload is wrong */
	frame(&s.in, FIN | CLOSE, NULL, "\x03", 1);
	check_script(&s, "CLOSE 1005\n");
	CHECK_EQ_INT(s.st.errors, 1);
	script_free(&s);

	/* masked, with a 123-byte reason */
	s.masked = 1;
	close_frame(&s.in, K2, 4000, "0123456789012345678901234567890123456789012345678901234567890123"
				    "45678901234567890123456789012345678901234567890123456789");
	check_script(&s, "CLOSE 4000\n");
	script_free(&s);
}

/* --- permessage-deflate --------------------------------------------------- */

static void test_rfc7692_examples(void)
{
	static const uint8_t one[] = { 0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00 };
	static const uint8_t frag[] = { 0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00 };
	/* the same again, referring back to the first (context takeover) */
	static const uint8_t again[] = { 0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00 };
	static const uint8_t stored[] = { 0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff,
					  0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00 };
	static const uint8_t bfinal[] = { 0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00 };
	static const uint8_t two_blocks[] = { 0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff,
					      0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00 };
	struct script s = { .df = { .on = 1 } };

	sb_add(&s.in, one, sizeof(one));
	sb_add(&s.in, frag, sizeof(frag));
	sb_add(&s.in, again, sizeof(again));
	sb_add(&s.in, stored, sizeof(stored));
	sb_add(&s.in, bfinal, sizeof(bfinal));
	sb_add(&s.in, two_blocks, sizeof(two_blocks));
	sb_add(&s.in, again, sizeof(again));	/* refers to the two-block message */
	check_script(&s, "TEXT [Hello]\nTEXT [Hello]\nTEXT [Hello]\nTEXT [Hello]\nTEXT [Hello]\n"
		     "TEXT [Hello]\nTEXT [Hello]\n");
	CHECK_EQ_INT(s.st.errors, 0);
	CHECK_EQ_INT(s.st.inflated_bytes, 35);
	script_free(&s);

	/* without context takeover, the back reference cannot be resolved: an
	 * error, not wrong text */
	s.df.no_context_takeover = 1;
	sb_add(&s.in, one, sizeof(one));
	sb_add(&s.in, again, sizeof(again));
	sb_add(&s.in, one, sizeof(one));
	check_script(&s, "TEXT [Hello]\nTEXT inflate [H]\nTEXT [Hello]\n");
	CHECK_EQ_INT(s.st.inflate_errors, 1);
	script_free(&s);
}

/* Messages compressed by zlib, each referring to the ones before. */
static void test_deflate_takeover(void)
{
	static const char *const msgs[] = {
		"{\"type\":\"response.output_text.delta\",\"delta\":\"Hello\"}",
		"{\"type\":\"response.output_text.delta\",\"delta\":\"Hello\"}",
		"{\"type\":\"response.output_text.delta\",\"delta\":\" world\"}",
	};
	static const char frag[] = "{\"type\":\"response.output_text.done\",\"text\":\"Hello world\"}";
	struct script s = { .df = { .on = 1 } };
	struct sb z = { 0 }, want = { 0 };
	struct zc c;
	size_t i, first;

	zc_init(&c, 15);
	for (i = 0; i < 3; i++) {
		first = s.in.len;
		zframe(&s.in, &c, TEXT, NULL, msgs[i]);
		if (i == 1)	/* the same message again is a short back reference */
			CHECK(s.in.len - first < 12, "second frame %zu bytes", s.in.len - first);
		sb_printf(&want, "TEXT [%s]\n", msgs[i]);
	}
	/* a compressed message in three fragments, a ping between; then one
	 * that is not compressed, which the window does not see */
	zc_msg(&c, frag, strlen(frag), &z);
	CHECK(z.len > 8, "%zu", z.len);
	frame(&s.in, RSV1 | TEXT, NULL, z.p, 5);
	frame_str(&s.in, FIN | PING, NULL, "x");
	frame(&s.in, CONT, NULL, z.p + 5, 3);
	frame(&s.in, FIN | CONT, NULL, z.p + 8, z.len - 8);
	sb_printf(&want, "TEXT [%s]\n", frag);
	frame_str(&s.in, FIN | TEXT, NULL, "plain");
	sb_str(&want, "TEXT [plain]\n");
	zframe(&s.in, &c, BIN, NULL, msgs[2]);
	sb_printf(&want, "BIN [%s]\n", msgs[2]);
	check_script(&s, (char *)want.p);
	CHECK_EQ_INT(s.st.errors, 0);
	script_free(&s);

	/* the same stream read without context takeover: every message that
	 * refers back fails, none comes out wrong */
	zc_end(&c);
	free(z.p);
	z = (struct sb){ 0 };
	zc_init(&c, 15);
	s.df.no_context_takeover = 1;
	for (i = 0; i < 3; i++)
		zframe(&s.in, &c, TEXT, NULL, msgs[i]);
	check_script(&s, NULL);
	CHECK_EQ_INT(s.st.messages, 3);
	CHECK(s.st.inflate_errors >= 1, "%llu", (unsigned long long)s.st.inflate_errors);
	script_free(&s);
	zc_end(&c);
	free(want.p);
}

/* The sender resets its compressor after each message. */
static void test_deflate_no_takeover(void)
{
	struct script s = { .masked = 1, .df = { .on = 1, .no_context_takeover = 1 } };
	struct zc c;
	int i;

	zc_init(&c, 15);
	for (i = 0; i < 3; i++) {
		zframe(&s.in, &c, TEXT, i & 1 ? K1 : K2, "{\"type\":\"response.create\"}");
		deflateReset(&c.z);
	}
	check_script(&s, "TEXT [{\"type\":\"response.create\"}]\n"
		     "TEXT [{\"type\":\"response.create\"}]\n"
		     "TEXT [{\"type\":\"response.create\"}]\n");
	CHECK_EQ_INT(s.st.errors + s.st.inflate_errors, 0);
	script_free(&s);
	zc_end(&c);
}

/* A small window, as negotiated with max_window_bits. */
static void test_deflate_window_bits(void)
{
	static char text[20000];
	struct script s = { .df = { .on = 1, .max_window_bits = 9 } };
	struct sb want = { 0 };
	struct zc c;
	size_t i;

	/* repeats at distances a 512-byte window can reach, and far ones it cannot */
	for (i = 0; i < sizeof(text); i++)
		text[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(i * 7 + i / 300) % 36];
	zc_init(&c, 9);
	zframe(&s.in, &c, TEXT, NULL, "window bits nine");
	zframe(&s.in, &c, TEXT, NULL, "window bits nine");
	{
		struct sb z = { 0 };

		zc_msg(&c, text, sizeof(text), &z);
		frame(&s.in, FIN | RSV1 | BIN, NULL, z.p, z.len);
		free(z.p);
	}
	sb_str(&want, "TEXT [window bits nine]\nTEXT [window bits nine]\n");
	want_msg(&want, "BIN", text, sizeof(text));
	check_script(&s, (char *)want.p);
	/* 8 (zlib's compressor makes it 9) */
	s.df.max_window_bits = 8;
	check_script(&s, (char *)want.p);
	script_free(&s);
	zc_end(&c);
	free(want.p);
}

/* RSV1 without permessage-deflate negotiated: counted, inflated anyway. */
static void test_deflate_not_negotiated(void)
{
	struct script s = { 0 };
	struct zc c;

	zc_init(&c, 15);
	zframe(&s.in, &c, TEXT, NULL, "{\"type\":\"response.completed\"}");
	zframe(&s.in, &c, TEXT, NULL, "{\"type\":\"response.completed\"}");
	check_script(&s, "TEXT [{\"type\":\"response.completed\"}]\n"
		     "TEXT [{\"type\":\"response.completed\"}]\n");
	CHECK_EQ_INT(s.st.errors, 2);
	script_free(&s);
	zc_end(&c);
}

/* --- caps ----------------------------------------------------------------- */

static void test_oversized(void)
{
	static char text[3000];
	struct script s = { .cfg = { .max_message = 1000 }, .df = { .on = 1 } };
	struct sb want = { 0 }, z = { 0 };
	struct zc c;
	size_t i;

	for (i = 0; i < sizeof(text); i++)
		text[i] = 'A' + (i * 7 + i / 26 + i * i % 11) % 26;
	/* whole in one frame (handed out in place), fragmented, masked, compressed */
	frame(&s.in, FIN | TEXT, NULL, text, sizeof(text));
	frame(&s.in, TEXT, NULL, text, 999);
	frame(&s.in, CONT, NULL, text + 999, 2);
	frame(&s.in, FIN | CONT, NULL, text + 1001, sizeof(text) - 1001);
	frame(&s.in, FIN | TEXT, K1, text, sizeof(text));
	frame(&s.in, FIN | TEXT, NULL, text, 1000);		/* exactly the cap: fits */
	zc_init(&c, 15);
	zc_msg(&c, text, sizeof(text), &z);
	frame(&s.in, FIN | RSV1 | TEXT, NULL, z.p, z.len);
	/* the window kept the whole oversized message: this refers to its end */
	i = s.in.len;
	zframe_n(&s.in, &c, TEXT, NULL, text + 2000, 1000);
	CHECK(s.in.len - i < 40, "%zu bytes", s.in.len - i);
	for (i = 0; i < 3; i++)
		want_msg(&want, "TEXT over", text, 1000);
	want_msg(&want, "TEXT", text, 1000);
	want_msg(&want, "TEXT over", text, 1000);
	want_msg(&want, "TEXT", text + 2000, 1000);
	check_script(&s, (char *)want.p);
	CHECK_EQ_INT(s.st.oversized, 4);
	CHECK_EQ_INT(s.st.inflate_errors, 0);
	CHECK_EQ_INT(s.st.mask_mismatch, 1);
	script_free(&s);
	zc_end(&c);
	free(z.p);
	free(want.p);
}

static uint64_t mem_peak;

/* 100 MB of zeros in one message: stops at max_inflate, memory stays small. */
static void test_bomb(void)
{
	static uint8_t zeros[1 << 20];
	struct membudget mb;
	struct script s = { .cfg = { .max_message = 4096, .max_inflate = 1 << 20 },
			    .df = { .on = 1 }, .mb = &mb };
	struct sb z = { 0 }, want = { 0 };
	struct zc c;

	membudget_init(&mb, 0);
	zc_init(&c, 15);
	zc_msg_reps(&c, zeros, sizeof(zeros), 100, &z);
	CHECK(z.len < 200000, "bomb of %zu bytes", z.len);
	frame(&s.in, FIN | RSV1 | BIN, NULL, z.p, z.len);
	/* the window is gone: a message that refers back fails, one that does not is read */
	zframe_n(&s.in, &c, BIN, NULL, zeros, 300);
	deflateReset(&c.z);
	zframe(&s.in, &c, TEXT, NULL, "fresh");
	want_msg(&want, "BIN over inflate", zeros, 4096);
	sb_str(&want, "BIN inflate []\nTEXT [fresh]\n");
	check_script(&s, (char *)want.p);
	CHECK_EQ_INT(s.st.bombs, 1);
	CHECK_EQ_INT(s.st.oversized, 1);
	CHECK_EQ_INT(s.st.inflated_bytes, (1 << 20) + 1 + 5);
	CHECK_EQ_INT(s.st.inflate_errors, 2);
	/* message buffer, inflater state and window: well under 100 KiB */
	mem_peak = mb.peak;
	CHECK(mb.peak < 100 * 1024, "peak %llu", (unsigned long long)mb.peak);
	CHECK_EQ_INT(mb.used, 0);

	/* without context takeover nothing later needs the rest: inflating
	 * stops past max_message, no error */
	s.df.no_context_takeover = 1;
	script_free(&s);
	frame(&s.in, FIN | RSV1 | BIN, NULL, z.p, z.len);
	deflateReset(&c.z);
	zframe(&s.in, &c, TEXT, NULL, "fresh");
	want.len = 0;
	want_msg(&want, "BIN over", zeros, 4096);
	sb_str(&want, "TEXT [fresh]\n");
	check_script(&s, (char *)want.p);
	CHECK_EQ_INT(s.st.bombs, 0);
	CHECK_EQ_INT(s.st.inflated_bytes, 4097 + 5);
	script_free(&s);
	zc_end(&c);
	free(z.p);
	free(want.p);
}

/* --- errors and recovery ------------------------------------------------- */

static void test_protocol_errors(void)
{
	static char ping126[126];
	struct script s = { 0 };

	/* skipped whole, the fragmented message around them intact */
	frame_str(&s.in, TEXT, NULL, "frag");
	frame_str(&s.in, FIN | 3, NULL, "reserved data opcode");
	frame_str(&s.in, FIN | 0xb, NULL, "reserved control opcode");
	frame(&s.in, FIN | PING, NULL, ping126, sizeof(ping126));	/* too long */
	frame_str(&s.in, PING, NULL, "fragmented ping");
	frame_str(&s.in, FIN | RSV1 | PING, NULL, "compressed ping");
	frame_str(&s.in, FIN | CONT, NULL, "mented");
	check_script(&s, "TEXT [fragmented]\n");
	CHECK_EQ_INT(s.st.errors, 5);
	CHECK_EQ_INT(s.st.skipped, 20 + 23 + 126 + 15 + 15);
	script_free(&s);

	/* continuations without a start: skipped to their end */
	frame_str(&s.in, CONT, NULL, "orphan ");
	frame_str(&s.in, FIN | CONT, NULL, "continuation");
	frame_str(&s.in, FIN | TEXT, NULL, "ok");
	check_script(&s, "TEXT [ok]\n");
	CHECK_EQ_INT(s.st.errors, 1);
	CHECK_EQ_INT(s.st.skipped, 19);
	script_free(&s);

	/* a new message before the last one ended: the last is cut */
	frame_str(&s.in, TEXT, NULL, "never ");
	frame_str(&s.in, FIN | BIN, NULL, "next");
	check_script(&s, "TEXT trunc [never ]\nBIN [next]\n");
	CHECK_EQ_INT(s.st.errors, 1);
	script_free(&s);

	/* RSV2/RSV3 on data: the message is dropped (cut if it had begun) */
	frame_str(&s.in, FIN | RSV2 | TEXT, NULL, "rsv2");
	frame_str(&s.in, TEXT, NULL, "begun ");
	frame_str(&s.in, RSV3 | CONT, NULL, "rsv3 ");
	frame_str(&s.in, FIN | CONT, NULL, "end");
	frame_str(&s.in, FIN | TEXT, NULL, "ok");
	check_script(&s, "TEXT trunc [begun ]\nTEXT [ok]\n");
	CHECK_EQ_INT(s.st.errors, 2);
	script_free(&s);

	/* RSV1 on a continuation: counted, ignored */
	s.df.on = 1;
	frame_str(&s.in, TEXT, NULL, "plain ");
	frame_str(&s.in, FIN | RSV1 | CONT, NULL, "text");
	check_script(&s, "TEXT [plain text]\n");
	CHECK_EQ_INT(s.st.errors, 1);
	script_free(&s);
	s.df.on = 0;

	/* a 64-bit length with the top bit: framing is lost */
	frame_str(&s.in, TEXT, NULL, "cut ");
	sb_add(&s.in, "\x80\x7f\x80\x00\x00\x00\x00\x00\x00\x01", 10);
	frame_str(&s.in, FIN | TEXT, NULL, "not read");
	check_script(&s, "TEXT trunc [cut ]\n");
	CHECK_EQ_INT(s.st.stops, 1);
	CHECK_EQ_INT(s.st.skipped, 10);
	script_free(&s);

	/* corrupt compressed data: the message fails, the next is read */
	s.df.on = 1;
	frame(&s.in, FIN | RSV1 | TEXT, NULL, "\xff\xff\xff\xff", 4);
	frame(&s.in, FIN | RSV1 | TEXT, NULL, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7);
	frame(&s.in, FIN | RSV1 | TEXT, NULL, "\x02\x00", 2);	/* empty, flushed */
	check_script(&s, "TEXT inflate []\nTEXT [Hello]\nTEXT []\n");
	script_free(&s);
	frame(&s.in, FIN | RSV1 | TEXT, NULL, "\xf2\x48\xcd", 3);	/* not ended by a flush */
	frame(&s.in, FIN | RSV1 | TEXT, NULL, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7);
	check_script(&s, NULL);
	CHECK_EQ_INT(s.st.messages, 2);
	CHECK_EQ_INT(s.st.inflate_errors, 1);
	script_free(&s);
}

/* Bytes that are no WebSocket at all: no crash, the same whatever the cuts. */
static void test_garbage(void)
{
	struct script s = { .df = { .on = 1 } };
	uint32_t x = 12345;
	size_t i;

	for (i = 0; i < 3000; i++) {
		uint8_t b;

		x = x * 1103515245 + 12345;
		b = x >> 16;
		sb_add(&s.in, &b, 1);
	}
	check_script(&s, NULL);
	script_free(&s);
	sb_str(&s.in, "GET /v1/responses HTTP/1.1\r\nHost: api.openai.com\r\n\r\n");
	s.masked = 1;
	check_script(&s, NULL);
	script_free(&s);
}

/* --- gaps and eof ---------------------------------------------------------- */

static void test_gaps(void)
{
	struct script s = { .masked = 1 };

	/* inside a payload: the message is cut, its later frames skipped, framing kept */
	frame_str(&s.in, TEXT, K1, "first ");
	s.in.len -= 2;
	gap(&s, 2);
	frame_str(&s.in, CONT, K2, "lost");
	frame_str(&s.in, FIN | CONT, K1, "end");
	frame_str(&s.in, FIN | TEXT, K1, "next");
	check_script(&s, "TEXT trunc [firs]\nTEXT [next]\n");
	CHECK_EQ_INT(s.st.gaps, 1);
	CHECK_EQ_INT(s.st.truncated, 1);
	CHECK_EQ_INT(s.st.skipped, 7);
	script_free(&s);

	/* a gap that ends a frame's payload exactly: kept; a gap in a ping: kept */
	frame_str(&s.in, FIN | TEXT, K1, "whole but lost");
	s.in.len -= 4;
	gap(&s, 4);
	frame_str(&s.in, FIN | PING, K2, "ping");
	s.in.len -= 2;
	gap(&s, 2);
	frame_str(&s.in, FIN | TEXT, K1, "ok");
	check_script(&s, "TEXT trunc [whole but ]\nTEXT [ok]\n");
	script_free(&s);

	/* in a frame header, or past the payload: framing lost */
	frame_str(&s.in, TEXT, K1, "header ");
	sb_add(&s.in, "\x80", 1);	/* a header's first byte */
	gap(&s, 3);
	frame_str(&s.in, FIN | TEXT, K1, "unread");
	check_script(&s, "TEXT trunc [header ]\n");
	CHECK_EQ_INT(s.st.stops, 1);
	CHECK_EQ_INT(s.st.skipped, 12);
	script_free(&s);

	frame_str(&s.in, FIN | TEXT, K1, "past the end");
	s.in.len -= 3;
	gap(&s, 10);
	frame_str(&s.in, FIN | TEXT, K1, "unread");
	check_script(&s, "TEXT trunc [past the ]\n");
	CHECK_EQ_INT(s.st.stops, 1);
	script_free(&s);

	/* between frames, unknown length: lost; later gaps only counted */
	frame_str(&s.in, FIN | TEXT, K1, "before");
	gap(&s, WS_GAP_UNKNOWN);
	frame_str(&s.in, FIN | TEXT, K1, "unread");
	gap(&s, 5);
	check_script(&s, "TEXT [before]\n");
	CHECK_EQ_INT(s.st.gaps, 2);
	CHECK_EQ_INT(s.st.gap_bytes, 5);
	script_free(&s);

	/* a close: its code is reported if it came before the gap */
	close_frame(&s.in, K1, 1001, "going away");
	s.in.len -= 3;
	gap(&s, 3);
	check_script(&s, "CLOSE 1001\n");
	script_free(&s);
	close_frame(&s.in, K1, 1001, "going away");
	s.in.len -= 11;		/* the code's first byte came */
	gap(&s, 11);
	check_script(&s, "CLOSE 1005\n");
	script_free(&s);

	/* a compressed message cut: the window is dropped; what refers back
	 * fails, a message that does not is read */
	{
		struct zc c;
		struct sb z = { 0 };

		s.df.on = 1;
		zc_init(&c, 15);
		zframe(&s.in, &c, TEXT, K1, "{\"type\":\"response.output_text.delta\"}");
		zc_msg(&c, "{\"type\":\"response.output_text.delta\",\"delta\":\"abc\"}", 52, &z);
		frame(&s.in, FIN | RSV1 | TEXT, K2, z.p, z.len);
		s.in.len -= 3;
		gap(&s, 3);
		zframe(&s.in, &c, TEXT, K1, "{\"type\":\"response.output_text.delta\"}");
		deflateReset(&c.z);
		zframe(&s.in, &c, TEXT, K1, "{\"type\":\"response.completed\"}");
		check_script(&s, NULL);
		free(z.p);
		zc_end(&c);
	}
	CHECK_EQ_INT(s.st.messages, 4);
	CHECK_EQ_INT(s.st.truncated, 1);
	CHECK_EQ_INT(s.st.inflate_errors, 1);
	script_free(&s);
}

static void test_eof(void)
{
	struct script s = { 0 };
	struct ws_parser *p;
	struct rec r = { 0 };

	frame_str(&s.in, TEXT, NULL, "unfinished ");
	frame_str(&s.in, FIN | CONT, NULL, "message");
	s.in.len -= 3;
	check_script(&s, "TEXT trunc [unfinished mess]\n");
	script_free(&s);
	frame_str(&s.in, FIN | TEXT, NULL, "ok");
	sb_add(&s.in, "\x81", 1);	/* a header cut */
	check_script(&s, "TEXT [ok]\n");
	script_free(&s);

	/* after eof: -EPIPE; eof and gaps again are no-ops */
	p = ws_parser__new(NULL, NULL, 0, &cbs, &r);
	r.s = &s;
	CHECK_EQ_INT(ws_parser__eof(p), 0);
	CHECK_EQ_INT(ws_parser__feed(p, (const uint8_t *)"\x81\x00", 2), -EPIPE);
	CHECK_EQ_INT(ws_parser__eof(p), 0);
	CHECK_EQ_INT(ws_parser__gap(p, 10), 0);
	ws_parser__free(p);
	ws_parser__free(NULL);
	free(r.log.p);
}

static void test_callback_error(void)
{
	struct script s = { .stop_at = 2 };
	struct ws_parser *p;
	struct rec r = { 0 };

	frame_str(&s.in, FIN | TEXT, NULL, "one");
	frame_str(&s.in, FIN | TEXT, NULL, "two");
	frame_str(&s.in, FIN | TEXT, NULL, "three");
	check_script(&s, "TEXT [one]\nTEXT [two]\nERR -125\nEOF ERR -125\n");

	/* sticky */
	r.s = &s;
	s.stop_at = 1;
	p = ws_parser__new(NULL, NULL, 0, &cbs, &r);
	CHECK_EQ_INT(ws_parser__feed(p, s.in.p, s.in.len), -ECANCELED);
	CHECK_EQ_INT(ws_parser__feed(p, s.in.p, 1), -ECANCELED);
	CHECK_EQ_INT(ws_parser__gap(p, 1), -ECANCELED);
	CHECK_EQ_INT(ws_parser__eof(p), -ECANCELED);
	ws_parser__free(p);
	free(r.log.p);
	script_free(&s);
}

/* Under a memory bound: a message the bound refuses is shed, later ones come,
 * and every byte charged is given back. */
static void test_budget_shed(void)
{
	static char big[8192];
	struct membudget mb;
	struct script s = { .mb = &mb, .df = { .on = 1 } };
	struct zc c;

	memset(big, 'x', sizeof(big));
	membudget_init(&mb, 4096);
	frame(&s.in, TEXT, NULL, big, 3000);
	frame(&s.in, FIN | CONT, NULL, big, 3000);
	frame_str(&s.in, FIN | TEXT, NULL, "small");
	frame_str(&s.in, TEXT, NULL, "in ");
	frame_str(&s.in, FIN | CONT, NULL, "pieces");
	/* the inflater needs more than the bound */
	zc_init(&c, 15);
	zframe(&s.in, &c, TEXT, NULL, "compressed");
	check_script(&s, "TEXT shed []\nTEXT [small]\nTEXT [in pieces]\nTEXT shed []\n");
	CHECK_EQ_INT(s.st.shed, 2);
	CHECK(mb.peak <= mb.limit, "peak %llu", (unsigned long long)mb.peak);
	CHECK_EQ_INT(mb.used, 0);

	/* room for the inflater's state, not its window */
	membudget_init(&mb, 20000);
	check_script(&s, NULL);
	CHECK_EQ_INT(s.st.messages, 4);
	CHECK_EQ_INT(s.st.shed, 1);
	CHECK_EQ_INT(mb.used, 0);

	/* room for the inflater: read */
	membudget_init(&mb, 256 << 10);
	check_script(&s, NULL);
	CHECK_EQ_INT(s.st.messages, 4);
	CHECK_EQ_INT(s.st.shed, 0);
	CHECK_EQ_INT(mb.used, 0);
	script_free(&s);
	zc_end(&c);
}

/* Defaults and limits at their ends. */
static void test_config(void)
{
	struct script s = { .df = { .on = 1 } };
	struct zc c;

	zc_init(&c, 15);
	zframe(&s.in, &c, TEXT, NULL, "eleven byte");
	/* max_inflate below max_message is raised to it: 11 bytes pass both */
	s.cfg = (struct ws_cfg){ .max_message = 10, .max_inflate = 1 };
	check_script(&s, "TEXT over inflate [eleven byt]\n");
	CHECK_EQ_INT(s.st.bombs, 1);
	s.cfg = (struct ws_cfg){ .max_message = 11, .max_inflate = 1 };
	check_script(&s, "TEXT [eleven byte]\n");
	s.cfg = (struct ws_cfg){ .max_message = SIZE_MAX, .max_inflate = UINT64_MAX };
	check_script(&s, "TEXT [eleven byte]\n");
	s.cfg = (struct ws_cfg){ 0 };
	check_script(&s, "TEXT [eleven byte]\n");
	s.df.no_context_takeover = 1;
	s.cfg = (struct ws_cfg){ .max_message = SIZE_MAX };
	check_script(&s, "TEXT [eleven byte]\n");
	s.cfg = (struct ws_cfg){ .max_message = 4 };
	check_script(&s, "TEXT over [elev]\n");
	CHECK_EQ_INT(s.st.inflated_bytes, 5);
	script_free(&s);
	zc_end(&c);
}

/* --- Sec-WebSocket-Extensions --------------------------------------------- */

#define PARSE(str, c, s) ws_extensions_parse((str), strlen(str), (c), (s))

static void test_extensions(void)
{
	struct ws_deflate c, s;

	CHECK_EQ_INT(PARSE("permessage-deflate", &c, &s), 1);
	CHECK(c.on && s.on && !c.no_context_takeover && !s.no_context_takeover &&
	      !c.max_window_bits && !s.max_window_bits, "plain");
	CHECK_EQ_INT(PARSE("permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
			   &c, &s), 1);
	CHECK(s.no_context_takeover && !c.no_context_takeover && c.max_window_bits == 10 &&
	      !s.max_window_bits, "params");
	CHECK_EQ_INT(PARSE("Permessage-Deflate ;client_no_context_takeover ;"
			   "server_max_window_bits=\"12\"", &c, &s), 1);
	CHECK(c.no_context_takeover && s.max_window_bits == 12 && !c.max_window_bits, "quoted");
	/* other extensions, before and after; only the first offer counts */
	CHECK_EQ_INT(PARSE("x-webkit-deflate-frame; no_context_takeover, permessage-deflate;"
			   "server_max_window_bits=9, permessage-deflate; client_max_window_bits=8",
			   &c, &s), 1);
	CHECK(s.max_window_bits == 9 && !c.max_window_bits, "first wins");
	CHECK_EQ_INT(PARSE("  permessage-deflate  ;  client_max_window_bits = 15 , foo", &c, &s), 1);
	CHECK(c.max_window_bits == 15, "spaces");
	/* none */
	c.on = s.on = 7;
	CHECK_EQ_INT(PARSE("", &c, &s), 0);
	CHECK(!c.on && !s.on, "empty");
	CHECK_EQ_INT(PARSE("permessage-deflatex, deflate-frame", &c, &s), 0);
	CHECK_EQ_INT(ws_extensions_parse(NULL, 0, &c, &s), 0);
	CHECK_EQ_INT(PARSE("permessage-deflate", NULL, NULL), 1);
	/* wrong: on anyway, window 15 where the value was bad */
	CHECK_EQ_INT(PARSE("permessage-deflate; server_max_window_bits=7", &c, &s), -EBADMSG);
	CHECK(c.on && s.on && s.max_window_bits == 15, "bits 7");
	CHECK_EQ_INT(PARSE("permessage-deflate; client_max_window_bits=16", &c, &s), -EBADMSG);
	CHECK_EQ_INT(PARSE("permessage-deflate; client_max_window_bits=010", &c, &s), -EBADMSG);
	CHECK_EQ_INT(PARSE("permessage-deflate; client_max_window_bits", &c, &s), -EBADMSG);
	CHECK(c.max_window_bits == 15, "no value");
	CHECK_EQ_INT(PARSE("permessage-deflate; server_no_context_takeover=1", &c, &s), -EBADMSG);
	CHECK(s.no_context_takeover, "value on a flag");
	CHECK_EQ_INT(PARSE("permessage-deflate; server_no_context_takeover; server_no_context_takeover",
			   &c, &s), -EBADMSG);
	CHECK_EQ_INT(PARSE("permessage-deflate; mystery=1", &c, &s), -EBADMSG);
	CHECK_EQ_INT(PARSE("permessage-deflate; server_max_window_bits=\"10", &c, &s), -EBADMSG);
	CHECK_EQ_INT(PARSE("permessage-deflate; ; server_no_context_takeover", &c, &s), -EBADMSG);
	CHECK_EQ_INT(PARSE("permessage-deflate client_no_context_takeover", &c, &s), -EBADMSG);
	/* bad syntax in someone else's extension is theirs */
	CHECK_EQ_INT(PARSE("foo; a=\"x,y\"; =, permessage-deflate; server_no_context_takeover",
			   &c, &s), 1);
	CHECK(s.no_context_takeover, "after a bad one");
}

/* --- a Responses API exchange ----------------------------------------------- */

static const char *const client_msgs[] = {
	"{\"type\":\"response.create\",\"model\":\"gpt-4o\",\"input\":[{\"role\":\"user\","
	"\"content\":[{\"type\":\"input_text\",\"text\":\"Say hello in one word.\"}]}],"
	"\"max_output_tokens\":16}",
};

static const char *const server_msgs[] = {
	"{\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_68a1c0f2\","
	"\"object\":\"response\",\"created_at\":1755430130,\"status\":\"in_progress\","
	"\"model\":\"gpt-4o-2024-08-06\",\"output\":[],\"usage\":null}}",
	"{\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{\"id\":\"resp_68a1c0f2\","
	"\"object\":\"response\",\"status\":\"in_progress\",\"model\":\"gpt-4o-2024-08-06\","
	"\"output\":[],\"usage\":null}}",
	"{\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"item_id\":\"msg_68a1c0f3\","
	"\"output_index\":0,\"content_index\":0,\"delta\":\"Hello\",\"logprobs\":[]}",
	"{\"type\":\"response.output_text.delta\",\"sequence_number\":5,\"item_id\":\"msg_68a1c0f3\","
	"\"output_index\":0,\"content_index\":0,\"delta\":\"!\",\"logprobs\":[]}",
	"{\"type\":\"response.completed\",\"sequence_number\":9,\"response\":{\"id\":\"resp_68a1c0f2\","
	"\"object\":\"response\",\"created_at\":1755430130,\"status\":\"completed\","
	"\"model\":\"gpt-4o-2024-08-06\",\"output\":[{\"id\":\"msg_68a1c0f3\",\"type\":\"message\","
	"\"status\":\"completed\",\"content\":[{\"type\":\"output_text\",\"annotations\":[],"
	"\"logprobs\":[],\"text\":\"Hello!\"}],\"role\":\"assistant\"}],\"usage\":{\"input_tokens\":14,"
	"\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":3,"
	"\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":17}}}",
};

#define NSERVER (sizeof(server_msgs) / sizeof(server_msgs[0]))

struct got {
	unsigned n;
	char *msg[8];
	int closed;
};

static int got_message(void *ctx, int op, const uint8_t *d, size_t len, unsigned flags)
{
	struct got *g = ctx;

	CHECK(op == WS_MSG_TEXT && !flags, "op %d flags %u", op, flags);
	if (g->n < 8)
		g->msg[g->n] = strndup((const char *)d, len);
	g->n++;
	return 0;
}

static int got_close(void *ctx, uint16_t code)
{
	struct got *g = ctx;

	g->closed = code;
	return 0;
}

static void got_free(struct got *g)
{
	unsigned i;

	for (i = 0; i < 8 && i < g->n; i++)
		free(g->msg[i]);
}

/* One direction through a parser made as the agent would, fed in 7-byte pieces. */
static void decode_direction(const struct sb *in, const struct ws_deflate *df, int masked,
			     struct got *g)
{
	static const struct ws_callbacks cb = { got_message, got_close };
	struct ws_cfg cfg = { .max_message = 1 << 20, .max_inflate = 16 << 20 };
	struct ws_parser *p = ws_parser__new(&cfg, df, masked, &cb, g);
	struct ws_stats st;
	size_t pos, n;

	for (pos = 0; pos < in->len; pos += n) {
		n = in->len - pos < 7 ? in->len - pos : 7;
		CHECK_EQ_INT(ws_parser__feed(p, in->p + pos, n), n);
	}
	CHECK_EQ_INT(ws_parser__eof(p), 0);
	ws_parser__stats(p, &st);
	CHECK_EQ_INT(st.errors + st.mask_mismatch + st.truncated + st.skipped, 0);
	ws_parser__free(p);
}

static void responses_exchange(const char *ext, int compress)
{
	struct sb up = { 0 }, down = { 0 }, z = { 0 };
	struct ws_deflate c2s, s2c;
	struct got gu = { 0 }, gd = { 0 };
	struct script s = { 0 };
	struct sb want = { 0 };
	struct zc cz, sz;
	size_t i;

	CHECK(ws_extensions_parse(ext, strlen(ext), &c2s, &s2c) == (compress ? 1 : 0), "%s", ext);
	zc_init(&cz, c2s.max_window_bits ? c2s.max_window_bits : 15);
	zc_init(&sz, s2c.max_window_bits ? s2c.max_window_bits : 15);
	/* client: response.create, masked; later a pong and the close */
	if (compress)
		zframe(&up, &cz, TEXT, K1, client_msgs[0]);
	else
		frame_str(&up, FIN | TEXT, K1, client_msgs[0]);
	frame_str(&up, FIN | PONG, K2, "hb");
	close_frame(&up, K1, 1000, "");
	/* server: events, a ping among them, response.completed in two fragments */
	for (i = 0; i < NSERVER; i++) {
		if (i == 2)
			frame_str(&down, FIN | PING, NULL, "hb");
		if (!compress && i < NSERVER - 1) {
			frame_str(&down, FIN | TEXT, NULL, server_msgs[i]);
		} else if (i < NSERVER - 1) {
			zframe(&down, &sz, TEXT, NULL, server_msgs[i]);
			if (s2c.no_context_takeover)
				deflateReset(&sz.z);
		} else {
			z.len = 0;
			if (compress)
				zc_msg(&sz, server_msgs[i], strlen(server_msgs[i]), &z);
			else
				sb_add(&z, server_msgs[i], strlen(server_msgs[i]));
			frame(&down, (compress ? RSV1 : 0) | TEXT, NULL, z.p, z.len / 2);
			frame(&down, FIN | CONT, NULL, z.p + z.len / 2, z.len - z.len / 2);
		}
	}
	close_frame(&down, NULL, 1000, "");

	decode_direction(&up, &c2s, 1, &gu);
	CHECK_EQ_INT(gu.n, 1);
	CHECK(gu.n == 1 && !strcmp(gu.msg[0], client_msgs[0]), "%s", gu.msg[0]);
	CHECK_EQ_INT(gu.closed, 1000);
	decode_direction(&down, &s2c, 0, &gd);
	CHECK_EQ_INT(gd.n, NSERVER);
	for (i = 0; i < NSERVER && i < gd.n; i++)
		CHECK(!strcmp(gd.msg[i], server_msgs[i]), "%zu: %s", i, gd.msg[i]);
	CHECK(gd.n == NSERVER && strstr(gd.msg[NSERVER - 1], "\"usage\":{\"input_tokens\":14,"),
	      "usage");
	CHECK_EQ_INT(gd.closed, 1000);

	/* the server direction at every split and byte by byte */
	s.df = s2c;
	sb_add(&s.in, down.p, down.len);
	for (i = 0; i < NSERVER; i++)
		want_msg(&want, "TEXT", server_msgs[i], strlen(server_msgs[i]));
	sb_str(&want, "CLOSE 1000\n");
	check_script(&s, (char *)want.p);
	script_free(&s);

	got_free(&gu);
	got_free(&gd);
	zc_end(&cz);
	zc_end(&sz);
	free(up.p);
	free(down.p);
	free(z.p);
	free(want.p);
}

static void test_responses_api(void)
{
	responses_exchange("permessage-deflate; client_max_window_bits=15", 1);
	responses_exchange("permessage-deflate; server_no_context_takeover; "
			   "server_max_window_bits=12; client_max_window_bits=12", 1);
	responses_exchange("", 0);
}

int main(void)
{
	RUN(test_rfc6455_examples);
	RUN(test_lengths);
	RUN(test_fragmented);
	RUN(test_close);
	RUN(test_rfc7692_examples);
	RUN(test_deflate_takeover);
	RUN(test_deflate_no_takeover);
	RUN(test_deflate_window_bits);
	RUN(test_deflate_not_negotiated);
	RUN(test_oversized);
	RUN(test_bomb);
	RUN(test_protocol_errors);
	RUN(test_garbage);
	RUN(test_gaps);
	RUN(test_eof);
	RUN(test_callback_error);
	RUN(test_budget_shed);
	RUN(test_config);
	RUN(test_extensions);
	RUN(test_responses_api);
	return tap_done();
}
