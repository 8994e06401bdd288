// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Prices: the shipped table loads and every name in it finds its row,
 * lookup by exact name, alias, dated snapshot and vendor prefix, costs to
 * the nano-USD, and bad files refused with FILE:LINE:COL.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "pricing.h"
#include "tap.h"

#define USD 1000000000LL

static struct price_table *shipped;
static char tmpdir[] = "/tmp/test_pricing.XXXXXX";

static const char *shipped_path(void)
{
	static char path[4096];
	const char *top = getenv("TOP");

	snprintf(path, sizeof(path), "%s/policies/prices.yaml", top && *top ? top : ".");
	return path;
}

static void test_load_shipped(void)
{
	char err[512] = "";
	int rc = prices_load(shipped_path(), &shipped, err, sizeof(err));
	size_t i, providers = 0;
	const char *seen[16];

	CHECK(rc == 0, "load %s: %d %s", shipped_path(), rc, err);
	if (rc)
		return;
	CHECK(prices_count(shipped) > 150, "only %zu models", prices_count(shipped));
	CHECK(strstr(prices_source(shipped), "@pydantic/genai-prices") != NULL, "source '%s'",
	      prices_source(shipped));
	/* every row priced, the seven providers there */
	for (i = 0; i < prices_count(shipped); i++) {
		const struct price_row *r = prices_row(shipped, i);
		size_t k;

		CHECK(r->base.input >= 0 && r->base.output >= 0, "%s unpriced", r->model);
		for (k = 0; k < providers && strcmp(seen[k], r->provider); k++)
			;
		if (k == providers && providers < 16)
			seen[providers++] = r->provider;
	}
	CHECK_EQ_INT(providers, 7);
	CHECK(prices_row(shipped, prices_count(shipped)) == NULL, "row past the end");
}

static const struct price_row *look(const char *provider, const char *model,
				    enum price_match *how)
{
	return prices_lookup(shipped, provider, model, how);
}

/* The row provider/model, found as `how`. */
#define LOOKS(prov, name, want_prov, want_model, want_how) do {			\
	enum price_match _h;							\
	const struct price_row *_r = look(prov, name, &_h);			\
	CHECK(_r && !strcmp(_r->provider, want_prov) &&				\
	      !strcmp(_r->model, want_model) && _h == (want_how),		\
	      "%s/%s -> %s/%s %s", prov ? prov : "-", name,			\
	      _r ? _r->provider : "NULL", _r ? _r->model : "", price_match_name(_h)); \
} while (0)

#define UNKNOWN(prov, name) do {						\
	enum price_match _h = PRICE_EXACT;					\
	const struct price_row *_r = look(prov, name, &_h);			\
	CHECK(!_r && _h == PRICE_DEFAULT, "%s -> %s/%s", (name) ? (name) : "NULL", \
	      _r ? _r->provider : "", _r ? _r->model : "");			\
} while (0)

static void test_lookup_exact(void)
{
	if (!shipped)
		return;
	LOOKS("openai", "gpt-4o", "openai", "gpt-4o", PRICE_EXACT);
	LOOKS(NULL, "gpt-4o", "openai", "gpt-4o", PRICE_EXACT);
	LOOKS("", "GPT-4o", "openai", "gpt-4o", PRICE_EXACT);
	LOOKS("openai", "gpt-4o-mini", "openai", "gpt-4o-mini", PRICE_EXACT);
	LOOKS("openai", "o1", "openai", "o1", PRICE_EXACT);
	LOOKS("anthropic", "claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", PRICE_EXACT);
	LOOKS("gemini", "gemini-2.5-pro", "google", "gemini-2.5-pro", PRICE_EXACT);
	LOOKS("deepseek", "deepseek-chat", "deepseek", "deepseek-chat", PRICE_EXACT);
	LOOKS("xai", "grok-4-0709", "xai", "grok-4-0709", PRICE_EXACT);
	LOOKS("mistral", "mistral-large-2512", "mistral", "mistral-large-2512", PRICE_EXACT);
	LOOKS("groq", "llama-3.3-70b-versatile", "groq", "llama-3.3-70b-versatile", PRICE_EXACT);
	/* a dated name priced apart from its base stays itself */
	LOOKS("openai", "gpt-4o-2024-05-13", "openai", "gpt-4o-2024-05-13", PRICE_EXACT);
}

