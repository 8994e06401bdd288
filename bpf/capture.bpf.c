// SPDX-License-Identifier: GPL-2.0
/*
 * TLS plaintext capture: uprobes on OpenSSL's SSL_read/SSL_write family,
 * plus the process lifecycle events userspace needs to place the probes.
 *
 * Entry probes save the arguments per thread; return probes copy what was
 * actually transferred, in chunks, into the `events` ring buffer.  Calls
 * nested inside another probed call on the same thread (SSL_write_ex ->
 * SSL_write in some builds) are folded into the outer one, so every byte
 * is reported once.  Bytes that are not copied become TG_EV_GAP records.
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

#define MAX_FRAMES 4

/* One probed call in progress on a thread. */
struct frame {
	__u64 ssl;
	__u64 buf;
	__u64 out;	/* size_t * of the _ex variants, 0 otherwise */
	__u32 depth;	/* the same call seen again from inside itself */
	__u8 dir;
	__u8 ex;
	__u8 ignored;	/* userspace has no use for this connection */
	__u8 pad;
};

/*
 * Calls in progress, innermost last.  A call can be made from inside
 * another: SSL_write_ex -> SSL_write within the library (same SSL, same
 * direction, same buffer: folded, reported once), or a different call
 * from a callback (node writes from inside SSL_read: a frame of its own).
 */
struct ssl_args {
	struct frame f[MAX_FRAMES];
	__u32 n;
	__u32 pad;
};

struct conn_state {
	__u64 off[2];	/* bytes seen so far, per direction */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct ssl_args);
} ssl_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tg_conn_key);
	__type(value, struct conn_state);
} conns SEC(".maps");

/* Connections userspace has judged not to be LLM traffic. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tg_conn_key);
	__type(value, __u8);
} ignore SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);	/* resized by userspace before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 << 10);
} proc_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tg_ev_data);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TG_CNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

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

static __always_inline int ssl_enter(struct pt_regs *ctx, __u8 dir, __u8 ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct tg_conn_key key = {};
	struct ssl_args *st, zero = {};
	struct frame *top;
	__u64 buf = PT_REGS_PARM2(ctx);
	__u32 n;

	if ((id >> 32) == self_tgid)
		return 0;
	key.tgid = id >> 32;
	key.ssl = PT_REGS_PARM1(ctx);
	st = bpf_map_lookup_elem(&ssl_args, &tid);
	if (!st) {
		if (bpf_map_update_elem(&ssl_args, &tid, &zero, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&ssl_args, &tid)) {
			count(TG_CNT_ARGS_FULL, 1);
			return 0;
		}
		st = bpf_map_lookup_elem(&ssl_args, &tid);
		if (!st)
			return 0;
	}
	n = st->n;
	if (n > 0 && n <= MAX_FRAMES) {
		top = &st->f[(n - 1) & (MAX_FRAMES - 1)];
		if (top->ssl == key.ssl && top->dir == dir && top->buf == buf) {
			top->depth++;
			count(TG_CNT_NESTED, 1);
			return 0;
		}
	}
	if (n >= MAX_FRAMES) {
		/* Deeper than any real caller: the stack is stale; start over. */
		count(TG_CNT_ARGS_FULL, 1);
		n = 0;
	}
	/* Every call gets a frame, so that returns pop the right one. */
	top = &st->f[n & (MAX_FRAMES - 1)];
	top->ssl = key.ssl;
	top->buf = buf;
	top->out = ex ? PT_REGS_PARM4(ctx) : 0;
	top->depth = 1;
	top->dir = dir;
	top->ex = ex;
	top->ignored = !!bpf_map_lookup_elem(&ignore, &key);
	st->n = n + 1;
	if (top->ignored)
		count(TG_CNT_IGNORED_CALLS, 1);
	return 0;
}

static __always_inline void emit_gap(__u64 ssl, __u64 off, __u64 len,
				     __u8 dir, __u8 reason)
{
	struct tg_ev_gap *g;

	count(TG_CNT_GAPS, 1);
	count(TG_CNT_GAP_BYTES, len);
	g = bpf_ringbuf_reserve(&events, sizeof(*g), 0);
	if (!g) {
		/* Userspace still sees the hole through the next offset. */
		count(TG_CNT_RINGBUF_DROPS, 1);
		return;
	}
	fill_hdr(&g->hdr, TG_EV_GAP, 0);
	g->ssl = ssl;
	g->offset = off;
	g->length = len;
	g->dir = dir;
	g->reason = reason;
	__builtin_memset(g->pad, 0, sizeof(g->pad));
	bpf_ringbuf_submit(g, 0);
}

struct copy_ctx {
	__u64 ssl;
	__u64 buf;
	__u64 off;
	__u64 copy;	/* bytes to copy in all */
	__u8 dir;
};

