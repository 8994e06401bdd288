// SPDX-License-Identifier: MIT
/*
 * tls_loop — TLS round trips over 127.0.0.1, for measuring what uprobes on
 * OpenSSL's SSL_read/SSL_write cost a TLS user.
 *
 *   tls_loop [run]  [--kind generic|llm] [--size S] [--iters N | --seconds T]
 *   tls_loop server [--port P] [--kind K] [--size S]
 *   tls_loop client --port P [--kind K] [--size S] [--iters N | --seconds T]
 *
 * `run` (the default) forks: the child is the server, the parent the
 * client, one TLS 1.3 connection between them.  A round trip is: the client
 * writes S bytes with one SSL_write, the server reads them (SSL_read, 16 KiB
 * at a time, as node does), answers S bytes with one SSL_write, the client
 * reads them.  Kinds:
 *   generic  pseudo-random bytes, not HTTP
 *   llm      the client's S bytes are a valid HTTP/1.1
 *            "POST /v1/chat/completions" request (headers + JSON body padded
 *            so the whole message is S bytes, Content-Length exact); the
 *            server's are a valid "HTTP/1.1 200 OK" JSON chat.completion
 *            response of S bytes with Content-Length and a usage object.
 * S must be at least 512 for llm.  After --warmup round trips (default 20)
 * the client runs N round trips or T seconds and prints one line:
 *   RESULT kind=llm size=1024 iters=N seconds=X rt_per_s=Y mb_per_s=Z
 * with MB/s counting both directions (2*S bytes a round trip, 10^6 bytes a MB).
 *
 * Dynamically linked to the system libssl.so.3 on purpose: global uprobes on
 * that library apply to it.  The certificate is a throw-away self-signed EC
 * key made at start; the client does not verify it (benchmark only).
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
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../common/benchtls.h"

const char *bench_prog = "tls_loop";

#define READ_CHUNK 16384

struct opts {
	const char *mode;
	int kind_llm;
	size_t size;
	long iters;
	double seconds;
	long warmup;
	int port;
};

/* --- payloads ----------------------------------------------------------- */

static void fill_random(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t x = seed | 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
}

/* Pad with prose-like ASCII that needs no JSON escaping. */
static void fill_text(char *p, size_t n)
{
	static const char words[] = "the quick brown fox jumps over the lazy dog and "
				    "then asks the model to summarise the whole story ";
	for (size_t i = 0; i < n; i++)
		p[i] = words[i % (sizeof(words) - 1)];
}

/*
 * An HTTP/1.1 message of exactly `size` bytes: head (with a Content-Length
 * of the body), then body = pre + padding + post.  Returns 0 or -EINVAL if
 * size is too small.
 */
static int build_http(char *out, size_t size, const char *head_fmt, const char *pre,
		      const char *post)
{
	size_t pre_len = strlen(pre), post_len = strlen(post);
	char head[1024];
	int hl = 0;

	/* The head holds the body length, whose digit count depends on it:
	 * iterate until stable. */
	size_t body = size > 200 ? size - 200 : 0;
	for (int i = 0; i < 4; i++) {
		hl = snprintf(head, sizeof(head), head_fmt, body);
		if (hl < 0 || (size_t)hl + pre_len + post_len > size)
			return -EINVAL;
		body = size - (size_t)hl;
	}
	hl = snprintf(head, sizeof(head), head_fmt, body);
	if ((size_t)hl + body != size || body < pre_len + post_len)
		return -EINVAL;
	memcpy(out, head, (size_t)hl);
	memcpy(out + hl, pre, pre_len);
	fill_text(out + hl + pre_len, body - pre_len - post_len);
	memcpy(out + size - post_len, post, post_len);
	return 0;
}

static const char REQ_HEAD[] =
	"POST /v1/chat/completions HTTP/1.1\r\n"
	"Host: api.openai.com\r\n"
	"Accept: application/json\r\n"
	"Content-Type: application/json\r\n"
	"User-Agent: tollgate-bench-tls_loop/1\r\n"
	"Authorization: Bearer sk-bench-0000000000000000\r\n"
	"Connection: keep-alive\r\n"
	"Content-Length: %zu\r\n\r\n";
static const char REQ_PRE[] =
	"{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"";
static const char REQ_POST[] = "\"}],\"stream\":false}";

static const char RESP_HEAD[] =
	"HTTP/1.1 200 OK\r\n"
	"Content-Type: application/json\r\n"
	"Connection: keep-alive\r\n"
	"openai-version: 2020-10-01\r\n"
	"x-request-id: req_00000000000000000000000000000000\r\n"
	"Content-Length: %zu\r\n\r\n";
static const char RESP_PRE[] =
	"{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1731368630,"
	"\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":"
	"{\"role\":\"assistant\",\"content\":\"";
static const char RESP_POST[] =
	"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
	"\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17}}";

static unsigned char *payload(const struct opts *o, int server)
{
	unsigned char *p = malloc(o->size);

	if (!p) {
		perror("tls_loop: malloc");
		exit(1);
	}
	if (!o->kind_llm) {
		fill_random(p, o->size, server ? 0x9e3779b97f4a7c15ULL : 0x2545f4914f6cdd1dULL);
		return p;
	}
	if (server ? build_http((char *)p, o->size, RESP_HEAD, RESP_PRE, RESP_POST)
		   : build_http((char *)p, o->size, REQ_HEAD, REQ_PRE, REQ_POST)) {
		fprintf(stderr, "tls_loop: --size %zu too small for an llm message\n", o->size);
		exit(2);
	}
	return p;
}

/* --- TLS ------------------------------------------------------------------------ */

