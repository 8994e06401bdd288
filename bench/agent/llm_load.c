// SPDX-License-Identifier: MIT
/*
 * llm_load — OpenAI-shaped HTTP/1.1 traffic over TLS on 127.0.0.1, for
 * measuring what the tollgate agent itself costs per metered call.
 *
 *   llm_load [--kind llm|sse] [--req-size B] [--resp-size B] [--events N]
 *            [--event-gap US] [--calls N] [--rate R] [--model M] [--delay SECONDS]
 *   llm_load --idle --conns N [--hold SECONDS] [--delay SECONDS]
 *
 * Each run forks: the child is the server, the parent the client.  Both are
 * dynamically linked to the system libssl.so.3, so global uprobes on that
 * library see both; tollgate judges the server side of a connection on its
 * first message and stops copying it, so what the agent works on is the
 * client side, as on a host that calls a remote API.
 *
 * Load (the default): one TLS 1.3 keep-alive connection, --calls calls on
 * it, paced to --rate calls/s (0: as fast as the server answers; a late
 * call is not skipped, the next ones catch up).  Every call is one SSL_write
 * of a whole "POST /v1/chat/completions" request of --req-size bytes (head
 * + JSON body {"model":M,"messages":[system, user],...}, Content-Length
 * exact); the client reads the response with SSL_read 16 KiB at a time, as
 * node and python do, and parses it (Content-Length or chunked).
 *   --kind llm  a 200 "chat.completion" JSON response of --resp-size bytes in
 *               one SSL_write: choices[0].message.content and
 *               "usage":{"prompt_tokens","completion_tokens","total_tokens"}.
 *   --kind sse  the request has "stream":true and
 *               "stream_options":{"include_usage":true}; the response is
 *               "Content-Type: text/event-stream", "Transfer-Encoding:
 *               chunked": the head (one SSL_write), then --events
 *               chat.completion.chunk events (the first with the role, the
 *               last an empty delta with finish_reason "stop", the others a
 *               word of content), then the usage chunk ("choices":[]), then
 *               "data: [DONE]", each event one HTTP chunk and one SSL_write as
 *               a server flushes it, then the terminating 0-chunk (its own
 *               SSL_write).  --event-gap US: the server sleeps that long
 *               between two events, as a model emits tokens (0: no pause).
 * At the end the client prints one line:
 *   RESULT kind=K calls=N seconds=X calls_per_s=Y events=E req_bytes=B resp_bytes=B pid=P
 *          lat_p50_us=L lat_p99_us=L
 * (events: SSE data lines seen, [DONE] included; bytes: whole messages;
 * lat: from a call's write to the end of its response, nearest rank).
 *
 * Idle (--idle --conns N): N TLS connections, one at a time; on each one
 * "GET /health" (not an LLM call, but HTTP, so tollgate tracks the
 * connection) and its 200 response; then they stay open, idle.  The server
 * is one epoll loop over all of them.  The client prints
 *   READY conns=N seconds=X pid=P
 * and holds them --hold seconds (0, the default: until SIGINT or SIGTERM).
 * RLIMIT_NOFILE is raised to fit (root may raise the hard limit).
 *
 * --delay waits that long before anything else (before the fork): time for
 * an agent that attaches per process to see a process that just started.
 *
 * The certificate is a throw-away self-signed EC key made at start; the
 * client does not verify it (benchmark only).  Exit status 0 on success,
 * 1 on any failure (the message says which), 2 on bad usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../common/benchtls.h"

const char *bench_prog = "llm_load";

#define READ_CHUNK	16384
#define MAX_MESSAGE	(64u << 20)	/* a response the client buffers whole */
#define IDLE_BUF	1024		/* per idle connection, server side */

enum kind { KIND_LLM, KIND_SSE };

struct opts {
	enum kind kind;
	size_t req_size;
	size_t resp_size;
	long events;
	long event_gap_us;
	long calls;
	double rate;
	const char *model;
	int idle;
	long conns;
	double hold;
	double delay;
};

