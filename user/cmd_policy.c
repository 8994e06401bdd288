// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tollgate policy check [--json] [--all] FILE             (DESIGN §9)
 *
 * Loads a policy and says what is wrong with it (FILE:LINE:COL), or what
 * it would do now: each team, its rules, its budgets with what the ledger
 * says is spent in each window now, and the running processes it claims,
 * each attributed to the first team that matches as the agent does.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <json-c/json.h>
#include <sqlite3.h>
#include "attribution.h"
#include "budget.h"
#include "escape.h"
#include "ledger.h"
#include "policy.h"
#include "procinfo.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define TEXT_PROCS_MAX 20	/* a team's processes listed without --all */

struct hit {
	pid_t pid;
	char comm[16];
	struct attr_why why;
};

struct hits {
	struct hit *v;
	size_t n, cap;
};

struct scan {
	const struct policy *p;
	struct hits *teams;		/* one per team */
	struct proc_ident_buf *buf;
	size_t total, unattributed, no_exe;
	pid_t self;
	int err;
};

static void check_usage(FILE *f)
{
	fprintf(f,
"usage: tollgate policy check [--json] [--all] [--db FILE|off] FILE\n"
"\n"
"Loads a policy. When it is wrong, prints FILE:LINE:COLUMN: why, and exits 1.\n"
"Otherwise prints each team with its match rules, its rules and budgets (with\n"
"what the ledger says is spent in each budget's window now) and the running\n"
"processes it claims now (each process goes to the first team that matches,\n"
"as in the agent), then a summary. Reading other users' executables needs root.\n"
"\n"
"  -j, --json     machine-readable output\n"
"  -a, --all      list every process (otherwise at most %d a team)\n"
"  -d, --db FILE  the ledger spend is read from (default %s; off: none)\n"
"  -h, --help     this text\n", TEXT_PROCS_MAX, LEDGER_DEFAULT_PATH);
}

static void policy_usage(FILE *f)
{
	fprintf(f,
"usage: tollgate policy COMMAND\n"
"\n"
"  check FILE   validate a policy and show what it matches now\n"
"\n"
"'tollgate policy COMMAND --help' for a command's options.\n");
}

/* --- a process's identity ------------------------------------------------------ */

/*
 * proc_ident_read (attribution.h) lives here, among the edges, until it
 * has a file of its own: the agent reuses it.
 */

/* The real uid: the one BPF reports for the caller (current_uid()). */
static int read_uid(pid_t pid, uid_t *uid)
{
	char path[64], line[256];
	unsigned long v;
	int err = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Uid:", 4))
			continue;
		if (sscanf(line + 4, "%lu", &v) == 1) {
			*uid = (uid_t)v;
			err = 0;
		}
		break;
	}
	fclose(f);
	return err;
}

static int user_name(uid_t uid, char *buf, size_t cap)
{
	char tmp[16384];
	struct passwd pw, *res = NULL;

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) || !res ||
	    strlen(pw.pw_name) >= cap)
		return -ENOENT;
	strcpy(buf, pw.pw_name);
	return 0;
}

/* An exe replaced on disk (an upgrade) reads "/path (deleted)": the
 * process still runs the program at /path. */
static void strip_deleted(char *exe)
{
	static const char tag[] = " (deleted)";
	size_t n = strlen(exe), k = sizeof(tag) - 1;

	if (n > k && !strcmp(exe + n - k, tag))
		exe[n - k] = '\0';
}

int proc_ident_read(pid_t pid, struct proc_ident_buf *out)
{
	struct proc_ident *id = &out->id;
	int err;

	memset(id, 0, sizeof(*id));
	id->pid = pid;
	id->uid = PROC_UID_UNKNOWN;
	err = read_uid(pid, &id->uid);
	if (err)
		return err;
	if (proc_read_comm(pid, out->comm, sizeof(out->comm)))
		out->comm[0] = '\0';
	if (!user_name(id->uid, out->user, sizeof(out->user)))
		id->user = out->user;
	/* another user's exe needs privilege: unknown, not an error */
	if (!proc_read_exe(pid, out->exe, sizeof(out->exe))) {
		strip_deleted(out->exe);
		id->exe = out->exe;
	}
	if (!proc_read_cgroup(pid, out->cgroup, sizeof(out->cgroup)))
		id->cgroup = out->cgroup;
	cg_ident_parse(id->cgroup, &out->cg);
	id->cg = &out->cg;
	return 0;
}

