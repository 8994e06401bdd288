// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * `tollgate prices`: the price table, how one model is priced, and
 * `tollgate prices import` of LiteLLM's model_prices_and_context_window.json
 * (DESIGN §6, §9).  Loading, lookup and cost live in pricing.c; this file
 * parses options and prints.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "escape.h"
#include "pricing.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NAME_COLS 40

static const char *const rate_names[] = {
	"input", "cached_input", "cache_write", "cache_write_1h", "output",
};

static int64_t rate_get(const struct price_rates *r, size_t k)
{
	const int64_t v[] = { r->input, r->cached_input, r->cache_write, r->cache_write_1h,
			      r->output };

	return v[k];
}

static void rate_set(struct price_rates *r, size_t k, int64_t v)
{
	int64_t *p[] = { &r->input, &r->cached_input, &r->cache_write, &r->cache_write_1h,
			 &r->output };

	*p[k] = v;
}

/* --- usage texts ----------------------------------------------------------- */

static void prices_usage(FILE *f, const char *prog)
{
	fprintf(f,
"usage: %s [--file FILE] [--json]\n"
"       %s [--file FILE] [--json] [--provider NAME] [--usage IN,CACHED,WRITE,WRITE1H,OUT] MODEL\n"
"       %s import FILE [-o OUT]\n"
"\n"
"Without MODEL: the price table, USD per million tokens.  With MODEL: the\n"
"row it is priced by and how it matched (exact, snapshot, alias), or that it\n"
"is not in the table and is priced at the default price.\n"
"\n"
"  -f, --file FILE       prices file (default: $TOLLGATE_PRICES,\n"
"                        /etc/tollgate/prices.yaml, the installed\n"
"                        PREFIX/share/tollgate/prices.yaml, or the source\n"
"                        tree's policies/prices.yaml next to build/tollgate)\n"
"  -p, --provider NAME   the record's provider (openai, azure-openai, vertex-ai,\n"
"                        ...): its rows are preferred, as the agent does\n"
"  -u, --usage LIST      also the cost of these token counts (output includes\n"
"                        reasoning; WRITE1H is the 1-hour part of WRITE)\n"
"  -j, --json            machine-readable output (rates in nano-USD per Mtok\n"
"                        and as USD decimals)\n"
"  -h, --help            this text\n", prog, prog, prog);
}

static void import_usage(FILE *f, const char *prog)
{
	fprintf(f,
"usage: %s FILE [-o OUT]\n"
"\n"
"Converts LiteLLM's model_prices_and_context_window.json (FILE) to the\n"
"prices.yaml form, on standard output or into OUT (mode 0600).  Per-token\n"
"USD prices are converted to per-Mtok decimals from the JSON text, exactly;\n"
"a price finer than nano-USD per Mtok is rounded and counted.  Models with\n"
"no per-token price (images, audio by the second) are left out.\n"
"\n"
"  -o, --output OUT   write OUT (replaced atomically) instead of stdout\n"
"  -h, --help         this text\n", prog);
}

/* --- loading --------------------------------------------------------------- */

static struct price_table *load(const char *prog, const char **path)
{
	struct price_table *t;
	char err[1024];

	if (!*path)
		*path = prices_default_path();
	if (!*path) {
		fprintf(stderr, "%s: no prices file: give --file, set TOLLGATE_PRICES or "
			"install /etc/tollgate/prices.yaml\n", prog);
		return NULL;
	}
	if (prices_load(*path, &t, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return NULL;
	}
	return t;
}

/* --- text output ----------------------------------------------------------- */

static const char *rate_text(int64_t v, char *buf, size_t cap)
{
	if (v < 0)
		return "-";
	price_rate_format(v, buf, cap);
	return buf;
}

static const char *tiers_text(const struct price_row *r, char *buf, size_t cap)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < r->ntiers && n < cap; i++) {
		int64_t a = r->tiers[i].above_input_tokens;

		n += snprintf(buf + n, cap - n, a % 1000 ? "%s>%" PRId64 : "%s>%" PRId64 "k",
			      i ? "," : "", a % 1000 ? a : a / 1000);
	}
	return buf;
}

