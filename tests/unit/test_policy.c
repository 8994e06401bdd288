// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Policy files (schema, errors with their exact position), cgroup path
 * forms, team attribution and key fingerprints.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "attribution.h"
#include "policy.h"
#include "tap.h"

#define ID64 "8d4c5b1e2f3a4b5c6d7e8f9001122334455667788990aabbccddeeff00112233"
#define ID64B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define POD "0f2c4a1e-7b3d-4c5e-9a8b-1d2e3f4a5b6c"
#define POD_ "0f2c4a1e_7b3d_4c5e_9a8b_1d2e3f4a5b6c"

static char errbuf[1024];

static struct policy *load(const char *yaml)
{
	struct policy *p = NULL;
	int rc;

	errbuf[0] = '\0';
	rc = policy_load_mem("t.yaml", yaml, strlen(yaml), &p, errbuf, sizeof(errbuf));
	CHECK(rc == 0 && p, "rc %d: %s", rc, errbuf);
	return p;
}

/* The load fails with exactly this message. */
static void expect_err(int line, const char *yaml, const char *want)
{
	struct policy *p = NULL;
	int rc;

	errbuf[0] = '\0';
	rc = policy_load_mem("t.yaml", yaml, strlen(yaml), &p, errbuf, sizeof(errbuf));
	CHECK(rc == -EBADMSG && !p, "line %d: rc %d", line, rc);
	CHECK(!strcmp(errbuf, want), "line %d:\n  got  '%s'\n  want '%s'", line, errbuf, want);
	policy_free(p);
}

#define ERR(yaml, want) expect_err(__LINE__, yaml, want)

/* --- loading ---------------------------------------------------------------- */

static const char full_policy[] =
	"# teams by where they run\n"
	"version: 1\n"
	"teams:\n"
	"  - name: search\n"
	"    match:\n"
	"      cgroup: [\"/system.slice/search-*.service\", /tollgate-test/search]\n"
	"      uid: [1001, 0]\n"
	"      exe: /opt/search/bin/*\n"
	"      api_key: [\"sha256:3f2a9c*\", sha256:0123456789ab]\n"
	"  - name: ml\n"
	"    match:\n"
	"      unit: etl-*.service\n"
	"      container: [\"8d4c5b1e2f3a\", " ID64B "]\n"
	"      pod: \"" POD "\"\n"
	"      user: [res-*]\n"
	"  - name: default\n"
	"    match: { any: true }\n"
	"default_price: { input_per_mtok: 15, output_per_mtok: 75.5,\n"
	"                 cached_input_per_mtok: 0.075 }\n";

static void test_load_full(void)
{
	struct policy *p = load(full_policy);
	const struct policy_match *m;

	if (!p)
		return;
	CHECK_EQ_INT(p->version, 1);
	CHECK(!strcmp(p->path, "t.yaml"), "%s", p->path);
	CHECK_EQ_INT(p->nteams, 3);
	CHECK(!strcmp(p->teams[0].name, "search"), "%s", p->teams[0].name);
	CHECK_EQ_INT(p->teams[0].line, 4);
	m = &p->teams[0].match;
	CHECK_EQ_INT(m->cgroup.n, 2);
	CHECK(!strcmp(m->cgroup.v[0], "/system.slice/search-*.service"), "%s", m->cgroup.v[0]);
	CHECK(!strcmp(m->cgroup.v[1], "/tollgate-test/search"), "%s", m->cgroup.v[1]);
	CHECK_EQ_INT(m->nuid, 2);
	CHECK_EQ_INT(m->uid[0], 1001);
	CHECK_EQ_INT(m->uid[1], 0);
	CHECK_EQ_INT(m->exe.n, 1);
	CHECK(!strcmp(m->exe.v[0], "/opt/search/bin/*"), "%s", m->exe.v[0]);
	CHECK_EQ_INT(m->api_key.n, 2);
	CHECK(!strcmp(m->api_key.v[1], "sha256:0123456789ab"), "%s", m->api_key.v[1]);
	CHECK_EQ_INT(m->any, 0);
	CHECK_EQ_INT(m->unit.n + m->container.n + m->pod.n + m->user.n, 0);

	m = &p->teams[1].match;
	CHECK(!strcmp(p->teams[1].name, "ml"), "%s", p->teams[1].name);
	CHECK_EQ_INT(p->teams[1].line, 10);
	CHECK(m->unit.n == 1 && !strcmp(m->unit.v[0], "etl-*.service"), "unit");
	CHECK(m->container.n == 2 && !strcmp(m->container.v[1], ID64B), "container");
	CHECK(m->pod.n == 1 && !strcmp(m->pod.v[0], POD), "pod");
	CHECK(m->user.n == 1 && !strcmp(m->user.v[0], "res-*"), "user");

	CHECK_EQ_INT(p->teams[2].match.any, 1);
	CHECK_EQ_INT(p->teams[2].line, 16);

	CHECK_EQ_INT(p->has_default_price, 1);
	CHECK_EQ_INT(p->default_price.base.input, 15000000000ll);
	CHECK_EQ_INT(p->default_price.base.output, 75500000000ll);
	CHECK_EQ_INT(p->default_price.base.cached_input, 75000000);
	CHECK_EQ_INT(p->default_price.base.cache_write, -1);	/* billed as input */
	CHECK(!strcmp(p->default_price.model, "default"), "%s", p->default_price.model);
	CHECK(p->prices_file == NULL, "%s", p->prices_file);
	policy_free(p);
}

static void test_load_minimal(void)
{
	struct policy *p = load("version: 1\n");

	if (!p)
		return;
	CHECK_EQ_INT(p->nteams, 0);
	CHECK_EQ_INT(p->has_default_price, 0);
	policy_free(p);
	/* an empty list of teams, a document marker, comments, CRLF */
	p = load("---\r\n# c\r\nversion: 1 # one\r\nteams: []\r\n...\r\n");
	if (p)
		CHECK_EQ_INT(p->nteams, 0);
	policy_free(p);
	policy_free(NULL);
}

static void test_shipped_policies(void)
{
	static const char *const files[] = { "policies/default.yaml",
					     "policies/examples/teams.yaml" };
	struct policy *p;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		p = NULL;
		rc = policy_load(files[i], &p, errbuf, sizeof(errbuf));
		CHECK(rc == 0, "%s: %s", files[i], errbuf);
		if (p)
			CHECK(p->nteams >= 1 && p->teams[p->nteams - 1].match.any,
			      "%s: the last team is the catch-all", files[i]);
		policy_free(p);
	}
}

/* --- money and other scalars ----------------------------------------------------- */

static void test_default_price_exact(void)
{
	static const struct {
		const char *text;
		int64_t nano;
	} ok[] = {
		{ "0", 0 },
		{ "15", 15000000000ll },
		{ "2.5", 2500000000ll },
		{ "0.075", 75000000 },
		{ "0.000000001", 1 },
		{ "1.10", 1100000000ll },
		{ "3.0000000000", 3000000000ll },	/* zeros past the 9th decimal */
		{ "1000000", 1000000000000000ll },	/* the cap */
		{ "0.1", 100000000 },			/* not 0.1000000000000000055 */
	};
	char yaml[256];
	struct policy *p;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(yaml, sizeof(yaml),
			 "version: 1\ndefault_price: {input_per_mtok: %s, output_per_mtok: %s}\n",
			 ok[i].text, ok[i].text);
		p = load(yaml);
		if (!p)
			continue;
		CHECK(p->default_price.base.input == ok[i].nano, "%s -> %lld", ok[i].text,
		      (long long)p->default_price.base.input);
		CHECK_EQ_INT(p->default_price.base.output, ok[i].nano);
		policy_free(p);
	}
	/* input_per_mtok's value starts at line 2, column 33 */
	ERR("version: 1\ndefault_price: {input_per_mtok: 0.0000000001, output_per_mtok: 1}\n",
	    "t.yaml:2:33: 'input_per_mtok' must be an amount in USD such as 2.50 "
	    "(at most 9 decimal places)");
	ERR("version: 1\ndefault_price: {input_per_mtok: 1e3, output_per_mtok: 1}\n",
	    "t.yaml:2:33: 'input_per_mtok' must be an amount in USD such as 2.50");
	ERR("version: 1\ndefault_price: {input_per_mtok: -1, output_per_mtok: 1}\n",
	    "t.yaml:2:33: 'input_per_mtok' must be an amount in USD such as 2.50");
	ERR("version: 1\ndefault_price: {input_per_mtok: \"1\", output_per_mtok: 1}\n",
	    "t.yaml:2:33: 'input_per_mtok' must be an amount in USD such as 2.50");
	ERR("version: 1\ndefault_price: {input_per_mtok: 1000000.000000001, output_per_mtok: 1}\n",
	    "t.yaml:2:33: 'input_per_mtok' is out of range (1000000.000000001)");
	ERR("version: 1\ndefault_price: {input_per_mtok: 99999999999999999999, output_per_mtok: 1}\n",
	    "t.yaml:2:33: 'input_per_mtok' is out of range (99999999999999999999)");
	ERR("version: 1\ndefault_price:\n  output_per_mtok: 1\n",
	    "t.yaml:3:3: missing required key 'input_per_mtok' in default_price");
	ERR("version: 1\ndefault_price: 15\n",
	    "t.yaml:2:16: 'default_price' must be a mapping");
}