static void write_all(SSL *ssl, const unsigned char *p, size_t n)
{
	/* One SSL_write for the whole message (OpenSSL writes it all unless
	 * partial writes are enabled), as node and python do. */
	int r = SSL_write(ssl, p, (int)n);

	if (r <= 0 || (size_t)r != n)
		bench_die("SSL_write");
}

/* Read exactly n bytes, at most READ_CHUNK per SSL_read.  0, or -1 on EOF
 * before any byte (the peer closed between messages). */
static int read_all(SSL *ssl, unsigned char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		size_t want = n - got < READ_CHUNK ? n - got : READ_CHUNK;
		int r = SSL_read(ssl, buf + got, (int)want);

		if (r <= 0) {
			int e = SSL_get_error(ssl, r);

			if (got == 0 && (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL))
				return -1;
			bench_die("SSL_read");
		}
		got += (size_t)r;
	}
	return 0;
}

static void serve(int fd, const struct opts *o)
{
	SSL_CTX *ctx = bench_server_ctx();
	unsigned char *out = payload(o, 1), *in = malloc(o->size);
	SSL *ssl = SSL_new(ctx);

	if (!ssl || !in)
		bench_die("SSL_new");
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1)
		bench_die("SSL_accept");
	while (read_all(ssl, in, o->size) == 0)
		write_all(ssl, out, o->size);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	free(in);
	free(out);
	close(fd);
}

static int listen_on(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16)) {
		perror("tls_loop: listen");
		exit(1);
	}
	return fd;
}

static int connect_to(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		perror("tls_loop: connect");
		exit(1);
	}
	bench_nodelay(fd);
	return fd;
}

static void client(int fd, const struct opts *o)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	unsigned char *out = payload(o, 0), *in = malloc(o->size);
	SSL *ssl;
	long n = 0;
	double t0, t1;

	if (!ctx || !in)
		bench_die("SSL_CTX_new");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ssl = SSL_new(ctx);
	if (!ssl)
		bench_die("SSL_new");
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, "localhost");
	if (SSL_connect(ssl) != 1)
		bench_die("SSL_connect");
	for (long i = 0; i < o->warmup; i++) {
		write_all(ssl, out, o->size);
		if (read_all(ssl, in, o->size))
			bench_die("SSL_read (warm-up)");
	}
	t0 = t1 = bench_now_s();
	for (;;) {
		if (o->iters > 0 ? n >= o->iters : t1 - t0 >= o->seconds)
			break;
		write_all(ssl, out, o->size);
		if (read_all(ssl, in, o->size))
			bench_die("SSL_read: server closed");
		n++;
		t1 = bench_now_s();
	}
	SSL_shutdown(ssl);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	printf("RESULT kind=%s size=%zu iters=%ld seconds=%.3f rt_per_s=%.1f mb_per_s=%.2f\n",
	       o->kind_llm ? "llm" : "generic", o->size, n, t1 - t0,
	       n / (t1 - t0), 2.0 * (double)o->size * n / (t1 - t0) / 1e6);
	fflush(stdout);
	free(in);
	free(out);
}

static void usage(FILE *f)
{
	fputs("usage: tls_loop [run|server|client] [--kind generic|llm] [--size S]\n"
	      "                [--iters N | --seconds T] [--warmup N] [--port P]\n", f);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "kind", required_argument, 0, 'k' }, { "size", required_argument, 0, 's' },
		{ "iters", required_argument, 0, 'n' }, { "seconds", required_argument, 0, 't' },
		{ "warmup", required_argument, 0, 'w' }, { "port", required_argument, 0, 'p' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
	};
	struct opts o = { .mode = "run", .size = 1024, .seconds = 3, .warmup = 20 };
	int c;

	if (argc > 1 && argv[1][0] != '-') {
		o.mode = argv[1];
		argv++;
		argc--;
	}
	while ((c = getopt_long(argc, argv, "k:s:n:t:w:p:h", lo, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (!strcmp(optarg, "llm"))
				o.kind_llm = 1;
			else if (strcmp(optarg, "generic")) {
				usage(stderr);
				return 2;
			}
			break;
		case 's': o.size = strtoul(optarg, NULL, 0); break;
		case 'n': o.iters = strtol(optarg, NULL, 0); break;
		case 't': o.seconds = strtod(optarg, NULL); break;
		case 'w': o.warmup = strtol(optarg, NULL, 0); break;
		case 'p': o.port = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (o.size == 0 || o.size > (1u << 30)) {
		fprintf(stderr, "tls_loop: bad --size\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	if (!strcmp(o.mode, "server")) {
		int lfd = listen_on(o.port);

		fprintf(stderr, "tls_loop: listening on 127.0.0.1:%d\n", bench_local_port(lfd));
		for (;;) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (fd < 0)
				continue;
			bench_nodelay(fd);
			if (fork() == 0) {
				close(lfd);
				serve(fd, &o);
				_exit(0);
			}
			close(fd);
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
		}
	}
	if (!strcmp(o.mode, "client")) {
		if (!o.port) {
			fprintf(stderr, "tls_loop: client needs --port\n");
			return 2;
		}
		client(connect_to(o.port), &o);
		return 0;
	}
	if (strcmp(o.mode, "run")) {
		usage(stderr);
		return 2;
	}

	int lfd = listen_on(0), st;
	pid_t pid = fork();

	if (pid < 0) {
		perror("tls_loop: fork");
		return 1;
	}
	if (pid == 0) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			perror("tls_loop: accept");
			_exit(1);
		}
		close(lfd);
		bench_nodelay(fd);
		serve(fd, &o);
		_exit(0);
	}
	int port = bench_local_port(lfd);

	close(lfd);
	client(connect_to(port), &o);
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "tls_loop: server failed\n");
		return 1;
	}
	return 0;
}
