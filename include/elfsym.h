/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Where OpenSSL's functions are in an ELF file (a libssl, or node). */
#ifndef TOLLGATE_ELFSYM_H
#define TOLLGATE_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

enum ssl_fn {
	SSL_FN_WRITE,
	SSL_FN_WRITE_EX,
	SSL_FN_READ,
	SSL_FN_READ_EX,
	SSL_FN_FREE,
	SSL_FN__MAX,
};

extern const char *const elfsym_ssl_fn_names[SSL_FN__MAX];

struct ssl_syms {
	uint64_t off[SSL_FN__MAX];	/* file offset for a uprobe, 0 = absent */
};

/*
 * Finds the OpenSSL functions a file defines (dynamic symbols first, then
 * the static symbol table).  Returns 0 when at least SSL_write and SSL_read
 * are there, -ENOENT when they are not, or another -errno.
 */
int elfsym_ssl(const char *path, struct ssl_syms *out);

/*
 * GnuTLS's record functions, in the OpenSSL slots whose calling convention
 * they share: gnutls_record_send as SSL_write, gnutls_record_recv as
 * SSL_read, gnutls_deinit as SSL_free.  0, -ENOENT or -errno as above.
 */
int elfsym_gnutls(const char *path, struct ssl_syms *out);

enum { ELFSYM_TLS_BORINGSSL = 1, ELFSYM_TLS_RUSTLS = 2 };

/* TLS an executable carries with no symbols to probe: ELFSYM_TLS_*, found
 * by name in its read-only data, or 0. */
int elfsym_tls_marker(const char *path);

/* File offsets of the named functions (0 where absent).  The names must
 * share their first letter.  Returns 0 or -errno. */
int elfsym_find(const char *path, const char *const *names, size_t n, uint64_t *offs);

#endif
