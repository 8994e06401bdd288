// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The connection table.
 *
 * Capture numbers every byte of a connection by direction, so delivery
 * here is by offset: a jump forward is a gap of known length, a step back
 * is data seen twice.  A connection is also numbered by generation: an
 * event of a newer generation of the same (tgid, ssl) ends the old stream
 * and starts a new one; an older generation's event is stale.  A new
 * connection is watched until its role is clear: a client writing an
 * HTTP/1 request is metered; a server (requests arrive), HTTP/2, or
 * anything else is handed back to be ignored in the kernel.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "stream.h"

enum conn_role {
	ROLE_UNKNOWN,
	ROLE_CLIENT,		/* HTTP/1 client: an exchange follows it */
	ROLE_IGNORED,
};

struct conn {
	uint32_t tgid;
	uint64_t ssl;
	uint64_t gen;
	uint64_t next[2];		/* next expected offset, per direction */
	uint64_t last_ns;
	uint64_t watched;		/* bytes seen while ROLE_UNKNOWN */
	uint8_t head[24];		/* the first bytes written, while they may
					   be the start of an HTTP/2 preface */
	uint8_t nhead;
	enum conn_role role;
	struct exchange *x;
	struct conn *hnext;		/* hash chain */
	struct conn *pnext;		/* same process */
	struct conn *lru_prev, *lru_next;
};

struct stream_table {
	struct stream_cfg cfg;
	struct stream_ops ops;
	void *ctx;
	struct conn **buckets;
	struct conn **by_proc;		/* tgid -> chain through pnext */
	size_t nbuckets;		/* power of two */
	struct conn *lru_head, *lru_tail;	/* least recently used first */
	struct stream_stats st;
};

void stream_cfg_default(struct stream_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_conns = 65536;
	cfg->idle_ns = 300ull * 1000000000ull;
	cfg->detect_budget = 64 << 10;
	cfg->exchange.max_body = 64ull << 20;
	cfg->exchange.max_decoded = 256ull << 20;
	cfg->exchange.max_pending = 64;
	cfg->exchange.max_sse_event = 4 << 20;
	cfg->exchange.max_member = 1 << 20;
}

static size_t hash_key(uint32_t tgid, uint64_t ssl, size_t n)
{
	uint64_t h = (ssl ^ ((uint64_t)tgid << 32 | tgid)) * 0x9e3779b97f4a7c15ull;

	return (h >> 29) & (n - 1);
}

static size_t hash_proc(uint32_t tgid, size_t n)
{
	return ((uint64_t)tgid * 0x9e3779b97f4a7c15ull >> 32) & (n - 1);
}

