// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "attach.h"
#include "capture.h"
#include "capture.skel.h"
#include "cgroup.h"
#include "discover.h"
#include "elfsym.h"
#include "escape.h"
#include "freeze.h"
#include "gotls.h"
#include "log.h"
#include "procinfo.h"

#define MAX_TARGETS	4096		/* files that carry TLS we probe, and dynamic linkers */
#define NEG_CACHE	4096		/* files that do not: a cache, entries replaced */
#define NOTED_PIDS	4096		/* processes named for unseen TLS, direct-mapped */
#define LINKS_PER	4		/* uprobe_multi: entries (and SSL_free), returns;
					   built-in TLS: also the records' */
#define PID_BUCKETS	1024

enum target_kind { TARGET_LIB, TARGET_EXE, TARGET_LDSO, TARGET_GNUTLS };

/* Whose TLS a target carries. */
static const char *const flavor_name[] = {
	[ATTACH_TLS_OPENSSL] = "OpenSSL", [ATTACH_TLS_GNUTLS] = "GnuTLS",
	[ATTACH_TLS_GO] = "Go crypto/tls", [ATTACH_TLS_BUILTIN] = "built-in TLS",
};

const char *attach_tls_name(int tls)
{
	return tls >= 0 && tls <= ATTACH_TLS_BUILTIN ? flavor_name[tls] : "none";
}

#define AEAD_TPS	9		/* socket tracepoints of aws-lc's records */

/* Library directories probed at start, so a later dlopen is covered at once. */
static const char *const lib_dirs[] = {
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib",
	"/usr/local/lib64",
};

/* A file that carries TLS we probe, or a dynamic linker. */
struct target {
	dev_t dev;
	ino_t ino;
	int fd;				/* O_PATH: attach through /proc/self/fd/N */
	char name[256];			/* the file as the process saw it, for logs */
	int flavor;			/* enum attach_tls */
	struct ssl_syms syms;		/* OpenSSL, GnuTLS */
	struct gotls_syms *go;		/* Go */
	struct discover_result *disc;	/* BoringSSL, aws-lc: found by discovery */
	uint16_t id;			/* discovered: number in probe_bad, else 0 */
	uint64_t bad;			/* probe_bad's count when last looked at */
	int disabled;			/* a discovered probe saw what cannot be TLS */
	int has_ssl;			/* carries TLS we probe */
	int is_lib;			/* a library, not an executable */
	int is_ldso;			/* the dynamic linker: one global probe */
	int glinks[LINKS_PER];		/* link fds, global mode */
	size_t nglinks;
	struct target *next;
};

struct pid_target {
	struct target *t;
	int links[LINKS_PER];		/* link fds */
	size_t nlinks;
	struct pid_target *next;
};

struct tracked {			/* a process in scope */
	pid_t pid;
	struct pid_target *targets;
	struct tracked *next;
};

/* A file known not to carry OpenSSL: what TLS it shows, if any. */
struct negative {
	dev_t dev;
	ino_t ino;
	int unseen;			/* enum attach_unseen, or -1 */
};

/*
 * Detaching a uprobe waits for a grace period (about 0.1 s here), so links
 * are destroyed by a pool of threads, never in the event loop.  Concurrent
 * waiters share grace periods.
 */
#define REAPERS		8
#define REAP_MAX	65536

struct reaper {
	pthread_t threads[REAPERS];
	size_t nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int *q;				/* link fds, ring of REAP_MAX */
	size_t head, len;
	int stop;
};

struct attacher {
	struct capture_bpf *skel;
	char *const *globs;
	size_t nglobs;
	int scoped;			/* per-process probes: globs or scope_fn */
	int (*scope_fn)(void *ctx, pid_t pid);
	void *scope_ctx;
	pid_t self;
	struct target *targets;
	size_t ntargets;
	struct negative neg[NEG_CACHE];	/* direct-mapped by (dev, ino) */
	pid_t noted[ATTACH_UNSEEN__MAX][NOTED_PIDS];
	struct tracked *pids[PID_BUCKETS];
	uint32_t epoch;			/* attaches of processes so far */
	struct attach_stats st;
	struct reaper reaper;
	const char *cache_dir;		/* discovery results, NULL: none */
	uint16_t next_id;		/* discovered targets so far */
	struct bpf_link *aead_tps[AEAD_TPS];	/* attached with the first aws-lc */
	int aead_on;
	pid_t exec_pid;			/* the process whose exec is being handled */
};

static const char *const unseen_why[ATTACH_UNSEEN__MAX] = {
	[ATTACH_UNSEEN_GNUTLS]	= "uses GnuTLS",
	[ATTACH_UNSEEN_NSS]	= "uses NSS",
	[ATTACH_UNSEEN_GO]	= "uses a Go crypto/tls that cannot be probed",
	[ATTACH_UNSEEN_BORINGSSL] = "carries its own BoringSSL",
	[ATTACH_UNSEEN_RUSTLS]	= "uses rustls",
};

const char *attach_cache_dir(void)
{
	const char *d = getenv("TOLLGATE_CACHE_DIR");

	if (!d)
		return ATTACH_CACHE_DIR;
	return !*d || !strcmp(d, "off") ? NULL : d;
}

const char *attach_unseen_why(int kind)
{
	return kind >= 0 && kind < ATTACH_UNSEEN__MAX ? unseen_why[kind] : "";
}

/* Probes go through the target's O_PATH fd: the same inode whatever
 * happens to the path (containers, upgrades, deleted files). */
