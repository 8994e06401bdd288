// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The ledger: schema, modes, open/settle, bulk, crash recovery, versions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include "ledger.h"
#include "log.h"
#include "tap.h"

static char tmpdir[64];
static char dbpath[128];
static int ndb;

/* A fresh path per test, in a directory that does not exist yet. */
static const char *fresh_db(void)
{
	snprintf(dbpath, sizeof(dbpath), "%s/d%d/ledger.db", tmpdir, ndb++);
	return dbpath;
}

static int64_t q_i64(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	int64_t v = -12345;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -99999;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_type(s, 0) == SQLITE_NULL ? -777 :
			sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static const char *q_text(sqlite3 *db, const char *sql)
{
	static char buf[256];
	sqlite3_stmt *s;

	strcpy(buf, "(none)");
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return "(error)";
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		snprintf(buf, sizeof(buf), "%s", sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return buf;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct ledger_call mk_call(uint64_t seq)
{
	struct ledger_call c = {
		.seq = seq, .ts_ns = now_ns() - 5000000000LL,
		.pid = 42, .uid = 1000, .comm = "python3", .exe = "/usr/bin/python3",
		.user = "ada", .cgroup = "/user.slice", .team = "ml",
		.provider = "openai", .host = "api.openai.com",
		.path = "/v1/chat/completions", .model = "gpt-4o-mini",
		.stream = 1, .request_bytes = 4096,
		.usage = { .input_tokens = 1000 },
		.usage_source = "estimated", .cost_nano = 150000,
		.ttft_ns = -1, .duration_ns = -1, .key_fp = "sk-...ab12",
	};

	return c;
}

static void settle(struct ledger_call *c)
{
	c->end_ns = c->ts_ns + 2000000000LL;
	c->status = 200;
	c->response_bytes = 1024;
	c->usage.input_tokens = 900;
	c->usage.cached_input_tokens = 100;
	c->usage.output_tokens = 250;
	c->usage.reasoning_tokens = 50;
	c->usage_source = "provider";
	c->cost_nano = 300000;
	c->ttft_ns = 300000000;
	c->duration_ns = 2000000000;
	c->capture = "complete";
	c->action = "allow";
}

static struct ledger *must_open(const char *path)
{
	char err[256] = "";
	struct ledger *l = ledger_open(path, err, sizeof(err));

	CHECK(l != NULL, "ledger_open: %s", err);
	return l;
}

static sqlite3 *must_ro(const char *path)
{
	char err[256] = "";
	sqlite3 *db = ledger_open_readonly(path, err, sizeof(err));

	CHECK(db != NULL, "ledger_open_readonly: %s", err);
	return db;
}

static void test_schema(void)
{
	const char *path = fresh_db();
	struct ledger *l = must_open(path);
	sqlite3 *db;

	if (!l)
		return;
	ledger_close(l);
	db = must_ro(path);
	if (!db)
		return;
	CHECK(!strcmp(q_text(db, "SELECT value FROM meta WHERE key='schema_version'"),
		      "2"), "version");
	CHECK(q_i64(db, "SELECT value FROM meta WHERE key='created'") > 0, "created");
	/* the row's own id and two indexes, one of them only of open rows */
	CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM sqlite_master WHERE type='index'"
			   " AND tbl_name='calls'"), 2);
	CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM sqlite_master WHERE type='index'"
			   " AND name='calls_open' AND sql LIKE '%WHERE state = ''open''%'"), 1);
	CHECK(!strcmp(q_text(db, "PRAGMA journal_mode"), "wal"), "wal");
	CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM runs"), 1);
	CHECK(!strcmp(q_text(db, "SELECT \"end\" FROM runs"), "stopped"), "stopped");
	CHECK(q_i64(db, "SELECT stop_ns >= start_ns AND last_seen_ns = stop_ns"
		    " FROM runs") == 1, "stop_ns");
	sqlite3_close(db);
}

static int mode_of(const char *path, const char *sfx)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", path, sfx);
	if (stat(p, &st) < 0)
		return -1;
	return st.st_mode & 07777;
}

