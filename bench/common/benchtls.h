/* SPDX-License-Identifier: MIT */
/*
 * What the TLS workload generators of bench/ share: a throw-away
 * self-signed server context, a clock, socket odds and ends.  Header only:
 * each generator is one C file built by its run.sh.
 */
#ifndef BENCH_BENCHTLS_H
#define BENCH_BENCHTLS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

/* The program's name in messages; each generator defines it. */
extern const char *bench_prog;

static inline void bench_die(const char *what)
{
	fprintf(stderr, "%s: %s failed\n", bench_prog, what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static inline double bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A server context with a fresh self-signed P-256 certificate for
 * "localhost" (the clients do not verify it: benchmark only). */
static inline SSL_CTX *bench_server_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	EVP_PKEY *key;
	X509 *crt;

	if (!ctx)
		bench_die("SSL_CTX_new");
	key = EVP_EC_gen("P-256");
	crt = X509_new();
	if (!key || !crt)
		bench_die("EVP_EC_gen");
	X509_set_version(crt, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(crt), 1);
	X509_gmtime_adj(X509_getm_notBefore(crt), -3600);
	X509_gmtime_adj(X509_getm_notAfter(crt), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(crt), "CN", MBSTRING_ASC,
				   (const unsigned char *)"localhost", -1, -1, 0);
	X509_set_issuer_name(crt, X509_get_subject_name(crt));
	X509_set_pubkey(crt, key);
	if (!X509_sign(crt, key, EVP_sha256()))
		bench_die("X509_sign");
	if (SSL_CTX_use_certificate(ctx, crt) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
		bench_die("SSL_CTX_use_certificate");
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* No session tickets: nothing to write after the handshake. */
	SSL_CTX_set_num_tickets(ctx, 0);
	X509_free(crt);
	EVP_PKEY_free(key);
	return ctx;
}

static inline void bench_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static inline int bench_local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);

	if (getsockname(fd, (struct sockaddr *)&a, &l))
		bench_die("getsockname");
	return ntohs(a.sin_port);
}

#endif