/* What the client saw. */
struct tally {
	long calls;
	long events;
	uint64_t req_bytes;
	uint64_t resp_bytes;
};

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p) {
		perror("llm_load: malloc");
		exit(1);
	}
	return p;
}

/* --- messages -------------------------------------------------------------- */

/* Prose-like ASCII that needs no JSON escaping. */
static void fill_text(char *p, size_t n)
{
	static const char words[] = "the quick brown fox jumps over the lazy dog and "
				    "then asks the model to summarise the whole story ";
	for (size_t i = 0; i < n; i++)
		p[i] = words[i % (sizeof(words) - 1)];
}

/*
 * An HTTP/1.1 message of exactly `size` bytes into a new buffer: head (its
 * format takes the body length), then body = pre + text + post.  NULL if
 * `size` cannot hold it.
 */
static char *build_message(size_t size, const char *head_fmt, const char *pre,
			   const char *post)
{
	size_t pre_len = strlen(pre), post_len = strlen(post), body;
	char head[2048], *out;
	int hl = 0;

	/* The head holds the body length, whose digit count depends on it:
	 * iterate until stable. */
	body = size > 300 ? size - 300 : 0;
	for (int i = 0; i < 4; i++) {
		hl = snprintf(head, sizeof(head), head_fmt, body);
		if (hl < 0 || (size_t)hl >= sizeof(head) || (size_t)hl + pre_len + post_len > size)
			return NULL;
		body = size - (size_t)hl;
	}
	hl = snprintf(head, sizeof(head), head_fmt, body);
	if ((size_t)hl + body != size || body < pre_len + post_len)
		return NULL;
	out = xmalloc(size);
	memcpy(out, head, (size_t)hl);
	memcpy(out + hl, pre, pre_len);
	fill_text(out + hl + pre_len, body - pre_len - post_len);
	memcpy(out + size - post_len, post, post_len);
	return out;
}

static const char REQ_HEAD[] =
	"POST /v1/chat/completions HTTP/1.1\r\n"
	"Host: api.openai.com\r\n"
	"Accept: application/json\r\n"
	"Content-Type: application/json\r\n"
	"User-Agent: OpenAI/Python 1.54.4\r\n"
	"X-Stainless-Lang: python\r\n"
	"X-Stainless-Package-Version: 1.54.4\r\n"
	"Authorization: Bearer sk-bench-000000000000000000000000000000000000\r\n"
	"Connection: keep-alive\r\n"
	"Content-Length: %zu\r\n\r\n";

static const char RESP_HEAD[] =
	"HTTP/1.1 200 OK\r\n"
	"Date: Tue, 12 Nov 2024 00:00:00 GMT\r\n"
	"Content-Type: application/json\r\n"
	"Connection: keep-alive\r\n"
	"openai-organization: user-bench\r\n"
	"openai-processing-ms: 412\r\n"
	"openai-version: 2020-10-01\r\n"
	"x-request-id: req_00000000000000000000000000000000\r\n"
	"Content-Length: %zu\r\n\r\n";

static const char SSE_HEAD[] =
	"HTTP/1.1 200 OK\r\n"
	"Date: Tue, 12 Nov 2024 00:00:00 GMT\r\n"
	"Content-Type: text/event-stream; charset=utf-8\r\n"
	"Transfer-Encoding: chunked\r\n"
	"Connection: keep-alive\r\n"
	"openai-organization: user-bench\r\n"
	"openai-processing-ms: 95\r\n"
	"openai-version: 2020-10-01\r\n"
	"x-request-id: req_00000000000000000000000000000000\r\n\r\n";

#define CHUNK_PRE \
	"{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1731368630," \
	"\"model\":\"%s-2024-07-18\",\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":"