/* --- gathering ------------------------------------------------------------ */

static int hits_push(struct hits *h, const struct hit *x)
{
	struct hit *v;

	if (h->n == h->cap) {
		v = realloc(h->v, (h->cap ? 2 * h->cap : 16) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = h->cap ? 2 * h->cap : 16;
	}
	h->v[h->n++] = *x;
	return 0;
}

static void on_pid(void *ctx, pid_t pid)
{
	struct scan *s = ctx;
	struct hit h = { .pid = pid };
	int team;

	/* as the agent: never itself, never a kernel thread */
	if (s->err || pid == s->self || proc_is_kthread(pid))
		return;
	if (proc_ident_read(pid, s->buf))
		return;			/* gone meanwhile */
	s->total++;
	s->no_exe += !s->buf->id.exe;
	team = policy_team_match(s->p, &s->buf->id, &h.why);
	if (team < 0) {
		s->unattributed++;
		return;
	}
	memcpy(h.comm, s->buf->comm, sizeof(h.comm));
	s->err = hits_push(&s->teams[team], &h);
}

static int scan_procs(struct scan *s, const struct policy *p)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->p = p;
	s->self = getpid();
	s->teams = calloc(p->nteams ? p->nteams : 1, sizeof(*s->teams));
	s->buf = malloc(sizeof(*s->buf));
	if (!s->teams || !s->buf)
		return -ENOMEM;
	err = proc_for_each_pid(on_pid, s);
	return err ? err : s->err;
}

static void scan_free(struct scan *s)
{
	size_t i;

	for (i = 0; s->teams && i < s->p->nteams; i++)
		free(s->teams[i].v);
	free(s->teams);
	free(s->buf);
}

/* --- text ----------------------------------------------------------------- */

/* Exact: "15", "0.075". */
static const char *usd_str(int64_t nano, char *buf, size_t cap)
{
	size_t n;

	snprintf(buf, cap, "%lld.%09lld", (long long)(nano / 1000000000),
		 (long long)(nano % 1000000000));
	n = strlen(buf);
	while (buf[n - 1] == '0')
		buf[--n] = '\0';
	if (buf[n - 1] == '.')
		buf[--n] = '\0';
	return buf;
}

static void print_price(const struct policy *p)
{
	static const struct {
		const char *what;
		size_t off;
	} rates[] = {
		{ "input", offsetof(struct price_rates, input) },
		{ "cached input", offsetof(struct price_rates, cached_input) },
		{ "cache write", offsetof(struct price_rates, cache_write) },
		{ "output", offsetof(struct price_rates, output) },
	};
	const char *sep = "";
	char buf[32];
	int64_t v;
	size_t i;

	if (!p->has_default_price) {
		printf("  default price: the built-in one (for unknown models)\n");
		return;
	}
	printf("  default price:");
	for (i = 0; i < ARRAY_SIZE(rates); i++) {
		memcpy(&v, (const char *)&p->default_price.base + rates[i].off, sizeof(v));
		if (v < 0)
			continue;
		printf("%s %s $%s/Mtok", sep, rates[i].what, usd_str(v, buf, sizeof(buf)));
		sep = ",";
	}
	printf("\n");
}

static void print_strs(const char *key, const struct policy_strs *s, const char *note)
{
	char buf[512];
	size_t i;

	if (!s->n)
		return;
	printf("    %-10s", key);
	for (i = 0; i < s->n; i++)
		printf("%s%s", i ? ", " : "", escape_str(buf, sizeof(buf), s->v[i]));
	printf("%s\n", note);
}

static void print_match(const struct policy_match *m)
{
	size_t i;

	print_strs("cgroup", &m->cgroup, "");
	print_strs("unit", &m->unit, "");
	print_strs("container", &m->container, "");
	print_strs("pod", &m->pod, "");
	if (m->nuid) {
		printf("    %-10s", "uid");
		for (i = 0; i < m->nuid; i++)
			printf("%s%u", i ? ", " : "", (unsigned)m->uid[i]);
		printf("\n");
	}
	print_strs("user", &m->user, "");
	print_strs("exe", &m->exe, "");
	print_strs("api_key", &m->api_key, "  (matched per call, by the key it carries)");
	if (m->any)
		printf("    any       true\n");
}

