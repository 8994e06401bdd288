// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Chat-format counting and provider estimates against the real usage the
 * providers reported in the LLM traffic fixtures (fixtures.h: $FIXTURES,
 * default ../shared/fixtures), plus small hand-made bodies.
 *
 * OpenAI chat requests whose messages are plain text must match
 * usage.prompt_tokens exactly; requests with tool definitions or tool
 * calls (counted by a reverse-engineered rendering) within 5 tokens.
 * Estimates for Anthropic and Gemini must land within +-15 % of the
 * reported input where the request holds everything that is billed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fixtures.h"
#include "tap.h"
#include "tokenizer.h"

static struct json_object *load_fixture(const char *name)
{
	char dir[512], p[1024];

	snprintf(p, sizeof(p), "%s/%s", fixture_dir(dir, sizeof(dir)), name);
	return json_object_from_file(p);
}

static struct json_object *jget(struct json_object *o, const char *k)
{
	struct json_object *v = NULL;

	return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static int64_t jint(struct json_object *o, const char *k)
{
	struct json_object *v = jget(o, k);

	return v ? json_object_get_int64(v) : 0;
}

/* --- OpenAI --------------------------------------------------------------- */

static void check_openai(const char *name, int tolerance, int responses)
{
	struct json_object *fx = load_fixture(name), *norm;
	struct tok_chat_count c;
	const char *body;
	int64_t want;
	int err;

	CHECK(fx != NULL, "%s: cannot read", name);
	if (!fx)
		return;
	body = json_object_get_string(jget(fx, "request_body"));
	norm = jget(jget(fx, "expected_usage"), "normalized");
	want = jint(norm, "input_tokens");
	err = responses ? tok_count_responses(body, strlen(body), NULL, &c)
			: tok_count_chat(body, strlen(body), NULL, &c);
	CHECK_EQ_INT(err, 0);
	printf("# %-32s %-11s counted %5lld  reported %5lld  (messages %lld, tools %lld, flags %#x)\n",
	       name, tok_encoding_name(c.encoding), (long long)c.prompt_tokens, (long long)want,
	       (long long)c.message_tokens, (long long)c.tool_tokens, c.flags);
	CHECK(llabs(c.prompt_tokens - want) <= tolerance, "%s: counted %lld, reported %lld",
	      name, (long long)c.prompt_tokens, (long long)want);
	json_object_put(fx);
}

static void test_chat_fixtures_exact(void)
{
	check_openai("openai-chat-01.json", 0, 0);		/* gpt-4o-mini */
	check_openai("openai-chat-03.json", 0, 0);		/* system + long article */
	check_openai("openai-chat-stream-01.json", 0, 0);	/* gpt-4, cl100k */
	check_openai("openai-responses-01.json", 0, 1);		/* instructions + input */
	check_openai("openai-responses-stream-01.json", 0, 1);
	check_openai("openai-responses-stream-05.json", 0, 1);
}

static void test_chat_fixtures_tools(void)
{
	check_openai("openai-chat-05.json", 5, 0);		/* gpt-3.5, one function */
	check_openai("openai-chat-07.json", 5, 0);		/* tool call + tool result */
	check_openai("openai-chat-stream-03.json", 5, 0);	/* system + tool */
}

static void test_chat_rules(void)
{
	struct tok_chat_count c;
	const char *b1 = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hello world\"}]}";
	const char *b2 = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hello world\",\"name\":\"bob\"}]}";
	const char *b3 = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hello world\"},"
			 "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:x\",\"detail\":\"low\"}}]}]}";
	const char *b4 = "{\"model\":\"llama-3\",\"messages\":[]}";

	/* 3 + "user" (1) + "hello world" (2) + 3 */
	CHECK_EQ_INT(tok_count_chat(b1, strlen(b1), NULL, &c), 0);
	CHECK_EQ_INT(c.prompt_tokens, 9);
	CHECK_EQ_INT(c.messages, 1);
	CHECK(c.flags == 0, "flags %#x", c.flags);
	CHECK(c.encoding == TOK_O200K_BASE, "encoding");
	/* name: + its tokens + 1 */
	CHECK_EQ_INT(tok_count_chat(b2, strlen(b2), NULL, &c), 0);
	CHECK_EQ_INT(c.prompt_tokens, 9 + 1 + 1);
	/* image at detail low: 85 */
	CHECK_EQ_INT(tok_count_chat(b3, strlen(b3), NULL, &c), 0);
	CHECK_EQ_INT(c.prompt_tokens, 9 + 85);
	CHECK(c.flags & TOK_CHAT_APPROX_IMAGES, "image flag");
	/* model override, unknown model */
	CHECK_EQ_INT(tok_count_chat(b1, strlen(b1), "gpt-4", &c), 0);
	CHECK(c.encoding == TOK_CL100K_BASE, "override");
	CHECK_EQ_INT(tok_count_chat(b4, strlen(b4), NULL, &c), 0);
	CHECK_EQ_INT(c.prompt_tokens, 3);
	CHECK(c.flags & TOK_CHAT_APPROX_MODEL, "unknown model flag");
	/* not a chat body */
	CHECK_EQ_INT(tok_count_chat("{}", 2, NULL, &c), -EBADMSG);
	CHECK_EQ_INT(tok_count_chat("[1]", 3, NULL, &c), -EBADMSG);
	CHECK_EQ_INT(tok_count_chat("{\"messages\":", 12, NULL, &c), -EBADMSG);
	CHECK_EQ_INT(tok_count_responses("{}", 2, NULL, &c), -EBADMSG);
}

/* --- estimates -------------------------------------------------------------- */

static void check_estimate(const char *name, int anthropic)
{
	struct json_object *fx = load_fixture(name), *norm;
	struct tok_estimate e;
	const char *body;
	int64_t want;
	int err;

	CHECK(fx != NULL, "%s: cannot read", name);
	if (!fx)
		return;
	body = json_object_get_string(jget(fx, "request_body"));
	norm = jget(jget(fx, "expected_usage"), "normalized");
	want = jint(norm, "input_tokens") + jint(norm, "cache_creation_input_tokens") +
	       jint(norm, "cache_read_input_tokens");
	err = anthropic ? tok_estimate_anthropic_request(body, strlen(body), &e)
			: tok_estimate_gemini_request(body, strlen(body), &e);
	CHECK_EQ_INT(err, 0);
	printf("# %-32s estimate %5lld [%lld, %lld]  reported %5lld  (%+.1f %%)\n", name,
	       (long long)e.tokens, (long long)e.low, (long long)e.high, (long long)want,
	       want ? 100.0 * (double)(e.tokens - want) / (double)want : 0.0);
	CHECK(want >= e.low && want <= e.high, "%s: estimate %lld [%lld, %lld], reported %lld",
	      name, (long long)e.tokens, (long long)e.low, (long long)e.high, (long long)want);
	json_object_put(fx);
}

static void test_estimate_anthropic(void)
{
	check_estimate("anthropic-messages-01.json", 1);
	check_estimate("anthropic-messages-03.json", 1);
	check_estimate("anthropic-messages-05.json", 1);	/* tools */
	check_estimate("anthropic-messages-07.json", 1);
	check_estimate("anthropic-stream-01.json", 1);
	check_estimate("anthropic-stream-03.json", 1);
	check_estimate("anthropic-stream-05.json", 1);		/* thinking */
	check_estimate("anthropic-stream-09.json", 1);
}

static void test_estimate_gemini(void)
{
	check_estimate("gemini-generate-01.json", 0);		/* function call/response */
	check_estimate("gemini-generate-03.json", 0);		/* tools */
	check_estimate("gemini-stream-01.json", 0);
	check_estimate("gemini-stream-03.json", 0);
	check_estimate("gemini-stream-05.json", 0);
	check_estimate("gemini-vertex-01.json", 0);
	check_estimate("gemini-vertex-03.json", 0);
}

static void test_estimate_api(void)
{
	struct tok_estimate e;

	CHECK_EQ_INT(tok_estimate_text(TOK_FAMILY_ANTHROPIC, "hello world", 11, &e), 0);
	CHECK(e.tokens >= 2 && e.low <= e.tokens && e.high >= e.tokens, "text estimate %lld",
	      (long long)e.tokens);
	CHECK_EQ_INT(tok_estimate_text((enum tok_family)7, "x", 1, &e), -EINVAL);
	CHECK_EQ_INT(tok_estimate_anthropic_request("{}", 2, &e), -EBADMSG);
	CHECK_EQ_INT(tok_estimate_gemini_request("nope", 4, &e), -EBADMSG);
}

int main(void)
{
	RUN(test_chat_rules);
	RUN(test_estimate_api);
	if (!have_fixtures()) {
		tap_skip("test_chat_fixtures", "no fixtures: set FIXTURES to the fixtures directory");
		return tap_done();
	}
	RUN(test_chat_fixtures_exact);
	RUN(test_chat_fixtures_tools);
	RUN(test_estimate_anthropic);
	RUN(test_estimate_gemini);
	return tap_done();
}
