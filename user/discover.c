// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * TLS built into stripped executables: BoringSSL's SSL_write/SSL_read and
 * aws-lc's EVP_AEAD_CTX_seal/open, found by their error sites (see
 * discover.h).  Every read is bounds-checked against the file image.
 */
#include <capstone/capstone.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "discover.h"

#define MAX_LOADS	32
#define MAX_SITES	4096		/* error sites of one source file */
#define MAX_FNS		512		/* functions holding them */
#define MAX_CALLS	64		/* direct calls kept per such function */
#define MAX_FN_SIZE	(64u << 10)	/* a larger "function" is a missed entry */
#define NAME_BACK	512		/* longest path before the suffix */
#define MAX_REASON	1024
#define CONST_SPAN	24		/* instructions a constant stays relevant */

#define LIB_SSL		16
#define LIB_CIPHER	30
#define LIB_RING	-1		/* no error library: panic Locations */
#define LIB_OSSL	-2		/* OpenSSL 3: its function names */

struct seg {
	uint64_t va, off, size;
	uint32_t flags;
};

struct image {
	const uint8_t *p;
	size_t len;
	struct seg load[MAX_LOADS];
	size_t nload;
	const uint8_t *ehdr_tab;	/* .eh_frame_hdr */
	uint64_t ehdr_va;
	size_t ehdr_len;
};

/* An instruction that loads the file name's address. */
struct site {
	uint64_t va;
	uint64_t target;	/* the address it loads */
	uint8_t reg;		/* x86 register number, 0-15 */
};

#define MAX_LOCS	16	/* panic Locations naming one file */

struct loc {
	uint64_t va;
	uint32_t line;
};

struct fn {
	uint64_t start, end;
	uint32_t sites;
	uint32_t decoded;	/* sites its disassembly reached */
	uint64_t reasons[MAX_REASON / 64];
	uint32_t nreasons;
	uint32_t lib_bad;	/* sites whose library was not the expected one */
	uint64_t calls[MAX_CALLS];
	uint32_t ncalls;
	uint32_t line;		/* ring: its panic's line (lowest), 0 none */
};

/* Known function entries, sorted (shared by the scans of one image). */
struct entries {
	uint64_t *v;
	size_t n, cap;
};

struct scan {
	const struct image *img;
	const char *suffix;		/* the source file's name */
	uint64_t lo, hi;		/* where the file name may start */
	struct site sites[MAX_SITES];
	size_t nsites;
	struct entries *ent;
	struct fn fns[MAX_FNS];
	size_t nfns;
	int lib;			/* library number expected */
	struct loc locs[MAX_LOCS];	/* ring: sites load these, not the name */
	size_t nlocs;
};

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static const char *const lib_names[] = {
	[DISCOVER_NONE] = "none", [DISCOVER_BORINGSSL] = "BoringSSL",
	[DISCOVER_AWSLC] = "aws-lc", [DISCOVER_RING] = "ring",
	[DISCOVER_OPENSSL] = "OpenSSL (static)",
};

const char *discover_kind_name(int kind)
{
	static const char *const names[] = {
		[DISCOVER_SSL_WRITE] = "SSL_write", [DISCOVER_SSL_READ] = "SSL_read",
		[DISCOVER_AEAD_SEAL] = "EVP_AEAD_CTX_seal", [DISCOVER_AEAD_OPEN] = "EVP_AEAD_CTX_open",
		[DISCOVER_RING_SEAL] = "ring seal", [DISCOVER_RING_OPEN] = "ring open",
		[DISCOVER_OSSL_WRITE] = "ssl_write_internal",
		[DISCOVER_OSSL_READ] = "ssl_read_internal",
	};

	return kind >= 0 && kind <= DISCOVER_OSSL_READ ? names[kind] : "?";
}

const char *discover_libs(unsigned libs, char *buf, size_t cap)
{
	size_t n = 0;
	int lib;

	buf[0] = 0;
	for (lib = 1; lib <= DISCOVER_OPENSSL && n < cap; lib++)
		if (libs & (1u << lib))
			n += snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", lib_names[lib]);
	return buf;
}

const char *discover_lib_name(int lib)
{
	return lib >= 0 && lib <= DISCOVER_OPENSSL ? lib_names[lib] : "?";
}

static void say(struct discover_result *r, const char *fmt, ...)
{
	size_t n = strlen(r->evidence);
	va_list ap;

	if (n >= sizeof(r->evidence) - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(r->evidence + n, sizeof(r->evidence) - n, fmt, ap);
	va_end(ap);
}

/* The headers are copied out: an image in memory need not be aligned. */
static int read_ehdr(const struct image *img, Elf64_Ehdr *eh)
{
	if (img->len < sizeof(*eh))
		return -ENOENT;
	memcpy(eh, img->p, sizeof(*eh));
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return -ENOENT;
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64 || eh->e_phentsize != sizeof(Elf64_Phdr))
		return -ENOTSUP;
	if (eh->e_phoff > img->len ||
	    (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > img->len - eh->e_phoff)
		return -EBADMSG;
	return 0;
}

static void read_phdr(const struct image *img, const Elf64_Ehdr *eh, size_t i, Elf64_Phdr *ph)
{
	memcpy(ph, img->p + eh->e_phoff + i * sizeof(*ph), sizeof(*ph));
}

static int load_image(struct image *img)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	size_t i;
	int err = read_ehdr(img, &eh);

	if (err)
		return err;
	for (i = 0; i < eh.e_phnum; i++) {
		uint64_t size;

		read_phdr(img, &eh, i, &ph);
		size = ph.p_filesz;
		if (ph.p_offset > img->len)
			continue;
		if (size > img->len - ph.p_offset)
			size = img->len - ph.p_offset;
		if (ph.p_type == PT_GNU_EH_FRAME) {
			img->ehdr_tab = img->p + ph.p_offset;
			img->ehdr_va = ph.p_vaddr;
			img->ehdr_len = size;
		}
		if (ph.p_type != PT_LOAD || img->nload >= MAX_LOADS)
			continue;
		img->load[img->nload++] = (struct seg){
			.va = ph.p_vaddr, .off = ph.p_offset, .size = size, .flags = ph.p_flags,
		};
	}
	return img->nload ? 0 : -EBADMSG;
}

