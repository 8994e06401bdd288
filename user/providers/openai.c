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
#include "sse.h"
#include "common.h"

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
	if (json_object_object_get_ex(obj, "stream_options", &v))
		call->include_usage = req_true(v, "include_usage");
	switch (call->api) {
	case LLM_API_CHAT:
		/* max_tokens is the deprecated name of the same limit */
		call->max_tokens = req_count(obj, "max_completion_tokens");
		if (call->max_tokens < 0)
			call->max_tokens = req_count(obj, "max_tokens");
		break;
	case LLM_API_COMPLETIONS:
		call->max_tokens = req_count(obj, "max_tokens");
		break;
	case LLM_API_RESPONSES:
		call->max_tokens = req_count(obj, "max_output_tokens");
		break;
	default:
		break;
	}
	return 0;
}

/* --- response side ------------------------------------------------------- */

/* Usage of chat completions, legacy completions and embeddings. */
#define CHAT_USAGE							\
	[RN_USAGE]	= KIDS({ RN_F(F_PROMPT), K_NUM, "prompt_tokens" },	\
			       { RN_F(F_OUTPUT), K_NUM, "completion_tokens" },	\
			       { RN_UIN, K_OBJ, "prompt_tokens_details" },	\
			       { RN_UOUT, K_OBJ, "completion_tokens_details" },	\
			       /* DeepSeek, when there are no details */	\
			       { RN_F(F_CACHE_HIT), K_NUM, "prompt_cache_hit_tokens" }), \
	[RN_UIN]	= KIDS({ RN_F(F_CACHED), K_NUM, "cached_tokens" }),	\
	[RN_UOUT]	= KIDS({ RN_F(F_REASONING), K_NUM, "reasoning_tokens" })

/* A chat completion or a chunk of one; legacy completions alike. */
static const struct resp_rules chat_rules = {
	.kids = {
		ROOT_DOC,
		[RN_DOC]	= KIDS({ RN_MODEL, K_STR, "model" },
				       { RN_USAGE, K_OBJ, "usage" },
				       { RN_ERROR, K_ERR, "error" },
				       { RN_XGROQ, K_OBJ, "x_groq" },	/* Groq */
				       { RN_CHOICES, K_ARR, "choices" }),
		[RN_XGROQ]	= KIDS({ RN_USAGE, K_OBJ, "usage" }),
		[RN_CHOICES]	= KIDS({ RN_CHOICE, K_OBJ, NULL }),
		[RN_CHOICE]	= KIDS({ RN_MESSAGE, K_OBJ, "message" },
				       { RN_MESSAGE, K_OBJ, "delta" },
				       { RN_TEXT, K_STR, "text" }),	/* legacy */
		[RN_MESSAGE]	= KIDS({ RN_TEXT, K_STR, "content" },
				       { RN_MPARTS, K_ARR, "content" },	/* Mistral */
				       { RN_TEXT, K_STR, "refusal" },
				       { RN_TEXT, K_STR, "reasoning_content" }, /* DeepSeek */
				       { RN_TEXT, K_STR, "reasoning" },	/* OpenRouter, Groq */
				       { RN_TOOLCALLS, K_ARR, "tool_calls" },
				       { RN_FUNCTION, K_OBJ, "function_call" }),
		[RN_MPARTS]	= KIDS({ RN_MPART, K_OBJ, NULL }),
		[RN_MPART]	= KIDS({ RN_TEXT, K_STR, "text" }),
		[RN_TOOLCALLS]	= KIDS({ RN_TOOLCALL, K_OBJ, NULL }),
		[RN_TOOLCALL]	= KIDS({ RN_FUNCTION, K_OBJ, "function" }),
		[RN_FUNCTION]	= KIDS({ RN_TEXT, K_STR, "arguments" },
				       { RN_TOOLNAME, K_STR, "name" }),
		CHAT_USAGE,
	},
	.conv = CONV_OPENAI,
};

/* Embeddings: the usage; the vectors are passed over. */
static const struct resp_rules embed_rules = {
	.kids = {
		ROOT_DOC,
		[RN_DOC]	= KIDS({ RN_MODEL, K_STR, "model" },
				       { RN_USAGE, K_OBJ, "usage" },
				       { RN_ERROR, K_ERR, "error" }),
		CHAT_USAGE,
	},
	.conv = CONV_OPENAI,
};

#define RESPONSES_USAGE							\
	[RN_USAGE]	= KIDS({ RN_F(F_PROMPT), K_NUM, "input_tokens" },	\
			       { RN_F(F_OUTPUT), K_NUM, "output_tokens" },	\
			       { RN_UIN, K_OBJ, "input_tokens_details" },	\
			       { RN_UOUT, K_OBJ, "output_tokens_details" }),	\
	[RN_UIN]	= KIDS({ RN_F(F_CACHED), K_NUM, "cached_tokens" }),	\
	[RN_UOUT]	= KIDS({ RN_F(F_REASONING), K_NUM, "reasoning_tokens" })

