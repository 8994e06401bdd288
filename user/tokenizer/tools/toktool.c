// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * build/toktool: a test and benchmark driver for the tokenizer.
 *
 *   toktool batch ENC [--special]  stdin: records "<decimal length>\n<bytes>";
 *                                   stdout: one line of ids per record
 *   toktool bench ENC FILE [MIN_SECONDS]   in-process encode throughput
 *   toktool load                    time to load both encodings
 *   toktool chat FILE...            tok_count_chat on request bodies
 *   toktool classes                 runs of equal character class:
 *                                   "first last class" (hex, hex, hex)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer.h"
#include "../tok_internal.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const struct tok_encoding *get_enc(const char *name)
{
	enum tok_enc id = tok_encoding_by_name(name);
	const struct tok_encoding *e;

	if (id == TOK_ENC_UNKNOWN) {
		fprintf(stderr, "toktool: unknown encoding %s\n", name);
		exit(2);
	}
	e = tok_encoding_get(id);
	if (!e) {
		perror("toktool: load");
		exit(1);
	}
	return e;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		perror(path);
		exit(1);
	}
	b = malloc((size_t)n + 1);
	if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
		perror(path);
		exit(1);
	}
	fclose(f);
	*len = (size_t)n;
	return b;
}

static int cmd_batch(int argc, char **argv)
{
	const struct tok_encoding *e;
	struct tok_ids ids = { 0 };
	unsigned flags = 0;
	size_t len, cap = 0, k;
	uint8_t *buf = NULL;

	if (argc < 3)
		return 2;
	e = get_enc(argv[2]);
	if (argc > 3 && !strcmp(argv[3], "--special"))
		flags |= TOK_ALLOW_SPECIAL;
	while (scanf("%zu", &len) == 1) {
		if (getchar() != '\n')
			return 1;
		if (len + 1 > cap) {
			cap = len + 1;
			buf = realloc(buf, cap);
			if (!buf)
				return 1;
		}
		if (fread(buf, 1, len, stdin) != len)
			return 1;
		ids.len = 0;
		if (tok_encode(e, buf, len, flags, &ids)) {
			fprintf(stderr, "toktool: encode failed\n");
			return 1;
		}
		if (tok_count(e, buf, len, flags) != (ssize_t)ids.len) {
			fprintf(stderr, "toktool: tok_count disagrees with tok_encode\n");
			return 1;
		}
		for (k = 0; k < ids.len; k++)
			printf(k ? " %u" : "%u", ids.v[k]);
		putchar('\n');
	}
	free(buf);
	tok_ids_free(&ids);
	return 0;
}

static int cmd_bench(int argc, char **argv)
{
	const struct tok_encoding *e;
	struct tok_ids ids = { 0 };
	double t0, t, best = 1e30, first = 0, min_s = argc > 4 ? atof(argv[4]) : 3.0, start;
	size_t len, ntok = 0;
	uint8_t *text;
	int reps = 0;

	if (argc < 4)
		return 2;
	t0 = now();
	e = get_enc(argv[2]);
	t = now() - t0;
	text = slurp(argv[3], &len);
	start = now();
	do {
		ids.len = 0;
		t0 = now();
		if (tok_encode(e, text, len, 0, &ids))
			return 1;
		t0 = now() - t0;
		if (!reps)
			first = t0;
		if (t0 < best)
			best = t0;
		ntok = ids.len;
		reps++;
	} while (now() - start < min_s || reps < 3);
	printf("{\"encoding\":\"%s\",\"bytes\":%zu,\"tokens\":%zu,\"load_ms\":%.2f,"
	       "\"first_s\":%.4f,\"best_s\":%.4f,\"reps\":%d,\"mb_per_s\":%.2f,"
	       "\"first_mb_per_s\":%.2f}\n",
	       argv[2], len, ntok, t * 1e3, first, best, reps, (double)len / best / 1e6,
	       (double)len / first / 1e6);
	free(text);
	tok_ids_free(&ids);
	return 0;
}

static int cmd_load(void)
{
	double t0 = now(), t1, t2;

	if (!tok_encoding_get(TOK_O200K_BASE))
		return 1;
	t1 = now();
	if (!tok_encoding_get(TOK_CL100K_BASE))
		return 1;
	t2 = now();
	printf("o200k_base %.2f ms, cl100k_base %.2f ms, both %.2f ms\n",
	       (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t2 - t0) * 1e3);
	return 0;
}

static int cmd_chat(int argc, char **argv)
{
	int k, err;

	for (k = 2; k < argc; k++) {
		struct tok_chat_count c;
		size_t len;
		uint8_t *b = slurp(argv[k], &len);

		err = tok_count_chat((const char *)b, len, NULL, &c);
		if (err)
			printf("%s: error %d\n", argv[k], err);
		else
			printf("%s: prompt_tokens %lld (messages %lld, tools %lld, flags %#x, %s)\n",
			       argv[k], (long long)c.prompt_tokens, (long long)c.message_tokens,
			       (long long)c.tool_tokens, c.flags, tok_encoding_name(c.encoding));
		free(b);
	}
	return 0;
}

static int cmd_classes(void)
{
	uint32_t cp, first = 0;
	unsigned c = tok_uc_class(0), d;

	printf("# Unicode %s\n", tok_unicode_version());
	for (cp = 1; cp <= 0x110000; cp++) {
		d = cp < 0x110000 ? tok_uc_class(cp) : 0x100;
		if (d != c) {
			printf("%x %x %x\n", first, cp - 1, c);
			first = cp;
			c = d;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "batch"))
		return cmd_batch(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "bench"))
		return cmd_bench(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "load"))
		return cmd_load();
	if (argc >= 2 && !strcmp(argv[1], "chat"))
		return cmd_chat(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "classes"))
		return cmd_classes();
	if (argc >= 2 && !strcmp(argv[1], "tokenize"))
		return cmd_tokenize(argc - 1, argv + 1);
	fprintf(stderr, "usage: toktool batch ENC [--special] | bench ENC FILE [SECONDS] | "
		"load | chat FILE... | classes | tokenize [ARGS]\n");
	return 2;
}
