/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * A slow, literal reference tokenizer for the unit tests and the fuzz
 * target (never linked into tollgate).  The pretokenizer transcribes each
 * regex alternative with explicit greedy backtracking over code points, in
 * alternation order, without the shortcuts pretok.h derives; the BPE is
 * tiktoken's textbook O(n^2) loop.  Differential tests compare the fast
 * paths against it.
 */
#ifndef TOLLGATE_TOK_REF_H
#define TOLLGATE_TOK_REF_H

#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

struct tokref_text {
	const uint8_t *s;
	size_t n;		/* code points */
	uint32_t *cp;
	size_t *off;		/* byte offset of each code point; off[n] = bytes */
};

static int tokref_decode(struct tokref_text *t, const uint8_t *s, size_t bytes)
{
	size_t i = 0, k = 0, l;

	t->s = s;
	t->cp = malloc((bytes + 1) * sizeof(*t->cp));
	t->off = malloc((bytes + 1) * sizeof(*t->off));
	if (!t->cp || !t->off)
		return -1;
	while (i < bytes) {
		uint32_t b = s[i], c;

		if (b < 0x80) {
			c = b;
			l = 1;
		} else if (b < 0xE0) {
			c = ((b & 0x1F) << 6) | (s[i + 1] & 0x3F);
			l = 2;
		} else if (b < 0xF0) {
			c = ((b & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
			l = 3;
		} else {
			c = ((b & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) |
			    ((s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
			l = 4;
		}
		t->cp[k] = c;
		t->off[k++] = i;
		i += l;
	}
	t->off[k] = bytes;
	t->n = k;
	return 0;
}

static void tokref_free(struct tokref_text *t)
{
	free(t->cp);
	free(t->off);
}

static unsigned tokref_cls(const struct tokref_text *t, size_t i)
{
	return i < t->n ? tok_uc_class(t->cp[i]) : 0;
}

#define TR_L(t, i)	((tokref_cls(t, i) & TOK_UC_L) != 0)
#define TR_N(t, i)	((tokref_cls(t, i) & TOK_UC_N) != 0)
#define TR_S(t, i)	((i) < (t)->n && (tokref_cls(t, i) & TOK_UC_S))
#define TR_UP(t, i)	((tokref_cls(t, i) & TOK_UC_UP) != 0)
#define TR_LO(t, i)	((tokref_cls(t, i) & TOK_UC_LO) != 0)
#define TR_CRLF(t, i)	((i) < (t)->n && ((t)->cp[i] == '\r' || (t)->cp[i] == '\n'))
/* [^\s\p{L}\p{N}] */
#define TR_P(t, i)	((i) < (t)->n && !(tokref_cls(t, i) & (TOK_UC_S | TOK_UC_L | TOK_UC_N)))
/* [^\r\n\p{L}\p{N}] */
#define TR_PFX(t, i)	((i) < (t)->n && !TR_CRLF(t, i) && !TR_L(t, i) && !TR_N(t, i))

/* (?i) simple case folding onto ASCII */
static int tokref_fold(const struct tokref_text *t, size_t i)
{
	uint32_t c;
	unsigned k;

	if (i >= t->n)
		return -1;
	c = t->cp[i];
	if (c >= 'A' && c <= 'Z')
		return (int)(c + 32);
	if (c < 0x80)
		return (int)c;
	for (k = 0; k < tok_uc_nfolds; k++)
		if (tok_uc_folds[k].cp == c)
			return tok_uc_folds[k].ascii;
	return -1;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d) at i: code points matched, 0 if none */
static size_t tokref_contraction(const struct tokref_text *t, size_t i)
{
	static const char *const alts[] = { "s", "t", "re", "ve", "m", "ll", "d" };
	unsigned a, k;

	if (i >= t->n || t->cp[i] != '\'')
		return 0;
	for (a = 0; a < 7; a++) {
		for (k = 0; alts[a][k]; k++)
			if (tokref_fold(t, i + 1 + k) != alts[a][k])
				break;
		if (!alts[a][k])
			return 1 + k;
	}
	return 0;
}

/* run of code points from i satisfying pred */
#define TR_RUN(t, i, pred) ({ size_t _j = (i); while (_j < (t)->n && pred(t, _j)) _j++; _j - (i); })

/* whitespace tail shared by both: \s*[\r\n]+ | \s+(?!\S) | \s+ ; 0 = no match */
static size_t tokref_space(const struct tokref_text *t, size_t i)
{
	size_t run = TR_RUN(t, i, TR_S), k;

	/* \s*[\r\n]+ */
	for (k = run + 1; k-- > 0;) {
		size_t nl = TR_RUN(t, i + k, TR_CRLF);

		if (nl)
			return k + nl;
	}
	/* \s+(?!\S) */
	for (k = run; k >= 1; k--)
		if (i + k >= t->n || TR_S(t, i + k))
			return k;
	/* \s+ */
	return run;
}

/* cl100k_base: number of code points of the piece at i */
static size_t tokref_cl100k(const struct tokref_text *t, size_t i)
{
	size_t k, r;

	if ((k = tokref_contraction(t, i)))
		return k;
	/* [^\r\n\p{L}\p{N}]?\p{L}+ */
	if (TR_PFX(t, i) && (r = TR_RUN(t, i + 1, TR_L)))
		return 1 + r;
	if ((r = TR_RUN(t, i, TR_L)))
		return r;
	/* \p{N}{1,3} */
	if ((r = TR_RUN(t, i, TR_N)))
		return r > 3 ? 3 : r;
	/*  ?[^\s\p{L}\p{N}]+[\r\n]* */
	if (i < t->n && t->cp[i] == ' ' && (r = TR_RUN(t, i + 1, TR_P)))
		return 1 + r + TR_RUN(t, i + 1 + r, TR_CRLF);
	if ((r = TR_RUN(t, i, TR_P)))
		return r + TR_RUN(t, i + r, TR_CRLF);
	return tokref_space(t, i);
}

#define TR_NLS(t, i)	((i) < (t)->n && ((t)->cp[i] == '\r' || (t)->cp[i] == '\n' || (t)->cp[i] == '/'))

/* o200k_base: number of code points of the piece at i */
static size_t tokref_o200k(const struct tokref_text *t, size_t i)
{
	size_t r, u, lo, pfx;
	int with;

	/* [^\r\n\p{L}\p{N}]?UP*LO+(contraction)? */
	for (with = 1; with >= 0; with--) {
		if (with && !TR_PFX(t, i))
			continue;
		pfx = (size_t)with;
		r = TR_RUN(t, i + pfx, TR_UP);
		for (u = r + 1; u-- > 0;) {
			lo = TR_RUN(t, i + pfx + u, TR_LO);
			if (lo)
				return pfx + u + lo + tokref_contraction(t, i + pfx + u + lo);
		}
	}
	/* [^\r\n\p{L}\p{N}]?UP+LO*(contraction)? */
	for (with = 1; with >= 0; with--) {
		if (with && !TR_PFX(t, i))
			continue;
		pfx = (size_t)with;
		u = TR_RUN(t, i + pfx, TR_UP);
		if (u) {
			lo = TR_RUN(t, i + pfx + u, TR_LO);
			return pfx + u + lo + tokref_contraction(t, i + pfx + u + lo);
		}
	}
	/* \p{N}{1,3} */
	if ((r = TR_RUN(t, i, TR_N)))
		return r > 3 ? 3 : r;
	/*  ?[^\s\p{L}\p{N}]+[\r\n/]* */
	if (i < t->n && t->cp[i] == ' ' && (r = TR_RUN(t, i + 1, TR_P)))
		return 1 + r + TR_RUN(t, i + 1 + r, TR_NLS);
	if ((r = TR_RUN(t, i, TR_P)))
		return r + TR_RUN(t, i + r, TR_NLS);
	return tokref_space(t, i);
}

/*
 * Textbook BPE of one piece (tiktoken's _byte_pair_merge): whole-piece
 * lookup, else merge the lowest-rank adjacent pair, leftmost on a tie.
 * Appends to ids; returns the count.
 */
static size_t tokref_bpe(const struct tok_encoding *e, const uint8_t *p, size_t n,
			 uint32_t *ids)
{
	size_t *st, m = n, k, best;
	uint32_t r, br;

	r = tok_rank(e, p, n);
	if (r != TOK_NO_RANK) {
		ids[0] = r;
		return 1;
	}
	st = malloc((n + 1) * sizeof(*st));
	if (!st)
		abort();
	for (k = 0; k <= n; k++)
		st[k] = k;
	for (;;) {
		br = TOK_NO_RANK;
		best = 0;
		for (k = 0; k + 1 < m; k++) {
			r = tok_rank(e, p + st[k], st[k + 2] - st[k]);
			if (r < br) {
				br = r;
				best = k;
			}
		}
		if (br == TOK_NO_RANK)
			break;
		memmove(&st[best + 1], &st[best + 2], (m - best - 1) * sizeof(*st));
		m--;
	}
	for (k = 0; k < m; k++) {
		ids[k] = tok_rank(e, p + st[k], st[k + 1] - st[k]);
		if (ids[k] == TOK_NO_RANK)
			abort();
	}
	free(st);
	return m;
}

/*
 * Reference encode_ordinary of valid UTF-8 s[0..bytes).  ids must have room
 * for `bytes` entries.  Piece boundaries (byte offsets, each piece's end)
 * into ends[] if not NULL (room for `bytes`), their number into *npieces.
 */
static size_t tokref_encode(const struct tok_encoding *e, const uint8_t *s, size_t bytes,
			    uint32_t *ids, size_t *ends, size_t *npieces)
{
	struct tokref_text t;
	size_t i = 0, out = 0, np = 0, k;

	if (tokref_decode(&t, s, bytes))
		abort();
	while (i < t.n) {
		k = e->id == TOK_O200K_BASE ? tokref_o200k(&t, i) : tokref_cl100k(&t, i);
		if (!k)
			abort();
		out += tokref_bpe(e, s + t.off[i], t.off[i + k] - t.off[i], ids + out);
		if (ends)
			ends[np] = t.off[i + k];
		np++;
		i += k;
	}
	if (npieces)
		*npieces = np;
	tokref_free(&t);
	return out;
}

#endif
