/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Make one held SSL_write / SSL_write_ex call fail, from outside the process.
 *
 * The block action holds a thread at the entry of the call: a uprobe there
 * sends it SIGSTOP, and the thread group-stops right after the function's
 * first instruction ran (the uprobe emulates or single-steps it).  forcefail()
 * then attaches with ptrace, undoes that instruction's stack change, returns
 * c->retval to the caller and detaches; the caller sends SIGCONT.  The bytes
 * the call was given never reach the socket, and the client sees an error
 * (SSL_ERROR_SYSCALL) for that one request only.
 *
 * x86-64 only.  Call forcefail() from a single thread, and reap no child with
 * waitpid(-1, ...) in other threads meanwhile: the tracee's stop is reported
 * to the tracer as a child's would be.
 */
#ifndef TOLLGATE_FORCEFAIL_H
#define TOLLGATE_FORCEFAIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct forcefail_call {
	pid_t tgid, tid;
	uint64_t entry;		/* the function's entry address in the process */
	uint64_t entry_sp;	/* %rsp at the entry, as the probe saw it */
	int64_t retval;		/* what the call returns: -1 SSL_write, 0 SSL_write_ex */
	int64_t rwstate_off;	/* offset of rwstate in SSL, or -1: leave it */
};

/* The offset of rwstate in SSL, decoded from SSL_want in the ELF file at path
 * (file offset of SSL_want's first byte: use elfsym_find() from include/elfsym.h).
 * >= 0, or -ENOTSUP (code not understood) / -errno. */
int64_t forcefail_rwstate_off(const char *path, uint64_t sslwant_file_off);

/* Make the held call return c->retval.  The thread must be stopped (group
 * stop) right after the function's first instruction.  Finds the file and
 * file offset of c->entry from /proc/TGID/maps, decodes the first
 * instruction from the file, checks the registers against it, rewrites
 * them, detaches.  0, or -errno with err filled ("prologue 48 89 e5 ...
 * not understood", "a debugger is attached", "stack pointer 0x.. is not
 * entry_sp - 8", ...).  Never leaves the thread traced.
 *
 * -ENOTSUP: the first instruction is not one it can undo, or not x86-64;
 * -EBUSY: a debugger (strace, gdb) traces the thread; -EPERM: no right to
 * ptrace it; -EINVAL: the thread is not stopped where c says.  On any error
 * the thread is as it was (still stopped, untraced): release it unforced. */
int forcefail(const struct forcefail_call *c, char *err, size_t errlen);

/*
 * The pure decoders behind the two calls above, fed bytes (x86-64 machine
 * code), no I/O.
 *
 * forcefail_decode_first: the function's first instruction, if it is one
 * whose effect on the thread forcefail knows how to undo: endbr64, push %reg,
 * sub $imm8,%rsp, sub $imm32,%rsp.  Returns its length and sets *sp_drop to
 * how far it moved %rsp down; -EAGAIN if code is a truncated accepted form;
 * -ENOTSUP otherwise.
 *
 * forcefail_decode_sslwant: SSL_want's body, [endbr64] mov disp(%rdi),%eax
 * [xor %r,%r ...] ret.  Returns disp (>= 0), -EAGAIN if truncated, -ENOTSUP
 * otherwise.
 */
int forcefail_decode_first(const uint8_t *code, size_t len, uint32_t *sp_drop);
int64_t forcefail_decode_sslwant(const uint8_t *code, size_t len);

#endif
