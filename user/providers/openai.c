// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * OpenAI and the OpenAI-compatible family: chat completions, legacy
 * completions, responses, embeddings, under any prefix (/v1, /openai/v1,
 * /api/v1, /beta, Azure's /openai/deployments/NAME/...).
 */
#include <errno.h>
#include <string.h>
#include <json-c/json.h>
#include "provider.h"

static int has_suffix(const char *s, size_t len, const char *suf)
{
	size_t n = strlen(suf);

	return len >= n && !memcmp(s + len - n, suf, n);
}

/* Azure: /openai/deployments/NAME/... names the model by deployment. */
static void azure_deployment(const char *path, size_t len, struct llm_call *call)
{
	static const char key[] = "/openai/deployments/";
	const char *p = memmem(path, len, key, sizeof(key) - 1), *end;

	if (!p)
		return;
	p += sizeof(key) - 1;
	end = memchr(p, '/', path + len - p);
	if (end && end > p)
		provider_set_model(call, p, end - p);
}

static enum llm_api openai_match(const char *path, size_t len, struct llm_call *call)
{
	enum llm_api api;

	if (has_suffix(path, len, "/chat/completions"))
		api = LLM_API_CHAT;
	else if (has_suffix(path, len, "/completions"))
		api = LLM_API_COMPLETIONS;
	else if (has_suffix(path, len, "/responses"))
		api = LLM_API_RESPONSES;
	else if (has_suffix(path, len, "/embeddings"))
		api = LLM_API_EMBEDDINGS;
	else
		return LLM_API_NONE;
	azure_deployment(path, len, call);
	return api;
}

static int openai_on_request(struct llm_call *call, void *o)
{
	json_object *obj = o, *v;
	const char *shape;

	switch (call->api) {
	case LLM_API_CHAT:		shape = "messages"; break;
	case LLM_API_COMPLETIONS:	shape = "prompt"; break;
	case LLM_API_EMBEDDINGS:	shape = "input"; break;
	case LLM_API_RESPONSES:		shape = NULL; break;
	default:			return -EBADMSG;
	}
	if (json_object_object_get_ex(obj, "model", &v) &&
	    json_object_is_type(v, json_type_string))
		provider_set_model(call, json_object_get_string(v),
				   json_object_get_string_len(v));
	if (shape && !json_object_object_get_ex(obj, shape, NULL))
		return -EBADMSG;
	/* A responses request needs input, a stored prompt or a model. */
	if (!shape && !json_object_object_get_ex(obj, "input", NULL) &&
	    !json_object_object_get_ex(obj, "prompt", NULL) && !call->model[0])
		return -EBADMSG;
	call->stream = json_object_object_get_ex(obj, "stream", &v) &&
		       json_object_get_boolean(v);
	return 0;
}

const struct provider provider_openai = {
	.name = "openai-compatible",
	.match = openai_match,
	.on_request = openai_on_request,
};
