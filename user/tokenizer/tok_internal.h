/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Tokenizer internals shared by the user/tokenizer sources and the unit tests.
 */
#ifndef TOLLGATE_TOK_INTERNAL_H
#define TOLLGATE_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenizer.h"

/* --- Unicode classes (unicode_tables.c, generated) ------------------------ */

#define TOK_UC_L	0x01u	/* \p{L} */
#define TOK_UC_N	0x02u	/* \p{N} */
#define TOK_UC_S	0x04u	/* \s: White_Space */
#define TOK_UC_UP	0x08u	/* [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] */
#define TOK_UC_LO	0x10u	/* [\p{Ll}\p{Lm}\p{Lo}\p{M}] */
#define TOK_UC_NL	0x20u	/* \r or \n */
#define TOK_UC_M	0x40u	/* \p{M} */
#define TOK_UC_ASSIGNED	0x80u	/* General_Category != Cn (in tok_uc_version) */
#define TOK_UC_SHIFT	7

struct tok_uc_fold {
	uint32_t cp;
	char ascii;	/* the ASCII letter cp case-folds to */
};

extern const char tok_uc_version[];
extern const uint8_t tok_uc_stage1[0x110000 >> TOK_UC_SHIFT];
extern const uint8_t tok_uc_stage2[];
extern const struct tok_uc_fold tok_uc_folds[];
extern const unsigned tok_uc_nfolds;

static inline unsigned tok_uc_class(uint32_t cp)
{
	if (cp >= 0x110000)
		return 0;
	return tok_uc_stage2[((unsigned)tok_uc_stage1[cp >> TOK_UC_SHIFT] << TOK_UC_SHIFT) |
			     (cp & ((1u << TOK_UC_SHIFT) - 1))];
}

/*
 * Class of the character at s[i] (valid UTF-8 required), its byte length
 * in *len.
 */
