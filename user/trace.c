// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * `tollgate trace`: capture -> stream -> exchange -> one line per LLM call.
 * Also the loop behind `tollgate run`.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "attach.h"
#include "capture.h"
#include "cgroup.h"
#include "escape.h"
#include "log.h"
#include "membudget.h"
#include "procinfo.h"
#include "stream.h"
#include "trace.h"

#define EXE_CACHE	1024
#define PENDING_EXITS	4096
#define MAX_GLOBS	64

struct exe_entry {
	uint32_t pid;
	char exe[PATH_MAX];
};

struct agent {
	const struct trace_opts *opts;
	struct capture *cap;
	struct attacher *att;
	struct stream_table *streams;
	struct cgroup_resolver *cg;
	struct membudget mb;		/* what all connections may buffer */
	int64_t mono_to_real;		/* add to CLOCK_MONOTONIC ns for wall clock */
	struct exe_entry *exes;		/* direct-mapped by pid */
	struct { uint32_t tgid; uint64_t ts; } exits[PENDING_EXITS];
	size_t nexits;
	uint64_t exit_flushes;		/* pending exits full: data ring read early */
	uint64_t scope_exits;		/* probed processes that left the scope */
	uint64_t records;
	uint64_t ignore_errors;
	uint64_t forgotten;		/* kernel entries dropped with their process */
	int out_closed;			/* standard output is gone */
};

static volatile sig_atomic_t stop, want_counters;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		want_counters = 1;
	else
		stop = 1;
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static const char *exe_of(struct agent *ag, uint32_t pid)
{
	struct exe_entry *e = &ag->exes[pid % EXE_CACHE];

	if (e->pid != pid) {
		e->pid = pid;
		if (proc_read_exe(pid, e->exe, sizeof(e->exe)))
			e->exe[0] = '\0';
	}
	return e->exe[0] ? e->exe : NULL;
}

static void exe_forget(struct agent *ag, uint32_t pid)
{
	struct exe_entry *e = &ag->exes[pid % EXE_CACHE];

	if (e->pid == pid)
		e->pid = 0;
}

/* Captured strings go into JSON as valid UTF-8 (json-c escapes the rest). */
static void add_str(json_object *o, const char *k, const char *v)
{
	char buf[PATH_MAX * 3 + 1];

	if (!v || !v[0]) {
		json_object_object_add(o, k, NULL);
		return;
	}
	escape_utf8(buf, sizeof(buf), v, strlen(v));
	json_object_object_add(o, k, json_object_new_string(buf));
}

/* §9 `capture`: complete, or why the record may be short. */
static const char *capture_of(uint32_t flags)
{
	if (flags & (TG_REC_REQ_TRUNCATED | TG_REC_RESP_TRUNCATED | TG_REC_NO_RESPONSE |
		     TG_REC_UNTRACKED))
		return "cut_off";
	if (flags & (TG_REC_GAP | TG_REC_SHED | TG_REC_DECODE_ERROR | TG_REC_BODY_OVERFLOW |
		     TG_REC_SSE_DROPPED))
		return "gap";
	return "complete";
}

/* Writes a whole line to standard output; a closed output stops the agent. */
static void out_line(struct agent *ag, const char *line)
{
	if (ag->out_closed)
		return;
	if (fputs(line, stdout) == EOF || fputc('\n', stdout) == EOF ||
	    fflush(stdout) == EOF) {
		ag->out_closed = 1;
		stop = 1;
		if (errno != EPIPE)
			log_error("standard output: %s", strerror(errno));
	}
}

/* A pipe whose reader has gone shows POLLERR on our end, before we write. */
static void check_output(struct agent *ag)
{
	struct pollfd pfd = { .fd = STDOUT_FILENO, .events = 0 };

	if (!ag->out_closed && poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLHUP))) {
		ag->out_closed = 1;
		stop = 1;
	}
}

static void add_ms(json_object *o, const char *k, uint64_t ns)
{
	char buf[32];

	/* Milliseconds with microsecond resolution; null when unknown. */
	if (ns == TG_TIME_UNKNOWN) {
		json_object_object_add(o, k, NULL);
		return;
	}
	snprintf(buf, sizeof(buf), "%" PRIu64 ".%03" PRIu64, ns / 1000000, ns / 1000 % 1000);
	json_object_object_add(o, k, json_object_new_double_s((double)ns / 1e6, buf));
}

