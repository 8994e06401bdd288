// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Go crypto/tls probe points (see gotls.h).
 *
 * The file is read through libelf for its headers and symbol table; the Go
 * tables (.gopclntab, .go.buildinfo) and the code are read from the raw
 * image, every read bounds-checked against it, so a malformed file gives
 * an error and never a read out of the image.  Layouts, from the Go
 * runtime (runtime/symtab.go, debug/gosym, debug/buildinfo):
 *
 *   pcHeader	magic u32, 0, 0, minLC u8, ptrSize u8, then ptrSize words:
 *		1.16/1.17 (0xfffffffa): nfunc nfiles funcnameOffset cuOffset
 *			filetabOffset pctabOffset pclnOffset
 *		1.18/1.19 (0xfffffff0), 1.20+ (0xfffffff1): nfunc nfiles
 *			textStart funcnameOffset cuOffset filetabOffset
 *			pctabOffset pclnOffset
 *		(offsets from the header)
 *   functab	at pclnOffset: nfunc pairs {entry, funcoff} and one final
 *		entry (the end of text); uint32 offsets from textStart in
 *		1.18+, ptrSize pcs before; funcoff is from pclnOffset
 *   _func	entry (uint32 1.18+, ptrSize before), nameOff int32 into the
 *		funcname table (NUL-terminated names)
 *   buildinfo	"\xff Go buildinf:" ptrSize flags, 16-byte aligned; flags
 *		bit 1: version and module info follow at +32 as
 *		uvarint-prefixed strings (1.18+); else two pointers at +16 to
 *		Go string headers {ptr, len} (bit 0: big-endian)
 */
#include <capstone/capstone.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "gotls.h"

#define MAX_LOADS	32		/* PT_LOADs looked at (Go has 3-6) */
#define MAX_VERSION	128		/* longest version string read */

enum fn {
	FN_WRITE,
	FN_READ,
	FN_CLOSE,
	FN_TEXT,	/* runtime.text: textStart when the header's is 0 */
	FN__MAX,
};

static const char *const fn_names[FN__MAX] = {
	[FN_WRITE]	= "crypto/tls.(*Conn).Write",
	[FN_READ]	= "crypto/tls.(*Conn).Read",
	[FN_CLOSE]	= "crypto/tls.(*Conn).Close",
	[FN_TEXT]	= "runtime.text",
};

static const char bi_magic[] = "\xff Go buildinf:";	/* 14 bytes */

enum pcln_ver {
	PCLN_116 = 1,
	PCLN_118,	/* also 1.20+: same layout */
};

struct seg {
	uint64_t vaddr, off, filesz;
	uint32_t flags;
};

struct image {
	const uint8_t *p;	/* the whole file */
	size_t len;
	Elf *elf;
	uint16_t machine;
	int class64;
	int lsb;
	int nosections;		/* no section headers: find tables by magic */
	struct seg load[MAX_LOADS];
	size_t nload;
	const uint8_t *buildinfo;
	size_t buildinfo_len;
	const uint8_t *pclntab;
	size_t pclntab_len;
	uint64_t text_addr;	/* .text sh_addr */
	Elf_Scn *symtab;
};

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint64_t rdptr(const uint8_t *p, unsigned sz)
{
	return sz == 8 ? rd64(p) : rd32(p);
}

/* [off, off + n) of the file, or NULL. */
static const uint8_t *file_at(const struct image *img, uint64_t off, uint64_t n)
{
	if (off > img->len || n > img->len - off)
		return NULL;
	return img->p + off;
}

/* The file bytes behind [va, va + n), in one PT_LOAD (executable if exec). */
static const uint8_t *va_at(const struct image *img, uint64_t va, uint64_t n,
			    int exec, uint64_t *off)
{
	const struct seg *s;
	size_t i;

	for (i = 0; i < img->nload; i++) {
		s = &img->load[i];
		if (va < s->vaddr || va - s->vaddr >= s->filesz ||
		    n > s->filesz - (va - s->vaddr))
			continue;
		if (exec && !(s->flags & PF_X))
			continue;
		if (off)
			*off = s->off + (va - s->vaddr);
		return file_at(img, s->off + (va - s->vaddr), n);
	}
	return NULL;
}

