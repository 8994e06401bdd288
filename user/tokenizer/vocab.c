// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The vocabularies: embedded in the binary from data/tokenizer/{cl100k,o200k}_base.tokbin
 * (format and provenance: data/tokenizer/PROVENANCE.md), turned into a hash
 * table on first use.  Built once under pthread_once, immutable afterwards.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tok_internal.h"

#define INCBIN(sym, file)						\
	__asm__(".section .rodata\n"					\
		".balign 16\n"						\
		".globl " #sym "\n"					\
		".hidden " #sym "\n"					\
		".type " #sym ", @object\n"				\
		#sym ":\n"						\
		".incbin \"" file "\"\n"				\
		".globl " #sym "_end\n"					\
		".hidden " #sym "_end\n"				\
		#sym "_end:\n"						\
		".byte 0\n"						\
		".previous\n");						\
	extern const uint8_t sym[];					\
	extern const uint8_t sym##_end[]

INCBIN(tok_vocab_cl100k, "data/tokenizer/cl100k_base.tokbin");
INCBIN(tok_vocab_o200k, "data/tokenizer/o200k_base.tokbin");

static const struct {
	const char *name;
	const uint8_t *data;
	const uint8_t *end;
	tok_pretok_fn pretok;
	struct tok_special special[TOK_MAX_SPECIAL];
} tok_defs[TOK_ENC__COUNT] = {
	[TOK_CL100K_BASE] = {
		"cl100k_base", tok_vocab_cl100k, tok_vocab_cl100k_end, tok_pretok_cl100k,
		{
			{ "<|endoftext|>", 13, 100257 },
			{ "<|fim_prefix|>", 14, 100258 },
			{ "<|fim_middle|>", 14, 100259 },
			{ "<|fim_suffix|>", 14, 100260 },
			{ "<|endofprompt|>", 15, 100276 },
		},
	},
	[TOK_O200K_BASE] = {
		"o200k_base", tok_vocab_o200k, tok_vocab_o200k_end, tok_pretok_o200k,
		{
			{ "<|endoftext|>", 13, 199999 },
			{ "<|endofprompt|>", 15, 200018 },
		},
	},
};

static struct tok_encoding tok_encs[TOK_ENC__COUNT];
static int tok_load_err[TOK_ENC__COUNT];
static pthread_once_t tok_once[TOK_ENC__COUNT] = {
	PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT
};

/*
 * The hash table is read at random: back it with transparent huge pages
 * where the kernel allows (madvise mode), which cuts TLB misses.
 */
#define TOK_HUGE	(2u << 20)

static void *tok_alloc_table(size_t size)
{
	void *p;

	if (size >= TOK_HUGE) {
		size = (size + TOK_HUGE - 1) & ~(size_t)(TOK_HUGE - 1);
		p = aligned_alloc(TOK_HUGE, size);
		if (!p)
			return NULL;
		(void)madvise(p, size, MADV_HUGEPAGE);
		memset(p, 0, size);
		return p;
	}
	return calloc(1, size);
}

static int tok_insert(struct tok_encoding *e, uint32_t rank)
{
	const uint8_t *p = e->blob + e->offs[rank];
	uint32_t len = e->lens[rank];
	uint64_t k = tok_key8(p, len);
	uint32_t i = (uint32_t)tok_hash(p, len, k) & e->mask;

	if (e->offs[rank] >= (1u << 24))
		return -E2BIG;
	for (;; i = (i + 1) & e->mask) {
		struct tok_slot *sl = &e->slots[i];

		if (!(sl->len_off & 0xFF)) {
			uint64_t h = tok_hash(p, len, k);

			e->bloom[(h >> 32) & e->bloom_mask] |= tok_bloom_bits(h);
			sl->key8 = k;
			sl->rank = rank;
			sl->len_off = len | (e->offs[rank] << 8);
			return 0;
		}
		if ((sl->len_off & 0xFF) == len && sl->key8 == k &&
		    !memcmp(e->blob + (sl->len_off >> 8), p, len))
			return -EEXIST;	/* duplicate token: corrupt data */
	}
}

