// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * OpenAI chat-format prompt counting.
 *
 * Messages (exact, as the openai-cookbook "How to count tokens with
 * tiktoken" documents for gpt-3.5-turbo-0613 and later, gpt-4, gpt-4o):
 *   3 tokens per message + tokens of every string field (role, content,
 *   name) + 1 per "name"; 3 more prime the reply.
 *
 * Tool / function definitions (approximate: OpenAI does not document it;
 * this is the reverse-engineered rendering hmarr/openai-chat-tokens
 * published and gpt-tokenizer uses): the definitions are rendered as the
 * TypeScript-like namespace the model sees,
 *
 *   namespace functions {
 *
 *   // description
 *   type name = (_: {
 *   // property description
 *   prop?: string,
 *   }) => any;
 *
 *   } // namespace functions
 *
 *   counted, plus 9; minus 4 when there is a system message (and the first
 *   system message gains a trailing newline); tool_choice "none" +1, a
 *   named tool + its name + 4.
 *
 * Assistant tool calls: name + arguments + 3 each; a "tool" message:
 * its content (the tool_call_id is not shown to the model).
 * Images: 85 tokens at detail "low", else 765 (a 1024x1024 image: 4 tiles
 * of 170 + 85); image size is not known without decoding it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "tok_internal.h"

#define CHAT_MSG_OVERHEAD	3
#define CHAT_NAME_OVERHEAD	1
#define CHAT_REPLY_PRIMING	3
#define CHAT_FN_ROLE_DISCOUNT	2
#define CHAT_FN_CALL_OVERHEAD	3
#define CHAT_FN_DEFS_OVERHEAD	9
#define CHAT_FN_SYSTEM_DEDUCT	4
#define CHAT_FN_NONE_OVERHEAD	1
#define CHAT_FN_NAMED_OVERHEAD	4
#define CHAT_IMAGE_LOW		85
#define CHAT_IMAGE_DEFAULT	765
#define CHAT_JSON_DEPTH		256

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_indent(struct sbuf *b, int n)
{
	while (n-- > 0)
		sb_add(b, " ", 1);
}

struct chat_ctx {
	const struct tok_encoding *enc;
	int64_t tokens;
	int err;
};

static void count_bytes(struct chat_ctx *c, const char *s, size_t n)
{
	ssize_t k;

	if (c->err || !n)
		return;
	k = tok_count(c->enc, s, n, 0);
	if (k < 0)
		c->err = (int)k;
	else
		c->tokens += k;
}

static void count_str(struct chat_ctx *c, struct json_object *o)
{
	if (o && json_object_is_type(o, json_type_string))
		count_bytes(c, json_object_get_string(o), (size_t)json_object_get_string_len(o));
}

/* --- function definitions ------------------------------------------------ */

static void fmt_type(struct sbuf *b, struct json_object *param, int indent);

static void fmt_properties(struct sbuf *b, struct json_object *obj, int indent)
{
	struct json_object *props = tok_jget(obj, "properties"), *req = tok_jget(obj, "required");
	int first = 1;

	if (!props || !json_object_is_type(props, json_type_object))
		return;
	json_object_object_foreach(props, name, param) {
		const char *desc = tok_jstr(param, "description");
		int required = 0;
		size_t k;

		if (tok_jarr(req)) {
			for (k = 0; k < json_object_array_length(req); k++) {
				const char *r = json_object_get_string(json_object_array_get_idx(req, k));

				if (r && !strcmp(r, name))
					required = 1;
			}
		}
		if (!first)
			sb_str(b, "\n");
		first = 0;
		if (desc && *desc && indent < 2) {
			sb_indent(b, indent);
			sb_str(b, "// ");
			sb_str(b, desc);
			sb_str(b, "\n");
		}
		sb_indent(b, indent);
		sb_str(b, name);
		sb_str(b, required ? ": " : "?: ");
		fmt_type(b, param, indent);
		sb_str(b, ",");
	}
}

static void fmt_enum(struct sbuf *b, struct json_object *en, int quote)
{
	size_t k;

	for (k = 0; k < json_object_array_length(en); k++) {
		struct json_object *v = json_object_array_get_idx(en, k);

		if (k)
			sb_str(b, " | ");
		if (quote || !v || json_object_is_type(v, json_type_string)) {
			if (quote && v && json_object_is_type(v, json_type_string))
				sb_str(b, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
									 JSON_C_TO_STRING_NOSLASHESCAPE));
			else
				sb_str(b, v ? json_object_get_string(v) : "null");
		} else {
			sb_str(b, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		}
	}
}

static void fmt_type(struct sbuf *b, struct json_object *param, int indent)
{
	const char *type = tok_jstr(param, "type");
	struct json_object *en = tok_jget(param, "enum"), *items;

	if (!type) {
		sb_str(b, "any");
		return;
	}
	if (!strcmp(type, "string")) {
		if (tok_jarr(en))
			fmt_enum(b, en, 1);
		else
			sb_str(b, "string");
	} else if (!strcmp(type, "integer") || !strcmp(type, "number")) {
		if (tok_jarr(en))
			fmt_enum(b, en, 0);
		else
			sb_str(b, "number");
	} else if (!strcmp(type, "boolean") || !strcmp(type, "null")) {
		sb_str(b, type);
	} else if (!strcmp(type, "array")) {
		items = tok_jget(param, "items");
		if (items) {
			fmt_type(b, items, indent);
			sb_str(b, "[]");
		} else {
			sb_str(b, "any[]");
		}
	} else if (!strcmp(type, "object")) {
		sb_str(b, "{\n");
		fmt_properties(b, param, indent + 2);
		sb_str(b, "\n");
		sb_indent(b, indent);
		sb_str(b, "}");
	} else {
		sb_str(b, "any");
	}
}

/* fns: array of {name, description, parameters} */
static void fmt_functions(struct sbuf *b, struct json_object **fns, size_t n)
{
	size_t k;

	sb_str(b, "namespace functions {\n\n");
	for (k = 0; k < n; k++) {
		struct json_object *fn = fns[k], *params = tok_jget(fn, "parameters");
		struct json_object *props = tok_jget(params, "properties");
		const char *name = tok_jstr(fn, "name"), *desc = tok_jstr(fn, "description");

		if (desc && *desc) {
			sb_str(b, "// ");
			sb_str(b, desc);
			sb_str(b, "\n");
		}
		sb_str(b, "type ");
		sb_str(b, name ? name : "");
		if (!props || !json_object_is_type(props, json_type_object) ||
		    !json_object_object_length(props)) {
			sb_str(b, " = () => any;\n");
		} else {
			size_t mark;

			sb_str(b, " = (_: {\n");
			mark = b->len;
			fmt_properties(b, params, 0);
			if (b->len > mark)
				sb_str(b, "\n");
			sb_str(b, "}) => any;\n");
		}
		sb_str(b, "\n");
	}
	sb_str(b, "} // namespace functions");
}

/* Collect the function definitions of "tools" (type function) and "functions". */
static size_t collect_functions(struct json_object *req, struct json_object ***out,
				int flat_tools)
{
	struct json_object *tools = tok_jget(req, "tools"), *fns = tok_jget(req, "functions");
	size_t n = 0, cap = 0, k;
	struct json_object **v = NULL, **nv;

	for (int pass = 0; pass < 2; pass++) {
		struct json_object *arr = pass ? fns : tools;

		if (!tok_jarr(arr))
			continue;
		for (k = 0; k < json_object_array_length(arr); k++) {
			struct json_object *t = json_object_array_get_idx(arr, k), *fn = t;

			if (!pass) {
				const char *type = tok_jstr(t, "type");

				if (type && strcmp(type, "function"))
					continue;	/* built-in tools: not rendered */
				if (!flat_tools)
					fn = tok_jget(t, "function");
			}
			if (!fn || !tok_jstr(fn, "name"))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				nv = realloc(v, cap * sizeof(*v));
				if (!nv) {
					free(v);
					*out = NULL;
					return (size_t)-1;
				}
				v = nv;
			}
			v[n++] = fn;
		}
	}
	*out = v;
	return n;
}

