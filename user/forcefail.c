// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * forcefail: make one held SSL_write / SSL_write_ex return an error.
 *
 * The thread is group-stopped by the block uprobe right after the
 * function's first instruction.  We PTRACE_SEIZE it (a group-stopped
 * thread reports PTRACE_EVENT_STOP at once), check that its registers are
 * exactly what that one instruction leaves behind, and rewrite them as if
 * the function had returned at once: %rax = the failure value, %rip = the
 * return address at entry_sp, %rsp = entry_sp + 8.  The first instruction
 * is read from the file, because memory at the entry holds the uprobe's
 * int3.  Only instructions whose whole effect we can undo are accepted
 * (endbr64, push %reg, sub $imm,%rsp); anything else is refused before we
 * touch the thread, and the caller releases the call unforced.
 *
 * SSL's rwstate is reset to SSL_NOTHING as well: the write never ran, so
 * rwstate still says what the last call left there (often SSL_READING in
 * an event-driven client), and SSL_get_error would report "want read" for
 * our failure; such clients then retry the write forever.
 *
 * Callee-saved registers need no repair: push and sub do not change them,
 * and the stack slot a push wrote lies below the restored %rsp.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#if defined(__x86_64__)
#include <sys/user.h>
#endif
#include "forcefail.h"

#define FF_CODE_MAX	16	/* an x86 instruction is at most 15 bytes */
#define FF_WANT_MAX	48	/* longest SSL_want we accept is 35 bytes */
#define FF_XOR_MAX	8	/* register-clearing xors before ret */
#define FF_SSL_NOTHING	1	/* OpenSSL's rwstate "no I/O pending" */
#define FF_RWSTATE_MAX	16	/* OpenSSL 3.0 uses 1..8: past that the offset is wrong */
#define FF_STOP_WAIT_MS	1000	/* a group-stopped thread reports at once */

static const uint8_t endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* 1 when code (len bytes) is a strict prefix of pat: more bytes may match. */
static int short_prefix(const uint8_t *code, size_t len, const uint8_t *pat, size_t plen)
{
	return len < plen && !memcmp(code, pat, len);
}

int forcefail_decode_first(const uint8_t *code, size_t len, uint32_t *sp_drop)
{
	int64_t imm;
	size_t n;

	if (!len)
		return -EAGAIN;
	if (len >= 4 && !memcmp(code, endbr64, 4)) {
		*sp_drop = 0;
		return 4;
	}
	if (short_prefix(code, len, endbr64, 4))
		return -EAGAIN;
	/* push %rax..%rdi (50+r); push %r8..%r15 (41 50+r) */
	if (code[0] >= 0x50 && code[0] <= 0x57) {
		*sp_drop = 8;
		return 1;
	}
	if (code[0] == 0x41) {
		if (len < 2)
			return -EAGAIN;
		if (code[1] < 0x50 || code[1] > 0x57)
			return -ENOTSUP;
		*sp_drop = 8;
		return 2;
	}
	/* sub $imm8,%rsp (48 83 ec ib), sub $imm32,%rsp (48 81 ec id) */
	if (code[0] != 0x48)
		return -ENOTSUP;
	if (len < 2)
		return -EAGAIN;
	if (code[1] != 0x83 && code[1] != 0x81)
		return -ENOTSUP;
	if (len < 3)
		return -EAGAIN;
	if (code[2] != 0xec)
		return -ENOTSUP;
	n = code[1] == 0x83 ? 4 : 7;
	if (len < n)
		return -EAGAIN;
	imm = code[1] == 0x83 ? (int8_t)code[3] : (int32_t)le32(code + 3);
	/* A negative immediate would move %rsp up: no prologue does that. */
	if (imm <= 0)
		return -ENOTSUP;
	*sp_drop = (uint32_t)imm;
	return (int)n;
}

/*
 * xor %r32,%r32 (31 or 33 /r, same register both sides, REX 45 for r8d..
 * r15d), but never %eax: that is SSL_want's result.  gcc's
 * -fzero-call-used-regs=used-gpr (Debian 12's libssl.so.3) puts these
 * before ret.  Returns the length, -EAGAIN or -ENOTSUP.
 */
