// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Discovery of built-in TLS (discover.c) on the real binaries the
 * integration tests run, installed from the npm registry by `make deps`
 * (tests/node): Bun 1.3 and 1.4, Claude Code and Codex.  The addresses
 * checked here are where the BPF tests see plaintext (test_agents.sh);
 * they are the regression net, not how discovery works.  Also: files
 * without such TLS, a binary whose SSL_write no longer raises its reasons
 * (refused, not guessed), truncated images, and the cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "discover.h"
#include "tap.h"

#define NM "tests/node/node_modules/"
#define BUN13 NM "bun13/bin/bun"
#define BUN14 NM "bun14/bin/bun"
#define CLAUDE NM "@anthropic-ai/claude-code-linux-x64/claude"
#define CODEX NM "@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex"

struct map {
	uint8_t *p;
	size_t len;
};

/* A private, writable copy-on-write mapping of the file. */
static int map_file(const char *path, struct map *m)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st)) {
		close(fd);
		return -1;
	}
	m->p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m->p == MAP_FAILED)
		return -1;
	m->len = st.st_size;
	return 0;
}

static void unmap(struct map *m)
{
	munmap(m->p, m->len);
}

static int have(const char *path, const char *name)
{
	if (!access(path, R_OK))
		return 1;
	tap_skip(name, "the npm test packages are not installed (make deps)");
	return 0;
}

/* The probe point of this kind at va, once. */
static int has_fn(const struct discover_result *r, int kind, uint64_t va)
{
	unsigned i, n = 0;

	for (i = 0; i < r->nfn; i++)
		if (r->fn[i].kind == kind && r->fn[i].va == va && r->fn[i].off &&
		    r->fn[i].off <= r->fn[i].va && r->fn[i].sites)
			n++;
	return n == 1;
}

/* want: what to ask for; libs: what must be found; then (kind, va) pairs. */
static void check_found(const char *path, int want, unsigned libs, size_t n, const uint64_t *kv)
{
	struct discover_result res;
	int err = discover_file(path, want, NULL, &res);
	size_t i;

	CHECK(err == 0, "%s: %d (%s)", path, err, res.evidence);
	CHECK(res.libs == libs, "libs %#x, want %#x", res.libs, libs);
	CHECK(res.nfn == n, "%u probe points, want %zu", res.nfn, n);
	for (i = 0; i < n; i++)
		CHECK(has_fn(&res, (int)kv[2 * i], kv[2 * i + 1]), "%s at %#lx: %s",
		      discover_kind_name((int)kv[2 * i]), (unsigned long)kv[2 * i + 1], res.evidence);
	CHECK(!res.cached, "not from a cache");
}

#define BIT(l) (1u << (l))

static void test_bun13(void)
{
	static const uint64_t kv[] = {
		DISCOVER_SSL_WRITE, 0x3e62b50, DISCOVER_SSL_READ, 0x3e627c0,
	};

	check_found(BUN13, DISCOVER_NONE, BIT(DISCOVER_BORINGSSL), 2, kv);
}

static void test_bun14(void)
{
	static const uint64_t kv[] = {
		DISCOVER_SSL_WRITE, 0x2607c30, DISCOVER_SSL_READ, 0x2586500,
	};

	check_found(BUN14, DISCOVER_NONE, BIT(DISCOVER_BORINGSSL), 2, kv);
}

static void test_claude(void)
{
	static const uint64_t kv[] = {
		DISCOVER_SSL_WRITE, 0x3531300, DISCOVER_SSL_READ, 0x35314b0,
	};

	check_found(CLAUDE, DISCOVER_NONE, BIT(DISCOVER_BORINGSSL), 2, kv);
}

/* Codex links three stacks: OpenSSL 3 (its HTTP client, native-tls),
 * rustls over aws-lc and over ring.  ring's seal/open pairs are AES-GCM's
 * and ChaCha20-Poly1305's, in ring 0.17.14's source order. */
static void test_codex(void)
{
	static const uint64_t all[] = {
		DISCOVER_OSSL_WRITE, 0x1222ebc0, DISCOVER_OSSL_READ, 0x1222e5d0,
		DISCOVER_AEAD_SEAL, 0x12629450, DISCOVER_AEAD_OPEN, 0x12629690,
		DISCOVER_RING_SEAL, 0x1149bed0, DISCOVER_RING_OPEN, 0x1149be90,
		DISCOVER_RING_SEAL, 0x1149c0a0, DISCOVER_RING_OPEN, 0x1149c000,
	};

	check_found(CODEX, DISCOVER_NONE, BIT(DISCOVER_OPENSSL) | BIT(DISCOVER_AWSLC) |
		    BIT(DISCOVER_RING), 8, all);
	/* one library asked for: that one only */
	check_found(CODEX, DISCOVER_AWSLC, BIT(DISCOVER_AWSLC), 2, all + 4);
	check_found(CODEX, DISCOVER_RING, BIT(DISCOVER_RING), 4, all + 8);
	check_found(CODEX, DISCOVER_OPENSSL, BIT(DISCOVER_OPENSSL), 2, all);
}

