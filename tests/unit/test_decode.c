// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Content-Encoding decoder tests.  Compressed inputs are made here with each
 * library's own streaming compressor, decoded whole, cut in two at every
 * offset and one byte at a time; truncated, corrupt and trailing input must
 * fail; 1 GiB bombs must stop at max_out without memory growing.
 *
 * libbrotlienc is not among the libraries the Makefile links: its functions
 * are weak here, and the tests that need a brotli encoder are skipped when it
 * is absent (a fixed brotli stream is still decoded).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/resource.h>
#include <zlib.h>
#include <zstd.h>
#include <brotli/encode.h>
#include <json-c/json.h>
#include "fixtures.h"
#include "tap.h"
#include "decode.h"

#pragma weak BrotliEncoderCreateInstance
#pragma weak BrotliEncoderSetParameter
#pragma weak BrotliEncoderCompressStream
#pragma weak BrotliEncoderHasMoreOutput
#pragma weak BrotliEncoderIsFinished
#pragma weak BrotliEncoderDestroyInstance

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

static int collect(void *ctx, const uint8_t *out, size_t len)
{
	sb_add(ctx, out, len);
	return 0;
}

static int have_brotli_encoder(void)
{
	return BrotliEncoderCreateInstance != NULL;
}

/* --- compressors -------------------------------------------------------- */

enum codec { GZIP, ZLIB, RAW, BR, ZSTD };

static void deflate_stream(int wbits, int level, int strategy, const uint8_t *in, size_t n,
			   uint64_t reps, struct sb *out)
{
	uint8_t buf[1 << 16];
	z_stream z = { 0 };
	int rc = Z_OK;

	deflateInit2(&z, level, Z_DEFLATED, wbits, 8, strategy);
	for (; reps; reps--) {
		z.next_in = (uint8_t *)in;
		z.avail_in = n;
		while (z.avail_in) {
			z.next_out = buf;
			z.avail_out = sizeof(buf);
			deflate(&z, Z_NO_FLUSH);
			sb_add(out, buf, sizeof(buf) - z.avail_out);
		}
	}
	while (rc != Z_STREAM_END) {
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		rc = deflate(&z, Z_FINISH);
		sb_add(out, buf, sizeof(buf) - z.avail_out);
	}
	deflateEnd(&z);
}

static void brotli_stream(int quality, const uint8_t *in, size_t n, uint64_t reps, struct sb *out)
{
	BrotliEncoderState *s = BrotliEncoderCreateInstance(NULL, NULL, NULL);
	uint8_t buf[1 << 16], *next_out;
	const uint8_t *next_in;
	size_t avail_in, avail_out;

	BrotliEncoderSetParameter(s, BROTLI_PARAM_QUALITY, quality);
	for (; reps; reps--) {
		next_in = in;
		avail_in = n;
		while (avail_in || BrotliEncoderHasMoreOutput(s)) {
			next_out = buf;
			avail_out = sizeof(buf);
			BrotliEncoderCompressStream(s, BROTLI_OPERATION_PROCESS, &avail_in, &next_in,
						    &avail_out, &next_out, NULL);
			sb_add(out, buf, sizeof(buf) - avail_out);
		}
	}
	while (!BrotliEncoderIsFinished(s)) {
		next_out = buf;
		avail_out = sizeof(buf);
		avail_in = 0;
		BrotliEncoderCompressStream(s, BROTLI_OPERATION_FINISH, &avail_in, &next_in,
					    &avail_out, &next_out, NULL);
		sb_add(out, buf, sizeof(buf) - avail_out);
	}
	BrotliEncoderDestroyInstance(s);
}

static void zstd_stream(const uint8_t *in, size_t n, uint64_t reps, int window_log, struct sb *out)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	uint8_t buf[1 << 16];
	ZSTD_outBuffer ob;
	ZSTD_inBuffer ib;
	size_t left = 1;

	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	if (window_log)
		ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, window_log);
	for (; reps; reps--) {
		ib = (ZSTD_inBuffer){ in, n, 0 };
		while (ib.pos < ib.size) {
			ob = (ZSTD_outBuffer){ buf, sizeof(buf), 0 };
			ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_continue);
			sb_add(out, buf, ob.pos);
		}
	}
	ib = (ZSTD_inBuffer){ NULL, 0, 0 };
	while (left) {
		ob = (ZSTD_outBuffer){ buf, sizeof(buf), 0 };
		left = ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end);
		sb_add(out, buf, ob.pos);
	}
	ZSTD_freeCCtx(c);
}