static char *build_request(const struct opts *o)
{
	char pre[512], post[256];
	char *m;

	snprintf(pre, sizeof(pre),
		 "{\"model\":\"%s\",\"messages\":[{\"role\":\"system\",\"content\":"
		 "\"You are a helpful assistant.\"},{\"role\":\"user\",\"content\":\"",
		 o->model);
	snprintf(post, sizeof(post), "\"}],\"temperature\":0.2,\"max_tokens\":%d,%s}",
		 o->kind == KIND_SSE ? (int)o->events + 16 : 256,
		 o->kind == KIND_SSE ? "\"stream\":true,\"stream_options\":{\"include_usage\":true}"
				     : "\"stream\":false");
	m = build_message(o->req_size, REQ_HEAD, pre, post);
	if (!m) {
		fprintf(stderr, "llm_load: --req-size %zu too small for a request\n", o->req_size);
		exit(2);
	}
	return m;
}

static char *build_response(const struct opts *o)
{
	char pre[512], post[256];
	size_t content = o->resp_size > 700 ? o->resp_size - 700 : 4;
	char *m;

	snprintf(pre, sizeof(pre),
		 "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1731368630,"
		 "\"model\":\"%s-2024-07-18\",\"choices\":[{\"index\":0,\"message\":"
		 "{\"role\":\"assistant\",\"content\":\"", o->model);
	/* About four bytes a token. */
	snprintf(post, sizeof(post),
		 "\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
		 "\"usage\":{\"prompt_tokens\":%zu,\"completion_tokens\":%zu,\"total_tokens\":%zu},"
		 "\"system_fingerprint\":\"fp_0ba0d124f1\"}",
		 o->req_size / 4, content / 4, o->req_size / 4 + content / 4);
	m = build_message(o->resp_size, RESP_HEAD, pre, post);
	if (!m) {
		fprintf(stderr, "llm_load: --resp-size %zu too small for a response\n", o->resp_size);
		exit(2);
	}
	return m;
}

/* One HTTP chunk holding one SSE event "data: <json>\n\n". */
static char *sse_chunk(const char *json, size_t *len)
{
	size_t ev = strlen(json) + 8;	/* "data: " + "\n\n" */
	char *p = xmalloc(ev + 32);
	int n = snprintf(p, ev + 32, "%zx\r\ndata: %s\n\n\r\n", ev, json);

	*len = (size_t)n;
	return p;
}

/* The SSE response as the SSL_writes a server makes: head, events, end. */
struct sse_script {
	char **w;
	size_t *len;
	size_t n;
};

static void build_sse(const struct opts *o, struct sse_script *s)
{
	static const char *const words[] = { " The", " quick", " brown", " fox", " jumps",
					     " over", " the", " lazy", " dog", "." };
	char json[1024];
	size_t k = 0;

	s->n = (size_t)o->events + 4;
	s->w = xmalloc(s->n * sizeof(*s->w));
	s->len = xmalloc(s->n * sizeof(*s->len));
	s->w[k] = strdup(SSE_HEAD);
	s->len[k++] = strlen(SSE_HEAD);
	for (long i = 0; i < o->events; i++) {
		if (i == 0)
			snprintf(json, sizeof(json), CHUNK_PRE "[{\"index\":0,\"delta\":{\"role\":"
				 "\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,"
				 "\"finish_reason\":null}]}", o->model);
		else if (i == o->events - 1)
			snprintf(json, sizeof(json), CHUNK_PRE "[{\"index\":0,\"delta\":{},"
				 "\"logprobs\":null,\"finish_reason\":\"stop\"}]}", o->model);
		else
			snprintf(json, sizeof(json), CHUNK_PRE "[{\"index\":0,\"delta\":{\"content\":"
				 "\"%s\"},\"logprobs\":null,\"finish_reason\":null}]}", o->model,
				 words[i % 10]);
		s->w[k] = sse_chunk(json, &s->len[k]);
		k++;
	}
	snprintf(json, sizeof(json), CHUNK_PRE "[],\"usage\":{\"prompt_tokens\":%zu,"
		 "\"completion_tokens\":%ld,\"total_tokens\":%zu}}", o->model,
		 o->req_size / 4, o->events, o->req_size / 4 + (size_t)o->events);
	s->w[k] = sse_chunk(json, &s->len[k]);
	k++;
	s->w[k] = sse_chunk("[DONE]", &s->len[k]);
	k++;
	s->w[k] = strdup("0\r\n\r\n");
	s->len[k++] = 5;
	if (!s->w[0] || !s->w[k - 1])
		bench_die("strdup");
}

