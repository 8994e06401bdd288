/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Prices (DESIGN §6).  A table of models with USD-per-million-token
 * prices, read from YAML (policies/prices.yaml, generated from the npm
 * package @pydantic/genai-prices by scripts/gen_prices.js).  Money is
 * integer nano-USD: a price is kept as nano-USD per million tokens, so
 * $0.075/Mtok is exact.  The file format is documented at the top of
 * policies/prices.yaml.
 */
#ifndef TOLLGATE_PRICING_H
#define TOLLGATE_PRICING_H

#include <stddef.h>
#include <stdint.h>
#include "usage.h"

/* nano-USD per million tokens: 1 USD/Mtok is 1000000000. */
struct price_rates {
	int64_t input;
	int64_t cached_input;		/* -1: billed as input */
	int64_t cache_write;		/* 5-minute write; -1: billed as input */
	int64_t cache_write_1h;		/* -1: as cache_write */
	int64_t output;
};

#define PRICE_TIERS_MAX 4

struct price_row {
	const char *provider;		/* "openai", "anthropic", "google", ... */
	const char *model;		/* the table's name for it */
	struct price_rates base;
	/* Long-context tiers: when all input (usage_input_total) exceeds
	 * above_input_tokens, the whole call is priced at rates. */
	size_t ntiers;
	struct {
		int64_t above_input_tokens;
		struct price_rates rates;
	} tiers[PRICE_TIERS_MAX];
	/* Other names the provider uses; one ending in '*' is a prefix. */
	const char *const *aliases;
	size_t naliases;
};

enum price_match {
	PRICE_EXACT,		/* the name is the table's */
	PRICE_SNAPSHOT,		/* a dated snapshot of a name in the table */
	PRICE_ALIAS,		/* a name the provider uses for a table row */
	PRICE_DEFAULT,		/* not in the table: the default price */
};
const char *price_match_name(enum price_match m);

struct price_table;

/*
 * The prices file to use when none is given: the first that exists of
 * $TOLLGATE_PRICES, /etc/tollgate/prices.yaml (a local table), the
 * installed one (<dir of the executable>/../share/tollgate/prices.yaml,
 * whatever the PREFIX) and, for a binary run from the source tree
 * (build/tollgate), <dir of the executable>/../policies/prices.yaml.
 * NULL when there is none.  Not thread-safe (static buffer).
 */
const char *prices_default_path(void);

/* Load a prices file.  0, or -errno / -EBADMSG with err = "FILE:LINE:COL: why". */
int prices_load(const char *path, struct price_table **out, char *err, size_t errlen);
void prices_free(struct price_table *t);
size_t prices_count(const struct price_table *t);
const struct price_row *prices_row(const struct price_table *t, size_t i);
/* Provenance the file records (source package, version, date); "" if none. */
const char *prices_source(const struct price_table *t);

/*
 * The row for a model.  provider (may be NULL or "") is the record's
 * provider name (openai, azure-openai, vertex-ai, ...).  Searched in
 * passes: the rows of the provider that served the call (vertex-ai and
 * gemini: google; azure-openai: azure, openai), then those of the vendor a
 * prefix names ("openai/gpt-4o" at OpenRouter: openai), then all rows.
 * Within a pass: exact name, exact alias, dated snapshot (of a name or an
 * alias), prefix alias (the longest); ties go to the preferred provider,
 * then to the row first in the file.  Vendor prefixes ("openai/",
 * "models/", ".../models/", "anthropic.", "us.anthropic.") are ignored;
 * names compare case-insensitively.  NULL and *how = PRICE_DEFAULT when
 * nothing matches (how may be NULL).
 */
const struct price_row *prices_lookup(const struct price_table *t, const char *provider,
				      const char *model, enum price_match *how);

/*
 * The cost of usage at a row's prices (row NULL: price_default_builtin),
 * in nano-USD rounded to nearest: the sum over the buckets of tokens x
 * rate / 1e6, in 128-bit arithmetic, saturating at INT64_MAX.  Reasoning
 * is part of output and not added again; negative counts count as 0; a
 * cache_write_1h_tokens above cache_write_tokens is cut to it.
 */
int64_t price_cost(const struct price_row *row, const struct llm_usage *u);

/* The built-in price for unknown models when a policy sets none:
 * conservative, Claude Opus 4.1's $15 in / $75 out per Mtok, the dearest
 * general-purpose flagship (dearer -pro models are named in the table). */
extern const struct price_row price_default_builtin;

/* "12.345678901": nano-USD printed exactly as USD, always 9 decimals. */
void usd_format(int64_t nano, char *buf, size_t cap);

/*
 * A price in USD per Mtok as written in prices.yaml ("2.5", "0.0375": at
 * most 9 decimals, at most 1000000) to nano-USD per Mtok.  0, -EINVAL for
 * anything but digits with an optional fraction, -ERANGE for too many
 * decimals or too large.
 */
int price_rate_parse(const char *s, int64_t *nano_per_mtok);
/* The shortest exact decimal of a rate: 2500000000 -> "2.5". */
void price_rate_format(int64_t nano_per_mtok, char *buf, size_t cap);
/*
 * A JSON number's text giving USD per token ("2.5e-06", "1.25E-7", "0") to
 * nano-USD per Mtok, digit by digit, never through a double.  0 exact, 1
 * when it had more precision and was rounded to nearest, -EINVAL when it
 * is not a non-negative JSON number, -ERANGE when above $1000000/Mtok.
 */
int price_per_token_parse(const char *s, int64_t *nano_per_mtok);

/* `tollgate prices [MODEL]`, `tollgate prices import FILE`. */
int cmd_prices(int argc, char **argv);

#endif
