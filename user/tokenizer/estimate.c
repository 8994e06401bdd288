// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * ESTIMATED token counts for providers whose tokenizer is not public
 * (Anthropic Claude, Google Gemini).  Not exact: every caller must record
 * the result as usage_source "estimated".
 *
 * Method: count the text with o200k_base and scale it, plus the
 * provider's framing overheads.  Calibrated on the recorded requests in
 * shared/fixtures/llm-traffic (provider-reported input tokens against
 * o200k counts of the same text):
 *
 *   Anthropic: tokens = R * o200k(text) + B per request + 1 per message
 *              + the tool-use system prompt when custom tools are given
 *                (Anthropic's documented per-model figures, e.g. 294 for
 *                Claude 3.5 Sonnet, 346 for Claude 4.x, with tool_choice
 *                auto/none) + R * o200k(the tools' JSON)
 *              + 29 when extended thinking is enabled (measured)
 *     Claude 3.x (Opus 3, 3.5 Sonnet): R = 1.155, B = 8
 *     Claude 4.x (Sonnet 4.5, Haiku 4.5; default): R = 1.03, B = 6
 *     fixture residuals: within +-4 % (web search results, which the
 *     server injects, cannot be estimated from the request).
 *
 *   Gemini (2.0 Flash, 2.5 Flash):
 *     tokens = 1.08 * o200k(text); function calls, function responses
 *              and function declarations count their names and values only
 *              (keys and JSON punctuation are not billed as text);
 *              inline images 258 each (Google's figure for an image up
 *              to 384x384; larger ones are tiled, more).
 *     fixture residuals: within +-13 % (cached content and video/audio
 *     parts are not estimable from the request).
 *
 * low/high bracket the estimate by +-15 % or +-3 tokens, whichever is
 * wider: the calibration's spread, with room for short prompts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "tok_internal.h"

#define ANT_MESSAGE		1
#define ANT_THINKING		29
#define ANT_IMAGE		1600	/* a ~1.15 megapixel image: w*h/750 */
#define GEM_RATIO_NUM		108	/* per cent */
#define GEM_REQUEST		0
#define GEM_IMAGE		258
#define EST_SPREAD		15	/* per cent */
#define EST_SPREAD_MIN		3	/* tokens */

/* Anthropic text ratio (per cent) and per-request overhead, by model */
static void ant_params(const char *model, int *ratio, int *request)
{
	if (model && !strncmp(model, "claude-3", 8)) {
		*ratio = 1155;		/* per mille */
		*request = 8;
	} else {
		*ratio = 1030;
		*request = 6;
	}
}

struct est_ctx {
	const struct tok_encoding *enc;
	int64_t o200k;		/* text tokens, to be scaled */
	int64_t fixed;		/* overheads, not scaled */
	int err;
	/* values-only text of structured parts, counted once */
	struct sbuf vals;
};

static void est_count(struct est_ctx *c, const char *s, size_t n)
{
	ssize_t k;

	if (c->err || !n)
		return;
	k = tok_count(c->enc, s, n, 0);
	if (k < 0)
		c->err = (int)k;
	else
		c->o200k += k;
}

static void est_str(struct est_ctx *c, struct json_object *o)
{
	if (o && json_object_is_type(o, json_type_string))
		est_count(c, json_object_get_string(o), (size_t)json_object_get_string_len(o));
}

static void est_json(struct est_ctx *c, struct json_object *o)
{
	const char *s;

	if (!o)
		return;
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s)
		est_count(c, s, strlen(s));
}

static void vals_add(struct est_ctx *c, const char *s, size_t n)
{
	if (c->err)
		return;
	if (c->vals.len)
		sb_add(&c->vals, " ", 1);
	sb_add(&c->vals, s, n);
	c->err = c->vals.err;
}

