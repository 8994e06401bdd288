// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * `tollgate run`: the agent.  Meters exactly as `trace` does, under a
 * policy (teams, default price); with --events, one §9 JSON line per call
 * goes to the events file (0600, appended, flushed a line at a time),
 * otherwise the text line goes to standard output.  The ledger and
 * enforcement plug in here as sinks (DESIGN §8, §7).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "agent.h"
#include "callfmt.h"
#include "control.h"
#include "ledger.h"
#include "log.h"
#include "metrics.h"
#include "trace.h"

#define DEFAULT_POLICY "/etc/tollgate/policy.yaml"
/* Whom the agent holds, when there is no ledger to keep it beside. */
#define HELD_DIR "/run/tollgate"
#define HELD_PATH HELD_DIR "/held"

static void run_usage(FILE *f)
{
	fprintf(f,
"usage: tollgate run [--policy FILE] [--db FILE|off] [--metrics ADDR|off]\n"
"                    [--socket PATH|off] [--events FILE] [--prices FILE] [--dry-run]\n"
"                    [--cgroup GLOB]... [--call-cap BYTES] [--ringbuf BYTES]\n"
"                    [--max-buffer BYTES] [--conn-idle SECONDS] [--verbose]\n"
"\n"
"Runs the agent in the foreground: loads the policy, meters every LLM call\n"
"(tokens, cost, team) and prints one line per call, or writes it to the\n"
"events file; keeps each team's budgets and enforces them (alert, throttle,\n"
"block, kill). Needs root and a kernel with BTF.\n"
"\n"
"  -p, --policy FILE     policy (default " DEFAULT_POLICY ")\n"
"      --metrics ADDR    Prometheus metrics on http://ADDR/metrics (default\n"
"                        127.0.0.1:9464; off: none)\n"
"      --db FILE         the ledger: one row per call, SQLite (default\n"
"                        " LEDGER_DEFAULT_PATH ", mode 0600; off: none)\n"
"      --socket PATH     answer 'tollgate status' on this Unix socket, root\n"
"                        only (default " CONTROL_DEFAULT_PATH "; off: none)\n"
"  -e, --events FILE     append one JSON object per call, alert and action\n"
"                        to FILE (mode 0600)\n"
"      --dry-run         take no action: report what the policy would do\n"
"                        (as its mode: monitor)\n"
"      --prices FILE     price table (default: the policy's, else the shipped one)\n"
"  -c, --cgroup GLOB     only processes in matching cgroups (repeatable)\n"
"      --call-cap N      bytes copied per SSL call (default 1M)\n"
"      --ringbuf N       ring buffer size, a power of two (default 16M)\n"
"      --max-buffer N    bytes buffered for all connections (default 256M)\n"
"      --conn-idle SECS  end a connection silent this long (default 300)\n"
"  -v, --verbose         debug messages on stderr\n"
"  -h, --help            this text\n"
"\n"
"SIGHUP reloads the policy (an invalid one is refused, the old one stays);\n"
"SIGUSR1 prints the counters on stderr; SIGINT or SIGTERM stops.\n");
}

struct run_sink {
	struct line_out out;
	int json;
};

static int run_call(void *ctx, const struct tg_call *c)
{
	struct run_sink *s = ctx;
	char line[8192];
	char *js;
	int rc;

	if (!s->json)
		return line_out_put(&s->out, call_text(c, line, sizeof(line)));
	js = call_json(c);
	if (!js) {
		log_error("events: out of memory, a record was not written");
		return 0;
	}
	rc = line_out_put(&s->out, js);
	free(js);
	return rc;
}

static int run_event(void *ctx, const char *json, const char *text)
{
	struct run_sink *s = ctx;

	if (!s->json)
		return text ? line_out_put(&s->out, text) : 0;
	return line_out_put(&s->out, json);
}

