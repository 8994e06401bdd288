/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * What the YAML loaders (policies, prices) share: errors as
 * "FILE:LINE:COL: message", and the YAML features neither accepts.
 */
#ifndef TOLLGATE_YAMLERR_H
#define TOLLGATE_YAMLERR_H

#include <stddef.h>
#include <yaml.h>

/*
 * Writes "FILE:LINE:COL: " and the message into err (errlen bytes; none
 * if 0), the file name escaped.  Returns -EBADMSG, for `return
 * yaml_error(...)`.  line and col are 1-based.
 */
__attribute__((format(printf, 6, 7)))
int yaml_error(const char *file, char *err, size_t errlen, size_t line, size_t col,
	       const char *fmt, ...);

/* At a libyaml mark (0-based). */
#define yaml_error_mark(file, err, errlen, m, ...) \
	yaml_error(file, err, errlen, (m)->line + 1, (m)->column + 1, __VA_ARGS__)

/*
 * "aliases", "anchors" or "tags" when the event uses one of them (no
 * loader takes them: aliases are how a small file expands without bound),
 * else NULL.
 */
const char *yaml_refused(const yaml_event_t *ev);

#endif
