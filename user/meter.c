// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Usage of a call: the provider's report, or tollgate's count (DESIGN §4,
 * §5).  Counting is exact for OpenAI models (their tokenizer is public)
 * and a calibrated estimate for Anthropic and Gemini; either way the
 * record says "estimated" when the provider did not report.
 */
#include <errno.h>
#include <string.h>
#include <json-c/json.h>
#include "membudget.h"
#include "meter.h"
#include "tokenizer.h"

/* Bytes per token assumed for text that could not be kept at all. */
#define BYTES_PER_TOKEN 3

/*
 * Output the provider bills beyond the text a client sees, measured on the
 * recorded responses in shared/fixtures/llm-traffic:
 *
 *   OpenAI chat tool calls: a call is its name and arguments plus 8
 *   tokens (gpt-4o-mini, one call: exact); parallel calls are wrapped
 *   (multi_tool_use.parallel): 10 a call plus 7 (gpt-3.5-turbo and
 *   gpt-4o-mini, two calls: exact and -1).
 *
 *   Anthropic (no public tokenizer): 1.15 times the o200k count of the
 *   text, thinking and tool input, plus 4 a response; within +-8 % on
 *   Claude 3 Opus, 3.5 Sonnet, Sonnet 4.5 and Haiku 4.5 text and
 *   thinking.  A tool_use block adds 36, its name counted as text
 *   (one recording, Claude 3.5 Sonnet, two blocks: -3 %; the block's
 *   framing is not on the wire).
 *
 *   Gemini: 1.08 times the o200k count, as for its input (see
 *   tokenizer/estimate.c); thoughts the API does not return cannot be
 *   counted.
 */
#define OAI_TOOL_CALL		8
#define OAI_PARALLEL_CALL	10
#define OAI_PARALLEL_WRAP	7
#define ANT_OUT_PERMILLE	1150
#define ANT_OUT_RESPONSE	4
#define ANT_TOOL_USE		36
#define GEM_OUT_PERMILLE	1080

static int text_family(const struct llm_call *call, enum tok_family *fam)
{
	switch (call->api) {
	case LLM_API_MESSAGES:
		*fam = TOK_FAMILY_ANTHROPIC;
		return 1;
	case LLM_API_GENERATE:
	case LLM_API_STREAM_GENERATE:
	case LLM_API_EMBED:
		*fam = TOK_FAMILY_GEMINI;
		return 1;
	default:
		return 0;
	}
}

static const struct tok_encoding *openai_encoding(const char *model)
{
	enum tok_enc e = model && model[0] ? tok_encoding_for_model(model) : TOK_ENC_UNKNOWN;

	return tok_encoding_get(e == TOK_ENC_UNKNOWN ? TOK_O200K_BASE : e);
}

/* Tokens of plain text, the way the call's provider would count it. */
static int64_t text_tokens(const struct llm_call *call, const char *s, size_t n)
{
	const struct tok_encoding *enc;
	struct tok_estimate est;
	enum tok_family fam;
	ssize_t c;

	if (!n)
		return 0;
	if (text_family(call, &fam)) {
		if (!tok_estimate_text(fam, s, n, &est))
			return est.tokens;
	} else {
		enc = openai_encoding(call->model);
		c = enc ? tok_count(enc, s, n, 0) : -ENOMEM;
		if (c >= 0)
			return c;
	}
	return (n + BYTES_PER_TOKEN - 1) / BYTES_PER_TOKEN;
}

/* The encoder count of generated text: the model's own encoding for
 * OpenAI models, o200k_base (scaled at the end) for the others. */
static int64_t raw_tokens(const struct llm_call *call, const char *s, size_t n)
{
	enum tok_family fam;
	const struct tok_encoding *enc = text_family(call, &fam) ?
					 tok_encoding_get(TOK_O200K_BASE) :
					 openai_encoding(call->model);
	ssize_t c = enc ? tok_count(enc, s, n, 0) : -ENOMEM;

	return c >= 0 ? c : (int64_t)((n + BYTES_PER_TOKEN - 1) / BYTES_PER_TOKEN);
}

