// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The ledger (DESIGN §8): SQLite in WAL mode, one writer thread.
 *
 * Producers copy a call into a bounded ring and return; the writer takes
 * everything queued at once and commits it in one transaction, so under
 * load batches grow by themselves and a row waits at most one commit.
 * Opening is an INSERT that never overwrites; settling is an upsert, so a
 * settle without its open still lands, and a batch retried after a failed
 * commit writes nothing twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include "ledger.h"
#include "log.h"

#define LEDGER_QUEUE_CAP	65536		/* entries, a power of two */
#define LEDGER_QUEUE_MASK	(LEDGER_QUEUE_CAP - 1)
#define LEDGER_HEARTBEAT_NS	1000000000LL	/* idle */
#define LEDGER_BEAT_MIN_NS	250000000LL	/* at most this often under load */
#define LEDGER_BATCH_NS		50000000LL	/* a commit's span under a backlog */
#define LEDGER_GATHER_NS	40000000LL	/* how long a batch may form */
#define LEDGER_GATHER_MAX	(LEDGER_QUEUE_CAP / 4)	/* ... or how big */
#define LEDGER_RETRY_NS		50000000LL
#define LEDGER_RETRIES		20		/* ~1 s of failed commits, then give up */
#define LEDGER_BUSY_MS		5000
#define LEDGER_NSTR		15

enum ledger_kind { LEDGER_OPEN, LEDGER_SETTLE };

struct ledger_ent {
	enum ledger_kind kind;
	struct ledger_call c;
	char *strs;			/* one block holding every string of c */
};

/* Settles of a batch by seq, to write a call that opened and ended in the
 * same batch as one row (open addressing; seq 0 is never used). */
#define LEDGER_SET_SIZE		(2 * LEDGER_QUEUE_CAP)

struct ledger_set_slot {
	uint64_t seq;
	uint32_t idx;			/* the settle's place in the batch */
};

struct ledger {
	sqlite3 *db;
	struct ledger_set_slot *settles;	/* LEDGER_SET_SIZE */
	uint32_t *skipped;		/* opens left out of a batch: places */
	struct ledger_set_slot **used;	/* the slots a batch filled */
	size_t nused;
	sqlite3_stmt *ins_open, *ins_settle, *heartbeat;
	int64_t run;
	int64_t beat_ns;		/* last heartbeat (monotonic) */
	int lock_fd;			/* PATH.lock, held while open */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t more;		/* writer: work or stop (CLOCK_MONOTONIC) */
	pthread_cond_t room;		/* producers: the ring has space */
	pthread_cond_t drained;		/* ledger_flush: a batch was released */
	struct ledger_ent *q;
	size_t head, count;
	uint64_t enqueued, done;	/* totals, for ledger_flush */
	int stop, abandon;
	int flushing;			/* ledger_flush() is waiting */
	struct ledger_stats st;
};

/* --- schema ------------------------------------------------------------ */

#define CALL_COLS "id, run, seq, state, ts_ns, end_ns, pid, comm, exe, uid, user, " \
	"cgroup, unit, container, team, provider, host, path, model, stream, " \
	"status, request_bytes, response_bytes, input_tokens, " \
	"cached_input_tokens, cache_write_tokens, output_tokens, " \
	"reasoning_tokens, usage_source, cost_nano, unpriced, ttft_ns, " \
	"duration_ns, key_fp, capture, action"
#define CALL_VALS "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?"

struct ledger_migration {
	int version;
	const char *sql;
};