static const char *path_of(const struct target *t, char *buf, size_t cap)
{
	snprintf(buf, cap, "/proc/self/fd/%d", t->fd);
	return buf;
}

static void *reaper_main(void *arg)
{
	struct reaper *r = arg;
	int fd;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->len && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		if (!r->len)
			break;
		fd = r->q[r->head];
		r->head = (r->head + 1) % REAP_MAX;
		r->len--;
		pthread_mutex_unlock(&r->mu);
		close(fd);	/* the last reference: the probes go */
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static int reaper_start(struct reaper *r)
{
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->q = calloc(REAP_MAX, sizeof(*r->q));
	if (!r->q)
		return -ENOMEM;
	for (r->nthreads = 0; r->nthreads < REAPERS; r->nthreads++) {
		if (pthread_create(&r->threads[r->nthreads], NULL, reaper_main, r))
			break;
		pthread_setname_np(r->threads[r->nthreads], "tg-reaper");
	}
	return r->nthreads ? 0 : -EAGAIN;
}

/* Waits for every queued link to be destroyed. */
static void reaper_stop(struct reaper *r)
{
	size_t i;

	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	for (i = 0; i < r->nthreads; i++)
		pthread_join(r->threads[i], NULL);
	free(r->q);
}

static void links_destroy(struct attacher *a, int *links, size_t *n)
{
	struct reaper *r = &a->reaper;

	pthread_mutex_lock(&r->mu);
	while (*n) {
		a->st.links--;
		if (r->len == REAP_MAX || !r->nthreads) {
			/* Queue full: pay the wait here rather than leak. */
			pthread_mutex_unlock(&r->mu);
			close(links[--*n]);
			pthread_mutex_lock(&r->mu);
			continue;
		}
		r->q[(r->head + r->len) % REAP_MAX] = links[--*n];
		r->len++;
	}
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* One uprobe_multi link: the program on `cnt` offsets of the file. */
int attach_multi_link(int prog_fd, const char *path, const uint64_t *offs,
		      const uint64_t *cookies, uint32_t cnt, pid_t pid, int ret)
{
	union {
		struct {
			uint32_t prog_fd, target_fd, attach_type, flags;
			uint64_t path, offsets, ref_ctr_offsets, cookies;
			uint32_t cnt, flags2, pid;
		} lc;
		uint8_t attr[144];	/* sizeof(union bpf_attr) in 6.x */
	} u;
	int fd;

	memset(&u, 0, sizeof(u));
	u.lc.prog_fd = prog_fd;
	u.lc.attach_type = TG_BPF_TRACE_UPROBE_MULTI;
	u.lc.path = (uintptr_t)path;
	u.lc.offsets = (uintptr_t)offs;
	u.lc.cookies = (uintptr_t)cookies;
	u.lc.cnt = cnt;
	u.lc.flags2 = ret ? TG_BPF_F_UPROBE_MULTI_RETURN : 0;
	u.lc.pid = pid > 0 ? (uint32_t)pid : 0;
	fd = syscall(__NR_bpf, BPF_LINK_CREATE, &u, sizeof(u));
	return fd < 0 ? -errno : fd;
}

/* A failed attach: counted and said, unless the process was gone. */
static size_t attach_failed(struct attacher *a, struct target *t, pid_t pid, int err)
{
	char name[512];

	if (err == -ESRCH) {
		a->st.gone++;	/* it ended before we got to it: nothing lost */
		return 0;
	}
	a->st.failures++;
	log_warn("cannot probe %s (pid %d): %s", escape_str(name, sizeof(name), t->name),
		 pid, strerror(-err));
	return 0;
}

/*
 * A Go executable: one link for the entries of (*Conn).Write, Read and
 * Close and every RET of Write and Read, the cookie telling them apart.
 */
static size_t attach_go(struct attacher *a, struct target *t, pid_t pid, int *out)
{
	const struct gotls_fn *fns[2] = { &t->go->write, &t->go->read };
	uint64_t offs[3 + 2 * GOTLS_MAX_RETS], cookies[3 + 2 * GOTLS_MAX_RETS];
	uint32_t i, j, n = 0;
	char path[64];
	int r;

	for (i = 0; i < 2; i++) {
		offs[n] = fns[i]->entry;
		cookies[n++] = i ? TG_FN_READ : TG_FN_WRITE;
		for (j = 0; j < fns[i]->nrets; j++) {
			offs[n] = fns[i]->rets[j];
			cookies[n++] = (i ? TG_FN_READ : TG_FN_WRITE) | TG_FN_GO_RET;
		}
	}
	if (t->go->close) {
		offs[n] = t->go->close;
		cookies[n++] = TG_FN_FREE;
	}
	r = attach_multi_link(bpf_program__fd(a->skel->progs.uprobe_go),
			      path_of(t, path, sizeof(path)), offs, cookies, n, pid, 0);
	if (r < 0)
		return attach_failed(a, t, pid, r);
	out[0] = r;
	a->st.links++;
	return 1;
}

/* A discovered target's probes are checked, and counted as its own. */
static uint64_t disc_cookie(const struct target *t)
{
	return t->disc ? TG_FN_CHECK | (uint64_t)t->id << TG_COOKIE_TARGET_SHIFT : 0;
}

/* The socket tracepoints that tie aws-lc's two record keys to their
 * connection: attached with the first aws-lc target, never before (they
 * run on every process's socket calls). */
static int aead_tracepoints(struct attacher *a)
{
	struct bpf_program *progs[AEAD_TPS] = {
		a->skel->progs.tp_sys_write, a->skel->progs.tp_sys_writev,
		a->skel->progs.tp_sys_sendto, a->skel->progs.tp_sys_sendmsg,
		a->skel->progs.tp_sys_read, a->skel->progs.tp_sys_readv,
		a->skel->progs.tp_sys_recvfrom, a->skel->progs.tp_sys_recvmsg,
		a->skel->progs.tp_sys_close,
	};
	size_t i;

	if (a->aead_on)
		return 0;
	for (i = 0; i < AEAD_TPS; i++) {
		a->aead_tps[i] = bpf_program__attach(progs[i]);
		if (!a->aead_tps[i]) {
			int err = -errno;

			log_warn("cannot attach %s: %s", bpf_program__name(progs[i]),
				 strerror(-err));
			while (i--) {
				bpf_link__destroy(a->aead_tps[i]);
				a->aead_tps[i] = NULL;
			}
			return err;
		}
	}
	a->aead_on = 1;
	return 0;
}

/*
 * Two links for the functions at offs: ret (the returns of the first nret,
 * which come first: an entry without its return would leave a frame
 * behind), then ent (the entries of all n).  Returns the links made.
 */
static size_t attach_pair(struct attacher *a, struct target *t, pid_t pid,
			  struct bpf_program *ret, struct bpf_program *ent,
			  const uint64_t *roffs, const uint64_t *rcookies, uint32_t nret,
			  const uint64_t *offs, const uint64_t *cookies, uint32_t n, int *out)
{
	char path[64];
	int r, e;

	path_of(t, path, sizeof(path));
	r = attach_multi_link(bpf_program__fd(ret), path, roffs, rcookies, nret, pid, 1);
	if (r < 0)
		return attach_failed(a, t, pid, r);
	e = attach_multi_link(bpf_program__fd(ent), path, offs, cookies, n, pid, 0);
	if (e < 0) {
		close(r);
		return attach_failed(a, t, pid, e);
	}
	out[0] = r;
	out[1] = e;
	a->st.links += 2;
	return 2;
}

/*
 * TLS built into an executable, whichever discovery found: its SSL-level
 * functions (BoringSSL's SSL_write/SSL_read, OpenSSL's ssl_write/read_internal,
 * on the SSL programs) and its records (aws-lc's EVP_AEAD_CTX_seal/open,
 * ring's seal/open: returns of the opens, entries of all, with the socket
 * tracepoints that tie their keys).
 */
static size_t attach_builtin(struct attacher *a, struct target *t, pid_t pid, int *out)
{
	uint64_t offs[DISCOVER_MAX_FNS], cookies[DISCOVER_MAX_FNS];
	uint64_t roffs[DISCOVER_MAX_FNS], rcookies[DISCOVER_MAX_FNS];
	uint64_t soffs[DISCOVER_MAX_FNS], scookies[DISCOVER_MAX_FNS], c;
	uint32_t i, n = 0, nr = 0, ns = 0;
	size_t links = 0;
	int err;

	for (i = 0; i < t->disc->nfn; i++) {
		const struct discover_fn *f = &t->disc->fn[i];

		c = disc_cookie(t);
		switch (f->kind) {
		case DISCOVER_SSL_WRITE: c |= TG_FN_WRITE; break;
		case DISCOVER_SSL_READ: c |= TG_FN_READ; break;
		case DISCOVER_OSSL_WRITE:
			c |= TG_FN_WRITE | TG_FN_EX | (t->disc->ossl_flags ? TG_FN_OUT5 : 0);
			break;
		case DISCOVER_OSSL_READ: c |= TG_FN_READ | TG_FN_EX; break;
		case DISCOVER_RING_OPEN:
			c |= TG_FN_RING;
			/* fall through */
		case DISCOVER_AEAD_OPEN:
			c |= TG_FN_AEAD | TG_FN_READ;
			roffs[nr] = f->off;
			rcookies[nr++] = c;
			offs[n] = f->off;
			cookies[n++] = c;
			continue;
		case DISCOVER_RING_SEAL:
			c |= TG_FN_RING;
			/* fall through */
		case DISCOVER_AEAD_SEAL:
			offs[n] = f->off;
			cookies[n++] = c | TG_FN_AEAD;
			continue;
		default:
			continue;
		}
		soffs[ns] = f->off;
		scookies[ns++] = c;
	}
	if (ns)
		links = attach_pair(a, t, pid, a->skel->progs.uretprobe_ssl, a->skel->progs.uprobe_ssl,
				    soffs, scookies, ns, soffs, scookies, ns, out);
	if (!n)
		return links;
	err = aead_tracepoints(a);
	if (err)
		return links + attach_failed(a, t, pid, err);
	return links + attach_pair(a, t, pid, a->skel->progs.uretprobe_aead,
				   a->skel->progs.uprobe_aead, roffs, rcookies, nr, offs, cookies, n,
				   out + links);
}

/*
 * Probes one target for one process (pid > 0) or all (pid = -1): a link
 * for the returns first (an entry without its return would leave a frame
 * behind), then one for the entries and SSL_free.  Returns the links made.
 */
static size_t attach_target(struct attacher *a, struct target *t, pid_t pid, int *out)
{
	static const enum ssl_fn fns[] = {
		SSL_FN_WRITE, SSL_FN_WRITE_EX, SSL_FN_READ, SSL_FN_READ_EX, SSL_FN_FREE,
	};
	static const uint64_t cookie_of[] = {
		[SSL_FN_WRITE] = TG_FN_WRITE, [SSL_FN_WRITE_EX] = TG_FN_WRITE | TG_FN_EX,
		[SSL_FN_READ] = TG_FN_READ, [SSL_FN_READ_EX] = TG_FN_READ | TG_FN_EX,
		[SSL_FN_FREE] = TG_FN_FREE,
	};
	uint64_t offs[5], cookies[5];
	uint32_t i, n = 0;

	if (t->disabled)
		return 0;
	if (t->flavor == ATTACH_TLS_GO)
		return attach_go(a, t, pid, out);
	if (t->flavor == ATTACH_TLS_BUILTIN)
		return attach_builtin(a, t, pid, out);
	for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		if (!t->syms.off[fns[i]])
			continue;
		offs[n] = t->syms.off[fns[i]];
		cookies[n++] = cookie_of[fns[i]];
	}
	/* SSL_free, last, has no return to probe */
	return attach_pair(a, t, pid, a->skel->progs.uretprobe_ssl, a->skel->progs.uprobe_ssl,
			   offs, cookies, n - (t->syms.off[SSL_FN_FREE] ? 1 : 0), offs, cookies, n,
			   out);
}

/*
 * The dynamic linker's _dl_debug_state: probed for every process, through
 * a uprobe_multi link as every other probe (a perf-event uprobe would need
 * CAP_SYS_ADMIN, which the service does without).
 */
static void attach_ldso(struct attacher *a, struct target *t)
{
	static const char *const names[] = { "_dl_debug_state" };
	uint64_t off, cookie = 0;
	char path[64], esc[512];
	int fd;

	if (elfsym_find(path_of(t, path, sizeof(path)), names, 1, &off) || !off)
		return;
	fd = attach_multi_link(bpf_program__fd(a->skel->progs.uprobe_dl_debug_state), path,
			       &off, &cookie, 1, 0, 0);
	if (fd < 0) {
		a->st.failures++;
		log_warn("cannot probe _dl_debug_state in %s: %s",
			 escape_str(esc, sizeof(esc), t->name), strerror(-fd));
		return;
	}
	t->glinks[t->nglinks++] = fd;
	a->st.links++;
}

static struct negative *neg_slot(struct attacher *a, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)ino * 0xc2b2ae3d27d4eb4full);

	return &a->neg[(h >> 32) % NEG_CACHE];
}

