// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The gate and the actions (include/enforce.h).
 *
 * Runs on the agent's capture thread: a held request is decided from the
 * same ring that carries the responses, so every call that ended before
 * the held write began has been charged when the verdict is taken.
 *
 * Which teams are gated is fixed by the policy: a team with a hard budget
 * (block, kill, throttle), rate limits, model rules or a max_tokens cap,
 * and every team under a loop guard.  A team with a hard budget is gated
 * all the time, not only near its limit: what a response costs is known
 * only when it ends, and the next request can be written microseconds
 * later, before any agent could have gated it.  Holding costs tens of
 * microseconds a request; processes of other teams pay one map lookup.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "attribution.h"
#include "capture.h"
#include "elfsym.h"
#include "enforce.h"
#include "exchange.h"
#include "forcefail.h"
#include "http1.h"
#include "kfeatures.h"
#include "log.h"
#include "procinfo.h"

#define SEC			1000000000LL
#define MIN_NS			(60 * SEC)
#define PROCS_MAX		65536	/* processes followed (a power of two) */
#define RES_MAX			65536	/* calls in flight reserved (a power of two) */
#define PENDING_MAX		1024	/* requests waiting for their body's write */
#define LOOP_SLOTS		4096	/* recent request bodies (loop guard) */
#define THROTTLE_DEFAULT_RPM	6	/* a throttle budget with no rate_limits */
#define RWSTATE_CACHE		16

struct proc {
	pid_t tgid;			/* 0: free */
	int team;			/* by identity, -1: none */
	int known;			/* team and start are read */
	int gated;
	uint32_t inflight;		/* its calls reserved */
	uint64_t start;			/* its start time (the held file) */
};

struct res {				/* a call in flight: what it reserved */
	uint64_t seq;			/* 0: free */
	pid_t tgid;
	int team;
	struct budget_amount amt;
	const char *action;		/* what the gate did to it, NULL: nothing */
};

struct conn_res {			/* allowed at the gate, not yet opened */
	pid_t tgid;			/* 0: free */
	uint64_t ssl;
	int team;
	struct budget_amount amt;
	int64_t at;			/* monotonic: when it was let go */
	const char *action;		/* what the gate did first, NULL: nothing */
};

/* A request let go at the gate is seen whole (and its reserve moved to
 * its call) within moments; one that never is (its connection broke)
 * gives its reserve back after this. */
#define CONN_RES_NS		(60 * SEC)

/* A request whose head was held without its body: decided at the body. */
struct pending {
	pid_t tgid;			/* 0: free */
	uint64_t ssl, gen;
	struct llm_call call;
	char key_fp[KEY_FP_LEN];
	uint64_t content_length;
	int64_t since;
};

struct hold {
	struct hold *next;
	pid_t tgid, tid;
	uint64_t start;			/* the process's start time (the held file) */
	uint64_t ssl, gen, entry, sp;
	int ex;
	int team;
	int64_t since, until;		/* monotonic; until: throttled release */
	int waiting;			/* for the team's calls in flight */
	const char *action;		/* done to it before it goes: "throttle", "alert" */
	struct llm_call call;
	struct budget_amount est, strict;
	struct tg_ev_hold *deferred;	/* a held record's bytes, reported only
					   if it goes */
};

struct team_rate {
	int64_t tat;			/* GCRA: the next free slot (monotonic) */
	int64_t debt, debt_at;		/* tokens over the per-minute rate */
};

struct loop_slot {
	pid_t tgid;
	uint64_t hash;
	int64_t first;			/* the window's start (monotonic) */
	int64_t count;
};

struct rwstate_memo {
	char path[256];
	int64_t off;			/* -1: not understood */
};

struct enforcer {
	struct enforce_cfg cfg;
	struct enforce_ops ops;
	void *ctx;
	pid_t self;
	unsigned char *team_gated;	/* per team */
	struct team_rate *rates;	/* per team */
	int gate_all;			/* a gated team matches by api_key */
	int key_teams;			/* some team matches by api_key */
	struct proc *procs;
	struct res *res;
	struct conn_res conn_res[PENDING_MAX];
	struct pending pending[PENDING_MAX];
	struct loop_slot *loops;
	struct rwstate_memo rw[RWSTATE_CACHE];
	struct hold *holds;
	int held_fd;			/* the held file, open */
	int64_t swept;			/* conn_res last looked through */
	size_t held_len;
	struct enforce_stats st;
};

/* --- small tables -------------------------------------------------------- */

static struct proc *proc_get(struct enforcer *e, pid_t tgid, int create)
{
	size_t i, h = ((uint32_t)tgid * 2654435761u) & (PROCS_MAX - 1);

	for (i = 0; i < 64; i++, h = (h + 1) & (PROCS_MAX - 1)) {
		if (e->procs[h].tgid == tgid)
			return &e->procs[h];
		if (!e->procs[h].tgid) {
			if (!create)
				return NULL;
			e->procs[h] = (struct proc){ .tgid = tgid, .team = -1 };
			return &e->procs[h];
		}
	}
	return NULL;			/* full around here: not followed */
}

/* Removing from linear probing: move the followers back into the hole. */
static void proc_del(struct enforcer *e, struct proc *p)
{
	size_t i = (size_t)(p - e->procs), j = i, k;

	for (;;) {
		j = (j + 1) & (PROCS_MAX - 1);
		if (!e->procs[j].tgid)
			break;
		k = ((uint32_t)e->procs[j].tgid * 2654435761u) & (PROCS_MAX - 1);
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			e->procs[i] = e->procs[j];
			i = j;
		}
	}
	e->procs[i].tgid = 0;
}

static int64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

/* Never PID 1, the agent, or a kernel thread. */
static int untouchable(const struct enforcer *e, pid_t tgid)
{
	return tgid <= 1 || tgid == e->self || proc_is_kthread(tgid) == 1;
}

/* --- the held file ------------------------------------------------------- */

/* A stat file (/proc/PID/stat, /proc/PID/task/TID/stat) read into buf:
 * where its fields after "(comm) " start (the state first), or NULL. */
static char *read_stat(const char *path, char *buf, size_t cap)
{
	ssize_t n;
	char *p;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p + 2 : NULL;
}

/* The start time of a process (/proc/PID/stat field 22), 0 if gone; and
 * its state letter. */
