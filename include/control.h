/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The agent's control socket: a Unix stream socket that only root may
 * open (directory 0700, socket 0600, and the peer's uid checked), one
 * request line in, one JSON document out, then closed.  `tollgate status`
 * is its client.  The agent serves it from its event loop, never waiting
 * on a slow client longer than CONTROL_IO_MS.
 */
#ifndef TOLLGATE_CONTROL_H
#define TOLLGATE_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#define CONTROL_DEFAULT_PATH	"/run/tollgate/tollgate.sock"
#define CONTROL_IO_MS		200
#define CONTROL_REQ_MAX		256

struct control;

struct control_stats {
	uint64_t served;		/* requests answered */
	uint64_t refused;		/* peers that are not root */
	uint64_t errors;		/* bad requests, slow or gone clients */
};

/*
 * Listen at path (its directory is created 0700 if missing).  A socket
 * left by an agent that died is replaced; one another agent answers on is
 * not.  NULL with err filled.
 */
struct control *control_listen(const char *path, char *err, size_t errlen);
/*
 * Answer every client waiting now: reply(ctx, request line) returns the
 * document (malloc'd, freed here; NULL: the request is refused).
 */
void control_serve(struct control *c, char *(*reply)(void *ctx, const char *req), void *ctx);
void control_stats(const struct control *c, struct control_stats *out);
const char *control_path(const struct control *c);
/* Stop listening and remove the socket. */
void control_close(struct control *c);

/* The client: send req, read the whole answer (malloc'd, NUL-terminated)
 * within timeout_ms.  0, or -errno with err filled. */
int control_ask(const char *path, const char *req, int timeout_ms, char **answer,
		char *err, size_t errlen);

/* `tollgate status` (user/cmd_status.c). */
int cmd_status(int argc, char **argv);

#endif
