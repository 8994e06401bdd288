// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Streaming Content-Encoding decoder.
 *
 * A coding list is a pipeline of stages: stage 0 decodes the coding applied
 * last, each stage pushes its output buffer to the next, the last pushes to
 * the sink.  Every stage drains its codec within the call (it loops while
 * its output buffer comes back full), so nothing waits for finish().
 */
#define ZLIB_CONST
#define ZSTD_STATIC_LINKING_ONLY	/* ZSTD_createDStream_advanced */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>
#include <brotli/decode.h>
#include "decode.h"
#include "membudget.h"

#define ZSTD_WINDOW_LOG_MAX 23		/* 8 MiB, RFC 8878 3.1.1.1.2 */
#define ZSTD_HEADER_MAX 18		/* ZSTD_FRAMEHEADERSIZE_MAX */
#define FEED_PIECE (1u << 30)		/* z_stream counts in uInt */

enum coding { C_IDENTITY, C_GZIP, C_DEFLATE, C_BR, C_ZSTD, C_UNKNOWN };

struct stage {
	enum coding coding;
	uint8_t zinit;		/* z is initialised (deflate waits for two bytes) */
	uint8_t done;		/* at the end of a stream, gzip member or zstd frame
				   (zstd: also before the first frame) */
	uint8_t npeek;		/* deflate: first bytes held until zlib/raw is known */
	uint8_t peek[2];
	uint8_t nhold;		/* zstd: first bytes of a frame, held until its header */
	uint8_t hold[ZSTD_HEADER_MAX];
	uint64_t in_total;	/* bytes fed to this stage */
	uint8_t *out;		/* DECODE_BUF_SIZE */
	z_stream z;
	BrotliDecoderState *br;
	ZSTD_DStream *zs;
};

struct decoder {
	int err;		/* sticky */
	int refused;		/* the budget refused the codec memory */
	struct membudget *mb;	/* charged for buffers and codec state */
	unsigned nstages;
	uint64_t total;		/* bytes given to the sink */
	uint64_t max_out;
	uint64_t stage_cap;	/* bound on what an inner stage may be fed */
	struct stage st[DECODE_MAX_LAYERS];
};

#define IEQ(s, n, lit) ((n) == sizeof(lit) - 1 && !strncasecmp((s), (lit), (n)))

static enum coding coding_of(const char *t, size_t n)
{
	if (!n || IEQ(t, n, "identity"))
		return C_IDENTITY;
	if (IEQ(t, n, "gzip") || IEQ(t, n, "x-gzip"))
		return C_GZIP;
	if (IEQ(t, n, "deflate"))
		return C_DEFLATE;
	if (IEQ(t, n, "br"))
		return C_BR;
	if (IEQ(t, n, "zstd"))
		return C_ZSTD;
	return C_UNKNOWN;
}

static int run_stage(struct decoder *d, unsigned i, const uint8_t *in, size_t len,
		     decode_sink_fn sink, void *ctx);

/* A codec's allocation failed: the budget's refusal, or no memory. */
static int mem_err(const struct decoder *d)
{
	return d->refused ? -ENOBUFS : -ENOMEM;
}

/* The codecs allocate through the budget. */
static void *codec_alloc(void *opaque, size_t n)
{
	struct decoder *d = opaque;
	void *p = membudget_malloc(d->mb, n, MEMBUDGET_BULK);

	if (!p && errno == ENOBUFS)
		d->refused = 1;
	return p;
}

static void codec_free(void *opaque, void *p)
{
	struct decoder *d = opaque;

	membudget_free(d->mb, p);
}

static voidpf zlib_alloc(voidpf opaque, uInt items, uInt size)
{
	return codec_alloc(opaque, (size_t)items * size);	/* cannot overflow */
}

static void zlib_free(voidpf opaque, voidpf p)
{
	codec_free(opaque, p);
}

static int inflate_init(struct decoder *d, struct stage *s, int window_bits)
{
	s->z.zalloc = zlib_alloc;
	s->z.zfree = zlib_free;
	s->z.opaque = d;
	if (inflateInit2(&s->z, window_bits) != Z_OK)
		return mem_err(d);
	s->zinit = 1;
	return 0;
}