static void print_hit(const struct hit *h)
{
	char comm[80], glob[512];

	printf("    %7d  %-16s %s", h->pid, escape_str(comm, sizeof(comm), h->comm),
	       attr_key_name(h->why.key));
	if (h->why.glob)
		printf(" %s", escape_str(glob, sizeof(glob), h->why.glob));
	else if (h->why.key == ATTR_UID)
		printf(" %u", (unsigned)h->why.uid);
	printf("\n");
}


/* --- budgets and rules ---------------------------------------------------------- */

/* The policy's budgets with the ledger's spend; NULL when there is no
 * ledger to read (why says so). */
static struct budget_set *budgets_now(const struct policy *p, const char *db_path,
				      char *why, size_t cap)
{
	struct budget_set *b;
	struct timespec ts;
	int64_t now;
	sqlite3 *db;

	why[0] = '\0';
	if (!db_path || !strcmp(db_path, "off")) {
		snprintf(why, cap, "no ledger read");
		return NULL;
	}
	if (budget_tz_set(p->timezone)) {
		snprintf(why, cap, "time zone not usable");
		return NULL;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	db = ledger_open_readonly(db_path, why, cap);
	if (!db)
		return NULL;
	b = budget_new(p, now);
	if (!b || budget_restore(b, db, now, why, cap)) {
		budget_free(b);
		b = NULL;
	}
	sqlite3_close(db);
	return b;
}

static int64_t now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static const char *amount_str(int tokens, int64_t v, char *buf, size_t cap)
{
	char usd[32];

	if (tokens)
		snprintf(buf, cap, "%lld tokens", (long long)v);
	else
		snprintf(buf, cap, "$%s", usd_str(v, usd, sizeof(usd)));
	return buf;
}

static const char *pct_str(int64_t bp, char *buf, size_t cap)
{
	if (bp % 100)
		snprintf(buf, cap, "%lld.%02lld%%", (long long)(bp / 100), (long long)(bp % 100));
	else
		snprintf(buf, cap, "%lld%%", (long long)(bp / 100));
	return buf;
}

static void print_budgets(const struct policy *p, int team, struct budget_set *b,
			  const char *why)
{
	const struct policy_team *t = &p->teams[team];
	char win[48], lim[48], sp[48], pc[24], used[24];
	struct budget_view v;
	size_t j, k;

	if (!t->nbudgets)
		return;
	printf("  budgets:\n");
	for (j = 0; j < t->nbudgets; j++) {
		const struct policy_budget *pb = &t->budgets[j];
		int tokens = pb->limit_tokens >= 0;

		printf("    %-12s limit %s  action %s", policy_window_name(pb, win, sizeof(win)),
		       amount_str(tokens, tokens ? pb->limit_tokens : pb->limit_nusd, lim,
				  sizeof(lim)), policy_action_name(pb->action));
		if (pb->strict)
			printf("  strict");
		for (k = 0; k < pb->nalert; k++)
			printf("%s%s", k ? "," : "  alert_at ", pct_str(pb->alert_at_bp[k], pc,
									sizeof(pc)));
		if (b && !budget_view(b, team, (int)j, now_wall(), &v)) {
			snprintf(used, sizeof(used), "%.1f%%",
				 v.limit ? (double)v.spent * 100 / (double)v.limit : 0.0);
			printf("\n%17sspent %s (%s)", "", amount_str(tokens, v.spent, sp, sizeof(sp)),
			       used);
		} else {
			printf("\n%17sspent unknown (%s)", "", why);
		}
		printf("\n");
	}
}

static void print_rules(const struct policy_team *t)
{
	char buf[512];
	size_t i;

	if (t->rate.requests_per_minute || t->rate.tokens_per_minute) {
		printf("  rate_limits:");
		if (t->rate.requests_per_minute)
			printf(" %lld requests/min", (long long)t->rate.requests_per_minute);
		if (t->rate.tokens_per_minute)
			printf(" %lld tokens/min", (long long)t->rate.tokens_per_minute);
		printf("\n");
	}
	for (i = 0; i < t->models.allow.n; i++)
		printf("  %s %s\n", i ? "              " : "models allow:",
		       escape_str(buf, sizeof(buf), t->models.allow.v[i]));
	for (i = 0; i < t->models.deny.n; i++)
		printf("  %s %s\n", i ? "             " : "models deny:",
		       escape_str(buf, sizeof(buf), t->models.deny.v[i]));
	if (t->max_tokens_cap)
		printf("  max_tokens_cap: %lld\n", (long long)t->max_tokens_cap);
	if (t->kill_scope == PK_CGROUP)
		printf("  kill_scope: cgroup\n");
}

static void print_globals(const struct policy *p)
{
	char buf[512];

	printf("  mode: %s, timezone %s, hold_timeout %llums\n",
	       p->mode == PM_MONITOR ? "monitor (no action is taken)" : "enforce",
	       p->timezone ? escape_str(buf, sizeof(buf), p->timezone) : "UTC",
	       (unsigned long long)(p->hold_timeout_ns / 1000000));
	if (p->loop_guard.identical_requests)
		printf("  loop_guard: %lld identical requests within %llus: %s\n",
		       (long long)p->loop_guard.identical_requests,
		       (unsigned long long)(p->loop_guard.within_ns / 1000000000ull),
		       policy_action_name(p->loop_guard.action));
	if (p->alerts_exec)
		printf("  alerts exec: %s\n", escape_str(buf, sizeof(buf), p->alerts_exec));
}

static void print_team(const struct policy *p, int team, const struct hits *h, int all,
		       struct budget_set *b, const char *why)
{
	const struct policy_team *t = &p->teams[team];
	size_t i, shown = all || h->n <= TEXT_PROCS_MAX ? h->n : TEXT_PROCS_MAX;

	printf("\nteam %s (line %u)\n  match:\n", t->name, t->line);
	print_match(&t->match);
	print_rules(t);
	print_budgets(p, team, b, why);
	if (!h->n && t->match.api_key.n)
		printf("  processes: none now (its api_key rules claim calls, not processes)\n");
	else if (!h->n)
		printf("  processes: none now\n");
	else
		printf("  processes: %zu\n", h->n);
	for (i = 0; i < shown; i++)
		print_hit(&h->v[i]);
	if (shown < h->n)
		printf("    ... %zu more (--all lists them)\n", h->n - shown);
}

static void print_text(const struct policy *p, const struct scan *s, int all,
		       struct budget_set *b, const char *why)
{
	char buf[512];
	size_t i;

	printf("policy %s: valid, version %d, %zu team%s\n", escape_str(buf, sizeof(buf), p->path),
	       p->version, p->nteams, p->nteams == 1 ? "" : "s");
	print_price(p);
	if (p->prices_file)
		printf("  prices: %s\n", escape_str(buf, sizeof(buf), p->prices_file));
	print_globals(p);
	for (i = 0; i < p->nteams; i++)
		print_team(p, (int)i, &s->teams[i], all, b, why);
	printf("\nsummary: %zu team%s, %zu processes:", p->nteams, p->nteams == 1 ? "" : "s",
	       s->total);
	for (i = 0; i < p->nteams; i++)
		printf(" %s %zu,", p->teams[i].name, s->teams[i].n);
	printf(" unattributed %zu\n", s->unattributed);
	if (s->no_exe)
		printf("note: %zu process%s executable could not be read%s\n", s->no_exe,
		       s->no_exe == 1 ? "'s" : "es'",
		       geteuid() ? " (run as root to read them all)" : "");
}

/* --- JSON ----------------------------------------------------------------- */

/* Strings from a file or /proc go into JSON as valid UTF-8. */
static json_object *jstr(const char *s)
{
	size_t n = strlen(s), cap = 3 * n + 1;
	json_object *o;
	char *buf;

	buf = malloc(cap);
	if (!buf)
		return NULL;
	escape_utf8(buf, cap, s, n);
	o = json_object_new_string(buf);
	free(buf);
	return o;
}

static json_object *jusd(int64_t nano)
{
	char buf[32];

	usd_str(nano, buf, sizeof(buf));
	return json_object_new_double_s((double)nano / 1e9, buf);
}

static void jstrs(json_object *o, const char *key, const struct policy_strs *s)
{
	json_object *a;
	size_t i;

	if (!s->n)
		return;
	a = json_object_new_array();
	for (i = 0; i < s->n; i++)
		json_object_array_add(a, jstr(s->v[i]));
	json_object_object_add(o, key, a);
}

static json_object *jmatch(const struct policy_match *m)
{
	json_object *o = json_object_new_object(), *a;
	size_t i;

	jstrs(o, "cgroup", &m->cgroup);
	jstrs(o, "unit", &m->unit);
	jstrs(o, "container", &m->container);
	jstrs(o, "pod", &m->pod);
	if (m->nuid) {
		a = json_object_new_array();
		for (i = 0; i < m->nuid; i++)
			json_object_array_add(a, json_object_new_int64(m->uid[i]));
		json_object_object_add(o, "uid", a);
	}
	jstrs(o, "user", &m->user);
	jstrs(o, "exe", &m->exe);
	jstrs(o, "api_key", &m->api_key);
	if (m->any)
		json_object_object_add(o, "any", json_object_new_boolean(1));
	return o;
}

static json_object *jhit(const struct hit *h)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "pid", json_object_new_int(h->pid));
	json_object_object_add(o, "comm", jstr(h->comm));
	json_object_object_add(o, "key", json_object_new_string(attr_key_name(h->why.key)));
	if (h->why.glob)
		json_object_object_add(o, "glob", jstr(h->why.glob));
	if (h->why.key == ATTR_UID)
		json_object_object_add(o, "uid", json_object_new_int64(h->why.uid));
	return o;
}