/* --- TLS and sockets ------------------------------------------------------- */

static SSL_CTX *client_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		bench_die("SSL_CTX_new");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

static int listen_any(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1024)) {
		perror("llm_load: listen");
		exit(1);
	}
	return fd;
}

static SSL *connect_tls(SSL_CTX *ctx, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	SSL *ssl;

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		perror("llm_load: connect");
		exit(1);
	}
	bench_nodelay(fd);
	ssl = SSL_new(ctx);
	if (!ssl)
		bench_die("SSL_new");
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, "api.openai.com");
	if (SSL_connect(ssl) != 1)
		bench_die("SSL_connect");
	return ssl;
}

static void write_all(SSL *ssl, const void *p, size_t n)
{
	/* One SSL_write for the whole buffer (OpenSSL writes it all unless
	 * partial writes are enabled), as node and python do. */
	int r = SSL_write(ssl, p, (int)n);

	if (r <= 0 || (size_t)r != n)
		bench_die("SSL_write");
}

/* --- reading HTTP messages ------------------------------------------------- */

struct rbuf {
	char *p;
	size_t len;	/* bytes held */
	size_t cap;
};

/* One SSL_read of at most READ_CHUNK appended.  Bytes read, or 0 at EOF. */
static size_t rbuf_fill(SSL *ssl, struct rbuf *b)
{
	int r;

	if (b->cap - b->len < READ_CHUNK) {
		if (b->cap + READ_CHUNK > MAX_MESSAGE) {
			fprintf(stderr, "llm_load: message over %u bytes\n", MAX_MESSAGE);
			exit(1);
		}
		b->cap = b->cap ? b->cap * 2 : 4 * READ_CHUNK;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			bench_die("realloc");
	}
	r = SSL_read(ssl, b->p + b->len, READ_CHUNK);
	if (r <= 0) {
		int e = SSL_get_error(ssl, r);

		if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL)
			return 0;
		bench_die("SSL_read");
	}
	b->len += (size_t)r;
	return (size_t)r;
}

