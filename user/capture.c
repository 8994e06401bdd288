// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "capture.h"
#include "capture.skel.h"
#include "log.h"

_Static_assert(sizeof(struct tg_ev_hdr) == 40, "tg_ev_hdr layout");
_Static_assert(sizeof(struct tg_conn_key) == 16, "tg_conn_key layout");
_Static_assert(offsetof(struct tg_ev_data, data) == 88, "tg_ev_data layout");
_Static_assert(sizeof(struct tg_ev_data) == 88, "tg_ev_data layout");
_Static_assert(sizeof(struct tg_ev_gap) == 80, "tg_ev_gap layout");
_Static_assert(sizeof(struct tg_ev_close) == 56, "tg_ev_close layout");
_Static_assert(sizeof(struct tg_ev_proc) == 128, "tg_ev_proc layout");

const char *const capture_counter_names[TG_CNT__MAX] = {
	[TG_CNT_CALLS]			= "ssl_calls",
	[TG_CNT_BYTES]			= "bytes_copied",
	[TG_CNT_GAPS]			= "gaps",
	[TG_CNT_GAP_BYTES]		= "gap_bytes",
	[TG_CNT_GAP_BYTES_CAP]		= "gap_bytes_cap",
	[TG_CNT_GAP_BYTES_FAULT]	= "gap_bytes_fault",
	[TG_CNT_GAP_BYTES_RINGBUF]	= "gap_bytes_ringbuf",
	[TG_CNT_RINGBUF_DROPS]		= "ringbuf_drops",
	[TG_CNT_IGNORED_CALLS]		= "ignored_calls",
	[TG_CNT_NESTED]			= "nested_calls",
	[TG_CNT_LOST_CALLS]		= "lost_calls",
	[TG_CNT_STALE_FRAMES]		= "stale_frames",
	[TG_CNT_NO_FRAME]		= "no_frame",
	[TG_CNT_LEN_UNKNOWN]		= "len_unknown",
	[TG_CNT_UNMATCHED]		= "unmatched_returns",
	[TG_CNT_CONNS_NEW]		= "kernel_conns_new",
	[TG_CNT_CONNS_FREED]		= "kernel_conns_freed",
	[TG_CNT_PROC_DROPS]		= "proc_event_drops",
	[TG_CNT_HOLDS]			= "holds",
	[TG_CNT_HOLD_DROPS]		= "hold_drops",
	[TG_CNT_PROBE_BAD]		= "probe_bad_results",
	[TG_CNT_AEAD_RECORDS]		= "tls_records",
	[TG_CNT_AEAD_OTHER]		= "tls_records_other",
	[TG_CNT_AEAD_BINDS]		= "tls_keys_tied",
	[TG_CNT_AEAD_UNPAIRED]		= "tls_records_untied",
};

struct capture {
	struct capture_bpf *skel;
	struct ring_buffer *rb;		/* the process-event ring */
	struct ring_buffer *rb_data;	/* the data ring */
	struct bpf_link *links[8];
	size_t nlinks;
	struct capture_handlers h;
	void *ctx;
	int ncpus;
};

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	const char *msg = buf;
	size_t n;

	if (level == LIBBPF_DEBUG && log_get_level() < LOG_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	/* Most of libbpf's messages name it already. */
	if (!strncmp(msg, "libbpf: ", 8))
		msg += 8;
	log_msg(level == LIBBPF_WARN ? LOG_WARN : LOG_DEBUG, "libbpf: %s", msg);
	return 0;
}

