// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Policy files.  At this stage: YAML well-formedness, with errors that
 * name file, line and column.  The schema (DESIGN §7) builds on this.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>
#include "policy.h"

int policy_check_yaml(const char *path, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	FILE *f;
	int rc = 0, done = 0;

	f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			snprintf(err, errlen, "%s:%zu:%zu: %s%s%s", path,
				 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				 parser.problem ? parser.problem : "invalid YAML",
				 parser.context ? " " : "", parser.context ? parser.context : "");
			rc = -EBADMSG;
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	fclose(f);
	return rc;
}