/* First occurrence of pat in [p, p + len) at a file offset aligned to align. */
static const uint8_t *find_aligned(const struct image *img, const uint8_t *p, size_t len,
				   const void *pat, size_t plen, size_t align)
{
	const uint8_t *end = p + len, *q;

	while (p < end && (q = memmem(p, end - p, pat, plen))) {
		if (!((size_t)(q - img->p) % align))
			return q;
		p = q + 1;
	}
	return NULL;
}

static int load_image(struct image *img)
{
	size_t i, n, shstrndx;
	Elf_Scn *scn = NULL;
	const char *name;
	GElf_Ehdr eh;
	GElf_Phdr ph;
	GElf_Shdr sh;
	struct seg *s;

	if (elf_kind(img->elf) != ELF_K_ELF || !gelf_getehdr(img->elf, &eh))
		return -ENOENT;
	img->machine = eh.e_machine;
	img->class64 = eh.e_ident[EI_CLASS] == ELFCLASS64;
	img->lsb = eh.e_ident[EI_DATA] == ELFDATA2LSB;
	if (!elf_getphdrnum(img->elf, &n)) {
		for (i = 0; i < n && img->nload < MAX_LOADS; i++) {
			if (!gelf_getphdr(img->elf, i, &ph) || ph.p_type != PT_LOAD ||
			    ph.p_offset > img->len)
				continue;
			s = &img->load[img->nload++];
			s->vaddr = ph.p_vaddr;
			s->off = ph.p_offset;
			s->filesz = ph.p_filesz < img->len - ph.p_offset ?
				    ph.p_filesz : img->len - ph.p_offset;
			if (s->filesz > ph.p_memsz)
				s->filesz = ph.p_memsz;
			s->flags = ph.p_flags;
		}
	}
	if (elf_getshdrnum(img->elf, &n) || !n || elf_getshdrstrndx(img->elf, &shstrndx)) {
		img->nosections = 1;
		return 0;
	}
	while ((scn = elf_nextscn(img->elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB && !img->symtab) {
			img->symtab = scn;
			continue;
		}
		name = elf_strptr(img->elf, shstrndx, sh.sh_name);
		if (!name || sh.sh_type == SHT_NOBITS)
			continue;
		if (!strcmp(name, ".text")) {
			img->text_addr = sh.sh_addr;
		} else if (!strcmp(name, ".go.buildinfo")) {
			img->buildinfo = file_at(img, sh.sh_offset, sh.sh_size);
			img->buildinfo_len = img->buildinfo ? sh.sh_size : 0;
		} else if (!strcmp(name, ".gopclntab") ||
			   !strcmp(name, ".data.rel.ro.gopclntab")) {	/* PIE */
			img->pclntab = file_at(img, sh.sh_offset, sh.sh_size);
			img->pclntab_len = img->pclntab ? sh.sh_size : 0;
		}
	}
	return 0;
}

/* The build info: its section, or its magic in a writable segment of a file
 * without sections. */
static const uint8_t *find_buildinfo(const struct image *img, size_t *len)
{
	const struct seg *s;
	const uint8_t *q;
	size_t i;

	if (img->buildinfo) {
		q = find_aligned(img, img->buildinfo, img->buildinfo_len, bi_magic,
				 sizeof(bi_magic) - 1, 16);
		*len = q ? img->buildinfo_len - (q - img->buildinfo) : 0;
		return q;
	}
	if (!img->nosections)
		return NULL;
	for (i = 0; i < img->nload; i++) {
		s = &img->load[i];
		if (!(s->flags & PF_W) || (s->flags & PF_X))
			continue;
		q = find_aligned(img, img->p + s->off, s->filesz, bi_magic,
				 sizeof(bi_magic) - 1, 16);
		if (q) {
			*len = s->filesz - (q - (img->p + s->off));
			return q;
		}
	}
	return NULL;
}

static int is_go(const struct image *img)
{
	size_t len;

	return img->pclntab || img->buildinfo || find_buildinfo(img, &len);
}

int gotls_buildinfo_version(const uint8_t *bi, size_t len, char *ver, size_t vlen)
{
	uint64_t slen = 0;
	size_t pos = 32, n;
	unsigned shift;
	uint8_t b;

	if (len < 32 || memcmp(bi, bi_magic, sizeof(bi_magic) - 1))
		return -EBADMSG;
	if (!(bi[15] & 2))
		return -EAGAIN;
	for (shift = 0;; shift += 7) {
		if (pos >= len || shift > 63)
			return -EBADMSG;
		b = bi[pos++];
		slen |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
	}
	if (slen > len - pos || slen > 4096)
		return -EBADMSG;
	if (vlen) {
		n = slen < vlen - 1 ? slen : vlen - 1;
		memcpy(ver, bi + pos, n);
		ver[n] = 0;
	}
	return (int)slen;
}

/* Go < 1.18: pointers at +16 to the version's string header. */
static int buildinfo_version_ptr(const struct image *img, const uint8_t *bi, size_t len,
				 char *ver, size_t vlen)
{
	unsigned psz = bi[14];
	const uint8_t *hdr, *s;
	uint64_t data, slen;

	if ((bi[15] & 1) || (psz != 4 && psz != 8) || len < 16 + 2 * (size_t)psz)
		return -EBADMSG;
	hdr = va_at(img, rdptr(bi + 16, psz), 2 * psz, 0, NULL);
	if (!hdr)
		return -EBADMSG;
	data = rdptr(hdr, psz);
	slen = rdptr(hdr + psz, psz);
	if (!slen || slen >= vlen)
		return -EBADMSG;
	s = va_at(img, data, slen, 0, NULL);
	if (!s)
		return -EBADMSG;
	memcpy(ver, s, slen);
	ver[slen] = 0;
	return (int)slen;
}

int gotls_go_minor(const char *v)
{
	int minor = 0, digits = 0;

	if (!strncmp(v, "devel ", 6))
		v += 6;
	if (strncmp(v, "go1.", 4))
		return -EINVAL;
	for (v += 4; *v >= '0' && *v <= '9'; v++) {
		if (++digits > 4)
			return -EINVAL;
		minor = minor * 10 + (*v - '0');
	}
	return digits ? minor : -EINVAL;
}

/* Register ABIInternal: amd64 from go1.17, arm64 from go1.18, unless the
 * build turned it off (GOEXPERIMENT noregabi shows in the version). */
static int has_regabi(uint16_t machine, const char *version)
{
	int minor = gotls_go_minor(version);

	if (minor < 0 || strstr(version, "noregabi"))
		return 0;
	return (machine == EM_X86_64 && minor >= 17) || (machine == EM_AARCH64 && minor >= 18);
}

/* Does the NUL-terminated name at tab[pos] equal want? */
static int name_eq(const uint8_t *tab, size_t len, uint64_t pos, const char *want)
{
	size_t n = strlen(want) + 1;

	return pos <= len && n <= len - pos && !memcmp(tab + pos, want, n);
}

int gotls_pclntab_find(const uint8_t *tab, size_t len, uint64_t text_start,
		       const char *const *names, size_t n, struct gotls_pcfunc *out)
{
	uint64_t nfunc, fname, pcln, funcoff, name, entry, end, fsz, i;
	unsigned psz, hw;
	enum pcln_ver ver;
	size_t k, found = 0;
	const uint8_t *ft;
	uint32_t magic;

	memset(out, 0, n * sizeof(*out));
	if (len < 8 || tab[4] || tab[5] || (tab[6] != 1 && tab[6] != 2 && tab[6] != 4) ||
	    (tab[7] != 4 && tab[7] != 8))
		return -EBADMSG;
	magic = rd32(tab);
	if (magic == 0xfffffffa)
		ver = PCLN_116;
	else if (magic == 0xfffffff0 || magic == 0xfffffff1)
		ver = PCLN_118;
	else
		return magic == 0xfffffffb ? -ENOTSUP : -EBADMSG;
	psz = tab[7];
	hw = ver == PCLN_118 ? 8 : 7;	/* header words */
	if (len < 8 + (size_t)hw * psz)
		return -EBADMSG;
#define WORD(i) rdptr(tab + 8 + (i) * psz, psz)
	nfunc = WORD(0);
	if (ver == PCLN_118) {
		if (WORD(2))
			text_start = WORD(2);
		fname = WORD(3);
	} else {
		text_start = 0;
		fname = WORD(2);
	}
	pcln = WORD(hw - 1);
#undef WORD
	fsz = ver == PCLN_118 ? 4 : psz;
	if (fname >= len || pcln >= len || !nfunc ||
	    nfunc > (len - pcln) / fsz / 2 || (2 * nfunc + 1) * fsz > len - pcln)
		return -EBADMSG;
	ft = tab + pcln;
	for (i = 0; i < nfunc && found < n; i++) {
		funcoff = rdptr(ft + (2 * i + 1) * fsz, fsz);
		if (funcoff > len - pcln || fsz + 4 > len - pcln - funcoff)
			return -EBADMSG;
		/* nameOff follows the entry: an int32, a negative one fails the bound */
		name = fname + rd32(ft + funcoff + fsz);
		for (k = 0; k < n; k++) {
			if (out[k].entry || !name_eq(tab, len, name, names[k]))
				continue;
			entry = rdptr(ft + 2 * i * fsz, fsz);
			end = rdptr(ft + (2 * i + 2) * fsz, fsz);
			if (ver == PCLN_118) {
				entry += text_start;
				end += text_start;
			}
			if (!entry || end <= entry)
				return -EBADMSG;
			out[k].entry = entry;
			out[k].end = end;
			found++;
			break;
		}
	}
	return (int)found;
}

/* Entry and end of the functions in the symbol table (end 0: no size). */
static void scan_symtab(const struct image *img, struct gotls_pcfunc *f)
{
	size_t i, n, esz = gelf_fsize(img->elf, ELF_T_SYM, 1, EV_CURRENT);
	Elf_Data *data;
	const char *name;
	GElf_Shdr sh;
	GElf_Sym sym;
	int k;

	if (!img->symtab || !esz || !gelf_getshdr(img->symtab, &sh) ||
	    !(data = elf_getdata(img->symtab, NULL)))
		return;
	n = data->d_size / esz;
	for (i = 0; i < n; i++) {
		if (!gelf_getsym(data, i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_value)
			continue;
		name = elf_strptr(img->elf, sh.sh_link, sym.st_name);
		if (!name || (name[0] != 'c' && name[0] != 'r'))
			continue;
		for (k = 0; k < FN__MAX; k++) {
			if (f[k].entry || strcmp(name, fn_names[k]))
				continue;
			if (k != FN_TEXT && GELF_ST_TYPE(sym.st_info) != STT_FUNC)
				continue;
			f[k].entry = sym.st_value;
			f[k].end = sym.st_size ? sym.st_value + sym.st_size : 0;
			break;
		}
	}
}

/*
 * The pclntab: its section, else (a stripped externally linked PIE keeps it
 * inside .data.rel.ro) the first header in a segment without code that
 * parses as a table naming one of our functions.
 */
static int pclntab_lookup(const struct image *img, uint64_t text_start,
			  struct gotls_pcfunc *f)
{
	static const uint8_t mid[5] = { 0xff, 0xff, 0xff, 0x00, 0x00 };
	size_t i, align = img->class64 ? 8 : 4, left;
	const uint8_t *p, *end, *q;
	const struct seg *s;
	int err;

	if (img->pclntab)
		return gotls_pclntab_find(img->pclntab, img->pclntab_len, text_start,
					  fn_names, FN_TEXT, f);
	/* magic f0/f1/fa ff ff ff, then 00 00 */
	for (i = 0; i < img->nload; i++) {
		s = &img->load[i];
		if (s->flags & PF_X)
			continue;
		p = img->p + s->off + 1;
		end = img->p + s->off + s->filesz;
		while (p < end && (q = find_aligned(img, p, end - p, mid, sizeof(mid), 1))) {
			p = q + 1;
			q--;
			if ((size_t)(q - img->p) % align ||
			    (q[0] != 0xf0 && q[0] != 0xf1 && q[0] != 0xfa))
				continue;
			left = end - q;
			/* a table without our names is as good as garbage here */
			err = gotls_pclntab_find(q, left, text_start, fn_names, FN_TEXT, f);
			if (err > 0)
				return err;
		}
	}
	return -ENOENT;
}

static int open_cs(uint16_t machine, csh *h)
{
	cs_err e;

	if (machine == EM_X86_64)
		e = cs_open(CS_ARCH_X86, CS_MODE_64, h);
	else if (machine == EM_AARCH64)
		e = cs_open(CS_ARCH_ARM64, CS_MODE_ARM, h);
	else
		return -ENOTSUP;
	if (e == CS_ERR_OK)
		return 0;
	return e == CS_ERR_MEM ? -ENOMEM : -ENOTSUP;
}

static int find_rets(csh h, uint16_t machine, const uint8_t *code, size_t len,
		     uint64_t addr, uint64_t *rets, uint32_t max)
{
	unsigned ret_id = machine == EM_X86_64 ? X86_INS_RET : ARM64_INS_RET;
	uint64_t n = 0;
	cs_insn *insn;
	size_t skip;
	int err = 0;

	insn = cs_malloc(h);
	if (!insn)
		return -ENOMEM;
	while (len) {
		if (!cs_disasm_iter(h, &code, &len, &addr, insn)) {
			/* a literal pool, padding: arm64 words are independent */
			if (machine != EM_AARCH64) {
				err = -EBADMSG;
				goto out_insn;
			}
			skip = len < 4 ? len : 4;
			code += skip;
			len -= skip;
			addr += skip;
			continue;
		}
		if (insn->id == ret_id) {
			if (n < max)
				rets[n] = insn->address;
			n++;
		}
	}
	err = n > max ? -E2BIG : (int)n;
out_insn:
	cs_free(insn, 1);
	return err;
}

int gotls_rets(uint16_t machine, const uint8_t *code, size_t len, uint64_t addr,
	       uint64_t *rets, uint32_t max)
{
	csh h;
	int err;

	err = open_cs(machine, &h);
	if (err)
		return err;
	err = find_rets(h, machine, code, len, addr, rets, max);
	cs_close(&h);
	return err;
}

/* Entry and RETs of one function, as file offsets. */
static int probe_fn(const struct image *img, csh h, const struct gotls_pcfunc *f,
		    struct gotls_fn *out)
{
	uint64_t size = f->end - f->entry, off;
	const uint8_t *code;
	uint32_t i;
	int n;

	if (!f->end || f->end <= f->entry || size > GOTLS_MAX_FN_SIZE)
		return -EBADMSG;
	code = va_at(img, f->entry, size, 1, &off);
	if (!code)
		return -EBADMSG;
	out->entry = off;
	n = find_rets(h, img->machine, code, size, f->entry, out->rets, GOTLS_MAX_RETS);
	if (n < 0)
		return n;
	if (!n)
		return -ENOTSUP;
	out->nrets = n;
	for (i = 0; i < out->nrets; i++)
		out->rets[i] = out->rets[i] - f->entry + off;
	return 0;
}

static void find_version(const struct image *img, struct gotls_syms *out, char *ver)
{
	const uint8_t *bi;
	size_t len;
	int err;

	ver[0] = 0;
	bi = find_buildinfo(img, &len);
	if (!bi)
		return;
	err = gotls_buildinfo_version(bi, len, ver, MAX_VERSION);
	if (err == -EAGAIN)
		err = buildinfo_version_ptr(img, bi, len, ver, MAX_VERSION);
	if (err < 0)
		ver[0] = 0;
	len = strnlen(ver, sizeof(out->version) - 1);
	memcpy(out->version, ver, len);
	out->version[len] = 0;
}

static int analyse(struct image *img, struct gotls_syms *out)
{
	struct gotls_pcfunc f[FN__MAX] = { 0 }, pc[FN_TEXT];
	char ver[MAX_VERSION];
	uint64_t text;
	int err, k;
	csh h;

	err = load_image(img);
	if (err)
		return err;
	if (!is_go(img))
		return -ENOENT;
	if (!img->lsb)
		return -ENOTSUP;
	find_version(img, out, ver);
	out->regabi = has_regabi(img->machine, ver);

	scan_symtab(img, f);
	if (!f[FN_WRITE].end || !f[FN_READ].end) {
		text = f[FN_TEXT].entry ? f[FN_TEXT].entry : img->text_addr;
		err = pclntab_lookup(img, text, pc);
		if (err < 0)
			return err == -EBADMSG || err == -ENOTSUP ? err : -ENOENT;
		for (k = 0; k < FN_TEXT; k++)
			f[k] = pc[k];
		out->stripped = 1;
	}
	if (!f[FN_WRITE].entry || !f[FN_READ].entry)
		return -ENOENT;
	if (!va_at(img, f[FN_WRITE].entry, 1, 1, &out->write.entry) ||
	    !va_at(img, f[FN_READ].entry, 1, 1, &out->read.entry))
		return -EBADMSG;
	if (f[FN_CLOSE].entry && !va_at(img, f[FN_CLOSE].entry, 1, 1, &out->close))
		out->close = 0;
	if (!ver[0] || !out->regabi || !img->class64)
		return -ENOTSUP;

	err = open_cs(img->machine, &h);
	if (err)
		return err;
	err = probe_fn(img, h, &f[FN_WRITE], &out->write);
	if (!err)
		err = probe_fn(img, h, &f[FN_READ], &out->read);
	cs_close(&h);
	return err;
}

int gotls_find_mem(void *buf, size_t len, struct gotls_syms *out)
{
	struct image img = { .p = buf, .len = len };
	int err;

	memset(out, 0, sizeof(*out));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	img.elf = elf_memory(buf, len);
	if (!img.elf)
		return -ENOENT;
	err = analyse(&img, out);
	elf_end(img.elf);
	return err;
}

/* Opens path into img (libelf maps the file). */
static int open_image(const char *path, struct image *img, int *fd)
{
	const char *raw;
	struct stat st;
	size_t len;

	memset(img, 0, sizeof(*img));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	*fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);	/* no wait on a FIFO */
	if (*fd < 0)
		return -errno;
	if (fstat(*fd, &st) || !S_ISREG(st.st_mode)) {
		close(*fd);
		return -ENOENT;
	}
	img->elf = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
	if (!img->elf || elf_kind(img->elf) != ELF_K_ELF ||
	    !(raw = elf_rawfile(img->elf, &len))) {
		elf_end(img->elf);
		close(*fd);
		return -ENOENT;
	}
	img->p = (const uint8_t *)raw;
	img->len = len;
	return 0;
}

int gotls_find(const char *path, struct gotls_syms *out)
{
	struct image img;
	int err, fd;

	memset(out, 0, sizeof(*out));
	err = open_image(path, &img, &fd);
	if (err)
		return err;
	err = analyse(&img, out);
	elf_end(img.elf);
	close(fd);
	return err;
}

int gotls_is_go(const char *path)
{
	struct image img;
	int fd, go;

	if (open_image(path, &img, &fd))
		return 0;
	go = !load_image(&img) && is_go(&img);
	elf_end(img.elf);
	close(fd);
	return go;
}