static void test_lookup_snapshot(void)
{
	if (!shipped)
		return;
	LOOKS("openai", "gpt-4o-2024-08-06", "openai", "gpt-4o", PRICE_SNAPSHOT);
	LOOKS("openai", "gpt-4o-mini-2024-07-18", "openai", "gpt-4o-mini", PRICE_SNAPSHOT);
	LOOKS("openai", "gpt-4-0613", "openai", "gpt-4", PRICE_SNAPSHOT);
	LOOKS("openai", "gpt-4-32k-0613", "openai", "gpt-4-32k", PRICE_SNAPSHOT);
	LOOKS("anthropic", "claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5",
	      PRICE_SNAPSHOT);
	LOOKS("anthropic", "claude-3-7-sonnet-latest", "anthropic", "claude-3-7-sonnet-latest",
	      PRICE_EXACT);
	LOOKS("anthropic", "claude-haiku-4-5-latest", "anthropic", "claude-haiku-4-5",
	      PRICE_SNAPSHOT);
	LOOKS("mistral", "mistral-large-latest", "mistral", "mistral-large", PRICE_SNAPSHOT);
	LOOKS("mistral", "mistral-large-2411", "mistral", "mistral-large", PRICE_SNAPSHOT);
	LOOKS("gemini", "gemini-2.0-flash-001", "google", "gemini-2.0-flash", PRICE_SNAPSHOT);
	/* Vertex: "@version" */
	LOOKS("vertex-ai", "claude-sonnet-4-5@20250929", "google", "claude-sonnet-4-5",
	      PRICE_SNAPSHOT);
	LOOKS("vertex-ai", "claude-3-5-sonnet-v2@20241022", "google", "claude-3-5-sonnet",
	      PRICE_SNAPSHOT);
	LOOKS("vertex-ai", "gemini-2.5-pro@default", "google", "gemini-2.5-pro", PRICE_SNAPSHOT);
	/* a snapshot of an alias */
	LOOKS("anthropic", "claude-sonnet-4-20250514", "anthropic", "claude-sonnet-4-0",
	      PRICE_SNAPSHOT);
	/* a date must be one: 4096 is a context size, not a snapshot */
	UNKNOWN("openai", "gpt-4-4096");
}

static void test_lookup_alias(void)
{
	if (!shipped)
		return;
	/* an alias beats its stripped base: gpt-3.5-turbo-0301 is not gpt-3.5-turbo */
	LOOKS("openai", "gpt-3.5-turbo-0301", "openai", "gpt-3.5-0301", PRICE_ALIAS);
	LOOKS("azure-openai", "gpt-35-turbo", "openai", "gpt-3.5-turbo", PRICE_ALIAS);
	LOOKS("openai", "gpt-4-1106-preview", "openai", "gpt-4-turbo", PRICE_ALIAS);
	LOOKS("xai", "grok-4", "xai", "grok-4-0709", PRICE_ALIAS);
	LOOKS("xai", "grok-4-latest", "xai", "grok-4-0709", PRICE_SNAPSHOT);
	/* prefixes, the longest winning */
	LOOKS("anthropic", "claude-sonnet-4.5", "anthropic", "claude-sonnet-4-5", PRICE_ALIAS);
	LOOKS(NULL, "claude-3-5-haiku-something", "anthropic", "claude-3-5-haiku-latest",
	      PRICE_ALIAS);
	LOOKS("openai", "ft:gpt-4o-mini-2024-07-18:acme::abc123", "openai", "ft:gpt-4o-mini",
	      PRICE_ALIAS);
	LOOKS("openai", "gpt-4o-mini-realtime-preview-2024-12-17", "openai",
	      "gpt-4o-mini-realtime-preview", PRICE_SNAPSHOT);
	LOOKS("openai", "gpt-4o-mini-realtime-x", "openai", "gpt-4o-mini-realtime-preview",
	      PRICE_ALIAS);
}