/* The cached entry of a file known not to carry TLS we probe, or NULL. */
static struct negative *neg_find(struct attacher *a, dev_t dev, ino_t ino)
{
	struct negative *n = neg_slot(a, dev, ino);

	return n->ino == ino && n->dev == dev ? n : NULL;
}

/* The target of a file, or NULL. */
static struct target *target_find(struct attacher *a, dev_t dev, ino_t ino)
{
	struct target *t;

	for (t = a->targets; t; t = t->next)
		if (t->dev == dev && t->ino == ino)
			return t;
	return NULL;
}

/* Remembers a file without OpenSSL; the entry it replaces is counted. */
static void neg_put(struct attacher *a, dev_t dev, ino_t ino, int unseen)
{
	struct negative *n = neg_slot(a, dev, ino);

	if (n->ino)
		a->st.negative_evictions++;
	else
		a->st.negatives++;
	*n = (struct negative){ .dev = dev, .ino = ino, .unseen = unseen };
}

/*
 * TLS built into an executable without symbols (BoringSSL, aws-lc under
 * rustls), located by discovery when the file names such a library.
 */
static int identify_builtin(const char *path, const char *cache_dir, struct attach_ident *id)
{
	int mark = elfsym_tls_marker(path), err;

	if (!mark)
		return -ENOENT;
	id->unseen = mark == ELFSYM_TLS_RUSTLS ? ATTACH_UNSEEN_RUSTLS : ATTACH_UNSEEN_BORINGSSL;
	id->disc = calloc(1, sizeof(*id->disc));
	if (!id->disc)
		return -ENOMEM;
	/* every stack it links: one program may use several (Codex) */
	err = discover_file(path, DISCOVER_NONE, cache_dir, id->disc);
	if (err)
		return err;
	id->tls = ATTACH_TLS_BUILTIN;
	id->unseen = -1;
	return 0;
}