static void print_jsonl(struct agent *ag, const struct tg_record *r,
			const char *cgroup, const char *exe)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ts", json_object_new_int64(
		(int64_t)r->start_ns + ag->mono_to_real));
	json_object_object_add(o, "pid", json_object_new_int64(r->who.tgid));
	add_str(o, "comm", r->who.comm);
	add_str(o, "exe", exe);
	json_object_object_add(o, "uid", json_object_new_int64(r->who.uid));
	add_str(o, "cgroup", cgroup);
	add_str(o, "provider", r->call.provider);
	add_str(o, "host", r->host);
	add_str(o, "method", r->method);
	add_str(o, "path", r->path);
	add_str(o, "model", r->call.model);
	json_object_object_add(o, "stream", json_object_new_boolean(r->call.stream));
	json_object_object_add(o, "status", r->status ?
			       json_object_new_int(r->status) : NULL);
	json_object_object_add(o, "request_bytes", json_object_new_int64(r->request_bytes));
	json_object_object_add(o, "response_bytes", json_object_new_int64(r->response_bytes));
	add_ms(o, "ttft_ms", r->ttft_ns);
	add_ms(o, "duration_ms", r->duration_ns);
	json_object_object_add(o, "capture", json_object_new_string(capture_of(r->flags)));
	if (r->flags & TG_REC_FIELD_CUT)
		json_object_object_add(o, "fields_cut", json_object_new_boolean(1));
	out_line(ag, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static void fmt_ms(char *buf, size_t cap, uint64_t ns)
{
	if (ns == TG_TIME_UNKNOWN)
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "%" PRIu64 ".%01" PRIu64 "ms", ns / 1000000,
			 ns / 100000 % 10);
}

/* A text field: escaped (spaces too), "?" when empty. */
static const char *text_field(char *buf, size_t cap, const char *s)
{
	if (!s || !s[0])
		return "?";
	escape_text(buf, cap, s, strlen(s), ESCAPE_SPACE);
	return buf;
}

static const struct {
	uint32_t flag;
	const char *tag;
} text_tags[] = {
	{ TG_REC_REQ_TRUNCATED | TG_REC_RESP_TRUNCATED | TG_REC_NO_RESPONSE, "cut-off" },
	{ TG_REC_UNTRACKED,	"untracked" },
	{ TG_REC_GAP,		"gap" },
	{ TG_REC_SHED,		"shed" },
	{ TG_REC_DECODE_ERROR,	"decode-error" },
	{ TG_REC_BODY_OVERFLOW,	"body-over-cap" },
	{ TG_REC_SSE_DROPPED,	"events-dropped" },
	{ TG_REC_FIELD_CUT,	"field-cut" },
};

static void print_text(struct agent *ag, const struct tg_record *r, const char *cgroup)
{
	uint64_t real = r->start_ns + ag->mono_to_real;
	time_t secs = real / 1000000000ull;
	char when[32], ttft[32], dur[32], status[8], tags[128] = "";
	char comm[64], cg[1024], prov[128], meth[64], host[1024], path[2048], model[1024];
	char line[8192];
	struct tm tm;
	size_t i;

	localtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fmt_ms(ttft, sizeof(ttft), r->ttft_ns);
	fmt_ms(dur, sizeof(dur), r->duration_ns);
	if (r->status)
		snprintf(status, sizeof(status), "%d", r->status);
	else
		snprintf(status, sizeof(status), "---");
	for (i = 0; i < sizeof(text_tags) / sizeof(text_tags[0]); i++)
		if (r->flags & text_tags[i].flag)
			snprintf(tags + strlen(tags), sizeof(tags) - strlen(tags), " %s",
				 text_tags[i].tag);
	snprintf(line, sizeof(line), "%s.%03" PRIu64 " %-7u %-15s %-24s %-18s %s %s%s %s%s %s req=%"
		 PRIu64 "B resp=%" PRIu64 "B ttft=%s dur=%s%s",
		 when, real / 1000000 % 1000, r->who.tgid,
		 text_field(comm, sizeof(comm), r->who.comm),
		 text_field(cg, sizeof(cg), cgroup),
		 text_field(prov, sizeof(prov), r->call.provider),
		 text_field(meth, sizeof(meth), r->method),
		 text_field(host, sizeof(host), r->host),
		 text_field(path, sizeof(path), r->path),
		 text_field(model, sizeof(model), r->call.model),
		 r->call.stream ? " stream" : "", status,
		 r->request_bytes, r->response_bytes, ttft, dur, tags);
	out_line(ag, line);
}

