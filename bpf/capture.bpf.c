// SPDX-License-Identifier: GPL-2.0
/*
 * TLS plaintext capture: uprobes on OpenSSL's SSL_read/SSL_write family,
 * plus the process lifecycle events userspace needs to place the probes.
 *
 * Entry probes save the arguments per thread (task-local storage); return
 * probes copy what was actually transferred, in chunks, straight into
 * records reserved in the `events` ring buffer.  Calls nested inside
 * another probed call on the same thread (SSL_write_ex -> SSL_write in
 * some builds) are folded into the outer one, so every byte is reported
 * once.  Bytes that are not copied become TG_EV_GAP records; a call whose
 * bytes are lost without a count becomes a TG_GAP_LOST gap, so userspace
 * never splices a stream across a hole.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "tollgate_abi.h"

char LICENSE[] SEC("license") = "GPL";

/* Tunables, set by userspace before load. */
const volatile __u64 call_cap = TG_CALL_CAP_DEFAULT;
const volatile __u32 self_tgid = 0;
const volatile __u8 want_fork = 0;	/* scoped attach needs fork/cgroup events */

__u64 ev_seq = 0;
__u64 conn_gen = 0;

#define MAX_FRAMES 8	/* a power of two */
/* A call returning to within this many bytes of an outer probed
 * function's start was made by that function: a nested call to fold. */
#define FOLD_SPAN 4096

/*
 * The stack pointer a return probe sees, less this, is the one the entry
 * probe saw: x86 pops the return address, arm64 keeps it in a register.
 */
#if defined(__TARGET_ARCH_x86)
#define RET_SP_ADJ 8
#else
#define RET_SP_ADJ 0
#endif

/* One probed call in progress on a thread. */
struct frame {
	__u64 ssl;
	__u64 buf;
	__u64 out;	/* size_t * of the _ex variants, 0 otherwise */
	__u64 sp;	/* stack pointer at entry: which call this is */
	__u64 ip;	/* the function's address */
	__u32 epoch;	/* the process's attach epoch at entry */
	__u8 dir;
	__u8 ex;
	__u8 ignored;	/* userspace has no use for this connection */
	__u8 check;	/* a discovered function: its result is checked */
	__u64 size;	/* bytes asked for */
	__u16 target;	/* discovered: its target's number */
	__u8 pad2[6];
};

/*
 * Calls in progress on one thread, innermost last.  A call can be made
 * from inside another: SSL_write_ex -> SSL_write within the library (same
 * SSL, direction and buffer, called from the outer function's own code:
 * folded, reported once by the outer call), or a different call from a
 * callback (node writes from inside SSL_read: a frame of its own).
 *
 * A frame whose return never ran (the process left the scope mid-call, a
 * longjmp) is stale.  It is recognised and dropped, with a TG_GAP_LOST for
 * its connection, as soon as one of these shows: the process was attached
 * again since (its epoch moved on: a return probe attached after a call
 * began still fires, and must not be paired with an old frame), a new
 * call at the same depth or shallower (the stale call cannot still be a
 * caller), a new call on the same SSL in the same direction that is not
 * folded (an SSL object does not run two of those at once), or SSL_free
 * of its SSL.
 */
struct ssl_args {
	struct frame f[MAX_FRAMES];
	__u32 n;
	__u32 pad;
};

struct conn_state {
	__u64 off[2];	/* bytes seen so far, per direction */
	__u64 gen;
};

/* Frame i (masked so the verifier sees the bound: the barrier keeps the
 * compiler from folding the mask into an earlier check). */
static __always_inline struct frame *frame_at(struct ssl_args *st, __u32 i)
{
	asm volatile("" : "+r"(i));
	return &st->f[i & (MAX_FRAMES - 1)];
}

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ssl_args);
} ssl_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tg_conn_key);
	__type(value, struct conn_state);
} conns SEC(".maps");

/* Scoped attach: tgid -> how many times userspace has attached it.  A
 * process never attached per process (global mode) is epoch 0. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} epochs SEC(".maps");

static __always_inline __u32 epoch_of(__u32 tgid)
{
	__u32 *e;

	if (!want_fork)		/* global probes: no epochs (the map is empty) */
		return 0;
	e = bpf_map_lookup_elem(&epochs, &tgid);
	return e ? *e : 0;
}

/* Connections userspace has judged not to be LLM traffic: the value is
 * the generation it judged, so a reused key is not ignored by mistake. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tg_conn_key);
	__type(value, __u64);
} ignore SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);	/* resized by userspace before load */
} events SEC(".maps");

/* Gated processes: tgid -> enum tg_gate_flags (abi). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} gate SEC(".maps");

/* Connections whose next write is held too: the generation named. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tg_conn_key);
	__type(value, __u64);
} gate_next SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 << 10);
} proc_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TG_CNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Results of discovered probes that cannot be right, per target (the
 * cookie's number): userspace disables a target whose count moves. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TG_PROBE_TARGETS);
	__type(key, __u32);
	__type(value, __u64);
} probe_bad SEC(".maps");

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += n;
}

static __always_inline void fill_hdr(struct tg_ev_hdr *h, __u16 type, __u16 len)
{
	__u64 id = bpf_get_current_pid_tgid();

	h->type = type;
	h->len = len;
	h->tgid = id >> 32;
	h->tid = (__u32)id;
	h->uid = (__u32)bpf_get_current_uid_gid();
	h->seq = __sync_fetch_and_add(&ev_seq, 1);
	h->ts_ns = bpf_ktime_get_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
}

/* The kernel's entry for a connection, made on first use with a new
 * generation. */
static __always_inline struct conn_state *conn_get(struct tg_conn_key *key)
{
	struct conn_state *cs = bpf_map_lookup_elem(&conns, key), zst = {};

	if (cs)
		return cs;
	zst.gen = __sync_fetch_and_add(&conn_gen, 1) + 1;
	if (!bpf_map_update_elem(&conns, key, &zst, BPF_NOEXIST))
		count(TG_CNT_CONNS_NEW, 1);
	return bpf_map_lookup_elem(&conns, key);
}

