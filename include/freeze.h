/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * A process held still for a moment: while the agent locates the TLS built
 * into an executable it has just seen exec, so that no call is made before
 * the probes are in place.  Every thread is seized and interrupted with
 * ptrace: a ptrace-stop, which neither the process's parent (wait(2),
 * job control) nor the process itself sees, unlike SIGSTOP.
 */
#ifndef TOLLGATE_FREEZE_H
#define TOLLGATE_FREEZE_H

#include <stddef.h>
#include <sys/types.h>

#define FREEZE_MAX_THREADS	256

struct freeze {
	pid_t pid;
	pid_t tids[FREEZE_MAX_THREADS];
	int stopped[FREEZE_MAX_THREADS];	/* its stop was seen (status saved) */
	int status[FREEZE_MAX_THREADS];
	size_t n;
};

/*
 * Holds every thread of pid (its threads cannot multiply while all are
 * stopped: /proc/PID/task is read until no new one appears).  Returns the
 * threads held, or -errno: -EPERM when it is traced already (a debugger),
 * -E2BIG with more than FREEZE_MAX_THREADS (none held then).
 */
int freeze__begin(struct freeze *f, pid_t pid);

/* Lets them go, each with the signal that arrived while held. */
void freeze__end(struct freeze *f);

#endif