/* Hands len bytes to stage i, or to the sink after the last stage. */
static int push(struct decoder *d, unsigned i, const uint8_t *in, size_t len,
		decode_sink_fn sink, void *ctx)
{
	int rc = 0, over = 0;

	if (!len)
		return 0;
	if (i < d->nstages) {
		d->st[i].in_total += len;
		/* an inner coding that expands to far more than max_out (say, a
		 * flood of empty gzip members) is a bomb too */
		if (i && d->st[i].in_total > d->stage_cap)
			return -EFBIG;
		return run_stage(d, i, in, len, sink, ctx);
	}
	if (len > d->max_out - d->total) {
		len = d->max_out - d->total;
		over = 1;
	}
	d->total += len;
	if (len && sink)
		rc = sink(ctx, in, len);
	if (rc < 0)
		return rc;
	return over ? -EFBIG : 0;
}

static int run_inflate(struct decoder *d, unsigned i, const uint8_t *in, size_t len,
		       decode_sink_fn sink, void *ctx)
{
	struct stage *s = &d->st[i];
	z_stream *z = &s->z;
	int rc, err, full = 0;
	size_t n;

	z->next_in = in;
	z->avail_in = len;
	while (z->avail_in || full) {
		if (s->done) {
			if (!z->avail_in)
				break;
			if (s->coding != C_GZIP)
				return -EBADMSG;	/* bytes after the end */
			inflateReset(z);		/* next gzip member */
			s->done = 0;
		}
		z->next_out = s->out;
		z->avail_out = DECODE_BUF_SIZE;
		rc = inflate(z, Z_NO_FLUSH);
		n = DECODE_BUF_SIZE - z->avail_out;
		full = !z->avail_out;
		err = push(d, i + 1, s->out, n, sink, ctx);
		if (err)
			return err;
		if (rc == Z_STREAM_END)
			s->done = 1;
		else if (rc == Z_MEM_ERROR)
			return mem_err(d);
		else if (rc == Z_BUF_ERROR && !n)
			break;			/* nothing was pending after all */
		else if (rc != Z_OK && rc != Z_BUF_ERROR)
			return -EBADMSG;
	}
	return 0;
}

/* deflate: zlib-wrapped per RFC 9110, but some servers send it raw. */
static int run_deflate(struct decoder *d, unsigned i, const uint8_t *in, size_t len,
		       decode_sink_fn sink, void *ctx)
{
	struct stage *s = &d->st[i];
	int zlib, err;

	if (!s->zinit) {
		while (len && s->npeek < 2) {
			s->peek[s->npeek++] = *in++;
			len--;
		}
		if (s->npeek < 2)
			return 0;
		/* RFC 1950 header: CM 8, window <= 32K, check bits */
		zlib = (s->peek[0] & 0x0f) == 8 && s->peek[0] >> 4 <= 7 &&
		       (s->peek[0] << 8 | s->peek[1]) % 31 == 0;
		err = inflate_init(d, s, zlib ? 15 : -15);
		if (err)
			return err;
		err = run_inflate(d, i, s->peek, 2, sink, ctx);
		if (err)
			return err;
	}
	return len ? run_inflate(d, i, in, len, sink, ctx) : 0;
}

static int run_brotli(struct decoder *d, unsigned i, const uint8_t *in, size_t len,
		      decode_sink_fn sink, void *ctx)
{
	struct stage *s = &d->st[i];
	BrotliDecoderResult r;
	size_t avail_out;
	uint8_t *next_out;
	int err;

	for (;;) {
		if (s->done)
			return len ? -EBADMSG : 0;
		next_out = s->out;
		avail_out = DECODE_BUF_SIZE;
		r = BrotliDecoderDecompressStream(s->br, &len, &in, &avail_out, &next_out, NULL);
		err = push(d, i + 1, s->out, DECODE_BUF_SIZE - avail_out, sink, ctx);
		if (err)
			return err;
		switch (r) {
		case BROTLI_DECODER_RESULT_SUCCESS:
			s->done = 1;
			break;
		case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
			return 0;
		case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
			break;
		default:
			/* error codes -30..-21 are allocation failures */
			err = BrotliDecoderGetErrorCode(s->br);
			return err >= BROTLI_DECODER_ERROR_ALLOC_BLOCK_TYPE_TREES &&
			       err <= BROTLI_DECODER_ERROR_ALLOC_CONTEXT_MODES ? mem_err(d) : -EBADMSG;
		}
	}
}