int attach_identify(const char *path, int kind, const char *cache_dir, struct attach_ident *id)
{
	int err;

	memset(id, 0, sizeof(*id));
	id->tls = -1;
	id->unseen = -1;
	if (kind == ATTACH_FILE_GNUTLS) {
		err = elfsym_gnutls(path, &id->syms);
		if (err)
			id->unseen = ATTACH_UNSEEN_GNUTLS;
		else
			id->tls = ATTACH_TLS_GNUTLS;
		return id->err = err;
	}
	err = elfsym_ssl(path, &id->syms);
	if (!err) {
		id->tls = ATTACH_TLS_OPENSSL;
		return 0;
	}
	if (kind != ATTACH_FILE_EXE)
		return id->err = err;
	if (!gotls_is_go(path))
		return id->err = identify_builtin(path, cache_dir, id);
	id->go = calloc(1, sizeof(*id->go));
	err = id->go ? gotls_find(path, id->go) : -ENOMEM;
	/* a Go without crypto/tls has no TLS to see */
	if (err && err != -ENOENT)
		id->unseen = ATTACH_UNSEEN_GO;
	if (!err)
		id->tls = ATTACH_TLS_GO;
	return id->err = err;
}

void attach_ident_free(struct attach_ident *id)
{
	free(id->go);
	free(id->disc);
	id->go = NULL;
	id->disc = NULL;
}

