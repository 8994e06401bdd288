// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* tollgate: one binary, a table of subcommands (DESIGN §9). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "attach.h"
#include "control.h"
#include "log.h"
#include "policy.h"
#include "pricing.h"
#include "report.h"
#include "tokenizer.h"
#include "top.h"
#include "trace.h"
#include "version.h"

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

static const struct cmd cmds[] = {
	{ "run",	cmd_run,	"run the agent in the foreground" },
	{ "trace",	cmd_trace,	"show LLM calls live, no enforcement" },
	{ "policy",	cmd_policy,	"check a policy and show whom its teams match" },
	{ "prices",	cmd_prices,	"the price table, one model's price, or import one" },
	{ "report",	cmd_report,	"spend and usage from the ledger, by team, model, ..." },
	{ "top",	cmd_top,	"live spend by team and model, from the ledger" },
	{ "tokenize",	cmd_tokenize,	"token ids (or count) of standard input" },
	{ "probes",	cmd_probes,	"which TLS each process carries and how it is probed" },
	{ "status",	cmd_status,	"the running agent's health, budgets and held requests" },
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
