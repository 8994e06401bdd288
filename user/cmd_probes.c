// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * `tollgate probes [PID...]`: for running processes (or one file), which
 * TLS stacks they carry, where tollgate probes each and how it found the
 * place -- or why it cannot.  The answer is attach_identify's, the one the
 * agent acts on, with discovery read from the same cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include "attach.h"
#include "escape.h"
#include "procinfo.h"

struct probes_ctx {
	int json;
	int all;		/* list processes without TLS too */
	const char *cache_dir;
	int shown;		/* files reported */
	pid_t pid;
	char comm[64];
	char exe[4096];
	int header;		/* the process's line is out */
	int nfiles;
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
"usage: %s [--json] [--all] [--no-cache] [PID...]\n"
"       %s [--json] [--no-cache] --file PATH\n"
"\n"
"Which TLS stacks each running process carries (every process, or the PIDs\n"
"named), where tollgate probes each and how it found the place: OpenSSL and\n"
"GnuTLS by their symbols, Go's crypto/tls by its symbol table or .gopclntab,\n"
"BoringSSL and aws-lc built into a stripped executable by their error sites\n"
"(the evidence is shown) -- or why a stack cannot be probed.\n"
"\n"
"  -f, --file PATH   one executable or library, not a process\n"
"  -a, --all         also processes that carry no TLS\n"
"      --no-cache    analyse again, ignoring and not writing the cache\n"
"                    (%s, or $TOLLGATE_CACHE_DIR)\n"
"  -j, --json        one JSON object per line\n"
"  -h, --help        this text\n", prog, prog, ATTACH_CACHE_DIR);
}

/* How the probe points were found, in words. */
static void how(const struct attach_ident *id, int kind, char *buf, size_t cap)
{
	static const char *const gnutls_names[] = {
		[SSL_FN_WRITE] = "gnutls_record_send", [SSL_FN_READ] = "gnutls_record_recv",
		[SSL_FN_FREE] = "gnutls_deinit",
	};
	size_t n = 0, i;

	buf[0] = 0;
	switch (id->tls) {
	case ATTACH_TLS_OPENSSL:
	case ATTACH_TLS_GNUTLS:
		n += snprintf(buf, cap, "symbols:");
		for (i = 0; i < SSL_FN__MAX && n < cap; i++) {
			const char *nm = kind == ATTACH_FILE_GNUTLS ? gnutls_names[i] :
								       elfsym_ssl_fn_names[i];

			if (id->syms.off[i] && nm)
				n += snprintf(buf + n, cap - n, " %s", nm);
		}
		return;
	case ATTACH_TLS_GO:
		snprintf(buf, cap, "%s, (*Conn).Write/Read from %s, %u+%u RET probes%s",
			 id->go->version[0] ? id->go->version : "Go",
			 id->go->stripped ? ".gopclntab (stripped)" : "the symbol table",
			 id->go->write.nrets, id->go->read.nrets,
			 id->go->close ? ", (*Conn).Close" : "");
		return;
	case ATTACH_TLS_BUILTIN:
		snprintf(buf, cap, "located by error sites (%s, %s): %s", id->disc->id,
			 id->disc->cached ? "cached" : "analysed now", id->disc->evidence);
		return;
	}
	if (id->unseen >= 0) {
		n = snprintf(buf, cap, "not probed: %s (%s)", attach_unseen_why(id->unseen),
			     strerror(-id->err));
		if (id->disc && id->disc->evidence[0] && n < cap)
			snprintf(buf + n, cap - n, ": %s", id->disc->evidence);
	}
}

static void print_file(struct probes_ctx *c, const char *path, const char *name, int kind)
{
	struct attach_ident id;
	char text[1024], esc[1024];

	attach_identify(path, kind, c->cache_dir, &id);
	if (id.tls < 0 && id.unseen < 0) {
		attach_ident_free(&id);
		return;
	}
	how(&id, kind, text, sizeof(text));
	c->nfiles++;
	c->shown++;
	if (c->json) {
		struct json_object *o = json_object_new_object();

		if (c->pid) {
			json_object_object_add(o, "pid", json_object_new_int(c->pid));
			json_object_object_add(o, "comm", json_object_new_string(c->comm));
		}
		json_object_object_add(o, "file", json_object_new_string(name));
		json_object_object_add(o, "tls", json_object_new_string(
			id.tls >= 0 ? attach_tls_name(id.tls) :
			id.unseen == ATTACH_UNSEEN_GNUTLS ? "GnuTLS" :
			id.unseen == ATTACH_UNSEEN_NSS ? "NSS" :
			id.unseen == ATTACH_UNSEEN_GO ? "Go crypto/tls" :
			id.unseen == ATTACH_UNSEEN_RUSTLS ? "rustls" : "BoringSSL"));
		json_object_object_add(o, "probed", json_object_new_boolean(id.tls >= 0));
		if (id.disc && id.tls >= 0) {
			struct json_object *fns = json_object_new_array();
			unsigned i;

			for (i = 0; i < id.disc->nfn; i++) {
				struct json_object *f = json_object_new_object();

				json_object_object_add(f, "function", json_object_new_string(
					discover_kind_name(id.disc->fn[i].kind)));
				json_object_object_add(f, "addr", json_object_new_int64(
					(int64_t)id.disc->fn[i].va));
				json_object_array_add(fns, f);
			}
			json_object_object_add(o, "probes", fns);
			json_object_object_add(o, "analysis_ms", json_object_new_double(
				id.disc->ns / 1e6));
		}
		json_object_object_add(o, "how", json_object_new_string(text));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		if (c->pid && !c->header) {
			printf("%d %s %s\n", c->pid, escape_str(esc, sizeof(esc), c->comm), c->exe);
			c->header = 1;
		}
		printf("  %-26s %s\n    %s\n", id.tls >= 0 ? attach_tls_name(id.tls) : "(not probed)",
		       escape_str(esc, sizeof(esc), name), text);
	}
	attach_ident_free(&id);
}