/* reps copies of in[0..n), compressed with codec. */
static void make_stream(enum codec codec, const uint8_t *in, size_t n, uint64_t reps, struct sb *out)
{
	switch (codec) {
	case GZIP: deflate_stream(16 + 15, 6, Z_DEFAULT_STRATEGY, in, n, reps, out); break;
	case ZLIB: deflate_stream(15, 6, Z_DEFAULT_STRATEGY, in, n, reps, out); break;
	case RAW: deflate_stream(-15, 6, Z_DEFAULT_STRATEGY, in, n, reps, out); break;
	case BR: brotli_stream(5, in, n, reps, out); break;
	case ZSTD: zstd_stream(in, n, reps, 0, out); break;
	}
}

static const struct coding {
	const char *enc;	/* Content-Encoding */
	enum codec codec;
	const char *name;
} codings[] = {
	{ "gzip", GZIP, "gzip" },
	{ "deflate", ZLIB, "deflate (zlib)" },
	{ "deflate", RAW, "deflate (raw)" },
	{ "br", BR, "br" },
	{ "zstd", ZSTD, "zstd" },
};
#define NCODINGS (sizeof(codings) / sizeof(codings[0]))

static int usable(const struct coding *c)
{
	return c->codec != BR || have_brotli_encoder();
}

/* Some text that compresses like an API response. */
static void make_text(struct sb *t, size_t n)
{
	static const char *const words[] = {
		"data: ", "{\"id\":\"chatcmpl-", "\"choices\":[{\"delta\":", "\"content\":\"",
		"token", "usage", "\n\n", "model", "the ", "of ", "and ", "stream", "\"},",
		"input_tokens", "0123", "ß€", "message_delta", " ",
	};
	uint32_t x = 12345;
	const char *w;

	t->len = 0;
	while (t->len < n) {
		x = x * 1103515245 + 12345;
		w = words[(x >> 16) % (sizeof(words) / sizeof(words[0]))];
		sb_add(t, w, strlen(w));
	}
	t->len = n;
}

/* --- decoding ----------------------------------------------------------- */

#define CUT_BYTES SIZE_MAX

/* Decodes in cut at cut (0 whole, CUT_BYTES byte by byte) into out; returns
 * the first error of feed or finish. */
static int decode(const char *enc, uint64_t max_out, const uint8_t *in, size_t len, size_t cut,
		  struct sb *out)
{
	struct decoder *d = decoder__new(enc, strlen(enc), max_out, NULL);
	size_t pos, n;
	int rc = 0;

	out->len = 0;
	for (pos = 0; pos < len && !rc; pos += n) {
		n = cut == CUT_BYTES ? 1 : cut > pos && cut < len ? cut - pos : len - pos;
		rc = decoder__feed(d, in + pos, n, collect, out);
	}
	if (!rc)
		rc = decoder__finish(d, collect, out);
	CHECK_EQ_INT(decoder__total_out(d), out->len);
	decoder__free(d);
	return rc;
}

/* Whole, every stride-th cut, byte by byte: each gives rc and want. */
static void check_decode(const char *what, const char *enc, uint64_t max_out, const struct sb *in,
			 int rc, const uint8_t *want, size_t want_len, size_t stride)
{
	struct sb out = { 0 };
	size_t cut = 0;

	for (;;) {
		int got = decode(enc, max_out, in->p, in->len, cut, &out);

		CHECK(got == rc && out.len == want_len && (!want_len || !memcmp(out.p, want, want_len)),
		      "%s, cut at %zd of %zu: rc %d (want %d), %zu bytes out (want %zu)",
		      what, (ssize_t)cut, in->len, got, rc, out.len, want_len);
		if (cut == CUT_BYTES || tap_cur_failed)
			break;
		cut = cut + stride < in->len ? cut + stride : CUT_BYTES;
	}
	free(out.p);
}

