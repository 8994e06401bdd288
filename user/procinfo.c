// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "procinfo.h"

static int read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (int)n;
}

int proc_read_comm(pid_t pid, char *buf, size_t cap)
{
	char path[64];
	int n;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	n = read_small(path, buf, cap);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return n < 0 ? n : 0;
}

int proc_read_exe(pid_t pid, char *buf, size_t cap)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, buf, cap - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int proc_read_cgroup(pid_t pid, char *buf, size_t cap)
{
	char path[64], line[4096];
	FILE *f;
	int err = -ENOENT;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		n = strcspn(line + 3, "\n");
		if (n >= cap)
			n = cap - 1;
		memcpy(buf, line + 3, n);
		buf[n] = '\0';
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

int proc_lib_kind(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if (!strncmp(base, "libssl3.so", 10))
		return PROC_LIB_NSS;
	if (!strncmp(base, "libssl", 6))
		return PROC_LIB_SSL;
	if (!strncmp(base, "libgnutls", 9) && strstr(base, ".so"))
		return PROC_LIB_GNUTLS;
	if ((!strncmp(base, "ld-linux", 8) || !strncmp(base, "ld-musl", 7)) &&
	    strstr(base, ".so"))
		return PROC_LIB_LDSO;
	return -1;
}

int proc_for_each_lib(pid_t pid, proc_lib_fn fn, void *ctx)
{
	char path[64], line[4096], full[4200], seen[8][256];
	size_t nseen = 0, i;
	const char *file, *perms;
	FILE *f;
	int err = 0, kind;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		/* address perms offset dev inode path */
		perms = strchr(line, ' ');
		if (!perms || perms[3] != 'x')
			continue;
		file = strchr(line, '/');
		if (!file)
			continue;
		kind = proc_lib_kind(file);
		if (kind < 0 || strstr(file, " (deleted)"))
			continue;
		for (i = 0; i < nseen; i++)
			if (!strcmp(seen[i], file))
				break;
		if (i < nseen || strlen(file) >= sizeof(seen[0]))
			continue;
		if (nseen < sizeof(seen) / sizeof(seen[0]))
			strcpy(seen[nseen++], file);
		snprintf(full, sizeof(full), "/proc/%d/root%s", pid, file);
		err = fn(ctx, pid, full, file, kind);
		if (err)
			break;
	}
	fclose(f);
	return err;
}

int proc_for_each_pid(proc_pid_fn fn, void *ctx)
{
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (isdigit((unsigned char)de->d_name[0]))
			fn(ctx, (pid_t)atoi(de->d_name));
	closedir(d);
	return 0;
}

int proc_is_kthread(pid_t pid)
{
	char path[64], buf[512];
	int n;

	/* Kernel threads have an empty cmdline and no exe link. */
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	if (readlink(path, buf, sizeof(buf)) >= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	n = read_small(path, buf, sizeof(buf));
	return n == 0;
}