static void count_function_defs(struct chat_ctx *c, struct json_object **fns, size_t n)
{
	struct sbuf b = { 0 };

	fmt_functions(&b, fns, n);
	if (b.err)
		c->err = b.err;
	else
		count_bytes(c, b.p, b.len);
	free(b.p);
	c->tokens += CHAT_FN_DEFS_OVERHEAD;
}

/* --- messages --------------------------------------------------------------- */

static void count_content(struct chat_ctx *c, struct json_object *content,
			  unsigned *flags, const char *append)
{
	size_t k;

	if (!content)
		return;
	if (json_object_is_type(content, json_type_string)) {
		if (append) {
			struct sbuf b = { 0 };

			sb_add(&b, json_object_get_string(content),
			       (size_t)json_object_get_string_len(content));
			sb_str(&b, append);
			if (b.err)
				c->err = b.err;
			else
				count_bytes(c, b.p, b.len);
			free(b.p);
		} else {
			count_str(c, content);
		}
		return;
	}
	if (!tok_jarr(content))
		return;
	for (k = 0; k < json_object_array_length(content); k++) {
		struct json_object *part = json_object_array_get_idx(content, k);
		const char *type = tok_jstr(part, "type");

		if (!type)
			continue;
		if (!strcmp(type, "text") || !strcmp(type, "input_text") ||
		    !strcmp(type, "output_text")) {
			count_str(c, tok_jget(part, "text"));
		} else if (!strcmp(type, "refusal")) {
			count_str(c, tok_jget(part, "refusal"));
		} else if (!strcmp(type, "image_url") || !strcmp(type, "input_image")) {
			struct json_object *iu = tok_jget(part, "image_url");
			const char *detail = tok_jstr(iu ? iu : part, "detail");

			c->tokens += detail && !strcmp(detail, "low") ? CHAT_IMAGE_LOW
								      : CHAT_IMAGE_DEFAULT;
			*flags |= TOK_CHAT_APPROX_IMAGES;
		} else {
			*flags |= TOK_CHAT_APPROX_IMAGES;	/* audio, files */
		}
	}
}