static __always_inline void emit_gap(__u64 ssl, __u64 gen, __u64 off, __u64 len,
				     __u8 dir, __u8 reason)
{
	struct tg_ev_gap *g;

	count(TG_CNT_GAPS, 1);
	count(TG_CNT_GAP_BYTES, len);
	if (reason == TG_GAP_CAP)
		count(TG_CNT_GAP_BYTES_CAP, len);
	else if (reason == TG_GAP_FAULT)
		count(TG_CNT_GAP_BYTES_FAULT, len);
	else if (reason == TG_GAP_RINGBUF)
		count(TG_CNT_GAP_BYTES_RINGBUF, len);
	g = bpf_ringbuf_reserve(&events, sizeof(*g), 0);
	if (!g) {
		/* Userspace still sees the hole through the next offset. */
		count(TG_CNT_RINGBUF_DROPS, 1);
		return;
	}
	fill_hdr(&g->hdr, TG_EV_GAP, 0);
	g->ssl = ssl;
	g->gen = gen;
	g->offset = off;
	g->length = len;
	g->dir = dir;
	g->reason = reason;
	__builtin_memset(g->pad, 0, sizeof(g->pad));
	bpf_ringbuf_submit(g, 0);
}

/*
 * A call on this connection is lost and we cannot say how many bytes it
 * moved.  The offset does not advance; the record tells userspace to stop
 * trusting the stream's framing there.
 */
static __always_inline void lose_call(__u32 tgid, __u64 ssl, __u8 dir, __u32 why)
{
	struct tg_conn_key key = { .tgid = tgid, .ssl = ssl };
	struct conn_state *cs = conn_get(&key);

	count(TG_CNT_LOST_CALLS, 1);
	count(why, 1);
	if (cs)
		emit_gap(ssl, cs->gen, cs->off[dir & 1], 0, dir, TG_GAP_LOST);
}

/* The return address a call will go back to, read at its entry. */
static __always_inline __u64 ret_addr(struct pt_regs *ctx)
{
#if defined(__TARGET_ARCH_x86)
	__u64 ra = 0;

	bpf_probe_read_user(&ra, sizeof(ra), (void *)PT_REGS_SP(ctx));
	return ra;
#else
	return PT_REGS_RET(ctx);
#endif
}

/* A frame found stale: its call's bytes are lost. */
static __always_inline void drop_stale(__u32 tgid, struct frame *f)
{
	if (!f->ignored)
		lose_call(tgid, f->ssl, f->dir, TG_CNT_STALE_FRAMES);
}

/*
 * Drops, from the top of the n frames, those of an earlier epoch and those
 * deeper on the stack than sp (at sp too, unless keep_at_sp): calls that
 * ended without their return probe.  Returns the frames left.
 */
static __always_inline __u32 drop_below(__u32 tgid, struct ssl_args *st, __u32 n, __u64 sp,
					__u32 epoch, int keep_at_sp)
{
	struct frame *top;
	__u32 i;

	for (i = 0; i < MAX_FRAMES && n > 0; i++) {
		top = frame_at(st, n - 1);
		if (top->epoch == epoch && (top->sp > sp || (keep_at_sp && top->sp == sp)))
			break;
		drop_stale(tgid, top);
		n--;
	}
	return n;
}

#define H2_SCAN_FRAMES 8	/* frame headers looked at in a write */

/*
 * An HTTP/2 write that carries a request: a HEADERS frame on a client
 * stream among its first frames (after the preface, on a connection's
 * first write).  Other frame types, or a type above 9, end the look.
 */
static __always_inline int h2_request_in(__u64 buf, __u64 size)
{
	__u64 off = 0;
	__u8 h[9];
	int i;

	if (size >= 24 && !bpf_probe_read_user(h, 4, (void *)buf) &&
	    h[0] == 'P' && h[1] == 'R' && h[2] == 'I' && h[3] == ' ')
		off = 24;
	for (i = 0; i < H2_SCAN_FRAMES; i++) {
		if (off + 9 > size || bpf_probe_read_user(h, 9, (void *)(buf + off)))
			return 0;
		if (h[3] > 9 || (h[5] & 0x80))
			return 0;
		if (h[3] == 1 && (h[8] & 1))
			return 1;
		off += 9 + ((__u64)h[0] << 16 | (__u64)h[1] << 8 | h[2]);
	}
	return 0;
}

/*
 * A gated process's write that starts a request (or that userspace asked
 * for): tell userspace, with the bytes, and stop the process before any
 * of them leaves.  Ungated processes pay one hash lookup.  With no room in
 * the ring to say so, the write is not held (counted): a process stopped
 * without userspace knowing would stay stopped.
 */
/*
 * defer: the probe copies its bytes before the call runs (a record seal):
 * when the whole write is in the hold record, its bytes are not reported
 * as data now but by userspace, if it lets the write go (a write made to
 * fail never left, and is not metered).  Returns 1 then.
 */
static __always_inline int gate_write(struct pt_regs *ctx, __u32 tgid,
				      struct tg_conn_key *key, __u64 buf, __u64 size, __u8 ex,
				      __u8 defer)
{
	__u64 n, *next;
	struct conn_state *cs;
	struct tg_ev_hold *h;
	__u8 kind = 0, deferred;
	char m[5];

	if (!bpf_map_lookup_elem(&gate, &tgid))
		return 0;
	cs = conn_get(key);
	if (!cs)
		return 0;
	next = bpf_map_lookup_elem(&gate_next, key);
	if (next && *next == cs->gen) {
		kind = TG_HOLD_NEXT;
		bpf_map_delete_elem(&gate_next, key);
	} else if (!bpf_probe_read_user(m, sizeof(m), (void *)buf) &&
		   m[0] == 'P' && m[1] == 'O' && m[2] == 'S' && m[3] == 'T' && m[4] == ' ') {
		kind = TG_HOLD_START;
	} else if (h2_request_in(buf, size)) {
		kind = TG_HOLD_START;
	}
	if (!kind)
		return 0;
	h = bpf_ringbuf_reserve(&events, sizeof(*h), 0);
	if (!h) {
		count(TG_CNT_HOLD_DROPS, 1);
		return 0;
	}
	n = size < TG_HOLD_COPY ? size : TG_HOLD_COPY;
	asm volatile("" : "+r"(n));
	if (n > TG_HOLD_COPY || bpf_probe_read_user(h->data, n, (void *)buf))
		n = 0;
	fill_hdr(&h->hdr, TG_EV_HOLD, (__u16)n);
	h->ssl = key->ssl;
	h->gen = cs->gen;
	h->offset = cs->off[TG_DIR_WRITE];
	h->entry = PT_REGS_IP(ctx);
	h->sp = PT_REGS_SP(ctx);
	h->size = size;
	h->kind = kind;
	h->ex = ex;
	__builtin_memset(h->pad, 0, sizeof(h->pad));
	h->stopped = !bpf_send_signal_thread(TG_SIGSTOP);
	deferred = defer && h->stopped && n == size;
	h->deferred = deferred;
	if (deferred) {
		cs->off[TG_DIR_WRITE] += size;
		count(TG_CNT_CALLS, 1);
		count(TG_CNT_BYTES, size);
	}
	count(TG_CNT_HOLDS, 1);
	bpf_ringbuf_submit(h, 0);
	return deferred;
}

