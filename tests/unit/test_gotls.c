// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * gotls: the pure pieces on synthetic input (pclntab layouts of Go 1.16,
 * 1.18 and 1.20, build info, RET decoding), then real Go builds of
 * tests/integ/clients/go_llm that the Makefile puts in $BUILD/integ:
 *   go_llm, go_llm_stripped	(-ldflags='-s -w')
 * and, when present, variants built by hand or by a later rule:
 *   go_llm_cgo			(CGO_ENABLED=1 -ldflags=-linkmode=external)
 *   go_llm_pie_stripped	(CGO_ENABLED=1 -buildmode=pie
 *				 -ldflags='-linkmode=external -s -w')
 *   go_llm_arm64		(GOARCH=arm64 -ldflags='-s -w')
 *   go_llm_386			(GOARCH=386)
 * Results are checked against the symbol table (read here with libelf)
 * and the bytes at each RET; images are then edited in memory (no symbol
 * table, no section headers, the 1.20 magic, the pre-1.18 build info,
 * truncations, random byte flips) and must still give sound answers.
 */
#include <elf.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "tap.h"
#include "gotls.h"

#define WRITE_NAME "crypto/tls.(*Conn).Write"
#define READ_NAME "crypto/tls.(*Conn).Read"
#define CLOSE_NAME "crypto/tls.(*Conn).Close"

static const char *const tls_names[] = { WRITE_NAME, READ_NAME, CLOSE_NAME };

/* --- helpers ------------------------------------------------------------ */

static const char *bin_path(const char *name, char *buf, size_t len)
{
	const char *b = getenv("BUILD");

	snprintf(buf, len, "%s/integ/%s", b && *b ? b : "build", name);
	return buf;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	FILE *f;

	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) || !st.st_size) {
		fclose(f);
		return NULL;
	}
	buf = malloc(st.st_size);
	if (buf && fread(buf, 1, st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = st.st_size;
	return buf;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = v >> (8 * i);
}

static void putptr(uint8_t *p, uint64_t v, unsigned psz)
{
	if (psz == 8)
		put64(p, v);
	else
		put32(p, (uint32_t)v);
}

/* Symbol value and size from .symtab, independently of gotls.c. */
static int sym_lookup(const uint8_t *img, size_t len, const char *want,
		      uint64_t *value, uint64_t *size)
{
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;
	GElf_Sym sym;
	const char *name;
	size_t i, n;
	int found = 0;
	Elf *elf;

	elf_version(EV_CURRENT);
	elf = elf_memory((char *)img, len);
	while (elf && !found && (scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB ||
		    !(data = elf_getdata(scn, NULL)))
			continue;
		n = sh.sh_size / sh.sh_entsize;
		for (i = 0; i < n && !found; i++) {
			if (!gelf_getsym(data, i, &sym))
				continue;
			name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (name && !strcmp(name, want)) {
				*value = sym.st_value;
				*size = sym.st_size;
				found = 1;
			}
		}
	}
	elf_end(elf);
	return found;
}

/* A section's file offset, vaddr and size (ELF64 little-endian). */
static int section(const uint8_t *img, size_t len, const char *want,
		   uint64_t *off, uint64_t *addr, uint64_t *size)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	const Elf64_Shdr *sh, *str;

	if (len < sizeof(*eh) || eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(*sh) > len ||
	    eh->e_shstrndx >= eh->e_shnum)
		return 0;
	sh = (const Elf64_Shdr *)(img + eh->e_shoff);
	str = &sh[eh->e_shstrndx];
	for (int i = 0; i < eh->e_shnum; i++) {
		if (str->sh_offset + sh[i].sh_name >= len ||
		    strcmp((const char *)img + str->sh_offset + sh[i].sh_name, want))
			continue;
		*off = sh[i].sh_offset;
		*addr = sh[i].sh_addr;
		*size = sh[i].sh_size;
		return 1;
	}
	return 0;
}

/* vaddr → file offset through the PT_LOADs (ELF64). */
static uint64_t va_off(const uint8_t *img, uint64_t va)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(img + eh->e_phoff);

	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && va >= ph[i].p_vaddr &&
		    va < ph[i].p_vaddr + ph[i].p_filesz)
			return va - ph[i].p_vaddr + ph[i].p_offset;
	return 0;
}

static int same_fn(const struct gotls_fn *a, const struct gotls_fn *b)
{
	return a->entry == b->entry && a->nrets == b->nrets &&
	       !memcmp(a->rets, b->rets, a->nrets * sizeof(a->rets[0]));
}

static int same_syms(const struct gotls_syms *a, const struct gotls_syms *b)
{
	return same_fn(&a->write, &b->write) && same_fn(&a->read, &b->read) &&
	       a->close == b->close && !strcmp(a->version, b->version) &&
	       a->regabi == b->regabi;
}