static void test_lookup_prefixes_and_providers(void)
{
	if (!shipped)
		return;
	LOOKS("openrouter", "openai/gpt-4o", "openai", "gpt-4o", PRICE_EXACT);
	LOOKS("openrouter", "anthropic/claude-sonnet-4.5", "anthropic", "claude-sonnet-4-5",
	      PRICE_ALIAS);
	LOOKS("gemini", "models/gemini-2.5-flash", "google", "gemini-2.5-flash", PRICE_EXACT);
	LOOKS("vertex-ai", "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro",
	      "google", "gemini-2.5-pro", PRICE_EXACT);
	LOOKS(NULL, "anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic", "claude-3-5-sonnet",
	      PRICE_SNAPSHOT);
	LOOKS(NULL, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic",
	      "claude-sonnet-4-5", PRICE_SNAPSHOT);
	/* the same name at two providers: the record's provider decides */
	LOOKS("anthropic", "claude-sonnet-4-5@20250929", "anthropic", "claude-sonnet-4-5",
	      PRICE_SNAPSHOT);
	LOOKS(NULL, "claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", PRICE_EXACT);
	LOOKS("groq", "openai/gpt-oss-120b", "groq", "openai/gpt-oss-120b", PRICE_EXACT);
	LOOKS("groq", "gpt-oss-120b", "groq", "openai/gpt-oss-120b", PRICE_EXACT);
	LOOKS("openrouter", "openai/gpt-oss-120b", "openai", "gpt-oss-120b", PRICE_EXACT);
	LOOKS("openai-compatible", "gpt-oss-120b", "openai", "gpt-oss-120b", PRICE_EXACT);
	/* the serving provider's own rows first: DeepSeek bills r1-distill as r1 */
	LOOKS("deepseek", "deepseek-r1-distill-llama-70b", "deepseek", "deepseek-reasoner",
	      PRICE_ALIAS);
	LOOKS("groq", "deepseek-r1-distill-llama-70b", "groq", "deepseek-r1-distill-llama-70b",
	      PRICE_EXACT);
	/* not over-matched */
	UNKNOWN("openai-compatible", "llama3");
	UNKNOWN(NULL, "foo/gpt-4o");
	UNKNOWN(NULL, "anthropic.titan-text");
	UNKNOWN(NULL, "gpt");
	UNKNOWN(NULL, "claude");
	UNKNOWN("anthropic", "");
	UNKNOWN("anthropic", NULL);
	CHECK(prices_lookup(NULL, "openai", "gpt-4o", NULL) == NULL, "NULL table");
}

/* Every name the table gives finds its row, at its provider. */
static void test_lookup_every_name(void)
{
	size_t i, a, bad = 0;

	if (!shipped)
		return;
	for (i = 0; i < prices_count(shipped); i++) {
		const struct price_row *r = prices_row(shipped, i), *got;
		enum price_match how;
		char name[300];

		got = look(r->provider, r->model, &how);
		if (got != r || how != PRICE_EXACT) {
			CHECK(bad++ > 5, "%s/%s -> %s", r->provider, r->model,
			      got ? got->model : "NULL");
		}
		for (a = 0; a < r->naliases; a++) {
			snprintf(name, sizeof(name), "%s", r->aliases[a]);
			if (name[strlen(name) - 1] == '*')
				name[strlen(name) - 1] = '\0';
			got = look(r->provider, name, &how);
			if (got != r && !(got && !strcasecmp(got->model, name)))
				CHECK(bad++ > 5, "%s alias %s -> %s", r->model, name,
				      got ? got->model : "NULL");
		}
	}
	CHECK_EQ_INT(bad, 0);
}

static struct llm_usage usage(int64_t in, int64_t cached, int64_t cw, int64_t cw1h, int64_t out,
			      int64_t reasoning)
{
	struct llm_usage u = { in, cached, cw, cw1h, out, reasoning };

	return u;
}