static void test_scalar_forms(void)
{
	int64_t v;
	uint64_t ns;

	CHECK(!policy_parse_usd("12.345678901", &v) && v == 12345678901ll, "%lld", (long long)v);
	CHECK_EQ_INT(policy_parse_usd("9223372036.854775808", &v), -ERANGE);
	CHECK_EQ_INT(policy_parse_usd("99999999999999999999", &v), -ERANGE);
	CHECK_EQ_INT(policy_parse_usd("", &v), -EINVAL);
	CHECK_EQ_INT(policy_parse_usd(".5", &v), -EINVAL);
	CHECK_EQ_INT(policy_parse_usd("5.", &v), -EINVAL);
	CHECK_EQ_INT(policy_parse_usd("+5", &v), -EINVAL);
	CHECK_EQ_INT(policy_parse_usd("5 ", &v), -EINVAL);

	CHECK(!policy_parse_percent("80%", &v) && v == 8000, "%lld", (long long)v);
	CHECK(!policy_parse_percent("12.5%", &v) && v == 1250, "%lld", (long long)v);
	CHECK(!policy_parse_percent("0.01%", &v) && v == 1, "%lld", (long long)v);
	CHECK_EQ_INT(policy_parse_percent("0.001%", &v), -ERANGE);	/* too precise */
	CHECK_EQ_INT(policy_parse_percent("80", &v), -EINVAL);
	CHECK_EQ_INT(policy_parse_percent("80 %", &v), -EINVAL);

	CHECK(!policy_parse_duration("60s", &ns) && ns == 60000000000ull, "%llu",
	      (unsigned long long)ns);
	CHECK(!policy_parse_duration("15m", &ns) && ns == 900000000000ull, "15m");
	CHECK(!policy_parse_duration("500ms", &ns) && ns == 500000000ull, "500ms");
	CHECK(!policy_parse_duration("1h", &ns) && ns == 3600000000000ull, "1h");
	CHECK(!policy_parse_duration("1d", &ns) && ns == 86400000000000ull, "1d");
	CHECK(!policy_parse_duration("2w", &ns) && ns == 1209600000000000ull, "2w");
	CHECK_EQ_INT(policy_parse_duration("60", &ns), -EINVAL);
	CHECK_EQ_INT(policy_parse_duration("s", &ns), -EINVAL);
	CHECK_EQ_INT(policy_parse_duration("1.5h", &ns), -EINVAL);
	CHECK_EQ_INT(policy_parse_duration("99999999999999999999s", &ns), -ERANGE);
	CHECK_EQ_INT(policy_parse_duration("999999999999w", &ns), -ERANGE);
}

/* --- errors, each at the offending node ------------------------------------------ */

static void test_errors_structure(void)
{
	ERR("", "t.yaml:1:1: the policy is empty (expected version: 1, teams: ...)");
	ERR("# only a comment\n", "t.yaml:1:1: the policy is empty (expected version: 1, teams: ...)");
	ERR("- version\n", "t.yaml:1:1: a policy must be a mapping of keys (version: 1, teams: ...)");
	ERR("--- 1\n", "t.yaml:1:5: a policy must be a mapping of keys (version: 1, teams: ...)");
	ERR("teams: []\n", "t.yaml:1:1: missing required key 'version' in the policy");
	ERR("version: 1\n---\nversion: 1\n",
	    "t.yaml:2:1: only one YAML document is allowed in a policy file");
	ERR("version: 2\n", "t.yaml:1:10: 'version' must be 1");
	ERR("version: \"1\"\n", "t.yaml:1:10: 'version' must be an integer");
	ERR("version: 01\n", "t.yaml:1:10: 'version' must be an integer");
	ERR("version:\n", "t.yaml:1:9: 'version' must be an integer");
	ERR("version: 1\nversion: 1\n", "t.yaml:2:1: duplicate key 'version' (first at line 1)");
	ERR("version: 1\nteams:\n  - name: a\n    match: {any: true}\n    name: b\n",
	    "t.yaml:5:5: duplicate key 'name' (first at line 3)");
	ERR("version: 1\nteam: []\n",
	    "t.yaml:2:1: unknown key 'team' in the policy (expected version, teams, "
	    "default_price, prices, loop_guard, alerts, mode, timezone or hold_timeout)");
	ERR("version: 1\nteams:\n  - name: a\n    match: {any: true}\n    matches: {}\n",
	    "t.yaml:5:5: unknown key 'matches' in team (expected name, match, budgets, "
	    "rate_limits, models, max_tokens_cap or kill_scope)");
	ERR("version: 1\nteams:\n  - name: a\n    match: {cgroup: /a, uuid: 1}\n",
	    "t.yaml:4:25: unknown key 'uuid' in match (expected cgroup, unit, container, pod, "
	    "uid, user, exe, api_key or any)");
	ERR("version: 1\n[a]: 1\n", "t.yaml:2:1: keys in the policy must be plain names");
	/* hostile text is escaped in messages */
	ERR("version: 1\n\"k\\e[2J\": 1\n",
	    "t.yaml:2:1: unknown key 'k\\x1b[2J' in the policy (expected version, teams, "
	    "default_price, prices, loop_guard, alerts, mode, timezone or hold_timeout)");
}

static void test_errors_types(void)
{
	ERR("version: 1\nteams: {name: a}\n", "t.yaml:2:8: 'teams' must be a list of mappings");
	ERR("version: 1\nteams:\n  - a\n", "t.yaml:3:5: each entry of 'teams' must be a mapping");
	ERR("version: 1\nteams:\n  - name: [a]\n    match: {any: true}\n",
	    "t.yaml:3:11: 'name' must be a string");
	ERR("version: 1\nteams:\n  - name:\n    match: {any: true}\n",
	    "t.yaml:3:10: 'name' must be a string");
	ERR("version: 1\nteams:\n  - name: \"\"\n    match: {any: true}\n",
	    "t.yaml:3:11: 'name' is empty");
	ERR("version: 1\nteams:\n  - name: a\n    match: [any]\n",
	    "t.yaml:4:12: 'match' must be a mapping");
	ERR("version: 1\nteams:\n  - name: a\n    match: {any: yes}\n",
	    "t.yaml:4:18: 'any' must be true or false");
	ERR("version: 1\nteams:\n  - name: a\n    match: {cgroup: {a: b}}\n",
	    "t.yaml:4:21: 'cgroup' must be a string or a list of strings");
	ERR("version: 1\nteams:\n  - name: a\n    match: {cgroup: [/a, [/b]]}\n",
	    "t.yaml:4:26: 'cgroup' must be a string or a list of strings");
	ERR("version: 1\nteams:\n  - name: a\n    match: {uid: [1000, bob]}\n",
	    "t.yaml:4:25: 'uid' must be an integer or a list of integers");
	ERR("version: 1\nteams:\n  - name: a\n    match: {uid: -1}\n",
	    "t.yaml:4:18: 'uid' must be between 0 and 4294967294");
	ERR("version: 1\nteams:\n  - name: a\n    match: {uid: 4294967295}\n",
	    "t.yaml:4:18: 'uid' must be between 0 and 4294967294");
	ERR("version: 1\nteams:\n  - name: a\n    match: {exe: \"/a\\0b\"}\n",
	    "t.yaml:4:18: 'exe' contains a NUL byte");
	ERR("version: 1\nprices: ''\n", "t.yaml:2:9: 'prices' is empty");
}

static void test_errors_teams(void)
{
	ERR("version: 1\nteams:\n  - match: {any: true}\n",
	    "t.yaml:3:5: missing required key 'name' in team");
	ERR("version: 1\nteams:\n  - name: a\n",
	    "t.yaml:3:5: missing required key 'match' in team");
	ERR("version: 1\nteams:\n  - name: a\n    match: {}\n",
	    "t.yaml:4:12: empty match: give at least one of cgroup, unit, container, pod, uid, "
	    "user, exe, api_key, or any: true");
	ERR("version: 1\nteams:\n  - name: a\n    match:\n      cgroup: []\n      any: false\n",
	    "t.yaml:5:7: empty match: give at least one of cgroup, unit, container, pod, uid, "
	    "user, exe, api_key, or any: true");
	ERR("version: 1\nteams:\n  - name: a\n    match: {any: true}\n"
	    "  - name: b\n    match: {any: true}\n  - name: a\n    match: {any: true}\n",
	    "t.yaml:7:11: duplicate team name 'a' (first at line 3)");
	ERR("version: 1\nteams:\n  - name: a b\n    match: {any: true}\n",
	    "t.yaml:3:11: team name 'a b' must be 1 to 64 letters, digits, '.', '_' or '-'");
	/* the name is checked before the match that follows it */
	ERR("version: 1\nteams:\n  - name: \"a\\nb\"\n    match: {}\n",
	    "t.yaml:3:11: team name 'a\\x0ab' must be 1 to 64 letters, digits, '.', '_' or '-'");
}

