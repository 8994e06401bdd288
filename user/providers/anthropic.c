// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Anthropic messages API: POST .../v1/messages. */
#include <errno.h>
#include <string.h>
#include <json-c/json.h>
#include "provider.h"

static enum llm_api anthropic_match(const char *path, size_t len, struct llm_call *call)
{
	static const char suf[] = "/v1/messages";
	size_t n = sizeof(suf) - 1;

	if (len >= n && !memcmp(path + len - n, suf, n))
		return LLM_API_MESSAGES;
	return LLM_API_NONE;
}

static int anthropic_on_request(struct llm_call *call, void *o)
{
	json_object *obj = o, *v;

	if (!json_object_object_get_ex(obj, "messages", &v) ||
	    !json_object_is_type(v, json_type_array))
		return -EBADMSG;
	if (json_object_object_get_ex(obj, "model", &v) &&
	    json_object_is_type(v, json_type_string))
		provider_set_model(call, json_object_get_string(v),
				   json_object_get_string_len(v));
	call->stream = json_object_object_get_ex(obj, "stream", &v) &&
		       json_object_get_boolean(v);
	return 0;
}

const struct provider provider_anthropic = {
	.name = "anthropic",
	.match = anthropic_match,
	.on_request = anthropic_on_request,
};