static uint64_t proc_start(pid_t pid, char *state)
{
	char path[64], buf[1024], *p;
	unsigned long long st = 0;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	p = read_stat(path, buf, sizeof(buf));
	if (!p)
		return 0;
	if (state)
		*state = *p;
	for (i = 3; i < 22 && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p || sscanf(p, "%llu", &st) != 1)
		return 0;
	return st;
}

/*
 * Whom the agent holds now, so that an agent restarted after a crash can
 * resume them: one "PID STARTTIME" line each, rewritten in place through
 * a descriptor kept open (a hold costs a pwrite, not a file's creation;
 * a reader takes the lines that parse, and a dead or reused pid is
 * recognised by its start time).
 */
static void held_write(struct enforcer *e)
{
	char buf[8192];
	struct hold *h;
	size_t n = 0;
	int w;

	if (!e->cfg.held_path)
		return;
	if (e->held_fd < 0) {
		e->held_fd = open(e->cfg.held_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC |
				  O_NOFOLLOW, 0600);
		if (e->held_fd < 0) {
			log_warn("enforce: %s: %s", e->cfg.held_path, strerror(errno));
			return;
		}
		e->held_len = 0;
	}
	for (h = e->holds; h && n < sizeof(buf) - 48; h = h->next) {
		w = snprintf(buf + n, sizeof(buf) - n, "%d %llu\n", (int)h->tgid,
			     (unsigned long long)h->start);
		n += (size_t)w;
	}
	if (pwrite(e->held_fd, buf, n, 0) != (ssize_t)n ||
	    (n < e->held_len && ftruncate(e->held_fd, (off_t)n)))
		log_warn("enforce: %s: %s", e->cfg.held_path, strerror(errno));
	e->held_len = n;
}

int enforce_recover(const char *held_path)
{
	unsigned long long start;
	FILE *f = fopen(held_path, "re");
	int pid, n = 0;
	char state;

	if (!f)
		return 0;
	while (fscanf(f, "%d %llu", &pid, &start) == 2) {
		state = 0;
		if (pid <= 1 || proc_start(pid, &state) != start || (state != 'T' && state != 't'))
			continue;
		if (!kill(pid, SIGCONT)) {
			log_warn("enforce: resumed process %d, left stopped by an agent that died",
				 pid);
			n++;
		}
	}
	fclose(f);
	unlink(held_path);
	return n;
}

/* --- gating -------------------------------------------------------------- */

static int team_needs_gate(const struct policy *p, const struct policy_team *t)
{
	size_t j;

	if (p->loop_guard.identical_requests || t->rate.requests_per_minute ||
	    t->rate.tokens_per_minute || t->models.allow.n || t->models.deny.n ||
	    t->max_tokens_cap)
		return 1;
	for (j = 0; j < t->nbudgets; j++)
		if (t->budgets[j].action != PA_ALERT)
			return 1;
	return 0;
}

static void gate_proc(struct enforcer *e, struct proc *p)
{
	int want = !untouchable(e, p->tgid) &&
		   (e->gate_all || (p->team >= 0 && e->team_gated[p->team]));

	if (want == p->gated)
		return;
	if (capture__gate(e->cfg.cap, (uint32_t)p->tgid, want)) {
		log_warn("enforce: cannot %s process %d", want ? "gate" : "ungate", (int)p->tgid);
		return;
	}
	p->gated = want;
	if (want)
		e->st.gated_procs++;
	else if (e->st.gated_procs)
		e->st.gated_procs--;
}

static void follow(struct enforcer *e, pid_t tgid)
{
	struct proc *p;

	if (untouchable(e, tgid))
		return;
	p = proc_get(e, tgid, 1);
	if (!p)
		return;
	p->team = e->ops.team_of(e->ctx, tgid, NULL);
	p->start = proc_start(tgid, NULL);
	p->known = 1;
	gate_proc(e, p);
}

/*
 * The team of a held request: its process's, as followed (read once, again
 * at exec), unless a team matches by API key: then the request's key may
 * name another.
 */
static int hold_team(struct enforcer *e, pid_t tgid, const char *key_fp, uint64_t *start)
{
	struct proc *p = proc_get(e, tgid, 1);

	if (p && !p->known) {
		p->team = e->ops.team_of(e->ctx, tgid, NULL);
		p->start = proc_start(tgid, NULL);
		p->known = 1;
	}
	*start = p ? p->start : proc_start(tgid, NULL);
	if (e->key_teams && key_fp)
		return e->ops.team_of(e->ctx, tgid, key_fp);
	return p ? p->team : e->ops.team_of(e->ctx, tgid, NULL);
}

static void scan_one(void *ctx, pid_t pid)
{
	follow(ctx, pid);
}

/* Which teams are gated, then every process placed. */
static void gate_setup(struct enforcer *e)
{
	const struct policy *p = e->cfg.policy;
	size_t i;

	e->gate_all = 0;
	e->key_teams = 0;
	for (i = 0; i < p->nteams; i++) {
		if (p->teams[i].match.api_key.n)
			e->key_teams = 1;
		e->team_gated[i] = !e->cfg.dry_run && team_needs_gate(p, &p->teams[i]);
		if (e->team_gated[i] && p->teams[i].match.api_key.n)
			e->gate_all = 1;
	}
	for (i = 0; i < p->nteams && !e->cfg.dry_run; i++)
		if (e->team_gated[i])
			break;
	if (i == p->nteams) {
		capture__gate_clear(e->cfg.cap);
		for (i = 0; i < PROCS_MAX; i++)
			e->procs[i].gated = 0;
		e->st.gated_procs = 0;
		return;
	}
	proc_for_each_pid(scan_one, e);
}

void enforce_exec(struct enforcer *e, pid_t tgid)
{
	follow(e, tgid);
}

static void unlink_hold(struct enforcer *e, struct hold *h);

static void hold_free(struct hold *h)
{
	if (h)
		free(h->deferred);
	free(h);
}

/* A write that goes: bytes the probe left to us are reported now, before
 * the process resumes and writes more. */
static void feed_deferred(struct enforcer *e, const struct tg_ev_hold *ev)
{
	if (ev && ev->deferred && e->ops.feed_held)
		e->ops.feed_held(e->ctx, ev);
}

