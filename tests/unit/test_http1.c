// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * HTTP/1 parser tests.  Each script (data, gaps, eof) runs whole, cut in two
 * at every offset, and one byte at a time: the callback log, which holds the
 * body bytes and the parser's counters, must come out identical every time.
 * Real exchanges are rebuilt from the recorded LLM traffic fixtures
 * ($FIXTURES, default ../shared/fixtures).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <json-c/json.h>
#include "fixtures.h"
#include "tap.h"
#include "strbuf.h"
#include "http1.h"
#include "membudget.h"
#include "decode.h"

/* --- callback recorder -------------------------------------------------- */

struct rec {
	struct sb log;
	const char *flags;	/* on_head answer per message: n NO_BODY, t TUNNEL, x abort */
	/* when base is set, body bytes are logged as runs of offsets into it:
	 * they must come from the caller's buffer, and the log stays small */
	const uint8_t *base;
	size_t base_len;
	struct sb *body;	/* when set, every body byte is also collected here */
	unsigned nmsg;
	int in_body;
	const uint8_t *run, *run_end;
};

/* Closes a run of body bytes before any other event. */
static void rec_event(struct rec *r)
{
	if (r->in_body && r->base)
		sb_printf(&r->log, "B@%zu+%zu\n", (size_t)(r->run - r->base),
			  (size_t)(r->run_end - r->run));
	else if (r->in_body)
		sb_add(&r->log, "\n", 1);
	r->in_body = 0;
}

static int rec_head(void *ctx, const struct http1_head *h)
{
	struct rec *r = ctx;
	struct sb *l = &r->log;
	char f = r->flags && r->nmsg < strlen(r->flags) ? r->flags[r->nmsg] : '-';

	rec_event(r);
	if (h->method)
		sb_printf(l, "REQ %.*s %.*s", (int)h->method_len, h->method, (int)h->target_len, h->target);
	else
		sb_printf(l, "RES %d", h->status);
	sb_printf(l, " 1.%d", h->version_minor);
	if (h->content_length >= 0)
		sb_printf(l, " cl=%lld", (long long)h->content_length);
	if (h->chunked)
		sb_printf(l, " chunked");
	if (h->conn_close)
		sb_printf(l, " close");
	if (h->expect_continue)
		sb_printf(l, " expect");
	if (h->host)
		sb_printf(l, " host=%.*s", (int)h->host_len, h->host);
	if (h->content_encoding)
		sb_printf(l, " ce=%.*s", (int)h->content_encoding_len, h->content_encoding);
	if (h->content_type)
		sb_printf(l, " ct=%.*s", (int)h->content_type_len, h->content_type);
	sb_printf(l, " h=%zu\n", h->nheaders);
	r->nmsg++;
	return f == 'n' ? HTTP1_HEAD_NO_BODY : f == 't' ? HTTP1_HEAD_TUNNEL : f == 'x' ? -ECANCELED : 0;
}

static int rec_body(void *ctx, const uint8_t *d, size_t n)
{
	struct rec *r = ctx;

	if (r->body)
		sb_add(r->body, d, n);
	if (!r->base) {
		if (!r->in_body)
			sb_add(&r->log, "B:", 2);
		r->in_body = 1;
		sb_add(&r->log, d, n);
		return 0;
	}
	if (d < r->base || n > (size_t)(r->base + r->base_len - d)) {
		rec_event(r);
		sb_printf(&r->log, "BODY NOT IN THE INPUT\n");
		return 0;
	}
	if (r->in_body && d == r->run_end) {
		r->run_end += n;
		return 0;
	}
	rec_event(r);
	r->in_body = 1;
	r->run = d;
	r->run_end = d + n;
	return 0;
}
static int rec_gap(void *ctx, uint64_t n)
{
	struct rec *r = ctx;

	rec_event(r);
	sb_printf(&r->log, "GAP %llu\n", (unsigned long long)n);
	return 0;
}

static int rec_end(void *ctx, int truncated)
{
	struct rec *r = ctx;

	rec_event(r);
	sb_printf(&r->log, truncated ? "END truncated\n" : "END\n");
	return 0;
}

static const struct http1_callbacks rec_cb = { rec_head, rec_body, rec_gap, rec_end, NULL };

/* --- scripts ------------------------------------------------------------ */

enum { OP_DATA, OP_GAP, OP_EOF };
struct op {
	int kind;
	const char *data;
	size_t len;
	uint64_t gap;
};
#define D(s)   { OP_DATA, (s), sizeof(s) - 1, 0 }
#define GAP(n) { OP_GAP, NULL, 0, (n) }
#define EOF_OP { OP_EOF, NULL, 0, 0 }
#define NOPS(a) (sizeof(a) / sizeof((a)[0]))

static const char *err_name(long e)
{
	switch (-e) {
	case EBADMSG: return "EBADMSG";
	case EMSGSIZE: return "EMSGSIZE";
	case EPIPE: return "EPIPE";
	case ECANCELED: return "ECANCELED";
	default: return "E?";
	}
}

#define CUT_BYTES SIZE_MAX	/* one byte at a time */

/* Runs a script, cutting its data at global offset cut (0: whole). */
static void run_ops(struct rec *r, enum http1_kind kind, const struct op *ops, size_t nops,
		    size_t cut)
{
	struct http1_parser *p = http1_parser__new(kind, &rec_cb, r);
	struct http1_stats st;
	size_t i, off = 0, pos, n;
	ssize_t rc;

	for (i = 0; i < nops; i++) {
		const struct op *o = &ops[i];

		if (o->kind == OP_GAP || o->kind == OP_EOF) {
			rc = o->kind == OP_GAP ? http1_parser__gap(p, o->gap) : http1_parser__eof(p);
			if (rc) {
				rec_event(r);
				sb_printf(&r->log, "ERR %s\n", err_name(rc));
			}
			continue;
		}
		for (pos = 0; pos < o->len; pos += n) {
			n = o->len - pos;
			if (cut == CUT_BYTES)
				n = 1;
			else if (cut > off + pos && cut < off + o->len)
				n = cut - (off + pos);
			rc = http1_parser__feed(p, (const uint8_t *)o->data + pos, n);
			if (rc < 0) {
				rec_event(r);
				sb_printf(&r->log, "ERR %s\n", err_name(rc));
				break;
			}
			CHECK_EQ_INT(rc, n);
		}
		off += o->len;
	}
	rec_event(r);
	http1_parser__stats(p, &st);
	sb_printf(&r->log, "STATS msgs=%llu bad=%llu resyncs=%llu trunc=%llu gap=%llu skipped=%llu\n",
		  (unsigned long long)st.messages, (unsigned long long)st.bad,
		  (unsigned long long)st.resyncs, (unsigned long long)st.truncated,
		  (unsigned long long)st.gap_bytes, (unsigned long long)st.skipped);
	http1_parser__free(p);
}