static void on_record(void *ctx, const struct tg_record *r)
{
	struct agent *ag = ctx;
	const char *cgroup = cgroup_resolver__path(ag->cg, r->who.cgroup_id, r->who.tgid);
	const char *exe = exe_of(ag, r->who.tgid);

	ag->records++;
	if (ag->opts->format == TRACE_JSONL)
		print_jsonl(ag, r, cgroup, exe);
	else
		print_text(ag, r, cgroup);
}

static void on_ignore(void *ctx, const struct tg_meta *m, uint64_t ssl, uint64_t gen,
		      enum stream_ignore_why why)
{
	struct agent *ag = ctx;
	const char *exe;

	if (capture__ignore(ag->cap, m->tgid, ssl, gen))
		ag->ignore_errors++;
	if (why == STREAM_IGNORE_HTTP2) {
		exe = exe_of(ag, m->tgid);
		attacher__note_unseen(ag->att, m->tgid, ATTACH_UNSEEN_HTTP2, exe ? exe : "?");
	}
}

/* A connection ended with its process, or idle: the kernel's entries go
 * too, so that a reused address starts afresh. */
static void on_end(void *ctx, uint32_t tgid, uint64_t ssl, uint64_t gen,
		   enum stream_end_why why)
{
	struct agent *ag = ctx;

	if (why == STREAM_END_EXIT || why == STREAM_END_EXPIRED)
		ag->forgotten += capture__forget(ag->cap, tgid, ssl);
}

static void meta_from(struct tg_meta *m, const struct tg_ev_hdr *h)
{
	m->ts_ns = h->ts_ns;
	m->cgroup_id = h->cgroup_id;
	m->tgid = h->tgid;
	m->tid = h->tid;
	m->uid = h->uid;
}

static void on_data(void *ctx, const struct tg_ev_data *e)
{
	struct agent *ag = ctx;
	struct tg_meta m;

	meta_from(&m, &e->hdr);
	memcpy(m.comm, e->comm, sizeof(m.comm));
	m.comm[sizeof(m.comm) - 1] = '\0';
	/* Learn the executable while the process is surely alive. */
	exe_of(ag, m.tgid);
	stream__data(ag->streams, &m, e->ssl, e->gen, e->dir, e->offset, e->data, e->hdr.len);
}

static void on_gap(void *ctx, const struct tg_ev_gap *e)
{
	struct agent *ag = ctx;
	struct tg_meta m = {};

	meta_from(&m, &e->hdr);
	stream__gap(ag->streams, &m, e->ssl, e->gen, e->dir, e->offset, e->length,
		    e->reason == TG_GAP_LOST);
}

static void on_close(void *ctx, const struct tg_ev_close *e)
{
	struct agent *ag = ctx;

	stream__close(ag->streams, e->hdr.tgid, e->ssl, e->gen, e->hdr.ts_ns);
}

static void flush_exits(struct agent *ag)
{
	size_t i;

	for (i = 0; i < ag->nexits; i++)
		stream__exit(ag->streams, ag->exits[i].tgid, ag->exits[i].ts);
	ag->nexits = 0;
}

static void on_proc(void *ctx, const struct tg_ev_proc *e)
{
	struct agent *ag = ctx;
	int left = attacher__on_proc(ag->att, e);

	/* A process that left the scope is out of view from here: its
	 * connections end as if it had exited (what is in flight is metered
	 * cut off) and start afresh if it comes back. */
	ag->scope_exits += left;
	if (!left && e->hdr.type != TG_EV_EXIT && e->hdr.type != TG_EV_EXEC)
		return;
	exe_forget(ag, e->hdr.tgid);
	/*
	 * End its connections once the data ring has been read up to here
	 * (what the process sent before it ended is in it).  With too many
	 * waiting, read the data ring now and end them.
	 */
	if (ag->nexits == PENDING_EXITS) {
		ag->exit_flushes++;
		capture__drain_data(ag->cap);
		flush_exits(ag);
	}
	ag->exits[ag->nexits].tgid = e->hdr.tgid;
	ag->exits[ag->nexits].ts = e->hdr.ts_ns;
	ag->nexits++;
}

/* One "tollgate: NAME: k=v ..." line. */
static void counter_line(const char *name, const char *const *keys, const uint64_t *vals,
			 size_t n)
{
	size_t i;

	fprintf(stderr, "tollgate: %s:", name);
	for (i = 0; i < n; i++)
		fprintf(stderr, " %s=%" PRIu64, keys[i], vals[i]);
	fputc('\n', stderr);
}