static void count_tool_calls(struct chat_ctx *c, struct json_object *calls, unsigned *flags)
{
	size_t k;

	if (!tok_jarr(calls))
		return;
	for (k = 0; k < json_object_array_length(calls); k++) {
		struct json_object *fn = tok_jget(json_object_array_get_idx(calls, k), "function");

		count_str(c, tok_jget(fn, "name"));
		count_str(c, tok_jget(fn, "arguments"));
		c->tokens += CHAT_FN_CALL_OVERHEAD;
		*flags |= TOK_CHAT_APPROX_TOOLS;
	}
}

static void count_message(struct chat_ctx *c, struct json_object *m, unsigned *flags,
			  const char *append)
{
	struct json_object *fc = tok_jget(m, "function_call");
	const char *role = tok_jstr(m, "role");

	c->tokens += CHAT_MSG_OVERHEAD;
	count_str(c, tok_jget(m, "role"));
	count_content(c, tok_jget(m, "content"), flags, append);
	if (tok_jstr(m, "name")) {
		count_str(c, tok_jget(m, "name"));
		c->tokens += CHAT_NAME_OVERHEAD;
	}
	if (fc) {
		count_str(c, tok_jget(fc, "name"));
		count_str(c, tok_jget(fc, "arguments"));
		c->tokens += CHAT_FN_CALL_OVERHEAD;
		*flags |= TOK_CHAT_APPROX_TOOLS;
	}
	count_tool_calls(c, tok_jget(m, "tool_calls"), flags);
	if (role && !strcmp(role, "function"))
		c->tokens -= CHAT_FN_ROLE_DISCOUNT;
}

