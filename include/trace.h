/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/* The agent's front-ends (DESIGN §9). */
#ifndef TOLLGATE_TRACE_H
#define TOLLGATE_TRACE_H

int cmd_trace(int argc, char **argv);
int cmd_run(int argc, char **argv);

#endif
