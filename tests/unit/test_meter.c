// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * The meter (usage settled from the provider's report or estimated) and
 * the §9 record as printed.
 */
#include <string.h>
#include <json-c/json.h>
#include "callfmt.h"
#include "membudget.h"
#include "meter.h"
#include "provider.h"
#include "tokenizer.h"
#include "tap.h"

static void chat_call(struct tg_record *r, const char *model)
{
	memset(r, 0, sizeof(*r));
	provider_match("api.openai.com", 14, "/v1/chat/completions", 20, &r->call);
	provider_set_model(&r->call, model, strlen(model));
	r->ttft_ns = r->duration_ns = TG_TIME_UNKNOWN;
}

static const char BODY[] =
	"{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Say this is a test\"}]}";

/* The provider's usage, whole, is what is billed. */
static void test_provider_usage(void)
{
	struct tg_record r;
	struct llm_resp resp = { .sse = 0, .flags = LLM_RESP_USAGE };
	struct meter_text t = {};

	chat_call(&r, "gpt-4o");
	r.status = 200;
	resp.usage.input_tokens = 7;
	resp.usage.cached_input_tokens = 1024;
	resp.usage.output_tokens = 50;
	meter_settle(&r, &resp, (const uint8_t *)BODY, sizeof(BODY) - 1, 1, &t);
	CHECK_EQ_INT(r.usage_source, TG_USAGE_PROVIDER);
	CHECK_EQ_INT(r.usage.input_tokens, 7);
	CHECK_EQ_INT(r.usage.cached_input_tokens, 1024);
	CHECK_EQ_INT(r.usage.output_tokens, 50);
}

/* No usage: the request counted exactly (OpenAI chat format), the text too. */
static void test_estimate(void)
{
	static const char out[] = "This is a test.";
	const struct tok_encoding *enc = tok_encoding_get(TOK_O200K_BASE);
	struct tok_chat_count cc;
	struct tg_record r;
	struct llm_resp resp = { .sse = 1 };
	struct meter_text t = {};
	struct membudget mb;

	membudget_init(&mb, 1 << 20);
	chat_call(&r, "gpt-4o");
	r.status = 200;
	meter_text_add(&t, &mb, &r.call, out, 4);
	meter_text_add(&t, &mb, &r.call, out + 4, sizeof(out) - 5);
	CHECK(!tok_count_chat(BODY, sizeof(BODY) - 1, NULL, &cc), "chat count");
	meter_settle(&r, &resp, (const uint8_t *)BODY, sizeof(BODY) - 1, 1, &t);
	CHECK_EQ_INT(r.usage_source, TG_USAGE_ESTIMATED);
	CHECK_EQ_INT(r.usage.input_tokens, cc.prompt_tokens);
	CHECK_EQ_INT(r.usage.output_tokens, tok_count(enc, out, sizeof(out) - 1, 0));
	meter_text_free(&t, &mb);
	CHECK_EQ_INT(mb.used, 0);
}

/* A long text is counted as it streams, in pieces cut where the count
 * does not change. */
static void test_text_flush(void)
{
	const struct tok_encoding *enc = tok_encoding_get(TOK_O200K_BASE);
	static const char *words[] = { "lorem", " ipsum", " dolor", " sit", " amet,", "\n\n",
				       " consectetur", " adipiscing", " elit", "." };
	struct meter_text t = {};
	struct tg_record r;
	struct llm_resp resp = { .sse = 1 };
	struct membudget mb;
	char *all = NULL;
	size_t len = 0, i, n;

	membudget_init(&mb, 1 << 20);
	chat_call(&r, "gpt-4o");
	r.status = 200;
	for (i = 0; len < 3 * METER_TEXT_FLUSH; i++) {
		n = strlen(words[i % 10]);
		all = realloc(all, len + n);
		memcpy(all + len, words[i % 10], n);
		len += n;
		meter_text_add(&t, &mb, &r.call, words[i % 10], n);
	}
	CHECK(t.len < METER_TEXT_FLUSH, "%zu bytes kept", t.len);
	CHECK(mb.peak < 2 * METER_TEXT_FLUSH + 4096, "peak %llu", (unsigned long long)mb.peak);
	meter_settle(&r, &resp, NULL, 0, 0, &t);
	CHECK_EQ_INT(r.usage.output_tokens, tok_count(enc, all, len, 0));
	free(all);
	meter_text_free(&t, &mb);
}

/* A stream cut before its last event: input as reported, output at least
 * what was seen; estimated. */
