// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libFuzzer target for the tokenizer, differential where it can be: for
 * both encodings the fast path (pretok.h splitter, pipelined lookups,
 * memo, array and heap BPE) must give exactly the pieces and ids of the
 * literal reference in tok_ref.h (regex alternatives transcribed with
 * explicit backtracking, textbook BPE), on the input after invalid UTF-8
 * is replaced; tok_count must agree; decoding must give the text back.
 * The same bytes also go through the chat counter and the estimators as
 * a JSON body (robustness only).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "../../user/tokenizer/tok_internal.h"
#include "../../user/tokenizer/tok_ref.h"

#define MAX_INPUT 8192

static void check(const struct tok_encoding *e, const uint8_t *s, size_t n)
{
	uint32_t *ref = malloc((n + 1) * sizeof(*ref));
	size_t *ends = malloc((n + 1) * sizeof(*ends)), nref, np, i = 0, k = 0, declen = 0;
	struct tok_ids got = { 0 };
	uint8_t *dec = NULL;

	if (!ref || !ends)
		abort();
	nref = tokref_encode(e, s, n, ref, ends, &np);
	while (i < n) {
		size_t j = e->pretok(s, n, i);

		if (k >= np || j != ends[k])
			abort();	/* split differs from the reference */
		i = j;
		k++;
	}
	if (k != np)
		abort();
	if (tok_encode(e, s, n, 0, &got))
		abort();
	if (got.len != nref || (nref && memcmp(got.v, ref, nref * sizeof(*ref))))
		abort();	/* ids differ from the reference */
	if (tok_count(e, s, n, 0) != (ssize_t)nref)
		abort();
	if (tok_decode(e, got.v, got.len, &dec, &declen) || declen != n ||
	    (n && memcmp(dec, s, n)))
		abort();	/* round trip */
	got.len = 0;
	if (tok_encode(e, s, n, TOK_ALLOW_SPECIAL, &got))
		abort();
	if (tok_count(e, s, n, TOK_ALLOW_SPECIAL) != (ssize_t)got.len)
		abort();
	free(dec);
	tok_ids_free(&got);
	free(ref);
	free(ends);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct tok_encoding *cl = tok_encoding_get(TOK_CL100K_BASE);
	const struct tok_encoding *o2 = tok_encoding_get(TOK_O200K_BASE);
	struct tok_chat_count cc;
	struct tok_estimate est;
	struct tok_ids raw = { 0 }, fixed_ids = { 0 };
	uint8_t *fixed;
	size_t n;

	if (!cl || !o2)
		abort();
	if (size > MAX_INPUT)
		size = MAX_INPUT;
	fixed = tok_utf8_repair(data, size, &n);
	if (!fixed)
		abort();
	/* invalid UTF-8: same ids as its repaired form */
	if (tok_encode(o2, data, size, 0, &raw) || tok_encode(o2, fixed, n, 0, &fixed_ids) ||
	    raw.len != fixed_ids.len ||
	    (raw.len && memcmp(raw.v, fixed_ids.v, raw.len * sizeof(*raw.v))))
		abort();
	check(cl, fixed, n);
	check(o2, fixed, n);

	(void)tok_count_chat((const char *)data, size, NULL, &cc);
	(void)tok_count_responses((const char *)data, size, "gpt-4", &cc);
	(void)tok_estimate_anthropic_request((const char *)data, size, &est);
	(void)tok_estimate_gemini_request((const char *)data, size, &est);
	(void)tok_estimate_text(TOK_FAMILY_ANTHROPIC, data, size, &est);

	tok_ids_free(&raw);
	tok_ids_free(&fixed_ids);
	free(fixed);
	return 0;
}
