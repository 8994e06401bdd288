// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * clone_into CGROUP_DIR CMD [ARG]...: runs CMD as a child started directly
 * in another cgroup with clone3(CLONE_INTO_CGROUP), as container runtimes
 * and systemd do; waits for it and exits with its status.  The child never
 * runs in the parent's cgroup, and no cgroup_attach_task event fires.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct clone_args ca;
	int fd, status;
	long pid;

	if (argc < 3) {
		fprintf(stderr, "usage: clone_into CGROUP_DIR CMD [ARG]...\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		perror(argv[1]);
		return 2;
	}
	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_INTO_CGROUP;
	ca.exit_signal = SIGCHLD;
	ca.cgroup = (uint64_t)fd;
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0) {
		perror("clone3");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0) {
		perror("waitpid");
		return 2;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
