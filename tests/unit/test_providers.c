// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Provider modules: request fields (model, stream, include_usage,
 * max_tokens), the tolerant request scan, and the response side (usage in
 * billing buckets, model, error, end, generated text).
 *
 * Every recorded exchange of ../shared/fixtures/llm-traffic is replayed:
 * the call is recognised from its request, the response is fed whole, cut
 * in two at every offset (SSE: the bytes given to the real SSE parser),
 * and one byte at a time, and every run must agree.  The usage is checked
 * against the fixture's expected_usage.normalized, the text against an
 * independent extraction with json-c, the model against the response's.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include "fixtures.h"
#include "tap.h"
#include "strbuf.h"
#include "provider.h"
#include "sse.h"


static void sb_str(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_free(struct sb *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* --- running a response ---------------------------------------------------- */

struct result {
	unsigned flags;
	struct llm_usage usage;
	char model[PROVIDER_MODEL_MAX];
	uint64_t bad_events;
	unsigned tool_calls;
	struct sb text;
	unsigned pieces;
	int split_char;		/* a text piece ended inside a UTF-8 sequence */
};

static void result_free(struct result *res)
{
	sb_free(&res->text);
}

/* Does s[0..n) end inside a UTF-8 sequence? */
static int ends_mid_char(const char *s, size_t n)
{
	size_t i = n, need;
	unsigned k;
	uint8_t c;

	for (k = 0; k < 4 && i > 0; k++) {
		c = (uint8_t)s[--i];
		if ((c & 0xc0) == 0x80)
			continue;
		need = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
		return n - i < need;
	}
	return 0;
}

static void on_text(void *ctx, const char *s, size_t n)
{
	struct result *res = ctx;

	sb_add(&res->text, s, n);
	res->pieces++;
	if (ends_mid_char(s, n))
		res->split_char = 1;
}

static int on_event(void *ctx, const struct sse_event *ev)
{
	return llm_resp_event(ctx, ev);
}

#define CUT_BYTES SIZE_MAX

/* Pieces of `len` bytes: whole (cut 0), in two at cut, or byte by byte. */
static size_t piece(size_t pos, size_t len, size_t cut)
{
	if (cut == CUT_BYTES)
		return 1;
	if (cut > pos && cut < len)
		return cut - pos;
	return len - pos;
}

struct opts {
	size_t cap;
	int no_text;
};

static void run_opts(const struct llm_call *call, int status, int sse, const char *body,
		     size_t len, size_t cut, const struct opts *o, struct result *res)
{
	struct sse_parser *p = NULL;
	struct llm_resp r;
	size_t pos, n;

	memset(res, 0, sizeof(*res));
	sb_add(&res->text, "", 0);	/* a string, even empty */
	if (llm_resp_init(&r, call, status, sse, o ? o->cap : 0))
		abort();
	if (!o || !o->no_text) {
		r.on_text = on_text;
		r.text_ctx = res;
	}
	if (sse) {
		p = sse_parser__new(1 << 20, on_event, &r);
		if (!p)
			abort();
	}
	for (pos = 0; pos < len; pos += n) {
		n = piece(pos, len, cut);
		if (p)
			sse_parser__feed(p, (const uint8_t *)body + pos, n);
		else
			llm_resp_body(&r, (const uint8_t *)body + pos, n);
	}
	if (p) {
		sse_parser__finish(p);
		sse_parser__free(p);
	}
	llm_resp_finish(&r);
	res->flags = r.flags;
	res->usage = r.usage;
	memcpy(res->model, r.model, sizeof(res->model));
	res->bad_events = r.bad_events;
	res->tool_calls = r.tool_calls;
	llm_resp_free(&r);
}

static void run(const struct llm_call *call, int status, int sse, const char *body,
		size_t len, size_t cut, struct result *res)
{
	run_opts(call, status, sse, body, len, cut, NULL, res);
}

/* Same outcome; why (static) when not. */
static const char *differs(const struct result *a, const struct result *b)
{
	if (a->flags != b->flags)
		return "flags";
	if (memcmp(&a->usage, &b->usage, sizeof(a->usage)))
		return "usage";
	if (strcmp(a->model, b->model))
		return "model";
	if (a->bad_events != b->bad_events)
		return "bad_events";
	if (a->tool_calls != b->tool_calls)
		return "tool_calls";
	if (a->text.len != b->text.len || (a->text.len && memcmp(a->text.p, b->text.p, a->text.len)))
		return "text";
	return NULL;
}

static const char *usage_str(const struct llm_usage *u)
{
	static char b[256];

	snprintf(b, sizeof(b), "in %lld cached %lld write %lld (1h %lld) out %lld reasoning %lld",
		 (long long)u->input_tokens, (long long)u->cached_input_tokens,
		 (long long)u->cache_write_tokens, (long long)u->cache_write_1h_tokens,
		 (long long)u->output_tokens, (long long)u->reasoning_tokens);
	return b;
}

static int call_for(struct llm_call *call, const char *host, const char *path, const char *req)
{
	if (!provider_match(host, strlen(host), path, strlen(path), call))
		return -1;
	return req ? provider_on_request(call, (const uint8_t *)req, strlen(req)) : 0;
}

/* --- fixtures ---------------------------------------------------------------- */

struct fixture {
	char name[128];
	char family;		/* 'o' OpenAI and compatible, 'a' Anthropic, 'g' Gemini */
	struct llm_call call;
	int status;
	int sse;
	char *resp;
	size_t resp_len;
	int usage_reported;
	struct llm_usage want;
	char want_model[PROVIDER_MODEL_MAX];
	struct sb want_text;	/* by json-c */
};

static struct fixture *fx;
static int nfx;

static int64_t num(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

/* expected_usage.normalized (INDEX.md conventions) in our buckets. */
static void want_usage(struct fixture *f, json_object *n)
{
	struct llm_usage *u = &f->want;
	json_object *v;

	f->usage_reported = json_object_object_get_ex(n, "usage_reported", &v) &&
			    json_object_get_boolean(v);
	switch (f->family) {
	case 'a':	/* input excludes the cache, as ours */
		u->input_tokens = num(n, "input_tokens");
		u->cached_input_tokens = num(n, "cache_read_input_tokens");
		u->cache_write_tokens = num(n, "cache_creation_input_tokens");
		u->cache_write_1h_tokens = num(n, "cache_creation_1h");
		u->output_tokens = num(n, "output_tokens");
		break;
	case 'g':	/* input includes the cache; output excludes thoughts */
		u->cached_input_tokens = num(n, "cached_input_tokens");
		u->input_tokens = num(n, "input_tokens") - u->cached_input_tokens +
				  num(n, "tool_use_prompt_tokens");
		u->reasoning_tokens = num(n, "reasoning_tokens");
		u->output_tokens = num(n, "output_tokens") + u->reasoning_tokens;
		break;
	default:	/* input includes the cache; output the reasoning */
		u->cached_input_tokens = num(n, "cached_input_tokens");
		u->input_tokens = num(n, "input_tokens") - u->cached_input_tokens;
		u->output_tokens = num(n, "output_tokens");
		u->reasoning_tokens = num(n, "reasoning_tokens");
		break;
	}
}

/*
 * The reference for text and model: a walk of the json-c tree in document
 * order, taking the members at the listed paths ('*' is any array
 * element): strings as they are, objects as compact JSON.
 */
static void walk(json_object *o, char *path, size_t plen, const char *const *paths,
		 struct sb *out, char *model)
{
	const char *const *q;
	size_t i, n, klen;
	json_object *v;

	for (q = paths; *q; q++)
		if (!strcmp(*q, path))
			break;
	if (*q && plen) {
		if (json_object_is_type(o, json_type_string)) {
			if (model) {
				if (json_object_get_string_len(o))
					snprintf(model, PROVIDER_MODEL_MAX, "%s",
						 json_object_get_string(o));
			} else {
				sb_add(out, json_object_get_string(o), json_object_get_string_len(o));
			}
		} else if (!model && json_object_is_type(o, json_type_object)) {
			const char *s = json_object_to_json_string_ext(o,
				JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

			sb_add(out, s, strlen(s));
		}
		return;
	}
	for (q = paths; *q; q++)	/* a prefix of a path? */
		if (!strncmp(*q, path, plen) && (!plen || (*q)[plen] == '.'))
			break;
	if (!*q)
		return;
	if (json_object_is_type(o, json_type_array)) {
		n = json_object_array_length(o);
		for (i = 0; i < n; i++) {
			snprintf(path + plen, 512 - plen, "%s*", plen ? "." : "");
			walk(json_object_array_get_idx(o, i), path, strlen(path), paths, out, model);
		}
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, val) {
			klen = strlen(k);
			if (plen + klen + 2 >= 512)
				continue;
			snprintf(path + plen, 512 - plen, "%s%s", plen ? "." : "", k);
			v = val;
			walk(v, path, strlen(path), paths, out, model);
		}
	}
	path[plen] = '\0';
}

static void ref(json_object *o, const char *const *paths, struct sb *out, char *model)
{
	char path[512] = "";

	walk(o, path, 0, paths, out, model);
}

static const char *const chat_text[] = {
	"choices.*.message.content", "choices.*.message.tool_calls.*.function.name",
	"choices.*.message.tool_calls.*.function.arguments",
	"choices.*.delta.content", "choices.*.delta.tool_calls.*.function.name",
	"choices.*.delta.tool_calls.*.function.arguments",
	"choices.*.message.reasoning_content", "choices.*.delta.reasoning_content",
	"choices.*.text", NULL,
};
static const char *const responses_text[] = {
	"output.*.content.*.text", "output.*.arguments", "output.*.summary.*.text", NULL,
};
static const char *const responses_delta[] = { "delta", NULL };
static const char *const messages_text[] = {
	"content.*.text", "content.*.thinking", "content.*.name", "content.*.input", NULL,
};
static const char *const messages_delta[] = {
	"delta.text", "delta.partial_json", "delta.thinking", "content_block.name", NULL,
};
static const char *const gemini_text[] = {
	"candidates.*.content.parts.*.text",
	"candidates.*.content.parts.*.functionCall.args", NULL,
};
static const char *const no_text[] = { NULL };
static const char *const model_paths[] = {
	"model", "modelVersion", "message.model", "response.model", NULL,
};

static const char *const *text_paths(const struct fixture *f, const char *type)
{
	switch (f->call.api) {
	case LLM_API_CHAT:
	case LLM_API_COMPLETIONS:
		return chat_text;
	case LLM_API_RESPONSES:
		if (!f->sse)
			return responses_text;
		return !strcmp(type, "response.output_text.delta") ||
		       !strcmp(type, "response.function_call_arguments.delta") ||
		       !strcmp(type, "response.reasoning_summary_text.delta") ||
		       !strcmp(type, "response.reasoning_text.delta") ? responses_delta : no_text;
	case LLM_API_MESSAGES:
		return f->sse ? messages_delta : messages_text;
	case LLM_API_GENERATE:
	case LLM_API_STREAM_GENERATE:
		return gemini_text;
	default:
		return no_text;
	}
}

static void ref_doc(struct fixture *f, json_object *o, const char *type)
{
	size_t i;

	if (json_object_is_type(o, json_type_array)) {	/* Gemini stream, no alt=sse */
		for (i = 0; i < json_object_array_length(o); i++)
			ref_doc(f, json_object_array_get_idx(o, i), type);
		return;
	}
	ref(o, text_paths(f, type), &f->want_text, NULL);
	ref(o, model_paths, NULL, f->want_model);
}

static int ref_event(void *ctx, const struct sse_event *ev)
{
	struct fixture *f = ctx;
	json_object *o, *t;
	const char *type = ev->event;

	o = json_tokener_parse(ev->data);
	if (!o)
		return 0;	/* [DONE] */
	if (!*type && json_object_object_get_ex(o, "type", &t))
		type = json_object_get_string(t);
	ref_doc(f, o, type);
	json_object_put(o);
	return 0;
}

static void reference(struct fixture *f)
{
	struct sse_parser *p;
	json_object *o;

	sb_add(&f->want_text, "", 0);
	if (f->sse) {
		p = sse_parser__new(1 << 20, ref_event, f);
		sse_parser__feed(p, (const uint8_t *)f->resp, f->resp_len);
		sse_parser__finish(p);
		sse_parser__free(p);
		return;
	}
	o = json_tokener_parse(f->resp);
	if (o)
		ref_doc(f, o, "");
	json_object_put(o);
}

static const char *header_ci(json_object *h, const char *name)
{
	json_object_object_foreach(h, k, v)
		if (!strcasecmp(k, name))
			return json_object_get_string(v);
	return NULL;
}

static int load_fixture(const char *file, struct fixture *f)
{
	json_object *o = json_object_from_file(file), *v, *e, *n;
	const char *host, *path, *req, *ct, *prov;
	int err = -1;

	memset(f, 0, sizeof(*f));
	if (!o)
		return -1;
	snprintf(f->name, sizeof(f->name), "%s", strrchr(file, '/') + 1);
	json_object_object_get_ex(o, "scheme_host", &v);
	host = json_object_get_string(v);
	host = strstr(host, "://") ? strstr(host, "://") + 3 : host;
	json_object_object_get_ex(o, "path", &v);
	path = json_object_get_string(v);
	json_object_object_get_ex(o, "request_body", &v);
	req = json_object_get_string(v);
	if (call_for(&f->call, host, path, req))
		goto out;
	json_object_object_get_ex(o, "provider", &v);
	prov = json_object_get_string(v);
	f->family = !strncmp(prov, "anthropic", 9) ? 'a' : !strncmp(prov, "gemini", 6) ? 'g' : 'o';
	json_object_object_get_ex(o, "status", &v);
	f->status = json_object_get_int(v);
	json_object_object_get_ex(o, "response_headers", &v);
	ct = header_ci(v, "content-type");
	f->sse = ct && strstr(ct, "text/event-stream");
	if (!ct && strstr(path, "alt=sse"))	/* the recorder dropped the headers */
		f->sse = 1;
	json_object_object_get_ex(o, "response_body", &v);
	f->resp = strdup(json_object_get_string(v));
	f->resp_len = strlen(f->resp);
	json_object_object_get_ex(o, "expected_usage", &e);
	json_object_object_get_ex(e, "normalized", &n);
	want_usage(f, n);
	reference(f);
	err = 0;
out:
	json_object_put(o);
	return err;
}

static void load_all(void)
{
	char dir[512], path[2048];
	struct dirent **list;
	int n, i;

	fixture_dir(dir, sizeof(dir));
	n = scandir(dir, &list, json_suffix, alphasort);
	if (n < 0)
		return;
	fx = calloc(n, sizeof(*fx));
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
		if (!load_fixture(path, &fx[nfx]))
			nfx++;
		else
			printf("# %s: not recognised\n", list[i]->d_name);
		free(list[i]);
	}
	free(list);
}

static struct fixture *find(const char *name)
{
	int i;

	for (i = 0; i < nfx; i++)
		if (!strcmp(fx[i].name, name))
			return &fx[i];
	return NULL;
}

/* What a run of fixture f must give. */
static void check_fixture(const struct fixture *f, const struct result *res)
{
	unsigned want_flags = 0;

	if (f->usage_reported) {
		want_flags |= LLM_RESP_USAGE;
		CHECK(!memcmp(&res->usage, &f->want, sizeof(f->want)), "%s: usage %s", f->name,
		      usage_str(&res->usage));
		CHECK(!memcmp(&res->usage, &f->want, sizeof(f->want)), "%s: want %s", f->name,
		      usage_str(&f->want));
	}
	if (f->status >= 400)
		want_flags |= LLM_RESP_ERROR;
	want_flags |= LLM_RESP_DONE;	/* every recorded response is whole */
	CHECK(res->flags == want_flags, "%s: flags %#x, want %#x", f->name, res->flags, want_flags);
	CHECK(res->bad_events == 0, "%s: %llu bad events", f->name,
	      (unsigned long long)res->bad_events);
	CHECK(!strcmp(res->model, f->want_model), "%s: model '%s', want '%s'", f->name,
	      res->model, f->want_model);
	CHECK(res->text.len == f->want_text.len &&
	      !memcmp(res->text.p, f->want_text.p, res->text.len),
	      "%s: text (%zu bytes) '%.80s', want (%zu bytes) '%.80s'", f->name, res->text.len,
	      res->text.p, f->want_text.len, f->want_text.p);
	CHECK(!res->split_char, "%s: a text piece ended inside a character", f->name);
}

static void test_fixtures_whole(void)
{
	struct result res;
	int i;

	CHECK(nfx == 44, "%d fixtures recognised", nfx);
	for (i = 0; i < nfx; i++) {
		run(&fx[i].call, fx[i].status, fx[i].sse, fx[i].resp, fx[i].resp_len, 0, &res);
		check_fixture(&fx[i], &res);
		result_free(&res);
	}
}

static void test_fixtures_every_split(void)
{
	struct result whole, res;
	const char *why;
	size_t k;
	int i;

	for (i = 0; i < nfx; i++) {
		run(&fx[i].call, fx[i].status, fx[i].sse, fx[i].resp, fx[i].resp_len, 0, &whole);
		for (k = 1; k < fx[i].resp_len; k++) {
			run(&fx[i].call, fx[i].status, fx[i].sse, fx[i].resp, fx[i].resp_len, k, &res);
			why = differs(&whole, &res);
			CHECK(!why, "%s: split at %zu: %s differs", fx[i].name, k, why);
			result_free(&res);
			if (why)
				break;
		}
		result_free(&whole);
	}
}

static void test_fixtures_byte_at_a_time(void)
{
	struct result whole, res;
	const char *why;
	int i;

	for (i = 0; i < nfx; i++) {
		run(&fx[i].call, fx[i].status, fx[i].sse, fx[i].resp, fx[i].resp_len, 0, &whole);
		run(&fx[i].call, fx[i].status, fx[i].sse, fx[i].resp, fx[i].resp_len, CUT_BYTES, &res);
		why = differs(&whole, &res);
		CHECK(!why, "%s: byte by byte: %s differs", fx[i].name, why);
		check_fixture(&fx[i], &res);
		result_free(&whole);
		result_free(&res);
	}
}

/* The call as each fixture's request gives it. */
static void test_fixture_requests(void)
{
	static const struct {
		const char *name;
		int stream, include_usage;
		int64_t max_tokens;
	} want[] = {
		{ "openai-chat-stream-01.json", 1, 1, -1 },
		{ "openai-chat-stream-05.json", 1, 0, -1 },
		{ "openai-chat-01.json", 0, 0, -1 },
		{ "anthropic-messages-01.json", 0, 0, 1024 },
		{ "anthropic-stream-01.json", 1, 0, 8192 },
		{ "gemini-stream-03.json", 1, 0, -1 },
		{ "deepseek-chat-stream-01.json", 1, 0, -1 },
	};
	const struct fixture *f;
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		f = find(want[i].name);
		CHECK(f != NULL, "fixture %s missing", want[i].name);
		if (!f)
			continue;
		CHECK(f->call.stream == want[i].stream, "%s: stream %d", f->name, f->call.stream);
		CHECK(f->call.include_usage == want[i].include_usage, "%s: include_usage %d",
		      f->name, f->call.include_usage);
		CHECK(f->call.max_tokens == want[i].max_tokens, "%s: max_tokens %lld", f->name,
		      (long long)f->call.max_tokens);
	}
}

/* The text callback on a chat stream and an Anthropic stream, by value. */
static void test_fixture_text(void)
{
	static const struct {
		const char *name, *text;
	} want[] = {
		{ "openai-chat-stream-01.json", "\"This is a test.\"" },
		{ "anthropic-stream-01.json", NULL },
		{ "openai-responses-stream-01.json", "This is a test." },
	};
	const struct fixture *f;
	struct result res;
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		f = find(want[i].name);
		CHECK(f != NULL, "fixture %s missing", want[i].name);
		if (!f)
			continue;
		run(&f->call, f->status, f->sse, f->resp, f->resp_len, 0, &res);
		CHECK(res.text.len > 0, "%s: no text", f->name);
		if (want[i].text)
			CHECK(!strcmp(res.text.p, want[i].text), "%s: text '%s'", f->name, res.text.p);
		CHECK(!strcmp(res.text.p, f->want_text.p), "%s: text '%s'", f->name, res.text.p);
		result_free(&res);
	}
	/* Anthropic: the deltas' text in order, thinking included. */
	f = find("anthropic-stream-05.json");
	CHECK(f != NULL, "anthropic-stream-05.json missing");
	if (f) {
		run(&f->call, f->status, f->sse, f->resp, f->resp_len, 0, &res);
		CHECK(res.text.len == f->want_text.len && res.text.len > 100, "%zu bytes", res.text.len);
		result_free(&res);
	}
}

