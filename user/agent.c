// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The agent pipeline (DESIGN §2): capture -> stream -> exchange (which
 * reads usage and settles it with the meter) -> pricing -> attribution
 * -> the sink.  One thread, one loop; the front-ends (`trace`, `run`)
 * choose the sink.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <sqlite3.h>
#include "agent.h"
#include "attach.h"
#include "attribution.h"
#include "capture.h"
#include "cgroup.h"
#include "control.h"
#include "escape.h"
#include "budget.h"
#include "callfmt.h"
#include "enforce.h"
#include "kfeatures.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "membudget.h"
#include "policy.h"
#include "procinfo.h"
#include "stream.h"
#include "version.h"

#define EXE_CACHE	1024
#define PENDING_EXITS	4096
#define MAX_GLOBS	64

struct exe_entry {
	uint32_t pid;
	char exe[PATH_MAX];
};

#define USER_CACHE	64
#define PRICE_CACHE	256

/* A model's row, remembered: a lookup walks the table (aliases, dated
 * snapshots), and a host's calls use few models. */
struct price_memo {
	uint64_t hash;
	char provider[PROVIDER_NAME_MAX];
	char model[PROVIDER_MODEL_MAX];
	const struct price_row *row;
	enum price_match how;
};

struct agent {
	const struct agent_opts *opts;
	const struct agent_sink *sink;
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
	uint64_t unpriced;		/* records priced at the default price */
	uint64_t unattributed;		/* records no team matched */
	uint64_t seq;			/* calls opened (the ledger's numbers) */
	uint64_t ledger_errors;
	struct { uid_t uid; char name[64]; int ok; } users[USER_CACHE];
	struct price_memo *prices;	/* PRICE_CACHE, direct-mapped */
	const struct policy *policy;	/* in force: the options', or a reload */
	struct policy *reloaded;	/* the agent's own, after SIGHUP */
	struct budget_set *budgets;	/* run: spend per team and window */
	struct enforcer *enf;		/* run: the gate and the actions */
	uint64_t hook_runs, hook_errors;
	struct { char team[64]; char what[32]; int64_t at; } hooked[32];
	struct features feat;		/* what the kernel offers */
	struct control *ctl;		/* run: `tollgate status` asks here */
	int64_t started;		/* wall clock ns */
};

static volatile sig_atomic_t stop, want_counters, want_reload;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		want_counters = 1;
	else if (sig == SIGHUP)
		want_reload = 1;
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

/* User names by uid, cached (NSS may be slow: files, LDAP). */
static const char *user_of(struct agent *ag, uid_t uid)
{
	struct passwd pw, *res = NULL;
	char buf[1024];
	unsigned i = uid % USER_CACHE;

	if (ag->users[i].ok && ag->users[i].uid == uid)
		return ag->users[i].name[0] ? ag->users[i].name : NULL;
	ag->users[i].uid = uid;
	ag->users[i].ok = 1;
	ag->users[i].name[0] = '\0';
	if (!getpwuid_r(uid, &pw, buf, sizeof(buf), &res) && res)
		snprintf(ag->users[i].name, sizeof(ag->users[i].name), "%s", pw.pw_name);
	return ag->users[i].name[0] ? ag->users[i].name : NULL;
}