static int64_t cost_of(const char *provider, const char *model, struct llm_usage u)
{
	const struct price_row *r = look(provider, model, NULL);

	return r ? price_cost(r, &u) : -1;
}

static void test_cost(void)
{
	if (!shipped)
		return;
	/* gpt-4o: $2.50 in, $1.25 cached, $10 out */
	CHECK_EQ_INT(cost_of("openai", "gpt-4o", usage(1000, 500, 0, 0, 200, 0)), 5125000);
	/* reasoning is inside output: the same cost with or without it */
	CHECK_EQ_INT(cost_of("openai", "gpt-4o", usage(0, 0, 0, 0, 1000, 800)), 10000000);
	/* no cached price: cached input billed as input (gpt-4: $30) */
	CHECK_EQ_INT(cost_of("openai", "gpt-4", usage(0, 1000, 0, 0, 0, 0)), 30000000);
	/* sub-nano rates: $0.0375/Mtok is 37.5 nano per token, rounded */
	CHECK_EQ_INT(cost_of("gemini", "gemini-flash-1.5-8b", usage(1, 0, 0, 0, 0, 0)), 38);
	CHECK_EQ_INT(cost_of("gemini", "gemini-flash-1.5-8b", usage(2, 0, 0, 0, 0, 0)), 75);
	CHECK_EQ_INT(cost_of("gemini", "gemini-flash-1.5-8b", usage(3, 0, 0, 0, 0, 0)), 113);
	/* $0.01875 cached: rounded once over the sum, not per bucket */
	CHECK_EQ_INT(cost_of("gemini", "gemini-1.5-flash", usage(1, 1, 0, 0, 0, 0)), 94);
	CHECK_EQ_INT(cost_of("gemini", "gemini-1.5-flash", usage(0, 1, 0, 0, 0, 0)), 19);
	CHECK_EQ_INT(cost_of("gemini", "gemini-1.5-flash", usage(0, 0, 0, 0, 0, 0)), 0);
}

static void test_cost_tiers_and_cache(void)
{
	if (!shipped)
		return;
	/* claude-sonnet-4-5: $3 in, $6 above 200k input tokens (all input) */
	CHECK_EQ_INT(cost_of("anthropic", "claude-sonnet-4-5", usage(200000, 0, 0, 0, 0, 0)),
		     600000000);
	CHECK_EQ_INT(cost_of("anthropic", "claude-sonnet-4-5", usage(200001, 0, 0, 0, 0, 0)),
		     1200006000);
	CHECK_EQ_INT(cost_of("anthropic", "claude-sonnet-4-5",
			     usage(100001, 100000, 0, 0, 1000, 0)),
		     600006000 + 60000000 + 22500000);
	CHECK_EQ_INT(cost_of("anthropic", "claude-sonnet-4-5", usage(1, 100000, 100000, 0, 0, 0)),
		     6000 + 60000000 + 750000000);
	/* cache writes: 5 min $3.75, 1 hour $6 */
	CHECK_EQ_INT(cost_of("anthropic", "claude-sonnet-4-5", usage(0, 0, 10000, 4000, 1000, 0)),
		     22500000 + 24000000 + 15000000);
	/* 1 hour beyond all writes is cut to them; negative counts are 0 */
	CHECK_EQ_INT(cost_of("anthropic", "claude-sonnet-4-5", usage(-5, 0, 1000, 5000, -1, 0)),
		     6000000);
	/* Vertex's Claude has no 1-hour price: billed as the 5-minute write */
	CHECK_EQ_INT(cost_of("vertex-ai", "claude-sonnet-4-5", usage(0, 0, 1000, 1000, 0, 0)),
		     3750000);
	/* gpt-5.4 tiers above 271999: 272000 input tokens are above */
	CHECK_EQ_INT(cost_of("openai", "gpt-5.4", usage(271999, 0, 0, 0, 0, 0)), 679997500);
	CHECK_EQ_INT(cost_of("openai", "gpt-5.4", usage(272000, 0, 0, 0, 0, 0)), 1360000000);
}