const char *capture_unsupported(void)
{
	if (geteuid() != 0)
		return "needs root (uid 0, with CAP_BPF and CAP_PERFMON to load BPF and attach "
		       "uprobes, CAP_SYS_PTRACE to hold and block)";
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		return "needs a kernel with BTF (/sys/kernel/btf/vmlinux is missing: CONFIG_DEBUG_INFO_BTF=y)";
	return NULL;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct capture *c = ctx;
	const struct tg_ev_hdr *hdr = data;

	if (size < sizeof(*hdr))
		return 0;
	switch (hdr->type) {
	case TG_EV_DATA:
		if (size >= sizeof(struct tg_ev_data) + hdr->len &&
		    hdr->len <= TG_CHUNK_MAX)
			c->h.on_data(c->ctx, data);
		break;
	case TG_EV_GAP:
		if (size >= sizeof(struct tg_ev_gap))
			c->h.on_gap(c->ctx, data);
		break;
	case TG_EV_CLOSE:
		if (size >= sizeof(struct tg_ev_close))
			c->h.on_close(c->ctx, data);
		break;
	case TG_EV_HOLD:
		if (size < sizeof(struct tg_ev_hold) || hdr->len > TG_HOLD_COPY)
			break;
		if (c->h.on_hold)
			c->h.on_hold(c->ctx, data);
		else		/* nobody to decide: never leave it stopped */
			kill((pid_t)hdr->tgid, SIGCONT);
		break;
	default:
		if (size >= sizeof(struct tg_ev_proc))
			c->h.on_proc(c->ctx, data);
		break;
	}
	return 0;
}

struct capture *capture__new(const struct capture_cfg *cfg,
			     const struct capture_handlers *h, void *ctx)
{
	struct capture *c = calloc(1, sizeof(*c));
	struct bpf_program *progs[4];
	size_t i;
	int err;

	if (!c)
		return NULL;
	c->h = *h;
	c->ctx = ctx;
	libbpf_set_print(libbpf_print);
	c->ncpus = libbpf_num_possible_cpus();
	c->skel = capture_bpf__open();
	if (!c->skel) {
		err = -errno;
		log_error("cannot open the BPF object: %s", strerror(-err));
		goto err_free;
	}
	c->skel->rodata->call_cap = cfg->call_cap;
	c->skel->rodata->self_tgid = getpid();
	c->skel->rodata->want_fork = cfg->scoped;
	/* Every uprobe attaches through uprobe_multi links (see attach.c). */
	bpf_program__set_expected_attach_type(c->skel->progs.uprobe_ssl, TG_BPF_TRACE_UPROBE_MULTI);
	bpf_program__set_expected_attach_type(c->skel->progs.uretprobe_ssl, TG_BPF_TRACE_UPROBE_MULTI);
	bpf_program__set_expected_attach_type(c->skel->progs.uprobe_go, TG_BPF_TRACE_UPROBE_MULTI);
	bpf_program__set_expected_attach_type(c->skel->progs.uprobe_aead, TG_BPF_TRACE_UPROBE_MULTI);
	bpf_program__set_expected_attach_type(c->skel->progs.uretprobe_aead,
					      TG_BPF_TRACE_UPROBE_MULTI);
	bpf_program__set_expected_attach_type(c->skel->progs.uprobe_dl_debug_state,
					      TG_BPF_TRACE_UPROBE_MULTI);
	err = bpf_map__set_max_entries(c->skel->maps.events, cfg->ringbuf_bytes);
	if (err)
		goto err_free;
	err = capture_bpf__load(c->skel);
	if (err) {
		log_error("cannot load the BPF programs: %s", strerror(-err));
		goto err_free;
	}
	progs[0] = c->skel->progs.tp_exec;
	progs[1] = c->skel->progs.tp_exit;
	progs[2] = c->skel->progs.tp_fork;
	progs[3] = c->skel->progs.tp_cgroup_attach;
	for (i = 0; i < 4; i++) {
		c->links[c->nlinks] = bpf_program__attach(progs[i]);
		if (!c->links[c->nlinks]) {
			err = -errno;
			log_error("cannot attach %s: %s", bpf_program__name(progs[i]),
				  strerror(-err));
			goto err_free;
		}
		c->nlinks++;
	}
	/* One reader a ring: each reader maps its ring's data twice, and
	 * the data ring is the agent's largest memory. */
	c->rb_data = ring_buffer__new(bpf_map__fd(c->skel->maps.events), on_event, c, NULL);
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.proc_events), on_event, c, NULL);
	if (!c->rb || !c->rb_data) {
		err = -errno;
		goto err_free;
	}
	return c;
