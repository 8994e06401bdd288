// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Byte-pair encoding, as tiktoken does it: split the text into pieces
 * (pretok.h); a piece that is itself a token is that token; otherwise
 * start from its bytes and repeatedly merge the adjacent pair whose
 * concatenation has the lowest rank (the leftmost on a tie) until no pair
 * is a token.
 *
 * The cost is memory latency: every lookup is a random probe into a
 * multi-megabyte hash table.  So the text is processed in blocks of
 * pieces, and each stage issues its loads for the whole block before it
 * uses any of them:
 *
 *   1. split BLOCK pieces, hash each and prefetch its hash slot;
 *   2. resolve the whole-piece lookups (most pieces are one token);
 *      prefetch the memo entry of the rest;
 *   3. look the short ones up in the per-call memo of earlier BPE results;
 *   4. BPE what is left in LANES interleaved lanes: each merge step of a
 *      lane prefetches the slots of the two new pairs it created, and the
 *      other lanes' steps run while those loads are in flight;
 *   5. emit the block's ids in order.
 *
 * Lanes use tiktoken's array algorithm (pieces up to BPE_SMALL bytes);
 * longer pieces (long runs of letters, CJK text, whitespace) use a linked
 * list and a binary heap keyed by (rank, position), O(n log n).  Scratch
 * memory is allocated once per call and reused; nothing outlives the call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "pretok.h"

#define BLOCK		256	/* pieces per block */
#define LANES		8	/* BPE lanes interleaved */
#define BPE_SMALL	128	/* longer pieces: heap BPE */

/*
 * Per-call memo of BPE results: pieces that are not tokens recur (rare
 * words, identifiers, markup, separator lines), and BPE costs a dependent
 * hash lookup per merge.  Direct-mapped; an entry points at an earlier
 * occurrence of the piece in the text being encoded (alive for the whole
 * call) and is compared byte for byte.  Allocated once a call has BPE'd
 * PC_AFTER pieces.
 */
#define PC_BITS		13
#define PC_MAXIDS	11
#define PC_AFTER	64

struct pc_ent {			/* one cache line */
	uint64_t hash;
	const uint8_t *src;	/* the piece's bytes, in the caller's text */
	uint8_t len, nids;
	uint16_t pad;
	uint32_t ids[PC_MAXIDS];
};

struct blk_piece {
	uint32_t start, len;
	uint64_t key8, hash;	/* hash also for pieces longer than a token */
	uint32_t off;		/* its ids in scratch.bids */
	uint32_t cnt;		/* number of ids, 0 while unresolved */
};

struct part {
	uint32_t start, rank, tok;	/* rank: of merging with the next part */
};

struct lane {
	const uint8_t *p;
	uint32_t m;		/* live parts */
	uint32_t piece;		/* index in the block */
	uint32_t npend;
	struct {
		uint64_t k, h;
		uint32_t at, len, part;
	} pend[2];		/* lookups prefetched, not yet probed */
	struct part pt[BPE_SMALL + 1];
};

struct bpe_scratch {
	void *mem;		/* bpe_large's arrays */
	size_t size;
	struct pc_ent *cache;	/* 1 << PC_BITS entries, or NULL */
	size_t nbpe;		/* pieces BPE'd so far */
	uint32_t *bids;		/* the block's ids */
	size_t bcap;
	struct lane lanes[LANES];
};

/* Rank of p[a..b) for the BPE: most such pairs are not tokens. */
static inline uint32_t span_rank(const struct tok_encoding *e, const uint8_t *p,
				 size_t a, size_t b)
{
	size_t len = b - a;
	uint64_t k, h;

	if (len > e->max_len)
		return TOK_NO_RANK;
	k = tok_key8(p + a, len);
	h = tok_hash(p + a, len, k);
	if (!tok_maybe(e, h))
		return TOK_NO_RANK;
	return tok_rank_h(e, p + a, len, k, h);
}

/* min-heap of (rank << 32 | position) */
static inline void heap_push(uint64_t *h, size_t *hn, uint64_t v)
{
	size_t i = (*hn)++;

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (h[parent] <= v)
			break;
		h[i] = h[parent];
		i = parent;
	}
	h[i] = v;
}

static inline void heap_sift_down(uint64_t *h, size_t hn, size_t i)
{
	uint64_t v = h[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= hn)
			break;
		if (c + 1 < hn && h[c + 1] < h[c])
			c++;
		if (v <= h[c])
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = v;
}