/* The bytes at [va, va + n), or NULL; *off gets their file offset. */
static const uint8_t *va_at(const struct image *img, uint64_t va, uint64_t n, uint64_t *off)
{
	size_t i;

	for (i = 0; i < img->nload; i++) {
		const struct seg *s = &img->load[i];

		if (va < s->va || va - s->va >= s->size || n > s->size - (va - s->va))
			continue;
		if (off)
			*off = s->off + (va - s->va);
		return img->p + s->off + (va - s->va);
	}
	return NULL;
}

/* The file offset of va (0 when not in the file: callers check first). */
static uint64_t va_off(const struct image *img, uint64_t va)
{
	uint64_t off = 0;

	va_at(img, va, 1, &off);
	return off;
}

/* Bytes of va's segment from va on (0: va is in none). */
static uint64_t seg_left(const struct image *img, uint64_t va)
{
	size_t i;

	for (i = 0; i < img->nload; i++)
		if (va >= img->load[i].va && va - img->load[i].va < img->load[i].size)
			return img->load[i].size - (va - img->load[i].va);
	return 0;
}

static int in_text(const struct image *img, uint64_t va)
{
	size_t i;

	for (i = 0; i < img->nload; i++)
		if ((img->load[i].flags & PF_X) && va >= img->load[i].va &&
		    va - img->load[i].va < img->load[i].size)
			return 1;
	return 0;
}

/*
 * Where a string ending in `suffix` may start: from the byte after the
 * NUL before it (a longer path) to the suffix itself (the linker may merge
 * a file name into the tail of another).  Only the first occurrence in
 * read-only data is used: a source file has one name.
 */
static int find_name(const struct image *img, const char *suffix, uint64_t *lo, uint64_t *hi)
{
	size_t slen = strlen(suffix) + 1, i;	/* with its NUL */

	for (i = 0; i < img->nload; i++) {
		const struct seg *s = &img->load[i];
		const uint8_t *base = img->p + s->off, *q;
		size_t k;

		if (s->flags & (PF_X | PF_W))
			continue;
		q = memmem(base, s->size, suffix, slen);
		if (!q)
			continue;
		for (k = 0; k < NAME_BACK && q - k > base && q[-(ptrdiff_t)k - 1] >= 0x20 &&
			    q[-(ptrdiff_t)k - 1] < 0x7f; k++)
			;
		*lo = s->va + (uint64_t)(q - base) - k;
		*hi = s->va + (uint64_t)(q - base);
		return 0;
	}
	return -ENOENT;
}

static int push_start(struct entries *e, uint64_t va)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 65536;
		uint64_t *p = realloc(e->v, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		e->v = p;
		e->cap = cap;
	}
	e->v[e->n++] = va;
	return 0;
}

static void add_site(struct scan *sc, uint64_t va, uint64_t target, uint8_t reg)
{
	size_t i;

	if (sc->nlocs) {	/* only the Locations' own addresses */
		for (i = 0; i < sc->nlocs && sc->locs[i].va != target; i++)
			;
		if (i == sc->nlocs)
			return;
	}
	if (sc->nsites < MAX_SITES)
		sc->sites[sc->nsites++] = (struct site){ .va = va, .target = target, .reg = reg };
}

/* The scans whose range holds t get the site. */
static void add_sites(struct scan **scs, size_t nscs, uint64_t va, uint64_t t, uint8_t reg)
{
	size_t j;

	for (j = 0; j < nscs; j++)
		if (t - scs[j]->lo <= scs[j]->hi - scs[j]->lo)
			add_site(scs[j], va, t, reg);
}

/*
 * One pass over the code for every scan: the instructions that load an
 * address in a scan's [lo, hi] (its sites), and the targets of direct
 * calls that are 16-byte aligned (function entries, as compilers align
 * them).  A byte sequence that only looks like one is filtered later: a
 * site must be reached by disassembling its function from an entry.
 */
static int scan_code(const struct image *img, struct scan **scs, size_t nscs,
		     struct entries *ent)
{
	uint64_t lo = UINT64_MAX, hi = 0, span;
	size_t i, k;

	for (k = 0; k < nscs; k++) {
		if (scs[k]->lo < lo)
			lo = scs[k]->lo;
		if (scs[k]->hi > hi)
			hi = scs[k]->hi;
	}
	span = hi - lo;
	for (k = 0; k < img->nload; k++) {
		const struct seg *s = &img->load[k];
		const uint8_t *b = img->p + s->off;
		uint64_t n = s->size;

		if (!(s->flags & PF_X) || n < 8)
			continue;
		for (i = 1; i + 7 <= n; i++) {
			uint8_t c = b[i];
			uint64_t t;

			if (c >= 0xb8 && c <= 0xbf) {		/* mov r32, imm32 */
				t = rd32(b + i + 1);
				if (t - lo <= span) {
					int rex = b[i - 1] == 0x41;

					add_sites(scs, nscs, s->va + i - rex, t,
						  (c - 0xb8) + (rex ? 8 : 0));
				}
			} else if (c == 0x8d && (b[i - 1] & 0xfb) == 0x48 &&
				   (b[i + 1] & 0xc7) == 0x05) {	/* lea r64, [rip + d32] */
				t = s->va + i + 6 + (int64_t)(int32_t)rd32(b + i + 2);
				if (t - lo <= span)
					add_sites(scs, nscs, s->va + i - 1, t,
						  ((b[i + 1] >> 3) & 7) + ((b[i - 1] & 4) ? 8 : 0));
			} else if (c == 0xc7 && (b[i - 1] & 0xfe) == 0x48 &&
				   (b[i + 1] & 0xf8) == 0xc0) {	/* mov r64, simm32 */
				t = rd32(b + i + 2);
				if (t - lo <= span)
					add_sites(scs, nscs, s->va + i - 1, t,
						  (b[i + 1] & 7) + ((b[i - 1] & 1) ? 8 : 0));
			} else if (c == 0xe8) {			/* call rel32 */
				t = s->va + i + 5 + (int64_t)(int32_t)rd32(b + i + 1);
				if (!(t & 15) && t >= s->va && t - s->va < n && push_start(ent, t))
					return -ENOMEM;
			}
		}
	}
	return 0;
}