/* Append only: a migration, once released, is never edited. */
static const struct ledger_migration ledger_migrations[] = {
	{ 1,
	  "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
	  "CREATE TABLE runs(id INTEGER PRIMARY KEY, pid INTEGER,"
	  " start_ns INTEGER, stop_ns INTEGER, last_seen_ns INTEGER, \"end\" TEXT);"
	  "CREATE TABLE calls(id INTEGER PRIMARY KEY, run INTEGER, seq INTEGER,"
	  " state TEXT, ts_ns INTEGER, end_ns INTEGER,"
	  " pid INTEGER, comm TEXT, exe TEXT, uid INTEGER, user TEXT,"
	  " cgroup TEXT, unit TEXT, container TEXT, team TEXT,"
	  " provider TEXT, host TEXT, path TEXT, model TEXT,"
	  " stream INTEGER, status INTEGER,"
	  " request_bytes INTEGER, response_bytes INTEGER,"
	  " input_tokens INTEGER, cached_input_tokens INTEGER,"
	  " cache_write_tokens INTEGER, output_tokens INTEGER,"
	  " reasoning_tokens INTEGER,"
	  " usage_source TEXT, cost_nano INTEGER, unpriced INTEGER,"
	  " ttft_ns INTEGER, duration_ns INTEGER, key_fp TEXT, capture TEXT,"
	  " action TEXT, UNIQUE(run, seq));"
	  "CREATE INDEX calls_ts ON calls(ts_ns);"
	  "CREATE INDEX calls_state ON calls(state);"
	  "CREATE INDEX calls_team_ts ON calls(team, ts_ns);" },
	/*
	 * A call's id is its run and seq in one integer, so that settling
	 * finds the row by its rowid, with no index to keep for (run, seq);
	 * the index of open rows holds only the rows still open; and spend
	 * by team is read through calls_ts, not an index of its own.  Five
	 * b-trees written per call became two.
	 */
	{ 2,
	  "CREATE TABLE calls_v2(id INTEGER PRIMARY KEY, run INTEGER, seq INTEGER,"
	  " state TEXT, ts_ns INTEGER, end_ns INTEGER,"
	  " pid INTEGER, comm TEXT, exe TEXT, uid INTEGER, user TEXT,"
	  " cgroup TEXT, unit TEXT, container TEXT, team TEXT,"
	  " provider TEXT, host TEXT, path TEXT, model TEXT,"
	  " stream INTEGER, status INTEGER,"
	  " request_bytes INTEGER, response_bytes INTEGER,"
	  " input_tokens INTEGER, cached_input_tokens INTEGER,"
	  " cache_write_tokens INTEGER, output_tokens INTEGER,"
	  " reasoning_tokens INTEGER,"
	  " usage_source TEXT, cost_nano INTEGER, unpriced INTEGER,"
	  " ttft_ns INTEGER, duration_ns INTEGER, key_fp TEXT, capture TEXT,"
	  " action TEXT);"
	  "INSERT INTO calls_v2 SELECT (run << 40) | seq, run, seq, state, ts_ns,"
	  " end_ns, pid, comm, exe, uid, user, cgroup, unit, container, team,"
	  " provider, host, path, model, stream, status, request_bytes,"
	  " response_bytes, input_tokens, cached_input_tokens,"
	  " cache_write_tokens, output_tokens, reasoning_tokens, usage_source,"
	  " cost_nano, unpriced, ttft_ns, duration_ns, key_fp, capture, action"
	  " FROM calls ORDER BY run, seq;"
	  "DROP TABLE calls;"
	  "ALTER TABLE calls_v2 RENAME TO calls;"
	  "CREATE INDEX calls_ts ON calls(ts_ns);"
	  "CREATE INDEX calls_open ON calls(state) WHERE state = 'open';" },
};

static const char ledger_sql_open[] =
	"INSERT INTO calls(" CALL_COLS ") VALUES(" CALL_VALS ")"
	" ON CONFLICT(id) DO NOTHING";

static const char ledger_sql_settle[] =
	"INSERT INTO calls(" CALL_COLS ") VALUES(" CALL_VALS ")"
	" ON CONFLICT(id) DO UPDATE SET state=excluded.state,"
	" ts_ns=excluded.ts_ns, end_ns=excluded.end_ns, pid=excluded.pid,"
	" comm=excluded.comm, exe=excluded.exe, uid=excluded.uid,"
	" user=excluded.user, cgroup=excluded.cgroup, unit=excluded.unit,"
	" container=excluded.container, team=excluded.team,"
	" provider=excluded.provider, host=excluded.host, path=excluded.path,"
	" model=excluded.model, stream=excluded.stream, status=excluded.status,"
	" request_bytes=excluded.request_bytes,"
	" response_bytes=excluded.response_bytes,"
	" input_tokens=excluded.input_tokens,"
	" cached_input_tokens=excluded.cached_input_tokens,"
	" cache_write_tokens=excluded.cache_write_tokens,"
	" output_tokens=excluded.output_tokens,"
	" reasoning_tokens=excluded.reasoning_tokens,"
	" usage_source=excluded.usage_source, cost_nano=excluded.cost_nano,"
	" unpriced=excluded.unpriced, ttft_ns=excluded.ttft_ns,"
	" duration_ns=excluded.duration_ns, key_fp=excluded.key_fp,"
	" capture=excluded.capture, action=excluded.action";

/*
 * What a crashed run left open is settled from what the open row knows
 * (its input estimate and that estimate's cost), ending when the run was
 * last known alive: the agent ended first, so capture is cut_off.
 */
#define LEDGER_CRASH_END \
	"max(ts_ns, coalesce((SELECT last_seen_ns FROM runs" \
	" WHERE runs.id = calls.run), ts_ns))"
static const char ledger_sql_recover[] =
	"UPDATE calls SET state='interrupted', usage_source='estimated',"
	" capture='cut_off', end_ns=" LEDGER_CRASH_END ","
	" duration_ns=" LEDGER_CRASH_END " - ts_ns"
	" WHERE state='open'";

/* --- helpers ----------------------------------------------------------- */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct timespec ns_to_ts(int64_t ns)
{
	struct timespec ts = {
		.tv_sec = ns / 1000000000LL,
		.tv_nsec = ns % 1000000000LL,
	};

	return ts;
}

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	seterr(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	return -EIO;
}