static void test_cost_large(void)
{
	struct llm_usage u = usage(0, 0, 0, 0, 100000000000LL, 0);	/* 1e11 */

	/* 1e11 x 75e9 overflows 64 bits on the way: exact in 128 */
	CHECK_EQ_INT(price_cost(&price_default_builtin, &u), 7500000000000000LL);
	CHECK_EQ_INT(price_cost(NULL, &u), 7500000000000000LL);
	u = usage(INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX);
	CHECK_EQ_INT(price_cost(&price_default_builtin, &u), INT64_MAX);
	u = usage(1000000, 0, 0, 0, 1000000, 0);
	CHECK_EQ_INT(price_cost(&price_default_builtin, &u), 90 * USD);
	CHECK_EQ_INT(price_cost(&price_default_builtin, NULL), 0);
}

static void test_usd_format(void)
{
	char b[64];

	usd_format(1234, b, sizeof(b));
	CHECK(!strcmp(b, "0.000001234"), "%s", b);
	usd_format(0, b, sizeof(b));
	CHECK(!strcmp(b, "0.000000000"), "%s", b);
	usd_format(12345678901LL, b, sizeof(b));
	CHECK(!strcmp(b, "12.345678901"), "%s", b);
	usd_format(-5, b, sizeof(b));
	CHECK(!strcmp(b, "-0.000000005"), "%s", b);
	usd_format(INT64_MAX, b, sizeof(b));
	CHECK(!strcmp(b, "9223372036.854775807"), "%s", b);
	usd_format(INT64_MIN, b, sizeof(b));
	CHECK(!strcmp(b, "-9223372036.854775808"), "%s", b);
	usd_format(1234, b, 4);
	CHECK(!strcmp(b, "0.0"), "cut '%s'", b);
}

static void test_rate_text(void)
{
	int64_t v = -7;
	char b[64];

	CHECK(price_rate_parse("2.5", &v) == 0 && v == 2500000000LL, "%lld", (long long)v);
	CHECK(price_rate_parse("0.0375", &v) == 0 && v == 37500000, "%lld", (long long)v);
	CHECK(price_rate_parse("15", &v) == 0 && v == 15 * USD, "%lld", (long long)v);
	CHECK(price_rate_parse("0.000000001", &v) == 0 && v == 1, "%lld", (long long)v);
	CHECK(price_rate_parse("1000000", &v) == 0 && v == 1000000 * USD, "%lld", (long long)v);
	CHECK_EQ_INT(price_rate_parse("0.0000000001", &v), -ERANGE);
	CHECK_EQ_INT(price_rate_parse("1000000.1", &v), -ERANGE);
	CHECK_EQ_INT(price_rate_parse("99999999999999999999999999", &v), -ERANGE);
	CHECK_EQ_INT(price_rate_parse("1e-6", &v), -EINVAL);
	CHECK_EQ_INT(price_rate_parse("-1", &v), -EINVAL);
	CHECK_EQ_INT(price_rate_parse("", &v), -EINVAL);
	CHECK_EQ_INT(price_rate_parse("1.", &v), -EINVAL);
	CHECK_EQ_INT(price_rate_parse(".5", &v), -EINVAL);
	CHECK_EQ_INT(price_rate_parse("1.2.3", &v), -EINVAL);
	CHECK_EQ_INT(price_rate_parse(" 1", &v), -EINVAL);
	price_rate_format(2500000000LL, b, sizeof(b));
	CHECK(!strcmp(b, "2.5"), "%s", b);
	price_rate_format(37500000, b, sizeof(b));
	CHECK(!strcmp(b, "0.0375"), "%s", b);
	price_rate_format(15 * USD, b, sizeof(b));
	CHECK(!strcmp(b, "15"), "%s", b);
	price_rate_format(1, b, sizeof(b));
	CHECK(!strcmp(b, "0.000000001"), "%s", b);
	price_rate_format(0, b, sizeof(b));
	CHECK(!strcmp(b, "0"), "%s", b);
}

