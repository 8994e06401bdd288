// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Prices (DESIGN §6): the prices.yaml table, model lookup and the cost of
 * a call in integer nano-USD.
 *
 * The file is read with libyaml's event API, walked by the shape of the
 * schema (a mapping of `source` and `models`; each model a mapping whose
 * keys come from tables), stopping at the first error with FILE:LINE:COL.
 * Anchors, aliases and tags are refused, as in policy files.
 *
 * Prices are decimals read digit by digit into nano-USD per million
 * tokens; no double ever holds money.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include "decimal.h"
#include "escape.h"
#include "pricing.h"
#include "yamlerr.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define NANO_PER_USD	1000000000LL
#define RATE_MAX	(1000000LL * NANO_PER_USD)	/* $1M/Mtok bounds typos */
#define RATE_UNSET	INT64_MIN			/* tier key not given */
#define ABOVE_MAX	1000000000000LL			/* 1e12 input tokens */
#define PRICES_FILE_MAX	(32u << 20)
#define PRICES_ROWS_MAX	65536
#define PRICE_ALIASES_MAX 64
#define PRICE_NAME_MAX	255
#define SOURCE_MAX	1024

struct price_entry {
	struct price_row row;		/* first: prices_row() hands it out */
	char *provider;			/* what row's pointers point at, owned */
	char *model;
	const char *bare;		/* model without a vendor prefix */
	char **aliases;
	size_t line, col;		/* where the row starts, for messages */
};

struct price_table {
	struct price_entry *e;
	size_t n, cap;
	char *source;
};

/* --- the built-in default -------------------------------------------------- */

const struct price_row price_default_builtin = {
	.provider = "builtin",
	.model = "default",
	.base = {
		.input = 15 * NANO_PER_USD,
		.cached_input = 1500000000LL,		/* $1.50 */
		.cache_write = 18750000000LL,		/* $18.75 */
		.cache_write_1h = 30 * NANO_PER_USD,
		.output = 75 * NANO_PER_USD,
	},
};

const char *price_match_name(enum price_match m)
{
	switch (m) {
	case PRICE_EXACT:	return "exact";
	case PRICE_SNAPSHOT:	return "snapshot";
	case PRICE_ALIAS:	return "alias";
	case PRICE_DEFAULT:	return "default";
	}
	return "?";
}

/* --- decimals -------------------------------------------------------------- */

int price_rate_parse(const char *s, int64_t *nano_per_mtok)
{
	const char *end;
	int err;

	if (!s)
		return -EINVAL;
	err = decimal_parse(s, &end, 9, RATE_MAX, nano_per_mtok);
	return err ? err : *end ? -EINVAL : 0;
}

void price_rate_format(int64_t nano_per_mtok, char *buf, size_t cap)
{
	uint64_t m = nano_per_mtok < 0 ? -(uint64_t)nano_per_mtok : (uint64_t)nano_per_mtok;
	char frac[10];
	int i;

	snprintf(frac, sizeof(frac), "%09llu", (unsigned long long)(m % NANO_PER_USD));
	for (i = 8; i >= 0 && frac[i] == '0'; i--)
		frac[i] = '\0';
	snprintf(buf, cap, "%s%llu%s%s", nano_per_mtok < 0 ? "-" : "",
		 (unsigned long long)(m / NANO_PER_USD), frac[0] ? "." : "", frac);
}

void usd_format(int64_t nano, char *buf, size_t cap)
{
	uint64_t m = nano < 0 ? -(uint64_t)nano : (uint64_t)nano;

	snprintf(buf, cap, "%s%llu.%09llu", nano < 0 ? "-" : "",
		 (unsigned long long)(m / NANO_PER_USD), (unsigned long long)(m % NANO_PER_USD));
}

/*
 * A JSON number as value = 0.d1d2d3... x 10^exp, d1 nonzero: its
 * significant digits (the first 64; the rest can only matter for rounding
 * and set sticky) and a decimal exponent.
 */
struct jnum {
	char dig[64];
	size_t n;
	int sticky;		/* a nonzero digit was dropped past dig[] */
	long exp;
};

static void jnum_digit(struct jnum *j, char c, int after_point)
{
	if (j->n == 0 && c == '0') {
		if (after_point)
			j->exp--;	/* 0.000ddd: leading zeros after the point */
		return;
	}
	if (j->n < sizeof(j->dig))
		j->dig[j->n++] = c;
	else if (c != '0')
		j->sticky = 1;
	if (!after_point)
		j->exp++;
}