static void test_modes(void)
{
	const char *path = fresh_db();
	struct ledger_call c = mk_call(1);
	char dir[256];
	struct ledger *l;
	mode_t old = umask(0);	/* the most permissive: modes must not follow it */

	l = must_open(path);
	umask(old);
	if (!l)
		return;
	ledger_call_open(l, &c);
	ledger_flush(l);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	CHECK_EQ_INT(mode_of(dir, ""), 0700);
	CHECK_EQ_INT(mode_of(path, ""), 0600);
	CHECK_EQ_INT(mode_of(path, "-wal"), 0600);
	CHECK_EQ_INT(mode_of(path, "-shm"), 0600);
	ledger_close(l);

	/* an existing, looser file is tightened */
	chmod(path, 0644);
	l = must_open(path);
	CHECK_EQ_INT(mode_of(path, ""), 0600);
	ledger_close(l);
}

static void test_open_settle(void)
{
	const char *path = fresh_db();
	struct ledger_call c = mk_call(7);
	struct ledger *l = must_open(path);
	char comm[16] = "python3";
	sqlite3 *db;

	if (!l)
		return;
	c.comm = comm;
	ledger_call_open(l, &c);
	strcpy(comm, "XXXXXX");		/* the queue holds its own copy */
	c.comm = "python3";
	settle(&c);
	ledger_call_settle(l, &c);
	ledger_flush(l);

	/* read while the agent still holds the db */
	db = must_ro(path);
	if (db) {
		CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM calls"), 1);
		CHECK(!strcmp(q_text(db, "SELECT state FROM calls"), "settled"), "state");
		CHECK(!strcmp(q_text(db, "SELECT comm FROM calls"), "python3"), "comm");
		CHECK(!strcmp(q_text(db, "SELECT usage_source FROM calls"), "provider"), "src");
		CHECK(!strcmp(q_text(db, "SELECT model FROM calls"), "gpt-4o-mini"), "model");
		CHECK_EQ_INT(q_i64(db, "SELECT seq FROM calls"), 7);
		CHECK_EQ_INT(q_i64(db, "SELECT run FROM calls"), ledger_run_id(l));
		CHECK_EQ_INT(q_i64(db, "SELECT status FROM calls"), 200);
		CHECK_EQ_INT(q_i64(db, "SELECT cost_nano FROM calls"), 300000);
		CHECK_EQ_INT(q_i64(db, "SELECT input_tokens FROM calls"), 900);
		CHECK_EQ_INT(q_i64(db, "SELECT cached_input_tokens FROM calls"), 100);
		CHECK_EQ_INT(q_i64(db, "SELECT output_tokens FROM calls"), 250);
		CHECK_EQ_INT(q_i64(db, "SELECT reasoning_tokens FROM calls"), 50);
		CHECK_EQ_INT(q_i64(db, "SELECT response_bytes FROM calls"), 1024);
		CHECK_EQ_INT(q_i64(db, "SELECT end_ns - ts_ns FROM calls"), 2000000000LL);
		CHECK_EQ_INT(q_i64(db, "SELECT ttft_ns FROM calls"), 300000000);
		CHECK_EQ_INT(q_i64(db, "SELECT unit FROM calls"), -777);	/* NULL */
		CHECK(!strcmp(q_text(db, "SELECT capture FROM calls"), "complete"), "capture");
		sqlite3_close(db);
	}
	ledger_close(l);
}

static void test_open_unknowns_null(void)
{
	const char *path = fresh_db();
	struct ledger_call c = mk_call(1);
	struct ledger *l = must_open(path);
	sqlite3 *db;

	if (!l)
		return;
	ledger_call_open(l, &c);
	ledger_close(l);
	db = must_ro(path);
	if (!db)
		return;
	CHECK(!strcmp(q_text(db, "SELECT state FROM calls"), "open"), "state");
	CHECK_EQ_INT(q_i64(db, "SELECT end_ns FROM calls"), -777);
	CHECK_EQ_INT(q_i64(db, "SELECT status FROM calls"), -777);
	CHECK_EQ_INT(q_i64(db, "SELECT ttft_ns FROM calls"), -777);
	CHECK_EQ_INT(q_i64(db, "SELECT duration_ns FROM calls"), -777);
	CHECK_EQ_INT(q_i64(db, "SELECT cost_nano FROM calls"), 150000);
	sqlite3_close(db);
}