/* --- synthetic responses ------------------------------------------------------ */

static struct llm_call call_chat, call_chat_usage, call_responses, call_messages,
	call_gemini, call_gemini_stream, call_embed, call_completions;

static void make_calls(void)
{
	call_for(&call_chat, "api.openai.com", "/v1/chat/completions",
		 "{\"model\":\"gpt-4o\",\"messages\":[],\"stream\":true}");
	call_for(&call_chat_usage, "api.openai.com", "/v1/chat/completions",
		 "{\"model\":\"gpt-4o\",\"messages\":[],\"stream\":true,"
		 "\"stream_options\":{\"include_usage\":true}}");
	call_for(&call_completions, "api.openai.com", "/v1/completions",
		 "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"x\"}");
	call_for(&call_responses, "api.openai.com", "/v1/responses",
		 "{\"model\":\"gpt-5\",\"input\":\"x\",\"stream\":true}");
	call_for(&call_messages, "api.anthropic.com", "/v1/messages",
		 "{\"model\":\"claude-sonnet-4-5\",\"messages\":[],\"max_tokens\":10}");
	call_for(&call_gemini, "generativelanguage.googleapis.com",
		 "/v1beta/models/gemini-2.5-flash:generateContent", "{\"contents\":[]}");
	call_for(&call_gemini_stream, "generativelanguage.googleapis.com",
		 "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "{\"contents\":[]}");
	call_for(&call_embed, "api.openai.com", "/v1/embeddings",
		 "{\"model\":\"text-embedding-3-small\",\"input\":\"x\"}");
}

/*
 * Runs a synthetic response whole, at every split and byte by byte; checks
 * they agree and returns the whole run in res.
 */
static void run_all(const struct llm_call *call, int status, int sse, const char *body,
		    const struct opts *o, struct result *res)
{
	size_t len = strlen(body), k;
	struct result alt;
	const char *why;

	run_opts(call, status, sse, body, len, 0, o, res);
	for (k = 1; k <= len; k++) {
		run_opts(call, status, sse, body, len, k == len ? CUT_BYTES : k, o, &alt);
		why = differs(res, &alt);
		CHECK(!why, "split at %zu: %s differs", k, why);
		result_free(&alt);
		if (why)
			break;
	}
}

static void check_usage(const struct result *res, int64_t in, int64_t cached, int64_t write,
			int64_t write_1h, int64_t out, int64_t reasoning)
{
	const struct llm_usage want = { in, cached, write, write_1h, out, reasoning };

	CHECK(res->flags & LLM_RESP_USAGE, "no usage (flags %#x)", res->flags);
	CHECK(!memcmp(&res->usage, &want, sizeof(want)), "usage %s", usage_str(&res->usage));
}

static void test_anthropic_error_after_content(void)
{
	struct result res;

	run_all(&call_messages, 200, 1,
		"event: message_start\n"
		"data: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\","
		"\"content\":[],\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n"
		"event: content_block_delta\n"
		"data: {\"type\":\"content_block_delta\",\"index\":0,"
		"\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n"
		"event: error\n"
		"data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
		"\"message\":\"Overloaded\"}}\n\n", NULL, &res);
	CHECK(res.flags == (LLM_RESP_USAGE | LLM_RESP_ERROR), "flags %#x", res.flags);
	check_usage(&res, 10, 0, 0, 0, 1, 0);
	CHECK(!strcmp(res.text.p, "Hel"), "text '%s'", res.text.p);
	CHECK(!strcmp(res.model, "claude-x"), "model '%s'", res.model);
	result_free(&res);
}

/* message_delta overrides message_start by its non-null fields. */
static void test_anthropic_delta_overrides(void)
{
	struct result res;

	run_all(&call_messages, 200, 1,
		"event: message_start\n"
		"data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,"
		"\"cache_read_input_tokens\":100,\"cache_creation_input_tokens\":20,"
		"\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,"
		"\"ephemeral_1h_input_tokens\":20},\"output_tokens\":1}}}\n\n"
		"event: content_block_delta\n"
		"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
		"{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n"
		"event: content_block_delta\n"
		"data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
		"{\"type\":\"input_json_delta\",\"partial_json\":\" 1}\"}}\n\n"
		"event: message_delta\n"
		"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
		"\"usage\":{\"input_tokens\":7,\"cache_read_input_tokens\":null,"
		"\"output_tokens\":50}}\n\n"
		"event: message_delta\n"
		"data: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":51}}\n\n"
		"event: message_stop\n"
		"data: {\"type\":\"message_stop\"}\n\n", NULL, &res);
	CHECK(res.flags == (LLM_RESP_USAGE | LLM_RESP_DONE), "flags %#x", res.flags);
	check_usage(&res, 7, 100, 20, 20, 51, 0);
	CHECK(!strcmp(res.text.p, "{\"a\": 1}"), "text '%s'", res.text.p);
	result_free(&res);
}

