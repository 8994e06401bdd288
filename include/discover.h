/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * TLS built into an executable without symbols: where to probe it.
 *
 * BoringSSL (Bun and what Bun compiles: Claude Code) and aws-lc (under
 * rustls: Codex) report errors with OPENSSL_PUT_ERROR(LIB, REASON), which
 * passes the address of the source file's name (__FILE__), the library
 * number and the reason code to ERR_put_error.  Those strings survive
 * stripping, and the reason codes are public API: the functions that
 * raise them are told by the set they raise, whatever the release.
 *
 *   SSL_write	ssl/ssl_lib.cc, library 16 (SSL): UNINITIALIZED (226),
 *		SSL_HANDSHAKE_FAILURE (215) and BAD_LENGTH (111) -- the only
 *		function with all three
 *   ssl_read_impl  226 and 215, not 111
 *   SSL_read	raises SHOULD_NOT_HAVE_BEEN_CALLED (66) alone, and calls
 *		ssl_read_impl (SSL_peek inlined into it; where it is not, the
 *		same shape is SSL_peek, which SSL_read calls: equally good)
 *   EVP_AEAD_CTX_seal	crypto/fipsmodule/cipher/aead.c, library 30
 *		(CIPHER): exactly {TOO_LARGE 117, BUFFER_TOO_SMALL 103,
 *		OUTPUT_ALIASES_INPUT 115}
 *   EVP_AEAD_CTX_open	exactly {115, BAD_DECRYPT 101, 103,
 *		INVALID_AD_SIZE... 104}
 *
 * OpenSSL 3 linked into a stripped executable (Rust's native-tls: Codex's
 * HTTP client) raises errors with ERR_set_debug(file, line, function
 * name): ssl_write_internal and ssl_read_internal, the cores of SSL_write,
 * SSL_write_ex, SSL_read and SSL_read_ex, are the functions that load the
 * addresses of their own names.  Whether ssl_write_internal takes flags
 * (3.2 and later) comes from the version string.
 *
 * ring (rustls's other crypto provider; Codex's HTTP client uses it) has
 * no error strings, but Rust's panics carry their source location: the
 * functions ring's AEAD algorithms point to (aes_gcm_seal, aes_gcm_open,
 * chacha20_poly1305_seal, _open, in that order in src/aead/algorithm.rs)
 * each hold an unreachable!() whose core::panic::Location names that file
 * and a line.  The Locations are found in data by their pointer to the
 * file name and its length; the functions by the code that loads their
 * addresses; seal and open by the order of their lines (each seal is
 * written before its open).  Their Rust ABI is not stable: the probes find
 * the record's additional data and buffer among the arguments at run time
 * (capture.bpf.c), checking each against the other.
 *
 * The sites are found by scanning the code for the instructions that load
 * the string's address (mov r32, imm32 in a non-PIE; lea r, [rip+d] in a
 * PIE; mov r64, imm32), without disassembling the whole text.  Each site's
 * function starts at the nearest known entry below it: .eh_frame_hdr's
 * table where there is one, direct-call targets and code pointers in
 * writable data (16-byte aligned) otherwise.  Each such function is then
 * disassembled with capstone from its entry, which must decode straight to
 * the site, and the constants moved into the argument registers before the
 * call that follows give the library (first argument) and the reason (the
 * argument before the file's).  Anything ambiguous is refused, never
 * guessed: two functions with SSL_write's set, none, an entry that does
 * not decode to its sites.
 *
 * x86-64 little-endian ELF only.
 */
#ifndef TOLLGATE_DISCOVER_H
#define TOLLGATE_DISCOVER_H

#include <stddef.h>
#include <stdint.h>

enum discover_lib {
	DISCOVER_NONE		= 0,
	DISCOVER_BORINGSSL	= 1,	/* SSL_write / SSL_read */
	DISCOVER_AWSLC		= 2,	/* EVP_AEAD_CTX_seal / _open (records) */
	DISCOVER_RING		= 3,	/* ring's AEAD seal / open (records) */
	DISCOVER_OPENSSL	= 4,	/* OpenSSL 3 linked in: ssl_write/read_internal */
};

#define DISCOVER_EVIDENCE	768
#define DISCOVER_ID		80
#define DISCOVER_MAX_FNS	8

/* What a probe point is. */
enum discover_kind {
	DISCOVER_SSL_WRITE,	/* int SSL_write(SSL *, const void *, int) */
	DISCOVER_SSL_READ,	/* int SSL_read(SSL *, void *, int) */
	DISCOVER_AEAD_SEAL,	/* aws-lc EVP_AEAD_CTX_seal */
	DISCOVER_AEAD_OPEN,	/* aws-lc EVP_AEAD_CTX_open */
	DISCOVER_RING_SEAL,	/* ring's aes_gcm_seal, chacha20_poly1305_seal */
	DISCOVER_RING_OPEN,	/* ... _open */
	DISCOVER_OSSL_WRITE,	/* OpenSSL's ssl_write_internal(s, buf, num,
				   [flags,] size_t *written): SSL_write's and
				   SSL_write_ex's core */
	DISCOVER_OSSL_READ,	/* ssl_read_internal(s, buf, num, size_t *read) */
};

struct discover_fn {
	uint64_t va;		/* entry address */
	uint64_t off;		/* file offset of the entry, for the uprobe */
	uint32_t size;		/* bytes up to the next known entry */
	uint32_t sites;		/* error (or panic) sites in it */
	int kind;		/* enum discover_kind */
};

struct discover_result {
	int lib;			/* enum discover_lib: the first found */
	unsigned libs;			/* every one found: bit (1 << lib) */
	struct discover_fn fn[DISCOVER_MAX_FNS];
	unsigned nfn;
	int ossl_flags;			/* OpenSSL 3.2+: ssl_write_internal takes flags
					   (written is its fifth argument) */
	char id[DISCOVER_ID];		/* "build-id:HEX" or "sha256:HEX" */
	char evidence[DISCOVER_EVIDENCE];	/* how it was found, or why not */
	uint64_t ns;			/* time the analysis took (0: cached) */
	int cached;			/* read from the cache */
};

/* What a library is called in logs ("BoringSSL", "aws-lc", "ring"). */
const char *discover_lib_name(int lib);
const char *discover_kind_name(int kind);
/* "OpenSSL (static), aws-lc, ring": the libraries of a result's libs. */
const char *discover_libs(unsigned libs, char *buf, size_t cap);

/*
 * Looks for `want` in the file's image: DISCOVER_BORINGSSL, BoringSSL's
 * SSL level; DISCOVER_AWSLC or DISCOVER_RING, the TLS records of rustls's
 * crypto providers (both: a program may link both and use either);
 * DISCOVER_NONE, the SSL level, else the records.  Returns 0 with *out filled,
 * -ENOENT when the library's marks are not there, -ENOTSUP for a file
 * other than an x86-64 ELF64, -EBADMSG when the marks are there but the
 * functions cannot be told for sure (out->evidence says why), or -errno.
 */
int discover_mem(const uint8_t *img, size_t len, int want, struct discover_result *out);

/*
 * The same on a file, with a cache: results (found or refused) are kept in
 * cache_dir (NULL: none) under the file's build id, or a hash of its
 * headers and code where it has none, as 0600 files in a 0700 directory.
 */
int discover_file(const char *path, int want, const char *cache_dir,
		  struct discover_result *out);

/* A found result that proved wrong (its probes saw what the functions
 * cannot produce): kept in the cache as refused, with why, so the file is
 * not probed again. */
int discover_cache_refuse(const char *cache_dir, const char *id, int want, const char *why);

/* The cache key of a file image (what out->id holds). */
int discover_id(const uint8_t *img, size_t len, char *id, size_t cap);

#endif