static void print_table(const struct price_table *t, const char *path)
{
	char name[NAME_COLS * 4 + 1], prov[64], b[5][32], tiers[64], file[512];
	size_t i;

	printf("source: %s\nfile:   %s\n", escape_str(name, sizeof(name), prices_source(t)),
	       escape_str(file, sizeof(file), path));
	printf("USD per million tokens.  -: billed at the input rate (WRITE-1H: at the WRITE\n"
	       "rate).  TIERS: other prices above N input tokens (tollgate prices MODEL).\n\n");
	printf("%-*s %-10s %9s %9s %9s %9s %9s  %s\n", NAME_COLS, "MODEL", "PROVIDER", "INPUT",
	       "CACHED", "WRITE", "WRITE-1H", "OUTPUT", "TIERS");
	for (i = 0; i < prices_count(t); i++) {
		const struct price_row *r = prices_row(t, i);

		printf("%-*s %-10s %9s %9s %9s %9s %9s", NAME_COLS,
		       escape_str(name, sizeof(name), r->model),
		       escape_str(prov, sizeof(prov), r->provider),
		       rate_text(r->base.input, b[0], sizeof(b[0])),
		       rate_text(r->base.cached_input, b[1], sizeof(b[1])),
		       rate_text(r->base.cache_write, b[2], sizeof(b[2])),
		       rate_text(r->base.cache_write_1h, b[3], sizeof(b[3])),
		       rate_text(r->base.output, b[4], sizeof(b[4])));
		if (r->ntiers)
			printf("  %s", tiers_text(r, tiers, sizeof(tiers)));
		printf("\n");
	}
	printf("\n%zu models\n", prices_count(t));
}

static void print_rates(const struct price_rates *r, const char *indent)
{
	static const char *const label[] = {
		"input", "cached input", "cache write", "cache write 1h", "output",
	};
	static const char *const inherit[] = {
		"", " (as input)", " (as input)", " (as cache write)", "",
	};
	char b[32];
	int64_t v, in = r->input, cw = r->cache_write >= 0 ? r->cache_write : in;
	size_t k;

	for (k = 0; k < 5; k++) {
		v = rate_get(r, k);
		if (v < 0)
			v = k == 3 ? cw : in;
		price_rate_format(v, b, sizeof(b));
		printf("%s%-15s %s%s\n", indent, label[k], b, rate_get(r, k) < 0 ? inherit[k] : "");
	}
}

static const char *how_text(enum price_match how)
{
	switch (how) {
	case PRICE_EXACT:	return "exact match";
	case PRICE_SNAPSHOT:	return "dated snapshot of";
	case PRICE_ALIAS:	return "alias of";
	default:		return "not in the table";
	}
}

static void print_model(const char *model, const struct price_row *r, enum price_match how)
{
	char q[512], m[512], p[64];
	size_t i;

	escape_str(q, sizeof(q), model);
	if (how == PRICE_DEFAULT) {
		printf("%s: not in the table: priced at the default price (the policy's "
		       "default_price, else the built-in below)\n", q);
	} else if (how == PRICE_EXACT) {
		printf("%s: exact match (%s)\n", q, escape_str(p, sizeof(p), r->provider));
	} else {
		printf("%s: %s %s (%s)\n", q, how_text(how), escape_str(m, sizeof(m), r->model),
		       escape_str(p, sizeof(p), r->provider));
	}
	printf("USD per million tokens:\n");
	print_rates(&r->base, "  ");
	for (i = 0; i < r->ntiers; i++) {
		printf("above %" PRId64 " input tokens (the whole call):\n",
		       r->tiers[i].above_input_tokens);
		print_rates(&r->tiers[i].rates, "  ");
	}
	for (i = 0; i < r->naliases; i++)
		printf("%s%s", i ? ", " : "aliases: ", escape_str(m, sizeof(m), r->aliases[i]));
	if (r->naliases)
		printf("\n");
}

/* --- JSON output ----------------------------------------------------------- */

