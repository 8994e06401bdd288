// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * `tollgate trace`: capture -> stream -> exchange -> one line per LLM call.
 * Also the loop behind `tollgate run`.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "attach.h"
#include "capture.h"
#include "cgroup.h"
#include "log.h"
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
	int64_t mono_to_real;		/* add to CLOCK_MONOTONIC ns for wall clock */
	struct exe_entry *exes;		/* direct-mapped by pid */
	struct { uint32_t tgid; uint64_t ts; } exits[PENDING_EXITS];
	size_t nexits;
	uint64_t records;
	uint64_t ignore_errors;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
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

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v && v[0] ? json_object_new_string(v) : NULL);
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
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), stdout);
	fputc('\n', stdout);
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

static void print_text(struct agent *ag, const struct tg_record *r, const char *cgroup)
{
	uint64_t real = r->start_ns + ag->mono_to_real;
	time_t secs = real / 1000000000ull;
	char when[32], ttft[32], dur[32], status[8];
	struct tm tm;

	localtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	fmt_ms(ttft, sizeof(ttft), r->ttft_ns);
	fmt_ms(dur, sizeof(dur), r->duration_ns);
	if (r->status)
		snprintf(status, sizeof(status), "%d", r->status);
	else
		snprintf(status, sizeof(status), "---");
	printf("%s.%03" PRIu64 " %-7u %-15s %-24s %-18s %s %s%s %s%s %s req=%" PRIu64
	       "B resp=%" PRIu64 "B ttft=%s dur=%s%s\n",
	       when, real / 1000000 % 1000, r->who.tgid, r->who.comm,
	       cgroup ? cgroup : "?", r->call.provider, r->method, r->host, r->path,
	       r->call.model[0] ? r->call.model : "?",
	       r->call.stream ? " stream" : "", status,
	       r->request_bytes, r->response_bytes, ttft, dur,
	       r->flags & (TG_REC_RESP_TRUNCATED | TG_REC_NO_RESPONSE) ? " cut-off" :
	       r->flags & TG_REC_GAP ? " gap" : "");
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
	fflush(stdout);
}

static void on_ignore(void *ctx, uint32_t tgid, uint64_t ssl, enum stream_ignore_why why)
{
	struct agent *ag = ctx;

	if (capture__ignore(ag->cap, tgid, ssl))
		ag->ignore_errors++;
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
	stream__data(ag->streams, &m, e->ssl, e->dir, e->offset, e->data, e->hdr.len);
}

static void on_gap(void *ctx, const struct tg_ev_gap *e)
{
	struct agent *ag = ctx;
	struct tg_meta m = {};

	meta_from(&m, &e->hdr);
	stream__gap(ag->streams, &m, e->ssl, e->dir, e->offset, e->length);
}

static void on_close(void *ctx, const struct tg_ev_close *e)
{
	struct agent *ag = ctx;

	stream__close(ag->streams, e->hdr.tgid, e->ssl, e->hdr.ts_ns);
}

static void flush_exits(struct agent *ag)
{
	size_t i;

	/* Whatever the process sent before it ended is in the rings now. */
	capture__drain(ag->cap);
	for (i = 0; i < ag->nexits; i++)
		stream__exit(ag->streams, ag->exits[i].tgid, ag->exits[i].ts);
	ag->nexits = 0;
}

static void on_proc(void *ctx, const struct tg_ev_proc *e)
{
	struct agent *ag = ctx;

	attacher__on_proc(ag->att, e);
	if (e->hdr.type != TG_EV_EXIT && e->hdr.type != TG_EV_EXEC)
		return;
	exe_forget(ag, e->hdr.tgid);
	/* End its connections once the data ring has been read up to here. */
	if (ag->nexits == PENDING_EXITS)
		return;		/* idle expiry ends them later */
	ag->exits[ag->nexits].tgid = e->hdr.tgid;
	ag->exits[ag->nexits].ts = e->hdr.ts_ns;
	ag->nexits++;
}