/* Code pointers in writable data (vtables, callback tables). */
static int scan_data(const struct image *img, struct entries *ent)
{
	size_t i, k;

	for (k = 0; k < img->nload; k++) {
		const struct seg *s = &img->load[k];
		const uint8_t *b = img->p + s->off;

		if (!(s->flags & PF_W) || (s->flags & PF_X))
			continue;
		for (i = (8 - (s->va & 7)) & 7; i + 8 <= s->size; i += 8) {
			uint64_t v = rd64(b + i);

			if (!(v & 15) && v && in_text(img, v) && push_start(ent, v))
				return -ENOMEM;
		}
	}
	return 0;
}

/* .eh_frame_hdr's binary-search table: every FDE's initial location. */
static int scan_eh_frame_hdr(const struct image *img, struct entries *ent)
{
	const uint8_t *h = img->ehdr_tab;
	uint64_t count, i;

	/* version 1; eh_frame_ptr pcrel|sdata4; fde_count udata4;
	 * table datarel|sdata4: what every toolchain writes */
	if (!h || img->ehdr_len < 12 || h[0] != 1 || h[2] != 0x03 || h[3] != 0x3b)
		return 0;
	count = rd32(h + 8);
	if (count > (img->ehdr_len - 12) / 8)
		return 0;
	for (i = 0; i < count; i++) {
		uint64_t va = img->ehdr_va + (int64_t)(int32_t)rd32(h + 12 + 8 * i);

		if (in_text(img, va) && push_start(ent, va))
			return -ENOMEM;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void sort_starts(struct entries *e)
{
	size_t i, j = 0;

	if (!e->n)
		return;
	qsort(e->v, e->n, sizeof(*e->v), cmp_u64);
	for (i = 0; i < e->n; i++)
		if (!j || e->v[j - 1] != e->v[i])
			e->v[j++] = e->v[i];
	e->n = j;
}

/* The last entry at or below va, and the next one above it. */
static int enclosing(const struct scan *sc, uint64_t va, uint64_t *start, uint64_t *end)
{
	const struct entries *e = sc->ent;
	size_t lo = 0, hi = e->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (e->v[mid] <= va)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -ENOENT;
	*start = e->v[lo - 1];
	*end = lo < e->n ? e->v[lo] : *start + MAX_FN_SIZE;
	if (va - *start >= MAX_FN_SIZE)
		return -ENOENT;
	if (*end - *start > MAX_FN_SIZE)
		*end = *start + MAX_FN_SIZE;
	return 0;
}

/* System V argument index of an x86 register number (rdi=7 ...), or -1. */
static int arg_of_regno(unsigned r)
{
	switch (r) {
	case 7: return 0;
	case 6: return 1;
	case 2: return 2;
	case 1: return 3;
	case 8: return 4;
	case 9: return 5;
	}
	return -1;
}

static int arg_of_csreg(unsigned r)
{
	switch (r) {
	case X86_REG_RDI: case X86_REG_EDI: return 0;
	case X86_REG_RSI: case X86_REG_ESI: return 1;
	case X86_REG_RDX: case X86_REG_EDX: return 2;
	case X86_REG_RCX: case X86_REG_ECX: return 3;
	case X86_REG_R8: case X86_REG_R8D: return 4;
	case X86_REG_R9: case X86_REG_R9D: return 5;
	}
	return -1;
}

static struct fn *fn_get(struct scan *sc, uint64_t start, uint64_t end)
{
	size_t i;

	for (i = 0; i < sc->nfns; i++)
		if (sc->fns[i].start == start)
			return &sc->fns[i];
	if (sc->nfns == MAX_FNS)
		return NULL;
	sc->fns[sc->nfns] = (struct fn){ .start = start, .end = end };
	return &sc->fns[sc->nfns++];
}

static int site_at(const struct scan *sc, uint64_t va)
{
	size_t i;

	for (i = 0; i < sc->nsites; i++)
		if (sc->sites[i].va == va)
			return (int)i;
	return -1;
}

static void add_reason(struct fn *f, unsigned reason)
{
	if (reason >= MAX_REASON)
		return;
	if (!(f->reasons[reason / 64] & (1ull << (reason % 64))))
		f->nreasons++;
	f->reasons[reason / 64] |= 1ull << (reason % 64);
}

static int has_reason(const struct fn *f, unsigned reason)
{
	return reason < MAX_REASON && (f->reasons[reason / 64] >> (reason % 64)) & 1;
}

/*
 * Disassembles a function from its entry, following the constants moved
 * into the argument registers: at each direct call after a site, the
 * library is the first argument and the reason the argument before the
 * file name.
 */
static int decode_fn(struct scan *sc, csh h, struct fn *f)
{
	struct { uint64_t v; uint32_t at; int set; } args[6] = { 0 };
	const uint8_t *code;
	uint64_t addr = f->start, size = f->end - f->start;
	int file_arg = -1, k, si;
	uint32_t idx = 0, site_idx = 0;
	cs_insn *insn;
	size_t len;

	/* the last function of a segment ends with it */
	if (!va_at(sc->img, f->start, size, NULL))
		size = seg_left(sc->img, f->start);
	code = va_at(sc->img, f->start, size, NULL);
	if (!code || !size)
		return 0;	/* not in the file: its sites stay unreached */
	len = size;
	insn = cs_malloc(h);
	if (!insn)
		return -ENOMEM;
	while (len && cs_disasm_iter(h, &code, &len, &addr, insn)) {
		cs_x86 *x = &insn->detail->x86;

		idx++;
		si = site_at(sc, insn->address);
		if (si >= 0) {
			f->decoded++;
			file_arg = arg_of_regno(sc->sites[si].reg);
			site_idx = idx;
		}
		/* the call, or a jump to the call shared by the error paths */
		if (insn->id == X86_INS_CALL || insn->id == X86_INS_JMP ||
		    insn->id == X86_INS_RET) {
			if (insn->id == X86_INS_CALL && x->op_count == 1 &&
			    x->operands[0].type == X86_OP_IMM && f->ncalls < MAX_CALLS)
				f->calls[f->ncalls++] = x->operands[0].imm;
			if (file_arg > 0 && idx - site_idx <= CONST_SPAN &&
			    args[file_arg - 1].set && idx - args[file_arg - 1].at <= CONST_SPAN) {
				if (args[0].set && args[0].v == (uint64_t)sc->lib)
					add_reason(f, (unsigned)args[file_arg - 1].v);
				else
					f->lib_bad++;
			}
			file_arg = -1;
			memset(args, 0, sizeof(args));	/* caller-saved */
			continue;
		}
		if ((insn->id == X86_INS_MOV) && x->op_count == 2 &&
		    x->operands[0].type == X86_OP_REG && x->operands[1].type == X86_OP_IMM) {
			k = arg_of_csreg(x->operands[0].reg);
			if (k >= 0)
				args[k] = (typeof(args[0])){ (uint64_t)x->operands[1].imm, idx, 1 };
			continue;
		}
		if (insn->id == X86_INS_XOR && x->op_count == 2 &&
		    x->operands[0].type == X86_OP_REG && x->operands[1].type == X86_OP_REG &&
		    x->operands[0].reg == x->operands[1].reg) {
			k = arg_of_csreg(x->operands[0].reg);
			if (k >= 0)
				args[k] = (typeof(args[0])){ 0, idx, 1 };
			continue;
		}
		/* anything else written to an argument register unsets it */
		if (x->op_count >= 1 && x->operands[0].type == X86_OP_REG &&
		    (x->operands[0].access & CS_AC_WRITE)) {
			k = arg_of_csreg(x->operands[0].reg);
			if (k >= 0)
				args[k].set = 0;
		}
	}
	cs_free(insn, 1);
	return 0;
}

/* Groups the sites by function and reads their reasons. */
static int analyse_sites(struct scan *sc)
{
	uint64_t start, end;
	size_t i, k;
	csh h;
	int err = 0;

	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -ENOTSUP;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	for (i = 0; i < sc->nsites; i++) {
		struct fn *f;

		if (enclosing(sc, sc->sites[i].va, &start, &end))
			continue;
		f = fn_get(sc, start, end);
		if (!f)
			break;
		f->sites++;
		for (k = 0; k < sc->nlocs; k++)
			if (sc->locs[k].va == sc->sites[i].target &&
			    (!f->line || sc->locs[k].line < f->line))
				f->line = sc->locs[k].line;
	}
	for (i = 0; i < sc->nfns && !err; i++)
		err = decode_fn(sc, h, &sc->fns[i]);
	cs_close(&h);
	return err;
}

static void fmt_reasons(const struct fn *f, char *buf, size_t cap)
{
	size_t n = 0;
	unsigned r;

	buf[0] = 0;
	for (r = 0; r < MAX_REASON && n + 8 < cap; r++)
		if (has_reason(f, r))
			n += snprintf(buf + n, cap - n, "%s%u", n ? "," : "", r);
}

static int fn_calls(const struct fn *f, uint64_t target)
{
	uint32_t i;

	for (i = 0; i < f->ncalls; i++)
		if (f->calls[i] == target)
			return 1;
	return 0;
}

/* Exactly the reasons listed (n of them). */
static int reasons_are(const struct fn *f, const unsigned *want, size_t n)
{
	size_t i;

	if (f->nreasons != n)
		return 0;
	for (i = 0; i < n; i++)
		if (!has_reason(f, want[i]))
			return 0;
	return 1;
}

static int reasons_has(const struct fn *f, const unsigned *want, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!has_reason(f, want[i]))
			return 0;
	return 1;
}

/* A sane entry: every site in the function reached by its disassembly. */
static int fn_sound(const struct fn *f)
{
	return f->sites && f->decoded == f->sites;
}

static int add_fn(const struct scan *sc, const struct fn *f, int kind,
		  struct discover_result *r)
{
	uint64_t off;

	if (!va_at(sc->img, f->start, 1, &off) || r->nfn == DISCOVER_MAX_FNS)
		return -EBADMSG;
	uint64_t size = f->end - f->start, left = seg_left(sc->img, f->start);

	r->fn[r->nfn++] = (struct discover_fn){
		.va = f->start, .off = off, .size = (uint32_t)(size < left ? size : left),
		.sites = f->sites, .kind = kind,
	};
	return 0;
}

static void found(struct discover_result *r, int lib)
{
	if (!r->lib)
		r->lib = lib;
	r->libs |= 1u << lib;
}

/* The single function matching; -1 none, -2 several. */
static int pick(const struct scan *sc, int (*match)(const struct scan *, const struct fn *,
						    const void *), const void *arg)
{
	int found = -1;
	size_t i;

	for (i = 0; i < sc->nfns; i++) {
		if (!fn_sound(&sc->fns[i]) || !match(sc, &sc->fns[i], arg))
			continue;
		if (found >= 0)
			return -2;
		found = (int)i;
	}
	return found;
}

static const unsigned ssl_write_set[] = { 226, 215, 111 };
static const unsigned ssl_impl_set[] = { 226, 215 };
static const unsigned ssl_read_set[] = { 66 };
static const unsigned seal_set[] = { 117, 103, 115 };
static const unsigned open_set[] = { 115, 101, 103, 104 };

static int m_ssl_write(const struct scan *sc, const struct fn *f, const void *arg)
{
	(void)sc, (void)arg;
	return reasons_has(f, ssl_write_set, 3);
}

static int m_ssl_impl(const struct scan *sc, const struct fn *f, const void *arg)
{
	(void)sc, (void)arg;
	return reasons_has(f, ssl_impl_set, 2) && !has_reason(f, 111);
}

static int m_ssl_read(const struct scan *sc, const struct fn *f, const void *arg)
{
	(void)sc;
	return reasons_are(f, ssl_read_set, 1) && fn_calls(f, *(const uint64_t *)arg);
}

static int m_exact(const struct scan *sc, const struct fn *f, const void *arg)
{
	const unsigned *set = arg;

	(void)sc;
	return reasons_are(f, set + 1, set[0]);
}

static void say_pick(struct discover_result *r, const char *what, int i)
{
	say(r, "%s: %s; ", what, i == -2 ? "several functions match" : "no function matches");
}

static int classify_ssl(struct scan *sc, struct discover_result *r)
{
	int w, impl, rd;
	char rs[64];

	w = pick(sc, m_ssl_write, NULL);
	impl = pick(sc, m_ssl_impl, NULL);
	if (w < 0 || impl < 0) {
		say_pick(r, w < 0 ? "SSL_write" : "ssl_read_impl", w < 0 ? w : impl);
		return -EBADMSG;
	}
	rd = pick(sc, m_ssl_read, &sc->fns[impl].start);
	if (rd < 0) {
		say_pick(r, "SSL_read", rd);
		return -EBADMSG;
	}
	if (add_fn(sc, &sc->fns[w], DISCOVER_SSL_WRITE, r) ||
	    add_fn(sc, &sc->fns[rd], DISCOVER_SSL_READ, r))
		return -EBADMSG;
	fmt_reasons(&sc->fns[w], rs, sizeof(rs));
	say(r, "SSL_write at %#lx (%u sites in ssl_lib.cc, reasons %s); ",
	    (unsigned long)sc->fns[w].start, sc->fns[w].sites, rs);
	say(r, "SSL_read at %#lx (reason 66, calls ssl_read_impl at %#lx)",
	    (unsigned long)sc->fns[rd].start, (unsigned long)sc->fns[impl].start);
	found(r, DISCOVER_BORINGSSL);
	return 0;
}

static int classify_aead(struct scan *sc, struct discover_result *r)
{
	static const unsigned seal[] = { 3, 117, 103, 115 };
	static const unsigned open[] = { 4, 115, 101, 103, 104 };
	int s, o;

	(void)seal_set, (void)open_set;
	s = pick(sc, m_exact, seal);
	o = pick(sc, m_exact, open);
	if (s < 0 || o < 0) {
		say_pick(r, s < 0 ? "EVP_AEAD_CTX_seal" : "EVP_AEAD_CTX_open", s < 0 ? s : o);
		return -EBADMSG;
	}
	if (add_fn(sc, &sc->fns[s], DISCOVER_AEAD_SEAL, r) ||
	    add_fn(sc, &sc->fns[o], DISCOVER_AEAD_OPEN, r))
		return -EBADMSG;
	say(r, "EVP_AEAD_CTX_seal at %#lx (reasons 103,115,117), "
	    "EVP_AEAD_CTX_open at %#lx (reasons 101,103,104,115); ",
	    (unsigned long)sc->fns[s].start, (unsigned long)sc->fns[o].start);
	found(r, DISCOVER_AWSLC);
	return 0;
}

/* The code is scanned for the Locations' own addresses only. */
static void locs_range(struct scan *sc)
{
	size_t i;

	sc->lo = sc->hi = sc->locs[0].va;
	for (i = 1; i < sc->nlocs; i++) {
		if (sc->locs[i].va < sc->lo)
			sc->lo = sc->locs[i].va;
		if (sc->locs[i].va > sc->hi)
			sc->hi = sc->locs[i].va;
	}
}

/*
 * ring: core::panic::Location { file: &str, line: u32, col: u32 } values
 * in data that name the file at [lo, hi] (its pointer, then its length).
 */
static int find_locs(struct scan *sc, uint64_t name_end)
{
	const struct image *img = sc->img;
	size_t i, k;

	for (k = 0; k < img->nload; k++) {
		const struct seg *s = &img->load[k];
		const uint8_t *b = img->p + s->off;

		if (s->flags & PF_X)
			continue;
		for (i = (8 - (s->va & 7)) & 7; i + 24 <= s->size; i += 8) {
			uint64_t v = rd64(b + i);

			if (v - sc->lo > sc->hi - sc->lo || rd64(b + i + 8) != name_end - v ||
			    !rd32(b + i + 16))
				continue;
			if (sc->nlocs == MAX_LOCS)
				return -E2BIG;
			sc->locs[sc->nlocs++] = (struct loc){ s->va + i, rd32(b + i + 16) };
		}
	}
	if (!sc->nlocs)
		return -ENOENT;
	locs_range(sc);
	return 0;
}

static int cmp_line(const void *a, const void *b)
{
	const struct fn *x = *(const struct fn *const *)a, *y = *(const struct fn *const *)b;

	return x->line < y->line ? -1 : x->line > y->line;
}

/* Each seal is written before its open: pairs, in line order. */
static int classify_ring(struct scan *sc, struct discover_result *r)
{
	const struct fn *f[4];
	size_t i, n = 0;

	for (i = 0; i < sc->nfns; i++) {
		if (!sc->fns[i].line)
			continue;
		if (!fn_sound(&sc->fns[i]) || n == 4) {
			say(r, "a function at %#lx does not decode to its panic, or too many; ",
			    (unsigned long)sc->fns[i].start);
			return -EBADMSG;
		}
		f[n++] = &sc->fns[i];
	}
	if (n != 2 && n != 4) {
		say(r, "%zu functions panic there, not seal/open pairs; ", n);
		return -EBADMSG;
	}
	qsort(f, n, sizeof(f[0]), cmp_line);
	for (i = 0; i < n; i += 2) {
		if (add_fn(sc, f[i], DISCOVER_RING_SEAL, r) ||
		    add_fn(sc, f[i + 1], DISCOVER_RING_OPEN, r))
			return -EBADMSG;
		say(r, "seal at %#lx, open at %#lx (panics at lines %u, %u); ",
		    (unsigned long)f[i]->start, (unsigned long)f[i + 1]->start, f[i]->line,
		    f[i + 1]->line);
	}
	found(r, DISCOVER_RING);
	return 0;
}

/*
 * Every address (up to max) of the NUL-terminated string str in read-only
 * data: the name in .dynstr of a library that exports it is not the one
 * its code loads.
 */
static size_t find_cstrs(const struct image *img, const char *str, uint64_t *out, size_t max)
{
	size_t len = strlen(str) + 1, i, n = 0;

	for (i = 0; i < img->nload; i++) {
		const struct seg *sg = &img->load[i];
		const uint8_t *base = img->p + sg->off, *q = base, *end = base + sg->size;

		if (sg->flags & (PF_X | PF_W))
			continue;
		while (n < max && q < end && (q = memmem(q, end - q, str, len))) {
			if (q > base && !q[-1])
				out[n++] = sg->va + (uint64_t)(q - base);
			q++;
		}
	}
	return n;
}

/* OpenSSL 3: the functions that load the addresses of their own names. */
static int ossl_locs(struct scan *sc)
{
	static const char *const names[] = { "ssl_write_internal", "ssl_read_internal" };
	uint64_t va[4];
	size_t i, k, n;

	for (i = 0; i < 2; i++) {
		n = find_cstrs(sc->img, names[i], va, 4);
		if (!n)
			return -ENOENT;
		for (k = 0; k < n; k++)
			sc->locs[sc->nlocs++] = (struct loc){ va[k], (uint32_t)i + 1 };
	}
	locs_range(sc);
	return 0;
}

/* "OpenSSL 3.N.M": 3.2 and later pass flags to ssl_write_internal. */
static int ossl_has_flags(const struct image *img)
{
	size_t i;

	for (i = 0; i < img->nload; i++) {
		const struct seg *sg = &img->load[i];
		const uint8_t *q = memmem(img->p + sg->off, sg->size, "OpenSSL 3.", 10);
		unsigned minor = 0;

		if (sg->flags & PF_X || !q || q + 14 > img->p + sg->off + sg->size)
			continue;
		if (sscanf((const char *)q + 10, "%2u", &minor) == 1)
			return minor >= 2;
	}
	return 1;	/* no version: the current form */
}

static int classify_ossl(struct scan *sc, struct discover_result *r)
{
	const struct fn *f[2] = { NULL, NULL };
	size_t i;

	for (i = 0; i < sc->nfns; i++) {
		const struct fn *fn = &sc->fns[i];

		if (!fn->line || !fn_sound(fn))
			continue;
		if (f[fn->line - 1]) {
			say(r, "%s: several functions; ", fn->line == 1 ? "ssl_write_internal" :
								      "ssl_read_internal");
			return -EBADMSG;
		}
		f[fn->line - 1] = fn;
	}
	if (!f[0] || !f[1]) {
		say(r, "%s: no function; ", !f[0] ? "ssl_write_internal" : "ssl_read_internal");
		return -EBADMSG;
	}
	if (add_fn(sc, f[0], DISCOVER_OSSL_WRITE, r) || add_fn(sc, f[1], DISCOVER_OSSL_READ, r))
		return -EBADMSG;
	r->ossl_flags = ossl_has_flags(sc->img);
	say(r, "ssl_write_internal at %#lx, ssl_read_internal at %#lx (their names' sites)%s; ",
	    (unsigned long)f[0]->start, (unsigned long)f[1]->start,
	    r->ossl_flags ? ", with flags" : "");
	found(r, DISCOVER_OPENSSL);
	return 0;
}

/* Debugging aid (TOLLGATE_DISCOVER_DEBUG): every function with sites. */
static void dump(const struct scan *sc)
{
	char rs[256];
	size_t i;

	if (!getenv("TOLLGATE_DISCOVER_DEBUG"))
		return;
	fprintf(stderr, "discover: name at [%#lx, %#lx], %zu sites, %zu entries known\n",
		(unsigned long)sc->lo, (unsigned long)sc->hi, sc->nsites, sc->ent->n);
	for (i = 0; i < sc->nfns; i++) {
		fmt_reasons(&sc->fns[i], rs, sizeof(rs));
		fprintf(stderr, "  fn %#lx+%lu sites %u decoded %u lib_bad %u calls %u reasons %s\n",
			(unsigned long)sc->fns[i].start,
			(unsigned long)(sc->fns[i].end - sc->fns[i].start), sc->fns[i].sites,
			sc->fns[i].decoded, sc->fns[i].lib_bad, sc->fns[i].ncalls, rs);
	}
}

/* A scan for one library: where its sites point.  -ENOENT: not there. */
static int scan_prepare(struct scan *sc, const struct image *img, const char *suffix, int lib,
			struct entries *ent)
{
	int err;

	sc->img = img;
	sc->suffix = suffix;
	sc->lib = lib;
	sc->ent = ent;
	err = find_name(img, suffix, &sc->lo, &sc->hi);
	if (err)
		return err;
	if (lib == LIB_RING) {
		if (!memmem(img->p + va_off(img, sc->lo), sc->hi - sc->lo, "/ring-", 6))
			return -ENOENT;	/* another crate's algorithm.rs */
		return find_locs(sc, sc->hi + strlen(suffix));
	}
	if (lib == LIB_OSSL)
		return ossl_locs(sc);
	return 0;
}

/* Its functions, once the code is scanned: what they are, or why not. */
static int scan_finish(struct scan *sc, struct discover_result *r)
{
	int err = analyse_sites(sc);

	if (err)
		return err;
	dump(sc);
	say(r, "%s: %zu sites in %zu functions; ", sc->suffix, sc->nsites, sc->nfns);
	return sc->lib == LIB_SSL ? classify_ssl(sc, r) :
	       sc->lib == LIB_RING ? classify_ring(sc, r) :
	       sc->lib == LIB_OSSL ? classify_ossl(sc, r) : classify_aead(sc, r);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The answer over several scans: found beats refused beats absent. */
static void merge_err(int *err, int e)
{
	if (*err == -ENOENT || !e)
		*err = e;
}

int discover_mem(const uint8_t *p, size_t len, int want, struct discover_result *out)
{
	static const struct {
		const char *suffix;
		int lib, want;
	} libs[] = {
		{ "ssl/ssl_lib.cc", LIB_SSL, DISCOVER_BORINGSSL },
		{ "ssl/ssl_lib.c", LIB_OSSL, DISCOVER_OPENSSL },
		{ "cipher/aead.c", LIB_CIPHER, DISCOVER_AWSLC },
		{ "/src/aead/algorithm.rs", LIB_RING, DISCOVER_RING },
	};
	struct image img = { .p = p, .len = len };
	struct scan *scs[4];
	struct entries ent = { 0 };
	uint64_t t0 = now_ns();
	size_t i, n = 0;
	int err;

	memset(out, 0, sizeof(*out));
	err = load_image(&img);
	if (err)
		return err;
	discover_id(p, len, out->id, sizeof(out->id));
	/*
	 * Every stack the file carries: a program may link several and use
	 * any (Codex: OpenSSL for its HTTP client, rustls over ring and
	 * aws-lc elsewhere).  One pass over the code serves them all.
	 * BoringSSL's SSL level already sees what its own AEAD seals: its
	 * records are not probed.
	 */
	for (i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
		int e;

		if (want != DISCOVER_NONE && want != libs[i].want)
			continue;
		scs[n] = calloc(1, sizeof(*scs[n]));
		if (!scs[n]) {
			err = -ENOMEM;
			goto out;
		}
		e = scan_prepare(scs[n], &img, libs[i].suffix, libs[i].lib, &ent);
		if (e == -ENOENT) {
			free(scs[n]);
			continue;
		}
		if (e) {
			err = e;
			goto out;
		}
		n++;
	}
	err = -ENOENT;
	if (!n)
		goto out;
	err = scan_code(&img, scs, n, &ent);
	if (!err)
		err = scan_data(&img, &ent);
	if (!err)
		err = scan_eh_frame_hdr(&img, &ent);
	if (err)
		goto out;
	sort_starts(&ent);
	err = -ENOENT;
	for (i = 0; i < n; i++) {
		if (scs[i]->lib == LIB_CIPHER && (out->libs & (1u << DISCOVER_BORINGSSL)))
			continue;
		merge_err(&err, scan_finish(scs[i], out));
	}
	if (out->libs)
		err = 0;
out:
	for (i = 0; i < n; i++)
		free(scs[i]);
	free(ent.v);
	out->ns = now_ns() - t0;
	return err;
}

/* --- the cache key ------------------------------------------------------- */

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = 0;
}

/* The GNU build id note, if the file has one. */
static int build_id(const struct image *img, char *id, size_t cap)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	size_t i;

	if (read_ehdr(img, &eh))
		return -ENOENT;
	for (i = 0; i < eh.e_phnum; i++) {
		const uint8_t *n;
		uint64_t off, size;

		read_phdr(img, &eh, i, &ph);
		if (ph.p_type != PT_NOTE || ph.p_offset > img->len ||
		    ph.p_filesz > img->len - ph.p_offset)
			continue;
		n = img->p + ph.p_offset;
		size = ph.p_filesz;
		for (off = 0; off + 12 <= size;) {
			uint32_t nsz = rd32(n + off), dsz = rd32(n + off + 4), type = rd32(n + off + 8);
			uint64_t name = off + 12, desc = name + ((nsz + 3) & ~3u);

			if (desc > size || dsz > size - desc)
				break;
			if (type == NT_GNU_BUILD_ID && nsz == 4 && !memcmp(n + name, "GNU", 4) &&
			    dsz && dsz <= 64 && 9 + 2 * dsz < cap) {
				memcpy(id, "build-id:", 9);
				hex(n + desc, dsz, id + 9);
				return 0;
			}
			off = desc + ((dsz + 3) & ~3u);
		}
	}
	return -ENOENT;
}

