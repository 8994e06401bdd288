// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Model name -> encoding, as tiktoken's model.py maps them (prefixes for
 * dated snapshots and variants).  Longest prefix first.
 */
#include <string.h>
#include <strings.h>

#include "tok_internal.h"

static const struct {
	const char *prefix;
	enum tok_enc enc;
} tok_model_prefixes[] = {
	/* o200k_base */
	{ "gpt-4o", TOK_O200K_BASE },
	{ "gpt-4.1", TOK_O200K_BASE },
	{ "gpt-4.5", TOK_O200K_BASE },
	{ "gpt-5", TOK_O200K_BASE },
	{ "gpt-oss", TOK_O200K_BASE },
	{ "chatgpt-4o", TOK_O200K_BASE },
	{ "codex-mini", TOK_O200K_BASE },
	{ "computer-use", TOK_O200K_BASE },
	{ "omni-moderation", TOK_O200K_BASE },
	{ "o1", TOK_O200K_BASE },
	{ "o3", TOK_O200K_BASE },
	{ "o4", TOK_O200K_BASE },
	/* cl100k_base */
	{ "gpt-4", TOK_CL100K_BASE },		/* after gpt-4o / gpt-4.x above */
	{ "gpt-3.5", TOK_CL100K_BASE },
	{ "gpt-35", TOK_CL100K_BASE },		/* Azure deployment spelling */
	{ "text-embedding-3", TOK_CL100K_BASE },
	{ "text-embedding-ada-002", TOK_CL100K_BASE },
	{ "text-davinci-003", TOK_ENC_UNKNOWN },	/* p50k_base: not shipped */
};

enum tok_enc tok_encoding_for_model(const char *model)
{
	const char *slash;
	size_t k, pl;

	if (!model || !*model)
		return TOK_ENC_UNKNOWN;
	/* "openai/gpt-4o" (OpenRouter), "azure/gpt-4o" */
	slash = strrchr(model, '/');
	if (slash)
		model = slash + 1;
	for (k = 0; k < sizeof(tok_model_prefixes) / sizeof(tok_model_prefixes[0]); k++) {
		pl = strlen(tok_model_prefixes[k].prefix);
		if (strncasecmp(model, tok_model_prefixes[k].prefix, pl))
			continue;
		/* "o1" must not match "o10x": the prefix ends at a separator */
		if (pl <= 2 && model[pl] && model[pl] != '-' && model[pl] != '.' &&
		    model[pl] != ':' && model[pl] != '_')
			continue;
		return tok_model_prefixes[k].enc;
	}
	return TOK_ENC_UNKNOWN;
}
