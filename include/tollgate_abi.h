/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Structures that cross the BPF <-> userspace boundary.
 *
 * Fixed-width types only, explicit padding, every record starts with
 * struct tg_ev_hdr.  Included by bpf/ (after vmlinux.h) and by user/
 * (after <linux/types.h>); userspace checks the sizes with _Static_assert.
 */
#ifndef TOLLGATE_ABI_H
#define TOLLGATE_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Largest piece of plaintext one ring-buffer record carries. */
#define TG_CHUNK_MAX		16384u
/* Smallest data record's room: data records come in power-of-two sizes
 * from this to TG_CHUNK_MAX, reserved in the ring and filled in place. */
#define TG_CHUNK_MIN		128u
/* Default cap of bytes copied from one SSL_read/SSL_write call. */
#define TG_CALL_CAP_DEFAULT	(1u << 20)
#define TG_COMM_LEN		16
#define TG_NAME_LEN		64

enum tg_ev_type {
	TG_EV_DATA	= 1,	/* plaintext chunk */
	TG_EV_GAP	= 2,	/* bytes transferred but not copied */
	TG_EV_CLOSE	= 3,	/* SSL_free: connection is gone */
	TG_EV_EXIT	= 4,	/* process (thread group) exited */
	TG_EV_EXEC	= 5,	/* process exec'd a new image */
	TG_EV_FORK	= 6,	/* new process (not a thread) */
	TG_EV_LINKMAP	= 7,	/* the dynamic linker changed the link map */
	TG_EV_CGROUP	= 8,	/* task moved to another cgroup */
	TG_EV_HOLD	= 9,	/* a gated process was stopped at a request's write */
};

enum tg_dir {
	TG_DIR_WRITE	= 0,	/* SSL_write*: bytes leaving the process */
	TG_DIR_READ	= 1,	/* SSL_read*: bytes arriving */
};

/* Attach cookies of the TLS probes: which function fired. */
enum tg_fn_cookie {
	TG_FN_WRITE	= 0,
	TG_FN_READ	= 1,	/* bit: reads */
	TG_FN_EX	= 2,	/* bit: the _ex variant */
	TG_FN_FREE	= 4,	/* SSL_free (gnutls_deinit, Go's (*Conn).Close) */
	TG_FN_GO_RET	= 8,	/* a RET instruction of Go's (*Conn).Write/Read */
	TG_FN_CHECK	= 16,	/* a function found by discovery: results are
				   checked, and counted per target when wrong */
	TG_FN_AEAD	= 32,	/* aws-lc's EVP_AEAD_CTX_seal (write) / _open
				   (read): TLS records, not a stream */
	TG_FN_RING	= 64,	/* with TG_FN_AEAD: ring's seal / open */
	TG_FN_OUT5	= 128,	/* with TG_FN_EX: the byte count's pointer is the
				   fifth argument (OpenSSL 3.2+'s
				   ssl_write_internal), not the fourth */
};

/* Bits 32-47 of a discovered probe's cookie: its target's number, the
 * index into `probe_bad`. */
#define TG_COOKIE_TARGET_SHIFT	32
#define TG_PROBE_TARGETS	4096

/* Why a gap exists. */
enum tg_gap_reason {
	TG_GAP_CAP	= 1,	/* call larger than the per-call copy cap */
	TG_GAP_FAULT	= 2,	/* bpf_probe_read_user failed */
	TG_GAP_RINGBUF	= 3,	/* ring buffer full, chunk dropped */
	TG_GAP_LOST	= 4,	/* a call's bytes were lost and their number is
				   unknown (its return was missed, its byte count
				   unreadable, no room to follow it): length is 0,
				   the stream cannot be spliced across it */
};

struct tg_ev_hdr {
	__u16 type;		/* enum tg_ev_type */
	__u16 len;		/* payload bytes that follow the fixed part */
	__u32 tgid;
	__u32 tid;
	__u32 uid;
	__u64 seq;		/* per-CPU-free global event sequence */
	__u64 ts_ns;		/* CLOCK_MONOTONIC */
	__u64 cgroup_id;	/* cgroup v2 id (kernfs node id) */
};

/* Identifies one TLS connection: the SSL object in one process. */
struct tg_conn_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl;
};

/*
 * An SSL address is reused by malloc once the object is freed, and the
 * kernel's entry for a connection can be lost (LRU eviction, a dropped
 * CLOSE record).  Every kernel entry therefore gets a generation, unique
 * for the life of the BPF object: (tgid, ssl, gen) names one connection.
 */
struct tg_ev_data {
	struct tg_ev_hdr hdr;
	__u64 ssl;
	__u64 gen;
	__u64 offset;		/* stream offset of data[0] in this direction */
	__u8 dir;		/* enum tg_dir */
	__u8 pad[7];
	char comm[TG_COMM_LEN];
	__u8 data[];		/* hdr.len bytes valid (the record may be larger) */
};