const char *agent_capture_of(uint32_t flags)
{
	if (flags & (TG_REC_REQ_TRUNCATED | TG_REC_RESP_TRUNCATED | TG_REC_NO_RESPONSE |
		     TG_REC_UNTRACKED))
		return "cut_off";
	if (flags & TG_REC_MISSED_START)
		return "missed_start";
	if (flags & (TG_REC_GAP | TG_REC_SHED | TG_REC_DECODE_ERROR | TG_REC_BODY_OVERFLOW |
		     TG_REC_SSE_DROPPED))
		return "gap";
	if (flags & TG_REC_UNPARSED)
		return "unparsed";
	return "complete";
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

static const struct price_row *price_row_of(struct agent *ag, const char *provider,
					    const char *model, enum price_match *how)
{
	uint64_t h = fnv1a(fnv1a(0xcbf29ce484222325ull, provider), model);
	struct price_memo *m = &ag->prices[h % PRICE_CACHE];

	if (m->hash != h || strcmp(m->model, model) || strcmp(m->provider, provider)) {
		m->row = prices_lookup(ag->opts->prices, provider, model, &m->how);
		m->hash = h;
		snprintf(m->provider, sizeof(m->provider), "%s", provider);
		snprintf(m->model, sizeof(m->model), "%s", model);
	}
	*how = m->how;
	return m->row;
}

/* The cost at the table's price, or at the default price: never free. */
static void price(struct agent *ag, const struct tg_record *r, struct tg_call *c)
{
	const struct price_row *row = NULL;

	c->price_how = PRICE_DEFAULT;
	if (ag->opts->prices)
		row = price_row_of(ag, r->call.provider, record_model(r), &c->price_how);
	if (!row) {
		row = ag->policy && ag->policy->has_default_price ?
		      &ag->policy->default_price : &price_default_builtin;
		c->unpriced = 1;
		ag->unpriced++;
	} else {
		c->price_model = row->model;
	}
	c->cost_nano = price_cost(row, &r->usage);
}

static void metrics_record(struct metrics *m, const struct tg_call *c)
{
	const struct tg_record *r = c->rec;
	struct metrics_call mc = {
		.team = c->team, .provider = r->call.provider, .model = record_model(r),
		.status = r->status, .stream = r->call.stream,
		.estimated = r->usage_source == TG_USAGE_ESTIMATED, .unpriced = c->unpriced,
		.input_tokens = r->usage.input_tokens,
		.cached_input_tokens = r->usage.cached_input_tokens,
		.cache_write_tokens = r->usage.cache_write_tokens,
		.output_tokens = r->usage.output_tokens,
		.reasoning_tokens = r->usage.reasoning_tokens,
		.cost_nusd = c->cost_nano,
		.ttft_ns = r->ttft_ns == TG_TIME_UNKNOWN ? -1 : (int64_t)r->ttft_ns,
		.duration_ns = r->duration_ns == TG_TIME_UNKNOWN ? -1 : (int64_t)r->duration_ns,
	};

	metrics_call(m, &mc);
}

/* The agent's health, for the metrics endpoint (about once a second). */
static void metrics_health(struct agent *ag)
{
	struct metrics *m = ag->opts->metrics;
	uint64_t c[TG_CNT__MAX];
	struct stream_stats s;
	struct attach_stats a;

	if (!m)
		return;
	if (!capture__counters(ag->cap, c)) {
		metrics_set_counter(m, METRICS_CAPTURE_GAPS, c[TG_CNT_GAPS]);
		metrics_set_counter(m, METRICS_CAPTURE_GAP_BYTES, c[TG_CNT_GAP_BYTES]);
		metrics_set_counter(m, METRICS_RINGBUF_DROPS, c[TG_CNT_RINGBUF_DROPS]);
	}
	stream__stats(ag->streams, &s);
	metrics_set_gauge(m, METRICS_CONNECTIONS_OPEN, (int64_t)s.conns);
	attacher__stats(ag->att, &a);
	metrics_set_unmetered(m, "gnutls", a.unseen[ATTACH_UNSEEN_GNUTLS]);
	metrics_set_unmetered(m, "nss", a.unseen[ATTACH_UNSEEN_NSS]);
	metrics_set_unmetered(m, "go", a.unseen[ATTACH_UNSEEN_GO]);
	metrics_set_unmetered(m, "boringssl", a.unseen[ATTACH_UNSEEN_BORINGSSL]);
	metrics_set_unmetered(m, "rustls", a.unseen[ATTACH_UNSEEN_RUSTLS]);
	metrics_set_gauge(m, METRICS_PROBE_TARGETS, (int64_t)a.targets);
	metrics_set_gauge(m, METRICS_PROBE_LINKS, (int64_t)a.links);
	metrics_set_counter(m, METRICS_PROBE_DISCOVERED, a.discovered);
	metrics_set_counter(m, METRICS_PROBE_DISCOVER_FAILURES, a.discover_failed);
	metrics_set_counter(m, METRICS_PROBE_DISABLED, a.disabled);
	metrics_set_counter(m, METRICS_PROBE_ATTACH_FAILURES, a.failures);
	metrics_set_counter(m, METRICS_PROBE_EXEC_HOLDS, a.exec_holds);
}

/* The policy's teams (at start, and those a reload adds): their
 * enforcement failure series start at 0. */
static void metrics_teams(struct agent *ag)
{
	size_t i;

	for (i = 0; ag->opts->metrics && ag->policy && i < ag->policy->nteams; i++)
		metrics_declare_team(ag->opts->metrics, ag->policy->teams[i].name);
}

/* Who made a call, its team and its cost: what every sink is told.
 * Returns the team's index in the policy, -1 for none. */
static int call_of(struct agent *ag, const struct tg_record *r, struct tg_call *c)
{
	struct proc_ident id = {};
	int t = -1;

	memset(c, 0, sizeof(*c));
	c->rec = r;
	c->ts_ns = (int64_t)r->start_ns + ag->mono_to_real;
	c->cgroup = cgroup_resolver__path(ag->cg, r->who.cgroup_id, r->who.tgid);
	c->exe = exe_of(ag, r->who.tgid);
	c->user = user_of(ag, r->who.uid);
	c->capture = agent_capture_of(r->flags);
	price(ag, r, c);
	if (ag->policy) {
		id.pid = r->who.tgid;
		id.uid = r->who.uid;
		id.user = c->user;
		id.exe = c->exe;
		id.cgroup = c->cgroup;
		id.key_fp = r->key_fp[0] ? r->key_fp : NULL;
		t = policy_team_for(ag->policy, &id);
		if (t >= 0)
			c->team = ag->policy->teams[t].name;
	}
	return t;
}

/* What a request reserves of a budget: its input at the model's price
 * (est), and with its output limit at the output price (strict: the
 * request's max_tokens, else the team's cap, else AGENT_STRICT_OUTPUT). */
#define AGENT_STRICT_OUTPUT	4096

static void estimate(void *ctx, const struct llm_call *call, uint64_t body_bytes,
		     const uint8_t *body, size_t have, struct budget_amount *est,
		     struct budget_amount *strict)
{
	struct agent *ag = ctx;
	struct llm_usage u = { .input_tokens = (int64_t)(body_bytes + 3) / 4 };
	const struct price_row *row = NULL;
	enum price_match how;

	(void)body;
	(void)have;
	if (ag->opts->prices)
		row = price_row_of(ag, call->provider, call->model, &how);
	if (!row)
		row = ag->policy && ag->policy->has_default_price ?
		      &ag->policy->default_price : &price_default_builtin;
	est->tokens = u.input_tokens;
	est->nusd = price_cost(row, &u);
	u.output_tokens = call->max_tokens > 0 ? call->max_tokens : AGENT_STRICT_OUTPUT;
	strict->tokens = u.input_tokens + u.output_tokens;
	strict->nusd = price_cost(row, &u);
}

/*
 * run probes only the processes some team matches (per-process probes),
 * unless a team matches every process (any: true) or matches by API key
 * (then any process may turn out to be its): probes for everyone.
 */
static int policy_scopes(const struct policy *p)
{
	size_t i;

	for (i = 0; i < p->nteams; i++)
		if (p->teams[i].match.any || p->teams[i].match.api_key.n)
			return 0;
	return p->nteams > 0;
}

static int in_policy_scope(void *ctx, pid_t pid)
{
	struct agent *ag = ctx;
	struct proc_ident_buf b;

	return ag->policy && !proc_ident_read(pid, &b) && policy_team_for(ag->policy, &b.id) >= 0;
}

/* A process's team from /proc (and the request's key, if known). */
static int team_of_pid(void *ctx, pid_t tgid, const char *key_fp)
{
	struct agent *ag = ctx;
	struct proc_ident_buf b;

	if (!ag->policy || proc_ident_read(tgid, &b))
		return -1;
	b.id.key_fp = key_fp;
	return policy_team_for(ag->policy, &b.id);
}

static int64_t ns_or_unknown(uint64_t ns)
{
	return ns == TG_TIME_UNKNOWN ? -1 : (int64_t)ns;
}

/* A call as its ledger row; cg holds the strings parsed from its cgroup. */
static void ledger_row(const struct tg_call *c, uint64_t seq, int64_t end_ns,
		       struct cg_ident *cg, struct ledger_call *lc)
{
	const struct tg_record *r = c->rec;

	memset(lc, 0, sizeof(*lc));
	memset(cg, 0, sizeof(*cg));
	if (c->cgroup)
		cg_ident_parse(c->cgroup, cg);
	lc->seq = seq;
	lc->ts_ns = c->ts_ns;
	lc->end_ns = end_ns;
	lc->pid = r->who.tgid;
	lc->uid = r->who.uid;
	lc->comm = r->who.comm;
	lc->exe = c->exe;
	lc->user = c->user;
	lc->cgroup = c->cgroup;
	lc->unit = cg->unit[0] ? cg->unit : NULL;
	lc->container = cg->container[0] ? cg->container : NULL;
	lc->team = c->team;
	lc->provider = r->call.provider;
	lc->host = r->host;
	lc->path = r->path;
	lc->model = record_model(r);
	lc->stream = r->call.stream;
	lc->status = r->status;
	lc->request_bytes = r->request_bytes;
	lc->response_bytes = r->response_bytes;
	lc->usage = r->usage;
	lc->usage_source = r->usage_source == TG_USAGE_PROVIDER ? "provider" : "estimated";
	lc->cost_nano = c->cost_nano;
	lc->unpriced = c->unpriced;
	lc->ttft_ns = ns_or_unknown(r->ttft_ns);
	lc->duration_ns = ns_or_unknown(r->duration_ns);
	lc->key_fp = r->key_fp[0] ? r->key_fp : NULL;
	lc->capture = end_ns ? c->capture : NULL;
	lc->action = c->action;
}

/*
 * A request is complete: the call's row is opened with what is known, its
 * input estimated from the body's size (cheap; the exact count comes when
 * it settles), so that a crash leaves an estimate, never nothing.
 */
static void on_open(void *ctx, struct tg_record *rec)
{
	struct agent *ag = ctx;
	struct tg_record r = *rec;
	struct ledger_call lc;
	struct cg_ident cg;
	struct tg_call c;

	struct budget_amount est, strict;
	int team;

	rec->seq = ++ag->seq;
	if (!ag->opts->ledger && !ag->enf)
		return;
	r.usage.input_tokens = (int64_t)(r.request_bytes + 3) / 4;
	r.usage_source = TG_USAGE_ESTIMATED;
	team = call_of(ag, &r, &c);
	if (ag->enf) {
		estimate(ag, &r.call, r.request_bytes, NULL, 0, &est, &strict);
		enforce_open(ag->enf, rec->seq, (pid_t)r.who.tgid, r.conn, team, &r.call, &est);
	}
	if (!ag->opts->ledger)
		return;
	ledger_row(&c, rec->seq, 0, &cg, &lc);
	if (ledger_call_open(ag->opts->ledger, &lc))
		ag->ledger_errors++;
}

#define TOKENS_OF(u) ((u)->input_tokens + (u)->cached_input_tokens + \
		      (u)->cache_write_tokens + (u)->output_tokens)