/* Runs libzstd on ib until ib is used up or a frame ends. */
static int zstd_call(struct decoder *d, unsigned i, ZSTD_inBuffer *ib, decode_sink_fn sink,
		     void *ctx)
{
	struct stage *s = &d->st[i];
	ZSTD_outBuffer ob;
	size_t r;
	int err, full = 0;

	while (ib->pos < ib->size || full) {
		ob = (ZSTD_outBuffer){ s->out, DECODE_BUF_SIZE, 0 };
		r = ZSTD_decompressStream(s->zs, &ob, ib);
		if (ZSTD_isError(r))
			return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? mem_err(d) : -EBADMSG;
		/* 0: the frame is complete and flushed (calling again would start
		 * waiting for the next frame) */
		s->done = !r;
		full = r && ob.pos == ob.size;
		err = push(d, i + 1, s->out, ob.pos, sink, ctx);
		if (err || s->done)
			return err;
	}
	return 0;
}

/*
 * Gives libzstd the bytes held at a frame start, a whole header, in one
 * call.  A frame starts with the zstd magic (28 b5 2f fd) or a skippable
 * one (5? 2a 4d 18).  libzstd also reads pre-1.0 formats, which are not the
 * content coding, and when a header does not parse it looks for their magic
 * at the start of the call's input: a header cut over two calls could be
 * read either way.
 */
static int zstd_flush_hold(struct decoder *d, unsigned i, decode_sink_fn sink, void *ctx)
{
	struct stage *s = &d->st[i];
	ZSTD_inBuffer ib = { s->hold, s->nhold, 0 };
	int err;

	if (s->hold[0] != 0x28 && (s->hold[0] & 0xf0) != 0x50)
		return -EBADMSG;
	s->done = 0;
	err = zstd_call(d, i, &ib, sink, ctx);
	if (err)
		return err;
	/* a frame shorter than the hold ended in it: the rest starts the next */
	memmove(s->hold, s->hold + ib.pos, ib.size - ib.pos);
	s->nhold = ib.size - ib.pos;
	return 0;
}

static int run_zstd(struct decoder *d, unsigned i, const uint8_t *in, size_t len,
		    decode_sink_fn sink, void *ctx)
{
	struct stage *s = &d->st[i];
	ZSTD_inBuffer ib;
	size_t take;
	int err;

	while (len) {
		if (!s->done) {
			ib = (ZSTD_inBuffer){ in, len, 0 };
			err = zstd_call(d, i, &ib, sink, ctx);
			if (err)
				return err;
			in += ib.pos;
			len -= ib.pos;
			continue;
		}
		/* a frame starts: hold its first bytes, up to a whole header */
		take = sizeof(s->hold) - s->nhold < len ? sizeof(s->hold) - s->nhold : len;
		memcpy(s->hold + s->nhold, in, take);
		s->nhold += take;
		in += take;
		len -= take;
		if (s->nhold < sizeof(s->hold))
			return 0;
		err = zstd_flush_hold(d, i, sink, ctx);
		if (err)
			return err;
	}
	return 0;
}

/* End of input: what is still held goes to libzstd now. */
static int zstd_finish(struct decoder *d, unsigned i, decode_sink_fn sink, void *ctx)
{
	struct stage *s = &d->st[i];
	size_t before;
	int err = 0;

	while (s->nhold && !err) {
		before = s->nhold;
		err = zstd_flush_hold(d, i, sink, ctx);
		if (!err && s->nhold >= before)
			err = -EBADMSG;		/* no progress */
	}
	return err;
}

static int run_stage(struct decoder *d, unsigned i, const uint8_t *in, size_t len,
		     decode_sink_fn sink, void *ctx)
{
	switch (d->st[i].coding) {
	case C_GZIP:
		return run_inflate(d, i, in, len, sink, ctx);
	case C_DEFLATE:
		return run_deflate(d, i, in, len, sink, ctx);
	case C_BR:
		return run_brotli(d, i, in, len, sink, ctx);
	case C_ZSTD:
		return run_zstd(d, i, in, len, sink, ctx);
	default:
		return -EINVAL;
	}
}

