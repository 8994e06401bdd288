/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Enforcement (DESIGN §7): the gate and the actions.
 *
 * A team that is near or past a hard limit, rate-limited, or has model
 * rules, a max_tokens cap or the loop guard is gated: its processes are in
 * the kernel's gate map, so each new LLM request stops the process at the
 * write that would send it (bpf/capture.bpf.c).  The held request is read
 * from that write and decided at once: released, held a little longer
 * (near a limit: until the team's calls in flight settle; throttled: until
 * its rate allows), blocked (the write fails in the client, no byte sent:
 * user/forcefail.c), or its process killed.  No process stays stopped past
 * the policy's hold_timeout, the agent's exit, or (through the held file)
 * the agent's crash.  Never acts on PID 1, kernel threads, the agent, or a
 * process outside the team the rule names.  Monitor mode (and --dry-run)
 * gates nothing: it reports what it would do, from the requests seen.
 */
#ifndef TOLLGATE_ENFORCE_H
#define TOLLGATE_ENFORCE_H

#include <stdint.h>
#include <sys/types.h>
#include "budget.h"
#include "http2.h"
#include "policy.h"
#include "provider.h"
#include "tollgate_abi.h"

struct capture;
struct enforcer;

/* What the enforcer did, or (monitor) would have done. */
struct enforce_action {
	int64_t ts_ns;			/* wall clock */
	pid_t tgid, tid;
	const char *team;
	const char *action;		/* "block", "kill", "throttle", "alert", "release" */
	const char *why;		/* "budget", "model", "max_tokens", "rate_limit",
					   "loop_guard", "hold_timeout" */
	const char *provider, *model;	/* of the request ("" if unknown) */
	int budget;			/* the policy's budget, -1: none */
	int64_t spent, limit;		/* its figures (why "budget") */
	int tokens;			/* ... in tokens, not nano-USD */
	int64_t held_ns;		/* how long the request was held */
	int dry_run;			/* monitor: not done */
	int ok;				/* done as said */
	const char *error;		/* why not (then ok is 0) */
};

struct enforce_ops {
	/* The team of a process (and of the request's key, when known), or -1. */
	int (*team_of)(void *ctx, pid_t tgid, const char *key_fp);
	/* What a request reserves: its input at the model's input price
	 * (est), and with its max_tokens at the output price (strict). */
	void (*estimate)(void *ctx, const struct llm_call *call, uint64_t body_bytes,
			 const uint8_t *body, size_t have, struct budget_amount *est,
			 struct budget_amount *strict);
	void (*on_action)(void *ctx, const struct enforce_action *a);
	/* A held write that is no HTTP/1 request: read it ahead as HTTP/2
	 * (stream__peek_write); may be NULL. */
	int (*peek_write)(void *ctx, const struct tg_ev_hold *ev,
			  const struct h2_peek_callbacks *cb, void *cbctx);
	/* A held write that goes, whose bytes the probe left to userspace
	 * (ev->deferred: a TLS record sealed): report them as its data. */
	void (*feed_held)(void *ctx, const struct tg_ev_hold *ev);
};

struct features;

struct enforce_cfg {
	const struct policy *policy;
	struct budget_set *budgets;
	struct capture *cap;
	int dry_run;			/* monitor mode or --dry-run */
	const char *held_path;		/* whom the agent holds, for a crash */
	const char *cgroup_root;	/* the cgroup2 mount (cgroup.kill) */
	int64_t mono_to_real;		/* CLOCK_MONOTONIC ns + this = wall clock */
	const struct features *features; /* what the kernel offers (said at start) */
};

struct enforcer *enforce_new(const struct enforce_cfg *cfg, const struct enforce_ops *ops,
			     void *ctx);
/* Release every process held, ungate everyone, remove the held file. */
void enforce_free(struct enforcer *e);

/* 1: actions are reported, not taken (cfg.dry_run, as set at start). */
int enforce_dry_run(const struct enforcer *e);

/* A request held now, for `tollgate status`. */
struct enforce_held {
	pid_t tgid;
	int team;			/* the policy's index, -1: none */
	int64_t held_ns;		/* so far */
	const char *state;		/* "deciding", "waiting" (for the team's
					   calls in flight), "throttled" */
	char model[256];
};
/* Up to cap of them; returns how many are held in all. */
size_t enforce_held_list(const struct enforcer *e, struct enforce_held *out, size_t cap);

/* A new policy (SIGHUP) and its budgets: holds are decided again. */
void enforce_set_policy(struct enforcer *e, const struct policy *p, struct budget_set *b);

/* A process was stopped at a write (the ring's TG_EV_HOLD). */
void enforce_hold(struct enforcer *e, const struct tg_ev_hold *h);

/* A request was seen whole (its row is opened): its reserve is held
 * until it settles.  est: enforce_ops.estimate's. */
void enforce_open(struct enforcer *e, uint64_t seq, pid_t tgid, uint64_t ssl, int team,
		  const struct llm_call *call, const struct budget_amount *est);
/* The call ended: what it cost is charged, its reserve released. */
void enforce_settle(struct enforcer *e, uint64_t seq, int team, int64_t ts_ns,
		    const struct budget_amount *cost);

/* What the gate did to a call now in flight ("throttle", "alert"), or
 * NULL: for its record, before enforce_settle. */
const char *enforce_call_action(const struct enforcer *e, uint64_t seq);

/* Process events: a new image may change the team; an exit ends it. */
void enforce_exec(struct enforcer *e, pid_t tgid);
void enforce_exit(struct enforcer *e, pid_t tgid);

/* Deadlines (hold timeouts, throttled releases) and the gate set; now is
 * CLOCK_MONOTONIC.  Returns ms until the next deadline (-1: none). */
int enforce_tick(struct enforcer *e, int64_t now);

struct enforce_stats {
	uint64_t holds, released, blocked, killed, throttled, timeouts;
	uint64_t block_failures;	/* blocks that could not be forced */
	uint64_t gated_procs, held_now;
};
void enforce_stats(const struct enforcer *e, struct enforce_stats *s);

/*
 * After a crash: resume the processes a previous agent left stopped (as
 * listed in the held file, each checked to be the same process and still
 * stopped), then remove the file.  Returns how many were resumed.
 */
int enforce_recover(const char *held_path);

#endif