static int run_tick(void *ctx)
{
	struct run_sink *s = ctx;

	return s->json ? 0 : line_out_check(&s->out);
}

/* The events file: created 0600, appended, never a symlink's target. */
static FILE *events_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	FILE *f;

	if (fd < 0) {
		log_error("events: %s: %s", path, strerror(errno));
		return NULL;
	}
	/* An existing file keeps its owner but not a laxer mode. */
	if (fchmod(fd, 0600))
		log_error("events: %s: chmod: %s", path, strerror(errno));
	f = fdopen(fd, "a");
	if (!f)
		close(fd);
	return f;
}

int cmd_run(int argc, char **argv)
{
	struct agent_cli cli;
	struct run_sink rs = { .out = { .f = stdout, .name = "standard output" } };
	struct agent_sink sink = { .on_call = run_call, .on_tick = run_tick,
				   .on_event = run_event, .ctx = &rs };
	char held[4200], maddr[300];
	const char *addr, *colon;
	char err[512];
	int rc = agent_cli_parse(argc, argv, &cli, AGENT_CLI_RUN, run_usage);

	if (rc)
		return rc > 0 ? 0 : 2;
	if (!cli.policy_path)
		cli.policy_path = DEFAULT_POLICY;
	if (agent_cli_load(&cli)) {
		agent_cli_free(&cli);
		return 2;
	}
	if (!cli.metrics_addr || strcmp(cli.metrics_addr, "off")) {
		cli.o.metrics = metrics_new();
		if (!cli.o.metrics ||
		    metrics_listen(cli.o.metrics, cli.metrics_addr, err, sizeof(err))) {
			/* metrics_listen says "metrics: ..." itself */
			if (cli.o.metrics)
				log_error("%s", err);
			else
				log_error("metrics: %s", strerror(errno));
			metrics_free(cli.o.metrics);
			agent_cli_free(&cli);
			return 1;
		}
		addr = cli.metrics_addr ? cli.metrics_addr : METRICS_DEFAULT_ADDR;
		colon = strrchr(addr, ':');
		snprintf(maddr, sizeof(maddr), "%.*s:%d", colon ? (int)(colon - addr) : 0, addr,
			 metrics_port(cli.o.metrics));
		log_info("metrics on http://%s/metrics", maddr);
		cli.o.metrics_addr = maddr;
	}
	if (!cli.socket_path)
		cli.socket_path = CONTROL_DEFAULT_PATH;
	if (strcmp(cli.socket_path, "off"))
		cli.o.socket_path = cli.socket_path;
	if (!cli.db_path)
		cli.db_path = LEDGER_DEFAULT_PATH;
	if (strcmp(cli.db_path, "off")) {
		cli.o.ledger = ledger_open(cli.db_path, err, sizeof(err));
		if (!cli.o.ledger) {
			log_error("ledger: %s", err);
			metrics_free(cli.o.metrics);
			agent_cli_free(&cli);
			return 1;
		}
		log_info("ledger %s", cli.db_path);
		cli.o.ledger_path = cli.db_path;
		snprintf(held, sizeof(held), "%s.held", cli.db_path);
	} else {
		snprintf(held, sizeof(held), "%s", HELD_PATH);
		mkdir(HELD_DIR, 0700);
	}
	cli.o.enforce = 1;
	cli.o.policy_path = cli.policy_path;
	cli.o.held_path = held;
	if (cli.events_path) {
		rs.out.f = events_open(cli.events_path);
		rs.out.name = cli.events_path;
		rs.json = 1;
		if (!rs.out.f) {
			ledger_close(cli.o.ledger);
			metrics_free(cli.o.metrics);
			agent_cli_free(&cli);
			return 1;
		}
	}
	rc = agent_run(&cli.o, &sink);
	if (cli.events_path)
		fclose(rs.out.f);
	ledger_close(cli.o.ledger);
	metrics_free(cli.o.metrics);
	agent_cli_free(&cli);
	return rc;
}