/* Without a build id: SHA-256 of the size, the headers and the first and
 * last 64 KiB of every loaded segment. */
int discover_id(const uint8_t *p, size_t len, char *id, size_t cap)
{
	struct image img = { .p = p, .len = len };
	uint8_t md[32], sz[8];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx;
	size_t i, k;
	int err;

	err = load_image(&img);
	if (err)
		return err;
	if (!build_id(&img, id, cap))
		return 0;
	if (cap < 7 + 65)
		return -ENOSPC;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	for (k = 0; k < 8; k++)
		sz[k] = (uint8_t)(len >> (8 * k));
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, sz, sizeof(sz));
	EVP_DigestUpdate(ctx, p, len < 4096 ? len : 4096);
	for (i = 0; i < img.nload; i++) {
		const struct seg *s = &img.load[i];
		uint64_t n = s->size < 65536 ? s->size : 65536;

		EVP_DigestUpdate(ctx, p + s->off, n);
		EVP_DigestUpdate(ctx, p + s->off + s->size - n, n);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	memcpy(id, "sha256:", 7);
	hex(md, 32, id + 7);
	return 0;
}

/* --- the cache ----------------------------------------------------------- */

/*
 * One file per (id, library asked): the answer, the probe points, and the
 * evidence.
 *   tollgate-discover 2 ERR LIB LIBS N OSSL_FLAGS
 *   KIND VA OFF SIZE SITES		(N lines)
 *   >EVIDENCE
 */