static json_object *jstr(const char *s)
{
	char buf[1024];

	if (!s)
		return NULL;
	escape_utf8(buf, sizeof(buf), s, strlen(s));
	return json_object_new_string(buf);
}

static json_object *rates_json(const struct price_rates *r, int usd)
{
	json_object *o = json_object_new_object();
	char b[32];
	size_t k;

	for (k = 0; k < 5; k++) {
		int64_t v = rate_get(r, k);

		if (v < 0)
			json_object_object_add(o, rate_names[k], NULL);
		else if (usd)
			json_object_object_add(o, rate_names[k],
					       json_object_new_string((price_rate_format(v, b, sizeof(b)), b)));
		else
			json_object_object_add(o, rate_names[k], json_object_new_int64(v));
	}
	return o;
}

static json_object *row_json(const struct price_row *r)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array(), *tiers;
	size_t i;

	json_object_object_add(o, "provider", jstr(r->provider));
	json_object_object_add(o, "model", jstr(r->model));
	for (i = 0; i < r->naliases; i++)
		json_object_array_add(a, jstr(r->aliases[i]));
	json_object_object_add(o, "aliases", a);
	json_object_object_add(o, "usd_per_mtok", rates_json(&r->base, 1));
	json_object_object_add(o, "nano_per_mtok", rates_json(&r->base, 0));
	tiers = json_object_new_array();
	for (i = 0; i < r->ntiers; i++) {
		json_object *t = json_object_new_object();

		json_object_object_add(t, "above_input_tokens",
				       json_object_new_int64(r->tiers[i].above_input_tokens));
		json_object_object_add(t, "usd_per_mtok", rates_json(&r->tiers[i].rates, 1));
		json_object_object_add(t, "nano_per_mtok", rates_json(&r->tiers[i].rates, 0));
		json_object_array_add(tiers, t);
	}
	json_object_object_add(o, "tiers", tiers);
	return o;
}