static void rec_free(struct rec *r)
{
	free(r->log.p);
}

/* Runs the script cut at cut and checks it against the whole run. */
static void check_cut(struct sb *scratch, const struct rec *whole, enum http1_kind kind,
		      const struct op *ops, size_t nops, size_t cut)
{
	struct rec r = *whole;

	r.log = *scratch;
	r.log.len = 0;
	r.body = NULL;
	r.nmsg = 0;
	r.in_body = 0;
	run_ops(&r, kind, ops, nops, cut);
	CHECK(r.log.len == whole->log.len && !memcmp(r.log.p, whole->log.p, r.log.len),
	      "cut at %zd:\n--- got\n%s--- whole\n%s", (ssize_t)cut, r.log.p, whole->log.p);
	*scratch = r.log;
}

/*
 * Runs the script whole (recorder set up as in *r), cut in two at every
 * stride-th offset, and byte by byte; checks they agree, and match want
 * unless it is NULL.  The whole run is left in *r.
 */
static void check_ops_rec(struct rec *r, enum http1_kind kind, const struct op *ops, size_t nops,
			  const char *want, size_t stride)
{
	struct sb scratch = { 0 };
	size_t i, total = 0, cut;

	for (i = 0; i < nops; i++)
		total += ops[i].len;
	run_ops(r, kind, ops, nops, 0);
	if (want)
		CHECK(!strcmp(r->log.p, want), "\n--- got\n%s--- want\n%s", r->log.p, want);
	for (cut = 1; cut < total && !tap_cur_failed; cut += stride)
		check_cut(&scratch, r, kind, ops, nops, cut);
	check_cut(&scratch, r, kind, ops, nops, CUT_BYTES);
	free(scratch.p);
}

static void check_ops(enum http1_kind kind, const char *flags, const struct op *ops, size_t nops,
		      const char *want)
{
	struct rec r = { .flags = flags };

	check_ops_rec(&r, kind, ops, nops, want, 1);
	rec_free(&r);
}

/* One data op: the common case. */
static void check_data(enum http1_kind kind, const char *flags, const char *data, size_t len,
		       const char *want)
{
	struct op op = { OP_DATA, data, len, 0 };

	check_ops(kind, flags, &op, 1, want);
}

#define CHECK_DATA(kind, flags, s, want) check_data((kind), (flags), (s), sizeof(s) - 1, (want))

#define STATS(m, bad, rs, tr, gap, sk) \
	"STATS msgs=" #m " bad=" #bad " resyncs=" #rs " trunc=" #tr " gap=" #gap " skipped=" #sk "\n"

/* --- messages ----------------------------------------------------------- */

static void test_request_content_length(void)
{
	CHECK_DATA(HTTP1_REQUEST, NULL,
		   "POST /v1/chat/completions HTTP/1.1\r\n"
		   "Host: api.openai.com\r\n"
		   "Content-Type: application/json\r\n"
		   "Content-Length: 13\r\n"
		   "\r\n"
		   "{\"a\":\"hello\"}",
		   "REQ POST /v1/chat/completions 1.1 cl=13 host=api.openai.com ct=application/json h=3\n"
		   "B:{\"a\":\"hello\"}\n"
		   "END\n"
		   STATS(1, 0, 0, 0, 0, 0));
}

static void test_pipelined_requests(void)
{
	/* empty lines between messages are allowed; LF-only heads too */
	CHECK_DATA(HTTP1_REQUEST, NULL,
		   "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
		   "GET /b?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
		   "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
		   "\r\n"
		   "DELETE /d HTTP/1.1\r\n\r\n"
		   "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"
		   "GET /e HTTP/1.0\n\n"
		   "GET /f HTTP/1.0\nConnection: keep-alive\n\n",
		   "REQ GET /a 1.1 host=x h=1\nEND\n"
		   "REQ GET /b?q=1 1.1 host=x h=1\nEND\n"
		   "REQ POST /c 1.1 cl=3 host=x h=2\nB:abc\nEND\n"
		   "REQ DELETE /d 1.1 h=0\nEND\n"
		   "REQ OPTIONS * 1.1 host=x h=1\nEND\n"
		   "REQ GET /e 1.0 close h=0\nEND\n"
		   "REQ GET /f 1.0 h=1\nEND\n"
		   STATS(7, 0, 0, 0, 0, 0));
}

static void test_keep_alive_responses(void)
{
	CHECK_DATA(HTTP1_RESPONSE, NULL,
		   "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
		   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
		   "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
		   "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n!"
		   "HTTP/1.1 500 \r\nContent-Length: 1\r\n\r\n?"
		   "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
		   "RES 200 1.1 cl=5 h=1\nB:hello\nEND\n"
		   "RES 200 1.1 chunked h=1\nB:hello world\nEND\n"
		   "RES 404 1.1 cl=0 h=1\nEND\n"
		   "RES 200 1.1 cl=1 h=1\nB:!\nEND\n"
		   "RES 500 1.1 cl=1 h=1\nB:?\nEND\n"
		   "RES 200 1.1 cl=2 close h=2\nB:ok\nEND\n"
		   STATS(6, 0, 0, 0, 0, 0));
}