/* RETs ascending, inside the function, each one really a RET there. */
static void check_rets(const char *what, const uint8_t *img, size_t len,
		       const struct gotls_fn *fn, uint64_t size, uint16_t machine)
{
	static const uint8_t arm64_ret[4] = { 0xc0, 0x03, 0x5f, 0xd6 };

	CHECK(fn->nrets >= 1 && fn->nrets <= GOTLS_MAX_RETS, "%s: %u RETs", what, fn->nrets);
	for (uint32_t i = 0; i < fn->nrets && i < GOTLS_MAX_RETS; i++) {
		CHECK(fn->rets[i] > fn->entry && fn->rets[i] < fn->entry + size,
		      "%s: RET %u at %#lx outside [%#lx, +%#lx)", what, i,
		      (unsigned long)fn->rets[i], (unsigned long)fn->entry, (unsigned long)size);
		CHECK(!i || fn->rets[i] > fn->rets[i - 1], "%s: RETs not ascending", what);
		if (fn->rets[i] + 4 > len)
			continue;
		if (machine == EM_X86_64)
			CHECK(img[fn->rets[i]] == 0xc3, "%s: byte %#x at RET %u", what,
			      img[fn->rets[i]], i);
		else
			CHECK(!memcmp(img + fn->rets[i], arm64_ret, 4), "%s: RET %u is not ret",
			      what, i);
	}
}