static void json_print(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static void table_json(const struct price_table *t, const char *path)
{
	json_object *o = json_object_new_object(), *rows = json_object_new_array();
	size_t i;

	json_object_object_add(o, "file", jstr(path));
	json_object_object_add(o, "source", jstr(prices_source(t)));
	for (i = 0; i < prices_count(t); i++)
		json_object_array_add(rows, row_json(prices_row(t, i)));
	json_object_object_add(o, "models", rows);
	json_print(o);
}

/* --- one model ------------------------------------------------------------- */

/* "IN,CACHED,WRITE,WRITE1H,OUT[,REASONING]": counts of tokens. */
static int parse_usage(const char *s, struct llm_usage *u)
{
	int64_t v[6] = { 0 };
	const char *p = s;
	char *end;
	int n;

	for (n = 0; n < 6; n++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		errno = 0;
		v[n] = strtoll(p, &end, 10);
		if (errno)
			return -ERANGE;
		p = end;
		if (!*p)
			break;
		if (*p++ != ',')
			return -EINVAL;
	}
	if (n < 4 || n > 5)
		return -EINVAL;
	*u = (struct llm_usage){ v[0], v[1], v[2], v[3], v[4], v[5] };
	return 0;
}

struct show {
	const char *path;
	const char *provider;
	const char *model;
	const struct llm_usage *usage;
	int json;
};

static void model_json(const struct show *s, const struct price_table *t,
		       const struct price_row *r, enum price_match how)
{
	json_object *o = json_object_new_object();
	char usd[32];

	json_object_object_add(o, "query", jstr(s->model));
	json_object_object_add(o, "provider", jstr(s->provider));
	json_object_object_add(o, "match", json_object_new_string(price_match_name(how)));
	json_object_object_add(o, "priced_at_default",
			       json_object_new_boolean(how == PRICE_DEFAULT));
	json_object_object_add(o, "row", row_json(r));
	if (s->usage) {
		int64_t nano = price_cost(r, s->usage);

		usd_format(nano, usd, sizeof(usd));
		json_object_object_add(o, "cost_nano", json_object_new_int64(nano));
		json_object_object_add(o, "cost_usd", json_object_new_string(usd));
	}
	json_object_object_add(o, "file", jstr(s->path));
	json_object_object_add(o, "source", jstr(prices_source(t)));
	json_print(o);
}

static void show_model(const struct show *s, const struct price_table *t)
{
	enum price_match how;
	const struct price_row *r = prices_lookup(t, s->provider, s->model, &how);
	char usd[32], src[512];

	if (!r)
		r = &price_default_builtin;
	if (s->json) {
		model_json(s, t, r, how);
		return;
	}
	print_model(s->model, r, how);
	if (s->usage) {
		int64_t nano = price_cost(r, s->usage);

		usd_format(nano, usd, sizeof(usd));
		printf("cost: %s USD (%" PRId64 " nano-USD)\n", usd, nano);
	}
	printf("source: %s\n", escape_str(src, sizeof(src), prices_source(t)));
}

static int cmd_import(int argc, char **argv, const char *parent);

int cmd_prices(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "file",	required_argument, NULL, 'f' },
		{ "provider",	required_argument, NULL, 'p' },
		{ "usage",	required_argument, NULL, 'u' },
		{ "json",	no_argument,	   NULL, 'j' },
		{ "help",	no_argument,	   NULL, 'h' },
		{}
	};
	struct show s = { 0 };
	struct llm_usage u;
	struct price_table *t;
	int c;

	if (argc >= 2 && !strcmp(argv[1], "import"))
		return cmd_import(argc - 1, argv + 1, argv[0]);
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:p:u:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			s.path = optarg;
			break;
		case 'p':
			s.provider = optarg;
			break;
		case 'u':
			if (parse_usage(optarg, &u)) {
				fprintf(stderr, "%s: --usage: want IN,CACHED,WRITE,WRITE1H,OUT "
					"token counts, got '%s'\n", argv[0], optarg);
				return 2;
			}
			s.usage = &u;
			break;
		case 'j':
			s.json = 1;
			break;
		case 'h':
			prices_usage(stdout, argv[0]);
			return 0;
		default:
			prices_usage(stderr, argv[0]);
			return 2;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "%s: one MODEL at most\n", argv[0]);
		return 2;
	}
	if (optind == argc && (s.provider || s.usage)) {
		fprintf(stderr, "%s: --provider and --usage need a MODEL\n", argv[0]);
		return 2;
	}
	t = load(argv[0], &s.path);
	if (!t)
		return 1;
	if (optind < argc) {
		s.model = argv[optind];
		show_model(&s, t);
	} else if (s.json) {
		table_json(t, s.path);
	} else {
		print_table(t, s.path);
	}
	prices_free(t);
	return 0;
}

/* --- import ---------------------------------------------------------------- */

/* LiteLLM's per-token keys, in the order of struct price_rates. */
static const char *const litellm_keys[] = {
	"input_cost_per_token",
	"cache_read_input_token_cost",
	"cache_creation_input_token_cost",
	"cache_creation_input_token_cost_above_1hr",
	"output_cost_per_token",
};

/* litellm_provider -> ours, where they differ. */
static const struct {
	const char *litellm;
	const char *ours;
	int prefix;			/* litellm is a prefix ("vertex_ai-...") */
} provider_map[] = {
	{ "openai",			"openai",	0 },
	{ "text-completion-openai",	"openai",	0 },
	{ "azure",			"azure",	0 },
	{ "azure_text",			"azure",	0 },
	{ "anthropic",			"anthropic",	0 },
	{ "gemini",			"google",	0 },
	{ "vertex_ai",			"vertex",	1 },
	{ "mistral",			"mistral",	0 },
	{ "codestral",			"mistral",	0 },
	{ "text-completion-codestral",	"mistral",	0 },
	{ "deepseek",			"deepseek",	0 },
	{ "xai",			"xai",		0 },
	{ "groq",			"groq",		0 },
	{ "bedrock",			"bedrock",	1 },
	{ "together_ai",		"together",	0 },
	{ "fireworks_ai",		"fireworks",	1 },
	{ "openrouter",			"openrouter",	0 },
};

struct imp_row {
	char provider[64];
	char model[256];
	struct price_row row;
};

