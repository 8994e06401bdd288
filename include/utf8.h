/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* UTF-8 sequences, as the Unicode standard defines well-formed ones. */
#ifndef TOLLGATE_UTF8_H
#define TOLLGATE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Length of the well-formed sequence at s[i] (1..4), i < n, or 0 if it is
 * ill-formed; then *sub is the length of its maximal ill-formed subpart
 * (>= 1), the bytes that one U+FFFD replaces (Unicode 15 §3.9, as the
 * WHATWG decoder and CPython's "replace" do).
 */
static inline size_t utf8_seq(const uint8_t *s, size_t n, size_t i, size_t *sub)
{
	uint8_t b = s[i], lo = 0x80, hi = 0xBF;
	size_t need, k;

	if (b < 0x80)
		return 1;
	if (b >= 0xC2 && b <= 0xDF) {
		need = 1;
	} else if (b >= 0xE0 && b <= 0xEF) {
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

/* The code point of a well-formed sequence of len bytes at s. */
static inline uint32_t utf8_cp(const uint8_t *s, size_t len)
{
	switch (len) {
	case 1:
		return s[0];
	case 2:
		return (s[0] & 0x1Fu) << 6 | (s[1] & 0x3Fu);
	case 3:
		return (s[0] & 0x0Fu) << 12 | (s[1] & 0x3Fu) << 6 | (s[2] & 0x3Fu);
	default:
		return (s[0] & 0x07u) << 18 | (s[1] & 0x3Fu) << 12 |
		       (s[2] & 0x3Fu) << 6 | (s[3] & 0x3Fu);
	}
}

#endif