static ssize_t bpe_large(const struct tok_encoding *e, const uint8_t *p, size_t n,
			 uint32_t *dst, struct bpe_scratch *scr)
{
	size_t need = n * (4 * sizeof(uint32_t) + 3 * sizeof(uint64_t)), hn = 0, k, m;
	uint32_t *nxt, *prv, *tok, *cur, pos, q, nq, pp, r;
	uint64_t *heap;

	if (n >= UINT32_MAX / 2)
		return -E2BIG;
	if (scr->size < need) {
		void *mem = malloc(need);

		if (!mem)
			return -ENOMEM;
		free(scr->mem);
		scr->mem = mem;
		scr->size = need;
	}
	heap = scr->mem;
	nxt = (uint32_t *)(heap + 3 * n);
	prv = nxt + n;
	tok = prv + n;
	cur = tok + n;

	for (k = 0; k < n; k++) {
		nxt[k] = (uint32_t)k + 1;
		prv[k] = (uint32_t)k - 1;
		tok[k] = e->byte_rank[p[k]];
		cur[k] = k + 1 < n ? e->pair2[p[k] | (p[k + 1] << 8)] : TOK_NO_RANK;
		if (cur[k] != TOK_NO_RANK)
			heap[hn++] = ((uint64_t)cur[k] << 32) | k;
	}
	for (k = hn / 2; k-- > 0;)
		heap_sift_down(heap, hn, k);

	while (hn) {
		uint64_t top = heap[0];

		heap[0] = heap[--hn];
		if (hn)
			heap_sift_down(heap, hn, 0);
		r = (uint32_t)(top >> 32);
		pos = (uint32_t)top;
		if (cur[pos] != r)
			continue;	/* stale */
		/* merge part pos with the next one, q */
		q = nxt[pos];
		tok[pos] = r;
		cur[q] = TOK_NO_RANK;
		nq = nxt[q];
		nxt[pos] = nq;
		if (nq < n)
			prv[nq] = pos;
		cur[pos] = nq < n ? span_rank(e, p, pos, nxt[nq]) : TOK_NO_RANK;
		if (cur[pos] != TOK_NO_RANK)
			heap_push(heap, &hn, ((uint64_t)cur[pos] << 32) | pos);
		if (pos > 0) {
			pp = prv[pos];
			cur[pp] = span_rank(e, p, pp, nq);
			if (cur[pp] != TOK_NO_RANK)
				heap_push(heap, &hn, ((uint64_t)cur[pp] << 32) | pp);
		}
	}
	for (m = 0, pos = 0; pos < n; pos = nxt[pos], m++)
		if (dst)
			dst[m] = tok[pos];
	return (ssize_t)m;
}