static void test_errors_globs(void)
{
	ERR("version: 1\nteams:\n  - name: a\n    match: {cgroup: \"/a/[bc\"}\n",
	    "t.yaml:4:21: bad cgroup glob '/a/[bc': a '[' is not closed");
	ERR("version: 1\nteams:\n  - name: a\n    match: {exe: \"/a\\\\\"}\n",
	    "t.yaml:4:18: bad exe glob '/a\\x5c': it ends in a lone backslash");
	ERR("version: 1\nteams:\n  - name: a\n    match: {cgroup: system.slice/x}\n",
	    "t.yaml:4:21: cgroup glob 'system.slice/x' must be an absolute path ('/...')");
	ERR("version: 1\nteams:\n  - name: a\n    match: {exe: python3}\n",
	    "t.yaml:4:18: exe glob 'python3' must be an absolute path ('/...')");
	ERR("version: 1\nteams:\n  - name: a\n    match: {unit: /system.slice/x.service}\n",
	    "t.yaml:4:19: unit '/system.slice/x.service' must be a unit or slice name such as "
	    "'x.service' (use 'cgroup' for paths)");
	ERR("version: 1\nteams:\n  - name: a\n    match: {user: \"[a\"}\n",
	    "t.yaml:4:19: bad user glob '[a': a '[' is not closed");
	ERR("version: 1\nteams:\n  - name: a\n    match: {container: web-1}\n",
	    "t.yaml:4:24: container 'web-1' must be a container id: 64 lowercase hex digits or "
	    "the first 12 (globs allowed)");
	ERR("version: 1\nteams:\n  - name: a\n    match: {container: 8D4C5B1E2F3A}\n",
	    "t.yaml:4:24: container '8D4C5B1E2F3A' must be a container id: 64 lowercase hex "
	    "digits or the first 12 (globs allowed)");
	ERR("version: 1\nteams:\n  - name: a\n    match: {container: 8d4c5b1e2f3}\n",
	    "t.yaml:4:24: container '8d4c5b1e2f3' must be a container id: 64 lowercase hex "
	    "digits or the first 12 (globs allowed)");
	ERR("version: 1\nteams:\n  - name: a\n    match: {pod: my-pod}\n",
	    "t.yaml:4:18: pod 'my-pod' must be a pod UID in lowercase hex and dashes "
	    "(globs allowed)");
}

static void test_errors_api_key(void)
{
	static const char msg[] = "api_key must be a key fingerprint, never the key: 'sha256:' "
		"and the first 12 lowercase hex digits of the key's SHA-256 (globs allowed, "
		"e.g. 'sha256:3f2a9c*')";
	char want[512];

	/* a key pasted by mistake is refused and not echoed */
	snprintf(want, sizeof(want), "t.yaml:4:22: %s", msg);
	ERR("version: 1\nteams:\n  - name: a\n    match: {api_key: sk-proj-abc}\n", want);
	CHECK(!strstr(errbuf, "sk-proj"), "%s", errbuf);
	ERR("version: 1\nteams:\n  - name: a\n    match: {api_key: \"sha256:\"}\n", want);
	ERR("version: 1\nteams:\n  - name: a\n    match: {api_key: sha256:3F2A9C1B7D4E}\n", want);
	/* a full digest would never equal a 12-digit fingerprint */
	ERR("version: 1\nteams:\n  - name: a\n    match: {api_key: sha256:" ID64B "}\n", want);
	ERR("version: 1\nteams:\n  - name: a\n    match: {api_key: md5:3f2a9c1b7d4e}\n", want);
	/* each value of a list is checked at its own position */
	snprintf(want, sizeof(want), "t.yaml:5:38: %s", msg);
	ERR("version: 1\nteams:\n  - name: a\n    match:\n      api_key: [sha256:3f2a9c1b7d4e, "
	    "3f2a9c1b7d4e]\n", want);
	ERR("version: 1\nteams:\n  - name: a\n    match: {api_key: \"sha256:3f[a\"}\n",
	    "t.yaml:4:22: bad api_key glob 'sha256:3f[a': a '[' is not closed");
}

static void test_errors_yaml(void)
{
	/* a key indented one space off: the YAML error, not "missing 'match'" */
	ERR("version: 1\nteams:\n  - name: a\n   match: {any: true}\n",
	    "t.yaml:4:4: invalid YAML: did not find expected '-' indicator while parsing a "
	    "block collection");
	ERR("version: 1\nteams: [a\n",
	    "t.yaml:3:1: invalid YAML: did not find expected ',' or ']' while parsing a flow "
	    "sequence");
	ERR("version: 1\n\tteams: []\n",
	    "t.yaml:2:1: invalid YAML: found a tab character that violates indentation while "
	    "scanning a plain scalar");
	/* reader errors carry an offset only: placed by counting */
	ERR("version: 1\nteams:\n  - name: a\xff\n", "t.yaml:3:12: invalid YAML: invalid leading UTF-8 octet");
	ERR("version: 1\nteams: \"\x01\"\n", "t.yaml:2:9: invalid YAML: control characters are not allowed");
	ERR("version: 1\nx: !!str a\n", "t.yaml:2:4: tags are not supported in policy files");
}

/* The billion laughs: refused at the first anchor, before any expansion. */
static void test_aliases(void)
{
	ERR("version: 1\n"
	    "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
	    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
	    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
	    "t.yaml:2:4: anchors are not supported in policy files");
	ERR("version: 1\nteams: *t\n", "t.yaml:2:8: aliases are not supported in policy files");
	ERR("version: 1\nteams:\n  - &x name: a\n    match: {any: true}\n",
	    "t.yaml:3:5: anchors are not supported in policy files");
	ERR("version: 1\nteams:\n  - name: a\n    match:\n      <<: {any: true}\n",
	    "t.yaml:5:7: unknown key '<<' in match (expected cgroup, unit, container, pod, uid, "
	    "user, exe, api_key or any)");
}

static void test_caps(void)
{
	size_t n = POLICY_FILE_MAX + 1, i, o;
	struct policy *p = NULL;
	char *big = malloc(n + 1), *list;
	int rc;

	if (!big)
		return;
	/* a valid policy of exactly the cap loads; one byte more does not */
	memset(big, '#', n);
	memcpy(big, "version: 1\n", 11);
	big[n - 2] = '\n';
	rc = policy_load_mem("t.yaml", big, n - 1, &p, errbuf, sizeof(errbuf));
	CHECK(rc == 0, "%s", errbuf);
	policy_free(p);
	rc = policy_load_mem("t.yaml", big, n, &p, errbuf, sizeof(errbuf));
	CHECK(rc == -EBADMSG && !p, "rc %d", rc);
	CHECK(!strcmp(errbuf, "t.yaml:1:1: the policy is larger than 1048576 bytes"), "%s",
	      errbuf);
	free(big);

	/* libyaml's costs that grow faster than the input are bounded */
	ERR("version: 1\nx: [[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]\n",
	    "t.yaml:2:19: nested deeper than 16 levels");
	ERR("%TAG !a! x\n%TAG !b! x\n%TAG !c! x\n%TAG !d! x\n%TAG !e! x\n%TAG !f! x\n"
	    "%TAG !g! x\n%TAG !h! x\n%TAG !i! x\n--- {version: 1}\n",
	    "t.yaml:9:1: more than 8 YAML directives");
	p = load("%YAML 1.1\n--- {version: 1}\n");
	policy_free(p);

	/* POLICY_VALUES_MAX values of one key, then one more */
	list = malloc(64 + 8 * (POLICY_VALUES_MAX + 1));
	if (!list)
		return;
	o = (size_t)sprintf(list, "version: 1\nteams:\n- name: a\n  match:\n    uid: [");
	for (i = 0; i <= POLICY_VALUES_MAX; i++)
		o += (size_t)sprintf(list + o, "%s%zu", i ? "," : "", i % 10);
	strcpy(list + o, "]\n");
	/* entry 1025 is at column 11 + 2 * 1024 */
	rc = policy_load_mem("t.yaml", list, strlen(list), &p, errbuf, sizeof(errbuf));
	CHECK(rc == -EBADMSG, "rc %d", rc);
	CHECK(!strcmp(errbuf, "t.yaml:5:2059: 'uid' has more than 1024 entries"), "%s", errbuf);
	free(list);
}