static int on_lib(void *ctx, pid_t pid, const char *path, const char *name,
		  enum proc_lib_kind kind)
{
	struct probes_ctx *c = ctx;

	(void)pid;
	if (kind == PROC_LIB_SSL)
		print_file(c, path, name, ATTACH_FILE_LIB);
	else if (kind == PROC_LIB_GNUTLS)
		print_file(c, path, name, ATTACH_FILE_GNUTLS);
	else if (kind == PROC_LIB_NSS && !c->json)
		printf("%s%-26s %s\n    not probed: uses NSS\n", c->header ? "  " : "", "(not probed)",
		       name);
	return 0;
}

static void one_pid(void *ctx, pid_t pid)
{
	struct probes_ctx *c = ctx;
	char path[64];

	if (proc_is_kthread(pid) || proc_read_exe(pid, c->exe, sizeof(c->exe)))
		return;
	c->pid = pid;
	c->header = 0;
	c->nfiles = 0;
	c->comm[0] = 0;
	proc_read_comm(pid, c->comm, sizeof(c->comm));
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	print_file(c, path, c->exe, ATTACH_FILE_EXE);
	proc_for_each_lib(pid, on_lib, c);
	if (!c->nfiles && c->all && !c->json)
		printf("%d %s %s\n  no TLS library tollgate knows\n", pid, c->comm, c->exe);
}

/* 0 if path is a file that can be read, else -errno. */
static int file_readable(const char *path)
{
	struct stat sb;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb))
		err = -errno;
	else if (S_ISDIR(sb.st_mode))
		err = -EISDIR;
	close(fd);
	return err;
}

int cmd_probes(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "all", no_argument, NULL, 'a' },
		{ "no-cache", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct probes_ctx c = { 0 };
	const char *file = NULL;
	char esc[1024];
	int o, i, err;

	c.cache_dir = attach_cache_dir();
	while ((o = getopt_long(argc, argv, "f:ajh", opts, NULL)) != -1) {
		switch (o) {
		case 'f': file = optarg; break;
		case 'a': c.all = 1; break;
		case 'n': c.cache_dir = NULL; break;
		case 'j': c.json = 1; break;
		case 'h': usage(stdout, argv[0]); return 0;
		default: usage(stderr, argv[0]); return 2;
		}
	}
	if (file) {
		if (optind < argc) {
			usage(stderr, argv[0]);
			return 2;
		}
		/* what cannot be read says so, not that it carries no TLS */
		err = file_readable(file);
		if (err) {
			fprintf(stderr, "tollgate probes: %s: %s\n",
				escape_str(esc, sizeof(esc), file), strerror(-err));
			return 1;
		}
		print_file(&c, file, file, strstr(file, "libgnutls") ? ATTACH_FILE_GNUTLS :
					  strstr(file, ".so") ? ATTACH_FILE_LIB : ATTACH_FILE_EXE);
		if (!c.shown && !c.json)
			printf("%s: no TLS library tollgate knows\n", file);
		return 0;
	}
	if (optind == argc) {
		proc_for_each_pid(one_pid, &c);
		return 0;
	}
	for (i = optind; i < argc; i++) {
		char *end;
		long pid = strtol(argv[i], &end, 10);

		if (*end || pid <= 0 || pid > 0x3fffffff) {
			fprintf(stderr, "tollgate probes: not a process id: %s\n", argv[i]);
			return 2;
		}
		c.all = 1;
		c.exe[0] = 0;
		one_pid(&c, (pid_t)pid);
		if (!c.exe[0]) {
			fprintf(stderr, "tollgate probes: no process %ld\n", pid);
			return 1;
		}
	}
	return 0;
}