static void print_syms(const char *what, const struct gotls_syms *s)
{
	printf("# %s: %s regabi=%d stripped=%d Write@%#lx %u RETs, Read@%#lx %u RETs, Close@%#lx\n",
	       what, s->version, s->regabi, s->stripped, (unsigned long)s->write.entry,
	       s->write.nrets, (unsigned long)s->read.entry, s->read.nrets,
	       (unsigned long)s->close);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* xorshift64: deterministic mutations */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* --- pure pieces ---------------------------------------------------------- */

static void test_go_minor(void)
{
	CHECK_EQ_INT(gotls_go_minor("go1.19.8"), 19);
	CHECK_EQ_INT(gotls_go_minor("go1.17"), 17);
	CHECK_EQ_INT(gotls_go_minor("go1.21rc2"), 21);
	CHECK_EQ_INT(gotls_go_minor("go1.9.2"), 9);
	CHECK_EQ_INT(gotls_go_minor("go1.22.1 X:nocoverageredesign"), 22);
	CHECK_EQ_INT(gotls_go_minor("devel go1.23-abcdef Tue Jan 1 00:00:00 2024 +0000"), 23);
	CHECK_EQ_INT(gotls_go_minor("devel +abcdef Tue"), -EINVAL);
	CHECK_EQ_INT(gotls_go_minor("go2.0"), -EINVAL);
	CHECK_EQ_INT(gotls_go_minor("go1."), -EINVAL);
	CHECK_EQ_INT(gotls_go_minor("go1.123456"), -EINVAL);
	CHECK_EQ_INT(gotls_go_minor(""), -EINVAL);
}

static size_t make_buildinfo(uint8_t *bi, uint8_t flags, const char *ver)
{
	size_t n = strlen(ver);

	memset(bi, 0, 32);
	memcpy(bi, "\xff Go buildinf:", 14);
	bi[14] = 8;
	bi[15] = flags;
	bi[32] = (uint8_t)n;
	memcpy(bi + 33, ver, n);
	bi[33 + n] = 3;
	memcpy(bi + 34 + n, "mod", 3);
	return 37 + n;
}

static void test_buildinfo_version(void)
{
	uint8_t bi[128];
	char ver[32];
	size_t n, len;

	len = make_buildinfo(bi, 2, "go1.19.8");
	CHECK_EQ_INT(gotls_buildinfo_version(bi, len, ver, sizeof(ver)), 8);
	CHECK(!strcmp(ver, "go1.19.8"), "%s", ver);
	CHECK_EQ_INT(gotls_buildinfo_version(bi, len, ver, 5), 8);	/* cut */
	CHECK(!strcmp(ver, "go1."), "%s", ver);
	CHECK_EQ_INT(gotls_buildinfo_version(bi, len, NULL, 0), 8);
	/* every truncation: the whole version or an error, never more */
	for (n = 0; n < len; n++) {
		int r = gotls_buildinfo_version(bi, n, ver, sizeof(ver));

		CHECK(n >= 41 ? r == 8 : r == -EBADMSG, "len %zu: %d", n, r);
	}
	make_buildinfo(bi, 0, "go1.19.8");
	CHECK_EQ_INT(gotls_buildinfo_version(bi, len, ver, sizeof(ver)), -EAGAIN);
	make_buildinfo(bi, 2, "go1.19.8");
	bi[3] = 'X';
	CHECK_EQ_INT(gotls_buildinfo_version(bi, len, ver, sizeof(ver)), -EBADMSG);
	/* a length past the end; a varint that never ends */
	make_buildinfo(bi, 2, "go1.19.8");
	bi[32] = 0x7f;
	CHECK_EQ_INT(gotls_buildinfo_version(bi, len, ver, sizeof(ver)), -EBADMSG);
	memset(bi + 32, 0xff, sizeof(bi) - 32);
	CHECK_EQ_INT(gotls_buildinfo_version(bi, sizeof(bi), ver, sizeof(ver)), -EBADMSG);
	/* a two-byte varint */
	make_buildinfo(bi, 2, "go1.19.8");
	memmove(bi + 34, bi + 33, 12);
	bi[32] = 0x88;
	bi[33] = 0x00;
	CHECK_EQ_INT(gotls_buildinfo_version(bi, len + 1, ver, sizeof(ver)), 8);
	CHECK(!strcmp(ver, "go1.19.8"), "%s", ver);
}

static void test_rets_x86(void)
{
	/* sub $0x18,%rsp; ret; int3; ret; nop; ret $8; rep ret */
	static const uint8_t code[] = { 0x48, 0x83, 0xec, 0x18, 0xc3, 0xcc, 0xc3, 0x90,
					0xc2, 0x08, 0x00, 0xf3, 0xc3 };
	/* jmp rel32 (a tail call); call rel32; int3 padding */
	static const uint8_t noret[] = { 0xe9, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0xcc, 0xcc };
	static const uint8_t bad[] = { 0xc3, 0x06, 0xc3 };	/* push %es: not in 64-bit */
	static const uint8_t cut[] = { 0xc3, 0x48, 0x83 };	/* an instruction cut short */
	uint8_t many[GOTLS_MAX_RETS + 1];
	uint64_t rets[GOTLS_MAX_RETS];

	CHECK_EQ_INT(gotls_rets(EM_X86_64, code, sizeof(code), 0x1000, rets, GOTLS_MAX_RETS), 4);
	CHECK(rets[0] == 0x1004 && rets[1] == 0x1006 && rets[2] == 0x1008 && rets[3] == 0x100b,
	      "%#lx %#lx %#lx %#lx", (unsigned long)rets[0], (unsigned long)rets[1],
	      (unsigned long)rets[2], (unsigned long)rets[3]);
	CHECK_EQ_INT(gotls_rets(EM_X86_64, noret, sizeof(noret), 0, rets, GOTLS_MAX_RETS), 0);
	CHECK_EQ_INT(gotls_rets(EM_X86_64, code, 0, 0, rets, GOTLS_MAX_RETS), 0);
	CHECK_EQ_INT(gotls_rets(EM_X86_64, bad, sizeof(bad), 0, rets, GOTLS_MAX_RETS), -EBADMSG);
	CHECK_EQ_INT(gotls_rets(EM_X86_64, cut, sizeof(cut), 0, rets, GOTLS_MAX_RETS), -EBADMSG);
	memset(many, 0xc3, sizeof(many));
	CHECK_EQ_INT(gotls_rets(EM_X86_64, many, GOTLS_MAX_RETS, 0, rets, GOTLS_MAX_RETS),
		     GOTLS_MAX_RETS);
	CHECK_EQ_INT(gotls_rets(EM_X86_64, many, sizeof(many), 0, rets, GOTLS_MAX_RETS), -E2BIG);
	CHECK_EQ_INT(rets[GOTLS_MAX_RETS - 1], GOTLS_MAX_RETS - 1);
	CHECK_EQ_INT(gotls_rets(EM_386, code, sizeof(code), 0, rets, GOTLS_MAX_RETS), -ENOTSUP);
	CHECK_EQ_INT(gotls_rets(EM_PPC64, code, sizeof(code), 0, rets, GOTLS_MAX_RETS), -ENOTSUP);
}

static void test_rets_arm64(void)
{
	static const uint8_t code[] = {
		0xff, 0x83, 0x00, 0xd1,	/* sub sp, sp, #0x20 */
		0xc0, 0x03, 0x5f, 0xd6,	/* ret */
		0x00, 0x00, 0x00, 0x14,	/* b . */
		0x00, 0x00, 0x00, 0x00,	/* a literal pool word / udf */
		0x20, 0x00, 0x5f, 0xd6,	/* ret x1 */
		0xc0, 0x03, 0x5f,	/* a cut word */
	};
	uint64_t rets[GOTLS_MAX_RETS];

	CHECK_EQ_INT(gotls_rets(EM_AARCH64, code, sizeof(code), 0x11000, rets, GOTLS_MAX_RETS), 2);
	CHECK(rets[0] == 0x11004 && rets[1] == 0x11010, "%#lx %#lx",
	      (unsigned long)rets[0], (unsigned long)rets[1]);
}

/* A pclntab of magic's layout, psz-byte words, functions at text + 0x40 * i. */
struct synth {
	uint8_t buf[4096];
	size_t len;
};

static const char *const synth_names[] = {
	"runtime.main", WRITE_NAME "X", WRITE_NAME, READ_NAME, "main.main", WRITE_NAME,
};
#define SYNTH_N (sizeof(synth_names) / sizeof(synth_names[0]))

static void synth_build(struct synth *s, uint32_t magic, unsigned psz, uint64_t text)
{
	unsigned hw = magic == 0xfffffffa ? 7 : 8, fsz = hw == 8 ? 4 : psz;
	size_t hdr = 8 + hw * psz, fname = hdr, pos = hdr, pcln, func, i;
	uint32_t nameoff[SYNTH_N];

	memset(s, 0, sizeof(*s));
	put32(s->buf, magic);
	s->buf[6] = 1;
	s->buf[7] = psz;
	for (i = 0; i < SYNTH_N; i++) {
		nameoff[i] = pos - fname;
		memcpy(s->buf + pos, synth_names[i], strlen(synth_names[i]) + 1);
		pos += strlen(synth_names[i]) + 1;
	}
	pcln = (pos + 7) & ~(size_t)7;
	func = pcln + (2 * SYNTH_N + 1) * fsz;
	for (i = 0; i <= SYNTH_N; i++) {
		uint64_t pc = 0x40 * i;

		putptr(s->buf + pcln + 2 * i * fsz, hw == 8 ? pc : text + pc, fsz);
		if (i == SYNTH_N)
			break;
		putptr(s->buf + pcln + (2 * i + 1) * fsz, func + 16 * i - pcln, fsz);
		putptr(s->buf + func + 16 * i, hw == 8 ? pc : text + pc, fsz);
		put32(s->buf + func + 16 * i + fsz, nameoff[i]);
	}
	s->len = func + 16 * SYNTH_N;
	putptr(s->buf + 8, SYNTH_N, psz);		/* nfunc */
	if (hw == 8) {
		putptr(s->buf + 8 + 2 * psz, text, psz);
		putptr(s->buf + 8 + 3 * psz, fname, psz);
	} else {
		putptr(s->buf + 8 + 2 * psz, fname, psz);
	}
	putptr(s->buf + 8 + (hw - 1) * psz, pcln, psz);
}

static void check_synth(uint32_t magic, unsigned psz)
{
	struct gotls_pcfunc f[3];
	struct synth s;
	size_t n;
	int r;

	synth_build(&s, magic, psz, 0x401000);
	CHECK_EQ_INT(gotls_pclntab_find(s.buf, s.len, 0, tls_names, 3, f), 2);
	/* the exact name, the first of two */
	CHECK(f[0].entry == 0x401080 && f[0].end == 0x4010c0, "%#x/%u Write %#lx-%#lx",
	      magic, psz, (unsigned long)f[0].entry, (unsigned long)f[0].end);
	CHECK(f[1].entry == 0x4010c0 && f[1].end == 0x401100, "%#x/%u Read %#lx", magic, psz,
	      (unsigned long)f[1].entry);
	CHECK(!f[2].entry && !f[2].end, "no Close");
	/* every truncation: a subset of the answers or -EBADMSG */
	for (n = 0; n < s.len; n++) {
		r = gotls_pclntab_find(s.buf, n, 0, tls_names, 3, f);
		CHECK(r == -EBADMSG || (r >= 0 && r <= 2), "%#x/%u len %zu: %d", magic, psz, n, r);
		CHECK(r <= 0 || f[0].entry == 0x401080 || f[1].entry == 0x4010c0,
		      "%#x/%u len %zu: wrong entry", magic, psz, n);
	}
}

static void test_pclntab_synthetic(void)
{
	struct gotls_pcfunc f[3];
	struct synth s, m;
	int r;

	check_synth(0xfffffffa, 8);	/* Go 1.16/1.17 */
	check_synth(0xfffffff0, 8);	/* Go 1.18/1.19 */
	check_synth(0xfffffff1, 8);	/* Go 1.20+ */
	check_synth(0xfffffff0, 4);
	check_synth(0xfffffffa, 4);

	/* 1.18+: the caller's text start when the header has none */
	synth_build(&s, 0xfffffff0, 8, 0);
	CHECK_EQ_INT(gotls_pclntab_find(s.buf, s.len, 0x2000, tls_names, 3, f), 2);
	CHECK_EQ_INT(f[0].entry, 0x2080);
	/* Go 1.2-1.15: stack ABI */
	synth_build(&s, 0xfffffff0, 8, 0x401000);
	put32(s.buf, 0xfffffffb);
	CHECK_EQ_INT(gotls_pclntab_find(s.buf, s.len, 0, tls_names, 3, f), -ENOTSUP);
	/* bad magic, pads, quantum, pointer size */
	for (int i = 0; i < 8; i++) {
		synth_build(&s, 0xfffffff0, 8, 0x401000);
		s.buf[i] ^= i < 4 ? 0x04 : 0x10;	/* f0^1 would be 1.20 */
		CHECK_EQ_INT(gotls_pclntab_find(s.buf, s.len, 0, tls_names, 3, f), -EBADMSG);
	}
	/* nfunc, name and pcln offsets out of range; a huge nfunc */
	synth_build(&s, 0xfffffff0, 8, 0x401000);
	put64(s.buf + 8, 0);
	CHECK_EQ_INT(gotls_pclntab_find(s.buf, s.len, 0, tls_names, 3, f), -EBADMSG);
	put64(s.buf + 8, UINT64_MAX / 2);
	CHECK_EQ_INT(gotls_pclntab_find(s.buf, s.len, 0, tls_names, 3, f), -EBADMSG);
	synth_build(&s, 0xfffffff0, 8, 0x401000);
	put64(s.buf + 8 + 3 * 8, s.len);
	CHECK_EQ_INT(gotls_pclntab_find(s.buf, s.len, 0, tls_names, 3, f), -EBADMSG);
	synth_build(&s, 0xfffffff0, 8, 0x401000);
	put64(s.buf + 8 + 7 * 8, UINT64_MAX - 3);
	CHECK_EQ_INT(gotls_pclntab_find(s.buf, s.len, 0, tls_names, 3, f), -EBADMSG);
	/* random byte flips anywhere: never a crash, never an entry outside */
	synth_build(&s, 0xfffffff0, 8, 0x401000);
	for (int it = 0; it < 20000; it++) {
		m = s;
		for (int k = 0, nk = 1 + rng() % 4; k < nk; k++)
			m.buf[rng() % m.len] = rng();
		r = gotls_pclntab_find(m.buf, m.len, 0, tls_names, 3, f);
		CHECK(r == -EBADMSG || r == -ENOTSUP || (r >= 0 && r <= 3), "flip %d: %d", it, r);
		for (int k = 0; r > 0 && k < 3; k++)
			CHECK(!f[k].entry || f[k].end > f[k].entry, "flip %d: end <= entry", it);
	}
}

/* --- files ---------------------------------------------------------------- */

static void test_not_go(void)
{
	struct gotls_syms s;
	uint8_t junk[4096];

	CHECK_EQ_INT(gotls_find("/bin/true", &s), -ENOENT);
	CHECK_EQ_INT(gotls_is_go("/bin/true"), 0);
	CHECK_EQ_INT(gotls_find("/nonexistent/go_llm", &s), -ENOENT);
	CHECK_EQ_INT(gotls_is_go("/nonexistent/go_llm"), 0);
	CHECK_EQ_INT(gotls_find("/etc/passwd", &s), -ENOENT);
	CHECK_EQ_INT(gotls_find("/", &s), -ENOENT);
	CHECK_EQ_INT(gotls_find("/dev/null", &s), -ENOENT);
	{
		char dir[] = "/tmp/test_gotls.XXXXXX", fifo[64];

		if (mkdtemp(dir)) {	/* a FIFO: no wait for a writer */
			snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
			if (!mkfifo(fifo, 0600)) {
				CHECK_EQ_INT(gotls_find(fifo, &s), -ENOENT);
				CHECK_EQ_INT(gotls_is_go(fifo), 0);
				unlink(fifo);
			}
			rmdir(dir);
		}
	}
	CHECK_EQ_INT(gotls_find_mem(junk, 0, &s), -ENOENT);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = rng();
	CHECK_EQ_INT(gotls_find_mem(junk, sizeof(junk), &s), -ENOENT);
	memcpy(junk, ELFMAG, SELFMAG);
	CHECK(gotls_find_mem(junk, sizeof(junk), &s) < 0, "junk ELF");
	CHECK(!s.write.nrets && !s.read.nrets, "junk ELF has RETs");
}

struct real {
	char path[512];
	uint8_t *img;
	size_t len;
	struct gotls_syms syms;
};

static struct real unstripped, stripped;

/* The unstripped build, checked against its own symbol table. */
static void test_go_llm(void)
{
	uint64_t wv, ws, rv, rs, cv, cs;
	struct real *u = &unstripped;
	int r;

	CHECK_EQ_INT(gotls_is_go(u->path), 1);
	r = gotls_find(u->path, &u->syms);
	CHECK_EQ_INT(r, 0);
	print_syms("go_llm", &u->syms);
	CHECK(gotls_go_minor(u->syms.version) >= 17, "version %s", u->syms.version);
	CHECK(u->syms.regabi == 1 && u->syms.stripped == 0, "regabi %d stripped %d",
	      u->syms.regabi, u->syms.stripped);
	CHECK(sym_lookup(u->img, u->len, WRITE_NAME, &wv, &ws) &&
	      sym_lookup(u->img, u->len, READ_NAME, &rv, &rs) &&
	      sym_lookup(u->img, u->len, CLOSE_NAME, &cv, &cs), "symbols");
	if (tap_cur_failed)
		return;
	CHECK_EQ_INT(u->syms.write.entry, va_off(u->img, wv));
	CHECK_EQ_INT(u->syms.read.entry, va_off(u->img, rv));
	CHECK_EQ_INT(u->syms.close, va_off(u->img, cv));
	check_rets("Write", u->img, u->len, &u->syms.write, ws, EM_X86_64);
	check_rets("Read", u->img, u->len, &u->syms.read, rs, EM_X86_64);
	/* the same through gotls_find_mem */
	{
		uint8_t *copy = malloc(u->len);
		struct gotls_syms m;

		memcpy(copy, u->img, u->len);
		CHECK_EQ_INT(gotls_find_mem(copy, u->len, &m), 0);
		CHECK(same_syms(&m, &u->syms), "find_mem differs");
		free(copy);
	}
}

/* -s -w: found through .gopclntab, at the same places (same text layout). */
static void test_go_llm_stripped(void)
{
	struct real *s = &stripped;
	uint64_t v, sz;

	CHECK(!sym_lookup(s->img, s->len, WRITE_NAME, &v, &sz), "has a symbol table");
	CHECK_EQ_INT(gotls_is_go(s->path), 1);
	CHECK_EQ_INT(gotls_find(s->path, &s->syms), 0);
	print_syms("go_llm_stripped", &s->syms);
	CHECK_EQ_INT(s->syms.stripped, 1);
	CHECK_EQ_INT(s->syms.regabi, 1);
	check_rets("Write", s->img, s->len, &s->syms.write, 0x10000, EM_X86_64);
	check_rets("Read", s->img, s->len, &s->syms.read, 0x10000, EM_X86_64);
	CHECK(s->syms.close > 0, "no Close");
	if (unstripped.img)
		CHECK(same_syms(&s->syms, &unstripped.syms), "stripped and unstripped differ");
}

/* Runs gotls_find_mem on a private copy of img after edit(). */
static int find_edited(const struct real *r, void (*edit)(uint8_t *, size_t, void *),
		       void *arg, struct gotls_syms *out)
{
	uint8_t *copy = malloc(r->len);
	int err;

	memcpy(copy, r->img, r->len);
	edit(copy, r->len, arg);
	err = gotls_find_mem(copy, r->len, out);
	free(copy);
	return err;
}

static void edit_no_symtab(uint8_t *img, size_t len, void *arg)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	Elf64_Shdr *sh = (Elf64_Shdr *)(img + eh->e_shoff);

	for (int i = 0; i < eh->e_shnum; i++)
		if (sh[i].sh_type == SHT_SYMTAB)
			sh[i].sh_type = SHT_PROGBITS;
}