static json_object *jamount(int tokens, int64_t v)
{
	return tokens ? json_object_new_int64(v) : jusd(v);
}

static json_object *jbudgets(const struct policy *p, int team, struct budget_set *b)
{
	const struct policy_team *t = &p->teams[team];
	json_object *a = json_object_new_array(), *o, *th;
	struct budget_view v;
	char win[48], pc[24];
	size_t j, k;

	for (j = 0; j < t->nbudgets; j++) {
		const struct policy_budget *pb = &t->budgets[j];
		int tokens = pb->limit_tokens >= 0;

		o = json_object_new_object();
		json_object_object_add(o, "window", json_object_new_string(
			policy_window_name(pb, win, sizeof(win))));
		json_object_object_add(o, tokens ? "limit_tokens" : "limit_usd",
				       jamount(tokens, tokens ? pb->limit_tokens : pb->limit_nusd));
		json_object_object_add(o, "action",
				       json_object_new_string(policy_action_name(pb->action)));
		json_object_object_add(o, "strict", json_object_new_boolean(pb->strict));
		th = json_object_new_array();
		for (k = 0; k < pb->nalert; k++)
			json_object_array_add(th, json_object_new_string(
				pct_str(pb->alert_at_bp[k], pc, sizeof(pc))));
		json_object_object_add(o, "alert_at", th);
		if (b && !budget_view(b, team, (int)j, now_wall(), &v)) {
			json_object_object_add(o, tokens ? "spent_tokens" : "spent_usd",
					       jamount(tokens, v.spent));
			json_object_object_add(o, "window_start", json_object_new_int64(v.window_start));
			json_object_object_add(o, "window_end", json_object_new_int64(v.window_end));
		} else {
			json_object_object_add(o, tokens ? "spent_tokens" : "spent_usd", NULL);
		}
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *jteam(const struct policy *p, int team, const struct hits *h,
			  struct budget_set *b)
{
	const struct policy_team *t = &p->teams[team];
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	size_t i;

	json_object_object_add(o, "name", jstr(t->name));
	json_object_object_add(o, "line", json_object_new_int64(t->line));
	json_object_object_add(o, "match", jmatch(&t->match));
	json_object_object_add(o, "budgets", jbudgets(p, team, b));
	if (t->rate.requests_per_minute)
		json_object_object_add(o, "requests_per_minute",
				       json_object_new_int64(t->rate.requests_per_minute));
	if (t->rate.tokens_per_minute)
		json_object_object_add(o, "tokens_per_minute",
				       json_object_new_int64(t->rate.tokens_per_minute));
	jstrs(o, "models_allow", &t->models.allow);
	jstrs(o, "models_deny", &t->models.deny);
	if (t->max_tokens_cap)
		json_object_object_add(o, "max_tokens_cap", json_object_new_int64(t->max_tokens_cap));
	for (i = 0; i < h->n; i++)
		json_object_array_add(a, jhit(&h->v[i]));
	json_object_object_add(o, "processes", a);
	return o;
}

static json_object *jprice(const struct policy *p)
{
	const struct price_rates *r = &p->default_price.base;
	json_object *o;

	if (!p->has_default_price)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "input_per_mtok", jusd(r->input));
	json_object_object_add(o, "output_per_mtok", jusd(r->output));
	if (r->cached_input >= 0)
		json_object_object_add(o, "cached_input_per_mtok", jusd(r->cached_input));
	if (r->cache_write >= 0)
		json_object_object_add(o, "cache_write_per_mtok", jusd(r->cache_write));
	return o;
}

static json_object *jsummary(const struct policy *p, const struct scan *s)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "teams", json_object_new_int64(p->nteams));
	json_object_object_add(o, "processes", json_object_new_int64(s->total));
	json_object_object_add(o, "attributed", json_object_new_int64(s->total - s->unattributed));
	json_object_object_add(o, "unattributed", json_object_new_int64(s->unattributed));
	json_object_object_add(o, "exe_unreadable", json_object_new_int64(s->no_exe));
	return o;
}

