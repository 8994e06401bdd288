/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Captured bytes and names chosen by other users are hostile: a model
 * name or a file name can carry a newline that forges a whole record line,
 * or an escape sequence that rewrites the terminal.  Everything such that
 * reaches a terminal, a log or a text record goes through escape_text;
 * what goes into JSON through escape_utf8 (the JSON writer escapes the
 * control characters, but must be given valid UTF-8).
 */
#ifndef TOLLGATE_ESCAPE_H
#define TOLLGATE_ESCAPE_H

#include <stddef.h>

enum escape_flags {
	ESCAPE_SPACE = 1,	/* spaces too: a field of a space-separated line */
};

/*
 * Copies s[0..n) to dst (cap > 0 bytes, always NUL-terminated), with each
 * control character (C0, DEL, C1), each bidirectional formatting character,
 * each byte of ill-formed UTF-8 and each backslash written as \xNN (bytes)
 * or \u{XXXX} (characters); other text is kept.  Output that does not fit
 * is cut at a character boundary.  Returns 1 when it was cut, else 0.
 */
int escape_text(char *dst, size_t cap, const char *s, size_t n, unsigned flags);

/* escape_text of a NUL-terminated string, returning dst: for log lines. */
const char *escape_str(char *dst, size_t cap, const char *s);

/* Copies s[0..n) to dst (cap > 0, NUL-terminated) as valid UTF-8: each
 * maximal ill-formed subpart becomes U+FFFD; cut at a character boundary
 * when it does not fit.  Returns 1 when it was cut, else 0. */
int escape_utf8(char *dst, size_t cap, const char *s, size_t n);

#endif
