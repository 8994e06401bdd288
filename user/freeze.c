// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Holding a process still (see freeze.h).  PTRACE_SEIZE attaches without
 * stopping; PTRACE_INTERRUPT then stops the thread in a ptrace-stop
 * (PTRACE_EVENT_STOP).  A thread in an uninterruptible sleep stops when it
 * leaves it: freeze__begin waits FREEZE_WAIT_MS for the stops, freeze__end
 * waits for any still due before it detaches (a thread must be stopped to
 * be detached).  A thread that exits while held is simply gone.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include "freeze.h"

#define FREEZE_WAIT_MS	50
#define FREEZE_ROUNDS	8		/* /proc/PID/task reads until it is still */

static int held(const struct freeze *f, pid_t tid)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (f->tids[i] == tid)
			return 1;
	return 0;
}

/* Seizes the threads not held yet; returns how many were new, or -errno. */
static int seize_new(struct freeze *f)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int added = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", f->pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		pid_t tid = (pid_t)atoi(d->d_name);

		if (tid <= 0 || held(f, tid))
			continue;
		if (f->n == FREEZE_MAX_THREADS) {
			closedir(dir);
			return -E2BIG;
		}
		if (ptrace(PTRACE_SEIZE, tid, NULL, NULL)) {
			if (errno == ESRCH)
				continue;	/* it has exited */
			closedir(dir);
			return -errno;
		}
		f->tids[f->n] = tid;
		f->stopped[f->n] = 0;
		f->n++;
		ptrace(PTRACE_INTERRUPT, tid, NULL, NULL);
		added++;
	}
	closedir(dir);
	return added;
}

/* Collects the stops that have come (all of them when block). */
static void reap(struct freeze *f, int block)
{
	size_t i;
	int st;

	for (i = 0; i < f->n; i++) {
		pid_t w;

		if (f->stopped[i])
			continue;
		do {
			w = waitpid(f->tids[i], &st, __WALL | (block ? 0 : WNOHANG));
		} while (w < 0 && errno == EINTR);
		if (w == f->tids[i]) {
			/* stopped, or exited: nothing to detach then */
			f->stopped[i] = WIFSTOPPED(st) ? 1 : -1;
			f->status[i] = st;
		} else if (w < 0) {
			f->stopped[i] = -1;	/* not ours any more */
		}
	}
}

static int all_stopped(const struct freeze *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (!f->stopped[i])
			return 0;
	return 1;
}

int freeze__begin(struct freeze *f, pid_t pid)
{
	struct timespec ms = { 0, 1000 * 1000 };
	int r = 0, i;

	memset(f, 0, sizeof(*f));
	f->pid = pid;
	for (i = 0; i < FREEZE_ROUNDS; i++) {
		r = seize_new(f);
		if (r <= 0)
			break;
		/* the new ones must be stopped before the next look, or one
		 * could still start a thread */
		for (int k = 0; k < FREEZE_WAIT_MS && !all_stopped(f); k++) {
			reap(f, 0);
			if (!all_stopped(f))
				nanosleep(&ms, NULL);
		}
	}
	if (r < 0) {
		freeze__end(f);
		return r;
	}
	return (int)f->n;
}

void freeze__end(struct freeze *f)
{
	size_t i;

	reap(f, 1);
	for (i = 0; i < f->n; i++) {
		int sig = 0;

		if (f->stopped[i] != 1)
			continue;
		/* a signal-delivery-stop hands its signal back */
		if (!(f->status[i] >> 16))
			sig = WSTOPSIG(f->status[i]);
		ptrace(PTRACE_DETACH, f->tids[i], NULL, (void *)(long)sig);
	}
	f->n = 0;
}