struct stream_table *stream__new(const struct stream_cfg *cfg,
				 const struct stream_ops *ops, void *ctx)
{
	struct stream_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cfg = *cfg;
	t->ops = *ops;
	t->ctx = ctx;
	t->nbuckets = 1024;
	while (t->nbuckets < cfg->max_conns)
		t->nbuckets <<= 1;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	t->by_proc = calloc(t->nbuckets, sizeof(*t->by_proc));
	if (!t->buckets || !t->by_proc) {
		free(t->buckets);
		free(t->by_proc);
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

static void lru_unlink(struct stream_table *t, struct conn *c)
{
	if (c->lru_prev)
		c->lru_prev->lru_next = c->lru_next;
	else
		t->lru_head = c->lru_next;
	if (c->lru_next)
		c->lru_next->lru_prev = c->lru_prev;
	else
		t->lru_tail = c->lru_prev;
	c->lru_prev = c->lru_next = NULL;
}

static void lru_append(struct stream_table *t, struct conn *c)
{
	c->lru_prev = t->lru_tail;
	c->lru_next = NULL;
	if (t->lru_tail)
		t->lru_tail->lru_next = c;
	else
		t->lru_head = c;
	t->lru_tail = c;
}

static struct conn *conn_find(struct stream_table *t, uint32_t tgid, uint64_t ssl)
{
	struct conn *c = t->buckets[hash_key(tgid, ssl, t->nbuckets)];

	while (c && (c->tgid != tgid || c->ssl != ssl))
		c = c->hnext;
	return c;
}

static void on_exchange_record(void *ctx, const struct tg_record *rec)
{
	struct stream_table *t = ctx;

	t->ops.on_record(t->ctx, rec);
}

static void on_exchange_open(void *ctx, struct tg_record *rec)
{
	struct stream_table *t = ctx;

	t->ops.on_open(t->ctx, rec);
}

/* Ends a connection: what is in flight is emitted, then it is freed. */
static void conn_end(struct stream_table *t, struct conn *c, uint64_t ts_ns,
		     enum stream_end_why why)
{
	struct conn **pp;

	pp = &t->buckets[hash_key(c->tgid, c->ssl, t->nbuckets)];
	while (*pp != c)
		pp = &(*pp)->hnext;
	*pp = c->hnext;
	pp = &t->by_proc[hash_proc(c->tgid, t->nbuckets)];
	while (*pp != c)
		pp = &(*pp)->pnext;
	*pp = c->pnext;
	lru_unlink(t, c);
	if (c->x) {
		exchange__close(c->x, ts_ns);
		exchange__free(c->x);
	}
	if (t->ops.on_end)
		t->ops.on_end(t->ctx, c->tgid, c->ssl, c->gen, why);
	t->st.conns--;
	free(c);
}

/*
 * The connection an event belongs to, made if new.  NULL with *err = 0
 * for an event of an older generation (dropped), -ENOSPC when the table
 * is full, -ENOMEM.
 */
static struct conn *conn_get(struct stream_table *t, const struct tg_meta *m,
			     uint64_t ssl, uint64_t gen, int *err)
{
	struct conn *c = conn_find(t, m->tgid, ssl);
	size_t b;

	*err = 0;
	if (c && c->gen > gen) {
		t->st.stale_events++;
		return NULL;
	}
	if (c && c->gen < gen) {
		/* The kernel lost the old entry (or its close): a new stream. */
		t->st.conns_replaced++;
		conn_end(t, c, m->ts_ns, STREAM_END_REPLACED);
		c = NULL;
	}
	if (c) {
		lru_unlink(t, c);
		lru_append(t, c);
		return c;
	}
	if (t->st.conns >= t->cfg.max_conns) {
		t->st.conns_dropped++;
		*err = -ENOSPC;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		*err = -ENOMEM;
		return NULL;
	}
	c->tgid = m->tgid;
	c->ssl = ssl;
	c->gen = gen;
	b = hash_key(c->tgid, ssl, t->nbuckets);
	c->hnext = t->buckets[b];
	t->buckets[b] = c;
	b = hash_proc(c->tgid, t->nbuckets);
	c->pnext = t->by_proc[b];
	t->by_proc[b] = c;
	lru_append(t, c);
	t->st.conns++;
	t->st.conns_total++;
	return c;
}

static void conn_ignore(struct stream_table *t, struct conn *c, const struct tg_meta *m,
			enum stream_ignore_why why)
{
	c->role = ROLE_IGNORED;
	t->st.ignored[why]++;
	if (c->x) {
		exchange__close(c->x, c->last_ns);
		exchange__free(c->x);
		c->x = NULL;
	}
	t->ops.on_ignore(t->ctx, m, c->ssl, c->gen, why);
}

static const char *const methods[] = {
	"GET ", "POST ", "PUT ", "DELETE ", "PATCH ", "HEAD ", "OPTIONS ",
	"CONNECT ", "TRACE ",
};

/* 1: starts like an HTTP/1 request, 0: does not, -1: too short to tell. */
static int request_start(const uint8_t *d, size_t n)
{
	size_t i, m;
	int partial = 0;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		m = strlen(methods[i]);
		if (!memcmp(d, methods[i], n < m ? n : m)) {
			if (n >= m)
				return 1;
			partial = 1;
		}
	}
	return partial ? -1 : 0;
}

/* 1: the HTTP/2 connection preface, 0: not, -1: too short to tell. */
static int h2_preface(const uint8_t *d, size_t n)
{
	static const char pri[] = "PRI * HTTP/2.0\r\n";
	size_t m = sizeof(pri) - 1;

	if (memcmp(d, pri, n < m ? n : m))
		return 0;
	return n >= m ? 1 : -1;
}

/* The connection is a client's we follow: HTTP/1, or HTTP/2 (from its
 * start, or from the middle when it predates us). */
static void follow(struct stream_table *t, struct conn *c, int h2, int midstream)
{
	if (h2)
		c->x = exchange__new_h2(&t->cfg.exchange, &t->st.ex, on_exchange_record, t,
					midstream);
	else
		c->x = exchange__new(&t->cfg.exchange, &t->st.ex, on_exchange_record, t);
	if (!c->x)
		return;
	c->role = ROLE_CLIENT;
	exchange__set_conn(c->x, c->ssl);
	if (t->ops.on_open)
		exchange__set_open(c->x, on_exchange_open);
	if (midstream)
		t->st.h2_midstream++;
}

/*
 * A write that starts with a SETTINGS frame (not an ACK) is most likely a
 * server's first: it sends its settings before it reads the client's
 * preface.  A client's own come right after its preface, which we would
 * have seen.  The connection's role waits for the next event.
 */
static int h2_server_settings(const uint8_t *d, size_t n)
{
	return n >= 9 && d[3] == 0x4 && !(d[4] & 0x1);
}

/* Decide what an unknown connection is from data at a call boundary. */
static void classify(struct stream_table *t, struct conn *c, const struct tg_meta *m,
		     int dir, const uint8_t *data, size_t len)
{
	int req = request_start(data, len);

	if (dir == 1) {
		if (req == 1) {
			conn_ignore(t, c, m, STREAM_IGNORE_SERVER);
			return;
		}
		if (h2_preface(data, len) == 1) {
			conn_ignore(t, c, m, STREAM_IGNORE_SERVER_HTTP2);
			return;
		}
		if (h2_plausible(data, len) == 1)
			follow(t, c, 1, 1);
	} else if (req != 0) {
		follow(t, c, 0, 0);
	} else if (h2_preface(data, len) == 1) {
		follow(t, c, 1, 0);
	} else if (h2_plausible(data, len) == 1 && !h2_server_settings(data, len)) {
		follow(t, c, 1, 1);
	}
	if (c->role == ROLE_UNKNOWN) {
		c->watched += len;
		if (c->watched > t->cfg.detect_budget)
			conn_ignore(t, c, m, STREAM_IGNORE_NOT_HTTP);
	}
}

/*
 * len bytes of the direction are missing (EXCHANGE_GAP_UNKNOWN: a lost
 * call, length unknown): the exchange learns of it; a stream it can no
 * longer follow is ignored.
 */
static int conn_gap(struct stream_table *t, struct conn *c, const struct tg_meta *m,
		    int dir, uint64_t len)
{
	int err;

	if (c->role != ROLE_CLIENT)
		return 0;
	err = exchange__gap(c->x, dir, m, len);
	if (err < 0 && err != -ENOMEM)
		conn_ignore(t, c, m, STREAM_IGNORE_BROKEN);
	return err == -ENOMEM ? err : 0;
}

/* Bring the direction up to `off`: a jump forward with no gap record
 * (records the ring had no room for) is a gap too. */
static int catch_up(struct stream_table *t, struct conn *c, const struct tg_meta *m,
		    int dir, uint64_t off)
{
	uint64_t missing = off - c->next[dir];

	t->st.gaps_inferred++;
	t->st.gap_bytes_inferred += missing;
	c->next[dir] = off;
	return conn_gap(t, c, m, dir, missing);
}

int stream__data(struct stream_table *t, const struct tg_meta *m, uint64_t ssl,
		 uint64_t gen, int dir, uint64_t off, const uint8_t *data, size_t len)
{
	struct conn *c;
	uint64_t skip;
	size_t nhead;
	int err;

	dir = !!dir;
	c = conn_get(t, m, ssl, gen, &err);
	if (!c)
		return err;
	c->last_ns = m->ts_ns;
	t->st.bytes += len;
	if (off + len <= c->next[dir]) {
		t->st.overlap_bytes += len;
		return 0;
	}
	if (off < c->next[dir]) {
		skip = c->next[dir] - off;
		t->st.overlap_bytes += skip;
		data += skip;
		len -= skip;
		off += skip;
	}
	if (off > c->next[dir]) {
		err = catch_up(t, c, m, dir, off);
		if (err)
			return err;
	}
	c->next[dir] = off + len;
	if (c->role == ROLE_UNKNOWN && !dir && (c->nhead || h2_preface(data, len) == -1)) {
		/* Written in pieces, the start of an HTTP/2 preface cannot be
		 * told from "PUT " or "POST ": gather it first. */
		skip = sizeof(c->head) - c->nhead < len ? sizeof(c->head) - c->nhead : len;
		memcpy(c->head + c->nhead, data, skip);
		c->nhead += skip;
		data += skip;
		len -= skip;
		if (h2_preface(c->head, c->nhead) == -1 && !len)
			return 0;
		nhead = c->nhead;
		c->nhead = 0;	/* told or not, later bytes are classified as they come */
		classify(t, c, m, dir, c->head, nhead);
		if (c->role == ROLE_CLIENT) {
			err = exchange__feed(c->x, dir, m, c->head, nhead);
			if (!err && len)
				err = exchange__feed(c->x, dir, m, data, len);
			goto fed;
		}
	} else if (c->role == ROLE_UNKNOWN) {
		classify(t, c, m, dir, data, len);
	}
	if (c->role != ROLE_CLIENT)
		return 0;
	err = exchange__feed(c->x, dir, m, data, len);
fed:
	if (err < 0 && err != -ENOMEM)
		conn_ignore(t, c, m, STREAM_IGNORE_BROKEN);
	return err == -ENOMEM ? err : 0;
}

int stream__gap(struct stream_table *t, const struct tg_meta *m, uint64_t ssl,
		uint64_t gen, int dir, uint64_t off, uint64_t len, int lost)
{
	struct conn *c;
	int err;

	dir = !!dir;
	c = conn_get(t, m, ssl, gen, &err);
	if (!c)
		return err;
	c->last_ns = m->ts_ns;
	if (off > c->next[dir]) {
		err = catch_up(t, c, m, dir, off);
		if (err)
			return err;
	}
	if (lost) {
		t->st.gaps_lost++;
		return conn_gap(t, c, m, dir, EXCHANGE_GAP_UNKNOWN);
	}
	if (off + len <= c->next[dir])
		return 0;
	if (off < c->next[dir]) {
		len -= c->next[dir] - off;
		off = c->next[dir];
	}
	t->st.gaps++;
	t->st.gap_bytes += len;
	c->next[dir] = off + len;
	return conn_gap(t, c, m, dir, len);
}

void stream__close(struct stream_table *t, uint32_t tgid, uint64_t ssl, uint64_t gen,
		   uint64_t ts_ns)
{
	struct conn *c = conn_find(t, tgid, ssl);

	if (c && c->gen <= gen)
		conn_end(t, c, ts_ns, STREAM_END_CLOSED);
}

void stream__exit(struct stream_table *t, uint32_t tgid, uint64_t ts_ns)
{
	struct conn *c = t->by_proc[hash_proc(tgid, t->nbuckets)], *nx;

	for (; c; c = nx) {
		nx = c->pnext;
		if (c->tgid == tgid)
			conn_end(t, c, ts_ns, STREAM_END_EXIT);
	}
}

void stream__expire(struct stream_table *t, uint64_t now_ns)
{
	while (t->lru_head && now_ns - t->lru_head->last_ns > t->cfg.idle_ns) {
		t->st.expired++;
		conn_end(t, t->lru_head, now_ns, STREAM_END_EXPIRED);
	}
}

void stream__end_all(struct stream_table *t, uint64_t ts_ns)
{
	while (t->lru_head)
		conn_end(t, t->lru_head, ts_ns, STREAM_END_SHUTDOWN);
}

int stream__peek_write(struct stream_table *t, uint32_t tgid, uint64_t ssl, uint64_t gen,
		       uint64_t off, const uint8_t *data, size_t len,
		       const struct h2_peek_callbacks *cb, void *ctx)
{
	static const struct h2_callbacks none;
	struct conn *c = conn_find(t, tgid, ssl);
	struct h2_conn *fresh;
	int rc;

	if (c && c->gen == gen && c->role == ROLE_CLIENT && c->next[0] == off) {
		rc = exchange__peek(c->x, data, len, cb, ctx);
		return rc == -ENOTSUP ? -EAGAIN : rc;
	}
	if ((c && c->gen == gen && c->role != ROLE_UNKNOWN) || off || h2_preface(data, len) != 1)
		return -EAGAIN;
	/* the connection's first write: its decoder would start afresh */
	fresh = h2_conn__new(&none, NULL, 0);
	if (!fresh)
		return -ENOMEM;
	rc = h2_conn__peek(fresh, data, len, cb, ctx);
	h2_conn__free(fresh);
	return rc;
}

void stream__stats(const struct stream_table *t, struct stream_stats *out)
{
	*out = t->st;
}

void stream__free(struct stream_table *t, uint64_t ts_ns)
{
	if (!t)
		return;
	stream__end_all(t, ts_ns);
	free(t->buckets);
	free(t->by_proc);
	free(t);
}