static int ids_reserve(struct tok_ids *out, size_t more)
{
	size_t cap;
	uint32_t *v;

	if (out->cap - out->len >= more)
		return 0;
	if (more > SIZE_MAX / sizeof(uint32_t) / 2 - out->len)
		return -ENOMEM;
	cap = out->cap ? out->cap : 64;
	while (cap - out->len < more)
		cap *= 2;
	v = realloc(out->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	out->v = v;
	out->cap = cap;
	return 0;
}


/* --- lanes ------------------------------------------------------------------ */

static inline void lane_start(const struct tok_encoding *e, struct lane *ln,
			      const uint8_t *p, uint32_t n, uint32_t piece)
{
	uint32_t k;

	ln->p = p;
	ln->m = n;
	ln->piece = piece;
	ln->npend = 0;
	for (k = 0; k + 1 < n; k++) {
		ln->pt[k].start = k;
		ln->pt[k].rank = e->pair2[p[k] | (p[k + 1] << 8)];
		ln->pt[k].tok = e->byte_rank[p[k]];
	}
	ln->pt[n - 1].start = n - 1;
	ln->pt[n - 1].rank = TOK_NO_RANK;
	ln->pt[n - 1].tok = e->byte_rank[p[n - 1]];
	ln->pt[n].start = n;
	ln->pt[n].rank = TOK_NO_RANK;
	ln->pt[n].tok = 0;
}

/* Queue the lookup of parts [a, b) for part index `part`; prefetch its slot. */
static inline void lane_lookup(const struct tok_encoding *e, struct lane *ln,
			       uint32_t part, uint32_t a, uint32_t b)
{
	uint32_t len = b - a;
	uint64_t k, h;

	if (len > e->max_len) {
		ln->pt[part].rank = TOK_NO_RANK;
		return;
	}
	k = tok_key8(ln->p + a, len);
	h = tok_hash(ln->p + a, len, k);
	__builtin_prefetch(&e->bloom[(h >> 32) & e->bloom_mask]);
	__builtin_prefetch(&e->slots[(uint32_t)h & e->mask]);
	ln->pend[ln->npend].k = k;
	ln->pend[ln->npend].h = h;
	ln->pend[ln->npend].at = a;
	ln->pend[ln->npend].len = len;
	ln->pend[ln->npend].part = part;
	ln->npend++;
}

/*
 * One merge step: probe the lookups the previous step prefetched, merge
 * the lowest-rank pair, queue the lookups of the two new pairs.  Returns
 * 0 while the lane has work, else the number of parts (= ids) left.
 */
static inline uint32_t lane_step(const struct tok_encoding *e, struct lane *ln)
{
	struct part *pt = ln->pt;
	uint32_t k, best = 0, br = TOK_NO_RANK, m;

	for (k = 0; k < ln->npend; k++)
		pt[ln->pend[k].part].rank =
			tok_maybe(e, ln->pend[k].h)
				? tok_rank_h(e, ln->p + ln->pend[k].at, ln->pend[k].len,
					     ln->pend[k].k, ln->pend[k].h)
				: TOK_NO_RANK;
	ln->npend = 0;
	m = ln->m;
	for (k = 0; k + 1 < m; k++) {
		if (pt[k].rank < br) {
			br = pt[k].rank;
			best = k;
		}
	}
	if (br == TOK_NO_RANK)
		return m;
	pt[best].tok = br;
	for (k = best + 1; k < m; k++)		/* drop part best + 1 */
		pt[k] = pt[k + 1];
	ln->m = --m;
	if (best > 0)
		lane_lookup(e, ln, best - 1, pt[best - 1].start, pt[best + 1].start);
	if (best + 1 < m)
		lane_lookup(e, ln, best, pt[best].start, pt[best + 2].start);
	else
		pt[best].rank = TOK_NO_RANK;
	return 0;
}

static inline void memo_put(struct bpe_scratch *scr, const struct blk_piece *bp,
			    const uint8_t *p, const uint32_t *ids, uint32_t n)
{
	struct pc_ent *ce;

	if (!scr->cache || n > PC_MAXIDS)
		return;
	ce = &scr->cache[(bp->hash >> 40) & ((1u << PC_BITS) - 1)];
	ce->hash = bp->hash;
	ce->src = p;
	ce->len = (uint8_t)bp->len;
	ce->nids = (uint8_t)n;
	memcpy(ce->ids, ids, n * sizeof(*ids));
}

/* BPE the block's pieces listed in q[0..nq) in interleaved lanes. */
static void bpe_lanes(const struct tok_encoding *e, const uint8_t *s, struct blk_piece *bp,
		      const uint32_t *q, uint32_t nq, struct bpe_scratch *scr)
{
	struct lane *ln = scr->lanes;
	uint32_t active = 0, next = 0, k, j, r;
	uint8_t busy[LANES];

	for (k = 0; k < LANES; k++) {
		busy[k] = next < nq;
		if (busy[k]) {
			const struct blk_piece *b = &bp[q[next]];

			lane_start(e, &ln[k], s + b->start, b->len, q[next]);
			next++;
			active++;
		}
	}
	while (active) {
		for (k = 0; k < LANES; k++) {
			if (!busy[k] || !(r = lane_step(e, &ln[k])))
				continue;
			struct blk_piece *b = &bp[ln[k].piece];
			uint32_t *dst = scr->bids + b->off;

			for (j = 0; j < r; j++)
				dst[j] = ln[k].pt[j].tok;
			b->cnt = r;
			memo_put(scr, b, s + b->start, dst, r);
			if (next < nq) {
				const struct blk_piece *nb = &bp[q[next]];

				lane_start(e, &ln[k], s + nb->start, nb->len, q[next]);
				next++;
			} else {
				busy[k] = 0;
				active--;
			}
		}
	}
}

/* --- the block loop --------------------------------------------------------- */

static int bids_reserve(struct bpe_scratch *scr, size_t need)
{
	uint32_t *nb;
	size_t cap;

	if (scr->bcap >= need)
		return 0;
	cap = scr->bcap ? scr->bcap : 4096;
	while (cap < need)
		cap *= 2;
	nb = realloc(scr->bids, cap * sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	scr->bids = nb;
	scr->bcap = cap;
	return 0;
}

/*
 * Encode valid UTF-8 s[0..n) with no special tokens; out NULL: count only.
 * The splitter is a template argument so each encoding gets its own loop
 * with it inlined.
 */
static inline __attribute__((always_inline)) ssize_t
encode_ordinary_tmpl(const struct tok_encoding *e, const uint8_t *s, size_t n,
		     struct tok_ids *out, struct bpe_scratch *scr,
		     size_t (*split)(const uint8_t *, size_t, size_t))
{
	struct blk_piece bp[BLOCK];
	uint32_t q[BLOCK], nb, nq, k, off;
	size_t i = 0, count = 0, j;
	ssize_t r;

	if (n >= UINT32_MAX)
		return -E2BIG;
	while (i < n) {
		/* 1. split, hash, prefetch */
		for (nb = 0, off = 0; nb < BLOCK && i < n; nb++) {
			struct blk_piece *b = &bp[nb];

			j = split(s, n, i);
			b->start = (uint32_t)i;
			b->len = (uint32_t)(j - i);
			b->off = off;
			b->cnt = 0;
			off += b->len;
			if (b->len >= 3) {
				b->key8 = tok_key8(s + i, b->len);
				b->hash = tok_hash(s + i, b->len, b->key8);
				if (b->len <= e->max_len)
					__builtin_prefetch(&e->slots[(uint32_t)b->hash & e->mask]);
			}
			i = j;
		}
		if (bids_reserve(scr, off))
			return -ENOMEM;

		/* 2. single bytes, pairs, whole pieces */
		for (k = 0; k < nb; k++) {
			struct blk_piece *b = &bp[k];
			const uint8_t *p = s + b->start;
			uint32_t *dst = scr->bids + b->off, rk;

			if (b->len == 1) {
				dst[0] = e->byte_rank[p[0]];
				b->cnt = 1;
			} else if (b->len == 2) {
				rk = e->pair2[p[0] | (p[1] << 8)];
				if (rk != TOK_NO_RANK) {
					dst[0] = rk;
					b->cnt = 1;
				} else {
					dst[0] = e->byte_rank[p[0]];
					dst[1] = e->byte_rank[p[1]];
					b->cnt = 2;
				}
			} else if (b->len <= e->max_len &&
				   (rk = tok_rank_h(e, p, b->len, b->key8, b->hash)) != TOK_NO_RANK) {
				dst[0] = rk;
				b->cnt = 1;
			} else if (scr->cache && b->len <= BPE_SMALL) {
				__builtin_prefetch(&scr->cache[(b->hash >> 40) & ((1u << PC_BITS) - 1)]);
			}
		}

		/* 3. the memo; long pieces; queue the rest for the lanes */
		for (k = 0, nq = 0; k < nb; k++) {
			struct blk_piece *b = &bp[k];
			const uint8_t *p = s + b->start;

			if (b->cnt)
				continue;
			if (b->len <= BPE_SMALL && scr->cache) {
				const struct pc_ent *ce =
					&scr->cache[(b->hash >> 40) & ((1u << PC_BITS) - 1)];

				if (ce->hash == b->hash && ce->len == b->len &&
				    !memcmp(ce->src, p, b->len)) {
					memcpy(scr->bids + b->off, ce->ids, ce->nids * sizeof(uint32_t));
					b->cnt = ce->nids;
					continue;
				}
			}
			if (b->len > BPE_SMALL) {
				r = bpe_large(e, p, b->len, scr->bids + b->off, scr);
				if (r < 0)
					return r;
				b->cnt = (uint32_t)r;
				continue;
			}
			q[nq++] = k;
		}
		if (nq) {
			scr->nbpe += nq;
			if (!scr->cache && scr->nbpe >= PC_AFTER)
				scr->cache = calloc(1u << PC_BITS, sizeof(*scr->cache));
			bpe_lanes(e, s, bp, q, nq, scr);
		}

		/* 5. emit in order */
		if (out) {
			uint32_t total = 0;

			for (k = 0; k < nb; k++)
				total += bp[k].cnt;
			if (ids_reserve(out, total))
				return -ENOMEM;
			for (k = 0; k < nb; k++) {
				memcpy(out->v + out->len, scr->bids + bp[k].off,
				       bp[k].cnt * sizeof(uint32_t));
				out->len += bp[k].cnt;
			}
			count += total;
		} else {
			for (k = 0; k < nb; k++)
				count += bp[k].cnt;
		}
	}
	return (ssize_t)count;
}

static ssize_t encode_ordinary(const struct tok_encoding *e, const uint8_t *s, size_t n,
			       struct tok_ids *out, struct bpe_scratch *scr)
{
	if (e->id == TOK_O200K_BASE)
		return encode_ordinary_tmpl(e, s, n, out, scr, pretok_o200k);
	return encode_ordinary_tmpl(e, s, n, out, scr, pretok_cl100k);
}

/* The first special token at or after s[from], its index in *which. */
static const uint8_t *find_special(const struct tok_encoding *e, const uint8_t *s,
				   size_t n, unsigned *which)
{
	const uint8_t *p = s, *end = s + n;
	unsigned k;

	while ((p = memmem(p, (size_t)(end - p), "<|", 2))) {
		for (k = 0; k < e->n_special; k++) {
			const struct tok_special *sp = &e->special[k];

			if ((size_t)(end - p) >= sp->len && !memcmp(p, sp->text, sp->len)) {
				*which = k;
				return p;
			}
		}
		p += 2;
	}
	return NULL;
}

static ssize_t encode_text(const struct tok_encoding *e, const uint8_t *s, size_t n,
			   unsigned flags, struct tok_ids *out, struct bpe_scratch *scr)
{
	const uint8_t *sp;
	size_t count = 0;
	ssize_t k;
	unsigned which;

	if (!(flags & TOK_ALLOW_SPECIAL))
		return encode_ordinary(e, s, n, out, scr);
	while ((sp = find_special(e, s, n, &which))) {
		k = encode_ordinary(e, s, (size_t)(sp - s), out, scr);
		if (k < 0)
			return k;
		count += (size_t)k + 1;
		if (out) {
			if (ids_reserve(out, 1))
				return -ENOMEM;
			out->v[out->len++] = e->special[which].id;
		}
		n -= (size_t)(sp - s) + e->special[which].len;
		s = sp + e->special[which].len;
	}
	k = encode_ordinary(e, s, n, out, scr);
	if (k < 0)
		return k;
	return (ssize_t)(count + (size_t)k);
}

static ssize_t encode_any(const struct tok_encoding *e, const void *text, size_t len,
			  unsigned flags, struct tok_ids *out)
{
	struct bpe_scratch scr;
	const uint8_t *s = text;
	uint8_t *fixed = NULL;
	size_t n = len, old_len = out ? out->len : 0;
	ssize_t r;

	if (!len)
		return 0;
	scr.mem = NULL;
	scr.size = 0;
	scr.cache = NULL;
	scr.nbpe = 0;
	scr.bids = NULL;
	scr.bcap = 0;
	if (tok_utf8_valid_prefix(s, len) != len) {
		fixed = tok_utf8_repair(s, len, &n);
		if (!fixed)
			return -ENOMEM;
		s = fixed;
	}
	r = encode_text(e, s, n, flags, out, &scr);
	if (r < 0 && out)
		out->len = old_len;
	free(scr.cache);
	free(scr.bids);
	free(scr.mem);
	free(fixed);
	return r;
}

int tok_encode(const struct tok_encoding *enc, const void *text, size_t len,
	       unsigned flags, struct tok_ids *out)
{
	ssize_t r = encode_any(enc, text, len, flags, out);

	return r < 0 ? (int)r : 0;
}

ssize_t tok_count(const struct tok_encoding *enc, const void *text, size_t len,
		  unsigned flags)
{
	return encode_any(enc, text, len, flags, NULL);
}

void tok_ids_free(struct tok_ids *ids)
{
	if (!ids)
		return;
	free(ids->v);
	ids->v = NULL;
	ids->len = ids->cap = 0;
}

int tok_decode(const struct tok_encoding *enc, const uint32_t *ids, size_t n,
	       uint8_t **buf, size_t *len)
{
	size_t total = *len, k, l;
	const uint8_t *b;
	uint8_t *nb;

	for (k = 0; k < n; k++) {
		if (!tok_token_bytes(enc, ids[k], &l))
			return -EINVAL;
		total += l;
	}
	nb = realloc(*buf, total + 1);
	if (!nb)
		return -ENOMEM;
	*buf = nb;
	for (k = 0; k < n; k++) {
		b = tok_token_bytes(enc, ids[k], &l);
		memcpy(nb + *len, b, l);
		*len += l;
	}
	nb[*len] = 0;
	return 0;
}