static void rbuf_consume(struct rbuf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

/* Bytes of the head ("\r\n\r\n" included), reading as needed; 0 at EOF. */
static size_t read_head(SSL *ssl, struct rbuf *b)
{
	for (;;) {
		char *e = b->len ? memmem(b->p, b->len, "\r\n\r\n", 4) : NULL;

		if (e)
			return (size_t)(e - b->p) + 4;
		if (!rbuf_fill(ssl, b))
			return 0;
	}
}

/* The value of header `name` in head[0..n), or NULL. */
static const char *header(const char *head, size_t n, const char *name)
{
	size_t nl = strlen(name);
	const char *p = memmem(head, n, "\r\n", 2);

	while (p && p + 2 < head + n) {
		p += 2;
		if ((size_t)(head + n - p) > nl + 1 && !strncasecmp(p, name, nl) && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ')
				p++;
			return p;
		}
		p = memmem(p, (size_t)(head + n - p), "\r\n", 2);
	}
	return NULL;
}

static size_t count_str(const char *p, size_t n, const char *s)
{
	size_t c = 0, sl = strlen(s);
	const char *q;

	while ((q = memmem(p, n, s, sl))) {
		c++;
		n -= (size_t)(q + sl - p);
		p = q + sl;
	}
	return c;
}

/*
 * One response, whole, consumed from `b`: checks the status, follows
 * Content-Length or chunked, counts SSE data lines into t->events.  Returns
 * the message's bytes on the wire.
 */
static size_t read_response(SSL *ssl, struct rbuf *b, struct tally *t)
{
	size_t hl = read_head(ssl, b), pos, total;
	const char *v;

	if (!hl) {
		fprintf(stderr, "llm_load: server closed before a response\n");
		exit(1);
	}
	if (b->len < 12 || memcmp(b->p, "HTTP/1.1 200", 12)) {
		fprintf(stderr, "llm_load: response is not a 200\n");
		exit(1);
	}
	v = header(b->p, hl, "Content-Length");
	if (v) {
		total = hl + strtoul(v, NULL, 10);
		while (b->len < total)
			if (!rbuf_fill(ssl, b))
				goto closed;
		rbuf_consume(b, total);
		return total;
	}
	v = header(b->p, hl, "Transfer-Encoding");
	if (!v || strncasecmp(v, "chunked", 7)) {
		fprintf(stderr, "llm_load: response has neither a length nor chunks\n");
		exit(1);
	}
	pos = hl;
	for (;;) {
		char *eol, *end;
		size_t size;

		while (!(eol = memmem(b->p + pos, b->len - pos, "\r\n", 2)))
			if (!rbuf_fill(ssl, b))
				goto closed;
		size = strtoul(b->p + pos, &end, 16);
		if (end == b->p + pos) {
			fprintf(stderr, "llm_load: bad chunk size\n");
			exit(1);
		}
		pos = (size_t)(eol - b->p) + 2;
		while (b->len < pos + size + 2)
			if (!rbuf_fill(ssl, b))
				goto closed;
		if (size == 0) {	/* no trailers are sent */
			total = pos + 2;
			break;
		}
		t->events += (long)count_str(b->p + pos, size, "data: ");
		pos += size + 2;
	}
	rbuf_consume(b, total);
	return total;
closed:
	fprintf(stderr, "llm_load: server closed in the middle of a response\n");
	exit(1);
}

/* A request, consumed from `b`; 0 when the client closed between requests. */
static int read_request(SSL *ssl, struct rbuf *b)
{
	size_t hl = read_head(ssl, b), total;
	const char *v;

	if (!hl)
		return 0;
	v = header(b->p, hl, "Content-Length");
	total = hl + (v ? strtoul(v, NULL, 10) : 0);
	while (b->len < total)
		if (!rbuf_fill(ssl, b)) {
			fprintf(stderr, "llm_load: client closed in the middle of a request\n");
			exit(1);
		}
	rbuf_consume(b, total);
	return 1;
}

/* --- load ------------------------------------------------------------------ */

static void serve_load(int fd, const struct opts *o)
{
	SSL_CTX *ctx = bench_server_ctx();
	SSL *ssl = SSL_new(ctx);
	struct rbuf in = { 0 };
	struct sse_script sse = { 0 };
	char *resp = NULL;

	if (!ssl)
		bench_die("SSL_new");
	if (o->kind == KIND_SSE)
		build_sse(o, &sse);
	else
		resp = build_response(o);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1)
		bench_die("SSL_accept");
	while (read_request(ssl, &in)) {
		if (resp) {
			write_all(ssl, resp, o->resp_size);
			continue;
		}
		for (size_t i = 0; i < sse.n; i++) {
			/* A pause before each event but the first; none before the
			 * 0-chunk, which a server writes as the stream ends. */
			if (o->event_gap_us > 0 && i >= 2 && i < sse.n - 1) {
				struct timespec ts = { o->event_gap_us / 1000000,
						       o->event_gap_us % 1000000 * 1000 };

				while (nanosleep(&ts, &ts) && errno == EINTR)
					;
			}
			write_all(ssl, sse.w[i], sse.len[i]);
		}
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
}

static void pace(double t0, long i, double rate)
{
	double at = t0 + i / rate, now = bench_now_s();
	struct timespec ts;

	if (at <= now)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	at -= now;
	ts.tv_sec += (time_t)at;
	ts.tv_nsec += (long)((at - (time_t)at) * 1e9);
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The p-th percentile (nearest rank) of n sorted values, in microseconds. */
static double pct_us(const double *v, long n, double p)
{
	long k = (long)(p / 100 * n + 0.999999);

	if (n <= 0)
		return 0;
	if (k < 1)
		k = 1;
	return v[(k > n ? n : k) - 1] * 1e6;
}

static void client_load(int port, const struct opts *o)
{
	SSL_CTX *ctx = client_ctx();
	SSL *ssl = connect_tls(ctx, port);
	char *req = build_request(o);
	struct rbuf in = { 0 };
	struct tally t = { 0 };
	double t0 = bench_now_s(), t1, c0;
	double *lat = calloc(o->calls > 0 ? (size_t)o->calls : 1, sizeof(*lat));

	if (!lat) {
		fprintf(stderr, "llm_load: out of memory\n");
		exit(1);
	}
	for (long i = 0; i < o->calls && !stop; i++) {
		if (o->rate > 0)
			pace(t0, i, o->rate);
		c0 = bench_now_s();
		write_all(ssl, req, o->req_size);
		t.req_bytes += o->req_size;
		t.resp_bytes += read_response(ssl, &in, &t);
		lat[t.calls++] = bench_now_s() - c0;
	}
	t1 = bench_now_s();
	qsort(lat, (size_t)t.calls, sizeof(*lat), cmp_double);
	SSL_shutdown(ssl);
	close(SSL_get_fd(ssl));
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	printf("RESULT kind=%s calls=%ld seconds=%.3f calls_per_s=%.1f events=%ld "
	       "req_bytes=%llu resp_bytes=%llu pid=%d lat_p50_us=%.1f lat_p99_us=%.1f\n",
	       o->kind == KIND_SSE ? "sse" : "llm", t.calls, t1 - t0,
	       t1 > t0 ? t.calls / (t1 - t0) : 0.0, t.events,
	       (unsigned long long)t.req_bytes, (unsigned long long)t.resp_bytes, (int)getpid(),
	       pct_us(lat, t.calls, 50), pct_us(lat, t.calls, 99));
	fflush(stdout);
	free(lat);
	free(req);
	free(in.p);
}

/* --- idle connections ------------------------------------------------------ */

static const char IDLE_REQ[] =
	"GET /health HTTP/1.1\r\nHost: api.openai.com\r\nUser-Agent: llm_load\r\n"
	"Connection: keep-alive\r\n\r\n";
static const char IDLE_RESP[] =
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
	"Connection: keep-alive\r\n\r\nok";

struct idle_conn {
	SSL *ssl;
	int accepted;
	size_t len;
	char buf[IDLE_BUF];
};

static void idle_close(int ep, struct idle_conn **c, int fd)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	SSL_free(c[fd]->ssl);
	free(c[fd]);
	c[fd] = NULL;
	close(fd);
}

/* Non-blocking SSL_write of a small response: retried until it is out. */
static int idle_write(SSL *ssl)
{
	for (int tries = 0; tries < 1000; tries++) {
		int r = SSL_write(ssl, IDLE_RESP, sizeof(IDLE_RESP) - 1);
		struct pollfd p = { .fd = SSL_get_fd(ssl), .events = POLLOUT };

		if (r > 0)
			return 0;
		if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_WRITE)
			return -EIO;
		poll(&p, 1, 100);
	}
	return -ETIMEDOUT;
}

