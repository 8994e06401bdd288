// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * An executable that looks to discovery like one with BoringSSL built in
 * (its name in read-only data, error sites in ssl/ssl_lib.cc with
 * SSL_write's, ssl_read_impl's and SSL_read's reason codes, stripped by the
 * build) but whose "SSL_write" returns more bytes than it was given: what a
 * wrong discovery would look like.  tollgate must probe it, see results no
 * SSL_write can return, disable the probes and say so.
 *
 *   fake_tls [DELAY-MS [CALLS]]	sleeps DELAY-MS (default 500), then
 *   makes CALLS (default 20) writes, 50 ms apart; prints {"pid": N}.
 *
 * Built with -DREFUSED (fake_tls_refused), its "SSL_write" raises no
 * BAD_LENGTH: no function has SSL_write's reasons, discovery refuses, and
 * tollgate names the process as one whose TLS it cannot see.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char ssl_file[] = "../../vendor/boringssl/ssl/ssl_lib.cc";
const char tls_name[] = "BoringSSL";	/* the marker elfsym_tls_marker looks for */

volatile const char *err_file;
volatile int err_lib, err_reason;
volatile unsigned err_line;

/* OPENSSL_PUT_ERROR's target: library, unused, reason, file, line. */
__attribute__((noinline)) void ERR_put_error(int lib, int unused, int reason, const char *file,
					     unsigned line)
{
	(void)unused;
	err_lib = lib;
	err_reason = reason;
	err_file = file;
	err_line = line;
}

struct ssl {
	int ready;
	int shut;
};

/* ssl_read_impl's reasons: UNINITIALIZED (226), HANDSHAKE_FAILURE (215). */
__attribute__((noinline)) int fake_read_impl(struct ssl *s)
{
	if (!s->ready) {
		ERR_put_error(16, 0, 226, ssl_file, 10);
		return -1;
	}
	if (s->shut) {
		ERR_put_error(16, 0, 215, ssl_file, 11);
		return -1;
	}
	return 1;
}

/* SSL_read's: SHOULD_NOT_HAVE_BEEN_CALLED (66) alone, and ssl_read_impl. */
__attribute__((noinline)) int fake_read(struct ssl *s, void *buf, int num)
{
	if (s->shut > 1) {
		ERR_put_error(16, 0, 66, ssl_file, 20);
		return -1;
	}
	if (fake_read_impl(s) <= 0)
		return -1;
	memset(buf, 0, num > 0 ? num : 0);
	return 0;
}

/* SSL_write's: 226, 215 and BAD_LENGTH (111) -- and a result larger than
 * what it was given, which no SSL_write returns. */
__attribute__((noinline)) int fake_write(struct ssl *s, const void *buf, int num)
{
	if (!s->ready) {
		ERR_put_error(16, 0, 226, ssl_file, 30);
		return -1;
	}
	if (s->shut) {
		ERR_put_error(16, 0, 215, ssl_file, 31);
		return -1;
	}
#ifndef REFUSED
	if (num < 0) {
		ERR_put_error(16, 0, 111, ssl_file, 32);
		return -1;
	}
#endif
	(void)buf;
	return num + 4096;
}

int main(int argc, char **argv)
{
	static const char req[] = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n";
	int delay = argc > 1 ? atoi(argv[1]) : 500, calls = argc > 2 ? atoi(argv[2]) : 20, i;
	struct ssl s = { .ready = 1 };
	struct timespec ts = { 0, 50 * 1000000L };
	char buf[64];

	printf("{\"pid\": %d, \"tls\": \"%s\"}\n", (int)getpid(), tls_name);
	fflush(stdout);
	usleep(delay * 1000);
	for (i = 0; i < calls; i++) {
		if (fake_write(&s, req, sizeof(req) - 1) < 0 || fake_read(&s, buf, sizeof(buf)) < 0)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}