static void on_record(void *ctx, const struct tg_record *r)
{
	struct agent *ag = ctx;
	struct ledger_call lc;
	struct cg_ident cg;
	struct tg_call c;
	int64_t end;
	int team;

	ag->records++;
	team = call_of(ag, r, &c);
	if (!c.team)
		ag->unattributed++;
	if (ag->enf) {
		c.action = enforce_call_action(ag->enf, r->seq);
		struct budget_amount cost = { .nusd = c.cost_nano,
					      .tokens = TOKENS_OF(&r->usage) };

		enforce_settle(ag->enf, r->seq, team, c.ts_ns, &cost);
	}
	if (ag->opts->ledger) {
		end = c.ts_ns + (r->duration_ns == TG_TIME_UNKNOWN ? 0 : (int64_t)r->duration_ns);
		ledger_row(&c, r->seq ? r->seq : ++ag->seq, end > 0 ? end : 1, &cg, &lc);
		if (ledger_call_settle(ag->opts->ledger, &lc))
			ag->ledger_errors++;
	}
	if (ag->opts->metrics)
		metrics_record(ag->opts->metrics, &c);
	if (ag->sink->on_call(ag->sink->ctx, &c) < 0)
		stop = 1;
}


/* --- budgets, alerts and enforcement (run) -------------------------------- */

#define HOOK_SECONDS	30		/* an alert hook is killed after this */
#define HOOK_QUIET_NS	(60 * 1000000000LL)	/* one hook a minute per team and kind */

static int64_t wall_ns(void)
{
	return (int64_t)now_ns(CLOCK_REALTIME);
}

/*
 * The policy's alert hook, with the event as JSON on its standard input.
 * Detached (a grandchild, reparented to init), so the capture loop never
 * waits on it, and bounded by an alarm that survives exec.
 */
static void run_hook(struct agent *ag, const char *json)
{
	const char *path = ag->policy ? ag->policy->alerts_exec : NULL;
	size_t len = strlen(json);
	int fds[2], st;
	pid_t pid;

	if (!path)
		return;
	if (pipe2(fds, O_CLOEXEC)) {
		ag->hook_errors++;
		return;
	}
	pid = fork();
	if (pid == 0) {
		if (fork() == 0) {
			if (dup2(fds[0], 0) < 0)
				_exit(127);
			alarm(HOOK_SECONDS);
			execl(path, path, (char *)NULL);
			_exit(127);
		}
		_exit(0);
	}
	close(fds[0]);
	if (pid < 0) {
		ag->hook_errors++;
	} else {
		/* an event is far below a pipe's buffer: this never blocks */
		if (write(fds[1], json, len) != (ssize_t)len || write(fds[1], "\n", 1) != 1)
			ag->hook_errors++;
		waitpid(pid, &st, 0);
		ag->hook_runs++;
	}
	close(fds[1]);
}

/* Once a minute per team and kind of event, the hook runs. */
static int hook_due(struct agent *ag, const char *team, const char *what)
{
	int64_t now = wall_ns();
	size_t i, old = 0;

	for (i = 0; i < sizeof(ag->hooked) / sizeof(ag->hooked[0]); i++) {
		if (!strcmp(ag->hooked[i].team, team) && !strcmp(ag->hooked[i].what, what)) {
			if (now - ag->hooked[i].at < HOOK_QUIET_NS)
				return 0;
			ag->hooked[i].at = now;
			return 1;
		}
		if (ag->hooked[i].at < ag->hooked[old].at)
			old = i;
	}
	snprintf(ag->hooked[old].team, sizeof(ag->hooked[old].team), "%s", team);
	snprintf(ag->hooked[old].what, sizeof(ag->hooked[old].what), "%s", what);
	ag->hooked[old].at = now;
	return 1;
}