/*
 * The target for the file at `path` (named `name` in logs), created the
 * first time it is seen: an OpenSSL carrier is probed for everyone when
 * there is no scope; the dynamic linker always is.  NULL for a file that
 * does not carry OpenSSL, or cannot be read; then *unseen says which TLS
 * it shows that tollgate does not see (-1: none).
 */
static struct target *target_get(struct attacher *a, const char *path, const char *name,
				 int kind, int *unseen)
{
	struct attach_ident id = { .tls = ATTACH_TLS_OPENSSL, .unseen = -1 };
	struct target *t;
	struct negative *n;
	char self[64], esc[512], libs[64];
	struct stat sb;
	int fd, err = 0;

	*unseen = -1;
	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		close(fd);
		return NULL;
	}
	t = target_find(a, sb.st_dev, sb.st_ino);
	if (t) {
		close(fd);
		return t;
	}
	n = neg_find(a, sb.st_dev, sb.st_ino);
	if (n) {
		*unseen = n->unseen;
		close(fd);
		return NULL;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if (kind != TARGET_LDSO) {
		err = attach_identify(self, kind == TARGET_GNUTLS ? ATTACH_FILE_GNUTLS :
				      kind == TARGET_EXE ? ATTACH_FILE_EXE : ATTACH_FILE_LIB,
				      a->cache_dir, &id);
		*unseen = id.unseen;
		if (id.disc)
			a->st.discover_ns += id.disc->ns;
		if (id.go && err && err != -ENOENT)
			log_info("Go executable %s cannot be probed: %s",
				 escape_str(esc, sizeof(esc), name), strerror(-err));
		if (id.disc && err) {
			a->st.discover_failed++;
			log_info("%s carries %s, which cannot be located (%s%s): %s",
				 escape_str(esc, sizeof(esc), name),
				 id.unseen == ATTACH_UNSEEN_RUSTLS ? "rustls" : "BoringSSL",
				 strerror(-err), id.disc->cached ? ", cached" : "",
				 id.disc->evidence[0] ? id.disc->evidence : "no error sites");
		}
		if (!err && id.disc && a->next_id >= TG_PROBE_TARGETS - 1) {
			log_warn("%s: no room to probe more built-in TLS",
				 escape_str(esc, sizeof(esc), name));
			err = -ENOSPC;
		}
	}
	if (err) {
		/* Nothing to probe: remembered, the fd is not needed. */
		attach_ident_free(&id);
		neg_put(a, sb.st_dev, sb.st_ino, *unseen);
		close(fd);
		return NULL;
	}
	if (a->ntargets >= MAX_TARGETS) {
		if (!a->st.targets_full++)
			log_warn("more than %d files carry TLS: %s and later ones are not "
				 "probed", MAX_TARGETS, escape_str(esc, sizeof(esc), name));
		attach_ident_free(&id);
		close(fd);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		attach_ident_free(&id);
		close(fd);
		return NULL;
	}
	t->dev = sb.st_dev;
	t->ino = sb.st_ino;
	t->fd = fd;
	t->is_lib = kind == TARGET_LIB || kind == TARGET_GNUTLS;
	t->is_ldso = kind == TARGET_LDSO;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->next = a->targets;
	a->targets = t;
	a->ntargets++;
	if (t->is_ldso) {
		attach_ldso(a, t);
		return t;
	}
	t->syms = id.syms;
	t->flavor = id.tls;
	t->go = id.go;
	t->disc = id.disc;
	if (id.disc) {
		t->id = ++a->next_id;
		a->st.discovered++;
	}
	t->has_ssl = 1;
	a->st.targets++;
	if (t->disc)
		log_info("built-in TLS (%s) found in %s in %.0f ms%s: %s",
			 discover_libs(t->disc->libs, libs, sizeof(libs)),
			 escape_str(esc, sizeof(esc), t->name), t->disc->ns / 1e6,
			 t->disc->cached ? " (cached)" : "", t->disc->evidence);
	else if (t->go)
		log_info("%s (%s, %u+%u returns) found in %s", flavor_name[t->flavor],
			 t->go->version, t->go->write.nrets, t->go->read.nrets,
			 escape_str(esc, sizeof(esc), t->name));
	else
		log_info("%s found in %s", flavor_name[t->flavor], escape_str(esc, sizeof(esc), t->name));
	if (!a->scoped)
		t->nglinks = attach_target(a, t, -1, t->glinks);
	return t;
}

/* --- processes in scope -------------------------------------------------- */

static struct tracked **tracked_slot(struct attacher *a, pid_t pid)
{
	struct tracked **pp = &a->pids[(unsigned)pid % PID_BUCKETS];

	while (*pp && (*pp)->pid != pid)
		pp = &(*pp)->next;
	return pp;
}

static struct tracked *tracked_get(struct attacher *a, pid_t pid)
{
	struct tracked **pp = tracked_slot(a, pid);

	if (*pp)
		return *pp;
	*pp = calloc(1, sizeof(**pp));
	if (*pp) {
		(*pp)->pid = pid;
		a->st.pids++;
	}
	return *pp;
}

/*
 * The process is being attached (again): calls it has in progress began
 * under other probes, and their frames are stale from now on.
 */
static void epoch_next(struct attacher *a, pid_t pid)
{
	uint32_t key = pid, val = ++a->epoch;

	if (bpf_map_update_elem(bpf_map__fd(a->skel->maps.epochs), &key, &val, BPF_ANY))
		a->st.epoch_errors++;
}

static void epoch_forget(struct attacher *a, pid_t pid)
{
	uint32_t key = pid;

	bpf_map_delete_elem(bpf_map__fd(a->skel->maps.epochs), &key);
}