struct import {
	const char *prog;
	struct imp_row *rows;
	size_t n, cap;
	size_t no_price, other_mode, bad_name, bad_price, dups, rounded;
};

static void map_provider(const char *lp, char *out, size_t cap)
{
	size_t i, n;

	for (i = 0; lp && i < ARRAY_SIZE(provider_map); i++) {
		n = strlen(provider_map[i].litellm);
		if (provider_map[i].prefix ? !strncmp(lp, provider_map[i].litellm, n)
					   : !strcmp(lp, provider_map[i].litellm)) {
			snprintf(out, cap, "%s", provider_map[i].ours);
			return;
		}
	}
	/* others as they are, cut to a safe alphabet */
	snprintf(out, cap, "%s", lp && *lp ? lp : "unknown");
	for (i = 0; out[i]; i++)
		if (!((out[i] >= 'a' && out[i] <= 'z') || (out[i] >= '0' && out[i] <= '9') ||
		      out[i] == '.' || out[i] == '_' || out[i] == '-'))
			out[i] = out[i] >= 'A' && out[i] <= 'Z' ? out[i] - 'A' + 'a' : '-';
}

/* A name the YAML can carry simply: printable ASCII, 1..255 bytes, no
 * space at either end (one there is a typo that would shadow the name). */
static int good_name(const char *s)
{
	size_t n = strlen(s), i;

	if (!n || n > 255 || s[0] == ' ' || s[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	return 1;
}

/*
 * A per-token price from JSON: its text, never its double.  0 and *v, 1
 * absent, -1 refused.
 */
static int import_price(struct import *im, json_object *v, int64_t *out)
{
	const char *text;
	int rc;

	if (!v || json_object_is_type(v, json_type_null))
		return 1;
	if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_string))
		return -1;
	text = json_object_get_string(v);
	rc = price_per_token_parse(text, out);
	if (rc < 0)
		return -1;
	if (rc == 1)
		im->rounded++;
	return 0;
}

/* "input_cost_per_token_above_200k_tokens": key 0, 200000. */
static int tier_key(const char *key, size_t *k, int64_t *above)
{
	size_t i, n;
	const char *p;
	char *end;

	for (i = 0; i < ARRAY_SIZE(litellm_keys); i++) {
		n = strlen(litellm_keys[i]);
		if (strncmp(key, litellm_keys[i], n) || strncmp(key + n, "_above_", 7))
			continue;
		p = key + n + 7;
		if (*p < '1' || *p > '9')
			continue;
		*above = strtoll(p, &end, 10);
		if (strcmp(end, "k_tokens") || *above > 1000000000)
			continue;
		*k = i;
		*above *= 1000;
		return 0;
	}
	return -1;
}

static int tier_index(struct price_row *r, int64_t above)
{
	size_t i, j, k;

	for (i = 0; i < r->ntiers; i++)
		if (r->tiers[i].above_input_tokens == above)
			return (int)i;
	if (r->ntiers == PRICE_TIERS_MAX)
		return -1;
	for (i = 0; i < r->ntiers && r->tiers[i].above_input_tokens < above; i++)
		;
	for (j = r->ntiers; j > i; j--)
		r->tiers[j] = r->tiers[j - 1];
	r->tiers[i].above_input_tokens = above;
	for (k = 0; k < 5; k++)
		rate_set(&r->tiers[i].rates, k, -1);	/* not given: the row's */
	r->ntiers++;
	return (int)i;
}

static int import_tiers(struct import *im, json_object *e, struct price_row *r)
{
	int64_t above, v;
	size_t k;
	int i;

	json_object_object_foreach(e, key, val) {
		if (tier_key(key, &k, &above))
			continue;
		i = import_price(im, val, &v);
		if (i == 1)
			continue;
		if (i < 0)
			return -1;
		i = tier_index(r, above);
		if (i < 0)
			return -1;
		rate_set(&r->tiers[i].rates, k, v);
	}
	return 0;
}