/* The unstripped build without its symbol table: the pclntab gives the same. */
static void test_pclntab_matches_symtab(void)
{
	struct gotls_syms s;

	CHECK_EQ_INT(find_edited(&unstripped, edit_no_symtab, NULL, &s), 0);
	CHECK_EQ_INT(s.stripped, 1);
	CHECK(same_syms(&s, &unstripped.syms), "pclntab and symtab differ");
}

static void edit_magic_120(uint8_t *img, size_t len, void *arg)
{
	uint64_t off, addr, size;

	if (section(img, len, ".gopclntab", &off, &addr, &size))
		put32(img + off, 0xfffffff1);
}

static void edit_magic_12(uint8_t *img, size_t len, void *arg)
{
	uint64_t off, addr, size;

	if (section(img, len, ".gopclntab", &off, &addr, &size))
		put32(img + off, 0xfffffffb);
}

/* Go 1.20+ keeps the 1.18 layout under magic 0xfffffff1; 1.2-1.15's is
 * a stack-ABI Go. */
static void test_pclntab_magics(void)
{
	struct gotls_syms s;

	CHECK_EQ_INT(find_edited(&stripped, edit_magic_120, NULL, &s), 0);
	CHECK(same_syms(&s, &stripped.syms), "1.20 magic differs");
	CHECK_EQ_INT(find_edited(&stripped, edit_magic_12, NULL, &s), -ENOTSUP);
}