static void test_anthropic_body(void)
{
	struct result res;

	run_all(&call_messages, 200, 0,
		"{\"id\":\"msg_1\",\"type\":\"message\",\"model\":\"claude-opus-4-1\","
		"\"content\":[{\"type\":\"thinking\",\"thinking\":\"Hm.\",\"signature\":\"xx\"},"
		"{\"type\":\"text\",\"text\":\"Hi\",\"citations\":[{\"cited_text\":\"no\"}]},"
		"{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":"
		"{ \"q\" : [1, \"a b\"] }}],"
		"\"usage\":{\"input_tokens\":3,\"cache_creation_input_tokens\":418,"
		"\"cache_read_input_tokens\":1111,\"cache_creation\":"
		"{\"ephemeral_5m_input_tokens\":18,\"ephemeral_1h_input_tokens\":400},"
		"\"output_tokens\":33,\"server_tool_use\":{\"web_search_requests\":1}}}",
		NULL, &res);
	CHECK(res.flags == (LLM_RESP_USAGE | LLM_RESP_DONE), "flags %#x", res.flags);
	check_usage(&res, 3, 1111, 418, 400, 33, 0);
	/* a tool's name is generated text too */
	CHECK(!strcmp(res.text.p, "Hm.Hif{\"q\":[1,\"a b\"]}"), "text '%s'", res.text.p);
	CHECK_EQ_INT(res.tool_calls, 1);
	CHECK(!strcmp(res.model, "claude-opus-4-1"), "model '%s'", res.model);
	result_free(&res);
}

