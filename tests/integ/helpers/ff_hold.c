// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * ff_hold: puts a thread in the state the block uprobe leaves it in, and
 * drives forcefail() on it, for test_forcefail.sh.  Links user/forcefail.c,
 * user/elfsym.c and -lelf.
 *
 * ff_hold hold PID LIB FUNC MATCH [GOFILE]
 *	Traces PID's main thread, puts an int3 at FUNC's entry (FUNC in the
 *	first mapped file whose path holds LIB), creates GOFILE, and waits
 *	for the call whose buffer (%rsi) starts with MATCH; calls before it
 *	are stepped over.  On that one it does what a uprobe does: the
 *	original first instruction runs (put back, single-stepped), the int3
 *	goes back in place, and SIGSTOP stops the process right after that
 *	instruction (PTRACE_DETACH with SIGSTOP: a group stop, untraced).
 *	Prints "entry=0x.. entry_sp=0x.. orig=0x.. rip=0x.. rsp=0x..": entry_sp
 *	is %rsp at the entry, before the instruction ran, as the probe sees it.
 * ff_hold force PID TID ENTRY ENTRY_SP RETVAL [auto|none|OFF]
 *	forcefail() with rwstate_off from SSL_want in ENTRY's file (auto, the
 *	default), -1 (none), or OFF.  Prints "forced" and exits 0, or
 *	"refused RC: message" and exits 3.
 * ff_hold unpatch PID ADDR BYTE
 *	Writes BYTE at ADDR through /proc/PID/mem: takes the int3 out again,
 *	which a real uprobe never needs (the kernel handles its trap).
 * ff_hold rwstate FILE
 *	Prints forcefail_rwstate_off() for SSL_want in FILE.
 * ff_hold addr PID LIB FUNC
 *	Prints FUNC's address in PID, as hold finds it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include "elfsym.h"
#include "forcefail.h"

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("ff_hold: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	exit(1);
}

struct map {
	uint64_t start, end, pgoff;
	char path[4096];
};

/*
 * The mapping of pid that holds addr (addr != 0), or the executable
 * mapping of a file whose path holds lib.  0 or -1.
 */
static int find_map(pid_t pid, uint64_t addr, const char *lib, struct map *m)
{
	char fn[64], line[4096 + 128], perms[5];
	unsigned int maj, min;
	unsigned long ino;
	int pos, rc = -1;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/maps", pid);
	f = fopen(fn, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		pos = 0;
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %lu %n",
			   &m->start, &m->end, perms, &m->pgoff, &maj, &min, &ino, &pos) < 7 ||
		    !pos)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(m->path, sizeof(m->path), "%s", line + pos);
		if (addr ? (addr >= m->start && addr < m->end) :
			   (perms[2] == 'x' && m->path[0] == '/' && strstr(m->path, lib))) {
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

/* Address in pid of the function name in the file lib names. */
static uint64_t func_addr(pid_t pid, const char *lib, const char *name, struct map *m)
{
	struct timespec ms = { 0, 10 * 1000 * 1000 };
	char fn[64], line[4096 + 128], perms[5], path[4096];
	uint64_t off, start, end, pgoff, addr = 0;
	unsigned int maj, min;
	unsigned long ino;
	int pos, i;
	FILE *f;

	/* Just exec'd, the process may not have its libraries mapped yet. */
	for (i = 0; find_map(pid, 0, lib, m); i++) {
		if (i == 500)
			die("no mapping of a file matching %s in %d\n", lib, pid);
		nanosleep(&ms, NULL);
	}
	if (elfsym_find(m->path, &name, 1, &off) || !off)
		die("%s not found in %s\n", name, m->path);
	/* The mapping of that file that holds the offset. */
	snprintf(fn, sizeof(fn), "/proc/%d/maps", pid);
	f = fopen(fn, "re");
	if (!f)
		die("%s: %s\n", fn, strerror(errno));
	while (!addr && fgets(line, sizeof(line), f)) {
		pos = 0;
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %lu %n",
			   &start, &end, perms, &pgoff, &maj, &min, &ino, &pos) < 7 || !pos)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(path, sizeof(path), "%s", line + pos);
		if (!strcmp(path, m->path) && off >= pgoff && off < pgoff + (end - start))
			addr = start + (off - pgoff);
	}
	fclose(f);
	if (!addr)
		die("%s at file offset 0x%" PRIx64 " is not mapped\n", name, off);
	return addr;
}