/* Count and log an SQLite error in the writer; never fatal. */
static void ledger_fail(struct ledger *l, const char *what)
{
	log_error("ledger: %s: %s", what, sqlite3_errmsg(l->db));
	pthread_mutex_lock(&l->mu);
	l->st.errors++;
	pthread_mutex_unlock(&l->mu);
}

/* --- the file ---------------------------------------------------------- */

/*
 * Create the parent directory (last component only) 0700 and the file
 * 0600 before SQLite sees it: SQLite gives -wal and -shm the main file's
 * mode, so they follow.  chmod after create, so no umask matters.
 */
static int ledger_prepare_file(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;
	int fd, ret = 0;

	if (strlen(path) >= sizeof(dir)) {
		seterr(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) == 0) {
			chmod(dir, 0700);
		} else if (errno != EEXIST) {
			ret = -errno;
			seterr(err, errlen, "mkdir %s: %s", dir, strerror(errno));
			return ret;
		}
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		ret = -errno;
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		seterr(err, errlen, "%s: not a regular file", path);
	} else if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0) {
		ret = -errno;
		seterr(err, errlen, "chmod %s: %s", path, strerror(errno));
	}
	close(fd);
	return ret;
}

/*
 * One agent per ledger: a second would settle the first's open calls as
 * interrupted and count its runs as crashed.  An flock on PATH.lock (not
 * on the db, whose fcntl locks are SQLite's) is dropped by the kernel when
 * its holder dies, so a crash never leaves the ledger locked.
 */
static int ledger_lock(const char *path, char *err, size_t errlen)
{
	char p[PATH_MAX + 8], pid[24] = "";
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "%s.lock", path);
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		seterr(err, errlen, "%s: %s", p, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		seterr(err, errlen, "%s is in use by another tollgate%s%s%s", path,
		       *pid ? " (pid " : "", pid, *pid ? ")" : "");
		close(fd);
		return -EBUSY;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("ledger: %s: cannot record the pid: %s", p, strerror(errno));
	return fd;
}

/* Belt and braces for the side files, should SQLite's rule change. */
static void ledger_chmod_side(const char *path)
{
	static const char *const sfx[] = { "-wal", "-shm" };
	char p[PATH_MAX + 8];
	size_t i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		if (chmod(p, 0600) < 0 && errno != ENOENT)
			log_warn("ledger: chmod %s: %s", p, strerror(errno));
	}
}

/* --- schema version and migrations ------------------------------------ */

static int64_t query_i64(sqlite3 *db, const char *sql, int *found)
{
	sqlite3_stmt *s;
	int64_t v = 0;

	*found = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW &&
	    sqlite3_column_type(s, 0) != SQLITE_NULL) {
		v = sqlite3_column_int64(s, 0);
		*found = 1;
	}
	sqlite3_finalize(s);
	return v;
}

/*
 * The schema version stored in meta; 0 for an empty db (or a meta with
 * no version yet).  -EINVAL for a db that holds something else.
 */
static int ledger_schema_version(sqlite3 *db, char *err, size_t errlen)
{
	int64_t meta, other, ver;
	int found;

	meta = query_i64(db, "SELECT count(*) FROM sqlite_master"
			 " WHERE type='table' AND name='meta'", &found);
	other = query_i64(db, "SELECT count(*) FROM sqlite_master"
			  " WHERE name <> 'meta' AND name NOT LIKE 'sqlite_%'",
			  &found);
	if (!found || meta < 0 || other < 0) {
		seterr(err, errlen, "cannot read schema: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	ver = 0;
	found = 0;
	if (meta)
		ver = query_i64(db, "SELECT CAST(value AS INTEGER) FROM meta"
				" WHERE key='schema_version'", &found);
	if ((!found && other) || ver < 0 || ver > INT_MAX) {
		seterr(err, errlen, "not a tollgate ledger (no schema version)");
		return -EINVAL;
	}
	return (int)ver;
}

static int ledger_set_version(sqlite3 *db, int version, char *err, size_t errlen)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta(key, value)"
		 " VALUES('schema_version', '%d')", version);
	return exec_sql(db, sql, err, errlen);
}

static int ledger_apply_migrations(sqlite3 *db, int ver, char *err, size_t errlen)
{
	size_t i;
	char sql[160];

	for (i = 0; i < sizeof(ledger_migrations) / sizeof(ledger_migrations[0]); i++) {
		const struct ledger_migration *m = &ledger_migrations[i];

		if (m->version <= ver)
			continue;
		if (exec_sql(db, m->sql, err, errlen) ||
		    ledger_set_version(db, m->version, err, errlen))
			return -EIO;
		log_info("ledger: schema migrated to version %d", m->version);
	}
	if (ver == 0) {
		snprintf(sql, sizeof(sql), "INSERT OR IGNORE INTO meta(key, value)"
			 " VALUES('created', '%lld')",
			 (long long)clock_ns(CLOCK_REALTIME));
		return exec_sql(db, sql, err, errlen);
	}
	return 0;
}

