// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Provider dispatch: the API is recognised by path, the provider is named
 * by host when the host is a known one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include "jscan.h"
#include "provider.h"
#include "providers/common.h"

static const struct provider *const providers[] = {
	&provider_anthropic,	/* before openai: /v1/messages is specific */
	&provider_gemini,
	&provider_openai,
};

/* Hosts that name a provider, matched as a suffix at a label boundary. */
static const struct {
	const char *suffix;
	const char *name;
} known_hosts[] = {
	{ "api.openai.com",			"openai" },
	{ "openai.azure.com",			"azure-openai" },
	{ "cognitiveservices.azure.com",	"azure-openai" },
	{ "api.anthropic.com",			"anthropic" },
	{ "generativelanguage.googleapis.com",	"gemini" },
	{ "aiplatform.googleapis.com",		"vertex-ai" },
	{ "api.mistral.ai",			"mistral" },
	{ "api.groq.com",			"groq" },
	{ "api.deepseek.com",			"deepseek" },
	{ "openrouter.ai",			"openrouter" },
	{ "api.together.xyz",			"together" },
	{ "api.together.ai",			"together" },
	{ "api.fireworks.ai",			"fireworks" },
	{ "api.x.ai",				"xai" },
};

const char *provider_target_path(const char *target, size_t len, size_t *plen)
{
	const char *end = target + len, *p = target, *s;
	size_t i;

	if (len && target[0] != '/') {
		/* absolute form: scheme "://" authority [path] */
		s = memmem(target, len, "://", 3);
		if (s) {
			s += 3;
			p = memchr(s, '/', end - s);
			if (!p) {
				*plen = 1;
				return "/";
			}
		}
	}
	for (i = 0; p + i < end; i++)
		if (p[i] == '?' || p[i] == '#')
			break;
	*plen = i;
	return p;
}

int provider_copy_str(char *dst, size_t cap, const char *src, size_t len)
{
	int cut = len >= cap;

	if (cut)
		len = cap - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return cut;
}

void provider_set_model(struct llm_call *call, const char *s, size_t len)
{
	call->model_cut = provider_copy_str(call->model, sizeof(call->model), s, len);
}

static const char *host_provider(const char *host, size_t len)
{
	size_t i, n;

	/* Drop a port. */
	for (i = len; i > 0; i--) {
		if (host[i - 1] == ':') {
			len = i - 1;
			break;
		}
		if (host[i - 1] < '0' || host[i - 1] > '9')
			break;
	}
	for (i = 0; i < sizeof(known_hosts) / sizeof(known_hosts[0]); i++) {
		n = strlen(known_hosts[i].suffix);
		if (len < n || strncasecmp(host + len - n, known_hosts[i].suffix, n))
			continue;
		/* At a label boundary; Vertex hosts read REGION-aiplatform... */
		if (len == n || host[len - n - 1] == '.' || host[len - n - 1] == '-')
			return known_hosts[i].name;
	}
	return NULL;
}

int provider_match(const char *host, size_t host_len,
		   const char *target, size_t target_len, struct llm_call *call)
{
	const char *path, *name;
	size_t i, plen;

	memset(call, 0, sizeof(*call));
	call->max_tokens = -1;
	path = provider_target_path(target, target_len, &plen);
	for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
		call->api = providers[i]->match(path, plen, call);
		if (call->api != LLM_API_NONE) {
			call->prov = providers[i];
			break;
		}
	}
	if (!call->prov)
		return 0;
	name = host ? host_provider(host, host_len) : NULL;
	if (!name)
		name = call->prov->name;
	provider_copy_str(call->provider, sizeof(call->provider), name, strlen(name));
	return 1;
}

static int only_space(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return 0;
		else
			p++;
	return 1;
}

int provider_on_request(struct llm_call *call, const uint8_t *body, size_t len)
{
	struct json_tokener *tok;
	json_object *obj;
	int err;

	if (!call->prov)
		return -EINVAL;
	tok = json_tokener_new_ex(64);
	if (!tok)
		return -ENOMEM;
	if (len > INT32_MAX) {
		json_tokener_free(tok);
		return -EMSGSIZE;
	}
	obj = json_tokener_parse_ex(tok, (const char *)body, (int)len);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
	    !only_space(body + json_tokener_get_parse_end(tok),
			len - json_tokener_get_parse_end(tok)) ||
	    !json_object_is_type(obj, json_type_object))
		err = -EBADMSG;
	else
		err = call->prov->on_request(call, obj);
	json_object_put(obj);
	json_tokener_free(tok);
	return err;
}

/* --- a request body that could not be parsed whole ---------------------- */

