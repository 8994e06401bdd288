/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Where the uprobes go.  Every libssl* a process maps, and every
 * executable that exports OpenSSL's functions itself (node), is a target,
 * deduplicated by (device, inode).  Without a scope, each target is probed
 * once for all processes.  With a scope (cgroup globs), probes are attached
 * per process, to processes in scope only, as they appear: at start, exec,
 * fork, mmap of a new libssl and cgroup moves.
 */
#ifndef TOLLGATE_ATTACH_H
#define TOLLGATE_ATTACH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "tollgate_abi.h"
#include "discover.h"
#include "elfsym.h"
#include "gotls.h"

struct capture_bpf;

/* LLM traffic tollgate does not see yet: the TLS a process uses, or the
 * protocol it speaks over OpenSSL. */
enum attach_unseen {
	ATTACH_UNSEEN_GNUTLS,
	ATTACH_UNSEEN_NSS,
	ATTACH_UNSEEN_GO,		/* a Go executable whose crypto/tls cannot
					   be probed (too old, odd build) */
	ATTACH_UNSEEN_BORINGSSL,	/* BoringSSL built in, stripped (Bun, Chrome) */
	ATTACH_UNSEEN_RUSTLS,		/* rustls in a Rust executable */
	ATTACH_UNSEEN__MAX,
};

/* TLS a file carries that tollgate probes. */
enum attach_tls {
	ATTACH_TLS_OPENSSL,
	ATTACH_TLS_GNUTLS,
	ATTACH_TLS_GO,
	ATTACH_TLS_BUILTIN,		/* built into an executable, located by
					   discovery (BoringSSL, OpenSSL, aws-lc and
					   ring's records) */
};

enum attach_file { ATTACH_FILE_LIB, ATTACH_FILE_EXE, ATTACH_FILE_GNUTLS };

/* What a file carries and where its probes go (attach_identify). */
struct attach_ident {
	int tls;			/* enum attach_tls, or -1: nothing probed */
	int unseen;			/* enum attach_unseen it shows, or -1 */
	int err;			/* why nothing is probed: -errno */
	struct ssl_syms syms;		/* OpenSSL, GnuTLS */
	struct gotls_syms *go;		/* Go: also when it cannot be probed */
	struct discover_result *disc;	/* built-in TLS: found or why not */
};

/*
 * What TLS the file at path carries (kind: enum attach_file) and where it
 * is probed: the same answer the agent acts on.  Discovery results are
 * read from and kept in cache_dir (NULL: none).  Returns 0 or id->err.
 * attach_ident_free releases what it holds.
 */
int attach_identify(const char *path, int kind, const char *cache_dir, struct attach_ident *id);
void attach_ident_free(struct attach_ident *id);
const char *attach_tls_name(int tls);
/* Discovery's cache: $TOLLGATE_CACHE_DIR, else ATTACH_CACHE_DIR; NULL
 * for none ("off" or empty). */
const char *attach_cache_dir(void);
/* "uses GnuTLS", "carries its own BoringSSL", ... */
const char *attach_unseen_why(int kind);
/* One uprobe_multi link of prog_fd on `cnt` offsets of path (returns with
 * ret), for pid (0: every process).  The link's fd, or -errno. */
int attach_multi_link(int prog_fd, const char *path, const uint64_t *offs,
		      const uint64_t *cookies, uint32_t cnt, pid_t pid, int ret);

/* `tollgate probes`: which TLS each process carries and how it was found. */
int cmd_probes(int argc, char **argv);

struct attach_stats {
	uint64_t targets;		/* files that carry OpenSSL */
	uint64_t targets_full;		/* such files not probed: table full */
	uint64_t negatives;		/* files known not to carry it, cached now */
	uint64_t negative_evictions;	/* ... pushed out of the cache */
	uint64_t links;			/* uprobes attached now */
	uint64_t failures;		/* attach attempts that failed */
	uint64_t gone;			/* ... because the process had ended */
	uint64_t pids;			/* processes probed (scoped mode) */
	uint64_t epoch_errors;		/* attach epochs the kernel map had no room for */
	uint64_t unseen[ATTACH_UNSEEN__MAX];	/* processes named, by TLS */
	uint64_t discovered;		/* built-in TLS located (BoringSSL, aws-lc) */
	uint64_t discover_failed;	/* ... marked but not located */
	uint64_t discover_ns;		/* time spent locating them */
	uint64_t disabled;		/* discovered targets disabled since */
	uint64_t exec_holds;		/* processes held at exec while their file
					   was analysed */
};

/* Where discovery results are kept (by build id); the environment's
 * TOLLGATE_CACHE_DIR overrides it ("off": no cache). */
#define ATTACH_CACHE_DIR	"/var/lib/tollgate/discover"

struct attacher;

struct attacher *attacher__new(struct capture_bpf *skel, char *const *globs, size_t nglobs);
/* Probe what is already running. */
/* Probe only the processes fn says are in scope (and in the cgroup globs,
 * if any): per-process probes.  Before attacher__scan. */
void attacher__set_scope(struct attacher *a, int (*fn)(void *ctx, pid_t pid), void *ctx);
/* The scope changed (a new policy): probe who entered it, drop who left. */
int attacher__rescope(struct attacher *a);
int attacher__scan(struct attacher *a);
/* An EXEC, EXIT, FORK, LINKMAP or CGROUP event from the kernel.  Returns
 * 1 when a process probed so far has left the scope (what it does from now
 * on is not seen: its connections should end there), else 0. */
int attacher__on_proc(struct attacher *a, const struct tg_ev_proc *e);
/* 1 if this process is one the scope covers (always 1 without a scope). */
int attacher__in_scope(struct attacher *a, pid_t pid);
/* Names the process once in the log (per process and kind) as one whose
 * LLM calls are not metered, with the file that shows why, and counts it. */
void attacher__note_unseen(struct attacher *a, pid_t pid, enum attach_unseen kind,
			   const char *file);
/* Disables discovered probes that saw what cannot be TLS plaintext (about
 * once a second). */
void attacher__check(struct attacher *a);
void attacher__stats(const struct attacher *a, struct attach_stats *out);
void attacher__free(struct attacher *a);

#endif