/* Userspace has judged this generation of the connection not LLM traffic. */
static __always_inline int conn_ignored(struct tg_conn_key *key)
{
	struct conn_state *cs;
	__u64 *ig = bpf_map_lookup_elem(&ignore, key);

	if (!ig)
		return 0;
	cs = bpf_map_lookup_elem(&conns, key);
	return cs && cs->gen == *ig;
}

/* A discovered probe saw what its function cannot produce. */
static __always_inline void probe_wrong(__u32 target)
{
	__u64 *v = bpf_map_lookup_elem(&probe_bad, &target);

	count(TG_CNT_PROBE_BAD, 1);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline int ssl_enter(struct pt_regs *ctx, __u8 dir, __u8 ex, __u64 cookie)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, n;
	struct tg_conn_key key = { .tgid = tgid };
	struct ssl_args *st;
	struct frame *top;
	__u64 buf = PT_REGS_PARM2(ctx), sp = PT_REGS_SP(ctx);
	__u64 p4 = PT_REGS_PARM4(ctx), p5 = PT_REGS_PARM5(ctx);
	__u32 epoch;

	/* each read at its own constant offset: the verifier refuses a
	 * context pointer the compiler would offset by a choice */
	asm volatile("" : "+r"(p4), "+r"(p5));
	if (tgid == self_tgid)
		return 0;
	key.ssl = PT_REGS_PARM1(ctx);
	epoch = epoch_of(tgid);
	st = bpf_task_storage_get(&ssl_args, bpf_get_current_task_btf(), 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		lose_call(tgid, key.ssl, dir, TG_CNT_NO_FRAME);
		return 0;
	}
	n = st->n;
	if (n > MAX_FRAMES)
		n = 0;
	/* This call's own depth is not live: a frame there is stale too. */
	n = drop_below(tgid, st, n, sp, epoch, 0);
	if (n > 0) {
		top = frame_at(st, n - 1);
		if (top->ssl == key.ssl && top->dir == dir) {
			if (top->buf == buf && ret_addr(ctx) - top->ip < FOLD_SPAN) {
				st->n = n;
				count(TG_CNT_NESTED, 1);
				return 0;
			}
			drop_stale(tgid, top);
			n--;
		}
	}
	if (n >= MAX_FRAMES) {
		st->n = n;
		lose_call(tgid, key.ssl, dir, TG_CNT_NO_FRAME);
		return 0;
	}
	/* Every call gets a frame, so that returns pop the right one. */
	top = frame_at(st, n);
	top->ssl = key.ssl;
	top->buf = buf;
	top->out = !ex ? 0 : cookie & TG_FN_OUT5 ? p5 : p4;
	top->sp = sp;
	top->ip = PT_REGS_IP(ctx);
	top->epoch = epoch;
	top->dir = dir;
	top->ex = ex;
	top->ignored = 0;
	top->check = cookie & TG_FN_CHECK ? 1 : 0;
	top->size = ex ? PT_REGS_PARM3(ctx) : (__u32)PT_REGS_PARM3(ctx);
	top->target = (__u16)(cookie >> TG_COOKIE_TARGET_SHIFT);
	top->ignored = conn_ignored(&key);
	st->n = n + 1;
	if (top->ignored)
		count(TG_CNT_IGNORED_CALLS, 1);
	else if (dir == TG_DIR_WRITE)
		/* SSL_write's num is an int */
		gate_write(ctx, tgid, &key, buf,
			   ex ? PT_REGS_PARM3(ctx) : (__u32)PT_REGS_PARM3(ctx), ex, 0);
	return 0;
}

struct copy_ctx {
	__u64 ssl;
	__u64 gen;
	__u64 buf;
	__u64 off;
	__u64 copy;	/* bytes to copy in all */
	__u8 dir;
};

#define DATA_HDR offsetof(struct tg_ev_data, data)

/*
 * A data record with room for at least len bytes (len <= TG_CHUNK_MAX),
 * in one of the power-of-two sizes: the verifier wants constant sizes,
 * and a small write should not take a 16 KiB slot of the ring.
 */
#define RESERVE_CLASS(room)						\
	if (len <= (room)) {						\
		e = bpf_ringbuf_reserve(&events, DATA_HDR + (room), 0);	\
		if (!e)							\
			return -1;					\
		/* the bound checked on the register that is passed */	\
		n = len;						\
		asm volatile("" : "+r"(n));				\
		if (n > (room))						\
			goto fault;					\
		if (bpf_probe_read_user(e->data, n, (void *)src))	\
			goto fault;					\
		goto filled;						\
	}

