// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The pure decoders of forcefail: the first instruction of SSL_write, and
 * SSL_want's body.  Byte strings are the real ones where they come from a
 * real build (Debian 12's libssl.so.3, node 20's static OpenSSL 3.0).
 * forcefail() itself is tested for real by tests/integ/test_forcefail.sh.
 */
#include <errno.h>
#include "tap.h"
/*
 * forcefail.c is an edge (EDGE_SRCS: ptrace, /proc), so it is not in the
 * sanitizer objects the unit tests link: take its pure decoders from the
 * source itself.
 */
#include "../../user/forcefail.c"

struct first_case {
	const char *what;
	uint8_t code[8];
	size_t len;
	int want_len;		/* or -errno */
	uint32_t want_drop;
};

static const struct first_case firsts[] = {
	/* libssl.so.3 SSL_write, SSL_write_ex */
	{ "sub $0x18,%rsp", { 0x48, 0x83, 0xec, 0x18 }, 4, 4, 0x18 },
	{ "sub $0x8,%rsp", { 0x48, 0x83, 0xec, 0x08 }, 4, 4, 8 },
	/* node SSL_write, SSL_write_ex */
	{ "push %rbp", { 0x55, 0x48, 0x89, 0xe5 }, 4, 1, 8 },
	{ "push %rax", { 0x50 }, 1, 1, 8 },
	{ "push %rdi", { 0x57 }, 1, 1, 8 },
	{ "push %r12", { 0x41, 0x54 }, 2, 2, 8 },
	{ "push %r15", { 0x41, 0x57, 0x90 }, 3, 2, 8 },
	{ "endbr64", { 0xf3, 0x0f, 0x1e, 0xfa, 0x55 }, 5, 4, 0 },
	{ "sub $0x7f,%rsp", { 0x48, 0x83, 0xec, 0x7f }, 4, 4, 0x7f },
	{ "sub $0x1008,%rsp", { 0x48, 0x81, 0xec, 0x08, 0x10, 0x00, 0x00 }, 7, 7, 0x1008 },
	{ "sub $0x7fffffff,%rsp", { 0x48, 0x81, 0xec, 0xff, 0xff, 0xff, 0x7f }, 7, 7, 0x7fffffff },

	{ "mov %rsp,%rbp", { 0x48, 0x89, 0xe5 }, 3, -ENOTSUP, 0 },
	{ "endbr32", { 0xf3, 0x0f, 0x1e, 0xfb }, 4, -ENOTSUP, 0 },
	{ "rep ret", { 0xf3, 0xc3 }, 2, -ENOTSUP, 0 },
	{ "ret", { 0xc3 }, 1, -ENOTSUP, 0 },
	{ "int3", { 0xcc, 0x83, 0xec, 0x18 }, 4, -ENOTSUP, 0 },
	{ "mov 0x28(%rdi),%eax", { 0x8b, 0x47, 0x28, 0xc3 }, 4, -ENOTSUP, 0 },
	{ "pop %rax", { 0x58 }, 1, -ENOTSUP, 0 },
	{ "push %rax via REX 40", { 0x40, 0x50 }, 2, -ENOTSUP, 0 },
	{ "41 not push", { 0x41, 0x58 }, 2, -ENOTSUP, 0 },
	{ "sub $-8,%rsp", { 0x48, 0x83, 0xec, 0xf8 }, 4, -ENOTSUP, 0 },
	{ "sub $0,%rsp", { 0x48, 0x83, 0xec, 0x00 }, 4, -ENOTSUP, 0 },
	{ "sub $-1,%rsp imm32", { 0x48, 0x81, 0xec, 0xff, 0xff, 0xff, 0xff }, 7, -ENOTSUP, 0 },
	{ "sub $8,%rbp", { 0x48, 0x83, 0xed, 0x08 }, 4, -ENOTSUP, 0 },
	{ "add $8,%rsp", { 0x48, 0x83, 0xc4, 0x08 }, 4, -ENOTSUP, 0 },
	{ "sub $8,%esp", { 0x83, 0xec, 0x08 }, 3, -ENOTSUP, 0 },
	{ "sub $8,%r12", { 0x49, 0x83, 0xec, 0x08 }, 4, -ENOTSUP, 0 },
	{ "lea -8(%rsp),%rsp", { 0x48, 0x8d, 0x64, 0x24, 0xf8 }, 5, -ENOTSUP, 0 },
};

static void test_first_forms(void)
{
	size_t i;

	for (i = 0; i < sizeof(firsts) / sizeof(firsts[0]); i++) {
		const struct first_case *t = &firsts[i];
		uint32_t drop = 0xdead;
		int n = forcefail_decode_first(t->code, t->len, &drop);

		CHECK(n == t->want_len, "%s: %d, want %d", t->what, n, t->want_len);
		if (t->want_len > 0)
			CHECK(drop == t->want_drop, "%s: drop %u, want %u", t->what, drop,
			      t->want_drop);
	}
}

/* Every accepted form cut short says "need more", never a wrong answer. */
static void test_first_truncated(void)
{
	size_t i, k;

	for (i = 0; i < sizeof(firsts) / sizeof(firsts[0]); i++) {
		const struct first_case *t = &firsts[i];
		uint32_t drop;

		if (t->want_len < 0)
			continue;
		for (k = 0; k < (size_t)t->want_len; k++)
			CHECK(forcefail_decode_first(t->code, k, &drop) == -EAGAIN,
			      "%s cut at %zu", t->what, k);
	}
}