/* A response object (non-stream body). */
static const struct resp_rules responses_rules = {
	.kids = {
		ROOT_DOC,
		[RN_DOC]	= KIDS({ RN_MODEL, K_STR, "model" },
				       { RN_USAGE, K_OBJ, "usage" },
				       { RN_ERROR, K_ERR, "error" },
				       { RN_OUTPUT, K_ARR, "output" }),
		[RN_OUTPUT]	= KIDS({ RN_ITEM, K_OBJ, NULL }),
		[RN_ITEM]	= KIDS({ RN_ICONTENT, K_ARR, "content" },
				       { RN_TEXT, K_STR, "arguments" },	/* function_call */
				       { RN_TEXT, K_STR, "input" },	/* custom_tool_call */
				       { RN_SUMMARY, K_ARR, "summary" }),	/* reasoning */
		[RN_ICONTENT]	= KIDS({ RN_IPART, K_OBJ, NULL }),
		[RN_IPART]	= KIDS({ RN_TEXT, K_STR, "text" },	/* output_text, reasoning_text */
				       { RN_TEXT, K_STR, "refusal" }),
		[RN_SUMMARY]	= KIDS({ RN_SPART, K_OBJ, NULL }),
		[RN_SPART]	= KIDS({ RN_TEXT, K_STR, "text" }),
		RESPONSES_USAGE,
	},
	.conv = CONV_OPENAI,
};

/* A responses stream event.  The text is in the deltas only: the done
 * events and response.completed repeat it. */
static const struct resp_rules responses_event_rules = {
	.kids = {
		ROOT_DOC,
		[RN_DOC]	= KIDS({ RN_DELTA, K_STR, "delta" },
				       { RN_RESPONSE, K_OBJ, "response" }),
		[RN_RESPONSE]	= KIDS({ RN_MODEL, K_STR, "model" },
				       { RN_USAGE, K_OBJ, "usage" },
				       { RN_ERROR, K_ERR, "error" }),
		RESPONSES_USAGE,
	},
	.conv = CONV_OPENAI,
};

/* Events whose "delta" is generated text (not audio, not ids). */
static const char *const text_deltas[] = {
	"response.output_text.delta",
	"response.refusal.delta",
	"response.function_call_arguments.delta",
	"response.custom_tool_call_input.delta",
	"response.reasoning_text.delta",
	"response.reasoning_summary_text.delta",
};

static int is_text_delta(const char *type)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(text_deltas); i++)
		if (!strcmp(type, text_deltas[i]))
			return 1;
	return 0;
}

static int openai_resp_body(struct llm_resp *r, const uint8_t *data, size_t len)
{
	const struct resp_rules *rules;

	switch (r->call->api) {
	case LLM_API_RESPONSES:		rules = &responses_rules; break;
	case LLM_API_EMBEDDINGS:	rules = &embed_rules; break;
	default:			rules = &chat_rules; break;
	}
	resp_body_feed(r, rules, data, len);
	return 0;
}

static int responses_event(struct llm_resp *r, const struct sse_event *ev)
{
	const char *type = resp_event_type(r, ev);

	r->st->delta_ok = is_text_delta(type);
	resp_event_scan(r, &responses_event_rules, ev->data, ev->data_len);
	/* the three ends of a response; failed carries its error */
	if (!strcmp(type, "response.completed") || !strcmp(type, "response.incomplete"))
		r->flags |= LLM_RESP_DONE;
	else if (!strcmp(type, "response.failed"))
		r->flags |= LLM_RESP_DONE | LLM_RESP_ERROR;
	else if (!strcmp(type, "error"))
		r->flags |= LLM_RESP_ERROR;
	return 0;
}

static int openai_resp_event(struct llm_resp *r, const struct sse_event *ev)
{
	if (r->call->api == LLM_API_RESPONSES)
		return responses_event(r, ev);
	if (resp_data_is(ev, "[DONE]")) {
		r->flags |= LLM_RESP_DONE;
		return 0;
	}
	resp_event_scan(r, &chat_rules, ev->data, ev->data_len);
	return 0;
}

static void openai_resp_finish(struct llm_resp *r)
{
	if (!r->sse)
		resp_body_finish(r);
}

const struct provider provider_openai = {
	.name = "openai-compatible",
	.match = openai_match,
	.on_request = openai_on_request,
	.resp_body = openai_resp_body,
	.resp_event = openai_resp_event,
	.resp_finish = openai_resp_finish,
};
