// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tollgate policy check [--json] [--all] FILE             (DESIGN §9)
 *
 * Loads a policy and says what is wrong with it (FILE:LINE:COL), or what
 * it would do now: each team, its rules, and the running processes it
 * claims, each attributed to the first team that matches as the agent
 * does.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "attribution.h"
#include "escape.h"
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
"usage: tollgate policy check [--json] [--all] FILE\n"
"\n"
"Loads a policy. When it is wrong, prints FILE:LINE:COLUMN: why, and exits 1.\n"
"Otherwise prints each team with its match rules and the running processes it\n"
"claims now (each process goes to the first team that matches, as in the\n"
"agent), then a summary. Reading other users' executables needs root.\n"
"\n"
"  -j, --json   machine-readable output\n"
"  -a, --all    list every process (otherwise at most %d a team)\n"
"  -h, --help   this text\n", TEXT_PROCS_MAX);
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

static void print_team(const struct policy_team *t, const struct hits *h, int all)
{
	size_t i, shown = all || h->n <= TEXT_PROCS_MAX ? h->n : TEXT_PROCS_MAX;

	printf("\nteam %s (line %u)\n  match:\n", t->name, t->line);
	print_match(&t->match);
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

static void print_text(const struct policy *p, const struct scan *s, int all)
{
	char buf[512];
	size_t i;

	printf("policy %s: valid, version %d, %zu team%s\n", escape_str(buf, sizeof(buf), p->path),
	       p->version, p->nteams, p->nteams == 1 ? "" : "s");
	print_price(p);
	if (p->prices_file)
		printf("  prices: %s\n", escape_str(buf, sizeof(buf), p->prices_file));
	for (i = 0; i < p->nteams; i++)
		print_team(&p->teams[i], &s->teams[i], all);
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

static json_object *jteam(const struct policy_team *t, const struct hits *h)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	size_t i;

	json_object_object_add(o, "name", jstr(t->name));
	json_object_object_add(o, "line", json_object_new_int64(t->line));
	json_object_object_add(o, "match", jmatch(&t->match));
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

static int json_valid(const struct policy *p, const struct scan *s)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	size_t i;

	json_object_object_add(o, "file", jstr(p->path));
	json_object_object_add(o, "valid", json_object_new_boolean(1));
	json_object_object_add(o, "version", json_object_new_int(p->version));
	json_object_object_add(o, "default_price", jprice(p));
	json_object_object_add(o, "prices", p->prices_file ? jstr(p->prices_file) : NULL);
	for (i = 0; i < p->nteams; i++)
		json_object_array_add(a, jteam(&p->teams[i], &s->teams[i]));
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
		{ "help",	no_argument, NULL, 'h' },
		{}
	};
	int json = 0, all = 0, c, err;
	struct policy *p = NULL;
	struct scan s;
	char msg[1024];

	optind = 1;
	while ((c = getopt_long(argc, argv, "jah", longopts, NULL)) != -1) {
		switch (c) {
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
	err = scan_procs(&s, p);
	if (err) {
		fprintf(stderr, "tollgate policy check: reading /proc: %s\n", strerror(-err));
	} else if (json) {
		err = json_valid(p, &s);
	} else {
		print_text(p, &s, all);
		err = fflush(stdout) ? -EIO : 0;
	}
	scan_free(&s);
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
