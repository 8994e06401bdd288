// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Out-of-line pretokenizers, for tests and callers outside encode.c. */
#include "pretok.h"

size_t tok_pretok_cl100k(const uint8_t *s, size_t n, size_t i)
{
	return pretok_cl100k(s, n, i);
}

size_t tok_pretok_o200k(const uint8_t *s, size_t n, size_t i)
{
	return pretok_o200k(s, n, i);
}