static void tracked_drop(struct attacher *a, pid_t pid)
{
	struct tracked **pp = tracked_slot(a, pid), *tr = *pp;
	struct pid_target *pt;

	if (!tr)
		return;
	*pp = tr->next;
	while ((pt = tr->targets)) {
		tr->targets = pt->next;
		links_destroy(a, pt->links, &pt->nlinks);
		free(pt);
	}
	free(tr);
	a->st.pids--;
}

static void tracked_add_target(struct attacher *a, struct tracked *tr, struct target *t)
{
	struct pid_target *pt;

	if (!t || !t->has_ssl)
		return;
	for (pt = tr->targets; pt; pt = pt->next)
		if (pt->t == t)
			return;
	pt = calloc(1, sizeof(*pt));
	if (!pt)
		return;
	pt->t = t;
	pt->nlinks = attach_target(a, t, tr->pid, pt->links);
	log_debug("probed %s for pid %d (%zu links)", t->name, tr->pid, pt->nlinks);
	pt->next = tr->targets;
	tr->targets = pt;
}

/* After exec the old executable is gone from the process: its probes go
 * too (libraries stay probed, for a dlopen to come). */
static void tracked_drop_exes(struct attacher *a, struct tracked *tr)
{
	struct pid_target **pp = &tr->targets, *pt;

	while ((pt = *pp)) {
		if (pt->t->is_lib) {
			pp = &pt->next;
			continue;
		}
		*pp = pt->next;
		links_destroy(a, pt->links, &pt->nlinks);
		free(pt);
	}
}

static int never_touch(struct attacher *a, pid_t pid)
{
	return pid <= 1 || pid == a->self;
}

int attacher__in_scope(struct attacher *a, pid_t pid)
{
	char cg[4096];
	size_t i;

	if (!a->scoped)
		return 1;
	if (never_touch(a, pid))
		return 0;
	if (a->nglobs) {
		if (proc_read_cgroup(pid, cg, sizeof(cg)))
			return 0;
		for (i = 0; i < a->nglobs; i++)
			if (cgroup_glob_match(a->globs[i], cg))
				break;
		if (i == a->nglobs)
			return 0;
	}
	return !a->scope_fn || a->scope_fn(a->scope_ctx, pid);
}

/* What tollgate cannot see is named, never silently missed. */
void attacher__note_unseen(struct attacher *a, pid_t pid, enum attach_unseen kind,
			   const char *file)
{
	pid_t *slot;
	char comm[64] = "", esc[512], escc[128];

	if ((unsigned)kind >= ATTACH_UNSEEN__MAX)
		return;
	slot = &a->noted[kind][(unsigned)pid % NOTED_PIDS];
	if (*slot == pid)
		return;
	*slot = pid;
	a->st.unseen[kind]++;
	proc_read_comm(pid, comm, sizeof(comm));
	log_warn("pid %d (%s, %s) %s: its LLM calls are not metered yet", pid,
		 escape_str(escc, sizeof(escc), comm), escape_str(esc, sizeof(esc), file),
		 unseen_why[kind]);
}

/* --- discovery ----------------------------------------------------------- */

/* What one look at a process found. */
struct lib_ctx {
	struct attacher *a;
	struct tracked *tr;		/* scoped: the process to probe */
	int openssl;			/* it carries an OpenSSL we probe */
	char unseen[ATTACH_UNSEEN__MAX][256];	/* TLS we do not see: a file of each */
};

static void saw_unseen(struct lib_ctx *lc, int kind, const char *name)
{
	if (kind >= 0 && kind < ATTACH_UNSEEN__MAX && !lc->unseen[kind][0])
		snprintf(lc->unseen[kind], sizeof(lc->unseen[kind]), "%.255s", name);
}

/*
 * Names the process if it has TLS we do not see and no OpenSSL we do (a
 * process that maps both, like curl whose dependencies pull in GnuTLS,
 * is most likely on OpenSSL).
 */
static void note_process(struct lib_ctx *lc, pid_t pid)
{
	int k;

	if (lc->openssl)
		return;
	for (k = 0; k < ATTACH_UNSEEN__MAX; k++)
		if (lc->unseen[k][0])
			attacher__note_unseen(lc->a, pid, k, lc->unseen[k]);
}

static int on_lib(void *ctx, pid_t pid, const char *path, const char *name,
		  enum proc_lib_kind kind)
{
	enum target_kind tk = TARGET_LIB;
	struct lib_ctx *lc = ctx;
	struct target *t;
	int unseen;

	switch (kind) {
	case PROC_LIB_NSS:
		saw_unseen(lc, ATTACH_UNSEEN_NSS, name);
		return 0;
	case PROC_LIB_GNUTLS:
		tk = TARGET_GNUTLS;
		break;
	case PROC_LIB_LDSO:
		tk = TARGET_LDSO;
		break;
	default:
		break;
	}
	t = target_get(lc->a, path, name, tk, &unseen);
	saw_unseen(lc, unseen, name);	/* a GnuTLS without its record functions */
	if (t && t->has_ssl)
		lc->openssl = 1;
	if (t && lc->tr)
		tracked_add_target(lc->a, lc->tr, t);
	return 0;
}

static struct target *exe_target(struct lib_ctx *lc, pid_t pid)
{
	char path[64], name[PATH_MAX];
	struct target *t;
	int unseen;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	if (proc_read_exe(pid, name, sizeof(name)))
		snprintf(name, sizeof(name), "%s", path);
	t = target_get(lc->a, path, name, TARGET_EXE, &unseen);
	if (t && t->has_ssl)
		lc->openssl = 1;
	saw_unseen(lc, unseen, name);
	return t;
}