static __always_inline int copy_one(struct copy_ctx *c, __u64 pos, __u64 len)
{
	struct tg_ev_data *e;
	__u64 src = c->buf + pos, n;

	RESERVE_CLASS(128)
	RESERVE_CLASS(256)
	RESERVE_CLASS(512)
	RESERVE_CLASS(1024)
	RESERVE_CLASS(2048)
	RESERVE_CLASS(4096)
	RESERVE_CLASS(8192)
	RESERVE_CLASS(16384)
	return -1;
fault:
	bpf_ringbuf_discard(e, 0);
	return -2;
filled:
	fill_hdr(&e->hdr, TG_EV_DATA, (__u16)len);
	e->ssl = c->ssl;
	e->gen = c->gen;
	e->offset = c->off + pos;
	e->dir = c->dir;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

_Static_assert(TG_CHUNK_MAX == 16384 && TG_CHUNK_MIN == 128, "reserve classes");

static long copy_chunk(__u32 i, void *arg)
{
	struct copy_ctx *c = arg;
	__u64 pos = (__u64)i * TG_CHUNK_MAX, len;
	int r;

	if (pos >= c->copy)
		return 1;
	len = c->copy - pos > TG_CHUNK_MAX ? TG_CHUNK_MAX : c->copy - pos;
	r = copy_one(c, pos, len);
	if (r == -2) {
		emit_gap(c->ssl, c->gen, c->off + pos, len, c->dir, TG_GAP_FAULT);
	} else if (r < 0) {
		/* No room in the ring: the rest of the call is one gap. */
		emit_gap(c->ssl, c->gen, c->off + pos, c->copy - pos, c->dir, TG_GAP_RINGBUF);
		return 1;
	} else {
		count(TG_CNT_BYTES, len);
	}
	return 0;
}

/*
 * A call moved len bytes of buf on connection ssl: they get the
 * connection's next offsets and are copied in chunks, up to the per-call
 * cap (the rest is a gap).
 */
static __always_inline void emit_call(__u32 tgid, __u64 ssl, __u64 buf, __u8 dir, __u64 len)
{
	struct tg_conn_key key = { .tgid = tgid, .ssl = ssl };
	struct copy_ctx c = {};
	struct conn_state *cs;
	__u64 copy;

	cs = conn_get(&key);
	if (!cs)
		return;
	c.off = cs->off[dir & 1];
	cs->off[dir & 1] += len;
	count(TG_CNT_CALLS, 1);

	copy = len < call_cap ? len : call_cap;
	c.ssl = ssl;
	c.gen = cs->gen;
	c.buf = buf;
	c.copy = copy;
	c.dir = dir;
	bpf_loop((copy + TG_CHUNK_MAX - 1) / TG_CHUNK_MAX, copy_chunk, &c, 0);
	if (len > copy)
		emit_gap(ssl, c.gen, c.off + copy, len - copy, dir, TG_GAP_CAP);
}

static __always_inline int ssl_leave(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, n;
	struct ssl_args *st;
	struct frame *top, a;
	/* every probed function returns an int (GnuTLS: a ssize_t no
	 * larger than the int size it was given) */
	int ret = (int)PT_REGS_RC(ctx);
	__u64 sp = PT_REGS_SP(ctx) - RET_SP_ADJ, len = 0;
	__u32 epoch;

	if (tgid == self_tgid)
		return 0;
	st = bpf_task_storage_get(&ssl_args, bpf_get_current_task_btf(), 0, 0);
	if (!st)
		return 0;
	epoch = epoch_of(tgid);
	n = st->n;
	if (n > MAX_FRAMES)
		n = 0;
	/* The returning call's own frame is live. */
	n = drop_below(tgid, st, n, sp, epoch, 1);
	st->n = n;
	if (n == 0) {
		count(TG_CNT_UNMATCHED, 1);
		return 0;
	}
	top = frame_at(st, n - 1);
	if (top->sp != sp)
		return 0;	/* an inner call folded into this frame */
	a = *top;
	st->n = n - 1;
	if (a.ignored)
		return 0;

	if (a.ex) {
		if (ret != 1 || !a.out)
			return 0;
		if (bpf_probe_read_user(&len, sizeof(len), (void *)a.out)) {
			lose_call(tgid, a.ssl, a.dir, TG_CNT_LEN_UNKNOWN);
			return 0;
		}
		if (a.check && len > a.size) {
			probe_wrong(a.target);
			return 0;
		}
	} else {
		if (a.check && ret > 0 && (__u64)ret > a.size) {
			/* not SSL_read's or SSL_write's result */
			probe_wrong(a.target);
			return 0;
		}
		if (ret <= 0)
			return 0;
		len = ret;
	}
	if (!len)
		return 0;

	emit_call(tgid, a.ssl, a.buf, a.dir, len);
	return 0;
}

/* The SSL is being freed: calls of it still on this thread's stack will
 * not return; their bytes are lost. */
static __always_inline void forget_frames(__u32 tgid, __u64 ssl)
{
	struct ssl_args *st;
	struct frame *f;
	__u32 i, j = 0, n;

	st = bpf_task_storage_get(&ssl_args, bpf_get_current_task_btf(), 0, 0);
	if (!st)
		return;
	n = st->n;
	if (n > MAX_FRAMES)
		n = 0;
	for (i = 0; i < MAX_FRAMES; i++) {
		if (i >= n)
			break;
		f = frame_at(st, i);
		if (f->ssl == ssl) {
			drop_stale(tgid, f);
			continue;
		}
		if (j != i)
			*frame_at(st, j) = *f;
		j++;
	}
	st->n = j;
}

static __always_inline int ssl_free(void *ssl)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tg_conn_key key = { .tgid = id >> 32, .ssl = (__u64)ssl };
	struct conn_state *cs;
	struct tg_ev_close *e;
	__u64 gen;

	if ((id >> 32) == self_tgid || !ssl)
		return 0;
	forget_frames(id >> 32, (__u64)ssl);
	bpf_map_delete_elem(&ignore, &key);
	cs = bpf_map_lookup_elem(&conns, &key);
	if (!cs)
		return 0;
	gen = cs->gen;
	if (!bpf_map_delete_elem(&conns, &key))
		count(TG_CNT_CONNS_FREED, 1);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		/* The next connection on this address has a new generation:
		 * userspace ends this one then. */
		count(TG_CNT_RINGBUF_DROPS, 1);
		return 0;
	}
	fill_hdr(&e->hdr, TG_EV_CLOSE, 0);
	e->ssl = (__u64)ssl;
	e->gen = gen;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/*
 * Both programs are attached with uprobe_multi links (one link for all the
 * functions of a file, per process when scoped); the cookie says which
 * function fired.
 */
SEC("uprobe")
int BPF_KPROBE(uprobe_ssl)
{
	__u64 fn = bpf_get_attach_cookie(ctx);

	if (fn == TG_FN_FREE)
		return ssl_free((void *)PT_REGS_PARM1(ctx));
	return ssl_enter(ctx, fn & TG_FN_READ ? TG_DIR_READ : TG_DIR_WRITE,
			 fn & TG_FN_EX ? 1 : 0, fn);
}