static inline unsigned tok_cls_at(const uint8_t *s, size_t i, size_t *len)
{
	uint32_t b = s[i], cp;

	if (b < 0x80) {
		*len = 1;
		return tok_uc_stage2[b];	/* block 0 is U+0000..U+007F */
	}
	if (b < 0xE0) {
		cp = ((b & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
		*len = 2;
	} else if (b < 0xF0) {
		cp = ((b & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
		*len = 3;
	} else {
		cp = ((b & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) |
		     ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3Fu);
		*len = 4;
	}
	return tok_uc_class(cp);
}

/* --- UTF-8 (utf8.c) -------------------------------------------------------- */

/* Length of the longest valid UTF-8 prefix of s[0..n). */
size_t tok_utf8_valid_prefix(const uint8_t *s, size_t n);
/*
 * Copy s[0..n) to a new buffer with each maximal ill-formed subpart
 * replaced by U+FFFD (EF BF BD).  NULL on allocation failure.
 */
uint8_t *tok_utf8_repair(const uint8_t *s, size_t n, size_t *outlen);

/* --- Pretokenizers (pretok.c) ---------------------------------------------- */

/*
 * End of the piece that starts at s[i], 0 <= i < n, for valid UTF-8
 * s[0..n).  The patterns are tiktoken's, matched with the regex engine's
 * leftmost-first (backtracking-priority) semantics; see pretok.c.
 */
size_t tok_pretok_cl100k(const uint8_t *s, size_t n, size_t i);
size_t tok_pretok_o200k(const uint8_t *s, size_t n, size_t i);

/* --- Encodings (vocab.c) --------------------------------------------------- */

#define TOK_NO_RANK	UINT32_MAX
#define TOK_MAX_SPECIAL	8

struct tok_slot {		/* one open-addressing hash slot, 16 bytes */
	uint64_t key8;		/* first min(len, 8) bytes, little-endian, zero-padded */
	uint32_t rank;
	uint32_t len_off;	/* length (low 8 bits, 0: empty) | offset in blob << 8 */
};

struct tok_special {
	const char *text;
	uint32_t len;
	uint32_t id;
};

typedef size_t (*tok_pretok_fn)(const uint8_t *s, size_t n, size_t i);

struct tok_encoding {
	enum tok_enc id;
	const char *name;
	tok_pretok_fn pretok;
	uint32_t n_ranks;	/* rank slots 0..n_ranks-1 (some may be unused) */
	uint32_t max_len;	/* longest token, bytes */
	uint32_t vocab_size;	/* incl. special tokens */
	const uint8_t *blob;	/* token bytes in rank order (embedded) */
	const uint8_t *lens;	/* byte length per rank, 0 = unused */
	uint32_t *offs;		/* offset of each rank's bytes in blob */
	struct tok_slot *slots;
	uint32_t mask;		/* slots - 1 */
	uint32_t *pair2;	/* rank of every 2-byte string, [b0 | b1 << 8] */
	uint64_t *bloom;	/* blocked Bloom filter of all tokens, 2 bits each */
	uint32_t bloom_mask;	/* words - 1 */
	uint32_t byte_rank[256];
	unsigned n_special;
	struct tok_special special[TOK_MAX_SPECIAL];
};

/* Load a key of 1..n bytes without reading past p[len-1]. */
static inline uint64_t tok_key8(const uint8_t *p, size_t len)
{
	uint64_t v;
	uint32_t lo, hi;

	if (len >= 8) {
		memcpy(&v, p, 8);
		return v;
	}
	if (len >= 4) {
		memcpy(&lo, p, 4);
		memcpy(&hi, p + len - 4, 4);
		return (uint64_t)lo | ((uint64_t)hi << ((len - 4) * 8));
	}
	if (len == 0)
		return 0;
	return (uint64_t)p[0] | ((uint64_t)p[len >> 1] << ((len >> 1) * 8)) |
	       ((uint64_t)p[len - 1] << ((len - 1) * 8));
}

static inline uint64_t tok_hash(const uint8_t *p, size_t len, uint64_t key8)
{
	uint64_t h = key8 ^ ((uint64_t)len << 59);

	if (len > 8) {
		uint64_t t;

		memcpy(&t, p + len - 8, 8);
		h ^= (t << 29) | (t >> 35);
		h += t * 0xC2B2AE3D27D4EB4Full;
	}
	h ^= h >> 31;
	h *= 0x9E3779B97F4A7C15ull;
	h ^= h >> 29;
	return h;
}

/* The rest of a key longer than 8 bytes equals the token at blob[off]. */
static inline int tok_tail_eq(const uint8_t *tok, const uint8_t *p, size_t len)
{
	uint64_t a, b;

	if (len <= 16) {	/* the last 8 bytes cover the rest */
		memcpy(&a, tok + len - 8, 8);
		memcpy(&b, p + len - 8, 8);
		return a == b;
	}
	return !memcmp(tok + 8, p + 8, len - 8);
}

/* Rank of p[0..len) given its key and hash (see tok_rank). */
static inline uint32_t tok_rank_h(const struct tok_encoding *e, const uint8_t *p,
				  size_t len, uint64_t k, uint64_t h)
{
	uint32_t i = (uint32_t)h & e->mask;

	for (;; i = (i + 1) & e->mask) {
		const struct tok_slot *sl = &e->slots[i];
		uint32_t lo = sl->len_off;

		if ((lo & 0xFF) == len && sl->key8 == k &&
		    (len <= 8 || tok_tail_eq(e->blob + (lo >> 8), p, len)))
			return sl->rank;
		if (!(lo & 0xFF))
			return TOK_NO_RANK;
	}
}

/*
 * May p[0..len) with hash h be a token?  No false negatives; about 1 %
 * false positives.  The filter (16 bits per token) stays in L2 cache,
 * so the BPE's many lookups of pairs that are not tokens skip the big
 * table, whose slots would be cache misses.
 */
static inline uint64_t tok_bloom_bits(uint64_t h)
{
	return (1ull << ((h >> 20) & 63)) | (1ull << ((h >> 26) & 63));
}

static inline int tok_maybe(const struct tok_encoding *e, uint64_t h)
{
	uint64_t m = tok_bloom_bits(h);

	return (e->bloom[(h >> 32) & e->bloom_mask] & m) == m;
}

/* Rank of the byte string p[0..len), TOK_NO_RANK if it is not a token. */
static inline uint32_t tok_rank(const struct tok_encoding *e, const uint8_t *p,
				size_t len)
{
	uint64_t k = tok_key8(p, len);

	return tok_rank_h(e, p, len, k, tok_hash(p, len, k));
}


/* JSON accessors shared by chat counting and the estimates. */
#include <json-c/json.h>

static inline struct json_object *tok_jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static inline const char *tok_jstr(struct json_object *o, const char *key)
{
	struct json_object *v = tok_jget(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static inline int tok_jarr(struct json_object *o)
{
	return o && json_object_is_type(o, json_type_array);
}


/* A growable, NUL-terminated byte string; err is sticky (-ENOMEM). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct sbuf {
	char *p;
	size_t len, cap;
	int err;
};

static inline void sb_add(struct sbuf *b, const char *s, size_t n)
{
	char *np;
	size_t cap;

	if (b->err)
		return;
	if (b->cap - b->len < n + 1) {
		cap = b->cap ? b->cap : 256;
		while (cap - b->len < n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->err = -ENOMEM;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

#endif