#define PER_TOKEN(text, want, want_rc) do {					\
	int64_t _v = -7;							\
	int _rc = price_per_token_parse(text, &_v);				\
	CHECK(_rc == (want_rc) && (_rc < 0 || _v == (want)),			\
	      "%s -> rc %d value %lld", text, _rc, (long long)_v);		\
} while (0)

static void test_per_token(void)
{
	/* LiteLLM's per-token USD, as JSON number text */
	PER_TOKEN("2.5e-06", 2500000000LL, 0);
	PER_TOKEN("1.25e-07", 125000000LL, 0);
	PER_TOKEN("1.25E-7", 125000000LL, 0);
	PER_TOKEN("3.75e-08", 37500000LL, 0);
	PER_TOKEN("0.0000025", 2500000000LL, 0);
	PER_TOKEN("0.000015", 15 * USD, 0);
	PER_TOKEN("1e-06", 1 * USD, 0);
	PER_TOKEN("1E+0", 1000000 * USD, 0);
	PER_TOKEN("0", 0, 0);
	PER_TOKEN("0.0", 0, 0);
	PER_TOKEN("0e-5", 0, 0);
	/* finer than nano-USD per Mtok: rounded, and said so */
	PER_TOKEN("1.2345678901e-06", 1234567890LL, 1);
	PER_TOKEN("1.2345678905e-06", 1234567891LL, 1);
	PER_TOKEN("1.5e-15", 2, 1);
	PER_TOKEN("1e-16", 0, 1);
	PER_TOKEN("4e-99999999", 0, 1);
	PER_TOKEN("0.10000000000000000000000000000000000000000000000000000000000000000000000001e-5",
		  1000000000LL, 1);
	/* refused */
	PER_TOKEN("2", 0, -ERANGE);
	PER_TOKEN("1e99999999", 0, -ERANGE);
	PER_TOKEN("-1e-06", 0, -EINVAL);
	PER_TOKEN("01e-6", 0, -EINVAL);
	PER_TOKEN("1e-6x", 0, -EINVAL);
	PER_TOKEN("1e", 0, -EINVAL);
	PER_TOKEN(".5", 0, -EINVAL);
	PER_TOKEN("", 0, -EINVAL);
	PER_TOKEN("NaN", 0, -EINVAL);
}

static void test_match_names(void)
{
	CHECK(!strcmp(price_match_name(PRICE_EXACT), "exact"), "exact");
	CHECK(!strcmp(price_match_name(PRICE_SNAPSHOT), "snapshot"), "snapshot");
	CHECK(!strcmp(price_match_name(PRICE_ALIAS), "alias"), "alias");
	CHECK(!strcmp(price_match_name(PRICE_DEFAULT), "default"), "default");
}

/* Writes text to a file of the temp dir; its path. */
static const char *put(const char *name, const char *text)
{
	static char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f)
		return path;
	fputs(text, f);
	fclose(f);
	return path;
}

#define HEAD "source: test\nmodels:\n"

