// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libFuzzer target for the provider response readers (and the tolerant
 * request scan), differential: a response runs whole, cut in two where the
 * input says, and one byte at a time (SSE: the bytes given to the SSE
 * parser); flags, usage, model, bad events and the generated text (hashed)
 * must agree.  And against json-c: a body or event that json-c's strict
 * parser takes whole must not be flagged as bad JSON.
 *
 * Input: byte 0 = control (bits 0-2: the API; bit 3: SSE; bit 4: a cap of
 * 16 bytes; bit 5: no text callback; bit 6: status 400; bit 7: the request
 * scan instead), byte 1 = where to cut, then the body or stream.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "provider.h"
#include "sse.h"

static const struct {
	const char *host, *path;
} apis[8] = {
	{ "api.openai.com", "/v1/chat/completions" },
	{ "api.groq.com", "/openai/v1/completions" },
	{ "api.openai.com", "/v1/responses" },
	{ "api.openai.com", "/v1/embeddings" },
	{ "api.anthropic.com", "/v1/messages" },
	{ "generativelanguage.googleapis.com", "/v1beta/models/g:generateContent" },
	{ "aiplatform.googleapis.com", "/v1/projects/p/models/g:streamGenerateContent" },
	{ "generativelanguage.googleapis.com", "/v1beta/models/g:batchEmbedContents" },
};

struct run {
	uint64_t h;		/* FNV-1a of the text */
	uint64_t json_ok;	/* events json-c took whole */
	uint64_t bad_ok;	/* of those, events we called bad */
	struct llm_resp *r;
};

static void mix(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		*h = (*h ^ *b++) * 0x100000001b3ull;
}

static void on_text(void *ctx, const char *s, size_t n)
{
	struct run *t = ctx;

	if (!n)
		abort();	/* no empty pieces */
	mix(&t->h, s, n);
}

/* Does json-c's strict parser take s[0..n) whole?  Only asked where it
 * reads JSON as the RFC does: no NUL, no \f or \v outside strings. */
static int json_c_takes(const char *s, size_t n)
{
	struct json_tokener *tok;
	json_object *o;
	size_t end;
	int ok;

	if (!n || n > 65536 || memchr(s, '\0', n) || memchr(s, '\f', n) || memchr(s, '\v', n))
		return 0;
	tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
	if (!tok)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, s, (int)n);
	end = json_tokener_get_parse_end(tok);
	ok = o && json_tokener_get_error(tok) == json_tokener_success;
	while (ok && end < n && (s[end] == ' ' || s[end] == '\t' || s[end] == '\n' ||
				 s[end] == '\r'))
		end++;
	json_object_put(o);
	json_tokener_free(tok);
	return ok && end == n;
}

static int on_event(void *ctx, const struct sse_event *ev)
{
	struct run *t = ctx;
	uint64_t bad = t->r->bad_events;
	int ok = json_c_takes(ev->data, ev->data_len);

	llm_resp_event(t->r, ev);
	if (ok) {
		t->json_ok++;
		t->bad_ok += t->r->bad_events != bad;
	}
	return 0;
}

#define CUT_BYTES SIZE_MAX

static uint64_t run(const struct llm_call *call, unsigned ctl, const uint8_t *d,
		    size_t len, size_t cut, struct run *t)
{
	struct sse_parser *p = NULL;
	struct llm_resp r;
	size_t pos, n;
	uint64_t h = 0xcbf29ce484222325ull;

	memset(t, 0, sizeof(*t));
	t->h = h;
	t->r = &r;
	if (llm_resp_init(&r, call, ctl & 0x40 ? 400 : 200, !!(ctl & 8), ctl & 0x10 ? 16 : 0))
		abort();
	if (!(ctl & 0x20)) {
		r.on_text = on_text;
		r.text_ctx = t;
	}
	if (ctl & 8) {
		p = sse_parser__new(1 << 16, on_event, t);
		if (!p)
			abort();
	}
	for (pos = 0; pos < len; pos += n) {
		n = cut == CUT_BYTES ? 1 : cut > pos && cut < len ? cut - pos : len - pos;
		if (p)
			sse_parser__feed(p, d + pos, n);
		else
			llm_resp_body(&r, d + pos, n);
	}
	if (p) {
		sse_parser__finish(p);
		sse_parser__free(p);
	}
	llm_resp_finish(&r);
	if (strnlen(r.model, sizeof(r.model)) == sizeof(r.model))
		abort();
	if (r.usage.input_tokens < 0 || r.usage.cached_input_tokens < 0 ||
	    r.usage.cache_write_tokens < r.usage.cache_write_1h_tokens ||
	    r.usage.output_tokens < 0 || r.usage.reasoning_tokens < 0)
		abort();
	if (!(r.flags & LLM_RESP_USAGE) && memcmp(&r.usage, &(struct llm_usage){ 0 },
						  sizeof(r.usage)))
		abort();	/* buckets without a report */
	mix(&h, &r.flags, sizeof(r.flags));
	mix(&h, &r.usage, sizeof(r.usage));
	mix(&h, r.model, strlen(r.model));
	mix(&h, &r.bad_events, sizeof(r.bad_events));
	mix(&h, &t->h, sizeof(t->h));
	llm_resp_free(&r);
	return h;
}