/* Rewrites .go.buildinfo in the pre-1.18 layout: pointers to string headers. */
static void edit_old_buildinfo(uint8_t *img, size_t len, void *arg)
{
	const char *ver = arg;
	uint64_t off, va, size;
	uint8_t *bi;

	if (!section(img, len, ".go.buildinfo", &off, &va, &size) || size < 80 + strlen(ver))
		return;
	bi = img + off;
	memset(bi + 14, 0, size - 14);
	bi[14] = 8;
	bi[15] = 0;			/* little-endian, pointers */
	put64(bi + 16, va + 48);	/* &buildVersion */
	put64(bi + 24, va + 64);	/* &modinfo */
	put64(bi + 48, va + 80);
	put64(bi + 56, strlen(ver));
	put64(bi + 64, va + 80);
	put64(bi + 72, 0);
	memcpy(bi + 80, ver, strlen(ver));
}

static void test_buildinfo_old_layout(void)
{
	struct gotls_syms s;

	CHECK_EQ_INT(find_edited(&stripped, edit_old_buildinfo, "go1.17.13", &s), 0);
	CHECK(!strcmp(s.version, "go1.17.13") && s.regabi == 1, "%s %d", s.version, s.regabi);
	CHECK(same_fn(&s.write, &stripped.syms.write), "Write differs");
	CHECK_EQ_INT(find_edited(&stripped, edit_old_buildinfo, "go1.16.15", &s), -ENOTSUP);
	CHECK(!strcmp(s.version, "go1.16.15") && s.regabi == 0, "%s %d", s.version, s.regabi);
	CHECK(s.write.entry == stripped.syms.write.entry, "entry kept for the message");
	CHECK_EQ_INT(find_edited(&stripped, edit_old_buildinfo, "go1.19.8 X:noregabi", &s),
		     -ENOTSUP);
	CHECK_EQ_INT(s.regabi, 0);
	CHECK_EQ_INT(find_edited(&stripped, edit_old_buildinfo, "devel +abc", &s), -ENOTSUP);
	CHECK(!strcmp(s.version, "devel +abc"), "%s", s.version);
}