/* One transaction: another agent starting at once sees all or nothing. */
static int ledger_migrate(sqlite3 *db, char *err, size_t errlen)
{
	int ver, ret;

	if (exec_sql(db, "BEGIN IMMEDIATE", err, errlen))
		return -EIO;
	ver = ledger_schema_version(db, err, errlen);
	if (ver > LEDGER_SCHEMA_VERSION) {
		seterr(err, errlen, "schema version %d is newer than this "
		       "tollgate's %d: upgrade tollgate", ver,
		       LEDGER_SCHEMA_VERSION);
		ret = -ENOTSUP;
		goto rollback;
	}
	ret = ver < 0 ? ver : ledger_apply_migrations(db, ver, err, errlen);
	if (ret)
		goto rollback;
	if (exec_sql(db, "COMMIT", err, errlen)) {
		ret = -EIO;
		goto rollback;
	}
	return 0;
rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return ret;
}

/* --- recovery and this run -------------------------------------------- */

static int ledger_recover(struct ledger *l, char *err, size_t errlen)
{
	if (exec_sql(l->db, ledger_sql_recover, err, errlen))
		return -EIO;
	l->st.recovered = sqlite3_changes(l->db);
	if (exec_sql(l->db, "UPDATE runs SET \"end\"='crashed'"
		     " WHERE \"end\" IS NULL", err, errlen))
		return -EIO;
	if (l->st.recovered)
		log_warn("ledger: %llu calls left open by a crashed run settled"
			 " as interrupted", (unsigned long long)l->st.recovered);
	return 0;
}

static int ledger_start_run(struct ledger *l, char *err, size_t errlen)
{
	int64_t now = clock_ns(CLOCK_REALTIME);
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(l->db, "INSERT INTO runs(pid, start_ns,"
			       " last_seen_ns) VALUES(?, ?, ?)", -1, &s,
			       NULL) != SQLITE_OK) {
		seterr(err, errlen, "%s", sqlite3_errmsg(l->db));
		return -EIO;
	}
	sqlite3_bind_int64(s, 1, getpid());
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int64(s, 3, now);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		seterr(err, errlen, "%s", sqlite3_errmsg(l->db));
		return -EIO;
	}
	l->run = sqlite3_last_insert_rowid(l->db);
	return 0;
}

static int ledger_recover_and_start(struct ledger *l, char *err, size_t errlen)
{
	if (exec_sql(l->db, "BEGIN IMMEDIATE", err, errlen))
		return -EIO;
	if (ledger_recover(l, err, errlen) ||
	    ledger_start_run(l, err, errlen) ||
	    exec_sql(l->db, "COMMIT", err, errlen)) {
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
		return -EIO;
	}
	return 0;
}

/* --- writing ----------------------------------------------------------- */

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static void bind_known(sqlite3_stmt *s, int i, int64_t v, int64_t unknown)
{
	if (v == unknown)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_int64(s, i, v);
}

/* In CALL_COLS order. */
static void ledger_bind_call(sqlite3_stmt *s, int64_t run, const char *state,
			     const struct ledger_call *c)
{
	int i = 1;

	sqlite3_bind_int64(s, i++, LEDGER_CALL_ID(run, c->seq));
	sqlite3_bind_int64(s, i++, run);
	sqlite3_bind_int64(s, i++, (int64_t)c->seq);
	bind_text(s, i++, state);
	sqlite3_bind_int64(s, i++, c->ts_ns);
	bind_known(s, i++, c->end_ns, 0);
	sqlite3_bind_int64(s, i++, c->pid);
	bind_text(s, i++, c->comm);
	bind_text(s, i++, c->exe);
	sqlite3_bind_int64(s, i++, c->uid);
	bind_text(s, i++, c->user);
	bind_text(s, i++, c->cgroup);
	bind_text(s, i++, c->unit);
	bind_text(s, i++, c->container);
	bind_text(s, i++, c->team);
	bind_text(s, i++, c->provider);
	bind_text(s, i++, c->host);
	bind_text(s, i++, c->path);
	bind_text(s, i++, c->model);
	sqlite3_bind_int(s, i++, c->stream);
	bind_known(s, i++, c->status, 0);
	sqlite3_bind_int64(s, i++, (int64_t)c->request_bytes);
	sqlite3_bind_int64(s, i++, (int64_t)c->response_bytes);
	sqlite3_bind_int64(s, i++, c->usage.input_tokens);
	sqlite3_bind_int64(s, i++, c->usage.cached_input_tokens);
	sqlite3_bind_int64(s, i++, c->usage.cache_write_tokens);
	sqlite3_bind_int64(s, i++, c->usage.output_tokens);
	sqlite3_bind_int64(s, i++, c->usage.reasoning_tokens);
	bind_text(s, i++, c->usage_source);
	sqlite3_bind_int64(s, i++, c->cost_nano);
	sqlite3_bind_int(s, i++, c->unpriced);
	bind_known(s, i++, c->ttft_ns, -1);
	bind_known(s, i++, c->duration_ns, -1);
	bind_text(s, i++, c->key_fp);
	bind_text(s, i++, c->capture);
	bind_text(s, i++, c->action);
}