static void test_load_small(void)
{
	const char *p = put("ok.yaml", HEAD
		"  - provider: acme\n"
		"    model: m1\n"
		"    aliases: m-one\n"
		"    input: 1\n"
		"    output: 2.000000001\n"
		"    tiers:\n"
		"      - above_input_tokens: 1000\n"
		"        input: 2\n"
		"      - {above_input_tokens: 2000, input: 3, cached_input: 0.5}\n"
		"  - {provider: acme, model: \"m2\", input: \"0.1\", output: 0, cache_write: 0.2,\n"
		"     aliases: [\"m2-x*\", m2b]}\n");
	struct price_table *t = NULL;
	const struct price_row *r;
	enum price_match how;
	struct llm_usage u;
	char err[512];
	int rc = prices_load(p, &t, err, sizeof(err));

	CHECK(rc == 0, "%s", err);
	if (rc)
		return;
	CHECK_EQ_INT(prices_count(t), 2);
	CHECK(!strcmp(prices_source(t), "test"), "%s", prices_source(t));
	r = prices_row(t, 0);
	CHECK(r->base.output == 2 * USD + 1 && r->base.cached_input == -1 &&
	      r->base.cache_write == -1 && r->base.cache_write_1h == -1, "base");
	CHECK_EQ_INT(r->ntiers, 2);
	/* a tier's rates not given are the row's */
	CHECK(r->tiers[0].rates.input == 2 * USD && r->tiers[0].rates.output == 2 * USD + 1 &&
	      r->tiers[0].rates.cached_input == -1, "tier 0");
	CHECK(r->tiers[1].rates.input == 3 * USD && r->tiers[1].rates.cached_input == USD / 2,
	      "tier 1");
	u = usage(500, 1000, 0, 0, 0, 0);		/* 1500: tier 0, cached as its input */
	CHECK_EQ_INT(price_cost(r, &u), 1000000 + 2000000);
	u = usage(1001, 1000, 0, 0, 0, 0);		/* 2001: tier 1 */
	CHECK_EQ_INT(price_cost(r, &u), 3003000 + 500000);
	CHECK(prices_lookup(t, NULL, "m-one", &how) == r && how == PRICE_ALIAS, "alias");
	r = prices_lookup(t, NULL, "m2-xyz", &how);
	CHECK(r && !strcmp(r->model, "m2") && how == PRICE_ALIAS, "prefix");
	CHECK(prices_lookup(t, NULL, "M2B", &how) == r && how == PRICE_ALIAS, "alias list");
	CHECK(r->base.input == USD / 10 && r->base.cache_write == USD / 5 && r->naliases == 2,
	      "flow row");
	prices_free(t);
	prices_free(NULL);
}

/* The file fails to load with "FILE:LINE:COL: ..." containing want. */
static void bad(const char *text, int line, int col, const char *want)
{
	char err[512], prefix[4300];
	const char *p = put("bad.yaml", text);
	struct price_table *t = NULL;
	int rc = prices_load(p, &t, err, sizeof(err));

	snprintf(prefix, sizeof(prefix), "%s:%d:%d: ", p, line, col);
	CHECK(rc == -EBADMSG && t == NULL, "loaded: %d", rc);
	CHECK(!strncmp(err, prefix, strlen(prefix)) && strstr(err, want),
	      "want '%s...%s', got '%s'", prefix, want, err);
	prices_free(t);
}