/* Handshake, answer every request head, or close: what epoll says is ready. */
static void idle_ready(int ep, struct idle_conn **c, int fd)
{
	struct idle_conn *k = c[fd];
	int r;

	if (!k->accepted) {
		r = SSL_accept(k->ssl);
		if (r != 1) {
			int e = SSL_get_error(k->ssl, r);

			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				idle_close(ep, c, fd);
			return;
		}
		k->accepted = 1;
	}
	for (;;) {
		char *e;

		r = SSL_read(k->ssl, k->buf + k->len, (int)(sizeof(k->buf) - k->len));
		if (r <= 0) {
			int err = SSL_get_error(k->ssl, r);

			if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
				idle_close(ep, c, fd);
			return;
		}
		k->len += (size_t)r;
		while ((e = memmem(k->buf, k->len, "\r\n\r\n", 4))) {
			size_t n = (size_t)(e - k->buf) + 4;

			memmove(k->buf, k->buf + n, k->len - n);
			k->len -= n;
			if (idle_write(k->ssl)) {
				idle_close(ep, c, fd);
				return;
			}
		}
		if (k->len == sizeof(k->buf)) {	/* not our client's request */
			idle_close(ep, c, fd);
			return;
		}
	}
}

static void serve_idle(int lfd, long max_fds)
{
	SSL_CTX *ctx = bench_server_ctx();
	struct idle_conn **c = calloc((size_t)max_fds, sizeof(*c));
	struct epoll_event ev = { .events = EPOLLIN }, evs[256];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (!c || ep < 0)
		bench_die("epoll_create1");
	ev.data.fd = lfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev))
		bench_die("epoll_ctl");
	while (!stop) {
		int n = epoll_wait(ep, evs, 256, 1000);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd != lfd) {
				if (fd < max_fds && c[fd])
					idle_ready(ep, c, fd);
				continue;
			}
			fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd < 0)
				continue;
			if (fd >= max_fds) {
				close(fd);
				continue;
			}
			bench_nodelay(fd);
			c[fd] = calloc(1, sizeof(**c));
			if (!c[fd] || !(c[fd]->ssl = SSL_new(ctx)))
				bench_die("SSL_new");
			SSL_set_fd(c[fd]->ssl, fd);
			ev.data.fd = fd;
			if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
				bench_die("epoll_ctl");
			idle_ready(ep, c, fd);
		}
	}
	_exit(0);
}