static void test_settle_without_open(void)
{
	const char *path = fresh_db();
	struct ledger_call c = mk_call(3);
	struct ledger_call d = mk_call(4);
	struct ledger *l = must_open(path);
	sqlite3 *db;

	if (!l)
		return;
	settle(&c);
	ledger_call_settle(l, &c);
	/* a late open for a settled call changes nothing */
	ledger_call_open(l, &c);
	ledger_call_open(l, &d);
	ledger_close(l);
	db = must_ro(path);
	if (!db)
		return;
	CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM calls"), 2);
	CHECK(!strcmp(q_text(db, "SELECT state FROM calls WHERE seq=3"), "settled"), "state");
	CHECK_EQ_INT(q_i64(db, "SELECT output_tokens FROM calls WHERE seq=3"), 250);
	sqlite3_close(db);
}

#define BULK 100000

static void test_bulk(void)
{
	const char *path = fresh_db();
	struct ledger *l = must_open(path);
	struct ledger_stats st;
	struct ledger_call c;
	sqlite3 *db;
	uint64_t i;

	if (!l)
		return;
	for (i = 0; i < BULK; i++) {
		c = mk_call(i);
		CHECK_EQ_INT(ledger_call_open(l, &c), 0);
		settle(&c);
		CHECK_EQ_INT(ledger_call_settle(l, &c), 0);
	}
	ledger_flush(l);
	ledger_stats(l, &st);
	ledger_close(l);
	CHECK_EQ_INT(st.queued, 2 * BULK);
	CHECK_EQ_INT(st.written, 2 * BULK);
	CHECK_EQ_INT(st.errors, 0);
	CHECK_EQ_INT(st.lost, 0);
	CHECK(st.batches > 0 && st.batches < BULK, "batches %llu",
	      (unsigned long long)st.batches);
	db = must_ro(path);
	if (!db)
		return;
	CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM calls"), BULK);
	CHECK_EQ_INT(q_i64(db, "SELECT count(DISTINCT seq) FROM calls"), BULK);
	CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM calls WHERE state='settled'"), BULK);
	CHECK_EQ_INT(q_i64(db, "SELECT sum(cost_nano) FROM calls"), 300000LL * BULK);
	sqlite3_close(db);
}

static void test_recovery(void)
{
	const char *path = fresh_db();
	struct ledger *l = must_open(path);
	struct ledger_stats st;
	struct ledger_call c;
	int64_t run1, seen;
	sqlite3 *db;
	int i;

	if (!l)
		return;
	run1 = ledger_run_id(l);
	for (i = 0; i < 10; i++) {
		c = mk_call(i);
		ledger_call_open(l, &c);
		if (i < 3) {
			settle(&c);
			ledger_call_settle(l, &c);
		}
	}
	ledger_flush(l);
	ledger_abandon(l);		/* as SIGKILL leaves it */

	db = must_ro(path);
	if (db) {
		CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM calls WHERE state='open'"), 7);
		CHECK_EQ_INT(q_i64(db, "SELECT \"end\" IS NULL FROM runs"), 1);
		sqlite3_close(db);
	}

	l = must_open(path);
	if (!l)
		return;
	ledger_stats(l, &st);
	CHECK_EQ_INT(st.recovered, 7);
	CHECK(ledger_run_id(l) != run1, "new run");
	db = must_ro(path);
	if (db) {
		char sql[160];

		snprintf(sql, sizeof(sql), "SELECT last_seen_ns FROM runs WHERE id=%lld",
			 (long long)run1);
		seen = q_i64(db, sql);
		CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM calls WHERE state='open'"), 0);
		CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM calls WHERE state='interrupted'"
				   " AND usage_source='estimated' AND capture='cut_off'"
				   " AND cost_nano=150000 AND input_tokens=1000"), 7);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM calls WHERE"
			 " state='interrupted' AND end_ns=%lld AND"
			 " duration_ns=end_ns-ts_ns", (long long)seen);
		CHECK_EQ_INT(q_i64(db, sql), 7);
		CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM calls WHERE state='settled'"), 3);
		snprintf(sql, sizeof(sql), "SELECT \"end\" FROM runs WHERE id=%lld",
			 (long long)run1);
		CHECK(!strcmp(q_text(db, sql), "crashed"), "run crashed");
		CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM runs WHERE \"end\" IS NULL"), 1);
		sqlite3_close(db);
	}
	ledger_close(l);

	/* a clean stop leaves nothing to recover */
	l = must_open(path);
	if (!l)
		return;
	ledger_stats(l, &st);
	CHECK_EQ_INT(st.recovered, 0);
	ledger_close(l);
	db = must_ro(path);
	if (db) {
		CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM runs WHERE \"end\"='stopped'"), 2);
		sqlite3_close(db);
	}
}