enum {
	REQ_NONE,
	REQ_MODEL,
	REQ_MAX_TOKENS,
	REQ_STREAM_OPTIONS,
	REQ_GENERATION_CONFIG,
};

struct req_scan {
	struct llm_call *call;
	int found;		/* the top-level model was read whole */
	int field;		/* REQ_*: the value being read */
	int parent;		/* REQ_*: the object entered at depth 1 */
	size_t len;
	char buf[PROVIDER_MODEL_MAX];
};

static int key_is(const char *key, size_t len, const char *name)
{
	return key && strlen(name) == len && !memcmp(key, name, len);
}

static int req_top(struct req_scan *rs, const char *key, size_t klen,
		   enum jscan_kind kind)
{
	if (key_is(key, klen, "model"))
		return kind == JSCAN_STRING && !rs->found ? REQ_MODEL : REQ_NONE;
	if (key_is(key, klen, "stream")) {
		if (kind == JSCAN_TRUE)
			rs->call->stream = 1;
		return REQ_NONE;
	}
	if (key_is(key, klen, "max_tokens") || key_is(key, klen, "max_completion_tokens") ||
	    key_is(key, klen, "max_output_tokens"))
		return kind == JSCAN_NUMBER ? REQ_MAX_TOKENS : REQ_NONE;
	if (key_is(key, klen, "stream_options"))
		return kind == JSCAN_OBJECT ? REQ_STREAM_OPTIONS : REQ_NONE;
	if (key_is(key, klen, "generationConfig") || key_is(key, klen, "generation_config"))
		return kind == JSCAN_OBJECT ? REQ_GENERATION_CONFIG : REQ_NONE;
	return REQ_NONE;
}

static enum jscan_act req_value(void *ctx, unsigned depth, const char *key,
				size_t klen, enum jscan_kind kind)
{
	struct req_scan *rs = ctx;
	int f = REQ_NONE;

	if (depth == 0)
		return kind == JSCAN_OBJECT ? JSCAN_ENTER : JSCAN_SKIP;
	if (depth == 1) {
		f = req_top(rs, key, klen, kind);
		if (f == REQ_STREAM_OPTIONS || f == REQ_GENERATION_CONFIG) {
			rs->parent = f;
			return JSCAN_ENTER;
		}
	} else if (depth == 2 && rs->parent == REQ_STREAM_OPTIONS) {
		if (key_is(key, klen, "include_usage") && kind == JSCAN_TRUE)
			rs->call->include_usage = 1;
	} else if (depth == 2 && rs->parent == REQ_GENERATION_CONFIG) {
		if ((key_is(key, klen, "maxOutputTokens") ||
		     key_is(key, klen, "max_output_tokens")) && kind == JSCAN_NUMBER)
			f = REQ_MAX_TOKENS;
	}
	if (f == REQ_NONE)
		return JSCAN_SKIP;
	rs->field = f;
	rs->len = 0;
	return JSCAN_TEXT;
}

static void req_text(void *ctx, unsigned depth, const char *s, size_t len)
{
	struct req_scan *rs = ctx;
	size_t k = sizeof(rs->buf) - rs->len;

	if (k > len)
		k = len;
	memcpy(rs->buf + rs->len, s, k);
	rs->len += k;
}

static void req_end(void *ctx, unsigned depth)
{
	struct req_scan *rs = ctx;
	struct llm_call *call = rs->call;
	int64_t v = 0;
	size_t i;

	if (rs->field == REQ_MODEL)
		rs->len = strnlen(rs->buf, rs->len);	/* a NUL ends a name */
	if (rs->field == REQ_MODEL && rs->len) {
		rs->found = 1;
		if (!call->model[0])
			provider_set_model(call, rs->buf, rs->len);
	} else if (rs->field == REQ_MAX_TOKENS && call->max_tokens < 0) {
		for (i = 0; i < rs->len && i < 18; i++) {
			if (rs->buf[i] < '0' || rs->buf[i] > '9')
				break;
			v = v * 10 + (rs->buf[i] - '0');
		}
		if (i && i == rs->len)
			call->max_tokens = v;
	}
	rs->field = REQ_NONE;
}

static const struct jscan_ops req_ops = {
	.value = req_value,
	.text = req_text,
	.end = req_end,
};

int provider_scan_request(struct llm_call *call, const uint8_t *body, size_t len)
{
	struct req_scan rs = { .call = call };
	struct jscan js;

	if (len >= 3 && !memcmp(body, "\xef\xbb\xbf", 3)) {
		body += 3;	/* a BOM */
		len -= 3;
	}
	jscan_init(&js, &req_ops, &rs);
	/* Whatever stops the scan (the end of what we have, or bytes that
	 * are not JSON), what was read before it stands. */
	jscan_feed(&js, body, len);
	return rs.found;
}