static void test_chat_stream_usage(void)
{
	struct result res;

	/* without include_usage: none, never a sum of chunks */
	run_all(&call_chat, 200, 1,
		"data: {\"id\":\"c\",\"model\":\"gpt-4o-2024\",\"choices\":[{\"index\":0,"
		"\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
		"data: {\"id\":\"c\",\"model\":\"gpt-4o-2024\",\"choices\":[{\"index\":0,"
		"\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}],\"usage\":null}\n\n"
		"data: [DONE]\n\n", NULL, &res);
	CHECK(res.flags == LLM_RESP_DONE, "flags %#x", res.flags);
	CHECK(!strcmp(res.text.p, "Hi"), "text '%s'", res.text.p);
	CHECK(!strcmp(res.model, "gpt-4o-2024"), "model '%s'", res.model);
	result_free(&res);

	/* usage on every chunk (vLLM's continuous stats): the last wins */
	run_all(&call_chat_usage, 200, 1,
		"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":"
		"{\"prompt_tokens\":10,\"completion_tokens\":1}}\n\n"
		"data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}],\"usage\":"
		"{\"prompt_tokens\":10,\"completion_tokens\":2}}\n\n"
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3,"
		"\"prompt_tokens_details\":{\"cached_tokens\":4},"
		"\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\n"
		"data: [DONE]\n\n", NULL, &res);
	check_usage(&res, 6, 4, 0, 0, 3, 1);
	CHECK(!strcmp(res.text.p, "ab"), "text '%s'", res.text.p);
	result_free(&res);

	/* a usage cut off by the end of the stream is not a report */
	run_all(&call_chat_usage, 200, 1,
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3}}\n\n"
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\n\n", NULL, &res);
	check_usage(&res, 10, 0, 0, 0, 3, 0);
	CHECK(res.flags & LLM_RESP_BAD_JSON, "flags %#x", res.flags);
	CHECK(res.bad_events == 1, "%llu bad events", (unsigned long long)res.bad_events);
	CHECK(!(res.flags & LLM_RESP_DONE), "flags %#x", res.flags);
	result_free(&res);
}