static void test_files(void)
{
	char dir[] = "/tmp/tollgate-policy.XXXXXX", path[256], prices[256], want[1024];
	struct policy *p = NULL;
	FILE *f;
	int rc;

	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/p.yaml", dir);
	snprintf(prices, sizeof(prices), "%s/my-prices.yaml", dir);

	/* `prices` is relative to the policy's directory; it must be there */
	f = fopen(path, "w");
	if (f) {
		fputs("version: 1\nprices: my-prices.yaml\n", f);
		fclose(f);
	}
	rc = policy_load(path, &p, errbuf, sizeof(errbuf));
	snprintf(want, sizeof(want), "%s:2:9: 'prices': cannot read %s: No such file or directory",
		 path, prices);
	CHECK(rc == -EBADMSG && !strcmp(errbuf, want), "%d %s", rc, errbuf);
	f = fopen(prices, "w");
	if (f)
		fclose(f);
	rc = policy_load(path, &p, errbuf, sizeof(errbuf));
	CHECK(rc == 0 && p && p->prices_file && !strcmp(p->prices_file, prices), "%d %s %s", rc,
	      errbuf, p ? p->prices_file : "");
	policy_free(p);

	rc = policy_load(dir, &p, errbuf, sizeof(errbuf));
	snprintf(want, sizeof(want), "%s: Is a directory", dir);
	CHECK(rc == -EISDIR && !strcmp(errbuf, want), "%d %s", rc, errbuf);
	unlink(prices);
	unlink(path);
	rmdir(dir);
	rc = policy_load(path, &p, errbuf, sizeof(errbuf));
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	CHECK(rc == -ENOENT && !p && !strcmp(errbuf, want), "%d %s", rc, errbuf);

	/* from memory nothing is opened; paths resolve against name's directory */
	rc = policy_load_mem("etc/tg/p.yaml", "version: 1\nprices: x.yaml\n", 26, &p, errbuf,
			     sizeof(errbuf));
	CHECK(rc == 0 && p && !strcmp(p->prices_file, "etc/tg/x.yaml"), "%d %s", rc, errbuf);
	policy_free(p);
	rc = policy_load_mem("p.yaml", "version: 1\nprices: /abs/x.yaml\n", 31, &p, errbuf,
			     sizeof(errbuf));
	CHECK(rc == 0 && p && !strcmp(p->prices_file, "/abs/x.yaml"), "%d %s", rc, errbuf);
	policy_free(p);
}

/* --- budgets, rules, and the keys beyond teams ------------------------------------ */

static const char budgets_policy[] =
	"version: 1\n"
	"teams:\n"
	"  - name: search\n"
	"    match: { unit: search.slice }\n"
	"    budgets:\n"
	"      - window: day\n"
	"        limit_usd: 50\n"
	"        alert_at: 80%\n"
	"        action: throttle\n"
	"      - { window: month, limit_usd: 900, alert_at: [50%, 80%, 95%], action: block,\n"
	"          strict: true }\n"
	"      - { window: \"rolling:15m\", limit_tokens: 2000000, action: kill, strict: true }\n"
	"      - { window: hour, limit_usd: 0.000000001, alert_at: [], action: alert }\n"
	"      - { window: week, limit_usd: 1000000000, alert_at: [1%, 12.5%, 100%] }\n"
	"    rate_limits: { requests_per_minute: 600, tokens_per_minute: 200000 }\n"
	"    models: { deny: [\"o1-pro*\", \"gpt-4.5*\"], allow: gpt-4o* }\n"
	"    max_tokens_cap: 4096\n"
	"    kill_scope: cgroup\n"
	"  - name: default\n"
	"    match: { any: true }\n"
	"    rate_limits: { tokens_per_minute: 1 }\n"
	"loop_guard: { identical_requests: 20, within: 60s, action: kill }\n"
	"alerts: { exec: /usr/local/bin/notify }\n"
	"mode: monitor\n"
	"timezone: Europe/Paris\n"
	"hold_timeout: 500ms\n";

static void test_load_budgets(void)
{
	struct policy *p = load(budgets_policy);
	const struct policy_budget *b;
	const struct policy_team *t;

	if (!p)
		return;
	t = &p->teams[0];
	CHECK_EQ_INT(t->nbudgets, 5);
	b = &t->budgets[0];
	CHECK_EQ_INT(b->window, PW_DAY);
	CHECK_EQ_INT(b->rolling_ns, 0);
	CHECK_EQ_INT(b->limit_nusd, 50000000000ll);
	CHECK_EQ_INT(b->limit_tokens, -1);
	CHECK(b->nalert == 1 && b->alert_at_bp[0] == 8000, "%zu", b->nalert);
	CHECK_EQ_INT(b->action, PA_THROTTLE);
	CHECK_EQ_INT(b->strict, 0);
	CHECK_EQ_INT(b->line, 6);

	b = &t->budgets[1];
	CHECK_EQ_INT(b->window, PW_MONTH);
	CHECK_EQ_INT(b->limit_nusd, 900000000000ll);
	CHECK(b->nalert == 3 && b->alert_at_bp[0] == 5000 && b->alert_at_bp[1] == 8000 &&
	      b->alert_at_bp[2] == 9500, "%zu", b->nalert);
	CHECK_EQ_INT(b->action, PA_BLOCK);
	CHECK_EQ_INT(b->strict, 1);
	CHECK_EQ_INT(b->line, 10);

	/* a token budget may be strict too */
	b = &t->budgets[2];
	CHECK_EQ_INT(b->window, PW_ROLLING);
	CHECK_EQ_INT(b->rolling_ns, 900000000000ull);
	CHECK_EQ_INT(b->limit_nusd, -1);
	CHECK_EQ_INT(b->limit_tokens, 2000000);
	CHECK_EQ_INT(b->nalert, 0);
	CHECK_EQ_INT(b->action, PA_KILL);
	CHECK_EQ_INT(b->strict, 1);

	/* the bounds */
	b = &t->budgets[3];
	CHECK_EQ_INT(b->window, PW_HOUR);
	CHECK_EQ_INT(b->limit_nusd, 1);
	CHECK_EQ_INT(b->nalert, 0);
	CHECK_EQ_INT(b->action, PA_ALERT);
	b = &t->budgets[4];
	CHECK_EQ_INT(b->window, PW_WEEK);
	CHECK_EQ_INT(b->limit_nusd, 1000000000000000000ll);
	CHECK(b->nalert == 3 && b->alert_at_bp[0] == 100 && b->alert_at_bp[1] == 1250 &&
	      b->alert_at_bp[2] == 10000, "%zu", b->nalert);
	CHECK_EQ_INT(b->action, PA_ALERT);	/* the default */

	CHECK_EQ_INT(t->rate.requests_per_minute, 600);
	CHECK_EQ_INT(t->rate.tokens_per_minute, 200000);
	CHECK(t->models.deny.n == 2 && !strcmp(t->models.deny.v[1], "gpt-4.5*"), "deny");
	CHECK(t->models.allow.n == 1 && !strcmp(t->models.allow.v[0], "gpt-4o*"), "allow");
	CHECK_EQ_INT(t->max_tokens_cap, 4096);
	CHECK_EQ_INT(t->kill_scope, PK_CGROUP);

	/* a team's rules are its own */
	t = &p->teams[1];
	CHECK(t->nbudgets == 0 && !t->budgets, "%zu", t->nbudgets);
	CHECK_EQ_INT(t->rate.requests_per_minute, 0);
	CHECK_EQ_INT(t->rate.tokens_per_minute, 1);
	CHECK_EQ_INT(t->models.allow.n + t->models.deny.n, 0);
	CHECK_EQ_INT(t->max_tokens_cap, 0);
	CHECK_EQ_INT(t->kill_scope, PK_PROCESS);

	CHECK_EQ_INT(p->loop_guard.identical_requests, 20);
	CHECK_EQ_INT(p->loop_guard.within_ns, 60000000000ull);
	CHECK_EQ_INT(p->loop_guard.action, PA_KILL);
	/* from memory, no file is looked at */
	CHECK(p->alerts_exec && !strcmp(p->alerts_exec, "/usr/local/bin/notify"), "%s",
	      p->alerts_exec);
	CHECK_EQ_INT(p->mode, PM_MONITOR);
	CHECK(p->timezone && !strcmp(p->timezone, "Europe/Paris"), "%s", p->timezone);
	CHECK_EQ_INT(p->hold_timeout_ns, 500000000ull);
	policy_free(p);
}