static int xor_zero_len(const uint8_t *p, size_t n)
{
	size_t k = 0;
	uint8_t m;

	if (p[0] == 0x45)
		k = 1;
	if (n < k + 1)
		return -EAGAIN;
	if (p[k] != 0x31 && p[k] != 0x33)
		return -ENOTSUP;
	if (n < k + 2)
		return -EAGAIN;
	m = p[k + 1];
	if ((m & 0xc0) != 0xc0 || ((m >> 3) & 7) != (m & 7))
		return -ENOTSUP;
	if (!k && !(m & 7))
		return -ENOTSUP;
	return (int)k + 2;
}

int64_t forcefail_decode_sslwant(const uint8_t *code, size_t len)
{
	size_t i = 0, nxor = 0;
	int64_t off;
	int n;

	if (len >= 4 && !memcmp(code, endbr64, 4))
		i = 4;
	else if (short_prefix(code, len, endbr64, 4))
		return -EAGAIN;
	/* mov disp8(%rdi),%eax (8b 47 d8) or mov disp32(%rdi),%eax (8b 87 d32) */
	if (len - i < 1)
		return -EAGAIN;
	if (code[i] != 0x8b)
		return -ENOTSUP;
	if (len - i < 2)
		return -EAGAIN;
	if (code[i + 1] == 0x47) {
		if (len - i < 3)
			return -EAGAIN;
		off = (int8_t)code[i + 2];
		i += 3;
	} else if (code[i + 1] == 0x87) {
		if (len - i < 6)
			return -EAGAIN;
		off = (int32_t)le32(code + i + 2);
		i += 6;
	} else {
		return -ENOTSUP;
	}
	if (off < 0)
		return -ENOTSUP;
	for (;;) {
		if (i >= len)
			return -EAGAIN;
		if (code[i] == 0xc3)
			return off;
		if (nxor++ == FF_XOR_MAX)
			return -ENOTSUP;
		n = xor_zero_len(code + i, len - i);
		if (n < 0)
			return n;
		i += (size_t)n;
	}
}

/* 0 if fd is a 64-bit little-endian x86-64 ELF file, else -ENOEXEC. */
static int elf_x86_64(int fd)
{
	Elf64_Ehdr eh;

	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh))
		return -ENOEXEC;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		return -ENOEXEC;
	return 0;
}

int64_t forcefail_rwstate_off(const char *path, uint64_t sslwant_file_off)
{
	uint8_t code[FF_WANT_MAX];
	int64_t ret;
	ssize_t n;
	int fd;

	/* elfsym_find() says 0 for "absent": no function starts at offset 0. */
	if (!sslwant_file_off)
		return -ENOENT;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = elf_x86_64(fd);
	if (ret)
		goto out_fd;
	n = pread(fd, code, sizeof(code), (off_t)sslwant_file_off);
	if (n < 0) {
		ret = -errno;
		goto out_fd;
	}
	ret = forcefail_decode_sslwant(code, (size_t)n);
	if (ret == -EAGAIN)	/* the file ends inside it */
		ret = -ENOTSUP;
out_fd:
	close(fd);
	return ret;
}

#if defined(__x86_64__)

static void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

struct ff_map {
	uint64_t start, end, pgoff, ino;
	char perms[5];
	char path[4096];	/* empty for anonymous and [special] mappings */
};