static void test_bad_files(void)
{
	bad(HEAD "  - provider: a\n    model: m\n    inptu: 1\n    output: 1\n", 5, 5,
	    "unknown key 'inptu' in a model");
	bad(HEAD "  - provider: a\n    model: m\n    input: abc\n    output: 1\n", 5, 12,
	    "input: 'abc' is not a price");
	bad(HEAD "  - provider: a\n    model: m\n    input: 0.0000000001\n    output: 1\n", 5, 12,
	    "more precision than nano-USD per Mtok");
	bad(HEAD "  - provider: a\n    model: m\n    input: 1e-6\n    output: 1\n", 5, 12,
	    "not a price");
	bad(HEAD "  - provider: a\n    model: m\n    input: -1\n    output: 1\n", 5, 12,
	    "not a price");
	bad(HEAD "  - provider: a\n    model: m\n    input: 1000001\n    output: 1\n", 5, 12,
	    "above $1000000");
	bad(HEAD "  - provider: a\n    model: m\n    input: 1\n", 3, 5, "model m: missing 'output'");
	bad(HEAD "  - provider: a\n    input: 1\n    output: 1\n", 3, 5, "missing 'model'");
	bad(HEAD "  - provider: a\n    model: m\n    input: 1\n    input: 2\n    output: 1\n", 6, 5,
	    "'input' given twice");
	bad(HEAD "  - {provider: a, model: m, input: 1, output: 1}\n"
	    "  - {provider: A, model: M, input: 1, output: 1}\n", 4, 5,
	    "model 'M' of provider 'A' again (first at line 3)");
	bad(HEAD "  - provider: a\n    model: m\n    input: 1\n    output: 1\n    tiers:\n"
	    "      - {above_input_tokens: 10, input: 2}\n"
	    "      - {above_input_tokens: 10, input: 3}\n", 9, 30, "tiers must rise");
	bad(HEAD "  - provider: a\n    model: m\n    input: 1\n    output: 1\n    tiers:\n"
	    "      - {input: 2}\n", 8, 9, "a tier needs above_input_tokens");
	bad(HEAD "  - provider: a\n    model: m\n    input: 1\n    output: 1\n    tiers:\n"
	    "      - {above_input_tokens: 10, speed: 2}\n", 8, 34, "unknown key 'speed' in a tier");
	bad(HEAD "  - provider: a\n    model: m\n    input: 1\n    output: 1\n    tiers:\n"
	    "      - {above_input_tokens: 1e5}\n", 8, 30, "want a token count");
	bad(HEAD "  - provider: a\n    model: m\n    aliases: [\"x*y\"]\n    input: 1\n    output: 1\n",
	    5, 15, "'*' only at the end");
	bad(HEAD "  - provider: a\n    model: m\n    aliases: [\"*\"]\n    input: 1\n    output: 1\n",
	    5, 15, "an empty prefix");
	bad(HEAD "  - provider: a\n    model: \"m\\x01\"\n    input: 1\n    output: 1\n", 4, 12,
	    "control character");
	bad(HEAD "  - &x {provider: a, model: m, input: 1, output: 1}\n", 3, 5,
	    "anchors are not allowed");
	bad(HEAD "  - provider: a\n    model: m\n    input: !!str 1\n    output: 1\n", 5, 12,
	    "tags are not allowed");
	bad(HEAD "  - provider: a\n    model: [m]\n    input: 1\n    output: 1\n", 4, 12,
	    "model: expected a scalar");
	bad("source: x\nmodelz: []\n", 2, 1, "unknown key 'modelz'");
	bad("source: x\n", 2, 1, "missing 'models'");
	bad("models: {}\n", 1, 9, "models: expected a list");
	bad("- a\n", 1, 1, "expected a mapping");
	bad("", 1, 1, "empty file");
	bad("models: []\n---\nmodels: []\n", 2, 1, "one document only");
	bad(HEAD "  - provider: a\n    model: 'm\n", 5, 1, "while scanning a quoted scalar");
	bad(HEAD "  - provider: a\n\tmodel: m\n", 4, 1, "tab character");
}

static void test_missing_file(void)
{
	struct price_table *t = NULL;
	char err[512];
	int rc = prices_load("/nonexistent/prices.yaml", &t, err, sizeof(err));

	CHECK(rc == -ENOENT && !t, "rc %d", rc);
	CHECK(strstr(err, "/nonexistent/prices.yaml: ") == err, "%s", err);
	rc = prices_load(tmpdir, &t, err, sizeof(err));
	CHECK(rc < 0 && !t, "a directory loaded: %d", rc);
}

static void test_default_path(void)
{
	const char *p;

	setenv("TOLLGATE_PRICES", shipped_path(), 1);
	p = prices_default_path();
	CHECK(p && !strcmp(p, shipped_path()), "%s", p ? p : "NULL");
	setenv("TOLLGATE_PRICES", "/nonexistent/prices.yaml", 1);
	p = prices_default_path();
	CHECK(!p || strcmp(p, "/nonexistent/prices.yaml"), "a missing file chosen");
	unsetenv("TOLLGATE_PRICES");
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		printf("FAIL test_pricing: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	RUN(test_load_shipped);
	RUN(test_lookup_exact);
	RUN(test_lookup_snapshot);
	RUN(test_lookup_alias);
	RUN(test_lookup_prefixes_and_providers);
	RUN(test_lookup_every_name);
	RUN(test_cost);
	RUN(test_cost_tiers_and_cache);
	RUN(test_cost_large);
	RUN(test_usd_format);
	RUN(test_rate_text);
	RUN(test_per_token);
	RUN(test_match_names);
	RUN(test_load_small);
	RUN(test_bad_files);
	RUN(test_missing_file);
	RUN(test_default_path);
	prices_free(shipped);
	unlink(put("ok.yaml", ""));
	unlink(put("bad.yaml", ""));
	rmdir(tmpdir);
	return tap_done();
}