static void test_cut_stream(void)
{
	static const char out[] = "one two three four five six seven eight nine ten";
	struct tg_record r;
	struct llm_resp resp = { .sse = 1, .flags = LLM_RESP_USAGE };
	struct meter_text t = {};

	memset(&r, 0, sizeof(r));
	provider_match("api.anthropic.com", 17, "/v1/messages", 12, &r.call);
	r.status = 200;
	resp.usage.input_tokens = 17;
	resp.usage.output_tokens = 1;	/* message_start's placeholder */
	meter_text_add(&t, NULL, &r.call, out, sizeof(out) - 1);
	meter_settle(&r, &resp, NULL, 0, 0, &t);
	CHECK_EQ_INT(r.usage.input_tokens, 17);
	CHECK(r.usage.output_tokens >= 10, "%lld", (long long)r.usage.output_tokens);
	CHECK_EQ_INT(r.usage_source, TG_USAGE_ESTIMATED);
	/* the same stream, complete, is the provider's */
	resp.flags |= LLM_RESP_DONE;
	meter_settle(&r, &resp, NULL, 0, 0, &t);
	CHECK_EQ_INT(r.usage.output_tokens, 1);
	CHECK_EQ_INT(r.usage_source, TG_USAGE_PROVIDER);
	meter_text_free(&t, NULL);
}

/* An error answer bills nothing; no answer at all bills the input. */
static void test_error_and_no_response(void)
{
	struct tg_record r;
	struct llm_resp resp = { .flags = LLM_RESP_ERROR };
	struct meter_text t = {};

	chat_call(&r, "gpt-4o");
	r.status = 429;
	meter_settle(&r, &resp, (const uint8_t *)BODY, sizeof(BODY) - 1, 1, &t);
	CHECK_EQ_INT(r.usage.input_tokens + r.usage.output_tokens, 0);
	CHECK_EQ_INT(r.usage_source, TG_USAGE_PROVIDER);
	chat_call(&r, "gpt-4o");
	meter_settle(&r, NULL, (const uint8_t *)BODY, sizeof(BODY) - 1, 1, &t);
	CHECK(r.usage.input_tokens > 5, "%lld", (long long)r.usage.input_tokens);
	CHECK_EQ_INT(r.usage_source, TG_USAGE_ESTIMATED);
}

/* Bodies that cannot be read are counted, never as nothing. */
static void test_unreadable_body(void)
{
	static const char cut[] = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"con";
	struct tg_record r;
	struct meter_text t = {};

	chat_call(&r, "gpt-4o");
	r.request_bytes = 100000;	/* most of it was not kept */
	meter_settle(&r, NULL, (const uint8_t *)cut, sizeof(cut) - 1, 0, &t);
	CHECK(r.usage.input_tokens > 100000 / 4, "%lld", (long long)r.usage.input_tokens);
	CHECK(meter_input_tokens(&r.call, (const uint8_t *)cut, sizeof(cut) - 1) > 5, "raw");
}

/* The §9 record: every contract field, exact cost, escaped strings. */
static void test_json_record(void)
{
	static const char *const fields[] = {
		"ts", "pid", "comm", "exe", "uid", "cgroup", "team", "provider", "host", "method",
		"path", "model", "stream", "status", "request_bytes", "response_bytes",
		"input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
		"reasoning_tokens", "usage_source", "cost_usd", "unpriced", "ttft_ms",
		"duration_ms", "key_fp", "capture", "action",
	};
	struct tg_record r;
	struct tg_call c = { .rec = &r, .capture = "complete", .team = "search",
			     .cgroup = "/a\nb", .cost_nano = 1234567 };
	json_object *o, *v;
	char *s, line[8192];
	size_t i;

	chat_call(&r, "gpt-4o");
	r.status = 200;
	r.usage.input_tokens = 10;
	r.usage.output_tokens = 3;
	r.usage_source = TG_USAGE_PROVIDER;
	strcpy(r.key_fp, "sha256:0123456789ab");
	s = call_json(&c);
	o = json_tokener_parse(s);
	CHECK(o != NULL, "%s", s);
	for (i = 0; o && i < sizeof(fields) / sizeof(fields[0]); i++)
		CHECK(json_object_object_get_ex(o, fields[i], NULL), "no %s in %s", fields[i], s);
	CHECK(strstr(s, "\"cost_usd\":0.001234567") != NULL, "%s", s);
	CHECK(strstr(s, "\"usage_source\":\"provider\"") != NULL, "%s", s);
	CHECK(strstr(s, "\"unpriced\":false") != NULL, "%s", s);
	if (o && json_object_object_get_ex(o, "cgroup", &v))
		CHECK(!strcmp(json_object_get_string(v), "/a\nb"), "cgroup");
	json_object_put(o);
	free(s);
	call_text(&c, line, sizeof(line));
	CHECK(!strchr(line, '\n'), "%s", line);
	CHECK(strstr(line, " search ") && strstr(line, "in=10 out=3 $0.001234567"), "%s", line);
}

int main(void)
{
	RUN(test_provider_usage);
	RUN(test_estimate);
	RUN(test_text_flush);
	RUN(test_cut_stream);
	RUN(test_error_and_no_response);
	RUN(test_unreadable_body);
	RUN(test_json_record);
	return tap_done();
}