/* The mapping of the process that holds addr: 0, -ENOENT or -errno. */
static int find_map(pid_t tgid, uint64_t addr, struct ff_map *m)
{
	char fn[64], line[4096 + 128], *p;
	unsigned int maj, min;
	int err = -ENOENT, pos;
	size_t n;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/maps", tgid);
	f = fopen(fn, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (fgets(line, sizeof(line), f)) {
		pos = 0;
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64 " %n",
			   &m->start, &m->end, m->perms, &m->pgoff, &maj, &min, &m->ino,
			   &pos) < 7 || !pos)
			continue;
		if (addr < m->start || addr >= m->end)
			continue;
		p = line + pos;
		n = strcspn(p, "\n");
		p[n] = '\0';
		if (p[0] != '/' || n >= sizeof(m->path))
			n = 0;
		memcpy(m->path, p, n);
		m->path[n] = '\0';
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

/*
 * Opens the file behind a mapping: through /proc/TGID/map_files, the very
 * file mapped even if it was replaced on disk since (a library upgrade) or
 * lives in another mount namespace; else by name from the process's root,
 * if that is still the same inode.
 */
static int open_mapped(pid_t tgid, const struct ff_map *m)
{
	char fn[4096 + 64];
	struct stat st;
	int fd;

	snprintf(fn, sizeof(fn), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
		 tgid, m->start, m->end);
	fd = open(fn, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	snprintf(fn, sizeof(fn), "/proc/%d/root%s", tgid, m->path);
	fd = open(fn, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || st.st_ino != m->ino) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

static int read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* The thread's state letter (T: stopped, t: traced) and its tracer, or 0. */
static int thread_state(pid_t tgid, pid_t tid, char *state, pid_t *tracer)
{
	char fn[64], buf[4096], *p;
	int err;

	snprintf(fn, sizeof(fn), "/proc/%d/task/%d/stat", tgid, tid);
	err = read_small(fn, buf, sizeof(buf));
	if (err)
		return err;
	/* comm may hold ')' and spaces: the state follows the last ')'. */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -EIO;
	*state = p[2];
	snprintf(fn, sizeof(fn), "/proc/%d/task/%d/status", tgid, tid);
	err = read_small(fn, buf, sizeof(buf));
	if (err)
		return err;
	p = strstr(buf, "\nTracerPid:");
	if (!p || sscanf(p + 11, "%d", tracer) != 1)
		return -EIO;
	return 0;
}

static int peek(pid_t tid, uint64_t addr, uint64_t *val)
{
	long v;

	errno = 0;
	v = ptrace(PTRACE_PEEKDATA, tid, (void *)addr, NULL);
	if (v == -1 && errno)
		return -errno;
	*val = (uint64_t)v;
	return 0;
}

/*
 * Detaches from the thread in the stop that status describes.  A
 * signal-delivery-stop hands its signal back, so nothing is swallowed; from
 * a group stop the thread stays stopped (the kernel puts it back in the
 * group stop while SIGNAL_STOP_STOPPED holds) until the caller's SIGCONT.
 */
static int ff_detach(pid_t tid, int status)
{
	int sig = 0;

	if (WIFSTOPPED(status) && !(status >> 16))
		sig = WSTOPSIG(status);
	if (ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig))
		return -errno;
	return 0;
}

/*
 * Waits for the seized thread's first stop.  A group-stopped thread has
 * reported it by the time PTRACE_SEIZE returns; one that was running is
 * interrupted after FF_STOP_WAIT_MS so that it can be detached.  Returns 1
 * with *status for a stop, 0 if the thread exited (nothing to detach), or
 * -errno.
 */
static int wait_first_stop(pid_t tid, int *status)
{
	struct timespec ms = { 0, 1000 * 1000 };
	int i, interrupted = 0;
	pid_t w;

	for (i = 0;; i++) {
		w = waitpid(tid, status, __WALL | (interrupted ? 0 : WNOHANG));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == tid)
			return WIFSTOPPED(*status) ? 1 : 0;
		if (i < FF_STOP_WAIT_MS) {
			nanosleep(&ms, NULL);
			continue;
		}
		if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL))
			return -errno;
		interrupted = 1;
	}
}

static int is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