static int parse_body(const char *body, size_t len, struct json_object **out)
{
	struct json_tokener *tk;
	struct json_object *o;

	if (len > INT32_MAX)
		return -E2BIG;
	tk = json_tokener_new_ex(CHAT_JSON_DEPTH);
	if (!tk)
		return -ENOMEM;
	o = json_tokener_parse_ex(tk, body, (int)len);
	if (json_tokener_get_error(tk) != json_tokener_success) {
		json_object_put(o);
		json_tokener_free(tk);
		return -EBADMSG;
	}
	json_tokener_free(tk);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EBADMSG;
	}
	*out = o;
	return 0;
}

static int pick_encoding(struct json_object *req, const char *model,
			 struct tok_chat_count *out, struct chat_ctx *c)
{
	enum tok_enc enc;

	if (!model)
		model = tok_jstr(req, "model");
	enc = tok_encoding_for_model(model);
	if (enc == TOK_ENC_UNKNOWN) {
		enc = TOK_O200K_BASE;
		out->flags |= TOK_CHAT_APPROX_MODEL;
	}
	out->encoding = enc;
	c->enc = tok_encoding_get(enc);
	return c->enc ? 0 : -errno;
}

/* function-call / tool-choice overheads */
static void count_choice(struct chat_ctx *c, struct json_object *req)
{
	struct json_object *ch = tok_jget(req, "tool_choice");

	if (!ch)
		ch = tok_jget(req, "function_call");
	if (!ch)
		return;
	if (json_object_is_type(ch, json_type_string)) {
		if (!strcmp(json_object_get_string(ch), "none"))
			c->tokens += CHAT_FN_NONE_OVERHEAD;
		return;
	}
	if (tok_jget(ch, "function"))
		ch = tok_jget(ch, "function");
	if (tok_jstr(ch, "name")) {
		count_str(c, tok_jget(ch, "name"));
		c->tokens += CHAT_FN_NAMED_OVERHEAD;
	}
}

int tok_count_chat(const char *body, size_t len, const char *model,
		   struct tok_chat_count *out)
{
	struct chat_ctx c = { 0 };
	struct json_object *req = NULL, *msgs, **fns = NULL;
	size_t nfns = 0, k;
	int err, has_system = 0, padded = 0;

	memset(out, 0, sizeof(*out));
	err = parse_body(body, len, &req);
	if (err)
		return err;
	msgs = tok_jget(req, "messages");
	if (!tok_jarr(msgs)) {
		err = -EBADMSG;
		goto out_put;
	}
	err = pick_encoding(req, model, out, &c);
	if (err)
		goto out_put;
	nfns = collect_functions(req, &fns, 0);
	if (nfns == (size_t)-1) {
		err = -ENOMEM;
		goto out_put;
	}

	for (k = 0; k < json_object_array_length(msgs); k++) {
		struct json_object *m = json_object_array_get_idx(msgs, k);
		const char *role = tok_jstr(m, "role"), *append = NULL;

		if (role && (!strcmp(role, "system") || !strcmp(role, "developer"))) {
			struct json_object *ct = tok_jget(m, "content");

			has_system = 1;
			if (nfns && !padded && ct && json_object_is_type(ct, json_type_string)) {
				const char *s = json_object_get_string(ct);
				size_t l = (size_t)json_object_get_string_len(ct);

				if (l && s[l - 1] != '\n')
					append = "\n";
				padded = 1;
			}
		}
		count_message(&c, m, &out->flags, append);
		out->messages++;
	}
	c.tokens += CHAT_REPLY_PRIMING;
	out->message_tokens = c.tokens;

