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

/*
 * Length of the well-formed sequence at s[i] (1..4), or 0 if ill-formed;
 * then *sub is the length of the maximal subpart to replace (>= 1).
 */
static size_t utf8_seq(const uint8_t *s, size_t n, size_t i, size_t *sub)
{
	uint8_t b = s[i], lo = 0x80, hi = 0xBF;
	size_t need, k;

	if (b < 0x80)
		return 1;
	if (b >= 0xC2 && b <= 0xDF)
		need = 1;
	else if (b >= 0xE0 && b <= 0xEF) {
		need = 2;
		if (b == 0xE0)
			lo = 0xA0;
		else if (b == 0xED)
			hi = 0x9F;
	} else if (b >= 0xF0 && b <= 0xF4) {
		need = 3;
		if (b == 0xF0)
			lo = 0x90;
		else if (b == 0xF4)
			hi = 0x8F;
	} else {
		*sub = 1;
		return 0;
	}
	for (k = 1; k <= need; k++) {
		if (i + k >= n || s[i + k] < lo || s[i + k] > hi) {
			*sub = k;
			return 0;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return need + 1;
}

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