err_free:
	/* capture__free releases whatever part was made. */
	capture__free(c);
	errno = -err;
	return NULL;
}

struct capture_bpf *capture__skel(struct capture *c)
{
	return c->skel;
}

int capture__poll(struct capture *c, int timeout_ms)
{
	struct pollfd pfd[2] = {
		{ .fd = ring_buffer__epoll_fd(c->rb_data), .events = POLLIN },
		{ .fd = ring_buffer__epoll_fd(c->rb), .events = POLLIN },
	};

	if (poll(pfd, 2, timeout_ms) < 0)
		return -errno;
	return capture__drain(c);
}

/* Data first: a process's exit (on the other ring) is acted on once what
 * it sent has been read. */
int capture__drain(struct capture *c)
{
	int n = ring_buffer__consume(c->rb_data), m;

	if (n < 0)
		return n;
	m = ring_buffer__consume(c->rb);
	return m < 0 ? m : n + m;
}

int capture__drain_data(struct capture *c)
{
	return ring_buffer__consume(c->rb_data);
}

int capture__ignore(struct capture *c, uint32_t tgid, uint64_t ssl, uint64_t gen)
{
	struct tg_conn_key k = { .tgid = tgid, .ssl = ssl };
	__u64 g = gen;

	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.ignore), &k, &g, BPF_ANY))
		return -errno;
	return 0;
}

int capture__gate(struct capture *c, uint32_t tgid, int on)
{
	int fd = bpf_map__fd(c->skel->maps.gate);
	__u32 v = TG_GATE_ON;

	if (on ? bpf_map_update_elem(fd, &tgid, &v, BPF_ANY) :
		 bpf_map_delete_elem(fd, &tgid) && errno != ENOENT)
		return -errno;
	return 0;
}

int capture__gate_next(struct capture *c, uint32_t tgid, uint64_t ssl, uint64_t gen)
{
	struct tg_conn_key k = { .tgid = tgid, .ssl = ssl };
	__u64 g = gen;

	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.gate_next), &k, &g, BPF_ANY))
		return -errno;
	return 0;
}

int capture__gate_clear(struct capture *c)
{
	int fd = bpf_map__fd(c->skel->maps.gate);
	__u32 k;

	while (!bpf_map_get_next_key(fd, NULL, &k))
		if (bpf_map_delete_elem(fd, &k))
			return -errno;
	return 0;
}

int capture__forget(struct capture *c, uint32_t tgid, uint64_t ssl)
{
	struct tg_conn_key k = { .tgid = tgid, .ssl = ssl };

	bpf_map_delete_elem(bpf_map__fd(c->skel->maps.ignore), &k);
	return !bpf_map_delete_elem(bpf_map__fd(c->skel->maps.conns), &k);
}

uint64_t capture__conns_live(struct capture *c)
{
	int fd = bpf_map__fd(c->skel->maps.conns);
	struct tg_conn_key k, next;
	uint64_t n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		n++;
		k = next;
		prev = &k;
	}
	return n;
}

int capture__counters(struct capture *c, uint64_t out[TG_CNT__MAX])
{
	uint64_t *vals = calloc(c->ncpus, sizeof(*vals));
	int fd = bpf_map__fd(c->skel->maps.counters), cpu;
	__u32 i;

	if (!vals)
		return -ENOMEM;
	for (i = 0; i < TG_CNT__MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, vals))
			continue;
		for (cpu = 0; cpu < c->ncpus; cpu++)
			out[i] += vals[cpu];
	}
	free(vals);
	return 0;
}

void capture__free(struct capture *c)
{
	size_t i;

	if (!c)
		return;
	ring_buffer__free(c->rb);
	ring_buffer__free(c->rb_data);
	for (i = 0; i < c->nlinks; i++)
		bpf_link__destroy(c->links[i]);
	capture_bpf__destroy(c->skel);
	free(c);
}