/* Everything a process carries: its libssl mappings, its dynamic linker
 * and its executable. */
/*
 * A process that has just exec'd an executable whose probes are not in
 * place for it yet is held still (a ptrace-stop it does not see, nor does
 * its parent) until they are, so that its first call is not missed: an
 * executable not seen before (looked at, and if it names built-in TLS
 * analysed: 0.2-0.8 s, once per file), and, with a scope, one that
 * carries TLS tollgate probes per process (attached in a millisecond or
 * two).  Best effort: the hold begins when the agent handles the exec, a
 * few milliseconds after it, and a program that calls sooner is not held
 * in time.  1 when held.
 */
static int hold_at_exec(struct attacher *a, pid_t pid, struct freeze *fz)
{
	char path[64];
	struct stat sb;
	struct target *t;

	if (pid != a->exec_pid || never_touch(a, pid))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	if (stat(path, &sb) || !S_ISREG(sb.st_mode))
		return 0;
	t = target_find(a, sb.st_dev, sb.st_ino);
	if (t && !(a->scoped && t->has_ssl && !t->disabled))
		return 0;
	/* a file not seen before is held for before it is looked at: the
	 * look itself (the marker in its read-only data) takes milliseconds,
	 * as long as some programs take to make their first call */
	if (!t && neg_find(a, sb.st_dev, sb.st_ino))
		return 0;
	if (freeze__begin(fz, pid) < 0)
		return 0;
	a->st.exec_holds++;
	return 1;
}

static void probe_process(struct attacher *a, pid_t pid, struct tracked *tr)
{
	struct lib_ctx lc = { .a = a, .tr = tr };
	struct freeze fz;
	int held = hold_at_exec(a, pid, &fz);
	struct target *t;

	proc_for_each_lib(pid, on_lib, &lc);
	t = exe_target(&lc, pid);
	if (t && tr)
		tracked_add_target(a, tr, t);
	if (held)
		freeze__end(&fz);
	note_process(&lc, pid);
}

/* A process out of scope: its libraries are learnt, nothing is probed. */
static void learn_process(struct attacher *a, pid_t pid)
{
	proc_for_each_lib(pid, on_lib, &(struct lib_ctx){ .a = a });
}

/*
 * A process entering the scope: probe what it maps now, and every libssl
 * known on the host, so that one it loads later is covered from its first
 * call (a per-process probe on a file applies when the file is mapped, and
 * survives exec).  A library not known yet is found when the dynamic
 * linker reports it (LINKMAP), before its code runs.
 */
static void track(struct attacher *a, pid_t pid)
{
	struct tracked *tr = tracked_get(a, pid);
	struct target *t;

	if (!tr)
		return;
	log_debug("pid %d is in scope", pid);
	epoch_next(a, pid);
	probe_process(a, pid, tr);
	for (t = a->targets; t; t = t->next)
		if (t->is_lib)
			tracked_add_target(a, tr, t);
}

static void scan_one(void *ctx, pid_t pid)
{
	struct attacher *a = ctx;

	if (never_touch(a, pid) || proc_is_kthread(pid))
		return;
	if (!a->scoped) {
		probe_process(a, pid, NULL);
		return;
	}
	/* Learn every libssl on the host; probe only processes in scope. */
	if (attacher__in_scope(a, pid))
		track(a, pid);
	else
		learn_process(a, pid);
}

/* The libssl and dynamic linker files installed on the host. */
static void scan_lib_dirs(struct attacher *a)
{
	static const struct {
		const char *pat;
		enum target_kind kind;
	} patterns[] = {
		{ "libssl.so*", TARGET_LIB }, { "libgnutls.so*", TARGET_GNUTLS },
		{ "ld-linux*.so*", TARGET_LDSO }, { "ld-musl*.so*", TARGET_LDSO },
	};
	char pat[512];
	glob_t g;
	size_t i, j, k;
	int unseen;

	for (i = 0; i < sizeof(lib_dirs) / sizeof(lib_dirs[0]); i++) {
		for (j = 0; j < sizeof(patterns) / sizeof(patterns[0]); j++) {
			snprintf(pat, sizeof(pat), "%s/%s", lib_dirs[i], patterns[j].pat);
			if (glob(pat, 0, NULL, &g))
				continue;
			for (k = 0; k < g.gl_pathc; k++)
				target_get(a, g.gl_pathv[k], g.gl_pathv[k], patterns[j].kind,
					   &unseen);
			globfree(&g);
		}
	}
}

void attacher__set_scope(struct attacher *a, int (*fn)(void *ctx, pid_t pid), void *ctx)
{
	a->scope_fn = fn;
	a->scope_ctx = ctx;
	a->scoped = 1;
}

static void rescope_one(void *ctx, pid_t pid)
{
	struct attacher *a = ctx;
	int in;

	if (never_touch(a, pid) || proc_is_kthread(pid))
		return;
	in = attacher__in_scope(a, pid);
	if (in && !*tracked_slot(a, pid))
		track(a, pid);
	else if (!in && *tracked_slot(a, pid))
		tracked_drop(a, pid);
}

int attacher__rescope(struct attacher *a)
{
	if (!a->scoped)
		return 0;
	return proc_for_each_pid(rescope_one, a);
}

int attacher__scan(struct attacher *a)
{
	scan_lib_dirs(a);
	return proc_for_each_pid(scan_one, a);
}

