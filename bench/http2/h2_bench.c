// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * HTTP/2 decoding speed on one core, no BPF: the agent's own decoder
 * (user/http2.c) and the exchange layer above it (user/exchange.c: streams
 * paired into metered calls, bodies and SSE parsed, usage read), fed one
 * realistic client connection as capture hands it over.
 *
 *   h2_bench [REQUESTS [SECONDS]]      (defaults 1000, 3)
 *
 * The connection, built once with nghttp2's HPACK deflater (one per
 * direction, default 4096-byte tables, as both peers start):
 *   client: preface, SETTINGS, WINDOW_UPDATE; per call a HEADERS (POST
 *           /v1/chat/completions, :authority api.openai.com, content-type,
 *           authorization, content-length, user-agent, accept) and the
 *           ~1 KB JSON body (stream + include_usage) in 2 DATA frames;
 *           a connection WINDOW_UPDATE after each batch it reads.
 *   server: SETTINGS, ACKs; per call a HEADERS (:status 200,
 *           text/event-stream, date, x-request-id, openai-processing-ms) and
 *           40 DATA frames, one SSE event each: 38 chat.completion.chunk
 *           deltas (~140 bytes), the usage chunk, [DONE] (END_STREAM).
 * Up to 100 streams at once: the client opens up to 16 new streams per
 * turn while fewer than 100 are open; the server then sends the next frame
 * of every open stream, round robin.  Each turn's bytes are fed in pieces
 * of at most 16 KiB (as capture delivers one SSL_read or SSL_write), the
 * two directions alternating turn by turn, requests always before their
 * responses.
 *
 * Two tests, each repeated on the whole connection (new, fed, eof, freed)
 * until SECONDS of this thread's CPU time (CLOCK_THREAD_CPUTIME_ID):
 *   h2        h2_conn__new / h2_conn__feed with callbacks that only count:
 *             frames/s and MB/s (both directions' bytes) per core;
 *   exchange  exchange__new_h2 / exchange__feed with the agent's defaults
 *             (stream_cfg_default, a 256 MiB memory budget): calls/s
 *             (records emitted, usage read from the stream), frames/s and
 *             MB/s per core.
 * Both check what they decoded (heads, ends, body bytes; records with
 * status 200 and the usage sent) and exit 1 if it is wrong.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <nghttp2/nghttp2.h>
#include "exchange.h"
#include "http2.h"
#include "membudget.h"
#include "record.h"
#include "stream.h"

#define MAX_OPEN	100	/* streams open at once */
#define BURST		16	/* new streams per client turn */
#define PIECE		16384	/* bytes per feed */
#define EVENTS		40	/* DATA frames (SSE events) per response */
#define DELTAS		(EVENTS - 2)
#define REQ_BODY	1024	/* request body bytes */
#define PROMPT_TOKENS	231

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("h2_bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 4096;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			die("out of memory");
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

struct piece {
	uint8_t dir;
	size_t off, len;
};

struct conn_bytes {
	struct buf dir[2];		/* what the client writes, what it reads */
	struct piece *pieces;
	size_t npieces, cap;
	size_t seg_start[2];		/* start of the turn in progress */
	uint64_t frames;		/* frames built, both ways */
	uint64_t body[2];		/* DATA payload bytes each way */
	size_t event_bytes, nevents;	/* SSE event sizes, for the report */
	uint32_t calls;
};

static void frame(struct conn_bytes *c, int dir, uint8_t type, uint8_t flags, uint32_t sid,
		  const void *p, size_t n)
{
	uint8_t h[9] = {
		(uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
		(uint8_t)((sid >> 24) & 0x7f), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8),
		(uint8_t)sid,
	};

	buf_add(&c->dir[dir], h, 9);
	if (n)
		buf_add(&c->dir[dir], p, n);
	c->frames++;
	if (type == 0)
		c->body[dir] += n;
}

/* The bytes of direction dir since its last turn, as pieces of <= PIECE. */
static void end_turn(struct conn_bytes *c, int dir)
{
	size_t off = c->seg_start[dir], end = c->dir[dir].len, n;

	while (off < end) {
		n = end - off < PIECE ? end - off : PIECE;
		if (c->npieces == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 1024;
			c->pieces = realloc(c->pieces, c->cap * sizeof(*c->pieces));
			if (!c->pieces)
				die("out of memory");
		}
		c->pieces[c->npieces++] = (struct piece){ .dir = (uint8_t)dir, .off = off, .len = n };
		off += n;
	}
	c->seg_start[dir] = end;
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE }

static void headers(struct conn_bytes *c, int dir, nghttp2_hd_deflater *d, uint32_t sid,
		    const nghttp2_nv *nv, size_t n)
{
	uint8_t out[4096];
	ssize_t len = nghttp2_hd_deflate_hd(d, out, sizeof(out), (nghttp2_nv *)nv, n);

	if (len < 0)
		die("nghttp2_hd_deflate_hd: %s", nghttp2_strerror((int)len));
	frame(c, dir, 1, 4, sid, out, (size_t)len);	/* END_HEADERS */
}

static const char *const words[] = {
	"Sure", ",", " here", " is", " a", " short", " answer", " to", " your", " question",
	":", " the", " capital", " of", " France", " is", " Paris", ".", " It", " has",
};

static void request(struct conn_bytes *c, nghttp2_hd_deflater *d, uint32_t sid)
{
	char body[REQ_BODY + 1], cl[16];
	int n;
	const nghttp2_nv nv[] = {
		NV(":method", "POST"),
		NV(":scheme", "https"),
		NV(":authority", "api.openai.com"),
		NV(":path", "/v1/chat/completions"),
		NV("content-type", "application/json"),
		NV("authorization", "Bearer sk-proj-3kQ9vX2mT7bLw8YzR4nH6cJ1fD5gA0eUsPqWoIiKjMnBvCx"),
		NV("content-length", cl),
		NV("user-agent", "OpenAI/Python 1.51.0"),
		NV("accept", "application/json"),
	};

	n = snprintf(body, sizeof(body),
		     "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":"
		     "\"You are a helpful assistant. Answer briefly and precisely.\"},"
		     "{\"role\":\"user\",\"content\":\"Question %u: ", sid);
	/* filler up to the body's size, then the end of the JSON */
	{
		static const char tail[] = "\"}],\"stream\":true,\"stream_options\":"
					   "{\"include_usage\":true},\"temperature\":0.7,"
					   "\"max_tokens\":256}";
		static const char lorem[] = "lorem ipsum dolor sit amet consectetur adipiscing elit ";
		size_t i = 0, fill = REQ_BODY - (size_t)n - (sizeof(tail) - 1);

		while (fill--)
			body[n++] = lorem[i++ % (sizeof(lorem) - 1)];
		memcpy(body + n, tail, sizeof(tail));
		n += (int)sizeof(tail) - 1;
	}
	snprintf(cl, sizeof(cl), "%d", n);
	headers(c, 0, d, sid, nv, sizeof(nv) / sizeof(nv[0]));
	frame(c, 0, 0, 0, sid, body, (size_t)n / 2);
	frame(c, 0, 0, 1, sid, body + n / 2, (size_t)(n - n / 2));	/* END_STREAM */
	c->calls++;
}

/* Response frame k of stream sid: 0 the head, 1..EVENTS the events. */
static void response(struct conn_bytes *c, nghttp2_hd_deflater *d, uint32_t sid, int k)
{
	char ev[512], rid[32];
	int n;

	if (k == 0) {
		snprintf(rid, sizeof(rid), "req_%016x", sid * 2654435761u);
		const nghttp2_nv nv[] = {
			NV(":status", "200"),
			NV("content-type", "text/event-stream; charset=utf-8"),
			NV("date", "Tue, 24 Sep 2024 12:00:00 GMT"),
			NV("x-request-id", rid),
			NV("openai-processing-ms", "212"),
		};

		headers(c, 1, d, sid, nv, sizeof(nv) / sizeof(nv[0]));
		return;
	}
	if (k <= DELTAS)
		n = snprintf(ev, sizeof(ev),
			     "data: {\"id\":\"chatcmpl-%08x\",\"object\":\"chat.completion.chunk\","
			     "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":"
			     "{\"content\":\"%s\"}}]}\n\n", sid, words[(k - 1) % 20]);
	else if (k == DELTAS + 1)
		n = snprintf(ev, sizeof(ev),
			     "data: {\"id\":\"chatcmpl-%08x\",\"object\":\"chat.completion.chunk\","
			     "\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":%d,"
			     "\"completion_tokens\":%d,\"total_tokens\":%d}}\n\n",
			     sid, PROMPT_TOKENS, DELTAS, PROMPT_TOKENS + DELTAS);
	else
		n = snprintf(ev, sizeof(ev), "data: [DONE]\n\n");
	frame(c, 1, 0, k == EVENTS ? 1 : 0, sid, ev, (size_t)n);
	c->event_bytes += (size_t)n;
	c->nevents++;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void build(struct conn_bytes *c, uint32_t ncalls)
{
	static const char pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	/* ENABLE_PUSH 0, INITIAL_WINDOW_SIZE 6 MiB, MAX_HEADER_LIST_SIZE 256 KiB */
	static const uint8_t csettings[18] = { 0, 2, 0, 0, 0, 0, 0, 4, 0, 0x60, 0, 0,
					       0, 6, 0, 4, 0, 0 };
	/* MAX_CONCURRENT_STREAMS 100, MAX_FRAME_SIZE 16384 */
	static const uint8_t ssettings[12] = { 0, 3, 0, 0, 0, 100, 0, 5, 0, 0, 0x40, 0 };
	nghttp2_hd_deflater *dq, *dr;
	struct { uint32_t sid; int k; } open[MAX_OPEN];
	size_t nopen = 0, i, j;
	uint32_t next_sid = 1, left = ncalls;
	uint64_t read_body = 0;
	uint8_t wu[4];

	memset(c, 0, sizeof(*c));
	if (nghttp2_hd_deflate_new(&dq, 4096) || nghttp2_hd_deflate_new(&dr, 4096))
		die("nghttp2_hd_deflate_new failed");
	buf_add(&c->dir[0], pri, sizeof(pri) - 1);
	frame(c, 0, 4, 0, 0, csettings, sizeof(csettings));
	put32(wu, 15 << 20);
	frame(c, 0, 8, 0, 0, wu, 4);
	end_turn(c, 0);
	frame(c, 1, 4, 0, 0, ssettings, sizeof(ssettings));
	frame(c, 1, 4, 1, 0, NULL, 0);			/* ACK of the client's */
	end_turn(c, 1);
	frame(c, 0, 4, 1, 0, NULL, 0);			/* ACK of the server's */
	while (left || nopen) {
		/* the client's turn: window credit for what it read, new calls */
		if (read_body) {
			put32(wu, (uint32_t)read_body);
			frame(c, 0, 8, 0, 0, wu, 4);
			read_body = 0;
		}
		for (i = 0; i < BURST && left && nopen < MAX_OPEN; i++, left--) {
			request(c, dq, next_sid);
			open[nopen].sid = next_sid;
			open[nopen++].k = 0;
			next_sid += 2;
		}
		end_turn(c, 0);
		/* the server's turn: the next frame of every open stream */
		uint64_t before = c->body[1];

		for (i = j = 0; i < nopen; i++) {
			response(c, dr, open[i].sid, open[i].k);
			if (++open[i].k <= EVENTS)
				open[j++] = open[i];
		}
		nopen = j;
		read_body = c->body[1] - before;
		end_turn(c, 1);
	}
	nghttp2_hd_deflate_del(dq);
	nghttp2_hd_deflate_del(dr);
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- h2: the decoder alone ------------------------------------------------------- */

struct h2_count {
	uint64_t heads[2], ends[2], body[2], gaps;
};

static int count_head(void *ctx, uint32_t sid, int dir, const struct http1_head *h,
		      unsigned flags)
{
	struct h2_count *k = ctx;

	k->heads[dir] += h != NULL;
	return 0;
}

static int count_body(void *ctx, uint32_t sid, int dir, const uint8_t *data, size_t len)
{
	((struct h2_count *)ctx)->body[dir] += len;
	return 0;
}

static int count_gap(void *ctx, uint32_t sid, int dir, uint64_t len)
{
	((struct h2_count *)ctx)->gaps++;
	return 0;
}

static int count_end(void *ctx, uint32_t sid, int dir, enum h2_end why)
{
	((struct h2_count *)ctx)->ends[dir] += why == H2_END_STREAM;
	return 0;
}

static const struct h2_callbacks counting = {
	.on_head = count_head, .on_body = count_body, .on_body_gap = count_gap,
	.on_end = count_end,
};

/* One pass of the connection through the decoder; its frame count. */
static uint64_t h2_pass(const struct conn_bytes *cb, struct h2_count *k)
{
	struct h2_conn *c = h2_conn__new(&counting, k, 0);
	struct h2_stats st;
	size_t i;

	if (!c)
		die("h2_conn__new: %s", strerror(errno));
	for (i = 0; i < cb->npieces; i++) {
		const struct piece *p = &cb->pieces[i];

		if (h2_conn__feed(c, p->dir, cb->dir[p->dir].p + p->off, p->len) != (ssize_t)p->len)
			die("h2_conn__feed failed");
	}
	h2_conn__eof(c);
	h2_conn__stats(c, &st);
	h2_conn__free(c);
	if (st.bad_frames || st.hpack_errors || st.headless || st.resyncs || st.evicted)
		die("h2: bad_frames %llu hpack_errors %llu headless %llu resyncs %llu evicted %llu",
		    (unsigned long long)st.bad_frames, (unsigned long long)st.hpack_errors,
		    (unsigned long long)st.headless, (unsigned long long)st.resyncs,
		    (unsigned long long)st.evicted);
	return st.frames;
}

/* --- exchange: calls metered -------------------------------------------------------- */

struct x_count {
	uint64_t records, good;
};

static void on_record(void *ctx, const struct tg_record *r)
{
	struct x_count *k = ctx;

	k->records++;
	if (r->status == 200 && r->usage_source == TG_USAGE_PROVIDER &&
	    r->usage.output_tokens == DELTAS && r->usage.input_tokens == PROMPT_TOKENS &&
	    r->call.stream && !r->flags)
		k->good++;
	else if (k->records - k->good <= 3)
		fprintf(stderr, "h2_bench: record status %d source %d out %lld in %lld stream %d "
			"flags %#x model %s\n", r->status, (int)r->usage_source,
			(long long)r->usage.output_tokens, (long long)r->usage.input_tokens,
			(int)r->call.stream, r->flags, r->call.model);
}

static uint64_t x_pass(const struct conn_bytes *cb, const struct exchange_cfg *cfg,
		       struct exchange_stats *st, struct x_count *k, uint64_t *ts)
{
	struct tg_meta m = { .cgroup_id = 1, .tgid = 4242, .tid = 4242, .uid = 1000,
			     .comm = "bench" };
	struct exchange *x = exchange__new_h2(cfg, st, on_record, k, 0);
	uint64_t frames0 = st->h2.frames;
	size_t i;

	if (!x)
		die("exchange__new_h2: %s", strerror(errno));
	exchange__set_conn(x, 0x7f0000001000ull);
	for (i = 0; i < cb->npieces; i++) {
		const struct piece *p = &cb->pieces[i];

		m.ts_ns = (*ts += 20000);
		if (exchange__feed(x, p->dir, &m, cb->dir[p->dir].p + p->off, p->len))
			die("exchange__feed failed");
	}
	exchange__close(x, *ts += 20000);
	exchange__free(x);	/* its decoder's counters go to st->h2 */
	return st->h2.frames - frames0;
}

int main(int argc, char **argv)
{
	uint32_t ncalls = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000;
	double secs = argc > 2 ? strtod(argv[2], NULL) : 3.0, t0, t;
	struct conn_bytes cb;
	uint64_t frames = 0, bytes, passes, f;
	struct h2_count k;
	struct stream_cfg scfg;
	struct membudget mb;
	struct exchange_stats xst;
	struct x_count xk;
	uint64_t ts = 1000000000ull;

	if (!ncalls || ncalls > 1000000 || secs <= 0)
		die("usage: h2_bench [REQUESTS [SECONDS]]");
	build(&cb, ncalls);
	bytes = cb.dir[0].len + cb.dir[1].len;
	printf("connection: %u calls, %llu frames, %.2f MB (client %.2f MB, server %.2f MB), "
	       "%zu feeds of <= %d bytes, SSE events %.0f bytes on average, <= %d streams open\n",
	       cb.calls, (unsigned long long)cb.frames, bytes / 1e6, cb.dir[0].len / 1e6,
	       cb.dir[1].len / 1e6, cb.npieces, PIECE, (double)cb.event_bytes / cb.nevents, MAX_OPEN);

	/* h2: a checked pass, then timed passes */
	memset(&k, 0, sizeof(k));
	f = h2_pass(&cb, &k);
	if (f != cb.frames || k.heads[0] != ncalls || k.heads[1] != ncalls ||
	    k.ends[0] != ncalls || k.ends[1] != ncalls || k.body[0] != cb.body[0] ||
	    k.body[1] != cb.body[1] || k.gaps)
		die("h2: decoded %llu frames (built %llu), heads %llu/%llu, ends %llu/%llu, "
		    "body %llu/%llu bytes (built %llu/%llu)", (unsigned long long)f,
		    (unsigned long long)cb.frames, (unsigned long long)k.heads[0],
		    (unsigned long long)k.heads[1], (unsigned long long)k.ends[0],
		    (unsigned long long)k.ends[1], (unsigned long long)k.body[0],
		    (unsigned long long)k.body[1], (unsigned long long)cb.body[0],
		    (unsigned long long)cb.body[1]);
	passes = 0;
	t0 = cpu_now();
	do {
		frames += h2_pass(&cb, &k);
		passes++;
	} while ((t = cpu_now() - t0) < secs);
	printf("h2        %8.2f M frames/s  %8.1f MB/s  %9.0f calls/s  per core "
	       "(%llu passes, %.2f s CPU)\n", frames / t / 1e6, passes * bytes / t / 1e6,
	       passes * ncalls / t, (unsigned long long)passes, t);
	printf("RESULT test=h2 frames_per_s=%.0f mb_per_s=%.1f calls_per_s=%.0f passes=%llu "
	       "cpu_s=%.3f\n", frames / t, passes * bytes / t / 1e6, passes * ncalls / t,
	       (unsigned long long)passes, t);

	/* exchange: the agent's configuration and memory bound */
	stream_cfg_default(&scfg);
	membudget_init(&mb, MEMBUDGET_DEFAULT);
	scfg.exchange.mb = &mb;
	memset(&xst, 0, sizeof(xst));
	memset(&xk, 0, sizeof(xk));
	f = x_pass(&cb, &scfg.exchange, &xst, &xk, &ts);
	if (f != cb.frames || xk.records != ncalls || xk.good != ncalls || xst.http_errors ||
	    xst.decode_errors || xst.shed || xst.truncated || mb.used)
		die("exchange: %llu frames (built %llu), %llu records (%llu as sent, want %u), "
		    "http_errors %llu decode_errors %llu shed %llu truncated %llu, %llu bytes "
		    "still charged", (unsigned long long)f, (unsigned long long)cb.frames,
		    (unsigned long long)xk.records, (unsigned long long)xk.good, ncalls,
		    (unsigned long long)xst.http_errors, (unsigned long long)xst.decode_errors,
		    (unsigned long long)xst.shed, (unsigned long long)xst.truncated,
		    (unsigned long long)mb.used);
	frames = passes = 0;
	memset(&xk, 0, sizeof(xk));
	t0 = cpu_now();
	do {
		frames += x_pass(&cb, &scfg.exchange, &xst, &xk, &ts);
		passes++;
	} while ((t = cpu_now() - t0) < secs);
	if (xk.good != passes * ncalls)
		die("exchange: %llu good records of %llu", (unsigned long long)xk.good,
		    (unsigned long long)(passes * ncalls));
	printf("exchange  %8.2f M frames/s  %8.1f MB/s  %9.0f calls/s  per core "
	       "(%llu passes, %.2f s CPU; %.2f us per call, SSE events %.0f/s, peak buffered %.1f KiB)\n",
	       frames / t / 1e6, passes * bytes / t / 1e6, xk.records / t,
	       (unsigned long long)passes, t, t * 1e6 / xk.records,
	       (double)passes * cb.nevents / t, mb.peak / 1024.0);
	printf("RESULT test=exchange frames_per_s=%.0f mb_per_s=%.1f calls_per_s=%.0f passes=%llu "
	       "cpu_s=%.3f\n", frames / t, passes * bytes / t / 1e6, xk.records / t,
	       (unsigned long long)passes, t);
	free(cb.dir[0].p);
	free(cb.dir[1].p);
	free(cb.pieces);
	return 0;
}
