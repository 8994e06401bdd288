// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * UTF-8 validation and repair.  Repair replaces each maximal ill-formed
 * subpart with U+FFFD: the Unicode "best practice" (Unicode 15 §3.9,
 * U+FFFD substitution of maximal subparts), which is what the WHATWG
 * decoder (TextDecoder) and CPython's "replace" error handler do.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "utf8.h"

size_t tok_utf8_valid_prefix(const uint8_t *s, size_t n)
{
	size_t i = 0, l, sub;

	while (i < n) {
		/* 8 ASCII bytes at a time */
		while (i + 8 <= n) {
			uint64_t w;

			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= n)
			break;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		l = utf8_seq(s, n, i, &sub);
		if (!l)
			return i;
		i += l;
	}
	return n;
}

uint8_t *tok_utf8_repair(const uint8_t *s, size_t n, size_t *outlen)
{
	uint8_t *out;
	size_t i, o = 0, l, sub;

	/* size first: each replaced subpart (>= 1 byte) becomes 3 bytes */
	for (i = 0; i < n; i += l ? l : sub) {
		l = utf8_seq(s, n, i, &sub);
		o += l ? l : 3;
	}
	out = malloc(o + 1);
	if (!out)
		return NULL;
	for (i = 0, o = 0; i < n;) {
		l = utf8_seq(s, n, i, &sub);
		if (l) {
			memcpy(out + o, s + i, l);
			o += l;
			i += l;
		} else {
			out[o++] = 0xEF;
			out[o++] = 0xBF;
			out[o++] = 0xBD;
			i += sub;
		}
	}
	*outlen = o;
	return out;
}