struct tg_ev_gap {
	struct tg_ev_hdr hdr;
	__u64 ssl;
	__u64 gen;
	__u64 offset;		/* stream offset where the gap starts */
	__u64 length;		/* bytes not copied */
	__u8 dir;
	__u8 reason;		/* enum tg_gap_reason */
	__u8 pad[6];
};

struct tg_ev_close {
	struct tg_ev_hdr hdr;
	__u64 ssl;
	__u64 gen;
};

/*
 * The gate (DESIGN §7, enforcement): a process in the `gate` map is
 * stopped (SIGSTOP to the writing thread, from the probe at the entry of
 * SSL_write/SSL_write_ex) when a write starts an HTTP request ("POST "),
 * and at the next write on a connection userspace named in `gate_next`
 * (a request's body sent after its headers).  No byte of that write has
 * left: userspace reads it here, decides, and resumes or acts.
 */
#define TG_HOLD_COPY	16384u		/* bytes of the held write in the record */
#define TG_SIGSTOP	19		/* x86-64 and arm64 */

enum tg_gate_flags {
	TG_GATE_ON	= 1,
};

enum tg_hold_kind {
	TG_HOLD_START	= 1,		/* the write starts a request */
	TG_HOLD_NEXT	= 2,		/* the next write userspace asked for */
};

#define TG_HOLD_EX_GO	2

struct tg_ev_hold {
	struct tg_ev_hdr hdr;		/* len: bytes of data valid */
	__u64 ssl;
	__u64 gen;
	__u64 offset;			/* stream offset of the write */
	__u64 entry;			/* the function's address */
	__u64 sp;			/* the stack pointer at its entry */
	__u64 size;			/* bytes the write was asked to send */
	__u8 kind;			/* enum tg_hold_kind */
	__u8 ex;			/* SSL_write_ex, EVP_AEAD_CTX_seal (fail with
					   0, not -1); TG_HOLD_EX_GO: Go's
					   (*Conn).Write or ring's seal, which cannot
					   be made to fail from outside */
	__u8 stopped;			/* 0: the signal could not be sent */
	__u8 deferred;			/* data is the whole write, and the probe
					   did not report it: userspace does, if it
					   lets the write go (a record seal) */
	__u8 pad[4];
	__u8 data[TG_HOLD_COPY];
};

/* EXIT, EXEC, FORK, LINKMAP and CGROUP share one shape.  FORK: hdr.tgid
 * and hdr.cgroup_id are the child's. */
struct tg_ev_proc {
	struct tg_ev_hdr hdr;
	__u32 ppid;		/* FORK: parent tgid */
	__u32 pad;
	__u64 reserved[2];	/* FORK: [0] is the parent's cgroup id */
	char name[TG_NAME_LEN];	/* EXEC: comm */
};

/* Per-CPU counters, indexed by enum tg_counter. */
enum tg_counter {
	TG_CNT_CALLS,		/* SSL read/write calls that returned data */
	TG_CNT_BYTES,		/* plaintext bytes copied */
	TG_CNT_GAPS,		/* gaps, whether or not their record got through */
	TG_CNT_GAP_BYTES,	/* bytes not copied, all causes */
	TG_CNT_GAP_BYTES_CAP,	/*   of which over the per-call cap */
	TG_CNT_GAP_BYTES_FAULT,	/*   unreadable user memory */
	TG_CNT_GAP_BYTES_RINGBUF, /* ring buffer full */
	TG_CNT_RINGBUF_DROPS,	/* records the ring buffer had no room for */
	TG_CNT_IGNORED_CALLS,	/* calls skipped because the connection is ignored */
	TG_CNT_NESTED,		/* inner calls folded into an outer one */
	TG_CNT_LOST_CALLS,	/* calls lost whole (TG_GAP_LOST), all causes: */
	TG_CNT_STALE_FRAMES,	/*   their return never ran (found stale later) */
	TG_CNT_NO_FRAME,	/*   no per-thread storage, or calls nested too deep */
	TG_CNT_LEN_UNKNOWN,	/*   _ex byte count unreadable */
	TG_CNT_UNMATCHED,	/* returns with no call in progress (not counted lost:
				   their connection is unknown) */
	TG_CNT_CONNS_NEW,	/* kernel connection entries created */
	TG_CNT_CONNS_FREED,	/* ... deleted by SSL_free */
	TG_CNT_PROC_DROPS,	/* process events lost (ring full) */
	TG_CNT_HOLDS,		/* writes of gated processes held */
	TG_CNT_HOLD_DROPS,	/* ... not held: no room in the ring to say so */
	TG_CNT_PROBE_BAD,	/* results of discovered probes that cannot be
				   TLS plaintext (dropped; the probe is disabled) */
	TG_CNT_AEAD_RECORDS,	/* TLS records of application data (aws-lc) */
	TG_CNT_AEAD_OTHER,	/* ... handshake, alert or other records dropped */
	TG_CNT_AEAD_BINDS,	/* write keys tied to their socket */
	TG_CNT_AEAD_UNPAIRED,	/* records read on a socket no write key is tied to */
	TG_CNT__MAX,
};

#endif /* TOLLGATE_ABI_H */