/* --- the response side --------------------------------------------------- */

int llm_resp_init(struct llm_resp *r, const struct llm_call *call, int status,
		  int sse, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->call = call;
	r->status = status;
	r->sse = sse;
	if (!call || !call->prov)
		return -EINVAL;
	r->st = calloc(1, sizeof(*r->st));
	if (!r->st)
		return -ENOMEM;
	resp_state_init(r, cap);
	if (status >= 400)
		r->flags |= LLM_RESP_ERROR;
	return 0;
}

int llm_resp_body(struct llm_resp *r, const uint8_t *data, size_t len)
{
	if (!r->st)
		return -EINVAL;
	if (!len || r->st->finished || !r->call->prov->resp_body)
		return 0;
	return r->call->prov->resp_body(r, data, len);
}

int llm_resp_event(struct llm_resp *r, const struct sse_event *ev)
{
	if (!r->st)
		return -EINVAL;
	if (r->st->finished || !r->call->prov->resp_event)
		return 0;
	return r->call->prov->resp_event(r, ev);
}

void llm_resp_finish(struct llm_resp *r)
{
	if (!r->st || r->st->finished)
		return;
	r->st->finished = 1;
	if (r->call->prov->resp_finish)
		r->call->prov->resp_finish(r);
}

void llm_resp_free(struct llm_resp *r)
{
	if (!r)
		return;
	free(r->st);
	r->st = NULL;
}

/* --- a call whose head was not seen ---------------------------------------- */

/* `"key"` followed by a colon, in the first bytes of a body. */
static int has_key(const uint8_t *body, size_t len, const char *key)
{
	size_t n = strlen(key);
	const uint8_t *s = body, *end = body + len, *k;

	while ((k = memmem(s, end - s, key, n))) {
		k += n;
		while (k < end && (*k == ' ' || *k == '\t' || *k == '\r' || *k == '\n'))
			k++;
		if (k < end && *k == ':')
			return 1;
		s = k;
	}
	return 0;
}

static int has_str(const uint8_t *body, size_t len, const char *s)
{
	return memmem(body, len, s, strlen(s)) != NULL;
}

/*
 * The API a body belongs to, told by its shape when the path that would
 * say it is not known (an HTTP/2 stream whose header block could not be
 * decoded).  A request body is told by its members; a response (request
 * 0) by the markers of each API's answer.  The provider named is the API's
 * family: the host is not known either.
 */
int provider_guess(struct llm_call *call, const uint8_t *body, size_t len, int request)
{
	const char *path = NULL;
	struct llm_call scan;

	if (len > 64 << 10)
		len = 64 << 10;
	if (request) {
		memset(&scan, 0, sizeof(scan));
		provider_scan_request(&scan, body, len);
		if (has_key(body, len, "\"contents\""))
			path = "/v1beta/models/unknown:generateContent";
		else if (!has_key(body, len, "\"model\""))
			path = NULL;
		else if (has_key(body, len, "\"messages\""))
			path = !strncmp(scan.model, "claude", 6) ||
			       has_key(body, len, "\"anthropic_version\"") ?
				       "/v1/messages" : "/v1/chat/completions";
		else if (has_key(body, len, "\"input\""))
			path = strstr(scan.model, "embed") ? "/v1/embeddings" : "/v1/responses";
		else if (has_key(body, len, "\"prompt\""))
			path = "/v1/completions";
	} else if (has_str(body, len, "message_start") ||
		   has_str(body, len, "\"type\":\"message\"") ||
		   has_str(body, len, "\"type\": \"message\"")) {
		path = "/v1/messages";
	} else if (has_str(body, len, "chat.completion")) {
		path = "/v1/chat/completions";
	} else if (has_str(body, len, "text_completion")) {
		path = "/v1/completions";
	} else if (has_str(body, len, "response.created") ||
		   has_str(body, len, "\"object\":\"response\"") ||
		   has_str(body, len, "\"object\": \"response\"")) {
		path = "/v1/responses";
	} else if (has_str(body, len, "\"embedding\"")) {
		path = "/v1/embeddings";
	} else if (has_str(body, len, "usageMetadata") || has_str(body, len, "\"candidates\"")) {
		path = "/v1beta/models/unknown:generateContent";
	}
	if (!path || !provider_match(NULL, 0, path, strlen(path), call))
		return 0;
	call->model[0] = '\0';		/* not the path's "unknown" */
	return 1;
}