static void edit_no_sections(uint8_t *img, size_t len, void *arg)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;

	eh->e_shoff = 0;
	eh->e_shnum = 0;
	eh->e_shstrndx = 0;
}

/* Without section headers the build info and pclntab are found by magic. */
static void test_no_sections(void)
{
	struct gotls_syms s;

	CHECK_EQ_INT(find_edited(&stripped, edit_no_sections, NULL, &s), 0);
	CHECK(same_syms(&s, &stripped.syms), "differs");
}

static void check_sound(const char *what, int r, const struct gotls_syms *s, size_t len)
{
	CHECK(r == 0 || r == -ENOENT || r == -ENOTSUP || r == -EBADMSG || r == -E2BIG,
	      "%s: %d", what, r);
	if (r)
		return;
	CHECK(s->write.nrets >= 1 && s->write.nrets <= GOTLS_MAX_RETS &&
	      s->read.nrets >= 1 && s->read.nrets <= GOTLS_MAX_RETS, "%s: RET counts", what);
	CHECK(s->write.entry < len && s->read.entry < len && s->close < len,
	      "%s: entry past the end", what);
	for (uint32_t i = 0; i < s->write.nrets && i < GOTLS_MAX_RETS; i++)
		CHECK(s->write.rets[i] < len, "%s: Write RET past the end", what);
	for (uint32_t i = 0; i < s->read.nrets && i < GOTLS_MAX_RETS; i++)
		CHECK(s->read.rets[i] < len, "%s: Read RET past the end", what);
}

