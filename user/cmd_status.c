// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * `tollgate status`: the running agent's health, asked over its control
 * socket (root only): uptime, policy, ledger, metrics, the kernel
 * features it uses, probes, the counters that say what it may be missing,
 * each team's spend today and budgets, and the requests it holds.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "control.h"
#include "report.h"

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
"usage: %s [--socket PATH] [--json]\n"
"\n"
"Asks the running agent ('tollgate run') for its health: uptime, policy,\n"
"ledger, metrics address, the kernel features it uses, probes, counters,\n"
"each team's spend today and the state of its budgets, and the requests\n"
"it holds now.  Needs root.  Exit status 0 when the agent answered, 1 when\n"
"none answers, 2 on misuse.\n"
"\n"
"  -s, --socket PATH   the agent's socket (default " CONTROL_DEFAULT_PATH ")\n"
"  -j, --json          the agent's answer as one JSON object\n"
"  -h, --help          this text\n", prog);
}

static int64_t geti(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static const char *gets_(struct json_object *o, const char *k, const char *dflt)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : dflt;
}

static struct json_object *get(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static const char *span(char *buf, size_t cap, int64_t ns)
{
	int64_t s = ns / 1000000000;

	if (s >= 86400)
		snprintf(buf, cap, "%lldd %02lldh %02lldm", (long long)(s / 86400),
			 (long long)(s % 86400 / 3600), (long long)(s % 3600 / 60));
	else if (s >= 3600)
		snprintf(buf, cap, "%lldh %02lldm %02llds", (long long)(s / 3600),
			 (long long)(s % 3600 / 60), (long long)(s % 60));
	else if (s >= 60)
		snprintf(buf, cap, "%lldm %02llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(buf, cap, "%.1fs", (double)ns / 1e9);
	return buf;
}

static void list(const char *label, struct json_object *arr)
{
	size_t i, n = arr ? json_object_array_length(arr) : 0;

	printf("%s", label);
	for (i = 0; i < n; i++)
		printf("%s%s", i ? ", " : "", json_object_get_string(json_object_array_get_idx(arr, i)));
	printf("%s\n", n ? "" : "none");
}

static const char *amount(char *buf, size_t cap, int64_t v, int tokens)
{
	char m[64];

	if (tokens)
		snprintf(buf, cap, "%lld tok", (long long)v);
	else
		snprintf(buf, cap, "$%s", report_money(m, sizeof(m), v, 1));
	return buf;
}

static void print_teams(struct json_object *teams)
{
	size_t i, j, n = teams ? json_object_array_length(teams) : 0, nb;
	struct json_object *t, *bs, *b;
	char a[64], c[64], d[64];

	if (!n) {
		printf("\nno teams (the policy names none)\n");
		return;
	}
	printf("\n%-20s %8s %14s  %-10s %16s %16s %6s  %-8s %s\n", "TEAM", "CALLS", "TODAY",
	       "BUDGET", "SPENT", "LIMIT", "USED", "ACTION", "STATE");
	for (i = 0; i < n; i++) {
		t = json_object_array_get_idx(teams, i);
		bs = get(t, "budgets");
		nb = bs ? json_object_array_length(bs) : 0;
		printf("%-20s %8lld %14s", gets_(t, "name", "?"), (long long)geti(t, "requests_today"),
		       amount(a, sizeof(a), geti(t, "spend_today_nano"), 0));
		if (!nb)
			printf("  %-10s\n", "-");
		for (j = 0; j < nb; j++) {
			int tok;
			int64_t spent, limit;

			b = json_object_array_get_idx(bs, j);
			tok = !strcmp(gets_(b, "unit", ""), "tokens");
			spent = geti(b, "spent");
			limit = geti(b, "limit");
			if (j)
				printf("%-20s %8s %14s", "", "", "");
			printf("  %-10s %16s %16s %5lld%%  %-8s %s\n", gets_(b, "window", "?"),
			       amount(c, sizeof(c), spent, tok), amount(d, sizeof(d), limit, tok),
			       limit > 0 ? (long long)((__int128)spent * 100 / limit) : 0LL,
			       gets_(b, "action", "?"), gets_(b, "state", "?"));
		}
	}
}

static void print_held(struct json_object *held)
{
	size_t i, n = held ? json_object_array_length(held) : 0;
	struct json_object *h;
	char s[32];

	if (!n) {
		printf("\nno request held\n");
		return;
	}
	printf("\n%-8s %-16s %-20s %-24s %-10s %s\n", "PID", "COMM", "TEAM", "MODEL", "STATE",
	       "HELD");
	for (i = 0; i < n; i++) {
		h = json_object_array_get_idx(held, i);
		printf("%-8lld %-16s %-20s %-24s %-10s %s\n", (long long)geti(h, "pid"),
		       gets_(h, "comm", "?"), gets_(h, "team", "-"), gets_(h, "model", "-"),
		       gets_(h, "state", "?"), span(s, sizeof(s), geti(h, "held_ns")));
	}
}

static void print_status(struct json_object *o)
{
	struct json_object *k = get(o, "kernel"), *c = get(o, "counters");
	struct json_object *pr = c ? get(c, "probes") : NULL, *kc = c ? get(c, "counters") : NULL;
	struct json_object *ag = c ? get(c, "agent") : NULL, *un = c ? get(c, "unmetered") : NULL;
	struct json_object *en = c ? get(c, "enforce") : NULL;
	char up[32];

	printf("tollgate %s, pid %lld, up %s, %s\n", gets_(o, "version", "?"),
	       (long long)geti(o, "pid"), span(up, sizeof(up), geti(o, "uptime_ns")),
	       gets_(o, "mode", "?"));
	printf("policy   %s\n", gets_(o, "policy", "none"));
	printf("ledger   %s\n", gets_(o, "ledger", "none"));
	printf("metrics  %s\n", gets_(o, "metrics", "none"));
	printf("kernel   %s\n", k ? gets_(k, "kernel", "?") : "?");
	list("  uses     ", k ? get(k, "found") : NULL);
	list("  missing  ", k ? get(k, "missing") : NULL);
	if (pr)
		printf("probes   %lld files, %lld links, %lld found by discovery, %lld not "
		       "located, %lld failures, %lld disabled\n",
		       (long long)geti(pr, "targets"), (long long)geti(pr, "links"),
		       (long long)geti(pr, "discovered"), (long long)geti(pr, "discover_failed"),
		       (long long)geti(pr, "failures"), (long long)geti(pr, "disabled"));
	if (ag && kc)
		printf("calls    %lld metered (%lld at the default price, %lld with no team); "
		       "%lld capture gaps, %lld ring-buffer drops\n",
		       (long long)geti(ag, "records"), (long long)geti(ag, "unpriced"),
		       (long long)geti(ag, "unattributed"), (long long)geti(kc, "gaps"),
		       (long long)geti(kc, "ringbuf_drops"));
	if (un)
		printf("unseen   processes tollgate cannot meter: %lld GnuTLS, %lld NSS, %lld Go, "
		       "%lld BoringSSL, %lld rustls\n",
		       (long long)geti(un, "gnutls_procs"), (long long)geti(un, "nss_procs"),
		       (long long)geti(un, "go_procs"), (long long)geti(un, "boringssl_procs"),
		       (long long)geti(un, "rustls_procs"));
	if (en)
		printf("enforce  %lld held now, %lld released, %lld blocked (%lld could not be), "
		       "%lld killed, %lld throttled\n",
		       (long long)geti(en, "held_now"), (long long)geti(en, "released"),
		       (long long)geti(en, "blocked"), (long long)geti(en, "block_failures"),
		       (long long)geti(en, "killed"), (long long)geti(en, "throttled"));
	print_teams(get(o, "teams"));
	print_held(get(o, "held"));
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = CONTROL_DEFAULT_PATH;
	struct json_object *o;
	char err[512], *doc;
	int json = 0, c, rc;

	while ((c = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'j': json = 1; break;
		case 'h': usage(stdout, argv[0]); return 0;
		default: usage(stderr, argv[0]); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		return 2;
	}
	rc = control_ask(path, "status", 5000, &doc, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "%s: no agent answers: %s%s\n", argv[0], err,
			rc == -EACCES || rc == -EPERM ? " (it answers root only)" : "");
		return 1;
	}
	o = json_tokener_parse(doc);
	if (!o || !json_object_is_type(o, json_type_object) || get(o, "error")) {
		fprintf(stderr, "%s: %s: not an answer tollgate understands\n", argv[0], path);
		json_object_put(o);
		free(doc);
		return 1;
	}
	if (json)
		fputs(doc, stdout);
	else
		print_status(o);
	json_object_put(o);
	free(doc);
	return 0;
}
