// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* `tollgate trace`: every LLM call, metered and priced, live on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include "agent.h"
#include "callfmt.h"
#include "trace.h"

static void trace_usage(FILE *f)
{
	fprintf(f,
"usage: tollgate trace [--format text|jsonl] [--policy FILE] [--prices FILE]\n"
"                      [--cgroup GLOB]... [--call-cap BYTES] [--ringbuf BYTES]\n"
"                      [--max-buffer BYTES] [--conn-idle SECONDS] [--verbose]\n"
"\n"
"Shows every LLM API call made on this host through OpenSSL, GnuTLS or Go's\n"
"crypto/tls, over HTTP/1.1 or HTTP/2, live, one line per call: who made it, its\n"
"team, model, tokens and cost. No enforcement, nothing stored. Needs root and a\n"
"kernel with BTF.\n"
"\n"
"  -f, --format FMT      text (default) or jsonl (one JSON object per call)\n"
"  -p, --policy FILE     teams (and default price) from this policy\n"
"      --prices FILE     price table (default: the policy's, else the shipped one)\n"
"  -c, --cgroup GLOB     only processes in matching cgroup v2 paths (or below);\n"
"                        repeatable. Probes attach to those processes only.\n"
"      --call-cap N      bytes copied per SSL call (default 1M; K/M/G suffixes)\n"
"      --ringbuf N       ring buffer size, a power of two (default 16M)\n"
"      --max-buffer N    bytes buffered for all connections together: request\n"
"                        bodies, decoders, events (default 256M); beyond it\n"
"                        buffers are shed and their calls flagged, still metered\n"
"      --conn-idle SECS  end a connection silent this long (default 300)\n"
"  -v, --verbose         debug messages on stderr\n"
"  -h, --help            this text\n"
"\n"
"Text lines read: time pid comm cgroup team provider method host+path model\n"
"[stream] status in=N[+Nc][+Nw] out=N[(Nr)][~] $cost req= resp= ttft= dur= [flags]\n"
"(c: cached input, w: cache writes, r: reasoning, ~: estimated by tollgate).\n"
"SIGUSR1 prints the counters on stderr; SIGINT or SIGTERM stops.\n");
}

struct printer {
	struct line_out out;
	enum agent_format format;
};

static int print_call(void *ctx, const struct tg_call *c)
{
	struct printer *p = ctx;
	char line[8192];
	char *js;
	int rc;

	if (p->format == AGENT_TEXT)
		return line_out_put(&p->out, call_text(c, line, sizeof(line)));
	js = call_json(c);
	if (!js)
		return 0;
	rc = line_out_put(&p->out, js);
	free(js);
	return rc;
}

static int check_out(void *ctx)
{
	struct printer *p = ctx;

	return line_out_check(&p->out);
}

int cmd_trace(int argc, char **argv)
{
	struct agent_cli cli;
	struct printer pr = { .out = { .f = stdout, .name = "standard output" } };
	struct agent_sink sink = { .on_call = print_call, .on_tick = check_out, .ctx = &pr };
	int err = agent_cli_parse(argc, argv, &cli, 0, trace_usage);

	if (err)
		return err > 0 ? 0 : 2;
	if (agent_cli_load(&cli)) {
		agent_cli_free(&cli);
		return 2;
	}
	pr.format = cli.format;
	err = agent_run(&cli.o, &sink);
	agent_cli_free(&cli);
	return err;
}
