/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Hand-written pretokenizers: each returns the end of the piece that
 * starts at s[i], exactly as tiktoken's regex (Rust fancy-regex / regex,
 * leftmost-first alternation, greedy backtracking) would split it.
 *
 * Classes (tok_internal.h): L = \p{L}, N = \p{N}, S = \s (Unicode
 * White_Space, which includes U+0085 and U+00A0), NL = \r|\n,
 * UP = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}], LO = [\p{Ll}\p{Lm}\p{Lo}\p{M}],
 * P = [^\s\p{L}\p{N}].
 *
 * cl100k_base, as the npm tiktoken (and tiktoken < 0.8) writes it:
 *
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3}
 *   | ?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 *
 * Current Python tiktoken writes it with possessive quantifiers and
 * `\s++$|\s*[\r\n]|\s+(?!\S)|\s` for the whitespace tail.  The two split
 * identically except for whitespace that runs to the end of the text and
 * holds a newline: "\n  " is one piece for the newer pattern, "\n" + "  "
 * for the older.  The ids are the same either way, because no cl100k token
 * ends in a newline followed by other whitespace (so BPE never merges
 * across that point) and every whitespace-only token is reachable by BPE
 * (checked over the whole vocabulary by tests/unit/test_tokenizer.c).
 *
 * o200k_base:
 *
 *   [^\r\n\p{L}\p{N}]?UP*LO+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
 *   | [^\r\n\p{L}\p{N}]?UP+LO*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
 *   | \p{N}{1,3} | ?[^\s\p{L}\p{N}]+[\r\n/]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 *
 * Both whitespace tails behave the same: a whitespace run [i, j) gives
 * [i, last \r or \n + 1) if it holds one; else the whole run if it ends
 * the text; else all but its last character if it has two or more; else
 * the single character.
 */
#ifndef TOLLGATE_TOK_PRETOK_H
#define TOLLGATE_TOK_PRETOK_H

#include "tok_internal.h"

/* End of the run of characters from i whose class has any bit of `any`. */
static inline size_t scan_any(const uint8_t *s, size_t n, size_t i, unsigned any)
{
	size_t l;

	while (i < n && (tok_cls_at(s, i, &l) & any))
		i += l;
	return i;
}

/* End of the run of P characters (no L, N or S) from i. */
static inline size_t scan_punct(const uint8_t *s, size_t n, size_t i)
{
	size_t l;

	while (i < n && !(tok_cls_at(s, i, &l) & (TOK_UC_L | TOK_UC_N | TOK_UC_S)))
		i += l;
	return i;
}

/* \p{N}{1,3} from i (s[i] is N). */
static inline size_t scan_digits(const uint8_t *s, size_t n, size_t i)
{
	size_t l;
	int k;

	tok_cls_at(s, i, &l);
	i += l;
	for (k = 1; k < 3 && i < n && (tok_cls_at(s, i, &l) & TOK_UC_N); k++)
		i += l;
	return i;
}

/* The whitespace alternatives, s[i] is S. */
static inline size_t scan_space(const uint8_t *s, size_t n, size_t i)
{
	size_t j = i, l, last = i, nl = 0;
	int have_nl = 0;
	unsigned c;

	while (j < n) {
		c = tok_cls_at(s, j, &l);
		if (!(c & TOK_UC_S))
			break;
		if (c & TOK_UC_NL) {
			have_nl = 1;
			nl = j;
		}
		last = j;
		j += l;
	}
	if (have_nl)
		return nl + 1;		/* \s*[\r\n]+ */
	if (j == n || last == i)
		return j;		/* \s+(?!\S) at the end, or \s+ */
	return last;			/* \s+(?!\S) */
}

/*
 * The ASCII letter the character at s[i] case-folds to (regex (?i) simple
 * folding), 0 if none; its length in *len.
 */