static void exec_on(const char *path, const char *sql)
{
	sqlite3 *db;

	CHECK(sqlite3_open(path, &db) == SQLITE_OK, "open %s", path);
	CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s",
	      sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static void test_newer_refused(void)
{
	const char *path = fresh_db();
	char err[256] = "";
	struct ledger *l = must_open(path);

	if (!l)
		return;
	ledger_close(l);
	exec_on(path, "UPDATE meta SET value='99' WHERE key='schema_version'");
	errno = 0;
	l = ledger_open(path, err, sizeof(err));
	CHECK(l == NULL && errno == ENOTSUP, "errno %d", errno);
	CHECK(strstr(err, "newer") != NULL, "err: %s", err);
	ledger_close(l);
	err[0] = '\0';
	CHECK(ledger_open_readonly(path, err, sizeof(err)) == NULL, "ro");
	CHECK(strstr(err, "schema version 99") != NULL, "err: %s", err);
}

static void test_migrate_v0(void)
{
	const char *path = fresh_db();
	char dir[256], err[256] = "";
	struct ledger *l;
	sqlite3 *db;

	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	mkdir(dir, 0700);
	/* v0: a meta table, no version, nothing else */
	exec_on(path, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
		"INSERT INTO meta VALUES('created', '1');");
	CHECK(ledger_open_readonly(path, err, sizeof(err)) == NULL, "ro v0");
	l = must_open(path);
	if (!l)
		return;
	ledger_close(l);
	db = must_ro(path);
	if (!db)
		return;
	CHECK_EQ_INT(q_i64(db, "SELECT value FROM meta WHERE key='schema_version'"),
		     LEDGER_SCHEMA_VERSION);
	CHECK_EQ_INT(q_i64(db, "SELECT value FROM meta WHERE key='created'"), 1);
	CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM runs"), 1);
	sqlite3_close(db);
}

/*
 * A version 1 ledger (as the first release wrote it: UNIQUE(run, seq),
 * three indexes) keeps every row, its numbers and its open calls through
 * the migration; the open ones are then recovered as usual.
 */
static void test_migrate_v1(void)
{
	const char *path = fresh_db();
	char dir[256];
	struct ledger_stats st;
	struct ledger *l;
	sqlite3 *db;

	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	mkdir(dir, 0700);
	exec_on(path,
		"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
		"INSERT INTO meta VALUES('schema_version', '1'), ('created', '7');"
		"CREATE TABLE runs(id INTEGER PRIMARY KEY, pid INTEGER,"
		" start_ns INTEGER, stop_ns INTEGER, last_seen_ns INTEGER, \"end\" TEXT);"
		"INSERT INTO runs VALUES(1, 10, 1000, 5000, 5000, 'stopped'),"
		" (2, 11, 6000, NULL, 9000, NULL);"
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
		"CREATE INDEX calls_team_ts ON calls(team, ts_ns);"
		"INSERT INTO calls(run, seq, state, ts_ns, end_ns, team, model,"
		" input_tokens, output_tokens, usage_source, cost_nano) VALUES"
		" (1, 1, 'settled', 2000, 3000, 'a', 'gpt-4o', 10, 20, 'provider', 111),"
		" (1, 2, 'interrupted', 4000, 5000, 'a', 'gpt-4o', 30, 0, 'estimated', 222),"
		" (2, 1, 'settled', 7000, 8000, 'b', 'gpt-4o-mini', 5, 6, 'provider', 333),"
		" (2, 2, 'open', 8500, NULL, 'b', 'gpt-4o-mini', 40, 0, 'estimated', 444);");
	l = must_open(path);
	if (!l)
		return;
	ledger_stats(l, &st);
	CHECK_EQ_INT(st.recovered, 1);
	ledger_close(l);
	db = must_ro(path);
	if (!db)
		return;
	CHECK_EQ_INT(q_i64(db, "SELECT value FROM meta WHERE key='schema_version'"), 2);
	CHECK_EQ_INT(q_i64(db, "SELECT value FROM meta WHERE key='created'"), 7);
	CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM calls"), 4);
	CHECK_EQ_INT(q_i64(db, "SELECT sum(cost_nano) FROM calls"), 1110);
	CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM calls WHERE id = (run << 40) | seq"), 4);
	CHECK_EQ_INT(q_i64(db, "SELECT end_ns FROM calls WHERE run=2 AND seq=2"
			   " AND state='interrupted' AND capture='cut_off'"), 9000);
	CHECK_EQ_INT(q_i64(db, "SELECT output_tokens FROM calls WHERE run=1 AND seq=1"), 20);
	CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM sqlite_master WHERE type='index'"
			   " AND name IN ('calls_state', 'calls_team_ts')"), 0);
	CHECK_EQ_INT(q_i64(db, "SELECT count(*) FROM runs WHERE \"end\"='crashed'"), 1);
	sqlite3_close(db);
}

