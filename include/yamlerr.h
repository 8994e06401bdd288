/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* Errors of the YAML loaders (policies, prices): "FILE:LINE:COL: message". */
#ifndef TOLLGATE_YAMLERR_H
#define TOLLGATE_YAMLERR_H

#include <stddef.h>

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

#endif