static int jnum_parse(const char *s, struct jnum *j)
{
	const char *p = s;
	long e = 0;
	int eneg = 0, edig = 0;

	memset(j, 0, sizeof(*j));
	if (*p == '-')
		return -EINVAL;
	if (!(*p >= '0' && *p <= '9'))
		return -EINVAL;
	if (*p == '0' && p[1] >= '0' && p[1] <= '9')
		return -EINVAL;		/* JSON has no leading zeros */
	for (; *p >= '0' && *p <= '9'; p++)
		jnum_digit(j, *p, 0);
	if (*p == '.') {
		if (!(p[1] >= '0' && p[1] <= '9'))
			return -EINVAL;
		for (p++; *p >= '0' && *p <= '9'; p++)
			jnum_digit(j, *p, 1);
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			eneg = *p++ == '-';
		for (; *p >= '0' && *p <= '9'; p++, edig++)
			if (e < 100000)
				e = e * 10 + (*p - '0');
		if (!edig)
			return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	j->exp += eneg ? -e : e;
	return 0;
}

int price_per_token_parse(const char *s, int64_t *nano_per_mtok)
{
	struct jnum j;
	long ipos;		/* digits of dig[] that are integral nano/Mtok */
	int64_t v = 0;
	int inexact, err;
	size_t i;

	if (!s)
		return -EINVAL;
	err = jnum_parse(s, &j);
	if (err)
		return err;
	if (!j.n) {
		*nano_per_mtok = 0;
		return 0;
	}
	/* USD/token x 1e15 = nano-USD/Mtok: the point moves 15 places */
	ipos = j.exp + 15;
	if (ipos > 19)
		return -ERANGE;
	for (i = 0; (long)i < ipos; i++) {
		v = v * 10 + (i < j.n ? j.dig[i] - '0' : 0);
		if (v > RATE_MAX)
			return -ERANGE;
	}
	inexact = j.sticky;
	for (i = ipos < 0 ? 0 : (size_t)ipos; i < j.n; i++)
		if (j.dig[i] != '0')
			inexact = 1;
	/* round half up on the first dropped digit */
	if (ipos >= 0 && (size_t)ipos < j.n && j.dig[ipos] >= '5')
		v++;
	if (v > RATE_MAX)
		return -ERANGE;
	*nano_per_mtok = v;
	return inexact;
}

/* --- loading --------------------------------------------------------------- */

static const char *vendor_strip(const char *name, const char **hint);

struct loader {
	const char *path;
	yaml_parser_t parser;
	yaml_event_t ev;
	int have_ev;
	char *err;
	size_t errlen;
	struct price_table *t;
};

/* Errors name the file, line and column (include/yamlerr.h). */
#define ld_error(ld, m, ...) \
	yaml_error_mark((ld)->path, (ld)->err, (ld)->errlen, m, __VA_ARGS__)
#define ld_error_at(ld, line, col, ...) \
	yaml_error((ld)->path, (ld)->err, (ld)->errlen, line, col, __VA_ARGS__)

static const char *quote(char *buf, size_t cap, const char *s)
{
	return escape_str(buf, cap, s);
}

/* The next event, refusing what the schema has no use for. */
static int ld_next(struct loader *ld)
{
	const char *why;

	if (ld->have_ev)
		yaml_event_delete(&ld->ev);
	ld->have_ev = 0;
	if (!yaml_parser_parse(&ld->parser, &ld->ev))
		return ld_error(ld, &ld->parser.problem_mark, "%s%s%s",
				ld->parser.problem ? ld->parser.problem : "invalid YAML",
				ld->parser.context ? " " : "",
				ld->parser.context ? ld->parser.context : "");
	ld->have_ev = 1;
	why = yaml_refused(&ld->ev);
	if (why)
		return ld_error(ld, &ld->ev.start_mark, "%s are not allowed", why);
	return 0;
}

static const char *ev_what(yaml_event_type_t t)
{
	switch (t) {
	case YAML_SCALAR_EVENT:		return "a scalar";
	case YAML_SEQUENCE_START_EVENT:	return "a list";
	case YAML_MAPPING_START_EVENT:	return "a mapping";
	default:			return "the end";
	}
}

static int ld_expect(struct loader *ld, yaml_event_type_t t, const char *what)
{
	int err = ld_next(ld);

	if (err)
		return err;
	if (ld->ev.type != t)
		return ld_error(ld, &ld->ev.start_mark, "expected %s, found %s", what,
				ev_what(ld->ev.type));
	return 0;
}

/* The current event's scalar as a C string (no NUL inside), or an error. */
static int ld_scalar(struct loader *ld, const char *key, const char **s)
{
	const yaml_event_t *e = &ld->ev;

	if (e->type != YAML_SCALAR_EVENT)
		return ld_error(ld, &e->start_mark, "%s: expected a scalar, found %s", key,
				ev_what(e->type));
	if (strlen((const char *)e->data.scalar.value) != e->data.scalar.length)
		return ld_error(ld, &e->start_mark, "%s: NUL in the value", key);
	*s = (const char *)e->data.scalar.value;
	return 0;
}

/* A name: 1..PRICE_NAME_MAX bytes, no control characters. */
static int ld_name(struct loader *ld, const char *key, char **out)
{
	const char *s;
	size_t i, n;
	int err = ld_scalar(ld, key, &s);

	if (err)
		return err;
	n = strlen(s);
	if (!n || n > PRICE_NAME_MAX)
		return ld_error(ld, &ld->ev.start_mark, "%s: want 1 to %d bytes", key,
				PRICE_NAME_MAX);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return ld_error(ld, &ld->ev.start_mark, "%s: control character", key);
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int ld_rate(struct loader *ld, const char *key, int64_t *out)
{
	char q[64];
	const char *s;
	int err = ld_scalar(ld, key, &s);

	if (err)
		return err;
	err = price_rate_parse(s, out);
	if (err == -ERANGE && strchr(s, '.') && strlen(strchr(s, '.') + 1) > 9)
		return ld_error(ld, &ld->ev.start_mark,
				"%s: '%s': more precision than nano-USD per Mtok (at most 9 decimals)",
				key, quote(q, sizeof(q), s));
	if (err == -ERANGE)
		return ld_error(ld, &ld->ev.start_mark, "%s: '%s': above $1000000 per Mtok",
				key, quote(q, sizeof(q), s));
	if (err)
		return ld_error(ld, &ld->ev.start_mark,
				"%s: '%s' is not a price (USD per Mtok, like 2.5)", key,
				quote(q, sizeof(q), s));
	return 0;
}

static int ld_above(struct loader *ld, int64_t *out)
{
	char q[64];
	const char *s, *p;
	int64_t v = 0;
	int err = ld_scalar(ld, "above_input_tokens", &s);

	if (err)
		return err;
	for (p = s; *p >= '0' && *p <= '9' && v <= ABOVE_MAX; p++)
		v = v * 10 + (*p - '0');
	if (p == s || *p || v > ABOVE_MAX)
		return ld_error(ld, &ld->ev.start_mark,
				"above_input_tokens: '%s': want a token count up to %lld",
				quote(q, sizeof(q), s), ABOVE_MAX);
	*out = v;
	return 0;
}

/* Rate keys, shared by a row and its tiers. */
static const struct rate_key {
	const char *name;
	size_t off;
} rate_keys[] = {
	{ "input",		offsetof(struct price_rates, input) },
	{ "cached_input",	offsetof(struct price_rates, cached_input) },
	{ "cache_write",	offsetof(struct price_rates, cache_write) },
	{ "cache_write_1h",	offsetof(struct price_rates, cache_write_1h) },
	{ "output",		offsetof(struct price_rates, output) },
};

static int64_t *rate_at(struct price_rates *r, size_t k)
{
	return (int64_t *)((char *)r + rate_keys[k].off);
}

static int rate_key(const char *key)
{
	size_t k;

	for (k = 0; k < ARRAY_SIZE(rate_keys); k++)
		if (!strcmp(key, rate_keys[k].name))
			return (int)k;
	return -1;
}

/* Duplicate keys: one bit per key of a mapping's table. */
static int ld_seen(struct loader *ld, unsigned *seen, unsigned bit, const char *key)
{
	if (*seen & bit)
		return ld_error(ld, &ld->ev.start_mark, "'%s' given twice", key);
	*seen |= bit;
	return 0;
}

static int ld_tier(struct loader *ld, struct price_row *row, int64_t prev)
{
	struct price_rates *r = &row->tiers[row->ntiers].rates;
	yaml_mark_t start = ld->ev.start_mark;
	unsigned seen = 0;
	char q[64];
	size_t k;
	int err, rk;

	for (k = 0; k < ARRAY_SIZE(rate_keys); k++)
		*rate_at(r, k) = RATE_UNSET;
	for (;;) {
		const char *key;

		if ((err = ld_next(ld)))
			return err;
		if (ld->ev.type == YAML_MAPPING_END_EVENT)
			break;
		if ((err = ld_scalar(ld, "key", &key)))
			return err;
		if (!strcmp(key, "above_input_tokens")) {
			if ((err = ld_seen(ld, &seen, 1u << 31, key)) || (err = ld_next(ld)) ||
			    (err = ld_above(ld, &row->tiers[row->ntiers].above_input_tokens)))
				return err;
			if (row->tiers[row->ntiers].above_input_tokens <= prev)
				return ld_error(ld, &ld->ev.start_mark,
						"above_input_tokens: tiers must rise (previous %lld)",
						(long long)prev);
			continue;
		}
		rk = rate_key(key);
		if (rk < 0)
			return ld_error(ld, &ld->ev.start_mark, "unknown key '%s' in a tier",
					quote(q, sizeof(q), key));
		if ((err = ld_seen(ld, &seen, 1u << rk, key)) || (err = ld_next(ld)) ||
		    (err = ld_rate(ld, rate_keys[rk].name, rate_at(r, rk))))
			return err;
	}
	if (!(seen & (1u << 31)))
		return ld_error(ld, &start, "a tier needs above_input_tokens");
	row->ntiers++;
	return 0;
}

static int ld_tiers(struct loader *ld, struct price_row *row)
{
	int64_t prev = -1;
	int err;

	if ((err = ld_next(ld)))
		return err;
	if (ld->ev.type != YAML_SEQUENCE_START_EVENT)
		return ld_error(ld, &ld->ev.start_mark, "tiers: expected a list");
	for (;;) {
		if ((err = ld_next(ld)))
			return err;
		if (ld->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		if (ld->ev.type != YAML_MAPPING_START_EVENT)
			return ld_error(ld, &ld->ev.start_mark, "tiers: expected a mapping");
		if (row->ntiers == PRICE_TIERS_MAX)
			return ld_error(ld, &ld->ev.start_mark, "tiers: at most %d",
					PRICE_TIERS_MAX);
		if ((err = ld_tier(ld, row, prev)))
			return err;
		prev = row->tiers[row->ntiers - 1].above_input_tokens;
	}
}

static int ld_alias_text(struct loader *ld, struct price_entry *e)
{
	char *a;
	size_t n;
	int err;

	if (e->row.naliases == PRICE_ALIASES_MAX)
		return ld_error(ld, &ld->ev.start_mark, "aliases: at most %d", PRICE_ALIASES_MAX);
	if ((err = ld_name(ld, "aliases", &a)))
		return err;
	n = strlen(a);
	if (strchr(a, '*') != a + n - 1 && strchr(a, '*')) {
		free(a);
		return ld_error(ld, &ld->ev.start_mark, "aliases: '*' only at the end (a prefix)");
	}
	if (!strcmp(a, "*")) {
		free(a);
		return ld_error(ld, &ld->ev.start_mark, "aliases: an empty prefix matches all");
	}
	e->aliases[e->row.naliases++] = a;
	return 0;
}

/* A name, or a list of names. */
static int ld_aliases(struct loader *ld, struct price_entry *e)
{
	int err;

	e->aliases = calloc(PRICE_ALIASES_MAX, sizeof(*e->aliases));
	if (!e->aliases)
		return -ENOMEM;
	e->row.aliases = (const char *const *)e->aliases;
	if ((err = ld_next(ld)))
		return err;
	if (ld->ev.type == YAML_SCALAR_EVENT)
		return ld_alias_text(ld, e);
	if (ld->ev.type != YAML_SEQUENCE_START_EVENT)
		return ld_error(ld, &ld->ev.start_mark, "aliases: expected a name or a list");
	for (;;) {
		if ((err = ld_next(ld)))
			return err;
		if (ld->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		if ((err = ld_alias_text(ld, e)))
			return err;
	}
}

enum { K_PROVIDER = 8, K_MODEL, K_ALIASES, K_TIERS };

static int ld_row_key(struct loader *ld, struct price_entry *e, const char *key, unsigned *seen)
{
	char q[64];
	int err, rk;

	/* key lives in the current event: not used past ld_next() */
	if (!strcmp(key, "provider")) {
		if ((err = ld_seen(ld, seen, 1u << K_PROVIDER, key)) || (err = ld_next(ld)))
			return err;
		return ld_name(ld, "provider", &e->provider);
	}
	if (!strcmp(key, "model")) {
		if ((err = ld_seen(ld, seen, 1u << K_MODEL, key)) || (err = ld_next(ld)))
			return err;
		return ld_name(ld, "model", &e->model);
	}
	if (!strcmp(key, "aliases")) {
		if ((err = ld_seen(ld, seen, 1u << K_ALIASES, key)))
			return err;
		return ld_aliases(ld, e);
	}
	if (!strcmp(key, "tiers")) {
		if ((err = ld_seen(ld, seen, 1u << K_TIERS, key)))
			return err;
		return ld_tiers(ld, &e->row);
	}
	rk = rate_key(key);
	if (rk < 0)
		return ld_error(ld, &ld->ev.start_mark, "unknown key '%s' in a model",
				quote(q, sizeof(q), key));
	if ((err = ld_seen(ld, seen, 1u << rk, key)) || (err = ld_next(ld)))
		return err;
	return ld_rate(ld, rate_keys[rk].name, rate_at(&e->row.base, rk));
}

/* A tier's rates not given are the row's. */
static void fill_tiers(struct price_row *row)
{
	size_t i, k;

	for (i = 0; i < row->ntiers; i++)
		for (k = 0; k < ARRAY_SIZE(rate_keys); k++)
			if (*rate_at(&row->tiers[i].rates, k) == RATE_UNSET)
				*rate_at(&row->tiers[i].rates, k) = *rate_at(&row->base, k);
}

static int ld_row_done(struct loader *ld, struct price_entry *e, unsigned seen)
{
	static const struct { unsigned bit; const char *key; } need[] = {
		{ 1u << K_PROVIDER, "provider" },
		{ 1u << K_MODEL, "model" },
		{ 1u << 0, "input" },
		{ 1u << 4, "output" },
	};
	const char *hint;
	char q[64];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(need); i++)
		if (!(seen & need[i].bit))
			return ld_error_at(ld, e->line, e->col, "model%s%s: missing '%s'",
					   e->model ? " " : "",
					   e->model ? quote(q, sizeof(q), e->model) : "", need[i].key);
	e->row.provider = e->provider;
	e->row.model = e->model;
	e->bare = vendor_strip(e->model, &hint);
	fill_tiers(&e->row);
	return 0;
}

static void entry_free(struct price_entry *e)
{
	size_t i;

	for (i = 0; i < e->row.naliases; i++)
		free(e->aliases[i]);
	free(e->aliases);
	free(e->provider);
	free(e->model);
}

static struct price_entry *table_add(struct price_table *t)
{
	struct price_entry *e;
	size_t k;

	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 256;

		e = realloc(t->e, cap * sizeof(*e));
		if (!e)
			return NULL;
		/* rows point at their own aliases array, not into e[]: safe */
		t->e = e;
		t->cap = cap;
	}
	e = &t->e[t->n++];
	memset(e, 0, sizeof(*e));
	for (k = 0; k < ARRAY_SIZE(rate_keys); k++)
		*rate_at(&e->row.base, k) = -1;
	return e;
}

static int ld_row(struct loader *ld)
{
	struct price_entry *e;
	unsigned seen = 0;
	int err;

	if (ld->t->n == PRICES_ROWS_MAX)
		return ld_error(ld, &ld->ev.start_mark, "models: at most %d", PRICES_ROWS_MAX);
	e = table_add(ld->t);
	if (!e)
		return -ENOMEM;
	e->line = ld->ev.start_mark.line + 1;
	e->col = ld->ev.start_mark.column + 1;
	for (;;) {
		const char *key;

		if ((err = ld_next(ld)))
			return err;
		if (ld->ev.type == YAML_MAPPING_END_EVENT)
			return ld_row_done(ld, e, seen);
		if ((err = ld_scalar(ld, "key", &key)))
			return err;
		if ((err = ld_row_key(ld, e, key, &seen)))
			return err;
	}
}

static int ld_models(struct loader *ld)
{
	int err;

	if ((err = ld_next(ld)))
		return err;
	if (ld->ev.type != YAML_SEQUENCE_START_EVENT)
		return ld_error(ld, &ld->ev.start_mark, "models: expected a list");
	for (;;) {
		if ((err = ld_next(ld)))
			return err;
		if (ld->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		if (ld->ev.type != YAML_MAPPING_START_EVENT)
			return ld_error(ld, &ld->ev.start_mark, "models: expected a mapping");
		if ((err = ld_row(ld)))
			return err;
	}
}

static int ld_source(struct loader *ld)
{
	const char *s;
	int err;

	if ((err = ld_next(ld)) || (err = ld_scalar(ld, "source", &s)))
		return err;
	if (strlen(s) > SOURCE_MAX)
		return ld_error(ld, &ld->ev.start_mark, "source: at most %d bytes", SOURCE_MAX);
	ld->t->source = strdup(s);
	return ld->t->source ? 0 : -ENOMEM;
}

static int ld_top(struct loader *ld)
{
	unsigned seen = 0;
	char q[64];
	int err;

	if ((err = ld_expect(ld, YAML_STREAM_START_EVENT, "a stream")) || (err = ld_next(ld)))
		return err;
	if (ld->ev.type == YAML_STREAM_END_EVENT)
		return ld_error(ld, &ld->ev.start_mark, "empty file: expected 'models'");
	if ((err = ld_expect(ld, YAML_MAPPING_START_EVENT, "a mapping")))
		return err;
	for (;;) {
		const char *key;

		if ((err = ld_next(ld)))
			return err;
		if (ld->ev.type == YAML_MAPPING_END_EVENT)
			break;
		if ((err = ld_scalar(ld, "key", &key)))
			return err;
		if (!strcmp(key, "source"))
			err = ld_seen(ld, &seen, 1, key) ?: ld_source(ld);
		else if (!strcmp(key, "models"))
			err = ld_seen(ld, &seen, 2, key) ?: ld_models(ld);
		else
			err = ld_error(ld, &ld->ev.start_mark, "unknown key '%s'",
				       quote(q, sizeof(q), key));
		if (err)
			return err;
	}
	if (!(seen & 2))
		return ld_error(ld, &ld->ev.start_mark, "missing 'models'");
	if ((err = ld_expect(ld, YAML_DOCUMENT_END_EVENT, "the end of the document")) ||
	    (err = ld_next(ld)))
		return err;
	if (ld->ev.type != YAML_STREAM_END_EVENT)
		return ld_error(ld, &ld->ev.start_mark, "one document only");
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct price_entry *x = *(const struct price_entry *const *)a;
	const struct price_entry *y = *(const struct price_entry *const *)b;
	int c = strcasecmp(x->provider, y->provider);

	if (!c)
		c = strcasecmp(x->model, y->model);
	if (!c)
		c = x->line < y->line ? -1 : x->line > y->line;
	return c;
}

/* One row per provider and model: a second is a mistake, named. */
static int ld_dups(struct loader *ld)
{
	struct price_table *t = ld->t;
	struct price_entry **v;
	char q[2][64];
	size_t i;
	int err = 0;

	if (t->n < 2)
		return 0;
	v = malloc(t->n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < t->n; i++)
		v[i] = &t->e[i];
	qsort(v, t->n, sizeof(*v), entry_cmp);
	for (i = 1; i < t->n && !err; i++)
		if (!strcasecmp(v[i]->provider, v[i - 1]->provider) &&
		    !strcasecmp(v[i]->model, v[i - 1]->model))
			err = ld_error_at(ld, v[i]->line, v[i]->col,
					  "model '%s' of provider '%s' again (first at line %zu)",
					  quote(q[0], sizeof(q[0]), v[i]->model),
					  quote(q[1], sizeof(q[1]), v[i]->provider), v[i - 1]->line);
	free(v);
	return err;
}

static int open_capped(const char *path, FILE **out, char *err, size_t errlen)
{
	struct stat st;
	FILE *f = fopen(path, "re");
	int rc;

	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > PRICES_FILE_MAX) {
		rc = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		snprintf(err, errlen, "%s: %s", path, rc == -EFBIG ?
			 "too big for a prices file (32 MiB)" : "not a regular file");
		fclose(f);
		return rc;
	}
	*out = f;
	return 0;
}

int prices_load(const char *path, struct price_table **out, char *err, size_t errlen)
{
	struct loader ld = { .path = path, .err = err, .errlen = errlen };
	FILE *f = NULL;
	int rc;

	if (errlen)
		err[0] = '\0';
	rc = open_capped(path, &f, err, errlen);
	if (rc)
		return rc;
	ld.t = calloc(1, sizeof(*ld.t));
	if (!ld.t || !yaml_parser_initialize(&ld.parser)) {
		free(ld.t);
		fclose(f);
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&ld.parser, f);
	rc = ld_top(&ld);
	if (!rc)
		rc = ld_dups(&ld);
	if (ld.have_ev)
		yaml_event_delete(&ld.ev);
	yaml_parser_delete(&ld.parser);
	fclose(f);
	if (rc) {
		if (rc == -ENOMEM && errlen)
			snprintf(err, errlen, "%s: out of memory", path);
		prices_free(ld.t);
		return rc;
	}
	*out = ld.t;
	return 0;
}

void prices_free(struct price_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n; i++)
		entry_free(&t->e[i]);
	free(t->e);
	free(t->source);
	free(t);
}

size_t prices_count(const struct price_table *t)
{
	return t ? t->n : 0;
}

const struct price_row *prices_row(const struct price_table *t, size_t i)
{
	return t && i < t->n ? &t->e[i].row : NULL;
}

const char *prices_source(const struct price_table *t)
{
	return t && t->source ? t->source : "";
}

/* --- where the table is ---------------------------------------------------- */

const char *prices_default_path(void)
{
	/* beside the installed binary ($PREFIX/sbin), then the source tree's
	 * (build/tollgate): found wherever PREFIX was */
	static const char *const rel[] = { "/../share/tollgate/prices.yaml",
					   "/../policies/prices.yaml" };
	static char buf[4096];
	const char *env = getenv("TOLLGATE_PRICES");
	char exe[4096];
	ssize_t n;
	char *slash;
	size_t i;

	if (env && *env && !access(env, R_OK))
		return env;
	if (!access("/etc/tollgate/prices.yaml", R_OK))
		return "/etc/tollgate/prices.yaml";
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if ((size_t)snprintf(buf, sizeof(buf), "%s%s", exe, rel[i]) < sizeof(buf) &&
		    !access(buf, R_OK))
			return buf;
	}
	return NULL;
}