#define COUNTERS(name, ...) do {						\
	static const char *const k_[] = { __VA_ARGS__ };			\
	counter_line(name, k_, v_, sizeof(k_) / sizeof(k_[0]));			\
} while (0)

/* Every counter: on exit, and on SIGUSR1. */
static void print_counters(struct agent *ag)
{
	uint64_t c[TG_CNT__MAX], live, evicted;
	struct stream_stats s;
	struct attach_stats a;
	struct http1_stats *h = &s.ex.http;

	if (!capture__counters(ag->cap, c))
		counter_line("counters", capture_counter_names, c, TG_CNT__MAX);
	else
		memset(c, 0, sizeof(c));
	stream__stats(ag->streams, &s);
	attacher__stats(ag->att, &a);
	/* Kernel entries that went neither by SSL_free nor with their
	 * process: the LRU evicted them. */
	live = capture__conns_live(ag->cap);
	evicted = c[TG_CNT_CONNS_NEW] - c[TG_CNT_CONNS_FREED];
	evicted = evicted > ag->forgotten + live ? evicted - ag->forgotten - live : 0;
	{
		uint64_t v_[] = {
			s.conns_total, s.conns, s.conns_dropped, s.conns_replaced, s.expired,
			s.ignored[STREAM_IGNORE_NOT_HTTP], s.ignored[STREAM_IGNORE_SERVER],
			s.ignored[STREAM_IGNORE_HTTP2], s.ignored[STREAM_IGNORE_SERVER_HTTP2],
			s.ignored[STREAM_IGNORE_BROKEN], s.gaps, s.gap_bytes, s.gaps_inferred,
			s.gap_bytes_inferred, s.gaps_lost, s.overlap_bytes, s.stale_events,
			live, evicted, ag->forgotten,
		};
		COUNTERS("connections", "total", "open", "dropped", "replaced", "expired",
			 "ignored_not_http", "ignored_server", "ignored_http2",
			 "ignored_server_http2", "ignored_broken", "stream_gaps",
			 "stream_gap_bytes", "inferred_gaps", "inferred_gap_bytes",
			 "lost_gaps", "overlap_bytes", "stale_events", "kernel_live",
			 "kernel_evicted", "kernel_forgotten");
	}
	{
		uint64_t v_[] = {
			s.ex.requests, s.ex.llm_calls, s.ex.not_llm_body, s.ex.http_errors,
			s.ex.decode_errors, s.ex.body_overflows, s.ex.pending_overflows,
			s.ex.orphan_responses, s.ex.truncated, s.ex.shed, s.ex.heads_shed,
			s.ex.fields_cut, h->messages, h->bad, h->resyncs, h->truncated,
			h->skipped, s.ex.sse_events, s.ex.sse_oversized, s.ex.sse_shed,
			s.ex.sse_partial,
		};
		COUNTERS("http", "requests", "llm_calls", "not_llm_body", "http_errors",
			 "decode_errors", "body_overflows", "pending_overflows",
			 "orphan_responses", "truncated", "shed", "heads_shed", "fields_cut",
			 "messages", "bad_messages", "resyncs", "truncated_messages",
			 "skipped_bytes", "sse_events", "sse_oversized", "sse_shed",
			 "sse_partial");
	}
	{
		uint64_t v_[] = {
			ag->mb.limit, ag->mb.used, ag->mb.peak, ag->mb.refused,
			ag->mb.refused_bytes,
		};
		COUNTERS("memory", "limit", "used", "peak", "refused", "refused_bytes");
	}
	{
		uint64_t v_[] = {
			a.targets, a.links, a.failures, a.gone, a.pids, a.targets_full,
			a.negatives, a.negative_evictions, a.epoch_errors, ag->ignore_errors,
		};
		COUNTERS("probes", "targets", "links", "failures", "gone", "scoped_pids",
			 "targets_full", "negative_cache", "negative_evictions",
			 "epoch_errors", "ignore_errors");
	}
	{
		uint64_t v_[] = {
			a.unseen[ATTACH_UNSEEN_HTTP2], a.unseen[ATTACH_UNSEEN_GNUTLS],
			a.unseen[ATTACH_UNSEEN_NSS], a.unseen[ATTACH_UNSEEN_GO],
		};
		COUNTERS("unmetered", "http2_procs", "gnutls_procs", "nss_procs", "go_procs");
	}
	{
		uint64_t v_[] = { ag->records, ag->exit_flushes, ag->scope_exits };
		COUNTERS("agent", "records", "exit_flushes", "scope_exits");
	}
}

