/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Per-connection byte streams: the table of TLS connections, in-order
 * delivery by stream offset with gaps marked, the decision of what a
 * connection is (an HTTP/1 or HTTP/2 client we meter, or something to
 * ignore), and
 * the end of connections (close, process exit, idle expiry).
 *
 * A connection is (tgid, ssl, gen): the kernel gives each of its entries
 * a generation, so an SSL address reused after a free, or an entry the
 * kernel lost and made again, is a new stream, never spliced onto the
 * old one.
 */
#ifndef TOLLGATE_STREAM_H
#define TOLLGATE_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include "exchange.h"
#include "record.h"

struct stream_cfg {
	size_t max_conns;		/* hard cap on tracked connections */
	uint64_t idle_ns;		/* a connection silent this long is ended */
	uint64_t detect_budget;		/* bytes watched for an HTTP start before ignoring */
	struct exchange_cfg exchange;
};

void stream_cfg_default(struct stream_cfg *cfg);

enum stream_ignore_why {
	STREAM_IGNORE_NOT_HTTP,		/* no HTTP request in the first bytes */
	STREAM_IGNORE_SERVER,		/* requests arrive: we are the server */
	STREAM_IGNORE_SERVER_HTTP2,	/* HTTP/2 preface arrives: we are an h2 server */
	STREAM_IGNORE_BROKEN,		/* the HTTP stream cannot be followed */
	STREAM_IGNORE__MAX,
};

/* Why a connection ended. */
enum stream_end_why {
	STREAM_END_CLOSED,		/* SSL_free */
	STREAM_END_EXIT,		/* its process exited or exec'd */
	STREAM_END_EXPIRED,		/* idle too long */
	STREAM_END_REPLACED,		/* a new generation of its key appeared */
	STREAM_END_SHUTDOWN,		/* the table is being freed */
};

struct stream_ops {
	void (*on_record)(void *ctx, const struct tg_record *rec);
	/* Stop capturing this connection in the kernel.  m is the event that
	 * decided it (who and when). */
	void (*on_ignore)(void *ctx, const struct tg_meta *m, uint64_t ssl, uint64_t gen,
			  enum stream_ignore_why why);
	/* The connection has ended (may be NULL). */
	void (*on_end)(void *ctx, uint32_t tgid, uint64_t ssl, uint64_t gen,
		       enum stream_end_why why);
	/* An LLM call's request is complete (may be NULL): the record as
	 * known so far; the callee may set rec->seq, which its on_record
	 * will carry. */
	void (*on_open)(void *ctx, struct tg_record *rec);
};

struct stream_stats {
	uint64_t conns;			/* tracked now */
	uint64_t conns_total;
	uint64_t conns_dropped;		/* events of connections the full table refused */
	uint64_t conns_replaced;	/* ended by a new generation, not a close */
	uint64_t h2_midstream;		/* HTTP/2 connections first seen mid-way */
	uint64_t ignored[STREAM_IGNORE__MAX];	/* by enum stream_ignore_why */
	uint64_t gaps;			/* gap records */
	uint64_t gap_bytes;
	uint64_t gaps_inferred;		/* offset jumps with no gap record */
	uint64_t gap_bytes_inferred;
	uint64_t gaps_lost;		/* bytes of unknown length lost */
	uint64_t overlap_bytes;		/* bytes seen twice, dropped */
	uint64_t stale_events;		/* events of an older generation, dropped */
	uint64_t expired;
	uint64_t bytes;
	struct exchange_stats ex;
};

struct stream_table;

struct stream_table *stream__new(const struct stream_cfg *cfg,
				 const struct stream_ops *ops, void *ctx);
/* dir: 0 = written by the process, 1 = read. */
int stream__data(struct stream_table *t, const struct tg_meta *m, uint64_t ssl,
		 uint64_t gen, int dir, uint64_t off, const uint8_t *data, size_t len);
/* len bytes at off were not captured; lost: the bytes of a call of unknown
 * length were lost at off (len is 0). */
int stream__gap(struct stream_table *t, const struct tg_meta *m, uint64_t ssl,
		uint64_t gen, int dir, uint64_t off, uint64_t len, int lost);
void stream__close(struct stream_table *t, uint32_t tgid, uint64_t ssl, uint64_t gen,
		   uint64_t ts_ns);
/* The process ended (or exec'd): end all its connections. */
void stream__exit(struct stream_table *t, uint32_t tgid, uint64_t ts_ns);
void stream__expire(struct stream_table *t, uint64_t now_ns);
/* Ends every connection: records in flight are emitted. */
void stream__end_all(struct stream_table *t, uint64_t ts_ns);
/*
 * Looks ahead at a write of connection (tgid, ssl, gen) that starts at
 * offset off and has not been delivered yet (a held write): an HTTP/2
 * connection's request heads and DATA in it (h2_conn__peek), a new
 * connection's too when the write starts with the preface.  -EAGAIN when
 * it cannot be read ahead (not HTTP/2, not where the connection is).
 */
int stream__peek_write(struct stream_table *t, uint32_t tgid, uint64_t ssl, uint64_t gen,
		       uint64_t off, const uint8_t *data, size_t len,
		       const struct h2_peek_callbacks *cb, void *ctx);
void stream__stats(const struct stream_table *t, struct stream_stats *out);
/* Ends every connection (records in flight are emitted), frees the table. */
void stream__free(struct stream_table *t, uint64_t ts_ns);

#endif
