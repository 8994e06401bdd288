// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Google Gemini and Vertex AI: .../models/MODEL:generateContent,
 * :streamGenerateContent, :embedContent, :batchEmbedContents.  The model
 * is named by the path.
 */
#include <errno.h>
#include <string.h>
#include <json-c/json.h>
#include "provider.h"

static const struct {
	const char *verb;
	enum llm_api api;
	const char *shape;	/* member the body must have */
} verbs[] = {
	{ ":generateContent",		LLM_API_GENERATE,	 "contents" },
	{ ":streamGenerateContent",	LLM_API_STREAM_GENERATE, "contents" },
	{ ":embedContent",		LLM_API_EMBED,		 "content" },
	{ ":batchEmbedContents",	LLM_API_EMBED,		 "requests" },
};

static enum llm_api gemini_match(const char *path, size_t len, struct llm_call *call)
{
	const char *colon, *start;
	size_t i, n;

	colon = memrchr(path, ':', len);
	if (!colon)
		return LLM_API_NONE;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		n = strlen(verbs[i].verb);
		if ((size_t)(path + len - colon) == n && !memcmp(colon, verbs[i].verb, n))
			break;
	}
	if (i == sizeof(verbs) / sizeof(verbs[0]))
		return LLM_API_NONE;
	start = memrchr(path, '/', colon - path);
	start = start ? start + 1 : path;
	if (colon > start)
		provider_set_model(call, start, colon - start);
	call->stream = verbs[i].api == LLM_API_STREAM_GENERATE;
	return verbs[i].api;
}

static int gemini_on_request(struct llm_call *call, void *o)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].api == call->api &&
		    json_object_object_get_ex(o, verbs[i].shape, NULL))
			return 0;
	return -EBADMSG;
}

const struct provider provider_gemini = {
	.name = "gemini",
	.match = gemini_match,
	.on_request = gemini_on_request,
};