/* Truncated copies: an error or an answer inside what is left. */
static void test_truncated(void)
{
	const struct real *r = &stripped;
	struct gotls_syms s;
	uint8_t *copy;
	char what[64];
	size_t n;

	copy = malloc(r->len);
	for (int i = 0; i <= 64; i++) {
		n = i < 8 ? (size_t)i * 9 : (r->len / 64) * i - (i & 1) * 7;
		if (n > r->len)
			n = r->len;
		memcpy(copy, r->img, n);
		snprintf(what, sizeof(what), "len %zu", n);
		check_sound(what, gotls_find_mem(copy, n, &s), &s, n);
	}
	free(copy);
}

/* Byte flips where the parsers look: ELF and program headers, section
 * headers, the pclntab header and functab, the build info, the code. */
static void test_mutations(void)
{
	const struct real *r = &stripped;
	uint64_t off[3], addr, size[3], lo, span;
	struct gotls_syms s;
	uint8_t *copy;
	char what[64];
	int ok = 0;

	if (!section(r->img, r->len, ".gopclntab", &off[0], &addr, &size[0]) ||
	    !section(r->img, r->len, ".go.buildinfo", &off[1], &addr, &size[1])) {
		CHECK(0, "sections");
		return;
	}
	off[2] = ((const Elf64_Ehdr *)r->img)->e_shoff;
	size[2] = r->len - off[2];
	copy = malloc(r->len);
	for (int it = 0; it < 300; it++) {
		memcpy(copy, r->img, r->len);
		for (int k = 0, nk = 1 + rng() % 4; k < nk; k++) {
			switch (rng() % 6) {
			case 0:
				lo = 0, span = 0x200;	/* ELF, program headers */
				break;
			case 1:
				lo = off[0], span = 0x60;		/* pcHeader */
				break;
			case 2:
				lo = off[0], span = size[0] < 0x40000 ? size[0] : 0x40000;
				break;
			case 3:
				lo = off[1], span = size[1];		/* build info */
				break;
			case 4:
				lo = off[2], span = size[2];		/* section headers */
				break;
			default:
				lo = r->syms.write.entry, span = 0x800;	/* code */
				break;
			}
			copy[lo + rng() % span] = rng();
		}
		snprintf(what, sizeof(what), "mutation %d", it);
		int e = gotls_find_mem(copy, r->len, &s);

		check_sound(what, e, &s, r->len);
		ok += !e;
	}
	printf("# mutations: %d of 300 still found the probes\n", ok);
	free(copy);
}