#define CACHE_MAGIC "tollgate-discover 2"

static int cache_path(const char *dir, const char *id, int want, char *buf, size_t cap)
{
	char name[DISCOVER_ID];
	size_t i;

	for (i = 0; id[i] && i + 1 < sizeof(name); i++)
		name[i] = id[i] == ':' ? '-' : id[i];
	name[i] = 0;
	return snprintf(buf, cap, "%s/%s.%d", dir, name, want) >= (int)cap ? -ENAMETOOLONG : 0;
}

static int cache_parse(FILE *f, struct discover_result *r, int *err)
{
	char line[DISCOVER_EVIDENCE + 2];
	unsigned long va, off, size, sites;
	unsigned libs, n, i;
	int e, lib, kind;

	if (fscanf(f, CACHE_MAGIC " %d %d %u %u %d", &e, &lib, &libs, &n, &r->ossl_flags) != 5 ||
	    e > 0 ||
	    lib < 0 || lib > DISCOVER_OPENSSL || n > DISCOVER_MAX_FNS)
		return -1;
	for (i = 0; i < n; i++) {
		if (fscanf(f, " %d %lx %lx %lx %lu", &kind, &va, &off, &size, &sites) != 5 ||
		    kind < 0 || kind > DISCOVER_OSSL_READ || !off)
			return -1;
		r->fn[i] = (struct discover_fn){ va, off, (uint32_t)size, (uint32_t)sites, kind };
	}
	if (fgetc(f) != '\n' || !fgets(line, sizeof(line), f) || line[0] != '>')
		return -1;
	line[strcspn(line, "\n")] = 0;
	memcpy(r->evidence, line + 1, sizeof(r->evidence) - 1);
	r->evidence[sizeof(r->evidence) - 1] = 0;
	r->lib = lib;
	r->libs = libs;
	r->nfn = n;
	r->cached = 1;
	*err = e;
	return 0;
}