static void test_load_defaults(void)
{
	struct policy *p = load("version: 1\nteams:\n  - name: a\n    match: {any: true}\n"
				"    budgets:\n      - {window: rolling:31d, limit_usd: 1}\n"
				"loop_guard: {within: 1s, identical_requests: 2}\n"
				"timezone: UTC\nhold_timeout: 100ms\n");

	if (!p)
		return;
	CHECK_EQ_INT(p->teams[0].budgets[0].rolling_ns, 31 * 86400000000000ull);
	CHECK_EQ_INT(p->teams[0].budgets[0].action, PA_ALERT);
	CHECK_EQ_INT(p->teams[0].budgets[0].strict, 0);
	CHECK_EQ_INT(p->loop_guard.action, PA_ALERT);
	CHECK_EQ_INT(p->loop_guard.within_ns, 1000000000ull);
	CHECK(p->timezone && !strcmp(p->timezone, "UTC"), "%s", p->timezone);
	CHECK_EQ_INT(p->hold_timeout_ns, 100000000ull);
	CHECK_EQ_INT(p->mode, PM_ENFORCE);
	policy_free(p);

	/* what a policy leaves out */
	p = load("version: 1\nmode: enforce\nloop_guard: {identical_requests: 100000, "
		 "within: 1d}\nhold_timeout: 60s\n");
	if (p) {
		CHECK_EQ_INT(p->mode, PM_ENFORCE);
		CHECK_EQ_INT(p->loop_guard.identical_requests, 100000);
		CHECK_EQ_INT(p->hold_timeout_ns, 60000000000ull);
	}
	policy_free(p);
	p = load("version: 1\n");
	if (!p)
		return;
	CHECK_EQ_INT(p->loop_guard.identical_requests, 0);
	CHECK_EQ_INT(p->loop_guard.action, PA_ALERT);
	CHECK(!p->alerts_exec && !p->timezone, "alerts, timezone");
	CHECK_EQ_INT(p->mode, PM_ENFORCE);
	CHECK_EQ_INT(p->hold_timeout_ns, 2000000000ull);
	policy_free(p);
}

#define TEAM "version: 1\nteams:\n  - name: a\n    match: {any: true}\n"
/* one budget, on line 6 from column 9 */
#define BUDGET(b) TEAM "    budgets:\n      - " b "\n"

static void test_errors_budgets(void)
{
	struct policy *p;
	char *yaml;
	size_t i, o;

	ERR(TEAM "    budgets: {window: day}\n",
	    "t.yaml:5:14: 'budgets' must be a list of mappings");
	ERR(TEAM "    budgets:\n      - day\n",
	    "t.yaml:6:9: each entry of 'budgets' must be a mapping");
	ERR(BUDGET("{limit_usd: 5}"), "t.yaml:6:9: missing required key 'window' in budget");
	ERR(BUDGET("{window: day, limit: 5}"),
	    "t.yaml:6:23: unknown key 'limit' in budget (expected window, limit_usd, "
	    "limit_tokens, alert_at, action or strict)");

	/* windows */
	ERR(BUDGET("{window: fortnight, limit_usd: 5}"),
	    "t.yaml:6:18: 'window' must be hour, day, week, month or rolling:DURATION such as "
	    "rolling:15m");
	ERR(BUDGET("{window: rolling:abc, limit_usd: 5}"),
	    "t.yaml:6:18: 'window' must be hour, day, week, month or rolling:DURATION such as "
	    "rolling:15m");
	ERR(BUDGET("{window: \"day\\0\", limit_usd: 5}"),
	    "t.yaml:6:18: 'window' must be hour, day, week, month or rolling:DURATION such as "
	    "rolling:15m");
	ERR(BUDGET("{window: rolling:59s, limit_usd: 5}"),
	    "t.yaml:6:18: 'window' rolling span must be between 1m and 31d");
	ERR(BUDGET("{window: rolling:32d, limit_usd: 5}"),
	    "t.yaml:6:18: 'window' rolling span must be between 1m and 31d");
	ERR(BUDGET("{window: rolling:99999999999999999999s, limit_usd: 5}"),
	    "t.yaml:6:18: 'window' rolling span must be between 1m and 31d");

	/* limits: exactly one, each in range */
	ERR(BUDGET("{window: day, limit_usd: 5, limit_tokens: 1000}"),
	    "t.yaml:6:37: 'limit_tokens' and 'limit_usd' (line 6) exclude each other in budget: "
	    "give one");
	ERR(TEAM "    budgets:\n      - limit_tokens: 1000\n        window: day\n"
	    "        limit_usd: 5\n",
	    "t.yaml:8:9: 'limit_usd' and 'limit_tokens' (line 6) exclude each other in budget: "
	    "give one");
	ERR(BUDGET("{window: day, action: block}"),
	    "t.yaml:6:9: missing required key 'limit_usd' or 'limit_tokens' in budget");
	ERR(BUDGET("{window: day, limit_usd: 0}"), "t.yaml:6:34: 'limit_usd' must be more than 0");
	ERR(BUDGET("{window: day, limit_usd: 1000000000.000000001}"),
	    "t.yaml:6:34: 'limit_usd' is out of range (1000000000.000000001)");
	ERR(BUDGET("{window: day, limit_usd: \"$5\"}"),
	    "t.yaml:6:34: 'limit_usd' must be an amount in USD such as 2.50");
	ERR(BUDGET("{window: day, limit_tokens: 0}"),
	    "t.yaml:6:37: 'limit_tokens' must be between 1 and 1000000000000000");
	ERR(BUDGET("{window: day, limit_tokens: 1.5}"),
	    "t.yaml:6:37: 'limit_tokens' must be an integer");

	/* thresholds */
	ERR(BUDGET("{window: day, limit_usd: 5, alert_at: 0%}"),
	    "t.yaml:6:47: 'alert_at' must be between 1% and 100%");
	ERR(BUDGET("{window: day, limit_usd: 5, alert_at: 0.5%}"),
	    "t.yaml:6:47: 'alert_at' must be between 1% and 100%");
	ERR(BUDGET("{window: day, limit_usd: 5, alert_at: 100.01%}"),
	    "t.yaml:6:47: 'alert_at' must be between 1% and 100%");
	ERR(BUDGET("{window: day, limit_usd: 5, alert_at: 80}"),
	    "t.yaml:6:47: 'alert_at' must be a percentage such as 80% or a list of them");
	ERR(BUDGET("{window: day, limit_usd: 5, alert_at: [50%, [80%]]}"),
	    "t.yaml:6:53: 'alert_at' must be a percentage such as 80% or a list of them");
	ERR(BUDGET("{window: day, limit_usd: 5, alert_at: [80%, 50%]}"),
	    "t.yaml:6:53: 'alert_at' must be ascending: 50% is not above 80%");
	ERR(BUDGET("{window: day, limit_usd: 5, alert_at: [12.5%, 12.50%]}"),
	    "t.yaml:6:55: 'alert_at' must be ascending: 12.5% is not above 12.5%");
	ERR(BUDGET("{window: day, limit_usd: 5, alert_at: [1%, 2%, 3%, 4%, 5%, 6%, 7%, 8%, 9%]}"),
	    "t.yaml:6:80: 'alert_at' has more than 8 entries");

	ERR(BUDGET("{window: day, limit_usd: 5, action: stop}"),
	    "t.yaml:6:45: 'action' must be alert, throttle, block or kill");
	ERR(BUDGET("{window: day, limit_usd: 5, action: [block]}"),
	    "t.yaml:6:45: 'action' must be alert, throttle, block or kill");
	ERR(BUDGET("{window: day, limit_usd: 5, strict: yes}"),
	    "t.yaml:6:45: 'strict' must be true or false");

	/* one budget a window: a rolling span is the same however written */
	ERR(TEAM "    budgets:\n      - {window: day, limit_usd: 5}\n"
	    "      - {window: month, limit_usd: 5}\n      - {window: day, limit_tokens: 5}\n",
	    "t.yaml:8:9: duplicate budget window 'day' (first at line 6)");
	ERR(TEAM "    budgets:\n      - {window: rolling:60m, limit_usd: 5}\n"
	    "      - window: rolling:1h\n        limit_usd: 6\n",
	    "t.yaml:7:9: duplicate budget window 'rolling:1h' (first at line 6)");
	/* ... and a team's windows are its own */
	p = load(TEAM "    budgets: [{window: day, limit_usd: 5}]\n"
		 "  - name: b\n    match: {any: true}\n"
		 "    budgets: [{window: day, limit_usd: 5},\n"
		 "              {window: rolling:1d, limit_usd: 9}]\n");
	policy_free(p);

	/* POLICY_BUDGETS_MAX budgets, then one more (rolling:1m ... rolling:17m) */
	yaml = malloc(4096);
	if (!yaml)
		return;
	o = (size_t)sprintf(yaml, TEAM "    budgets:\n");
	for (i = 1; i <= POLICY_BUDGETS_MAX + 1; i++)
		o += (size_t)sprintf(yaml + o, "      - {window: rolling:%zum, limit_tokens: 1}\n",
				     i);
	ERR(yaml, "t.yaml:22:9: 'budgets' has more than 16 entries");
	free(yaml);
}

