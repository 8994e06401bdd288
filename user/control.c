// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The control socket (include/control.h).  Only root is answered: the
 * socket's directory and mode keep others out, and SO_PEERCRED is checked
 * as well, since the answer names processes, teams and spend.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "control.h"
#include "log.h"

struct control {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct control_stats st;
};

static int addr_of(const char *path, struct sockaddr_un *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (!*path || strlen(path) >= sizeof(a->sun_path)) {
		snprintf(err, errlen, "%s: not a usable socket path (1 to %zu bytes)", path,
			 sizeof(a->sun_path) - 1);
		return -EINVAL;
	}
	memcpy(a->sun_path, path, strlen(path));
	return 0;
}

/* The socket's directory: made 0700 when missing; an existing one must
 * not let others replace the socket. */
static int dir_ready(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	if (stat(dir, &st)) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
		snprintf(err, errlen, "%s: not a directory owned by us and closed to others "
			 "(mode %03o)", dir, (unsigned)(st.st_mode & 0777));
		return -EPERM;
	}
	return 0;
}

struct control *control_listen(const char *path, char *err, size_t errlen)
{
	struct control *c;
	struct sockaddr_un a;
	struct stat st;
	mode_t old;
	int fd, rc;

	if (addr_of(path, &a, err, errlen) || dir_ready(path, err, errlen))
		return NULL;
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			return NULL;
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		rc = fd >= 0 && !connect(fd, (struct sockaddr *)&a, sizeof(a));
		if (fd >= 0)
			close(fd);
		if (rc) {
			snprintf(err, errlen, "%s: another agent is answering there", path);
			return NULL;
		}
		unlink(path);	/* left by an agent that died */
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		return NULL;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		goto fail;
	old = umask(0177);	/* the socket is born 0600 */
	rc = bind(c->fd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (rc || chmod(path, 0600) || listen(c->fd, 16))
		goto fail;
	return c;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return NULL;
}

/* CLOCK_MONOTONIC in ms: the deadlines' clock. */
static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for `events`, at most until deadline (ms). */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t now;
	int n;

	for (;;) {
		now = mono_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)(deadline - now));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* Writes all of buf before the deadline (fd non-blocking). */
static int write_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	ssize_t n;

	while (len) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			if (wait_fd(fd, POLLOUT, deadline))
				return -ETIMEDOUT;
		} else if (n < 0 && errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

/* One request line: up to '\n' or the peer's shutdown. */
static int read_line(int fd, char *buf, size_t cap, int64_t deadline)
{
	size_t len = 0;
	ssize_t n;

	while (len < cap - 1) {
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n > 0) {
			len += (size_t)n;
			if (memchr(buf, '\n', len))
				break;
		} else if (!n) {
			break;
		} else if (errno == EAGAIN) {
			if (wait_fd(fd, POLLIN, deadline))
				return -ETIMEDOUT;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	buf[len] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return len < cap - 1 ? 0 : -EMSGSIZE;
}

static void serve_one(struct control *c, int fd, char *(*reply)(void *, const char *), void *ctx)
{
	struct ucred cr;
	socklen_t crl = sizeof(cr);
	int64_t deadline = mono_ms() + CONTROL_IO_MS;
	char req[CONTROL_REQ_MAX], *doc;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) || cr.uid != 0) {
		c->st.refused++;
		return;
	}
	if (read_line(fd, req, sizeof(req), deadline)) {
		c->st.errors++;
		return;
	}
	doc = reply(ctx, req);
	if (!doc) {
		c->st.errors++;
		write_all(fd, "{\"error\":\"unknown request\"}\n", 28, deadline);
		return;
	}
	if (write_all(fd, doc, strlen(doc), deadline) || write_all(fd, "\n", 1, deadline))
		c->st.errors++;
	else
		c->st.served++;
	free(doc);
}

void control_serve(struct control *c, char *(*reply)(void *ctx, const char *req), void *ctx)
{
	int fd, i;

	for (i = 0; c && i < 16; i++) {
		fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("control: %s: accept: %s", c->path, strerror(errno));
			return;
		}
		serve_one(c, fd, reply, ctx);
		close(fd);
	}
}

void control_stats(const struct control *c, struct control_stats *out)
{
	if (c)
		*out = c->st;
	else
		memset(out, 0, sizeof(*out));
}

const char *control_path(const struct control *c)
{
	return c ? c->path : NULL;
}

void control_close(struct control *c)
{
	struct stat st;

	if (!c)
		return;
	close(c->fd);
	if (!lstat(c->path, &st) && S_ISSOCK(st.st_mode))
		unlink(c->path);
	free(c);
}

int control_ask(const char *path, const char *req, int timeout_ms, char **answer,
		char *err, size_t errlen)
{
	int64_t deadline = mono_ms() + timeout_ms;
	struct sockaddr_un a;
	size_t len = 0, cap = 65536;
	char *buf = NULL, *nb;
	ssize_t n;
	int fd, rc;

	*answer = NULL;
	rc = addr_of(path, &a, err, errlen);
	if (rc)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	rc = write_all(fd, req, strlen(req), deadline);
	if (!rc)
		rc = write_all(fd, "\n", 1, deadline);
	buf = malloc(cap);
	if (!rc && !buf)
		rc = -ENOMEM;
	while (!rc) {
		if (len + 1 >= cap) {
			if (cap >= (64u << 20)) {
				rc = -EMSGSIZE;
				break;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n > 0)
			len += (size_t)n;
		else if (!n)
			break;
		else if (errno == EAGAIN)
			rc = wait_fd(fd, POLLIN, deadline);
		else if (errno != EINTR)
			rc = -errno;
	}
	if (rc) {
		snprintf(err, errlen, "%s: %s", path, rc == -ETIMEDOUT ? "no answer in time" :
			 strerror(-rc));
		goto out;
	}
	buf[len] = '\0';
	*answer = buf;
	buf = NULL;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}