static int chat_mode(json_object *e, int *embedding)
{
	static const char *const modes[] = { "chat", "completion", "responses", "embedding" };
	json_object *m;
	const char *s;
	size_t i;

	*embedding = 0;
	if (!json_object_object_get_ex(e, "mode", &m))
		return 1;
	s = json_object_get_string(m);
	for (i = 0; s && i < ARRAY_SIZE(modes); i++)
		if (!strcmp(s, modes[i])) {
			*embedding = i == 3;
			return 1;
		}
	return 0;
}

/* One model's rates; 0, or 1 when it is left out (counted). */
static int import_rates(struct import *im, json_object *e, struct price_row *r, int embedding)
{
	json_object *v;
	int64_t x;
	size_t k;
	int rc;

	for (k = 0; k < 5; k++) {
		rate_set(&r->base, k, -1);
		rc = import_price(im, json_object_object_get_ex(e, litellm_keys[k], &v) ? v : NULL,
				  &x);
		if (rc < 0) {
			im->bad_price++;
			return 1;
		}
		if (!rc)
			rate_set(&r->base, k, x);
	}
	if (r->base.output < 0 && embedding)
		r->base.output = 0;
	if (r->base.input < 0 || r->base.output < 0) {
		im->no_price++;
		return 1;
	}
	if (import_tiers(im, e, r)) {
		im->bad_price++;
		return 1;
	}
	return 0;
}

static int is_dup(const struct import *im, const char *provider, const char *model)
{
	size_t i;

	for (i = 0; i < im->n; i++)
		if (!strcasecmp(im->rows[i].provider, provider) &&
		    !strcasecmp(im->rows[i].model, model))
			return 1;
	return 0;
}

static int import_one(struct import *im, const char *key, json_object *e)
{
	struct imp_row row = { 0 }, *rows;
	json_object *lp;
	const char *lps = NULL;
	size_t n;
	int embedding;

	if (!json_object_is_type(e, json_type_object) || !chat_mode(e, &embedding)) {
		im->other_mode++;
		return 0;
	}
	if (json_object_object_get_ex(e, "litellm_provider", &lp))
		lps = json_object_get_string(lp);
	map_provider(lps, row.provider, sizeof(row.provider));
	/* "gemini/gemini-2.5-pro": the provider's own name is the rest */
	n = lps ? strlen(lps) : 0;
	if (n && !strncmp(key, lps, n) && key[n] == '/' && key[n + 1])
		key += n + 1;
	if (!good_name(key)) {
		im->bad_name++;
		return 0;
	}
	snprintf(row.model, sizeof(row.model), "%s", key);
	if (import_rates(im, e, &row.row, embedding))
		return 0;
	if (is_dup(im, row.provider, row.model)) {
		im->dups++;
		return 0;
	}
	if (im->n == im->cap) {
		im->cap = im->cap ? 2 * im->cap : 1024;
		rows = realloc(im->rows, im->cap * sizeof(*rows));
		if (!rows)
			return -ENOMEM;
		im->rows = rows;
	}
	im->rows[im->n++] = row;
	return 0;
}

static void write_rates(FILE *f, const struct price_rates *r, const char *indent)
{
	char b[32];
	size_t k;

	for (k = 0; k < 5; k++)
		if (rate_get(r, k) >= 0)
			fprintf(f, "%s%s: %s\n", indent, rate_names[k],
				(price_rate_format(rate_get(r, k), b, sizeof(b)), b));
}

/* A double-quoted YAML scalar of a printable ASCII name. */
static void write_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void write_yaml(FILE *f, const struct import *im, const char *from)
{
	char date[16], src[256];
	time_t now = time(NULL);
	size_t i, j;

	strftime(date, sizeof(date), "%Y-%m-%d", gmtime(&now));
	escape_str(src, sizeof(src), from);
	fprintf(f,
"# tollgate prices (DESIGN §6): USD per million tokens, per model.\n"
"#\n"
"# IMPORTED by `tollgate prices import` on %s from %s\n"
"# (LiteLLM's model_prices_and_context_window.json format).  Per-token USD\n"
"# prices were converted from their JSON text exactly; %zu finer than\n"
"# nano-USD per Mtok were rounded.  The schema is described at the top of\n"
"# the shipped policies/prices.yaml.\n\n", date, src, im->rounded);
	fprintf(f, "source: ");
	write_quoted(f, "LiteLLM model_prices_and_context_window.json, imported");
	fprintf(f, "\nmodels:\n");
	for (i = 0; i < im->n; i++) {
		const struct price_row *r = &im->rows[i].row;

		fprintf(f, "  - provider: %s\n    model: ", im->rows[i].provider);
		write_quoted(f, im->rows[i].model);
		fputc('\n', f);
		write_rates(f, &r->base, "    ");
		if (r->ntiers)
			fprintf(f, "    tiers:\n");
		for (j = 0; j < r->ntiers; j++) {
			fprintf(f, "      - above_input_tokens: %" PRId64 "\n",
				r->tiers[j].above_input_tokens);
			write_rates(f, &r->tiers[j].rates, "        ");
		}
	}
}

