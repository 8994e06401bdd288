/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The recorded provider traffic (../shared/fixtures/llm-traffic, or
 * $FIXTURES/llm-traffic), for the unit tests that replay it.
 */
#ifndef TESTS_FIXTURES_H
#define TESTS_FIXTURES_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline const char *fixture_dir(char *buf, size_t len)
{
	const char *f = getenv("FIXTURES");

	snprintf(buf, len, "%s/llm-traffic", f && *f ? f : "../shared/fixtures");
	return buf;
}

static inline int have_fixtures(void)
{
	char dir[512];
	DIR *d = opendir(fixture_dir(dir, sizeof(dir)));

	if (d)
		closedir(d);
	return d != NULL;
}

static inline int json_suffix(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return n > 5 && !strcmp(e->d_name + n - 5, ".json");
}

static inline size_t base64_decode(const char *s, uint8_t *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	size_t n = 0;
	int bits = 0;
	const char *c;

	for (; *s && *s != '='; s++) {
		c = strchr(tab, *s);
		if (!c)
			continue;
		acc = acc << 6 | (uint32_t)(c - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = acc >> bits;
		}
	}
	return n;
}

#endif
