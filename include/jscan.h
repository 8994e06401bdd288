/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Incremental JSON scanner: fed bytes in any split, it reports the values
 * its caller asks for and passes over the rest without keeping them.
 *
 * The caller is told when each value starts at a level it entered (the
 * root, members of an entered object, elements of an entered array) and
 * answers what to do with it: skip it, enter it (an object or array: its
 * members are reported in turn), or read it as text (a string: its decoded
 * content; a number or literal: its characters; an object or array: its
 * JSON text without the whitespace between tokens), handed out in pieces
 * as it arrives.  Skipped values are passed over by counting brackets, so
 * nesting costs no memory however deep it goes; only JSCAN_DEPTH levels
 * can be entered.  No allocation: the struct is all the state.
 *
 * The calls a document gives do not depend on how it was split: text is
 * handed out when the scanner's buffer fills (cut at a UTF-8 character
 * boundary) and when the value ends, never at the end of a feed.
 *
 * What is checked: the syntax at entered levels (keys, colons, commas,
 * literals, the characters of numbers), string escapes, and the bracket
 * balance of skipped values (not their inner syntax).  A document may be
 * followed by others (white space between), as in JSON lines.
 */
#ifndef TOLLGATE_JSCAN_H
#define TOLLGATE_JSCAN_H

#include <stddef.h>
#include <stdint.h>

#define JSCAN_DEPTH	16	/* levels that can be entered */
#define JSCAN_KEY_MAX	64	/* longer keys are reported cut, with key_len
				   JSCAN_KEY_MAX + 1: they match no name */
#define JSCAN_TEXT_BUF	256	/* text is handed out in pieces of at most this */

enum jscan_kind {
	JSCAN_OBJECT = 1,
	JSCAN_ARRAY,
	JSCAN_STRING,
	JSCAN_NUMBER,
	JSCAN_TRUE,
	JSCAN_FALSE,
	JSCAN_NULL,
};

enum jscan_act {
	JSCAN_SKIP = 0,
	JSCAN_ENTER,		/* an object or array: report what it holds
				   (a scalar, or past JSCAN_DEPTH: skipped) */
	JSCAN_TEXT,		/* hand out its text, then end() */
};

struct jscan_ops {
	/* A value starts at `depth` (0: a root value).  key is the member
	 * name (decoded, not NUL-terminated) in an object, NULL otherwise. */
	enum jscan_act (*value)(void *ctx, unsigned depth, const char *key,
				size_t key_len, enum jscan_kind kind);
	/* A piece of the text of the value being read (JSCAN_TEXT). */
	void (*text)(void *ctx, unsigned depth, const char *s, size_t len);
	/* A value entered or read as text is complete. */
	void (*end)(void *ctx, unsigned depth);
};

struct jscan {
	const struct jscan_ops *ops;
	void *ctx;
	uint8_t state;		/* where in the grammar (jscan.c) */
	uint8_t act;		/* the value being passed: JSCAN_SKIP or JSCAN_TEXT */
	uint8_t depth;		/* containers entered */
	uint8_t in_str;		/* in a string inside a passed container */
	uint8_t esc;		/* escape state (jscan.c) */
	uint8_t udigits;	/* hex digits of a \u escape read */
	uint8_t lit;		/* literal being matched ('t', 'f', 'n'), 0: a number */
	uint8_t lit_pos;
	uint8_t done;		/* a root value was complete */
	uint32_t ucode;		/* \u escape being read */
	uint32_t uhi;		/* a high surrogate waiting for its low half */
	uint64_t nest;		/* brackets open in a passed container */
	size_t key_len;
	size_t out_len;
	char stack[JSCAN_DEPTH];	/* '{' or '[' per entered container */
	char key[JSCAN_KEY_MAX + 1];
	char out[JSCAN_TEXT_BUF];
};

void jscan_init(struct jscan *s, const struct jscan_ops *ops, void *ctx);
/* Ready for a new document (ops and ctx kept). */
void jscan_reset(struct jscan *s);
/* 0, or -EBADMSG once the input is not JSON (sticky: the rest is ignored). */
int jscan_feed(struct jscan *s, const uint8_t *data, size_t len);
/*
 * End of input.  0 when it held complete documents only; -EAGAIN when it
 * was cut inside a value (the text read so far is handed out first),
 * -ENODATA when it held no value, -EBADMSG when it was not JSON.
 */
int jscan_finish(struct jscan *s);

#endif
