/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Streaming Content-Encoding decoder: gzip (multi-member), deflate (zlib
 * wrapped or raw, told apart by the first bytes), br, zstd (concatenated
 * frames, window up to 8 MiB as RFC 8878 asks), identity, and lists of
 * them.  Memory is bounded per decoder (one output buffer per coding plus
 * the codec's own window); output is capped by max_out.
 */
#ifndef TOLLGATE_DECODE_H
#define TOLLGATE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#define DECODE_BUF_SIZE   (64 * 1024)	/* output buffer per coding */
#define DECODE_MAX_LAYERS 4		/* codings in one Content-Encoding list */

/* Receives decoded bytes; a negative return stops decoding and is passed back. */
typedef int (*decode_sink_fn)(void *ctx, const uint8_t *out, size_t len);

struct decoder;
struct membudget;

/*
 * enc: raw Content-Encoding value, e.g. "gzip", "br", "zstd", "deflate",
 * "identity", "x-gzip", "gzip, br" (codings listed in the order they were
 * applied; decoded in reverse), case-insensitive; NULL or empty = identity.
 * max_out: cap on total decoded bytes (bomb guard); UINT64_MAX for none.
 * mb: the budget charged for the decoder's buffers and codec windows
 * (NULL: none); a refusal shows as ENOBUFS / -ENOBUFS.
 * Returns NULL with errno = ENOTSUP for an unknown coding or more than
 * DECODE_MAX_LAYERS codings, ENOBUFS, ENOMEM.
 */
struct decoder *decoder__new(const char *enc, size_t enc_len, uint64_t max_out,
			     struct membudget *mb);

/*
 * Decodes in, calling sink (may be NULL: count only) with decoded bytes as
 * they come.  Returns 0, -EBADMSG on corrupt data or bytes after the end of
 * the compressed stream, -EFBIG when max_out would be exceeded (the first
 * max_out bytes have been delivered), -ENOBUFS when the budget refused
 * memory, -ENOMEM, or a negative value the sink returned.  Errors are
 * sticky.
 */
int decoder__feed(struct decoder *d, const uint8_t *in, size_t len, decode_sink_fn sink, void *ctx);

/* End of input: -EBADMSG if the compressed stream is incomplete, else 0 (or
 * the sticky error).  An empty input is an empty body, not an error. */
int decoder__finish(struct decoder *d, decode_sink_fn sink, void *ctx);

uint64_t decoder__total_out(const struct decoder *d);

void decoder__free(struct decoder *d);

#endif