static void emit_event(struct agent *ag, const char *json, const char *text)
{
	if (ag->sink->on_event && ag->sink->on_event(ag->sink->ctx, json, text) < 0)
		stop = 1;
}

/* Thresholds crossed and forecasts: logged, sent, counted, hooked. */
static void check_alerts(struct agent *ag)
{
	struct budget_alert a[16];
	char text[512], win[32];
	size_t i, n;
	char *js;

	if (!ag->budgets)
		return;
	n = budget_alerts(ag->budgets, wall_ns(), a, 16);
	for (i = 0; i < n; i++) {
		const struct policy_team *t = &ag->policy->teams[a[i].team];
		const struct policy_budget *b = &t->budgets[a[i].budget];
		struct alert_view v = {
			.ts_ns = wall_ns(), .kind = a[i].threshold_bp ? "threshold" : "forecast",
			.team = t->name, .window = policy_window_name(b, win, sizeof(win)),
			.action = policy_action_name(b->action), .threshold_bp = a[i].threshold_bp,
			.tokens = a[i].tokens, .spent = a[i].spent, .limit = a[i].limit,
			.projected = a[i].projected, .window_start = a[i].window_start,
			.window_end = a[i].window_end,
		};

		alert_text(&v, text, sizeof(text));
		log_warn("%s", text);
		js = alert_json(&v);
		if (!js)
			continue;
		emit_event(ag, js, text);
		if (ag->opts->metrics)
			metrics_alert(ag->opts->metrics, t->name, v.kind);
		run_hook(ag, js);	/* once per window and threshold already */
		free(js);
	}
}

static void on_action(void *ctx, const struct enforce_action *a)
{
	struct agent *ag = ctx;
	char text[768];
	char *js;

	action_text(a, text, sizeof(text));
	if (a->ok || a->dry_run)
		log_warn("%s", text);
	else
		log_error("%s", text);
	if (ag->opts->metrics)
		metrics_action(ag->opts->metrics, a->team, a->action, a->why, a->dry_run,
			       a->ok);
	js = action_json(a);
	if (!js)
		return;
	emit_event(ag, js, text);
	if (hook_due(ag, a->team, a->action))
		run_hook(ag, js);
	free(js);
}

/* Budgets and the gauges of the metrics endpoint, about once a second. */
static void budget_health(struct agent *ag)
{
	struct enforce_stats es;
	struct budget_view v;
	char win[32];
	size_t i, j;

	if (!ag->budgets)
		return;
	budget_tick(ag->budgets, wall_ns());
	check_alerts(ag);
	if (!ag->opts->metrics)
		return;
	for (i = 0; i < ag->policy->nteams; i++)
		for (j = 0; j < ag->policy->teams[i].nbudgets; j++)
			if (!budget_view(ag->budgets, (int)i, (int)j, wall_ns(), &v))
				metrics_set_budget(ag->opts->metrics, ag->policy->teams[i].name,
						   policy_window_name(v.pb, win, sizeof(win)), v.tokens,
						   v.spent, v.reserved, v.limit, v.exhaust_at);
	if (ag->enf) {
		enforce_stats(ag->enf, &es);
		metrics_set_gauge(ag->opts->metrics, METRICS_REQUESTS_HELD, (int64_t)es.held_now);
		metrics_set_gauge(ag->opts->metrics, METRICS_PROCESSES_GATED,
				  (int64_t)es.gated_procs);
	}
}

/* Spend per team and window from the ledger (what this run queued first). */
static struct budget_set *budgets_load(struct agent *ag, const struct policy *p)
{
	struct budget_set *b;
	char err[512];
	sqlite3 *db;

	if (budget_tz_set(p->timezone)) {
		log_error("policy: time zone '%s' cannot be used", p->timezone);
		return NULL;
	}
	b = budget_new(p, wall_ns());
	if (!b || !ag->opts->ledger || !ag->opts->ledger_path)
		return b;
	ledger_flush(ag->opts->ledger);
	db = ledger_open_readonly(ag->opts->ledger_path, err, sizeof(err));
	if (!db || budget_restore(b, db, wall_ns(), err, sizeof(err))) {
		log_error("budgets: cannot restore spend from the ledger: %s", err);
		sqlite3_close(db);
		budget_free(b);
		return NULL;
	}
	sqlite3_close(db);
	return b;
}

static int peek_write(void *ctx, const struct tg_ev_hold *ev,
		      const struct h2_peek_callbacks *cb, void *cbctx)
{
	struct agent *ag = ctx;

	return stream__peek_write(ag->streams, ev->hdr.tgid, ev->ssl, ev->gen, ev->offset,
				  ev->data, ev->hdr.len, cb, cbctx);
}

static void feed_held(void *ctx, const struct tg_ev_hold *e);

static const struct enforce_ops enforce_ops = {
	.team_of = team_of_pid, .estimate = estimate, .on_action = on_action,
	.peek_write = peek_write,
	.feed_held = feed_held,
};

static int enforce_start(struct agent *ag)
{
	struct enforce_cfg cfg = {
		.policy = ag->policy, .cap = ag->cap,
		.dry_run = ag->opts->dry_run || ag->policy->mode == PM_MONITOR,
		.held_path = ag->opts->held_path, .mono_to_real = ag->mono_to_real,
		.cgroup_root = cgroup_resolver__mount(ag->cg),
		.features = &ag->feat,
	};
	int n;

	if (ag->opts->held_path) {
		n = enforce_recover(ag->opts->held_path);
		if (n)
			log_warn("enforce: %d process%s resumed after a crash", n, n == 1 ? "" : "es");
	}
	ag->budgets = budgets_load(ag, ag->policy);
	if (!ag->budgets)
		return -1;
	cfg.budgets = ag->budgets;
	ag->enf = enforce_new(&cfg, &enforce_ops, ag);
	if (!ag->enf)
		return -1;
	log_info("enforcement: %s%s", cfg.dry_run ? "monitor (no action is taken)" : "enforce",
		 ag->policy->alerts_exec ? ", alert hook set" : "");
	return 0;
}