static void test_compatible_family(void)
{
	struct result res;

	/* Groq: under x_groq */
	run_all(&call_chat, 200, 1,
		"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"x_groq\":{\"id\":\"r\"}}\n\n"
		"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"x_groq\":"
		"{\"id\":\"r\",\"usage\":{\"queue_time\":0.01,\"prompt_tokens\":18,"
		"\"completion_tokens\":73,\"total_tokens\":91}}}\n\n"
		"data: [DONE]\n\n", NULL, &res);
	CHECK(res.flags == (LLM_RESP_USAGE | LLM_RESP_DONE), "flags %#x", res.flags);
	check_usage(&res, 18, 0, 0, 0, 73, 0);
	result_free(&res);

	/* OpenRouter: cost ignored */
	run_all(&call_chat, 200, 0,
		"{\"model\":\"openai/gpt-4o\",\"choices\":[{\"message\":{\"content\":\"ok\","
		"\"reasoning\":\"think\"}}],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,"
		"\"total_tokens\":15,\"cost\":0.0012,\"prompt_tokens_details\":{\"cached_tokens\":4},"
		"\"completion_tokens_details\":{\"reasoning_tokens\":2}}}", NULL, &res);
	check_usage(&res, 6, 4, 0, 0, 5, 2);
	CHECK(!strcmp(res.text.p, "okthink"), "text '%s'", res.text.p);
	result_free(&res);

	/* DeepSeek: prompt_cache_hit_tokens when there are no details */
	run_all(&call_chat, 200, 0,
		"{\"choices\":[{\"message\":{\"content\":\"a\",\"reasoning_content\":\"b\"}}],"
		"\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":5,"
		"\"prompt_cache_hit_tokens\":60,\"prompt_cache_miss_tokens\":40}}", NULL, &res);
	check_usage(&res, 40, 60, 0, 0, 5, 0);
	CHECK(!strcmp(res.text.p, "ab"), "text '%s'", res.text.p);
	result_free(&res);

	/* Mistral: content as parts, usage unasked on the last chunk */
	run_all(&call_chat, 200, 1,
		"data: {\"choices\":[{\"delta\":{\"content\":[{\"type\":\"text\",\"text\":\"p\"}]}}]}\n\n"
		"data: {\"choices\":[{\"delta\":{\"content\":\"q\"},\"finish_reason\":\"stop\"}],"
		"\"usage\":{\"prompt_tokens\":3,\"total_tokens\":5,\"completion_tokens\":2}}\n\n"
		"data: [DONE]\n\n", NULL, &res);
	check_usage(&res, 3, 0, 0, 0, 2, 0);
	CHECK(!strcmp(res.text.p, "pq"), "text '%s'", res.text.p);
	result_free(&res);

	/* legacy completions, tool calls and a legacy function_call */
	run_all(&call_completions, 200, 0,
		"{\"choices\":[{\"text\":\"one\"},{\"text\":\"two\"}],"
		"\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}", NULL, &res);
	CHECK(!strcmp(res.text.p, "onetwo"), "text '%s'", res.text.p);
	result_free(&res);
	run_all(&call_chat, 200, 0,
		"{\"choices\":[{\"message\":{\"content\":null,\"tool_calls\":[{\"id\":\"c1\","
		"\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":1}\"}}],"
		"\"function_call\":{\"name\":\"g\",\"arguments\":\"{}\"}}}]}", NULL, &res);
	CHECK(!strcmp(res.text.p, "f{\"x\":1}g{}"), "text '%s'", res.text.p);
	CHECK_EQ_INT(res.tool_calls, 2);
	CHECK(!(res.flags & LLM_RESP_USAGE), "flags %#x", res.flags);
	result_free(&res);
}

static void test_responses_stream_ends(void)
{
	struct result res;

	run_all(&call_responses, 200, 1,
		"event: response.created\n"
		"data: {\"type\":\"response.created\",\"response\":{\"model\":\"gpt-5-2025\","
		"\"usage\":null,\"error\":null}}\n\n"
		"event: response.output_text.delta\n"
		"data: {\"type\":\"response.output_text.delta\",\"delta\":\"par\"}\n\n"
		"event: response.audio.delta\n"
		"data: {\"type\":\"response.audio.delta\",\"delta\":\"AAAA\"}\n\n"
		"event: response.failed\n"
		"data: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"server_error\"},"
		"\"usage\":{\"input_tokens\":20,\"input_tokens_details\":{\"cached_tokens\":8},"
		"\"output_tokens\":9,\"output_tokens_details\":{\"reasoning_tokens\":4}}}}\n\n",
		NULL, &res);
	CHECK(res.flags == (LLM_RESP_USAGE | LLM_RESP_DONE | LLM_RESP_ERROR), "flags %#x",
	      res.flags);
	check_usage(&res, 12, 8, 0, 0, 9, 4);
	CHECK(!strcmp(res.text.p, "par"), "text '%s'", res.text.p);
	CHECK(!strcmp(res.model, "gpt-5-2025"), "model '%s'", res.model);
	result_free(&res);

	/* no event: lines: the type is read from the data */
	run_all(&call_responses, 200, 1,
		"data: {\"delta\":\"a\",\"type\":\"response.reasoning_summary_text.delta\"}\n\n"
		"data: {\"delta\":\"b\",\"type\":\"response.function_call_arguments.delta\"}\n\n"
		"data: {\"delta\":\"zz\",\"type\":\"response.output_text.done\"}\n\n"
		"data: {\"type\":\"response.incomplete\",\"response\":{\"usage\":"
		"{\"input_tokens\":2,\"output_tokens\":1}}}\n\n", NULL, &res);
	CHECK(res.flags == (LLM_RESP_USAGE | LLM_RESP_DONE), "flags %#x", res.flags);
	check_usage(&res, 2, 0, 0, 0, 1, 0);
	CHECK(!strcmp(res.text.p, "ab"), "text '%s'", res.text.p);
	result_free(&res);

	/* an error event */
	run_all(&call_responses, 200, 1,
		"event: error\ndata: {\"type\":\"error\",\"code\":\"x\",\"message\":\"m\"}\n\n",
		NULL, &res);
	CHECK(res.flags == LLM_RESP_ERROR, "flags %#x", res.flags);
	result_free(&res);
}

static void test_gemini_usage(void)
{
	struct result res;

	run_all(&call_gemini, 200, 0,
		"{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"t\",\"thought\":true},"
		"{\"functionCall\":{\"name\":\"f\",\"args\":{\"a\":\"b\"}}},"
		"{\"executableCode\":{\"language\":\"PYTHON\",\"code\":\"print(1)\"}}]},"
		"\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":100,"
		"\"cachedContentTokenCount\":40,\"toolUsePromptTokenCount\":7,"
		"\"candidatesTokenCount\":10,\"thoughtsTokenCount\":5,\"totalTokenCount\":122},"
		"\"modelVersion\":\"gemini-2.5-pro\"}", NULL, &res);
	CHECK(res.flags == (LLM_RESP_USAGE | LLM_RESP_DONE), "flags %#x", res.flags);
	check_usage(&res, 67, 40, 0, 0, 15, 5);
	CHECK(!strcmp(res.text.p, "t{\"a\":\"b\"}print(1)"), "text '%s'", res.text.p);
	CHECK(!strcmp(res.model, "gemini-2.5-pro"), "model '%s'", res.model);
	result_free(&res);

	/* JSON array stream: cumulative, the last wins; cut: not done */
	run_all(&call_gemini_stream, 200, 0,
		"[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}],"
		"\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":1}}\n,\r\n"
		"{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"b\"}]}}],"
		"\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":2}}\n,\r\n"
		"{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"c", NULL, &res);
	CHECK(res.flags == (LLM_RESP_USAGE | LLM_RESP_BAD_JSON), "flags %#x", res.flags);
	check_usage(&res, 5, 0, 0, 0, 2, 0);
	CHECK(!strcmp(res.text.p, "abc"), "text '%s'", res.text.p);
	result_free(&res);

	/* SSE: the chunk with a finish reason is the last */
	run_all(&call_gemini_stream, 200, 1,
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}],"
		"\"usageMetadata\":{\"promptTokenCount\":5}}\r\n\r\n"
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"b\"}]},"
		"\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":4,"
		"\"candidatesTokenCount\":2}}\r\n\r\n", NULL, &res);
	CHECK(res.flags == (LLM_RESP_USAGE | LLM_RESP_DONE), "flags %#x", res.flags);
	check_usage(&res, 4, 0, 0, 0, 2, 0);
	result_free(&res);

	/* Vertex with enum-encoding=int: the reason is a number */
	run_all(&call_gemini_stream, 200, 1,
		"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},"
		"\"finishReason\":1}]}\n\n", NULL, &res);
	CHECK(res.flags == LLM_RESP_DONE, "flags %#x", res.flags);
	result_free(&res);
}