static int ledger_step(struct ledger *l, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return 0;
	ledger_fail(l, what);
	return -EIO;
}

static int ledger_write_ent(struct ledger *l, const struct ledger_ent *e)
{
	sqlite3_stmt *s = e->kind == LEDGER_OPEN ? l->ins_open : l->ins_settle;

	ledger_bind_call(s, l->run, e->kind == LEDGER_OPEN ? "open" : "settled",
			 &e->c);
	return ledger_step(l, s, e->kind == LEDGER_OPEN ? "open" : "settle");
}

static int ledger_heartbeat(struct ledger *l)
{
	l->beat_ns = clock_ns(CLOCK_MONOTONIC);
	sqlite3_bind_int64(l->heartbeat, 1, clock_ns(CLOCK_REALTIME));
	sqlite3_bind_int64(l->heartbeat, 2, l->run);
	return ledger_step(l, l->heartbeat, "heartbeat");
}

/* The batch's settle of seq (open addressing; seq 0 is never used). */
static struct ledger_set_slot *set_slot(struct ledger *l, uint64_t seq)
{
	size_t h = (seq * 0x9e3779b97f4a7c15ull) >> 47;	/* 17 bits */

	while (l->settles[h].seq && l->settles[h].seq != seq)
		h = (h + 1) & (LEDGER_SET_SIZE - 1);
	return &l->settles[h];
}

/* Index the batch's settles; returns 1 if there are any. */
static int batch_settles(struct ledger *l, size_t head, size_t n)
{
	const struct ledger_ent *e;
	struct ledger_set_slot *sl;
	size_t i;
	int any = 0;

	for (i = 0; i < l->nused; i++)		/* the last batch's, only */
		l->used[i]->seq = 0;
	l->nused = 0;
	for (i = 0; i < n; i++) {
		e = &l->q[(head + i) & LEDGER_QUEUE_MASK];
		if (e->kind != LEDGER_OPEN && e->c.seq) {
			sl = set_slot(l, e->c.seq);
			if (!sl->seq)
				l->used[l->nused++] = sl;
			sl->seq = e->c.seq;
			sl->idx = i;
			any = 1;
		}
	}
	return any;
}

/*
 * Entries from head on, at most n, in one transaction (with a heartbeat,
 * at most every LEDGER_BEAT_MIN_NS); returns how many were written.  A
 * backlog is cut into commits of about LEDGER_BATCH_NS, so no row waits
 * long for its commit and the producers get room back soon.  A row that
 * fails alone is counted and skipped; if the transaction itself is gone
 * (SQLite rolls back on disk full, I/O errors), -EIO: the caller retries
 * the batch, which the upserts make harmless.
 *
 * A call that opened and settled within the batch is written once,
 * settled (two statements a call cost as much as the rest of the agent at
 * 1,000 calls/s); if the batch is cut before such a settle, its open is
 * written after all, so what commits always has a row for every call it
 * saw opened.
 */
static long ledger_write_batch(struct ledger *l, size_t head, size_t n)
{
	int64_t cut = clock_ns(CLOCK_MONOTONIC) + LEDGER_BATCH_NS;
	int coalesce = batch_settles(l, head, n);
	const struct ledger_ent *e;
	struct ledger_set_slot *sl;
	size_t i, j, nskipped = 0;

	if (sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		ledger_fail(l, "begin");
		return -EIO;
	}
	for (i = 0; i < n; i++) {
		e = &l->q[(head + i) & LEDGER_QUEUE_MASK];
		if (coalesce && e->kind == LEDGER_OPEN && e->c.seq &&
		    (sl = set_slot(l, e->c.seq))->seq && sl->idx > i) {
			l->skipped[nskipped++] = i;
			continue;
		}
		if (ledger_write_ent(l, e) && sqlite3_get_autocommit(l->db))
			return -EIO;
		if (!((i + 1) & 255) && clock_ns(CLOCK_MONOTONIC) > cut) {
			i++;
			break;
		}
	}
	for (j = 0; j < nskipped; j++) {
		e = &l->q[(head + l->skipped[j]) & LEDGER_QUEUE_MASK];
		if (set_slot(l, e->c.seq)->idx >= i && ledger_write_ent(l, e) &&
		    sqlite3_get_autocommit(l->db))
			return -EIO;
	}
	/* a row and a page a commit: under load, a few times a second is
	 * plenty for "last seen" */
	if (clock_ns(CLOCK_MONOTONIC) - l->beat_ns >= LEDGER_BEAT_MIN_NS)
		ledger_heartbeat(l);
	if (sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		ledger_fail(l, "commit");
		sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
		return -EIO;
	}
	return i;
}