/* --- lookup ---------------------------------------------------------------- */

/*
 * Vendor prefixes a name may carry: an aggregator's "openai/gpt-4o", the
 * Gemini API's "models/gemini-2.5-pro", a Vertex path ending in
 * ".../models/NAME".  Only these are taken off: "meta-llama/..." names
 * are the model's own.  Each says whose rows to prefer.
 */
static const struct {
	const char *prefix;
	const char *provider;		/* NULL: says nothing */
} vendor_prefixes[] = {
	{ "openai/",		"openai" },
	{ "anthropic/",		"anthropic" },
	{ "google/",		"google" },
	{ "gemini/",		"google" },
	{ "models/",		"google" },
	{ "vertex_ai/",		"google" },
	{ "mistral/",		"mistral" },
	{ "mistralai/",		"mistral" },
	{ "deepseek/",		"deepseek" },
	{ "deepseek-ai/",	"deepseek" },
	{ "x-ai/",		"xai" },
	{ "xai/",		"xai" },
	{ "groq/",		"groq" },
	{ "openrouter/",	NULL },
	{ "azure/",		NULL },
	{ "bedrock/",		NULL },
};

/* Bedrock: "anthropic.claude-...", "us.anthropic.claude-..." */
static const char *bedrock_strip(const char *s)
{
	size_t i = 0;

	while ((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-')
		i++;
	if (i >= 2 && i <= 8 && s[i] == '.' && strncasecmp(s, "anthropic.", 10))
		s += i + 1;		/* a region: "us.", "eu.", "apac.", "us-gov." */
	if (!strncasecmp(s, "anthropic.claude", 16))
		return s + 10;
	return NULL;
}

static const char *vendor_strip(const char *name, const char **hint)
{
	const char *s = name, *m;
	int changed = 1, rounds;
	size_t i;

	*hint = NULL;
	m = strstr(s, "/models/");
	if (m && m[8]) {
		s = m + 8;
		*hint = "google";
	}
	for (rounds = 0; changed && rounds < 4; rounds++) {
		changed = 0;
		for (i = 0; i < ARRAY_SIZE(vendor_prefixes); i++) {
			size_t n = strlen(vendor_prefixes[i].prefix);

			if (!strncasecmp(s, vendor_prefixes[i].prefix, n) && s[n]) {
				s += n;
				if (vendor_prefixes[i].provider)
					*hint = vendor_prefixes[i].provider;
				changed = 1;
				break;
			}
		}
	}
	m = bedrock_strip(s);
	if (m) {
		s = m;
		*hint = "anthropic";
	}
	return s;
}

/* A record's provider name -> the table's provider names for it. */
static const struct {
	const char *record;
	const char *rows[2];
} provider_rows[] = {
	{ "azure-openai",	{ "azure", "openai" } },
	{ "gemini",		{ "google" } },
	{ "vertex-ai",		{ "vertex", "google" } },
	{ "x-ai",		{ "xai" } },
};

#define QUERY_PREFS 5

/*
 * Searched in passes: the rows of the record's provider, then those of
 * the vendor a prefix names, then all; a pass with no provider is skipped.
 */
enum { PASS_RECORD, PASS_HINT, PASS_ALL };

struct query {
	const char *names[2];		/* as given; without vendor prefixes */
	size_t nnames;
	const char *prefs[QUERY_PREFS];	/* the record's providers, then the hint */
	size_t nprefs, nrecord;
	const char *hint;
	int pass;
};

static void query_prefs(struct query *q, const char *provider, const char *hint)
{
	size_t i, k;

	if (provider && *provider) {
		q->prefs[q->nprefs++] = provider;
		for (i = 0; i < ARRAY_SIZE(provider_rows); i++) {
			if (strcasecmp(provider, provider_rows[i].record))
				continue;
			for (k = 0; k < 2 && provider_rows[i].rows[k]; k++)
				q->prefs[q->nprefs++] = provider_rows[i].rows[k];
		}
	}
	q->nrecord = q->nprefs;
	q->hint = hint;
	if (hint)
		q->prefs[q->nprefs++] = hint;
}

static size_t pref_rank(const struct query *q, const struct price_entry *e)
{
	size_t i;

	for (i = 0; i < q->nprefs; i++)
		if (!strcasecmp(e->provider, q->prefs[i]))
			return i;
	return QUERY_PREFS;
}

static int in_pass(const struct query *q, const struct price_entry *e, size_t rank)
{
	switch (q->pass) {
	case PASS_RECORD:
		return rank < q->nrecord;
	case PASS_HINT:
		return !strcasecmp(e->provider, q->hint);
	default:
		return 1;
	}
}

struct best {
	const struct price_entry *e;
	size_t rank;
	size_t plen;			/* prefix stage: longer wins */
};

/* Ties: the longer prefix, then the preferred provider, then file order. */
static void consider(struct best *b, const struct query *q, const struct price_entry *e,
		     size_t plen)
{
	size_t rank = pref_rank(q, e);

	if (!in_pass(q, e, rank))
		return;
	if (!b->e || plen > b->plen || (plen == b->plen && rank < b->rank)) {
		b->e = e;
		b->rank = rank;
		b->plen = plen;
	}
}

static int is_prefix(const char *alias)
{
	size_t n = strlen(alias);

	return n && alias[n - 1] == '*';
}

/* A table name equals a query name, with or without its vendor prefix. */
static int name_eq(const char *table, const char *name)
{
	const char *hint;

	return !strcasecmp(table, name) || !strcasecmp(vendor_strip(table, &hint), name);
}

static int entry_is(const struct price_entry *e, const char *name, int aliases)
{
	size_t i;

	if (!aliases)
		return !strcasecmp(e->model, name) || !strcasecmp(e->bare, name);
	for (i = 0; i < e->row.naliases; i++)
		if (!is_prefix(e->aliases[i]) && name_eq(e->aliases[i], name))
			return 1;
	return 0;
}

static const struct price_entry *find_named(const struct price_table *t, const struct query *q,
					    const char *const *names, size_t nnames, int aliases)
{
	struct best b = { 0 };
	size_t i, k;

	for (i = 0; i < t->n; i++)
		for (k = 0; k < nnames; k++)
			if (names[k] && entry_is(&t->e[i], names[k], aliases))
				consider(&b, q, &t->e[i], 0);
	return b.e;
}

static int all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int num(const char *s, size_t n)
{
	int v = 0;

	while (n--)
		v = v * 10 + (*s++ - '0');
	return v;
}

static int valid_date(int y, int m, int d)
{
	return y >= 2000 && y <= 2099 && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

/* "-v2", "-v2:0" (Bedrock versions) at the end: where it starts, or NULL. */
static char *bedrock_version(char *s, size_t n)
{
	size_t i = n, d;

	for (d = 0; i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9'; i--)
		d++;
	if (d && i > 0 && s[i - 1] == ':') {
		size_t j = i - 1;

		for (d = 0; j > 0 && s[j - 1] >= '0' && s[j - 1] <= '9'; j--)
			d++;
		if (d && j >= 2 && s[j - 1] == 'v' && s[j - 2] == '-')
			return s + j - 2;
		return NULL;
	}
	if (d && i >= 2 && s[i - 1] == 'v' && s[i - 2] == '-')
		return s + i - 2;
	return NULL;
}

/* ":0" at the end: where it starts, or NULL. */
static char *colon_version(char *s, size_t n)
{
	size_t i = n;

	while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
		i--;
	return i < n && i > 0 && s[i - 1] == ':' ? s + i - 1 : NULL;
}

/* "-YYYY-MM-DD", "-YYYYMMDD", "-MMDD"/"-YYMM", "-0NN": where it starts. */
static char *date_suffix(char *s, size_t n)
{
	char *p;

	if (n > 11 && (p = s + n - 11)[0] == '-' && p[5] == '-' && p[8] == '-' &&
	    all_digits(p + 1, 4) && all_digits(p + 6, 2) && all_digits(p + 9, 2) &&
	    valid_date(num(p + 1, 4), num(p + 6, 2), num(p + 9, 2)))
		return p;
	if (n > 9 && (p = s + n - 9)[0] == '-' && all_digits(p + 1, 8) &&
	    valid_date(num(p + 1, 4), num(p + 5, 2), num(p + 7, 2)))
		return p;
	if (n > 5 && (p = s + n - 5)[0] == '-' && all_digits(p + 1, 4)) {
		int a = num(p + 1, 2), b = num(p + 3, 2);

		if ((a >= 1 && a <= 12 && b >= 1 && b <= 31) ||	/* MMDD */
		    (a >= 23 && a <= 29 && b >= 1 && b <= 12))		/* YYMM */
			return p;
	}
	if (n > 4 && (p = s + n - 4)[0] == '-' && p[1] == '0' && all_digits(p + 2, 2))
		return p;
	return NULL;
}

/*
 * Takes the last version suffix off s: "@VERSION" (Vertex), "-vN[:M]",
 * ":N" (Bedrock), "-latest", then a date.  1 when something was taken.
 * scripts/gen_prices.js (stripOnce) mirrors this: keep the two in step.
 */
static int snapshot_strip(char *s)
{
	size_t n = strlen(s), i;
	char *at = strrchr(s, '@'), *p;

	if (at && at > s && at[1]) {
		for (i = 1; at[i]; i++)
			if (!(at[i] == '.' || at[i] == '_' || at[i] == '-' ||
			      (at[i] >= '0' && at[i] <= '9') || (at[i] >= 'a' && at[i] <= 'z') ||
			      (at[i] >= 'A' && at[i] <= 'Z')))
				break;
		if (!at[i]) {
			*at = '\0';
			return 1;
		}
	}
	p = bedrock_version(s, n);
	if (!p)
		p = colon_version(s, n);
	if (!p && n > 7 && !strcasecmp(s + n - 7, "-latest"))
		p = s + n - 7;
	if (!p)
		p = date_suffix(s, n);
	if (!p)
		return 0;
	*p = '\0';
	return 1;
}

/* Dated snapshots: strip the names a suffix at a time, most specific first. */
static const struct price_entry *find_snapshot(const struct price_table *t,
					       const struct query *q)
{
	char buf[2][PRICE_NAME_MAX + 1];
	const char *names[2] = { NULL, NULL };
	const struct price_entry *e;
	int level, any;
	size_t k;

	for (k = 0; k < q->nnames; k++)
		if (strlen(q->names[k]) <= PRICE_NAME_MAX) {
			strcpy(buf[k], q->names[k]);
			names[k] = buf[k];
		}
	for (level = 0; level < 6; level++) {
		for (any = 0, k = 0; k < 2; k++) {
			if (names[k] && snapshot_strip(buf[k]))
				any = 1;
			else
				names[k] = NULL;
		}
		if (!any)
			return NULL;
		e = find_named(t, q, names, 2, 0);
		if (!e)
			e = find_named(t, q, names, 2, 1);
		if (e)
			return e;
	}
	return NULL;
}

static const struct price_entry *find_prefix(const struct price_table *t,
					     const struct query *q)
{
	struct best b = { 0 };
	size_t i, a, k;

	for (i = 0; i < t->n; i++) {
		const struct price_entry *e = &t->e[i];

		for (a = 0; a < e->row.naliases; a++) {
			size_t plen = strlen(e->aliases[a]) - 1;

			if (!is_prefix(e->aliases[a]))
				continue;
			for (k = 0; k < q->nnames; k++)
				if (!strncasecmp(q->names[k], e->aliases[a], plen))
					consider(&b, q, e, plen);
		}
	}
	return b.e;
}

static const struct price_entry *find(const struct price_table *t, const struct query *q,
				      enum price_match *how)
{
	const struct price_entry *e;

	if ((e = find_named(t, q, q->names, q->nnames, 0))) {
		*how = PRICE_EXACT;
	} else if ((e = find_named(t, q, q->names, q->nnames, 1))) {
		*how = PRICE_ALIAS;
	} else if ((e = find_snapshot(t, q))) {
		*how = PRICE_SNAPSHOT;
	} else if ((e = find_prefix(t, q))) {
		*how = PRICE_ALIAS;
	}
	return e;
}

const struct price_row *prices_lookup(const struct price_table *t, const char *provider,
				      const char *model, enum price_match *how)
{
	struct query q = { 0 };
	const struct price_entry *e = NULL;
	enum price_match dummy;
	const char *hint, *bare;

	if (!how)
		how = &dummy;
	*how = PRICE_DEFAULT;
	if (!t || !model || !*model)
		return NULL;
	q.names[q.nnames++] = model;
	bare = vendor_strip(model, &hint);
	if (bare != model)
		q.names[q.nnames++] = bare;
	query_prefs(&q, provider, hint);
	for (q.pass = PASS_RECORD; !e && q.pass <= PASS_ALL; q.pass++) {
		if ((q.pass == PASS_RECORD && !q.nrecord) || (q.pass == PASS_HINT && !q.hint))
			continue;
		e = find(t, &q, how);
	}
	if (!e)
		*how = PRICE_DEFAULT;
	return e ? &e->row : NULL;
}

/* --- cost ------------------------------------------------------------------ */

static int64_t nonneg(int64_t v)
{
	return v > 0 ? v : 0;
}

static const struct price_rates *rates_for(const struct price_row *row, __int128 input)
{
	const struct price_rates *r = &row->base;
	size_t i;

	for (i = 0; i < row->ntiers && i < PRICE_TIERS_MAX; i++)
		if (input > row->tiers[i].above_input_tokens)
			r = &row->tiers[i].rates;
	return r;
}

static __int128 bucket(int64_t tokens, int64_t rate)
{
	return (__int128)nonneg(tokens) * nonneg(rate);
}

int64_t price_cost(const struct price_row *row, const struct llm_usage *u)
{
	const struct price_rates *r;
	int64_t in, cached, cw, cw1h, w, w1h;
	__int128 sum, input;

	if (!row)
		row = &price_default_builtin;
	if (!u)
		return 0;
	input = (__int128)nonneg(u->input_tokens) + nonneg(u->cached_input_tokens) +
		nonneg(u->cache_write_tokens);
	r = rates_for(row, input);
	in = r->input;
	cached = r->cached_input >= 0 ? r->cached_input : in;
	cw = r->cache_write >= 0 ? r->cache_write : in;
	cw1h = r->cache_write_1h >= 0 ? r->cache_write_1h : cw;
	w = nonneg(u->cache_write_tokens);
	w1h = nonneg(u->cache_write_1h_tokens);
	if (w1h > w)
		w1h = w;
	/* reasoning_tokens are inside output_tokens: not added again */
	sum = bucket(u->input_tokens, in) + bucket(u->cached_input_tokens, cached) +
	      bucket(w - w1h, cw) + bucket(w1h, cw1h) + bucket(u->output_tokens, r->output);
	sum = (sum + 500000) / 1000000;
	return sum > INT64_MAX ? INT64_MAX : (int64_t)sum;
}