SEC("uretprobe")
int BPF_KRETPROBE(uretprobe_ssl) { return ssl_leave(ctx); }

/*
 * Go's crypto/tls: (*Conn).Write and (*Conn).Read, called with Go's
 * register ABI (receiver, then the slice's pointer and length), return the
 * byte count in the first result register.  Returns are probed at each
 * RET instruction of the function (a uretprobe rewrites the return address
 * on a stack Go may move).  A goroutine moves between threads while it
 * blocks, so a call in progress is keyed by its goroutine (the g register),
 * not by thread.  A goroutine whose stack grows at the function's entry
 * runs the entry again: the same call, overwritten in place.
 */
#if defined(__TARGET_ARCH_x86)
#define GO_ARG1(x)	((x)->ax)
#define GO_ARG2(x)	((x)->bx)
#define GO_ARG3(x)	((x)->cx)
#define GO_RET1(x)	((x)->ax)
#define GO_G(x)		((x)->r14)
#elif defined(__TARGET_ARCH_arm64)
#define GO_ARG1(x)	((x)->regs[0])
#define GO_ARG2(x)	((x)->regs[1])
#define GO_ARG3(x)	((x)->regs[2])
#define GO_RET1(x)	((x)->regs[0])
#define GO_G(x)		((x)->regs[28])
#endif

struct go_key {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

struct go_call {
	__u64 conn;
	__u64 buf;
	__u64 size;
	__u32 epoch;
	__u8 dir;
	__u8 ignored;
	__u8 pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct go_key);
	__type(value, struct go_call);
} go_calls SEC(".maps");

static __always_inline int go_enter(struct pt_regs *ctx, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct go_key gk = { .tgid = tgid, .g = GO_G(ctx) };
	struct tg_conn_key key = { .tgid = tgid, .ssl = GO_ARG1(ctx) };
	struct go_call call = {}, *old;

	if (tgid == self_tgid)
		return 0;
	call.conn = key.ssl;
	call.buf = GO_ARG2(ctx);
	call.size = GO_ARG3(ctx);
	call.epoch = epoch_of(tgid);
	call.dir = dir;
	old = bpf_map_lookup_elem(&go_calls, &gk);
	if (old && !old->ignored && (old->conn != call.conn || old->buf != call.buf ||
				     old->size != call.size || old->dir != dir))
		/* not this call entered again: one whose return was missed */
		lose_call(tgid, old->conn, old->dir, TG_CNT_STALE_FRAMES);
	call.ignored = conn_ignored(&key);
	bpf_map_update_elem(&go_calls, &gk, &call, BPF_ANY);
	if (call.ignored)
		count(TG_CNT_IGNORED_CALLS, 1);
	else if (dir == TG_DIR_WRITE && (!old || old->buf != call.buf))
		gate_write(ctx, tgid, &key, call.buf, call.size, TG_HOLD_EX_GO, 0);
	return 0;
}

static __always_inline int go_leave(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct go_key gk = { .tgid = tgid, .g = GO_G(ctx) };
	struct go_call *p, call;
	__s64 ret = (__s64)GO_RET1(ctx);

	if (tgid == self_tgid)
		return 0;
	p = bpf_map_lookup_elem(&go_calls, &gk);
	if (!p) {
		count(TG_CNT_UNMATCHED, 1);
		return 0;
	}
	call = *p;
	bpf_map_delete_elem(&go_calls, &gk);
	if (call.ignored)
		return 0;
	if (call.epoch != epoch_of(tgid)) {
		/* entered before the process was attached again */
		lose_call(tgid, call.conn, call.dir, TG_CNT_STALE_FRAMES);
		return 0;
	}
	if (ret <= 0)
		return 0;
	if ((__u64)ret > call.size)	/* not Write's or Read's result */
		ret = call.size;
	emit_call(tgid, call.conn, call.buf, call.dir, ret);
	return 0;
}

/* One program for a Go executable's entries, RETs and Close: the cookie
 * says which. */
SEC("uprobe")
int BPF_KPROBE(uprobe_go)
{
	__u64 fn = bpf_get_attach_cookie(ctx);

	if (fn & TG_FN_FREE)
		return ssl_free((void *)GO_ARG1(ctx));
	if (fn & TG_FN_GO_RET)
		return go_leave(ctx);
	return go_enter(ctx, fn & TG_FN_READ ? TG_DIR_READ : TG_DIR_WRITE);
}

/*
 * aws-lc's AEAD, under rustls (aws-lc-rs): EVP_AEAD_CTX_seal encrypts one
 * TLS record's plaintext, EVP_AEAD_CTX_open decrypts one, in the order the
 * records cross the wire, so a record's application data is its
 * connection's next bytes.  Its kind: TLS 1.3 puts it after the data (the
 * inner content type; the additional data is the 5-byte record header),
 * TLS 1.2 in the 13-byte additional data (byte 8).  Records of other kinds
 * (handshake, alerts) are dropped.
 *
 *   int seal/open(ctx, out, size_t *out_len, max_out_len, nonce, nonce_len,
 *                 in, in_len, ad, ad_len)	the last four on the stack
 *
 * A connection's two directions use two AEAD contexts; its socket ties
 * them.  A write key is tied to the socket its thread writes next (rustls
 * seals, then writes the record out), a read to the socket the thread read
 * last (it reads, then opens).  Both directions are reported under the
 * write key's context, so they make one connection; closing the socket
 * ends it.  A read no write key is tied to is reported under its socket
 * (counted), never dropped.
 */
#define TLS_CT_APPDATA	23
#define AEAD_MAX_IN	(16384 + 256 + 1)
#define AEAD_FD_KEY	(1ull << 63)	/* a read tied to no write key */
#define S_IFMT_		0170000
#define S_IFSOCK_	0140000

struct aead_task {
	__u64 pending;		/* a write key sealed with, not tied yet */
	__u64 open_ctx;		/* the open in progress: */
	__u64 open_out;
	__u64 open_len;		/* its size_t *out_len */
	__u32 rfd;		/* the socket this thread read last */
	__u8 rfd_set;
	__u8 open_type;		/* TLS 1.2: the record's kind; 0: TLS 1.3 */
	__u8 open_check;
	__u8 open_busy;
	__u16 open_target;
	__u8 open_ring;		/* ring: open_len is the length itself */
	__u8 pad[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct aead_task);
} aead_task SEC(".maps");