struct want_case {
	const char *what;
	uint8_t code[40];
	size_t len;
	int64_t want;		/* offset, or -errno */
};

static const struct want_case wants[] = {
	/* Debian 12 libssl.so.3 (-fzero-call-used-regs): mov 0x28(%rdi),%eax; xor %edi,%edi; ret */
	{ "libssl.so.3", { 0x8b, 0x47, 0x28, 0x31, 0xff, 0xc3 }, 6, 0x28 },
	/* node 20: mov 0x28(%rdi),%eax; ret */
	{ "node", { 0x8b, 0x47, 0x28, 0xc3, 0x66, 0x66 }, 6, 0x28 },
	{ "endbr64 disp8", { 0xf3, 0x0f, 0x1e, 0xfa, 0x8b, 0x47, 0x7f, 0xc3 }, 8, 0x7f },
	{ "endbr64 disp32", { 0xf3, 0x0f, 0x1e, 0xfa, 0x8b, 0x87, 0x40, 0x01, 0x00, 0x00, 0xc3 },
	  11, 0x140 },
	{ "disp 0", { 0x8b, 0x47, 0x00, 0xc3 }, 4, 0 },
	{ "xor 33 form, r8d, r11d", { 0x8b, 0x47, 0x28, 0x33, 0xff, 0x45, 0x31, 0xc0,
				      0x45, 0x33, 0xdb, 0xc3 }, 12, 0x28 },

	{ "xor %eax,%eax clears the result", { 0x8b, 0x47, 0x28, 0x31, 0xc0, 0xc3 }, 6, -ENOTSUP },
	{ "xor %edi,%esi", { 0x8b, 0x47, 0x28, 0x31, 0xfe, 0xc3 }, 6, -ENOTSUP },
	{ "xor mem", { 0x8b, 0x47, 0x28, 0x31, 0x3f, 0xc3 }, 6, -ENOTSUP },
	{ "REX 44 xor", { 0x8b, 0x47, 0x28, 0x44, 0x31, 0xc0, 0xc3 }, 7, -ENOTSUP },
	{ "reads %rsi", { 0x8b, 0x46, 0x28, 0xc3 }, 4, -ENOTSUP },
	{ "into %ecx", { 0x8b, 0x4f, 0x28, 0xc3 }, 4, -ENOTSUP },
	{ "64-bit load", { 0x48, 0x8b, 0x47, 0x28, 0xc3 }, 5, -ENOTSUP },
	{ "no ret", { 0x8b, 0x47, 0x28, 0x90, 0xc3 }, 5, -ENOTSUP },
	{ "negative disp8", { 0x8b, 0x47, 0xf8, 0xc3 }, 4, -ENOTSUP },
	{ "negative disp32", { 0x8b, 0x87, 0x00, 0x00, 0x00, 0x80, 0xc3 }, 7, -ENOTSUP },
	{ "jmp", { 0xe9, 0x00, 0x00, 0x00, 0x00 }, 5, -ENOTSUP },
	{ "push first", { 0x55, 0x8b, 0x47, 0x28, 0x5d, 0xc3 }, 6, -ENOTSUP },
	{ "nine xors", { 0x8b, 0x47, 0x28, 0x31, 0xff, 0x31, 0xff, 0x31, 0xff, 0x31, 0xff,
			 0x31, 0xff, 0x31, 0xff, 0x31, 0xff, 0x31, 0xff, 0x31, 0xff, 0xc3 },
	  22, -ENOTSUP },
};

static void test_sslwant_forms(void)
{
	size_t i;

	for (i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
		const struct want_case *t = &wants[i];
		int64_t off = forcefail_decode_sslwant(t->code, t->len);

		CHECK(off == t->want, "%s: %lld, want %lld", t->what, (long long)off,
		      (long long)t->want);
	}
}

static void test_sslwant_truncated(void)
{
	size_t i, k, end;

	for (i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
		const struct want_case *t = &wants[i];

		if (t->want < 0)
			continue;
		/* Up to, not including, the ret. */
		for (end = 0; end < t->len; end++) {
			if (forcefail_decode_sslwant(t->code, end + 1) >= 0)
				break;
		}
		for (k = 0; k <= end; k++)
			CHECK(forcefail_decode_sslwant(t->code, k) == -EAGAIN,
			      "%s cut at %zu", t->what, k);
	}
}

static void test_rwstate_off_errors(void)
{
	/* 0 is elfsym_find's "absent". */
	CHECK_EQ_INT(forcefail_rwstate_off("/nonexistent/libssl.so.3", 0), -ENOENT);
	CHECK_EQ_INT(forcefail_rwstate_off("/nonexistent/libssl.so.3", 0x1000), -ENOENT);
	/* Not an ELF file. */
	CHECK_EQ_INT(forcefail_rwstate_off("/proc/self/cmdline", 0x10), -ENOEXEC);
}

int main(void)
{
	RUN(test_first_forms);
	RUN(test_first_truncated);
	RUN(test_sslwant_forms);
	RUN(test_sslwant_truncated);
	RUN(test_rwstate_off_errors);
	return tap_done();
}