static int wait_stop(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, __WALL) != pid)
		die("waitpid: %s\n", strerror(errno));
	if (!WIFSTOPPED(st))
		die("process %d ended (status 0x%x)\n", pid, st);
	return st;
}

static uint64_t peek(pid_t pid, uint64_t addr)
{
	long v;

	errno = 0;
	v = ptrace(PTRACE_PEEKDATA, pid, (void *)addr, NULL);
	if (v == -1 && errno)
		die("peek 0x%" PRIx64 ": %s\n", addr, strerror(errno));
	return (uint64_t)v;
}

static void poke(pid_t pid, uint64_t addr, uint64_t v)
{
	if (ptrace(PTRACE_POKEDATA, pid, (void *)addr, (void *)v))
		die("poke 0x%" PRIx64 ": %s\n", addr, strerror(errno));
}

/* 1 if the len bytes at addr in pid start with match. */
static int buf_matches(pid_t pid, uint64_t addr, uint64_t len, const char *match)
{
	size_t n = strlen(match), i;
	uint64_t w = 0;

	if (len < n)
		return 0;
	for (i = 0; i < n; i++) {
		if (!(i % 8))
			w = peek(pid, addr + i);
		if ((char)(w >> (8 * (i % 8))) != match[i])
			return 0;
	}
	return 1;
}

static char thread_state(pid_t pid)
{
	char fn[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(fn, sizeof(fn), "/proc/%d/stat", pid);
	fd = open(fn, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

static int cmd_hold(int argc, char **argv)
{
	struct timespec ms = { 0, 1000 * 1000 };
	struct user_regs_struct regs;
	uint64_t addr, orig, trap, entry_sp;
	const char *lib, *func, *match;
	struct map m;
	pid_t pid;
	int st, i, sig, fd;

	if (argc < 6)
		die("usage: hold PID LIB FUNC MATCH [GOFILE]\n");
	pid = atoi(argv[2]);
	lib = argv[3];
	func = argv[4];
	match = argv[5];
	addr = func_addr(pid, lib, func, &m);

	if (ptrace(PTRACE_SEIZE, pid, NULL, NULL))
		die("PTRACE_SEIZE %d: %s\n", pid, strerror(errno));
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL))
		die("PTRACE_INTERRUPT: %s\n", strerror(errno));
	wait_stop(pid);
	orig = peek(pid, addr);
	trap = (orig & ~(uint64_t)0xff) | 0xcc;
	poke(pid, addr, trap);
	if (argc > 6) {
		fd = open(argv[6], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			die("%s: %s\n", argv[6], strerror(errno));
		close(fd);
	}
	if (ptrace(PTRACE_CONT, pid, NULL, NULL))
		die("PTRACE_CONT: %s\n", strerror(errno));

	for (;;) {
		st = wait_stop(pid);
		sig = WSTOPSIG(st);
		if (st >> 16) {		/* group stop or interrupt: not ours */
			ptrace(PTRACE_CONT, pid, NULL, NULL);
			continue;
		}
		if (sig != SIGTRAP) {
			ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
			continue;
		}
		if (ptrace(PTRACE_GETREGS, pid, NULL, &regs))
			die("PTRACE_GETREGS: %s\n", strerror(errno));
		if (regs.rip != addr + 1) {
			ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
			continue;
		}
		/* Our int3: run the original instruction, as a uprobe would. */
		regs.rip = addr;
		entry_sp = regs.rsp;
		if (ptrace(PTRACE_SETREGS, pid, NULL, &regs))
			die("PTRACE_SETREGS: %s\n", strerror(errno));
		poke(pid, addr, orig);
		if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL))
			die("PTRACE_SINGLESTEP: %s\n", strerror(errno));
		st = wait_stop(pid);
		if (WSTOPSIG(st) != SIGTRAP)
			die("single step stopped by signal %d\n", WSTOPSIG(st));
		poke(pid, addr, trap);
		if (!buf_matches(pid, regs.rsi, regs.rdx, match)) {
			ptrace(PTRACE_CONT, pid, NULL, NULL);
			continue;
		}
		if (ptrace(PTRACE_GETREGS, pid, NULL, &regs))
			die("PTRACE_GETREGS: %s\n", strerror(errno));
		/* Stop it for good the way the probe does: SIGSTOP, untraced. */
		if (ptrace(PTRACE_DETACH, pid, NULL, (void *)(long)SIGSTOP))
			die("PTRACE_DETACH: %s\n", strerror(errno));
		for (i = 0; i < 5000 && thread_state(pid) != 'T'; i++)
			nanosleep(&ms, NULL);
		if (thread_state(pid) != 'T')
			die("process %d did not stop (state %c)\n", pid, thread_state(pid));
		printf("entry=0x%" PRIx64 " entry_sp=0x%" PRIx64 " orig=0x%02x rip=0x%llx rsp=0x%llx file=%s\n",
		       addr, entry_sp, (unsigned int)(orig & 0xff), regs.rip, regs.rsp, m.path);
		return 0;
	}
}

