// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Anthropic messages API: POST .../v1/messages. */
#include <errno.h>
#include <string.h>
#include <json-c/json.h>
#include "provider.h"
#include "sse.h"
#include "common.h"

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
	call->max_tokens = req_count(obj, "max_tokens");
	return 0;
}

/* --- response side ------------------------------------------------------- */

/* input_tokens excludes the cache reads and writes. */
#define USAGE								\
	[RN_USAGE]	= KIDS({ RN_F(F_PROMPT), K_NUM, "input_tokens" },	\
			       { RN_F(F_OUTPUT), K_NUM, "output_tokens" },	\
			       { RN_F(F_CACHED), K_NUM, "cache_read_input_tokens" }, \
			       { RN_F(F_CACHE_WRITE), K_NUM, "cache_creation_input_tokens" }, \
			       { RN_UCC, K_OBJ, "cache_creation" }),		\
	[RN_UCC]	= KIDS({ RN_F(F_CACHE_5M), K_NUM, "ephemeral_5m_input_tokens" }, \
			       { RN_F(F_CACHE_1H), K_NUM, "ephemeral_1h_input_tokens" })

/* A message (non-stream body), or an error. */
static const struct resp_rules body_rules = {
	.kids = {
		ROOT_DOC,
		[RN_DOC]	= KIDS({ RN_MODEL, K_STR, "model" },
				       { RN_USAGE, K_OBJ, "usage" },
				       { RN_ERROR, K_ERR, "error" },
				       { RN_CONTENT, K_ARR, "content" }),
		[RN_CONTENT]	= KIDS({ RN_BLOCK, K_OBJ, NULL }),
		[RN_BLOCK]	= KIDS({ RN_TEXT, K_STR, "text" },
				       { RN_TEXT, K_STR, "thinking" },
				       { RN_TOOLNAME, K_STR, "name" },	/* tool_use */
				       { RN_TEXT, K_OBJ, "input" }),	/* tool_use, as JSON */
		USAGE,
	},
	.conv = CONV_ANTHROPIC,
	.merge = 1,
};

/*
 * A stream event.  message_start holds the model and the input usage,
 * each message_delta the counts that changed; the text is in the
 * content_block_delta events (content_block_start holds only empty
 * blocks: an empty tool input there would be counted twice; only a tool
 * block's name is read from it).
 */
static const struct resp_rules event_rules = {
	.kids = {
		ROOT_DOC,
		[RN_DOC]	= KIDS({ RN_AMESSAGE, K_OBJ, "message" },	/* message_start */
				       { RN_USAGE, K_OBJ, "usage" },		/* message_delta */
				       { RN_ADELTA, K_OBJ, "delta" },
				       { RN_ABLOCK, K_OBJ, "content_block" },
				       { RN_ERROR, K_ERR, "error" }),
		[RN_ABLOCK]	= KIDS({ RN_TOOLNAME, K_STR, "name" }),
		[RN_AMESSAGE]	= KIDS({ RN_MODEL, K_STR, "model" },
				       { RN_USAGE, K_OBJ, "usage" }),
		[RN_ADELTA]	= KIDS({ RN_TEXT, K_STR, "text" },
				       { RN_TEXT, K_STR, "partial_json" },
				       { RN_TEXT, K_STR, "thinking" }),
		USAGE,
	},
	.conv = CONV_ANTHROPIC,
	.merge = 1,
};

static int anthropic_resp_body(struct llm_resp *r, const uint8_t *data, size_t len)
{
	resp_body_feed(r, &body_rules, data, len);
	return 0;
}

static int anthropic_resp_event(struct llm_resp *r, const struct sse_event *ev)
{
	const char *type = resp_event_type(r, ev);

	resp_event_scan(r, &event_rules, ev->data, ev->data_len);
	if (!strcmp(type, "message_stop"))
		r->flags |= LLM_RESP_DONE;
	else if (!strcmp(type, "error"))
		r->flags |= LLM_RESP_ERROR;
	return 0;
}

static void anthropic_resp_finish(struct llm_resp *r)
{
	if (!r->sse)
		resp_body_finish(r);
}

const struct provider provider_anthropic = {
	.name = "anthropic",
	.match = anthropic_match,
	.on_request = anthropic_on_request,
	.resp_body = anthropic_resp_body,
	.resp_event = anthropic_resp_event,
	.resp_finish = anthropic_resp_finish,
};