/* --- the queue --------------------------------------------------------- */

static void ledger_call_strs(struct ledger_call *c, const char **f[LEDGER_NSTR])
{
	int i = 0;

	f[i++] = &c->comm;
	f[i++] = &c->exe;
	f[i++] = &c->user;
	f[i++] = &c->cgroup;
	f[i++] = &c->unit;
	f[i++] = &c->container;
	f[i++] = &c->team;
	f[i++] = &c->provider;
	f[i++] = &c->host;
	f[i++] = &c->path;
	f[i++] = &c->model;
	f[i++] = &c->usage_source;
	f[i++] = &c->key_fp;
	f[i++] = &c->capture;
	f[i++] = &c->action;
}

/* Copy c and its strings (one allocation) so the caller may reuse them. */
static int ledger_ent_fill(struct ledger_ent *e, enum ledger_kind kind,
			   const struct ledger_call *c)
{
	const char **f[LEDGER_NSTR];
	size_t len[LEDGER_NSTR], total = 0;
	char *p;
	int i;

	e->kind = kind;
	e->c = *c;
	e->strs = NULL;
	ledger_call_strs(&e->c, f);
	for (i = 0; i < LEDGER_NSTR; i++) {
		len[i] = *f[i] ? strlen(*f[i]) + 1 : 0;
		total += len[i];
	}
	if (!total)
		return 0;
	p = e->strs = malloc(total);
	if (!p)
		return -ENOMEM;
	for (i = 0; i < LEDGER_NSTR; i++) {
		if (!len[i])
			continue;
		memcpy(p, *f[i], len[i]);
		*f[i] = p;
		p += len[i];
	}
	return 0;
}

static int ledger_enqueue(struct ledger *l, enum ledger_kind kind,
			  const struct ledger_call *c)
{
	struct ledger_ent e;
	int waited = 0;

	if (ledger_ent_fill(&e, kind, c)) {
		log_error("ledger: out of memory queueing call %llu",
			  (unsigned long long)c->seq);
		pthread_mutex_lock(&l->mu);
		l->st.errors++;
		pthread_mutex_unlock(&l->mu);
		return -ENOMEM;
	}
	pthread_mutex_lock(&l->mu);
	while (l->count == LEDGER_QUEUE_CAP && !l->stop) {
		if (!waited++)
			l->st.waits++;
		pthread_cond_wait(&l->room, &l->mu);
	}
	if (l->stop) {
		pthread_mutex_unlock(&l->mu);
		free(e.strs);
		return -ESHUTDOWN;
	}
	l->q[(l->head + l->count) & LEDGER_QUEUE_MASK] = e;
	if (!l->count++ || l->count == LEDGER_GATHER_MAX)
		pthread_cond_signal(&l->more);
	l->enqueued++;
	l->st.queued++;
	pthread_mutex_unlock(&l->mu);
	return 0;
}

int ledger_call_open(struct ledger *l, const struct ledger_call *c)
{
	return ledger_enqueue(l, LEDGER_OPEN, c);
}

int ledger_call_settle(struct ledger *l, const struct ledger_call *c)
{
	return ledger_enqueue(l, LEDGER_SETTLE, c);
}

/* Hand written (or given up) slots back to the producers. */
static void ledger_release(struct ledger *l, size_t head, size_t n, int lost)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(l->q[(head + i) & LEDGER_QUEUE_MASK].strs);
	pthread_mutex_lock(&l->mu);
	l->head = (head + n) & LEDGER_QUEUE_MASK;
	l->count -= n;
	l->done += n;
	if (lost) {
		l->st.lost += n;
		l->st.errors++;
	} else if (n) {
		l->st.written += n;
		l->st.batches++;
	}
	pthread_cond_broadcast(&l->room);
	pthread_cond_broadcast(&l->drained);
	pthread_mutex_unlock(&l->mu);
	if (lost)
		log_error("ledger: gave up on %zu queued rows after %d failed"
			  " commits", n, LEDGER_RETRIES);
}

/* Wait for work, a stop or the deadline (monotonic ns); returns with mu held. */
static void ledger_wait(struct ledger *l, int64_t until, int for_work)
{
	struct timespec ts = ns_to_ts(until);

	pthread_mutex_lock(&l->mu);
	while ((!for_work || !l->count) && !l->stop &&
	       clock_ns(CLOCK_MONOTONIC) < until)
		pthread_cond_timedwait(&l->more, &l->mu, &ts);
}