static int print_json(json_object *o)
{
	int err = printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					JSON_C_TO_STRING_NOSLASHESCAPE)) < 0 ? -EIO : 0;

	json_object_put(o);
	return err;
}

static int json_valid(const struct policy *p, const struct scan *s, struct budget_set *b)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	size_t i;

	json_object_object_add(o, "file", jstr(p->path));
	json_object_object_add(o, "valid", json_object_new_boolean(1));
	json_object_object_add(o, "version", json_object_new_int(p->version));
	json_object_object_add(o, "default_price", jprice(p));
	json_object_object_add(o, "prices", p->prices_file ? jstr(p->prices_file) : NULL);
	json_object_object_add(o, "mode", json_object_new_string(p->mode == PM_MONITOR ?
								  "monitor" : "enforce"));
	json_object_object_add(o, "timezone", json_object_new_string(p->timezone ? p->timezone
									       : "UTC"));
	for (i = 0; i < p->nteams; i++)
		json_object_array_add(a, jteam(p, (int)i, &s->teams[i], b));
	json_object_object_add(o, "teams", a);
	json_object_object_add(o, "summary", jsummary(p, s));
	return print_json(o);
}

static int json_invalid(const char *file, const char *err)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "file", jstr(file));
	json_object_object_add(o, "valid", json_object_new_boolean(0));
	json_object_object_add(o, "error", jstr(err));
	return print_json(o);
}