static void client_idle(int port, const struct opts *o)
{
	SSL_CTX *ctx = client_ctx();
	SSL **conns = xmalloc((size_t)o->conns * sizeof(*conns));
	struct rbuf in = { 0 };
	struct tally t = { 0 };
	double t0 = bench_now_s(), t1;

	for (long i = 0; i < o->conns && !stop; i++) {
		conns[i] = connect_tls(ctx, port);
		write_all(conns[i], IDLE_REQ, sizeof(IDLE_REQ) - 1);
		read_response(conns[i], &in, &t);
		t.calls++;
	}
	t1 = bench_now_s();
	printf("READY conns=%ld seconds=%.3f pid=%d\n", t.calls, t1 - t0, (int)getpid());
	fflush(stdout);
	while (!stop && (o->hold <= 0 || bench_now_s() - t1 < o->hold))
		usleep(100000);
	/* No SSL_shutdown for each: closing is enough for an idle benchmark. */
	for (long i = 0; i < t.calls; i++) {
		close(SSL_get_fd(conns[i]));
		SSL_free(conns[i]);
	}
	free(conns);
	SSL_CTX_free(ctx);
	free(in.p);
}

/* Enough descriptors for n connections (and a few more). */
static long raise_nofile(long n)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)n + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	if (rl.rlim_cur < want) {
		struct rlimit nr = { want, rl.rlim_max > want ? rl.rlim_max : want };

		if (setrlimit(RLIMIT_NOFILE, &nr)) {
			nr.rlim_max = rl.rlim_max;
			nr.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
			setrlimit(RLIMIT_NOFILE, &nr);
		}
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < want) {
		fprintf(stderr, "llm_load: RLIMIT_NOFILE %llu, %ld connections need %llu\n",
			(unsigned long long)rl.rlim_cur, n, (unsigned long long)want);
		exit(1);
	}
	return (long)rl.rlim_cur;
}