static const char *const counter_names[TG_CNT__MAX] = {
	[TG_CNT_CALLS]		= "ssl_calls",
	[TG_CNT_BYTES]		= "bytes_copied",
	[TG_CNT_GAP_BYTES]	= "gap_bytes",
	[TG_CNT_GAPS]		= "gaps",
	[TG_CNT_RINGBUF_DROPS]	= "ringbuf_drops",
	[TG_CNT_IGNORED_CALLS]	= "ignored_calls",
	[TG_CNT_NESTED]		= "nested_calls",
	[TG_CNT_ARGS_FULL]	= "args_table_full",
	[TG_CNT_PROC_DROPS]	= "proc_event_drops",
};

static void print_counters(struct agent *ag)
{
	uint64_t c[TG_CNT__MAX];
	struct stream_stats s;
	struct attach_stats a;
	int i;

	fprintf(stderr, "tollgate: counters:");
	if (!capture__counters(ag->cap, c))
		for (i = 0; i < TG_CNT__MAX; i++)
			fprintf(stderr, " %s=%" PRIu64, counter_names[i], c[i]);
	stream__stats(ag->streams, &s);
	attacher__stats(ag->att, &a);
	fprintf(stderr, "\ntollgate: connections: total=%" PRIu64 " open=%" PRIu64
		" dropped=%" PRIu64 " expired=%" PRIu64 " ignored_not_http=%" PRIu64
		" ignored_server=%" PRIu64 " ignored_http2=%" PRIu64
		" ignored_broken=%" PRIu64 " stream_gaps=%" PRIu64
		" stream_gap_bytes=%" PRIu64 " overlap_bytes=%" PRIu64 "\n",
		s.conns_total, s.conns, s.conns_dropped, s.expired,
		s.ignored[STREAM_IGNORE_NOT_HTTP], s.ignored[STREAM_IGNORE_SERVER],
		s.ignored[STREAM_IGNORE_HTTP2], s.ignored[STREAM_IGNORE_BROKEN],
		s.gaps, s.gap_bytes, s.overlap_bytes);
	fprintf(stderr, "tollgate: http: requests=%" PRIu64 " llm_calls=%" PRIu64
		" not_llm_body=%" PRIu64 " http_errors=%" PRIu64 " decode_errors=%" PRIu64
		" body_overflows=%" PRIu64 " pending_overflows=%" PRIu64
		" orphan_responses=%" PRIu64 " truncated=%" PRIu64 "\n",
		s.ex.requests, s.ex.llm_calls, s.ex.not_llm_body, s.ex.http_errors,
		s.ex.decode_errors, s.ex.body_overflows, s.ex.pending_overflows,
		s.ex.orphan_responses, s.ex.truncated);
	fprintf(stderr, "tollgate: probes: targets=%" PRIu64 " links=%" PRIu64
		" failures=%" PRIu64 " scoped_pids=%" PRIu64 " ignore_errors=%" PRIu64 "\n",
		a.targets, a.links, a.failures, a.pids, ag->ignore_errors);
}

int trace_loop(const struct trace_opts *opts)
{
	static const struct capture_handlers handlers = {
		.on_data = on_data, .on_gap = on_gap,
		.on_close = on_close, .on_proc = on_proc,
	};
	static const struct stream_ops sops = {
		.on_record = on_record, .on_ignore = on_ignore,
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
	ag->exes = calloc(EXE_CACHE, sizeof(*ag->exes));
	ag->cg = cgroup_resolver__new();
	if (!ag->exes || !ag->cg) {
		log_error("no cgroup2 mount in /proc/mounts (cgroup v2 is required)");
		goto out;
	}
	stream_cfg_default(&scfg);
	ag->streams = stream__new(&scfg, &sops, ag);
	ag->cap = capture__open(&ccfg, &handlers, ag);
	if (!ag->streams || !ag->cap)
		goto out;
	ag->att = attacher__new(capture__skel(ag->cap), opts->globs, opts->nglobs);
	if (!ag->att)
		goto out;
	ag->mono_to_real = (int64_t)(now_ns(CLOCK_REALTIME) - now_ns(CLOCK_MONOTONIC));
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	attacher__scan(ag->att);
	log_info("tracing %s (cgroup2 at %s); Ctrl-C to stop",
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
			goto out;
		}
		if (ag->nexits)
			flush_exits(ag);
		now = now_ns(CLOCK_MONOTONIC);
		if (now - last_expire > 1000000000ull) {
			stream__expire(ag->streams, now);
			last_expire = now;
		}
	}
	capture__drain(ag->cap);
	flush_exits(ag);
	err = 0;
out:
	if (ag->cap && ag->streams && ag->att)
		print_counters(ag);
	/* Calls still in flight are emitted as cut off. */
	stream__free(ag->streams, now_ns(CLOCK_MONOTONIC));
	attacher__free(ag->att);
	capture__close(ag->cap);
	cgroup_resolver__free(ag->cg);
	free(ag->exes);
	free(ag);
	return err;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end || end == s)
		return 0;
	return v;
}