void enforce_exit(struct enforcer *e, pid_t tgid)
{
	struct proc *p = proc_get(e, tgid, 0);
	struct hold *h, *nx;
	int dropped = 0;
	size_t i;

	/* what it was held for ended with it */
	for (h = e->holds; h; h = nx) {
		nx = h->next;
		if (h->tgid == tgid) {
			unlink_hold(e, h);
			hold_free(h);
			dropped = 1;
		}
	}
	if (dropped)
		held_write(e);
	for (i = 0; i < PENDING_MAX; i++)
		if (e->pending[i].tgid == tgid)
			e->pending[i].tgid = 0;
	if (!p)
		return;
	if (p->gated) {
		capture__gate(e->cfg.cap, (uint32_t)tgid, 0);
		if (e->st.gated_procs)
			e->st.gated_procs--;
	}
	proc_del(e, p);
}

int enforce_dry_run(const struct enforcer *e)
{
	return e->cfg.dry_run;
}

size_t enforce_held_list(const struct enforcer *e, struct enforce_held *out, size_t cap)
{
	const struct hold *h;
	int64_t now = mono_now();
	size_t n = 0;

	for (h = e->holds; h; h = h->next, n++) {
		if (n >= cap)
			continue;
		out[n] = (struct enforce_held){
			.tgid = h->tgid, .team = h->team, .held_ns = now - h->since,
			.state = h->until ? "throttled" : h->waiting ? "waiting" : "deciding",
		};
		snprintf(out[n].model, sizeof(out[n].model), "%s", h->call.model);
	}
	return n;
}

/* --- reports ------------------------------------------------------------- */

static void report(struct enforcer *e, const struct hold *h, const char *action,
		   const char *why, const struct budget_decision *d, int ok, const char *error)
{
	const struct policy *p = e->cfg.policy;
	struct enforce_action a = {
		.ts_ns = mono_now() + e->cfg.mono_to_real,
		.tgid = h->tgid, .tid = h->tid,
		.team = h->team >= 0 && (size_t)h->team < p->nteams ? p->teams[h->team].name : "",
		.action = action, .why = why,
		.provider = h->call.provider, .model = h->call.model,
		.budget = d ? d->budget : -1,
		.spent = d ? d->spent : 0, .limit = d ? d->limit : 0,
		.tokens = d ? d->tokens : 0,
		.held_ns = h->since ? mono_now() - h->since : 0,
		.dry_run = e->cfg.dry_run, .ok = ok, .error = error,
	};

	e->ops.on_action(e->ctx, &a);
}

/* --- releasing and acting ------------------------------------------------ */

static void unlink_hold(struct enforcer *e, struct hold *h)
{
	struct hold **pp;

	for (pp = &e->holds; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	}
	if (e->st.held_now)
		e->st.held_now--;
}

/* Other requests of the same process still held keep it stopped. */
static int still_held(const struct enforcer *e, pid_t tgid)
{
	const struct hold *h;

	for (h = e->holds; h; h = h->next)
		if (h->tgid == tgid)
			return 1;
	return 0;
}

static void resume(struct enforcer *e, struct hold *h)
{
	pid_t tgid = h->tgid;

	unlink_hold(e, h);
	hold_free(h);
	if (!still_held(e, tgid) && kill(tgid, SIGCONT) && errno != ESRCH)
		log_warn("enforce: cannot resume process %d: %s", (int)tgid, strerror(errno));
	held_write(e);
}

static void conn_reserve(struct enforcer *e, struct hold *h, const struct budget_amount *a)
{
	size_t i, free_i = PENDING_MAX;

	for (i = 0; i < PENDING_MAX; i++) {
		if (e->conn_res[i].tgid == h->tgid && e->conn_res[i].ssl == h->ssl) {
			free_i = i;	/* a request never opened: replaced */
			budget_unreserve(e->cfg.budgets, e->conn_res[i].team, &e->conn_res[i].amt);
			break;
		}
		if (!e->conn_res[i].tgid && free_i == PENDING_MAX)
			free_i = i;
	}
	if (free_i == PENDING_MAX)
		return;		/* reserved at open instead */
	e->conn_res[free_i] = (struct conn_res){ .tgid = h->tgid, .ssl = h->ssl,
						 .team = h->team, .amt = *a, .at = mono_now(),
						 .action = h->action };
	budget_reserve(e->cfg.budgets, h->team, a);
}

/* A strict budget reserves a request's worst case; others, its input. */
static int team_strict(const struct policy *p, int team)
{
	size_t j;

	for (j = 0; j < p->teams[team].nbudgets; j++)
		if (p->teams[team].budgets[j].strict)
			return 1;
	return 0;
}

static void release(struct enforcer *e, struct hold *h)
{
	feed_deferred(e, h->deferred);
	if (h->team >= 0)
		conn_reserve(e, h, team_strict(e->cfg.policy, h->team) ? &h->strict : &h->est);
	e->st.released++;
	resume(e, h);
}

/* The file a process maps at addr, from /proc/PID/maps. */
static int file_of(pid_t tgid, uint64_t addr, char *path, size_t cap)
{
	unsigned long long lo, hi;
	char maps[64], line[4400], *f;
	FILE *m;
	int found = 0;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)tgid);
	m = fopen(maps, "re");
	if (!m)
		return -errno;
	while (!found && fgets(line, sizeof(line), m)) {
		if (sscanf(line, "%llx-%llx", &lo, &hi) != 2 || addr < lo || addr >= hi)
			continue;
		f = strchr(line, '/');
		if (!f)
			break;
		f[strcspn(f, "\n")] = '\0';
		snprintf(path, cap, "/proc/%d/root%s", (int)tgid, f);
		found = 1;
	}
	fclose(m);
	return found ? 0 : -ENOENT;
}

/* rwstate's offset in the SSL of the library the call is in (cached). */
static int64_t rwstate_off(struct enforcer *e, const struct hold *h)
{
	static const char *const names[] = { "SSL_want" };
	char path[256];
	uint64_t off = 0;
	size_t i, slot;

	if (file_of(h->tgid, h->entry, path, sizeof(path)))
		return -1;
	slot = 0;
	for (i = 0; i < RWSTATE_CACHE; i++) {
		if (!strcmp(e->rw[i].path, strchr(path + 6, '/') + 5))
			return e->rw[i].off;
		if (!e->rw[i].path[0])
			slot = i;
	}
	snprintf(e->rw[slot].path, sizeof(e->rw[slot].path), "%s", strchr(path + 6, '/') + 5);
	e->rw[slot].off = -1;
	if (!elfsym_find(path, names, 1, &off) && off)
		e->rw[slot].off = forcefail_rwstate_off(path, off);
	if (e->rw[slot].off < 0)
		e->rw[slot].off = -1;
	return e->rw[slot].off;
}