/*
 * Where a long text can be cut without changing its count: before a
 * single space that starts a word, so that both sides pretokenize as
 * they would together.  0 if there is no such place in the second half.
 */
static size_t text_cut(const char *s, size_t len)
{
	size_t i;

	for (i = len - 1; i > len / 2; i--)
		if (s[i] == ' ' && s[i - 1] != ' ' && s[i - 1] != '\n' &&
		    i + 1 < len && ((s[i + 1] | 0x20) >= 'a' && (s[i + 1] | 0x20) <= 'z'))
			return i;
	return 0;
}

static void text_flush(struct meter_text *t, const struct llm_call *call)
{
	size_t cut = text_cut(t->buf, t->len);

	if (!cut)
		cut = t->len;	/* no word boundary: a token may split, +-1 */
	t->tokens += raw_tokens(call, t->buf, cut);
	memmove(t->buf, t->buf + cut, t->len - cut);
	t->len -= cut;
}

void meter_text_add(struct meter_text *t, struct membudget *mb,
		    const struct llm_call *call, const char *s, size_t n)
{
	size_t cap;
	char *nb;

	t->bytes += n;
	if (t->shed) {
		t->shed_bytes += n;
		return;
	}
	if (t->len + n > t->cap) {
		cap = t->cap ? t->cap : 1024;
		while (cap < t->len + n)
			cap *= 2;
		nb = membudget_realloc(mb, t->buf, cap, MEMBUDGET_BULK);
		if (!nb) {
			t->shed = 1;
			t->shed_bytes += n;
			return;
		}
		t->buf = nb;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	if (t->len >= METER_TEXT_FLUSH)
		text_flush(t, call);
}

void meter_text_free(struct meter_text *t, struct membudget *mb)
{
	membudget_free(mb, t->buf);
	memset(t, 0, sizeof(*t));
}

/* The output tokens of the generated text seen, with what the provider
 * bills around it (tool calls, framing). */
static int64_t text_total(struct meter_text *t, const struct llm_call *call,
			  unsigned tool_calls)
{
	int64_t n = t->tokens + raw_tokens(call, t->buf, t->len);
	enum tok_family fam;

	if (!t->bytes && !tool_calls)
		return 0;
	if (!text_family(call, &fam)) {
		if (tool_calls == 1)
			n += OAI_TOOL_CALL;
		else if (tool_calls > 1)
			n += OAI_PARALLEL_CALL * tool_calls + OAI_PARALLEL_WRAP;
	} else if (fam == TOK_FAMILY_ANTHROPIC) {
		n = n * ANT_OUT_PERMILLE / 1000 + ANT_OUT_RESPONSE + ANT_TOOL_USE * tool_calls;
	} else {
		n = n * GEM_OUT_PERMILLE / 1000;
	}
	return n + (int64_t)((t->shed_bytes + BYTES_PER_TOKEN - 1) / BYTES_PER_TOKEN);
}

/* Every string in a JSON value (a prompt or an input: string or list). */
static int64_t json_strings_tokens(const struct llm_call *call, json_object *v)
{
	int64_t n = 0;
	size_t i;

	if (!v)
		return 0;
	switch (json_object_get_type(v)) {
	case json_type_string:
		return text_tokens(call, json_object_get_string(v), json_object_get_string_len(v));
	case json_type_int:
		return 1;	/* a token id given as such */
	case json_type_array:
		for (i = 0; i < json_object_array_length(v); i++)
			n += json_strings_tokens(call, json_object_array_get_idx(v, i));
		return n;
	case json_type_object: {
		json_object_object_foreach(v, k, m) {
			(void)k;
			n += json_strings_tokens(call, m);
		}
		return n;
	}
	default:
		return 0;
	}
}

static json_object *parse_len(const uint8_t *body, size_t len)
{
	struct json_tokener *tok;
	json_object *obj;

	if (len > INT32_MAX)
		return NULL;
	tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
	if (!tok)
		return NULL;
	obj = json_tokener_parse_ex(tok, (const char *)body, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

/* Legacy completions and embeddings bill the prompt or input as text. */
static int member_tokens(const struct llm_call *call, const uint8_t *body, size_t len,
			 const char *member, int64_t *out)
{
	json_object *obj, *v;

	obj = parse_len(body, len);
	if (!obj)
		return -EBADMSG;
	if (!json_object_object_get_ex(obj, member, &v)) {
		json_object_put(obj);
		return -EBADMSG;
	}
	*out = json_strings_tokens(call, v);
	json_object_put(obj);
	return 0;
}

int64_t meter_input_tokens(const struct llm_call *call, const uint8_t *body, size_t len)
{
	const char *b = (const char *)body;
	struct tok_chat_count cc;
	struct tok_estimate est;
	int64_t n;
	int err;

	switch (call->api) {
	case LLM_API_CHAT:
		err = tok_count_chat(b, len, call->model[0] ? call->model : NULL, &cc);
		n = cc.prompt_tokens;
		break;
	case LLM_API_RESPONSES:
		err = tok_count_responses(b, len, call->model[0] ? call->model : NULL, &cc);
		n = cc.prompt_tokens;
		break;
	case LLM_API_COMPLETIONS:
		err = member_tokens(call, body, len, "prompt", &n);
		break;
	case LLM_API_EMBEDDINGS:
		err = member_tokens(call, body, len, "input", &n);
		break;
	case LLM_API_MESSAGES:
		err = tok_estimate_anthropic_request(b, len, &est);
		n = est.tokens;
		break;
	case LLM_API_GENERATE:
	case LLM_API_STREAM_GENERATE:
		err = tok_estimate_gemini_request(b, len, &est);
		n = est.tokens;
		break;
	case LLM_API_EMBED:
		err = member_tokens(call, body, len,
				    memmem(b, len, "\"requests\"", 10) ? "requests" : "content", &n);
		break;
	default:
		err = -EINVAL;
		break;
	}
	/* A body we cannot read is counted whole, punctuation and all: more
	 * than the provider bills, never less. */
	if (err)
		n = text_tokens(call, b, len);
	return n;
}

void meter_settle(struct tg_record *rec, const struct llm_resp *resp,
		  const uint8_t *body, size_t len, int whole, struct meter_text *text)
{
	const struct llm_call *call = &rec->call;
	struct llm_usage *u = &rec->usage;
	int64_t out, in;
	int complete;

	memset(u, 0, sizeof(*u));
	if (resp && (resp->flags & LLM_RESP_USAGE)) {
		*u = resp->usage;
		rec->usage_source = TG_USAGE_PROVIDER;
		/* A stream cut before its last event reported only part of
		 * its output: what was seen counts if it is more. */
		complete = !resp->sse || (resp->flags & LLM_RESP_DONE);
		if (complete)
			return;
		out = text_total(text, call, resp->tool_calls);
		if (out > u->output_tokens) {
			u->output_tokens = out;
			rec->usage_source = TG_USAGE_ESTIMATED;
		}
		return;
	}
	/* An error answer without usage: the provider bills nothing. */
	if (rec->status >= 400 && !text->bytes) {
		rec->usage_source = TG_USAGE_PROVIDER;
		return;
	}
	if (body && len)
		in = meter_input_tokens(call, body, len);
	else
		in = 0;
	/* What was not kept of the body is counted from its size. */
	if (!whole && rec->request_bytes > len)
		in += (int64_t)((rec->request_bytes - len + BYTES_PER_TOKEN - 1) / BYTES_PER_TOKEN);
	u->input_tokens = in;
	u->output_tokens = text_total(text, call, resp ? resp->tool_calls : 0);
	rec->usage_source = TG_USAGE_ESTIMATED;
}