static int tok_build(struct tok_encoding *e, enum tok_enc id)
{
	const uint8_t *d = tok_defs[id].data;
	size_t size = (size_t)(tok_defs[id].end - d);
	uint32_t n, blob_len, off = 0, nslots, r, i;
	unsigned s;

	if (size < 16 || memcmp(d, "TGTOKV1", 8))
		return -EBADMSG;
	memcpy(&n, d + 8, 4);
	memcpy(&blob_len, d + 12, 4);
	if ((uint64_t)16 + n + blob_len != size)
		return -EBADMSG;

	e->id = id;
	e->name = tok_defs[id].name;
	e->pretok = tok_defs[id].pretok;
	e->n_ranks = n;
	e->lens = d + 16;
	e->blob = d + 16 + n;
	e->offs = malloc(((size_t)n + 1) * sizeof(*e->offs));
	e->pair2 = malloc(65536 * sizeof(*e->pair2));
	for (nslots = 1024; nslots < 2 * n + n / 2; nslots <<= 1)
		;
	e->slots = tok_alloc_table((size_t)nslots * sizeof(*e->slots));
	/* 16 bits per token, rounded up to a power of two */
	for (e->bloom_mask = 1; (uint64_t)e->bloom_mask * 64 < (uint64_t)n * 16; e->bloom_mask <<= 1)
		;
	e->bloom = calloc(e->bloom_mask, sizeof(*e->bloom));
	e->bloom_mask--;
	if (!e->offs || !e->pair2 || !e->slots || !e->bloom)
		return -ENOMEM;
	e->mask = nslots - 1;
	for (i = 0; i < 65536; i++)
		e->pair2[i] = TOK_NO_RANK;
	for (i = 0; i < 256; i++)
		e->byte_rank[i] = TOK_NO_RANK;

	for (r = 0; r < n; r++) {
		uint32_t len = e->lens[r];

		e->offs[r] = off;
		off += len;
		if (!len)
			continue;
		if (off > blob_len)
			return -EBADMSG;
		if (len > e->max_len)
			e->max_len = len;
		if (tok_insert(e, r))
			return -EBADMSG;
		if (len == 1)
			e->byte_rank[e->blob[e->offs[r]]] = r;
		else if (len == 2)
			e->pair2[e->blob[e->offs[r]] | (e->blob[e->offs[r] + 1] << 8)] = r;
	}
	e->offs[n] = off;
	for (i = 0; i < 256; i++)
		if (e->byte_rank[i] == TOK_NO_RANK)
			return -EBADMSG;	/* every byte must be a token */

	e->vocab_size = n;
	for (s = 0; s < TOK_MAX_SPECIAL && tok_defs[id].special[s].text; s++) {
		e->special[s] = tok_defs[id].special[s];
		if (e->special[s].id + 1 > e->vocab_size)
			e->vocab_size = e->special[s].id + 1;
	}
	e->n_special = s;
	return 0;
}

static void tok_load(enum tok_enc id)
{
	struct tok_encoding *e = &tok_encs[id];
	int err = tok_build(e, id);

	if (err) {
		free(e->offs);
		free(e->pair2);
		free(e->slots);
		free(e->bloom);
		memset(e, 0, sizeof(*e));
		tok_load_err[id] = err;
	}
}

static void tok_load_cl100k(void) { tok_load(TOK_CL100K_BASE); }
static void tok_load_o200k(void) { tok_load(TOK_O200K_BASE); }

const struct tok_encoding *tok_encoding_get(enum tok_enc enc)
{
	static void (*const loaders[TOK_ENC__COUNT])(void) = {
		[TOK_CL100K_BASE] = tok_load_cl100k,
		[TOK_O200K_BASE] = tok_load_o200k,
	};

	if ((int)enc < 0 || enc >= TOK_ENC__COUNT) {
		errno = EINVAL;
		return NULL;
	}
	pthread_once(&tok_once[enc], loaders[enc]);
	if (tok_load_err[enc]) {
		errno = -tok_load_err[enc];
		return NULL;
	}
	return &tok_encs[enc];
}

const char *tok_encoding_name(enum tok_enc enc)
{
	if ((int)enc < 0 || enc >= TOK_ENC__COUNT)
		return NULL;
	return tok_defs[enc].name;
}

enum tok_enc tok_encoding_by_name(const char *name)
{
	int i;

	if (!name)
		return TOK_ENC_UNKNOWN;
	for (i = 0; i < TOK_ENC__COUNT; i++)
		if (!strcmp(name, tok_defs[i].name))
			return (enum tok_enc)i;
	return TOK_ENC_UNKNOWN;
}

uint32_t tok_vocab_size(const struct tok_encoding *enc)
{
	return enc->vocab_size;
}

const uint8_t *tok_token_bytes(const struct tok_encoding *e, uint32_t id,
			       size_t *len)
{
	unsigned s;

	if (id < e->n_ranks && e->lens[id]) {
		*len = e->lens[id];
		return e->blob + e->offs[id];
	}
	for (s = 0; s < e->n_special; s++) {
		if (e->special[s].id == id) {
			*len = e->special[s].len;
			return (const uint8_t *)e->special[s].text;
		}
	}
	return NULL;
}

const char *tok_unicode_version(void)
{
	return tok_uc_version;
}
