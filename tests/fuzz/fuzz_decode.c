// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libFuzzer target for the Content-Encoding decoder, differential: the
 * input is decoded whole, cut in two where the input says, and one byte at
 * a time.  Decoding is deterministic, so every run's output is a prefix of
 * the same stream; where codecs flush at different points an error may cut
 * one run shorter (or -EFBIG may come before -EBADMSG), but if one run
 * succeeds all must, with the same bytes.  Output never passes max_out.
 *
 * Input: byte 0 = coding (index into the table below), byte 1 = max_out
 * (index) and where to cut, then the encoded body.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "decode.h"

static const char *const codings[] = {
	"gzip", "deflate", "br", "zstd", "identity", "gzip, br", "deflate, zstd", "zstd, gzip",
};
static const uint64_t max_outs[] = { 8 << 20, 0, 1, 100, 4096, 65536, 1 << 20, 3 << 20 };

struct out {
	uint8_t *p;
	size_t len, cap;
	uint64_t max;
};

static int sink(void *ctx, const uint8_t *d, size_t n)
{
	struct out *o = ctx;

	if (!n || o->len + n > o->max)
		abort();	/* empty call, or past max_out */
	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2;
		o->p = realloc(o->p, o->cap);
		if (!o->p)
			abort();
	}
	memcpy(o->p + o->len, d, n);
	o->len += n;
	return 0;
}

#define CUT_BYTES SIZE_MAX

static int run(const char *enc, uint64_t max_out, const uint8_t *d, size_t len, size_t cut,
	       struct out *o)
{
	struct decoder *dec = decoder__new(enc, strlen(enc), max_out, NULL);
	size_t pos, n;
	int rc = 0;

	if (!dec)
		abort();
	o->len = 0;
	o->max = max_out;
	for (pos = 0; pos < len && !rc; pos += n) {
		n = cut == CUT_BYTES ? 1 : cut > pos && cut < len ? cut - pos : len - pos;
		rc = decoder__feed(dec, d + pos, n, sink, o);
	}
	if (!rc)
		rc = decoder__finish(dec, sink, o);
	if (rc && rc != -EBADMSG && rc != -EFBIG)
		abort();
	if (decoder__total_out(dec) != o->len)
		abort();
	decoder__free(dec);
	return rc;
}

/* Same stream: one output is a prefix of the other; and success is all or none. */
static void compare(int rc1, const struct out *a, int rc2, const struct out *b)
{
	size_t n = a->len < b->len ? a->len : b->len;

	if (n && memcmp(a->p, b->p, n))
		abort();
	if ((!rc1 || !rc2) && (rc1 != rc2 || a->len != b->len))
		abort();
	if (rc1 == -EFBIG && rc2 == -EFBIG && a->len != b->len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct out whole = { 0 }, part = { 0 };
	const char *enc;
	uint64_t max_out;
	size_t cut;
	int rc, rc2;

	if (size < 2)
		return 0;
	enc = codings[data[0] % (sizeof(codings) / sizeof(codings[0]))];
	max_out = max_outs[data[1] % (sizeof(max_outs) / sizeof(max_outs[0]))];
	cut = data[1] >> 3;
	data += 2;
	size -= 2;

	rc = run(enc, max_out, data, size, 0, &whole);
	if (size > 1) {
		rc2 = run(enc, max_out, data, size, 1 + cut * (size - 1) / 32, &part);
		compare(rc, &whole, rc2, &part);
	}
	rc2 = run(enc, max_out, data, size, CUT_BYTES, &part);
	compare(rc, &whole, rc2, &part);
	free(whole.p);
	free(part.p);
	return 0;
}
