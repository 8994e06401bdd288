/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
#ifndef TOLLGATE_TRACE_H
#define TOLLGATE_TRACE_H

#include <stddef.h>
#include <stdint.h>

enum trace_format { TRACE_TEXT, TRACE_JSONL };

struct trace_opts {
	enum trace_format format;
	char **globs;			/* cgroup scope; none = every process */
	size_t nglobs;
	uint64_t call_cap;
	uint64_t ringbuf_bytes;
	uint64_t max_buffer;		/* bound on what connections buffer */
	uint64_t idle_ns;		/* connection idle expiry; 0: default */
	const char *ready_file;		/* created once probes are in place */
};

/* Parses trace options (argv[0] names the command in messages).  0 to go
 * on, 1 after --help, -EINVAL on misuse. */
int trace_parse(int argc, char **argv, struct trace_opts *o);
int trace_loop(const struct trace_opts *o);

int cmd_trace(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

#endif