static int cmd_force(int argc, char **argv)
{
	static const char *const want[] = { "SSL_want" };
	struct forcefail_call c;
	const char *how = argc > 7 ? argv[7] : "auto";
	char err[256];
	uint64_t off;
	struct map m;
	int rc;

	if (argc < 7)
		die("usage: force PID TID ENTRY ENTRY_SP RETVAL [auto|none|OFF]\n");
	memset(&c, 0, sizeof(c));
	c.tgid = atoi(argv[2]);
	c.tid = atoi(argv[3]);
	c.entry = strtoull(argv[4], NULL, 0);
	c.entry_sp = strtoull(argv[5], NULL, 0);
	c.retval = strtoll(argv[6], NULL, 0);
	c.rwstate_off = -1;
	if (!strcmp(how, "auto")) {
		if (find_map(c.tgid, c.entry, NULL, &m) || m.path[0] != '/')
			die("entry 0x%" PRIx64 " is in no file mapping\n", c.entry);
		if (elfsym_find(m.path, want, 1, &off) || !off)
			die("no SSL_want in %s\n", m.path);
		c.rwstate_off = forcefail_rwstate_off(m.path, off);
		if (c.rwstate_off < 0)
			die("SSL_want in %s: %s\n", m.path, strerror((int)-c.rwstate_off));
	} else if (strcmp(how, "none")) {
		c.rwstate_off = strtoll(how, NULL, 0);
	}
	printf("rwstate_off=%" PRId64 "\n", c.rwstate_off);
	rc = forcefail(&c, err, sizeof(err));
	if (rc) {
		printf("refused %d: %s\n", rc, err);
		return 3;
	}
	printf("forced\n");
	return 0;
}

static int cmd_unpatch(int argc, char **argv)
{
	char fn[64];
	uint8_t b;
	int fd;

	if (argc < 5)
		die("usage: unpatch PID ADDR BYTE\n");
	snprintf(fn, sizeof(fn), "/proc/%s/mem", argv[2]);
	b = (uint8_t)strtoul(argv[4], NULL, 0);
	fd = open(fn, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("%s: %s\n", fn, strerror(errno));
	if (pwrite(fd, &b, 1, (off_t)strtoull(argv[3], NULL, 0)) != 1)
		die("writing %s: %s\n", fn, strerror(errno));
	close(fd);
	return 0;
}

static int cmd_rwstate(int argc, char **argv)
{
	static const char *const want[] = { "SSL_want" };
	uint64_t off;
	int64_t r;

	if (argc < 3)
		die("usage: rwstate FILE\n");
	if (elfsym_find(argv[2], want, 1, &off) || !off)
		die("no SSL_want in %s\n", argv[2]);
	r = forcefail_rwstate_off(argv[2], off);
	if (r < 0)
		die("SSL_want in %s: %s\n", argv[2], strerror((int)-r));
	printf("%" PRId64 "\n", r);
	return 0;
}

static int cmd_addr(int argc, char **argv)
{
	struct map m;

	if (argc < 5)
		die("usage: addr PID LIB FUNC\n");
	printf("0x%" PRIx64 "\n", func_addr(atoi(argv[2]), argv[3], argv[4], &m));
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "hold"))
		return cmd_hold(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "force"))
		return cmd_force(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "unpatch"))
		return cmd_unpatch(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "rwstate"))
		return cmd_rwstate(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "addr"))
		return cmd_addr(argc, argv);
	fprintf(stderr, "usage: ff_hold hold|force|unpatch|rwstate|addr ...\n");
	return 2;
}
