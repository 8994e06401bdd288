// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* tollgate: one binary, a table of subcommands (DESIGN §9). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "log.h"
#include "policy.h"
#include "trace.h"

#define TOLLGATE_VERSION "0.1.0"

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static int cmd_help(int argc, char **argv);

static int cmd_version(int argc, char **argv)
{
	printf("tollgate %s\n", TOLLGATE_VERSION);
	return 0;
}

static void run_usage(FILE *f)
{
	fprintf(f,
"usage: tollgate run [--policy FILE] [--cgroup GLOB]... [--verbose]\n"
"\n"
"Runs the agent in the foreground: loads the policy, captures every LLM call\n"
"and prints one line per call. Needs root and a kernel with BTF.\n"
"\n"
"  -p, --policy FILE   policy (default /etc/tollgate/default.yaml)\n"
"  -c, --cgroup GLOB   only processes in matching cgroups (repeatable)\n"
"  -v, --verbose       debug messages on stderr\n"
"  -h, --help          this text\n");
}

int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "policy",	required_argument, NULL, 'p' },
		{ "cgroup",	required_argument, NULL, 'c' },
		{ "verbose",	no_argument,	   NULL, 'v' },
		{ "help",	no_argument,	   NULL, 'h' },
		{}
	};
	const char *policy = "/etc/tollgate/default.yaml";
	char *targv[2 * 64 + 2], err[512];
	int targc = 0, c;
	struct trace_opts o;

	targv[targc++] = argv[0];
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:c:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy = optarg;
			break;
		case 'c':
			if (targc + 2 >= (int)(sizeof(targv) / sizeof(targv[0]))) {
				fprintf(stderr, "%s: --cgroup: at most 64\n", argv[0]);
				return 2;
			}
			targv[targc++] = "--cgroup";
			targv[targc++] = optarg;
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'h':
			run_usage(stdout);
			return 0;
		default:
			run_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		return 2;
	}
	if (policy_check_yaml(policy, err, sizeof(err))) {
		log_error("policy: %s", err);
		return 2;
	}
	log_info("policy %s loaded", policy);
	targv[targc] = NULL;
	if (trace_parse(targc, targv, &o))
		return 2;
	return trace_loop(&o);
}

static const struct cmd cmds[] = {
	{ "run",	cmd_run,	"run the agent in the foreground" },
	{ "trace",	cmd_trace,	"show LLM calls live, no enforcement" },
	{ "tokenize",	cmd_tokenize,	"token ids (or count) of standard input" },
	{ "version",	cmd_version,	"print the version" },
	{ "help",	cmd_help,	"this text" },
};

static int cmd_help(int argc, char **argv)
{
	size_t i;

	printf("usage: tollgate COMMAND [OPTIONS]\n\n"
	       "Meters and governs spending on LLM APIs on this host.\n\n"
	       "Commands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		printf("  %-10s %s\n", cmds[i].name, cmds[i].summary);
	printf("\n'tollgate COMMAND --help' for a command's options.\n");
	return 0;
}

int main(int argc, char **argv)
{
	static char prog[64];
	size_t i;

	if (argc < 2) {
		cmd_help(0, NULL);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(0, NULL);
	if (!strcmp(argv[1], "--version"))
		return cmd_version(0, NULL);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		/* getopt and our messages name the command as it was typed */
		snprintf(prog, sizeof(prog), "tollgate %s", cmds[i].name);
		argv[1] = prog;
		return cmds[i].fn(argc - 1, argv + 1);
	}
	log_error("unknown command '%s' (see 'tollgate help')", argv[1]);
	return 2;
}
