/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The ledger (DESIGN §8): one SQLite row per metered call, in WAL mode,
 * written by one writer thread in batches so the capture loop never waits
 * on the disk.  A call's row is opened when its request is seen and
 * settled when it ends; rows left open by a crash are settled on the next
 * start as `interrupted` estimates.  The agent's own runs are recorded
 * too, so a report can show when no agent watched.
 *
 * Schema (version LEDGER_SCHEMA_VERSION; migrations in ledger.c):
 *
 *   meta(key TEXT PRIMARY KEY, value TEXT)          schema_version, created
 *   runs(id INTEGER PRIMARY KEY, pid, start_ns, stop_ns, last_seen_ns,
 *        end TEXT)        end: 'stopped', 'crashed' (found on the next start),
 *                         NULL while running; last_seen_ns: a heartbeat,
 *                         the last moment this run is known to have watched
 *   calls(id INTEGER PRIMARY KEY,  -- run << 40 | seq: LEDGER_CALL_ID
 *         run INTEGER, seq INTEGER,  -- seq: per run
 *         state TEXT,     'open' | 'settled' | 'interrupted'
 *         ts_ns, end_ns,  wall clock, ns since the epoch
 *         pid, comm, exe, uid, user, cgroup, unit, container, team,
 *         provider, host, path, model, stream, status,
 *         request_bytes, response_bytes,
 *         input_tokens, cached_input_tokens, cache_write_tokens,
 *         output_tokens, reasoning_tokens,
 *         usage_source TEXT, cost_nano INTEGER, unpriced INTEGER,
 *         ttft_ns, duration_ns, key_fp, capture, action)
 *   indexes: calls(ts_ns), calls(state) WHERE state = 'open'
 *   (version 1 had UNIQUE(run, seq) and indexes on state and team, ts_ns)
 *
 * Every time is integer nanoseconds, every amount integer nano-USD.
 */
#ifndef TOLLGATE_LEDGER_H
#define TOLLGATE_LEDGER_H

#include <stddef.h>
#include <stdint.h>
#include "usage.h"

#define LEDGER_SCHEMA_VERSION	2
#define LEDGER_SEQ_BITS		40
#define LEDGER_CALL_ID(run, seq) \
	((int64_t)(((uint64_t)(run) << LEDGER_SEQ_BITS) | (uint64_t)(seq)))
#define LEDGER_DEFAULT_PATH	"/var/lib/tollgate/ledger.db"

/* One call's row, as the agent fills it.  Strings may be NULL. */
struct ledger_call {
	uint64_t seq;			/* the agent's number for the call, per run */
	int64_t ts_ns, end_ns;		/* end_ns 0 while open */
	uint32_t pid, uid;
	const char *comm, *exe, *user, *cgroup, *unit, *container, *team;
	const char *provider, *host, *path, *model;
	int stream, status;		/* status 0: none */
	uint64_t request_bytes, response_bytes;
	struct llm_usage usage;
	const char *usage_source;	/* "provider" | "estimated" */
	int64_t cost_nano;
	int unpriced;
	int64_t ttft_ns, duration_ns;	/* -1: unknown */
	const char *key_fp, *capture, *action;
};

struct ledger;

/*
 * Open (create: directory 0700, file 0600) the ledger at path, migrate its
 * schema, settle what a crashed run left open (`interrupted`, from what
 * the open row knows) and mark that run crashed, then record this run and
 * start the writer thread.  NULL with errno set and err filled on failure.
 */
struct ledger *ledger_open(const char *path, char *err, size_t errlen);

/* Queue a call's opening / settling (copied; never blocks on the disk:
 * the queue is bounded, and past it the caller's thread waits only for
 * memory, counted). */
int ledger_call_open(struct ledger *l, const struct ledger_call *c);
int ledger_call_settle(struct ledger *l, const struct ledger_call *c);

struct ledger_stats {
	uint64_t queued, written, batches, errors, waits;
	uint64_t recovered;		/* rows settled as interrupted at open */
	uint64_t lost;			/* queued entries given up after the disk
					   kept failing (also in errors) */
};
void ledger_stats(struct ledger *l, struct ledger_stats *s);

/* Flush, record the run's end as 'stopped', stop the writer, close. */
void ledger_close(struct ledger *l);

/* Wait until everything queued so far is committed (or given up). */
void ledger_flush(struct ledger *l);

/* This run's id in runs (calls.run). */
int64_t ledger_run_id(const struct ledger *l);

/* Test hook: stop the writer and close the db the way SIGKILL would leave
 * it (queue not drained, run not marked stopped), then free l. */
void ledger_abandon(struct ledger *l);

/*
 * For report and top: open an existing ledger read-only while the agent
 * writes it (WAL: readers never block the writer).  Refuses a db that is
 * not a ledger or whose schema version is not LEDGER_SCHEMA_VERSION.
 * NULL with errno set and err filled on failure; close with sqlite3_close.
 *
 * Unknown values are stored as NULL, not as the struct's sentinels:
 * end_ns 0, status 0, ttft_ns/duration_ns -1, NULL strings.
 */
struct sqlite3;
struct sqlite3 *ledger_open_readonly(const char *path, char *err, size_t errlen);

#endif