int attacher__on_proc(struct attacher *a, const struct tg_ev_proc *e)
{
	pid_t pid = e->hdr.tgid;
	struct tracked *tr, *parent;
	struct pid_target *pt;

	if (never_touch(a, pid))
		return 0;
	/* only an exec may hold its process (hold_at_exec) */
	a->exec_pid = e->hdr.type == TG_EV_EXEC ? pid : 0;
	switch (e->hdr.type) {
	case TG_EV_EXEC:
		/* The kernel has mapped the executable and its dynamic linker. */
		if (!a->scoped) {
			probe_process(a, pid, NULL);
			break;
		}
		/* The new image is checked against the scope afresh. */
		tr = *tracked_slot(a, pid);
		if (!attacher__in_scope(a, pid)) {
			tracked_drop(a, pid);
			learn_process(a, pid);
			return tr != NULL;
		} else if (tr) {
			tracked_drop_exes(a, tr);
			probe_process(a, pid, tr);
		} else {
			track(a, pid);
		}
		break;
	case TG_EV_LINKMAP:
		/* Libraries loaded at start-up or by dlopen: probed for
		 * everyone without a scope, for this process if it is in
		 * scope, else only learnt. */
		tr = a->scoped ? *tracked_slot(a, pid) : NULL;
		if (!a->scoped || tr)
			probe_process(a, pid, tr);
		else
			learn_process(a, pid);
		break;
	case TG_EV_FORK:
		if (!a->scoped)
			break;
		parent = *tracked_slot(a, e->ppid);
		/* clone3(CLONE_INTO_CGROUP) can start the child in another
		 * cgroup than its parent's: into the scope, or out of it. */
		if (!parent) {
			if (e->hdr.cgroup_id != e->reserved[0] && attacher__in_scope(a, pid))
				track(a, pid);
			break;
		}
		if (e->hdr.cgroup_id != e->reserved[0] && !attacher__in_scope(a, pid))
			break;
		/* The child runs the parent's image until it execs. */
		tr = tracked_get(a, pid);
		if (!tr)
			break;
		for (pt = parent->targets; pt; pt = pt->next)
			tracked_add_target(a, tr, pt->t);
		break;
	case TG_EV_CGROUP:
		if (!a->scoped)
			break;
		if (attacher__in_scope(a, pid)) {
			if (!*tracked_slot(a, pid))
				track(a, pid);
		} else if (*tracked_slot(a, pid)) {
			tracked_drop(a, pid);
			return 1;
		}
		break;
	case TG_EV_EXIT:
		tracked_drop(a, pid);
		if (a->scoped)
			epoch_forget(a, pid);
		break;
	}
	return 0;
}

struct attacher *attacher__new(struct capture_bpf *skel, char *const *globs, size_t nglobs)
{
	struct attacher *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->skel = skel;
	a->globs = globs;
	a->nglobs = nglobs;
	a->scoped = nglobs > 0;
	a->self = getpid();
	a->cache_dir = attach_cache_dir();
	if (reaper_start(&a->reaper))
		log_warn("no detach threads: detaching will stall the event loop");
	return a;
}

/*
 * A discovered target whose probes saw what its functions cannot produce
 * (a result larger than asked, a record that is not TLS) is a wrong
 * discovery: its probes go, for every process, and it is said.
 */
void attacher__check(struct attacher *a)
{
	struct target *t;
	struct pid_target *pt;
	uint64_t bad;
	uint32_t key;
	size_t i;
	char esc[512], why[DISCOVER_EVIDENCE];
	int fd = bpf_map__fd(a->skel->maps.probe_bad);

	for (t = a->targets; t; t = t->next) {
		if (!t->disc || t->disabled)
			continue;
		key = t->id;
		if (bpf_map_lookup_elem(fd, &key, &bad) || bad == t->bad)
			continue;
		t->bad = bad;
		t->disabled = 1;
		a->st.disabled++;
		log_warn("%s in %s disabled: %llu results that cannot be TLS plaintext "
			 "(%s)", flavor_name[t->flavor], escape_str(esc, sizeof(esc), t->name),
			 (unsigned long long)bad, t->disc->evidence);
		/* and not probed again, by this agent or the next */
		snprintf(why, sizeof(why), "disabled after %llu results that cannot be TLS "
			 "plaintext; it had found: %.600s", (unsigned long long)bad,
			 t->disc->evidence);
		discover_cache_refuse(a->cache_dir, t->disc->id, DISCOVER_NONE, why);
		links_destroy(a, t->glinks, &t->nglinks);
		for (i = 0; i < PID_BUCKETS; i++) {
			struct tracked *tr;

			for (tr = a->pids[i]; tr; tr = tr->next)
				for (pt = tr->targets; pt; pt = pt->next)
					if (pt->t == t)
						links_destroy(a, pt->links, &pt->nlinks);
		}
	}
}

void attacher__stats(const struct attacher *a, struct attach_stats *out)
{
	*out = a->st;
}

void attacher__free(struct attacher *a)
{
	struct target *t;
	size_t i;

	if (!a)
		return;
	for (i = 0; i < PID_BUCKETS; i++)
		while (a->pids[i])
			tracked_drop(a, a->pids[i]->pid);
	for (i = 0; i < AEAD_TPS; i++)
		bpf_link__destroy(a->aead_tps[i]);
	while ((t = a->targets)) {
		a->targets = t->next;
		links_destroy(a, t->glinks, &t->nglinks);
		close(t->fd);
		free(t->go);
		free(t->disc);
		free(t);
	}
	reaper_stop(&a->reaper);
	free(a);
}