/* --- the command ------------------------------------------------------------ */

static int do_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",	no_argument, NULL, 'j' },
		{ "all",	no_argument, NULL, 'a' },
		{ "db",		required_argument, NULL, 'd' },
		{ "help",	no_argument, NULL, 'h' },
		{}
	};
	const char *db_path = LEDGER_DEFAULT_PATH;
	int json = 0, all = 0, c, err;
	struct budget_set *b = NULL;
	struct policy *p = NULL;
	char msg[1024], why[512];
	struct scan s;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jad:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db_path = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'a':
			all = 1;
			break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			check_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "tollgate policy check: %s\n",
			optind < argc ? "one FILE only" : "which FILE?");
		check_usage(stderr);
		return 2;
	}
	err = policy_load(argv[optind], &p, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "%s\n", msg);
		if (json)
			json_invalid(argv[optind], msg);
		return 1;
	}
	b = budgets_now(p, db_path, why, sizeof(why));
	err = scan_procs(&s, p);
	if (err) {
		fprintf(stderr, "tollgate policy check: reading /proc: %s\n", strerror(-err));
	} else if (json) {
		err = json_valid(p, &s, b);
	} else {
		print_text(p, &s, all, b, why);
		err = fflush(stdout) ? -EIO : 0;
	}
	scan_free(&s);
	budget_free(b);
	policy_free(p);
	return err ? 1 : 0;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} policy_cmds[] = {
	{ "check", do_check },
};

int cmd_policy(int argc, char **argv)
{
	static char prog[64];
	size_t i;

	if (argc < 2) {
		policy_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		policy_usage(stdout);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(policy_cmds); i++) {
		if (strcmp(argv[1], policy_cmds[i].name))
			continue;
		/* getopt's messages name the command as it was typed */
		snprintf(prog, sizeof(prog), "tollgate policy %s", policy_cmds[i].name);
		argv[1] = prog;
		return policy_cmds[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "tollgate policy: unknown command '%s'\n", argv[1]);
	policy_usage(stderr);
	return 2;
}