/* Processes whose records are probed: their socket calls are followed. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);
} aead_procs SEC(".maps");

struct sock_key {
	__u32 tgid;
	__u32 fd;
};

/* socket -> the write key tied to it, and back */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct sock_key);
	__type(value, __u64);
} sock_ctx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tg_conn_key);
	__type(value, __u32);
} ctx_sock SEC(".maps");

static __always_inline int fd_is_socket(__u32 fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct file **fds, *f = NULL;
	unsigned int max;
	umode_t mode;

	fds = BPF_CORE_READ(t, files, fdt, fd);
	max = BPF_CORE_READ(t, files, fdt, max_fds);
	if (fd >= max || bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	mode = BPF_CORE_READ(f, f_inode, i_mode);
	return (mode & S_IFMT_) == S_IFSOCK_;
}

/* The record's additional data: 0 for TLS 1.3 (kind after the data), the
 * kind for TLS 1.2, -1 when it is not a TLS record's. */
static __always_inline int aead_ad(__u64 ad, __u64 ad_len)
{
	__u8 h[13];

	if (ad_len == 5) {
		if (bpf_probe_read_user(h, 5, (void *)ad) || h[0] != TLS_CT_APPDATA || h[1] != 3)
			return -1;
		return 0;
	}
	if (ad_len == 13) {
		if (bpf_probe_read_user(h, 13, (void *)ad) || h[9] != 3 || h[8] < 20 || h[8] > 24)
			return -1;
		return h[8];
	}
	return -1;
}

/* The bytes of application data in a record's plaintext of n bytes, or 0
 * for another kind (counted), or -1 when it is not a record's. */
static __always_inline __s64 aead_data(__u64 buf, __u64 n, int kind)
{
	__u8 t = 0;

	if (n > AEAD_MAX_IN)
		return -1;
	if (!kind) {
		/* rustls does not pad: a 0 would be padding, kind unknown */
		if (!n || bpf_probe_read_user(&t, 1, (void *)(buf + n - 1)))
			return -1;
		if (t < 20 || t > 24) {
			if (t)
				return -1;
			count(TG_CNT_AEAD_OTHER, 1);
			return 0;
		}
		kind = t;
		n--;
	}
	if (kind != TLS_CT_APPDATA) {
		count(TG_CNT_AEAD_OTHER, 1);
		return 0;
	}
	count(TG_CNT_AEAD_RECORDS, 1);
	return n;
}

static __always_inline void aead_mark(__u32 tgid)
{
	__u32 one = 1;

	if (!bpf_map_lookup_elem(&aead_procs, &tgid))
		bpf_map_update_elem(&aead_procs, &tgid, &one, BPF_ANY);
}

/*
 * A record's n bytes of application data at buf, sealed with write key
 * wkey: the key is tied to the socket the thread writes next, if it is not
 * yet; the bytes are the connection's next (and a gated process's request
 * is held here, before it is encrypted).
 */
static __always_inline int record_write(struct pt_regs *ctx, __u32 tgid, __u64 wkey,
					__u64 buf, __s64 n, __u8 ex)
{
	struct tg_conn_key key = { .tgid = tgid, .ssl = wkey };
	struct aead_task *st;

	if (!bpf_map_lookup_elem(&ctx_sock, &key)) {
		st = bpf_task_storage_get(&aead_task, bpf_get_current_task_btf(), 0,
					  BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (st)
			st->pending = key.ssl;
	}
	if (n <= 0)
		return 0;
	if (conn_ignored(&key)) {
		count(TG_CNT_IGNORED_CALLS, 1);
		return 0;
	}
	/* a held record is reported by userspace if it lets it go: one made
	 * to fail never left */
	if (gate_write(ctx, tgid, &key, buf, n, ex, 1))
		return 0;
	emit_call(tgid, key.ssl, buf, TG_DIR_WRITE, n);
	return 0;
}

static __always_inline int aead_seal(struct pt_regs *ctx, __u64 cookie)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tg_conn_key key = { .tgid = tgid, .ssl = PT_REGS_PARM1(ctx) };
	__u32 target = (__u16)(cookie >> TG_COOKIE_TARGET_SHIFT);
	__u64 a[4];		/* in, in_len, ad, ad_len */
	__s64 n;
	int kind;

	if (tgid == self_tgid)
		return 0;
	aead_mark(tgid);
	if (bpf_probe_read_user(a, sizeof(a), (void *)(PT_REGS_SP(ctx) + 8))) {
		lose_call(tgid, key.ssl, TG_DIR_WRITE, TG_CNT_LEN_UNKNOWN);
		return 0;
	}
	kind = aead_ad(a[2], a[3]);
	n = kind < 0 ? -1 : aead_data(a[0], a[1], kind);
	if (n < 0) {
		probe_wrong(target);
		return 0;
	}
	/* a C function returning 0 on failure: a held seal can be made to
	 * fail as SSL_write_ex is */
	return record_write(ctx, tgid, key.ssl, a[0], n, 1);
}

/* An open begins: the thread's state, with no open in progress. */
static __always_inline struct aead_task *open_begin(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct aead_task *st;

	if (tgid == self_tgid)
		return NULL;
	aead_mark(tgid);
	st = bpf_task_storage_get(&aead_task, bpf_get_current_task_btf(), 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (st)
		st->open_busy = 0;
	return st;
}

static __always_inline int aead_open(struct pt_regs *ctx, __u64 cookie)
{
	struct aead_task *st = open_begin();
	__u64 a[4];
	int kind;

	if (!st)
		return 0;
	if (bpf_probe_read_user(a, sizeof(a), (void *)(PT_REGS_SP(ctx) + 8)))
		return 0;
	kind = aead_ad(a[2], a[3]);
	if (kind < 0) {
		probe_wrong((__u16)(cookie >> TG_COOKIE_TARGET_SHIFT));
		return 0;
	}
	st->open_ctx = PT_REGS_PARM1(ctx);
	st->open_out = PT_REGS_PARM2(ctx);
	st->open_len = PT_REGS_PARM3(ctx);
	st->open_type = kind;
	st->open_ring = 0;
	st->open_target = (__u16)(cookie >> TG_COOKIE_TARGET_SHIFT);
	st->open_busy = 1;
	return 0;
}

static __always_inline int aead_opened(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct tg_conn_key key = { .tgid = tgid };
	struct sock_key sk = { .tgid = tgid };
	struct aead_task *st;
	__u64 len = 0, *w;
	__s64 n;

	if (tgid == self_tgid)
		return 0;
	st = bpf_task_storage_get(&aead_task, bpf_get_current_task_btf(), 0, 0);
	if (!st || !st->open_busy)
		return 0;
	st->open_busy = 0;
	if (st->open_ring) {
		/* Result<Tag, _> by reference: not checked (rustls compares
		 * the tags and drops the connection when they differ) */
		len = st->open_len;
	} else {
		if ((int)PT_REGS_RC(ctx) != 1)
			return 0;
		if (bpf_probe_read_user(&len, sizeof(len), (void *)st->open_len)) {
			lose_call(tgid, st->open_ctx, TG_DIR_READ, TG_CNT_LEN_UNKNOWN);
			return 0;
		}
	}
	n = aead_data(st->open_out, len, st->open_type);
	if (n < 0) {
		probe_wrong(st->open_target);
		return 0;
	}
	if (!n)
		return 0;
	key.ssl = st->open_ctx;
	if (st->rfd_set) {
		sk.fd = st->rfd;
		w = bpf_map_lookup_elem(&sock_ctx, &sk);
		if (w) {
			key.ssl = *w;
		} else {
			key.ssl = AEAD_FD_KEY | sk.fd;
			count(TG_CNT_AEAD_UNPAIRED, 1);
		}
	} else {
		count(TG_CNT_AEAD_UNPAIRED, 1);
	}
	if (conn_ignored(&key)) {
		count(TG_CNT_IGNORED_CALLS, 1);
		return 0;
	}
	emit_call(tgid, key.ssl, st->open_out, TG_DIR_READ, n);
	return 0;
}

/*
 * ring's seal and open (rustls's ring provider): Rust functions, whose
 * argument layout the Rust ABI does not fix.  Seen in ring 0.17: (sret,
 * key, nonce, aad ptr, aad len, in_out ptr, in_out len[, src.start]), the
 * last ones on the stack.  So the record is looked for among the argument
 * registers after the key and the first stack slots: the additional data
 * is a (pointer, 5) whose bytes are a TLS 1.3 application-data record
 * header, or a (pointer, 13) of TLS 1.2; the buffer is the pair after it,
 * whose length must be the one that header gives (the record's length
 * less the 16-byte tag).  open decrypts in place: the plaintext is in the
 * buffer when it returns.  Both directions are tied by the socket, as
 * aws-lc's are; the key (second argument) names each direction.
 */
#define RING_VALS	8
#if defined(__TARGET_ARCH_x86)
#define ARG6(x)		((x)->r9)
#else
#define ARG6(x)		((x)->regs[5])
#endif

static __always_inline int ring_record(struct pt_regs *ctx, __u64 *buf, __u64 *n)
{
	__u64 v[RING_VALS];
	__u8 h[13];
	__u64 want;
	int i, kind;

	v[0] = PT_REGS_PARM3(ctx);
	v[1] = PT_REGS_PARM4(ctx);
	v[2] = PT_REGS_PARM5(ctx);
	v[3] = ARG6(ctx);
	if (bpf_probe_read_user(&v[4], 4 * sizeof(__u64), (void *)(PT_REGS_SP(ctx) + 8)))
		return -1;
#pragma unroll
	for (i = 0; i + 3 < RING_VALS; i++) {
		if (v[i + 1] == 5) {
			if (bpf_probe_read_user(h, 5, (void *)v[i]) || h[0] != TLS_CT_APPDATA ||
			    h[1] != 3)
				continue;
			want = (__u64)h[3] << 8 | h[4];
			if (want < 16)
				continue;
			want -= 16;
			kind = 0;
		} else if (v[i + 1] == 13) {
			if (bpf_probe_read_user(h, 13, (void *)v[i]) || h[9] != 3 ||
			    h[8] < 20 || h[8] > 24)
				continue;
			want = (__u64)h[11] << 8 | h[12];
			kind = h[8];
		} else {
			continue;
		}
		if (v[i + 3] != want || !v[i + 2])
			continue;
		*buf = v[i + 2];
		*n = want;
		return kind;
	}
	return -1;
}

static __always_inline int ring_seal(struct pt_regs *ctx, __u64 cookie)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 target = (__u16)(cookie >> TG_COOKIE_TARGET_SHIFT);
	__u64 buf = 0, len = 0;
	int kind;
	__s64 n;

	if (tgid == self_tgid)
		return 0;
	aead_mark(tgid);
	kind = ring_record(ctx, &buf, &len);
	n = kind < 0 ? -1 : aead_data(buf, len, kind);
	if (n < 0) {
		probe_wrong(target);
		return 0;
	}
	/* its result is a Rust value: never made to fail from outside */
	return record_write(ctx, tgid, PT_REGS_PARM2(ctx), buf, n, TG_HOLD_EX_GO);
}

static __always_inline int ring_open(struct pt_regs *ctx, __u64 cookie)
{
	struct aead_task *st = open_begin();
	__u64 buf = 0, len = 0;
	int kind;

	if (!st)
		return 0;
	kind = ring_record(ctx, &buf, &len);
	if (kind < 0) {
		probe_wrong((__u16)(cookie >> TG_COOKIE_TARGET_SHIFT));
		return 0;
	}
	st->open_ctx = PT_REGS_PARM2(ctx);
	st->open_out = buf;
	st->open_len = len;
	st->open_ring = 1;
	st->open_type = kind;
	st->open_target = (__u16)(cookie >> TG_COOKIE_TARGET_SHIFT);
	st->open_busy = 1;
	return 0;
}

/* One program for seal, open and open's return: the cookie says which. */
SEC("uprobe")
int BPF_KPROBE(uprobe_aead)
{
	__u64 fn = bpf_get_attach_cookie(ctx);

	if (fn & TG_FN_RING)
		return fn & TG_FN_READ ? ring_open(ctx, fn) : ring_seal(ctx, fn);
	return fn & TG_FN_READ ? aead_open(ctx, fn) : aead_seal(ctx, fn);
}

SEC("uretprobe")
int BPF_KRETPROBE(uretprobe_aead) { return aead_opened(ctx); }

/* The socket calls of processes whose records are probed. */
static __always_inline int aead_sock_write(__u64 fd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct aead_task *st;
	struct tg_conn_key key = { .tgid = tgid };
	struct sock_key sk = { .tgid = tgid, .fd = (__u32)fd };
	__u32 fd32 = (__u32)fd;

	st = bpf_task_storage_get(&aead_task, bpf_get_current_task_btf(), 0, 0);
	if (!st || !st->pending || fd > 0x7fffffff || !fd_is_socket(fd32))
		return 0;
	key.ssl = st->pending;
	st->pending = 0;
	bpf_map_update_elem(&sock_ctx, &sk, &key.ssl, BPF_ANY);
	bpf_map_update_elem(&ctx_sock, &key, &fd32, BPF_ANY);
	count(TG_CNT_AEAD_BINDS, 1);
	return 0;
}

static __always_inline int aead_sock_read(__u64 fd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct aead_task *st;

	st = bpf_task_storage_get(&aead_task, bpf_get_current_task_btf(), 0, 0);
	if (!st) {
		if (!bpf_map_lookup_elem(&aead_procs, &tgid))
			return 0;
		st = bpf_task_storage_get(&aead_task, bpf_get_current_task_btf(), 0,
					  BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!st)
			return 0;
	}
	if (fd > 0x7fffffff || !fd_is_socket((__u32)fd))
		return 0;
	st->rfd = (__u32)fd;
	st->rfd_set = 1;
	return 0;
}

static __always_inline int aead_sock_close(__u64 fd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct sock_key sk = { .tgid = tgid, .fd = (__u32)fd };
	struct tg_conn_key key = { .tgid = tgid };
	__u64 *w;

	if (!bpf_map_lookup_elem(&aead_procs, &tgid))
		return 0;
	w = bpf_map_lookup_elem(&sock_ctx, &sk);
	if (!w)
		return 0;
	key.ssl = *w;
	bpf_map_delete_elem(&sock_ctx, &sk);
	bpf_map_delete_elem(&ctx_sock, &key);
	return ssl_free((void *)key.ssl);
}

#define SOCK_TP(call, fn)						\
	SEC("tracepoint/syscalls/sys_enter_" #call)				\
	int tp_sys_##call(struct trace_event_raw_sys_enter *ctx)		\
	{									\
		return fn(ctx->args[0]);					\
	}

SOCK_TP(write, aead_sock_write)
SOCK_TP(writev, aead_sock_write)
SOCK_TP(sendto, aead_sock_write)
SOCK_TP(sendmsg, aead_sock_write)
SOCK_TP(read, aead_sock_read)
SOCK_TP(readv, aead_sock_read)
SOCK_TP(recvfrom, aead_sock_read)
SOCK_TP(recvmsg, aead_sock_read)
SOCK_TP(close, aead_sock_close)

static __always_inline struct tg_ev_proc *proc_reserve(__u16 type)
{
	struct tg_ev_proc *e = bpf_ringbuf_reserve(&proc_events, sizeof(*e), 0);

	if (!e) {
		count(TG_CNT_PROC_DROPS, 1);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	fill_hdr(&e->hdr, type, 0);
	return e;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tp_exec, struct task_struct *p)
{
	struct tg_ev_proc *e = proc_reserve(TG_EV_EXEC);

	if (!e)
		return 0;
	bpf_get_current_comm(e->name, sizeof(e->name));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tp_exit, struct task_struct *p)
{
	struct tg_ev_proc *e;
	__u32 tgid;

	if (BPF_CORE_READ(p, pid) != BPF_CORE_READ(p, tgid))
		return 0;	/* a thread, not the process */
	tgid = BPF_CORE_READ(p, tgid);
	bpf_map_delete_elem(&gate, &tgid);
	e = proc_reserve(TG_EV_EXIT);
	if (e)
		bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tp_fork, struct task_struct *parent, struct task_struct *child)
{
	struct tg_ev_proc *e;
	__u32 ptgid, ctgid, *g;

	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;	/* new thread shares the parent's probes */
	/* A gated process's child is gated from its first instruction: a
	 * fork must not be a way out of the gate. */
	ptgid = BPF_CORE_READ(parent, tgid);
	g = bpf_map_lookup_elem(&gate, &ptgid);
	if (g) {
		ctgid = BPF_CORE_READ(child, tgid);
		bpf_map_update_elem(&gate, &ctgid, g, BPF_ANY);
	}
	if (!want_fork)
		return 0;
	e = proc_reserve(TG_EV_FORK);
	if (!e)
		return 0;
	e->hdr.tgid = BPF_CORE_READ(child, tgid);
	e->hdr.tid = e->hdr.tgid;
	/* clone3(CLONE_INTO_CGROUP) places the child elsewhere than its parent. */
	e->hdr.cgroup_id = BPF_CORE_READ(child, cgroups, dfl_cgrp, kn, id);
	e->reserved[0] = bpf_get_current_cgroup_id();	/* the parent's */
	e->ppid = BPF_CORE_READ(parent, tgid);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(tp_cgroup_attach, struct cgroup *dst, const char *path,
	     struct task_struct *task)
{
	struct tg_ev_proc *e;

	if (!want_fork)
		return 0;
	e = proc_reserve(TG_EV_CGROUP);
	if (!e)
		return 0;
	e->hdr.tgid = BPF_CORE_READ(task, tgid);
	e->hdr.tid = BPF_CORE_READ(task, pid);
	e->hdr.cgroup_id = BPF_CORE_READ(dst, kn, id);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/*
 * The dynamic linker calls _dl_debug_state() after every change to a
 * process's link map (start-up, dlopen, dlclose): the hook debuggers use.
 * Userspace then looks for libraries it has not probed yet.
 */
SEC("uprobe")
int BPF_KPROBE(uprobe_dl_debug_state)
{
	struct tg_ev_proc *e;

	if ((bpf_get_current_pid_tgid() >> 32) == self_tgid)
		return 0;
	e = proc_reserve(TG_EV_LINKMAP);
	if (e)
		bpf_ringbuf_submit(e, 0);
	return 0;
}