static void test_errors_team_rules(void)
{
	ERR(TEAM "    rate_limits: 5\n", "t.yaml:5:18: 'rate_limits' must be a mapping");
	ERR(TEAM "    rate_limits: {}\n",
	    "t.yaml:5:18: empty rate_limits: give requests_per_minute, tokens_per_minute or both");
	ERR(TEAM "    rate_limits: {requests_per_minute: 0}\n",
	    "t.yaml:5:40: 'requests_per_minute' must be between 1 and 1000000000");
	ERR(TEAM "    rate_limits: {tokens_per_minute: 1000000001}\n",
	    "t.yaml:5:38: 'tokens_per_minute' must be between 1 and 1000000000");
	ERR(TEAM "    rate_limits: {rpm: 5}\n",
	    "t.yaml:5:19: unknown key 'rpm' in rate_limits (expected requests_per_minute or "
	    "tokens_per_minute)");

	ERR(TEAM "    models: [gpt-4o]\n", "t.yaml:5:13: 'models' must be a mapping");
	ERR(TEAM "    models: {}\n", "t.yaml:5:13: empty models: give allow, deny or both");
	ERR(TEAM "    models: {deny: []}\n", "t.yaml:5:13: empty models: give allow, deny or both");
	ERR(TEAM "    models: {deny: \"[o1\"}\n",
	    "t.yaml:5:20: bad model glob '[o1': a '[' is not closed");
	ERR(TEAM "    models: {allow: [gpt-4o*, \"\"]}\n", "t.yaml:5:31: 'allow' is empty");
	ERR(TEAM "    models: {allow: {gpt-4o: true}}\n",
	    "t.yaml:5:21: 'allow' must be a string or a list of strings");
	ERR(TEAM "    models: {block: x}\n",
	    "t.yaml:5:14: unknown key 'block' in models (expected allow or deny)");

	ERR(TEAM "    max_tokens_cap: 0\n",
	    "t.yaml:5:21: 'max_tokens_cap' must be between 1 and 10000000");
	ERR(TEAM "    max_tokens_cap: 10000001\n",
	    "t.yaml:5:21: 'max_tokens_cap' must be between 1 and 10000000");
	ERR(TEAM "    max_tokens_cap: 1k\n", "t.yaml:5:21: 'max_tokens_cap' must be an integer");
	ERR(TEAM "    kill_scope: pod\n", "t.yaml:5:17: 'kill_scope' must be process or cgroup");
	ERR(TEAM "    kill_scope:\n", "t.yaml:5:16: 'kill_scope' must be process or cgroup");
	ERR(TEAM "    kill_scope: cgroup\n    kill_scope: process\n",
	    "t.yaml:6:5: duplicate key 'kill_scope' (first at line 5)");
}

static void test_errors_top_keys(void)
{
	ERR("version: 1\nloop_guard: 20\n", "t.yaml:2:13: 'loop_guard' must be a mapping");
	ERR("version: 1\nloop_guard: {within: 60s}\n",
	    "t.yaml:2:13: missing required key 'identical_requests' in loop_guard");
	ERR("version: 1\nloop_guard: {identical_requests: 20}\n",
	    "t.yaml:2:13: missing required key 'within' in loop_guard");
	ERR("version: 1\nloop_guard: {identical_requests: 1, within: 60s}\n",
	    "t.yaml:2:34: 'identical_requests' must be between 2 and 100000");
	ERR("version: 1\nloop_guard: {identical_requests: 100001, within: 60s}\n",
	    "t.yaml:2:34: 'identical_requests' must be between 2 and 100000");
	ERR("version: 1\nloop_guard: {identical_requests: 5, within: 999ms}\n",
	    "t.yaml:2:45: 'within' must be between 1s and 1d");
	ERR("version: 1\nloop_guard: {identical_requests: 5, within: 2d}\n",
	    "t.yaml:2:45: 'within' must be between 1s and 1d");
	ERR("version: 1\nloop_guard: {identical_requests: 5, within: 60}\n",
	    "t.yaml:2:45: 'within' must be a duration such as 90s, 15m, 1h or 1d");
	ERR("version: 1\nloop_guard: {identical_requests: 5, within: 60s, action: explode}\n",
	    "t.yaml:2:58: 'action' must be alert, throttle, block or kill");
	ERR("version: 1\nloop_guard: {identical_requests: 5, within: 60s, window: 1h}\n",
	    "t.yaml:2:50: unknown key 'window' in loop_guard (expected identical_requests, "
	    "within or action)");

	ERR("version: 1\nalerts: /bin/true\n", "t.yaml:2:9: 'alerts' must be a mapping");
	ERR("version: 1\nalerts: {}\n", "t.yaml:2:9: missing required key 'exec' in alerts");
	ERR("version: 1\nalerts: {exec: \"\"}\n", "t.yaml:2:16: 'exec' is empty");
	ERR("version: 1\nalerts: {webhook: x}\n",
	    "t.yaml:2:10: unknown key 'webhook' in alerts (expected exec)");
	ERR("version: 1\nalerts: {exec: /a}\nalerts: {exec: /b}\n",
	    "t.yaml:3:1: duplicate key 'alerts' (first at line 2)");

	ERR("version: 1\nmode: enforcing\n", "t.yaml:2:7: 'mode' must be enforce or monitor");
	ERR("version: 1\nmode: [enforce]\n", "t.yaml:2:7: 'mode' must be enforce or monitor");

	ERR("version: 1\ntimezone: Mars Base\n",
	    "t.yaml:2:11: timezone 'Mars Base' must be UTC or an IANA time zone name such as "
	    "Europe/Paris");
	ERR("version: 1\ntimezone: /etc/localtime\n",
	    "t.yaml:2:11: timezone '/etc/localtime' must be UTC or an IANA time zone name such "
	    "as Europe/Paris");
	ERR("version: 1\ntimezone: ../../etc/passwd\n",
	    "t.yaml:2:11: timezone '../../etc/passwd' must be UTC or an IANA time zone name "
	    "such as Europe/Paris");
	ERR("version: 1\ntimezone: Europe/\n",
	    "t.yaml:2:11: timezone 'Europe/' must be UTC or an IANA time zone name such as "
	    "Europe/Paris");
	ERR("version: 1\ntimezone: Europe//Paris\n",
	    "t.yaml:2:11: timezone 'Europe//Paris' must be UTC or an IANA time zone name such "
	    "as Europe/Paris");

	ERR("version: 1\nhold_timeout: 99ms\n",
	    "t.yaml:2:15: 'hold_timeout' must be between 100ms and 1m");
	ERR("version: 1\nhold_timeout: 61s\n",
	    "t.yaml:2:15: 'hold_timeout' must be between 100ms and 1m");
	ERR("version: 1\nhold_timeout: 2\n",
	    "t.yaml:2:15: 'hold_timeout' must be a duration such as 90s, 15m, 1h or 1d");
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL, "%s: %s", path, strerror(errno));
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* The alert hook and the time zone name files that must be there. */
static void test_files_alerts_tz(void)
{
	char dir[] = "/tmp/tollgate-policy.XXXXXX", path[256], hook[256], sub[256], want[1024];
	struct policy *p = NULL;
	struct stat st;
	int rc;

	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/p.yaml", dir);
	snprintf(hook, sizeof(hook), "%s/notify.sh", dir);
	snprintf(sub, sizeof(sub), "%s/hooks", dir);

	/* relative to the policy's directory, there, and executable */
	write_file(path, "version: 1\nalerts: { exec: notify.sh }\n", 0644);
	rc = policy_load(path, &p, errbuf, sizeof(errbuf));
	snprintf(want, sizeof(want), "%s:2:17: 'exec': cannot run %s: No such file or directory",
		 path, hook);
	CHECK(rc == -EBADMSG && !p && !strcmp(errbuf, want), "%d %s", rc, errbuf);
	write_file(hook, "#!/bin/sh\ncat >/dev/null\n", 0644);
	rc = policy_load(path, &p, errbuf, sizeof(errbuf));
	snprintf(want, sizeof(want), "%s:2:17: 'exec': %s is not executable", path, hook);
	CHECK(rc == -EBADMSG && !p && !strcmp(errbuf, want), "%d %s", rc, errbuf);
	chmod(hook, 0755);
	rc = policy_load(path, &p, errbuf, sizeof(errbuf));
	CHECK(rc == 0 && p && p->alerts_exec && !strcmp(p->alerts_exec, hook), "%d %s", rc,
	      errbuf);
	policy_free(p);
	mkdir(sub, 0755);
	write_file(path, "version: 1\nalerts: { exec: hooks }\n", 0644);
	rc = policy_load(path, &p, errbuf, sizeof(errbuf));
	snprintf(want, sizeof(want), "%s:2:17: 'exec': %s is not a regular file", path, sub);
	CHECK(rc == -EBADMSG && !p && !strcmp(errbuf, want), "%d %s", rc, errbuf);

	/* time zones are files of tzdata; UTC needs none */
	write_file(path, "version: 1\ntimezone: Mars/Base\n", 0644);
	rc = policy_load(path, &p, errbuf, sizeof(errbuf));
	snprintf(want, sizeof(want), "%s:2:11: unknown time zone 'Mars/Base' "
		 "(no /usr/share/zoneinfo/Mars/Base)", path);
	CHECK(rc == -EBADMSG && !p && !strcmp(errbuf, want), "%d %s", rc, errbuf);
	write_file(path, "version: 1\ntimezone: UTC\n", 0644);
	rc = policy_load(path, &p, errbuf, sizeof(errbuf));
	CHECK(rc == 0 && p && !strcmp(p->timezone, "UTC"), "%d %s", rc, errbuf);
	policy_free(p);
	if (!stat("/usr/share/zoneinfo/Europe/Paris", &st)) {
		write_file(path, "version: 1\ntimezone: Europe/Paris\n", 0644);
		rc = policy_load(path, &p, errbuf, sizeof(errbuf));
		CHECK(rc == 0 && p && !strcmp(p->timezone, "Europe/Paris"), "%d %s", rc, errbuf);
		policy_free(p);
		/* a directory of zones is not one */
		write_file(path, "version: 1\ntimezone: Europe\n", 0644);
		rc = policy_load(path, &p, errbuf, sizeof(errbuf));
		snprintf(want, sizeof(want), "%s:2:11: unknown time zone 'Europe' "
			 "(no /usr/share/zoneinfo/Europe)", path);
		CHECK(rc == -EBADMSG && !p && !strcmp(errbuf, want), "%d %s", rc, errbuf);
	}
	unlink(hook);
	rmdir(sub);
	unlink(path);
	rmdir(dir);
}