/*
 * The signal is sent from the probe, and the thread stops on its way back
 * to user mode: the ring can bring the hold here first.  Wait (a few
 * microseconds, usually) until it is stopped; 1 when it is.
 */
static int wait_stopped(pid_t tgid, pid_t tid)
{
	char path[64], buf[512], *p;
	struct timespec ts = { 0, 20000 };
	int i;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)tgid, (int)tid);
	for (i = 0; i < 5000; i++) {	/* 100 ms at most */
		p = read_stat(path, buf, sizeof(buf));
		if (!p)
			return 0;
		if (*p == 'T' || *p == 't')
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

static void kill_proc(struct enforcer *e, struct hold *h, const char *why,
		      const struct budget_decision *d);

/* The policy lets the team's processes be killed: a budget of the team or
 * the loop guard says kill. */
static int may_kill(const struct policy *p, int team)
{
	size_t j;

	if (p->loop_guard.identical_requests && p->loop_guard.action == PA_KILL)
		return 1;
	for (j = 0; team >= 0 && j < p->teams[team].nbudgets; j++)
		if (p->teams[team].budgets[j].action == PA_KILL)
			return 1;
	return 0;
}

/*
 * The held write fails in the client; the process goes on.  When it
 * cannot be made to fail (a debugger holds the thread, a prologue not
 * understood), the request is killed with its process if the policy kills
 * for this team, else released: said, and counted.
 */
static void block(struct enforcer *e, struct hold *h, const char *why,
		  const struct budget_decision *d)
{
	struct forcefail_call c = {
		.tgid = h->tgid, .tid = h->tid, .entry = h->entry, .entry_sp = h->sp,
		.retval = h->ex ? 0 : -1,
	};
	char err[256] = "";
	int rc;

	c.rwstate_off = rwstate_off(e, h);
	if (h->ex == TG_HOLD_EX_GO) {
		/* its results are Go or Rust values (an error interface, a
		 * Result): no return made up from outside is safe */
		rc = -ENOTSUP;
		snprintf(err, sizeof(err), "a write of Go's crypto/tls or ring cannot be made to fail");
	} else if (!wait_stopped(h->tgid, h->tid)) {
		rc = -ESRCH;
		snprintf(err, sizeof(err), "thread %d did not stop", (int)h->tid);
	} else {
		rc = forcefail(&c, err, sizeof(err));
	}
	if (rc) {
		e->st.block_failures++;
		log_error("enforce: cannot block a request of process %d (%s): %s", (int)h->tgid,
			  err, may_kill(e->cfg.policy, h->team) ? "killed" : "released");
	} else {
		e->st.blocked++;
	}
	report(e, h, "block", why, d, !rc, rc ? err : NULL);
	if (rc && may_kill(e->cfg.policy, h->team)) {
		kill_proc(e, h, why, d);
	} else {
		/* A record that could not be stopped is not reported either:
		 * mostly its process was on its way out and it never left; if
		 * it did, its call is still metered from the response, with a
		 * gap where it was. */
		resume(e, h);
	}
}

/* cgroup.kill, for a policy that kills the whole cgroup: never the root,
 * never the agent's own or PID 1's cgroup. */
static int kill_cgroup(const char *root, pid_t tgid, char *err, size_t errlen)
{
	char cg[4096], mine[4096], init[4096], path[8400];
	int fd, rc = 0;

	if (proc_read_cgroup(tgid, cg, sizeof(cg)) || proc_read_cgroup(getpid(), mine, sizeof(mine)) ||
	    proc_read_cgroup(1, init, sizeof(init))) {
		snprintf(err, errlen, "cannot read the cgroups");
		return -ENOENT;
	}
	if (!strcmp(cg, "/") || !strcmp(cg, mine) || !strcmp(cg, init) ||
	    !strncmp(mine, cg, strlen(cg))) {
		snprintf(err, errlen, "will not kill cgroup %s (it holds the agent or PID 1)", cg);
		return -EPERM;
	}
	snprintf(path, sizeof(path), "%s%s/cgroup.kill", root, cg);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "1", 1) != 1)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc)
		snprintf(err, errlen, "%.200s: %s", path, strerror(-rc));
	return rc;
}

static void kill_proc(struct enforcer *e, struct hold *h, const char *why,
		      const struct budget_decision *d)
{
	const struct policy *p = e->cfg.policy;
	char err[256] = "";
	int rc = 0;

	if (h->team >= 0 && p->teams[h->team].kill_scope == PK_CGROUP)
		rc = kill_cgroup(e->cfg.cgroup_root ? e->cfg.cgroup_root : "/sys/fs/cgroup",
				 h->tgid, err, sizeof(err));
	if (rc || h->team < 0 || p->teams[h->team].kill_scope != PK_CGROUP) {
		if (kill(h->tgid, SIGKILL) && errno != ESRCH) {
			rc = -errno;
			snprintf(err, sizeof(err), "kill %d: %s", (int)h->tgid, strerror(errno));
		} else {
			rc = 0;
		}
	}
	e->st.killed += !rc;
	report(e, h, "kill", why, d, !rc, rc ? err : NULL);
	unlink_hold(e, h);
	hold_free(h);
	held_write(e);
}

/* --- deciding ------------------------------------------------------------ */

static int glob_any(const struct policy_strs *s, const char *v)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!fnmatch(s->v[i], v, 0))
			return 1;
	return 0;
}

static void act(struct enforcer *e, struct hold *h, enum policy_action a, const char *why,
		const struct budget_decision *d);

/* GCRA for requests a minute, and a leaky bucket of tokens a minute: when
 * (monotonic) the team's next request may go, taking its slot. */
static int64_t rate_slot(struct enforcer *e, int team, int64_t rpm, int64_t now)
{
	const struct policy_team *t = &e->cfg.policy->teams[team];
	struct team_rate *r = &e->rates[team];
	int64_t at = now, drained;

	if (t->rate.tokens_per_minute && r->debt > 0) {
		drained = (int64_t)((__int128)(now - r->debt_at) * t->rate.tokens_per_minute / MIN_NS);
		r->debt = drained >= r->debt ? 0 : r->debt - drained;
		r->debt_at = now;
		if (r->debt > 0)
			at = now + (int64_t)((__int128)r->debt * MIN_NS / t->rate.tokens_per_minute);
	}
	if (rpm) {
		if (r->tat > at)
			at = r->tat;
		r->tat = at + MIN_NS / rpm;
	}
	return at;
}