/*
 * With mu held and work queued: let a batch form.  A commit costs far more
 * than its rows (a call a commit doubled the agent's CPU at 1,000 calls/s),
 * so rows wait up to LEDGER_GATHER_NS; a quarter-full queue, a flush or a
 * stop cuts the wait short.
 */
static void ledger_gather(struct ledger *l)
{
	int64_t until = clock_ns(CLOCK_MONOTONIC) + LEDGER_GATHER_NS;
	struct timespec ts = ns_to_ts(until);

	while (l->count && l->count < LEDGER_GATHER_MAX && !l->stop && !l->flushing &&
	       clock_ns(CLOCK_MONOTONIC) < until)
		pthread_cond_timedwait(&l->more, &l->mu, &ts);
}

static void *ledger_writer(void *arg)
{
	struct ledger *l = arg;
	int64_t beat = clock_ns(CLOCK_MONOTONIC) + LEDGER_HEARTBEAT_NS;
	int fails = 0, stop;
	size_t head, n;
	long ret;

	for (;;) {
		ledger_wait(l, fails ? clock_ns(CLOCK_MONOTONIC) + LEDGER_RETRY_NS
				     : beat, !fails);
		if (!fails)
			ledger_gather(l);
		head = l->head;
		n = l->count;
		stop = l->stop;
		if (l->abandon) {
			pthread_mutex_unlock(&l->mu);
			break;
		}
		pthread_mutex_unlock(&l->mu);
		if (stop && !n)
			break;
		if (!n && clock_ns(CLOCK_MONOTONIC) < beat)
			continue;
		ret = ledger_write_batch(l, head, n);
		beat = clock_ns(CLOCK_MONOTONIC) + LEDGER_HEARTBEAT_NS;
		if (ret < 0 && ++fails < LEDGER_RETRIES)
			continue;
		ledger_release(l, head, ret < 0 ? n : (size_t)ret, ret < 0);
		fails = 0;
	}
	return NULL;
}

/* --- lifecycle --------------------------------------------------------- */

static int ledger_prepare_stmts(struct ledger *l, char *err, size_t errlen)
{
	if (sqlite3_prepare_v3(l->db, ledger_sql_open, -1,
			       SQLITE_PREPARE_PERSISTENT, &l->ins_open, NULL) ||
	    sqlite3_prepare_v3(l->db, ledger_sql_settle, -1,
			       SQLITE_PREPARE_PERSISTENT, &l->ins_settle, NULL) ||
	    sqlite3_prepare_v3(l->db, "UPDATE runs SET last_seen_ns=?"
			       " WHERE id=?", -1, SQLITE_PREPARE_PERSISTENT,
			       &l->heartbeat, NULL)) {
		seterr(err, errlen, "%s", sqlite3_errmsg(l->db));
		return -EIO;
	}
	return 0;
}

/* WAL, so report and top read while we write; NORMAL: a power cut may
 * lose the last commits, never corrupt. */
static int ledger_configure(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int wal = 0;

	sqlite3_busy_timeout(db, LEDGER_BUSY_MS);
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &s, NULL)) {
		seterr(err, errlen, "%s", sqlite3_errmsg(db));
		return -EIO;
	}
	if (sqlite3_step(s) == SQLITE_ROW)
		wal = !sqlite3_stricmp((const char *)sqlite3_column_text(s, 0),
				       "wal");
	sqlite3_finalize(s);
	if (!wal) {
		seterr(err, errlen, "cannot switch to WAL mode: %s",
		       sqlite3_errmsg(db));
		return -EIO;
	}
	return exec_sql(db, "PRAGMA synchronous=NORMAL", err, errlen);
}

static struct ledger *ledger_alloc(void)
{
	pthread_condattr_t ca;
	struct ledger *l;

	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->lock_fd = -1;
	l->q = calloc(LEDGER_QUEUE_CAP, sizeof(*l->q));
	l->settles = calloc(LEDGER_SET_SIZE, sizeof(*l->settles));
	l->skipped = calloc(LEDGER_QUEUE_CAP, sizeof(*l->skipped));
	l->used = calloc(LEDGER_QUEUE_CAP, sizeof(*l->used));
	if (!l->q || !l->settles || !l->skipped || !l->used) {
		free(l->q);
		free(l->settles);
		free(l->skipped);
		free(l->used);
		free(l);
		return NULL;
	}
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->more, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&l->room, NULL);
	pthread_cond_init(&l->drained, NULL);
	return l;
}

