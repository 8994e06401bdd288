/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* A metered call as a text line or as a §9 JSON line. */
#ifndef TOLLGATE_CALLFMT_H
#define TOLLGATE_CALLFMT_H

#include <stddef.h>
#include "agent.h"

/* One line, no newline; buf is always terminated.  Returns buf. */
const char *call_text(const struct tg_call *c, char *buf, size_t cap);
/* One JSON object, no newline, with every §9 field; malloc'd (NULL on ENOMEM). */
char *call_json(const struct tg_call *c);

#endif
