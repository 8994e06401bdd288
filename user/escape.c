// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "escape.h"
#include "utf8.h"

/* Characters a terminal acts on, or that reorder what it shows. */
static int unsafe_cp(uint32_t cp, unsigned flags)
{
	if (cp < 0x20 || cp == 0x7f || cp == '\\')
		return 1;
	if (cp == ' ')
		return flags & ESCAPE_SPACE;
	if (cp >= 0x80 && cp <= 0x9f)		/* C1 controls (CSI is 0x9b) */
		return 1;
	return cp == 0x061c || cp == 0x200e || cp == 0x200f ||	/* bidi marks */
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	       cp == 0x2028 || cp == 0x2029;			/* line breaks */
}

int escape_text(char *dst, size_t cap, const char *src, size_t n, unsigned flags)
{
	const uint8_t *s = (const uint8_t *)src;
	size_t i = 0, o = 0, l, sub, w;
	char tmp[16];
	uint32_t cp;

	while (i < n) {
		l = utf8_seq(s, n, i, &sub);
		if (!l) {
			w = snprintf(tmp, sizeof(tmp), "\\x%02x", s[i]);
			l = 1;
		} else {
			cp = utf8_cp(s + i, l);
			if (unsafe_cp(cp, flags)) {
				if (cp < 0x80)
					w = snprintf(tmp, sizeof(tmp), "\\x%02x", cp);
				else
					w = snprintf(tmp, sizeof(tmp), "\\u{%04x}", cp);
			} else {
				memcpy(tmp, s + i, l);
				w = l;
			}
		}
		if (o + w >= cap) {
			dst[o] = '\0';
			return 1;
		}
		memcpy(dst + o, tmp, w);
		o += w;
		i += l;
	}
	dst[o] = '\0';
	return 0;
}

const char *escape_str(char *dst, size_t cap, const char *s)
{
	escape_text(dst, cap, s ? s : "", s ? strlen(s) : 0, 0);
	return dst;
}

int escape_utf8(char *dst, size_t cap, const char *src, size_t n)
{
	const uint8_t *s = (const uint8_t *)src;
	size_t i = 0, o = 0, l, sub, w;

	while (i < n) {
		l = utf8_seq(s, n, i, &sub);
		w = l ? l : 3;
		if (o + w >= cap) {
			dst[o] = '\0';
			return 1;
		}
		if (l) {
			memcpy(dst + o, s + i, l);
			i += l;
		} else {
			memcpy(dst + o, "\xef\xbf\xbd", 3);
			i += sub;
		}
		o += w;
	}
	dst[o] = '\0';
	return 0;
}