/* After the writer is gone: whatever is still queued, the db, l. */
static void ledger_free(struct ledger *l)
{
	size_t i;

	for (i = 0; i < l->count; i++)
		free(l->q[(l->head + i) & LEDGER_QUEUE_MASK].strs);
	sqlite3_finalize(l->ins_open);
	sqlite3_finalize(l->ins_settle);
	sqlite3_finalize(l->heartbeat);
	if (sqlite3_close(l->db) != SQLITE_OK)
		log_error("ledger: close: %s", sqlite3_errmsg(l->db));
	pthread_cond_destroy(&l->more);
	pthread_cond_destroy(&l->room);
	pthread_cond_destroy(&l->drained);
	pthread_mutex_destroy(&l->mu);
	if (l->lock_fd >= 0)
		close(l->lock_fd);
	free(l->q);
	free(l->settles);
	free(l->skipped);
	free(l->used);
	free(l);
}

struct ledger *ledger_open(const char *path, char *err, size_t errlen)
{
	struct ledger *l;
	int ret;

	l = ledger_alloc();
	if (!l) {
		seterr(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	ret = ledger_prepare_file(path, err, errlen);
	if (ret)
		goto err_free;
	l->lock_fd = ledger_lock(path, err, errlen);
	if (l->lock_fd < 0) {
		ret = l->lock_fd;
		goto err_free;
	}
	if (sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		seterr(err, errlen, "%s: %s", path, sqlite3_errmsg(l->db));
		ret = -EIO;
		goto err_free;
	}
	ret = ledger_configure(l->db, err, errlen);
	if (!ret)
		ret = ledger_migrate(l->db, err, errlen);
	if (!ret)
		ret = ledger_recover_and_start(l, err, errlen);
	if (!ret)
		ret = ledger_prepare_stmts(l, err, errlen);
	if (ret)
		goto err_free;
	ledger_chmod_side(path);
	ret = -pthread_create(&l->thread, NULL, ledger_writer, l);
	if (ret) {
		seterr(err, errlen, "writer thread: %s", strerror(-ret));
		goto err_free;
	}
	pthread_setname_np(l->thread, "tg-ledger");
	return l;

err_free:
	ledger_free(l);
	errno = -ret;
	return NULL;
}

static void ledger_stop_writer(struct ledger *l, int abandon)
{
	pthread_mutex_lock(&l->mu);
	l->stop = 1;
	l->abandon = abandon;
	pthread_cond_broadcast(&l->more);
	pthread_cond_broadcast(&l->room);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
}

static void ledger_mark_stopped(struct ledger *l)
{
	int64_t now = clock_ns(CLOCK_REALTIME);
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(l->db, "UPDATE runs SET stop_ns=?, last_seen_ns=?,"
			       " \"end\"='stopped' WHERE id=?", -1, &s,
			       NULL) != SQLITE_OK) {
		ledger_fail(l, "stop");
		return;
	}
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int64(s, 3, l->run);
	if (sqlite3_step(s) != SQLITE_DONE)
		ledger_fail(l, "stop");
	sqlite3_finalize(s);
}

void ledger_close(struct ledger *l)
{
	if (!l)
		return;
	ledger_stop_writer(l, 0);
	ledger_mark_stopped(l);
	ledger_free(l);
}

void ledger_abandon(struct ledger *l)
{
	if (!l)
		return;
	ledger_stop_writer(l, 1);
	/* leave the WAL behind, as a killed process would */
	sqlite3_db_config(l->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	ledger_free(l);
}

void ledger_flush(struct ledger *l)
{
	uint64_t target;

	pthread_mutex_lock(&l->mu);
	target = l->enqueued;
	l->flushing++;
	pthread_cond_broadcast(&l->more);
	while (l->done < target && !l->stop)
		pthread_cond_wait(&l->drained, &l->mu);
	l->flushing--;
	pthread_mutex_unlock(&l->mu);
}

void ledger_stats(struct ledger *l, struct ledger_stats *s)
{
	pthread_mutex_lock(&l->mu);
	*s = l->st;
	pthread_mutex_unlock(&l->mu);
}

int64_t ledger_run_id(const struct ledger *l)
{
	return l->run;
}

struct sqlite3 *ledger_open_readonly(const char *path, char *err, size_t errlen)
{
	struct stat st;
	sqlite3 *db = NULL;
	int ver, ret;

	if (stat(path, &st) < 0) {
		ret = -errno;
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto err_out;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		seterr(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		ret = -EIO;
		goto err_close;
	}
	sqlite3_busy_timeout(db, LEDGER_BUSY_MS);
	ver = ledger_schema_version(db, err, errlen);
	if (ver < 0) {
		ret = ver;
		goto err_close;
	}
	if (!ver) {
		seterr(err, errlen, "%s: not a tollgate ledger (empty)", path);
		ret = -EINVAL;
		goto err_close;
	}
	if (ver != LEDGER_SCHEMA_VERSION) {
		seterr(err, errlen, "%s: schema version %d, this tollgate reads"
		       " %d", path, ver, LEDGER_SCHEMA_VERSION);
		ret = -ENOTSUP;
		goto err_close;
	}
	return db;

err_close:
	sqlite3_close(db);
err_out:
	errno = -ret;
	return NULL;
}