static int yaml_file(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return n > 5 && !strcmp(e->d_name + n - 5, ".yaml");
}

/* Every example is valid as shipped, and ends with a catch-all team. */
static void test_examples(void)
{
	static const char dir[] = "policies/examples";
	struct dirent **ents;
	struct policy *p;
	char path[512];
	int i, n, rc;

	n = scandir(dir, &ents, yaml_file, alphasort);
	CHECK(n >= 7, "%s: %d files: %s", dir, n, n < 0 ? strerror(errno) : "");
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		p = NULL;
		rc = policy_load(path, &p, errbuf, sizeof(errbuf));
		CHECK(rc == 0, "%s: %s", path, errbuf);
		if (p)
			CHECK(p->nteams >= 1 && p->teams[p->nteams - 1].match.any,
			      "%s: the last team is the catch-all", path);
		policy_free(p);
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
}

/* --- cgroup paths --------------------------------------------------------------- */

struct cg_case {
	const char *path, *unit, *slice, *container, *pod;
};

static const struct cg_case cg_cases[] = {
	/* docker, systemd driver and cgroupfs */
	{ "/system.slice/docker-" ID64 ".scope", "docker-" ID64 ".scope", "system.slice", ID64, "" },
	{ "/docker/" ID64, "", "", ID64, "" },
	/* containerd under Kubernetes, systemd driver (burstable, guaranteed) */
	{ "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" POD_ ".slice/"
	  "cri-containerd-" ID64 ".scope", "cri-containerd-" ID64 ".scope",
	  "kubepods-burstable-pod" POD_ ".slice", ID64, POD },
	{ "/kubepods.slice/kubepods-pod" POD_ ".slice/cri-containerd-" ID64 ".scope",
	  "cri-containerd-" ID64 ".scope", "kubepods-pod" POD_ ".slice", ID64, POD },
	/* ... and cgroupfs driver; a pod's own cgroup */
	{ "/kubepods/burstable/pod" POD "/" ID64, "", "", ID64, POD },
	{ "/kubepods/pod" POD "/" ID64B, "", "", ID64B, POD },
	{ "/kubepods/besteffort/pod" POD "/", "", "", "", POD },
	/* kind and other nested nodes */
	{ "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
	  "kubelet-kubepods-besteffort-pod" POD_ ".slice/cri-containerd-" ID64 ".scope",
	  "cri-containerd-" ID64 ".scope", "kubelet-kubepods-besteffort-pod" POD_ ".slice",
	  ID64, POD },
	/* cri-o: the conmon scope is the monitor, not the container */
	{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" POD_ ".slice/"
	  "crio-" ID64 ".scope", "crio-" ID64 ".scope", "kubepods-besteffort-pod" POD_ ".slice",
	  ID64, POD },
	{ "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" POD_ ".slice/"
	  "crio-conmon-" ID64 ".scope", "crio-conmon-" ID64 ".scope",
	  "kubepods-besteffort-pod" POD_ ".slice", "", POD },
	{ "/kubepods/besteffort/pod" POD "/crio-" ID64, "", "", ID64, POD },
	/* podman rootful (the payload in a "container" child), conmon, cgroupfs */
	{ "/machine.slice/libpod-" ID64 ".scope/container", "libpod-" ID64 ".scope",
	  "machine.slice", ID64, "" },
	{ "/machine.slice/libpod-conmon-" ID64 ".scope", "libpod-conmon-" ID64 ".scope",
	  "machine.slice", "", "" },
	{ "/libpod_parent/libpod-" ID64, "", "", ID64, "" },
	/* podman and docker rootless, under the user's manager */
	{ "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID64 ".scope",
	  "libpod-" ID64 ".scope", "user.slice", ID64, "" },
	{ "/user.slice/user-1000.slice/user@1000.service/user.slice/docker-" ID64 ".scope",
	  "docker-" ID64 ".scope", "user.slice", ID64, "" },
	/* plain services, sessions, user apps */
	{ "/system.slice/nginx.service", "nginx.service", "system.slice", "", "" },
	{ "/system.slice/search-a.service/worker", "search-a.service", "system.slice", "", "" },
	{ "/user.slice/user-1000.slice/session-3.scope", "session-3.scope", "user-1000.slice",
	  "", "" },
	{ "/user.slice/user-1000.slice/user@1000.service/app.slice/"
	  "app-org.gnome.Terminal.slice/vte-spawn-1234.scope", "vte-spawn-1234.scope",
	  "app-org.gnome.Terminal.slice", "", "" },
	{ "/init.scope", "init.scope", "", "", "" },
	{ "/system.slice/systemd-journald.socket", "systemd-journald.socket", "system.slice", "",
	  "" },
	/* no ids where there are none */
	{ "/", "", "", "", "" },
	{ "", "", "", "", "" },
	{ "/tollgate-test/search", "", "", "", "" },
	{ "/system.slice/docker-" ID64 "0.scope", "docker-" ID64 "0.scope", "system.slice", "",
	  "" },
	{ "/docker/8D4C5B1E2F3A4B5C6D7E8F9001122334455667788990AABBCCDDEEFF00112233", "", "", "",
	  "" },
	{ "/kubepods/podman/x", "", "", "", "" },
	{ "/system.slice/podabc/x", "", "system.slice", "", "" },
	{ "//system.slice//a.service/", "a.service", "system.slice", "", "" },
};

static void test_cg_ident(void)
{
	struct cg_ident cg;
	size_t i;

	for (i = 0; i < sizeof(cg_cases) / sizeof(cg_cases[0]); i++) {
		const struct cg_case *c = &cg_cases[i];

		cg_ident_parse(c->path, &cg);
		CHECK(!strcmp(cg.unit, c->unit), "%s: unit '%s'", c->path, cg.unit);
		CHECK(!strcmp(cg.slice, c->slice), "%s: slice '%s'", c->path, cg.slice);
		CHECK(!strcmp(cg.container, c->container), "%s: container '%s'", c->path,
		      cg.container);
		CHECK(!strcmp(cg.pod, c->pod), "%s: pod '%s'", c->path, cg.pod);
	}
	cg_ident_parse(NULL, &cg);
	CHECK(!cg.unit[0] && !cg.slice[0] && !cg.container[0] && !cg.pod[0], "NULL");
}

static void test_cg_ident_long(void)
{
	char path[1024], name[400];
	struct cg_ident cg;

	/* a unit name too long to keep whole is not kept cut */
	memset(name, 'a', sizeof(name));
	memcpy(name + sizeof(name) - 9, ".service", 9);
	snprintf(path, sizeof(path), "/system.slice/ok.service/%s", name);
	cg_ident_parse(path, &cg);
	CHECK(!strcmp(cg.unit, "ok.service"), "'%s'", cg.unit);
}

/* --- attribution --------------------------------------------------------------- */