static void test_errors(void)
{
	struct result res;

	run_all(&call_chat, 502, 0, "<html><body>Bad gateway</body></html>", NULL, &res);
	CHECK(res.flags == (LLM_RESP_ERROR | LLM_RESP_BAD_JSON), "flags %#x", res.flags);
	result_free(&res);
	run_all(&call_chat, 200, 0, "", NULL, &res);
	CHECK(res.flags == LLM_RESP_BAD_JSON, "flags %#x", res.flags);
	result_free(&res);
	/* an error body that still reports usage */
	run_all(&call_chat, 400, 0, "{\"error\":{\"message\":\"m\"},\"usage\":"
		"{\"prompt_tokens\":3,\"completion_tokens\":0}}", NULL, &res);
	CHECK(res.flags == (LLM_RESP_ERROR | LLM_RESP_USAGE | LLM_RESP_DONE), "flags %#x",
	      res.flags);
	result_free(&res);
	/* an error in a 200 stream; an event that is not JSON */
	run_all(&call_chat, 200, 1,
		"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"
		"data: not json\n\n"
		"data: {\"error\":{\"message\":\"overloaded\"}}\n\n", NULL, &res);
	CHECK(res.flags == (LLM_RESP_ERROR | LLM_RESP_BAD_JSON), "flags %#x", res.flags);
	CHECK(res.bad_events == 1, "%llu bad events", (unsigned long long)res.bad_events);
	result_free(&res);
	/* "error": null is no error */
	run_all(&call_responses, 200, 0, "{\"error\":null,\"usage\":{\"input_tokens\":1,"
		"\"output_tokens\":1}}", NULL, &res);
	CHECK(res.flags == (LLM_RESP_USAGE | LLM_RESP_DONE), "flags %#x", res.flags);
	result_free(&res);
	/* a call that is not an LLM call has no response side */
	{
		struct llm_call none = { 0 };
		struct llm_resp r;

		CHECK(llm_resp_init(&r, &none, 200, 0, 0) == -EINVAL, "init without provider");
		llm_resp_free(&r);
	}
}

static void test_text_decoding(void)
{
	struct result res;
	struct sb body = { 0 };
	int i;

	run_all(&call_chat, 200, 0,
		"{\"choices\":[{\"message\":{\"content\":\"a\\u00e9\\ud83d\\ude00\\n\\\"b\\\\\\/"
		"\\ud800x\\udc00\"}}]}", NULL, &res);
	CHECK(!strcmp(res.text.p, "a\xc3\xa9\xf0\x9f\x98\x80\n\"b\\/\xef\xbf\xbdx\xef\xbf\xbd"),
	      "text '%s'", res.text.p);
	result_free(&res);

	/* bad escapes: read as well as they can be, not an error */
	run_all(&call_chat, 200, 0,
		"{\"choices\":[{\"message\":{\"content\":\"a\\qb\\u12g\\u\"}}]}", NULL, &res);
	CHECK(!strcmp(res.text.p, "aqb\xef\xbf\xbdg\xef\xbf\xbd"), "text '%s'", res.text.p);
	CHECK(res.flags == LLM_RESP_DONE, "flags %#x", res.flags);
	result_free(&res);

	/* a long text in pieces, never cut inside a character */
	sb_add(&body, "{\"choices\":[{\"message\":{\"content\":\"", 35);
	for (i = 0; i < 700; i++)
		sb_add(&body, i % 3 ? "\xc3\xa9" : "\xe2\x82\xac", i % 3 ? 2 : 3);
	sb_add(&body, "\"}}]}", 5);
	run_all(&call_chat, 200, 0, body.p, NULL, &res);
	CHECK(res.text.len == 234 * 3 + 466 * 2, "%zu bytes", res.text.len);
	CHECK(res.pieces > 1, "%u pieces", res.pieces);
	CHECK(!res.split_char, "a piece ended inside a character");
	result_free(&res);
	sb_free(&body);

	/* text not asked for: none computed, the rest the same */
	{
		const struct opts o = { .no_text = 1 };

		run_all(&call_chat, 200, 0, "{\"choices\":[{\"message\":{\"content\":\"x\"}}],"
			"\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}", &o, &res);
		CHECK(res.text.len == 0 && res.pieces == 0, "text");
		check_usage(&res, 1, 0, 0, 0, 1, 0);
		result_free(&res);
	}
}

/* 100,000 levels, passed over and read as text, in bodies and events. */
static void test_deep_nesting(void)
{
	const size_t depth = 100000;
	struct sb b = { 0 };
	struct result res;
	size_t i;

	sb_str(&b, "{\"id\":\"x\",\"junk\":");
	for (i = 0; i < depth; i++)
		sb_add(&b, i % 2 ? "[" : "{\"k\":", i % 2 ? 1 : 5);
	for (i = depth; i-- > 0;)
		sb_add(&b, i % 2 ? "]" : "}", 1);
	sb_str(&b, ",\"choices\":[{\"message\":{\"deep\":");
	for (i = 0; i < depth; i++)
		sb_str(&b, "[");
	for (i = 0; i < depth; i++)
		sb_str(&b, "]");
	sb_str(&b, ",\"content\":\"hi\"}}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}");
	run(&call_chat, 200, 0, b.p, b.len, 0, &res);
	CHECK(res.flags == (LLM_RESP_USAGE | LLM_RESP_DONE), "flags %#x", res.flags);
	check_usage(&res, 7, 0, 0, 0, 2, 0);
	CHECK(!strcmp(res.text.p, "hi"), "text '%.20s'", res.text.p);
	result_free(&res);
	run(&call_chat, 200, 0, b.p, b.len, CUT_BYTES, &res);
	check_usage(&res, 7, 0, 0, 0, 2, 0);
	result_free(&res);

	/* as an SSE event */
	b.len = 0;
	sb_str(&b, "data: {\"a\":");
	for (i = 0; i < depth; i++)
		sb_str(&b, "[");
	for (i = 0; i < depth; i++)
		sb_str(&b, "]");
	sb_str(&b, ",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n");
	run(&call_chat_usage, 200, 1, b.p, b.len, 0, &res);
	check_usage(&res, 3, 0, 0, 0, 1, 0);
	CHECK(res.bad_events == 0, "bad events");
	result_free(&res);

	/* read as text: Gemini function arguments nested deep */
	b.len = 0;
	sb_str(&b, "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"args\":");
	for (i = 0; i < depth; i++)
		sb_str(&b, "{\"a\": ");
	sb_str(&b, "1");
	for (i = 0; i < depth; i++)
		sb_str(&b, "}");
	sb_str(&b, "}}]}}],\"usageMetadata\":{\"promptTokenCount\":1}}");
	run(&call_gemini, 200, 0, b.p, b.len, 0, &res);
	CHECK(res.text.len == depth * 6 + 1, "%zu bytes of text", res.text.len);
	CHECK(res.flags == (LLM_RESP_USAGE | LLM_RESP_DONE), "flags %#x", res.flags);
	result_free(&res);

	/* unbalanced: cut inside */
	b.len = 0;
	sb_str(&b, "{\"usage\":{\"prompt_tokens\":1},\"x\":");
	for (i = 0; i < depth; i++)
		sb_str(&b, "[");
	run(&call_chat, 200, 0, b.p, b.len, 0, &res);
	CHECK(res.flags == (LLM_RESP_USAGE | LLM_RESP_BAD_JSON), "flags %#x", res.flags);
	result_free(&res);
	sb_free(&b);
}

