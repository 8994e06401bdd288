// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Errors of the YAML loaders, one form for all (see include/yamlerr.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include "escape.h"
#include "yamlerr.h"

int yaml_error(const char *file, char *err, size_t errlen, size_t line, size_t col,
	       const char *fmt, ...)
{
	char name[256];
	va_list ap;
	int n;

	if (!errlen)
		return -EBADMSG;
	escape_str(name, sizeof(name), file);
	n = snprintf(err, errlen, "%s:%zu:%zu: ", name, line, col);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

const char *yaml_refused(const yaml_event_t *ev)
{
	const yaml_char_t *anchor, *tag;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return "aliases";
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		return NULL;
	}
	return anchor ? "anchors" : tag ? "tags" : NULL;
}