/* the string and number values of a JSON value, keys left out */
static void est_values(struct est_ctx *c, struct json_object *o, int depth)
{
	size_t k;

	if (!o || depth > 64)
		return;
	switch (json_object_get_type(o)) {
	case json_type_string:
		vals_add(c, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		break;
	case json_type_int:
	case json_type_double:
	case json_type_boolean: {
		const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

		vals_add(c, s, strlen(s));
		break;
	}
	case json_type_array:
		for (k = 0; k < json_object_array_length(o); k++)
			est_values(c, json_object_array_get_idx(o, k), depth + 1);
		break;
	case json_type_object: {
		json_object_object_foreach(o, key, val) {
			(void)key;
			est_values(c, val, depth + 1);
		}
		break;
	}
	default:
		break;
	}
}

static int est_parse(const char *body, size_t len, struct json_object **out)
{
	struct json_tokener *tk;
	struct json_object *o;

	if (len > INT32_MAX)
		return -E2BIG;
	tk = json_tokener_new_ex(256);
	if (!tk)
		return -ENOMEM;
	o = json_tokener_parse_ex(tk, body, (int)len);
	if (json_tokener_get_error(tk) != json_tokener_success ||
	    !o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		json_tokener_free(tk);
		return -EBADMSG;
	}
	json_tokener_free(tk);
	*out = o;
	return 0;
}

static int est_init(struct est_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->enc = tok_encoding_get(TOK_O200K_BASE);
	return c->enc ? 0 : -errno;
}

/* ratio in per mille */
static void est_finish(struct est_ctx *c, int ratio, struct tok_estimate *out)
{
	int64_t t, d;

	if (c->vals.len)
		est_count(c, c->vals.p, c->vals.len);
	free(c->vals.p);
	c->vals.p = NULL;
	t = (c->o200k * ratio + 500) / 1000 + c->fixed;
	d = (t * EST_SPREAD + 99) / 100;
	if (d < EST_SPREAD_MIN)
		d = EST_SPREAD_MIN;
	out->tokens = t;
	out->low = t > d ? t - d : 0;
	out->high = t + d;
}

int tok_estimate_text(enum tok_family fam, const void *text, size_t len,
		      struct tok_estimate *out)
{
	struct est_ctx c;
	int err = est_init(&c);

	memset(out, 0, sizeof(*out));
	if (err)
		return err;
	if (fam != TOK_FAMILY_ANTHROPIC && fam != TOK_FAMILY_GEMINI)
		return -EINVAL;
	est_count(&c, text, len);
	if (c.err)
		return c.err;
	est_finish(&c, fam == TOK_FAMILY_ANTHROPIC ? 1030 : GEM_RATIO_NUM * 10, out);
	return 0;
}

/* --- Anthropic ------------------------------------------------------------ */

/* Tool-use system prompt, per Anthropic's pricing documentation. */
static int64_t ant_tool_prompt(const char *model, int forced)
{
	static const struct {
		const char *prefix;
		int auto_none, any_tool;
	} t[] = {
		{ "claude-3-opus", 530, 281 },
		{ "claude-3-sonnet", 159, 235 },
		{ "claude-3-haiku", 264, 340 },
		{ "claude-3-5-haiku", 264, 340 },
		{ "claude-3-5-sonnet", 294, 261 },
	};
	size_t k;

	for (k = 0; model && k < sizeof(t) / sizeof(t[0]); k++)
		if (!strncmp(model, t[k].prefix, strlen(t[k].prefix)))
			return forced ? t[k].any_tool : t[k].auto_none;
	return forced ? 313 : 346;	/* Claude 3.7 and 4.x */
}

static void ant_content(struct est_ctx *c, struct json_object *content)
{
	size_t k;

	if (!content)
		return;
	if (json_object_is_type(content, json_type_string)) {
		est_str(c, content);
		return;
	}
	if (!tok_jarr(content))
		return;
	for (k = 0; k < json_object_array_length(content); k++) {
		struct json_object *b = json_object_array_get_idx(content, k);
		const char *type = tok_jstr(b, "type");

		if (!type)
			continue;
		if (!strcmp(type, "text")) {
			est_str(c, tok_jget(b, "text"));
		} else if (!strcmp(type, "thinking")) {
			est_str(c, tok_jget(b, "thinking"));
		} else if (!strcmp(type, "image")) {
			c->fixed += ANT_IMAGE;
		} else if (!strcmp(type, "tool_use") || !strcmp(type, "server_tool_use")) {
			est_str(c, tok_jget(b, "name"));
			est_json(c, tok_jget(b, "input"));
		} else if (!strcmp(type, "tool_result")) {
			ant_content(c, tok_jget(b, "content"));
		} else if (!strcmp(type, "document")) {
			struct json_object *src = tok_jget(b, "source");

			est_str(c, tok_jget(src, "data"));	/* text documents */
		}
	}
}

int tok_estimate_anthropic_request(const char *body, size_t len, struct tok_estimate *out)
{
	struct json_object *req = NULL, *msgs, *sys, *tools, *thinking, *choice;
	struct est_ctx c;
	size_t k;
	int err, custom_tools = 0, ratio, request;

	memset(out, 0, sizeof(*out));
	err = est_init(&c);
	if (err)
		return err;
	err = est_parse(body, len, &req);
	if (err)
		return err;
	msgs = tok_jget(req, "messages");
	if (!tok_jarr(msgs)) {
		err = -EBADMSG;
		goto out_put;
	}
	ant_params(tok_jstr(req, "model"), &ratio, &request);
	c.fixed += request;
	sys = tok_jget(req, "system");
	if (sys)
		ant_content(&c, sys);
	for (k = 0; k < json_object_array_length(msgs); k++) {
		c.fixed += ANT_MESSAGE;
		ant_content(&c, tok_jget(json_object_array_get_idx(msgs, k), "content"));
	}
	tools = tok_jget(req, "tools");
	if (tok_jarr(tools)) {
		for (k = 0; k < json_object_array_length(tools); k++) {
			struct json_object *t = json_object_array_get_idx(tools, k);
			const char *type = tok_jstr(t, "type");

			if (!type || !strcmp(type, "custom"))
				custom_tools = 1;
		}
		est_json(&c, tools);
		if (custom_tools) {
			const char *ct;

			choice = tok_jget(req, "tool_choice");
			ct = tok_jstr(choice, "type");
			c.fixed += ant_tool_prompt(tok_jstr(req, "model"),
						   ct && (!strcmp(ct, "any") || !strcmp(ct, "tool")));
		}
	}
	thinking = tok_jget(req, "thinking");
	if (thinking && tok_jstr(thinking, "type") && !strcmp(tok_jstr(thinking, "type"), "enabled"))
		c.fixed += ANT_THINKING;
	err = c.err;
	if (!err) {
		est_finish(&c, ratio, out);
		err = c.err;
	}
out_put:
	free(c.vals.p);
	json_object_put(req);
	return err;
}

/* --- Gemini --------------------------------------------------------------- */

static void gem_parts(struct est_ctx *c, struct json_object *parts)
{
	size_t k;

	if (!tok_jarr(parts))
		return;
	for (k = 0; k < json_object_array_length(parts); k++) {
		struct json_object *p = json_object_array_get_idx(parts, k), *v;

		if ((v = tok_jget(p, "text")))
			est_str(c, v);
		else if ((v = tok_jget(p, "functionCall")) || (v = tok_jget(p, "functionResponse")))
			est_values(c, v, 0);
		else if ((v = tok_jget(p, "inlineData")) || (v = tok_jget(p, "fileData")))
			c->fixed += GEM_IMAGE;
		else if ((v = tok_jget(p, "executableCode")) || (v = tok_jget(p, "codeExecutionResult")))
			est_values(c, v, 0);
	}
}

int tok_estimate_gemini_request(const char *body, size_t len, struct tok_estimate *out)
{
	struct json_object *req = NULL, *contents, *tools;
	struct est_ctx c;
	size_t k;
	int err;

	memset(out, 0, sizeof(*out));
	err = est_init(&c);
	if (err)
		return err;
	err = est_parse(body, len, &req);
	if (err)
		return err;
	contents = tok_jget(req, "contents");
	if (!tok_jarr(contents)) {
		err = -EBADMSG;
		goto out_put;
	}
	c.fixed += GEM_REQUEST;
	gem_parts(&c, tok_jget(tok_jget(req, "systemInstruction"), "parts"));
	if (!tok_jget(req, "systemInstruction"))
		gem_parts(&c, tok_jget(tok_jget(req, "system_instruction"), "parts"));
	for (k = 0; k < json_object_array_length(contents); k++)
		gem_parts(&c, tok_jget(json_object_array_get_idx(contents, k), "parts"));
	tools = tok_jget(req, "tools");
	if (tok_jarr(tools)) {
		for (k = 0; k < json_object_array_length(tools); k++) {
			struct json_object *t = json_object_array_get_idx(tools, k);

			est_values(&c, tok_jget(t, "functionDeclarations"), 0);
			est_values(&c, tok_jget(t, "function_declarations"), 0);
		}
	}
	err = c.err;
	if (!err) {
		est_finish(&c, GEM_RATIO_NUM * 10, out);
		err = c.err;
	}
out_put:
	free(c.vals.p);
	json_object_put(req);
	return err;
}
