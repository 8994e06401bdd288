/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Decimal numbers read exactly: money (nano-USD), prices (nano-USD per
 * million tokens), percentages.  No floating point on the way.
 */
#ifndef TOLLGATE_DECIMAL_H
#define TOLLGATE_DECIMAL_H

#include <stdint.h>

/*
 * digits[.digits] at s, scaled by 10^decimals, into *out; *end is set to
 * the first byte after it.  -EINVAL when s does not start with such a
 * number; -ERANGE when it has a non-zero digit past `decimals` fraction
 * digits or is above max.
 */
int decimal_parse(const char *s, const char **end, unsigned decimals, int64_t max,
		  int64_t *out);

#endif