static void test_roundtrip(void)
{
	struct sb text = { 0 }, z = { 0 }, zz = { 0 };
	size_t i;

	make_text(&text, 3000);
	for (i = 0; i < NCODINGS; i++) {
		if (!usable(&codings[i]))
			continue;
		z.len = 0;
		make_stream(codings[i].codec, text.p, text.len, 1, &z);
		check_decode(codings[i].name, codings[i].enc, UINT64_MAX, &z, 0, text.p, text.len, 1);
	}
	/* listed in the order applied: gzip first, then zstd (and br) */
	z.len = zz.len = 0;
	make_stream(GZIP, text.p, text.len, 1, &z);
	make_stream(ZSTD, z.p, z.len, 1, &zz);
	check_decode("gzip, zstd", "gzip, zstd", UINT64_MAX, &zz, 0, text.p, text.len, 1);
	if (have_brotli_encoder()) {
		z.len = 0;
		make_stream(BR, zz.p, zz.len, 1, &z);
		check_decode("gzip, zstd, br", " GZIP ,zstd,identity, Br", UINT64_MAX, &z, 0,
			     text.p, text.len, 1);
	}
	free(text.p);
	free(z.p);
	free(zz.p);
}

static void test_large_output(void)
{
	struct sb text = { 0 }, z = { 0 };
	size_t i;

	/* several output buffers per input byte at the end */
	make_text(&text, 300 * 1024);
	for (i = 0; i < NCODINGS; i++) {
		if (!usable(&codings[i]))
			continue;
		z.len = 0;
		make_stream(codings[i].codec, text.p, text.len, 1, &z);
		check_decode(codings[i].name, codings[i].enc, UINT64_MAX, &z, 0, text.p, text.len, 997);
		/* max_out: exactly that much comes out, then -EFBIG */
		check_decode(codings[i].name, codings[i].enc, 100000, &z, -EFBIG, text.p, 100000, 4999);
	}
	free(text.p);
	free(z.p);
}

static void test_brotli_fixed(void)
{
	static const uint8_t br[] =
		"\x1b\x65\x00\x00\x04\x54\x39\xaf\xd0\x52\xc1\x99\x8c\xe0\x39\x6c"
		"\xc0\x81\x43\xf6\x3c\xd0\x4a\x83\x0c\x1e\xb2\x52\x8e\x60\xfd\x74"
		"\xd3\x30\xed\xad\x91\x5b\xda\x9c\x16\xcc\x58\xf3\xb7\x0f\x33";
	static const char text[] =
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
	struct sb in = { (uint8_t *)br, sizeof(br) - 1, 0 };

	check_decode("br", "br", UINT64_MAX, &in, 0, (const uint8_t *)text, sizeof(text) - 1, 1);
}

static void test_identity(void)
{
	static const char *const encs[] = { "", "identity", " Identity ,  ", "identity, identity" };
	static const uint8_t in[] = "plain bytes";
	struct sb out = { 0 };
	struct decoder *d;
	size_t i;

	for (i = 0; i < sizeof(encs) / sizeof(encs[0]); i++) {
		struct sb s = { (uint8_t *)in, sizeof(in) - 1, 0 };

		check_decode(encs[i], encs[i], UINT64_MAX, &s, 0, in, sizeof(in) - 1, 1);
		check_decode(encs[i], encs[i], 5, &s, -EFBIG, in, 5, 1);
	}
	d = decoder__new(NULL, 0, UINT64_MAX, NULL);
	CHECK_EQ_INT(decoder__feed(d, in, 5, collect, &out), 0);
	CHECK_EQ_INT(decoder__finish(d, collect, &out), 0);
	CHECK(out.len == 5 && !memcmp(out.p, in, 5), "NULL encoding");
	decoder__free(d);
	decoder__free(NULL);
	free(out.p);
}

static const uint8_t *seen_ptr;

static int remember(void *ctx, const uint8_t *out, size_t len)
{
	seen_ptr = out;
	return 0;
}