static const char teams_policy[] =
	"version: 1\n"
	"teams:\n"
	"  - name: keyed\n"
	"    match: {api_key: [\"sha256:ba7816bf8f01\"]}\n"
	"  - name: search\n"
	"    match: {cgroup: [\"/system.slice/search-*.service\", /tollgate-test/search]}\n"
	"  - name: batch\n"
	"    match: {unit: [etl-*.service, batch.slice]}\n"
	"  - name: ml\n"
	"    match: {container: [8d4c5b1e2f3a], pod: \"" POD "\"}\n"
	"  - name: research\n"
	"    match: {uid: [1001, 1002], user: \"res-*\"}\n"
	"  - name: tools\n"
	"    match: {exe: /opt/tools/bin/*}\n"
	"  - name: short\n"
	"    match: {container: \"0123*\"}\n"
	"  - name: default\n"
	"    match: {any: true}\n";

static int team_of(const struct policy *p, const struct proc_ident *id, struct attr_why *why)
{
	int t = policy_team_match(p, id, why);

	CHECK_EQ_INT(policy_team_for(p, id), t);
	return t;
}

static const char *team_name(const struct policy *p, int t)
{
	return t < 0 ? "(none)" : p->teams[t].name;
}

#define TEAM_IS(p, id, want) do {						\
	int _t = team_of(p, id, &why);						\
	CHECK(!strcmp(team_name(p, _t), want), "got %s want %s (key %s)",	\
	      team_name(p, _t), want, attr_key_name(why.key));			\
} while (0)

static void test_team_keys(void)
{
	struct policy *p = load(teams_policy);
	struct proc_ident id;
	struct attr_why why;
	struct cg_ident cg;
	char fp[KEY_FP_LEN];

	if (!p)
		return;
	memset(&id, 0, sizeof(id));
	id.uid = PROC_UID_UNKNOWN;

	TEAM_IS(p, &id, "default");
	CHECK(why.key == ATTR_ANY && !why.glob, "any");

	id.cgroup = "/system.slice/search-a.service";
	TEAM_IS(p, &id, "search");
	CHECK(why.key == ATTR_CGROUP && !strcmp(why.glob, "/system.slice/search-*.service"),
	      "%s", why.glob);
	id.cgroup = "/tollgate-test/search/sub/leaf";	/* an ancestor matches */
	TEAM_IS(p, &id, "search");
	id.cgroup = "/tollgate-test/searchx";
	TEAM_IS(p, &id, "default");
	id.cgroup = "/tollgate-test";
	TEAM_IS(p, &id, "default");

	/* units and slices anywhere in the path, not only the innermost */
	id.cgroup = "/system.slice/etl-nightly.service";
	TEAM_IS(p, &id, "batch");
	CHECK(why.key == ATTR_UNIT && !strcmp(why.glob, "etl-*.service"), "%s", why.glob);
	id.cgroup = "/batch.slice/sub.slice/job-1.scope/x";
	TEAM_IS(p, &id, "batch");
	CHECK(!strcmp(why.glob, "batch.slice"), "%s", why.glob);
	id.cgroup = "/system.slice/etl-nightly.servicex";
	TEAM_IS(p, &id, "default");

	/* containers by short or full id, pods by UID */
	id.cgroup = "/system.slice/docker-" ID64 ".scope";
	TEAM_IS(p, &id, "ml");
	CHECK(why.key == ATTR_CONTAINER, "%s", attr_key_name(why.key));
	id.cgroup = "/docker/" ID64B;
	TEAM_IS(p, &id, "short");
	id.cgroup = "/kubepods/burstable/pod" POD "/" ID64B;
	TEAM_IS(p, &id, "ml");
	CHECK(why.key == ATTR_POD && !strcmp(why.glob, POD), "%s", attr_key_name(why.key));

	/* a pre-parsed cgroup is used as given */
	cg_ident_parse("/docker/" ID64, &cg);
	id.cgroup = NULL;
	id.cg = &cg;
	TEAM_IS(p, &id, "ml");
	id.cg = NULL;

	id.uid = 1002;
	TEAM_IS(p, &id, "research");
	CHECK(why.key == ATTR_UID && why.uid == 1002 && !why.glob, "uid");
	id.uid = 1003;
	id.user = "res-alice";
	TEAM_IS(p, &id, "research");
	CHECK(why.key == ATTR_USER, "%s", attr_key_name(why.key));
	id.user = "alice";
	id.exe = "/opt/tools/bin/fetch";
	TEAM_IS(p, &id, "tools");
	CHECK(why.key == ATTR_EXE, "%s", attr_key_name(why.key));
	id.exe = "/opt/tools/lib";
	TEAM_IS(p, &id, "default");

	/* a call carrying a key goes to the key's team, first in the file */
	key_fingerprint("abc", 3, fp);
	id.key_fp = fp;
	id.cgroup = "/system.slice/search-a.service";
	TEAM_IS(p, &id, "keyed");
	CHECK(why.key == ATTR_API_KEY, "%s", attr_key_name(why.key));
	key_fingerprint("abd", 3, fp);
	TEAM_IS(p, &id, "search");
	policy_free(p);
}

static void test_team_order(void)
{
	struct policy *p = load("version: 1\nteams:\n"
				"  - name: first\n    match: {uid: 1001}\n"
				"  - name: second\n    match: {cgroup: /app}\n"
				"  - name: third\n    match: {cgroup: \"/*\", uid: [0]}\n");
	struct proc_ident id = { .uid = 1001, .cgroup = "/app/x" };
	struct attr_why why;

	if (!p)
		return;
	/* both first and second match: the first in the file wins, even
	 * though its key comes later in the order keys are tried */
	TEAM_IS(p, &id, "first");
	id.uid = 1000;
	TEAM_IS(p, &id, "second");
	id.cgroup = "/other";
	TEAM_IS(p, &id, "third");
	id.cgroup = NULL;
	TEAM_IS(p, &id, "(none)");
	id.uid = 0;
	TEAM_IS(p, &id, "third");
	/* an unknown uid is never uid 0, nor any other */
	id.uid = PROC_UID_UNKNOWN;
	TEAM_IS(p, &id, "(none)");
	CHECK_EQ_INT(policy_team_for(NULL, &id), -1);
	policy_free(p);

	/* no teams, no team */
	p = load("version: 1\n");
	if (p)
		CHECK_EQ_INT(policy_team_for(p, &id), -1);
	policy_free(p);
}

static void test_match_test(void)
{
	struct policy *p = load("version: 1\nteams:\n"
				"  - name: a\n    match: {cgroup: /, exe: /bin/*, any: true}\n");
	struct proc_ident id = { .uid = PROC_UID_UNKNOWN, .exe = "/bin/sh" };
	struct attr_why why;

	if (!p)
		return;
	/* the key reported is the first that matches; "/" is every path's ancestor */
	CHECK_EQ_INT(policy_match_test(&p->teams[0].match, &id, &why), ATTR_EXE);
	id.cgroup = "/a/b";
	CHECK_EQ_INT(policy_match_test(&p->teams[0].match, &id, &why), ATTR_CGROUP);
	id.cgroup = NULL;
	id.exe = NULL;
	CHECK_EQ_INT(policy_match_test(&p->teams[0].match, &id, NULL), ATTR_ANY);
	CHECK(!strcmp(attr_key_name(ATTR_API_KEY), "api_key"), "%s", attr_key_name(ATTR_API_KEY));
	policy_free(p);
}

static void test_key_fingerprint(void)
{
	char fp[KEY_FP_LEN];

	/* FIPS 180-2 test vectors */
	key_fingerprint("abc", 3, fp);
	CHECK(!strcmp(fp, "sha256:ba7816bf8f01"), "%s", fp);
	key_fingerprint("", 0, fp);
	CHECK(!strcmp(fp, "sha256:e3b0c44298fc"), "%s", fp);
	key_fingerprint("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, fp);
	CHECK(!strcmp(fp, "sha256:248d6a61d206"), "%s", fp);
	CHECK_EQ_INT(strlen(fp), KEY_FP_LEN - 1);
}

int main(void)
{
	RUN(test_load_full);
	RUN(test_load_minimal);
	RUN(test_shipped_policies);
	RUN(test_default_price_exact);
	RUN(test_scalar_forms);
	RUN(test_errors_structure);
	RUN(test_errors_types);
	RUN(test_errors_teams);
	RUN(test_errors_globs);
	RUN(test_errors_api_key);
	RUN(test_errors_yaml);
	RUN(test_aliases);
	RUN(test_caps);
	RUN(test_files);
	RUN(test_load_budgets);
	RUN(test_load_defaults);
	RUN(test_errors_budgets);
	RUN(test_errors_team_rules);
	RUN(test_errors_top_keys);
	RUN(test_files_alerts_tz);
	RUN(test_examples);
	RUN(test_cg_ident);
	RUN(test_cg_ident_long);
	RUN(test_team_keys);
	RUN(test_team_order);
	RUN(test_match_test);
	RUN(test_key_fingerprint);
	return tap_done();
}
