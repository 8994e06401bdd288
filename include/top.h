/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * `tollgate top` (user/cmd_top.c): a live view of the ledger in the spirit
 * of top(1) -- the agent's state, spend rates, the teams and models that
 * spend most, and the latest calls -- refreshed every --interval seconds.
 * It reads the ledger read-only (a WAL reader never blocks the agent), and
 * the agent's metrics endpoint for capture health and, when it exposes
 * them, the budgets (nearest their limit first), the gate and the actions.
 * `--once` prints one plain frame, no escape sequences, for scripts.
 */
#ifndef TOLLGATE_TOP_H
#define TOLLGATE_TOP_H

int cmd_top(int argc, char **argv);

#endif