/* Files that carry no such TLS: nothing found, nothing guessed. */
static void test_not_builtin(void)
{
	static const char *const files[] = { "/bin/ls", "/bin/bash", "/usr/bin/openssl" };
	struct discover_result res;
	size_t i;
	int err;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		err = discover_file(files[i], DISCOVER_NONE, NULL, &res);
		CHECK(err == -ENOENT, "%s: %d", files[i], err);
		CHECK_EQ_INT(res.lib, DISCOVER_NONE);
	}
	/* node links OpenSSL 3.0, whose ssl_read/write_internal are inlined
	 * into SSL_read(_ex) and SSL_write(_ex) with their names: several
	 * functions with different ABIs load each name.  Refused, not guessed
	 * (node exports SSL_write & co: the agent never asks). */
	err = discover_file("/usr/bin/node", DISCOVER_NONE, NULL, &res);
	CHECK(err == -EBADMSG && !res.nfn, "node: %d, %u probe points", err, res.nfn);
	CHECK(strstr(res.evidence, "several functions") != NULL, "%s", res.evidence);
	CHECK(discover_file("/nonexistent", 0, NULL, &res) == -ENOENT, "no file");
	CHECK(discover_file("/etc/passwd", 0, NULL, &res) == -ENOENT, "not an ELF");
}

/* SSL_write's BAD_LENGTH site raises another reason: no function has
 * SSL_write's set, and the answer is a refusal that says so. */
static void test_refuses(void)
{
	struct discover_result res;
	struct map m;
	uint64_t i, n = 0, start = 0x3a02b50;	/* SSL_write's file offset */
	int err;

	if (map_file(BUN13, &m)) {
		CHECK(0, "map");
		return;
	}
	/* mov esi, 0x6f (BAD_LENGTH) within SSL_write: this build's
	 * ERR_put_error takes (library, reason, file, line) */
	for (i = start; i < start + 0x200 && i + 5 <= m.len; i++) {
		if (!memcmp(m.p + i, "\xbe\x6f\x00\x00\x00", 5)) {
			m.p[i + 1] = 0x70;
			n++;
		}
	}
	CHECK(n == 1, "patched %lu sites", (unsigned long)n);
	err = discover_mem(m.p, m.len, DISCOVER_BORINGSSL, &res);
	CHECK(err == -EBADMSG, "%d", err);
	CHECK(strstr(res.evidence, "SSL_write: no function matches") != NULL, "%s", res.evidence);
	unmap(&m);
}

/* Cut anywhere, an image gives an answer, never a read outside it. */
static void test_truncated(void)
{
	static const size_t cuts[] = { 0, 16, 64, 200, 4096, 1 << 20 };
	struct discover_result res;
	struct map m;
	size_t i;

	if (map_file(BUN14, &m)) {
		CHECK(0, "map");
		return;
	}
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		CHECK(discover_mem(m.p, cuts[i], 0, &res) < 0, "cut at %zu", cuts[i]);
	/* half the text: sites and entries past the end are not there */
	CHECK(discover_mem(m.p, m.len / 2, 0, &res) != 1, "half");
	CHECK(discover_mem(m.p, m.len - 1, 0, &res) == 0, "all but a byte: %s", res.evidence);
	unmap(&m);
}

static void test_ids(void)
{
	struct discover_result res;

	discover_file(BUN14, DISCOVER_BORINGSSL, NULL, &res);
	CHECK(!strcmp(res.id, "build-id:b5188e4f53b53f3a346614bd78ba53f2ff234402"), "%s", res.id);
	/* the musl Codex has no build id note */
	discover_file(CODEX, DISCOVER_AWSLC, NULL, &res);
	CHECK(!strncmp(res.id, "sha256:", 7) && strlen(res.id) == 7 + 64, "%s", res.id);
}

static void test_cache(void)
{
	char dir[] = "/tmp/tollgate-discover.XXXXXX", sub[128], path[512];
	struct discover_result a, b;
	struct stat st;

	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return;
	}
	snprintf(sub, sizeof(sub), "%s/state/discover", dir);
	CHECK(discover_file(BUN13, 0, sub, &a) == 0, "cold");
	CHECK(!a.cached && a.ns > 0, "analysed");
	CHECK(discover_file(BUN13, 0, sub, &b) == 0, "warm");
	CHECK(b.cached, "from the cache");
	CHECK(b.lib == a.lib && b.libs == a.libs && b.nfn == a.nfn &&
	      !memcmp(b.fn, a.fn, sizeof(a.fn[0]) * a.nfn) && b.ossl_flags == a.ossl_flags,
	      "same answer");
	CHECK(!strcmp(a.evidence, b.evidence), "same evidence");
	CHECK(!stat(sub, &st) && (st.st_mode & 0777) == 0700, "dir mode %o", st.st_mode & 0777);
	snprintf(path, sizeof(path), "%s/build-id-a9a0d18db4f98a86ad4778800c5fa46943f81b2e.0", sub);
	CHECK(!stat(path, &st) && (st.st_mode & 0777) == 0600, "file mode %o", st.st_mode & 0777);
	/* a refusal is kept too */
	CHECK(discover_file("/bin/ls", 0, sub, &a) == -ENOENT, "ls");
	CHECK(discover_file("/bin/ls", 0, sub, &b) == -ENOENT && b.cached, "ls cached");
	/* a damaged entry is analysed again, not trusted */
	{
		FILE *f = fopen(path, "w");

		fputs("tollgate-discover 2 0 1 2 9\n", f);	/* 9 probe points: too many */
		fclose(f);
	}
	CHECK(discover_file(BUN13, 0, sub, &b) == 0 && !b.cached &&
	      has_fn(&b, DISCOVER_SSL_WRITE, 0x3e62b50), "damaged entry");
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	CHECK(system(path) == 0, "cleanup");
}

int main(void)
{
	if (have(BUN13, "test_bun13")) {
		RUN(test_bun13);
		RUN(test_refuses);
		RUN(test_cache);
	}
	if (have(BUN14, "test_bun14")) {
		RUN(test_bun14);
		RUN(test_truncated);
	}
	if (have(CLAUDE, "test_claude"))
		RUN(test_claude);
	if (have(CODEX, "test_codex")) {
		RUN(test_codex);
		RUN(test_ids);
	}
	RUN(test_not_builtin);
	return tap_done();
}