/* --- main ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fputs("usage: llm_load [--kind llm|sse] [--req-size B] [--resp-size B] [--events N]\n"
	      "                [--event-gap US] [--calls N] [--rate CALLS_PER_S] [--model M]\n"
	      "       llm_load --idle --conns N [--hold SECONDS]\n"
	      "       (both: [--delay SECONDS] before starting)\n", f);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "kind", required_argument, 0, 'k' }, { "req-size", required_argument, 0, 'q' },
		{ "resp-size", required_argument, 0, 'r' }, { "events", required_argument, 0, 'e' },
		{ "calls", required_argument, 0, 'n' }, { "rate", required_argument, 0, 'R' },
		{ "model", required_argument, 0, 'm' }, { "idle", no_argument, 0, 'i' },
		{ "conns", required_argument, 0, 'c' }, { "hold", required_argument, 0, 'H' },
		{ "delay", required_argument, 0, 'D' }, { "event-gap", required_argument, 0, 'g' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
	};
	struct opts o = { .kind = KIND_LLM, .req_size = 4096, .resp_size = 1024, .events = 500,
			  .calls = 1000, .model = "gpt-4o-mini", .conns = 1000 };
	struct sigaction sa = { .sa_handler = on_stop };
	long max_fds = 0;
	int c, lfd, port, st;
	pid_t pid;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (!strcmp(optarg, "llm"))
				o.kind = KIND_LLM;
			else if (!strcmp(optarg, "sse"))
				o.kind = KIND_SSE;
			else {
				usage(stderr);
				return 2;
			}
			break;
		case 'q': o.req_size = strtoul(optarg, NULL, 0); break;
		case 'r': o.resp_size = strtoul(optarg, NULL, 0); break;
		case 'e': o.events = strtol(optarg, NULL, 0); break;
		case 'n': o.calls = strtol(optarg, NULL, 0); break;
		case 'R': o.rate = strtod(optarg, NULL); break;
		case 'm': o.model = optarg; break;
		case 'i': o.idle = 1; break;
		case 'c': o.conns = strtol(optarg, NULL, 0); break;
		case 'H': o.hold = strtod(optarg, NULL); break;
		case 'D': o.delay = strtod(optarg, NULL); break;
		case 'g': o.event_gap_us = strtol(optarg, NULL, 0); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || o.req_size > MAX_MESSAGE || o.resp_size > MAX_MESSAGE ||
	    o.events < 2 || o.events > 1000000 || o.calls < 0 || o.rate < 0 || o.conns < 1 ||
	    o.delay < 0 || o.delay > 3600 || o.event_gap_us < 0 || o.event_gap_us > 10000000 ||
	    strlen(o.model) > 100 || strpbrk(o.model, "\"\\")) {
		usage(stderr);
		return 2;
	}
	if (!o.idle) {		/* sizes checked here, not in a forked server */
		free(build_request(&o));
		if (o.kind == KIND_LLM)
			free(build_response(&o));
	}
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (o.idle)
		max_fds = raise_nofile(o.conns);
	if (o.delay > 0) {
		struct timespec ts = { (time_t)o.delay, (long)((o.delay - (time_t)o.delay) * 1e9) };

		while (nanosleep(&ts, &ts) && errno == EINTR && !stop)
			;
	}

	lfd = listen_any();
	port = bench_local_port(lfd);
	pid = fork();
	if (pid < 0) {
		perror("llm_load: fork");
		return 1;
	}
	if (pid == 0) {
		if (o.idle)
			serve_idle(lfd, max_fds);
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			perror("llm_load: accept");
			_exit(1);
		}
		close(lfd);
		bench_nodelay(fd);
		serve_load(fd, &o);
		_exit(0);
	}
	close(lfd);
	if (o.idle) {
		client_idle(port, &o);
		kill(pid, SIGTERM);
	} else {
		client_load(port, &o);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "llm_load: server failed\n");
		return 1;
	}
	return 0;
}