static void test_timing(void)
{
	struct gotls_syms s;
	double t0, t_u, t_s;
	const int runs = 10;

	t0 = now_ms();
	for (int i = 0; i < runs; i++)
		CHECK_EQ_INT(gotls_find(unstripped.path, &s), 0);
	t_u = (now_ms() - t0) / runs;
	t0 = now_ms();
	for (int i = 0; i < runs; i++)
		CHECK_EQ_INT(gotls_find(stripped.path, &s), 0);
	t_s = (now_ms() - t0) / runs;
	printf("# gotls_find (this build, sanitizers on): %.2f ms unstripped (%zu bytes), "
	       "%.2f ms stripped (%zu bytes)\n", t_u, unstripped.len, t_s, stripped.len);
	CHECK(t_u < 500 && t_s < 500, "too slow: %.1f / %.1f ms", t_u, t_s);
}

struct variant {
	const char *file;
	uint16_t machine;
	int want;		/* gotls_find's result */
	int stripped;
};

static const struct variant variants[] = {
	{ "go_llm_cgo", EM_X86_64, 0, 0 },
	{ "go_llm_pie_stripped", EM_X86_64, 0, 1 },
	{ "go_llm_arm64", EM_AARCH64, 0, 1 },
	{ "go_llm_386", EM_386, -ENOTSUP, 0 },
};

static const struct variant *cur_variant;

static void test_variant(void)
{
	const struct variant *v = cur_variant;
	uint64_t wv, ws;
	struct gotls_syms s;
	char path[512], what[128];
	uint8_t *img;
	size_t len;
	int r;

	bin_path(v->file, path, sizeof(path));
	img = slurp(path, &len);
	if (!img)
		return;
	CHECK_EQ_INT(gotls_is_go(path), 1);
	r = gotls_find(path, &s);
	CHECK_EQ_INT(r, v->want);
	print_syms(v->file, &s);
	CHECK(s.write.entry && s.read.entry && s.close, "entries");
	if (!r) {
		CHECK_EQ_INT(s.stripped, v->stripped);
		CHECK_EQ_INT(s.regabi, 1);
		check_rets("Write", img, len, &s.write, 0x10000, v->machine);
		check_rets("Read", img, len, &s.read, 0x10000, v->machine);
	}
	/* an unstripped one: the symbol table agrees, and so does its pclntab */
	if (!v->stripped && v->machine == EM_X86_64 &&
	    sym_lookup(img, len, WRITE_NAME, &wv, &ws)) {
		struct real rl = { .img = img, .len = len };
		struct gotls_syms p;

		CHECK_EQ_INT(s.write.entry, va_off(img, wv));
		CHECK_EQ_INT(find_edited(&rl, edit_no_symtab, NULL, &p), v->want);
		snprintf(what, sizeof(what), "%s: pclntab and symtab differ", v->file);
		CHECK(same_syms(&p, &s), "%s", what);
	}
	free(img);
}

/* Runs fn when the Go builds it needs were read, else says which are not. */
static void run_with(const char *name, void (*fn)(void), int need_u, int need_s)
{
	char why[1100];

	if ((!need_u || unstripped.img) && (!need_s || stripped.img)) {
		tap_run(name, fn);
		return;
	}
	snprintf(why, sizeof(why), "%s%s%s absent (make builds them with go)",
		 need_u && !unstripped.img ? unstripped.path : "",
		 need_u && !unstripped.img && need_s && !stripped.img ? ", " : "",
		 need_s && !stripped.img ? stripped.path : "");
	tap_skip(name, why);
}

#define RUN_WITH(fn, u, s) run_with(#fn, fn, u, s)

int main(void)
{
	char path[512], why[600];

	RUN(test_go_minor);
	RUN(test_buildinfo_version);
	RUN(test_rets_x86);
	RUN(test_rets_arm64);
	RUN(test_pclntab_synthetic);
	RUN(test_not_go);
	unstripped.img = slurp(bin_path("go_llm", unstripped.path, sizeof(unstripped.path)),
			       &unstripped.len);
	stripped.img = slurp(bin_path("go_llm_stripped", stripped.path, sizeof(stripped.path)),
			     &stripped.len);
	RUN_WITH(test_go_llm, 1, 0);
	RUN_WITH(test_go_llm_stripped, 0, 1);
	RUN_WITH(test_pclntab_matches_symtab, 1, 0);
	RUN_WITH(test_pclntab_magics, 0, 1);
	RUN_WITH(test_buildinfo_old_layout, 0, 1);
	RUN_WITH(test_no_sections, 0, 1);
	RUN_WITH(test_truncated, 0, 1);
	RUN_WITH(test_mutations, 0, 1);
	RUN_WITH(test_timing, 1, 1);
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		char name[64];

		cur_variant = &variants[i];
		snprintf(name, sizeof(name), "test_variant_%s", variants[i].file);
		if (access(bin_path(variants[i].file, path, sizeof(path)), R_OK)) {
			snprintf(why, sizeof(why), "%s absent (optional build)", path);
			tap_skip(name, why);
			continue;
		}
		tap_run(name, test_variant);
	}
	free(unstripped.img);
	free(stripped.img);
	return tap_done();
}
