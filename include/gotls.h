/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Where a Go executable's crypto/tls plaintext can be probed: the entry of
 * crypto/tls.(*Conn).Write and .Read and each of their RET instructions
 * (a uretprobe is unsafe on Go: goroutine stacks move, so returns are
 * probed at the RETs themselves), plus (*Conn).Close.
 *
 * Functions come from the ELF symbol table when there is one, otherwise
 * from .gopclntab, which `-ldflags='-s -w'` keeps (pclntab formats of Go
 * 1.16/1.17, 1.18/1.19 and 1.20+; found by its magic in the read-only
 * segments when no section names it, as in a stripped externally linked
 * PIE).  The Go version comes from .go.buildinfo (both its layouts).
 *
 * Limits: little-endian ELF only; one text section (a Go 1.18+ binary
 * whose text the linker split in several sections, arm64 or ppc64 beyond
 * ~128 MiB of text, would be mislocated); tail calls (JMP out of the
 * function) are not returns and are not listed -- Go's compiler emits none
 * in these methods.
 */
#ifndef TOLLGATE_GOTLS_H
#define TOLLGATE_GOTLS_H

#include <stddef.h>
#include <stdint.h>

#define GOTLS_MAX_RETS		32		/* RETs kept per function */
#define GOTLS_MAX_FN_SIZE	(1u << 20)	/* a larger function is garbage */

/* File offsets (for uprobes): vaddr - p_vaddr + p_offset of the executable
 * PT_LOAD that holds the address. */
struct gotls_fn {
	uint64_t entry;
	uint64_t rets[GOTLS_MAX_RETS];
	uint32_t nrets;
};

struct gotls_syms {
	char version[32];	/* "go1.19.8" from the build info, "" if unknown */
	int regabi;		/* register ABIInternal (amd64 >= go1.17, arm64 >= go1.18) */
	int stripped;		/* found through .gopclntab, not the symbol table */
	struct gotls_fn write;	/* crypto/tls.(*Conn).Write */
	struct gotls_fn read;	/* crypto/tls.(*Conn).Read */
	uint64_t close;		/* crypto/tls.(*Conn).Close entry, 0 if absent */
};

/* 1 if the file is a Go executable (a .go.buildinfo or .gopclntab section,
 * or, in an ELF without section headers, the build info's magic). */
int gotls_is_go(const char *path);

/*
 * Finds the probe points of path.  Returns 0 when Write and Read are there
 * with at least one RET each; -ENOENT when the file is not a Go ELF or has
 * no crypto/tls; -ENOTSUP for a Go tollgate cannot probe: stack ABI (older
 * than regabi, or an unknown version), an architecture other than x86-64 or
 * arm64, a big-endian file, or a function without a RET; -E2BIG for more
 * than GOTLS_MAX_RETS RETs in one; -EBADMSG for a malformed table or code
 * that does not decode; another -errno.  On error, *out keeps what was
 * found (version, regabi, entries) for the message.
 */
int gotls_find(const char *path, struct gotls_syms *out);

/* The same on a file image in memory (tests, fuzzing).  libelf may rewrite
 * the image in place: pass a private copy. */
int gotls_find_mem(void *img, size_t len, struct gotls_syms *out);

/* --- the pure pieces, exported for tests ------------------------------- */

struct gotls_pcfunc {
	uint64_t entry;		/* vaddr, 0 = not found */
	uint64_t end;		/* the next function's entry */
};

/*
 * Looks names up in a little-endian pclntab of Go 1.16+ (tab, len: from its
 * header to the end of what may be read).  text_start stands in for the
 * header's when that is 0 (Go 1.18+).  The first function of each name wins.
 * Returns how many names were found, -ENOTSUP for a Go 1.2-1.15 table,
 * -EBADMSG for anything else that is not a sound table.
 */
int gotls_pclntab_find(const uint8_t *tab, size_t len, uint64_t text_start,
		       const char *const *names, size_t n, struct gotls_pcfunc *out);

/*
 * The Go version of a build info blob (from its 16-byte-aligned magic
 * "\xff Go buildinf:" on) when it holds the version inline (Go 1.18+).
 * Copies it into ver (NUL-terminated, cut to vlen - 1).  Returns its full
 * length, -EAGAIN when the blob points to it instead (Go < 1.18: see
 * gotls_find), -EBADMSG otherwise.
 */
int gotls_buildinfo_version(const uint8_t *bi, size_t len, char *ver, size_t vlen);

/* Minor version of "go1.19.8", "go1.21rc2", "devel go1.22-abc ...": 19;
 * -EINVAL when it is not go1.N. */
int gotls_go_minor(const char *version);

/*
 * Addresses of the RET instructions in code, which starts at vaddr addr,
 * for e_machine EM_X86_64 or EM_AARCH64.  Returns how many (stored in rets
 * up to max), -E2BIG when there are more than max, -ENOTSUP for another
 * machine, -EBADMSG when x86 code does not decode to its end (on arm64 a
 * word that does not decode, as a literal pool's, is skipped), -ENOMEM.
 */
int gotls_rets(uint16_t machine, const uint8_t *code, size_t len, uint64_t addr,
	       uint64_t *rets, uint32_t max);

#endif
