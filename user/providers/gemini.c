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
#include "sse.h"
#include "common.h"

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
	json_object *gc;
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].api == call->api &&
		    json_object_object_get_ex(o, verbs[i].shape, NULL))
			break;
	if (i == sizeof(verbs) / sizeof(verbs[0]))
		return -EBADMSG;
	/* The JSON mapping of the protos also accepts the field names. */
	if (json_object_object_get_ex(o, "generationConfig", &gc) ||
	    json_object_object_get_ex(o, "generation_config", &gc)) {
		call->max_tokens = req_count(gc, "maxOutputTokens");
		if (call->max_tokens < 0)
			call->max_tokens = req_count(gc, "max_output_tokens");
	}
	return 0;
}

/* --- response side ------------------------------------------------------- */

/*
 * A GenerateContentResponse: the body, an SSE chunk (alt=sse), or an
 * element of the JSON array streamGenerateContent sends without alt=sse.
 * Each chunk's usage is cumulative: the last one read wins.
 * promptTokenCount includes the cached part; thoughts are apart from the
 * candidates, and bill as output.
 */
static const struct resp_rules resp_rules = {
	.kids = {
		[RN_TOP]	= KIDS({ RN_DOC, K_OBJ, NULL },
				       { RN_LIST, K_ARR, NULL }),
		[RN_LIST]	= KIDS({ RN_DOC, K_OBJ, NULL }),
		[RN_DOC]	= KIDS({ RN_MODEL, K_STR, "modelVersion" },
				       { RN_USAGE, K_OBJ, "usageMetadata" },
				       { RN_ERROR, K_ERR, "error" },
				       { RN_CANDS, K_ARR, "candidates" }),
		[RN_CANDS]	= KIDS({ RN_CAND, K_OBJ, NULL }),
		[RN_CAND]	= KIDS({ RN_GCONTENT, K_OBJ, "content" },
				       /* a number with Vertex's enum-encoding=int */
				       { RN_FINISH, K_STR | K_NUM, "finishReason" }),
		[RN_GCONTENT]	= KIDS({ RN_GPARTS, K_ARR, "parts" }),
		[RN_GPARTS]	= KIDS({ RN_GPART, K_OBJ, NULL }),
		[RN_GPART]	= KIDS({ RN_TEXT, K_STR, "text" },	/* thoughts too */
				       { RN_GCALL, K_OBJ, "functionCall" },
				       { RN_GCODE, K_OBJ, "executableCode" }),
		[RN_GCALL]	= KIDS({ RN_TEXT, K_OBJ, "args" }),	/* as JSON */
		[RN_GCODE]	= KIDS({ RN_TEXT, K_STR, "code" }),
		[RN_USAGE]	= KIDS({ RN_F(F_PROMPT), K_NUM, "promptTokenCount" },
				       { RN_F(F_OUTPUT), K_NUM, "candidatesTokenCount" },
				       { RN_F(F_CACHED), K_NUM, "cachedContentTokenCount" },
				       { RN_F(F_REASONING), K_NUM, "thoughtsTokenCount" },
				       { RN_F(F_TOOL_PROMPT), K_NUM, "toolUsePromptTokenCount" }),
	},
	.conv = CONV_GEMINI,
};

static int gemini_resp_body(struct llm_resp *r, const uint8_t *data, size_t len)
{
	resp_body_feed(r, &resp_rules, data, len);
	return 0;
}

static int gemini_resp_event(struct llm_resp *r, const struct sse_event *ev)
{
	/* No end marker: the chunk with a finish reason is the last. */
	if (!resp_event_scan(r, &resp_rules, ev->data, ev->data_len) && r->st->finish)
		r->flags |= LLM_RESP_DONE;
	return 0;
}

static void gemini_resp_finish(struct llm_resp *r)
{
	if (!r->sse)
		resp_body_finish(r);
}

const struct provider provider_gemini = {
	.name = "gemini",
	.match = gemini_match,
	.on_request = gemini_on_request,
	.resp_body = gemini_resp_body,
	.resp_event = gemini_resp_event,
	.resp_finish = gemini_resp_finish,
};