static void test_chunked_extensions_trailers(void)
{
	CHECK_DATA(HTTP1_RESPONSE, NULL,
		   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "4;name=value;quoted=\"a b\"\r\nWiki\r\n"
		   "5 ; ext\r\npedia\r\n"
		   "E\r\n in\r\n\r\nchunks.\r\n"
		   "000a\r\n0123456789\r\n"
		   "0;last\r\nExpires: never\r\nX-Checksum: 1\r\n\r\n"
		   /* LF-only framing, upper-case hex */
		   "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"
		   "1A\nabcdefghijklmnopqrstuvwxyz\n0\n\n"
		   /* Transfer-Encoding wins over Content-Length */
		   "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "2\r\nhi\r\n0\r\n\r\n",
		   "RES 200 1.1 chunked h=1\nB:Wikipedia in\r\n\r\nchunks.0123456789\nEND\n"
		   "RES 200 1.1 chunked h=1\nB:abcdefghijklmnopqrstuvwxyz\nEND\n"
		   "RES 200 1.1 cl=100 chunked h=2\nB:hi\nEND\n"
		   STATS(3, 0, 0, 0, 0, 0));
	/* chunked request body */
	CHECK_DATA(HTTP1_REQUEST, NULL,
		   "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		   "REQ POST /upload 1.1 chunked host=h h=2\nB:abc\nEND\n"
		   "REQ GET / 1.1 h=0\nEND\n"
		   STATS(2, 0, 0, 0, 0, 0));
}

static void test_continue_and_interim(void)
{
	CHECK_DATA(HTTP1_REQUEST, NULL,
		   "POST /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
		   "Content-Length: 4\r\n\r\ndata",
		   "REQ POST /upload 1.1 cl=4 expect host=h h=3\nB:data\nEND\n"
		   STATS(1, 0, 0, 0, 0, 0));
	CHECK_DATA(HTTP1_RESPONSE, NULL,
		   "HTTP/1.1 100 Continue\r\n\r\n"
		   "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
		   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		   "RES 100 1.1 h=0\nEND\n"
		   "RES 103 1.1 h=1\nEND\n"
		   "RES 200 1.1 cl=2 h=1\nB:ok\nEND\n"
		   STATS(3, 0, 0, 0, 0, 0));
}

static void test_switching_protocols(void)
{
	static const struct op ops[] = {
		D("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
		  "\x81\x05hello\x88\x00\r\n\r\nHTTP/1.1 200 OK\r\n\r\n\x00\xff"),
		GAP(10),
		D("more frames"),
		EOF_OP,
	};

	check_ops(HTTP1_RESPONSE, NULL, ops, NOPS(ops),
		  "RES 101 1.1 h=2\nEND\n"
		  STATS(1, 0, 0, 0, 10, 0));
	/* the caller knows a CONNECT was answered: it says so from on_head */
	CHECK_DATA(HTTP1_RESPONSE, "t",
		   "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01\x00\x05hello",
		   "RES 200 1.1 h=0\nEND\n"
		   STATS(1, 0, 0, 0, 0, 0));
}

static void test_head_204_304(void)
{
	/* answers to HEAD carry the length of the body they do not have */
	CHECK_DATA(HTTP1_RESPONSE, "nn",
		   "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/html\r\n\r\n"
		   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		   "RES 200 1.1 cl=1234 ct=text/html h=2\nEND\n"
		   "RES 200 1.1 chunked h=1\nEND\n"
		   "RES 200 1.1 cl=2 h=1\nB:ok\nEND\n"
		   STATS(3, 0, 0, 0, 0, 0));
	CHECK_DATA(HTTP1_RESPONSE, NULL,
		   "HTTP/1.1 204 No Content\r\n\r\n"
		   "HTTP/1.1 304 Not Modified\r\nContent-Length: 512\r\nETag: \"x\"\r\n\r\n"
		   "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
		   "RES 204 1.1 h=0\nEND\n"
		   "RES 304 1.1 cl=512 h=2\nEND\n"
		   "RES 204 1.1 chunked h=1\nEND\n"
		   "RES 200 1.1 cl=1 h=1\nB:x\nEND\n"
		   STATS(4, 0, 0, 0, 0, 0));
}

static void test_read_until_close(void)
{
	static const struct op sse[] = {
		D("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: a\n\ndata: b\n\n"),
		EOF_OP,
	};
	static const struct op http10[] = {
		D("HTTP/1.0 200 OK\r\n\r\nbody\r\nHTTP/1.1 200 OK\r\n\r\n"),
		EOF_OP,
		D("x"),
	};
	static const struct op te_gzip[] = {
		D("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b"),
		EOF_OP,
	};

	check_ops(HTTP1_RESPONSE, NULL, sse, NOPS(sse),
		  "RES 200 1.1 ct=text/event-stream h=1\nB:data: a\n\ndata: b\n\n\nEND\n"
		  STATS(1, 0, 0, 0, 0, 0));
	check_ops(HTTP1_RESPONSE, NULL, http10, NOPS(http10),
		  "RES 200 1.0 close h=0\nB:body\r\nHTTP/1.1 200 OK\r\n\r\n\nEND\n"
		  "ERR EPIPE\n"
		  STATS(1, 0, 0, 0, 0, 0));
	check_ops(HTTP1_RESPONSE, NULL, te_gzip, NOPS(te_gzip),
		  "RES 200 1.1 h=1\nB:\x1f\x8b\nEND\n"
		  STATS(1, 0, 0, 0, 0, 0));
}

