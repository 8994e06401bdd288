/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * text/event-stream framing, following the WHATWG "event stream
 * interpretation" rules: LF, CRLF and lone CR line ends, a UTF-8 BOM at the
 * start, comment lines, one optional space after the colon, events without
 * data are not dispatched, an unterminated last event is not dispatched.
 */
#ifndef TOLLGATE_SSE_H
#define TOLLGATE_SSE_H

#include <stddef.h>
#include <stdint.h>

struct sse_event {			/* valid only during the callback; each string is NUL-terminated */
	const char *event; size_t event_len;	/* "" if no event: field */
	const char *data; size_t data_len;	/* data lines joined with '\n' */
	const char *id; size_t id_len;		/* last id: seen on the stream, "" if none (it
						   persists across events, as the spec says) */
};

typedef int (*sse_event_fn)(void *ctx, const struct sse_event *ev);

struct sse_parser;

/*
 * max_event: cap on one event's buffered size (event type, data, id and a
 * pending line); beyond it the event is dropped and counted, parsing
 * continues.  NULL with errno set on failure.
 */
struct sse_parser *sse_parser__new(size_t max_event, sse_event_fn fn, void *ctx);

/* Returns 0, -ENOMEM, or a negative value returned by fn (sticky).  Events
 * are dispatched as soon as their blank line arrives. */
int sse_parser__feed(struct sse_parser *p, const uint8_t *data, size_t len);

/* End of stream: an unterminated final event is NOT dispatched (spec) but
 * counted in stats.partial.  The parser is ready for a new stream after. */
int sse_parser__finish(struct sse_parser *p);

struct membudget;

/* Charge the parser's buffers to a memory budget (set before the first
 * feed).  An event the budget has no room for is dropped and counted in
 * stats.shed; parsing goes on. */
void sse_parser__set_budget(struct sse_parser *p, struct membudget *mb);

struct sse_stats {
	uint64_t events;	/* dispatched */
	uint64_t oversized;	/* dropped for exceeding max_event */
	uint64_t shed;		/* dropped: the memory budget refused their buffer */
	uint64_t partial;	/* unterminated at finish */
	uint64_t comments;	/* comment lines */
};
void sse_parser__stats(const struct sse_parser *p, struct sse_stats *out);

void sse_parser__free(struct sse_parser *p);

#endif
