// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libFuzzer target for the policy loader: any input loads or fails with
 * -EBADMSG and a message "f.yaml:LINE:COL: why" (LINE, COL >= 1, no
 * control bytes), never crashes or leaks.  A policy that loads is then
 * matched against the input read as a cgroup path, exe, user and key
 * fingerprint, which also runs cg_ident_parse over arbitrary paths.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "attribution.h"
#include "policy.h"

static const char *number(const char *s, size_t max)
{
	unsigned long v;
	char *end;

	if (*s < '1' || *s > '9')
		abort();
	v = strtoul(s, &end, 10);
	if (v > max || *end != ':')
		abort();
	return end + 1;
}

static void check_error(const char *err, size_t size)
{
	const char *s = err;

	if (strncmp(s, "f.yaml:", 7))
		abort();
	s = number(s + 7, size + 1);	/* line */
	s = number(s, size + 1);	/* column */
	if (s[0] != ' ' || !s[1])
		abort();
	for (s = err; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			abort();
}

static void exercise(const struct policy *p, const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), fp[KEY_FP_LEN];
	struct proc_ident id = { .pid = 1, .uid = 1001 };
	struct cg_ident cg;
	int t;

	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	cg_ident_parse(s, &cg);
	key_fingerprint(data, size, fp);
	id.cgroup = s;
	id.exe = s;
	id.user = s;
	id.key_fp = fp;
	t = policy_team_for(p, &id);
	if (t < -1 || t >= (int)p->nteams)
		abort();
	id.cg = &cg;
	id.key_fp = s;
	t = policy_team_for(p, &id);
	if (t < -1 || t >= (int)p->nteams)
		abort();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *p = NULL;
	char err[512];
	int rc;

	rc = policy_load_mem("f.yaml", data, size, &p, err, sizeof(err));
	if (!rc) {
		if (!p || p->version != 1)
			abort();
		exercise(p, data, size);
		policy_free(p);
		return 0;
	}
	if (p)
		abort();
	if (rc == -ENOMEM)
		return 0;
	if (rc != -EBADMSG)
		abort();
	check_error(err, size);
	return 0;
}
