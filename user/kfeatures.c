// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The kernel features the agent uses, each tried for real at start: a
 * program loaded for uprobe_multi and linked to our own executable, the
 * map types created, the helper probed, cgroup.kill looked for.  A
 * missing one is said with what it costs (DESIGN §3: never depend on a
 * feature a common kernel lacks without saying so).
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include "attach.h"
#include "capture.h"
#include "kfeatures.h"
#include "log.h"
#include "procinfo.h"

static const struct {
	const char *name;
	const char *missing;		/* what the agent cannot do without it */
} feats[FEAT__MAX] = {
	[FEAT_BTF]		= { "BTF", "no BPF program loads (CONFIG_DEBUG_INFO_BTF=y)" },
	[FEAT_UPROBE_MULTI]	= { "uprobe_multi", "no TLS library can be probed (Linux 6.6+)" },
	[FEAT_RINGBUF]		= { "ring buffer", "no event reaches the agent (Linux 5.8+)" },
	[FEAT_TASK_STORAGE]	= { "task storage", "calls cannot be followed (Linux 5.11+)" },
	[FEAT_TRACEPOINTS]	= { "tracepoints", "exec, exit and sockets are not seen" },
	[FEAT_SEND_SIGNAL]	= { "bpf_send_signal", "requests cannot be held (budgets are "
				    "kept, not enforced before the call)" },
	[FEAT_PTRACE]		= { "ptrace", "held calls cannot be made to fail (blocked "
				    "requests are released, or killed where the policy kills), "
				    "no hold at exec" },
	[FEAT_CGROUP2]		= { "cgroup v2", "no team by cgroup, no scope" },
	[FEAT_CGROUP_KILL]	= { "cgroup.kill", "kill_scope: cgroup kills the process "
				    "alone (Linux 5.14+)" },
};

const char *features_name(enum feature i)
{
	return i < FEAT__MAX ? feats[i].name : "?";
}

/* The file offset of the ELF entry point of path (64-bit ELF). */
static long elf_entry_off(const char *path)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	long off = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC), i;

	if (fd < 0)
		return -1;
	if (pread(fd, &eh, sizeof(eh), 0) == sizeof(eh) && !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
	    eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(ph)) {
		for (i = 0; i < eh.e_phnum && off < 0; i++) {
			if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) !=
			    sizeof(ph))
				break;
			if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) &&
			    eh.e_entry >= ph.p_vaddr && eh.e_entry < ph.p_vaddr + ph.p_filesz)
				off = (long)(eh.e_entry - ph.p_vaddr + ph.p_offset);
		}
	}
	close(fd);
	return off;
}

/* A program of the kind the probes are, linked by uprobe_multi to our own
 * entry point (which never runs again) for this process only. */
static int try_uprobe_multi(void)
{
	static const struct bpf_insn prog[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o,
		    .expected_attach_type = (enum bpf_attach_type)TG_BPF_TRACE_UPROBE_MULTI);
	char exe[4096];
	uint64_t off, cookie = 0;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	long entry;
	int pfd, lfd;

	if (n <= 0)
		return 0;
	exe[n] = '\0';
	entry = elf_entry_off(exe);
	if (entry < 0)
		return 0;
	pfd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "tg_feature", "GPL", prog, 2, &o);
	if (pfd < 0)
		return 0;
	off = (uint64_t)entry;
	lfd = attach_multi_link(pfd, exe, &off, &cookie, 1, getpid(), 0);
	close(pfd);
	if (lfd < 0)
		return 0;
	close(lfd);
	return 1;
}

void features_probe(struct features *f, const char *cgroup2_mount)
{
	char cg[4096], path[8400];
	struct utsname u;
	FILE *y;

	memset(f, 0, sizeof(*f));
	if (!uname(&u))
		snprintf(f->kernel, sizeof(f->kernel), "%s", u.release);
	f->have[FEAT_BTF] = !access("/sys/kernel/btf/vmlinux", R_OK);
	f->have[FEAT_UPROBE_MULTI] = try_uprobe_multi();
	f->have[FEAT_RINGBUF] = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1;
	f->have[FEAT_TASK_STORAGE] =
		libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL) == 1;
	f->have[FEAT_TRACEPOINTS] =
		libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACEPOINT, NULL) == 1;
	f->have[FEAT_SEND_SIGNAL] =
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_send_signal, NULL) == 1;
	f->yama = -1;
	y = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
	if (y) {
		if (fscanf(y, "%d", &f->yama) != 1)
			f->yama = -1;
		fclose(y);
	}
#if defined(__x86_64__)
	f->have[FEAT_PTRACE] = f->yama < 3;
#endif
	f->have[FEAT_CGROUP2] = cgroup2_mount != NULL;
	if (cgroup2_mount && !proc_read_cgroup(getpid(), cg, sizeof(cg))) {
		snprintf(path, sizeof(path), "%s%s/cgroup.kill", cgroup2_mount,
			 strcmp(cg, "/") ? cg : "/init.scope");
		f->have[FEAT_CGROUP_KILL] = !access(path, F_OK);
	}
}

void features_log(const struct features *f)
{
	char found[512] = "", missing[1024] = "";
	size_t i, nf = 0, nm = 0;

	for (i = 0; i < FEAT__MAX; i++) {
		if (f->have[i])
			nf += (size_t)snprintf(found + nf, nf < sizeof(found) ? sizeof(found) - nf : 0,
					       "%s%s", nf ? ", " : "", feats[i].name);
		else
			nm += (size_t)snprintf(missing + nm,
					       nm < sizeof(missing) ? sizeof(missing) - nm : 0,
					       "%s%s (%s)", nm ? "; " : "", feats[i].name,
					       feats[i].missing);
	}
	log_info("kernel %s: uses %s%s%s; not used: BPF LSM, fentry, kprobes", f->kernel,
		 found, nm ? "; missing: " : "", missing);
}

struct json_object *features_json(const struct features *f)
{
	struct json_object *o = json_object_new_object(), *found = json_object_new_array(),
			   *missing = json_object_new_array();
	size_t i;

	for (i = 0; i < FEAT__MAX; i++)
		json_object_array_add(f->have[i] ? found : missing,
				      json_object_new_string(feats[i].name));
	json_object_object_add(o, "kernel", json_object_new_string(f->kernel));
	json_object_object_add(o, "found", found);
	json_object_object_add(o, "missing", missing);
	json_object_object_add(o, "yama_ptrace_scope", json_object_new_int(f->yama));
	return o;
}