/* A body far larger than the cap: scanned, not kept; a member read that
 * is larger than the cap is flagged and left out. */
static void test_cap(void)
{
	const struct opts small = { .cap = 16 };
	struct sb b = { 0 };
	struct result res;
	char num[32];
	int i;

	sb_str(&b, "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"embedding\":[");
	for (i = 0; i < 300000; i++) {
		snprintf(num, sizeof(num), "%s-0.0%07d", i ? "," : "", i);
		sb_add(&b, num, strlen(num));
	}
	sb_str(&b, "]}],\"model\":\"text-embedding-3-small\",\"usage\":{\"prompt_tokens\":6,"
	       "\"total_tokens\":6}}");
	CHECK(b.len > 3000000, "%zu bytes", b.len);
	run_opts(&call_embed, 200, 0, b.p, b.len, 0, &small, &res);
	CHECK(res.flags == (LLM_RESP_USAGE | LLM_RESP_CAPPED | LLM_RESP_DONE), "flags %#x",
	      res.flags);	/* the model name is 22 bytes */
	check_usage(&res, 6, 0, 0, 0, 0, 0);
	CHECK(!res.model[0], "model '%s'", res.model);
	result_free(&res);
	run_opts(&call_embed, 200, 0, b.p, b.len, 4096, NULL, &res);
	CHECK(res.flags == (LLM_RESP_USAGE | LLM_RESP_DONE), "flags %#x", res.flags);
	CHECK(!strcmp(res.model, "text-embedding-3-small"), "model '%s'", res.model);
	result_free(&res);
	sb_free(&b);

	/* a token count longer than the cap */
	run_all(&call_chat, 200, 0, "{\"usage\":{\"prompt_tokens\":000000000000000000012,"
		"\"completion_tokens\":5}}", &small, &res);
	CHECK(res.flags == (LLM_RESP_USAGE | LLM_RESP_CAPPED | LLM_RESP_DONE), "flags %#x",
	      res.flags);
	check_usage(&res, 0, 0, 0, 0, 5, 0);
	result_free(&res);
	/* numbers that are not counts are left out */
	run_all(&call_chat, 200, 0, "{\"usage\":{\"prompt_tokens\":-3,\"completion_tokens\":2.5,"
		"\"prompt_tokens_details\":{\"cached_tokens\":1e3}}}", NULL, &res);
	CHECK(res.flags == LLM_RESP_DONE, "flags %#x", res.flags);
	result_free(&res);
	run_all(&call_chat, 200, 0, "{\"usage\":{\"prompt_tokens\":4.0,\"completion_tokens\":"
		"99999999999999999999999}}", NULL, &res);
	check_usage(&res, 4, 0, 0, 0, 0, 0);
	result_free(&res);
}

/* --- the request side --------------------------------------------------------- */

static void test_request_fields(void)
{
	static const struct {
		const char *host, *path, *body;
		int stream, include_usage;
		int64_t max_tokens;
	} cases[] = {
		{ "api.openai.com", "/v1/chat/completions",
		  "{\"model\":\"m\",\"messages\":[],\"max_tokens\":100,\"max_completion_tokens\":200,"
		  "\"stream\":true,\"stream_options\":{\"include_usage\":true}}", 1, 1, 200 },
		{ "api.openai.com", "/v1/chat/completions",
		  "{\"model\":\"m\",\"messages\":[],\"max_tokens\":100,"
		  "\"stream_options\":{\"include_usage\":false}}", 0, 0, 100 },
		{ "api.openai.com", "/v1/chat/completions",
		  "{\"model\":\"m\",\"messages\":[],\"max_tokens\":null,"
		  "\"stream_options\":null}", 0, 0, -1 },
		{ "api.openai.com", "/v1/chat/completions",
		  "{\"model\":\"m\",\"messages\":[],\"max_tokens\":\"9\","
		  "\"stream_options\":{\"include_usage\":\"yes\"}}", 0, 0, -1 },
		{ "api.openai.com", "/v1/completions",
		  "{\"model\":\"m\",\"prompt\":\"p\",\"max_tokens\":7}", 0, 0, 7 },
		{ "api.openai.com", "/v1/responses",
		  "{\"model\":\"m\",\"input\":\"p\",\"max_output_tokens\":300,\"max_tokens\":1}",
		  0, 0, 300 },
		{ "api.openai.com", "/v1/embeddings", "{\"model\":\"m\",\"input\":\"p\"}", 0, 0, -1 },
		{ "api.anthropic.com", "/v1/messages",
		  "{\"model\":\"m\",\"messages\":[],\"max_tokens\":4096,\"stream\":true}", 1, 0, 4096 },
		{ "generativelanguage.googleapis.com", "/v1beta/models/g:generateContent",
		  "{\"contents\":[],\"generationConfig\":{\"maxOutputTokens\":64}}", 0, 0, 64 },
		{ "aiplatform.googleapis.com", "/v1/projects/p/models/g:streamGenerateContent",
		  "{\"contents\":[],\"generation_config\":{\"max_output_tokens\":65}}", 1, 0, 65 },
		{ "generativelanguage.googleapis.com", "/v1beta/models/g:generateContent",
		  "{\"contents\":[]}", 0, 0, -1 },
	};
	struct llm_call c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(call_for(&c, cases[i].host, cases[i].path, cases[i].body) == 0, "case %zu", i);
		CHECK(c.stream == cases[i].stream, "case %zu: stream %d", i, c.stream);
		CHECK(c.include_usage == cases[i].include_usage, "case %zu: include_usage %d", i,
		      c.include_usage);
		CHECK(c.max_tokens == cases[i].max_tokens, "case %zu: max_tokens %lld", i,
		      (long long)c.max_tokens);
	}
	/* unset until a body is read */
	CHECK(call_for(&c, "x", "/v1/chat/completions", NULL) == 0, "match");
	CHECK(c.max_tokens == -1, "max_tokens %lld", (long long)c.max_tokens);
}

static int scan(struct llm_call *c, const char *body, size_t len)
{
	provider_match("api.openai.com", 14, "/v1/chat/completions", 20, c);
	return provider_scan_request(c, (const uint8_t *)body, len);
}

static int scan_str(struct llm_call *c, const char *body)
{
	return scan(c, body, strlen(body));
}