int forcefail(const struct forcefail_call *c, char *err, size_t errlen)
{
	uint8_t code[FF_CODE_MAX];
	struct user_regs_struct regs;
	uint64_t mem, ret_addr, addr = 0, word = 0;
	struct ff_map m, rm;
	int fd, len, rc, i, status = 0;
	uint32_t drop, old;
	unsigned int shift = 0;
	char state, hex[3 * 8 + 1];
	pid_t tracer;
	ssize_t n;

	if (err && errlen)
		err[0] = '\0';
	if (!c || c->tgid <= 0 || c->tid <= 0) {
		errf(err, errlen, "no thread given");
		return -EINVAL;
	}

	/* What ran: the first instruction, from the file (memory has int3). */
	rc = find_map(c->tgid, c->entry, &m);
	if (rc) {
		errf(err, errlen, "entry 0x%" PRIx64 " is in no mapping of process %d",
		     c->entry, c->tgid);
		return rc;
	}
	if (m.perms[2] != 'x' || !m.path[0]) {
		errf(err, errlen, "entry 0x%" PRIx64 " is not in an executable file mapping",
		     c->entry);
		return -EINVAL;
	}
	fd = open_mapped(c->tgid, &m);
	if (fd < 0) {
		errf(err, errlen, "cannot open the file mapped at 0x%" PRIx64 ": %s",
		     m.start, strerror(-fd));
		return fd;
	}
	rc = elf_x86_64(fd);
	n = rc ? 0 : pread(fd, code, sizeof(code), (off_t)(m.pgoff + (c->entry - m.start)));
	if (n < 0)
		rc = -errno;
	close(fd);
	if (rc == -ENOEXEC) {
		errf(err, errlen, "the file mapped at 0x%" PRIx64 " is not x86-64 ELF", m.start);
		return -ENOTSUP;
	}
	if (rc) {
		errf(err, errlen, "reading the code at 0x%" PRIx64 ": %s", c->entry, strerror(-rc));
		return rc;
	}
	len = forcefail_decode_first(code, (size_t)n, &drop);
	if (len < 0) {
		for (i = 0; i < 8 && i < n; i++)
			snprintf(hex + 3 * i, 4, "%02x ", code[i]);
		hex[i ? 3 * i - 1 : 0] = '\0';
		errf(err, errlen, "prologue %s ... not understood", hex);
		return -ENOTSUP;
	}

	/* Seize only a stopped, untraced thread: a running one would not report. */
	rc = thread_state(c->tgid, c->tid, &state, &tracer);
	if (rc) {
		errf(err, errlen, "thread %d of process %d: %s", c->tid, c->tgid, strerror(-rc));
		return rc;
	}
	if (tracer || state == 't') {
		errf(err, errlen, "a debugger is attached (pid %d traces thread %d)", tracer, c->tid);
		return -EBUSY;
	}
	if (state != 'T') {
		errf(err, errlen, "thread %d is not stopped (state %c)", c->tid, state);
		return -EINVAL;
	}
	if (ptrace(PTRACE_SEIZE, c->tid, NULL, NULL)) {
		rc = -errno;
		/* A tracer that came first makes it EPERM: say which it was. */
		if (rc == -EPERM && !thread_state(c->tgid, c->tid, &state, &tracer) && tracer) {
			errf(err, errlen, "a debugger is attached (pid %d traces thread %d)",
			     tracer, c->tid);
			return -EBUSY;
		}
		errf(err, errlen, "ptrace(PTRACE_SEIZE, %d): %s", c->tid, strerror(-rc));
		return rc;
	}
	rc = wait_first_stop(c->tid, &status);
	if (rc <= 0) {
		errf(err, errlen, "thread %d: %s", c->tid, rc ? strerror(-rc) : "exited");
		return rc ? rc : -ESRCH;
	}
	if (status >> 16 != PTRACE_EVENT_STOP || !is_stop_signal(WSTOPSIG(status))) {
		errf(err, errlen, "thread %d was not group-stopped (stop 0x%x)", c->tid, status);
		rc = -EINVAL;
		goto detach;
	}

	/* The registers must be what that one instruction leaves behind. */
	if (ptrace(PTRACE_GETREGS, c->tid, NULL, &regs)) {
		rc = -errno;
		errf(err, errlen, "PTRACE_GETREGS: %s", strerror(-rc));
		goto detach;
	}
	if ((int64_t)regs.orig_rax != -1) {
		errf(err, errlen, "thread %d is stopped in system call %lld, not at a probe",
		     c->tid, (long long)regs.orig_rax);
		rc = -EINVAL;
		goto detach;
	}
	if (regs.rip != c->entry + (uint64_t)len) {
		errf(err, errlen, "instruction pointer 0x%llx is not entry + %d (0x%" PRIx64 ")",
		     regs.rip, len, c->entry + (uint64_t)len);
		rc = -EINVAL;
		goto detach;
	}
	if (regs.rsp != c->entry_sp - drop) {
		errf(err, errlen, "stack pointer 0x%llx is not entry_sp - %u (0x%" PRIx64 ")",
		     regs.rsp, drop, c->entry_sp - drop);
		rc = -EINVAL;
		goto detach;
	}
	/* The file must be what is mapped: bytes after the int3 agree. */
	rc = peek(c->tid, c->entry, &mem);
	if (rc) {
		errf(err, errlen, "reading 0x%" PRIx64 ": %s", c->entry, strerror(-rc));
		goto detach;
	}
	for (i = 0; i < len; i++) {
		uint8_t b = (uint8_t)(mem >> (8 * i));

		if (b != code[i] && !(i == 0 && b == 0xcc)) {
			errf(err, errlen, "code at 0x%" PRIx64 " differs from the file", c->entry);
			rc = -EINVAL;
			goto detach;
		}
	}
	/* With a uretprobe this is its trampoline, which then sees our value. */
	rc = peek(c->tid, c->entry_sp, &ret_addr);
	if (rc) {
		errf(err, errlen, "reading the return address at 0x%" PRIx64 ": %s",
		     c->entry_sp, strerror(-rc));
		goto detach;
	}
	if (find_map(c->tgid, ret_addr, &rm) || rm.perms[2] != 'x') {
		errf(err, errlen, "return address 0x%" PRIx64 " is not in executable memory",
		     ret_addr);
		rc = -EINVAL;
		goto detach;
	}
	if (c->rwstate_off >= 0) {
		/* SSL* is still in %rdi: no accepted first instruction writes it. */
		addr = regs.rdi + (uint64_t)c->rwstate_off;
		if (addr & 3) {
			errf(err, errlen, "rwstate at 0x%" PRIx64 " is not aligned", addr);
			rc = -EINVAL;
			goto detach;
		}
		/* The aligned word holding it never crosses a page. */
		shift = (unsigned int)(addr & 7) * 8;
		addr &= ~(uint64_t)7;
		rc = peek(c->tid, addr, &word);
		if (rc) {
			errf(err, errlen, "reading rwstate at 0x%" PRIx64 ": %s",
			     addr, strerror(-rc));
			goto detach;
		}
		old = (uint32_t)(word >> shift);
		if (old < FF_SSL_NOTHING || old > FF_RWSTATE_MAX) {
			errf(err, errlen, "rwstate at SSL+%" PRId64 " reads %u: not an SSL_write's SSL",
			     c->rwstate_off, old);
			rc = -EINVAL;
			goto detach;
		}
		word &= ~((uint64_t)0xffffffff << shift);
		word |= (uint64_t)FF_SSL_NOTHING << shift;
	}

	/*
	 * All checked: now write.  Should SETREGS fail after the rwstate
	 * write, the call runs unforced, and SSL_write resets rwstate to
	 * SSL_NOTHING itself as it starts: no harm.
	 */
	if (c->rwstate_off >= 0 &&
	    ptrace(PTRACE_POKEDATA, c->tid, (void *)addr, (void *)word)) {
		rc = -errno;
		errf(err, errlen, "writing rwstate: %s", strerror(-rc));
		goto detach;
	}
	regs.rax = (uint64_t)c->retval;
	regs.rip = ret_addr;
	regs.rsp = c->entry_sp + 8;
	if (ptrace(PTRACE_SETREGS, c->tid, NULL, &regs)) {
		rc = -errno;
		errf(err, errlen, "PTRACE_SETREGS: %s", strerror(-rc));
		goto detach;
	}
	rc = 0;
detach:
	i = ff_detach(c->tid, status);
	if (i && !rc) {
		errf(err, errlen, "PTRACE_DETACH: %s", strerror(-i));
		rc = i;
	}
	return rc;
}

#else /* !__x86_64__ */

int forcefail(const struct forcefail_call *c, char *err, size_t errlen)
{
	if (err && errlen)
		snprintf(err, errlen, "forcefail is x86-64 only");
	return -ENOTSUP;
}

#endif
