// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>
#include "elfsym.h"

const char *const elfsym_ssl_fn_names[SSL_FN__MAX] = {
	[SSL_FN_WRITE]		= "SSL_write",
	[SSL_FN_WRITE_EX]	= "SSL_write_ex",
	[SSL_FN_READ]		= "SSL_read",
	[SSL_FN_READ_EX]	= "SSL_read_ex",
	[SSL_FN_FREE]		= "SSL_free",
};

/* Virtual address to file offset, through the executable PT_LOAD segment. */
static uint64_t vaddr_to_off(Elf *elf, uint64_t vaddr)
{
	size_t i, n;
	GElf_Phdr ph;

	if (elf_getphdrnum(elf, &n))
		return 0;
	for (i = 0; i < n; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_memsz)
			return vaddr - ph.p_vaddr + ph.p_offset;
	}
	return 0;
}

static void scan_symtab(Elf *elf, Elf_Scn *scn, GElf_Shdr *sh,
			const char *const *names, size_t nnames, uint64_t *offs)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t i, n, k;
	GElf_Sym sym;
	const char *name;

	if (!data || !sh->sh_entsize)
		return;
	n = sh->sh_size / sh->sh_entsize;
	for (i = 0; i < n; i++) {
		if (!gelf_getsym(data, i, &sym))
			continue;
		if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF ||
		    !sym.st_value)
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name || name[0] != names[0][0])	/* all names share a first letter */
			continue;
		for (k = 0; k < nnames; k++)
			if (!offs[k] && !strcmp(name, names[k]))
				offs[k] = vaddr_to_off(elf, sym.st_value);
	}
}

int elfsym_find(const char *path, const char *const *names, size_t n, uint64_t *offs)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t i, found;
	Elf *elf;
	int fd, err = 0, pass;

	memset(offs, 0, n * sizeof(*offs));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		err = -ENOEXEC;
		goto out_elf;
	}
	/* Dynamic symbols first; the full table only if they were not enough. */
	for (pass = 0; pass < 2; pass++) {
		scn = NULL;
		while ((scn = elf_nextscn(elf, scn))) {
			if (!gelf_getshdr(scn, &sh))
				continue;
			if (sh.sh_type == (pass ? SHT_SYMTAB : SHT_DYNSYM))
				scan_symtab(elf, scn, &sh, names, n, offs);
		}
		for (i = found = 0; i < n; i++)
			found += !!offs[i];
		if (found == n)
			break;
	}
out_elf:
	elf_end(elf);
	close(fd);
	return err;
}

int elfsym_ssl(const char *path, struct ssl_syms *out)
{
	int err = elfsym_find(path, elfsym_ssl_fn_names, SSL_FN__MAX, out->off);

	if (err)
		return err;
	return out->off[SSL_FN_WRITE] && out->off[SSL_FN_READ] ? 0 : -ENOENT;
}

int elfsym_gnutls(const char *path, struct ssl_syms *out)
{
	/* same arguments and results as SSL_write, SSL_read and SSL_free */
	static const char *const names[] = {
		"gnutls_record_send", "gnutls_record_recv", "gnutls_deinit",
	};
	uint64_t offs[3];
	int err = elfsym_find(path, names, 3, offs);

	memset(out, 0, sizeof(*out));
	if (err)
		return err;
	out->off[SSL_FN_WRITE] = offs[0];
	out->off[SSL_FN_READ] = offs[1];
	out->off[SSL_FN_FREE] = offs[2];
	return offs[0] && offs[1] ? 0 : -ENOENT;
}

/*
 * TLS built into an executable without symbols to probe: BoringSSL (its
 * name is in its own strings: Bun, Chrome) or rustls (the crate's name is
 * in its panic and error strings).  Read-only data sections are searched,
 * once per file.
 */
int elfsym_tls_marker(const char *path)
{
	static const struct {
		const char *s;
		int kind;
	} marks[] = {
		{ "BoringSSL", ELFSYM_TLS_BORINGSSL },
		{ "rustls", ELFSYM_TLS_RUSTLS },
	};
	Elf_Scn *scn = NULL;
	const char *name;
	size_t shstrndx, i;
	Elf_Data *d;
	GElf_Shdr sh;
	int fd, found = 0;
	Elf *elf;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getshdrstrndx(elf, &shstrndx))
		goto out_elf;
	while (!found && (scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    (sh.sh_flags & (SHF_WRITE | SHF_EXECINSTR)))
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name || strncmp(name, ".rodata", 7))
			continue;
		d = elf_rawdata(scn, NULL);
		if (!d || !d->d_buf)
			continue;
		for (i = 0; i < sizeof(marks) / sizeof(marks[0]) && !found; i++)
			if (memmem(d->d_buf, d->d_size, marks[i].s, strlen(marks[i].s)))
				found = marks[i].kind;
	}
out_elf:
	elf_end(elf);
	close(fd);
	return found;
}