static void test_scan_request(void)
{
	static const struct {
		const char *body;
		int found;
		const char *model;
		int stream;
	} cases[] = {
		/* a cut prefix */
		{ "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"model\":\"gpt-4o\","
		  "\"stream\":true,\"temperat", 1, "gpt-4o", 1 },
		{ "{\"messages\":[],\"model\":\"gpt-4", 0, "", 0 },
		{ "{\"stream\":true,\"model\":", 0, "", 1 },
		/* model keys nested, or inside strings */
		{ "{\"messages\":[{\"role\":\"user\",\"model\":\"evil\",\"content\":"
		  "[{\"model\":\"evil2\"}]}],\"metadata\":{\"model\":\"evil3\",\"stream\":true},"
		  "\"model\":\"good\"}", 1, "good", 0 },
		{ "{\"messages\":[{\"content\":\"\\\"model\\\": \\\"evil\\\"\"}],\"model\":\"good\"}",
		  1, "good", 0 },
		{ "{\"prompt\":\"{\\\"model\\\":\\\"evil\\\",\\\"stream\\\":true}\"}", 0, "", 0 },
		{ "{\"input\":[\"model\",\"x\"],\"x\":{\"model\":\"evil\"}}", 0, "", 0 },
		/* escapes, in the value and the key */
		{ "{\"model\":\"gpt-\\u0034o-\\\"q\\\"\\\\\\/\\t\"}", 1, "gpt-4o-\"q\"\\/\t", 0 },
		{ "{\"mod\\u0065l\":\"m1\",\"str\\u0065am\":true}", 1, "m1", 1 },
		{ "{\"model\":\"caf\\u00e9 \\ud83d\\ude00\"}", 1, "caf\xc3\xa9 \xf0\x9f\x98\x80", 0 },
		/* the first model wins; not JSON past it */
		{ "{\"model\":\"a\",\"model\":\"b\"}", 1, "a", 0 },
		{ "{\"model\":\"m2\", \"stream\": true, garbage", 1, "m2", 1 },
		{ "{\"model\":\"\",\"model\":\"m3\"}", 1, "m3", 0 },
		{ "\xef\xbb\xbf{\"model\":\"bom\"}", 1, "bom", 0 },
		/* not an object, or not a string */
		{ "xx{\"model\":\"a\"}", 0, "", 0 },
		{ "[{\"model\":\"a\"}]", 0, "", 0 },
		{ "{\"model\":42,\"stream\":\"true\"}", 0, "", 0 },
		{ "{\"stream\":false,\"model\":[\"a\"]}", 0, "", 0 },
		{ "", 0, "", 0 },
	};
	struct llm_call c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(scan_str(&c, cases[i].body) == cases[i].found, "case %zu: found", i);
		CHECK(!strcmp(c.model, cases[i].model), "case %zu: model '%s'", i, c.model);
		CHECK(c.stream == cases[i].stream, "case %zu: stream %d", i, c.stream);
	}

	/* the other fields, where they come before the cut */
	CHECK(scan_str(&c, "{\"messages\":[{}],\"max_completion_tokens\":512,\"stream_options\":"
		       "{\"include_usage\":true},\"model\":\"m\",\"max_tokens\":9") == 1, "found");
	CHECK(c.include_usage == 1 && c.max_tokens == 512, "include_usage %d max_tokens %lld",
	      c.include_usage, (long long)c.max_tokens);
	CHECK(scan_str(&c, "{\"generationConfig\":{\"temperature\":1,\"maxOutputTokens\":77}}") == 0,
	      "found");
	CHECK(c.max_tokens == 77, "max_tokens %lld", (long long)c.max_tokens);
	CHECK(scan_str(&c, "{\"max_tokens\":-4,\"x\":{\"max_tokens\":5}}") == 0, "found");
	CHECK(c.max_tokens == -1, "max_tokens %lld", (long long)c.max_tokens);

	/* a model already known (from the path) is kept */
	provider_match("x.openai.azure.com", 18, "/openai/deployments/dep/chat/completions", 40, &c);
	CHECK(provider_scan_request(&c, (const uint8_t *)"{\"model\":\"other\"}", 17) == 1, "found");
	CHECK(!strcmp(c.model, "dep"), "model '%s'", c.model);

	/* a name longer than the field: cut, and said so */
	{
		char body[600], name[400];

		memset(name, 'n', 300);
		name[300] = '\0';
		snprintf(body, sizeof(body), "{\"model\":\"%s\"}", name);
		CHECK(scan_str(&c, body) == 1, "found");
		CHECK(strlen(c.model) == PROVIDER_MODEL_MAX - 1 && c.model_cut, "model cut %d",
		      c.model_cut);
	}
}

/* Every prefix: the model is found exactly from its closing quote on. */
static void test_scan_request_prefixes(void)
{
	static const char body[] =
		"{\"messages\":[{\"role\":\"user\",\"content\":\"say \\\"model\\\"\"}],"
		"\"model\":\"gpt-4.1\\u002dmini\",\"stream\":true}";
	const char *end = strstr(body, "mini\"") + 5, *tru = strstr(body, "true");
	struct llm_call c;
	size_t k, len = sizeof(body) - 1;
	int found;

	for (k = 0; k <= len; k++) {
		found = scan(&c, body, k);
		CHECK(found == (body + k >= end), "prefix %zu: found %d", k, found);
		CHECK(!found || !strcmp(c.model, "gpt-4.1-mini"), "prefix %zu: model %s", k, c.model);
		/* a literal is known by its first letter */
		CHECK(c.stream == (body + k > tru), "prefix %zu: stream %d", k, c.stream);
	}
}

/* Nesting deeper than json-c allows, before the model. */
static void test_scan_request_deep(void)
{
	static const size_t depths[] = { 10000, 100000 };
	struct llm_call c;
	struct sb b = { 0 };
	size_t i, d;

	for (d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
		b.len = 0;
		sb_str(&b, "{\"messages\":");
		for (i = 0; i < depths[d]; i++)
			sb_add(&b, i % 2 ? "{\"model\":\"evil\",\"x\":" : "[", i % 2 ? 20 : 1);
		sb_str(&b, "0");
		for (i = depths[d]; i-- > 0;)
			sb_add(&b, i % 2 ? "}" : "]", 1);
		sb_str(&b, ",\"model\":\"claude-deep\",\"stream\":true}");
		CHECK(call_for(&c, "api.openai.com", "/v1/chat/completions", NULL) == 0, "match");
		CHECK(provider_on_request(&c, (const uint8_t *)b.p, b.len) == -EBADMSG,
		      "json-c took %zu levels", depths[d]);
		CHECK(provider_scan_request(&c, (const uint8_t *)b.p, b.len) == 1,
		      "%zu levels: not found", depths[d]);
		CHECK(!strcmp(c.model, "claude-deep"), "model '%s'", c.model);
		CHECK(c.stream == 1, "stream");
	}
	sb_free(&b);
}

int main(void)
{
	int i;

	make_calls();
	RUN(test_request_fields);
	RUN(test_scan_request);
	RUN(test_scan_request_prefixes);
	RUN(test_scan_request_deep);
	RUN(test_anthropic_error_after_content);
	RUN(test_anthropic_delta_overrides);
	RUN(test_anthropic_body);
	RUN(test_chat_stream_usage);
	RUN(test_compatible_family);
	RUN(test_responses_stream_ends);
	RUN(test_gemini_usage);
	RUN(test_errors);
	RUN(test_text_decoding);
	RUN(test_deep_nesting);
	RUN(test_cap);

	if (!have_fixtures()) {
		tap_skip("provider_fixtures", "no recorded traffic (set FIXTURES to shared/fixtures)");
		return tap_done();
	}
	load_all();
	RUN(test_fixtures_whole);
	RUN(test_fixture_requests);
	RUN(test_fixture_text);
	RUN(test_fixtures_every_split);
	RUN(test_fixtures_byte_at_a_time);
	for (i = 0; i < nfx; i++) {
		free(fx[i].resp);
		sb_free(&fx[i].want_text);
	}
	free(fx);
	return tap_done();
}