int trace_loop(const struct trace_opts *opts)
{
	static const struct capture_handlers handlers = {
		.on_data = on_data, .on_gap = on_gap,
		.on_close = on_close, .on_proc = on_proc,
	};
	static const struct stream_ops sops = {
		.on_record = on_record, .on_ignore = on_ignore, .on_end = on_end,
	};
	struct capture_cfg ccfg = {
		.call_cap = opts->call_cap,
		.ringbuf_bytes = opts->ringbuf_bytes,
		.scoped = opts->nglobs > 0,
	};
	struct stream_cfg scfg;
	struct sigaction sa = { .sa_handler = on_signal };
	struct agent *ag;
	const char *why;
	uint64_t last_expire = 0, now;
	int err = 1, n;

	why = capture_unsupported();
	if (why) {
		log_error("cannot capture: %s", why);
		return 1;
	}
	ag = calloc(1, sizeof(*ag));
	if (!ag)
		return 1;
	ag->opts = opts;
	membudget_init(&ag->mb, opts->max_buffer);
	ag->exes = calloc(EXE_CACHE, sizeof(*ag->exes));
	ag->cg = cgroup_resolver__new();
	if (!ag->exes || !ag->cg) {
		log_error("no cgroup2 mount in /proc/mounts (cgroup v2 is required)");
		goto free_agent;
	}
	stream_cfg_default(&scfg);
	scfg.exchange.mb = &ag->mb;
	if (opts->idle_ns)
		scfg.idle_ns = opts->idle_ns;
	ag->streams = stream__new(&scfg, &sops, ag);
	ag->cap = capture__new(&ccfg, &handlers, ag);
	if (!ag->streams || !ag->cap)
		goto free_agent;
	ag->att = attacher__new(capture__skel(ag->cap), opts->globs, opts->nglobs);
	if (!ag->att)
		goto free_agent;
	ag->mono_to_real = (int64_t)(now_ns(CLOCK_REALTIME) - now_ns(CLOCK_MONOTONIC));
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	/* A closed output shows as EPIPE on write, and ends the command. */
	signal(SIGPIPE, SIG_IGN);
	attacher__scan(ag->att);
	log_info("tracing %s (cgroup2 at %s); Ctrl-C to stop, SIGUSR1 for counters",
		 opts->nglobs ? "processes in the given cgroups" : "every process",
		 cgroup_resolver__mount(ag->cg));
	if (opts->ready_file) {
		FILE *f = fopen(opts->ready_file, "we");

		if (f)
			fclose(f);
	}
	while (!stop) {
		n = capture__poll(ag->cap, 100);
		if (n < 0 && n != -EINTR) {
			log_error("ring buffer: %s", strerror(-n));
			goto free_agent;
		}
		if (ag->nexits) {
			/* what the exited processes sent is read by now */
			capture__drain_data(ag->cap);
			flush_exits(ag);
		}
		now = now_ns(CLOCK_MONOTONIC);
		if (now - last_expire > 1000000000ull) {
			stream__expire(ag->streams, now);
			check_output(ag);
			last_expire = now;
		}
		if (want_counters) {
			want_counters = 0;
			print_counters(ag);
		}
	}
	capture__drain(ag->cap);
	flush_exits(ag);
	err = 0;
free_agent:
	if (ag->cap && ag->streams && ag->att) {
		/* Calls still in flight are emitted as cut off, then counted. */
		stream__end_all(ag->streams, now_ns(CLOCK_MONOTONIC));
		print_counters(ag);
	}
	stream__free(ag->streams, now_ns(CLOCK_MONOTONIC));
	attacher__free(ag->att);
	capture__free(ag->cap);
	cgroup_resolver__free(ag->cg);
	free(ag->exes);
	free(ag);
	return err;
}

/*
 * A size: decimal digits with an optional K, M or G suffix (powers of
 * 1024).  0 when it is not one or does not fit in 64 bits.
 */
static uint64_t parse_size(const char *s)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end || v > (UINT64_MAX >> shift))
		return 0;
	return (uint64_t)v << shift;
}