/* OUT through a temporary file beside it: checked, then renamed over. */
static int write_out(const struct import *im, const char *from, const char *out)
{
	char tmp[4096], err[1024];
	struct price_table *t;
	FILE *f;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", out) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);		/* 0600 */
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		fprintf(stderr, "%s: %s: %s\n", im->prog, out, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	write_yaml(f, im, from);
	if (fflush(f) || fsync(fileno(f)) || ferror(f)) {
		fprintf(stderr, "%s: %s: %s\n", im->prog, out, strerror(errno));
		fclose(f);
		unlink(tmp);
		return -EIO;
	}
	fclose(f);
	/* what we wrote must load: a check on this program, not the input */
	if (prices_load(tmp, &t, err, sizeof(err))) {
		fprintf(stderr, "%s: the written file does not load: %s\n", im->prog, err);
		unlink(tmp);
		return -EBADMSG;
	}
	prices_free(t);
	if (rename(tmp, out)) {
		fprintf(stderr, "%s: %s: %s\n", im->prog, out, strerror(errno));
		unlink(tmp);
		return -errno;
	}
	return 0;
}

static int import_file(struct import *im, const char *file, const char *out)
{
	json_object *root = json_object_from_file(file);
	int err = 0;

	if (!root) {
		const char *why = json_util_get_last_err();

		/* json-c's message ends in a newline of its own */
		fprintf(stderr, "%s: %s: %.*s\n", im->prog, file,
			why ? (int)strcspn(why, "\n") : 7, why ? why : "not JSON");
		return -EBADMSG;
	}
	if (!json_object_is_type(root, json_type_object)) {
		fprintf(stderr, "%s: %s: not a JSON object of models\n", im->prog, file);
		json_object_put(root);
		return -EBADMSG;
	}
	json_object_object_foreach(root, key, val) {
		if (!strcmp(key, "sample_spec"))
			continue;
		if ((err = import_one(im, key, val)))
			break;
	}
	json_object_put(root);
	if (err)
		return err;
	if (!out) {
		write_yaml(stdout, im, file);
		return fflush(stdout) ? -EIO : 0;
	}
	return write_out(im, file, out);
}

static int cmd_import(int argc, char **argv, const char *parent)
{
	static const struct option longopts[] = {
		{ "output",	required_argument, NULL, 'o' },
		{ "help",	no_argument,	   NULL, 'h' },
		{}
	};
	char prog[128];
	struct import im = { 0 };
	const char *out = NULL;
	int c, err;

	snprintf(prog, sizeof(prog), "%s import", parent);
	im.prog = prog;
	argv[0] = prog;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'h':
			import_usage(stdout, prog);
			return 0;
		default:
			import_usage(stderr, prog);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "%s: want one FILE\n", prog);
		import_usage(stderr, prog);
		return 2;
	}
	err = import_file(&im, argv[optind], out);
	if (!err)
		fprintf(stderr, "%s: %zu models; left out: %zu without per-token prices, %zu "
			"other modes, %zu bad prices, %zu odd names, %zu duplicates; %zu prices "
			"rounded to nano-USD per Mtok\n", prog, im.n, im.no_price, im.other_mode,
			im.bad_price, im.bad_name, im.dups, im.rounded);
	free(im.rows);
	return err ? 1 : 0;
}