static void test_identity_zero_copy(void)
{
	static const uint8_t in[] = "hand me straight through";
	struct decoder *d = decoder__new("identity", 8, UINT64_MAX, NULL);

	CHECK_EQ_INT(decoder__feed(d, in, sizeof(in), remember, NULL), 0);
	CHECK(seen_ptr == in, "identity copied the input");
	decoder__free(d);
}

static void test_coding_list(void)
{
	static const char *const bad[] = {
		"compress", "gzip, foo", "gzip;q=1", "gzip br", "gzip, gzip, gzip, gzip, gzip",
	};
	struct decoder *d;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		CHECK(!decoder__new(bad[i], strlen(bad[i]), 10, NULL) && errno == ENOTSUP, "%s", bad[i]);
	}
	/* the length is what counts, not a NUL */
	d = decoder__new("gzipXXX", 4, 10, NULL);
	CHECK(d != NULL, "length ignored");
	decoder__free(d);
}

/* --- bad input ---------------------------------------------------------- */

static void test_truncated(void)
{
	struct sb text = { 0 }, z = { 0 }, prefix, out = { 0 };
	size_t i, k;
	int rc;

	make_text(&text, 3000);
	for (i = 0; i < NCODINGS && !tap_cur_failed; i++) {
		if (!usable(&codings[i]))
			continue;
		z.len = 0;
		make_stream(codings[i].codec, text.p, text.len, 1, &z);
		/* an empty body is not an error */
		prefix = (struct sb){ z.p, 0, 0 };
		CHECK_EQ_INT(decode(codings[i].enc, UINT64_MAX, prefix.p, 0, 0, &out), 0);
		for (k = 1; k < z.len && !tap_cur_failed; k++) {
			rc = decode(codings[i].enc, UINT64_MAX, z.p, k, 0, &out);
			CHECK(rc == -EBADMSG && out.len <= text.len &&
			      (!out.len || !memcmp(out.p, text.p, out.len)),
			      "%s cut to %zu of %zu: rc %d, %zu bytes out", codings[i].name, k, z.len,
			      rc, out.len);
		}
	}
	free(text.p);
	free(z.p);
	free(out.p);
}

static void test_corrupt(void)
{
	static const uint8_t plain[] = "this is not compressed at all, only plain text\n";
	struct sb text = { 0 }, z = { 0 }, out = { 0 };
	size_t i;

	for (i = 0; i < NCODINGS; i++)
		CHECK(decode(codings[i].enc, UINT64_MAX, plain, sizeof(plain) - 1, 0, &out) == -EBADMSG,
		      "%s: plain text", codings[i].name);

	make_text(&text, 3000);
	/* checksums: gzip CRC-32, zlib Adler-32, zstd XXH64 (checksum flag set) */
	for (i = 0; i < NCODINGS; i++) {
		if (codings[i].codec == BR || codings[i].codec == RAW)
			continue;
		z.len = 0;
		make_stream(codings[i].codec, text.p, text.len, 1, &z);
		z.p[z.len - (codings[i].codec == GZIP ? 6 : 2)] ^= 0x40;
		CHECK_EQ_INT(decode(codings[i].enc, UINT64_MAX, z.p, z.len, 0, &out), -EBADMSG);
	}
	/* zstd frames from before 1.0 are not the content coding, however they
	 * are cut, even behind a first byte that looks right (fuzz findings) */
	{
		struct sb legacy = { (uint8_t *)"\x25\xb5\x2f\xfd\x00\xe0\x04\xc2", 8, 0 };
		struct sb behind = { (uint8_t *)"\x28\x25\xb5\x2f\xfd\x04\x58\x00\x00", 9, 0 };

		check_decode("zstd v0.5 frame", "zstd", UINT64_MAX, &legacy, -EBADMSG, NULL, 0, 1);
		check_decode("zstd v0.5 magic", "zstd", UINT64_MAX, &behind, -EBADMSG, NULL, 0, 1);
	}
	/* anything after the end of the stream */
	for (i = 0; i < NCODINGS; i++) {
		if (!usable(&codings[i]))
			continue;
		z.len = 0;
		make_stream(codings[i].codec, text.p, text.len, 1, &z);
		sb_add(&z, "\n", 1);
		check_decode(codings[i].name, codings[i].enc, UINT64_MAX, &z, -EBADMSG, text.p,
			     text.len, 1);
		sb_add(&z, "xyz", 3);
		check_decode(codings[i].name, codings[i].enc, UINT64_MAX, &z, -EBADMSG, text.p,
			     text.len, 1);
	}
	free(text.p);
	free(z.p);
	free(out.p);
}