static void trace_usage(FILE *f)
{
	fprintf(f,
"usage: tollgate trace [--format text|jsonl] [--cgroup GLOB]... [--call-cap BYTES]\n"
"                      [--ringbuf BYTES] [--max-buffer BYTES] [--conn-idle SECONDS]\n"
"                      [--verbose]\n"
"\n"
"Shows every LLM API call made through OpenSSL on this host, live, one line per\n"
"call. No enforcement, nothing stored. Needs root and a kernel with BTF.\n"
"\n"
"  -f, --format FMT      text (default) or jsonl (one JSON object per call)\n"
"  -c, --cgroup GLOB     only processes in matching cgroup v2 paths (or below);\n"
"                        repeatable. Probes attach to those processes only.\n"
"      --call-cap N      bytes copied per SSL call (default 1M; K/M/G suffixes)\n"
"      --ringbuf N       ring buffer size, a power of two (default 16M)\n"
"      --max-buffer N    bytes buffered for all connections together: request\n"
"                        bodies, decoders, events (default 256M); beyond it\n"
"                        buffers are shed and their calls flagged, still metered\n"
"      --conn-idle SECS  end a connection silent this long (default 300)\n"
"  -v, --verbose         debug messages on stderr\n"
"  -h, --help            this text\n"
"\n"
"SIGUSR1 prints the counters on stderr; SIGINT or SIGTERM stops.\n");
}

/* A misused option: the command's name, then what is wrong. */
static int opt_error(const char *prog, const char *fmt, const char *arg)
{
	char esc[256];

	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, escape_str(esc, sizeof(esc), arg));
	fputc('\n', stderr);
	return -EINVAL;
}

int trace_parse(int argc, char **argv, struct trace_opts *o)
{
	static const struct option longopts[] = {
		{ "format",	required_argument, NULL, 'f' },
		{ "cgroup",	required_argument, NULL, 'c' },
		{ "call-cap",	required_argument, NULL, 'C' },
		{ "ringbuf",	required_argument, NULL, 'R' },
		{ "max-buffer",	required_argument, NULL, 'B' },
		{ "conn-idle",	required_argument, NULL, 'I' },
		{ "ready-file",	required_argument, NULL, 'r' },
		{ "verbose",	no_argument,	   NULL, 'v' },
		{ "help",	no_argument,	   NULL, 'h' },
		{}
	};
	static char *globs[MAX_GLOBS];
	const char *prog = argv[0];
	char *end;
	long secs;
	int c;

	memset(o, 0, sizeof(*o));
	o->call_cap = TG_CALL_CAP_DEFAULT;
	o->ringbuf_bytes = 16 << 20;
	o->max_buffer = MEMBUDGET_DEFAULT;
	o->globs = globs;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:c:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "text"))
				o->format = TRACE_TEXT;
			else if (!strcmp(optarg, "jsonl"))
				o->format = TRACE_JSONL;
			else
				return opt_error(prog, "--format: expected text or jsonl, got '%s'",
						 optarg);
			break;
		case 'c':
			if (o->nglobs == MAX_GLOBS || optarg[0] != '/')
				return opt_error(prog, "--cgroup: expected a path glob starting with "
						 "'/' (at most 64), got '%s'", optarg);
			globs[o->nglobs++] = optarg;
			break;
		case 'C':
			o->call_cap = parse_size(optarg);
			if (!o->call_cap || o->call_cap > (1ull << 30))
				return opt_error(prog, "--call-cap: expected 1 to 1G bytes, got '%s'",
						 optarg);
			break;
		case 'R':
			o->ringbuf_bytes = parse_size(optarg);
			if (o->ringbuf_bytes < 65536 || o->ringbuf_bytes > (1ull << 30) ||
			    (o->ringbuf_bytes & (o->ringbuf_bytes - 1)))
				return opt_error(prog, "--ringbuf: expected a power of two from 64K "
						 "to 1G, got '%s'", optarg);
			break;
		case 'B':
			o->max_buffer = parse_size(optarg);
			if (o->max_buffer < (1 << 20) || o->max_buffer > (64ull << 30))
				return opt_error(prog, "--max-buffer: expected 1M to 64G bytes, "
						 "got '%s'", optarg);
			break;
		case 'I':
			errno = 0;
			secs = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || secs < 1 || secs > 86400)
				return opt_error(prog, "--conn-idle: expected 1 to 86400 seconds, "
						 "got '%s'", optarg);
			o->idle_ns = (uint64_t)secs * 1000000000ull;
			break;
		case 'r':
			o->ready_file = optarg;
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'h':
			trace_usage(stdout);
			return 1;
		default:
			trace_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc)
		return opt_error(prog, "unexpected argument '%s'", argv[optind]);
	return 0;
}

int cmd_trace(int argc, char **argv)
{
	struct trace_opts o;
	int err = trace_parse(argc, argv, &o);

	if (err)
		return err > 0 ? 0 : 2;
	return trace_loop(&o);
}