/* SIGHUP: a new policy, checked whole first; the old stays on error. */
static void reload(struct agent *ag)
{
	struct policy *np = NULL;
	struct budget_set *nb;
	char err[1024];

	if (!ag->opts->policy_path)
		return;
	if (policy_load(ag->opts->policy_path, &np, err, sizeof(err))) {
		log_error("policy: %s (the policy in force stays)", err);
		return;
	}
	if (ag->enf) {
		nb = budgets_load(ag, np);
		if (!nb) {
			log_error("policy: %s: budgets not loaded (the policy in force stays)",
				  ag->opts->policy_path);
			budget_tz_set(ag->policy->timezone);
			policy_free(np);
			return;
		}
		enforce_set_policy(ag->enf, np, nb);
		budget_free(ag->budgets);
		ag->budgets = nb;
		if (ag->opts->metrics)
			metrics_clear_budgets(ag->opts->metrics);
	}
	policy_free(ag->reloaded);
	ag->reloaded = np;
	ag->policy = np;
	metrics_teams(ag);
	if (ag->opts->enforce && ag->opts->policy && policy_scopes(ag->opts->policy) !=
	    policy_scopes(np))
		log_warn("policy: it probes %s: that takes effect when tollgate restarts",
			 policy_scopes(np) ? "only the processes its teams match" :
			 "every process");
	else
		attacher__rescope(ag->att);
	memset(ag->prices, 0, PRICE_CACHE * sizeof(*ag->prices));
	log_info("policy %s reloaded: %zu team%s", ag->opts->policy_path, np->nteams,
		 np->nteams == 1 ? "" : "s");
}

static void on_hold(void *ctx, const struct tg_ev_hold *e)
{
	struct agent *ag = ctx;

	if (ag->enf)
		enforce_hold(ag->enf, e);
	else
		kill((pid_t)e->hdr.tgid, SIGCONT);
}

static void on_ignore(void *ctx, const struct tg_meta *m, uint64_t ssl, uint64_t gen,
		      enum stream_ignore_why why)
{
	struct agent *ag = ctx;

	if (capture__ignore(ag->cap, m->tgid, ssl, gen))
		ag->ignore_errors++;
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

/* A held record that goes (enforce): its bytes, as the probe would have
 * reported them. */
static void feed_held(void *ctx, const struct tg_ev_hold *e)
{
	struct agent *ag = ctx;
	struct tg_meta m;

	meta_from(&m, &e->hdr);
	if (proc_read_comm((pid_t)e->hdr.tgid, m.comm, sizeof(m.comm)))
		m.comm[0] = '\0';
	exe_of(ag, m.tgid);
	stream__data(ag->streams, &m, e->ssl, e->gen, TG_DIR_WRITE, e->offset, e->data,
		     e->hdr.len);
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

	/* Its calls are metered with the executable cached while it ran (it
	 * is gone from /proc by now); then the pid may be reused. */
	for (i = 0; i < ag->nexits; i++) {
		stream__exit(ag->streams, ag->exits[i].tgid, ag->exits[i].ts);
		exe_forget(ag, ag->exits[i].tgid);
	}
	ag->nexits = 0;
}

static void on_proc(void *ctx, const struct tg_ev_proc *e)
{
	struct agent *ag = ctx;
	int left = attacher__on_proc(ag->att, e);

	if (ag->enf && (e->hdr.type == TG_EV_EXEC || e->hdr.type == TG_EV_FORK))
		enforce_exec(ag->enf, (pid_t)e->hdr.tgid);
	else if (ag->enf && e->hdr.type == TG_EV_EXIT)
		enforce_exit(ag->enf, (pid_t)e->hdr.tgid);

	/* A process that left the scope is out of view from here: its
	 * connections end as if it had exited (what is in flight is metered
	 * cut off) and start afresh if it comes back. */
	ag->scope_exits += left;
	if (!left && e->hdr.type != TG_EV_EXIT && e->hdr.type != TG_EV_EXEC)
		return;
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

/* One "tollgate: NAME: k=v ..." line on stderr, or a group of the
 * status document when out is set. */
static void counter_line(struct json_object *out, const char *name, const char *const *keys,
			 const uint64_t *vals, size_t n)
{
	struct json_object *g;
	size_t i;

	if (out) {
		g = json_object_new_object();
		for (i = 0; i < n; i++)
			json_object_object_add(g, keys[i], json_object_new_int64((int64_t)vals[i]));
		json_object_object_add(out, name, g);
		return;
	}
	fprintf(stderr, "tollgate: %s:", name);
	for (i = 0; i < n; i++)
		fprintf(stderr, " %s=%" PRIu64, keys[i], vals[i]);
	fputc('\n', stderr);
}

#define COUNTERS(name, ...) do {						\
	static const char *const k_[] = { __VA_ARGS__ };			\
	counter_line(out, name, k_, v_, sizeof(k_) / sizeof(k_[0]));		\
} while (0)

/* Every counter: on exit and on SIGUSR1 (out NULL: on stderr), and in
 * the status document. */
static void print_counters(struct agent *ag, struct json_object *out)
{
	uint64_t c[TG_CNT__MAX], live, evicted;
	struct stream_stats s;
	struct attach_stats a;
	struct http1_stats *h = &s.ex.http;

	if (!capture__counters(ag->cap, c))
		counter_line(out, "counters", capture_counter_names, c, TG_CNT__MAX);
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
			s.ignored[STREAM_IGNORE_SERVER_HTTP2],
			s.ignored[STREAM_IGNORE_BROKEN], s.gaps, s.gap_bytes, s.gaps_inferred,
			s.gap_bytes_inferred, s.gaps_lost, s.overlap_bytes, s.stale_events,
			live, evicted, ag->forgotten,
		};
		COUNTERS("connections", "total", "open", "dropped", "replaced", "expired",
			 "ignored_not_http", "ignored_server", "ignored_server_http2", "ignored_broken", "stream_gaps",
			 "stream_gap_bytes", "inferred_gaps", "inferred_gap_bytes",
			 "lost_gaps", "overlap_bytes", "stale_events", "kernel_live",
			 "kernel_evicted", "kernel_forgotten");
	}
	{
		uint64_t v_[] = {
			s.ex.requests, s.ex.llm_calls, s.ex.not_llm_body, s.ex.unparsed,
			s.ex.estimated, s.ex.http_errors,
			s.ex.decode_errors, s.ex.body_overflows, s.ex.pending_overflows,
			s.ex.orphan_responses, s.ex.truncated, s.ex.shed, s.ex.heads_shed,
			s.ex.fields_cut, h->messages, h->bad, h->resyncs, h->truncated,
			h->skipped, s.ex.sse_events, s.ex.sse_oversized, s.ex.sse_shed,
			s.ex.sse_partial,
		};
		COUNTERS("http", "requests", "llm_calls", "not_llm_body", "unparsed",
			 "estimated", "http_errors",
			 "decode_errors", "body_overflows", "pending_overflows",
			 "orphan_responses", "truncated", "shed", "heads_shed", "fields_cut",
			 "messages", "bad_messages", "resyncs", "truncated_messages",
			 "skipped_bytes", "sse_events", "sse_oversized", "sse_shed",
			 "sse_partial");
	}
	{
		const struct h2_stats *h2 = &s.ex.h2;
		uint64_t v_[] = {
			s.ex.h2_conns, s.h2_midstream, s.ex.h2_headless, h2->frames,
			h2->streams, h2->hpack_errors, h2->hpack_lost, h2->resyncs,
			h2->skipped, h2->bad_frames, h2->resets, h2->goaways, h2->evicted,
			h2->oversized_heads,
		};
		COUNTERS("http2", "connections", "midstream", "headless_calls", "frames",
			 "streams", "hpack_errors", "hpack_lost", "resyncs", "skipped_bytes",
			 "bad_frames", "resets", "goaways", "evicted", "oversized_heads");
	}
	{
		uint64_t v_[] = { s.ex.ws_conns, s.ex.ws_messages, s.ex.ws_errors };

		COUNTERS("websocket", "connections", "messages", "errors");
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
			a.discovered, a.discover_failed, a.discover_ns / 1000000, a.disabled,
			a.exec_holds,
		};
		COUNTERS("probes", "targets", "links", "failures", "gone", "scoped_pids",
			 "targets_full", "negative_cache", "negative_evictions",
			 "epoch_errors", "ignore_errors", "discovered", "discover_failed",
			 "discover_ms", "disabled", "exec_holds");
	}
	{
		uint64_t v_[] = {
			a.unseen[ATTACH_UNSEEN_GNUTLS], a.unseen[ATTACH_UNSEEN_NSS],
			a.unseen[ATTACH_UNSEEN_GO], a.unseen[ATTACH_UNSEEN_BORINGSSL],
			a.unseen[ATTACH_UNSEEN_RUSTLS],
		};
		COUNTERS("unmetered", "gnutls_procs", "nss_procs", "go_procs", "boringssl_procs",
			 "rustls_procs");
	}
	{
		uint64_t v_[] = {
			ag->records, ag->unpriced, ag->unattributed, ag->exit_flushes,
			ag->scope_exits,
		};
		COUNTERS("agent", "records", "unpriced", "unattributed", "exit_flushes",
			 "scope_exits");
	}
	if (ag->enf) {
		struct enforce_stats e;

		enforce_stats(ag->enf, &e);
		{
			uint64_t v_[] = {
				e.holds, e.released, e.blocked, e.block_failures, e.killed,
				e.throttled, e.timeouts, e.held_now, e.gated_procs,
				ag->hook_runs, ag->hook_errors,
			};
			COUNTERS("enforce", "holds", "released", "blocked", "block_failures",
				 "killed", "throttled", "timeouts", "held_now", "gated_procs",
				 "hook_runs", "hook_errors");
		}
	}
}

