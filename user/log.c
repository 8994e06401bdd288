// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include "log.h"

static enum log_level cur_level = LOG_INFO;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level lvl)
{
	cur_level = lvl;
}

enum log_level log_get_level(void)
{
	return cur_level;
}

static void vlog(enum log_level lvl, const char *fmt, va_list ap)
{
	if (lvl > cur_level)
		return;
	fprintf(stderr, "tollgate: %s: ", level_names[lvl]);
	vfprintf(stderr, fmt, ap);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(lvl, fmt, ap);
	va_end(ap);
	if (lvl <= cur_level && fmt[0] && fmt[__builtin_strlen(fmt) - 1] != '\n')
		fputc('\n', stderr);
}
