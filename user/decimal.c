// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Exact decimals (see include/decimal.h). */
#include <errno.h>
#include "decimal.h"

static int add_digit(int64_t *v, int64_t scale, char c, int64_t max)
{
	int64_t d = (c - '0') * scale;

	if (*v > max - d)
		return -ERANGE;
	*v += d;
	return 0;
}

int decimal_parse(const char *s, const char **end, unsigned decimals, int64_t max,
		  int64_t *out)
{
	int64_t v = 0, unit = 1;
	unsigned d;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (d = 0; d < decimals; d++)
		unit *= 10;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > max / 10)
			return -ERANGE;
		v *= 10;
		if (add_digit(&v, 1, *s, max / unit))
			return -ERANGE;
	}
	if (v > max / unit)
		return -ERANGE;
	v *= unit;
	if (*s == '.') {
		if (s[1] < '0' || s[1] > '9')
			return -EINVAL;
		for (s++, d = 0; *s >= '0' && *s <= '9'; s++, d++) {
			if (d >= decimals) {
				if (*s != '0')
					return -ERANGE;
				continue;
			}
			unit /= 10;
			if (add_digit(&v, unit, *s, max))
				return -ERANGE;
		}
	}
	*end = s;
	*out = v;
	return 0;
}