/* A second agent on the same ledger is refused while the first runs, and
 * welcome once it has stopped (or died: the kernel drops the lock). */
static void test_one_writer(void)
{
	const char *path = fresh_db();
	char err[256] = "", want[64];
	struct ledger *l = must_open(path), *l2;

	if (!l)
		return;
	errno = 0;
	l2 = ledger_open(path, err, sizeof(err));
	CHECK(l2 == NULL && errno == EBUSY, "errno %d", errno);
	snprintf(want, sizeof(want), "in use by another tollgate (pid %d)", (int)getpid());
	CHECK(strstr(err, want) != NULL, "err: %s", err);
	ledger_close(l2);
	ledger_abandon(l);
	l = must_open(path);
	ledger_close(l);
}

static void test_foreign_refused(void)
{
	const char *path = fresh_db();
	char dir[256], err[256] = "";
	struct ledger *l;

	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	mkdir(dir, 0700);
	exec_on(path, "CREATE TABLE photos(id INTEGER);");
	errno = 0;
	l = ledger_open(path, err, sizeof(err));
	CHECK(l == NULL && errno == EINVAL, "errno %d", errno);
	CHECK(strstr(err, "not a tollgate ledger") != NULL, "err: %s", err);
	ledger_close(l);
	CHECK(ledger_open_readonly("/nonexistent/ledger.db", err, sizeof(err)) == NULL &&
	      errno == ENOENT, "missing");
}

static void test_heartbeat(void)
{
	const char *path = fresh_db();
	struct ledger *l = must_open(path);
	int64_t first, later;
	sqlite3 *db;

	if (!l)
		return;
	db = must_ro(path);
	if (db) {
		first = q_i64(db, "SELECT last_seen_ns FROM runs");
		usleep(1300 * 1000);	/* idle: no calls at all */
		later = q_i64(db, "SELECT last_seen_ns FROM runs");
		CHECK(later > first, "%lld <= %lld", (long long)later, (long long)first);
		CHECK(q_i64(db, "SELECT \"end\" IS NULL FROM runs") == 1, "running");
		sqlite3_close(db);
	}
	ledger_close(l);
}

int main(void)
{
	char cmd[128];
	int rc;

	log_set_level(LOG_ERROR);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/tollgate-ledger.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_schema);
	RUN(test_modes);
	RUN(test_open_settle);
	RUN(test_open_unknowns_null);
	RUN(test_settle_without_open);
	RUN(test_bulk);
	RUN(test_recovery);
	RUN(test_newer_refused);
	RUN(test_migrate_v0);
	RUN(test_migrate_v1);
	RUN(test_foreign_refused);
	RUN(test_one_writer);
	RUN(test_heartbeat);
	rc = tap_done();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return rc;
}