static void test_multi_member_and_frames(void)
{
	static const uint8_t a[] = "first member, ", b[] = "second member";
	struct sb z = { 0 }, part = { 0 };

	make_stream(GZIP, a, sizeof(a) - 1, 1, &z);
	make_stream(GZIP, b, sizeof(b) - 1, 1, &z);
	check_decode("gzip members", "gzip", UINT64_MAX, &z, 0,
		     (const uint8_t *)"first member, second member", 27, 1);
	/* a second member cut short after its header */
	make_stream(GZIP, a, sizeof(a) - 1, 1, &part);
	z.len = 0;
	sb_add(&z, part.p, part.len);
	sb_add(&z, part.p, 10);
	check_decode("gzip member cut", "gzip", UINT64_MAX, &z, -EBADMSG, a, sizeof(a) - 1, 1);

	/* zstd: a skippable frame, two frames, empty frames (shorter than a header) */
	z.len = 0;
	sb_add(&z, "\x50\x2a\x4d\x18\x03\x00\x00\x00xyz", 11);
	make_stream(ZSTD, a, sizeof(a) - 1, 1, &z);
	make_stream(ZSTD, NULL, 0, 1, &z);
	make_stream(ZSTD, b, sizeof(b) - 1, 1, &z);
	check_decode("zstd frames", "zstd", UINT64_MAX, &z, 0,
		     (const uint8_t *)"first member, second member", 27, 1);
	z.len = 0;
	make_stream(ZSTD, NULL, 0, 1, &z);
	make_stream(ZSTD, NULL, 0, 1, &z);
	check_decode("empty zstd frames", "zstd", UINT64_MAX, &z, 0, NULL, 0, 1);
	free(z.p);
	free(part.p);
}

static void test_zstd_window_limit(void)
{
	static uint8_t zeros[1 << 20];
	struct sb z = { 0 }, out = { 0 };

	/* a 16 MiB window is more than RFC 8878 asks a decoder to hold */
	zstd_stream(zeros, sizeof(zeros), 1, 24, &z);
	CHECK_EQ_INT(decode("zstd", UINT64_MAX, z.p, z.len, 0, &out), -EBADMSG);
	CHECK_EQ_INT(out.len, 0);
	z.len = 0;
	zstd_stream(zeros, sizeof(zeros), 1, 23, &z);
	CHECK_EQ_INT(decode("zstd", UINT64_MAX, z.p, z.len, 0, &out), 0);
	CHECK_EQ_INT(out.len, sizeof(zeros));
	free(z.p);
	free(out.p);
}

static int refuse(void *ctx, const uint8_t *out, size_t len)
{
	return -ECANCELED;
}

static void test_sink_error(void)
{
	struct sb text = { 0 }, z = { 0 };
	struct decoder *d = decoder__new("gzip", 4, UINT64_MAX, NULL);

	make_text(&text, 1000);
	make_stream(GZIP, text.p, text.len, 1, &z);
	CHECK_EQ_INT(decoder__feed(d, z.p, z.len, refuse, NULL), -ECANCELED);
	CHECK_EQ_INT(decoder__feed(d, z.p, 1, collect, &text), -ECANCELED);
	CHECK_EQ_INT(decoder__finish(d, collect, &text), -ECANCELED);
	decoder__free(d);
	free(text.p);
	free(z.p);
}

/* --- bombs -------------------------------------------------------------- */

#define BOMB_SIZE (1ull << 30)
#define BOMB_REPS (BOMB_SIZE / sizeof(zero_block))

static const uint8_t zero_block[1 << 20];