static inline int fold_at(const uint8_t *s, size_t n, size_t i, size_t *len)
{
	uint8_t b;
	uint32_t cp;
	unsigned k;

	if (i >= n)
		return 0;
	b = s[i];
	if (b < 0x80) {
		*len = 1;
		if (b >= 'A' && b <= 'Z')
			return b + 32;
		return (b >= 'a' && b <= 'z') ? b : 0;
	}
	if (b < 0xE0) {
		cp = ((b & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
		*len = 2;
	} else if (b < 0xF0) {
		cp = ((b & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
		*len = 3;
	} else {
		return 0;	/* no 4-byte character folds to ASCII */
	}
	for (k = 0; k < tok_uc_nfolds; k++)
		if (tok_uc_folds[k].cp == cp)
			return tok_uc_folds[k].ascii;
	return 0;
}

/* Length of (?i:'s|'t|'re|'ve|'m|'ll|'d) at s[i], 0 if none. */
static inline size_t contraction(const uint8_t *s, size_t n, size_t i)
{
	size_t l1, l2;
	int a, b;

	if (i >= n || s[i] != '\'')
		return 0;
	a = fold_at(s, n, i + 1, &l1);
	switch (a) {
	case 's': case 't': case 'm': case 'd':
		return 1 + l1;
	case 'r': case 'v':
		b = fold_at(s, n, i + 1 + l1, &l2);
		return b == 'e' ? 1 + l1 + l2 : 0;
	case 'l':
		b = fold_at(s, n, i + 1 + l1, &l2);
		return b == 'l' ? 1 + l1 + l2 : 0;
	default:
		return 0;
	}
}

static inline size_t pretok_cl100k(const uint8_t *s, size_t n, size_t i)
{
	size_t l, l2, k;
	unsigned c, c2;

	c = tok_cls_at(s, i, &l);
	if (s[i] == '\'' && (k = contraction(s, n, i)))
		return i + k;
	if (c & TOK_UC_L)				/* \p{L}+ */
		return scan_any(s, n, i + l, TOK_UC_L);
	if (!(c & (TOK_UC_N | TOK_UC_NL)) && i + l < n) {	/* [^\r\n\p{L}\p{N}]\p{L}+ */
		c2 = tok_cls_at(s, i + l, &l2);
		if (c2 & TOK_UC_L)
			return scan_any(s, n, i + l + l2, TOK_UC_L);
	}
	if (c & TOK_UC_N)
		return scan_digits(s, n, i);
	if (!(c & TOK_UC_S) ||				/* P+[\r\n]* */
	    (s[i] == ' ' && i + 1 < n &&			/* ' 'P+[\r\n]* */
	     !(tok_cls_at(s, i + 1, &l2) & (TOK_UC_L | TOK_UC_N | TOK_UC_S)))) {
		k = scan_punct(s, n, (c & TOK_UC_S) ? i + 1 : i + l);
		while (k < n && (s[k] == '\r' || s[k] == '\n'))
			k++;
		return k;
	}
	return scan_space(s, n, i);
}

/*
 * [UP]*[LO]+ from st, leftmost-first: the U-run [st, u) is maximal; if the
 * character at u is LO (then it is Ll), LO+ runs on from u.  Otherwise the
 * regex backtracks UP* to the last character of the run that is also LO
 * (Lm, Lo or M) and LO+ takes just that one.  0 if there is none.
 */
static inline size_t o200k_word(const uint8_t *s, size_t n, size_t st)
{
	size_t j = st, l, both_end = 0;
	unsigned c;

	while (j < n) {
		c = tok_cls_at(s, j, &l);
		if (!(c & TOK_UC_UP))
			break;
		if (c & TOK_UC_LO)
			both_end = j + l;
		j += l;
	}
	if (j < n && (tok_cls_at(s, j, &l) & TOK_UC_LO))
		return scan_any(s, n, j + l, TOK_UC_LO);
	return both_end;
}

static inline size_t with_contraction(const uint8_t *s, size_t n, size_t e)
{
	return e + contraction(s, n, e);
}

static inline size_t pretok_o200k(const uint8_t *s, size_t n, size_t i)
{
	size_t l, l2, e, k;
	unsigned c;

	c = tok_cls_at(s, i, &l);
	if (c & TOK_UC_L) {
		/* no prefix: UP*LO+, else UP+ (then LO* is empty) */
		e = o200k_word(s, n, i);
		if (!e)
			e = scan_any(s, n, i, TOK_UC_UP);
		return with_contraction(s, n, e);
	}
	if (c & TOK_UC_N)
		return scan_digits(s, n, i);
	if (!(c & TOK_UC_NL)) {
		/* c may be the optional [^\r\n\p{L}\p{N}] prefix */
		e = o200k_word(s, n, i + l);
		if (e)
			return with_contraction(s, n, e);
		if (c & TOK_UC_M)	/* no prefix: the mark alone is UP*LO+ */
			return with_contraction(s, n, i + l);
		e = scan_any(s, n, i + l, TOK_UC_UP);
		if (e > i + l)		/* prefix UP+ */
			return with_contraction(s, n, e);
	}
	if (!(c & TOK_UC_S) ||				/* P+[\r\n/]* */
	    (s[i] == ' ' && i + 1 < n &&			/* ' 'P+[\r\n/]* */
	     !(tok_cls_at(s, i + 1, &l2) & (TOK_UC_L | TOK_UC_N | TOK_UC_S)))) {
		k = scan_punct(s, n, (c & TOK_UC_S) ? i + 1 : i + l);
		while (k < n && (s[k] == '\r' || s[k] == '\n' || s[k] == '/'))
			k++;
		return k;
	}
	return scan_space(s, n, i);
}

#endif
