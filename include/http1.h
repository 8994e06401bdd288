/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Incremental HTTP/1.x parser for one direction of one connection.
 *
 * Fed the plaintext byte stream in pieces of any size; reports each
 * message through callbacks: its head, its body with the transfer coding
 * removed (content coding kept), body bytes lost to capture gaps, and its
 * end.  Body bytes are handed out from the caller's buffer without copying.
 * Capture gaps keep the body framing where it can be kept; anywhere else
 * the parser drops to the next plausible message start.
 */
#ifndef TOLLGATE_HTTP1_H
#define TOLLGATE_HTTP1_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP1_MAX_HEAD    (64 * 1024)	/* head (or trailer section) bytes */
#define HTTP1_MAX_HEADERS 128		/* header fields in one head */

enum http1_kind { HTTP1_REQUEST, HTTP1_RESPONSE };

struct http1_header {
	const char *name; size_t name_len;
	const char *value; size_t value_len;	/* without surrounding whitespace */
};

struct http1_head {			/* valid only during on_head */
	const char *method; size_t method_len;		/* requests */
	const char *target; size_t target_len;		/* requests: request-target as sent */
	int status;					/* responses */
	int version_minor;				/* HTTP/1.x */
	size_t nheaders; const struct http1_header *headers;
	int64_t content_length;				/* -1 if absent */
	int chunked;					/* Transfer-Encoding ends in chunked
							   (then chunked framing wins over
							   a Content-Length) */
	int conn_close;					/* Connection: close, or HTTP/1.0 without keep-alive */
	int expect_continue;				/* request had Expect: 100-continue */
	/* first header of each name, raw value; NULL if none */
	const char *content_encoding; size_t content_encoding_len;
	const char *content_type; size_t content_type_len;
	const char *host; size_t host_len;		/* requests: Host header */
};

/* on_head return flags */
#define HTTP1_HEAD_NO_BODY 1	/* this response has no body (answer to HEAD) */
#define HTTP1_HEAD_TUNNEL  2	/* this message has no body and after its head the
				   stream is no longer HTTP (2xx answer to CONNECT,
				   101 is implied): the rest is ignored */

struct http1_callbacks {	/* any of them may be NULL */
	/* head complete. Return <0 to abort parsing (feed returns that error),
	 * else HTTP1_HEAD_* flags. */
	int (*on_head)(void *ctx, const struct http1_head *h);
	/* body bytes with transfer coding removed (de-chunked), content coding NOT removed */
	int (*on_body)(void *ctx, const uint8_t *data, size_t len);
	/* len body bytes are missing (a capture gap inside a framed body) */
	int (*on_body_gap)(void *ctx, uint64_t len);
	/* message complete (truncated=1 when ended by eof/gap before its framing
	 * said). Bytes lost to gaps inside the body are reported by on_body_gap,
	 * not here. */
	int (*on_end)(void *ctx, int truncated);
	/* the bytes that follow a head on_head answered with HTTP1_HEAD_TUNNEL
	 * (another protocol: a WebSocket after 101); NULL: dropped */
	int (*on_tunnel)(void *ctx, const uint8_t *data, size_t len);
};

struct http1_parser;

/* NULL with errno set on failure. */
struct http1_parser *http1_parser__new(enum http1_kind kind, const struct http1_callbacks *cb,
				       void *ctx);

/*
 * Consumes all of data unless an error occurs.  Returns len, or -errno:
 * -EBADMSG on garbage, -EMSGSIZE when a head exceeds HTTP1_MAX_HEAD, -EPIPE
 * after http1_parser__eof(), -ENOBUFS (memory budget), -ENOMEM, or the negative value a callback
 * returned.  An error is sticky: later feeds return it again until
 * http1_parser__gap() is called (any length, even 0), which ends the message
 * in progress (truncated) and resynchronises.
 */
ssize_t http1_parser__feed(struct http1_parser *p, const uint8_t *data, size_t len);

/*
 * len bytes of the stream were not captured.  Inside a content-length body,
 * inside chunk data or in a read-until-close body the framing is kept and
 * on_body_gap reports the missing body bytes.  A gap that runs past the end
 * of the body ends the message truncated; the rest of the gap is lost.
 * Anywhere else (head, chunk-size line, trailers) the message in progress,
 * if on_head reported it, ends truncated.  In both cases the parser then
 * resynchronises: it discards bytes until a line that starts a plausible
 * message ("METHOD target" with a known method, or "HTTP/1.x NNN"); the
 * first byte after the gap counts as a line start.  A zero-length gap does
 * nothing unless the parser is in error.  Returns 0 or a callback's error.
 */
int http1_parser__gap(struct http1_parser *p, uint64_t len);

/* A gap's length when it is not known: inside a content-length body or
 * chunk it runs to the end of it (the message ends truncated); inside a
 * read-until-close body on_body_gap is given HTTP1_GAP_UNKNOWN. */
#define HTTP1_GAP_UNKNOWN UINT64_MAX

/* Connection closed: a read-until-close response body ends normally, any
 * other message in progress ends truncated.  Later feeds return -EPIPE. */
int http1_parser__eof(struct http1_parser *p);

void http1_parser__free(struct http1_parser *p);

struct membudget;
/* Charge the head buffer to a memory budget (set before the first feed).
 * A head the budget has no room for fails the feed with -ENOBUFS: like
 * any error, a gap (even of 0 bytes) resynchronises. */
void http1_parser__set_budget(struct http1_parser *p, struct membudget *mb);

struct http1_stats {
	uint64_t messages;	/* heads reported */
	uint64_t bad;		/* -EBADMSG / -EMSGSIZE returned */
	uint64_t resyncs;	/* times the parser lost framing and had to resynchronise */
	uint64_t truncated;	/* messages ended with truncated=1 */
	uint64_t gap_bytes;	/* total length passed to http1_parser__gap() */
	uint64_t skipped;	/* bytes discarded while resynchronising */
};
void http1_parser__stats(const struct http1_parser *p, struct http1_stats *out);

#endif
