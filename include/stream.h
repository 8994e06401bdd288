/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Per-connection byte streams: the table of TLS connections, in-order
 * delivery by stream offset with gaps marked, the decision of what a
 * connection is (an HTTP/1 client we meter, or something to ignore), and
 * the end of connections (close, process exit, idle expiry).
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
	STREAM_IGNORE_HTTP2,		/* HTTP/2: not decoded yet */
	STREAM_IGNORE_BROKEN,		/* the HTTP stream cannot be followed */
};

struct stream_ops {
	void (*on_record)(void *ctx, const struct tg_record *rec);
	/* Stop capturing this connection in the kernel. */
	void (*on_ignore)(void *ctx, uint32_t tgid, uint64_t ssl,
			  enum stream_ignore_why why);
};

struct stream_stats {
	uint64_t conns;			/* tracked now */
	uint64_t conns_total;
	uint64_t conns_dropped;		/* table full */
	uint64_t ignored[4];		/* by enum stream_ignore_why */
	uint64_t gaps;
	uint64_t gap_bytes;
	uint64_t overlap_bytes;		/* bytes seen twice, dropped */
	uint64_t expired;
	uint64_t bytes;
	struct exchange_stats ex;
};

struct stream_table;

struct stream_table *stream__new(const struct stream_cfg *cfg,
				 const struct stream_ops *ops, void *ctx);
/* dir: 0 = written by the process, 1 = read. */
int stream__data(struct stream_table *t, const struct tg_meta *m, uint64_t ssl,
		 int dir, uint64_t off, const uint8_t *data, size_t len);
int stream__gap(struct stream_table *t, const struct tg_meta *m, uint64_t ssl,
		int dir, uint64_t off, uint64_t len);
void stream__close(struct stream_table *t, uint32_t tgid, uint64_t ssl, uint64_t ts_ns);
/* The process ended (or exec'd): end all its connections. */
void stream__exit(struct stream_table *t, uint32_t tgid, uint64_t ts_ns);
void stream__expire(struct stream_table *t, uint64_t now_ns);
void stream__stats(const struct stream_table *t, struct stream_stats *out);
/* Ends every connection (records in flight are emitted), frees the table. */
void stream__free(struct stream_table *t, uint64_t ts_ns);

#endif
