// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tollgate tokenize [--encoding E | --model M] [--count]     (DESIGN §9)
 *
 * Reads standard input, prints its token ids as decimal numbers separated
 * by single spaces on one line, or with --count the number alone.  Special
 * token strings are ordinary text.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenizer.h"

static void tokenize_usage(FILE *f)
{
	fprintf(f,
		"Usage: tollgate tokenize [--encoding o200k_base|cl100k_base | --model MODEL] [--count]\n"
		"\n"
		"Print the token ids of standard input (tiktoken's encode_ordinary),\n"
		"separated by single spaces on one line.\n"
		"\n"
		"  -e, --encoding NAME  o200k_base (default) or cl100k_base\n"
		"  -m, --model MODEL    the encoding of an OpenAI model (gpt-4o, gpt-4, o3, ...)\n"
		"  -c, --count          print the number of tokens only\n"
		"  -h, --help           this help\n"
		"\n"
		"Invalid UTF-8 is read as U+FFFD, one per maximal ill-formed subpart.\n");
}

static int read_all(int fd, uint8_t **buf, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	uint8_t *b = malloc(cap), *nb;
	ssize_t r;

	if (!b)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				return -ENOMEM;
			}
			b = nb;
			cap *= 2;
		}
		r = read(fd, b + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			free(b);
			return (int)r;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*buf = b;
	*len = n;
	return 0;
}

/* Print ids "1 2 3\n" through a local buffer, two digits at a time. */
static int print_ids(FILE *f, const uint32_t *v, size_t n)
{
	static const char pairs[201] =
		"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
		"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
		"8081828384858687888990919293949596979899";
	char buf[1 << 16];
	size_t o = 0, k;

	for (k = 0; k < n; k++) {
		char tmp[12];
		int t = 12;
		uint32_t x = v[k];

		if (o > sizeof(buf) - 16) {
			if (fwrite(buf, 1, o, f) != o)
				return -EIO;
			o = 0;
		}
		if (k)
			buf[o++] = ' ';
		while (x >= 100) {
			uint32_t r = x % 100;

			x /= 100;
			tmp[--t] = pairs[2 * r + 1];
			tmp[--t] = pairs[2 * r];
		}
		if (x >= 10) {
			tmp[--t] = pairs[2 * x + 1];
			tmp[--t] = pairs[2 * x];
		} else {
			tmp[--t] = (char)('0' + x);
		}
		memcpy(buf + o, tmp + t, (size_t)(12 - t));
		o += (size_t)(12 - t);
	}
	buf[o++] = '\n';
	if (fwrite(buf, 1, o, f) != o)
		return -EIO;
	return 0;
}

int cmd_tokenize(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "encoding", required_argument, NULL, 'e' },
		{ "model", required_argument, NULL, 'm' },
		{ "count", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum tok_enc enc = TOK_O200K_BASE;
	const struct tok_encoding *e;
	const char *encoding = NULL, *model = NULL;
	struct tok_ids ids = { 0 };
	uint8_t *in = NULL;
	size_t len = 0;
	int count = 0, c, err;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:e:m:ch", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			encoding = optarg;
			break;
		case 'm':
			model = optarg;
			break;
		case 'c':
			count = 1;
			break;
		case 'h':
			tokenize_usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "tollgate tokenize: option '%s' needs an argument\n",
				argv[optind - 1]);
			tokenize_usage(stderr);
			return 2;
		default:
			if (optopt)
				fprintf(stderr, "tollgate tokenize: unknown option '-%c'\n", optopt);
			else
				fprintf(stderr, "tollgate tokenize: unknown option '%s'\n",
					argv[optind - 1]);
			tokenize_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tollgate tokenize: unexpected argument '%s' (the text is read from stdin)\n",
			argv[optind]);
		return 2;
	}
	if (encoding && model) {
		fprintf(stderr, "tollgate tokenize: give --encoding or --model, not both\n");
		return 2;
	}
	if (encoding) {
		enc = tok_encoding_by_name(encoding);
		if (enc == TOK_ENC_UNKNOWN) {
			fprintf(stderr, "tollgate tokenize: unknown encoding '%s' (o200k_base, cl100k_base)\n",
				encoding);
			return 2;
		}
	} else if (model) {
		enc = tok_encoding_for_model(model);
		if (enc == TOK_ENC_UNKNOWN) {
			fprintf(stderr, "tollgate tokenize: no known OpenAI encoding for model '%s'\n",
				model);
			return 2;
		}
	}
	e = tok_encoding_get(enc);
	if (!e) {
		fprintf(stderr, "tollgate tokenize: cannot load %s: %s\n",
			tok_encoding_name(enc), strerror(errno));
		return 1;
	}
	err = read_all(STDIN_FILENO, &in, &len);
	if (err) {
		fprintf(stderr, "tollgate tokenize: reading stdin: %s\n", strerror(-err));
		return 1;
	}
	if (count) {
		ssize_t n = tok_count(e, in, len, 0);

		err = n < 0 ? (int)n : 0;
		if (!err && printf("%zd\n", n) < 0)
			err = -EIO;
	} else {
		/* about 4 bytes a token: reserve once instead of doubling */
		ids.cap = len / 3 + 16;
		ids.v = malloc(ids.cap * sizeof(*ids.v));
		if (!ids.v)
			ids.cap = 0;
		err = tok_encode(e, in, len, 0, &ids);
		if (!err)
			err = print_ids(stdout, ids.v, ids.len);
	}
	if (!err && fflush(stdout))
		err = -errno;
	free(in);
	tok_ids_free(&ids);
	if (err) {
		fprintf(stderr, "tollgate tokenize: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}