int decoder__feed(struct decoder *d, const uint8_t *in, size_t len, decode_sink_fn sink, void *ctx)
{
	size_t n;

	while (len && !d->err) {
		n = len < FEED_PIECE ? len : FEED_PIECE;
		d->err = push(d, 0, in, n, sink, ctx);
		in += n;
		len -= n;
	}
	return d->err;
}

int decoder__finish(struct decoder *d, decode_sink_fn sink, void *ctx)
{
	unsigned i;

	/* in pipeline order: what a stage still holds goes on to the next */
	for (i = 0; i < d->nstages && !d->err; i++) {
		if (d->st[i].coding == C_ZSTD)
			d->err = zstd_finish(d, i, sink, ctx);
		if (!d->err && d->st[i].in_total && !d->st[i].done)
			d->err = -EBADMSG;
	}
	return d->err;
}

uint64_t decoder__total_out(const struct decoder *d)
{
	return d->total;
}

static int stage_init(struct decoder *d, struct stage *s, enum coding c)
{
	s->coding = c;
	s->out = membudget_malloc(d->mb, DECODE_BUF_SIZE, MEMBUDGET_BULK);
	if (!s->out)
		return -errno;
	switch (c) {
	case C_GZIP:
		return inflate_init(d, s, 16 + 15);
	case C_BR:
		s->br = BrotliDecoderCreateInstance(codec_alloc, codec_free, d);
		if (!s->br)
			return mem_err(d);
		break;
	case C_ZSTD:
		s->done = 1;	/* between frames: the next byte starts one */
		s->zs = ZSTD_createDStream_advanced((ZSTD_customMem){
			.customAlloc = codec_alloc, .customFree = codec_free, .opaque = d });
		if (!s->zs)
			return mem_err(d);
		if (ZSTD_isError(ZSTD_DCtx_setParameter(s->zs, ZSTD_d_windowLogMax,
							ZSTD_WINDOW_LOG_MAX)))
			return -EINVAL;
		break;
	default:	/* deflate starts on its first two bytes */
		break;
	}
	return 0;
}

static void stage_free(struct decoder *d, struct stage *s)
{
	if (s->zinit)
		inflateEnd(&s->z);
	if (s->br)
		BrotliDecoderDestroyInstance(s->br);
	ZSTD_freeDStream(s->zs);
	membudget_free(d->mb, s->out);
}

struct decoder *decoder__new(const char *enc, size_t enc_len, uint64_t max_out,
			     struct membudget *mb)
{
	enum coding list[DECODE_MAX_LAYERS], k;
	const char *pos = enc, *end = enc ? enc + enc_len : NULL, *t, *c;
	unsigned n = 0, i;
	struct decoder *d;
	int err;

	/* the list, in the order the codings were applied */
	while (pos && pos <= end) {
		c = memchr(pos, ',', end - pos);
		if (!c)
			c = end;
		for (t = pos; t < c && (*t == ' ' || *t == '\t'); t++)
			;
		pos = c + 1;
		while (c > t && (c[-1] == ' ' || c[-1] == '\t'))
			c--;
		k = coding_of(t, c - t);
		if (k == C_IDENTITY)
			continue;
		if (k == C_UNKNOWN || n == DECODE_MAX_LAYERS) {
			errno = ENOTSUP;
			return NULL;
		}
		list[n++] = k;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->max_out = max_out;
	d->mb = mb;
	d->stage_cap = max_out > (UINT64_MAX - DECODE_BUF_SIZE) / 2 ?
		       UINT64_MAX : 2 * max_out + DECODE_BUF_SIZE;
	for (i = 0; i < n; i++) {
		d->nstages++;
		err = stage_init(d, &d->st[i], list[n - 1 - i]);
		if (err)
			goto err_free;
	}
	return d;

err_free:
	decoder__free(d);
	errno = -err;
	return NULL;
}

void decoder__free(struct decoder *d)
{
	unsigned i;

	if (!d)
		return;
	for (i = 0; i < d->nstages; i++)
		stage_free(d, &d->st[i]);
	free(d);
}