/* Hold h until `at` (throttled), or block it when that is past its
 * timeout: no process is held longer.  Returns 1 when h is gone. */
static int throttle(struct enforcer *e, struct hold *h, int64_t at, const char *why,
		    const struct budget_decision *d)
{
	if (at - h->since > (int64_t)e->cfg.policy->hold_timeout_ns) {
		block(e, h, why, d);
		return 1;
	}
	h->until = at;
	h->action = "throttle";
	e->st.throttled++;
	report(e, h, "throttle", why, d, 1, NULL);
	return 0;
}

static uint32_t inflight_of(struct enforcer *e, pid_t tgid)
{
	struct proc *p = proc_get(e, tgid, 0);

	return p ? p->inflight : 0;
}

/* The verdict on a held request; returns 1 if h is gone (released or
 * acted on), 0 if it stays held. */
static int decide(struct enforcer *e, struct hold *h, int timed_out)
{
	const struct policy *p = e->cfg.policy;
	const struct policy_team *t;
	struct budget_decision d;
	int64_t now = mono_now(), at, rpm;
	int alone;

	if (h->team < 0) {
		release(e, h);
		return 1;
	}
	t = &p->teams[h->team];
	if (h->call.model[0] && (glob_any(&t->models.deny, h->call.model) ||
				 (t->models.allow.n && !glob_any(&t->models.allow, h->call.model)))) {
		act(e, h, PA_BLOCK, "model", NULL);
		return 1;
	}
	if (t->max_tokens_cap && h->call.max_tokens > t->max_tokens_cap) {
		act(e, h, PA_BLOCK, "max_tokens", NULL);
		return 1;
	}
	alone = timed_out || inflight_of(e, h->tgid) >= budget_inflight(e->cfg.budgets, h->team);
	budget_decide(e->cfg.budgets, h->team, &h->est, &h->strict, alone,
		      now + e->cfg.mono_to_real, &d);
	if (d.verdict == BV_WAIT) {
		h->waiting = 1;
		return 0;
	}
	h->waiting = 0;
	if (d.verdict == BV_DENY && d.spent < d.limit) {
		/* near, not over: refused because it could not wait; the
		 * budget's action is for spend past its limit */
		act(e, h, PA_BLOCK, "budget", &d);
		return 1;
	}
	if (d.verdict == BV_DENY && d.action != PA_THROTTLE) {
		act(e, h, d.action, "budget", &d);
		return 1;
	}
	rpm = t->rate.requests_per_minute;
	if (d.verdict == BV_DENY && !rpm)
		rpm = THROTTLE_DEFAULT_RPM;
	if (rpm || t->rate.tokens_per_minute) {
		at = rate_slot(e, h->team, rpm, now);
		if (at > now + SEC / 1000)
			return throttle(e, h, at, d.verdict == BV_DENY ? "budget" : "rate_limit",
					d.verdict == BV_DENY ? &d : NULL);
	}
	release(e, h);
	return 1;
}

static void act(struct enforcer *e, struct hold *h, enum policy_action a, const char *why,
		const struct budget_decision *d)
{
	switch (a) {
	case PA_KILL:
		kill_proc(e, h, why, d);
		break;
	case PA_BLOCK:
		block(e, h, why, d);
		break;
	case PA_THROTTLE:
		throttle(e, h, rate_slot(e, h->team, THROTTLE_DEFAULT_RPM, mono_now()), why, d);
		break;
	default:
		report(e, h, "alert", why, d, 1, NULL);
		h->action = "alert";
		release(e, h);
		break;
	}
}

/* Loop guard: identical bodies from one process within the window. */
static int64_t loop_note(struct enforcer *e, pid_t tgid, uint64_t hash, int64_t now)
{
	const struct policy_loop_guard *g = &e->cfg.policy->loop_guard;
	size_t i = (size_t)((hash ^ (uint64_t)tgid * 0x9e3779b97f4a7c15ull) % LOOP_SLOTS);
	struct loop_slot *s = &e->loops[i];

	if (s->tgid != tgid || s->hash != hash || now - s->first > (int64_t)g->within_ns) {
		s->tgid = tgid;
		s->hash = hash;
		s->first = now;
		s->count = 0;
	}
	return ++s->count;
}