	if (nfns) {
		int64_t before = c.tokens;

		count_function_defs(&c, fns, nfns);
		if (has_system)
			c.tokens -= CHAT_FN_SYSTEM_DEDUCT;
		count_choice(&c, req);
		out->tool_tokens = c.tokens - before;
		out->flags |= TOK_CHAT_APPROX_TOOLS;
	}
	err = c.err;
	out->prompt_tokens = c.tokens;
	free(fns);
out_put:
	json_object_put(req);
	return err;
}

/*
 * Responses API: "instructions" is a system/developer message; "input" a
 * user message (string) or a list of items: messages ({role, content}),
 * function_call ({name, arguments}), function_call_output ({output}).
 * Function tools are flat ({type: function, name, parameters}).
 */
int tok_count_responses(const char *body, size_t len, const char *model,
			struct tok_chat_count *out)
{
	struct chat_ctx c = { 0 };
	struct json_object *req = NULL, *input, *instr, **fns = NULL;
	size_t nfns = 0, k;
	int err, has_system = 0;

	memset(out, 0, sizeof(*out));
	err = parse_body(body, len, &req);
	if (err)
		return err;
	input = tok_jget(req, "input");
	instr = tok_jget(req, "instructions");
	if (!input && !instr) {
		err = -EBADMSG;
		goto out_put;
	}
	err = pick_encoding(req, model, out, &c);
	if (err)
		goto out_put;
	nfns = collect_functions(req, &fns, 1);
	if (nfns == (size_t)-1) {
		err = -ENOMEM;
		goto out_put;
	}
	if (instr && json_object_is_type(instr, json_type_string)) {
		c.tokens += CHAT_MSG_OVERHEAD;
		count_bytes(&c, "system", 6);
		count_content(&c, instr, &out->flags, NULL);
		out->messages++;
		has_system = 1;
	}
	if (input && json_object_is_type(input, json_type_string)) {
		c.tokens += CHAT_MSG_OVERHEAD;
		count_bytes(&c, "user", 4);
		count_content(&c, input, &out->flags, NULL);
		out->messages++;
	} else if (tok_jarr(input)) {
		for (k = 0; k < json_object_array_length(input); k++) {
			struct json_object *it = json_object_array_get_idx(input, k);
			const char *type = tok_jstr(it, "type"), *role = tok_jstr(it, "role");

			if (!type || !strcmp(type, "message")) {
				if (role && (!strcmp(role, "system") || !strcmp(role, "developer")))
					has_system = 1;
				count_message(&c, it, &out->flags, NULL);
			} else if (!strcmp(type, "function_call")) {
				c.tokens += CHAT_MSG_OVERHEAD + CHAT_FN_CALL_OVERHEAD;
				count_str(&c, tok_jget(it, "name"));
				count_str(&c, tok_jget(it, "arguments"));
				out->flags |= TOK_CHAT_APPROX_TOOLS;
			} else if (!strcmp(type, "function_call_output")) {
				c.tokens += CHAT_MSG_OVERHEAD;
				count_str(&c, tok_jget(it, "output"));
				out->flags |= TOK_CHAT_APPROX_TOOLS;
			} else {
				out->flags |= TOK_CHAT_APPROX_TOOLS;	/* reasoning, web search ... */
			}
			out->messages++;
		}
	}
	c.tokens += CHAT_REPLY_PRIMING;
	out->message_tokens = c.tokens;
	if (nfns) {
		int64_t before = c.tokens;

		count_function_defs(&c, fns, nfns);
		if (has_system)
			c.tokens -= CHAT_FN_SYSTEM_DEDUCT;
		count_choice(&c, req);
		out->tool_tokens = c.tokens - before;
	}
	if (tok_jget(req, "tools"))
		out->flags |= TOK_CHAT_APPROX_TOOLS;
	err = c.err;
	out->prompt_tokens = c.tokens;
	free(fns);
out_put:
	json_object_put(req);
	return err;
}