struct counter {
	uint64_t bytes;
	int nonzero;
};

static int count_zeros(void *ctx, const uint8_t *out, size_t len)
{
	struct counter *c = ctx;

	c->nonzero |= len > sizeof(zero_block) || memcmp(out, zero_block, len);
	c->bytes += len;
	return 0;
}

static long max_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* gzip and zlib framing around one raw deflate stream of BOMB_SIZE zeros */
static void wrap_deflate(const struct sb *raw, int gzip, struct sb *out)
{
	static const uint8_t gz_head[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	uLong crc = crc32(0, zero_block, sizeof(zero_block)), adler = adler32(1, zero_block, sizeof(zero_block));
	uLong crc_all = crc, adler_all = adler;
	uint8_t tail[8];
	uint64_t i;

	for (i = 1; i < BOMB_REPS; i++) {
		crc_all = crc32_combine(crc_all, crc, sizeof(zero_block));
		adler_all = adler32_combine(adler_all, adler, sizeof(zero_block));
	}
	if (gzip) {
		sb_add(out, gz_head, sizeof(gz_head));
		sb_add(out, raw->p, raw->len);
		for (i = 0; i < 4; i++) {
			tail[i] = crc_all >> (8 * i);
			tail[4 + i] = (BOMB_SIZE & 0xffffffff) >> (8 * i);
		}
		sb_add(out, tail, 8);
	} else {
		sb_add(out, "\x78\xda", 2);
		sb_add(out, raw->p, raw->len);
		for (i = 0; i < 4; i++)
			tail[i] = adler_all >> (24 - 8 * i);
		sb_add(out, tail, 4);
	}
}

static void check_bomb(const char *name, const char *enc, const struct sb *bomb)
{
	struct counter c = { 0 };
	struct decoder *d = decoder__new(enc, strlen(enc), 1 << 20, NULL);
	size_t pos = 0, n;
	long rss;
	int rc = 0;

	/* max_out small: it stops there, early in the input */
	while (!rc && pos < bomb->len) {
		n = bomb->len - pos < 4096 ? bomb->len - pos : 4096;
		rc = decoder__feed(d, bomb->p + pos, n, count_zeros, &c);
		pos += n;
	}
	CHECK(rc == -EFBIG && c.bytes == 1 << 20 && !c.nonzero && (pos <= 4096 || pos < bomb->len / 4),
	      "%s: rc %d, %llu bytes out, %zu of %zu in", name, rc, (unsigned long long)c.bytes,
	      pos, bomb->len);
	CHECK_EQ_INT(decoder__finish(d, count_zeros, &c), -EFBIG);
	decoder__free(d);

	/* memory stays flat while 128 MiB come out */
	rss = max_rss_kib();
	c = (struct counter){ 0 };
	d = decoder__new(enc, strlen(enc), 128 << 20, NULL);
	rc = decoder__feed(d, bomb->p, bomb->len, count_zeros, &c);
	CHECK(rc == -EFBIG && c.bytes == 128 << 20 && !c.nonzero, "%s: rc %d, %llu bytes out",
	      name, rc, (unsigned long long)c.bytes);
	CHECK(max_rss_kib() - rss < 32 * 1024, "%s: RSS grew by %ld KiB", name, max_rss_kib() - rss);
	decoder__free(d);
}

/* The whole bomb decodes to BOMB_SIZE zeros. */
static void check_bomb_whole(const char *name, const char *enc, const struct sb *bomb)
{
	struct counter c = { 0 };
	struct decoder *d = decoder__new(enc, strlen(enc), UINT64_MAX, NULL);

	CHECK_EQ_INT(decoder__feed(d, bomb->p, bomb->len, count_zeros, &c), 0);
	CHECK_EQ_INT(decoder__finish(d, count_zeros, &c), 0);
	CHECK(c.bytes == BOMB_SIZE && !c.nonzero, "%s: %llu bytes", name, (unsigned long long)c.bytes);
	decoder__free(d);
}

static void test_bombs(void)
{
	struct sb raw = { 0 }, bomb = { 0 };

	/* the deflate stream is made once, with the fast RLE strategy */
	deflate_stream(-15, 9, Z_RLE, zero_block, sizeof(zero_block), BOMB_REPS, &raw);
	check_bomb("deflate (raw)", "deflate", &raw);
	wrap_deflate(&raw, 1, &bomb);
	check_bomb("gzip", "gzip", &bomb);
	bomb.len = 0;
	wrap_deflate(&raw, 0, &bomb);
	check_bomb("deflate (zlib)", "deflate", &bomb);
	bomb.len = 0;
	zstd_stream(zero_block, sizeof(zero_block), BOMB_REPS, 0, &bomb);
	check_bomb("zstd", "zstd", &bomb);
	check_bomb_whole("zstd", "zstd", &bomb);
	if (have_brotli_encoder()) {
		bomb.len = 0;
		brotli_stream(1, zero_block, sizeof(zero_block), BOMB_REPS, &bomb);
		check_bomb("br", "br", &bomb);
	}
	free(raw.p);
	free(bomb.p);
}

/* An inner coding that swells without output: 10000 empty gzip members,
 * gzipped.  The inner stage may take only about twice max_out. */
static void test_layered_bomb(void)
{
	struct sb members = { 0 }, outer = { 0 }, out = { 0 };
	int i;

	for (i = 0; i < 10000; i++)
		make_stream(GZIP, NULL, 0, 1, &members);
	make_stream(GZIP, members.p, members.len, 1, &outer);
	CHECK_EQ_INT(decode("gzip", UINT64_MAX, members.p, members.len, 0, &out), 0);
	CHECK_EQ_INT(decode("gzip, gzip", UINT64_MAX, outer.p, outer.len, 0, &out), 0);
	CHECK_EQ_INT(decode("gzip, gzip", 1000, outer.p, outer.len, 0, &out), -EFBIG);
	CHECK_EQ_INT(out.len, 0);
	free(members.p);
	free(outer.p);
	free(out.p);
}

/* --- recorded traffic --------------------------------------------------- */

/* Recorded gzip bodies decode to the recorded text. */
static void test_fixture_gzip(void)
{
	struct dirent **ents;
	char dir[512], path[1024];
	int i, n, found = 0;

	n = scandir(fixture_dir(dir, sizeof(dir)), &ents, json_suffix, alphasort);
	CHECK(n > 0, "%s: no fixtures", dir);
	for (i = 0; i < n; i++) {
		json_object *fx, *b64, *text;

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		fx = json_object_from_file(path);
		if (fx && json_object_object_get_ex(fx, "response_body_base64", &b64) &&
		    json_object_object_get_ex(fx, "response_body", &text) && !tap_cur_failed) {
			const char *t = json_object_get_string(text);
			struct sb gz = { malloc(json_object_get_string_len(b64) + 1), 0, 0 };

			gz.len = base64_decode(json_object_get_string(b64), gz.p);
			check_decode(ents[i]->d_name, "gzip", UINT64_MAX, &gz, 0, (const uint8_t *)t,
				     strlen(t), 1 + gz.len / 4096);
			free(gz.p);
			found++;
		}
		json_object_put(fx);
		free(ents[i]);
	}
	free(ents);
	CHECK(found > 0, "no gzip fixtures");
}

int main(void)
{
	if (!have_brotli_encoder())
		tap_skip("brotli_encoding", "libbrotlienc not linked: brotli round trips, "
			 "truncation and bomb skipped (add libbrotlienc to PKGS)");
	RUN(test_roundtrip);
	RUN(test_large_output);
	RUN(test_brotli_fixed);
	RUN(test_identity);
	RUN(test_identity_zero_copy);
	RUN(test_coding_list);
	RUN(test_truncated);
	RUN(test_corrupt);
	RUN(test_multi_member_and_frames);
	RUN(test_zstd_window_limit);
	RUN(test_sink_error);
	RUN(test_bombs);
	RUN(test_layered_bomb);
	if (have_fixtures())
		RUN(test_fixture_gzip);
	else
		tap_skip("test_fixture_gzip", "no fixtures: set FIXTURES to the fixtures directory");
	return tap_done();
}