static void test_truncated_by_eof(void)
{
	static const struct op cl[] = {
		D("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"), EOF_OP,
	};
	static const struct op chunked[] = {
		D("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"), EOF_OP,
	};
	static const struct op head[] = {
		D("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"), EOF_OP,
	};
	static const char stream[] =
		"HTTP/1.1 100 Continue\r\n\r\n"
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5;x=y\r\nhello\r\n0\r\nA: b\r\n\r\n"
		"HTTP/1.1 200 OK\r\n\r\nuntil close";
	size_t k, heads, ends;
	const char *s;

	check_ops(HTTP1_RESPONSE, NULL, cl, NOPS(cl),
		  "RES 200 1.1 cl=10 h=1\nB:abc\nEND truncated\n" STATS(1, 0, 0, 1, 0, 0));
	check_ops(HTTP1_RESPONSE, NULL, chunked, NOPS(chunked),
		  "RES 200 1.1 chunked h=1\nB:abc\nEND truncated\n" STATS(1, 0, 0, 1, 0, 0));
	check_ops(HTTP1_RESPONSE, NULL, head, NOPS(head), STATS(0, 0, 0, 0, 0, 0));

	/* every prefix of a valid stream, then eof: no error, every head ends */
	for (k = 0; k <= sizeof(stream) - 1 && !tap_cur_failed; k++) {
		struct op ops[] = { { OP_DATA, stream, k, 0 }, EOF_OP };
		struct rec r = { 0 };

		run_ops(&r, HTTP1_RESPONSE, ops, NOPS(ops), 0);
		heads = ends = 0;
		for (s = r.log.p; (s = strstr(s, "RES ")); s++)
			heads++;
		for (s = r.log.p; (s = strstr(s, "END")); s++)
			ends++;
		CHECK(!strstr(r.log.p, "ERR") && heads == ends, "prefix %zu:\n%s", k, r.log.p);
		CHECK(k < sizeof(stream) - 1 || !strstr(r.log.p, "truncated"), "%s", r.log.p);
		rec_free(&r);
	}
}

/* --- capture gaps ------------------------------------------------------- */

static void test_gap_in_body(void)
{
	static const struct op cl[] = {
		D("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"), GAP(4), D("def"),
		D("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"),
	};
	static const struct op chunked[] = {
		D("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123"), GAP(3),
		D("789\r\n"), D("4\r\n"), GAP(4), D("\r\n0\r\n\r\n"),
		D("HTTP/1.1 204 No Content\r\n\r\n"),
	};
	static const struct op exact[] = {
		D("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc"), GAP(3),
		D("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"), GAP(0),
	};
	static const struct op until_close[] = {
		D("HTTP/1.1 200 OK\r\n\r\nabc"), GAP(1000), D("def"), EOF_OP,
	};

	check_ops(HTTP1_RESPONSE, NULL, cl, NOPS(cl),
		  "RES 200 1.1 cl=10 h=1\nB:abc\nGAP 4\nB:def\nEND\n"
		  "RES 200 1.1 cl=1 h=1\nB:z\nEND\n"
		  STATS(2, 0, 0, 0, 4, 0));
	check_ops(HTTP1_RESPONSE, NULL, chunked, NOPS(chunked),
		  "RES 200 1.1 chunked h=1\nB:0123\nGAP 3\nB:789\nGAP 4\nEND\n"
		  "RES 204 1.1 h=0\nEND\n"
		  STATS(2, 0, 0, 0, 7, 0));
	check_ops(HTTP1_RESPONSE, NULL, exact, NOPS(exact),
		  "RES 200 1.1 cl=6 h=1\nB:abc\nGAP 3\nEND\n"
		  "RES 200 1.1 cl=1 h=1\nB:z\nEND\n"
		  STATS(2, 0, 0, 0, 3, 0));
	check_ops(HTTP1_RESPONSE, NULL, until_close, NOPS(until_close),
		  "RES 200 1.1 h=0\nB:abc\nGAP 1000\nB:def\nEND\n"
		  STATS(1, 0, 0, 0, 1000, 0));
}