static long copy_chunk(__u32 i, void *arg)
{
	struct copy_ctx *c = arg;
	__u32 zero = 0;
	struct tg_ev_data *e;
	__u64 pos = (__u64)i * TG_CHUNK_MAX;
	__u64 len;

	if (pos >= c->copy)
		return 1;
	len = c->copy - pos;
	if (len > TG_CHUNK_MAX)
		len = TG_CHUNK_MAX;
	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 1;
	if (bpf_probe_read_user(e->data, len, (void *)(c->buf + pos))) {
		emit_gap(c->ssl, c->off + pos, len, c->dir, TG_GAP_FAULT);
		return 0;
	}
	fill_hdr(&e->hdr, TG_EV_DATA, (__u16)len);
	e->ssl = c->ssl;
	e->offset = c->off + pos;
	e->dir = c->dir;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (bpf_ringbuf_output(&events, e,
			       offsetof(struct tg_ev_data, data) + len, 0)) {
		count(TG_CNT_RINGBUF_DROPS, 1);
		count(TG_CNT_GAP_BYTES, len);
		return 0;
	}
	count(TG_CNT_BYTES, len);
	return 0;
}

static __always_inline int ssl_leave(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct tg_conn_key key = {};
	struct conn_state *cs, zst = {};
	struct ssl_args *st;
	struct frame *top, a;
	struct copy_ctx c = {};
	int ret = (int)PT_REGS_RC(ctx);	/* every probed function returns int */
	__u64 n = 0, copy;

	st = bpf_map_lookup_elem(&ssl_args, &tid);
	if (!st || st->n == 0 || st->n > MAX_FRAMES)
		return 0;
	top = &st->f[(st->n - 1) & (MAX_FRAMES - 1)];
	if (top->depth > 1) {
		top->depth--;
		return 0;
	}
	a = *top;
	st->n--;
	if (a.ignored)
		return 0;

	if (a.ex) {
		if (ret != 1 || !a.out)
			return 0;
		if (bpf_probe_read_user(&n, sizeof(n), (void *)a.out))
			return 0;
	} else {
		if (ret <= 0)
			return 0;
		n = ret;
	}
	if (!n)
		return 0;

	key.tgid = id >> 32;
	key.ssl = a.ssl;
	cs = bpf_map_lookup_elem(&conns, &key);
	if (!cs) {
		bpf_map_update_elem(&conns, &key, &zst, BPF_NOEXIST);
		cs = bpf_map_lookup_elem(&conns, &key);
		if (!cs)
			return 0;
	}
	c.off = cs->off[a.dir & 1];
	cs->off[a.dir & 1] += n;
	count(TG_CNT_CALLS, 1);

	copy = n < call_cap ? n : call_cap;
	c.ssl = a.ssl;
	c.buf = a.buf;
	c.copy = copy;
	c.dir = a.dir;
	bpf_loop((copy + TG_CHUNK_MAX - 1) / TG_CHUNK_MAX, copy_chunk, &c, 0);
	if (n > copy)
		emit_gap(a.ssl, c.off + copy, n - copy, a.dir, TG_GAP_CAP);
	return 0;
}

static __always_inline int ssl_free(void *ssl)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct tg_conn_key key = { .tgid = id >> 32, .ssl = (__u64)ssl };
	struct tg_ev_close *e;
	int seen;

	if ((id >> 32) == self_tgid || !ssl)
		return 0;
	seen = !bpf_map_delete_elem(&conns, &key);
	seen |= !bpf_map_delete_elem(&ignore, &key);
	if (!seen)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(TG_CNT_RINGBUF_DROPS, 1);
		return 0;
	}
	fill_hdr(&e->hdr, TG_EV_CLOSE, 0);
	e->ssl = (__u64)ssl;
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
			 fn & TG_FN_EX ? 1 : 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(uretprobe_ssl) { return ssl_leave(ctx); }

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
	__u32 tid = BPF_CORE_READ(p, pid);
	struct tg_ev_proc *e;

	bpf_map_delete_elem(&ssl_args, &tid);
	if (tid != BPF_CORE_READ(p, tgid))
		return 0;	/* a thread, not the process */
	e = proc_reserve(TG_EV_EXIT);
	if (e)
		bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tp_fork, struct task_struct *parent, struct task_struct *child)
{
	struct tg_ev_proc *e;

	if (!want_fork)
		return 0;
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;	/* new thread shares the parent's probes */
	e = proc_reserve(TG_EV_FORK);
	if (!e)
		return 0;
	e->hdr.tgid = BPF_CORE_READ(child, tgid);
	e->hdr.tid = e->hdr.tgid;
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