static uint64_t fnv1a(const uint8_t *p, size_t n, uint64_t h)
{
	while (n--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

/* --- reading the held write ---------------------------------------------- */

struct head_parse {
	struct llm_call call;
	int llm, head_done;
	char key_fp[KEY_FP_LEN];
	int64_t content_length;
	int coded;			/* a content coding: body not read */
	const uint8_t *body;
	size_t body_len;
	/* HTTP/2: the request's stream, its body gathered from DATA frames */
	int h2;
	uint32_t sid;
	uint8_t h2_body[TG_HOLD_COPY];
};

static int hp_head(void *ctx, const struct http1_head *h)
{
	struct head_parse *hp = ctx;

	hp->head_done = 1;
	hp->content_length = h->content_length;
	hp->coded = h->content_encoding_len && !(h->content_encoding_len == 8 &&
						 !strncasecmp(h->content_encoding, "identity", 8));
	if (h->host && provider_match(h->host, h->host_len, h->target, h->target_len, &hp->call))
		hp->llm = 1;
	exchange_key_of(h, hp->key_fp);
	return 0;
}

static int hp_body(void *ctx, const uint8_t *data, size_t len)
{
	struct head_parse *hp = ctx;

	if (!hp->body)
		hp->body = data;
	hp->body_len = (size_t)(data + len - hp->body);
	return 0;
}

/* HTTP/2: the first LLM request head in the held write, and its body as
 * far as the write has it. */
static int h2_head(void *ctx, uint32_t sid, const struct http1_head *h, int end_stream)
{
	struct head_parse *hp = ctx;

	if (hp->llm || !h->method || h->method_len != 4 || strncasecmp(h->method, "POST", 4))
		return 0;
	hp_head(hp, h);
	if (!hp->llm) {
		hp->head_done = 0;	/* a later stream of the write may be one */
		return 0;
	}
	hp->sid = sid;
	if (end_stream)
		hp->content_length = 0;
	return 0;
}

static int h2_data(void *ctx, uint32_t sid, const uint8_t *data, size_t len, int end_stream)
{
	struct head_parse *hp = ctx;
	size_t room = sizeof(hp->h2_body) - hp->body_len;

	if (!hp->llm || sid != hp->sid)
		return 0;
	if (len > room)
		len = room;
	memcpy(hp->h2_body + hp->body_len, data, len);
	hp->body = hp->h2_body;
	hp->body_len += len;
	return 0;
}

/* A write that is no HTTP/1 request: an HTTP/2 one, read ahead with its
 * connection's header compression state. */
static void peek_h2(struct enforcer *e, const struct tg_ev_hold *ev, struct head_parse *hp)
{
	static const struct h2_peek_callbacks cb = { .on_head = h2_head, .on_data = h2_data };

	memset(hp, 0, sizeof(*hp));
	hp->content_length = -1;
	hp->h2 = 1;
	int rc = e->ops.peek_write(e->ctx, ev, &cb, hp);

	if (rc < 0) {
		log_debug("enforce: write of process %d not read ahead: %s", (int)ev->hdr.tgid,
			  strerror(-rc));
		hp->llm = hp->head_done = 0;
	} else {
		log_debug("enforce: HTTP/2 write of process %d: %d heads, LLM request %s",
			  (int)ev->hdr.tgid, rc, hp->llm ? "yes" : "no");
	}
}

static void parse_start(const struct tg_ev_hold *ev, struct head_parse *hp)
{
	static const struct http1_callbacks cb = { .on_head = hp_head, .on_body = hp_body };
	struct http1_parser *ps;

	memset(hp, 0, sizeof(*hp));
	hp->content_length = -1;
	ps = http1_parser__new(HTTP1_REQUEST, &cb, hp);
	if (!ps)
		return;
	http1_parser__feed(ps, ev->data, ev->hdr.len);
	http1_parser__free(ps);
}

static struct pending *pending_take(struct enforcer *e, const struct tg_ev_hold *ev)
{
	size_t i;

	for (i = 0; i < PENDING_MAX; i++)
		if (e->pending[i].tgid == (pid_t)ev->hdr.tgid && e->pending[i].ssl == ev->ssl &&
		    e->pending[i].gen == ev->gen)
			return &e->pending[i];
	return NULL;
}

static void pending_put(struct enforcer *e, const struct tg_ev_hold *ev,
			const struct head_parse *hp)
{
	size_t i, old = 0;

	for (i = 0; i < PENDING_MAX; i++) {
		if (!e->pending[i].tgid)
			break;
		if (e->pending[i].since < e->pending[old].since)
			old = i;
	}
	if (i == PENDING_MAX)
		i = old;
	e->pending[i] = (struct pending){
		.tgid = (pid_t)ev->hdr.tgid, .ssl = ev->ssl, .gen = ev->gen, .call = hp->call,
		.content_length = hp->content_length > 0 ? (uint64_t)hp->content_length : 0,
		.since = mono_now(),
	};
	memcpy(e->pending[i].key_fp, hp->key_fp, KEY_FP_LEN);
}

static struct hold *hold_new(struct enforcer *e, const struct tg_ev_hold *ev)
{
	struct hold *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->tgid = (pid_t)ev->hdr.tgid;
	h->tid = (pid_t)ev->hdr.tid;
	h->ssl = ev->ssl;
	h->gen = ev->gen;
	h->entry = ev->entry;
	h->sp = ev->sp;
	h->ex = ev->ex;
	if (ev->deferred) {
		size_t n = offsetof(struct tg_ev_hold, data) + ev->hdr.len;

		h->deferred = malloc(n);
		if (!h->deferred) {
			free(h);
			return NULL;
		}
		memcpy(h->deferred, ev, n);
	}
	h->since = mono_now();
	h->next = e->holds;
	e->holds = h;
	e->st.held_now++;
	return h;
}

/* A held write the gate has no business with: resume it as it was. */
static void pass(struct enforcer *e, const struct tg_ev_hold *ev)
{
	feed_deferred(e, ev);
	if (!still_held(e, (pid_t)ev->hdr.tgid))
		kill((pid_t)ev->hdr.tgid, SIGCONT);
}

/* Rules that read the request's body: its model, max_tokens, the loop
 * guard's hash, a strict budget's reserve. */
static int needs_body(const struct policy *p, int team)
{
	const struct policy_team *t = &p->teams[team];
	size_t j;

	if (p->loop_guard.identical_requests || t->models.allow.n || t->models.deny.n ||
	    t->max_tokens_cap)
		return 1;
	for (j = 0; j < t->nbudgets; j++)
		if (t->budgets[j].strict && t->budgets[j].action != PA_ALERT)
			return 1;
	return 0;
}

/*
 * A request's head held without its body (clients that write them apart):
 * a team already at a hard limit is refused here, before any byte leaves;
 * one whose rules read the body is held again at the body's write; any
 * other is decided now, on the head.
 */
static void decide_head(struct enforcer *e, const struct tg_ev_hold *ev,
			const struct head_parse *hp, int team, uint64_t start)
{
	struct budget_decision d;
	struct hold *h = hold_new(e, ev);
	uint64_t body_bytes = hp->content_length > 0 ? (uint64_t)hp->content_length : 0;

	if (!h) {
		pass(e, ev);
		return;
	}
	h->start = start;
	h->call = hp->call;
	h->team = team;
	e->ops.estimate(e->ctx, &h->call, body_bytes, NULL, 0, &h->est, &h->strict);
	held_write(e);
	budget_decide(e->cfg.budgets, team, &h->est, &h->est, 1,
		      h->since + e->cfg.mono_to_real, &d);
	if (d.verdict == BV_DENY && d.action != PA_THROTTLE) {
		act(e, h, d.action, "budget", &d);
		return;
	}
	if (!needs_body(e->cfg.policy, team) || hp->h2) {
		/* HTTP/2: its body's frames are not read at a later write;
		 * decided on the head */
		decide(e, h, 0);
		return;
	}
	pending_put(e, ev, hp);
	capture__gate_next(e->cfg.cap, ev->hdr.tgid, ev->ssl, ev->gen);
	unlink_hold(e, h);
	hold_free(h);
	pass(e, ev);
	held_write(e);
}

void enforce_hold(struct enforcer *e, const struct tg_ev_hold *ev)
{
	const struct policy_loop_guard *g = &e->cfg.policy->loop_guard;
	struct head_parse hp;
	struct pending *pd = NULL;
	const uint8_t *body;
	size_t body_len;
	uint64_t body_bytes, start;
	struct hold *h;
	int team;

	e->st.holds++;
	log_debug("enforce: hold of process %d thread %d: kind %d, %u of %llu bytes at offset "
		  "%llu of %llx/%llu, stopped %d, deferred %d", (int)ev->hdr.tgid,
		  (int)ev->hdr.tid, ev->kind, ev->hdr.len, (unsigned long long)ev->size,
		  (unsigned long long)ev->offset, (unsigned long long)ev->ssl,
		  (unsigned long long)ev->gen, ev->stopped, ev->deferred);
	if (!ev->stopped)
		return;		/* the signal was not sent: nothing held */
	if (untouchable(e, (pid_t)ev->hdr.tgid)) {
		/* A uprobe never fires in a kernel thread: a process that
		 * looks like one has lost its memory on its way out, and its
		 * held write never completes (a client exiting after a block
		 * re-sends its request): its bytes are not reported. */
		if (ev->hdr.tgid > 1 && (pid_t)ev->hdr.tgid != e->self) {
			log_debug("enforce: process %d is exiting: its held write is dropped",
				  (int)ev->hdr.tgid);
			return;
		}
		pass(e, ev);
		return;
	}
	if (ev->kind == TG_HOLD_NEXT) {
		pd = pending_take(e, ev);
		if (!pd) {
			pass(e, ev);
			return;
		}
		memset(&hp, 0, sizeof(hp));
		hp.call = pd->call;
		hp.llm = 1;
		memcpy(hp.key_fp, pd->key_fp, KEY_FP_LEN);
		body = ev->data;
		body_len = ev->hdr.len;
		body_bytes = pd->content_length;
		pd->tgid = 0;
	} else {
		parse_start(ev, &hp);
		if (!hp.head_done && e->ops.peek_write)
			peek_h2(e, ev, &hp);
		if (!hp.head_done || !hp.llm) {
			pass(e, ev);	/* not an LLM call (or a head past 16 KiB) */
			return;
		}
		body = hp.body;
		body_len = hp.body_len;
		body_bytes = hp.content_length > 0 ? (uint64_t)hp.content_length : body_len;
	}
	team = hold_team(e, (pid_t)ev->hdr.tgid, hp.key_fp[0] ? hp.key_fp : NULL, &start);
	if (team < 0) {
		pass(e, ev);	/* no team: never held, never acted on */
		return;
	}
	if (ev->kind == TG_HOLD_START && !body_len && hp.content_length != 0) {
		decide_head(e, ev, &hp, team, start);
		return;
	}
	if (hp.h2 && hp.content_length > 0 && body_len > (uint64_t)hp.content_length)
		body_len = hp.content_length;
	h = hold_new(e, ev);
	if (!h) {
		pass(e, ev);
		return;
	}
	h->start = start;
	h->call = hp.call;
	h->team = team;
	if (body_len && !hp.coded &&
	    (body_len < body_bytes || provider_on_request(&h->call, body, body_len)))
		provider_scan_request(&h->call, body, body_len);
	e->ops.estimate(e->ctx, &h->call, body_bytes, body, body_len, &h->est, &h->strict);
	held_write(e);
	if (g->identical_requests &&
	    loop_note(e, h->tgid, fnv1a(body, body_len, 0xcbf29ce484222325ull ^ body_bytes),
		      h->since) >= g->identical_requests) {
		act(e, h, g->action, "loop_guard", NULL);
		return;
	}
	decide(e, h, 0);
}

/* --- calls in flight ----------------------------------------------------- */

static struct res *res_slot(struct enforcer *e, uint64_t seq)
{
	return &e->res[seq & (RES_MAX - 1)];
}

void enforce_open(struct enforcer *e, uint64_t seq, pid_t tgid, uint64_t ssl, int team,
		  const struct llm_call *call, const struct budget_amount *est)
{
	struct res *r = res_slot(e, seq);
	struct proc *p;
	size_t i;

	if (e->cfg.dry_run && team >= 0) {
		struct hold h = { .tgid = tgid, .team = team, .call = *call,
				  .est = *est, .strict = *est };
		struct budget_decision d;
		const struct policy_team *t = &e->cfg.policy->teams[team];

		budget_decide(e->cfg.budgets, team, est, est, 1,
			      mono_now() + e->cfg.mono_to_real, &d);
		if (call->model[0] && (glob_any(&t->models.deny, call->model) ||
				       (t->models.allow.n && !glob_any(&t->models.allow, call->model))))
			report(e, &h, "block", "model", NULL, 0, "monitor mode");
		else if (t->max_tokens_cap && call->max_tokens > t->max_tokens_cap)
			report(e, &h, "block", "max_tokens", NULL, 0, "monitor mode");
		else if (d.verdict == BV_DENY)
			report(e, &h, d.action == PA_KILL ? "kill" : d.action == PA_BLOCK ?
			       "block" : "throttle", "budget", &d, 0, "monitor mode");
	}
	if (r->seq) {			/* a call long gone without settling */
		budget_unreserve(e->cfg.budgets, r->team, &r->amt);
		p = proc_get(e, r->tgid, 0);
		if (p && p->inflight)
			p->inflight--;
	}
	*r = (struct res){ .seq = seq, .tgid = tgid, .team = team, .amt = *est };
	for (i = 0; i < PENDING_MAX; i++) {
		if (e->conn_res[i].tgid == tgid && e->conn_res[i].ssl == ssl) {
			r->amt = e->conn_res[i].amt;	/* reserved at the gate */
			r->action = e->conn_res[i].action;
			e->conn_res[i].tgid = 0;
			break;
		}
	}
	if (i == PENDING_MAX)
		budget_reserve(e->cfg.budgets, team, est);
	p = proc_get(e, tgid, 1);
	if (p)
		p->inflight++;
}

const char *enforce_call_action(const struct enforcer *e, uint64_t seq)
{
	const struct res *r = &e->res[seq & (RES_MAX - 1)];

	return seq && r->seq == seq ? r->action : NULL;
}

/* The team's requests waiting for its calls in flight: decided again. */
static void wake_team(struct enforcer *e, int team)
{
	struct hold *h, *next;

	for (h = e->holds; h; h = next) {
		next = h->next;
		if (h->waiting && h->team == team)
			decide(e, h, 0);
	}
}

void enforce_settle(struct enforcer *e, uint64_t seq, int team, int64_t ts_ns,
		    const struct budget_amount *cost)
{
	struct res *r = res_slot(e, seq);
	struct team_rate *rt;
	struct proc *p;
	int64_t now = mono_now();

	if (seq && r->seq == seq) {
		budget_unreserve(e->cfg.budgets, r->team, &r->amt);
		p = proc_get(e, r->tgid, 0);
		if (p && p->inflight)
			p->inflight--;
		r->seq = 0;
	}
	if (team < 0)
		return;
	budget_charge(e->cfg.budgets, team, ts_ns, cost, now + e->cfg.mono_to_real);
	if (e->cfg.policy->teams[team].rate.tokens_per_minute) {
		rt = &e->rates[team];
		rate_slot(e, team, 0, now);	/* drain to now */
		rt->debt += cost->tokens;
		rt->debt_at = now;
	}
	wake_team(e, team);
}

/* --- time ---------------------------------------------------------------- */

int enforce_tick(struct enforcer *e, int64_t now)
{
	int64_t timeout = (int64_t)e->cfg.policy->hold_timeout_ns, next = -1, due;
	struct hold *h, *nx;
	size_t i;
	int sweep;

	for (h = e->holds; h; h = nx) {
		nx = h->next;
		if (h->until && now >= h->until) {
			release(e, h);
			continue;
		}
		if (now - h->since >= timeout) {
			e->st.timeouts++;
			if (h->waiting) {
				decide(e, h, 1);
			} else {
				report(e, h, "release", "hold_timeout", NULL, 1, NULL);
				release(e, h);
			}
			continue;
		}
	}
	sweep = now - e->swept > SEC;
	if (sweep)
		e->swept = now;
	for (i = 0; sweep && i < PENDING_MAX; i++) {
		struct conn_res *c = &e->conn_res[i];

		if (c->tgid && now - c->at > CONN_RES_NS) {
			budget_unreserve(e->cfg.budgets, c->team, &c->amt);
			c->tgid = 0;
		}
	}
	for (h = e->holds; h; h = h->next) {
		due = h->until ? h->until : h->since + timeout;
		if (next < 0 || due < next)
			next = due;
	}
	if (next < 0)
		return -1;
	return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

/* --- life ---------------------------------------------------------------- */

static int alloc_teams(struct enforcer *e, const struct policy *p)
{
	size_t n = p->nteams ? p->nteams : 1;

	free(e->team_gated);
	free(e->rates);
	e->team_gated = calloc(n, 1);
	e->rates = calloc(n, sizeof(*e->rates));
	return e->team_gated && e->rates ? 0 : -ENOMEM;
}

/* What this kernel and host let the enforcer use, said once at start. */
static void log_mechanisms(const struct enforcer *e)
{
	const struct features *f = e->cfg.features;

	if (!f)
		return;
	log_info("enforce: gate: SIGSTOP from the SSL_write probe; block: %s; kill: SIGKILL%s",
		 f->have[FEAT_PTRACE] ? "the held call made to fail (ptrace)" :
		 "not available here (held calls are released, or killed where the policy kills)",
		 f->have[FEAT_CGROUP_KILL] ? ", cgroup.kill" :
		 " (no cgroup.kill: kill_scope cgroup kills the process)");
}

struct enforcer *enforce_new(const struct enforce_cfg *cfg, const struct enforce_ops *ops,
			     void *ctx)
{
	struct enforcer *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->cfg = *cfg;
	e->ops = *ops;
	e->ctx = ctx;
	e->self = getpid();
	e->held_fd = -1;
	e->procs = calloc(PROCS_MAX, sizeof(*e->procs));
	e->res = calloc(RES_MAX, sizeof(*e->res));
	e->loops = calloc(LOOP_SLOTS, sizeof(*e->loops));
	if (!e->procs || !e->res || !e->loops || alloc_teams(e, cfg->policy)) {
		enforce_free(e);
		return NULL;
	}
	if (!cfg->dry_run)
		log_mechanisms(e);
	gate_setup(e);
	return e;
}

void enforce_set_policy(struct enforcer *e, const struct policy *p, struct budget_set *b)
{
	const struct policy *old = e->cfg.policy;
	struct hold *h, *nx;
	size_t i;

	/* reserves move to the new budgets, by team name */
	for (i = 0; i < RES_MAX; i++) {
		struct res *r = &e->res[i];
		int t = -1;
		size_t k;

		if (!r->seq || r->team < 0)
			continue;
		for (k = 0; k < p->nteams; k++)
			if (!strcmp(p->teams[k].name, old->teams[r->team].name))
				t = (int)k;
		r->team = t;
		budget_reserve(b, t, &r->amt);
	}
	for (i = 0; i < PENDING_MAX; i++)
		e->conn_res[i].tgid = 0;
	e->cfg.policy = p;
	e->cfg.budgets = b;
	if (alloc_teams(e, p)) {
		log_error("enforce: out of memory: nothing gated");
		capture__gate_clear(e->cfg.cap);
		return;
	}
	for (i = 0; i < PROCS_MAX; i++)
		if (e->procs[i].tgid)
			e->procs[i].team = e->ops.team_of(e->ctx, e->procs[i].tgid, NULL);
	gate_setup(e);
	for (h = e->holds; h; h = nx) {
		nx = h->next;
		h->team = e->ops.team_of(e->ctx, h->tgid, NULL);
		decide(e, h, 0);
	}
}

void enforce_free(struct enforcer *e)
{
	struct hold *h;

	if (!e)
		return;
	if (e->cfg.cap)
		capture__gate_clear(e->cfg.cap);
	while ((h = e->holds)) {
		e->holds = h->next;
		if (!still_held(e, h->tgid))
			kill(h->tgid, SIGCONT);
		hold_free(h);
	}
	if (e->held_fd >= 0)
		close(e->held_fd);
	if (e->cfg.held_path)
		unlink(e->cfg.held_path);
	free(e->team_gated);
	free(e->rates);
	free(e->procs);
	free(e->res);
	free(e->loops);
	free(e);
}

void enforce_stats(const struct enforcer *e, struct enforce_stats *s)
{
	*s = e->st;
}