static int cache_read(const char *dir, const char *id, int want, struct discover_result *r,
		      int *err)
{
	char path[4096];
	FILE *f;
	int rc;

	if (cache_path(dir, id, want, path, sizeof(path)))
		return -1;
	f = fopen(path, "re");
	if (!f)
		return -1;
	rc = cache_parse(f, r, err);
	fclose(f);
	if (rc)
		memset(r, 0, sizeof(*r));
	return rc;
}

static void cache_write(const char *dir, int want, const struct discover_result *r, int err)
{
	char path[4096], tmp[4200], parent[4096], *slash;
	unsigned i;
	FILE *f;
	int fd;

	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = 0;
		mkdir(parent, 0700);	/* the state directory, if it is not there */
	}
	if (mkdir(dir, 0700) && errno != EEXIST)
		return;
	if (cache_path(dir, r->id, want, path, sizeof(path)))
		return;
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return;
	}
	fprintf(f, CACHE_MAGIC " %d %d %u %u %d\n", err, r->lib, r->libs, r->nfn, r->ossl_flags);
	for (i = 0; i < r->nfn; i++)
		fprintf(f, "%d %lx %lx %lx %lu\n", r->fn[i].kind, (unsigned long)r->fn[i].va,
			(unsigned long)r->fn[i].off, (unsigned long)r->fn[i].size,
			(unsigned long)r->fn[i].sites);
	fprintf(f, ">%s\n", r->evidence);
	if (fclose(f) || rename(tmp, path))
		unlink(tmp);
}

