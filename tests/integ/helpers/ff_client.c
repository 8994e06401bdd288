// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * ff_client [-x] [-r] [-w GOFILE] [-t SECONDS] PORT N: a line client over
 * TLS to 127.0.0.1:PORT (no certificate check), for test_forcefail.sh.
 *
 * Sends "REQ n\n" with one SSL_write (SSL_write_ex with -x) per request
 * and reads "OK n\n" back, for n = 1..N.  Prints "ok n", or "err n CODE
 * write|read|reply" with SSL_get_error's code, then drops the connection
 * and goes on with a new one (TCP + TLS) for the next request.  Exits 0
 * after N requests, 1 if it cannot connect.
 *
 * -r polls for input with a non-blocking SSL_read before each write, as
 *    event-driven clients (node, asyncio) do: that leaves SSL's rwstate at
 *    SSL_READING when the write starts.
 * -w waits for GOFILE to exist before the first request (the test arms
 *    its breakpoint meanwhile).
 * -t exits by SIGALRM after SECONDS (default 60): a hang is a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

struct conn {
	SSL *ssl;
	int fd;
	char buf[256];		/* bytes read, not yet a whole line */
	size_t len;
};

static void conn_drop(struct conn *c)
{
	/* No SSL_shutdown: it is not allowed after SSL_ERROR_SYSCALL/SSL. */
	SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
	c->len = 0;
	ERR_clear_error();
}

static int conn_open(struct conn *c, SSL_CTX *ctx, int port)
{
	struct timeval tv = { 10, 0 };
	struct sockaddr_in sa;

	c->len = 0;
	c->ssl = NULL;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	/* A reply that never comes is an error, not a hang. */
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto fail;
	c->ssl = SSL_new(ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd) || SSL_connect(c->ssl) != 1)
		goto fail;
	return 0;
fail:
	conn_drop(c);
	return -1;
}

/* A non-blocking SSL_read for whatever is there.  0, or SSL_get_error's code. */
static int conn_poll(struct conn *c)
{
	int fl = fcntl(c->fd, F_GETFL), r, code = 0;

	fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
	r = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof(c->buf) - 1 - c->len));
	if (r > 0)
		c->len += (size_t)r;
	else if ((code = SSL_get_error(c->ssl, r)) == SSL_ERROR_WANT_READ)
		code = 0;
	fcntl(c->fd, F_SETFL, fl);
	return code;
}

/* Reads one line into line.  0, or SSL_get_error's code (-1: too long). */
static int conn_line(struct conn *c, char *line, size_t cap)
{
	char *nl;
	size_t n;
	int r;

	while (!(nl = memchr(c->buf, '\n', c->len))) {
		if (c->len >= sizeof(c->buf) - 1)
			return -1;
		r = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof(c->buf) - 1 - c->len));
		if (r <= 0)
			return SSL_get_error(c->ssl, r);
		c->len += (size_t)r;
	}
	n = (size_t)(nl - c->buf);
	if (n >= cap)
		return -1;
	memcpy(line, c->buf, n);
	line[n] = '\0';
	c->len -= n + 1;
	memmove(c->buf, nl + 1, c->len);
	return 0;
}

static void wait_file(const char *path)
{
	struct timespec ms10 = { 0, 10 * 1000 * 1000 };
	struct stat st;

	while (stat(path, &st))
		nanosleep(&ms10, NULL);
}

int main(int argc, char **argv)
{
	int opt, use_ex = 0, poll_first = 0, secs = 60, port, n, total, code, r;
	char req[64], line[256], want[64];
	const char *go = NULL;
	struct conn c = { .ssl = NULL, .fd = -1 };
	size_t written;
	SSL_CTX *ctx;

	while ((opt = getopt(argc, argv, "xrw:t:")) != -1) {
		switch (opt) {
		case 'x':
			use_ex = 1;
			break;
		case 'r':
			poll_first = 1;
			break;
		case 'w':
			go = optarg;
			break;
		case 't':
			secs = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 2)
		goto usage;
	port = atoi(argv[optind]);
	total = atoi(argv[optind + 1]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned int)secs);

	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return 1;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (go)
		wait_file(go);

	for (n = 1; n <= total; n++) {
		if (!c.ssl && conn_open(&c, ctx, port)) {
			printf("err %d connect\n", n);
			return 1;
		}
		if (poll_first && (code = conn_poll(&c))) {
			printf("err %d %d poll\n", n, code);
			conn_drop(&c);
			continue;
		}
		snprintf(req, sizeof(req), "REQ %d\n", n);
		if (use_ex) {
			r = SSL_write_ex(c.ssl, req, strlen(req), &written);
			code = r == 1 ? 0 : SSL_get_error(c.ssl, r);
		} else {
			r = SSL_write(c.ssl, req, (int)strlen(req));
			code = r > 0 ? 0 : SSL_get_error(c.ssl, r);
		}
		if (code) {
			printf("err %d %d write\n", n, code);
			conn_drop(&c);
			continue;
		}
		code = conn_line(&c, line, sizeof(line));
		if (code) {
			printf("err %d %d read\n", n, code);
			conn_drop(&c);
			continue;
		}
		snprintf(want, sizeof(want), "OK %d", n);
		if (strcmp(line, want)) {
			printf("err %d -1 reply\n", n);
			conn_drop(&c);
			continue;
		}
		printf("ok %d\n", n);
	}
	if (c.ssl)
		conn_drop(&c);
	SSL_CTX_free(ctx);
	return 0;
usage:
	fprintf(stderr, "usage: ff_client [-x] [-r] [-w GOFILE] [-t SECONDS] PORT N\n");
	return 2;
}