static void responses(unsigned ctl, size_t cut, const uint8_t *d, size_t len)
{
	struct llm_call call;
	struct run t;
	uint64_t whole;
	const char *host = apis[ctl & 7].host, *path = apis[ctl & 7].path;

	if (!provider_match(host, strlen(host), path, strlen(path), &call))
		abort();
	whole = run(&call, ctl, d, len, 0, &t);
	if (t.bad_ok)
		abort();	/* json-c took an event we called bad */
	if (len > 1 && run(&call, ctl, d, len, 1 + cut * (len - 1) / 256, &t) != whole)
		abort();	/* cutting in two changed the outcome */
	if (run(&call, ctl, d, len, CUT_BYTES, &t) != whole)
		abort();	/* byte by byte changed the outcome */
}

/* A body json-c takes whole is not bad JSON, and is complete. */
static void body_vs_json_c(unsigned ctl, const uint8_t *d, size_t len)
{
	struct llm_call call;
	struct llm_resp r;
	const char *host = apis[ctl & 7].host, *path = apis[ctl & 7].path;

	if ((ctl & 8) || !json_c_takes((const char *)d, len))
		return;
	provider_match(host, strlen(host), path, strlen(path), &call);
	if (llm_resp_init(&r, &call, 200, 0, 0))
		abort();
	llm_resp_body(&r, d, len);
	llm_resp_finish(&r);
	if (r.flags & LLM_RESP_BAD_JSON || !(r.flags & LLM_RESP_DONE))
		abort();
	llm_resp_free(&r);
}

static int scan(struct llm_call *c, const uint8_t *d, size_t len)
{
	provider_match("api.openai.com", 14, "/v1/chat/completions", 20, c);
	return provider_scan_request(c, d, len);
}

/*
 * The request scan: what a prefix finds stands in the whole; what json-c
 * reads in a body it takes whole, the scan finds too.
 */
static void request(size_t cut, const uint8_t *d, size_t len)
{
	struct llm_call whole, part;
	struct json_tokener *tok;
	json_object *o, *v;
	int found, pfound;

	found = scan(&whole, d, len);
	if (strnlen(whole.model, sizeof(whole.model)) == sizeof(whole.model))
		abort();
	if (found != !!whole.model[0])
		abort();
	pfound = scan(&part, d, cut * len / 256);
	if (pfound && (!found || strcmp(part.model, whole.model) ||
		       part.model_cut != whole.model_cut))
		abort();
	if (part.stream && !whole.stream)
		abort();
	if (part.include_usage && !whole.include_usage)
		abort();
	if (part.max_tokens >= 0 && part.max_tokens != whole.max_tokens)
		abort();
	if (!json_c_takes((const char *)d, len))
		return;
	tok = json_tokener_new();
	if (!tok)
		abort();
	o = json_tokener_parse_ex(tok, (const char *)d, (int)len);
	json_tokener_free(tok);
	if (json_object_is_type(o, json_type_object)) {
		if (json_object_object_get_ex(o, "model", &v) &&
		    json_object_is_type(v, json_type_string) && json_object_get_string_len(v) &&
		    !found)
			abort();	/* json-c reads a model the scan missed */
		if (json_object_object_get_ex(o, "stream", &v) &&
		    json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v) &&
		    !whole.stream)
			abort();
	}
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned ctl;
	size_t cut;

	if (size < 2)
		return 0;
	ctl = data[0];
	cut = data[1];
	data += 2;
	size -= 2;
	if (ctl & 0x80) {
		request(cut, data, size);
		return 0;
	}
	responses(ctl, cut, data, size);
	body_vs_json_c(ctl, data, size);
	return 0;
}