/* --- `tollgate status` ---------------------------------------------------- */

/* Each team's calls and spend since local midnight (the policy's zone),
 * from the ledger: what its writer has committed. */
static void status_today(struct agent *ag, struct json_object **teams, size_t nteams)
{
	static const char q[] = "SELECT team, COUNT(*), COALESCE(SUM(cost_nano), 0)"
				" FROM calls WHERE ts_ns >= ? AND team IS NOT NULL GROUP BY team";
	int64_t start, end;
	sqlite3_stmt *st = NULL;
	char err[256];
	sqlite3 *db;
	const char *t;
	size_t i;

	if (!ag->opts->ledger_path)
		return;
	db = ledger_open_readonly(ag->opts->ledger_path, err, sizeof(err));
	if (!db)
		return;
	budget_window(PW_DAY, 0, wall_ns(), &start, &end);
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_bind_int64(st, 1, start) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			t = (const char *)sqlite3_column_text(st, 0);
			for (i = 0; t && i < nteams; i++) {
				if (strcmp(t, ag->policy->teams[i].name))
					continue;
				json_object_object_add(teams[i], "requests_today",
						       json_object_new_int64(sqlite3_column_int64(st, 1)));
				json_object_object_add(teams[i], "spend_today_nano",
						       json_object_new_int64(sqlite3_column_int64(st, 2)));
			}
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static struct json_object *status_teams(struct agent *ag)
{
	struct json_object *arr = json_object_new_array(), **teams, *t, *bs, *b;
	size_t i, j, n = ag->policy ? ag->policy->nteams : 0;
	struct budget_view v;
	char win[32];

	teams = calloc(n ? n : 1, sizeof(*teams));
	if (!teams)
		return arr;
	for (i = 0; i < n; i++) {
		t = teams[i] = json_object_new_object();
		json_object_object_add(t, "name", json_object_new_string(ag->policy->teams[i].name));
		json_object_object_add(t, "requests_today", json_object_new_int64(0));
		json_object_object_add(t, "spend_today_nano", json_object_new_int64(0));
		bs = json_object_new_array();
		for (j = 0; ag->budgets && j < ag->policy->teams[i].nbudgets; j++) {
			if (budget_view(ag->budgets, (int)i, (int)j, wall_ns(), &v))
				continue;
			b = json_object_new_object();
			json_object_object_add(b, "window", json_object_new_string(
				policy_window_name(v.pb, win, sizeof(win))));
			json_object_object_add(b, "unit", json_object_new_string(
				v.tokens ? "tokens" : "nano_usd"));
			json_object_object_add(b, "spent", json_object_new_int64(v.spent));
			json_object_object_add(b, "reserved", json_object_new_int64(v.reserved));
			json_object_object_add(b, "limit", json_object_new_int64(v.limit));
			json_object_object_add(b, "action", json_object_new_string(
				policy_action_name(v.pb->action)));
			json_object_object_add(b, "state", json_object_new_string(
				v.spent >= v.limit ? "exhausted" :
				budget_near(ag->budgets, (int)i) ? "near" : "ok"));
			json_object_object_add(b, "window_end_ns", json_object_new_int64(v.window_end));
			json_object_object_add(b, "exhaust_at_ns", json_object_new_int64(v.exhaust_at));
			json_object_array_add(bs, b);
		}
		json_object_object_add(t, "budgets", bs);
		json_object_array_add(arr, t);
	}
	status_today(ag, teams, n);
	free(teams);
	return arr;
}

static struct json_object *status_held(struct agent *ag)
{
	struct json_object *arr = json_object_new_array(), *o;
	struct enforce_held h[64];
	char comm[64];
	size_t i, n;

	n = ag->enf ? enforce_held_list(ag->enf, h, 64) : 0;
	for (i = 0; i < n && i < 64; i++) {
		o = json_object_new_object();
		json_object_object_add(o, "pid", json_object_new_int(h[i].tgid));
		if (proc_read_comm(h[i].tgid, comm, sizeof(comm)))
			comm[0] = '\0';
		json_object_object_add(o, "comm", json_object_new_string(comm));
		json_object_object_add(o, "team", h[i].team >= 0 && ag->policy &&
				       (size_t)h[i].team < ag->policy->nteams ?
				       json_object_new_string(ag->policy->teams[h[i].team].name) : NULL);
		json_object_object_add(o, "model", h[i].model[0] ?
				       json_object_new_string(h[i].model) : NULL);
		json_object_object_add(o, "state", json_object_new_string(h[i].state));
		json_object_object_add(o, "held_ns", json_object_new_int64(h[i].held_ns));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* The answer to "status": the agent's health as one JSON document. */
static char *status_reply(void *ctx, const char *req)
{
	struct agent *ag = ctx;
	struct json_object *o, *cnt;
	struct control_stats cs;
	char *doc;

	if (strcmp(req, "status"))
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_string(TOLLGATE_VERSION));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "started_ns", json_object_new_int64(ag->started));
	json_object_object_add(o, "uptime_ns", json_object_new_int64(wall_ns() - ag->started));
	json_object_object_add(o, "policy", ag->opts->policy_path ?
			       json_object_new_string(ag->opts->policy_path) : NULL);
	json_object_object_add(o, "mode", json_object_new_string(
		!ag->enf ? "meter" : enforce_dry_run(ag->enf) ? "monitor" : "enforce"));
	json_object_object_add(o, "ledger", ag->opts->ledger_path ?
			       json_object_new_string(ag->opts->ledger_path) : NULL);
	json_object_object_add(o, "metrics", ag->opts->metrics_addr ?
			       json_object_new_string(ag->opts->metrics_addr) : NULL);
	json_object_object_add(o, "kernel", features_json(&ag->feat));
	cnt = json_object_new_object();
	print_counters(ag, cnt);
	control_stats(ag->ctl, &cs);
	{
		uint64_t v_[] = { cs.served, cs.refused, cs.errors };
		struct json_object *out = cnt;

		COUNTERS("control", "served", "refused", "errors");
	}
	json_object_object_add(o, "counters", cnt);
	json_object_object_add(o, "teams", status_teams(ag));
	json_object_object_add(o, "held", status_held(ag));
	doc = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return doc;
}

int agent_run(const struct agent_opts *opts, const struct agent_sink *sink)
{
	static const struct capture_handlers handlers = {
		.on_data = on_data, .on_gap = on_gap,
		.on_close = on_close, .on_proc = on_proc, .on_hold = on_hold,
	};
	static const struct stream_ops sops = {
		.on_record = on_record, .on_ignore = on_ignore, .on_end = on_end,
		.on_open = on_open,
	};
	struct capture_cfg ccfg = {
		.call_cap = opts->call_cap,
		.ringbuf_bytes = opts->ringbuf_bytes,
		.scoped = opts->nglobs > 0 ||
			  (opts->enforce && opts->policy && policy_scopes(opts->policy)),
	};
	struct stream_cfg scfg;
	struct sigaction sa = { .sa_handler = on_signal };
	struct agent *ag;
	const char *why;
	uint64_t last_expire = 0, last_served = 0, now;
	int err = 1, n, wait_ms;

	why = capture_unsupported();
	if (why) {
		log_error("cannot capture: %s", why);
		return 1;
	}
	ag = calloc(1, sizeof(*ag));
	if (!ag)
		return 1;
	ag->opts = opts;
	ag->sink = sink;
	ag->policy = opts->policy;
	membudget_init(&ag->mb, opts->max_buffer);
	ag->exes = calloc(EXE_CACHE, sizeof(*ag->exes));
	ag->prices = calloc(PRICE_CACHE, sizeof(*ag->prices));
	ag->cg = cgroup_resolver__new();
	if (!ag->exes || !ag->prices || !ag->cg) {
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
	ag->started = wall_ns();
	metrics_teams(ag);
	features_probe(&ag->feat, cgroup_resolver__mount(ag->cg));
	features_log(&ag->feat);
	if (opts->socket_path) {
		char cerr[512];

		ag->ctl = control_listen(opts->socket_path, cerr, sizeof(cerr));
		if (!ag->ctl) {
			log_error("status socket: %s", cerr);
			goto free_agent;
		}
		log_info("status on %s ('tollgate status')", opts->socket_path);
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* A closed output shows as EPIPE on write, and ends the command. */
	signal(SIGPIPE, SIG_IGN);
	if (opts->enforce && ag->policy && enforce_start(ag))
		goto free_agent;
	if (opts->enforce && ag->policy && policy_scopes(ag->policy))
		attacher__set_scope(ag->att, in_policy_scope, ag);
	attacher__scan(ag->att);
	log_info("metering %s (cgroup2 at %s); Ctrl-C to stop, SIGUSR1 for counters",
		 ccfg.scoped ? (opts->nglobs ? "processes in the given cgroups" :
				"processes the policy's teams match") : "every process",
		 cgroup_resolver__mount(ag->cg));
	if (opts->ready_file) {
		FILE *f = fopen(opts->ready_file, "we");

		if (f)
			fclose(f);
	}
	while (!stop) {
		wait_ms = 100;
		if (ag->enf) {
			n = enforce_tick(ag->enf, (int64_t)now_ns(CLOCK_MONOTONIC));
			if (n >= 0 && n < wait_ms)
				wait_ms = n;
		}
		n = capture__poll(ag->cap, wait_ms);
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
			attacher__check(ag->att);
			metrics_health(ag);
			budget_health(ag);
			if (sink->on_tick && sink->on_tick(sink->ctx) < 0)
				stop = 1;
			last_expire = now;
		}
		if (want_counters) {
			want_counters = 0;
			print_counters(ag, NULL);
		}
		/* `tollgate status` waits 100 ms at most; a busy loop does not
		 * pay an accept(2) on every batch of events */
		if (ag->ctl && now - last_served >= 100000000ull) {
			control_serve(ag->ctl, status_reply, ag);
			last_served = now;
		}
		if (want_reload) {
			want_reload = 0;
			reload(ag);
		}
	}
	capture__drain(ag->cap);
	flush_exits(ag);
	err = 0;
free_agent:
	if (ag->cap && ag->streams && ag->att) {
		/* Calls still in flight are emitted as cut off, then counted. */
		stream__end_all(ag->streams, now_ns(CLOCK_MONOTONIC));
		print_counters(ag, NULL);
	}
	control_close(ag->ctl);
	stream__free(ag->streams, now_ns(CLOCK_MONOTONIC));
	enforce_free(ag->enf);
	budget_free(ag->budgets);
	policy_free(ag->reloaded);
	attacher__free(ag->att);
	capture__free(ag->cap);
	cgroup_resolver__free(ag->cg);
	free(ag->exes);
	free(ag->prices);
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

/* A misused option: the command's name, then what is wrong. */
static int opt_error(const char *prog, const char *fmt, const char *arg)
{
	char esc[256];

	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, escape_str(esc, sizeof(esc), arg));
	fputc('\n', stderr);
	return -EINVAL;
}

int agent_cli_parse(int argc, char **argv, struct agent_cli *cli, unsigned flags,
		    void (*usage)(FILE *f))
{
	static const struct option longopts[] = {
		{ "format",	required_argument, NULL, 'f' },
		{ "cgroup",	required_argument, NULL, 'c' },
		{ "call-cap",	required_argument, NULL, 'C' },
		{ "ringbuf",	required_argument, NULL, 'R' },
		{ "max-buffer",	required_argument, NULL, 'B' },
		{ "conn-idle",	required_argument, NULL, 'I' },
		{ "ready-file",	required_argument, NULL, 'r' },
		{ "policy",	required_argument, NULL, 'p' },
		{ "prices",	required_argument, NULL, 'P' },
		{ "events",	required_argument, NULL, 'e' },
		{ "db",		required_argument, NULL, 'D' },
		{ "metrics",	required_argument, NULL, 'M' },
		{ "socket",	required_argument, NULL, 'S' },
		{ "dry-run",	no_argument,	   NULL, 'N' },
		{ "verbose",	no_argument,	   NULL, 'v' },
		{ "help",	no_argument,	   NULL, 'h' },
		{}
	};
	static char *globs[MAX_GLOBS];
	const char *prog = argv[0];
	char *end;
	long secs;
	int c;

	struct agent_opts *o = &cli->o;

	memset(cli, 0, sizeof(*cli));
	o->call_cap = TG_CALL_CAP_DEFAULT;
	o->ringbuf_bytes = 16 << 20;
	o->max_buffer = MEMBUDGET_DEFAULT;
	o->globs = globs;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:c:p:e:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "text"))
				cli->format = AGENT_TEXT;
			else if (!strcmp(optarg, "jsonl"))
				cli->format = AGENT_JSONL;
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
		case 'p':
			cli->policy_path = optarg;
			break;
		case 'P':
			cli->prices_path = optarg;
			break;
		case 'e':
			if (!(flags & AGENT_CLI_RUN))
				return opt_error(prog, "--events: %s", "only 'tollgate run' writes "
						 "an events file");
			cli->events_path = optarg;
			break;
		case 'D':
		case 'M':
			if (!(flags & AGENT_CLI_RUN))
				return opt_error(prog, "%s: only 'tollgate run' keeps a ledger and "
						 "metrics", c == 'D' ? "--db" : "--metrics");
			if (c == 'D')
				cli->db_path = optarg;
			else
				cli->metrics_addr = optarg;
			break;
		case 'S':
			if (!(flags & AGENT_CLI_RUN))
				return opt_error(prog, "--socket: %s", "only 'tollgate run' answers "
						 "'tollgate status'");
			cli->socket_path = optarg;
			break;
		case 'N':
			if (!(flags & AGENT_CLI_RUN))
				return opt_error(prog, "--dry-run: %s", "only 'tollgate run' "
						 "enforces a policy");
			o->dry_run = 1;
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc)
		return opt_error(prog, "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* The shipped table, or the policy's own, or --prices. */
int agent_cli_load(struct agent_cli *c)
{
	const char *prices;
	char err[1024];
	int rc;

	if (c->policy_path) {
		rc = policy_load(c->policy_path, &c->policy, err, sizeof(err));
		if (rc) {
			log_error("policy: %s", err);
			return rc;
		}
		c->o.policy = c->policy;
		log_info("policy %s: %zu team%s", c->policy_path, c->policy->nteams,
			 c->policy->nteams == 1 ? "" : "s");
	}
	prices = c->prices_path;
	if (!prices && c->policy && c->policy->prices_file)
		prices = c->policy->prices_file;
	if (!prices)
		prices = prices_default_path();
	if (!prices) {
		log_error("prices: no table found (set --prices FILE, or install "
			  "/etc/tollgate/prices.yaml)");
		return -ENOENT;
	}
	rc = prices_load(prices, &c->prices, err, sizeof(err));
	if (rc) {
		log_error("prices: %s", err);
		return rc;
	}
	c->o.prices = c->prices;
	log_info("prices %s: %zu models", prices, prices_count(c->prices));
	return 0;
}

void agent_cli_free(struct agent_cli *c)
{
	policy_free(c->policy);
	prices_free(c->prices);
	c->policy = NULL;
	c->prices = NULL;
}

int line_out_put(struct line_out *o, const char *line)
{
	if (o->closed)
		return -EPIPE;
	if (fputs(line, o->f) == EOF || fputc('\n', o->f) == EOF || fflush(o->f) == EOF) {
		o->closed = 1;
		if (errno != EPIPE)
			log_error("%s: %s", o->name, strerror(errno));
		return -EPIPE;
	}
	return 0;
}

int line_out_check(struct line_out *o)
{
	struct pollfd pfd = { .fd = fileno(o->f), .events = 0 };

	if (!o->closed && poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLHUP)))
		o->closed = 1;
	return o->closed ? -EPIPE : 0;
}
