/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The agent pipeline (DESIGN §2): capture -> streams -> exchanges -> meter
 * -> pricing -> attribution, each finished call handed to a sink.  `trace`
 * and `run` are front-ends on it that differ in their options and sinks.
 */
#ifndef TOLLGATE_AGENT_H
#define TOLLGATE_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "pricing.h"
#include "record.h"

struct policy;

struct agent_opts {
	char **globs;			/* cgroup scope; none = every process */
	size_t nglobs;
	uint64_t call_cap;
	uint64_t ringbuf_bytes;
	uint64_t max_buffer;		/* bound on what connections buffer */
	uint64_t idle_ns;		/* connection idle expiry; 0: default */
	const char *ready_file;		/* created once probes are in place */
	const struct policy *policy;	/* teams and default price; NULL: none */
	const struct price_table *prices; /* NULL: every model at the default price */
	struct ledger *ledger;		/* NULL: no ledger (trace) */
	struct metrics *metrics;	/* NULL: no metrics endpoint */
	/* run: budgets and enforcement (DESIGN §7) */
	int enforce;			/* keep budgets, gate, act */
	int dry_run;			/* report actions, take none */
	const char *policy_path;	/* reloaded on SIGHUP */
	const char *ledger_path;	/* spend is restored from it */
	const char *held_path;		/* whom the agent holds (for a crash) */
	const char *socket_path;	/* run: the control socket; NULL: none */
	const char *metrics_addr;	/* what the endpoint listens on (status) */
};

/* One metered call as sinks see it (DESIGN §9); valid during the call. */
struct tg_call {
	const struct tg_record *rec;
	int64_t ts_ns;			/* wall clock of the first request byte */
	const char *cgroup;		/* NULL when unknown */
	const char *exe;
	const char *user;
	const char *team;		/* NULL: no team matched */
	int64_t cost_nano;
	int unpriced;			/* priced at the default price */
	enum price_match price_how;
	const char *price_model;	/* the table's row, NULL if default */
	const char *capture;		/* §9 capture */
	const char *action;		/* §9 action: what the gate did to the call
					   ("throttle", "alert"), NULL: nothing */
};

struct agent_sink {
	/* A call is metered.  Return <0 to stop the agent (output gone). */
	int (*on_call)(void *ctx, const struct tg_call *c);
	/* About once a second (may be NULL); <0 stops the agent. */
	int (*on_tick)(void *ctx);
	/* An alert or an action: the JSON object and a text line (may be
	 * NULL); <0 stops the agent. */
	int (*on_event)(void *ctx, const char *json, const char *text);
	void *ctx;
};

int agent_run(const struct agent_opts *o, const struct agent_sink *sink);

/* --- what the front-ends share ------------------------------------------ */

enum agent_format { AGENT_TEXT, AGENT_JSONL };

struct agent_cli {
	struct agent_opts o;
	enum agent_format format;
	const char *policy_path;	/* NULL: no teams (trace) */
	const char *events_path;	/* run --events */
	const char *prices_path;	/* --prices, else the policy's, else shipped */
	const char *db_path;		/* run --db: the ledger ("off": none) */
	const char *metrics_addr;	/* run --metrics ("off": none) */
	const char *socket_path;	/* run --socket ("off": none) */
	struct policy *policy;		/* loaded by agent_cli_load */
	struct price_table *prices;
};

#define AGENT_CLI_RUN	0x1		/* run's options: --events, a policy */

/* Options of `trace` / `run` (argv[0] names the command).  0 to go on, 1
 * after --help, -EINVAL on misuse (said on stderr). */
int agent_cli_parse(int argc, char **argv, struct agent_cli *c, unsigned flags,
		    void (*usage)(FILE *f));
/* Loads the policy and the prices; 0, or <0 after saying why. */
int agent_cli_load(struct agent_cli *c);
void agent_cli_free(struct agent_cli *c);

/* Lines to a stream: written whole and flushed; the first failure (a
 * closed pipe) is remembered and reported as <0 from then on. */
struct line_out {
	FILE *f;
	const char *name;		/* for messages */
	int closed;
};
int line_out_put(struct line_out *o, const char *line);
/* A pipe whose reader has gone: <0 (checked without writing). */
int line_out_check(struct line_out *o);

/* §9 `capture` for a record's flags. */
const char *agent_capture_of(uint32_t flags);

#endif