static void trace_usage(FILE *f)
{
	fprintf(f,
"usage: tollgate trace [--format text|jsonl] [--cgroup GLOB]... [--call-cap BYTES]\n"
"                      [--ringbuf BYTES] [--verbose]\n"
"\n"
"Shows every LLM API call made through OpenSSL on this host, live, one line per\n"
"call. No enforcement, nothing stored. Needs root and a kernel with BTF.\n"
"\n"
"  -f, --format FMT    text (default) or jsonl (one JSON object per call)\n"
"  -c, --cgroup GLOB   only processes in matching cgroup v2 paths (or below);\n"
"                      repeatable. Probes attach to those processes only.\n"
"      --call-cap N    bytes copied per SSL call (default 1M; K/M/G suffixes)\n"
"      --ringbuf N     ring buffer size, a power of two (default 16M)\n"
"  -v, --verbose       debug messages on stderr\n"
"  -h, --help          this text\n");
}

int trace_parse(int argc, char **argv, struct trace_opts *o)
{
	static const struct option longopts[] = {
		{ "format",	required_argument, NULL, 'f' },
		{ "cgroup",	required_argument, NULL, 'c' },
		{ "call-cap",	required_argument, NULL, 'C' },
		{ "ringbuf",	required_argument, NULL, 'R' },
		{ "ready-file",	required_argument, NULL, 'r' },
		{ "verbose",	no_argument,	   NULL, 'v' },
		{ "help",	no_argument,	   NULL, 'h' },
		{}
	};
	static char *globs[MAX_GLOBS];
	int c;

	memset(o, 0, sizeof(*o));
	o->call_cap = TG_CALL_CAP_DEFAULT;
	o->ringbuf_bytes = 16 << 20;
	o->globs = globs;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:c:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "text"))
				o->format = TRACE_TEXT;
			else if (!strcmp(optarg, "jsonl"))
				o->format = TRACE_JSONL;
			else {
				log_error("--format: expected text or jsonl, got '%s'", optarg);
				return -EINVAL;
			}
			break;
		case 'c':
			if (o->nglobs == MAX_GLOBS || optarg[0] != '/') {
				log_error("--cgroup: expected a path glob starting with '/' (at most %d)",
					  MAX_GLOBS);
				return -EINVAL;
			}
			globs[o->nglobs++] = optarg;
			break;
		case 'C':
			o->call_cap = parse_size(optarg);
			if (!o->call_cap || o->call_cap > (1ull << 30)) {
				log_error("--call-cap: expected 1 to 1G bytes, got '%s'", optarg);
				return -EINVAL;
			}
			break;
		case 'R':
			o->ringbuf_bytes = parse_size(optarg);
			if (o->ringbuf_bytes < 65536 || o->ringbuf_bytes > (1ull << 30) ||
			    (o->ringbuf_bytes & (o->ringbuf_bytes - 1))) {
				log_error("--ringbuf: expected a power of two from 64K to 1G, got '%s'",
					  optarg);
				return -EINVAL;
			}
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
	if (optind < argc) {
		log_error("trace: unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
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