int discover_cache_refuse(const char *cache_dir, const char *id, int want, const char *why)
{
	struct discover_result r = { 0 };

	if (!cache_dir || !id[0])
		return -EINVAL;
	snprintf(r.id, sizeof(r.id), "%s", id);
	snprintf(r.evidence, sizeof(r.evidence), "%s", why);
	cache_write(cache_dir, want, &r, -EBADMSG);
	return 0;
}

int discover_file(const char *path, int want, const char *cache_dir,
		  struct discover_result *out)
{
	uint64_t t0 = now_ns();
	struct stat st;
	char id[DISCOVER_ID];
	void *p;
	int fd, err;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		close(fd);
		return -ENOENT;
	}
	p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	err = discover_id(p, st.st_size, id, sizeof(id));
	if (err)
		goto out_map;
	if (cache_dir && !cache_read(cache_dir, id, want, out, &err)) {
		snprintf(out->id, sizeof(out->id), "%s", id);
		out->ns = now_ns() - t0;
		goto out_map;
	}
	err = discover_mem(p, st.st_size, want, out);
	/* a refusal is cached too: the file will not change under its id */
	if (cache_dir && (!err || err == -EBADMSG || err == -ENOENT))
		cache_write(cache_dir, want, out, err);
out_map:
	munmap(p, st.st_size);
	return err;
}