static void test_gap_across_body_end(void)
{
	/* 7 body bytes and the start of the next head are lost */
	static const struct op cl[] = {
		D("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"), GAP(20),
		D("ength: 3\r\n\r\nxyz\n"
		  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
	};
	/* into the CRLF after chunk data */
	static const struct op chunked[] = {
		D("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"), GAP(5),
		D("3\r\nxyz\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
	};

	check_ops(HTTP1_RESPONSE, NULL, cl, NOPS(cl),
		  "RES 200 1.1 cl=10 h=1\nB:abc\nGAP 7\nEND truncated\n"
		  "RES 200 1.1 cl=2 h=1\nB:ok\nEND\n"
		  STATS(2, 0, 1, 1, 20, 16));
	check_ops(HTTP1_RESPONSE, NULL, chunked, NOPS(chunked),
		  "RES 200 1.1 chunked h=1\nB:ab\nGAP 3\nEND truncated\n"
		  "RES 200 1.1 cl=2 h=1\nB:ok\nEND\n"
		  STATS(2, 0, 1, 1, 5, 13));
}

static void test_gap_in_head_resyncs(void)
{
	/* the rest of the broken message is skipped up to a line that starts a
	 * message; lines that only look like one are skipped too */
	static const struct op resp[] = {
		D("HTTP/1.1 200 OK\r\nContent-Le"), GAP(30),
		D("ngth: 5\r\n\r\nhell\n"
		  "HTTP/1.1 200 OK\r\nbroken header\r\n\r\n"
		  "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
	};
	static const struct op req[] = {
		D("POST /v1/messages HTTP/1.1\r\nHost: a\r\nContent-"), GAP(100),
		D("\"model\": \"x\"}\n"
		  "GET is what we do\n"
		  "POST\n"
		  "GETX /y HTTP/1.1\r\n"
		  "\r\n"
		  "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"),
	};
	/* capture lost whole writes: the next one starts a message */
	static const struct op whole_write[] = {
		D("HTTP/1.1 200 OK\r\n"), GAP(50),
		D("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
	};
	/* in a chunk-size line, and in trailers */
	static const struct op chunk_line[] = {
		D("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1"), GAP(8),
		D("\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"),
		D("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T"), GAP(2),
		D(": 1\r\n\r\n"),
	};

	check_ops(HTTP1_RESPONSE, NULL, resp, NOPS(resp),
		  "RES 201 1.1 cl=0 h=1\nEND\n"
		  STATS(1, 0, 1, 0, 30, 77));
	check_ops(HTTP1_REQUEST, NULL, req, NOPS(req),
		  "REQ GET /next 1.1 host=a h=1\nEND\n"
		  STATS(1, 0, 1, 0, 100, 102));
	check_ops(HTTP1_RESPONSE, NULL, whole_write, NOPS(whole_write),
		  "RES 200 1.1 cl=2 h=1\nB:ok\nEND\n"
		  STATS(1, 0, 1, 0, 50, 17));
	check_ops(HTTP1_RESPONSE, NULL, chunk_line, NOPS(chunk_line),
		  "RES 200 1.1 chunked h=1\nB:abc\nEND truncated\n"
		  "RES 200 1.1 cl=1 h=1\nB:z\nEND\n"
		  "RES 200 1.1 chunked h=1\nEND truncated\n"
		  STATS(3, 0, 2, 2, 10, 9));
}

static void test_gap_clears_error(void)
{
	static const struct op ops[] = {
		D("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
		D("garbage\r\n"), D("more"), GAP(0),
		D("\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
	};

	check_ops(HTTP1_RESPONSE, NULL, ops, NOPS(ops),
		  "RES 200 1.1 cl=2 h=1\nB:ok\nEND\n"
		  "ERR EBADMSG\n"
		  "ERR EBADMSG\n"
		  "RES 200 1.1 cl=0 h=1\nEND\n"
		  STATS(2, 1, 1, 0, 0, 1));
}

/* --- garbage ------------------------------------------------------------ */

struct bad_case {
	enum http1_kind kind;
	const char *in;
	int err;
};

static void check_bad(const struct bad_case *c, size_t len)
{
	struct rec r = { 0 };
	char want[32];

	check_data(c->kind, NULL, c->in, len, NULL);
	run_ops(&r, c->kind, &(struct op){ OP_DATA, c->in, len, 0 }, 1, 0);
	snprintf(want, sizeof(want), "ERR %s\n", err_name(c->err));
	CHECK(strstr(r.log.p, want) != NULL, "%s:\n%s", c->in, r.log.p);
	rec_free(&r);
}

static void test_garbage(void)
{
	static const struct bad_case cases[] = {
#define REQ(s) { HTTP1_REQUEST, s, -EBADMSG }
#define RES(s) { HTTP1_RESPONSE, s, -EBADMSG }
		REQ("G(ET / HTTP/1.1\r\n\r\n"),
		REQ("GET  / HTTP/1.1\r\n\r\n"),
		REQ("GET / HTTP/2.0\r\n\r\n"),
		REQ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
		REQ("GET / HTTP/1.1 x\r\n\r\n"),
		REQ("GET /\x01 HTTP/1.1\r\n\r\n"),
		REQ("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
		REQ("GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"),
		REQ("GET / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nhello"),
		REQ("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
		REQ("GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n"),
		REQ("GET / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n"),
		REQ("GET / HTTP/1.1\r\nContent-Length:\r\n\r\n"),
		REQ("GET / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n"),
		REQ("GET / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n"),
		REQ("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"),
		REQ("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n"),
		REQ("GET / HTTP/1.1\r\nX-A: 1\r\n  continued\r\n\r\n"),
		REQ("GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
		REQ("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n"),
		REQ("GET / HTTP/1.1\r\n: a\r\n\r\n"),
		REQ("GET / HTTP/1.1\r\nno colon\r\n\r\n"),
		REQ("GET / HTTP/1.1\r\nX-A: a\x01z\r\n\r\n"),
		REQ("GET / HTTP/1.1\r\nX-A: a\x7fz\r\n\r\n"),
		REQ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
		REQ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
		RES("HTTP/1.1 20 OK\r\n\r\n"),
		RES("HTTP/1.1 2000 OK\r\n\r\n"),
		RES("HTTP/1.1 099 Low\r\n\r\n"),
		RES("HTTP/1.1 200 O\x01K\r\n\r\n"),
		RES("HTTP/1.1  200 OK\r\n\r\n"),
		RES("ICY 200 OK\r\n\r\n"),
		RES("HTTP/2 200\r\n\r\n"),
		RES("<html>\r\n"),
		RES("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n"),
		RES("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n"),
		RES("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n"),
		RES("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 5\r\n"),
		RES("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n"),
		RES("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\x01\r\n"),
		RES("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\rabc"),
		RES("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n"),
		RES("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: b\rc\r\n\r\n"),
		RES("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nX\r\n\r\n"),
		RES("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok<!DOCTYPE html>"),
#undef REQ
#undef RES
	};
	size_t i;

	for (i = 0; i < NOPS(cases) && !tap_cur_failed; i++)
		check_bad(&cases[i], strlen(cases[i].in));
	/* NUL in a field value */
	check_bad(&(struct bad_case){ HTTP1_REQUEST, "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", -EBADMSG}, 27);
}

static void test_limits(void)
{
	struct sb s = { 0 };
	struct bad_case c = { HTTP1_REQUEST, NULL, -EBADMSG };
	struct rec r = { 0 };
	int i;

	/* 128 header fields are fine, 129 are not */
	sb_printf(&s, "GET / HTTP/1.1\r\n");
	for (i = 0; i < HTTP1_MAX_HEADERS; i++)
		sb_printf(&s, "X-%d: %d\r\n", i, i);
	sb_printf(&s, "\r\n");
	check_data(HTTP1_REQUEST, NULL, s.p, s.len, "REQ GET / 1.1 h=128\nEND\n" STATS(1, 0, 0, 0, 0, 0));
	s.len -= 2;
	sb_printf(&s, "X-last: 1\r\n\r\n");
	c.in = s.p;
	check_bad(&c, s.len);

	/* a head over HTTP1_MAX_HEAD */
	s.len = 0;
	sb_printf(&s, "GET / HTTP/1.1\r\nX-Big: ");
	while (s.len < HTTP1_MAX_HEAD)
		sb_add(&s, "0123456789abcdef0123456789abcdef", 32);
	sb_printf(&s, "\r\n\r\n");
	check_ops_rec(&r, HTTP1_REQUEST, &(struct op){ OP_DATA, s.p, s.len, 0 }, 1,
		      "ERR EMSGSIZE\n" STATS(0, 1, 0, 0, 0, 0), 997);
	rec_free(&r);

	/* methods up to 32 characters, however the line arrives (fuzz finding) */
	CHECK_DATA(HTTP1_REQUEST, NULL, "ABCDEFGHIJKLMNOPQRSTUVWXYZ-12345 / HTTP/1.1\r\n\r\n",
		   "REQ ABCDEFGHIJKLMNOPQRSTUVWXYZ-12345 / 1.1 h=0\nEND\n" STATS(1, 0, 0, 0, 0, 0));
	c = (struct bad_case){ HTTP1_REQUEST, "ABCDEFGHIJKLMNOPQRSTUVWXYZ-123456 / HTTP/1.1\r\n\r\n", -EBADMSG };
	check_bad(&c, strlen(c.in));

	/* the largest chunk size is accepted, framing continues */
	CHECK_DATA(HTTP1_RESPONSE, NULL,
		   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab",
		   "RES 200 1.1 chunked h=1\nB:ab\n" STATS(1, 0, 0, 0, 0, 0));
	free(s.p);
}

static void test_header_semantics(void)
{
	CHECK_DATA(HTTP1_RESPONSE, NULL,
		   "HTTP/1.1 200 OK\r\ncontent-length: 1\r\nCONNECTION: Keep-Alive, Close\r\n"
		   "content-ENCODING: gzip\r\nContent-Encoding: br\r\n\r\nx"
		   "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n0\r\n\r\n"
		   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\nraw"
		   "\r\n",
		   "RES 200 1.1 cl=1 close ce=gzip h=4\nB:x\nEND\n"
		   "RES 200 1.1 chunked h=1\nEND\n"
		   "RES 200 1.1 h=2\nB:raw\r\n\n"
		   STATS(3, 0, 0, 0, 0, 0));
	/* identical Content-Length values, repeated or listed, are one length */
	CHECK_DATA(HTTP1_REQUEST, NULL,
		   "PUT /x HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab"
		   "PUT /y HTTP/1.1\r\nContent-Length: 3, 3\r\nEXPECT: 100-Continue\r\n\r\nabc"
		   "GET /z HTTP/1.1\r\nHOST:  example.com:8443 \t\r\nX-Empty:\r\nX-Obs: \xe2\x82\xac\r\n\r\n",
		   "REQ PUT /x 1.1 cl=2 h=2\nB:ab\nEND\n"
		   "REQ PUT /y 1.1 cl=3 expect h=2\nB:abc\nEND\n"
		   "REQ GET /z 1.1 host=example.com:8443 h=3\nEND\n"
		   STATS(3, 0, 0, 0, 0, 0));
}

static int log_fields(void *ctx, const struct http1_head *h)
{
	size_t i;

	for (i = 0; i < h->nheaders; i++)
		sb_printf(ctx, "[%.*s]=[%.*s]\n", (int)h->headers[i].name_len, h->headers[i].name,
			  (int)h->headers[i].value_len, h->headers[i].value);
	return 0;
}

static void test_header_fields(void)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost:a\r\nX-Pad: \t v a l \t\r\nX-Empty:  \r\n\r\n";
	const struct http1_callbacks cb = { .on_head = log_fields };
	struct sb log = { 0 };
	struct http1_parser *p = http1_parser__new(HTTP1_REQUEST, &cb, &log);

	CHECK_EQ_INT(http1_parser__feed(p, (const uint8_t *)in, sizeof(in) - 1), sizeof(in) - 1);
	CHECK(log.p && !strcmp(log.p, "[Host]=[a]\n[X-Pad]=[v a l]\n[X-Empty]=[]\n"), "%s", log.p);
	http1_parser__free(p);
	free(log.p);
}

static void test_callback_abort(void)
{
	static const struct op ops[] = {
		D("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"),
		D("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ny"),
		D("HTTP/1.1 200 OK\r\n\r\n"),
	};

	check_ops(HTTP1_RESPONSE, "-x", ops, NOPS(ops),
		  "RES 200 1.1 cl=1 h=1\nB:x\nEND\n"
		  "RES 200 1.1 cl=1 h=1\nERR ECANCELED\n"
		  "ERR ECANCELED\n"
		  STATS(1, 0, 0, 0, 0, 0));
}

static void test_api_edges(void)
{
	struct http1_parser *p = http1_parser__new(HTTP1_RESPONSE, NULL, NULL);
	struct http1_stats st;

	http1_parser__free(NULL);
	CHECK(http1_parser__new((enum http1_kind)7, NULL, NULL) == NULL && errno == EINVAL, "kind");
	CHECK_EQ_INT(http1_parser__feed(p, NULL, 0), 0);
	CHECK_EQ_INT(http1_parser__feed(p, (const uint8_t *)"HTTP/1.1 200 OK\r\n\r\nabc", 22), 22);
	CHECK_EQ_INT(http1_parser__eof(p), 0);
	CHECK_EQ_INT(http1_parser__eof(p), 0);
	CHECK_EQ_INT(http1_parser__gap(p, 5), 0);
	http1_parser__stats(p, &st);
	CHECK_EQ_INT(st.messages, 1);
	http1_parser__free(p);
}

/* --- recorded traffic --------------------------------------------------- */

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

static void add_headers(struct sb *w, json_object *hdrs, int keep_ce, int *has_host)
{
	json_object_object_foreach(hdrs, name, val) {
		size_t i, n = json_object_is_type(val, json_type_array) ? json_object_array_length(val) : 1;

		if (!strcasecmp(name, "content-length") || !strcasecmp(name, "transfer-encoding") ||
		    (!keep_ce && !strcasecmp(name, "content-encoding")))
			continue;
		if (has_host && !strcasecmp(name, "host"))
			*has_host = 1;
		for (i = 0; i < n; i++)
			sb_printf(w, "%s: %s\r\n", name, json_object_get_string(
				json_object_is_type(val, json_type_array) ?
				json_object_array_get_idx(val, i) : val));
	}
}

struct exchange {
	struct sb req, resp_cl, resp_chunked;
	struct sb req_body, resp_body;	/* body on the wire */
	const char *text;		/* decoded response body */
	int gzip;
	int status;
	char method[16];
	const char *path;
};

/* Serialises a fixture as HTTP/1.1: the request, and the response with a
 * Content-Length and chunked (odd chunk sizes, an extension, a trailer). */
static void build_exchange(json_object *fx, struct exchange *x)
{
	static const size_t sizes[] = { 1, 13, 100, 1000, 4096, 7, 333 };
	const char *host = jstr(fx, "scheme_host"), *b64 = jstr(fx, "response_body_base64");
	const char *body = jstr(fx, "request_body");
	json_object *v;
	int has_host = 0;
	size_t i, off, n;
	struct sb head = { 0 };

	memset(x, 0, sizeof(*x));
	snprintf(x->method, sizeof(x->method), "%s", jstr(fx, "method"));
	for (i = 0; x->method[i]; i++)
		x->method[i] = toupper((unsigned char)x->method[i]);
	x->path = jstr(fx, "path");
	sb_printf(&x->req, "%s %s HTTP/1.1\r\n", x->method, x->path);
	json_object_object_get_ex(fx, "request_headers", &v);
	add_headers(&x->req, v, 1, &has_host);
	if (!has_host)
		sb_printf(&x->req, "Host: %s\r\n", strstr(host, "://") ? strstr(host, "://") + 3 : host);
	sb_add(&x->req_body, body ? body : "", body ? strlen(body) : 0);
	sb_printf(&x->req, "Content-Length: %zu\r\n\r\n", x->req_body.len);
	sb_add(&x->req, x->req_body.p, x->req_body.len);

	json_object_object_get_ex(fx, "status", &v);
	x->status = json_object_get_int(v);
	x->text = jstr(fx, "response_body");
	x->gzip = b64 != NULL;
	if (b64) {
		x->resp_body.p = malloc(strlen(b64) + 1);
		x->resp_body.len = base64_decode(b64, (uint8_t *)x->resp_body.p);
	} else {
		sb_add(&x->resp_body, x->text, strlen(x->text));
	}
	sb_printf(&head, "HTTP/1.1 %d %s\r\n", x->status, x->status == 200 ? "OK" : "Error");
	json_object_object_get_ex(fx, "response_headers", &v);
	add_headers(&head, v, x->gzip, NULL);

	sb_add(&x->resp_cl, head.p, head.len);
	sb_printf(&x->resp_cl, "Content-Length: %zu\r\n\r\n", x->resp_body.len);
	sb_add(&x->resp_cl, x->resp_body.p, x->resp_body.len);

	sb_add(&x->resp_chunked, head.p, head.len);
	sb_printf(&x->resp_chunked, "Transfer-Encoding: chunked\r\n\r\n");
	for (i = 0, off = 0; off < x->resp_body.len; i++, off += n) {
		n = sizes[i % NOPS(sizes)];
		if (n > x->resp_body.len - off)
			n = x->resp_body.len - off;
		sb_printf(&x->resp_chunked, i == 1 ? "%zx;ext=\"v\"\r\n" : "%zx\r\n", n);
		sb_add(&x->resp_chunked, x->resp_body.p + off, n);
		sb_add(&x->resp_chunked, "\r\n", 2);
	}
	sb_printf(&x->resp_chunked, "0\r\nX-Trailer: done\r\n\r\n");
	free(head.p);
}

static void exchange_free(struct exchange *x)
{
	free(x->req.p);
	free(x->resp_cl.p);
	free(x->resp_chunked.p);
	free(x->req_body.p);
	free(x->resp_body.p);
}

static int collect(void *ctx, const uint8_t *out, size_t len)
{
	sb_add(ctx, out, len);
	return 0;
}

/* Parses one wire message of a fixture; its body must equal want. */
static void check_wire(const char *name, enum http1_kind kind, const struct sb *wire,
		       const char *head, const struct sb *want, const char *text)
{
	struct op op = { OP_DATA, wire->p, wire->len, 0 };
	struct sb body = { 0 }, decoded = { 0 };
	struct rec r = { .base = (const uint8_t *)wire->p, .base_len = wire->len, .body = &body };
	struct decoder *d;

	/* past 8 KiB, some 8000 cuts spread evenly (byte by byte covers every offset) */
	check_ops_rec(&r, kind, &op, 1, NULL, 1 + wire->len / 8192);
	CHECK(!strncmp(r.log.p, head, strlen(head)), "%s: %s", name, r.log.p);
	CHECK(r.nmsg == 1 && strstr(r.log.p, "\nEND\nSTATS msgs=1 bad=0 ") && !strstr(r.log.p, "NOT"),
	      "%s: %s", name, r.log.p);
	CHECK(body.len == want->len && !memcmp(body.p, want->p, body.len), "%s: body", name);
	if (text) {
		/* a gzip recording: its body gunzips to the recorded text */
		d = decoder__new("gzip", 4, UINT64_MAX, NULL);
		CHECK(strstr(r.log.p, " ce=gzip "), "%s: %s", name, r.log.p);
		CHECK_EQ_INT(decoder__feed(d, (const uint8_t *)body.p, body.len, collect, &decoded), 0);
		CHECK_EQ_INT(decoder__finish(d, collect, &decoded), 0);
		CHECK(decoded.len == strlen(text) && !memcmp(decoded.p, text, decoded.len),
		      "%s: gunzipped body", name);
		decoder__free(d);
	}
	rec_free(&r);
	free(body.p);
	free(decoded.p);
}

static void check_fixture(const char *name, struct exchange *x)
{
	char head[512];

	snprintf(head, sizeof(head), "REQ %s %s 1.1 cl=%zu ", x->method, x->path, x->req_body.len);
	check_wire(name, HTTP1_REQUEST, &x->req, head, &x->req_body, NULL);
	snprintf(head, sizeof(head), "RES %d 1.1 ", x->status);
	check_wire(name, HTTP1_RESPONSE, &x->resp_cl, head, &x->resp_body, x->gzip ? x->text : NULL);
	check_wire(name, HTTP1_RESPONSE, &x->resp_chunked, head, &x->resp_body,
		   x->gzip ? x->text : NULL);
}

static void test_fixtures(void)
{
	struct dirent **ents;
	struct sb reqs = { 0 }, resps = { 0 };
	struct exchange x;
	char dir[512], path[1024];
	int i, n, used = 0;
	struct rec r;

	n = scandir(fixture_dir(dir, sizeof(dir)), &ents, json_suffix, alphasort);
	CHECK(n > 0, "%s: no fixtures", dir);
	for (i = 0; i < n; i++) {
		json_object *fx;

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		fx = json_object_from_file(path);
		CHECK(fx != NULL, "%s: unreadable", path);
		if (fx && !tap_cur_failed) {
			build_exchange(fx, &x);
			check_fixture(ents[i]->d_name, &x);
			/* one keep-alive connection for them all */
			sb_add(&reqs, x.req.p, x.req.len);
			if (i % 2)
				sb_add(&resps, x.resp_chunked.p, x.resp_chunked.len);
			else
				sb_add(&resps, x.resp_cl.p, x.resp_cl.len);
			exchange_free(&x);
			used++;
		}
		json_object_put(fx);
		free(ents[i]);
	}
	free(ents);

	r = (struct rec){ .base = (const uint8_t *)reqs.p, .base_len = reqs.len };
	check_ops_rec(&r, HTTP1_REQUEST, &(struct op){ OP_DATA, reqs.p, reqs.len, 0 }, 1, NULL, 101);
	CHECK_EQ_INT(r.nmsg, used);
	rec_free(&r);
	r = (struct rec){ .base = (const uint8_t *)resps.p, .base_len = resps.len };
	check_ops_rec(&r, HTTP1_RESPONSE, &(struct op){ OP_DATA, resps.p, resps.len, 0 }, 1, NULL,
		      101);
	CHECK_EQ_INT(r.nmsg, used);
	CHECK(!strstr(r.log.p, "ERR") && !strstr(r.log.p, "truncated"), "%s", r.log.p);
	rec_free(&r);
	free(reqs.p);
	free(resps.p);
}

static int count_head(void *ctx, const struct http1_head *h)
{
	(*(int *)ctx)++;
	return 0;
}

/*
 * A head longer than the memory bound leaves room for: the feed fails with
 * -ENOBUFS, a gap resynchronises, the next message is read; the bound is
 * never passed and the head buffer is given back.  A large head's buffer
 * is not kept between messages.
 */
static void test_budget(void)
{
	static const struct http1_callbacks cb = { .on_head = count_head };
	static char big[9000];
	static const char next[] = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
	struct membudget mb;
	struct http1_parser *p;
	int heads = 0;
	size_t i, n;
	ssize_t rc = 0;

	n = snprintf(big, sizeof(big), "GET /a HTTP/1.1\r\nX-Pad: %07000d\r\n\r\n", 0);
	membudget_init(&mb, 4096);
	p = http1_parser__new(HTTP1_REQUEST, &cb, &heads);
	http1_parser__set_budget(p, &mb);
	for (i = 0; i < n && rc >= 0; i++)	/* cut: the head is buffered */
		rc = http1_parser__feed(p, (const uint8_t *)big + i, 1);
	CHECK_EQ_INT(rc, -ENOBUFS);
	CHECK(mb.peak <= mb.limit && mb.refused == 1, "peak %llu refused %llu",
	      (unsigned long long)mb.peak, (unsigned long long)mb.refused);
	CHECK_EQ_INT(http1_parser__gap(p, 0), 0);
	for (; i < n; i++)
		CHECK_EQ_INT(http1_parser__feed(p, (const uint8_t *)big + i, 1), 1);
	for (i = 0; i < sizeof(next) - 1; i++)
		CHECK_EQ_INT(http1_parser__feed(p, (const uint8_t *)next + i, 1), 1);
	CHECK_EQ_INT(heads, 1);
	http1_parser__free(p);
	CHECK_EQ_INT(mb.used, 0);

	/* With room, a 7 KB head is read, and its buffer given back after. */
	membudget_init(&mb, 1 << 20);
	heads = 0;
	p = http1_parser__new(HTTP1_REQUEST, &cb, &heads);
	http1_parser__set_budget(p, &mb);
	for (i = 0; i < n; i++)
		CHECK_EQ_INT(http1_parser__feed(p, (const uint8_t *)big + i, 1), 1);
	CHECK_EQ_INT(heads, 1);
	CHECK_EQ_INT(mb.used, 0);
	http1_parser__free(p);
}

int main(void)
{
	RUN(test_request_content_length);
	RUN(test_pipelined_requests);
	RUN(test_keep_alive_responses);
	RUN(test_chunked_extensions_trailers);
	RUN(test_continue_and_interim);
	RUN(test_switching_protocols);
	RUN(test_head_204_304);
	RUN(test_read_until_close);
	RUN(test_truncated_by_eof);
	RUN(test_gap_in_body);
	RUN(test_gap_across_body_end);
	RUN(test_gap_in_head_resyncs);
	RUN(test_gap_clears_error);
	RUN(test_garbage);
	RUN(test_limits);
	RUN(test_header_semantics);
	RUN(test_header_fields);
	RUN(test_callback_abort);
	RUN(test_api_edges);
	RUN(test_budget);
	if (have_fixtures())
		RUN(test_fixtures);
	else
		tap_skip("test_fixtures", "no fixtures: set FIXTURES to the fixtures directory");
	return tap_done();
}
